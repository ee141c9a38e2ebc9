/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Short ranges found by the 2 MiB pieces they touch (piece_index.h). */
#include <errno.h>
#include <string.h>

#include "piece_index.h"

static uint32_t hash(uint64_t piece, uint32_t cap)
{
	return (uint32_t)((piece * UINT64_C(0x9e3779b97f4a7c15)) >> 32) &
	       (cap - 1);
}

/* The place of piece, or the free place where it would go. */
static struct pidx_bucket *place(const struct piece_index *x, uint64_t piece)
{
	uint32_t i = hash(piece, x->cap);

	while (x->tab[i].piece != piece && x->tab[i].piece != PIDX_NONE)
		i = (i + 1) & (x->cap - 1);
	return &x->tab[i];
}

const struct pidx_bucket *pidx_bucket(const struct piece_index *x,
				      uint64_t piece)
{
	const struct pidx_bucket *b;

	if (!x->used)
		return NULL;
	b = place(x, piece);
	return b->piece == piece ? b : NULL;
}

/* Twice the places, the buckets moved over. */
static int grow(struct heap *h, struct piece_index *x)
{
	uint32_t cap = x->cap ? 2 * x->cap : 64, old_cap = x->cap, i;
	struct pidx_bucket *old = x->tab, *tab;

	tab = heap_alloc(h, cap * sizeof(*tab), 64);
	if (!tab)
		return -ENOMEM;
	for (i = 0; i < cap; i++)
		tab[i] = (struct pidx_bucket){ .piece = PIDX_NONE };
	x->tab = tab;
	x->cap = cap;
	for (i = 0; i < old_cap; i++)
		if (old[i].piece != PIDX_NONE)
			*place(x, old[i].piece) = old[i];
	if (old)
		heap_free(h, old, old_cap * sizeof(*old));
	return 0;
}

/* A span's ends, from -PIECE_FRAMES to 2 * PIECE_FRAMES, fit its fields. */
_Static_assert(2 * PIDX_MAX_FRAMES <= INT16_MAX &&
		       PIDX_MAX_FRAMES <= PIECE_FRAMES,
	       "piece index spans are 16-bit");

/* A bucket's block of cap entries: spans, then the entries. */
static size_t block_bytes(uint32_t cap)
{
	return pidx_spans_bytes(cap) + cap * sizeof(struct pidx_entry);
}

/* The place's copy of the first spans, after a change of the block's. */
static void spans_copied(struct pidx_bucket *b)
{
	uint32_t n = b->n < PIDX_INLINE ? b->n : PIDX_INLINE;

	memcpy(b->first, pidx_block_spans(b), n * sizeof(*b->first));
}

static void block_free(struct heap *h, struct pidx_bucket *b)
{
	if (b->cap)
		heap_free(h, pidx_block_spans(b), block_bytes(b->cap));
}

/* Twice the room (four at first), in a new block. */
static int bucket_grow(struct heap *h, struct pidx_bucket *b)
{
	uint32_t cap = b->cap ? 2 * b->cap : 4;
	char *block = heap_alloc(h, block_bytes(cap), 64);
	struct pidx_span *span = (struct pidx_span *)block;
	struct pidx_entry *e =
		(struct pidx_entry *)(block + pidx_spans_bytes(cap));

	if (!block)
		return -ENOMEM;
	if (b->n) {
		memcpy(span, pidx_block_spans(b), b->n * sizeof(*span));
		memcpy(e, b->e, b->n * sizeof(*e));
	}
	block_free(h, b);
	b->e = e;
	b->cap = cap;
	return 0;
}

/* Room for one more entry in the bucket of piece, made if new. */
static int reserve_piece(struct heap *h, struct piece_index *x,
			 uint64_t piece)
{
	struct pidx_bucket *b;

	if (2 * (x->used + 1) > x->cap && grow(h, x))
		return -ENOMEM;
	b = place(x, piece);
	if (b->piece == PIDX_NONE) {
		b->piece = piece;
		x->used++;
	}
	return b->n < b->cap ? 0 : bucket_grow(h, b);
}

int pidx_reserve(struct heap *h, struct piece_index *x, uint64_t lo,
		 uint64_t hi)
{
	uint64_t p = lo >> PIECE_SHIFT, last = (hi - 1) >> PIECE_SHIFT;
	int err = reserve_piece(h, x, p);

	return err || p == last ? err : reserve_piece(h, x, last);
}

static void bucket_add(struct pidx_bucket *b, const struct pidx_entry *e)
{
	int64_t lo = (int64_t)(e->lo - (b->piece << PIECE_SHIFT));
	struct pidx_span *span = pidx_block_spans(b);
	uint32_t i = b->n;

	while (i && (b->e[i - 1].lo > e->lo ||
		     (b->e[i - 1].lo == e->lo && b->e[i - 1].seq > e->seq))) {
		b->e[i] = b->e[i - 1];
		span[i] = span[i - 1];
		i--;
	}
	b->e[i] = *e;
	span[i] = (struct pidx_span){ (int16_t)lo, (int16_t)(lo + e->len) };
	b->n++;
	spans_copied(b);
}

static struct pidx_entry *bucket_find(struct pidx_bucket *b, const void *item)
{
	uint32_t i;

	for (i = 0; i < b->n; i++)
		if (b->e[i].item == item)
			return &b->e[i];
	return NULL;
}

static void bucket_del(struct pidx_bucket *b, const void *item)
{
	struct pidx_entry *e = bucket_find(b, item);
	struct pidx_span *span;
	uint32_t i;

	if (!e)
		return;
	i = (uint32_t)(e - b->e);
	memmove(e, e + 1, (b->n - i - 1) * sizeof(*e));
	span = pidx_block_spans(b);
	memmove(&span[i], &span[i + 1], (b->n - i - 1) * sizeof(*span));
	b->n--;
	spans_copied(b);
}

void pidx_add(struct piece_index *x, const struct pidx_entry *e)
{
	uint64_t p = e->lo >> PIECE_SHIFT;
	uint64_t last = (e->lo + e->len - 1) >> PIECE_SHIFT;

	bucket_add(place(x, p), e);
	if (last != p)
		bucket_add(place(x, last), e);
}

void pidx_del(struct piece_index *x, uint64_t lo, uint64_t hi, void *item)
{
	uint64_t p = lo >> PIECE_SHIFT, last = (hi - 1) >> PIECE_SHIFT;

	bucket_del(place(x, p), item);
	if (last != p)
		bucket_del(place(x, last), item);
}

void pidx_retag(struct piece_index *x, uint64_t lo, uint64_t hi,
		const void *item, uint32_t tag)
{
	uint64_t p = lo >> PIECE_SHIFT, last = (hi - 1) >> PIECE_SHIFT;
	struct pidx_entry *e;

	do {
		e = bucket_find(place(x, p), item);
		if (e)
			__atomic_store_n(&e->tag, tag, __ATOMIC_RELAXED);
	} while (p++ != last);
}

void pidx_free(struct heap *h, struct piece_index *x)
{
	uint32_t i;

	for (i = 0; i < x->cap; i++)
		if (x->tab[i].piece != PIDX_NONE)
			block_free(h, &x->tab[i]);
	if (x->tab)
		heap_free(h, x->tab, x->cap * sizeof(*x->tab));
	memset(x, 0, sizeof(*x));
}
