/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Edits of a builder's table within one batch: paths made for leaves,
 * runs of leaves written, leaves and subtrees removed, tables left empty
 * freed at the end, and the counts kept. The sink is told of each in the
 * order a hardware walker needs (lib/pt_sync.c decides what to edit).
 */
#include <errno.h>
#include <string.h>

#include "guest/guest.h"
#include "pt_edit.h"

/* The entry of level for gfn, or where the path ends above it: *level
 * becomes the level of the entry returned. */
uint64_t *pt_entry_at(const struct gmem_pt *pt, uint64_t gfn,
			  unsigned int *level, struct pt_decoded *d)
{
	uint64_t *table = pt->root;
	unsigned int l;

	for (l = 0;; l++) {
		uint64_t *p = &table[pt_index(pt, l, gfn)];

		pt_decode(pt, *p, l, d);
		if (l == *level || d->kind != PT_TABLE) {
			*level = l;
			return p;
		}
		table = pt_virt(pt, d->addr);
	}
}

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
	sc->cache_ok = false;
}

/* Unmaps a leaf (a contiguous run whole); the sink first. */
static int unmap_leaf(struct gmem_pt *pt, struct pt_batch *sc,
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
	for (i = 0; i < n; i++)
		first[i] = 0;
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

/*
 * A table inside the range: its leaves unmapped and the table dropped
 * whole, its tables below it first, reading its entries directly rather
 * than visiting each. A sink's error stops it with the table holding
 * what is left.
 */
static int drop_table(struct pt_batch *sc, const struct gmem_pt_entry *e)
{
	struct gmem_pt *pt = sc->pt;
	unsigned int level = e->level + 1, cb = pt->geom.level[level].contig_bits;
	uint64_t n = UINT64_C(1) << pt->geom.level[level].index_bits, i;
	uint64_t step = pt_entry_frames(pt, level);
	uint64_t *t = pt_virt(pt, e->table_pa);
	uint64_t lo = UINT64_MAX, hi = 0;
	int err = 0;

	for (i = 0; !err && i < n; i++) {
		struct pt_decoded d;
		uint64_t run;

		if (!t[i])
			continue;
		pt_decode(pt, t[i], level, &d);
		if (d.kind == PT_TABLE) {
			struct gmem_pt_entry sub;

			pt_entry_fill(pt, &t[i], e->gfn + i * step, level, &d,
				      &sub);
			err = drop_table(sc, &sub);
			continue;
		}
		/* A contiguous run is one leaf, of all its entries. */
		run = d.contig ? UINT64_C(1) << cb : 1;
		if (pt->sink.unmap) {
			struct gmem_pt_leaf leaf = {
				e->gfn + i * step, d.addr >> GMEM_FRAME_SHIFT,
				step * run, level,
				d.contig ? GMEM_PT_LEAF_CONTIG : 0 };

			err = pt->sink.unmap(pt->sink.ctx, &leaf);
			if (err)
				break;
		}
		sc->leaves--;
		sc->unmaps++;
		sc->entries -= (int64_t)run;
		if (lo == UINT64_MAX)
			lo = e->gfn + i * step;
		hi = e->gfn + (i + run) * step;
		t[i] = 0;
		for (; run > 1; run--)
			t[++i] = 0;
	}
	if (hi)
		pt_flush_add(sc, lo, hi);
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

	sc->cache_ok = false;
	return pt_walk(pt, lo, hi, clear_visit, &c,
		       GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE);
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

/*
 * Counts, or makes, the tables on the path to a leaf of level. Tables
 * made are touched if the leaf does not follow (a sink's error), so
 * that they do not stay empty.
 */
int pt_make_path(struct pt_batch *sc, uint64_t gfn, unsigned int level,
		     uint64_t **table)
{
	struct gmem_pt *pt = sc->pt;
	uint64_t *t = pt->root;
	unsigned int l;

	if (sc->cache_ok && sc->cache_level == level &&
	    gfn - sc->cache_base < sc->cache_span) {
		*table = sc->cache_table;
		return 0;
	}
	for (l = 0; l < level; l++) {
		uint64_t *p = &t[pt_index(pt, l, gfn)], span, base, pa;
		struct pt_decoded d;

		pt_decode(pt, *p, l, &d);
		if (d.kind == PT_TABLE) {
			t = pt_virt(pt, d.addr);
			continue;
		}
		span = pt_entry_frames(pt, l);
		base = gfn & ~(span - 1);
		if (!sc->apply) {
			for (; l < level; l++)
				pt_count_table(sc, l + 1,
					       gfn & ~(pt_entry_frames(pt, l) - 1));
			break;
		}
		if (d.kind != PT_EMPTY || !pt->spare[l + 1])
			return -EIO;	/* counted wrong: never expected */
		if (pt->sink.table_add) {
			int err = pt->sink.table_add(pt->sink.ctx, base, span,
						     l + 1);

			if (err) {
				pt_touch(sc, gfn, l);
				return err;
			}
		}
		t = pt_page_alloc(pt, l + 1, &pa);
		*p = pt_format_table(pt->fmt->id, pa);
		sc->tables++;
		sc->table_bytes += (int64_t)pt_page_bytes(pt, l + 1);
	}
	*table = t;
	sc->cache_ok = true;
	sc->cache_level = level;
	sc->cache_span = pt_entry_frames(pt, level)
			 << pt->geom.level[level].index_bits;
	sc->cache_base = gfn & ~(sc->cache_span - 1);
	sc->cache_table = t;
	return 0;
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
		p = pt_entry_at(pt, gfn, &level, &d);
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

static int prune_visit(void *ctx, const struct gmem_pt_entry *e,
		       uint32_t visit)
{
	struct pt_batch *sc = ctx;
	unsigned int child = e->level + 1;

	(void)visit;
	if (table_empty(pt_virt(sc->pt, e->table_pa),
			UINT64_C(1) << sc->pt->geom.level[child].index_bits))
		table_gone(sc, e);
	return 0;
}

/*
 * Frees the touched tables left empty, deepest first, and their parents
 * in turn; if more were touched than the list holds, every table of the
 * batch's blocks is looked at instead.
 */
static void prune(struct pt_batch *sc)
{
	struct gmem_pt *pt = sc->pt;

	while (sc->ntouched) {
		unsigned int k, deepest = 0, level;
		uint64_t gfn;
		uint64_t *p;
		struct pt_decoded d;

		for (k = 1; k < sc->ntouched; k++)
			if (sc->touched[k].level > sc->touched[deepest].level)
				deepest = k;
		gfn = sc->touched[deepest].gfn;
		level = sc->touched[deepest].level;
		sc->touched[deepest] = sc->touched[--sc->ntouched];
		if (level == 0)
			continue;	/* the root stays */
		level--;
		p = pt_entry_at(pt, gfn, &level, &d);
		if (d.kind == PT_TABLE &&
		    table_empty(pt_virt(pt, d.addr),
				UINT64_C(1) << pt->geom.level[level + 1].index_bits)) {
			struct gmem_pt_entry e;
			uint64_t span = pt_entry_frames(pt, level);

			pt_entry_fill(pt, p, gfn & ~(span - 1), level, &d, &e);
			table_gone(sc, &e);
			pt_touch(sc, gfn, level);
		}
	}
	if (sc->touched_over) {
		uint64_t top = UINT64_C(1) << pt->sz.s[0].shift;

		pt_walk(pt, sc->lo & ~(top - 1),
			sc->hi > UINT64_MAX - top ? UINT64_MAX
						  : (sc->hi + top - 1) & ~(top - 1),
			prune_visit, sc, GMEM_PT_VISIT_TABLE_POST);
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
	if (pt->sink.flush)
		pt->sink.flush(pt->sink.ctx, sc->flush_hi ? sc->flush_lo : 0,
			       sc->flush_hi ? sc->flush_hi - sc->flush_lo : 0);
}
