/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one walker over a builder's table (pt_walk.c). Every operation
 * that reads or changes the table is a visitor of it: the public walk,
 * finding the entry of a frame, making the path to a leaf or counting
 * the tables it needs, unmapping a range, dropping a subtree, pruning
 * tables left empty, and dirty logging's re-protection.
 */
#ifndef GMEM_LIB_PT_WALK_H
#define GMEM_LIB_PT_WALK_H

#include "pt_table.h"

/* Visit kinds beyond the public GMEM_PT_VISIT_*: empty entries, which
 * a visitor may fill (with a table, to have the walk go into it). */
#define PT_VISIT_EMPTY (1u << 8)

/* A walk that only reads, and may run beside others (the public walk,
 * explain): it leaves folded tables folded, and gives their pages the
 * access the hardware reads, without write. */
#define PT_WALK_READ (1u << 9)

/* A visitor's return that ends the walk with success. */
#define PT_WALK_DONE 1

/*
 * The tables of the paths walked last, one per level: a later walk whose
 * frames all lie in one of them starts at the deepest such, not at the
 * root. Valid until a table is freed (its owner clears valid then).
 */
struct pt_cursor {
	uint32_t valid;			/* bit l: table[l] holds */
	uint64_t base[GMEM_PT_MAX_LEVELS];
	uint64_t *table[GMEM_PT_MAX_LEVELS];
};

struct pt_walk_args {
	gmem_pt_visit_fn fn;
	void *ctx;
	uint32_t flags;			/* GMEM_PT_VISIT_*, PT_VISIT_EMPTY */
	unsigned int last_level;	/* goes no deeper */
	struct pt_cursor *cursor;	/* NULL: from the root, always */
};

