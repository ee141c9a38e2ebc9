/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Edits of a builder's table within one batch: paths made for leaves,
 * runs of leaves written, leaves and subtrees removed, tables left empty
 * freed at the end, and the counts kept. The sink is told of each in the
 * order a hardware walker needs (pt_sync.c decides what to edit).
 */
#include <errno.h>
#include <string.h>

#include "core/probe.h"
#include "guest/guest.h"
#include "pt_edit.h"

void pt_touch(struct pt_batch *sc, uint64_t gfn, unsigned int level)
{
	if (sc->ntouched && sc->touched[sc->ntouched - 1].level == level &&
	    !((sc->touched[sc->ntouched - 1].gfn ^ gfn) >>
	      (sc->pt->geom.level[level].entry_shift - GMEM_FRAME_SHIFT +
	       sc->pt->geom.level[level].index_bits)))
		return;
	if (sc->ntouched == TOUCHED_MAX) {
		sc->touched_over = true;
		return;
	}
	sc->touched[sc->ntouched].gfn = gfn;
	sc->touched[sc->ntouched++].level = level;
}

static void table_gone(struct pt_batch *sc, const struct gmem_pt_entry *e)
{
	struct gmem_pt *pt = sc->pt;
	unsigned int child = e->level + 1;

	if (pt->sink.table_del)
		pt->sink.table_del(pt->sink.ctx, e->gfn, e->npages, child);
	*e->ptep = 0;
	pt_page_free(pt, child, pt_virt(pt, e->table_pa), e->table_pa);
	sc->tables--;
	sc->table_bytes -= (int64_t)pt_page_bytes(pt, child);
	sc->cursor.valid = 0;
}

/* Unmaps a leaf (a contiguous run whole); the sink first. */
static inline __attribute__((always_inline)) int unmap_leaf(struct gmem_pt *pt, struct pt_batch *sc,
		      const struct gmem_pt_entry *e)
{
	uint64_t gfn = e->gfn, npages = e->npages, *first = e->ptep;
	unsigned int i, n = 1;

	if (e->flags & GMEM_PT_LEAF_CONTIG) {
		unsigned int cb = pt->geom.level[e->level].contig_bits;

		n = 1u << cb;
		npages <<= cb;
		gfn &= ~(npages - 1);
		first -= (e->gfn - gfn) >> (pt->geom.level[e->level].entry_shift -
					    GMEM_FRAME_SHIFT);
	}
	if (pt->sink.unmap) {
		struct gmem_pt_leaf leaf = { gfn, e->pfn - (e->gfn - gfn),
					     npages, e->level, e->flags };
		int err = pt->sink.unmap(pt->sink.ctx, &leaf);

		if (err)
			return err;
	}
	/* Plain stores, not a memset the compiler might make of a loop:
	 * the walker reads the entry again at once. */
	first[0] = 0;
	for (i = 1; i < n; i++)
		__atomic_store_n(&first[i], 0, __ATOMIC_RELAXED);
	sc->leaves--;
	sc->entries -= n;
	sc->unmaps++;
	pt_flush_add(sc, gfn, gfn + npages);
	return 0;
}

struct clear {
	struct pt_batch *sc;
	uint64_t lo, hi;
};

/* Below a table being dropped: leaves unmapped (a contiguous run whole,
 * at its first entry), tables freed once their entries are gone. */
static inline __attribute__((always_inline)) int drop_visit(void *ctx, const struct gmem_pt_entry *e,
		      uint32_t visit)
{
	struct pt_batch *sc = ctx;

	if (visit == GMEM_PT_VISIT_LEAF)
		return unmap_leaf(sc->pt, sc, e);
	table_gone(sc, e);
	return 0;
}

/*
 * A table inside the range: its leaves unmapped and its tables freed,
 * walking from the table itself, then the table. A sink's error stops
 * it with the table holding what is left.
 */
static int drop_table(struct pt_batch *sc, const struct gmem_pt_entry *e)
{
	const struct gmem_pt *pt = sc->pt;
	unsigned int level = e->level + 1;
	struct pt_cursor here = { .valid = 1u << level };
	struct pt_walk_args a = {
		.fn = drop_visit, .ctx = sc, .cursor = &here,
		.flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_POST,
		.last_level = pt->geom.nlevels - 1u };
	int err;

	here.base[level] = e->gfn;
	here.table[level] = pt_virt(pt, e->table_pa);
	err = pt_walk_inline(pt, e->gfn, e->gfn + e->npages, &a);
	if (!err)
		table_gone(sc, e);
	return err;
}

