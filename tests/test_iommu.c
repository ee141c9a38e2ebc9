/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Range listeners with an IOMMU model, and the IOMMU mapping helper.
 *
 * Three range listeners (granules of 1, 16 and 512 frames) each keep an
 * IOMMU of their own: a per-frame map that populate fills and discard
 * empties, refusing to map what is mapped or unmap what is not. Random
 * conversions, some not aligned to a granule (refused with -EINVAL) and
 * some meeting a populate that fails (refused with its error), run on
 * the guest and the model. After each: every IOMMU maps exactly the
 * shared frames of its range; each populate came while its frames were
 * still private to the guest (queried from inside the callback); each
 * call is
 * one maximal changed run of its range (as many calls as the model has
 * runs there); and a refused conversion changed nothing at all.
 *
 * The helper: on random views, its mappings are aligned, use only the
 * page sizes given, map each frame in the view exactly once, and are as
 * few as the greedy cover the model computes.
 *
 * GMEM_IOMMU_OPS: conversions (20000).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "helpers.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES
#define FRAMES (GIB / 4)

static uint64_t rng = 0xda942042e4dd58b5;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

struct iommu {
	struct gmem_guest *g;
	struct gmem_range_listener *l;
	uint64_t lo, hi, granule;
	uint8_t *mapped;	/* per frame of [lo, hi) */
	uint64_t calls;		/* since the last check */
	bool fail_next;		/* the next populate fails */
	bool replaying;		/* registration: frames shared already */
};

static void expect_attr(const struct iommu *io, uint64_t gfn, uint64_t n,
			unsigned int attr)
{
	unsigned int a = 99;

	EXPECT_EQ(gmem_range_attr(io->g, gfn, n, &a), 0);
	EXPECT_EQ(a, attr);
}

static int io_populate(void *ctx, uint64_t gfn, uint64_t npages)
{
	struct iommu *io = ctx;
	uint64_t f;

	EXPECT(gfn >= io->lo && gfn + npages <= io->hi);
	EXPECT(!((gfn | npages) & (io->granule - 1)));
	io->calls++;
	if (io->fail_next) {
		io->fail_next = false;
		return -EIO;
	}
	/* Mapped before the guest sees it shared. */
	expect_attr(io, gfn, npages, io->replaying ? GMEM_ATTR_SHARED
						   : GMEM_ATTR_PRIVATE);
	for (f = gfn; f < gfn + npages; f++) {
		EXPECT(!io->mapped[f - io->lo]);
		io->mapped[f - io->lo] = 1;
	}
	return 0;
}

static void io_discard(void *ctx, uint64_t gfn, uint64_t npages)
{
	struct iommu *io = ctx;
	uint64_t f;

	EXPECT(gfn >= io->lo && gfn + npages <= io->hi);
	io->calls++;
	for (f = gfn; f < gfn + npages; f++) {
		EXPECT(io->mapped[f - io->lo]);
		io->mapped[f - io->lo] = 0;
	}
}

/* The IOMMU maps exactly the shared frames of its range. */
static void io_check(const struct iommu *io, const struct model *m)
{
	uint64_t f;

	for (f = io->lo; f < io->hi; f++) {
		unsigned int a = 0;

		EXPECT_EQ(model_attr(m, f, &a), 0);
		EXPECT_EQ(io->mapped[f - io->lo], a);
	}
}

struct runs_in {
	const struct iommu *io;
	uint64_t n;
};

static void count_run(void *ctx, const struct gmem_run *run)
{
	struct runs_in *c = ctx;

	c->n += run->gfn < c->io->hi && run->gfn + run->npages > c->io->lo;
}

/* Whether converting [lo, hi) would leave a granule of io mixed: only
 * the granules at its ends can be. */
static bool breaks_granule(const struct iommu *io, const struct model *m,
			   uint64_t lo, uint64_t hi, unsigned int attr)
{
	uint64_t ends[2] = { lo, hi - 1 }, u, f;
	int e;

	for (e = 0; e < 2; e++) {
		unsigned int first = 2;

		u = ends[e] & ~(io->granule - 1);
		if (u < io->lo || u >= io->hi)
			continue;
		for (f = u; f < u + io->granule; f++) {
			unsigned int a = 0;

			EXPECT_EQ(model_attr(m, f, &a), 0);
			if (f >= lo && f < hi)
				a = attr;
			if (first == 2)
				first = a;
			else if (a != first)
				return true;
		}
	}
	return false;
}