/* The entry public walkers and the builder's own operations see. */
static inline void pt_entry_fill(const struct gmem_pt *pt, uint64_t *ptep,
				 uint64_t gfn, unsigned int level,
				 const struct pt_decoded *d,
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

/* Whether the cursor's table of level (above the root) holds all of
 * [gfn, end). */
static inline bool pt_cursor_holds(const struct gmem_pt *pt,
				   const struct pt_cursor *c,
				   unsigned int level, uint64_t gfn,
				   uint64_t end)
{
	uint64_t span = pt_entry_frames(pt, level - 1);

	return (c->valid >> level & 1) && gfn - c->base[level] < span &&
	       end - c->base[level] <= span;
}

/* The deepest table of the cursor that holds [gfn, end), or the root
 * (0). */
static inline unsigned int pt_cursor_start(const struct gmem_pt *pt,
					   const struct pt_walk_args *a,
					   uint64_t gfn, uint64_t end)
{
	unsigned int l;

	if (!a->cursor || !a->cursor->valid)
		return 0;
	for (l = a->last_level; l > 0; l--)
		if (pt_cursor_holds(pt, a->cursor, l, gfn, end))
			return l;
	return 0;
}

/* The cursor's table of level holding gfn, or NULL: a walk of gfn to
 * that level would start there and end at its entry, so a visitor of
 * that entry alone may be called on it directly. */
static inline uint64_t *pt_cursor_table(const struct gmem_pt *pt,
					const struct pt_cursor *c,
					unsigned int level, uint64_t gfn)
{
	if (!level)
		return pt->root;
	return pt_cursor_holds(pt, c, level, gfn, gfn + 1) ? c->table[level]
							     : NULL;
}

/*
 * Unfolds the last-level table at ptep, which a harvest folded (write
 * cleared in its entry, pt_log.c): takes write access from its pages,
 * then gives the table its own back. No access changes on the way, so
 * the hardware may walk it meanwhile and nothing need be flushed.
 */
void pt_unfold(const struct gmem_pt *pt, uint64_t *ptep, uint64_t *table);

/* One visit; *d follows the entry if the visitor changed it. */
static inline __attribute__((always_inline)) int
pt_walk_visit(const struct gmem_pt *pt, const struct pt_walk_args *a,
	      uint64_t *ptep, uint64_t at, unsigned int level,
	      struct pt_decoded *d, uint32_t kind)
{
	uint64_t was = *ptep;
	struct gmem_pt_entry e;
	int err;

	pt_entry_fill(pt, ptep, at, level, d, &e);
	err = a->fn(a->ctx, &e, kind);
	if (*ptep != was)
		pt_decode(pt, *ptep, level, d);
	return err;
}

/*
 * The walker. It visits, in address order, the entries mapping any of
 * [gfn, end), down to a->last_level: leaves (GMEM_PT_VISIT_LEAF), empty
 * entries (PT_VISIT_EMPTY), tables before and after their entries
 * (TABLE_PRE, TABLE_POST; a table at last_level is visited as TABLE_PRE
 * only). The entry is read again after a LEAF, EMPTY or TABLE_PRE
 * visit: a visitor that put a table there has the walk go into it, one
 * that cleared a table has it not. A walk that starts at the cursor's
 * table makes no visits above it. It unfolds a folded table before it
 * goes in (but in a PT_WALK_READ walk), so that its visitors see each
 * leaf's own access: only a harvest folds, and only tables it leaves
 * at once. A non-zero return of a visitor ends
 * the walk and is returned (PT_WALK_DONE: found, not an error).
 *
 * It keeps its path in arrays rather than recursing, and is inlined
 * where an operation calls it with its visitor, so that the compiler
 * makes each operation one loop with its visitor inside (as a C++
 * template would): table edits cost what hand-written loops did.
 * Other callers use the copy in pt_walk.c (pt_walk_args).
 */
/* The index past the last entry of a table of level, mapping from
 * base, that maps any of [.., end). */
static inline uint64_t pt_walk_limit(const struct gmem_pt *pt,
				     unsigned int level, uint64_t base,
				     uint64_t end)
{
	unsigned int shift = pt->geom.level[level].entry_shift -
			     GMEM_FRAME_SHIFT;
	uint64_t nent = UINT64_C(1) << pt->geom.level[level].index_bits;
	uint64_t last = ((end - 1 - base) >> shift) + 1;

	return last < nent ? last : nent;
}

static inline __attribute__((always_inline)) int
pt_walk_inline(const struct gmem_pt *pt, uint64_t gfn, uint64_t end,
	       const struct pt_walk_args *a)
{
	uint64_t *tab[GMEM_PT_MAX_LEVELS], base[GMEM_PT_MAX_LEVELS];
	uint64_t idx[GMEM_PT_MAX_LEVELS], lim[GMEM_PT_MAX_LEVELS];
	/* One frame's path, known where the caller is inlined: one entry
	 * per table, no limits to work out. */
	bool path = end - gfn == 1;
	/* In a read walk: the last-level table walked is folded. */
	bool folded = false;
	unsigned int l, top;
	int err;

	if (pt->rule.space_shift < 64) {
		uint64_t space = UINT64_C(1) << pt->rule.space_shift;

		if (gfn >= space)
			return 0;
		if (end > space)
			end = space;
	}
	if (gfn >= end)
		return 0;
	top = pt_cursor_start(pt, a, gfn, end);
	tab[top] = top ? a->cursor->table[top] : pt->root;
	base[top] = top ? a->cursor->base[top] : 0;
	idx[top] = pt_index(pt, top, gfn);
	lim[top] = path ? idx[top] + 1 : pt_walk_limit(pt, top, base[top], end);
	l = top;
	for (;;) {
		uint64_t *t = tab[l], at, *ptep;
		struct pt_decoded d;

		/* Empty entries are written as 0: skipped at once. */
		if (!(a->flags & PT_VISIT_EMPTY))
			while (idx[l] < lim[l] && !t[idx[l]])
				idx[l]++;
		if (idx[l] == lim[l]) {
			/* The table is done: its entry above, after it. */
			if (l == top)
				return 0;
			l--;
			folded = false;
			ptep = &tab[l][idx[l]];
			pt_decode(pt, *ptep, l, &d);
			if ((a->flags & GMEM_PT_VISIT_TABLE_POST) &&
			    d.kind == PT_TABLE) {
				err = pt_walk_visit(pt, a, ptep,
						    base[l] + idx[l] *
							pt_entry_frames(pt, l),
						    l, &d,
						    GMEM_PT_VISIT_TABLE_POST);
				if (err)
					return err;
			}
			idx[l]++;
			continue;
		}
		ptep = &t[idx[l]];
		at = base[l] + idx[l] * pt_entry_frames(pt, l);
		pt_decode(pt, *ptep, l, &d);
		if (folded && d.kind == PT_LEAF)
			d.prot &= ~(uint32_t)GMEM_PT_PROT_W;
		err = 0;
		if (d.kind == PT_EMPTY && (a->flags & PT_VISIT_EMPTY))
			err = pt_walk_visit(pt, a, ptep, at, l, &d,
					    PT_VISIT_EMPTY);
		else if (d.kind == PT_LEAF && (a->flags & GMEM_PT_VISIT_LEAF))
			err = pt_walk_visit(pt, a, ptep, at, l, &d,
					    GMEM_PT_VISIT_LEAF);
		else if (d.kind == PT_TABLE &&
			 (a->flags & GMEM_PT_VISIT_TABLE_PRE))
			err = pt_walk_visit(pt, a, ptep, at, l, &d,
					    GMEM_PT_VISIT_TABLE_PRE);
		if (err)
			return err;
		if (d.kind != PT_TABLE || l == a->last_level) {
			idx[l]++;
			continue;
		}
		tab[l + 1] = pt_virt(pt, d.addr);
		folded = pt->fmt->table_w && !(*ptep & pt->fmt->table_w);
		if (folded && !(a->flags & PT_WALK_READ)) {
			pt_unfold(pt, ptep, tab[l + 1]);
			folded = false;
		}
		base[l + 1] = at;
		if (a->cursor) {
			a->cursor->valid |= 1u << (l + 1);
			a->cursor->base[l + 1] = at;
			a->cursor->table[l + 1] = tab[l + 1];
		}
		l++;
		idx[l] = pt_index(pt, l, gfn > at ? gfn : at);
		lim[l] = path ? idx[l] + 1 : pt_walk_limit(pt, l, at, end);
	}
}

/* The walker, not inlined: for the public walk and rare operations. */
int pt_walk_args(const struct gmem_pt *pt, uint64_t gfn, uint64_t end,
		 const struct pt_walk_args *a);

/* The walk of the public gmem_pt_walk: every level, from the root. */
int pt_walk(const struct gmem_pt *pt, uint64_t gfn, uint64_t end,
	    gmem_pt_visit_fn fn, void *ctx, uint32_t flags);

/* The entry of level for gfn, or where the path ends above it: *level
 * becomes the level of the entry returned. cursor may be NULL. */
uint64_t *pt_entry_at(const struct gmem_pt *pt, uint64_t gfn,
		      unsigned int *level, struct pt_decoded *d,
		      struct pt_cursor *cursor);

#endif
