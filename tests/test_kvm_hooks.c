/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KVM's calls through the operating-system hooks, on every machine: a
 * hook plays KVM (guest_memfd from a memfd, memory slots recorded), so
 * the logic of guest_memfd backends and of gmem_view_kvm_bind is tested
 * without /dev/kvm, each call counted and made to fail in turn. The
 * other calls that once bypassed the hooks (memfd_create, open, pread,
 * close) are counted here too.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_rig.h"

#define GIB_FRAMES GMEM_BLOCK_FRAMES
#define FAKE_VM KVM_RIG_FAKE_VM

struct world {
	struct kvm_rig kvm;
	struct kvm_world w;
};

static int world_open(struct world *w, unsigned int kind)
{
	int err;

	ck_assert_int_eq(kvm_rig_fake(&w->kvm), 0);
	err = kvm_world_open(&w->w, &w->kvm, kind, GMEM_VIEW_GUEST_MAP, 0, 0);
	if (err)
		kvm_rig_fini(&w->kvm);
	return err;
}

static void world_close(struct world *w)
{
	kvm_world_close(&w->w);
	kvm_rig_fini(&w->kvm);
}

/* guest_memfd is made by KVM's ioctl, with the flags asked for. */
START_TEST(guest_memfd_through_ioctl)
{
	GMEM_OPTS(gmem_backend_stats, bs);
	struct world w;
	char *p;

	ck_assert_int_eq(world_open(&w, GMEM_BACKEND_GUEST_MEMFD), 0);
	ck_assert_uint_eq(w.kvm.ncreated, 1);
	ck_assert_uint_eq(w.kvm.made.size, UINT64_C(4) << 30);
	ck_assert_uint_eq(w.kvm.made.flags, GUEST_MEMFD_FLAG_MMAP |
					    GUEST_MEMFD_FLAG_INIT_SHARED);
	/* KVM_CHECK_EXTENSION of KVM_CAP_GUEST_MEMFD and
	 * KVM_CAP_GUEST_MEMFD_FLAGS, then the file. */
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_IOCTL], 3);
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_MEMFD_CREATE], 0);
	ck_assert_int_eq(gmem_backend_stats(w.w.be, &bs), 0);
	ck_assert_uint_eq(bs.ioctl_calls, 3);
	ck_assert_uint_eq(bs.copies, 1);
	ck_assert_uint_eq(bs.gmem_flags, w.kvm.made.flags);
	ck_assert_uint_eq(bs.os_calls, w.kvm.in.calls);
	/* The memory is the hook's file: a shared frame reads what was
	 * written, through the view. */
	ck_assert_int_eq(gmem_convert(w.w.g, 5, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_view_addr(w.w.v, 5, (void **)&p), 0);
	p[7] = 42;
	ck_assert_int_eq(p[7], 42);
	world_close(&w);
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_CLOSE], 1);
}
END_TEST

/* A KVM without guest_memfd (KVM_CAP_GUEST_MEMFD 0, as PVM's): the
 * backend is refused as a kind this kernel lacks, before any file is
 * made, and nothing is left. */
START_TEST(no_guest_memfd)
{
	struct kvm_rig k;
	struct kvm_world w;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	k.has_gmem = false;
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD,
					GMEM_VIEW_GUEST_MAP, 0, 0),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(k.in.by_kind[INJ_IOCTL], 1);
	ck_assert_uint_eq(k.in.by_kind[INJ_MEMFD_CREATE], 0);
	ck_assert_uint_eq(k.ncreated, 0);
	ck_assert_int_eq(w.ta.live_bytes, 0);
	kvm_rig_fini(&k);
}
END_TEST

/*
 * A VM that offers no INIT_SHARED (one with private memory, before
 * Linux 6.19): guest_memfd holds private memory only, and shared memory
 * is a memfd at the same offsets. Each conversion punches the copy it
 * leaves; contents cannot be kept, so PRESERVE is refused, and so is
 * reading private memory for paging.
 */
