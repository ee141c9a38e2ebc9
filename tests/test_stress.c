/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Concurrency: threads convert and query the same guest at once.
 *
 *  - Writers convert frames of pieces they own in the same slots, so they
 *    contend for the slots' locks, and each keeps its own per-frame
 *    record. At the end every frame must match the records.
 *  - A cycler converts one slot in a fixed sequence of steps: the whole
 *    slot, then whole pieces and half pieces the other way, so the
 *    slot's details keep being freed and reused. It counts the steps.
 *  - Readers query that slot meanwhile. An answer must be the state
 *    after one of the steps counted while the query ran (linearizable);
 *    and a piece nobody converts must keep its pattern.
 *
 * Run once as one-shot conversions on the default heap, and once with a
 * listener (so every conversion is a transaction, and writers wait for
 * each other's slot holds) on a counting malloc heap, which must be empty
 * at the end; the listener's tally of shared frames must match the
 * guest's. That run also has invalidation notifiers, dispatched from all
 * threads at once: one over the whole guest must be told of exactly the
 * frames the listener saw change, one-shots on small ranges fire at
 * most once each, and a one-shot's callback removes a whole-guest
 * notifier that other threads' dispatches may be calling.
 *
 * A pinner pins one frame after another of a piece of a writers' slot
 * while a flipper converts that whole piece back and forth: a pinned
 * frame's attribute must not change while the pin is held, and each
 * conversion either succeeds or fails with -EBUSY.
 *
 * GMEM_STRESS_OPS: conversions per writer (default 1,000,000).
 * GMEM_STRESS_MALLOC=1: both runs on the malloc heap (for ThreadSanitizer,
 * which cannot see the ordering jemalloc gives to reused memory).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES
#define PIECE 512
#define SLOTS 4
#define FRAMES (SLOTS * GIB)
#define CYCLED_SLOT 2
#define WRITERS 3
#define READERS 2
/* Piece 0 of slot 0 holds a fixed pattern nobody converts. */
#define STABLE_PIECE 0
/* The piece the pinner and the flipper share, in slot 1. */
#define PINNED_PIECE (GIB / PIECE + 7 * WRITERS)

struct stress {
	struct gmem_guest *g;
	unsigned char *model;		/* per frame; each writer its own */
	uint64_t ops;
	atomic_bool stop;
	atomic_ullong steps;		/* the cycler's steps done */
	atomic_int failures;
	char first_failure[160];
	atomic_llong listener_shared;	/* shared frames, by COMMITs */
	atomic_llong listener_changed;	/* frames, by COMMITs */
	atomic_llong notified;		/* frames, by the whole-guest notifier */
	atomic_int oneshot_fired[64];
	struct gmem_notifier *victim[2];	/* removed by the killer's callback */
	atomic_llong victim_told[2];	/* frames, by each victim */
	atomic_bool victim_gone;
	atomic_bool pins_done;
	atomic_ullong flips;		/* the flipper's conversions done */
};

struct worker {
	struct stress *st;
	int id;
	uint64_t rng;
};

static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * UINT64_C(2685821657736338717);
}

static void note_failure(struct stress *st, const char *what, uint64_t gfn, int v)
{
	if (atomic_fetch_add(&st->failures, 1) == 0)
		snprintf(st->first_failure, sizeof(st->first_failure),
			 "%s at frame %llu (%d)", what,
			 (unsigned long long)gfn, v);
}

static bool stable_shared(uint64_t off)
{
	return off % 3 == 0;
}

/* Pieces of slots other than the cycled one, numbered over those slots. */
static uint64_t writer_piece(struct worker *w)
{
	const uint64_t per_writer = 3 * GIB / PIECE / WRITERS;
	uint64_t k, p;

	do {
		k = rnd(w) % per_writer;
		p = k * WRITERS + (uint64_t)w->id;
	} while (p == STABLE_PIECE || p == PINNED_PIECE);
	/* skip over the cycled slot */
	if (p >= CYCLED_SLOT * GIB / PIECE)
		p += GIB / PIECE;
	return p;
}

