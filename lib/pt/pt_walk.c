/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The walker over a builder's table. Every operation that reads or
 * changes more than one path (unmapping a subtree, freeing tables,
 * counting, the public walk) is a visitor of this one walker.
 */
#include <errno.h>

#include "core/opts.h"
#include "pt_table.h"

struct walk {
	const struct gmem_pt *pt;
	uint64_t end;
	gmem_pt_visit_fn fn;
	void *ctx;
	uint32_t flags;
};

void pt_entry_fill(const struct gmem_pt *pt, uint64_t *ptep, uint64_t gfn,
		   unsigned int level, const struct pt_decoded *d,
		   struct gmem_pt_entry *e)
{
	*e = (struct gmem_pt_entry){
		.gfn = gfn, .npages = pt_entry_frames(pt, level),
		.pfn = d->kind == PT_LEAF ? d->addr >> GMEM_FRAME_SHIFT : 0,
		.table_pa = d->kind == PT_TABLE ? d->addr : 0, .ptep = ptep,
		.level = level, .prot = d->kind == PT_LEAF ? d->prot : 0,
		.flags = d->kind == PT_LEAF && d->contig ? GMEM_PT_LEAF_CONTIG
							 : 0 };
}

/* Entries of table (of level, mapping from base) from the one holding
 * gfn to the one holding w->end - 1. */
static int walk_table(const struct walk *w, uint64_t *table,
		      unsigned int level, uint64_t base, uint64_t gfn)
{
	const struct gmem_pt *pt = w->pt;
	uint64_t n = pt_entry_frames(pt, level);
	uint64_t nent = UINT64_C(1) << pt->geom.level[level].index_bits;
	uint64_t i = pt_index(pt, level, gfn);
	int err = 0;

	for (; !err && i < nent && base + i * n < w->end; i++) {
		uint64_t at = base + i * n;
		struct gmem_pt_entry e;
		struct pt_decoded d;

		if (!table[i])
			continue;	/* empty entries are written as 0 */
		pt_decode(pt, table[i], level, &d);
		if (d.kind == PT_EMPTY)
			continue;
		pt_entry_fill(pt, &table[i], at, level, &d, &e);
		if (d.kind == PT_LEAF) {
			if (w->flags & GMEM_PT_VISIT_LEAF)
				err = w->fn(w->ctx, &e, GMEM_PT_VISIT_LEAF);
			continue;
		}
		if (w->flags & GMEM_PT_VISIT_TABLE_PRE) {
			err = w->fn(w->ctx, &e, GMEM_PT_VISIT_TABLE_PRE);
			pt_decode(pt, table[i], level, &d);
			if (err || d.kind != PT_TABLE)
				continue;
		}
		err = walk_table(w, pt_virt(pt, d.addr), level + 1, at,
				 gfn > at ? gfn : at);
		if (!err && (w->flags & GMEM_PT_VISIT_TABLE_POST)) {
			pt_decode(pt, table[i], level, &d);
			if (d.kind == PT_TABLE) {
				pt_entry_fill(pt, &table[i], at, level, &d, &e);
				err = w->fn(w->ctx, &e,
					    GMEM_PT_VISIT_TABLE_POST);
			}
		}
	}
	return err;
}

int pt_walk(const struct gmem_pt *pt, uint64_t gfn, uint64_t end,
	    gmem_pt_visit_fn fn, void *ctx, uint32_t flags)
{
	struct walk w = { pt, end, fn, ctx, flags };

	if (pt->rule.space_shift < 64) {
		uint64_t space = UINT64_C(1) << pt->rule.space_shift;

		if (gfn >= space)
			return 0;
		if (w.end > space)
			w.end = space;
	}
	return gfn < w.end ? walk_table(&w, pt->root, 0, 0, gfn) : 0;
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
