/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_rig.h"

/* What a call that succeeded told KVM. */
static void record(struct kvm_rig *k, unsigned long request, const void *arg)
{
	if (request == KVM_SET_USER_MEMORY_REGION) {
		const struct kvm_userspace_memory_region *m1 = arg;
		struct kvm_userspace_memory_region2 m = {
			.slot = m1->slot,
			.flags = m1->flags,
			.guest_phys_addr = m1->guest_phys_addr,
			.memory_size = m1->memory_size,
			.userspace_addr = m1->userspace_addr,
		};

		k->nset_v1++;
		record(k, KVM_SET_USER_MEMORY_REGION2, &m);
	} else if (request == KVM_SET_USER_MEMORY_REGION2) {
		const struct kvm_userspace_memory_region2 *m = arg;

		ck_assert_uint_lt(m->slot, KVM_RIG_SLOTS);
		k->nlive += (m->memory_size != 0) -
			    (k->slot[m->slot].memory_size != 0);
		k->slot[m->slot] = *m;
		k->nset++;
	} else if (request == KVM_SET_MEMORY_ATTRIBUTES) {
		const struct kvm_memory_attributes *a = arg;
		uint64_t gfn = a->address >> 12, n = a->size >> 12;

		ck_assert_uint_le(gfn + n, KVM_RIG_GFNS);
		memset(k->private_ + gfn,
		       !!(a->attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE), n);
		k->nattr++;
	} else if (request == KVM_CREATE_GUEST_MEMFD) {
		k->made = *(const struct kvm_create_guest_memfd *)arg;
		k->ncreated++;
	}
}

/* KVM's checks of KVM_SET_MEMORY_ATTRIBUTES (virt/kvm/kvm_main.c). */
static int attrs_check(const struct kvm_rig *k,
		       const struct kvm_memory_attributes *a)
{
	if (a->flags || !a->size || (a->attributes & ~k->attr_offer) ||
	    (a->address | a->size) & 4095 ||
	    a->address + a->size <= a->address)
		return -EINVAL;
	return 0;
}

static int fake_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	struct kvm_rig *k = ctx;
	int err = 0;

	ck_assert_int_eq(fd, KVM_RIG_FAKE_VM);
	switch (request) {
	case KVM_CHECK_EXTENSION:
		if ((uintptr_t)arg == KVM_CAP_MEMORY_ATTRIBUTES)
			return (int)k->attr_offer;
		if ((uintptr_t)arg == KVM_CAP_GUEST_MEMFD)
			return k->has_gmem;
		if ((uintptr_t)arg == KVM_CAP_USER_MEMORY2)
			return k->has_region2;
		if ((uintptr_t)arg == KVM_CAP_GUEST_MEMFD_FLAGS)
			return (int)k->gmem_offer;
		return 0;
	case KVM_CREATE_GUEST_MEMFD: {
		const struct kvm_create_guest_memfd *c = arg;
		int gmem;

		if (!k->has_gmem)
			return -ENOTTY;
		if (c->flags & ~k->gmem_offer)
			return -EINVAL;
		/* KVM sizes the file itself: the backend never grows it. */
		gmem = memfd_create("fake-guest-memfd", MFD_CLOEXEC);
		if (gmem >= 0 && ftruncate(gmem, (off_t)c->size) < 0) {
			close(gmem);
			gmem = -1;
		}
		if (gmem < 0)
			return -errno;
		record(k, request, arg);
		return gmem;
	}
	case KVM_SET_MEMORY_ATTRIBUTES:
		err = attrs_check(k, arg);
		break;
	case KVM_SET_USER_MEMORY_REGION2:
		if (!k->has_region2)
			return -ENOTTY;
		break;
	case KVM_SET_USER_MEMORY_REGION:
		break;
	default:
		return -ENOTTY;
	}
	if (!err)
		record(k, request, arg);
	return err;
}

static int real_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	struct kvm_rig *k = ctx;
	int r = ioctl(fd, request, arg);

	if (r < 0)
		return -errno;
	record(k, request, arg);
	return r;
}

