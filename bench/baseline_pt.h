/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plain x86-64 4-level table for the page-table baselines. */
#ifndef GMEM_BENCH_BASELINE_PT_H
#define GMEM_BENCH_BASELINE_PT_H

#include <stdint.h>

struct bpt {
	uint64_t *root;
	uint64_t tables, leaves;
	uint64_t cleared;	/* leaves removed by bpt_clear, in all */
};

int bpt_init(struct bpt *t);
/* Maps a leaf at level 1 (1 GiB), 2 (2 MiB) or 3 (4 KiB). */
void bpt_map(struct bpt *t, uint64_t gfn, uint64_t pfn, int level);
/* Removes every leaf inside [lo, hi), and the tables inside it. */
void bpt_clear(struct bpt *t, uint64_t lo, uint64_t hi);
void bpt_fini(struct bpt *t);

#endif
