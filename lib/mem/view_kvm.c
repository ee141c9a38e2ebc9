/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A view's regions as KVM memory slots: one slot per stretch of
 * contiguous blocks, since a slot maps guest-physical space linearly
 * onto one range of its file or address space. Where the VM has private
 * memory, KVM's memory attributes follow the region's conversions, and
 * memory-fault exits are resolved by converting.
 */
#include <errno.h>
#include <stdatomic.h>

#include <gmem/convert.h>

#include "core/opts.h"
#include "backend.h"
#include "kvm_uapi.h"
#include "os.h"
#include "view.h"

#define FRAME (UINT64_C(1) << GMEM_FRAME_SHIFT)

struct bind {
	int vm_fd;
	uint32_t slot;		/* next slot number */
	uint32_t made;
	bool remove;
	bool v1;		/* KVM_SET_USER_MEMORY_REGION: no REGION2 */
};

/* Whether slots of v go to vm_fd with KVM_SET_USER_MEMORY_REGION, the
 * only one before Linux 6.8 (1), or REGION2 (0); -EOPNOTSUPP for
 * guest_memfd, which needs REGION2; or the ioctl's error. */
static int region_v1(const struct gmem_view *v, int vm_fd)
{
	int has2 = os_ioctl(backend_os(v->be), vm_fd, KVM_CHECK_EXTENSION,
			    (void *)(uintptr_t)KVM_CAP_USER_MEMORY2);

	if (has2 < 0)
		return has2;
	if (has2)
		return 0;
	return backend_kind(v->be) == GMEM_BACKEND_GUEST_MEMFD ? -EOPNOTSUPP
								 : 1;
}

static int set_slot(const struct gmem_view *v, const struct view_region *r,
		    uint64_t gfn, uint64_t off, uint64_t len, void *arg)
{
	struct bind *b = arg;
	bool gmem = backend_kind(v->be) == GMEM_BACKEND_GUEST_MEMFD;
	char *hva = r->guest_base ? r->guest_base : r->base;
	struct kvm_userspace_memory_region2 m = {
		.slot = b->slot,
		.guest_phys_addr = gfn * FRAME,
		.memory_size = b->remove ? 0 : len,
	};
	int err;

	if (!hva)
		m.userspace_addr = (uintptr_t)backend_anon_addr(v->be, off);
	else
		m.userspace_addr = (uintptr_t)(hva + (gfn - r->gfn) * FRAME);
	if (gmem) {
		m.flags = KVM_MEM_GUEST_MEMFD;
		m.guest_memfd = (uint32_t)backend_file(v->be);
		m.guest_memfd_offset = off;
	}
	if (b->v1) {
		/* REGION2's first fields, as the older ioctl takes them. */
		struct kvm_userspace_memory_region m1 = {
			.slot = m.slot,
			.guest_phys_addr = m.guest_phys_addr,
			.memory_size = m.memory_size,
			.userspace_addr = m.userspace_addr,
		};

		err = os_ioctl(backend_os(v->be), b->vm_fd,
			       KVM_SET_USER_MEMORY_REGION, &m1);
	} else {
		err = os_ioctl(backend_os(v->be), b->vm_fd,
			       KVM_SET_USER_MEMORY_REGION2, &m);
	}
	if (err < 0)
		return err;
	b->slot++;
	b->made++;
	return 0;
}

static int slots(struct gmem_view *v, const struct view_region *r, int vm_fd,
		 bool v1, uint32_t slot, bool remove, uint32_t *made)
{
	struct bind b = { .vm_fd = vm_fd, .slot = slot, .remove = remove,
			  .v1 = v1 };
	uint64_t end = r->gfn + r->npages;
	int err = view_for_stretches(v, r, r->gfn, end, set_slot, &b);

	if (err && !remove && b.made) {
		uint32_t n = b.made;

		/* The same slots again, removed. */
		b.slot = slot;
		b.remove = true;
		while (n--)
			set_slot(v, r, r->gfn, 0, 0, &b);
	}
	*made = b.made;
	return err;
}

/* The region a bind or unbind names: the one starting at gfn. */
static int region_at(const struct gmem_view *v, int vm_fd, uint64_t gfn,
		     struct view_region **r)
{
	if (!v || vm_fd < 0)
		return -EINVAL;
	*r = view_region_of(v, gfn);
	return *r && (*r)->gfn == gfn ? 0 : -ENOENT;
}

int view_kvm_attrs(struct gmem_view *v, const struct view_region *r,
		   uint64_t gfn, uint64_t npages, bool private)
{
	struct kvm_memory_attributes a = {
		.address = gfn * FRAME,
		.size = npages * FRAME,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};
	int err;

	if (r->attr_vm < 0)
		return 0;
	err = os_ioctl(backend_os(v->be), r->attr_vm, KVM_SET_MEMORY_ATTRIBUTES,
		       &a);
	if (!err)
		atomic_fetch_add(&v->attr_ioctls, 1);
	return err < 0 ? err : 0;
}

