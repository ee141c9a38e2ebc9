/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libgmem as gmem-bench drives it: one region over frames of a pool. */
#include <stdlib.h>

#include <gmem.h>

#include "impl.h"

struct gmem_impl {
	struct gmem_pool *pool;
	struct gmem_guest *guest;
};

static void *gm_create(uint64_t nframes)
{
	struct gmem_impl *c = calloc(1, sizeof(*c));

	if (!c || gmem_pool_create(NULL, &c->pool) ||
	    gmem_pool_add_frames(c->pool, GMEM_BLOCK_FRAMES, nframes, 0, NULL) ||
	    gmem_guest_create(c->pool, NULL, &c->guest) ||
	    gmem_region_add(c->guest, 0, nframes, NULL))
		abort();
	return c;
}

static void gm_destroy(void *ctx)
{
	struct gmem_impl *c = ctx;

	gmem_guest_destroy(c->guest);
	gmem_pool_destroy(c->pool);
	free(c);
}

static int gm_convert(void *ctx, uint64_t gfn, uint64_t n, unsigned int attr)
{
	return gmem_convert(((struct gmem_impl *)ctx)->guest, gfn, n, attr, NULL);
}

static unsigned int gm_range_attr(void *ctx, uint64_t gfn, uint64_t n)
{
	unsigned int attr = 3;

	gmem_range_attr(((struct gmem_impl *)ctx)->guest, gfn, n, &attr);
	return attr;
}

static uint64_t gm_meta_bytes(void *ctx)
{
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);

	gmem_guest_stats(((struct gmem_impl *)ctx)->guest, &st);
	return st.meta_bytes;
}

IMPL_LOOPS(gm, gm_convert, gm_range_attr)

const struct impl impl_gmem = {
	.name = "libgmem",
	.create = gm_create,
	.destroy = gm_destroy,
	.convert = gm_convert,
	.range_attr = gm_range_attr,
	.meta_bytes = gm_meta_bytes,
	.convert_all = gm_convert_all,
	.query_all = gm_query_all,
};
