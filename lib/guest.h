/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest object, shared by the files that implement its calls. */
#ifndef GMEM_LIB_GUEST_H
#define GMEM_LIB_GUEST_H

#include <gmem/convert.h>
#include <gmem/guest.h>

#include "frame_set.h"
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
 * What a builder or the VMM's view hears that listeners do not.
 *  changed   frames whose mapping may change otherwise than by a
 *            conversion (unpinned, so a pin no longer holds back a join;
 *            leaving or entering the views by paging). No lock held;
 *            cannot fail.
 *  busy      whether the builder may still map some of [lo, hi) (not
 *            synced since they left its view); under the paging lock.
 *  leaving   [lo, hi) is about to leave every view (nominated): make it
 *            unreachable now, or refuse with an error.
 *  evicting  the memory of [lo, hi) is given back.
 *  loading   data (npages frames) goes back into [lo, hi).
 *  reading   the data of [lo, hi) is copied out to buf.
 * The last four hold the TXN holds of their slots but no lock; NULL
 * where the watcher has no memory of its own.
 */
struct guest_watch {
	void (*changed)(void *ctx, uint64_t lo, uint64_t hi, unsigned int why);
	bool (*busy)(void *ctx, uint64_t lo, uint64_t hi);
	int (*leaving)(void *ctx, uint64_t lo, uint64_t hi);
	int (*evicting)(void *ctx, uint64_t lo, uint64_t hi);
	int (*loading)(void *ctx, uint64_t lo, uint64_t hi, const void *data);
	int (*reading)(void *ctx, uint64_t lo, uint64_t hi, void *buf);
	void *ctx;
};

struct paging;


/* Frames [lo, hi) pinned count times (pin.c). */
struct pin_run {
	uint64_t lo, hi;	/* a struct frame_range */
	uint32_t count;
};

/* Pins: ascending disjoint runs, under lock; and the frames I/O left
 * shared until the guest's next access (io.c). */
struct pin_set {
	_Atomic uint32_t lock;
	uint32_t n, cap;
	struct pin_run *v;
	struct frame_ranges lazy;
};

struct gmem_guest {
	struct gmem_pool *pool;
	struct heap heap;
	struct state_mem mem;		/* draws from heap */
	uint64_t granule_mask;		/* conversion granule - 1 */
	struct region **regions;	/* ascending, disjoint */
	uint32_t nregions, regions_cap;
	struct slot *slots;		/* slots slot_base .. + nslots - 1 */
	uint64_t slot_base, nslots;
	struct gmem_listener **listeners;	/* registration order */
	uint32_t nlisteners, listeners_cap;
	uint32_t views;			/* regions stay as they are while > 0 */
	int node;
	struct notify_set *notify;	/* invalidation notifiers, once any */
	struct range_hub *ranges;	/* range listeners, once any */
	struct guest_watch **watches;
	uint32_t nwatches, watches_cap;
	struct pin_set *_Atomic pins;	/* once a frame is pinned */
	struct paging *_Atomic paging;	/* once paging begins */
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
/* Why a watch hears of a change. */
#define WATCH_UNPINNED 1	/* frames unpinned */
#define WATCH_PAGING 2		/* frames left or entered the views */

/* Tells every watch that [lo, hi) changed, and why. */
void guest_watch_changed(struct gmem_guest *g, uint64_t lo, uint64_t hi,
			 unsigned int why);

/* Takes or drops the TXN holds of the slots of [lo, hi), in order. */
void guest_slots_txn(struct gmem_guest *g, uint64_t lo, uint64_t hi,
		     bool lock);

/* The per-slot counts of frames (struct slot members) kept by pins and
 * paging: added to by sign times the frames of [lo, hi) in each slot,
 * and whether any slot of [lo, hi) counts some. */
#define SLOT_COUNT_PINNED offsetof(struct slot, pinned)
#define SLOT_COUNT_ABSENT offsetof(struct slot, absent)
void guest_slots_count(struct gmem_guest *g, uint64_t lo, uint64_t hi,
		       size_t count, int sign);
bool guest_slots_any(const struct gmem_guest *g, uint64_t lo, uint64_t hi,
		     size_t count);

/* The first frame of [lo, hi) not present, or hi (paging.c). */
uint64_t page_first_absent(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi);
/* The first present frame of [lo, hi), or hi. */
uint64_t page_next_present(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi);
void page_free(struct gmem_guest *g);

/* The runs of pins, made on first use; NULL: -ENOMEM. */
struct pin_set *pins_get(struct gmem_guest *g);
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
