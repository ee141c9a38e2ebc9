/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What gmem-bench's parts share: its generator, clock and median. */
#ifndef GMEM_BENCH_UTIL_H
#define GMEM_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* The workloads' generator (xorshift64*): one seed, one sequence. */
extern uint64_t bench_rng;

static inline uint64_t rnd(void)
{
	bench_rng ^= bench_rng >> 12;
	bench_rng ^= bench_rng << 25;
	bench_rng ^= bench_rng >> 27;
	return bench_rng * UINT64_C(2685821657736338717);
}

static inline double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n samples (reordered). */
static inline double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(t[0]), cmp_double);
	return t[n / 2];
}

#endif
