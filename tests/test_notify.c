/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invalidation notifiers against a model.
 *
 * Random registrations (two-frame prefix areas, 2 MiB tables, odd
 * ranges; persistent and one-shot; some hearing only some events, some
 * removing themselves when they fire), removals and conversions run on a
 * guest of two regions. For every conversion the model takes each
 * maximal changed run and each live notifier overlapping it that hears
 * conversions: that notifier must be called exactly once for that run,
 * with the overlap, in run order, and no other notifier at all; and the
 * guest's state must be the model's around it (one region is a whole
 * 1 GiB slot, where conversions take the told path). At the end,
 * removing a region tells each notifier on it once (UNMAP). It
 * runs twice: with every size, and with short notifiers only (at most
 * 2 MiB), where a dispatch of one piece is a walk of its bucket.
 * Targeted cases: removing another notifier from inside a callback,
 * write protection by dirty logging, and bad input.
 *
 * GMEM_NOTIFY_OPS: operations (20000).
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
#define MAXN 4096

static uint64_t rng = 0x853c49e6748fea9b;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

struct call {
	uint64_t gfn, npages;
	uint32_t why;
};

/* One registered notifier, library and model side by side. */
struct note {
	struct gmem_notifier *n;
	uint64_t lo, hi;
	uint32_t flags, events;
	bool live;		/* the handle is registered */
	bool mlive;		/* the model expects calls */
	bool self_remove;
	/* Calls the library made, and those the model expects: how many,
	 * and a digest of them in order. */
	uint64_t ngot, nwant, dgot, dwant;
};

static struct note notes[MAXN];
static int nnotes;

static uint64_t digest(uint64_t d, uint64_t gfn, uint64_t npages, uint32_t why)
{
	uint64_t x = d * 31 + gfn;

	x = x * 131 + npages;
	return rng_next(&x) + why;
}

static void fired(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		  uint64_t npages, uint32_t why)
{
	struct note *t = ctx;

	EXPECT(t->n == n);
	EXPECT(t->live);
	t->dgot = digest(t->dgot, gfn, npages, why);
	t->ngot++;
	if (t->flags & GMEM_NOTIFIER_ONESHOT)
		t->live = false;	/* gone when this returns */
	if (t->self_remove) {
		ck_assert_int_eq(gmem_notifier_remove(n), 0);
		t->live = false;
	}
}

static void expect_call(struct note *t, uint64_t lo, uint64_t hi,
			uint32_t why)
{
	uint64_t a = lo > t->lo ? lo : t->lo, b = hi < t->hi ? hi : t->hi;

	if (!t->mlive || a >= b || !(t->events & why))
		return;
	t->dwant = digest(t->dwant, a, b - a, why);
	t->nwant++;
	/* One-shots and self-removers fire once. */
	if ((t->flags & GMEM_NOTIFIER_ONESHOT) || t->self_remove)
		t->mlive = false;
}

/* Every notifier was called as the model says, then forget the calls. */
static void check_calls(void)
{
	int i;

	for (i = 0; i < nnotes; i++) {
		struct note *t = &notes[i];

		if (t->ngot != t->nwant || t->dgot != t->dwant)
			ck_abort_msg("notifier %d [%#llx, %#llx): %llu calls, "
				     "expected %llu%s", i,
				     (unsigned long long)t->lo,
				     (unsigned long long)t->hi,
				     (unsigned long long)t->ngot,
				     (unsigned long long)t->nwant,
				     t->ngot == t->nwant ? ", not the same" : "");
		t->ngot = t->nwant = t->dgot = t->dwant = 0;
	}
}

static void changed(void *ctx, const struct gmem_run *run)
{
	int i;

	(void)ctx;
	for (i = 0; i < nnotes; i++)
		expect_call(&notes[i], run->gfn, run->gfn + run->npages,
			    GMEM_INVAL_CONVERT);
}

