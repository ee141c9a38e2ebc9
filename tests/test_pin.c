/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pinning against the model.
 *
 * Random pins, unpins and conversions on a guest of two regions, one
 * crossing a 1 GiB slot edge, half the time with a listener so that
 * conversions also take the transaction path. Every call must return
 * what the model returns, with the same failing frame; the pin count of
 * frames around the change, the first pinned frame of random ranges and
 * the attribute of frames must agree after each step, and every frame's
 * count at intervals. A listener must never hear of a run holding a
 * pinned frame. Then: a builder holds back a join over a pinned frame,
 * explains it, and joins after the unpin (also when the unpin finds no
 * memory to tell it); allocation failing at each step changes nothing;
 * bad input.
 *
 * GMEM_PIN_OPS: operations (20000).
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

static uint64_t rng = 0x2545f4914f6cdd1d;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

/* The guest and model of the differential run, which callbacks see. */
static struct test_guest t;

/* Listeners hear only runs free of pins. */
static int heard(void *ctx, enum gmem_phase phase, const struct gmem_run *run)
{
	(void)ctx;
	if (phase == GMEM_PHASE_PREPARE)
		EXPECT_EQ(model_pin_first(&t.m, run->gfn, run->npages),
			  run->gfn + run->npages);
	return 0;
}

/* A range in a region, or now and then one reaching out of it. */
static void pick(uint64_t *lo, uint64_t *n)
{
	static const uint64_t sizes[] = { 1, 1, 2, 7, 64, 512, 1000, 4096 };
	const struct model_region *r = &t.m.r[rnd() % (uint64_t)t.m.n];
	uint64_t span = r->end - r->gfn;

	*n = sizes[rnd() % 8];
	if (*n > span)
		*n = span;
	*lo = r->gfn + rnd() % (span - *n + 1);
	if (rnd() % 40 == 0)
		*lo = r->end - *n / 2 - 1;	/* leaves the region */
	if (rnd() % 4 == 0)	/* near the slot edge of the first region */
		*lo = r->gfn == 0 ? GIB - *n / 2 - rnd() % 3 : *lo;
}

static void check_around(const struct gmem_guest *g, uint64_t lo,
			 uint64_t n)
{
	uint64_t f, first, a = lo > 2 ? lo - 2 : 0;
	uint32_t c;
	int k;

	for (f = a; f < lo + n + 2; f += (n > 64 ? 1 + rnd() % 17 : 1)) {
		EXPECT_EQ(gmem_pin_count(g, f, &c), 0);
		EXPECT_EQ(c, model_pin_count(&t.m, f));
	}
	for (k = 0; k < 4; k++) {
		uint64_t s, len;
		int err;

		pick(&s, &len);
		err = gmem_pin_find(g, s, len, &first);
		if (model_pin_first(&t.m, s, len) < s + len) {
			EXPECT_EQ(err, 0);
			EXPECT_EQ(first, model_pin_first(&t.m, s, len));
		} else {
			EXPECT_EQ(err, -ENOENT);
		}
	}
}

static void check_all(const struct gmem_guest *g)
{
	int i;

	for (i = 0; i < t.m.n; i++) {
		uint64_t f;

		for (f = t.m.r[i].gfn; f < t.m.r[i].end; f++) {
			uint32_t c;
			unsigned int attr, mattr;

			EXPECT_EQ(gmem_pin_count(g, f, &c), 0);
			EXPECT_EQ(c, model_pin_count(&t.m, f));
			EXPECT_EQ(gmem_attr_get(g, f, &attr), 0);
			EXPECT_EQ(model_attr(&t.m, f, &mattr), 0);
			EXPECT_EQ(attr, mattr);
		}
	}
}

