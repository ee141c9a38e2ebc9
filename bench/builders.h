/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on page-table builders (builders.c). */
#ifndef GMEM_BENCH_BUILDERS_H
#define GMEM_BENCH_BUILDERS_H

#include <stdbool.h>
#include <stdint.h>

struct build_row {
	const char *guest, *format, *view;
	double ms;
	uint64_t leaves, tables, table_bytes;
	uint64_t leaves_4k, tables_4k;	/* mapping every frame at 4 KiB */
};

int builds_run(int runs, struct build_row *rows, int max);
void builds_print(const struct build_row *rows, int n, int json);

struct incr_row {
	const char *work, *view, *impl;
	double ns_per_conv, ops_per_conv;
	double sync_ns, ns_per_op;	/* libgmem rows only */
};

int incr_run(int runs, struct incr_row *rows, int max);
/* ns a sync adds to a single-frame conversion in the ALL view. */
double all_view_sync_ns(int runs);
void incr_print(const struct incr_row *rows, int n, int json);

#endif
