/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest object, shared by the files that implement its calls. */
#ifndef GMEM_LIB_GUEST_H
#define GMEM_LIB_GUEST_H

#include <gmem/convert.h>
#include <gmem/guest.h>

#include "heap.h"
#include "slot_lock.h"
#include "state.h"

struct region {
	uint64_t gfn, end;
};

struct gmem_listener {
	struct gmem_guest *guest;
	gmem_listener_fn fn;
	void *ctx;
	/* LISTEN_*: the order of calls. One LAST or FINAL acts in PREPARE,
	 * once those before it consented, and gets no COMMIT. */
	unsigned int order;
};

#define LISTEN_NORMAL 0	/* in registration order */
#define LISTEN_LAST 1	/* after the normal ones (the view) */
#define LISTEN_FINAL 2	/* after all, so it cannot be cancelled: for
			 * changes that cannot fail nor be undone */

/*
 * What a builder hears that listeners do not: frames unpinned, whose
 * joins a pin held back. Called with no lock held; cannot fail.
 */
struct guest_watch {
	void (*unpinned)(void *ctx, uint64_t lo, uint64_t hi);
	void *ctx;
};

/* Frames [lo, hi) pinned count times (pin.c). */
struct pin_run {
	uint64_t lo, hi;	/* a struct frame_range */
	uint32_t count;
};

struct gmem_guest {
	struct gmem_pool *pool;
	struct heap heap;
	struct state_mem mem;		/* draws from heap */
	int node;
	uint64_t granule_mask;		/* conversion granule - 1 */
	struct region **regions;	/* ascending, disjoint */
	uint32_t nregions, regions_cap;
	struct slot *slots;		/* slots slot_base .. + nslots - 1 */
	uint64_t slot_base, nslots;
	struct gmem_listener **listeners;	/* registration order */
	uint32_t nlisteners, listeners_cap;
	uint32_t views;			/* regions stay as they are while > 0 */
	struct notify_set *notify;	/* invalidation notifiers, once any */
	struct range_hub *ranges;	/* range listeners, once any */
	struct guest_watch **watches;
	uint32_t nwatches, watches_cap;
	/* Pins: ascending disjoint runs, under pin_lock. */
	_Atomic uint32_t pin_lock;
	uint32_t npins, pins_cap;
	struct pin_run *pins;
};

static inline struct slot *guest_slot(const struct gmem_guest *g,
				      uint64_t gfn)
{
	uint64_t i = (gfn >> SLOT_SHIFT) - g->slot_base;

	return i < g->nslots ? &g->slots[i] : NULL;
}

/* The host frame of gfn, which is in a bound slot. */
static inline uint64_t guest_pfn(const struct gmem_guest *g, uint64_t gfn)
{
	return guest_slot(g, gfn)->pfn + (gfn & (SLOT_FRAMES - 1));
}

/*
 * The slot holding all of [gfn, gfn + npages) when one region covers the
 * whole slot: then the range needs no other check. NULL otherwise (the
 * caller takes the general path, which also reports the errors).
 */
static inline struct slot *guest_slot_whole(const struct gmem_guest *g,
					    uint64_t gfn, uint64_t npages)
{
	uint64_t i = (gfn >> SLOT_SHIFT) - g->slot_base;

	if (i >= g->nslots || !g->slots[i].region ||
	    npages - 1 >= SLOT_FRAMES - (gfn & (SLOT_FRAMES - 1)))
		return NULL;
	return &g->slots[i];
}

/* The lock word of a slot that queries see as const: locking is not a
 * change of the guest. */
static inline _Atomic uint32_t *slot_lockw(const struct slot *s)
{
	return (_Atomic uint32_t *)(uintptr_t)&s->lock;
}

static inline uint32_t slot_off(uint64_t gfn)
{
	return (uint32_t)(gfn & (SLOT_FRAMES - 1));
}

/* gmem_listener_add with GMEM_LISTENER_* flags, in the order class
 * LISTEN_*. */
int listener_add(struct gmem_guest *g, gmem_listener_fn fn, void *ctx,
		 unsigned int flags, unsigned int order,
		 struct gmem_listener **out);

/* Exclusive, like listeners. */
int guest_watch_add(struct gmem_guest *g, struct guest_watch *w);
void guest_watch_remove(struct gmem_guest *g, struct guest_watch *w);

/* The first pinned frame of [lo, hi), or hi. */
uint64_t pin_first(const struct gmem_guest *g, uint64_t lo, uint64_t hi);
void pin_free(struct gmem_guest *g);

/* The region holding gfn, or NULL. */
const struct region *guest_region(const struct gmem_guest *g, uint64_t gfn);
/* The first region ending after gfn, or NULL. */
const struct region *guest_region_after(const struct gmem_guest *g,
					uint64_t gfn);

/*
 * Checks that [gfn, gfn + npages) lies in one region; on error *fail is
 * the first frame at fault.
 */
int guest_range(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		uint64_t *fail);

/* state_get under the slot's STATE hold, or without any hold when the
 * slot is uniform. */
unsigned int slot_get(const struct slot *s, uint32_t off);

/* Which pieces of a bound slot hold both attributes, as a mask per
 * group of pieces (all clear for a uniform slot). */
void slot_mixed_pieces(const struct slot *s, uint64_t mixed[SLOT_GROUPS]);

/* state_range of a bound slot, without a hold where it can be. */
unsigned int slot_range(const struct slot *s, uint32_t a, uint32_t b);

/*
 * The run starting at gfn, clipped to npages (checked by the caller).
 * With lock, each slot is read under its STATE hold; without, the caller
 * owns the slots' TXN holds.
 */
void guest_run(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
	       bool lock, struct gmem_run *run);

#endif
