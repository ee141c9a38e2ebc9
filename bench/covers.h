/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on minimal covers of guests' views (covers.c). */
#ifndef GMEM_BENCH_COVERS_H
#define GMEM_BENCH_COVERS_H

#include <stdint.h>

struct cover_row {
	const char *guest, *geom, *view;
	double ms;
	uint64_t leaves, entries;
	uint64_t frames;	/* in the view: leaves if all were 4 KiB */
};

/* Measures each guest kind, geometry and view; the rows filled. */
int covers_run(int runs, struct cover_row *rows, int max);
void covers_print(const struct cover_row *rows, int n, int json);

#endif
