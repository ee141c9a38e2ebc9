/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Short ranges found by the 2 MiB pieces they touch.
 *
 * A range of at most one piece's frames touches one piece or two; it is
 * kept in the bucket of each, a small array sorted by (lo, seq), and the
 * buckets in a hash table by piece number. Finding what overlaps a short
 * range reads a bucket or two, a few cache lines, where a search tree
 * would chase a pointer per level. Buckets stay when emptied, so a table
 * only grows, with the pieces ever used.
 *
 * Readers and writers serialize outside (the owner's lock).
 */
#ifndef GMEM_LIB_PIECE_INDEX_H
#define GMEM_LIB_PIECE_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "state.h"

/* The longest range kept here, in frames. */
#define PIDX_MAX_FRAMES PIECE_FRAMES

struct pidx_entry {
	uint64_t lo, hi, seq;
	void *item;
	uint32_t tag;			/* the owner's, read without item */
};

struct pidx_bucket {
	uint64_t piece;			/* PIDX_NONE: a free place */
	struct pidx_entry *e;		/* by (lo, seq) */
	uint32_t n, cap;
};

#define PIDX_NONE UINT64_MAX

struct piece_index {
	struct pidx_bucket *tab;	/* cap places, a power of two */
	uint32_t cap, used;
};

/* Room for one more range [lo, hi) (at most PIDX_MAX_FRAMES): 0 or
 * -ENOMEM, nothing visible changed. */
int pidx_reserve(struct heap *h, struct piece_index *x, uint64_t lo,
		 uint64_t hi);
/* Adds [lo, hi) with its key seq, item and tag, room reserved. */
void pidx_add(struct piece_index *x, uint64_t lo, uint64_t hi, uint64_t seq,
	      void *item, uint32_t tag);
void pidx_del(struct piece_index *x, uint64_t lo, uint64_t hi, void *item);
/* The bucket of piece, or NULL. */
const struct pidx_bucket *pidx_bucket(const struct piece_index *x,
				      uint64_t piece);
void pidx_free(struct heap *h, struct piece_index *x);

#endif
