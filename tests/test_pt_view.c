/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cover of a guest's view, against the model: on the differential
 * layouts after random conversions, for every view and several
 * geometries, the leaves map exactly the frames the model has in the view,
 * each to the host frames gmem_translate gives, and there are as few as
 * the minimal covers (test_pt_cover) of the maximal stretches that the
 * test finds on its own: frames in one region, in the view, mapped
 * linearly. At random frames, gmem_pt_explain names the leaf the cover
 * has there, and each blocker it gives for a larger size holds.
 *
 * GMEM_VIEW_ROUNDS: rounds of conversions and checks per layout (4).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "diff.h"
#include "model.h"
#include "helpers.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES

static const enum gmem_pt_arch archs[] = {
	GMEM_PT_X86_4LEVEL, GMEM_PT_ARM64_4K, GMEM_PT_S390,
	GMEM_PT_RISCV_SV48, GMEM_PT_ARM64_64K,
};

struct seen {
	const struct model *m;
	struct gmem_guest *g;
	enum gmem_pt_view view;
	uint64_t next_gfn, frames, nleaves;
	struct gmem_pt_leaf *leaves;	/* all of them, if not NULL */
	size_t cap;
};

static bool in_view(const struct model *m, enum gmem_pt_view view,
		    uint64_t gfn)
{
	unsigned int a;

	if (model_attr(m, gfn, &a))
		return false;
	return view == GMEM_PT_VIEW_ALL || a == (view == GMEM_PT_VIEW_SHARED);
}

static uint64_t pfn_of(struct gmem_guest *g, uint64_t gfn)
{
	uint64_t pfn = 0;

	EXPECT_EQ(gmem_translate(g, gfn, &pfn), 0);
	return pfn;
}

static int check_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	struct seen *s = ctx;
	const struct model_region *r = model_region_of(s->m, leaf->gfn);
	uint64_t f;

	EXPECT(leaf->gfn >= s->next_gfn);
	EXPECT(r && leaf->gfn + leaf->npages <= r->end);
	EXPECT_EQ(leaf->gfn % leaf->npages, 0);
	EXPECT_EQ(leaf->pfn % leaf->npages, 0);
	/* In the view and linear: every frame, and at slot edges. */
	for (f = leaf->gfn; f < leaf->gfn + leaf->npages; f++)
		EXPECT(in_view(s->m, s->view, f));
	for (f = leaf->gfn; f < leaf->gfn + leaf->npages;
	     f = (f / GIB + 1) * GIB)
		EXPECT_EQ(pfn_of(s->g, f), leaf->pfn + (f - leaf->gfn));
	s->next_gfn = leaf->gfn + leaf->npages;
	s->frames += leaf->npages;
	if (s->leaves) {
		if (s->nleaves == s->cap) {
			s->cap *= 2;
			s->leaves = realloc(s->leaves, s->cap * sizeof(*leaf));
			EXPECT(s->leaves);
		}
		s->leaves[s->nleaves] = *leaf;
	}
	s->nleaves++;
	return 0;
}

/* The leaf of the cover holding gfn, or NULL. */
static const struct gmem_pt_leaf *leaf_at(const struct seen *s, uint64_t gfn)
{
	size_t lo = 0, hi = s->nleaves;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->leaves[mid].gfn + s->leaves[mid].npages <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nleaves && s->leaves[lo].gfn <= gfn ? &s->leaves[lo]
							    : NULL;
}

/*
 * gmem_pt_explain agrees with the cover, and each blocker it names for a
 * larger size holds in the model.
 */
