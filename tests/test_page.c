/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paging states against the model.
 *
 * Random nominations, evictions, loads, completions (some failing),
 * never-page marks, pins, unpins and conversions on a guest of two
 * regions, one crossing a 1 GiB slot edge, with two builders (the ALL
 * and the SHARED view) synced after each step and an invalidation
 * notifier over the whole guest. Every call must return what the model
 * returns, with the same failing frame; the state of the frames around
 * it must agree; the notifier must hear exactly the nominated frames as
 * paged out; and at intervals every frame's state agrees and each
 * table maps exactly the frames of its view that are present, with as
 * many leaves as the view's minimal cover. Then targeted cases: an
 * eviction waits for the builders' sync, explain names paging,
 * allocation failing at each step changes nothing, and bad input.
 *
 * GMEM_PAGE_OPS: operations (6000).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "helpers.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES

static uint64_t rng = 0x9e6c63d0676a9a99;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

static struct model m;
static uint64_t paged_out;	/* frames the notifier heard */

/* Tokens the model expects out: (vcpu, frame, token), and requests. */
#define MAX_WAITS 4096
static struct { uint64_t gfn, token; uint32_t vcpu; } waits[MAX_WAITS];
static int nwaits;
static uint64_t requests[MAX_WAITS];
static int nrequests;
static uint64_t posted, pins_taken;	/* requests and pins, all told */

/* A lookup, with what the model says of it. */
static void lookup(struct gmem_guest *g, uint64_t f)
{
	GMEM_OPTS(gmem_lookup, lk, .vcpu = (uint32_t)(rnd() % 3));
	unsigned int st = model_page_state(&m, f);
	unsigned int mode = (unsigned int)(rnd() % 3);
	int err, k;

	if (mode == GMEM_LOOKUP_WAIT && st >= GMEM_PAGE_PAGED)
		mode = GMEM_LOOKUP_TRY;	/* the pager is this thread */
	err = gmem_page_lookup(g, f, mode | GMEM_LOOKUP_NO_WAIT_RING, &lk);
	if (st == GMEM_PAGE_PRESENT ||
	    (mode != GMEM_LOOKUP_QUERY && st == GMEM_PAGE_PAGING_OUT)) {
		if (mode != GMEM_LOOKUP_QUERY)
			model_page_access(&m, f);
		EXPECT_EQ(err, 0);
		return;
	}
	EXPECT_EQ(err, -EAGAIN);
	EXPECT_EQ(lk.gfn, f);
	if (mode != GMEM_LOOKUP_QUERY && model_page_access(&m, f))
		requests[nrequests++] = f - f % m.granule;
	EXPECT_EQ(lk.state, model_page_state(&m, f));
	if (mode == GMEM_LOOKUP_QUERY)
		return;
	for (k = 0; k < nwaits; k++)
		if (waits[k].vcpu == lk.vcpu && waits[k].gfn == f)
			break;
	if (k < nwaits) {
		EXPECT_EQ(lk.token, waits[k].token);	/* the same one */
		return;
	}
	for (k = 0; k < nwaits; k++)
		EXPECT(waits[k].token != lk.token);
	ck_assert_int_lt(nwaits, MAX_WAITS);
	waits[nwaits].gfn = f;
	waits[nwaits].vcpu = lk.vcpu;
	waits[nwaits++].token = lk.token;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ring holds exactly the requests the model posted. */
static void check_requests(struct gmem_guest *g)
{
	struct gmem_page_request got[64];
	uint64_t frames[64];
	uint32_t n, i;

	ck_assert_int_eq(gmem_pager_pop(g, got, 64, &n), 0);
	ck_assert_int_eq(n, nrequests);
	posted += n;
	for (i = 0; i < n; i++) {
		frames[i] = got[i].gfn;
		EXPECT_EQ(got[i].npages, m.granule);
	}
	qsort(frames, n, sizeof(*frames), cmp_u64);
	qsort(requests, n, sizeof(*requests), cmp_u64);
	for (i = 0; i < n; i++)
		EXPECT_EQ(frames[i], requests[i]);
	nrequests = 0;
}

/* The guest's counters against the model's and the test's. */
static void check_counts(struct gmem_guest *g)
{
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);

	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	EXPECT_EQ(st.conversions, m.conversions);
	EXPECT_EQ(st.converted_frames, m.converted);
	EXPECT_EQ(st.refusals, m.refusals);
	EXPECT_EQ(st.pins, pins_taken);
	EXPECT_EQ(st.pager_requests, posted);
}

/* After a completion of [lo, lo + n) with status: an event for each
 * token of its frames, and no other. */
static void check_ready(struct gmem_guest *g, uint64_t lo, uint64_t n,
			int status)
{
	struct gmem_page_ready ev[MAX_WAITS];
	uint32_t got, i;
	int k, kept = 0, want = 0;

	ck_assert_int_eq(gmem_page_ready_pop(g, ev, MAX_WAITS, &got), 0);
	for (k = 0; k < nwaits; k++) {
		if (waits[k].gfn < lo || waits[k].gfn >= lo + n) {
			waits[kept++] = waits[k];
			continue;
		}
		for (i = 0; i < got; i++)
			if (ev[i].token == waits[k].token)
				break;
		ck_assert_msg(i < got, "no event for token %llu",
			      (unsigned long long)waits[k].token);
		EXPECT_EQ(ev[i].gfn, waits[k].gfn);
		EXPECT_EQ(ev[i].vcpu, waits[k].vcpu);
		EXPECT_EQ(ev[i].status, status);
		want++;
	}
	EXPECT_EQ(got, want);
	nwaits = kept;
}

