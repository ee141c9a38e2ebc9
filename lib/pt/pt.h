/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Page-table geometries as the cover and the builders use them. */
#ifndef GMEM_LIB_PT_H
#define GMEM_LIB_PT_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem/pt.h>

/* A size a leaf can have, in frames: one entry of a leaf level, or a
 * contiguous run of them. */
struct pt_leaf_size {
	uint8_t shift;		/* log2 of its frames */
	uint8_t level;
	uint8_t contig;		/* under a contiguous hint */
};

struct pt_sizes {
	unsigned int n;		/* largest first */
	struct pt_leaf_size s[2 * GMEM_PT_MAX_LEVELS];
	uint8_t space_shift;	/* log2 of the frames the root maps */
};

/* Checks geom against the rules of gmem/pt.h and lists its leaf sizes;
 * with no_contig, without contiguous runs. 0 or -EINVAL. */
int pt_sizes_of(const struct gmem_pt_geometry *geom, bool no_contig,
		struct pt_sizes *sizes);

struct pt_tally {
	uint64_t nleaves, nentries;
};

/* gmem_pt_cover with the geometry checked and sized already; adds to t
 * the leaves it passes to fn. */
int pt_cover_run(const struct gmem_pt_geometry *geom,
		 const struct pt_sizes *sz, uint64_t gfn, uint64_t pfn,
		 uint64_t npages, gmem_pt_leaf_fn fn, void *ctx,
		 struct pt_tally *t);

#endif