/*
 * Tables inside the range are dropped whole before the walk enters them,
 * so the walk meets only leaves of the tables the range crosses: those
 * tables may be left empty, and are touched.
 */
static int clear_visit(void *ctx, const struct gmem_pt_entry *e,
		       uint32_t visit)
{
	struct clear *c = ctx;
	int err = 0;

	if (visit == GMEM_PT_VISIT_LEAF)
		err = unmap_leaf(c->sc->pt, c->sc, e);
	else if (e->gfn >= c->lo && e->gfn + e->npages <= c->hi)
		err = drop_table(c->sc, e);
	else
		return 0;
	if (!err)
		pt_touch(c->sc, e->gfn, e->level);
	return err;
}

/* Removes every leaf and table inside [lo, hi). */
int pt_clear_range(struct gmem_pt *pt, struct pt_batch *sc, uint64_t lo,
		       uint64_t hi)
{
	struct clear c = { sc, lo, hi };
	/* From the cursor's deepest table holding the range: the tables
	 * above it cross the range, and clear_visit leaves those. */
	struct pt_walk_args a = {
		.fn = clear_visit, .ctx = &c, .cursor = &sc->cursor,
		.flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE,
		.last_level = pt->geom.nlevels - 1u };

	return pt_walk_inline(pt, lo, hi, &a);
}

int pt_clear_all(struct gmem_pt *pt)
{
	uint64_t end = pt->rule.space_shift < 64
			       ? UINT64_C(1) << pt->rule.space_shift
			       : UINT64_MAX;
	struct pt_batch sc = { .pt = pt, .flush_lo = UINT64_MAX };
	int err = pt_clear_range(pt, &sc, 0, end);

	pt_batch_end(&sc);
	return err;
}

/* Leaves are mapped in address order: a table counted once serves all
 * that follow in it. */
void pt_count_table(struct pt_batch *sc, unsigned int level, uint64_t base)
{
	if (sc->counted[level] != base + 1) {
		sc->counted[level] = base + 1;
		sc->need[level]++;
	}
}

struct path {
	struct pt_batch *sc;
	unsigned int level;
	uint64_t gfn;
	uint64_t *table;
};

/*
 * On the way to a leaf of p->level: a table for each empty entry above
 * it, counted, or made and walked into; at the leaf's level, its table.
 */
static inline __attribute__((always_inline)) int path_visit(void *ctx, const struct gmem_pt_entry *e,
		      uint32_t visit)
{
	struct path *p = ctx;
	struct pt_batch *sc = p->sc;
	struct gmem_pt *pt = sc->pt;
	unsigned int l = e->level;
	uint64_t pa;

	if (l == p->level) {
		p->table = e->ptep - pt_index(pt, l, p->gfn);
		return PT_WALK_DONE;
	}
	if (visit == GMEM_PT_VISIT_TABLE_PRE)
		return 0;
	if (!sc->apply) {
		for (; l < p->level; l++)
			pt_count_table(sc, l + 1,
				       p->gfn & ~(pt_entry_frames(pt, l) - 1));
		return PT_WALK_DONE;
	}
	if (visit != PT_VISIT_EMPTY || !pt->spare[l + 1])
		return -EIO;	/* counted wrong: never expected */
	if (pt->sink.table_add) {
		int err = pt->sink.table_add(pt->sink.ctx, e->gfn, e->npages,
					     l + 1);

		if (err) {
			pt_touch(sc, p->gfn, l);
			return err;
		}
	}
	pt_page_alloc(pt, l + 1, &pa);
	*e->ptep = pt_format_table(pt->fmt->id, pa);
	sc->tables++;
	sc->table_bytes += (int64_t)pt_page_bytes(pt, l + 1);
	return 0;
}

/*
 * Counts, or makes, the tables on the path to a leaf of level. Tables
 * made are touched if the leaf does not follow (a sink's error), so
 * that they do not stay empty.
 */
