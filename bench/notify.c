/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What subscribers add to a single-frame conversion of a 4 GiB guest
 * (frames toggled at random, every piece mixed by a warm-up round):
 * against the same conversions with none (the one-shot path), one
 * listener that accepts everything (the transaction path), and 10,000
 * invalidation notifiers (ranges of 2 frames to 2 MiB at random); and
 * finding the overlapping notifiers by scanning a list of them, as an
 * embedder without an interval tree would.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gmem.h>

#include "covers.h"
#include "notify.h"
#include "util.h"

#define GIB GMEM_BLOCK_FRAMES
#define FRAMES (4 * GIB)
#define NOTIFIERS 10000
#define CONVS 100000
#define LIST_CONVS 10000	/* the list scan's: 10,000 notifiers each */

static uint64_t calls;

static void counted(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		    uint64_t npages, uint32_t why)
{
	(void)ctx, (void)n, (void)gfn, (void)npages, (void)why;
	calls++;
}

static int accept_all(void *ctx, enum gmem_phase phase,
		      const struct gmem_run *run)
{
	(void)ctx, (void)phase, (void)run;
	return 0;
}

/* A conversion: frame op >> 1 to attribute op & 1. */
static inline uint64_t op_of(uint64_t gfn, unsigned int attr)
{
	return gfn << 1 | attr;
}

/* ns per conversion of ops: frames toggled, twice over, so that the
 * guest ends as it began. */
static double convert_all(struct gmem_guest *g, const uint64_t *ops)
{
	double t0 = now_ns();

	for (int i = 0; i < 2 * CONVS; i++)
		if (gmem_convert(g, ops[i] >> 1, 1, ops[i] & 1, NULL))
			exit(1);
	return (now_ns() - t0) / (2 * CONVS);
}

/* ns per conversion to find the overlapping ranges in a list. */
static double list_scan(const uint64_t (*r)[2], const uint64_t *at)
{
	uint64_t found = 0;
	double t0 = now_ns();

	for (int i = 0; i < LIST_CONVS; i++)
		for (int k = 0; k < NOTIFIERS; k++)
			found += r[k][0] <= at[i] && at[i] < r[k][1];
	if (found == UINT64_MAX)
		printf("\n");	/* keeps the loop */
	return (now_ns() - t0) / LIST_CONVS;
}

void notify_run(int runs, struct notify_result *res)
{
	const struct guest_kind k = { "4 GiB uniform", 4, UNIFORM };
	uint64_t *at = malloc(CONVS * sizeof(*at));
	uint64_t *ops = malloc(2 * CONVS * sizeof(*ops));
	uint8_t *cur = calloc(FRAMES, 1);
	uint64_t (*r)[2] = malloc(NOTIFIERS * sizeof(*r));
	struct gmem_notifier **n = malloc(NOTIFIERS * sizeof(*n));
	double none[63], with[63], listened[63], list[63];
	struct gmem_listener *l;
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);

	if (!at || !ops || !cur || !r || !n)
		exit(1);
	for (int i = 0; i < CONVS; i++)
		at[i] = rnd() % FRAMES;
	/* Made first: their maps are there before any round. */
	for (int i = 0; i < CONVS; i++)
		if (gmem_convert(g, at[i], 1, cur[at[i]] ^= 1, NULL))
			exit(1);
	for (int i = 0; i < 2 * CONVS; i++)
		ops[i] = op_of(at[i % CONVS], cur[at[i % CONVS]] ^= 1);
	for (int i = 0; i < NOTIFIERS; i++) {
		uint64_t len = UINT64_C(2) << (rnd() % 9);

		r[i][0] = rnd() % (FRAMES - len);
		r[i][1] = r[i][0] + len;
	}
	calls = 0;
	for (int i = 0; i < runs; i++) {
		none[i] = convert_all(g, ops);
		if (gmem_listener_add(g, accept_all, NULL, NULL, &l))
			exit(1);
		listened[i] = convert_all(g, ops);
		gmem_listener_remove(l);
		for (int j = 0; j < NOTIFIERS; j++)
			if (gmem_notifier_add(g, r[j][0], r[j][1] - r[j][0],
					      counted, NULL, NULL, &n[j]))
				exit(1);
		calls = 0;
		with[i] = convert_all(g, ops);
		for (int j = 0; j < NOTIFIERS; j++)
			gmem_notifier_remove(n[j]);
		list[i] = list_scan((const uint64_t (*)[2])r, at);
	}
	res->notifiers = NOTIFIERS;
	res->convs = 2 * CONVS;
	res->calls = (double)calls / (2 * CONVS);	/* the last round's */
	res->ns_none = median(none, runs);
	res->ns_listener = median(listened, runs);
	res->ns_with = median(with, runs);
	res->list_ns = median(list, runs);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	free(at);
	free(ops);
	free(cur);
	free(r);
	free(n);
}

void notify_print(const struct notify_result *r, int json)
{
	if (json) {
		printf("\"notifiers\":{\"registered\":%llu,\"ns_none\":%.1f,"
		       "\"ns_listener\":%.1f,\"ns_with\":%.1f,"
		       "\"calls_per_conv\":%.3f,\"list_ns\":%.1f},",
		       (unsigned long long)r->notifiers, r->ns_none,
		       r->ns_listener, r->ns_with, r->calls, r->list_ns);
		return;
	}
	printf("\nListeners and notifiers: %llu single-frame conversions of a "
	       "4 GiB guest, frames toggled at\nrandom, with nothing heard "
	       "(one-shot), one listener that accepts everything, and %llu\n"
	       "notifiers (2 frames to 2 MiB, at random); and scanning a list "
	       "of those notifiers instead.\n",
	       (unsigned long long)r->convs, (unsigned long long)r->notifiers);
	printf("ns per conversion: one-shot %.1f, one listener %.1f (%.2fx), "
	       "notifiers %.1f (dispatch %.1f ns,\n%.3f callbacks); list scan "
	       "%.0f ns (%.0fx the dispatch)\n",
	       r->ns_none, r->ns_listener, r->ns_listener / r->ns_none,
	       r->ns_with, r->ns_with - r->ns_none, r->calls, r->list_ns,
	       r->list_ns / (r->ns_with - r->ns_none));
}
