/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The walker over a builder's table (pt_walk.h): every operation that
 * reads or changes the table, the public walk among them, is a visitor
 * of this one walker, as arm64's kvm_pgtable_walk serves map, unmap,
 * destroy and get_leaf.
 */
#include <errno.h>

#include "core/opts.h"
#include "pt_walk.h"

void pt_unfold(const struct gmem_pt *pt, uint64_t *ptep, uint64_t *table)
{
	const struct pt_page_w r = pt_format_page_w_rule(pt->fmt->id);
	uint64_t i, n = UINT64_C(1)
			<< pt->geom.level[pt->geom.nlevels - 1].index_bits;

	for (i = 0; i < n; i++)
		table[i] &= ~pt_page_w_of(&r, table[i]);
	/* The pages' stores before the table's (x86 keeps store order;
	 * release says so to the compiler). */
	__atomic_store_n(ptep, *ptep | pt->fmt->table_w, __ATOMIC_RELEASE);
}

int pt_walk_args(const struct gmem_pt *pt, uint64_t gfn, uint64_t end,
		 const struct pt_walk_args *a)
{
	return pt_walk_inline(pt, gfn, end, a);
}

int pt_walk(const struct gmem_pt *pt, uint64_t gfn, uint64_t end,
	    gmem_pt_visit_fn fn, void *ctx, uint32_t flags)
{
	struct pt_walk_args a = { .fn = fn, .ctx = ctx,
				  .flags = flags | PT_WALK_READ,
				  .last_level = pt->geom.nlevels - 1u };

	return pt_walk_args(pt, gfn, end, &a);
}

struct entry_at {
	uint64_t *p;
	unsigned int level;
};

/* The path's entries come root first: the last one seen is the one. */
static inline __attribute__((always_inline)) int entry_visit(void *ctx, const struct gmem_pt_entry *e,
		       uint32_t visit)
{
	struct entry_at *at = ctx;

	(void)visit;
	at->p = e->ptep;
	at->level = e->level;
	return 0;
}

uint64_t *pt_entry_at(const struct gmem_pt *pt, uint64_t gfn,
		      unsigned int *level, struct pt_decoded *d,
		      struct pt_cursor *cursor)
{
	/* A frame beyond what the root maps: its root entry. */
	struct entry_at at = { &pt->root[pt_index(pt, 0, gfn)], 0 };
	uint64_t *t = cursor ? pt_cursor_table(pt, cursor, *level, gfn) : NULL;
	struct pt_walk_args a = {
		.fn = entry_visit, .ctx = &at, .last_level = *level,
		.cursor = cursor,
		.flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE |
			 PT_VISIT_EMPTY };

	if (t) {
		at.p = &t[pt_index(pt, *level, gfn)];
		at.level = *level;
	} else {
		pt_walk_inline(pt, gfn, gfn + 1, &a);
	}
	*level = at.level;
	pt_decode(pt, *at.p, at.level, d);
	return at.p;
}

#define VISIT_ALL (GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE | \
		   GMEM_PT_VISIT_TABLE_POST)

int gmem_pt_walk(const struct gmem_pt *pt, uint64_t gfn, uint64_t npages,
		 const struct gmem_pt_walker *w)
{
	int err = OPTS_VALID(w, gmem_pt_walker);

	if (err)
		return err;
	if (!pt || !w || !OPTS_GET(w, fn, NULL) || !npages ||
	    (OPTS_GET(w, flags, 0) & ~(uint32_t)VISIT_ALL))
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	return pt_walk(pt, gfn, gfn + npages, w->fn, OPTS_GET(w, ctx, NULL),
		       OPTS_GET(w, flags, 0));
}