int pt_make_path(struct pt_batch *sc, uint64_t gfn, unsigned int level,
		 uint64_t **table)
{
	struct path p = { sc, level, gfn, NULL };
	struct pt_walk_args a = {
		.fn = path_visit, .ctx = &p, .cursor = &sc->cursor,
		.last_level = level,
		.flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE |
			 PT_VISIT_EMPTY };
	int err;

	/* Consecutive leaves mostly share their table: made already, or
	 * counted (and then its path too). */
	*table = pt_cursor_table(sc->pt, &sc->cursor, level, gfn);
	if (*table || (!sc->apply && level &&
		       sc->counted[level] ==
			       (gfn & ~(pt_entry_frames(sc->pt, level - 1) - 1)) + 1))
		return 0;
	err = pt_walk_inline(sc->pt, gfn, gfn + 1, &a);
	*table = p.table;
	return err == PT_WALK_DONE ? 0 : err;
}

/*
 * k leaves of size s from gfn, all in one table, with sc->prot: one
 * path, the sink told of each, and a run of stores (a fresh block's
 * leaves of one size lie side by side). When counting, the path only.
 */
int pt_map_run(struct pt_batch *sc, uint64_t gfn,
		   const struct pt_leaf_size *s, uint64_t pfn, uint64_t k)
{
	struct gmem_pt *pt = sc->pt;
	uint64_t step = pt_entry_frames(pt, s->level), j, *table = NULL, e0;
	uint64_t n = k * pt_run_entries(pt, s);
	int err;

	if (pfn + step * n > UINT64_C(1) << (pt->fmt->oa_bits - GMEM_FRAME_SHIFT))
		return -ERANGE;
	err = pt_make_path(sc, gfn, s->level, &table);
	if (err || !sc->apply)
		return err;
	/* The sink accepts a prefix of the run: only that is written. */
	if (pt->sink.map) {
		struct gmem_pt_leaf leaf = {
			gfn, pfn, step * (n / k), s->level,
			s->contig ? GMEM_PT_LEAF_CONTIG : 0 };

		for (j = 0; j < k; j++) {
			err = pt->sink.map(pt->sink.ctx, &leaf, sc->prot);
			if (err)
				break;
			leaf.gfn += leaf.npages;
			leaf.pfn += leaf.npages;
		}
		if (err)
			pt_touch(sc, gfn, s->level);
		n = n / k * j;
		k = j;
	}
	table += pt_index(pt, s->level, gfn);
	e0 = pt_format_leaf(pt->fmt->id, pfn << GMEM_FRAME_SHIFT, sc->prot,
			    s->contig, pt->memtype, s->level,
			    s->level + 1u == pt->geom.nlevels);
	for (j = 0; j < n; j++)
		table[j] = e0 + ((j * step) << GMEM_FRAME_SHIFT);
	sc->leaves += (int64_t)k;
	sc->entries += (int64_t)n;
	sc->maps += k;
	return err;
}

/* Tells the sink of a leaf's new permissions, as an unmap and a map if
 * it has no protect; a map refused after the unmap leaves the leaf
 * unmapped, as the sink has it. */
static int protect_sink(struct pt_batch *sc, const struct gmem_pt_leaf *leaf,
			uint64_t *first, unsigned int n, uint32_t prot)
{
	struct gmem_pt *pt = sc->pt;
	unsigned int i;
	int err;

	if (pt->sink.protect)
		return pt->sink.protect(pt->sink.ctx, leaf, prot);
	err = pt->sink.unmap ? pt->sink.unmap(pt->sink.ctx, leaf) : 0;
	if (err || !pt->sink.map)
		return err;
	err = pt->sink.map(pt->sink.ctx, leaf, prot);
	if (err) {
		for (i = 0; i < n; i++)
			first[i] = 0;
		sc->leaves--;
		sc->entries -= n;
		sc->unmaps++;
		pt_touch(sc, leaf->gfn, leaf->level);
		pt_flush_add(sc, leaf->gfn, leaf->gfn + leaf->npages);
	}
	return err;
}

