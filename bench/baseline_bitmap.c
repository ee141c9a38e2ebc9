/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Baseline: a flat bitmap, one bit per frame (1 = shared), updated with
 * word-wide range set/clear, queried with find-next-bit scans.
 */
#include <stdlib.h>

#include "impl.h"

struct bitmap {
	uint64_t *w;
	uint64_t nframes;
};

static void *bm_create(uint64_t nframes)
{
	struct bitmap *b = malloc(sizeof(*b));

	if (!b)
		abort();
	b->nframes = nframes;
	b->w = calloc(nframes / 64, sizeof(uint64_t));
	if (!b->w)
		abort();
	return b;
}

static void bm_destroy(void *ctx)
{
	struct bitmap *b = ctx;

	free(b->w);
	free(b);
}

static uint64_t mask(uint64_t lo, uint64_t hi)
{
	return (hi == 64 ? ~UINT64_C(0) : (UINT64_C(1) << hi) - 1) &
	       (~UINT64_C(0) << lo);
}

static int bm_convert(void *ctx, uint64_t gfn, uint64_t n, unsigned int attr)
{
	struct bitmap *b = ctx;
	uint64_t lo = gfn, hi = gfn + n;

	if (!n || hi > b->nframes)
		return -1;
	while (lo < hi) {
		uint64_t i = lo / 64, end = hi - i * 64 > 64 ? 64 : hi - i * 64;
		uint64_t m = mask(lo % 64, end);

		b->w[i] = attr ? b->w[i] | m : b->w[i] & ~m;
		lo = i * 64 + end;
	}
	return 0;
}

/* First frame in [from, end) whose bit is v, else end. */
static uint64_t find_next(const struct bitmap *b, uint64_t from, uint64_t end,
			  int v)
{
	uint64_t flip = v ? 0 : ~UINT64_C(0);

	while (from < end) {
		uint64_t i = from / 64;
		uint64_t word = (b->w[i] ^ flip) & (~UINT64_C(0) << (from % 64));

		if (word) {
			uint64_t at = i * 64 + (uint64_t)__builtin_ctzll(word);

			return at < end ? at : end;
		}
		from = (i + 1) * 64;
	}
	return end;
}

static unsigned int bm_range_attr(void *ctx, uint64_t gfn, uint64_t n)
{
	struct bitmap *b = ctx;
	int first = (b->w[gfn / 64] >> (gfn % 64)) & 1;

	return find_next(b, gfn, gfn + n, !first) < gfn + n ? 2u
							     : (unsigned)first;
}

static uint64_t bm_meta_bytes(void *ctx)
{
	return ((struct bitmap *)ctx)->nframes / 8;
}

const struct impl impl_bitmap = {
	.name = "bitmap",
	.create = bm_create,
	.destroy = bm_destroy,
	.convert = bm_convert,
	.range_attr = bm_range_attr,
	.meta_bytes = bm_meta_bytes,
};
