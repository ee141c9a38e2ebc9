/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reference walkers. EPT: Intel SDM vol. 3C, "EPT Translation Mechanism"
 * and "EPT Misconfigurations". arm64 stage 2: Arm ARM D8 (VMSAv8-64
 * translation table descriptors, the contiguous bit, stage 2 access
 * permissions). Written for clarity over speed.
 */
#include <stdlib.h>
#include <string.h>

#include "ref_walk.h"

#define PAGES_BASE (UINT64_C(1) << 40)	/* fake physical addresses */
#define PAGES_SLOT (UINT64_C(1) << 16)	/* aligns every table size */

void ref_pages_init(struct ref_pages *p)
{
	memset(p, 0, sizeof(*p));
}

void ref_pages_fini(struct ref_pages *p)
{
	free(p->va);
	memset(p, 0, sizeof(*p));
}

void *ref_pages_virt(struct ref_pages *p, uint64_t pa)
{
	uint64_t i = (pa - PAGES_BASE) / PAGES_SLOT;

	if (pa < PAGES_BASE || (pa - PAGES_BASE) % PAGES_SLOT || i >= p->nva)
		return NULL;
	return p->va[i];
}

static void *pages_alloc(void *ctx, size_t size, uint64_t *pa)
{
	struct ref_pages *p = ctx;
	uint64_t i;
	void *va;

	if (++p->calls == p->fail_at || size > PAGES_SLOT)
		return NULL;
	va = aligned_alloc(size, size);
	if (!va)
		return NULL;
	p->allocs++;
	memset(va, 0, size);
	for (i = 0; i < p->nva && p->va[i]; i++)
		;
	if (i == p->nva) {
		if (p->nva == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 64;
			p->va = realloc(p->va, p->cap * sizeof(*p->va));
		}
		p->nva++;
	}
	p->va[i] = va;
	p->live++;
	*pa = PAGES_BASE + i * PAGES_SLOT;
	return va;
}

static void pages_free(void *ctx, void *page, uint64_t pa, size_t size)
{
	struct ref_pages *p = ctx;
	uint64_t i = (pa - PAGES_BASE) / PAGES_SLOT;

	(void)size;
	if (i < p->nva && p->va[i] == page) {
		p->va[i] = NULL;
		p->live--;
		p->frees++;
		free(page);
	}
}

static void *pages_virt(void *ctx, uint64_t pa)
{
	return ref_pages_virt(ctx, pa);
}

void ref_pages_ops(struct ref_pages *p, struct gmem_pt_page_ops *ops)
{
	*ops = (struct gmem_pt_page_ops){ .sz = sizeof(*ops),
					  .alloc = pages_alloc,
					  .free = pages_free,
					  .phys_to_virt = pages_virt,
					  .ctx = p };
}

/* ---- EPT ---- */

#define BITS(hi, lo) ((~UINT64_C(0) >> (63 - (hi))) & ~((UINT64_C(1) << (lo)) - 1))

struct ept_walk {
	struct ref_pages *mem;
	int levels;
	ref_leaf_fn fn;
	void *ctx;
	const char *err;
};

/* Checks a present entry at depth d (0: the root; levels - 1: a PT);
 * returns 1 for a leaf, 0 for a table, -1 if malformed. */
static int ept_entry(struct ept_walk *w, uint64_t e, int d, uint64_t gfn,
		     struct ref_leaf *leaf)
{
	int from_leaf = w->levels - 1 - d;	/* 0: PT, 1: PD, 2: PDPT */
	uint64_t mt = (e >> 3) & 7;
	unsigned int shift;

	if ((e & 7) == 2 || (e & 7) == 6) {
		w->err = "EPT: write without read";
		return -1;
	}
	if (from_leaf > 2 && (e & (1u << 7))) {
		w->err = "EPT: bit 7 set in a PML4E/PML5E";
		return -1;
	}
	if (from_leaf > 0 && !(e & (1u << 7)))
		return 0;
	shift = 12 + 9 * (unsigned int)from_leaf;
	if (mt == 2 || mt == 3 || mt == 7) {
		w->err = "EPT: reserved memory type";
		return -1;
	}
	if (e & BITS(shift - 1, 12)) {
		w->err = "EPT: reserved address bits in a large leaf";
		return -1;
	}
	leaf->gfn = gfn;
	leaf->npages = UINT64_C(1) << (shift - 12);
	leaf->pfn = (e & BITS(51, shift)) >> 12;
	leaf->prot = (uint32_t)(e & 7);
	leaf->memtype = (uint32_t)mt;
	leaf->contig = false;
	return 1;
}

