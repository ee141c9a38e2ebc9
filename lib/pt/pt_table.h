/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The builder object and the pieces its files share: entry formats, the
 * classification of aligned blocks and table pages.
 */
#ifndef GMEM_LIB_PT_TABLE_H
#define GMEM_LIB_PT_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <gmem/pt_build.h>

#include "core/heap.h"
#include "guest/guest.h"
#include "pt.h"
#include "pt_format.h"

struct gmem_guest;

/* A format's properties (its entries: pt_format.h). */
struct pt_format {
	enum gmem_pt_format id;
	uint32_t memtype;	/* default */
	uint8_t oa_bits;	/* output addresses below 2^oa_bits */
	uint8_t table_align;	/* log2 of the least table size and
				 * alignment */
	bool size_aligned;	/* tables aligned to their size, too */
	uint64_t table_w;	/* the bit of a table entry that, clear,
				 * takes write access from every entry
				 * under it; 0 where none does */
};

/* The format for geom, or NULL if it cannot encode that geometry. */
const struct pt_format *pt_format_of(enum gmem_pt_format f,
				     const struct gmem_pt_geometry *geom);

/* What decides whether an aligned block may be one leaf. */
struct pt_rule {
	enum gmem_pt_view view;
	bool by_attr;		/* leaves uniform in attribute */
	uint8_t space_shift;	/* log2 of the frames the root maps */
	uint8_t accept_shift;	/* log2 of the largest leaf allowed */
};

/* A block none of whose frames is in the view: nothing to map in it. */
#define PT_BLOCK_EMPTY 0xffu

/* No frame of the block is known to be in a region. */
#define PT_NO_REF UINT64_MAX

/*
 * Why the aligned block of 2^shift frames at lo cannot be one leaf:
 * GMEM_PT_BLOCK_NONE if it can (*attr its attribute when rule->by_attr),
 * PT_BLOCK_EMPTY if nothing in it is in the view, or the blocker and in
 * *at a frame that shows it (for MIXED and PROT, the block's first
 * frame: the caller finds a better one if it wants). ref is a frame of
 * the block in a region, whose host frame decides alignment, or
 * PT_NO_REF.
 */
uint32_t pt_block_check(const struct gmem_guest *g, const struct pt_rule *rule,
			uint64_t lo, unsigned int shift, uint64_t ref,
			unsigned int *attr, uint64_t *at);

/* A table page held for later use: the first words of a free page. */
struct pt_spare {
	struct pt_spare *next;
	uint64_t pa;
};

/* Pages kept per level between syncs, so split and join cycles do not
 * go to the allocator each time. */
#define PT_SPARE_KEEP 4u

/* A stretch: frames [gfn, end) of one region, in the view, mapped
 * linearly, of one attribute when the rule goes by attribute. */
typedef int (*pt_stretch_fn)(void *ctx, uint64_t gfn, uint64_t end,
			     unsigned int attr);

/* The stretches of [gfn, end), in address order: what
 * gmem_pt_view_cover covers, and the builders' fresh blocks. */
int pt_view_stretches(const struct gmem_guest *g, const struct pt_rule *rule,
		      uint64_t gfn, uint64_t end, pt_stretch_fn fn, void *ctx);

/* A range the next sync must look at. */
struct pt_pending {
	uint64_t lo, hi;
	uint32_t flags;		/* PT_RANGE_* */
};

#define PT_RANGE_FULL (1u << 0)	/* the table may differ anywhere in it */
#define PT_RANGE_JOIN (1u << 1)	/* joins allowed (GMEM_PT_NO_PROMOTE) */
#define PT_RANGE_DONE (1u << 2)	/* synced: to be dropped */
#define PT_RANGE_CONVERTED (1u << 3)	/* converted: logged frames in it
					 * are dirty (pt_log.c) */

struct gmem_pt {
	struct gmem_guest *guest;
	struct heap heap;		/* the builder's own memory */
	struct gmem_pt_geometry geom;
	struct pt_sizes sz;		/* leaf sizes, within the accept size */
	struct pt_sizes all;		/* every leaf size, for explain */
	struct pt_rule rule;
	const struct pt_format *fmt;
	uint32_t flags;
	uint32_t prot[2];
	uint32_t memtype;
	struct gmem_pt_page_ops pages;
	struct gmem_pt_sink sink;
	uint64_t *root;
	uint64_t root_pa;
	struct bus_sub sub;		/* every change of the guest */
	_Atomic bool changes_lost;	/* a change told found no room: the
					 * next sync looks at every region */
	struct pt_log *log;		/* dirty logging, once started */
	/* Ranges heard of; conversions append in parallel under lock. */
	_Atomic uint32_t lock;
	uint32_t npending, cap, reserved;
	struct pt_pending *pending;
	struct pt_spare *spare[GMEM_PT_MAX_LEVELS];
	uint32_t nspare[GMEM_PT_MAX_LEVELS];
	/* Counters, read by gmem_pt_stats from any thread. */
	_Atomic uint64_t nleaves, nentries, ntables, table_bytes;
	_Atomic uint64_t maps, unmaps, syncs, protects;
};

