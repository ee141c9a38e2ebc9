/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why a frame's leaf is not larger. In the minimal cover, the leaf
 * covering a frame is the largest aligned range around it that a leaf
 * may map (the cover is made of maximal aligned ranges), so each larger
 * size is stopped by something in its own aligned range around the frame.
 */
#include <errno.h>

#include "guest.h"
#include "opts.h"
#include "pt.h"

/* What stops a leaf of 2^shift frames around gfn; *at the first frame. */
static uint32_t blocker(const struct gmem_guest *g, const struct region *r,
			enum gmem_pt_view view, const struct pt_sizes *sz,
			uint64_t gfn, unsigned int shift, uint64_t *at)
{
	uint64_t n = UINT64_C(1) << shift, lo = gfn & ~(n - 1), hi = lo + n;
	const struct slot *base = guest_slot(g, gfn);
	uint64_t pfn = guest_pfn(g, gfn), f;
	struct gmem_run run;

	*at = gfn;
	if (sz->space_shift < 64 && shift >= sz->space_shift)
		return GMEM_PT_BLOCK_SPACE;
	if ((pfn ^ gfn) & (n - 1))
		return GMEM_PT_BLOCK_PFN;
	if (lo < r->gfn || hi > r->end) {
		*at = lo < r->gfn ? lo : r->end;
		return GMEM_PT_BLOCK_REGION;
	}
	for (f = lo & ~(uint64_t)(SLOT_FRAMES - 1); f < hi; f += SLOT_FRAMES) {
		const struct slot *s = guest_slot(g, f);

		if (s->pfn + (gfn - f) - slot_off(gfn) != base->pfn) {
			*at = f;
			return GMEM_PT_BLOCK_BLOCKS;
		}
	}
	if (view == GMEM_PT_VIEW_ALL)
		return GMEM_PT_BLOCK_NONE;
	guest_run(g, lo, n, true, &run);
	if (run.attr != (view == GMEM_PT_VIEW_SHARED) || run.npages < n) {
		*at = run.attr != (view == GMEM_PT_VIEW_SHARED) ? lo
							     : lo + run.npages;
		return GMEM_PT_BLOCK_MIXED;
	}
	return GMEM_PT_BLOCK_NONE;
}

int gmem_pt_explain(const struct gmem_guest *g, enum gmem_pt_view view,
		    const struct gmem_pt_geometry *geom, uint64_t gfn,
		    struct gmem_pt_explain *out)
{
	struct gmem_pt_explain ex = { .sz = sizeof(ex) };
	const struct region *r;
	struct pt_sizes sz;
	unsigned int attr;
	int i, leaf = -1, err = opts_check(out, sizeof(*out));

	if (err)
		return err;
	if (!g || !out || (unsigned int)view > GMEM_PT_VIEW_SHARED ||
	    (OPTS_GET(out, flags, 0) & ~GMEM_PT_COVER_NO_CONTIG) ||
	    pt_sizes_of(geom, OPTS_GET(out, flags, 0) & GMEM_PT_COVER_NO_CONTIG,
			&sz))
		return -EINVAL;
	r = guest_region(g, gfn);
	if (!r)
		return -ENOENT;
	attr = slot_get(guest_slot(g, gfn), slot_off(gfn));
	if (view != GMEM_PT_VIEW_ALL && attr != (view == GMEM_PT_VIEW_SHARED))
		return -ENXIO;
	/* Sizes smallest first: the leaf is the last that nothing stops. */
	ex.flags = OPTS_GET(out, flags, 0);
	for (i = (int)sz.n - 1; i >= 0; i--) {
		const struct pt_leaf_size *s = &sz.s[i];
		uint64_t at;
		uint32_t b = blocker(g, r, view, &sz, gfn, s->shift, &at);

		if (b == GMEM_PT_BLOCK_NONE) {
			leaf = i;
			ex.nwhy = 0;
		} else if (leaf < 0) {
			return -EINVAL;	/* not even the granule fits */
		}
		ex.why[ex.nwhy++] = (struct gmem_pt_why){
			.npages = UINT64_C(1) << s->shift, .level = s->level,
			.flags = s->contig ? GMEM_PT_LEAF_CONTIG : 0,
			.blocker = b, .at_gfn = at };
	}
	ex.leaf.npages = UINT64_C(1) << sz.s[leaf].shift;
	ex.leaf.gfn = gfn & ~(ex.leaf.npages - 1);
	ex.leaf.pfn = guest_pfn(g, gfn) - (gfn - ex.leaf.gfn);
	ex.leaf.level = sz.s[leaf].level;
	ex.leaf.flags = sz.s[leaf].contig ? GMEM_PT_LEAF_CONTIG : 0;
	return out_struct(out, &ex, sizeof(ex));
}
