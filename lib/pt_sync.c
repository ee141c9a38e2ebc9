/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync: from the table (the cover as of the last sync) and the guest
 * state (the cover now), the minimal delta.
 *
 * The cover is made of maximal aligned blocks: a frame's leaf is the
 * largest aligned block around it that may be one leaf. A block's status
 * changes only if it holds a changed frame, so the leaves that change
 * all lie under the blocks of each size that hold a changed frame. The
 * sync walks down those blocks, largest first, and at each compares:
 *
 *  - the table's view of the block: its exact leaf, nothing at all, or
 *    something smaller inside (read from the table: a block is a leaf of
 *    the old cover exactly when the table has that leaf);
 *  - the guest's: one leaf, nothing in the view, or mixed.
 *
 * Equal leaves end the descent; a new leaf replaces whatever is inside;
 * an old leaf that no longer holds is unmapped and the new cover inside
 * it built fresh; otherwise it goes down to the smaller blocks that hold
 * changed frames. Nothing outside those blocks is read or written.
 *
 * Each pending range is one batch. It is first walked without changes to
 * count the tables it will need; they are allocated before anything
 * changes, so -ENOMEM leaves the table as it was. Tables left empty are
 * freed at the end of the batch, so a table emptied and filled again in
 * one batch is never freed and allocated again.
 */
#include <errno.h>
#include <string.h>

#include "guest.h"
#include "pt_table.h"

/* Tables whose entries were cleared, checked for emptiness at the end. */
#define TOUCHED_MAX 32

struct sync {
	struct gmem_pt *pt;
	bool apply;			/* false: count tables only */
	uint32_t flags;			/* PT_RANGE_* of the range */
	uint64_t lo, hi;		/* the range */
	uint64_t join_lo, join_hi;	/* where joins are allowed */
	uint32_t need[GMEM_PT_MAX_LEVELS];
	uint64_t counted[GMEM_PT_MAX_LEVELS];	/* last table counted, + 1 */
	uint64_t flush_lo, flush_hi;
	/* The table leaves of one level went to last (consecutive leaves
	 * mostly share it): [cache_base, + cache_span) at cache_level. */
	bool cache_ok;
	unsigned int cache_level;
	uint64_t cache_base, cache_span, *cache_table;
	/* Counts, added to the builder's at the end of the batch. */
	int64_t leaves, entries, tables, table_bytes;
	uint64_t maps, unmaps;
	uint32_t prot;			/* of the stretch being covered */
	uint32_t ntouched;
	bool touched_over;
	struct {
		uint64_t gfn;
		uint32_t level;
	} touched[TOUCHED_MAX];
};

/* What the table has for a block. */
enum old_kind { OLD_NONE, OLD_LEAF, OLD_SOME };

struct old {
	enum old_kind kind;
	uint64_t pfn;
	uint32_t prot;
};

/* The entry of level for gfn, or where the path ends above it: *level
 * becomes the level of the entry returned. */
