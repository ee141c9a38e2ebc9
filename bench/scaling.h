/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on threads (scaling.c). */
#ifndef GMEM_BENCH_SCALING_H
#define GMEM_BENCH_SCALING_H

#include <stdint.h>

#define SCALING_MAX 16
#define SCALING_ROWS 5		/* 1, 2, 4, 8, 16 */

/* One thread count: conversions and queries, millions a second in all
 * (by the threads' CPU time), the ratio to one thread's, and the
 * threads' voluntary switches while measured. */
struct scaling_row {
	int threads;
	double conv_mops, conv_ratio, query_mops, query_ratio;
	long sleeps;
};

/* Rows for 1, 2, 4 ... threads up to max (max itself the last). */
int scaling_run(int runs, int max, struct scaling_row *rows);
void scaling_print(const struct scaling_row *rows, int n, int json);

#endif
