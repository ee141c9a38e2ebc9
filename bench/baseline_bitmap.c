/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Baseline: a flat bitmap, one bit per frame (1 = shared), kept the way a
 * VMM keeps it today: every call runs under one lock for the whole guest
 * (the VMM's big lock, since conversions come from any vCPU thread), the
 * range is checked, a conversion that would change nothing is found with
 * a find-next-bit scan and skipped (listeners hear only real changes),
 * and the rest is word-wide set/clear. Queries are find-next-bit scans.
 *
 * "bitmap-nolock" is the same store with no lock and no checks: not
 * usable from several threads, shown as the floor of what a bit costs.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "impl.h"

struct bitmap {
	pthread_mutex_t lock;
	bool locked;
	uint64_t *w;
	uint64_t nframes;
};

static void *bm_new(uint64_t nframes, bool locked)
{
	struct bitmap *b = malloc(sizeof(*b));

	if (!b)
		abort();
	pthread_mutex_init(&b->lock, NULL);
	b->locked = locked;
	b->nframes = nframes;
	b->w = malloc(nframes / 8);
	if (!b->w)
		abort();
	/* Zeroed here, not by calloc's fresh pages: a VMM's bitmap lives as
	 * long as its guest, so first-touch faults are no conversion's. */
	memset(b->w, 0, nframes / 8);
	return b;
}

static void *bm_create(uint64_t nframes)
{
	return bm_new(nframes, true);
}

static void *bm_create_bare(uint64_t nframes)
{
	return bm_new(nframes, false);
}

static void bm_destroy(void *ctx)
{
	struct bitmap *b = ctx;

	pthread_mutex_destroy(&b->lock);
	free(b->w);
	free(b);
}

static uint64_t mask(uint64_t lo, uint64_t hi)
{
	return (hi == 64 ? ~UINT64_C(0) : (UINT64_C(1) << hi) - 1) &
	       (~UINT64_C(0) << lo);
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

static void assign(struct bitmap *b, uint64_t lo, uint64_t hi,
		   unsigned int attr)
{
	while (lo < hi) {
		uint64_t i = lo / 64, end = hi - i * 64 > 64 ? 64 : hi - i * 64;
		uint64_t m = mask(lo % 64, end);

		b->w[i] = attr ? b->w[i] | m : b->w[i] & ~m;
		lo = i * 64 + end;
	}
}

static STORE_OP int bm_convert(void *ctx, uint64_t gfn, uint64_t n,
			       unsigned int attr)
{
	struct bitmap *b = ctx;

	if (!b->locked) {
		assign(b, gfn, gfn + n, attr);
		return 0;
	}
	if (!n || gfn >= b->nframes || n > b->nframes - gfn || attr > 1)
		return -1;
	pthread_mutex_lock(&b->lock);
	if (find_next(b, gfn, gfn + n, !attr) < gfn + n)
		assign(b, gfn, gfn + n, attr);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static unsigned int range_attr(const struct bitmap *b, uint64_t gfn,
			       uint64_t n)
{
	int first = (b->w[gfn / 64] >> (gfn % 64)) & 1;

	return find_next(b, gfn, gfn + n, !first) < gfn + n ? 2u
							     : (unsigned)first;
}

static STORE_OP unsigned int bm_range_attr(void *ctx, uint64_t gfn,
					   uint64_t n)
{
	struct bitmap *b = ctx;
	unsigned int v;

	if (!b->locked)
		return range_attr(b, gfn, n);
	if (!n || gfn >= b->nframes || n > b->nframes - gfn)
		return 3;
	pthread_mutex_lock(&b->lock);
	v = range_attr(b, gfn, n);
	pthread_mutex_unlock(&b->lock);
	return v;
}

static uint64_t bm_meta_bytes(void *ctx)
{
	return ((struct bitmap *)ctx)->nframes / 8;
}

IMPL_LOOPS(bm, bm_convert, bm_range_attr)

const struct impl impl_bitmap = {
	.name = "bitmap",
	.create = bm_create,
	.destroy = bm_destroy,
	.convert = bm_convert,
	.range_attr = bm_range_attr,
	.meta_bytes = bm_meta_bytes,
	.convert_all = bm_convert_all,
	.query_all = bm_query_all,
};

const struct impl impl_bitmap_bare = {
	.name = "bitmap-nolock",
	.create = bm_create_bare,
	.destroy = bm_destroy,
	.convert = bm_convert,
	.range_attr = bm_range_attr,
	.meta_bytes = bm_meta_bytes,
	.convert_all = bm_convert_all,
	.query_all = bm_query_all,
};
