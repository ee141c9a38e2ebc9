/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Threads: each converts single frames at random in a 1 GiB slot of its
 * own, then queries 2 MiB ranges of it, all starting together. The slots
 * share nothing but the guest, so what one thread does at a rate r,
 * n threads should do at n r: the ratio printed is the rate of n over
 * the rate of one.
 *
 * Rates are by each worker's CPU time. With as many workers as CPUs,
 * every other task of the machine (a kernel thread, the shell) runs in
 * a worker's place, and by the clock on the wall that time was the
 * library's: two workers on two CPUs measured 0.55 to 0.96 of one by
 * that clock, run to run, the same library. The library's own waits
 * still count: a spinning hold burns CPU time, and a sleeping one is a
 * voluntary switch of the worker, which the row prints (sleeps).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

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
	double conv_ns, query_ns;	/* its own CPU time for each */
	long sleeps;			/* voluntary switches in both */
	unsigned int sum;
};

/* The calling thread's CPU time, ns, and voluntary switches so far. */
static double thread_clock(long *sleeps)
{
	struct timespec t;
	struct rusage ru;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) ||
	    getrusage(RUSAGE_THREAD, &ru))
		abort();
	*sleeps = ru.ru_nvcsw;
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned int sum = 0;
	long s0, s1, s2, s3;
	double t0;

	pthread_barrier_wait(w->start);
	t0 = thread_clock(&s0);
	for (int i = 0; i < 2 * OPS; i++)
		if (gmem_convert(w->g, w->ops[i] >> 1, 1, w->ops[i] & 1, NULL))
			abort();
	w->conv_ns = thread_clock(&s1) - t0;
	pthread_barrier_wait(w->mid);
	t0 = thread_clock(&s2);
	for (int i = 0; i < OPS; i++) {
		unsigned int attr;

		if (gmem_range_attr(w->g, w->queries[i], 512, &attr))
			abort();
		sum += attr;
	}
	w->query_ns = thread_clock(&s3) - t0;
	w->sleeps = (s1 - s0) + (s3 - s2);
	w->sum = sum;
	return NULL;
}

/* Millions of operations a second of n workers, each over its own
 * slot: by the slowest of them; their sleeps added to *sleeps. */
static void run_threads(struct worker *w, int n, double *conv, double *query,
			long *sleeps)
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
		*sleeps += w[i].sleeps;
	}
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&mid);
	*conv = (double)n * 2 * OPS / c * 1e3;
	*query = (double)n * OPS / q * 1e3;
}

int scaling_run(int runs, int max, struct scaling_row *rows)
{
	struct worker w[SCALING_MAX] = { { 0 } };
	double c[SCALING_ROWS][63], q[SCALING_ROWS][63];
	long warm_sleeps = 0;
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
	for (int n = 1; n <= max; n = n * 2 > max && n < max ? max : n * 2)
		rows[nrows++] = (struct scaling_row){ .threads = n };
	/* Every CPU busy first: one idle before runs slower for a while on a
	 * virtual machine (the first runs of a section measured 0.6 of the
	 * later ones). */
	for (int k = 0; k < 8; k++)
		run_threads(w, max, &c[0][0], &q[0][0], &warm_sleeps);
	/* Each run measures every thread count in turn, and a count's ratio
	 * is the median of its runs' ratios to the one thread of the same
	 * run: the host's drift, which on a small shared machine moves a
	 * rate by more than the ratio's margin within seconds, falls on
	 * both sides of each ratio alike. */
	for (int k = 0; k < runs; k++)
		for (int i = 0; i < nrows; i++)
			run_threads(w, rows[i].threads, &c[i][k], &q[i][k],
				    &rows[i].sleeps);
	for (int i = nrows - 1; i >= 0; i--) {	/* median reorders c[0] */
		double cr[63], qr[63];

		for (int k = 0; k < runs; k++) {
			cr[k] = c[i][k] / c[0][k];
			qr[k] = q[i][k] / q[0][k];
		}
		rows[i].conv_mops = median(c[i], runs);
		rows[i].query_mops = median(q[i], runs);
		rows[i].conv_ratio = median(cr, runs);
		rows[i].query_ratio = median(qr, runs);
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
			       "\"query_ratio\":%.3f,\"sleeps\":%ld}",
			       i ? "," : "", rows[i].threads, rows[i].conv_mops,
			       rows[i].conv_ratio, rows[i].query_mops,
			       rows[i].query_ratio, rows[i].sleeps);
		printf("],");
		return;
	}
	printf("\nThreads, each on a 1 GiB slot of its own: %d single-frame "
	       "conversions at random, then %d\nqueries of 2 MiB; millions a "
	       "second in all by each thread's CPU time, the ratio to one\n"
	       "thread (n is ideal), and the threads' sleeps (voluntary "
	       "switches) while measured.\n", 2 * OPS, OPS);
	printf("threads  conversions Mops/s  ratio   queries Mops/s  ratio  "
	       "sleeps\n");
	for (int i = 0; i < n; i++)
		printf("%7d  %18.1f  %5.2f  %14.1f  %5.2f  %6ld\n",
		       rows[i].threads, rows[i].conv_mops, rows[i].conv_ratio,
		       rows[i].query_mops, rows[i].query_ratio, rows[i].sleeps);
}
