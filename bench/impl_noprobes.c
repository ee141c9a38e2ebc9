/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libgmem built without its USDT probes (GMEM_PROBES=OFF), loaded beside
 * the real one: W1 through both, in the same run, is what a probe that
 * nothing attached to costs. The program reaches the real library
 * through its GOT (-fno-plt) and this one through pointers: one
 * indirect call each.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>

#include <gmem.h>

#include "impl.h"

#define NP(f) __typeof__(&gmem_##f) f
static struct {
	NP(pool_create);
	NP(pool_add_frames);
	NP(pool_destroy);
	NP(guest_create);
	NP(guest_destroy);
	NP(region_add);
	NP(convert);
	NP(range_attr);
	NP(guest_stats);
} np;

struct np_impl {
	struct gmem_pool *pool;
	struct gmem_guest *guest;
};

#define SYM(f) (*(void **)&np.f = dlsym(h, "gmem_" #f))

bool impl_noprobes_load(void)
{
#ifdef GMEM_NOPROBES_SO
	void *h = dlopen(GMEM_NOPROBES_SO, RTLD_NOW | RTLD_LOCAL);

	return h && SYM(pool_create) && SYM(pool_add_frames) &&
	       SYM(pool_destroy) && SYM(guest_create) && SYM(guest_destroy) &&
	       SYM(region_add) && SYM(convert) && SYM(range_attr) &&
	       SYM(guest_stats);
#else
	return false;
#endif
}

static void *np_create(uint64_t nframes)
{
	struct np_impl *c = calloc(1, sizeof(*c));

	if (!c || np.pool_create(NULL, &c->pool) ||
	    np.pool_add_frames(c->pool, GMEM_BLOCK_FRAMES, nframes, 0, NULL) ||
	    np.guest_create(c->pool, NULL, &c->guest) ||
	    np.region_add(c->guest, 0, nframes, NULL))
		abort();
	return c;
}

static void np_destroy(void *ctx)
{
	struct np_impl *c = ctx;

	np.guest_destroy(c->guest);
	np.pool_destroy(c->pool);
	free(c);
}

static int np_convert(void *ctx, uint64_t gfn, uint64_t n, unsigned int attr)
{
	return np.convert(((struct np_impl *)ctx)->guest, gfn, n, attr, NULL);
}

static unsigned int np_range_attr(void *ctx, uint64_t gfn, uint64_t n)
{
	unsigned int attr = 3;

	np.range_attr(((struct np_impl *)ctx)->guest, gfn, n, &attr);
	return attr;
}

static uint64_t np_meta_bytes(void *ctx)
{
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);

	np.guest_stats(((struct np_impl *)ctx)->guest, &st);
	return st.meta_bytes;
}

IMPL_LOOPS(np, np_convert, np_range_attr)

const struct impl impl_noprobes = {
	.name = "no-probes",
	.create = np_create,
	.destroy = np_destroy,
	.convert = np_convert,
	.range_attr = np_range_attr,
	.meta_bytes = np_meta_bytes,
	.convert_all = np_convert_all,
	.query_all = np_query_all,
};
