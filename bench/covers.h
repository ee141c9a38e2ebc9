/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on minimal covers of guests' views (covers.c). */
#ifndef GMEM_BENCH_COVERS_H
#define GMEM_BENCH_COVERS_H

#include <stdint.h>

enum pattern { UNIFORM, ONE_FRAME_PER_GIB, ALTERNATING, ONE_PIECE_PER_GIB };

/* The guests the page-table sections measure. */
struct guest_kind {
	const char *name;
	uint64_t gib;
	enum pattern pattern;
};

extern const struct guest_kind guest_kinds[];
extern const unsigned int nguest_kinds;

struct gmem_pool;
struct gmem_guest;

/* A guest of the kind over a pool of its own: private, then the
 * pattern's frames shared. Exits on failure. */
struct gmem_guest *guest_new(const struct guest_kind *k,
			     struct gmem_pool **pool);

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
