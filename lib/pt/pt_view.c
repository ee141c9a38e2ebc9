/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The minimal cover of a guest's view: stretches in the view that are
 * mapped linearly, each covered by gmem_pt_cover. */
#include <errno.h>

#include "core/opts.h"
#include "guest/guest.h"
#include "features/paging.h"
#include "pt_table.h"

/* The end of the linear mapping from gfn, which is in a bound slot: the
 * next slot whose block does not follow on in host frames, or limit. */
static uint64_t linear_end(const struct gmem_guest *g, uint64_t gfn,
			   uint64_t limit)
{
	const struct slot *s = guest_slot(g, gfn);
	uint64_t next = ((gfn >> SLOT_SHIFT) + 1) << SLOT_SHIFT;

	while (next < limit) {
		const struct slot *t = guest_slot(g, next);

		if (!t || !slot_bound(t) ||
		    slot_pfn(t) != slot_pfn(s) + SLOT_FRAMES)
			return next;
		s = t;
		next += SLOT_FRAMES;
	}
	return limit;
}

int pt_view_stretches(const struct gmem_guest *g, const struct pt_rule *rule,
		      uint64_t gfn, uint64_t end, pt_stretch_fn fn, void *ctx)
{
	uint32_t i;
	int err = 0;

	for (i = 0; !err && i < g->nregions && g->regions[i]->gfn < end; i++) {
		const struct region *reg = g->regions[i];
		uint64_t at = reg->gfn > gfn ? reg->gfn : gfn;
		uint64_t stop = reg->end < end ? reg->end : end;

		while (!err && at < stop) {
			struct gmem_run run = { .npages = stop - at };
			uint64_t f, e, to;

			if (rule->by_attr)
				guest_run(g, at, stop - at, true, &run);
			to = at + run.npages;
			if (rule->by_attr && rule->view != GMEM_PT_VIEW_ALL &&
			    run.attr != (rule->view == GMEM_PT_VIEW_SHARED)) {
				at = to;
				continue;
			}
			/* Cut where the blocks stop following on, and
			 * around frames not present. */
			for (f = page_next_present(g, at, to); !err && f < to;
			     f = page_next_present(g, e, to)) {
				e = linear_end(g, f, page_first_absent(g, f, to));
				err = fn(ctx, f, e, rule->by_attr ? run.attr : 0);
			}
			at = to;
		}
	}
	return err;
}

struct cover_ctx {
	const struct gmem_guest *g;
	const struct gmem_pt_geometry *geom;
	const struct pt_sizes *sz;
	gmem_pt_leaf_fn fn;
	void *ctx;
	struct pt_tally t;
};

static int cover_stretch(void *ctx, uint64_t gfn, uint64_t end,
			 unsigned int attr)
{
	struct cover_ctx *c = ctx;

	(void)attr;
	return pt_cover_run(c->geom, c->sz, gfn, guest_pfn(c->g, gfn),
			    end - gfn, c->fn, c->ctx, &c->t);
}

int gmem_pt_view_cover(const struct gmem_guest *g, enum gmem_pt_view view,
		       const struct gmem_pt_geometry *geom, uint64_t gfn,
		       uint64_t npages, gmem_pt_leaf_fn fn, void *ctx,
		       struct gmem_pt_cover_opts *opts)
{
	uint32_t flags = OPTS_GET(opts, flags, 0);
	struct pt_rule rule = { .view = view,
				.by_attr = view != GMEM_PT_VIEW_ALL };
	struct cover_ctx c = { g, geom, NULL, fn, ctx, { 0, 0 } };
	struct pt_sizes sz;
	int err = OPTS_VALID(opts, gmem_pt_cover_opts);

	if (err)
		return err;
	if (!g || (unsigned int)view > GMEM_PT_VIEW_SHARED || !npages ||
	    (flags & ~GMEM_PT_COVER_NO_CONTIG) ||
	    pt_sizes_of(geom, flags & GMEM_PT_COVER_NO_CONTIG, &sz))
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	c.sz = &sz;
	err = pt_view_stretches(g, &rule, gfn, gfn + npages, cover_stretch, &c);
	OPTS_SET(opts, nleaves, c.t.nleaves);
	OPTS_SET(opts, nentries, c.t.nentries);
	return err;
}