static void check_explain(const struct seen *s,
			  const struct gmem_pt_geometry *geom, uint64_t gfn)
{
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	const struct gmem_pt_leaf *leaf = leaf_at(s, gfn);
	const struct model_region *r = model_region_of(s->m, gfn);
	unsigned int space = geom->level[0].entry_shift +
			     geom->level[0].index_bits - GMEM_FRAME_SHIFT;
	int err = gmem_pt_explain(s->g, s->view, geom, gfn, &ex);
	uint32_t i;

	if (!r) {
		EXPECT_EQ(err, -ENOENT);
		return;
	}
	if (!in_view(s->m, s->view, gfn)) {
		EXPECT_EQ(err, -ENXIO);
		return;
	}
	EXPECT_EQ(err, 0);
	EXPECT(leaf);
	EXPECT_EQ(ex.leaf.gfn, leaf->gfn);
	EXPECT_EQ(ex.leaf.npages, leaf->npages);
	EXPECT_EQ(ex.leaf.pfn, leaf->pfn);
	EXPECT_EQ(ex.leaf.level, leaf->level);
	EXPECT_EQ(ex.leaf.flags, leaf->flags);
	EXPECT(ex.nwhy >= 1 && ex.why[0].blocker == GMEM_PT_BLOCK_NONE &&
	       ex.why[0].npages == leaf->npages);
	for (i = 1; i < ex.nwhy; i++) {
		uint64_t n = ex.why[i].npages, lo = gfn & ~(n - 1), at;
		uint64_t delta = pfn_of(s->g, gfn) - gfn;

		EXPECT(n > ex.why[i - 1].npages);
		at = ex.why[i].at_gfn;
		switch (ex.why[i].blocker) {
		case GMEM_PT_BLOCK_SPACE:
			EXPECT(lo + n > UINT64_C(1) << space || space >= 64);
			break;
		case GMEM_PT_BLOCK_PFN:
			EXPECT(delta % n);
			break;
		case GMEM_PT_BLOCK_REGION:
			EXPECT(delta % n == 0 && (lo < r->gfn || lo + n > r->end));
			break;
		case GMEM_PT_BLOCK_BLOCKS:
			EXPECT(at >= lo && at < lo + n && model_region_of(s->m, at));
			EXPECT(pfn_of(s->g, at) != at + delta);
			break;
		case GMEM_PT_BLOCK_MIXED:
			EXPECT(at >= lo && at < lo + n);
			EXPECT(!in_view(s->m, s->view, at));
			break;
		default:
			ck_abort_msg("size %llu not blocked",
				     (unsigned long long)n);
		}
	}
}

/* The leaves of the minimal cover of the stretches the test finds. */
static uint64_t expected_leaves(struct gmem_guest *g, const struct model *m,
				enum gmem_pt_view view,
				const struct gmem_pt_geometry *geom,
				uint64_t *frames)
{
	uint64_t n = 0;
	int i;

	*frames = 0;
	for (i = 0; i < m->n; i++) {
		uint64_t f = m->r[i].gfn, end = m->r[i].end;

		while (f < end) {
			GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);
			uint64_t e = f + 1;

			if (!in_view(m, view, f)) {
				f++;
				continue;
			}
			/* Host frames follow on inside a slot; check at
			 * slot edges. */
			while (e < end && in_view(m, view, e) &&
			       (e % GIB || pfn_of(g, e) == pfn_of(g, f) + (e - f)))
				e++;
			EXPECT_EQ(gmem_pt_cover(geom, f, pfn_of(g, f), e - f,
						NULL, NULL, &o), 0);
			n += o.nleaves;
			*frames += e - f;
			f = e;
		}
	}
	return n;
}

static uint64_t rng = 0x2545f4914f6cdd1d;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

static void fail_check(const char *msg)
{
	ck_abort_msg("%s", msg);
}

START_TEST(view_cover_matches_model)
{
	const struct diff_layout *lay = &diff_layouts[_i];
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint64_t rounds = test_env_u64("GMEM_VIEW_ROUNDS", 4), k;
	struct model m;
	int round;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	diff_fail = fail_check;
	diff_layout_guest(lay, pool, &g, &m);
	for (round = 0; round < (int)rounds; round++) {
		size_t a;

		/* Conversions of 16-frame-aligned ranges, so that 64 KiB
		 * granules see whole stretches too. */
		for (k = 0; k < 300; k++) {
			const struct model_region *r = &m.r[rnd() % (uint64_t)m.n];
			uint64_t span = r->end - r->gfn, gfn, n, fail;
			unsigned int attr = rnd() & 1;

			gfn = r->gfn + rnd() % span;
			gfn -= gfn % 16;
			n = 16 * (1 + rnd() % (round == 3 ? 40000 : 64));
			if (gfn < r->gfn || model_check_range(&m, gfn, n, &fail))
				continue;
			ck_assert_int_eq(gmem_convert(g, gfn, n, attr, NULL), 0);
			ck_assert_int_eq(model_convert(&m, gfn, n, attr, &fail), 0);
		}
		for (a = 0; a < sizeof(archs) / sizeof(archs[0]); a++) {
			GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
			enum gmem_pt_view view;

			ck_assert_int_eq(gmem_pt_geometry(archs[a], &geom), 0);
			for (view = GMEM_PT_VIEW_ALL; view <= GMEM_PT_VIEW_SHARED;
			     view++) {
				GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);
				struct seen s = { &m, g, view, 0, 0, 0,
						  malloc(1024 * sizeof(*s.leaves)),
						  1024 };
				uint64_t frames, want;
				int err;

				err = gmem_pt_view_cover(g, view, &geom, 0,
							 GMEM_FRAME_LIMIT,
							 check_leaf, &s, &o);
				/* Regions not aligned to 64 KiB have no
				 * cover in that granule. */
				if (err == -EINVAL &&
				    archs[a] == GMEM_PT_ARM64_64K && _i) {
					free(s.leaves);
					continue;
				}
				ck_assert_int_eq(err, 0);
				want = expected_leaves(g, &m, view, &geom,
						       &frames);
				ck_assert_uint_eq(s.frames, frames);
				ck_assert_uint_eq(s.nleaves, want);
				ck_assert_uint_eq(o.nleaves, want);
				for (k = 0; k < 200; k++) {
					const struct model_region *r =
						&m.r[rnd() % (uint64_t)m.n];
					uint64_t f = r->gfn + rnd() %
						(r->end - r->gfn + 300);

					check_explain(&s, &geom, f);
				}
				free(s.leaves);
			}
		}
	}
	model_fini(&m);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