static void run_model(bool listen)
{
	/* One region across the edge of the first slot, one small. */
	static const struct test_region regions[] = {
		{ 0, GIB + 8192, GMEM_ATTR_PRIVATE },
		{ 3 * GIB, 16384, GMEM_ATTR_PRIVATE },
	};
	uint64_t ops = test_env_u64("GMEM_PIN_OPS", 20000), i;
	struct gmem_guest *g;
	struct gmem_listener *l = NULL;

	test_guest_open(&t, 64 * GIB, 4 * GIB, regions, 2);
	g = t.g;
	if (listen)
		ck_assert_int_eq(gmem_listener_add(g, heard, NULL, NULL, &l), 0);
	for (i = 0; i < ops; i++) {
		GMEM_OPTS(gmem_pin_opts, po2, .fail_gfn = 0);
		GMEM_OPTS(gmem_convert_opts, co, .flags = 0);
		unsigned int op = (unsigned int)(rnd() % 10);
		uint64_t lo, n, fail = 0;
		int want, got;

		pick(&lo, &n);
		if (op < 3) {
			want = model_pin(&t.m, lo, n, &fail);
			got = gmem_pin(g, lo, n, &po2);
		} else if (op < 6) {
			/* Mostly ranges that are pinned whole. */
			if (rnd() % 3) {
				uint64_t f = model_pin_first(&t.m, lo, n);

				if (f < lo + n) {
					lo = f;
					n = 1 + rnd() % n;
				}
			}
			want = model_unpin(&t.m, lo, n, &fail);
			got = gmem_unpin(g, lo, n, &po2);
		} else {
			unsigned int attr = (unsigned int)(rnd() % 2);

			want = model_convert(&t.m, lo, n, attr, &fail);
			got = gmem_convert(g, lo, n, attr, &co);
			po2.fail_gfn = co.fail_gfn;
		}
		if (got != want)
			ck_abort_msg("op %llu (%u) [%#llx, +%llu): %d, model %d",
				     (unsigned long long)i, op,
				     (unsigned long long)lo,
				     (unsigned long long)n, got, want);
		if (want)
			EXPECT_EQ(po2.fail_gfn, fail);
		check_around(g, lo, n);
		if (i % (ops / 4 + 1) == 0)
			check_all(g);
	}
	check_all(g);
	/* A region with a pinned frame stays. */
	if (model_pin_first(&t.m, 3 * GIB, 16384) < 3 * GIB + 16384)
		ck_assert_int_eq(gmem_region_remove(g, 3 * GIB, 16384), -EBUSY);
	if (l)
		ck_assert_int_eq(gmem_listener_remove(l), 0);
	test_guest_close(&t);
}

START_TEST(pins_follow_model)
{
	run_model(false);
}
END_TEST

START_TEST(pins_follow_model_listened)
{
	run_model(true);
}
END_TEST

static uint64_t cover_leaves(const struct gmem_guest *g,
			     const struct gmem_pt_geometry *geom)
{
	GMEM_OPTS(gmem_pt_cover_opts, co, .flags = 0);

	ck_assert_int_eq(gmem_pt_view_cover(g, GMEM_PT_VIEW_SHARED, geom, 0,
					    GIB, NULL, NULL, &co), 0);
	return co.nleaves;
}

static uint64_t table_leaves(const struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);

	ck_assert_int_eq(gmem_pt_stats(pt, &st), 0);
	return st.nleaves;
}

/*
 * A 2 MiB piece shared but for frame 5 is 511 leaves of 4 KiB; with
 * frame 7 pinned, sharing frame 5 does not join them (the new leaf is
 * one more 4 KiB), explain names the pin, and the unpin lets the next
 * sync join the piece. Conversions of eight other pieces fill the
 * builder's list of ranges to look at; with fail_unpin, the unpin then
 * cannot add to it for lack of memory, and the sync must still join.
 */