static uint64_t *entry_at(const struct gmem_pt *pt, uint64_t gfn,
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

static unsigned int run_entries(const struct gmem_pt *pt,
				const struct pt_leaf_size *s)
{
	return s->contig ? 1u << pt->geom.level[s->level].contig_bits : 1;
}

static void old_of(const struct gmem_pt *pt, uint64_t lo,
		   const struct pt_leaf_size *s, struct old *o)
{
	unsigned int level = s->level, i, n = run_entries(pt, s);
	struct pt_decoded d;
	uint64_t *p = entry_at(pt, lo, &level, &d);

	o->kind = OLD_SOME;
	if (level < s->level) {
		if (d.kind == PT_EMPTY)
			o->kind = OLD_NONE;
		return;
	}
	if (d.kind == PT_LEAF && d.contig == s->contig) {
		o->kind = OLD_LEAF;
		o->pfn = d.addr >> GMEM_FRAME_SHIFT;
		o->prot = d.prot;
		return;
	}
	for (i = 0; i < n; i++)
		if (p[i])
			return;
	o->kind = OLD_NONE;
}

static void touch(struct sync *sc, uint64_t gfn, unsigned int level)
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

static void table_gone(struct sync *sc, const struct gmem_pt_entry *e)
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
static int unmap_leaf(struct gmem_pt *pt, struct sync *sc,
		      const struct gmem_pt_entry *e)
{
	uint64_t gfn = e->gfn, npages = e->npages, *first = e->ptep;
	unsigned int i, n = 1;

	if (e->flags & GMEM_PT_LEAF_CONTIG) {
		unsigned int cb = pt->geom.level[e->level].contig_bits;

		n = 1u << cb;
		npages <<= cb;
		gfn &= ~(npages - 1);
		first -= (e->gfn - gfn) / e->npages;
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
	if (sc->flush_lo > gfn)
		sc->flush_lo = gfn;
	if (sc->flush_hi < gfn + npages)
		sc->flush_hi = gfn + npages;
	return 0;
}

struct clear {
	struct gmem_pt *pt;
	struct sync *sc;
	uint64_t lo, hi;
};

/* Whether the table of level holding gfn lies inside the cleared range:
 * then it goes whole, and nobody needs to look at it again. */
static bool table_inside(const struct clear *c, uint64_t gfn,
			 unsigned int level)
{
	const struct gmem_pt_level *l = &c->pt->geom.level[level];
	uint64_t span = UINT64_C(1) << (l->entry_shift + l->index_bits -
					GMEM_FRAME_SHIFT);
	uint64_t base = gfn & ~(span - 1);

	return level > 0 && base >= c->lo && base + span <= c->hi;
}

/*
 * A table inside the range: its leaves unmapped and the table dropped
 * whole, its tables below it first, reading its entries directly rather
 * than visiting each. A sink's error stops it with the table holding
 * what is left.
 */
static int drop_table(struct sync *sc, const struct gmem_pt_entry *e)
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
	if (hi && sc->flush_lo > lo)
		sc->flush_lo = lo;
	if (sc->flush_hi < hi)
		sc->flush_hi = hi;
	if (!err)
		table_gone(sc, e);
	return err;
}

/* Leaves go; tables that lie inside the range go after their entries.
 * A table the range only crosses may be left empty: touched. */
static int clear_visit(void *ctx, const struct gmem_pt_entry *e,
		       uint32_t visit)
{
	struct clear *c = ctx;

	if (visit == GMEM_PT_VISIT_TABLE_PRE) {
		int err = 0;

		if (e->gfn >= c->lo && e->gfn + e->npages <= c->hi) {
			err = drop_table(c->sc, e);
			if (!table_inside(c, e->gfn, e->level))
				touch(c->sc, e->gfn, e->level);
		}
		return err;
	}
	if (visit == GMEM_PT_VISIT_LEAF) {
		int err = unmap_leaf(c->pt, c->sc, e);

		if (!err && !table_inside(c, e->gfn, e->level))
			touch(c->sc, e->gfn, e->level);
		return err;
	}
	if (e->gfn >= c->lo && e->gfn + e->npages <= c->hi) {
		table_gone(c->sc, e);
		if (!table_inside(c, e->gfn, e->level))
			touch(c->sc, e->gfn, e->level);
	}
	return 0;
}

/* Removes every leaf and table inside [lo, hi). */
static int clear_range(struct gmem_pt *pt, struct sync *sc, uint64_t lo,
		       uint64_t hi)
{
	struct clear c = { pt, sc, lo, hi };

	sc->cache_ok = false;
	return pt_walk(pt, lo, hi, clear_visit, &c,
		       GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE |
			       GMEM_PT_VISIT_TABLE_POST);
}

/* The batch's counts, to the builder's (read by any thread). */
static void account(const struct sync *sc)
{
	struct gmem_pt *pt = sc->pt;

	atomic_fetch_add(&pt->nleaves, (uint64_t)sc->leaves);
	atomic_fetch_add(&pt->nentries, (uint64_t)sc->entries);
	atomic_fetch_add(&pt->ntables, (uint64_t)sc->tables);
	atomic_fetch_add(&pt->table_bytes, (uint64_t)sc->table_bytes);
	atomic_fetch_add(&pt->maps, sc->maps);
	atomic_fetch_add(&pt->unmaps, sc->unmaps);
}

int pt_clear_all(struct gmem_pt *pt)
{
	uint64_t end = pt->rule.space_shift < 64
			       ? UINT64_C(1) << pt->rule.space_shift
			       : UINT64_MAX;
	struct sync sc = { .pt = pt, .flush_lo = UINT64_MAX };
	int err = clear_range(pt, &sc, 0, end);

	account(&sc);
	if (pt->sink.flush && sc.flush_hi)
		pt->sink.flush(pt->sink.ctx, sc.flush_lo,
			       sc.flush_hi - sc.flush_lo);
	return err;
}

/*
 * Counts, or makes, the tables on the path to a leaf of level. Tables
 * made are touched if the leaf does not follow (a sink's error), so
 * that they do not stay empty.
 */
static int make_path(struct sync *sc, uint64_t gfn, unsigned int level,
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
			/* Leaves are mapped in address order: a table
			 * counted once serves all that follow in it. */
			for (; l < level; l++) {
				base = gfn & ~(pt_entry_frames(pt, l) - 1);
				if (sc->counted[l + 1] != base + 1) {
					sc->counted[l + 1] = base + 1;
					sc->need[l + 1]++;
				}
			}
			break;
		}
		if (d.kind != PT_EMPTY || !pt->spare[l + 1])
			return -EIO;	/* counted wrong: never expected */
		if (pt->sink.table_add) {
			int err = pt->sink.table_add(pt->sink.ctx, base, span,
						     l + 1);

			if (err) {
				touch(sc, gfn, l);
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

static int map_leaf(struct sync *sc, uint64_t lo, const struct pt_leaf_size *s,
		    uint64_t pfn, uint32_t prot)
{
	struct gmem_pt *pt = sc->pt;
	unsigned int i, n = run_entries(pt, s);
	bool last = s->level + 1u == pt->geom.nlevels;
	uint64_t step = pt_entry_frames(pt, s->level), *table;
	int err = 0;

	if (pfn + step * n > UINT64_C(1) << (pt->fmt->oa_bits - GMEM_FRAME_SHIFT))
		return -ERANGE;
	/* Consecutive leaves mostly go to the table the last one went to. */
	if (sc->cache_ok && sc->cache_level == s->level &&
	    lo - sc->cache_base < sc->cache_span)
		table = sc->cache_table;
	else
		err = make_path(sc, lo, s->level, &table);
	if (err || !sc->apply)
		return err;
	if (pt->sink.map) {
		struct gmem_pt_leaf leaf = {
			.gfn = lo, .pfn = pfn, .npages = step * n,
			.level = s->level,
			.flags = s->contig ? GMEM_PT_LEAF_CONTIG : 0 };

		err = pt->sink.map(pt->sink.ctx, &leaf, prot);
		if (err) {
			touch(sc, lo, s->level);
			return err;
		}
	}
	table += pt_index(pt, s->level, lo);
	/* One entry, or a contiguous run: each maps its part. */
	table[0] = pt_format_leaf(pt->fmt->id, pfn << GMEM_FRAME_SHIFT, prot,
				  s->contig, pt->memtype, s->level, last);
	for (i = 1; i < n; i++)
		table[i] = table[0] + ((i * step) << GMEM_FRAME_SHIFT);
	sc->leaves++;
	sc->entries += n;
	sc->maps++;
	return 0;
}

/* Clears what the table has inside a block, if anything. */
static int clear_block(struct sync *sc, uint64_t lo, uint64_t n,
		       const struct old *o)
{
	if (o->kind == OLD_NONE || !sc->apply)
		return 0;
	return clear_range(sc->pt, sc, lo, lo + n);
}

/*
 * k leaves of size s from gfn, all in one table: one path, the sink told
 * of each, and a run of stores (a fresh block's leaves of one size lie
 * side by side).
 */
static int map_run(struct sync *sc, uint64_t gfn,
		   const struct pt_leaf_size *s, uint64_t pfn, uint64_t k)
{
	struct gmem_pt *pt = sc->pt;
	uint64_t step = pt_entry_frames(pt, s->level), j, *table = NULL, e0;
	uint64_t n = k * run_entries(pt, s);
	int err;

	if (pfn + step * n > UINT64_C(1) << (pt->fmt->oa_bits - GMEM_FRAME_SHIFT))
		return -ERANGE;
	err = make_path(sc, gfn, s->level, &table);
	if (err)
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
			touch(sc, gfn, s->level);
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

/*
 * A stretch of a fresh block: its cover, with the permissions of its
 * attribute. The cover's leaves come in runs of one size: up to where a
 * larger leaf could start, the stretch ends or the table does.
 */
static int fresh_stretch(void *ctx, uint64_t gfn, uint64_t end,
			 unsigned int attr)
{
	struct sync *sc = ctx;
	const struct gmem_pt *pt = sc->pt;
	uint64_t pfn = guest_pfn(pt->guest, gfn);

	sc->prot = pt->prot[pt->rule.by_attr ? attr : 0];
	while (gfn < end) {
		const struct pt_leaf_size *s = pt->sz.s;
		const struct gmem_pt_level *l;
		uint64_t size, stop, span;
		int err;

		while (((gfn | pfn) & ((UINT64_C(1) << s->shift) - 1)) ||
		       end - gfn < UINT64_C(1) << s->shift)
			s++;
		size = UINT64_C(1) << s->shift;
		l = &pt->geom.level[s->level];
		span = UINT64_C(1) << (l->entry_shift + l->index_bits -
				       GMEM_FRAME_SHIFT);
		stop = (gfn | (span - 1)) + 1;
		if (s != pt->sz.s) {
			uint64_t big = UINT64_C(1) << s[-1].shift;

			if (((gfn | (big - 1)) + 1) < stop)
				stop = (gfn | (big - 1)) + 1;
		}
		if (end < stop)
			stop = end;
		err = map_run(sc, gfn, s, pfn, (stop - gfn) >> s->shift);
		if (err)
			return err;
		pfn += stop - gfn - ((stop - gfn) & (size - 1));
		gfn += stop - gfn - ((stop - gfn) & (size - 1));
	}
	return 0;
}

static void count_table(struct sync *sc, unsigned int level, uint64_t base)
{
	if (sc->counted[level] != base + 1) {
		sc->counted[level] = base + 1;
		sc->need[level]++;
	}
}

/*
 * Counting the tables that a stretch [a, b) of a fresh block needs
 * below its entries of level k: an entry needs one unless a leaf maps it
 * whole, which the stretch allows for every entry inside it when the
 * level holds leaves of that size. So only the entries at the stretch's
 * two ends are looked into: the count costs the stretches, not the
 * leaves. Entries larger than a slot also depend on where the blocks
 * lie: those ask pt_block_check.
 */
static void count_entries(struct sync *sc, uint64_t lo, uint64_t hi,
			  unsigned int k);

/*
 * Entries that are 2 MiB pieces of one slot whole in a region: the
 * pieces' summary says at once which are mixed, and only those need a
 * table (in a view by attribute; in the ALL view none is mixed).
 */
static bool count_pieces(struct sync *sc, uint64_t lo, uint64_t hi,
			 unsigned int k)
{
	const struct gmem_pt *pt = sc->pt;
	const struct slot *s = guest_slot(pt->guest, lo);
	uint64_t mixed[SLOT_GROUPS], p;

	if (!pt->rule.by_attr || !s || !s->region ||
	    ((lo ^ (hi - 1)) >> SLOT_SHIFT) ||
	    pt->geom.level[k].entry_shift - GMEM_FRAME_SHIFT != PIECE_SHIFT)
		return false;
	slot_mixed_pieces(s, mixed);
	for (p = slot_off(lo) >> PIECE_SHIFT;
	     p < (slot_off(hi - 1) >> PIECE_SHIFT) + 1; p++) {
		uint64_t e = (lo & ~(uint64_t)(SLOT_FRAMES - 1)) +
			     (p << PIECE_SHIFT);

		if (!(mixed[p >> GROUP_SHIFT] & piece_bit((uint32_t)p)))
			continue;
		count_table(sc, k + 1, e);
		if (k + 2u < pt->geom.nlevels)
			count_entries(sc, e, e + PIECE_FRAMES, k + 1);
	}
	return true;
}

/*
 * Counting the tables a fresh block [lo, hi) needs below its entries of
 * level k: an entry needs one unless one leaf maps it or nothing in it
 * is in the view. Entries are looked at, not leaves, and none of the
 * last level.
 */
static void count_entries(struct sync *sc, uint64_t lo, uint64_t hi,
			  unsigned int k)
{
	const struct gmem_pt *pt = sc->pt;
	const struct gmem_pt_level *l = &pt->geom.level[k];
	unsigned int shift = l->entry_shift - GMEM_FRAME_SHIFT, attr;
	uint64_t e, span = UINT64_C(1) << shift, at;

	if (count_pieces(sc, lo, hi, k))
		return;
	for (e = lo; e < hi; e += span) {
		uint32_t b = pt_block_check(pt->guest, &pt->rule, e, shift,
					    PT_NO_REF, &attr, &at);

		if (b == PT_BLOCK_EMPTY ||
		    (b == GMEM_PT_BLOCK_NONE && l->leaf &&
		     shift <= pt->rule.accept_shift))
			continue;
		count_table(sc, k + 1, e);
		if (k + 2u < pt->geom.nlevels)
			count_entries(sc, e, e + span, k + 1);
	}
}

/* The new cover of a block the table has nothing in: the view's cover
 * there, leaf by leaf, without looking at its smaller blocks one by one;
 * when counting, the tables it needs. */
static int fresh_cover(struct sync *sc, uint64_t lo, uint64_t hi,
		       unsigned int level)
{
	const struct gmem_pt *pt = sc->pt;
	uint64_t *table;

	if (!sc->apply) {
		int err = make_path(sc, lo, level, &table);

		if (!err)
			count_entries(sc, lo, hi, level);
		return err;
	}
	return pt_view_stretches(pt->guest, &pt->rule, lo, hi, fresh_stretch,
				 sc);
}

/*
 * Block lo of size i. fresh: the table has nothing in it (its leaf was
 * just removed, or, when counting, is to be).
 */
static int visit(struct sync *sc, unsigned int i, uint64_t lo, bool fresh)
{
	struct gmem_pt *pt = sc->pt;
	const struct pt_leaf_size *s = &pt->sz.s[i];
	uint64_t n = UINT64_C(1) << s->shift, c, cn, c_lo, c_hi, at;
	struct old o = { .kind = OLD_NONE };
	unsigned int attr = 0;
	uint32_t b;
	int err;

	b = pt_block_check(pt->guest, &pt->rule, lo, s->shift, PT_NO_REF,
			   &attr, &at);
	if (!fresh) {
		old_of(pt, lo, s, &o);
		fresh = o.kind == OLD_NONE;
	}
	if (b == PT_BLOCK_EMPTY)
		return clear_block(sc, lo, n, &o);
	if (b == GMEM_PT_BLOCK_NONE &&
	    !(o.kind == OLD_SOME && (pt->flags & GMEM_PT_NO_PROMOTE) &&
	      !((sc->flags & PT_RANGE_JOIN) && lo >= sc->join_lo &&
		lo + n <= sc->join_hi))) {
		uint32_t prot = pt->prot[pt->rule.by_attr ? attr : 0];
		uint64_t pfn = guest_pfn(pt->guest, lo);

		if (o.kind == OLD_LEAF && o.pfn == pfn && o.prot == prot)
			return 0;
		err = clear_block(sc, lo, n, &o);
		return err ? err : map_leaf(sc, lo, s, pfn, prot);
	}
	if (i + 1u == pt->sz.n)
		return -EIO;	/* the granule is always uniform */
	if (o.kind == OLD_LEAF) {
		err = clear_block(sc, lo, n, &o);
		if (err)
			return err;
		fresh = true;
	}
	if (fresh)
		return fresh_cover(sc, lo, lo + n, s->level);
	/* Down to the smaller blocks holding frames of the range: only
	 * they can differ. A fresh block is built whole. */
	cn = UINT64_C(1) << pt->sz.s[i + 1].shift;
	c_lo = fresh || sc->lo <= lo ? lo : sc->lo & ~(cn - 1);
	c_hi = fresh || sc->hi >= lo + n ? lo + n : sc->hi;
	for (c = c_lo; c < c_hi; c += cn) {
		err = visit(sc, i + 1, c, fresh);
		if (err)
			return err;
	}
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
	struct sync *sc = ctx;
	unsigned int child = e->level + 1;

	(void)visit;
	if (table_empty(pt_virt(sc->pt, e->table_pa),
			UINT64_C(1) << sc->pt->geom.level[child].index_bits))
		table_gone(sc, e);
	return 0;
}

/* Frees the touched tables left empty, deepest first, and their parents
 * in turn. */
static void prune(struct sync *sc)
{
	struct gmem_pt *pt = sc->pt;

	if (sc->touched_over) {
		uint64_t top = UINT64_C(1) << pt->sz.s[0].shift;

		pt_walk(pt, sc->lo & ~(top - 1),
			sc->hi > UINT64_MAX - top ? UINT64_MAX
						  : (sc->hi + top - 1) & ~(top - 1),
			prune_visit, sc, GMEM_PT_VISIT_TABLE_POST);
		sc->ntouched = 0;
	}
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
		p = entry_at(pt, gfn, &level, &d);
		if (d.kind == PT_TABLE &&
		    table_empty(pt_virt(pt, d.addr),
				UINT64_C(1) << pt->geom.level[level + 1].index_bits)) {
			struct gmem_pt_entry e;
			uint64_t span = pt_entry_frames(pt, level);

			pt_entry_fill(pt, p, gfn & ~(span - 1), level, &d, &e);
			table_gone(sc, &e);
			if (sc->ntouched < TOUCHED_MAX) {
				sc->touched[sc->ntouched].gfn = gfn;
				sc->touched[sc->ntouched++].level = level;
			}
		}
	}
}

static int walk_range(struct sync *sc)
{
	uint64_t top = UINT64_C(1) << sc->pt->sz.s[0].shift, t;
	int err = 0;

	sc->cache_ok = false;
	for (t = sc->lo & ~(top - 1); !err && t < sc->hi; t += top)
		err = visit(sc, 0, t, false);
	return err;
}

/*
 * One pending range, one batch: count, allocate, change, prune, flush.
 * A range the table may differ from anywhere (FULL) is looked at in
 * whole blocks of the largest size.
 */
int pt_sync_range(struct gmem_pt *pt, const struct pt_pending *r)
{
	uint64_t top = UINT64_C(1) << pt->sz.s[0].shift;
	struct sync sc = { .pt = pt, .flags = r->flags, .lo = r->lo,
			   .hi = r->hi, .join_lo = r->lo, .join_hi = r->hi,
			   .flush_lo = UINT64_MAX };
	unsigned int l;
	int err;

	if (pt->rule.space_shift < 64) {
		uint64_t space = UINT64_C(1) << pt->rule.space_shift;

		if (sc.lo >= space)
			return 0;
		if (sc.hi > space)
			sc.hi = space;
	}
	if (r->flags & PT_RANGE_FULL) {
		sc.lo &= ~(top - 1);
		sc.hi = sc.hi > UINT64_MAX - top ? UINT64_MAX
						 : (sc.hi + top - 1) & ~(top - 1);
	}
	err = walk_range(&sc);
	for (l = 1; !err && l < pt->geom.nlevels; l++)
		err = pt_spare_fill(pt, l, sc.need[l]);
	if (err)
		return err;
	sc.apply = true;
	err = walk_range(&sc);
	prune(&sc);
	account(&sc);
	if (pt->sink.flush)
		pt->sink.flush(pt->sink.ctx, sc.flush_hi ? sc.flush_lo : 0,
			       sc.flush_hi ? sc.flush_hi - sc.flush_lo : 0);
	return err;
}

/*
 * Joins first: a range that may join leaves would otherwise remove a
 * leaf that another range of the same sync has just mapped inside.
 */
int gmem_pt_sync(struct gmem_pt *pt)
{
	uint32_t i, n = 0, pass;
	int err = 0;

	if (!pt)
		return -EINVAL;
	for (pass = 0; !err && pass < 2; pass++)
		for (i = 0; !err && i < pt->npending; i++) {
			struct pt_pending *r = &pt->pending[i];

			if ((r->flags & PT_RANGE_DONE) ||
			    (pass == 0) != !!(r->flags & PT_RANGE_JOIN))
				continue;
			err = pt_sync_range(pt, r);
			/* A batch stopped part-way leaves the table other
			 * than the cover anywhere in its blocks. */
			if (err && err != -ENOMEM)
				r->flags |= PT_RANGE_FULL;
			if (!err)
				r->flags |= PT_RANGE_DONE;
		}
	for (i = 0; i < pt->npending; i++)
		if (!(pt->pending[i].flags & PT_RANGE_DONE))
			pt->pending[n++] = pt->pending[i];
	pt->npending = n;
	pt_spare_trim(pt, PT_SPARE_KEEP);
	atomic_fetch_add(&pt->syncs, 1);
	return err;
}
