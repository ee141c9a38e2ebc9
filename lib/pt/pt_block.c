/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether an aligned block may be one leaf of a view. The cover is made of
 * the maximal such blocks, so this one check decides both what a builder
 * maps and what gmem_pt_explain reports.
 */
#include "guest/guest.h"
#include "features/paging.h"
#include "pt_table.h"

/* The attribute of bound slots lo's .. for n frames (a block aligned to
 * n, all in one region): one attribute, or GMEM_ATTR_MIXED. */
static unsigned int block_attr(const struct gmem_guest *g, uint64_t lo,
			       uint64_t n)
{
	uint64_t f, end = lo + n;
	unsigned int v = GMEM_ATTR_MIXED;

	if (n <= SLOT_FRAMES)
		return slot_range(guest_slot(g, lo), slot_off(lo),
				  slot_off(lo) + (uint32_t)n);
	for (f = lo; f < end; f += SLOT_FRAMES) {
		unsigned int a = slot_range(guest_slot(g, f), 0, SLOT_FRAMES);

		if (a == GMEM_ATTR_MIXED || (f != lo && a != v))
			return GMEM_ATTR_MIXED;
		v = a;
	}
	return v;
}

uint32_t pt_block_check(const struct gmem_guest *g, const struct pt_rule *rule,
			uint64_t lo, unsigned int shift, uint64_t ref,
			unsigned int *attr, uint64_t *at)
{
	uint64_t n = UINT64_C(1) << shift, hi = lo + n, f;
	const struct region *r;
	unsigned int v;

	*at = lo;
	if (rule->space_shift < 64 && shift >= rule->space_shift)
		return GMEM_PT_BLOCK_SPACE;
	/* One region holds all of the slot: the common case, no search. */
	r = guest_slot_region(g, lo);
	if (!r)
		r = guest_region_after(g, lo);
	if (!r || r->gfn >= hi)
		return PT_BLOCK_EMPTY;
	if (shift > rule->accept_shift)
		return GMEM_PT_BLOCK_ACCEPT;
	/* Blocks are congruent to guest frames modulo a slot: only leaves
	 * larger than a slot depend on where the blocks lie. */
	if (n > SLOT_FRAMES) {
		if (ref == PT_NO_REF)
			ref = r->gfn > lo ? r->gfn : lo;
		if ((guest_pfn(g, ref) - ref) & (n - 1)) {
			*at = ref;
			return GMEM_PT_BLOCK_PFN;
		}
	}
	if (r->gfn > lo || r->end < hi) {
		*at = r->gfn > lo ? lo : r->end;
		return GMEM_PT_BLOCK_REGION;
	}
	if (n > SLOT_FRAMES) {
		uint64_t delta = guest_pfn(g, ref) - ref;

		for (f = lo; f < hi; f += SLOT_FRAMES)
			if (slot_pfn(guest_slot(g, f)) != f + delta) {
				*at = f;
				return GMEM_PT_BLOCK_BLOCKS;
			}
	}
	/* Frames not present are in no view. */
	f = page_first_absent(g, lo, hi);
	if (f < hi) {
		*at = f;
		return f == lo && page_next_present(g, lo, hi) == hi
			       ? PT_BLOCK_EMPTY
			       : GMEM_PT_BLOCK_PAGING;
	}
	if (!rule->by_attr)
		return GMEM_PT_BLOCK_NONE;
	v = block_attr(g, lo, n);
	*attr = v;
	if (rule->view == GMEM_PT_VIEW_ALL)
		return v == GMEM_ATTR_MIXED ? GMEM_PT_BLOCK_PROT
					    : GMEM_PT_BLOCK_NONE;
	if (v == (rule->view == GMEM_PT_VIEW_SHARED))
		return GMEM_PT_BLOCK_NONE;
	return v == GMEM_ATTR_MIXED ? GMEM_PT_BLOCK_MIXED : PT_BLOCK_EMPTY;
}
