/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invalidation notifiers: the cost they add to a single-frame conversion
 * of a 4 GiB guest with 10,000 registered (ranges of 2 frames to 2 MiB
 * at random), against the same conversions with none, and against
 * finding the overlapping ones by scanning a list of them, as an
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

static uint64_t calls;

static void counted(void *ctx, struct gmem_notifier *n, uint64_t gfn,
		    uint64_t npages, uint32_t why)
{
	(void)ctx, (void)n, (void)gfn, (void)npages, (void)why;
	calls++;
}

/* ns per conversion: each frame made shared, then private again. */
static double convert_all(struct gmem_guest *g, const uint64_t *at)
{
	double t0 = now_ns();

	for (int i = 0; i < CONVS; i++)
		if (gmem_convert(g, at[i / 2], 1, i % 2 ? GMEM_ATTR_PRIVATE
						      : GMEM_ATTR_SHARED,
				 NULL))
			exit(1);
	return (now_ns() - t0) / CONVS;
}

/* ns per conversion to find the overlapping ranges in a list. */
static double list_scan(const uint64_t (*r)[2], const uint64_t *at)
{
	uint64_t found = 0;
	double t0 = now_ns();

	for (int i = 0; i < CONVS; i++)
		for (int k = 0; k < NOTIFIERS; k++)
			found += r[k][0] <= at[i / 2] && at[i / 2] < r[k][1];
	if (found == UINT64_MAX)
		printf("\n");	/* keeps the loop */
	return (now_ns() - t0) / CONVS;
}

void notify_run(int runs, struct notify_result *res)
{
	const struct guest_kind k = { "4 GiB uniform", 4, UNIFORM };
	uint64_t *at = malloc(CONVS / 2 * sizeof(*at));
	uint64_t (*r)[2] = malloc(NOTIFIERS * sizeof(*r));
	struct gmem_notifier **n = malloc(NOTIFIERS * sizeof(*n));
	double none[63], with[63], list[63];
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);

	if (!at || !r || !n)
		exit(1);
	for (int i = 0; i < CONVS / 2; i++)
		at[i] = rnd() % FRAMES;
	for (int i = 0; i < NOTIFIERS; i++) {
		uint64_t len = UINT64_C(2) << (rnd() % 9);

		r[i][0] = rnd() % (FRAMES - len);
		r[i][1] = r[i][0] + len;
	}
	calls = 0;
	for (int i = 0; i < runs; i++) {
		none[i] = convert_all(g, at);
		for (int j = 0; j < NOTIFIERS; j++)
			if (gmem_notifier_add(g, r[j][0], r[j][1] - r[j][0],
					      counted, NULL, NULL, &n[j]))
				exit(1);
		calls = 0;
		with[i] = convert_all(g, at);
		for (int j = 0; j < NOTIFIERS; j++)
			gmem_notifier_remove(n[j]);
		list[i] = list_scan((const uint64_t (*)[2])r, at);
	}
	res->notifiers = NOTIFIERS;
	res->convs = CONVS;
	res->calls = (double)calls / CONVS;
	res->ns_none = median(none, runs);
	res->ns_with = median(with, runs);
	res->list_ns = median(list, runs);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	free(at);
	free(r);
	free(n);
}

void notify_print(const struct notify_result *r, int json)
{
	if (json) {
		printf("\"notifiers\":{\"registered\":%llu,\"ns_none\":%.1f,"
		       "\"ns_with\":%.1f,\"calls_per_conv\":%.3f,"
		       "\"list_ns\":%.1f},",
		       (unsigned long long)r->notifiers, r->ns_none, r->ns_with,
		       r->calls, r->list_ns);
		return;
	}
	printf("\nInvalidation notifiers: %llu single-frame conversions of a "
	       "4 GiB guest with %llu notifiers\n(2 frames to 2 MiB, at "
	       "random), against none, and against scanning a list of them.\n",
	       (unsigned long long)r->convs, (unsigned long long)r->notifiers);
	printf("ns per conversion: none %.1f, with them %.1f (dispatch %.1f ns, "
	       "%.3f callbacks); list scan %.0f ns (%.0fx)\n",
	       r->ns_none, r->ns_with, r->ns_with - r->ns_none, r->calls,
	       r->list_ns, r->list_ns / (r->ns_with - r->ns_none));
}
