/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The view object, shared by the view and its KVM binding. */
#ifndef GMEM_LIB_VIEW_H
#define GMEM_LIB_VIEW_H

#include <stdatomic.h>
#include <stdbool.h>

#include <gmem/view.h>

#include "guest/guest.h"

struct view_region {
	uint64_t gfn, npages;
	char *base;		/* the VMM's view of gfn; NULL: anonymous */
	char *guest_base;	/* GMEM_VIEW_GUEST_MAP, or NULL */
	void *resv, *guest_resv;	/* the reservations holding them */
	int attr_vm;		/* the VM whose memory attributes follow the
				 * region (gmem_view_kvm_bind), or -1 */
};

struct gmem_view {
	struct gmem_guest *g;
	struct gmem_backend *be;
	struct bus_sub sub;	/* conversions and paging, LAST */
	unsigned int content;	/* enum gmem_content */
	unsigned int flags;	/* GMEM_VIEW_* */
	unsigned int populate_threads;	/* at creation; 0 or 1: the caller */
	uint64_t huge;		/* frames per huge page where pages split
				 * (view_split.c), else 0 */
	struct view_region *regs;	/* the guest's regions, ascending */
	uint32_t nregs;
	_Atomic uint64_t mapped, unmapped, discarded, stale;
	_Atomic uint64_t attr_ioctls, faults, fault_conversions;
	struct guest_memory memory;	/* for paging (view_paging.c) */
};

/* The region holding gfn, or NULL. */
struct view_region *view_region_of(const struct gmem_view *v, uint64_t gfn);

/* Called per stretch: frames [gfn, ...) of r whose file bytes
 * [off, off + len) are contiguous. */
typedef int (*stretch_fn)(const struct gmem_view *v,
			  const struct view_region *r, uint64_t gfn,
			  uint64_t off, uint64_t len, void *arg);
/* Cuts [gfn, end) of r into maximal stretches, in address order; stops
 * at the first error fn returns. */
int view_for_stretches(const struct gmem_view *v, const struct view_region *r,
		       uint64_t gfn, uint64_t end, stretch_fn fn, void *arg);

/* Makes the VMM's view of [gfn, end) in r shared or inaccessible. */
int view_set(struct gmem_view *v, const struct view_region *r, uint64_t gfn,
	     uint64_t end, bool shared);
/* Walks the runs of [gfn, end) in r: with set, makes the view equal to
 * them; with fault_in, maps in the page tables of the shared ones. */
int runs_apply(struct gmem_view *v, const struct view_region *r,
	       uint64_t gfn, uint64_t end, bool set, bool fault_in);
/* Allocates and faults in all of r from v->populate_threads threads
 * (view_populate.c); the view already set. */
int view_populate(struct gmem_view *v, const struct view_region *r);
/* Stretch functions: the backend's memory of a stretch allocated. */
int stretch_allocate(const struct gmem_view *v, const struct view_region *r,
		     uint64_t gfn, uint64_t off, uint64_t len, void *arg);
/* Stretch functions: the guest mapping of a stretch opened; its file
 * bytes punched out. */
int stretch_guest_map(const struct gmem_view *v, const struct view_region *r,
		      uint64_t gfn, uint64_t off, uint64_t len, void *arg);
int stretch_discard(const struct gmem_view *v, const struct view_region *r,
		    uint64_t gfn, uint64_t off, uint64_t len, void *arg);

/* Splits the huge pages that [gfn, end) of r cuts, before any mapping of
 * them changes in part: 0, or the error that left them whole. */
int view_split_cut(struct gmem_view *v, const struct view_region *r, uint64_t gfn,
		   uint64_t end);
/* Joins the split pages of [gfn, end) whose frames agree again, where it
 * can; a page it cannot join stays split. */
void view_split_join(struct gmem_view *v, uint64_t gfn, uint64_t end);

/* KVM's memory attributes of [gfn, gfn + npages) in r made private or
 * shared with one ioctl, where they follow the region; else 0. */
int view_kvm_attrs(struct gmem_view *v, const struct view_region *r,
		   uint64_t gfn, uint64_t npages, bool private);
/* KVM's attributes of the whole of r made equal to the guest's state,
 * one ioctl per run, where they follow the region. */
int view_kvm_resync(struct gmem_view *v, const struct view_region *r);

/* Paging: the view follows frames out and in (view_paging.c) and holds
 * their memory. Attaching closes the guest mapping of frames already
 * out; 0 or -ENOMEM. */
int view_paging_attach(struct gmem_view *v);
/* A paging change heard on the bus (BUS_PAGE_*). */
int view_paging_heard(struct gmem_view *v, const struct bus_event *ev);
/* Present as the view maps frames: present, or coming back in (the
 * view maps a page-in before its frames are present, so that a lookup
 * that finds a frame present finds it mapped). The first frame of
 * [lo, hi) present, or not, that way; hi if none. */
uint64_t view_next_present(const struct gmem_view *v, uint64_t lo,
			   uint64_t hi);
uint64_t view_first_absent(const struct gmem_view *v, uint64_t lo,
			   uint64_t hi);

#endif