static void reset_vcpu(struct gmem_guest *g, uint32_t vcpu)
{
	int k, kept = 0;

	ck_assert_int_eq(gmem_page_vcpu_reset(g, vcpu), 0);
	for (k = 0; k < nwaits; k++)
		if (waits[k].vcpu != vcpu)
			waits[kept++] = waits[k];
	nwaits = kept;
}

static void heard(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		  uint64_t npages, uint32_t why)
{
	(void)ctx, (void)n, (void)gfn;
	if (why == GMEM_INVAL_PAGE_OUT)
		paged_out += npages;
}

/* A range in a region: mostly few frames, near the slot edge at times. */
static void pick(uint64_t *lo, uint64_t *n)
{
	static const uint64_t sizes[] = { 1, 1, 1, 2, 5, 64, 512, 1024 };
	const struct model_region *r = &m.r[rnd() % (uint64_t)m.n];
	uint64_t span = r->end - r->gfn;

	*n = sizes[rnd() % 8];
	*lo = r->gfn + rnd() % (span - *n + 1);
	if (rnd() % 4 == 0 && r->gfn == 0)
		*lo = GIB - *n / 2 - rnd() % 2;
	if (rnd() % 3 == 0)	/* where earlier calls were */
		*lo = r->gfn + (*lo - r->gfn) % 8192;
}

/* Mostly a run of frames in one of the states of mask (bits of enum
 * gmem_page_state; with loaded, also with the data back), found from a
 * random place on; else any range. */
static void pick_in(uint64_t *lo, uint64_t *n, unsigned int mask, bool loaded)
{
	const struct model_region *r;
	uint64_t span, start, k, f, e;

	pick(lo, n);
	if (rnd() % 4 == 0)
		return;
	r = model_region_of(&m, *lo);
	span = r->end - r->gfn;
	start = *lo - r->gfn;
	for (k = 0; k < span; k++) {
		f = (start + k) % span;
		if (!(mask >> r->page[f] & 1) || (loaded && !r->loaded[f]))
			continue;
		for (e = f + 1; e < span && e - f < *n &&
				(mask >> r->page[e] & 1) &&
				(!loaded || r->loaded[e]);
		     e++)
			;
		*lo = r->gfn + f;
		*n = e - f;
		return;
	}
}

struct walk {
	uint64_t frames, leaves;
	enum gmem_pt_view view;
};

static int leaf(void *ctx, const struct gmem_pt_entry *e, uint32_t visit)
{
	struct walk *w = ctx;
	uint64_t f;

	(void)visit;
	for (f = e->gfn; f < e->gfn + e->npages; f++) {
		unsigned int attr;

		EXPECT_EQ(model_page_state(&m, f), GMEM_PAGE_PRESENT);
		EXPECT_EQ(model_attr(&m, f, &attr), 0);
		if (w->view == GMEM_PT_VIEW_SHARED)
			EXPECT_EQ(attr, GMEM_ATTR_SHARED);
	}
	w->frames += e->npages;
	w->leaves++;
	return 0;
}

/* The table maps the view's present frames, no other, in as many leaves
 * as the view's cover has: more while pins hold joins back. */
static void check_table(const struct gmem_guest *g, struct gmem_pt *pt,
			const struct gmem_pt_geometry *geom,
			enum gmem_pt_view view)
{
	GMEM_OPTS(gmem_pt_walker, wk, .fn = leaf,
		  .flags = GMEM_PT_VISIT_LEAF);
	GMEM_OPTS(gmem_pt_cover_opts, co, .flags = 0);
	struct walk w = { 0, 0, view };
	uint64_t want = 0, pinned = 0, f;
	int i;

	wk.ctx = &w;
	ck_assert_int_eq(gmem_pt_walk(pt, 0, 4 * GIB, &wk), 0);
	for (i = 0; i < m.n; i++)
		for (f = m.r[i].gfn; f < m.r[i].end; f++)
		{
			want += model_page_state(&m, f) == GMEM_PAGE_PRESENT &&
				(view == GMEM_PT_VIEW_ALL ||
				 m.r[i].attr[f - m.r[i].gfn]);
			pinned += model_pin_count(&m, f) != 0;
		}
	EXPECT_EQ(w.frames, want);
	ck_assert_int_eq(gmem_pt_view_cover(g, view, geom, 0, 4 * GIB, NULL,
					    NULL, &co), 0);
	if (pinned)
		EXPECT(w.leaves >= co.nleaves);
	else
		EXPECT_EQ(w.leaves, co.nleaves);
}

static void check_states(const struct gmem_guest *g, uint64_t lo,
			 uint64_t hi)
{
	uint64_t f;

	for (f = lo; f < hi; f++) {
		uint32_t st;

		if (!model_region_of(&m, f))
			continue;
		EXPECT_EQ(gmem_page_state(g, f, &st), 0);
		EXPECT_EQ(st, model_page_state(&m, f));
	}
}