static void held_join(bool fail_unpin)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = GMEM_PT_FORMAT_GENERIC);
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	GMEM_OPTS(gmem_pool_opts, po, .alloc = NULL);
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt;
	uint64_t fail_at = 0;
	uint32_t i;

	test_alloc_init(&ta);
	po.alloc = &ta.ops;
	ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 0, GIB, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 5, 1, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom), 0);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_SHARED, &geom, &o, &pt),
			 0);
	ck_assert_int_eq(table_leaves(pt), cover_leaves(g, &geom));
	/* Twice, so that the unpin below needs no room for its runs. */
	ck_assert_int_eq(gmem_pin(g, 7, 1, NULL), 0);
	ck_assert_int_eq(gmem_pin(g, 7, 1, NULL), 0);
	ck_assert_int_eq(gmem_unpin(g, 7, 1, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 5, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_pt_sync(pt), 0);
	ck_assert_int_eq(cover_leaves(g, &geom), 1);
	ck_assert_int_eq(table_leaves(pt), 511 + 1 + 511);
	ck_assert_int_eq(gmem_pt_explain_table(pt, 5, &ex), 0);
	ck_assert_int_eq(ex.leaf.npages, 1);
	ck_assert_int_eq(ex.nwhy, 3);
	for (i = 1; i < ex.nwhy; i++) {
		ck_assert_int_eq(ex.why[i].blocker, GMEM_PT_BLOCK_PINNED);
		ck_assert_int_eq(ex.why[i].at_gfn, 7);
	}
	/* Pinned, the frame cannot go private; the builder hears nothing. */
	ck_assert_int_eq(gmem_convert(g, 0, 512, GMEM_ATTR_PRIVATE, NULL),
			 -EBUSY);
	ck_assert_int_eq(gmem_pt_explain_table(pt, 5, &ex), 0);
	for (i = 1; i <= 8; i++)
		ck_assert_int_eq(gmem_convert(g, i * 1024 + 100, 1,
					      GMEM_ATTR_PRIVATE, NULL), 0);
	if (fail_unpin)
		fail_at = ta.fail_at = ta.calls + 1;
	ck_assert_int_eq(gmem_unpin(g, 7, 1, NULL), 0);
	ta.fail_at = 0;
	if (fail_unpin)
		ck_assert_uint_ge(ta.calls, fail_at);
	ck_assert_int_eq(gmem_pt_sync(pt), 0);
	ck_assert_int_eq(table_leaves(pt), cover_leaves(g, &geom));
	ck_assert_int_eq(gmem_pt_explain_table(pt, 5, &ex), 0);
	ck_assert_int_eq(ex.leaf.npages, 512);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	EXPECT_EQ(ta.live_objects, 0);
}

START_TEST(builder_holds_join_while_pinned)
{
	held_join(false);
}
END_TEST

START_TEST(builder_joins_after_unpin_without_memory)
{
	held_join(true);
}
END_TEST

/* Many scattered pins, then unpins, with the nth allocation failing:
 * each call either succeeds or fails with -ENOMEM and changes nothing. */
static bool pins_failing(struct gmem_guest *g, void *ctx)
{
	uint64_t k, fail;
	bool failed = false;

	(void)ctx;
	model_init(&t.m);
	ck_assert_int_eq(model_add_region(&t.m, 0, 65536, 0), 0);
	for (k = 0; k < 200; k++) {
		uint64_t lo = (k * 7919) % 60000, len = 1 + k % 9;
		bool pin = k < 150 || k % 2;
		int err = pin ? gmem_pin(g, lo, len, NULL)
			      : gmem_unpin(g, lo, len, NULL);

		if (err == -ENOMEM) {
			failed = true;
			continue;
		}
		if (pin)
			EXPECT_EQ(model_pin(&t.m, lo, len, &fail), err);
		else
			EXPECT_EQ(model_unpin(&t.m, lo, len, &fail), err);
	}
	check_all(g);
	model_fini(&t.m);
	return failed;
}

START_TEST(allocation_failure_changes_nothing)
{
	ck_assert_uint_gt(test_alloc_each_failure(65536, pins_failing, NULL),
			  2);
}
END_TEST

static unsigned int attr_of(const struct gmem_guest *g, uint64_t gfn)
{
	unsigned int a;

	ck_assert_int_eq(gmem_attr_get(g, gfn, &a), 0);
	return a;
}

static uint32_t pins_of(const struct gmem_guest *g, uint64_t gfn)
{
	uint32_t c;

	ck_assert_int_eq(gmem_pin_count(g, gfn, &c), 0);
	return c;
}

/*
 * I/O to private memory on a range of alternating runs: begin makes it
 * all shared and pinned (a conversion of it is refused); each way of
 * ending returns the frames that were private as it says, and only
 * those; a fault makes private frames shared until the guest's access.
 */
