/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paging under load: vCPU threads look frames up in all three modes,
 * a pager thread pages frames out and serves the requests, and a
 * converter converts ranges of the same frames, all at once, bounded in
 * time and count.
 *
 * The guest's memory is simulated: a word per frame, which the pager
 * saves and clears when it evicts and writes back when it loads. A vCPU
 * that finds a frame in (WAIT, or TRY and its "page ready" event) pins
 * it, adds one to its word and unpins it; at the end every word must
 * equal the additions made to it, so no eviction lost data. Each request
 * the pager pops must be for a frame paging in with no other request out
 * (none duplicated), and when the threads are done every frame must be
 * present or brought in by one more round of requests (none lost). Each
 * token a TRY returned must come back in exactly one event. A watchdog
 * fails the test if no vCPU moves for ten seconds (a deadlock).
 *
 * GMEM_PAGE_STRESS_OPS: lookups per vCPU (10000).
 * GMEM_PAGE_STRESS_WATCHDOG: its seconds (10), longer for slow runs.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "test_alloc.h"

#define FRAMES 256	/* the frames paged, in slot 0 */
#define VCPUS 3
#define MAX_TOKENS (1 << 20)

struct stress {
	struct gmem_guest *g;
	uint64_t ops;
	_Atomic uint64_t mem[FRAMES];		/* the simulated memory */
	_Atomic uint64_t added[FRAMES];		/* what vCPUs added */
	uint64_t saved[FRAMES];			/* the pager's copy */
	_Atomic int requested[FRAMES];		/* requests popped, not done */
	_Atomic uint32_t token_done[MAX_TOKENS];
	_Atomic uint32_t token_issued[MAX_TOKENS];
	_Atomic uint64_t progress;		/* the vCPUs' lookups */
	_Atomic int vcpus_left;
	atomic_bool stop;
	_Atomic int failures;
	char first_failure[200];
};

static void note_failure(struct stress *st, const char *what, uint64_t a, int64_t b)
{
	if (atomic_fetch_add(&st->failures, 1) == 0)
		snprintf(st->first_failure, sizeof(st->first_failure),
			 "%s (%llu, %lld)", what, (unsigned long long)a,
			 (long long)b);
}

struct vcpu {
	struct stress *st;
	uint32_t id;
	uint64_t rng;
};

/* Adds one to a frame's word while it is pinned in. */
static void touch(struct stress *st, uint64_t f)
{
	int err = gmem_pin(st->g, f, 1, NULL);

	if (err == -EAGAIN)
		return;	/* out again already */
	if (err) {
		note_failure(st, "pin", f, err);
		return;
	}
	atomic_fetch_add(&st->mem[f], 1);
	atomic_fetch_add(&st->added[f], 1);
	err = gmem_unpin(st->g, f, 1, NULL);
	if (err)
		note_failure(st, "unpin", f, err);
}

static void *vcpu_fn(void *arg)
{
	struct vcpu *v = arg;
	struct stress *st = v->st;
	uint64_t i;

	for (i = 0; i < st->ops && !atomic_load(&st->failures); i++) {
		GMEM_OPTS(gmem_lookup, lk, .vcpu = v->id);
		uint64_t f = rng_next(&v->rng) % FRAMES;
		unsigned int mode = (unsigned int)(rng_next(&v->rng) % 3);
		int err;

		if (rng_next(&v->rng) % 8 == 0) {
			/* A copy between two guest pages. */
			uint64_t two[2] = { f, rng_next(&v->rng) % FRAMES };

			err = gmem_page_lookup_frames(st->g, two, 2,
						      GMEM_LOOKUP_WAIT, &lk);
			if (err)
				note_failure(st, "lookup of two", f, err);
			else
				touch(st, two[0]), touch(st, two[1]);
			atomic_fetch_add(&st->progress, 1);
			continue;
		}
		err = gmem_page_lookup(st->g, f, mode, &lk);
		if (!err && mode != GMEM_LOOKUP_QUERY)
			touch(st, f);
		else if (err == -EAGAIN && mode == GMEM_LOOKUP_TRY)
			atomic_fetch_add(&st->token_issued[lk.token %
							    MAX_TOKENS], 1);
		else if (err && err != -EAGAIN)
			note_failure(st, "lookup", f, err);
		atomic_fetch_add(&st->progress, 1);
	}
	atomic_fetch_sub(&st->vcpus_left, 1);
	return NULL;
}