static void *writer(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;
	uint64_t i;

	for (i = 0; i < st->ops; i++) {
		uint64_t base = writer_piece(w) * PIECE, lo, n, f;
		unsigned int attr = rnd(w) & 1;
		unsigned int kind = rnd(w) % 8;
		int err;

		if (kind == 0) {
			lo = 0;
			n = PIECE;
		} else if (kind < 6) {
			lo = rnd(w) % PIECE;
			n = 1;
		} else {
			lo = rnd(w) % PIECE;
			n = 1 + rnd(w) % (PIECE - lo);
		}
		err = gmem_convert(st->g, base + lo, n, attr, NULL);
		if (err) {
			note_failure(st, "writer conversion failed", base + lo, err);
			break;
		}
		for (f = base + lo; f < base + lo + n; f++)
			st->model[f] = (unsigned char)attr;
	}
	return NULL;
}

static void *pinner(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;
	uint64_t i, base = (uint64_t)PINNED_PIECE * PIECE;

	for (i = 0; i < st->ops / 16 + 100; i++) {
		uint64_t f = base + rnd(w) % PIECE, flips;
		uint64_t n = f + 1 < base + PIECE && rnd(w) % 4 == 0 ? 2 : 1;
		unsigned int a, b;
		int k, err = gmem_pin(st->g, f, n, NULL);

		if (err) {
			note_failure(st, "pin failed", f, err);
			break;
		}
		gmem_attr_get(st->g, f, &a);
		/* Hold it while the flipper tries at least twice. */
		flips = atomic_load(&st->flips);
		for (k = 0; k < 1000000 && atomic_load(&st->flips) < flips + 2;
		     k++)
			;
		gmem_attr_get(st->g, f, &b);
		if (a != b)
			note_failure(st, "a pinned frame changed", f, (int)b);
		err = gmem_unpin(st->g, f, n, NULL);
		if (err) {
			note_failure(st, "unpin failed", f, err);
			break;
		}
	}
	atomic_store(&st->pins_done, true);
	return NULL;
}

static void *flipper(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;
	uint64_t i, f, base = (uint64_t)PINNED_PIECE * PIECE;

	for (i = 0; !atomic_load(&st->pins_done); i++) {
		unsigned int attr = (unsigned int)(i & 1);
		int err = gmem_convert(st->g, base, PIECE, attr, NULL);

		atomic_fetch_add(&st->flips, 1);
		if (err == -EBUSY)
			continue;
		if (err) {
			note_failure(st, "flip failed", base, err);
			break;
		}
		for (f = base; f < base + PIECE; f++)
			st->model[f] = (unsigned char)attr;
	}
	return NULL;
}

/* The cycler's steps: step s is sub-step s % CYCLE of round s / CYCLE.
 * Sub-step 0 converts the whole slot to the round's attribute; the
 * others convert a whole piece or its first half the other way. */
#define CYCLE 9

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

static unsigned int round_attr(uint64_t round)
{
	return mix(round) & 1;
}

static uint32_t step_piece(uint64_t step)
{
	return (uint32_t)(mix(step * 2 + 1) % (GIB / PIECE));
}

static bool step_half(uint64_t step)
{
	return mix(step * 2 + 2) & 1;
}

/* The attribute of piece k after steps 0..step (step -1: none). */
static unsigned int piece_after(int64_t step, uint32_t k)
{
	uint64_t round, s;
	unsigned int attr, other, v;

	if (step < 0)
		return GMEM_ATTR_PRIVATE;
	round = (uint64_t)step / CYCLE;
	attr = round_attr(round);
	other = !attr;
	v = attr;
	for (s = round * CYCLE + 1; s <= (uint64_t)step; s++) {
		if (step_piece(s) != k)
			continue;
		if (!step_half(s))
			v = other;
		else if (v != other)
			v = GMEM_ATTR_MIXED;
	}
	return v;
}