START_TEST(two_copies)
{
	GMEM_OPTS(gmem_backend_stats, bs);
	GMEM_OPTS(gmem_convert_opts, keep, .flags = GMEM_CONVERT_PRESERVE);
	struct kvm_rig k;
	struct kvm_world w;
	char *p, buf[4096], one = 1;
	uint64_t closes;
	int gfd;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	k.gmem_offer = GUEST_MEMFD_FLAG_MMAP;
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD, 0,
					GMEM_CONTENT_PRESERVE, 0), -EOPNOTSUPP);
	ck_assert_int_eq(w.ta.live_bytes, 0);
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD, 0,
					GMEM_CONTENT_DISCARD, 0), 0);
	ck_assert_uint_eq(k.made.flags, 0);
	ck_assert_int_eq(gmem_backend_stats(w.be, &bs), 0);
	ck_assert_uint_eq(bs.copies, 2);
	ck_assert_uint_eq(bs.memfd_create_calls, 1);
	ck_assert_int_eq(gmem_backend_fd(w.be, &gfd), 0);
	/* Private data (written into the fake's guest_memfd) is punched
	 * when the frame goes shared; the VMM sees the shared copy. */
	ck_assert_int_eq(pwrite(gfd, &one, 1, 5 * 4096), 1);
	ck_assert_int_eq(gmem_convert(w.g, 5, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(pread(gfd, &one, 1, 5 * 4096), 1);
	ck_assert_int_eq(one, 0);
	ck_assert_int_eq(gmem_view_addr(w.v, 5, (void **)&p), 0);
	ck_assert_int_eq(p[0], 0);
	p[0] = 42;
	/* Going private punches the shared copy: back shared, it is zero. */
	ck_assert_int_eq(gmem_convert(w.g, 5, 1, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(gmem_convert(w.g, 5, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(p[0], 0);
	ck_assert_int_eq(gmem_convert(w.g, 6, 1, GMEM_ATTR_SHARED, &keep),
			 -EOPNOTSUPP);
	ck_assert_int_eq(gmem_convert(w.g, 6, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_page_nominate(w.g, 8, 1, NULL), 0);
	ck_assert_int_eq(gmem_page_read(w.g, 8, 1, buf, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(gmem_page_evict(w.g, 8, 1, NULL), 0);
	ck_assert_int_eq(gmem_page_load(w.g, 8, 1, buf, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(gmem_page_load(w.g, 8, 1, NULL, NULL), 0);
	ck_assert_int_eq(gmem_page_complete(w.g, 8, 1, 0, NULL), 0);
	closes = k.in.by_kind[INJ_CLOSE];
	kvm_world_close(&w);
	ck_assert_uint_eq(k.in.by_kind[INJ_CLOSE] - closes, 2); /* both files */
	kvm_rig_fini(&k);
}
END_TEST

/* Each ioctl of the creation failing in turn fails it with its error,
 * leaving nothing behind. */
START_TEST(guest_memfd_ioctl_fails)
{
	GMEM_OPTS(gmem_backend_opts, bo, .vm_fd = FAKE_VM,
		  .kind = GMEM_BACKEND_GUEST_MEMFD);
	struct gmem_backend *be = NULL;
	struct kvm_rig kvm;
	struct test_alloc ta;
	uint64_t k;
	int err;

	ck_assert_int_eq(kvm_rig_fake(&kvm), 0);
	test_alloc_init(&ta);
	bo.os = &kvm.in.ops;
	bo.alloc = &ta.ops;
	for (k = 1;; k++) {
		uint64_t ioctls = kvm.in.by_kind[INJ_IOCTL];

		os_inject_arm(&kvm.in, k, ENOTTY);
		err = gmem_backend_create(&bo, &be);
		os_inject_arm(&kvm.in, 0, 0);
		if (!err)
			break;
		ck_assert_int_eq(err, -ENOTTY);
		ck_assert_ptr_null(be);
		ck_assert_uint_eq(kvm.in.by_kind[INJ_IOCTL] - ioctls, k);
		ck_assert_uint_eq(kvm.ncreated, 0);
		ck_assert_int_eq(ta.live_bytes, 0);
	}
	ck_assert_uint_gt(k, 1);
	ck_assert_uint_eq(kvm.ncreated, 1);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
	ck_assert_int_eq(ta.live_bytes, 0);
	kvm_rig_fini(&kvm);
}
END_TEST

/*
 * Memory slots: one per stretch of contiguous blocks, numbered from the
 * first asked for, with the guest_memfd's descriptor and offsets, and
 * the guest mapping's addresses; unbind deletes them (size 0). On
 * guest_memfd (0), on memfd (1), and on memfd with a KVM that has no
 * KVM_SET_USER_MEMORY_REGION2 (2, Linux before 6.8), which takes the
 * same slots through KVM_SET_USER_MEMORY_REGION.
 */
START_TEST(slots_through_ioctl)
{
	struct world w;
	uint32_t n = 0, i, fd = 0;
	void *hva;
	int gfd;

	ck_assert_int_eq(world_open(&w, _i ? GMEM_BACKEND_MEMFD
					   : GMEM_BACKEND_GUEST_MEMFD), 0);
	w.kvm.has_region2 = _i != 2;
	ck_assert_int_eq(gmem_backend_fd(w.w.be, &gfd), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(w.w.v, FAKE_VM, 0, 3, &n), 0);
	ck_assert_uint_eq(w.kvm.nset_v1, _i == 2 ? w.kvm.nset : 0);
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, 2);
	ck_assert_uint_eq(w.kvm.nlive, n);
	for (i = 3; i < 3 + n; i++) {
		const struct kvm_userspace_memory_region2 *m = &w.kvm.slot[i];
		uint64_t gfn = m->guest_phys_addr / 4096;

		ck_assert_int_eq(gmem_view_guest_addr(w.w.v, gfn, &hva), 0);
		ck_assert_uint_eq(m->userspace_addr, (uintptr_t)hva);
		if (!_i) {
			uint64_t pfn;

			ck_assert_uint_eq(m->flags, KVM_MEM_GUEST_MEMFD);
			fd = m->guest_memfd;
			ck_assert_uint_eq(fd, (uint32_t)gfd);
			ck_assert_int_eq(gmem_translate(w.w.g, gfn, &pfn), 0);
			ck_assert_uint_eq(m->guest_memfd_offset, pfn * 4096);
		} else {
			ck_assert_uint_eq(m->flags, 0);
		}
	}
	/* Together the slots map the region, nothing more. */
	{
		uint64_t bytes = 0;

		for (i = 3; i < 3 + n; i++)
			bytes += w.kvm.slot[i].memory_size;
		ck_assert_uint_eq(bytes, 2 * GIB_FRAMES * 4096);
	}
	ck_assert_int_eq(gmem_view_kvm_bind(w.w.v, FAKE_VM, 3 * GIB_FRAMES, 9, &n),
			 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(w.kvm.slot[9].memory_size, 512 * 4096);
	ck_assert_int_eq(gmem_view_kvm_unbind(w.w.v, FAKE_VM, 0, 3), 0);
	ck_assert_int_eq(gmem_view_kvm_unbind(w.w.v, FAKE_VM, 3 * GIB_FRAMES, 9),
			 0);
	ck_assert_uint_eq(w.kvm.nlive, 0);
	world_close(&w);
}
END_TEST

/* guest_memfd slots exist only in KVM_SET_USER_MEMORY_REGION2: a KVM
 * without it refuses the bind, which leaves nothing. */
START_TEST(guest_memfd_needs_region2)
{
	struct world w;
	uint32_t n = 7;

	ck_assert_int_eq(world_open(&w, GMEM_BACKEND_GUEST_MEMFD), 0);
	w.kvm.has_region2 = false;
	ck_assert_int_eq(gmem_view_kvm_bind(w.w.v, FAKE_VM, 0, 0, &n),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(n, 7);
	ck_assert_uint_eq(w.kvm.nset, 0);
	ck_assert_uint_eq(w.kvm.nattr, 0);
	world_close(&w);
}
END_TEST

/* A call of the bind refused by KVM, each in turn: the error comes back
 * and the slots made before it are deleted again. */
START_TEST(slot_failure_leaves_none)
{
	struct world w;
	uint32_t n = 0;
	int err;

	ck_assert_int_eq(world_open(&w, GMEM_BACKEND_GUEST_MEMFD), 0);
	for (uint64_t k = 1;; k++) {
		os_inject_arm(&w.kvm.in, k, EEXIST);
		err = gmem_view_kvm_bind(w.w.v, FAKE_VM, 0, 0, &n);
		os_inject_arm(&w.kvm.in, 0, 0);
		if (!err)
			break;
		ck_assert_int_eq(err, -EEXIST);
		ck_assert_uint_eq(w.kvm.nlive, 0);
	}
	ck_assert_uint_eq(w.kvm.nlive, n);
	ck_assert_int_eq(gmem_view_kvm_unbind(w.w.v, FAKE_VM, 0, 0), 0);
	ck_assert_uint_eq(w.kvm.nlive, 0);
	world_close(&w);
}
END_TEST

/* A block's physical frame comes from pagemap through open, pread and
 * close; each failing returns its error and leaves no descriptor. */
START_TEST(pagemap_through_hooks)
{
	GMEM_OPTS(gmem_block_info, bi);
	struct world w;
	uint64_t k;
	int err;

	ck_assert_int_eq(world_open(&w, GMEM_BACKEND_MEMFD), 0);
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_MEMFD_CREATE], 1);
	w.kvm.in.by_kind[INJ_OPEN] = w.kvm.in.by_kind[INJ_PREAD] = 0;
	w.kvm.in.by_kind[INJ_CLOSE] = 0;
	err = gmem_backend_block_info(w.w.be, 0, &bi);
	ck_assert(err == 0 || err == -EPERM);
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_OPEN], 1);
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_PREAD], 1);
	ck_assert_uint_eq(w.kvm.in.by_kind[INJ_CLOSE], 1);
	for (k = 1; k <= 4; k++) {
		uint64_t opened = w.kvm.in.by_kind[INJ_OPEN];
		uint64_t closed = w.kvm.in.by_kind[INJ_CLOSE];

		os_inject_arm(&w.kvm.in, k, EIO);
		err = gmem_backend_block_info(w.w.be, 0, &bi);
		os_inject_arm(&w.kvm.in, 0, 0);
		/* mmap, open, pread, close: the last is ignored. */
		if (k < 4)
			ck_assert_int_eq(err, -EIO);
		else
			ck_assert(err == 0 || err == -EPERM);
		/* What was opened was closed. */
		ck_assert_uint_eq(w.kvm.in.by_kind[INJ_OPEN] - opened, k > 1);
		ck_assert_uint_eq(w.kvm.in.by_kind[INJ_CLOSE] - closed, k > 2);
	}
	world_close(&w);
}
END_TEST

static Suite *kvm_hooks_suite(void)
{
	Suite *s = suite_create("kvm_hooks");
	TCase *tc = tcase_create("through the hooks");

	tcase_add_test(tc, guest_memfd_through_ioctl);
	tcase_add_test(tc, no_guest_memfd);
	tcase_add_test(tc, guest_memfd_ioctl_fails);
	tcase_add_test(tc, two_copies);
	tcase_add_loop_test(tc, slots_through_ioctl, 0, 3);
	tcase_add_test(tc, guest_memfd_needs_region2);
	tcase_add_test(tc, slot_failure_leaves_none);
	tcase_add_test(tc, pagemap_through_hooks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(kvm_hooks_suite());
}
