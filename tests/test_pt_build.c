/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table builders against the model.
 *
 * On each differential layout, a builder for every geometry and every
 * view (EPT for x86, stage 2 for arm64, the generic format for the
 * rest), plus builders with per-attribute permissions and an accept
 * size, follow random conversions. A recording sink holds what each was
 * told. After every conversion and sync:
 *
 *  - every op lies in the blocks of the largest leaf size holding the
 *    converted range; no leaf is mapped twice, unmapped while absent,
 *    or unmapped and mapped again in one sync (so the ops are exactly
 *    the difference of the old and new covers);
 *  - around the range, the sink's leaves are the minimal cover, which
 *    gmem_pt_view_cover computes independently (test_pt_view checks it
 *    against the model).
 *
 * Every few hundred conversions, for each builder: all its leaves are
 * the minimal cover; the public walker and, for real formats, a
 * reference walker written from the architecture manuals enumerate the
 * same leaves, with the permissions and memory type asked for; random
 * frames translate as the model says; and a builder made from scratch
 * has the same table, entry for entry.
 *
 * GMEM_BUILD_OPS: conversions per layout (20000).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "pt_check.h"
#include "test_alloc.h"

static uint64_t rng = 0x9e3779b97f4a7c15;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

/* ---- the differential run ---- */

static const struct cfg cfgs[] = {
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, RW_NX }, 0, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, RW_NX }, 0, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 512, false },
	{ GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, RO_NX }, 0, false },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { RW_NX, 0 }, 0, false },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED,
	  GMEM_PT_COVER_NO_CONTIG, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_16K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_16K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_16K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_64K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_64K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_ARM64_64K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV39, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV39, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV39, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV57, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV57, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_RISCV_SV57, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, true },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, RW_NX }, 0, true },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, true },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, true },
};

#define NCFG (sizeof(cfgs) / sizeof(cfgs[0]))

static void fail_check(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* A range to convert: mostly small and near a few hot spots, so the
 * covers stay of moderate size; sometimes a whole region at once. */
static bool pick(const struct model *m, uint64_t *hot, uint64_t *gfn,
		 uint64_t *n)
{
	const struct model_region *r = &m->r[rnd() % (uint64_t)m->n];
	uint64_t span = r->end - r->gfn, g = m->granule, fail;
	unsigned int k = (unsigned int)(rnd() % 100);

	if (k < 3) {
		*gfn = r->gfn;
		*n = span;
	} else {
		uint64_t base = k < 75 ? hot[rnd() % 4] : r->gfn + rnd() % span;
		uint64_t len = k % 5 == 0 ? 1 + rnd() % 4096 : 1 + rnd() % 24;

		*gfn = base + rnd() % 2048 - 1024;
		*n = len;
	}
	*gfn -= *gfn % g;
	*n = (*n + g - 1) / g * g;
	return !model_check_convert(m, *gfn, *n, &fail);
}

START_TEST(builders_follow_model)
{
	const struct diff_layout *lay = &diff_layouts[_i];
	uint64_t ops = test_env_u64("GMEM_BUILD_OPS", 20000), k, hot[4];
	struct leaves tmp = { 0 };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld *b = calloc(NCFG, sizeof(*b));
	struct model m;
	size_t i, nb = 0;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	diff_fail = fail_check;
	diff_layout_guest(lay, pool, &g, &m);
	for (i = 0; i < 4; i++)
		hot[i] = m.r[i % (uint64_t)m.n].gfn +
			 rnd() % (m.r[i % (uint64_t)m.n].end - m.r[i % (uint64_t)m.n].gfn);
	for (i = 0; i < NCFG; i++) {
		struct bld *x = &b[nb];
		int err;

		x->c = cfgs[i];
		cfg_geoms(x);
		ref_pages_init(&x->pages);
		err = bld_create(x, g, &x->rec, &x->pages, &x->pt);
		/* The granule of 16 and 64 KiB geometries needs a guest
		 * whose conversions and regions are aligned to it. */
		if (x->geom.level[x->geom.nlevels - 1].entry_shift > 12 &&
		    !lay->granule) {
			ck_assert_int_eq(err, -EINVAL);
			EXPECT_EQ(x->pages.allocs, x->pages.frees);
			ref_pages_fini(&x->pages);
			rec_free(&x->rec);
			continue;
		}
		ck_assert_msg(err == 0, "create %zu: %d", i, err);
		full_check(x, g, &m);
		nb++;
	}
	for (k = 0; k < ops; k++) {
		uint64_t gfn, n, fail;
		unsigned int attr = rnd() & 1;

		if (!pick(&m, hot, &gfn, &n))
			continue;
		if (rnd() % 64 == 0)
			hot[rnd() % 4] = gfn;
		ck_assert_int_eq(gmem_convert(g, gfn, n, attr, NULL), 0);
		ck_assert_int_eq(model_convert(&m, gfn, n, attr, &fail), 0);
		for (i = 0; i < nb; i++) {
			struct bld *x = &b[i];
			/* Leaves below 2 MiB exactly, larger ones
			 * by containment; all of them in full checks. */
			uint64_t limit = x->top < 512 ? x->top : 512;

			x->rec.lo = gfn & ~(x->top - 1);
			x->rec.hi = (gfn + n + x->top - 1) & ~(x->top - 1);
			ck_assert_int_eq(rec_sync(&x->rec, x->pt), 0);
			if (!x->c.nosink)
				check_window(x, g, gfn, gfn + n, limit, &tmp);
			x->rec.lo = 0;
			x->rec.hi = UINT64_MAX;
		}
		if (k % 2000 == 1999)
			for (i = 0; i < nb; i++)
				full_check(&b[i], g, &m);
	}
	for (i = 0; i < nb; i++) {
		full_check(&b[i], g, &m);
		ck_assert_int_eq(gmem_pt_destroy(b[i].pt), 0);
		EXPECT_EQ(b[i].rec.n, 0);
		EXPECT_EQ(b[i].rec.tables, 0);
		EXPECT_EQ(b[i].pages.live, 0);
		EXPECT_EQ(b[i].pages.allocs, b[i].pages.frees);
		ref_pages_fini(&b[i].pages);
		rec_free(&b[i].rec);
	}
	leaves_free(&tmp);
	free(b);
	small_guest_done(pool, g, &m);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pt_build");
	TCase *tc = tcase_create("differential");

	tcase_set_timeout(tc, 1200);
	tcase_add_loop_test(tc, builders_follow_model, 0, (int)diff_nlayouts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