/* Serves the requests out: each must be new, for a frame paging in. */
static void serve(struct stress *st)
{
	struct gmem_page_request req[32];
	uint32_t n, i;

	if (gmem_pager_pop(st->g, req, 32, &n)) {
		note_failure(st, "pop", 0, 0);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t f = req[i].gfn;
		uint32_t state;

		if (atomic_fetch_add(&st->requested[f], 1) != 0)
			note_failure(st, "a second request", f, 0);
		gmem_page_state(st->g, f, &state);
		if (state != GMEM_PAGE_PAGING_IN)
			note_failure(st, "a request for a frame not paging in", f,
			     state);
		atomic_store(&st->mem[f], st->saved[f]);
		if (gmem_page_load(st->g, f, 1, NULL, NULL) ||
		    gmem_page_complete(st->g, f, 1, 0, NULL))
			note_failure(st, "load", f, 0);
		atomic_store(&st->requested[f], 0);
	}
}

static void take_events(struct stress *st)
{
	struct gmem_page_ready ev[32];
	uint32_t n, i;

	do {
		if (gmem_page_ready_pop(st->g, ev, 32, &n)) {
			note_failure(st, "ready", 0, 0);
			return;
		}
		for (i = 0; i < n; i++)
			if (atomic_fetch_add(&st->token_done[ev[i].token %
							     MAX_TOKENS], 1))
				note_failure(st, "a token twice", ev[i].token, 0);
	} while (n);
}

static void *pager_fn(void *arg)
{
	struct stress *st = arg;
	uint64_t rng = 0x243f6a8885a308d3;

	while (!atomic_load(&st->stop)) {
		uint64_t f = rng_next(&rng) % FRAMES;

		/* Out: nominate, save, evict (an access may cancel it). */
		if (!gmem_page_nominate(st->g, f, 1, NULL)) {
			st->saved[f] = atomic_load(&st->mem[f]);
			if (!gmem_page_evict(st->g, f, 1, NULL))
				atomic_store(&st->mem[f], 0);
		}
		serve(st);
		take_events(st);
	}
	return NULL;
}

static void *converter_fn(void *arg)
{
	struct stress *st = arg;
	uint64_t rng = 0x13198a2e03707344;

	while (!atomic_load(&st->stop)) {
		uint64_t f = rng_next(&rng) % FRAMES, n = 1 + rng_next(&rng) % 4;
		int err = gmem_convert(st->g, f, n,
				       (unsigned int)(rng_next(&rng) % 2), NULL);

		/* Frames pinned or not present refuse it. */
		if (err && err != -EAGAIN && err != -EBUSY)
			note_failure(st, "convert", f, err);
	}
	return NULL;
}

