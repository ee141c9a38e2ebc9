/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Randomized differential test: the library and the model take the same
 * operations over varied region layouts, and every answer must agree:
 * errors and failing frames, attributes, uniformity, runs, the runs each
 * listener is told of, and statistics.
 *
 * GMEM_DIFF_OPS sets the number of operations (default 1,000,000, split
 * over the layouts); GMEM_DIFF_SEED the seed.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES
#define PIECE 512

struct layout {
	const char *name;
	struct { uint64_t gfn, npages; unsigned int attr; } r[6];
	int n;
	int listeners;	/* 0: none; 2: a recorder and a refuser */
};

static const struct layout layouts[] = {
	{ "one 4 GiB region", { { 0, 4 * GIB, GMEM_ATTR_PRIVATE } }, 1, 0 },
	{ "small regions sharing slots, holes",
	  { { 0, 160, GMEM_ATTR_PRIVATE },
	    { 256, 3 * GIB / 4, GMEM_ATTR_SHARED },
	    { 3 * GIB / 4 + 1000, GIB / 4 + 4000, GMEM_ATTR_PRIVATE },
	    { 3 * GIB + 17, 983, GMEM_ATTR_SHARED } }, 4, 2 },
	{ "unaligned region over 1 GiB",
	  { { GIB / 2 + 7, 5 * GIB / 2 - 340, GMEM_ATTR_PRIVATE },
	    { 3 * GIB - 100, 150, GMEM_ATTR_SHARED } }, 2, 0 },
	{ "adjacent regions, high addresses",
	  { { 64 * GIB, GIB, GMEM_ATTR_SHARED },
	    { 65 * GIB, 700, GMEM_ATTR_PRIVATE },
	    { 65 * GIB + 700, 2 * GIB + 3, GMEM_ATTR_PRIVATE } }, 3, 2 },
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* What the listeners were told, in order. */
struct event {
	int who;
	enum gmem_phase phase;
	struct gmem_run run;
};

struct log {
	struct event *ev;
	size_t n, cap;
	long refuse_at;		/* refuser's PREPARE index to refuse; -1 never */
	long refuser_seen;
};

static void log_add(struct log *log, int who, enum gmem_phase phase,
		    const struct gmem_run *run)
{
	if (log->n == log->cap) {
		log->cap = log->cap ? log->cap * 2 : 1024;
		log->ev = realloc(log->ev, log->cap * sizeof(*log->ev));
		ck_assert_ptr_nonnull(log->ev);
	}
	log->ev[log->n].who = who;
	log->ev[log->n].phase = phase;
	log->ev[log->n++].run = *run;
}

static int recorder(void *ctx, enum gmem_phase phase, const struct gmem_run *run)
{
	log_add(ctx, 0, phase, run);
	return 0;
}

static int refuser(void *ctx, enum gmem_phase phase, const struct gmem_run *run)
{
	struct log *log = ctx;

	if (phase == GMEM_PHASE_PREPARE && log->refuser_seen++ == log->refuse_at)
		return -EPERM;
	log_add(log, 1, phase, run);
	return 0;
}

/* Expected events, built from the model's changed runs. */
struct runs {
	struct gmem_run *v;
	size_t n, cap;
};

static void runs_add(void *ctx, const struct gmem_run *run)
{
	struct runs *rs = ctx;

	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 1024;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		ck_assert_ptr_nonnull(rs->v);
	}
	rs->v[rs->n++] = *run;
}

static void expect_event(const struct log *log, size_t *at, int who,
			 enum gmem_phase phase, const struct gmem_run *run)
{
	const struct event *e;

	ck_assert_uint_lt(*at, log->n);
	e = &log->ev[(*at)++];
	ck_assert_int_eq(e->who, who);
	ck_assert_int_eq(e->phase, phase);
	ck_assert_uint_eq(e->run.gfn, run->gfn);
	ck_assert_uint_eq(e->run.npages, run->npages);
	ck_assert_uint_eq(e->run.attr, run->attr);
}

/*
 * The exact sequence two listeners must see: PREPARE of every run to the
 * recorder, then to the refuser until it refuses at index k (k < 0: never);
 * on refusal CANCEL in reverse, else COMMIT of every run to both.
 */
static void check_events(const struct log *log, const struct runs *rs,
			 long k, bool committed)
{
	size_t at = 0, i;

	for (i = 0; i < rs->n; i++)
		expect_event(log, &at, 0, GMEM_PHASE_PREPARE, &rs->v[i]);
	for (i = 0; i < rs->n && (k < 0 || (long)i < k); i++)
		expect_event(log, &at, 1, GMEM_PHASE_PREPARE, &rs->v[i]);
	if (!committed) {
		while (i-- > 0)
			expect_event(log, &at, 1, GMEM_PHASE_CANCEL, &rs->v[i]);
		for (i = rs->n; i-- > 0;)
			expect_event(log, &at, 0, GMEM_PHASE_CANCEL, &rs->v[i]);
	} else {
		for (i = 0; i < rs->n; i++)
			expect_event(log, &at, 0, GMEM_PHASE_COMMIT, &rs->v[i]);
		for (i = 0; i < rs->n; i++)
			expect_event(log, &at, 1, GMEM_PHASE_COMMIT, &rs->v[i]);
	}
	ck_assert_uint_eq(at, log->n);
}

