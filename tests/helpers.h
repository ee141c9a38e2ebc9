/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the suites share: one random-number generator, one guest setup
 * (with its model and counting allocator), one recording sink for
 * page-table builders, and the kernel's account of a mapping.
 */
#ifndef GMEM_TEST_HELPERS_H
#define GMEM_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gmem.h>

#include "model.h"
#include "test_alloc.h"

/* ---- random numbers: xorshift64*, repeatable from a seed ---- */

static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* ---- a guest on a fresh pool, and its model ---- */

struct test_region {
	uint64_t gfn, npages;
	unsigned int attr;
};

struct test_guest {
	struct test_alloc ta;		/* the pool's allocator */
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct model m;			/* the same regions */
};

/*
 * A pool of pool_frames frames from pool_pfn (node 0), a guest on it with
 * the regions given, and the model of the same. Aborts the test on any
 * error.
 */
void test_guest_open(struct test_guest *t, uint64_t pool_pfn,
		     uint64_t pool_frames, const struct test_region *regions,
		     unsigned int nregions);
/* Destroys guest and pool; the allocator must hold nothing after. */
void test_guest_close(struct test_guest *t);

/* ---- a recording sink for builders ---- */

struct leaves {
	struct gmem_pt_leaf *v;
	uint32_t *prot;
	size_t n, cap;
};

void leaves_push(struct leaves *l, const struct gmem_pt_leaf *leaf,
		 uint32_t prot);
void leaves_free(struct leaves *l);
/* The first leaf ending after gfn, in a sorted list. */
size_t leaves_find(const struct leaves *l, uint64_t gfn);
void leaves_sort(struct leaves *l);
bool leaf_same(const struct gmem_pt_leaf *a, const struct gmem_pt_leaf *b);
int leaf_cmp(const void *a, const void *b);

/*
 * What the sink holds, in sorted lists per 32 MiB (a leaf in the list of
 * its first frame; larger leaves in a list of their own), so that ops
 * and checks touch short lists. Unmaps must name leaves it holds; maps
 * must not overlap them; a leaf unmapped and mapped again in one sync is
 * an op too many; a flush ends every batch and covers its unmaps.
 */
#define REC_SPAN (UINT64_C(1) << 13)	/* frames of one list: 32 MiB */
#define REC_BUCKETS 4096
#define REC_BUCKET(gfn) \
	((gfn) / REC_SPAN < REC_BUCKETS ? (gfn) / REC_SPAN : REC_BUCKETS - 1)

struct rec {
	struct leaves b[REC_BUCKETS], big;
	uint64_t n;			/* leaves held */
	struct leaves gone, added;	/* this sync's unmaps and maps */
	uint64_t lo, hi;		/* where ops may happen now */
	uint64_t calls, fail_at;	/* fail_at: call that fails (1-based) */
	uint64_t maps, unmaps, tables, flushes;
	uint64_t flush_lo, flush_hi;	/* the hull of this batch's unmaps */
};

/* Empties r and makes sink tell it everything. */
void rec_init(struct rec *r, struct gmem_pt_sink *sink);
void rec_free(struct rec *r);
/* The held leaf holding gfn (its permissions in *prot), or NULL. */
const struct gmem_pt_leaf *rec_at(const struct rec *r, uint64_t gfn,
				  uint32_t *prot);
/* All held leaves in order, into out. */
void rec_all(const struct rec *r, struct leaves *out);
/* gmem_pt_sync, checking that no leaf was unmapped and mapped again with
 * the same permissions. */
int rec_sync(struct rec *r, struct gmem_pt *pt);

/* ---- the mapping of the process holding an address (/proc/self/smaps) ---- */

struct smaps_entry {
	uintptr_t lo, hi;
	unsigned long page_kib;		/* KernelPageSize */
	bool thp_eligible;		/* THPeligible: 1 */
	char vmflags[128];		/* VmFlags, as the kernel spells them */
};

/* The mapping holding p; the test fails if there is none. */
void smaps_of(const void *p, struct smaps_entry *e);
/* Whether the mapping's flags hold flag (two letters, as "hg"). */
bool smaps_flag(const struct smaps_entry *e, const char *flag);

#endif