int pt_protect_leaf(struct pt_batch *sc, uint64_t *p, uint64_t gfn,
		    const struct pt_leaf_size *s, uint64_t pfn, uint32_t old,
		    uint32_t prot)
{
	struct gmem_pt *pt = sc->pt;
	uint64_t step = pt_entry_frames(pt, s->level), e0;
	unsigned int level = s->level, j, n = pt_run_entries(pt, s);
	struct gmem_pt_leaf leaf = { gfn, pfn, step * n, s->level,
				     s->contig ? GMEM_PT_LEAF_CONTIG : 0 };
	struct pt_decoded d;
	int err;

	if (!sc->apply)
		return 0;
	if (!p)
		p = pt_entry_at(pt, gfn, &level, &d, &sc->cursor);
	err = protect_sink(sc, &leaf, p, n, prot);
	if (err)
		return err;
	e0 = pt_format_leaf(pt->fmt->id, pfn << GMEM_FRAME_SHIFT, prot,
			    s->contig, pt->memtype, s->level,
			    s->level + 1u == pt->geom.nlevels);
	for (j = 0; j < n; j++)
		p[j] = e0 + ((j * step) << GMEM_FRAME_SHIFT);
	sc->protects++;
	if ((old & GMEM_PT_PROT_W) && !(prot & GMEM_PT_PROT_W))
		bus_tell(&pt->guest->bus, BUS_WRPROTECT, gfn,
			 gfn + leaf.npages);
	/* Access taken away must not stay in a TLB; access given may, but
	 * a sink told of an unmap flushes it. */
	if ((old & ~prot) || !pt->sink.protect)
		pt_flush_add(sc, gfn, gfn + leaf.npages);
	return 0;
}

static bool table_empty(const uint64_t *t, uint64_t nent)
{
	uint64_t i;

	for (i = 0; i < nent; i++)
		if (t[i])
			return false;
	return true;
}

struct prune {
	struct pt_batch *sc;
	bool path;		/* one table's path: stop at one not empty */
};

/* After its entries: a table left empty goes. On a path, one that is
 * not empty keeps every table above it. */
static int prune_visit(void *ctx, const struct gmem_pt_entry *e,
		       uint32_t visit)
{
	struct prune *pr = ctx;
	const struct gmem_pt *pt = pr->sc->pt;

	(void)visit;
	if (!table_empty(pt_virt(pt, e->table_pa),
			 UINT64_C(1) << pt->geom.level[e->level + 1].index_bits))
		return pr->path ? PT_WALK_DONE : 0;
	table_gone(pr->sc, e);
	return 0;
}

/*
 * Frees the touched tables left empty and their parents in turn: a walk
 * of each touched table's path visits its tables after their entries,
 * deepest first. If more were touched than the list holds, every table
 * of the batch's blocks is looked at instead.
 */
static void prune(struct pt_batch *sc)
{
	struct gmem_pt *pt = sc->pt;
	struct prune pr = { sc, true };
	struct pt_walk_args a = { .fn = prune_visit, .ctx = &pr,
				  .flags = GMEM_PT_VISIT_TABLE_POST };
	uint32_t k;

	for (k = 0; k < sc->ntouched; k++) {
		a.last_level = sc->touched[k].level;
		pt_walk_args(pt, sc->touched[k].gfn, sc->touched[k].gfn + 1,
			     &a);
	}
	sc->ntouched = 0;
	if (sc->touched_over) {
		uint64_t top = UINT64_C(1) << pt->sz.s[0].shift;

		pr.path = false;
		a.last_level = pt->geom.nlevels - 1u;
		pt_walk_args(pt, sc->lo & ~(top - 1),
			     sc->hi > UINT64_MAX - top
				     ? UINT64_MAX
				     : (sc->hi + top - 1) & ~(top - 1),
			     &a);
	}
}

/* The batch's counts, to the builder's (read by any thread). */
static void account(const struct pt_batch *sc)
{
	struct gmem_pt *pt = sc->pt;

	atomic_fetch_add(&pt->nleaves, (uint64_t)sc->leaves);
	atomic_fetch_add(&pt->nentries, (uint64_t)sc->entries);
	atomic_fetch_add(&pt->ntables, (uint64_t)sc->tables);
	atomic_fetch_add(&pt->table_bytes, (uint64_t)sc->table_bytes);
	atomic_fetch_add(&pt->maps, sc->maps);
	atomic_fetch_add(&pt->unmaps, sc->unmaps);
	atomic_fetch_add(&pt->protects, sc->protects);
}

void pt_batch_end(struct pt_batch *sc)
{
	struct gmem_pt *pt = sc->pt;

	prune(sc);
	account(sc);
	GMEM_PROBE(pt_batch, pt, sc->maps, sc->unmaps, sc->protects,
		   sc->flush_hi ? sc->flush_hi - sc->flush_lo : 0);
	if (pt->sink.flush)
		pt->sink.flush(pt->sink.ctx, sc->flush_hi ? sc->flush_lo : 0,
			       sc->flush_hi ? sc->flush_hi - sc->flush_lo : 0);
}