START_TEST(listeners_keep_iommus)
{
	static const uint64_t granules[3] = { 1, 16, 512 };
	uint64_t ops = test_env_u64("GMEM_IOMMU_OPS", 20000), i, fail;
	uint64_t seen[3] = { 0 };	/* refused, failed, populated */
	struct iommu io[3];
	static const struct test_region region = { 0, FRAMES,
						   GMEM_ATTR_PRIVATE };
	struct test_guest t;
	struct gmem_guest *g;
	int k;

	test_guest_open(&t, 64 * GIB, GIB, &region, 1);
	g = t.g;
	/* Some shared memory before the listeners come: replayed. */
	ck_assert_int_eq(gmem_convert(g, 4096, 1024, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(model_convert(&t.m, 4096, 1024, GMEM_ATTR_SHARED, &fail),
			 0);
	for (k = 0; k < 3; k++) {
		struct gmem_range_listener_ops lops = {
			.sz = sizeof(lops), .populate = io_populate,
			.discard = io_discard, .ctx = &io[k] };
		GMEM_OPTS(gmem_range_listener_opts, o,
			  .flags = GMEM_RANGE_REPLAY_SHARED,
			  .granule = (uint32_t)granules[k]);

		memset(&io[k], 0, sizeof(io[k]));
		io[k].g = g;
		io[k].granule = granules[k];
		io[k].lo = (uint64_t)k * 512 * 8;
		io[k].hi = io[k].lo + 512 * 16;
		io[k].mapped = calloc(io[k].hi - io[k].lo, 1);
		ck_assert_ptr_nonnull(io[k].mapped);
		io[k].replaying = true;
		ck_assert_int_eq(gmem_range_listener_add(g, io[k].lo,
							 io[k].hi - io[k].lo,
							 &lops, &o, &io[k].l),
				 0);
		io[k].replaying = false;
		io_check(&io[k], &t.m);
		io[k].calls = 0;
	}
	for (i = 0; i < ops; i++) {
		static const uint64_t sizes[] = { 1, 3, 16, 48, 512, 1024, 5000 };
		uint64_t n = sizes[rnd() % 7], lo = rnd() % (3 * 4096 + 9000);
		unsigned int attr = (unsigned int)(rnd() % 2);
		struct runs_in c[3];
		bool refuse = false, fails = false;
		int err, want = 0;

		if (rnd() % 2)
			lo &= ~(n - 1 < 16 ? UINT64_C(15) : UINT64_C(511));
		if (lo + n > FRAMES)
			lo = FRAMES - n;
		for (k = 0; k < 3; k++) {
			c[k] = (struct runs_in){ &io[k], 0 };
			model_changes(&t.m, lo, n, attr, count_run, &c[k]);
			refuse |= breaks_granule(&io[k], &t.m, lo, lo + n, attr);
		}
		if (!refuse && attr == GMEM_ATTR_SHARED && rnd() % 8 == 0) {
			k = (int)(rnd() % 3);
			if (c[k].n) {
				io[k].fail_next = true;
				fails = true;
			}
		}
		err = gmem_convert(g, lo, n, attr, NULL);
		if (refuse)
			want = -EINVAL;
		else if (fails)
			want = -EIO;
		ck_assert_int_eq(err, want);
		seen[want == -EINVAL ? 0 : want == -EIO ? 1 : 2]++;
		if (!err) {
			ck_assert_int_eq(model_convert(&t.m, lo, n, attr, &fail), 0);
			/* One call per run each IOMMU's range has. */
			for (k = 0; k < 3; k++)
				EXPECT_EQ(io[k].calls, c[k].n);
		}
		for (k = 0; k < 3; k++) {
			io[k].fail_next = false;
			io[k].calls = 0;
			io_check(&io[k], &t.m);
		}
	}
	/* The run met every case. */
	ck_assert_uint_gt(seen[0], 0);
	ck_assert_uint_gt(seen[1], 0);
	ck_assert_uint_gt(seen[2], 0);
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(gmem_range_listener_remove(io[k].l), 0);
		free(io[k].mapped);
	}
	test_guest_close(&t);
}
END_TEST

struct maps {
	uint64_t sizes, next, count;
	uint8_t *seen;
	struct gmem_guest *g;
};

static int got_map(void *ctx, const struct gmem_iommu_map *map)
{
	struct maps *c = ctx;
	uint64_t f;

	EXPECT(c->sizes & map->npages);
	EXPECT(!(map->gfn & (map->npages - 1)));
	EXPECT(!(map->pfn & (map->npages - 1)));
	EXPECT(map->gfn >= c->next);
	c->next = map->gfn + map->npages;
	for (f = map->gfn; f < map->gfn + map->npages; f++) {
		EXPECT(!c->seen[f]);
		c->seen[f] = 1;
	}
	c->count++;
	return 0;
}

/* The greedy cover of the model's view, counted independently. */
static uint64_t model_count(const struct model *m, enum gmem_pt_view view,
			    uint64_t sizes)
{
	uint64_t f = 0, count = 0;

	while (f < FRAMES) {
		unsigned int a = 0;
		uint64_t s;

		EXPECT_EQ(model_attr(m, f, &a), 0);
		if (view != GMEM_PT_VIEW_ALL &&
		    a != (view == GMEM_PT_VIEW_SHARED)) {
			f++;
			continue;
		}
		for (s = UINT64_C(1) << 62; s; s >>= 1) {
			unsigned int b = 0;

			if (!(sizes & s) || (f & (s - 1)) || f + s > FRAMES)
				continue;
			if (view != GMEM_PT_VIEW_ALL &&
			    (model_range_attr(m, f, s, &b) || b != a))
				continue;
			break;
		}
		EXPECT(s);
		count++;
		f += s;
	}
	return count;
}

START_TEST(mappings_are_fewest)
{
	/* In frames: x86 (4K, 2M, 1G) and an SMMU's (4K, 64K, 2M, 512M). */
	static const uint64_t pgsizes[2] = { 0x40201000, 0x20210000 | 0x1000 };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct model m;
	uint64_t fail;
	int round;

	model_init(&m);
	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, 64 * GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, FRAMES, NULL), 0);
	ck_assert_int_eq(model_add_region(&m, 0, FRAMES, 0), 0);
	for (round = 0; round < 40; round++) {
		enum gmem_pt_view view = (enum gmem_pt_view)(round % 3);
		int p = round / 3 % 2, i;
		struct maps c = { .sizes = pgsizes[p] >> 12, .g = g };
		uint64_t count, f;

		for (i = 0; i < 20; i++) {
			uint64_t n = UINT64_C(1) << (rnd() % 14);
			uint64_t lo = rnd() % (FRAMES - n) & ~(n - 1);
			unsigned int attr = (unsigned int)(rnd() % 2);

			ck_assert_int_eq(gmem_convert(g, lo, n, attr, NULL), 0);
			ck_assert_int_eq(model_convert(&m, lo, n, attr, &fail), 0);
		}
		c.seen = calloc(FRAMES, 1);
		ck_assert_ptr_nonnull(c.seen);
		ck_assert_int_eq(gmem_iommu_mappings(g, view, pgsizes[p], 0,
						     FRAMES, got_map, &c,
						     &count), 0);
		ck_assert_uint_eq(count, c.count);
		for (f = 0; f < FRAMES; f++) {
			unsigned int a = 0;

			EXPECT_EQ(model_attr(&m, f, &a), 0);
			EXPECT_EQ(c.seen[f], view == GMEM_PT_VIEW_ALL ||
					     a == (view == GMEM_PT_VIEW_SHARED));
		}
		ck_assert_uint_eq(count, model_count(&m, view, c.sizes));
		free(c.seen);
	}
	ck_assert_int_eq(gmem_iommu_mappings(g, GMEM_PT_VIEW_ALL, 0x800, 0,
					     FRAMES, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_iommu_mappings(NULL, GMEM_PT_VIEW_ALL, 0x1000, 0,
					     1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	model_fini(&m);
}
END_TEST

static int nop_populate(void *ctx, uint64_t gfn, uint64_t npages)
{
	(void)ctx, (void)gfn, (void)npages;
	return 0;
}

static void nop_discard(void *ctx, uint64_t gfn, uint64_t npages)
{
	(void)ctx, (void)gfn, (void)npages;
}

/*
 * A transaction prepared and then aborted leaves the IOMMU as it was:
 * the discard of a run leaving shared comes only once nothing can stop
 * the conversion, at commit, after the view's unmap.
 */
START_TEST(abort_keeps_mappings)
{
	struct iommu io = { .lo = 0, .hi = 1024, .granule = 1 };
	struct gmem_range_listener_ops ops = { .sz = sizeof(ops),
					       .populate = io_populate,
					       .discard = io_discard,
					       .ctx = &io };
	GMEM_OPTS(gmem_range_listener_opts, o, .flags = GMEM_RANGE_REPLAY_SHARED);
	struct gmem_pool *pool;
	struct gmem_txn *txn;
	uint64_t f;

	io.mapped = calloc(io.hi, 1);
	ck_assert_ptr_nonnull(io.mapped);
	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &io.g), 0);
	ck_assert_int_eq(gmem_region_add(io.g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_convert(io.g, 0, 64, GMEM_ATTR_SHARED, NULL), 0);
	io.replaying = true;
	ck_assert_int_eq(gmem_range_listener_add(io.g, io.lo, io.hi - io.lo,
						 &ops, &o, &io.l), 0);
	io.replaying = false;
	ck_assert_uint_eq(io.calls, 1);
	/* To private, aborted: nothing discarded. */
	ck_assert_int_eq(gmem_convert_prepare(io.g, 0, 64, GMEM_ATTR_PRIVATE,
					      NULL, &txn), 0);
	ck_assert_int_eq(gmem_convert_abort(txn), 0);
	ck_assert_uint_eq(io.calls, 1);
	for (f = 0; f < 64; f++)
		ck_assert_int_eq(io.mapped[f], 1);
	/* To shared, aborted: populated, then discarded again. */
	ck_assert_int_eq(gmem_convert_prepare(io.g, 64, 64, GMEM_ATTR_SHARED,
					      NULL, &txn), 0);
	ck_assert_uint_eq(io.calls, 2);
	ck_assert_int_eq(gmem_convert_abort(txn), 0);
	ck_assert_uint_eq(io.calls, 3);
	for (f = 64; f < 128; f++)
		ck_assert_int_eq(io.mapped[f], 0);
	/* Committed: discarded while the guest still saw it shared. */
	ck_assert_int_eq(gmem_convert_prepare(io.g, 0, 64, GMEM_ATTR_PRIVATE,
					      NULL, &txn), 0);
	ck_assert_uint_eq(io.calls, 3);
	ck_assert_int_eq(gmem_convert_commit(txn), 0);
	ck_assert_uint_eq(io.calls, 4);
	for (f = 0; f < 64; f++)
		ck_assert_int_eq(io.mapped[f], 0);
	ck_assert_int_eq(gmem_guest_destroy(io.g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	free(io.mapped);
}
END_TEST

START_TEST(bad_input)
{
	struct gmem_range_listener_ops ops = { .sz = sizeof(ops),
					       .populate = nop_populate,
					       .discard = nop_discard };
	struct gmem_range_listener *l = NULL;
	GMEM_OPTS(gmem_range_listener_opts, o, .granule = 16);
	struct gmem_pool *pool;
	struct gmem_guest *g;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 0, 8, GMEM_ATTR_SHARED, NULL), 0);
	/* Not aligned, or the state inside breaks a granule. */
	ck_assert_int_eq(gmem_range_listener_add(g, 8, 16, &ops, &o, &l),
			 -EINVAL);
	ck_assert_int_eq(gmem_range_listener_add(g, 0, 64, &ops, &o, &l),
			 -EINVAL);
	o.granule = 3;
	ck_assert_int_eq(gmem_range_listener_add(g, 0, 64, &ops, &o, &l),
			 -EINVAL);
	o.granule = 0;
	o.flags = 4;
	ck_assert_int_eq(gmem_range_listener_add(g, 0, 64, &ops, &o, &l),
			 -EINVAL);
	o.flags = 0;
	ck_assert_int_eq(gmem_range_listener_add(g, 5000, 1, &ops, &o, &l),
			 -ENOENT);
	ck_assert_int_eq(gmem_range_listener_add(g, 4000, 100, &ops, &o, &l),
			 -ERANGE);
	ck_assert_int_eq(gmem_range_listener_add(g, 0, 0, &ops, &o, &l),
			 -EINVAL);
	ops.discard = NULL;
	ck_assert_int_eq(gmem_range_listener_add(g, 0, 64, &ops, &o, &l),
			 -EINVAL);
	ck_assert_ptr_null(l);
	ck_assert_int_eq(gmem_range_listener_remove(NULL), -EINVAL);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("iommu");
	TCase *tc = tcase_create("iommu");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, listeners_keep_iommus);
	tcase_add_test(tc, mappings_are_fewest);
	tcase_add_test(tc, abort_keeps_mappings);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