/* A frame anywhere near the layout: mostly in regions, some in holes. */
static uint64_t pick_gfn(const struct model *m)
{
	const struct model_region *r = &m->r[rnd_below((uint64_t)m->n)];
	uint64_t span = r->end - r->gfn;

	switch (rnd_below(16)) {
	case 0:
		return r->end + rnd_below(300);	/* past the end */
	case 1:
		return r->gfn > 300 ? r->gfn - 1 - rnd_below(300) : r->end;
	case 2:
		return r->end - 1 - rnd_below(span < 600 ? span : 600);
	case 3: /* 2 MiB-aligned */
		return r->gfn + (rnd_below(span) & ~(uint64_t)(PIECE - 1));
	default:
		return r->gfn + rnd_below(span);
	}
}

static uint64_t pick_len(uint64_t gfn, const struct model *m)
{
	const struct model_region *r = model_region_of(m, gfn);
	uint64_t room = r ? r->end - gfn : 1000;

	switch (rnd_below(24)) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		return 1;
	case 6: case 7: case 8: case 9:
		return 1 + rnd_below(600);
	case 10: case 11:
		return PIECE;
	case 12: case 13:
		return PIECE * (1 + rnd_below(8));
	case 14: case 15:
		return 1 + rnd_below(3 * PIECE);
	case 16:
		return GIB;
	case 17:
		return 1 + rnd_below(room);	/* may reach the region end */
	case 18:
		return room + rnd_below(3);	/* at or past the end */
	case 19:
		return rnd_below(64) ? 1 + rnd_below(4096)
				     : room + rnd_below(2); /* rare: all */
	default:
		return 1 + rnd_below(64);
	}
}

static uint64_t pick_range(const struct model *m, uint64_t *len)
{
	uint64_t gfn = pick_gfn(m);

	*len = pick_len(gfn, m);
	if (*len % PIECE == 0 && rnd_below(2))
		gfn &= ~(uint64_t)(PIECE - 1);
	if (*len == GIB && rnd_below(2))
		gfn &= ~(GIB - 1);
	return gfn;
}

/* Whether frames [f, f + n) of region r hold both attributes. */
static bool model_mixed(const struct model_region *r, uint64_t f, uint64_t n)
{
	uint64_t i;

	for (i = 1; i < n; i++)
		if (r->attr[f + i] != r->attr[f])
			return true;
	return false;
}

/*
 * Where regions cover whole 1 GiB slots, the library's count of mixed
 * blocks and pieces is observable exactly: it proves the summaries
 * collapse when a piece or block becomes uniform again.
 */
static void check_mixed(const struct gmem_guest_stats *st,
			const struct model *m)
{
	uint64_t blocks = 0, pieces = 0, f;
	int i;

	for (i = 0; i < m->n; i++) {
		const struct model_region *r = &m->r[i];

		if (r->gfn % GIB || r->end % GIB)
			return;
		for (f = 0; f < r->end - r->gfn; f += PIECE)
			pieces += model_mixed(r, f, PIECE);
		for (f = 0; f < r->end - r->gfn; f += GIB)
			blocks += model_mixed(r, f, GIB);
	}
	ck_assert_uint_eq(st->mixed_pieces, pieces);
	ck_assert_uint_eq(st->mixed_blocks, blocks);
}

static void full_check(struct gmem_guest *g, const struct model *m)
{
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);
	int i;

	for (i = 0; i < m->n; i++) {
		uint64_t at = m->r[i].gfn, end = m->r[i].end;

		while (at < end) {
			struct gmem_run a, b;

			ck_assert_int_eq(gmem_run_get(g, at, end - at, &a), 0);
			ck_assert_int_eq(model_run(m, at, end - at, &b), 0);
			ck_assert_uint_eq(a.gfn, b.gfn);
			ck_assert_uint_eq(a.npages, b.npages);
			ck_assert_uint_eq(a.attr, b.attr);
			at += a.npages;
		}
	}
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.shared_frames, model_shared_frames(m));
	ck_assert_uint_eq(st.nregions, (uint64_t)m->n);
	check_mixed(&st, m);
}

