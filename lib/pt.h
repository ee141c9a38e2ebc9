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

#endif