static void add_note(struct gmem_guest *g, uint64_t lo, uint64_t hi)
{
	struct note *t = &notes[nnotes];
	GMEM_OPTS(gmem_notifier_opts, o, .flags = 0);

	memset(t, 0, sizeof(*t));
	o.flags = rnd() % 4 == 0 ? GMEM_NOTIFIER_ONESHOT : 0;
	o.events = rnd() % 3 == 0 ? GMEM_INVAL_UNMAP : 0;
	t->lo = lo;
	t->hi = hi;
	t->flags = o.flags;
	t->events = o.events ? o.events : GMEM_INVAL_ALL;
	t->self_remove = !o.flags && rnd() % 8 == 0;
	ck_assert_int_eq(gmem_notifier_add(g, lo, hi - lo, fired, t, &o, &t->n),
			 0);
	t->live = t->mlive = true;
	nnotes++;
}

/* A range in one of the two regions: small mostly. */
static void pick(const struct model *m, uint64_t *lo, uint64_t *hi)
{
	static const uint64_t sizes[] = { 1, 2, 3, 64, 512, 700, 4096 };
	const struct model_region *r = &m->r[rnd() % (uint64_t)m->n];
	uint64_t n = sizes[rnd() % 7], span = r->end - r->gfn;

	if (n > span)
		n = span;
	*lo = r->gfn + rnd() % (span - n + 1);
	if (rnd() % 2)
		*lo &= ~(n - 1 < 512 ? UINT64_C(0) : UINT64_C(511));
	if (*lo < r->gfn)
		*lo = r->gfn;
	*hi = *lo + n;
}

/* The conversion of [lo, hi) to attr made it one run of attr, and left
 * the frames on either side as the model has them: notifiers make
 * conversions take the told path, whose changes are checked here. */
static void check_state(struct gmem_guest *g, const struct model *m,
			uint64_t lo, uint64_t hi, unsigned int attr)
{
	struct gmem_run run;
	unsigned int got, want;
	uint64_t side[2] = { lo - 1, hi };

	ck_assert_int_eq(gmem_run_get(g, lo, hi - lo, &run), 0);
	ck_assert_uint_eq(run.gfn, lo);
	ck_assert_uint_eq(run.npages, hi - lo);
	ck_assert_uint_eq(run.attr, attr);
	for (int k = 0; k < 2; k++) {
		if (model_attr(m, side[k], &want))
			continue;	/* outside the regions */
		ck_assert_int_eq(gmem_attr_get(g, side[k], &got), 0);
		ck_assert_uint_eq(got, want);
	}
}

START_TEST(notifiers_follow_model)
{
	uint64_t ops = test_env_u64("GMEM_NOTIFY_OPS", 20000), i, lo, hi, fail;
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct model m;
	GMEM_OPTS(gmem_pool_opts, po, .alloc = &ta.ops);
	int k;

	test_alloc_init(&ta);
	nnotes = 0;
	model_init(&m);
	ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, 64 * GIB, 4 * GIB, 0, NULL),
			 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB / 4, NULL), 0);
	ck_assert_int_eq(model_add_region(&m, 0, GIB / 4, 0), 0);
	ck_assert_int_eq(gmem_region_add(g, 2 * GIB, 16384, NULL), 0);
	ck_assert_int_eq(model_add_region(&m, 2 * GIB, 16384, 0), 0);
	/* A whole 1 GiB slot: its conversions take the told path. */
	ck_assert_int_eq(gmem_region_add(g, 3 * GIB, GIB, NULL), 0);
	ck_assert_int_eq(model_add_region(&m, 3 * GIB, GIB, 0), 0);
	for (i = 0; i < ops; i++) {
		unsigned int op = (unsigned int)(rnd() % 10);

		pick(&m, &lo, &hi);
		if (op < 3 && nnotes < MAXN) {
			/* The second run keeps to short notifiers, where a
			 * dispatch of one piece walks its bucket alone. */
			if (_i && hi - lo > 512)
				hi = lo + 512;
			add_note(g, lo, hi);
		} else if (op < 4 && nnotes) {
			struct note *t = &notes[rnd() % (uint64_t)nnotes];

			if (t->live) {
				ck_assert_int_eq(gmem_notifier_remove(t->n), 0);
				t->live = t->mlive = false;
			}
		} else {
			unsigned int attr = (unsigned int)(rnd() % 2);

			model_changes(&m, lo, hi - lo, attr, changed, NULL);
			ck_assert_int_eq(model_convert(&m, lo, hi - lo, attr,
						       &fail), 0);
			ck_assert_int_eq(gmem_convert(g, lo, hi - lo, attr, NULL),
					 0);
			check_state(g, &m, lo, hi, attr);
		}
		check_calls();
	}
	/* The second region goes: each live notifier on it hears it once. */
	for (k = 0; k < nnotes; k++)
		expect_call(&notes[k], 2 * GIB, 2 * GIB + 16384,
			    GMEM_INVAL_UNMAP);
	ck_assert_int_eq(gmem_region_remove(g, 2 * GIB, 16384), 0);
	check_calls();
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	EXPECT_EQ(ta.live_objects, 0);
	model_fini(&m);
}
END_TEST