START_TEST(uniform_guest_explain_bad_input)
{
	GMEM_OPTS(gmem_pt_geometry, x86, .nlevels = 0);
	GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	struct gmem_pool *pool;
	struct gmem_guest *g;

	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &x86), 0);
	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, 8 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4 * GIB, NULL), 0);
	/* 4 GiB uniform: 4 leaves in ALL and PRIVATE, none in SHARED. */
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_ALL, &x86, 0,
					    4 * GIB, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 4);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_SHARED, &x86, 0,
					    4 * GIB, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 0);
	/* One shared frame: ALL keeps 4 leaves; PRIVATE splits one GiB
	 * into 511 + 2 MiB pieces, 4 KiB frames and the rest. */
	ck_assert_int_eq(gmem_convert(g, GIB + 5, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_ALL, &x86, 0,
					    4 * GIB, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 4);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_PRIVATE, &x86, 0,
					    4 * GIB, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 3 + 511 + 511);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_SHARED, &x86, 0,
					    4 * GIB, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 1);

	/* Why the leaf at GIB + 6 is 4 KiB: the shared frame GIB + 5. */
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_PRIVATE, &x86, GIB + 6,
					 &ex), 0);
	ck_assert_uint_eq(ex.leaf.npages, 1);
	ck_assert_uint_eq(ex.nwhy, 3);
	ck_assert_uint_eq(ex.why[1].npages, 512);
	ck_assert_uint_eq(ex.why[1].blocker, GMEM_PT_BLOCK_MIXED);
	ck_assert_uint_eq(ex.why[1].at_gfn, GIB + 5);
	ck_assert_uint_eq(ex.why[2].npages, GIB);
	ck_assert_uint_eq(ex.why[2].blocker, GMEM_PT_BLOCK_MIXED);
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_ALL, &x86, GIB + 6,
					 &ex), 0);
	ck_assert_uint_eq(ex.leaf.npages, GIB);
	ck_assert_uint_eq(ex.nwhy, 1);
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_SHARED, &x86, GIB + 6,
					 &ex), -ENXIO);
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_ALL, &x86, 4 * GIB,
					 &ex), -ENOENT);
	ck_assert_int_eq(gmem_pt_explain(NULL, GMEM_PT_VIEW_ALL, &x86, 0, &ex),
			 -EINVAL);
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_ALL, &x86, 0, NULL),
			 -EINVAL);
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_ALL, NULL, 0, &ex),
			 -EINVAL);
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_SHARED + 1, &x86, 0,
					 &ex), -EINVAL);
	ex.flags = 1u << 5;
	ck_assert_int_eq(gmem_pt_explain(g, GMEM_PT_VIEW_ALL, &x86, 0, &ex),
			 -EINVAL);

	ck_assert_int_eq(gmem_pt_view_cover(NULL, GMEM_PT_VIEW_ALL, &x86, 0, 1,
					    NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_SHARED + 1, &x86,
					    0, 1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_ALL, NULL, 0, 1,
					    NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_ALL, &x86, 0, 0,
					    NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_ALL, &x86,
					    GMEM_FRAME_LIMIT, 1, NULL, NULL,
					    NULL), -EOVERFLOW);
	o.flags = 1u << 9;
	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_ALL, &x86, 0, 1,
					    NULL, NULL, &o), -EINVAL);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pt_view");
	TCase *tc = tcase_create("view");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, view_cover_matches_model, 0, (int)diff_nlayouts);
	tcase_add_test(tc, uniform_guest_explain_bad_input);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