/* A table at depth d, under entries that allow the accesses allow: an
 * access needs its bit in every entry of the walk (SDM, "EPT
 * Violations"), tables included. */
static void ept_table(struct ept_walk *w, uint64_t pa, int d, uint64_t base,
		      uint32_t allow)
{
	const uint64_t *t = ref_pages_virt(w->mem, pa);
	unsigned int shift = 12 + 9 * (unsigned int)(w->levels - 1 - d);
	int i;

	if (!t) {
		w->err = "EPT: table address not a table page";
		return;
	}
	for (i = 0; i < 512 && !w->err; i++) {
		uint64_t gfn = base + ((uint64_t)i << (shift - 12));
		struct ref_leaf leaf;
		int k;

		if (!(t[i] & 7))
			continue;
		k = ept_entry(w, t[i], d, gfn, &leaf);
		if (k == 1) {
			leaf.prot &= allow;
			w->fn(w->ctx, &leaf);
		} else if (k == 0) {
			ept_table(w, t[i] & BITS(51, 12), d + 1, gfn,
				  allow & (uint32_t)(t[i] & 7));
		}
	}
}

const char *ref_ept_leaves(struct ref_pages *mem, uint64_t root_pa, int levels,
			   ref_leaf_fn fn, void *ctx)
{
	struct ept_walk w = { mem, levels, fn, ctx, NULL };

	ept_table(&w, root_pa, 0, 0, 7);
	return w.err;
}

static void ignore_leaf(void *ctx, const struct ref_leaf *leaf)
{
	(void)ctx;
	(void)leaf;
}

bool ref_ept_translate(struct ref_pages *mem, uint64_t root_pa, int levels,
		       uint64_t gfn, struct ref_leaf *leaf)
{
	struct ept_walk w = { mem, levels, ignore_leaf, NULL, NULL };
	uint64_t pa = root_pa;
	uint32_t allow = 7;
	int d;

	for (d = 0; d < levels; d++) {
		unsigned int shift = 12 + 9 * (unsigned int)(levels - 1 - d);
		const uint64_t *t = ref_pages_virt(mem, pa);
		uint64_t e;
		int k;

		if (!t)
			return false;
		e = t[(gfn >> (shift - 12)) & 511];
		if (!(e & 7))
			return false;
		k = ept_entry(&w, e, d, gfn & ~((UINT64_C(1) << (shift - 12)) - 1),
			      leaf);
		if (k < 0)
			return false;
		if (k == 1) {
			leaf->prot &= allow;
			return true;
		}
		allow &= (uint32_t)(e & 7);
		pa = e & BITS(51, 12);
	}
	return false;
}

/* ---- arm64 stage 2 ---- */

struct s2_walk {
	struct ref_pages *mem;
	unsigned int g;		/* granule shift */
	ref_leaf_fn fn;
	void *ctx;
	const char *err;
};

/* 48-bit input addresses: the start level and the bits it resolves. */
static int s2_start(unsigned int g)
{
	return g == 16 ? 1 : 0;
}

static unsigned int s2_shift(unsigned int g, int level)
{
	return g + (unsigned int)(3 - level) * (g - 3);
}

static unsigned int s2_entries(unsigned int g, int level)
{
	unsigned int bits = 48 - s2_shift(g, level);

	if (level == s2_start(g))
		return 1u << bits;
	return 1u << (g - 3);
}

static bool s2_block_ok(unsigned int g, int level)
{
	return level == 2 || (g == 12 && level == 1);
}

static unsigned int s2_contig(unsigned int g, int level)
{
	if (g == 12)
		return 16;
	if (g == 14)
		return level == 3 ? 128 : 32;
	return 32;
}

/* A valid descriptor at level: 1 leaf, 0 table, -1 malformed. */
static int s2_entry(struct s2_walk *w, uint64_t e, int level, uint64_t gfn,
		    struct ref_leaf *leaf)
{
	unsigned int shift = s2_shift(w->g, level);
	unsigned int ap = (unsigned int)(e >> 6) & 3;