static inline size_t pt_table_size(const struct gmem_pt *pt,
				   unsigned int level)
{
	return (size_t)8 << pt->geom.level[level].index_bits;
}

/* Frames one entry of level maps. */
static inline uint64_t pt_entry_frames(const struct gmem_pt *pt,
				       unsigned int level)
{
	return UINT64_C(1) << (pt->geom.level[level].entry_shift -
			       GMEM_FRAME_SHIFT);
}

static inline unsigned int pt_index(const struct gmem_pt *pt,
				    unsigned int level, uint64_t gfn)
{
	const struct gmem_pt_level *l = &pt->geom.level[level];

	return (unsigned int)((gfn >> (l->entry_shift - GMEM_FRAME_SHIFT)) &
			      ((UINT64_C(1) << l->index_bits) - 1));
}

static inline void pt_decode(const struct gmem_pt *pt, uint64_t e,
			     unsigned int level, struct pt_decoded *d)
{
	pt_format_decode(pt->fmt->id, e, level, level + 1 == pt->geom.nlevels,
			 d);
}

static inline void *pt_virt(const struct gmem_pt *pt, uint64_t pa)
{
	return pt->pages.phys_to_virt(pt->pages.ctx, pa);
}

/* Bytes a table page of level takes: its entries, at least the
 * format's alignment. */
static inline size_t pt_page_bytes(const struct gmem_pt *pt,
				   unsigned int level)
{
	size_t min = (size_t)1 << pt->fmt->table_align;
	size_t n = pt_table_size(pt, level);

	return n > min ? n : min;
}

/* The alignment a table page of level needs. */
static inline size_t pt_page_align(const struct gmem_pt *pt,
				   unsigned int level)
{
	return pt->fmt->size_aligned ? pt_page_bytes(pt, level)
				     : (size_t)1 << pt->fmt->table_align;
}

/* Table pages, zeroed: alloc takes a spare first, free keeps one. */
uint64_t *pt_page_alloc(struct gmem_pt *pt, unsigned int level, uint64_t *pa);
void pt_page_free(struct gmem_pt *pt, unsigned int level, uint64_t *page,
		  uint64_t pa);
/* Makes at least n spares of level; -ENOMEM. */
int pt_spare_fill(struct gmem_pt *pt, unsigned int level, uint32_t n);
/* Gives back to the allocator all but keep spares per level. */
void pt_spare_trim(struct gmem_pt *pt, uint32_t keep);

/* Starts and stops hearing of the guest's conversions. */
/* The changes a builder hears: those that may change its table (and
 * its eviction check); conversions too where its view follows them or
 * it logs (pt_hear_conversions). */
#define PT_TOLD BUS_UNPIN
#define PT_HEARS (PT_TOLD | BUS_REGION_ADD | BUS_REGION_REMOVE | \
		  BUS_PAGE_OUT | BUS_PAGE_EVICT | BUS_PAGE_IN)
int pt_subscribe(struct gmem_pt *pt);
void pt_hear_conversions(struct gmem_pt *pt, bool on);
/* Before a sync: what changes that found no room left to look at. */
int pt_changes_found(struct gmem_pt *pt);

/* Adds a range for the next sync. */
int pt_pending_add(struct gmem_pt *pt, uint64_t lo, uint64_t hi,
		   uint32_t flags);

/* The sync of one pending range, as one batch. */
int pt_sync_range(struct gmem_pt *pt, const struct pt_pending *r);
/* Unmaps every leaf and frees every table but the root, in one batch. */
int pt_clear_all(struct gmem_pt *pt);

/*
 * Dirty logging's part in the cover (pt_log.c): whether it keeps the
 * block of 2^shift frames at lo from being one leaf (it holds a frame
 * written while logging, and is larger than the smallest leaf); the
 * permissions of a leaf [lo, hi) whose view grants prot (write access
 * only if all its logged frames are dirty); whether [lo, hi) holds any
 * logged frame; whether logging shapes the cover of [lo, hi) at all
 * (it holds logged frames or frames written while logging).
 */
bool pt_log_splits(const struct gmem_pt *pt, uint64_t lo, unsigned int shift);
uint32_t pt_log_prot(const struct gmem_pt *pt, uint64_t lo, uint64_t hi,
		     uint32_t prot);
bool pt_log_touches(const struct gmem_pt *pt, uint64_t lo, uint64_t hi);
bool pt_log_shapes(const struct gmem_pt *pt, uint64_t lo, uint64_t hi);
/* The first frame of [lo, hi) written while logging, or hi. */
uint64_t pt_log_first_split(const struct gmem_pt *pt, uint64_t lo,
			    uint64_t hi);
/* Makes the logged frames of converted pending ranges dirty; -ENOMEM. */
int pt_log_fold(struct gmem_pt *pt);
void pt_log_free(struct gmem_pt *pt);

#endif
