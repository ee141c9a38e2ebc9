/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The differential driver: the library and the model take the same
 * operations over a region layout, and every answer must agree: errors
 * and failing frames, attributes, uniformity, runs, the runs each
 * listener is told of, statistics, and at the end that nothing leaked.
 *
 * Every choice the driver makes comes from a source, so the same driver
 * serves the randomized test (a seeded generator) and the fuzzing
 * harness (the fuzzer's bytes). A mismatch calls diff_fail.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "model.h"
#include "test_alloc.h"

void (*diff_fail)(const char *msg);

static void failed(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	diff_fail(msg);
	abort();	/* diff_fail does not return */
}

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			failed(__FILE__, __LINE__, "%s", #cond);             \
	} while (0)

#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);          \
									     \
		if (a_ != b_)                                                \
			failed(__FILE__, __LINE__, "%s == %s: %lld != %lld", \
			       #a, #b, a_, b_);                              \
	} while (0)

#define GIB GMEM_BLOCK_FRAMES
#define PIECE 512

const struct diff_layout diff_layouts[] = {
	{ "one 4 GiB region", { { 0, 4 * GIB, GMEM_ATTR_PRIVATE } }, 1, 0, 0 },
	{ "small regions sharing slots, holes",
	  { { 0, 160, GMEM_ATTR_PRIVATE },
	    { 256, 3 * GIB / 4, GMEM_ATTR_SHARED },
	    { 3 * GIB / 4 + 1000, GIB / 4 + 4000, GMEM_ATTR_PRIVATE },
	    { 3 * GIB + 17, 983, GMEM_ATTR_SHARED } }, 4, 2, 0 },
	{ "unaligned region over 1 GiB",
	  { { GIB / 2 + 7, 5 * GIB / 2 - 340, GMEM_ATTR_PRIVATE },
	    { 3 * GIB - 100, 150, GMEM_ATTR_SHARED } }, 2, 0, 0 },
	{ "adjacent regions, high addresses",
	  { { 64 * GIB, GIB, GMEM_ATTR_SHARED },
	    { 65 * GIB, 700, GMEM_ATTR_PRIVATE },
	    { 65 * GIB + 700, 2 * GIB + 3, GMEM_ATTR_PRIVATE } }, 3, 2, 0 },
	{ "64 KiB conversion granule",
	  { { 0, GIB + 4096, GMEM_ATTR_PRIVATE },
	    { 2 * GIB - 16 * 300, 16 * 700, GMEM_ATTR_SHARED } }, 2, 0, 16 },
};

const unsigned int diff_nlayouts =
	sizeof(diff_layouts) / sizeof(diff_layouts[0]);

static struct diff_source *source;

static uint64_t rnd(void)
{
	return source->next(source->ctx);
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
		CHECK(log->ev);
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
		CHECK(rs->v);
	}
	rs->v[rs->n++] = *run;
}

static void expect_event(const struct log *log, size_t *at, int who,
			 enum gmem_phase phase, const struct gmem_run *run)
{
	const struct event *e;

	CHECK(*at < log->n);
	e = &log->ev[(*at)++];
	CHECK_EQ(e->who, who);
	CHECK_EQ(e->phase, phase);
	CHECK_EQ(e->run.gfn, run->gfn);
	CHECK_EQ(e->run.npages, run->npages);
	CHECK_EQ(e->run.attr, run->attr);
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
	CHECK_EQ(at, log->n);
}

/*
 * Frames picked lately: half the picks land on or near one of them, so
 * that states are undone and pieces and slots turn uniform again.
 */
#define RECENT 16
static uint64_t recent[RECENT];
static unsigned int nrecent;

static uint64_t pick_near(void)
{
	uint64_t base = recent[rnd_below(nrecent < RECENT ? nrecent : RECENT)];

	switch (rnd_below(4)) {
	case 0:
		return base;
	case 1:
		return base >= 8 ? base - 8 + rnd_below(17) : base + rnd_below(8);
	case 2:
		return (base & ~(uint64_t)(PIECE - 1)) + rnd_below(PIECE);
	default:
		return base & ~(uint64_t)(PIECE - 1);
	}
}

