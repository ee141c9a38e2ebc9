/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Why a frame's leaf is not larger. In the minimal cover, the leaf
 * covering a frame is the largest aligned range around it that a leaf
 * may map (the cover is made of maximal aligned ranges), so each larger
 * size is stopped by something in its own aligned range around the frame:
 * what pt_block_check finds there, or for a builder its policy.
 */
#include <errno.h>

#include "core/opts.h"
#include "guest/guest.h"
#include "features/paging.h"
#include "features/pin_set.h"
#include "pt_walk.h"

/* The first frame of [lo, lo + n) whose attribute differs from want. */
static uint64_t first_other(const struct gmem_guest *g, uint64_t lo,
			    uint64_t n, unsigned int want)
{
	struct gmem_run run;

	guest_run(g, lo, n, true, &run);
	return run.attr != want ? lo : lo + run.npages;
}

/*
 * Fills ex for frame gfn, which is in the view. For a builder, pt (its
 * dirty logging) and table_npages, the size of the table's leaf at gfn,
 * which its policy may keep smaller than the cover's; NULL and 0 for the
 * cover itself.
 */
static int explain(const struct gmem_guest *g, const struct pt_rule *rule,
		   const struct pt_sizes *sz, uint64_t gfn,
		   const struct gmem_pt *pt, uint64_t table_npages,
		   struct gmem_pt_explain *ex)
{
	unsigned int attr = slot_get(guest_slot(g, gfn), slot_off(gfn));
	int i, leaf = -1;

	/* Sizes smallest first: the leaf is the last that nothing stops. */
	for (i = (int)sz->n - 1; i >= 0; i--) {
		const struct pt_leaf_size *s = &sz->s[i];
		uint64_t n = UINT64_C(1) << s->shift, lo = gfn & ~(n - 1), at;
		unsigned int a;
		uint32_t b = pt_block_check(g, rule, lo, s->shift, gfn, &a, &at);

		if (b == GMEM_PT_BLOCK_MIXED || b == GMEM_PT_BLOCK_PROT)
			at = first_other(g, lo, n, attr);
		if (b == GMEM_PT_BLOCK_NONE && pt &&
		    pt_log_splits(pt, lo, s->shift)) {
			b = GMEM_PT_BLOCK_DIRTY_LOG;
			at = pt_log_first_split(pt, lo, lo + n);
		}
		if (b == GMEM_PT_BLOCK_NONE && table_npages &&
		    n > table_npages) {
			uint64_t pin = pin_first(g, lo, lo + n);

			b = pin < lo + n ? GMEM_PT_BLOCK_PINNED
					 : GMEM_PT_BLOCK_NO_PROMOTE;
			at = pin < lo + n ? pin : gfn;
		}
		if (b == GMEM_PT_BLOCK_NONE) {
			leaf = i;
			ex->nwhy = 0;
		} else if (leaf < 0) {
			return -EINVAL;	/* not even the granule fits */
		}
		ex->why[ex->nwhy++] = (struct gmem_pt_why){
			.npages = n, .level = s->level,
			.flags = s->contig ? GMEM_PT_LEAF_CONTIG : 0,
			.blocker = b, .at_gfn = at };
	}
	ex->leaf.npages = UINT64_C(1) << sz->s[leaf].shift;
	ex->leaf.gfn = gfn & ~(ex->leaf.npages - 1);
	ex->leaf.pfn = guest_pfn(g, gfn) - (gfn - ex->leaf.gfn);
	ex->leaf.level = sz->s[leaf].level;
	ex->leaf.flags = sz->s[leaf].contig ? GMEM_PT_LEAF_CONTIG : 0;
	return 0;
}

/* -ENOENT outside regions, -ENXIO outside the view. */
static int frame_in_view(const struct gmem_guest *g, enum gmem_pt_view view,
			 uint64_t gfn)
{
	unsigned int attr;

	if (!guest_region(g, gfn))
		return -ENOENT;
	attr = slot_get(guest_slot(g, gfn), slot_off(gfn));
	if (view != GMEM_PT_VIEW_ALL && attr != (view == GMEM_PT_VIEW_SHARED))
		return -ENXIO;
	/* A frame not present is in no view (gmem/page.h). */
	return page_first_absent(g, gfn, gfn + 1) == gfn ? -ENXIO : 0;
}

int gmem_pt_explain(const struct gmem_guest *g, enum gmem_pt_view view,
		    const struct gmem_pt_geometry *geom, uint64_t gfn,
		    struct gmem_pt_explain *out)
{
	struct gmem_pt_explain ex = { .sz = sizeof(ex) };
	struct pt_rule rule = { .view = view, .by_attr = view != GMEM_PT_VIEW_ALL,
				.accept_shift = 64 };
	struct pt_sizes sz;
	int err = OPTS_VALID(out, gmem_pt_explain);

	if (err)
		return err;
	if (!g || !out || (unsigned int)view > GMEM_PT_VIEW_SHARED ||
	    (OPTS_GET(out, flags, 0) & ~GMEM_PT_COVER_NO_CONTIG) ||
	    pt_sizes_of(geom, OPTS_GET(out, flags, 0) & GMEM_PT_COVER_NO_CONTIG,
			&sz))
		return -EINVAL;
	err = frame_in_view(g, view, gfn);
	if (err)
		return err;
	rule.space_shift = sz.space_shift;
	ex.flags = OPTS_GET(out, flags, 0);
	err = explain(g, &rule, &sz, gfn, NULL, 0, &ex);
	return err ? err : out_struct(out, &ex, sizeof(ex));
}

struct leaf_size {
	const struct gmem_pt *pt;
	uint64_t npages;
};

/* The size of the leaf the walk reaches, a contiguous run whole. */
static int find_leaf(void *ctx, const struct gmem_pt_entry *e, uint32_t visit)
{
	struct leaf_size *ls = ctx;

	(void)visit;
	ls->npages = e->npages;
	if (e->flags & GMEM_PT_LEAF_CONTIG)
		ls->npages <<= ls->pt->geom.level[e->level].contig_bits;
	return 1;
}

int gmem_pt_explain_table(const struct gmem_pt *pt, uint64_t gfn,
			  struct gmem_pt_explain *out)
{
	struct gmem_pt_explain ex = { .sz = sizeof(ex) };
	struct leaf_size ls = { pt, 0 };
	int err = OPTS_VALID(out, gmem_pt_explain);

	if (err)
		return err;
	if (!pt || !out || OPTS_GET(out, flags, 0))
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT)
		return -EOVERFLOW;
	if (pt->npending)
		return -EAGAIN;
	err = frame_in_view(pt->guest, pt->rule.view, gfn);
	if (err)
		return err;
	if (pt_walk(pt, gfn, gfn + 1, find_leaf, &ls, GMEM_PT_VISIT_LEAF) != 1)
		return -ENXIO;
	ex.flags = pt->flags & GMEM_PT_COVER_NO_CONTIG;
	err = explain(pt->guest, &pt->rule, &pt->all, gfn, pt, ls.npages, &ex);
	return err ? err : out_struct(out, &ex, sizeof(ex));
}
