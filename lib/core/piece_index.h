/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Short ranges found by the 2 MiB pieces they touch.
 *
 * A range of at most one piece's frames touches one piece or two; it is
 * kept in the bucket of each, a small array sorted by (lo, seq), and the
 * buckets in a hash table by piece number. Finding what overlaps a short
 * range scans a bucket's packed spans, then reads the entries that
 * overlap, where a search tree would chase a pointer per level. A
 * bucket of up to PIDX_INLINE entries has its spans in its hash table
 * place too, so that a lookup there reads one line before the entries
 * it calls. Buckets stay when emptied, so a table only grows, with the
 * pieces ever used.
 *
 * Adding and deleting are exclusive with lookups (the owner sees to
 * it); retagging is not.
 */
#ifndef GMEM_LIB_PIECE_INDEX_H
#define GMEM_LIB_PIECE_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "state.h"

/* The longest range kept here, in frames. */
#define PIDX_MAX_FRAMES PIECE_FRAMES

/* What the owner keeps of a range. A lookup reads only this, so it need
 * not touch the item (a cache miss in a big set) to decide or call. */
struct pidx_entry {
	uint64_t lo, seq;		/* the key, sorted by */
	void *item;
	void *ctx;			/* the owner's call, copied */
	void (*fn)(void);
	uint32_t len;			/* frames, at most PIDX_MAX_FRAMES */
	uint32_t tag;			/* the owner's bits: pidx_retag */
};

/* An entry's frames relative to its bucket's piece: [lo, hi), lo from
 * -PIECE_FRAMES (it starts in the piece before). A lookup scans these,
 * a line for a bucket of 16, and reads only the entries that overlap. */
struct pidx_span {
	int16_t lo, hi;
};

#define PIDX_INLINE 10

/* A hash table place: a cache line. */
struct pidx_bucket {
	uint64_t piece;			/* PIDX_NONE: a free place */
	struct pidx_entry *e;		/* by (lo, seq), in a block after
					 * all their spans */
	uint32_t n, cap;
	struct pidx_span first[PIDX_INLINE];	/* the first n of them */
} __attribute__((aligned(64)));

#define PIDX_NONE UINT64_MAX

struct piece_index {
	struct pidx_bucket *tab;	/* cap places, a power of two */
	uint32_t cap, used;
};

/* Room for one more range [lo, hi) (at most PIDX_MAX_FRAMES): 0 or
 * -ENOMEM, nothing visible changed. */
int pidx_reserve(struct heap *h, struct piece_index *x, uint64_t lo,
		 uint64_t hi);
/* Adds e, its room reserved. */
void pidx_add(struct piece_index *x, const struct pidx_entry *e);
void pidx_del(struct piece_index *x, uint64_t lo, uint64_t hi, void *item);
/* Sets the tag of item's entries (range [lo, hi)): the one change that
 * may run during lookups, which read tags with pidx_tag. */
void pidx_retag(struct piece_index *x, uint64_t lo, uint64_t hi,
		const void *item, uint32_t tag);

static inline uint32_t pidx_tag(const struct pidx_entry *e)
{
	return __atomic_load_n(&e->tag, __ATOMIC_RELAXED);
}
/* The bucket of piece, or NULL. */
const struct pidx_bucket *pidx_bucket(const struct piece_index *x,
				      uint64_t piece);

/* The bytes of the spans before a block's cap entries, which start on
 * a line. */
static inline size_t pidx_spans_bytes(uint32_t cap)
{
	return (cap * sizeof(struct pidx_span) + 63) & ~(size_t)63;
}

/* Every span of b's entries, in its block (which has cap > 0). */
static inline struct pidx_span *pidx_block_spans(const struct pidx_bucket *b)
{
	return (struct pidx_span *)((char *)b->e - pidx_spans_bytes(b->cap));
}

/* The spans of b's entries, in its place where they fit. */
static inline const struct pidx_span *pidx_spans(const struct pidx_bucket *b)
{
	return b->n <= PIDX_INLINE ? b->first : pidx_block_spans(b);
}
void pidx_free(struct heap *h, struct piece_index *x);

#endif
