/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page-table baselines' table: x86-64 4-level, written directly, the
 * way a VMM or hypervisor without libgmem keeps it. Leaves of 4 KiB,
 * 2 MiB or 1 GiB; tables from aligned_alloc.
 */
#include <stdlib.h>
#include <string.h>

#include "baseline_pt.h"

#define PRESENT UINT64_C(1)
#define LARGE (UINT64_C(1) << 7)
#define ADDR UINT64_C(0x000ffffffffff000)

static unsigned int shift_of(int level)
{
	return 9 * (unsigned int)(3 - level);	/* in frames */
}

static uint64_t *table_new(struct bpt *t)
{
	uint64_t *p = aligned_alloc(4096, 4096);

	if (!p)
		abort();
	memset(p, 0, 4096);
	t->tables++;
	return p;
}

int bpt_init(struct bpt *t)
{
	memset(t, 0, sizeof(*t));
	t->root = table_new(t);
	return 0;
}

void bpt_map(struct bpt *t, uint64_t gfn, uint64_t pfn, int level)
{
	uint64_t *tab = t->root;
	int l;

	for (l = 0; l < level; l++) {
		uint64_t *e = &tab[(gfn >> shift_of(l)) & 511];

		if (!(*e & PRESENT))
			*e = (uint64_t)(uintptr_t)table_new(t) | PRESENT;
		tab = (uint64_t *)(uintptr_t)(*e & ADDR);
	}
	tab[(gfn >> shift_of(level)) & 511] =
		pfn << 12 | PRESENT | (level < 3 ? LARGE : 0);
	t->leaves++;
}

/* Clears [lo, hi) under tab (level l, mapping from base); frees the
 * tables inside. */
static void clear(struct bpt *t, uint64_t *tab, int l, uint64_t base,
		  uint64_t lo, uint64_t hi)
{
	uint64_t span = UINT64_C(1) << shift_of(l);
	unsigned int i;

	for (i = 0; i < 512; i++) {
		uint64_t at = base + i * span;
		uint64_t *e = &tab[i];

		if (at + span <= lo || at >= hi || !(*e & PRESENT))
			continue;
		if (l == 3 || (*e & LARGE)) {
			*e = 0;
			t->leaves--;
			t->cleared++;
			continue;
		}
		clear(t, (uint64_t *)(uintptr_t)(*e & ADDR), l + 1, at, lo, hi);
		if (at >= lo && at + span <= hi) {
			free((void *)(uintptr_t)(*e & ADDR));
			t->tables--;
			*e = 0;
		}
	}
}

void bpt_clear(struct bpt *t, uint64_t lo, uint64_t hi)
{
	clear(t, t->root, 0, 0, lo, hi);
}

void bpt_fini(struct bpt *t)
{
	bpt_clear(t, 0, UINT64_C(1) << 36);
	free(t->root);
}
