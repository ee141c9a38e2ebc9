/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reference walkers of real page-table formats, written from the
 * architecture manuals and sharing nothing with the library's writer,
 * and a page allocator whose physical addresses are not the pointers.
 */
#ifndef GMEM_TEST_REF_WALK_H
#define GMEM_TEST_REF_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

/* A leaf as the hardware sees it; a contiguous run of arm64 entries,
 * checked against the rules of the contiguous bit, is one leaf. */
struct ref_leaf {
	uint64_t gfn, npages, pfn;
	uint32_t prot;		/* GMEM_PT_PROT_* */
	uint32_t memtype;
	bool contig;
};

typedef void (*ref_leaf_fn)(void *ctx, const struct ref_leaf *leaf);

/* Physical pages for tables: pa = a fake address, va = real memory. */
struct ref_pages {
	uint64_t allocs, frees, live;	/* pages given, taken back, held */
	uint64_t calls;		/* allocations asked for */
	uint64_t fail_at;	/* the call with this number fails
				 * (counting from 1); 0: none */
	void **va;		/* by (pa - base) / slot */
	uint64_t nva, cap;
};

void ref_pages_init(struct ref_pages *p);
void ref_pages_fini(struct ref_pages *p);
/* Page ops over p for gmem_pt_opts.pages. */
void ref_pages_ops(struct ref_pages *p, struct gmem_pt_page_ops *ops);
void *ref_pages_virt(struct ref_pages *p, uint64_t pa);

/*
 * Every leaf of an EPT of levels (4 or 5) from root_pa, in address
 * order; NULL on success, else what is malformed (a misconfiguration:
 * reserved bits, write without read, bad memory type).
 */
const char *ref_ept_leaves(struct ref_pages *mem, uint64_t root_pa, int levels,
			   ref_leaf_fn fn, void *ctx);

/* The same for an arm64 stage-2 table with a 4, 16 or 64 KiB granule
 * and 48-bit input addresses. */
const char *ref_s2_leaves(struct ref_pages *mem, uint64_t root_pa,
			  unsigned int granule_shift, ref_leaf_fn fn,
			  void *ctx);

/* The leaf translating gfn (false if it faults), by one walk. */
bool ref_ept_translate(struct ref_pages *mem, uint64_t root_pa, int levels,
		       uint64_t gfn, struct ref_leaf *leaf);
bool ref_s2_translate(struct ref_pages *mem, uint64_t root_pa,
		      unsigned int granule_shift, uint64_t gfn,
		      struct ref_leaf *leaf);

#endif
