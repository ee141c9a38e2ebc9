/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest object, shared by the files that implement its calls. */
#ifndef GMEM_LIB_GUEST_H
#define GMEM_LIB_GUEST_H

#include <gmem/convert.h>
#include <gmem/guest.h>

#include "core/heap.h"
#include "core/slot_lock.h"
#include "core/state.h"
#include "bus.h"

struct region {
	uint64_t gfn, end;
};

/* A 1 GiB slot of guest-physical space: its state, its regions, and
 * the conversions that ran in it, counted under its STATE hold (which
 * they take anyway) so that the quick path shares no counter. A cache
 * line each: threads converting in different slots write no line in
 * common (two slots to a line made two threads slower than one). */
struct __attribute__((aligned(64))) slot_entry {
	struct slot st;			/* first: slot_counted finds the entry */
	struct region *region;		/* the region covering all of it, or NULL */
	uint32_t nregions;		/* regions touching it */
	uint64_t conversions;		/* those whose range starts here */
	uint64_t converted_frames;	/* frames of this slot converted */
};

/* The guest's counts that are not kept per slot: rare events, one
 * shared word each, and what released slots had counted. */
struct guest_counts {
	_Atomic uint64_t refusals, listener_ns, pins, pager_requests;
	uint64_t conversions, converted_frames;	/* of released slots */
};

/*
 * What the guest knows of a feature (pins, paging, notifiers, range
 * listeners): a record made on the feature's first use, found by its
 * ops, destroyed with the guest. The feature's own record begins with
 * it. A feature made under the exclusive rule (gmem_listener_add's) may
 * hear the bus through sub; one made from any thread must not subscribe.
 */
struct guest_ext;

struct guest_ext_ops {
	size_t size;			/* of the feature's record */
	/* Frees what the record holds, not the record itself. */
	void (*destroy)(struct gmem_guest *g, struct guest_ext *x);
	/* The first frame of [lo, hi) that the feature keeps from changing
	 * attribute or leaving the guest, its error in *err; hi if none.
	 * The caller holds the TXN holds of [lo, hi). NULL: none. */
	uint64_t (*blocks)(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi, int *err);
	/* The region [lo, hi), which it does not block, goes: what the
	 * feature keeps there is dropped, before anything else changes.
	 * 0 or -ENOMEM (a kept range split in two), nothing dropped; only
	 * one feature may fail so (paging). NULL: nothing kept. */
	int (*forget)(struct gmem_guest *g, struct guest_ext *x, uint64_t lo,
		      uint64_t hi);
};

struct guest_ext {
	const struct guest_ext_ops *ops;
	struct gmem_guest *guest;
	struct bus_sub sub;		/* kinds 0: not subscribed */
};

#define GUEST_EXTS 4

/*
 * Where the frames' memory is, when something holds it (the VMM's
 * view): paging copies data in and out through it. The TXN holds of
 * [lo, hi) are held, no lock.
 */
struct guest_memory {
	int (*load)(void *ctx, uint64_t lo, uint64_t hi, const void *data);
	int (*read)(void *ctx, uint64_t lo, uint64_t hi, void *buf);
	void *ctx;
};

struct gmem_guest {
	struct gmem_pool *pool;
	struct heap heap;
	struct state_mem mem;		/* draws from heap */
	uint64_t granule_mask;		/* conversion granule - 1 */
	struct region **regions;	/* ascending, disjoint */
	uint32_t nregions, regions_cap;
	struct slot_entry *slots;	/* slots slot_base .. + nslots - 1 */
	uint64_t slot_base, nslots;
	struct bus bus;			/* every change, to its subscribers */
	uint32_t views;			/* regions stay as they are while > 0 */
	int node;
	const struct guest_memory *memory;	/* NULL: none */
	struct guest_ext *_Atomic exts[GUEST_EXTS];
	struct guest_counts counts;
};

static inline struct slot_entry *guest_entry(const struct gmem_guest *g,
					     uint64_t gfn)
{
	uint64_t i = (gfn >> SLOT_SHIFT) - g->slot_base;

	return i < g->nslots ? &g->slots[i] : NULL;
}

static inline struct slot *guest_slot(const struct gmem_guest *g,
				      uint64_t gfn)
{
	struct slot_entry *e = guest_entry(g, gfn);

	return e ? &e->st : NULL;
}

/* The region covering all of gfn's slot, or NULL. */
static inline const struct region *
guest_slot_region(const struct gmem_guest *g, uint64_t gfn)
{
	const struct slot_entry *e = guest_entry(g, gfn);

	return e ? e->region : NULL;
}

/* The host frame of gfn, which is in a bound slot. */
static inline uint64_t guest_pfn(const struct gmem_guest *g, uint64_t gfn)
{
	return slot_pfn(guest_slot(g, gfn)) + (gfn & (SLOT_FRAMES - 1));
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
	return &g->slots[i].st;
}

/* Counts frames of slot s converted, and a conversion if its range
 * starts in s; under the STATE hold of s. */
static inline void slot_counted(struct slot *s, uint64_t frames, bool first)
{
	struct slot_entry *e = (struct slot_entry *)s;

	e->conversions += first;
	e->converted_frames += frames;
}

/* Adds n to a counter of struct guest_counts. */
static inline void guest_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
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

/* Frees the listeners left on a guest being destroyed (listener.c). */
void listeners_free(struct gmem_guest *g);

/* The feature whose record has ops, or NULL: any thread. */
struct guest_ext *guest_ext_find(const struct gmem_guest *g,
				 const struct guest_ext_ops *ops);
/* The same, made (zeroed, ops set) and subscribed if missing: racing
 * makers agree on one. 0 or -ENOMEM. */
int guest_ext_get(struct gmem_guest *g, const struct guest_ext_ops *ops,
		  const struct bus_sub *sub, struct guest_ext **out);
/* The first frame of [lo, hi) a feature blocks, its error in *err, or
 * hi. Under the TXN holds of [lo, hi). */
uint64_t guest_blocked(const struct gmem_guest *g, uint64_t lo, uint64_t hi,
		       int *err);

/*
 * A slot whose frames a feature blocks is marked EXC in its lock word
 * (slot_lock.h): one-shot conversions keep off it, and the features'
 * searches skip slots without it. A feature that changed what it blocks
 * in [lo, hi) has the marks recomputed, holding the TXN holds of
 * [lo, hi) and none of its own locks.
 */
void guest_slots_recheck(struct gmem_guest *g, uint64_t lo, uint64_t hi);
/* Whether any slot of [lo, hi) is marked: exact under its TXN holds. */
bool guest_slots_marked(const struct gmem_guest *g, uint64_t lo, uint64_t hi);

/* Takes or drops the TXN holds of the slots of [lo, hi), in order. */
void guest_slots_txn(struct gmem_guest *g, uint64_t lo, uint64_t hi,
		     bool lock);

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

/* gmem_convert through a transaction whoever listens, and *changed
 * the frames that changed: one walk of the state, not two, for callers
 * that must know (a memory fault that found nothing to do). */
int convert_counted(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    unsigned int attr, struct gmem_convert_opts *opts,
		    uint64_t *changed);

#endif
