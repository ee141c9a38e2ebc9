/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The differential driver (diff.c), shared by test_diff and fuzz_diff. */
#ifndef GMEM_TEST_DIFF_H
#define GMEM_TEST_DIFF_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

struct diff_layout {
	const char *name;
	struct { uint64_t gfn, npages; unsigned int attr; } r[6];
	int n;
	int listeners;	/* 0: none; 2: a recorder and a refuser */
	uint32_t granule;	/* the guest's conversion granule; 0: 1 */
};

extern const struct diff_layout diff_layouts[];
extern const unsigned int diff_nlayouts;

/* Where the driver's choices come from. */
struct diff_source {
	uint64_t (*next)(void *ctx);
	bool (*dry)(void *ctx);		/* no more operations wanted */
	void *ctx;
};

/* Called with a description of the first mismatch; must not return. */
extern void (*diff_fail)(const char *msg);

struct model;

/*
 * Adds to pool two 4 GiB frame ranges, one not aligned (so a guest's
 * blocks come from both, some following on in host frames and some not),
 * then creates a guest with the layout's regions and granule, and the
 * model of it (model_init'ed here).
 */
void diff_layout_guest(const struct diff_layout *lay, struct gmem_pool *pool,
		       struct gmem_guest **g, struct model *m);

/* Runs up to nops operations on a fresh guest of the given layout. */
void diff_run(unsigned int layout, uint64_t nops, struct diff_source *src);

#endif