	if (level < 3 && (e & 2))
		return 0;
	if (level == 3 && !(e & 2)) {
		w->err = "S2: reserved descriptor at level 3";
		return -1;
	}
	if (level < 3 && !s2_block_ok(w->g, level)) {
		w->err = "S2: block at a level without blocks";
		return -1;
	}
	if (!(e & (1u << 10))) {
		w->err = "S2: access flag clear";
		return -1;
	}
	if (e & BITS(shift - 1, 12)) {
		w->err = "S2: output address not aligned to the block";
		return -1;
	}
	leaf->gfn = gfn;
	leaf->npages = UINT64_C(1) << (shift - 12);
	leaf->pfn = (e & BITS(47, shift)) >> 12;
	leaf->prot = (ap & 1 ? GMEM_PT_PROT_R : 0) |
		     (ap & 2 ? GMEM_PT_PROT_W : 0) |
		     (e & (UINT64_C(1) << 54) ? 0 : GMEM_PT_PROT_X);
	leaf->memtype = (uint32_t)(e >> 2) & 15;
	leaf->contig = (e >> 52) & 1;
	return 1;
}

/* Entries i .. i + n - 1 under one contiguous bit: all valid leaves with
 * the bit, the same attributes, output addresses following on and the
 * first aligned to the run. */
static bool s2_run_ok(const uint64_t *t, unsigned int i, unsigned int n,
		      unsigned int shift)
{
	unsigned int k;

	if (i % n || ((t[i] & BITS(47, shift)) >> shift) % n)
		return false;
	for (k = 1; k < n; k++) {
		if ((t[i + k] & ~BITS(47, 12)) != (t[i] & ~BITS(47, 12)))
			return false;
		if ((t[i + k] & BITS(47, shift)) !=
		    (t[i] & BITS(47, shift)) + ((uint64_t)k << shift))
			return false;
	}
	return true;
}

static void s2_table(struct s2_walk *w, uint64_t pa, int level, uint64_t base)
{
	const uint64_t *t = ref_pages_virt(w->mem, pa);
	unsigned int shift = s2_shift(w->g, level), n = s2_entries(w->g, level);
	unsigned int i;

	if (!t || pa & ((UINT64_C(1) << w->g) - 1)) {
		w->err = "S2: table address not an aligned table page";
		return;
	}
	for (i = 0; i < n && !w->err; i++) {
		uint64_t gfn = base + ((uint64_t)i << (shift - 12));
		struct ref_leaf leaf;
		int k;

		if (!(t[i] & 1))
			continue;
		k = s2_entry(w, t[i], level, gfn, &leaf);
		if (k == 0) {
			s2_table(w, t[i] & BITS(47, w->g), level + 1, gfn);
			continue;
		}
		if (k < 0)
			return;
		if (leaf.contig) {
			unsigned int c = s2_contig(w->g, level);

			if (!s2_run_ok(t, i, c, shift)) {
				w->err = "S2: contiguous run breaks the rules";
				return;
			}
			leaf.npages *= c;
			i += c - 1;
		}
		w->fn(w->ctx, &leaf);
	}
}

const char *ref_s2_leaves(struct ref_pages *mem, uint64_t root_pa,
			  unsigned int granule_shift, ref_leaf_fn fn,
			  void *ctx)
{
	struct s2_walk w = { mem, granule_shift, fn, ctx, NULL };

	s2_table(&w, root_pa, s2_start(granule_shift), 0);
	return w.err;
}

bool ref_s2_translate(struct ref_pages *mem, uint64_t root_pa,
		      unsigned int granule_shift, uint64_t gfn,
		      struct ref_leaf *leaf)
{
	struct s2_walk w = { mem, granule_shift, ignore_leaf, NULL, NULL };
	uint64_t pa = root_pa;
	int level;

	for (level = s2_start(granule_shift); level <= 3; level++) {
		unsigned int shift = s2_shift(granule_shift, level);
		const uint64_t *t = ref_pages_virt(mem, pa);
		uint64_t e, idx;
		int k;

		if (!t)
			return false;
		idx = (gfn >> (shift - 12)) & (s2_entries(granule_shift, level) - 1);
		e = t[idx];
		if (!(e & 1))
			return false;
		k = s2_entry(&w, e, level,
			     gfn & ~((UINT64_C(1) << (shift - 12)) - 1), leaf);
		if (k < 0)
			return false;
		if (k == 1) {
			leaf->contig = false;	/* one entry's translation */
			return true;
		}
		pa = e & BITS(47, granule_shift);
	}
	return false;
}
