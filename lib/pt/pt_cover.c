/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The minimal cover of a linearly mapped range by a geometry's leaves. */
#include <errno.h>

#include "core/opts.h"
#include "pt.h"

int pt_cover_run(const struct gmem_pt_geometry *geom,
		 const struct pt_sizes *sz, uint64_t gfn, uint64_t pfn,
		 uint64_t npages, gmem_pt_leaf_fn fn, void *ctx,
		 struct pt_tally *t)
{
	uint64_t granule = UINT64_C(1) << sz->s[sz->n - 1].shift, end;

	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn ||
	    pfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - pfn)
		return -EOVERFLOW;
	if (sz->space_shift < 64 && gfn + npages > UINT64_C(1) << sz->space_shift)
		return -ERANGE;
	if ((gfn | pfn | npages) & (granule - 1))
		return -EINVAL;
	/*
	 * Sizes are powers of two, each dividing the larger ones: the
	 * largest leaf aligned in both frame spaces that fits is always
	 * part of a minimal cover (an exchange argument), and the smallest
	 * always fits, the range being aligned to it.
	 */
	for (end = gfn + npages; gfn < end;) {
		const struct pt_leaf_size *s = sz->s;
		struct gmem_pt_leaf leaf;

		while (((gfn | pfn) & ((UINT64_C(1) << s->shift) - 1)) ||
		       end - gfn < UINT64_C(1) << s->shift)
			s++;
		leaf = (struct gmem_pt_leaf){
			.gfn = gfn, .pfn = pfn, .npages = UINT64_C(1) << s->shift,
			.level = s->level,
			.flags = s->contig ? GMEM_PT_LEAF_CONTIG : 0 };
		t->nleaves++;
		t->nentries += s->contig ? UINT64_C(1) << geom->level[s->level]
								.contig_bits
					 : 1;
		if (fn) {
			int err = fn(ctx, &leaf);

			if (err < 0)
				return err;
		}
		gfn += leaf.npages;
		pfn += leaf.npages;
	}
	return 0;
}

int gmem_pt_cover(const struct gmem_pt_geometry *geom, uint64_t gfn,
		  uint64_t pfn, uint64_t npages, gmem_pt_leaf_fn fn, void *ctx,
		  struct gmem_pt_cover_opts *opts)
{
	uint32_t flags = OPTS_GET(opts, flags, 0);
	struct pt_tally t = { 0, 0 };
	struct pt_sizes sz;
	int err = OPTS_VALID(opts, gmem_pt_cover_opts);

	if (err)
		return err;
	if ((flags & ~GMEM_PT_COVER_NO_CONTIG) || !npages ||
	    pt_sizes_of(geom, flags & GMEM_PT_COVER_NO_CONTIG, &sz))
		return -EINVAL;
	err = pt_cover_run(geom, &sz, gfn, pfn, npages, fn, ctx, &t);
	OPTS_SET(opts, nleaves, t.nleaves);
	OPTS_SET(opts, nentries, t.nentries);
	return err;
}
