/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A view's regions as KVM memory slots: one slot per stretch of
 * contiguous blocks, since a slot maps guest-physical space linearly
 * onto one range of its file or address space.
 */
#include <errno.h>

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
};

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
	err = os_ioctl(backend_os(v->be), b->vm_fd, KVM_SET_USER_MEMORY_REGION2,
		       &m);
	if (err < 0)
		return err;
	b->slot++;
	b->made++;
	return 0;
}

static int slots(struct gmem_view *v, int vm_fd, uint64_t gfn, uint32_t slot,
		 bool remove, uint32_t *made)
{
	const struct view_region *r = NULL;
	struct bind b = { .vm_fd = vm_fd, .slot = slot, .remove = remove };
	uint32_t i;
	int err;

	if (!v || vm_fd < 0)
		return -EINVAL;
	for (i = 0; i < v->nregs && !r; i++)
		if (v->regs[i].gfn == gfn)
			r = &v->regs[i];
	if (!r)
		return -ENOENT;
	err = view_for_stretches(v, r, gfn, gfn + r->npages, set_slot, &b);
	if (err && !remove && b.made) {
		uint32_t n = b.made;

		b = (struct bind){ .vm_fd = vm_fd, .slot = slot, .remove = true };
		while (n--)
			set_slot(v, r, gfn, 0, 0, &b);
	}
	*made = b.made;
	return err;
}

int gmem_view_kvm_bind(struct gmem_view *v, int vm_fd, uint64_t gfn,
		       uint32_t slot, uint32_t *nslots)
{
	uint32_t made;
	int err = slots(v, vm_fd, gfn, slot, false, &made);

	if (!err && nslots)
		*nslots = made;
	return err;
}

int gmem_view_kvm_unbind(struct gmem_view *v, int vm_fd, uint64_t gfn,
			 uint32_t slot)
{
	uint32_t made;

	return slots(v, vm_fd, gfn, slot, true, &made);
}