static int rig_init(struct kvm_rig *k)
{
	memset(k, 0, sizeof(*k));
	k->kvm = -1;
	k->private_ = calloc(KVM_RIG_GFNS, 1);
	if (!k->private_)
		return -ENOMEM;
	os_inject_init(&k->in);
	k->in.sys.ctx = k;
	return 0;
}

int kvm_rig_fake(struct kvm_rig *k)
{
	int err = rig_init(k);

	if (err)
		return err;
	k->vm = KVM_RIG_FAKE_VM;
	k->attr_offer = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	k->has_gmem = true;
	k->has_region2 = true;
	k->gmem_offer = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	k->in.sys.ioctl = fake_ioctl;
	return 0;
}

int kvm_rig_real(struct kvm_rig *k, const char **why)
{
	int err = rig_init(k), types;

	if (err)
		return err;
	k->in.sys.ioctl = real_ioctl;
	k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm < 0) {
		err = -errno;
		*why = "cannot open /dev/kvm";
		kvm_rig_fini(k);
		return err;
	}
	types = ioctl(k->kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
	if (types <= 0 || !(types & (1 << KVM_X86_SW_PROTECTED_VM))) {
		*why = "KVM offers no KVM_X86_SW_PROTECTED_VM";
		kvm_rig_fini(k);
		return -EOPNOTSUPP;
	}
	k->vm = ioctl(k->kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	if (k->vm < 0) {
		err = -errno;
		*why = "KVM_CREATE_VM(KVM_X86_SW_PROTECTED_VM) failed";
		kvm_rig_fini(k);
		return err;
	}
	return 0;
}

void kvm_rig_fini(struct kvm_rig *k)
{
	if (k->kvm >= 0 && k->vm >= 0)
		close(k->vm);
	if (k->kvm >= 0)
		close(k->kvm);
	free(k->private_);
	k->private_ = NULL;
}

int kvm_world_open(struct kvm_world *w, struct kvm_rig *k, unsigned int kind,
		   unsigned int view_flags, unsigned int content,
		   uint32_t granule)
{
	GMEM_OPTS(gmem_backend_opts, bo, .kind = kind, .vm_fd = k->vm,
		  .max_bytes = UINT64_C(4) << 30);
	GMEM_OPTS(gmem_view_opts, vo, .flags = view_flags, .content = content);
	GMEM_OPTS(gmem_guest_opts, go, .node = -1, .granule = granule);
	struct gmem_pool *pool;
	int err;

	memset(w, 0, sizeof(*w));
	w->k = k;
	test_alloc_init(&w->ta);
	bo.os = &k->in.ops;
	bo.alloc = &w->ta.ops;
	err = gmem_backend_create(&bo, &w->be);
	if (err)
		return err;
	ck_assert_int_eq(gmem_backend_pool(w->be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, &go, &w->g), 0);
	ck_assert_int_eq(gmem_region_add(w->g, 0, 2 * GMEM_BLOCK_FRAMES, NULL),
			 0);
	ck_assert_int_eq(gmem_region_add(w->g, KVM_WORLD_SMALL, 512, NULL), 0);
	err = gmem_view_create(w->g, w->be, &vo, &w->v);
	if (err) {
		ck_assert_int_eq(gmem_guest_destroy(w->g), 0);
		ck_assert_int_eq(gmem_backend_destroy(w->be), 0);
	}
	return err;
}

void kvm_world_close(struct kvm_world *w)
{
	ck_assert_int_eq(gmem_view_destroy(w->v), 0);
	ck_assert_int_eq(gmem_guest_destroy(w->g), 0);
	ck_assert_int_eq(gmem_backend_destroy(w->be), 0);
	ck_assert_int_eq(w->ta.live_bytes, 0);
}

bool kvm_rig_attrs_match(const struct kvm_rig *k, const struct gmem_guest *g,
			 uint64_t gfn, uint64_t n)
{
	struct gmem_run run;

	for (uint64_t at = gfn; at < gfn + n; at += run.npages) {
		ck_assert_int_eq(gmem_run_get(g, at, gfn + n - at, &run), 0);
		for (uint64_t i = at; i < at + run.npages; i++)
			if (k->private_[i] != (run.attr == GMEM_ATTR_PRIVATE))
				return false;
	}
	return true;
}