START_TEST(lookups_pager_and_conversions)
{
	struct stress *st = calloc(1, sizeof(*st));
	GMEM_OPTS(gmem_pager_opts, po, .ring_size = GMEM_LOOKUP_MAX);
	GMEM_OPTS(gmem_pool_opts, heap, .alloc = NULL);
	struct test_alloc ta;
	pthread_t vt[VCPUS], pager, conv;
	struct vcpu v[VCPUS];
	struct gmem_pool *pool;
	uint64_t last = 0, f, issued = 0;
	time_t still = time(NULL), patience;
	uint32_t i;

	ck_assert_ptr_nonnull(st);
	st->ops = test_env_u64("GMEM_PAGE_STRESS_OPS", 10000);
	patience = (time_t)test_env_u64("GMEM_PAGE_STRESS_WATCHDOG", 10);
	/* malloc underneath, whose reuse of memory ThreadSanitizer sees. */
	test_alloc_init(&ta);
	heap.alloc = &ta.ops;
	ck_assert_int_eq(gmem_pool_create(&heap, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, GMEM_BLOCK_FRAMES,
					      GMEM_BLOCK_FRAMES, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &st->g), 0);
	ck_assert_int_eq(gmem_region_add(st->g, 0, GMEM_BLOCK_FRAMES, NULL),
			 0);
	ck_assert_int_eq(gmem_pager_attach(st->g, &po), 0);
	/* Some frames out before the vCPUs start, whatever the scheduler
	 * does: their first tries meet them. */
	for (f = 0; f < FRAMES; f += 8) {
		atomic_store(&st->mem[f], f);
		atomic_store(&st->added[f], f);
		st->saved[f] = f;
		ck_assert_int_eq(gmem_page_nominate(st->g, f, 1, NULL), 0);
		ck_assert_int_eq(gmem_page_evict(st->g, f, 1, NULL), 0);
		atomic_store(&st->mem[f], 0);
	}
	atomic_store(&st->vcpus_left, VCPUS);
	for (i = 0; i < VCPUS; i++) {
		v[i] = (struct vcpu){ st, i, 0x9e3779b97f4a7c15 * (i + 1) };
		ck_assert_int_eq(pthread_create(&vt[i], NULL, vcpu_fn, &v[i]),
				 0);
	}
	ck_assert_int_eq(pthread_create(&pager, NULL, pager_fn, st), 0);
	ck_assert_int_eq(pthread_create(&conv, NULL, converter_fn, st), 0);
	/* The watchdog: progress, or a deadlock after ten seconds. */
	while (atomic_load(&st->vcpus_left)) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		uint64_t now = atomic_load(&st->progress);

		nanosleep(&ts, NULL);
		if (now != last) {
			last = now;
			still = time(NULL);
		} else if (time(NULL) - still > patience) {
			ck_abort_msg("no progress for %d seconds: deadlock "
				     "(%d failures, first: %s)", (int)patience,
				     atomic_load(&st->failures),
				     st->first_failure);
		}
	}
	atomic_store(&st->stop, true);
	pthread_join(pager, NULL);
	pthread_join(conv, NULL);
	for (i = 0; i < VCPUS; i++)
		pthread_join(vt[i], NULL);
	ck_assert_msg(!atomic_load(&st->failures), "%d failures, first: %s",
		      atomic_load(&st->failures), st->first_failure);
	/* Every frame comes in: none left waiting for a lost request. */
	for (f = 0; f < FRAMES; f++) {
		GMEM_OPTS(gmem_lookup, lk, .vcpu = 0);
		int err;

		while ((err = gmem_page_lookup(st->g, f, GMEM_LOOKUP_TRY |
						       GMEM_LOOKUP_NO_WAIT_RING,
					       &lk)) == -EAGAIN ||
		       err == -EBUSY) {
			uint32_t state;

			if (err == -EAGAIN)
				atomic_fetch_add(&st->token_issued[lk.token %
								    MAX_TOKENS],
						 1);
			serve(st);
			if (err == -EBUSY)
				continue;	/* the ring was full */
			gmem_page_state(st->g, f, &state);
			ck_assert_msg(state != GMEM_PAGE_PAGING_IN,
				      "frame %llu paging in with no request",
				      (unsigned long long)f);
		}
		ck_assert_int_eq(err, 0);
		ck_assert_uint_eq(atomic_load(&st->mem[f]),
				  atomic_load(&st->added[f]));
	}
	take_events(st);
	/* Every token issued came back once (a TRY that found the frame
	 * already asked for got the same token again). */
	for (i = 0; i < MAX_TOKENS; i++) {
		if (atomic_load(&st->token_issued[i]))
			ck_assert_uint_eq(atomic_load(&st->token_done[i]), 1);
		else
			ck_assert_uint_eq(atomic_load(&st->token_done[i]), 0);
		issued += atomic_load(&st->token_issued[i]) != 0;
	}
	ck_assert_uint_gt(issued, 0);
	ck_assert_int_eq(gmem_guest_destroy(st->g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	ck_assert_int_eq(ta.live_objects, 0);
	free(st);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("page_stress");
	TCase *tc = tcase_create("threads");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, lookups_pager_and_conversions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
