/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Threads: each converts single frames at random in a 1 GiB slot of its
 * own, then queries 2 MiB ranges of it, all starting together. The slots
 * share nothing but the guest, so what one thread does at a rate r,
 * n threads should do at n r: the ratio printed is the rate of n over
 * the rate of one.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <gmem.h>

#include "scaling.h"
#include "util.h"

#define GIB GMEM_BLOCK_FRAMES
#define OPS 1000000

/* A cache line each (or more): workers write their results here. */
struct __attribute__((aligned(64))) worker {
	pthread_t tid;
	struct gmem_guest *g;
	uint64_t *ops;			/* gfn << 1 | attr, in its slot: its
					 * frames toggled twice over, so that
					 * every run starts alike */
	uint64_t *queries;		/* gfns of 2 MiB ranges */
	pthread_barrier_t *start, *mid;
	double conv_ns, query_ns;	/* its own time for each */
	unsigned int sum;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned int sum = 0;
	double t0;

	pthread_barrier_wait(w->start);
	t0 = now_ns();
	for (int i = 0; i < 2 * OPS; i++)
		if (gmem_convert(w->g, w->ops[i] >> 1, 1, w->ops[i] & 1, NULL))
			abort();
	w->conv_ns = now_ns() - t0;
	pthread_barrier_wait(w->mid);
	t0 = now_ns();
	for (int i = 0; i < OPS; i++) {
		unsigned int attr;

		if (gmem_range_attr(w->g, w->queries[i], 512, &attr))
			abort();
		sum += attr;
	}
	w->query_ns = now_ns() - t0;
	w->sum = sum;
	return NULL;
}

/* Millions of operations a second of n workers, each over its own
 * slot: by the slowest of them. */
static void run_threads(struct worker *w, int n, double *conv, double *query)
{
	pthread_barrier_t start, mid;
	double c = 0, q = 0;

	pthread_barrier_init(&start, NULL, (unsigned int)n);
	pthread_barrier_init(&mid, NULL, (unsigned int)n);
	for (int i = 0; i < n; i++) {
		w[i].start = &start;
		w[i].mid = &mid;
		if (pthread_create(&w[i].tid, NULL, work, &w[i]))
			exit(1);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		c = w[i].conv_ns > c ? w[i].conv_ns : c;
		q = w[i].query_ns > q ? w[i].query_ns : q;
	}
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&mid);
	*conv = (double)n * 2 * OPS / c * 1e3;
	*query = (double)n * OPS / q * 1e3;
}

int scaling_run(int runs, int max, struct scaling_row *rows)
{
	struct worker w[SCALING_MAX] = { { 0 } };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	int nrows = 0;

	if (gmem_pool_create(NULL, &pool) ||
	    gmem_pool_add_frames(pool, GIB, (uint64_t)max * GIB, 0, NULL) ||
	    gmem_guest_create(pool, NULL, &g) ||
	    gmem_region_add(g, 0, (uint64_t)max * GIB, NULL))
		exit(1);
	for (int i = 0; i < max; i++) {
		uint8_t *cur = calloc(GIB, 1);

		w[i].g = g;
		w[i].ops = malloc(2 * OPS * sizeof(*w[i].ops));
		w[i].queries = malloc(OPS * sizeof(*w[i].queries));
		if (!cur || !w[i].ops || !w[i].queries)
			exit(1);
		for (int k = 0; k < OPS; k++) {
			uint64_t f = rnd() % GIB;

			w[i].ops[k] = (i * GIB + f) << 1 | (cur[f] ^= 1);
			w[i].queries[k] = i * GIB + rnd() % (GIB / 512) * 512;
		}
		for (int k = 0; k < OPS; k++) {
			uint64_t f = (w[i].ops[k] >> 1) - i * GIB;

			w[i].ops[OPS + k] = (i * GIB + f) << 1 | (cur[f] ^= 1);
		}
		free(cur);
		/* The maps of the slot's pieces, made before any run. */
		for (int k = 0; k < OPS; k++)
			gmem_convert(g, w[i].ops[k] >> 1, 1, w[i].ops[k] & 1,
				     NULL);
		for (int k = 0; k < OPS; k++)
			gmem_convert(g, w[i].ops[OPS + k] >> 1, 1,
				     w[i].ops[OPS + k] & 1, NULL);
	}
	for (int n = 1; n <= max; n = n * 2 > max && n < max ? max : n * 2) {
		double c[63], q[63];
		struct scaling_row *r = &rows[nrows++];

		for (int k = 0; k < runs; k++)
			run_threads(w, n, &c[k], &q[k]);
		r->threads = n;
		r->conv_mops = median(c, runs);
		r->query_mops = median(q, runs);
		r->conv_ratio = r->conv_mops / rows[0].conv_mops;
		r->query_ratio = r->query_mops / rows[0].query_mops;
	}
	for (int i = 0; i < max; i++) {
		free(w[i].ops);
		free(w[i].queries);
	}
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	return nrows;
}

void scaling_print(const struct scaling_row *rows, int n, int json)
{
	if (json) {
		printf("\"scaling\":[");
		for (int i = 0; i < n; i++)
			printf("%s{\"threads\":%d,\"convert_mops\":%.2f,"
			       "\"convert_ratio\":%.3f,\"query_mops\":%.2f,"
			       "\"query_ratio\":%.3f}",
			       i ? "," : "", rows[i].threads, rows[i].conv_mops,
			       rows[i].conv_ratio, rows[i].query_mops,
			       rows[i].query_ratio);
		printf("],");
		return;
	}
	printf("\nThreads, each on a 1 GiB slot of its own: %d single-frame "
	       "conversions at random, then %d\nqueries of 2 MiB; millions a "
	       "second in all, and the ratio to one thread (n is ideal).\n",
	       2 * OPS, OPS);
	printf("threads  conversions Mops/s  ratio   queries Mops/s  ratio\n");
	for (int i = 0; i < n; i++)
		printf("%7d  %18.1f  %5.2f  %14.1f  %5.2f\n", rows[i].threads,
		       rows[i].conv_mops, rows[i].conv_ratio,
		       rows[i].query_mops, rows[i].query_ratio);
}