int view_kvm_resync(struct gmem_view *v, const struct view_region *r)
{
	uint64_t end = r->gfn + r->npages;
	struct gmem_run run;

	if (r->attr_vm < 0)
		return 0;
	for (uint64_t at = r->gfn; at < end; at += run.npages) {
		int err = gmem_run_get(v->g, at, end - at, &run);

		if (!err)
			err = view_kvm_attrs(v, r, at, run.npages,
					     run.attr == GMEM_ATTR_PRIVATE);
		if (err)
			return err;
	}
	return 0;
}

/* Whether vm_fd offers the private attribute: 1, 0, or the ioctl's
 * error. The capability's value is the mask of attributes. */
static int private_offered(struct gmem_view *v, int vm_fd)
{
	int mask = os_ioctl(backend_os(v->be), vm_fd, KVM_CHECK_EXTENSION,
			    (void *)(uintptr_t)KVM_CAP_MEMORY_ATTRIBUTES);

	if (mask < 0)
		return mask;
	return (mask & KVM_MEMORY_ATTRIBUTE_PRIVATE) != 0;
}

/* Makes KVM's attributes of r follow the guest: all of them told now.
 * On failure KVM's attributes of r are put back to shared. */
static int attrs_follow(struct gmem_view *v, struct view_region *r, int vm_fd)
{
	int err;

	r->attr_vm = vm_fd;
	err = view_kvm_resync(v, r);
	if (err) {
		view_kvm_attrs(v, r, r->gfn, r->npages, false);
		r->attr_vm = -1;
		return err;
	}
	return 0;
}

static void attrs_stop(struct gmem_view *v, struct view_region *r)
{
	if (r->attr_vm < 0)
		return;
	/* KVM keeps attributes per VM, not per slot: a region left private
	 * there would fault in any slot bound to it later. */
	view_kvm_attrs(v, r, r->gfn, r->npages, false);
	r->attr_vm = -1;
}

int gmem_view_kvm_bind(struct gmem_view *v, int vm_fd, uint64_t gfn,
		       uint32_t slot, uint32_t *nslots)
{
	struct view_region *r;
	uint32_t made;
	int err = region_at(v, vm_fd, gfn, &r), v1;

	if (err)
		return err;
	if (r->attr_vm >= 0)
		return -EBUSY;
	v1 = region_v1(v, vm_fd);
	if (v1 < 0)
		return v1;
	if (backend_kind(v->be) == GMEM_BACKEND_GUEST_MEMFD)
		err = private_offered(v, vm_fd);
	if (err > 0)
		err = attrs_follow(v, r, vm_fd);
	if (!err)
		err = slots(v, r, vm_fd, v1, slot, false, &made);
	if (err) {
		attrs_stop(v, r);
		return err;
	}
	if (nslots)
		*nslots = made;
	return 0;
}

int gmem_view_kvm_unbind(struct gmem_view *v, int vm_fd, uint64_t gfn,
			 uint32_t slot)
{
	struct view_region *r;
	uint32_t made;
	int err = region_at(v, vm_fd, gfn, &r), v1;

	if (err)
		return err;
	v1 = region_v1(v, vm_fd);
	err = v1 < 0 ? v1 : slots(v, r, vm_fd, v1, slot, true, &made);
	if (r->attr_vm == vm_fd)
		attrs_stop(v, r);
	return err;
}

int gmem_view_kvm_fault(struct gmem_view *v, struct gmem_kvm_fault *f)
{
	GMEM_OPTS(gmem_convert_opts, co);
	struct gmem_kvm_fault res = { .sz = sizeof(res) };
	const struct view_region *r;
	uint64_t gpa, size, gfn, end, mask;
	unsigned int attr;
	int err;

	if (!v || !f)
		return -EINVAL;
	err = OPTS_VALID(f, gmem_kvm_fault);
	if (err)
		return err;
	gpa = OPTS_GET(f, gpa, 0);
	size = OPTS_GET(f, size, 0);
	res.flags = OPTS_GET(f, flags, 0);
	if (!size || (res.flags & ~GMEM_KVM_FAULT_PRIVATE) ||
	    size > (GMEM_FRAME_LIMIT << GMEM_FRAME_SHIFT) - gpa ||
	    gpa > GMEM_FRAME_LIMIT << GMEM_FRAME_SHIFT)
		return -EINVAL;
	res.gpa = gpa;
	res.size = size;
	mask = v->g->granule_mask;
	gfn = (gpa / FRAME) & ~mask;
	end = ((gpa + size + FRAME - 1) / FRAME + mask) & ~mask;
	r = view_region_of(v, gfn);
	if (!r || end > r->gfn + r->npages)
		return -EFAULT;
	attr = res.flags & GMEM_KVM_FAULT_PRIVATE ? GMEM_ATTR_PRIVATE
						  : GMEM_ATTR_SHARED;
	res.gfn = gfn;
	res.npages = end - gfn;
	err = convert_counted(v->g, gfn, end - gfn, attr, &co, &res.changed);
	if (err && err != -EAGAIN && err != -EBUSY)
		return err;
	if (err)
		res.fail_gfn = co.fail_gfn;
	atomic_fetch_add(&v->faults, 1);
	if (res.changed)
		atomic_fetch_add(&v->fault_conversions, 1);
	out_struct(f, &res, sizeof(res));
	return err;
}