START_TEST(io_to_private_memory)
{
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_io *io;
	GMEM_OPTS(gmem_pin_opts, po, .fail_gfn = 0);
	unsigned int how;
	uint64_t f;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	for (how = GMEM_IO_END_PRIVATE; how <= GMEM_IO_END_SHARED; how++) {
		/* Shared: [100, 110) and [120, 130); the rest private. */
		ck_assert_int_eq(gmem_convert(g, 0, 4096, GMEM_ATTR_PRIVATE,
					      NULL), 0);
		ck_assert_int_eq(gmem_convert(g, 100, 10, GMEM_ATTR_SHARED,
					      NULL), 0);
		ck_assert_int_eq(gmem_convert(g, 120, 10, GMEM_ATTR_SHARED,
					      NULL), 0);
		ck_assert_int_eq(gmem_io_begin(g, 95, 40, &po, &io), 0);
		for (f = 95; f < 135; f++) {
			ck_assert_uint_eq(attr_of(g, f), GMEM_ATTR_SHARED);
			ck_assert_uint_eq(pins_of(g, f), 1);
		}
		ck_assert_uint_eq(attr_of(g, 94), GMEM_ATTR_PRIVATE);
		ck_assert_int_eq(gmem_convert(g, 90, 10, GMEM_ATTR_PRIVATE,
					      NULL), -EBUSY);
		ck_assert_int_eq(gmem_io_end(io, how), 0);
		for (f = 95; f < 135; f++) {
			bool was_shared = (f >= 100 && f < 110) ||
					  (f >= 120 && f < 130);

			ck_assert_uint_eq(pins_of(g, f), 0);
			ck_assert_uint_eq(attr_of(g, f),
					  was_shared || how != GMEM_IO_END_PRIVATE
						  ? GMEM_ATTR_SHARED
						  : GMEM_ATTR_PRIVATE);
		}
		/* The guest touches part: only what LAZY left goes private. */
		ck_assert_int_eq(gmem_io_access(g, 90, 20), 0);
		for (f = 95; f < 135; f++) {
			bool was_shared = (f >= 100 && f < 110) ||
					  (f >= 120 && f < 130);
			bool back = how == GMEM_IO_END_PRIVATE ||
				    (how == GMEM_IO_END_LAZY && f < 110);

			ck_assert_uint_eq(attr_of(g, f),
					  was_shared || !back ? GMEM_ATTR_SHARED
							      : GMEM_ATTR_PRIVATE);
		}
		ck_assert_int_eq(gmem_io_access(g, 0, 4096), 0);
	}
	/* A failed I/O on private frames: reachable, retry; then the
	 * guest's access takes them back. */
	ck_assert_int_eq(gmem_convert(g, 0, 4096, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(gmem_io_fault(g, 200, 8), -EAGAIN);
	ck_assert_uint_eq(attr_of(g, 203), GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_io_fault(g, 200, 8), 0);
	ck_assert_int_eq(gmem_io_access(g, 203, 1), 0);
	ck_assert_uint_eq(attr_of(g, 203), GMEM_ATTR_PRIVATE);
	ck_assert_uint_eq(attr_of(g, 204), GMEM_ATTR_SHARED);
	/* Bad input changes nothing. */
	ck_assert_int_eq(gmem_io_end(NULL, 0), -EINVAL);
	ck_assert_int_eq(gmem_io_begin(g, 4000, 200, &po, &io), -ERANGE);
	ck_assert_int_eq(po.fail_gfn, 4096);
	ck_assert_uint_eq(attr_of(g, 4000), GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_io_begin(g, 8000, 1, NULL, &io), -ENOENT);
	ck_assert_int_eq(gmem_io_begin(NULL, 0, 1, NULL, &io), -EINVAL);
	ck_assert_int_eq(gmem_io_begin(g, 0, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_io_begin(g, 0, 8, NULL, &io), 0);
	ck_assert_int_eq(gmem_io_end(io, 3), -EINVAL);
	ck_assert_int_eq(gmem_io_end(io, GMEM_IO_END_PRIVATE), 0);
	/* gmem_io_access checks its range as gmem_io_fault does. */
	ck_assert_int_eq(gmem_io_access(g, 0, 0), -EINVAL);
	ck_assert_int_eq(gmem_io_fault(g, 0, 0), -EINVAL);
	ck_assert_int_eq(gmem_io_access(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(gmem_io_fault(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(gmem_io_access(g, 8000, 1), -ENOENT);
	ck_assert_int_eq(gmem_io_fault(g, 8000, 1), -ENOENT);
	ck_assert_int_eq(gmem_io_access(g, 4000, 200), -ERANGE);
	ck_assert_int_eq(gmem_io_fault(g, 4000, 200), -ERANGE);
	ck_assert_int_eq(gmem_io_access(g, 5, UINT64_MAX), -EOVERFLOW);
	ck_assert_int_eq(gmem_io_fault(g, 5, UINT64_MAX), -EOVERFLOW);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

START_TEST(bad_input)
{
	GMEM_OPTS(gmem_pin_opts, po, .fail_gfn = 0);
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint64_t first;
	uint32_t c;
	struct {
		size_t sz;
		uint64_t fail_gfn;
		uint64_t future;
	} big = { sizeof(big), 0, 1 };

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_region_add(g, 4096, 4096, NULL), 0);
	ck_assert_int_eq(gmem_pin(NULL, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pin(g, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pin(g, 9000, 1, &po), -ENOENT);
	ck_assert_int_eq(po.fail_gfn, 9000);
	ck_assert_int_eq(gmem_pin(g, 4000, 200, &po), -ERANGE);
	ck_assert_int_eq(po.fail_gfn, 4096);
	ck_assert_int_eq(gmem_pin(g, GMEM_FRAME_LIMIT - 1, 2, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(gmem_pin(g, 0, 1, (struct gmem_pin_opts *)&big),
			 -E2BIG);
	ck_assert_int_eq(gmem_pin_find(g, 0, 8192, &first), -ENOENT);
	/* Unpin below zero: refused at the first unpinned frame, and the
	 * pinned ones keep their count. */
	ck_assert_int_eq(gmem_pin(g, 10, 10, NULL), 0);
	ck_assert_int_eq(gmem_unpin(g, 15, 10, &po), -EINVAL);
	ck_assert_int_eq(po.fail_gfn, 20);
	ck_assert_int_eq(gmem_pin_count(g, 15, &c), 0);
	ck_assert_int_eq(c, 1);
	ck_assert_int_eq(gmem_unpin(g, 5, 10, &po), -EINVAL);
	ck_assert_int_eq(po.fail_gfn, 5);
	ck_assert_int_eq(gmem_pin_count(g, 10, &c), 0);
	ck_assert_int_eq(c, 1);
	ck_assert_int_eq(gmem_pin_find(g, 0, 8192, &first), 0);
	ck_assert_int_eq(first, 10);
	ck_assert_int_eq(gmem_pin_find(g, 0, 0, &first), -EINVAL);
	ck_assert_int_eq(gmem_pin_find(NULL, 0, 1, &first), -EINVAL);
	ck_assert_int_eq(gmem_pin_count(g, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pin_count(NULL, 0, &c), -EINVAL);
	ck_assert_int_eq(gmem_pin_count(g, 1 << 20, &c), 0);
	ck_assert_int_eq(c, 0);
	/* The pinned region stays; the other goes. */
	ck_assert_int_eq(gmem_region_remove(g, 0, 4096), -EBUSY);
	ck_assert_int_eq(gmem_region_remove(g, 4096, 4096), 0);
	ck_assert_int_eq(gmem_unpin(g, 10, 10, NULL), 0);
	ck_assert_int_eq(gmem_unpin(g, 10, 1, NULL), -EINVAL);
	ck_assert_int_eq(gmem_region_remove(g, 0, 4096), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pin");
	TCase *tc = tcase_create("pins");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, pins_follow_model);
	tcase_add_test(tc, pins_follow_model_listened);
	tcase_add_test(tc, builder_holds_join_while_pinned);
	tcase_add_test(tc, builder_joins_after_unpin_without_memory);
	tcase_add_test(tc, allocation_failure_changes_nothing);
	tcase_add_test(tc, io_to_private_memory);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