START_TEST(paging_follows_model)
{
	uint64_t ops = test_env_u64("GMEM_PAGE_OPS", 6000), i, f, nominated = 0;
	int k;
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = GMEM_PT_FORMAT_GENERIC);
	GMEM_OPTS(gmem_pool_opts, po, .alloc = NULL);
	GMEM_OPTS(gmem_pager_opts, pa, .ring_size = 64);
	struct gmem_notifier *note;
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *all, *shared;

	test_alloc_init(&ta);
	po.alloc = &ta.ops;
	model_init(&m);
	paged_out = 0;
	nwaits = nrequests = 0;
	ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, 64 * GIB, 4 * GIB, 0, NULL),
			 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB + 8192, NULL), 0);
	ck_assert_int_eq(model_add_region(&m, 0, GIB + 8192, 0), 0);
	ck_assert_int_eq(gmem_region_add(g, 3 * GIB, 16384, NULL), 0);
	ck_assert_int_eq(model_add_region(&m, 3 * GIB, 16384, 0), 0);
	ck_assert_int_eq(gmem_notifier_add(g, 0, GIB + 8192, heard, NULL, NULL,
					   &note), 0);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom), 0);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &geom, &o, &all),
			 0);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_SHARED, &geom, &o,
					&shared), 0);
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	for (i = 0; i < ops; i++) {
		GMEM_OPTS(gmem_page_opts, pg, .fail_gfn = 0);
		GMEM_OPTS(gmem_pin_opts, pn, .fail_gfn = 0);
		GMEM_OPTS(gmem_convert_opts, co, .flags = 0);
		unsigned int op = (unsigned int)(rnd() % 20);
		uint64_t lo, n, fail = 0, got_fail;
		int want, got;

		pick(&lo, &n);
		if (op < 4) {
			want = model_page_nominate(&m, lo, n, &fail);
			got = gmem_page_nominate(g, lo, n, &pg);
			if (!want && lo < GIB + 8192)
				nominated += n;
		} else if (op < 6) {
			pick_in(&lo, &n, 1u << GMEM_PAGE_PAGING_OUT, false);
			want = model_page_evict(&m, lo, n, &fail);
			got = gmem_page_evict(g, lo, n, &pg);
		} else if (op < 8) {
			pick_in(&lo, &n, 1u << GMEM_PAGE_PAGED |
					 1u << GMEM_PAGE_PAGING_IN, false);
			want = model_page_load(&m, lo, n, &fail);
			got = gmem_page_load(g, lo, n, NULL, &pg);
		} else if (op < 10) {
			int status = rnd() % 4 ? 0 : -EIO;

			pick_in(&lo, &n, 1u << GMEM_PAGE_PAGING_IN, !status);
			want = model_page_complete(&m, lo, n, status, &fail);
			got = gmem_page_complete(g, lo, n, status, &pg);
			if (!want)
				check_ready(g, lo, n, status);
		} else if (op < 11) {
			unsigned int never = rnd() % 3 != 0;

			want = model_page_never(&m, lo, n, never, &fail);
			got = gmem_page_never(g, lo, n, never, &pg);
		} else if (op < 12) {
			want = model_pin(&m, lo, n, &fail);
			got = gmem_pin(g, lo, n, &pn);
			pg.fail_gfn = pn.fail_gfn;
			pins_taken += !want;
		} else if (op < 13) {
			want = model_unpin(&m, lo, n, &fail);
			got = gmem_unpin(g, lo, n, &pn);
			pg.fail_gfn = pn.fail_gfn;
		} else if (op < 16) {
			unsigned int attr = (unsigned int)(rnd() % 2);

			want = model_convert(&m, lo, n, attr, &fail);
			got = gmem_convert(g, lo, n, attr, &co);
			pg.fail_gfn = co.fail_gfn;
		} else {
			if (op == 19 && rnd() % 8 == 0)
				reset_vcpu(g, (uint32_t)(rnd() % 3));
			pick_in(&lo, &n, 1u << GMEM_PAGE_PAGING_OUT |
					 1u << GMEM_PAGE_PAGED |
					 1u << GMEM_PAGE_PAGING_IN, false);
			lookup(g, lo);
			check_requests(g);
			want = got = 0;
		}
		got_fail = pg.fail_gfn;
		if (got != want || (want && got_fail != fail))
			ck_abort_msg("op %llu (%u) [%#llx, +%llu): %d at %#llx, "
				     "model %d at %#llx", (unsigned long long)i,
				     op, (unsigned long long)lo,
				     (unsigned long long)n, got,
				     (unsigned long long)got_fail, want,
				     (unsigned long long)fail);
		ck_assert_int_eq(gmem_pt_sync(all), 0);
		ck_assert_int_eq(gmem_pt_sync(shared), 0);
		check_states(g, lo > 2 ? lo - 2 : 0, lo + n + 2);
		check_counts(g);
		EXPECT_EQ(paged_out, nominated);
		if (i % (ops / 8 + 1) == 0) {
			check_table(g, all, &geom, GMEM_PT_VIEW_ALL);
			check_table(g, shared, &geom, GMEM_PT_VIEW_SHARED);
		}
	}
	check_states(g, 0, GIB + 8192);
	check_states(g, 3 * GIB, 3 * GIB + 16384);
	/* Without pins the tables are the minimal covers again. */
	for (k = 0; k < m.n; k++)
		for (f = m.r[k].gfn; f < m.r[k].end; f++)
			while (model_pin_count(&m, f)) {
				uint64_t fail;

				ck_assert_int_eq(model_unpin(&m, f, 1, &fail), 0);
				ck_assert_int_eq(gmem_unpin(g, f, 1, NULL), 0);
			}
	ck_assert_int_eq(gmem_pt_sync(all), 0);
	ck_assert_int_eq(gmem_pt_sync(shared), 0);
	check_table(g, all, &geom, GMEM_PT_VIEW_ALL);
	check_table(g, shared, &geom, GMEM_PT_VIEW_SHARED);
	ck_assert_int_eq(gmem_pt_destroy(shared), 0);
	ck_assert_int_eq(gmem_pt_destroy(all), 0);
	ck_assert_int_eq(gmem_notifier_remove(note), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	EXPECT_EQ(ta.live_objects, 0);
	model_fini(&m);
}
END_TEST