static void *cycler(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;
	const uint64_t slot = CYCLED_SLOT * GIB;
	uint64_t step, f;

	for (step = 0; !atomic_load(&st->stop); step++) {
		unsigned int attr = round_attr(step / CYCLE);
		int err;

		if (step % CYCLE == 0)
			err = gmem_convert(st->g, slot, GIB, attr, NULL);
		else
			err = gmem_convert(st->g, slot + step_piece(step) * PIECE,
					   step_half(step) ? PIECE / 2 : PIECE,
					   !attr, NULL);
		if (err) {
			note_failure(st, "cycler conversion failed", slot, err);
			break;
		}
		atomic_store(&st->steps, step + 1);
	}
	/* The slot's final state, for the check at the end. */
	for (f = slot; f < slot + GIB; f++)
		st->model[f] = (unsigned char)piece_after(
			(int64_t)step - 1, (uint32_t)((f - slot) / PIECE));
	for (f = slot; f < slot + GIB; f++)
		if (st->model[f] == GMEM_ATTR_MIXED)
			st->model[f] = (f - slot) % PIECE >= PIECE / 2
					       ? round_attr((step - 1) / CYCLE)
					       : !round_attr((step - 1) / CYCLE);
	return NULL;
}

/* Whether v is what piece k (or, for a frame, its first or second half)
 * was after one of the steps from..to. */
static bool seen_during(uint64_t from, uint64_t to, uint32_t k, int half,
			unsigned int v)
{
	int64_t s;

	if (to - from > 4096)
		return true;	/* the reader slept: too long to check */
	for (s = (int64_t)from - 1; s <= (int64_t)to; s++) {
		unsigned int p = piece_after(s, k);

		if (p == GMEM_ATTR_MIXED && half >= 0)
			p = half ? round_attr((uint64_t)s / CYCLE)
				 : !round_attr((uint64_t)s / CYCLE);
		if (p == v)
			return true;
	}
	return false;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	struct stress *st = w->st;

	while (!atomic_load(&st->stop)) {
		uint32_t k = (uint32_t)(rnd(w) % (GIB / PIECE));
		uint64_t p = CYCLED_SLOT * GIB + (uint64_t)k * PIECE;
		uint64_t off = rnd(w) % PIECE, from, to;
		unsigned int attr = 9, fattr = 9;

		from = atomic_load(&st->steps);
		gmem_range_attr(st->g, p, PIECE, &attr);
		gmem_attr_get(st->g, p + off, &fattr);
		to = atomic_load(&st->steps);
		if (!seen_during(from, to, k, -1, attr))
			note_failure(st, "piece state never held", p, (int)attr);
		if (!seen_during(from, to, k, off >= PIECE / 2, fattr))
			note_failure(st, "frame state never held", p + off,
				     (int)fattr);
		gmem_range_attr(st->g, STABLE_PIECE * PIECE, PIECE, &attr);
		if (attr != GMEM_ATTR_MIXED)
			note_failure(st, "stable piece not mixed", 0, (int)attr);
		gmem_attr_get(st->g, STABLE_PIECE * PIECE + off, &attr);
		if (attr != stable_shared(off))
			note_failure(st, "stable frame changed", off, (int)attr);
	}
	return NULL;
}

static int tally(void *ctx, enum gmem_phase phase, const struct gmem_run *run)
{
	struct stress *st = ctx;

	if (phase == GMEM_PHASE_COMMIT) {
		atomic_fetch_add(&st->listener_shared,
				 run->attr == GMEM_ATTR_SHARED
					 ? (long long)run->npages
					 : -(long long)run->npages);
		atomic_fetch_add(&st->listener_changed, (long long)run->npages);
	}
	return 0;
}