static uint64_t pick_far(const struct model *m)
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

/* A frame anywhere near the layout: mostly in regions, some in holes. */
static uint64_t pick_gfn(const struct model *m)
{
	uint64_t gfn = nrecent && rnd_below(2) ? pick_near() : pick_far(m);

	recent[nrecent++ % RECENT] = gfn;
	return gfn;
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
	/* With a granule, most ranges keep to it; the rest must fail. */
	if (m->granule > 1 && rnd_below(8)) {
		gfn -= gfn % m->granule;
		*len += (m->granule - *len % m->granule) % m->granule;
	}
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
	CHECK_EQ(st->mixed_pieces, pieces);
	CHECK_EQ(st->mixed_blocks, blocks);
}

/* The runs of [at, end), which lies in one region, agree. */
static void check_runs(struct gmem_guest *g, const struct model *m,
		       uint64_t at, uint64_t end)
{
	while (at < end) {
		struct gmem_run a, b;

		CHECK_EQ(gmem_run_get(g, at, end - at, &a), 0);
		CHECK_EQ(model_run(m, at, end - at, &b), 0);
		CHECK_EQ(a.gfn, b.gfn);
		CHECK_EQ(a.npages, b.npages);
		CHECK_EQ(a.attr, b.attr);
		at += a.npages;
	}
}

/* After a conversion: its range and a margin around it, in its region. */
static void check_around(struct gmem_guest *g, const struct model *m,
			 uint64_t gfn, uint64_t len)
{
	const struct model_region *r = model_region_of(m, gfn);
	uint64_t lo = gfn > r->gfn + PIECE ? gfn - PIECE : r->gfn;
	uint64_t hi = r->end - (gfn + len) > PIECE ? gfn + len + PIECE : r->end;

	check_runs(g, m, lo, hi);
}

static void full_check(struct gmem_guest *g, const struct model *m)
{
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);
	int i;

	for (i = 0; i < m->n; i++)
		check_runs(g, m, m->r[i].gfn, m->r[i].end);
	CHECK_EQ(gmem_guest_stats(g, &st), 0);
	CHECK_EQ(st.shared_frames, model_shared_frames(m));
	CHECK_EQ(st.nregions, (uint64_t)m->n);
	CHECK_EQ(st.conversions, m->conversions);
	CHECK_EQ(st.converted_frames, m->converted);
	CHECK_EQ(st.refusals, m->refusals);
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
	bool plain = false;
	struct gmem_txn *txn = NULL;
	long k = -1;
	int err, merr;

	if (model_check_convert(m, gfn, len, &mfail) == 0)
		model_changes(m, gfn, len, attr, runs_add, &rs);
	log->n = 0;
	log->refuser_seen = 0;
	if (listeners && rs.n && !abort_it && rnd_below(16) == 0)
		k = (long)rnd_below(rs.n);
	log->refuse_at = k;

	if (split) {
		err = gmem_convert_prepare(g, gfn, len, attr, &copts, &txn);
		if (!err)
			CHECK_EQ(abort_it ? gmem_convert_abort(txn)
						  : gmem_convert_commit(txn), 0);
	} else {
		/* Without options the failing frame is not reported. */
		plain = rnd_below(4) == 0;
		err = gmem_convert(g, gfn, len, attr, plain ? NULL : &copts);
	}
	merr = model_check_convert(m, gfn, len, &mfail);
	if (merr) {
		CHECK_EQ(err, merr);
		CHECK(plain || copts.fail_gfn == mfail);
		CHECK_EQ(log->n, 0);
	} else if (k >= 0) {
		m->refusals++;
		CHECK_EQ(err, -EPERM);
		CHECK(plain || copts.fail_gfn == rs.v[k].gfn);
		check_events(log, &rs, k, false);
	} else if (abort_it) {
		CHECK_EQ(err, 0);
		if (listeners)
			check_events(log, &rs, -1, false);
	} else {
		CHECK_EQ(err, 0);
		CHECK_EQ(model_convert(m, gfn, len, attr, &mfail), 0);
		check_around(g, m, gfn, len);
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
		CHECK_EQ(gmem_attr_get(g, gfn, &a), model_attr(m, gfn, &b));
		CHECK_EQ(a, b);
		break;
	case 1:
		CHECK_EQ(gmem_range_attr(g, gfn, len, &a),
				 model_range_attr(m, gfn, len, &b));
		CHECK_EQ(a, b);
		break;
	default:
		memset(&ra, 0, sizeof(ra));
		memset(&rb, 0, sizeof(rb));
		CHECK_EQ(gmem_run_get(g, gfn, len, &ra),
				 model_run(m, gfn, len, &rb));
		CHECK_EQ(ra.gfn, rb.gfn);
		CHECK_EQ(ra.npages, rb.npages);
		CHECK_EQ(ra.attr, rb.attr);
	}
}