/*
 * A nominated frame leaves a builder's table only at its sync: until
 * then it may not be evicted. Explain names paging for the leaves
 * around it; it cannot be converted nor pinned while out; and the
 * region holding it stays.
 */
START_TEST(eviction_waits_for_sync)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = GMEM_PT_FORMAT_GENERIC);
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	GMEM_OPTS(gmem_page_opts, pg, .fail_gfn = 0);
	GMEM_OPTS(gmem_convert_opts, co, .flags = 0);
	GMEM_OPTS(gmem_pool_opts, po, .alloc = NULL);
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt;
	uint32_t st, i;

	test_alloc_init(&ta);
	po.alloc = &ta.ops;
	ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB, NULL), 0);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom), 0);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &geom, &o, &pt),
			 0);
	ck_assert_int_eq(gmem_page_nominate(g, 700, 1, NULL), 0);
	ck_assert_int_eq(gmem_page_evict(g, 700, 1, &pg), -EBUSY);
	ck_assert_int_eq(gmem_page_state(g, 700, &st), 0);
	ck_assert_int_eq(st, GMEM_PAGE_PAGING_OUT);
	ck_assert_int_eq(gmem_pt_sync(pt), 0);
	ck_assert_int_eq(gmem_pt_explain_table(pt, 701, &ex), 0);
	ck_assert_int_eq(ex.leaf.npages, 1);
	ck_assert_int_eq(ex.nwhy, 3);
	for (i = 1; i < 3; i++) {
		ck_assert_int_eq(ex.why[i].blocker, GMEM_PT_BLOCK_PAGING);
		ck_assert_int_eq(ex.why[i].at_gfn, 700);
	}
	ck_assert_int_eq(gmem_pt_explain_table(pt, 700, &ex), -ENXIO);
	ck_assert_int_eq(gmem_page_evict(g, 700, 1, NULL), 0);
	ck_assert_int_eq(gmem_page_state(g, 700, &st), 0);
	ck_assert_int_eq(st, GMEM_PAGE_PAGED);
	ck_assert_int_eq(gmem_convert(g, 0, 1024, GMEM_ATTR_SHARED, &co),
			 -EAGAIN);
	ck_assert_int_eq(co.fail_gfn, 700);
	ck_assert_int_eq(gmem_pin(g, 690, 20, NULL), -EAGAIN);
	ck_assert_int_eq(gmem_region_remove(g, 0, GIB), -EBUSY);
	ck_assert_int_eq(gmem_page_load(g, 700, 1, NULL, NULL), 0);
	ck_assert_int_eq(gmem_page_complete(g, 700, 1, 0, NULL), 0);
	ck_assert_int_eq(gmem_pt_sync(pt), 0);
	ck_assert_int_eq(gmem_pt_explain_table(pt, 700, &ex), 0);
	ck_assert_int_eq(ex.leaf.npages, GIB);
	ck_assert_int_eq(gmem_convert(g, 0, 1024, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	ck_assert_int_eq(gmem_region_remove(g, 0, GIB), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	EXPECT_EQ(ta.live_objects, 0);
}
END_TEST

/* Each call with the nth allocation failing: done, or -ENOMEM with
 * every state as it was. The calls go round nominate, evict, load,
 * complete and never, each on the range the nomination took. */
static bool paging_failing(struct gmem_guest *g, void *ctx)
{
	uint64_t k, fail;
	bool failed = false;

	(void)ctx;
	model_init(&m);
	ck_assert_int_eq(model_add_region(&m, 0, GIB + 4096, 0), 0);
	for (k = 0; k < 40; k++) {
		uint64_t lo = (k - k % 5) * 104729 % (GIB + 4000);
		uint64_t len = 1 + (k - k % 5) % 5;
		int status = k % 2 ? -EIO : 0, err, want = 0;

		switch (k % 5) {
		case 0:
			err = gmem_page_nominate(g, lo, len, NULL);
			if (err != -ENOMEM)
				want = model_page_nominate(&m, lo, len, &fail);
			break;
		case 1:
			err = gmem_page_evict(g, lo, len, NULL);
			if (err != -ENOMEM)
				want = model_page_evict(&m, lo, len, &fail);
			break;
		case 2:
			err = gmem_page_load(g, lo, len, NULL, NULL);
			if (err != -ENOMEM)
				want = model_page_load(&m, lo, len, &fail);
			break;
		case 3:
			err = gmem_page_complete(g, lo, len, status, NULL);
			if (err != -ENOMEM)
				want = model_page_complete(&m, lo, len, status,
							   &fail);
			break;
		default:
			err = gmem_page_never(g, lo, len, 1, NULL);
			if (err != -ENOMEM)
				want = model_page_never(&m, lo, len, 1, &fail);
			break;
		}
		failed |= err == -ENOMEM;
		EXPECT_EQ(err, err == -ENOMEM ? -ENOMEM : want);
	}
	check_states(g, 0, GIB + 4096);
	model_fini(&m);
	return failed;
}

START_TEST(allocation_failure_changes_nothing)
{
	ck_assert_uint_gt(test_alloc_each_failure(GIB + 4096, paging_failing,
						  NULL), 2);
}
END_TEST

START_TEST(bad_input)
{
	GMEM_OPTS(gmem_guest_opts, go, .granule = 512);
	GMEM_OPTS(gmem_page_opts, pg, .fail_gfn = 0);
	struct gmem_pool *pool;
	struct gmem_guest *g;
	char data[4096] = { 0 };
	uint32_t st;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, &go, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_page_nominate(NULL, 0, 512, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_nominate(g, 0, 0, NULL), -EINVAL);
	/* The conversion granule is the paging granule. */
	ck_assert_int_eq(gmem_page_nominate(g, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_nominate(g, 1, 512, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_nominate(g, 8192, 512, &pg), -ENOENT);
	ck_assert_int_eq(gmem_page_nominate(g, 3584, 1024, &pg), -ERANGE);
	ck_assert_int_eq(pg.fail_gfn, 4096);
	ck_assert_int_eq(gmem_page_state(g, 8192, &st), -ENOENT);
	ck_assert_int_eq(gmem_page_state(g, 0, NULL), -EINVAL);
	/* Out of order: nothing changes. A frame never nominated is
	 * present, as its header says: -EBUSY at the first. */
	pg.fail_gfn = 77;
	ck_assert_int_eq(gmem_page_evict(g, 0, 512, &pg), -EBUSY);
	ck_assert_int_eq(pg.fail_gfn, 0);
	ck_assert_int_eq(gmem_page_state(g, 0, &st), 0);
	ck_assert_uint_eq(st, GMEM_PAGE_PRESENT);
	ck_assert_int_eq(gmem_page_load(g, 0, 512, NULL, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_complete(g, 0, 512, 0, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_complete(g, 0, 512, -EIO, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_nominate(g, 512, 512, NULL), 0);
	ck_assert_int_eq(gmem_page_nominate(g, 0, 1024, &pg), -EINVAL);
	ck_assert_int_eq(pg.fail_gfn, 512);
	ck_assert_int_eq(gmem_page_load(g, 512, 512, NULL, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_evict(g, 512, 512, NULL), 0);
	ck_assert_int_eq(gmem_page_evict(g, 512, 512, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_complete(g, 512, 512, 0, &pg), -EINVAL);
	/* No memory of the frames to write the data to, or read from. */
	ck_assert_int_eq(gmem_page_load(g, 512, 512, data, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_read(g, 512, 1, data, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_read(g, 512, 512, NULL, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_read(g, 0, 512, data, &pg), -EOPNOTSUPP);
	ck_assert_int_eq(gmem_page_complete(g, 512, 512, 1, &pg), -EINVAL);
	ck_assert_int_eq(gmem_page_state(g, 600, &st), 0);
	ck_assert_int_eq(st, GMEM_PAGE_PAGED);
	/* Never paged, pinned: refused at the first such frame. */
	ck_assert_int_eq(gmem_page_never(g, 1024, 512, 2, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_never(g, 1536, 512, 1, NULL), 0);
	ck_assert_int_eq(gmem_pin(g, 1100, 3, NULL), 0);
	ck_assert_int_eq(gmem_page_nominate(g, 1024, 1024, &pg), -EBUSY);
	ck_assert_int_eq(pg.fail_gfn, 1100);
	ck_assert_int_eq(gmem_unpin(g, 1100, 3, NULL), 0);
	ck_assert_int_eq(gmem_page_nominate(g, 1024, 1024, &pg), -EBUSY);
	ck_assert_int_eq(pg.fail_gfn, 1536);
	ck_assert_int_eq(gmem_page_never(g, 1536, 512, 0, NULL), 0);
	ck_assert_int_eq(gmem_page_nominate(g, 1024, 1024, &pg), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

/* A present frame is looked up with no allocation, in every mode, also
 * in a slot where other frames are out. */
START_TEST(present_lookup_allocates_nothing)
{
	GMEM_OPTS(gmem_pool_opts, po, .alloc = NULL);
	GMEM_OPTS(gmem_pager_opts, pa, .ring_size = 0);
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint64_t calls, f;
	unsigned int mode;

	test_alloc_init(&ta);
	po.alloc = &ta.ops;
	ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB, NULL), 0);
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	for (f = 0; f < 4096; f += 7) {
		ck_assert_int_eq(gmem_page_nominate(g, f, 1, NULL), 0);
		if (f % 2)
			ck_assert_int_eq(gmem_page_evict(g, f, 1, NULL), 0);
	}
	calls = ta.calls;
	for (mode = GMEM_LOOKUP_QUERY; mode <= GMEM_LOOKUP_WAIT; mode++)
		for (f = 0; f < 8192; f++)
			if (f % 7 || f >= 4096)
				EXPECT_EQ(gmem_page_lookup(g, f, mode, NULL), 0);
	EXPECT_EQ(ta.calls, calls);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	EXPECT_EQ(ta.live_objects, 0);
}
END_TEST

/* The pager's eventfd counts the calls that posted requests; the ready
 * one the completions that queued events, which come batched. */
START_TEST(eventfds_wake_pager_and_vmm)
{
	GMEM_OPTS(gmem_pager_opts, pa, .ring_size = 0);
	struct gmem_page_request req[8];
	struct gmem_page_ready ev[8];
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint64_t v, tokens[3];
	uint32_t n, i;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	pa.pager_fd = eventfd(0, EFD_NONBLOCK);
	pa.ready_fd = eventfd(0, EFD_NONBLOCK);
	ck_assert_int_ge(pa.pager_fd, 0);
	ck_assert_int_ge(pa.ready_fd, 0);
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	ck_assert_int_eq(gmem_page_nominate(g, 10, 2, NULL), 0);
	ck_assert_int_eq(gmem_page_evict(g, 10, 2, NULL), 0);
	ck_assert_int_eq(read(pa.pager_fd, &v, 8), -1);	/* nothing yet */
	/* Three vCPUs ask for frame 10, one for 11: two requests. */
	for (i = 0; i < 3; i++) {
		GMEM_OPTS(gmem_lookup, lk, .vcpu = i);

		ck_assert_int_eq(gmem_page_lookup(g, 10, GMEM_LOOKUP_TRY, &lk),
				 -EAGAIN);
		tokens[i] = lk.token;
	}
	ck_assert_int_eq(gmem_page_lookup(g, 11, GMEM_LOOKUP_TRY, NULL),
			 -EAGAIN);
	ck_assert_int_eq(read(pa.pager_fd, &v, 8), 8);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(gmem_pager_pop(g, req, 8, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(read(pa.ready_fd, &v, 8), -1);
	ck_assert_int_eq(gmem_page_load(g, 10, 2, NULL, NULL), 0);
	ck_assert_int_eq(gmem_page_complete(g, 10, 2, 0, NULL), 0);
	ck_assert_int_eq(read(pa.ready_fd, &v, 8), 8);
	ck_assert_uint_eq(v, 1);
	/* All three tokens in one batch; frame 11 had none. */
	ck_assert_int_eq(gmem_page_ready_pop(g, ev, 8, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(ev[i].token, tokens[i]);
		ck_assert_uint_eq(ev[i].vcpu, i);
		ck_assert_uint_eq(ev[i].gfn, 10);
		ck_assert_int_eq(ev[i].status, 0);
	}
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	close(pa.pager_fd);
	close(pa.ready_fd);
}
END_TEST

/* The pager pops after a delay, making room for a WAIT held by a full
 * ring, then serves the WAIT's frame. */
struct popper {
	struct gmem_guest *g;
	uint64_t gfn;
	_Atomic int popped;
};

static void *pop_later(void *arg)
{
	struct popper *p = arg;
	struct gmem_page_request req[4];
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	uint32_t n, i;
	bool served = false;

	nanosleep(&ts, NULL);
	atomic_store(&p->popped, 1);
	ck_assert_int_eq(gmem_pager_pop(p->g, req, 4, &n), 0);
	ck_assert_uint_eq(n, 4);
	while (!served) {
		ck_assert_int_eq(gmem_pager_pop(p->g, req, 4, &n), 0);
		for (i = 0; i < n; i++)
			served |= req[i].gfn == p->gfn;
	}
	ck_assert_int_eq(gmem_page_load(p->g, p->gfn, 1, NULL, NULL), 0);
	ck_assert_int_eq(gmem_page_complete(p->g, p->gfn, 1, 0, NULL), 0);
	return NULL;
}

struct waiter {
	struct gmem_guest *g;
	uint64_t gfn;
	int err;
};

static void *wait_lookup(void *arg)
{
	struct waiter *w = arg;

	w->err = gmem_page_lookup(w->g, w->gfn, GMEM_LOOKUP_WAIT, NULL);
	return NULL;
}

/*
 * A pager goes only with nothing in hand: a frame paging in (its request
 * popped or not) or a sleeping WAIT keeps it; once completed (here with
 * an error: the frames stay paged out) it may go, lookups find no pager,
 * and a new pager serves them.
 */
START_TEST(pager_detach)
{
	GMEM_OPTS(gmem_pager_opts, pa, .ring_size = GMEM_LOOKUP_MAX);
	GMEM_OPTS(gmem_lookup, lk, .vcpu = 2);
	struct gmem_page_request req[4];
	struct gmem_page_ready ev[4];
	unsigned int state;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint32_t n;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_pager_detach(NULL), -EINVAL);
	ck_assert_int_eq(gmem_pager_detach(g), -ENODEV);
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	ck_assert_int_eq(gmem_page_nominate(g, 0, 8, NULL), 0);
	ck_assert_int_eq(gmem_page_evict(g, 0, 8, NULL), 0);
	/* A request out, not popped: the frame is paging in. */
	ck_assert_int_eq(gmem_page_lookup(g, 5, GMEM_LOOKUP_TRY, &lk), -EAGAIN);
	ck_assert_int_eq(gmem_pager_detach(g), -EBUSY);
	ck_assert_int_eq(gmem_pager_pop(g, req, 4, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(req[0].gfn, 5);
	ck_assert_int_eq(gmem_pager_detach(g), -EBUSY);	/* popped, not done */
	ck_assert_int_eq(gmem_page_complete(g, 5, 1, -EIO, NULL), 0);
	ck_assert_int_eq(gmem_pager_detach(g), 0);
	ck_assert_int_eq(gmem_pager_detach(g), -ENODEV);
	ck_assert_int_eq(gmem_page_state(g, 5, &state), 0);
	ck_assert_uint_eq(state, GMEM_PAGE_PAGED);
	ck_assert_int_eq(gmem_page_lookup(g, 5, GMEM_LOOKUP_TRY, &lk), -ENODEV);
	ck_assert_int_eq(gmem_pager_pop(g, req, 4, &n), -ENODEV);
	ck_assert_int_eq(gmem_page_ready_pop(g, ev, 4, &n), -ENODEV);
	/* A new pager brings the frame in. */
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	ck_assert_int_eq(gmem_page_lookup(g, 5, GMEM_LOOKUP_TRY, &lk), -EAGAIN);
	ck_assert_int_eq(gmem_pager_pop(g, req, 4, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(gmem_page_load(g, 5, 1, NULL, NULL), 0);
	ck_assert_int_eq(gmem_page_complete(g, 5, 1, 0, NULL), 0);
	ck_assert_int_eq(gmem_page_lookup(g, 5, GMEM_LOOKUP_QUERY, &lk), 0);
	ck_assert_int_eq(gmem_page_ready_pop(g, ev, 4, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ev[0].token, lk.token);
	/* A WAIT asleep on a frame paging in keeps it until woken. */
	{
		struct waiter w = { .g = g, .gfn = 7 };
		pthread_t th;

		ck_assert_int_eq(pthread_create(&th, NULL, wait_lookup, &w), 0);
		do
			ck_assert_int_eq(gmem_pager_pop(g, req, 4, &n), 0);
		while (!n);
		ck_assert_int_eq(gmem_page_load(g, 7, 1, NULL, NULL), 0);
		ck_assert_int_eq(gmem_pager_detach(g), -EBUSY);
		ck_assert_int_eq(gmem_page_complete(g, 7, 1, 0, NULL), 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_int_eq(w.err, 0);
	}
	/* A TRY's token does not keep the pager: its event is dropped. */
	ck_assert_int_eq(gmem_page_lookup(g, 6, GMEM_LOOKUP_TRY, &lk), -EAGAIN);
	ck_assert_int_eq(gmem_pager_pop(g, req, 4, &n), 0);
	ck_assert_int_eq(gmem_page_complete(g, 6, 1, -EIO, NULL), 0);
	ck_assert_int_eq(gmem_pager_detach(g), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

/* Lookups: bad input, no pager, and a full ring for each mode. */
START_TEST(lookup_bad_input_and_full_ring)
{
	GMEM_OPTS(gmem_pager_opts, pa, .ring_size = GMEM_LOOKUP_MAX);
	GMEM_OPTS(gmem_lookup, lk, .vcpu = 1);
	struct gmem_page_request req[GMEM_LOOKUP_MAX];
	uint64_t many[GMEM_LOOKUP_MAX + 1] = { 0 }, tok[4];
	struct gmem_page_ready ready[8];
	struct popper pp;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	pthread_t th;
	uint32_t n, i;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 4096, NULL), 0);
	ck_assert_int_eq(gmem_page_lookup(NULL, 0, GMEM_LOOKUP_QUERY, NULL),
			 -EINVAL);
	ck_assert_int_eq(gmem_page_lookup(g, 5000, GMEM_LOOKUP_TRY, &lk),
			 -ENOENT);
	ck_assert_int_eq(lk.gfn, 5000);
	ck_assert_int_eq(gmem_page_lookup(g, 0, 3, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_lookup(g, 0, 1u << 12, NULL), -EINVAL);
	ck_assert_int_eq(gmem_page_lookup_frames(g, many, 0,
						 GMEM_LOOKUP_QUERY, NULL),
			 -EINVAL);
	ck_assert_int_eq(gmem_page_lookup_frames(g, many, GMEM_LOOKUP_MAX + 1,
						 GMEM_LOOKUP_QUERY, NULL),
			 -EINVAL);
	ck_assert_int_eq(gmem_page_lookup(g, 0, GMEM_LOOKUP_WAIT, NULL), 0);
	/* The struct's sz is checked for a present frame too, as by
	 * gmem_page_lookup_frames: too small, or a newer caller's with a
	 * tail this library cannot honour; an older caller's is fine. */
	{
		struct { struct gmem_lookup lk; uint64_t extra; } big = {
			.lk = { .sz = sizeof(big) }, .extra = 1 };

		lk.sz = 3;
		ck_assert_int_eq(gmem_page_lookup(g, 0, GMEM_LOOKUP_TRY, &lk),
				 -EINVAL);
		ck_assert_int_eq(gmem_page_lookup_frames(
					 g, many, 1, GMEM_LOOKUP_TRY, &lk),
				 -EINVAL);
		ck_assert_int_eq(gmem_page_lookup(g, 0, GMEM_LOOKUP_TRY,
						  &big.lk), -E2BIG);
		ck_assert_int_eq(gmem_page_lookup_frames(
					 g, many, 1, GMEM_LOOKUP_TRY, &big.lk),
				 -E2BIG);
		big.extra = 0;
		ck_assert_int_eq(gmem_page_lookup(g, 0, GMEM_LOOKUP_TRY,
						  &big.lk), 0);
		lk.sz = offsetof(struct gmem_lookup, vcpu);
		ck_assert_int_eq(gmem_page_lookup(g, 0, GMEM_LOOKUP_TRY, &lk),
				 0);
		lk.sz = sizeof(lk);
	}
	ck_assert_int_eq(gmem_pager_pop(g, req, 1, &n), -ENODEV);
	ck_assert_int_eq(gmem_page_ready_pop(g, NULL, 0, &n), -ENODEV);
	/* Paged out with no pager to ask: -ENODEV, and nothing changed. */
	ck_assert_int_eq(gmem_page_nominate(g, 0, 64, NULL), 0);
	ck_assert_int_eq(gmem_page_evict(g, 0, 64, NULL), 0);
	ck_assert_int_eq(gmem_page_lookup(g, 3, GMEM_LOOKUP_TRY, &lk), -ENODEV);
	ck_assert_int_eq(gmem_page_lookup(g, 3, GMEM_LOOKUP_QUERY, &lk),
			 -EAGAIN);
	ck_assert_int_eq(lk.state, GMEM_PAGE_PAGED);
	pa.ring_size = 8;
	ck_assert_int_eq(gmem_pager_attach(g, &pa), -EINVAL);
	pa.ring_size = GMEM_LOOKUP_MAX;
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	ck_assert_int_eq(gmem_pager_attach(g, &pa), -EBUSY);
	/* Complete without a request: nothing to complete. */
	ck_assert_int_eq(gmem_page_complete(g, 3, 1, 0, NULL), -EINVAL);
	/* A full ring: -EBUSY when asked not to wait, nothing changed. */
	for (i = 0; i < GMEM_LOOKUP_MAX; i++)
		ck_assert_int_eq(gmem_page_lookup(g, i, GMEM_LOOKUP_TRY |
						  GMEM_LOOKUP_NO_WAIT_RING,
						  &lk), -EAGAIN);
	ck_assert_int_eq(gmem_page_lookup(g, 40, GMEM_LOOKUP_TRY |
					  GMEM_LOOKUP_NO_WAIT_RING, &lk),
			 -EBUSY);
	ck_assert_int_eq(gmem_page_lookup(g, 40, GMEM_LOOKUP_QUERY, &lk),
			 -EAGAIN);
	ck_assert_int_eq(lk.state, GMEM_PAGE_PAGED);
	/*
	 * Else TRY never waits for room: with the ring full and a pager
	 * that does not pop, it returns at once with a token, its block
	 * deferred (still PAGED) and asked for once, however often.
	 */
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(gmem_page_lookup(g, 40 + i, GMEM_LOOKUP_TRY,
						  &lk), -EAGAIN);
		ck_assert_uint_eq(lk.state, GMEM_PAGE_PAGED);
		tok[i] = lk.token;
	}
	ck_assert_int_eq(gmem_page_lookup(g, 40, GMEM_LOOKUP_TRY, &lk),
			 -EAGAIN);
	ck_assert_uint_eq(lk.token, tok[0]);
	/* Served after the ring's requests, in the order asked. */
	ck_assert_int_eq(gmem_pager_pop(g, req, GMEM_LOOKUP_MAX, &n), 0);
	ck_assert_uint_eq(n, GMEM_LOOKUP_MAX);
	ck_assert_int_eq(gmem_pager_pop(g, req, GMEM_LOOKUP_MAX, &n), 0);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(req[i].gfn, 40 + i);
		ck_assert_int_eq(gmem_page_lookup(g, 40 + i, GMEM_LOOKUP_QUERY,
						  &lk), -EAGAIN);
		ck_assert_uint_eq(lk.state, GMEM_PAGE_PAGING_IN);
	}
	ck_assert_int_eq(gmem_pager_pop(g, req, GMEM_LOOKUP_MAX, &n), 0);
	ck_assert_uint_eq(n, 0);
	/* Their tokens complete as any other. */
	ck_assert_int_eq(gmem_page_load(g, 40, 4, NULL, NULL), 0);
	ck_assert_int_eq(gmem_page_complete(g, 40, 4, 0, NULL), 0);
	ck_assert_int_eq(gmem_page_ready_pop(g, ready, 8, &n), 0);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(ready[i].token, tok[i]);
		ck_assert_uint_eq(ready[i].gfn, 40 + i);
		ck_assert_int_eq(ready[i].status, 0);
	}
	/* A deferred block requested meanwhile by a WAIT's ring slot is
	 * not asked for twice. */
	for (i = 0; i < GMEM_LOOKUP_MAX; i++)
		ck_assert_int_eq(gmem_page_lookup(g, 44 + i, GMEM_LOOKUP_TRY,
						  &lk), -EAGAIN);
	ck_assert_int_eq(gmem_page_lookup(g, 60, GMEM_LOOKUP_TRY, &lk),
			 -EAGAIN);
	/* WAIT does wait for room. */
	pp.g = g;
	pp.gfn = 60;
	atomic_store(&pp.popped, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, pop_later, &pp), 0);
	ck_assert_int_eq(gmem_page_lookup(g, 60, GMEM_LOOKUP_WAIT, &lk), 0);
	ck_assert_int_eq(atomic_load(&pp.popped), 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(gmem_pager_pop(g, req, GMEM_LOOKUP_MAX, &n), 0);
	for (i = 0; i < n; i++)
		ck_assert_uint_ne(req[i].gfn, 60);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("page");
	TCase *tc = tcase_create("paging");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, paging_follows_model);
	tcase_add_test(tc, eviction_waits_for_sync);
	tcase_add_test(tc, allocation_failure_changes_nothing);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, lookup_bad_input_and_full_ring);
	tcase_add_test(tc, pager_detach);
	tcase_add_test(tc, present_lookup_allocates_nothing);
	tcase_add_test(tc, eventfds_wake_pager_and_vmm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