/* Adds the frames it is told of to the counter ctx. */
static void count_frames(void *ctx, struct gmem_notifier *n, uint64_t gfn,
			 uint64_t npages, uint32_t why)
{
	(void)n, (void)gfn, (void)why;
	atomic_fetch_add((atomic_llong *)ctx, (long long)npages);
}

static void oneshot(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		    uint64_t npages, uint32_t why)
{
	atomic_int *fired = ctx;

	(void)n, (void)gfn, (void)npages, (void)why;
	atomic_fetch_add(fired, 1);
}

/* Removes the victims (one found through the tree, one through the
 * piece index) while other threads' dispatches may be calling them. */
static void killer(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		   uint64_t npages, uint32_t why)
{
	struct stress *st = ctx;

	(void)n, (void)gfn, (void)npages, (void)why;
	if (gmem_notifier_remove(st->victim[0]) ||
	    gmem_notifier_remove(st->victim[1]))
		note_failure(st, "removing from a callback failed", gfn, -1);
	atomic_store(&st->victim_gone, true);
}

static void run_stress(bool with_listener)
{
	struct test_alloc ta;
	GMEM_OPTS(gmem_pool_opts, po, .alloc = &ta.ops);
	struct stress st = { .ops = test_env_u64("GMEM_STRESS_OPS", 1000000) };
	pthread_t th[WRITERS + 1 + READERS + 2];
	struct worker wk[WRITERS + 1 + READERS + 2];
	GMEM_OPTS(gmem_guest_stats, stats, .meta_bytes = 0);
	struct gmem_listener *l = NULL;
	struct gmem_notifier *whole = NULL, *shots[65];
	struct gmem_pool *pool;
	struct gmem_run run;
	uint64_t f, off, n = 0;
	int i;

	st.model = calloc(FRAMES, 1);
	ck_assert_ptr_nonnull(st.model);
	test_alloc_init(&ta);
	ck_assert_int_eq(gmem_pool_create(with_listener ||
							  test_env_u64("GMEM_STRESS_MALLOC",
								       0)
						  ? &po : NULL,
					  &pool),
			 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GIB, FRAMES, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &st.g), 0);
	ck_assert_int_eq(gmem_region_add(st.g, 0, FRAMES, NULL), 0);
	for (off = 0; off < PIECE; off++)
		if (stable_shared(off)) {
			ck_assert_int_eq(gmem_convert(st.g, off, 1,
						      GMEM_ATTR_SHARED, NULL), 0);
			st.model[off] = 1;
		}
	if (with_listener) {
		GMEM_OPTS(gmem_notifier_opts, once,
			  .flags = GMEM_NOTIFIER_ONESHOT);

		ck_assert_int_eq(gmem_listener_add(st.g, tally, &st, NULL, &l),
				 0);
		ck_assert_int_eq(gmem_notifier_add(st.g, 0, FRAMES, count_frames,
						   &st.notified, NULL, &whole), 0);
		/* Two frames in each of 64 pieces of the writers' slots. */
		for (i = 0; i < 64; i++)
			ck_assert_int_eq(gmem_notifier_add(st.g,
					 (uint64_t)(i % SLOTS) * GIB +
					 (uint64_t)(i / SLOTS * 8 + 1) * PIECE +
					 100, 2,
					 oneshot, &st.oneshot_fired[i], &once,
					 &shots[i]), 0);
		ck_assert_int_eq(gmem_notifier_add(st.g, 0, FRAMES, count_frames,
						   &st.victim_told[0], NULL,
						   &st.victim[0]), 0);
		ck_assert_int_eq(gmem_notifier_add(st.g, 3 * GIB + 5 * PIECE,
						   300, count_frames,
						   &st.victim_told[1], NULL,
						   &st.victim[1]), 0);
		/* Over a slot only writers convert: it fires early. */
		ck_assert_int_eq(gmem_notifier_add(st.g, 3 * GIB, GIB,
						   killer, &st, &once,
						   &shots[64]), 0);
	}

	for (i = 0; i < WRITERS + 1 + READERS + 2; i++)
		wk[i] = (struct worker){ &st, i, UINT64_C(0x9e3779b97f4a7c15) *
						       (uint64_t)(i + 1) };
	for (i = WRITERS; i < WRITERS + 1 + READERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL,
						i == WRITERS ? cycler : reader,
						&wk[i]), 0);
	ck_assert_int_eq(pthread_create(&th[i], NULL, pinner, &wk[i]), 0);
	ck_assert_int_eq(pthread_create(&th[i + 1], NULL, flipper, &wk[i + 1]),
			 0);
	for (i = 0; i < WRITERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &wk[i]),
				 0);
	for (i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	pthread_join(th[WRITERS + 1 + READERS], NULL);
	pthread_join(th[WRITERS + 2 + READERS], NULL);
	atomic_store(&st.stop, true);
	for (i = WRITERS; i < WRITERS + 1 + READERS; i++)
		pthread_join(th[i], NULL);

	ck_assert_msg(atomic_load(&st.failures) == 0, "%d failures, first: %s",
		      atomic_load(&st.failures), st.first_failure);
	ck_assert_int_eq(gmem_pin_find(st.g, 0, FRAMES, &f), -ENOENT);
	/* The guest's runs must be exactly the model's. */
	for (f = 0; f < FRAMES; f += run.npages) {
		uint64_t x;

		ck_assert_int_eq(gmem_run_get(st.g, f, FRAMES - f, &run), 0);
		for (x = f; x < f + run.npages; x++)
			if (st.model[x] != run.attr)
				ck_abort_msg("frame %llu is %u, its writer set %u",
					     (unsigned long long)x, run.attr,
					     st.model[x]);
		if (x < FRAMES && st.model[x] == run.attr)
			ck_abort_msg("run at %llu ends early at %llu",
				     (unsigned long long)f,
				     (unsigned long long)x);
		n += run.attr ? run.npages : 0;
	}
	ck_assert_int_eq(gmem_guest_stats(st.g, &stats), 0);
	ck_assert_uint_eq(stats.shared_frames, n);
	if (l) {
		/* The pattern's frames were shared before the listener came. */
		ck_assert_int_eq(atomic_load(&st.listener_shared) +
					 (PIECE + 2) / 3,
				 (long long)n);
		ck_assert_int_eq(gmem_listener_remove(l), 0);
		ck_assert_int_eq(atomic_load(&st.notified),
				 atomic_load(&st.listener_changed));
		for (i = 0; i < 64; i++) {
			ck_assert_int_le(atomic_load(&st.oneshot_fired[i]), 1);
			/* Still registered: removed here; fired: gone. */
			if (!atomic_load(&st.oneshot_fired[i]))
				ck_assert_int_eq(gmem_notifier_remove(shots[i]),
						 0);
		}
		/* The killer fired and took the victims, which heard no
		 * more than the whole guest's. */
		ck_assert(atomic_load(&st.victim_gone));
		ck_assert_int_le(atomic_load(&st.victim_told[0]),
				 atomic_load(&st.notified));
		ck_assert_int_le(atomic_load(&st.victim_told[1]),
				 atomic_load(&st.notified));
		ck_assert_int_eq(gmem_notifier_remove(whole), 0);
	}
	ck_assert_int_eq(gmem_guest_destroy(st.g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	ck_assert_int_eq(ta.live_objects, 0);
	ck_assert_int_eq(ta.live_bytes, 0);
	free(st.model);
}

START_TEST(one_shot_conversions)
{
	run_stress(false);
}
END_TEST

START_TEST(transactions_with_listener)
{
	run_stress(true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("threads");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, one_shot_conversions);
	tcase_add_test(tc, transactions_with_listener);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