/* A callback removes another notifier: whether that one comes before
 * or after it, it fires no more from then on. */
static struct gmem_notifier *victim;
static int victim_calls, killer_calls;

static void killer(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		   uint64_t npages, uint32_t why)
{
	(void)ctx, (void)n, (void)gfn, (void)npages, (void)why;
	killer_calls++;
	if (victim) {
		ck_assert_int_eq(gmem_notifier_remove(victim), 0);
		victim = NULL;
	}
}

static void victim_fn(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		      uint64_t npages, uint32_t why)
{
	(void)ctx, (void)n, (void)gfn, (void)npages, (void)why;
	victim_calls++;
}

START_TEST(remove_another_from_callback)
{
	int order;

	for (order = 0; order < 2; order++) {
		struct gmem_pool *pool;
		struct gmem_guest *g;
		struct gmem_notifier *k;

		ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
		ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
		ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
		ck_assert_int_eq(gmem_region_add(g, 0, GIB, NULL), 0);
		/* The killer first in key order, or the victim. */
		ck_assert_int_eq(gmem_notifier_add(g, order ? 10 : 0, 100,
						   killer, NULL, NULL, &k), 0);
		ck_assert_int_eq(gmem_notifier_add(g, order ? 0 : 10, 100,
						   victim_fn, NULL, NULL,
						   &victim), 0);
		victim_calls = killer_calls = 0;
		ck_assert_int_eq(gmem_convert(g, 50, 1, GMEM_ATTR_SHARED, NULL),
				 0);
		ck_assert_int_eq(killer_calls, 1);
		ck_assert_int_eq(victim_calls, order);	/* before it: fired */
		ck_assert_int_eq(gmem_convert(g, 50, 1, GMEM_ATTR_PRIVATE, NULL),
				 0);
		ck_assert_int_eq(killer_calls, 2);
		ck_assert_int_eq(victim_calls, order);
		ck_assert_int_eq(gmem_notifier_remove(k), 0);
		ck_assert_int_eq(gmem_guest_destroy(g), 0);
		ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	}
}
END_TEST

static struct call wp[8];
static int nwp;

static void wp_fn(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		  uint64_t npages, uint32_t why)
{
	(void)ctx, (void)n;
	ck_assert_int_lt(nwp, 8);
	wp[nwp++] = (struct call){ gfn, npages, why };
}

/*
 * Dirty logging write-protects: a notifier on two frames of a 1 GiB
 * leaf hears it when logging starts anywhere in that leaf (its whole
 * range lost write access), nothing when a fault splits the leaf (access
 * is given, not taken), and again when a harvest protects its frame.
 * Registering it split nothing.
 */