void diff_layout_guest(const struct diff_layout *lay, struct gmem_pool *pool,
		       struct gmem_guest **g, struct model *m)
{
	GMEM_OPTS(gmem_guest_opts, gopts, .node = -1, .granule = lay->granule);
	uint64_t pfn;
	int i;

	for (pfn = 16 * GIB; pfn < 24 * GIB; pfn += 4 * GIB)
		CHECK_EQ(gmem_pool_add_frames(pool, pfn + 5, 4 * GIB, 0, NULL),
			 0);
	CHECK_EQ(gmem_guest_create(pool, &gopts, g), 0);
	model_init(m);
	m->granule = lay->granule ? lay->granule : 1;
	for (i = 0; i < lay->n; i++) {
		GMEM_OPTS(gmem_region_opts, ropts, .attr = lay->r[i].attr);

		CHECK_EQ(gmem_region_add(*g, lay->r[i].gfn, lay->r[i].npages,
					 &ropts), 0);
		CHECK_EQ(model_add_region(m, lay->r[i].gfn, lay->r[i].npages,
					  lay->r[i].attr), 0);
	}
}

void diff_run(unsigned int layout, uint64_t nops, struct diff_source *src)
{
	const struct diff_layout *lay = &diff_layouts[layout];
	uint64_t op;
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_listener *l[2];
	struct log log = { 0 };
	struct model m;

	source = src;
	nrecent = 0;
	test_alloc_init(&ta);
	GMEM_OPTS(gmem_pool_opts, popts, .alloc = &ta.ops);
	CHECK_EQ(gmem_pool_create(&popts, &pool), 0);
	diff_layout_guest(lay, pool, &g, &m);
	if (lay->listeners) {
		CHECK_EQ(gmem_listener_add(g, recorder, &log, NULL,
						   &l[0]), 0);
		CHECK_EQ(gmem_listener_add(g, refuser, &log, NULL,
						   &l[1]), 0);
	}
	full_check(g, &m);
	for (op = 0; op < nops && !src->dry(src->ctx); op++) {
		if (rnd_below(100) < 45)
			do_convert(g, &m, &log, lay->listeners);
		else
			do_query(g, &m);
		if (op % 25000 == 24999) {
			full_check(g, &m);
		} else if (op % 500 == 499) {
			GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);

			CHECK_EQ(gmem_guest_stats(g, &st), 0);
			CHECK_EQ(st.shared_frames, m.shared);
			CHECK_EQ(st.conversions, m.conversions);
		}
	}
	full_check(g, &m);
	CHECK_EQ(gmem_guest_destroy(g), 0);
	CHECK_EQ(gmem_pool_destroy(pool), 0);
	CHECK_EQ(ta.live_bytes, 0);
	CHECK_EQ(ta.live_objects, 0);
	model_fini(&m);
	free(log.ev);
}