static void do_convert(struct gmem_guest *g, struct model *m, struct log *log,
		       int listeners)
{
	GMEM_OPTS(gmem_convert_opts, copts, .flags = 0);
	struct runs rs = { 0 };
	uint64_t len, gfn = pick_range(m, &len), mfail;
	unsigned int attr = (unsigned int)rnd_below(2);
	bool split = rnd_below(8) == 0, abort_it = split && rnd_below(2);
	struct gmem_txn *txn = NULL;
	long k = -1;
	int err, merr;

	if (model_check_range(m, gfn, len, &mfail) == 0)
		model_changes(m, gfn, len, attr, runs_add, &rs);
	log->n = 0;
	log->refuser_seen = 0;
	if (listeners && rs.n && !abort_it && rnd_below(16) == 0)
		k = (long)rnd_below(rs.n);
	log->refuse_at = k;

	if (split) {
		err = gmem_convert_prepare(g, gfn, len, attr, &copts, &txn);
		if (!err)
			ck_assert_int_eq(abort_it ? gmem_convert_abort(txn)
						  : gmem_convert_commit(txn), 0);
	} else {
		err = gmem_convert(g, gfn, len, attr, &copts);
	}
	merr = model_check_range(m, gfn, len, &mfail);
	if (merr) {
		ck_assert_int_eq(err, merr);
		ck_assert_uint_eq(copts.fail_gfn, mfail);
		ck_assert_uint_eq(log->n, 0);
	} else if (k >= 0) {
		ck_assert_int_eq(err, -EPERM);
		ck_assert_uint_eq(copts.fail_gfn, rs.v[k].gfn);
		check_events(log, &rs, k, false);
	} else if (abort_it) {
		ck_assert_int_eq(err, 0);
		if (listeners)
			check_events(log, &rs, -1, false);
	} else {
		ck_assert_int_eq(err, 0);
		ck_assert_int_eq(model_convert(m, gfn, len, attr, &mfail), 0);
		if (listeners)
			check_events(log, &rs, -1, true);
	}
	free(rs.v);
}

static void do_query(struct gmem_guest *g, const struct model *m)
{
	uint64_t len, gfn = pick_range(m, &len);
	unsigned int a = 9, b = 9;
	struct gmem_run ra, rb;

	switch (rnd_below(3)) {
	case 0:
		ck_assert_int_eq(gmem_attr_get(g, gfn, &a), model_attr(m, gfn, &b));
		ck_assert_uint_eq(a, b);
		break;
	case 1:
		ck_assert_int_eq(gmem_range_attr(g, gfn, len, &a),
				 model_range_attr(m, gfn, len, &b));
		ck_assert_uint_eq(a, b);
		break;
	default:
		memset(&ra, 0, sizeof(ra));
		memset(&rb, 0, sizeof(rb));
		ck_assert_int_eq(gmem_run_get(g, gfn, len, &ra),
				 model_run(m, gfn, len, &rb));
		ck_assert_uint_eq(ra.gfn, rb.gfn);
		ck_assert_uint_eq(ra.npages, rb.npages);
		ck_assert_uint_eq(ra.attr, rb.attr);
	}
}

START_TEST(test_differential)
{
	const struct layout *lay = &layouts[_i];
	uint64_t nops = test_env_u64("GMEM_DIFF_OPS", 1000000) /
			(sizeof(layouts) / sizeof(layouts[0]));
	uint64_t seed = test_env_u64("GMEM_DIFF_SEED", 0x9e3779b97f4a7c15);
	uint64_t op, pfn;
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_listener *l[2];
	struct log log = { 0 };
	struct model m;
	int i;

	rng_state = seed + (uint64_t)_i * 0x1234567;
	test_alloc_init(&ta);
	GMEM_OPTS(gmem_pool_opts, popts, .alloc = &ta.ops);
	ck_assert_int_eq(gmem_pool_create(&popts, &pool), 0);
	/* Two frame ranges, one not aligned, so blocks come from both. */
	for (pfn = 16 * GIB; pfn < 24 * GIB; pfn += 4 * GIB)
		ck_assert_int_eq(gmem_pool_add_frames(pool, pfn + 5, 4 * GIB, 0,
						      NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	model_init(&m);
	for (i = 0; i < lay->n; i++) {
		GMEM_OPTS(gmem_region_opts, ropts, .attr = lay->r[i].attr);

		ck_assert_int_eq(gmem_region_add(g, lay->r[i].gfn,
						 lay->r[i].npages, &ropts), 0);
		ck_assert_int_eq(model_add_region(&m, lay->r[i].gfn,
						  lay->r[i].npages,
						  lay->r[i].attr), 0);
	}
	if (lay->listeners) {
		ck_assert_int_eq(gmem_listener_add(g, recorder, &log, NULL,
						   &l[0]), 0);
		ck_assert_int_eq(gmem_listener_add(g, refuser, &log, NULL,
						   &l[1]), 0);
	}
	full_check(g, &m);
	for (op = 0; op < nops; op++) {
		if (rnd_below(100) < 45)
			do_convert(g, &m, &log, lay->listeners);
		else
			do_query(g, &m);
		if (op % 25000 == 24999) {
			full_check(g, &m);
		} else if (op % 500 == 499) {
			GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);

			ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
			ck_assert_uint_eq(st.shared_frames, m.shared);
		}
	}
	full_check(g, &m);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	ck_assert_int_eq(ta.live_bytes, 0);
	ck_assert_int_eq(ta.live_objects, 0);
	model_fini(&m);
	free(log.ev);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("differential");
	TCase *tc = tcase_create("model");

	tcase_set_timeout(tc, 1200);
	tcase_add_loop_test(tc, test_differential, 0,
			    (int)(sizeof(layouts) / sizeof(layouts[0])));
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