START_TEST(write_protect_by_logging)
{
	GMEM_OPTS(gmem_pt_geometry, geo, .nlevels = 0);
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);
	GMEM_OPTS(gmem_notifier_opts, o, .events = GMEM_INVAL_WRPROTECT);
	uint64_t bm[8];
	GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm, .bitmap_bytes = sizeof(bm));
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt;
	struct gmem_notifier *n;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, 2 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 2 * GIB, NULL), 0);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geo), 0);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &geo, NULL, &pt), 0);
	ck_assert_int_eq(gmem_notifier_add(g, 1000, 2, wp_fn, NULL, &o, &n), 0);
	ck_assert_int_eq(gmem_pt_stats(pt, &st), 0);
	ck_assert_uint_eq(st.nleaves, 2);
	nwp = 0;
	ck_assert_int_eq(gmem_pt_log_start(pt, 4096, 512), 0);
	ck_assert_int_eq(nwp, 1);
	ck_assert_uint_eq(wp[0].gfn, 1000);
	ck_assert_uint_eq(wp[0].npages, 2);
	ck_assert_uint_eq(wp[0].why, GMEM_INVAL_WRPROTECT);
	ck_assert_int_eq(gmem_pt_log_fault(pt, 4096 + 1), 0);
	ck_assert_int_eq(nwp, 1);
	/* Its own frame written and harvested. */
	ck_assert_int_eq(gmem_pt_log_stop(pt, 4096, 512), 0);
	ck_assert_int_eq(gmem_pt_log_start(pt, 0, 4096), 0);
	ck_assert_int_eq(nwp, 2);
	ck_assert_int_eq(gmem_pt_log_fault(pt, 1001), 0);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(gmem_pt_log_harvest(pt, 1000, 8, &h), 0);
	ck_assert_uint_eq(h.count, 1);
	ck_assert_int_eq(nwp, 3);
	ck_assert_uint_eq(wp[2].gfn, 1001);
	ck_assert_uint_eq(wp[2].npages, 1);
	ck_assert_int_eq(gmem_notifier_remove(n), 0);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

START_TEST(bad_input)
{
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_notifier *n = NULL;
	GMEM_OPTS(gmem_notifier_opts, o, .flags = 2);

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_notifier_add(g, 5000, 1, victim_fn, NULL, NULL, &n),
			 -ENOENT);
	ck_assert_int_eq(gmem_notifier_add(g, 4000, 100, victim_fn, NULL, NULL,
					   &n), -ERANGE);
	ck_assert_int_eq(gmem_notifier_add(g, 0, 0, victim_fn, NULL, NULL, &n),
			 -EINVAL);
	ck_assert_int_eq(gmem_notifier_add(g, 0, 1, NULL, NULL, NULL, &n),
			 -EINVAL);
	ck_assert_int_eq(gmem_notifier_add(NULL, 0, 1, victim_fn, NULL, NULL,
					   &n), -EINVAL);
	ck_assert_int_eq(gmem_notifier_add(g, 0, 1, victim_fn, NULL, NULL,
					   NULL), -EINVAL);
	ck_assert_int_eq(gmem_notifier_add(g, 0, 1, victim_fn, NULL, &o, &n),
			 -EINVAL);
	o.flags = 0;
	o.events = 1u << 7;
	ck_assert_int_eq(gmem_notifier_add(g, 0, 1, victim_fn, NULL, &o, &n),
			 -EINVAL);
	ck_assert_int_eq(gmem_notifier_add(g, GMEM_FRAME_LIMIT - 1, 2,
					   victim_fn, NULL, NULL, &n),
			 -EOVERFLOW);
	ck_assert_ptr_null(n);
	ck_assert_int_eq(gmem_notifier_remove(NULL), -EINVAL);
	/* None registered: conversions fire nothing. */
	victim_calls = 0;
	ck_assert_int_eq(gmem_convert(g, 0, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(victim_calls, 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notifiers");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, notifiers_follow_model, 0, 2);
	tcase_add_test(tc, remove_another_from_callback);
	tcase_add_test(tc, write_protect_by_logging);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
