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

#include "core/probe.h"
#include "guest/guest.h"
#include "features/paging.h"
#include "features/pin_set.h"
#include "pt_edit.h"

/* What the table has for a block. */
enum old_kind { OLD_NONE, OLD_LEAF, OLD_SOME };

struct old {
	enum old_kind kind;
	uint64_t pfn;
	uint32_t prot;
};

static void old_of(struct pt_batch *sc, uint64_t lo,
		   const struct pt_leaf_size *s, struct old *o)
{
	const struct gmem_pt *pt = sc->pt;
	unsigned int level = s->level, i, n = pt_run_entries(pt, s);
	struct pt_decoded d;
	uint64_t *p = pt_entry_at(pt, lo, &level, &d, &sc->cursor);

	*o = (struct old){ .kind = OLD_SOME };
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

/* Clears what the table has inside a block, if anything. */
static int clear_block(struct pt_batch *sc, uint64_t lo, uint64_t n,
		       const struct old *o)
{
	if (o->kind == OLD_NONE || !sc->apply)
		return 0;
	return pt_clear_range(sc->pt, sc, lo, lo + n);
}

/*
 * A stretch of a fresh block: its cover, with the permissions of its
 * attribute. The cover's leaves come in runs of one size: up to where a
 * larger leaf could start, the stretch ends or the table does.
 */
static int fresh_stretch(void *ctx, uint64_t gfn, uint64_t end,
			 unsigned int attr)
{
	struct pt_batch *sc = ctx;
	const struct gmem_pt *pt = sc->pt;
	uint64_t pfn = guest_pfn(pt->guest, gfn);

	sc->prot = pt->prot[pt->rule.by_attr ? attr : 0];
	while (gfn < end) {
		const struct pt_leaf_size *s = pt->sz.s;
		const struct gmem_pt_level *l;
		uint64_t stop, span, k;
		int err;

		while (((gfn | pfn) & ((UINT64_C(1) << s->shift) - 1)) ||
		       end - gfn < UINT64_C(1) << s->shift)
			s++;
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
		k = (stop - gfn) >> s->shift;
		err = pt_map_run(sc, gfn, s, pfn, k);
		if (err)
			return err;
		gfn += k << s->shift;
		pfn += k << s->shift;
	}
	return 0;
}

static void count_entries(struct pt_batch *sc, uint64_t lo, uint64_t hi,
			  unsigned int k);

/*
 * Entries that are 2 MiB pieces of one slot whole in a region: the
 * pieces' summary says at once which are mixed, and only those need a
 * table (in a view by attribute; in the ALL view none is mixed).
 */
static bool count_pieces(struct pt_batch *sc, uint64_t lo, uint64_t hi,
			 unsigned int k)
{
	const struct gmem_pt *pt = sc->pt;
	const struct slot *s = guest_slot(pt->guest, lo);
	uint64_t mixed[SLOT_GROUPS], p;

	if (!pt->rule.by_attr || !guest_slot_region(pt->guest, lo) ||
	    ((lo ^ (hi - 1)) >> SLOT_SHIFT) ||
	    page_first_absent(pt->guest, lo, hi) < hi ||
	    pt->geom.level[k].entry_shift - GMEM_FRAME_SHIFT != PIECE_SHIFT)
		return false;
	slot_mixed_pieces(s, mixed);
	for (p = slot_off(lo) >> PIECE_SHIFT;
	     p < (slot_off(hi - 1) >> PIECE_SHIFT) + 1; p++) {
		uint64_t e = (lo & ~(uint64_t)(SLOT_FRAMES - 1)) +
			     (p << PIECE_SHIFT);

		if (!(mixed[p >> GROUP_SHIFT] & piece_bit((uint32_t)p)))
			continue;
		pt_count_table(sc, k + 1, e);
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
static void count_entries(struct pt_batch *sc, uint64_t lo, uint64_t hi,
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
		pt_count_table(sc, k + 1, e);
		if (k + 2u < pt->geom.nlevels)
			count_entries(sc, e, e + span, k + 1);
	}
}

static int fresh_cover(struct pt_batch *sc, unsigned int i, uint64_t lo);

/*
 * A fresh block that dirty logging shapes, block by block: logging splits
 * blocks holding frames written while logging and takes write access
 * from leaves, so the leaves of one stretch differ.
 */
static int fresh_logged(struct pt_batch *sc, unsigned int i, uint64_t lo)
{
	const struct gmem_pt *pt = sc->pt;
	const struct pt_leaf_size *s = &pt->sz.s[i];
	uint64_t n = UINT64_C(1) << s->shift, cn, c, at;
	unsigned int attr = 0;
	uint32_t b = pt_block_check(pt->guest, &pt->rule, lo, s->shift,
				    PT_NO_REF, &attr, &at);
	int err = 0;

	if (b == PT_BLOCK_EMPTY)
		return 0;
	if (b == GMEM_PT_BLOCK_NONE && !pt_log_splits(pt, lo, s->shift)) {
		sc->prot = pt_log_prot(pt, lo, lo + n,
				       pt->prot[pt->rule.by_attr ? attr : 0]);
		return pt_map_run(sc, lo, s, guest_pfn(pt->guest, lo), 1);
	}
	if (i + 1u == pt->sz.n)
		return -EIO;	/* the granule is always uniform */
	cn = UINT64_C(1) << pt->sz.s[i + 1].shift;
	for (c = lo; !err && c < lo + n; c += cn)
		err = fresh_cover(sc, i + 1, c);
	return err;
}

/* The new cover of block lo of size i, which the table has nothing in:
 * the view's cover there, leaf by leaf, without looking at its smaller
 * blocks one by one; when counting, the tables it needs. */
static int fresh_cover(struct pt_batch *sc, unsigned int i, uint64_t lo)
{
	const struct gmem_pt *pt = sc->pt;
	unsigned int level = pt->sz.s[i].level;
	uint64_t hi = lo + (UINT64_C(1) << pt->sz.s[i].shift);
	uint64_t *table;

	if (pt_log_shapes(pt, lo, hi))
		return fresh_logged(sc, i, lo);
	if (!sc->apply) {
		int err = pt_make_path(sc, lo, level, &table);

		if (!err)
			count_entries(sc, lo, hi, level);
		return err;
	}
	return pt_view_stretches(pt->guest, &pt->rule, lo, hi, fresh_stretch,
				 sc);
}

/* Block lo of size i, against what the table has for it. */
static int visit(struct pt_batch *sc, unsigned int i, uint64_t lo)
{
	struct gmem_pt *pt = sc->pt;
	const struct pt_leaf_size *s = &pt->sz.s[i];
	uint64_t n = UINT64_C(1) << s->shift, c, cn, c_lo, c_hi, at;
	unsigned int attr = 0;
	struct old o;
	uint32_t b;
	int err;

	b = pt_block_check(pt->guest, &pt->rule, lo, s->shift, PT_NO_REF,
			   &attr, &at);
	old_of(sc, lo, s, &o);
	if (b == PT_BLOCK_EMPTY)
		return clear_block(sc, lo, n, &o);
	if (b == GMEM_PT_BLOCK_NONE && pt_log_splits(pt, lo, s->shift))
		b = GMEM_PT_BLOCK_DIRTY_LOG;
	/* A join would replace the entries of pinned frames. */
	if (b == GMEM_PT_BLOCK_NONE && o.kind == OLD_SOME &&
	    pin_first(pt->guest, lo, lo + n) < lo + n)
		b = GMEM_PT_BLOCK_PINNED;
	if (b == GMEM_PT_BLOCK_NONE &&
	    !(o.kind == OLD_SOME && (pt->flags & GMEM_PT_NO_PROMOTE) &&
	      !((sc->flags & PT_RANGE_JOIN) && lo >= sc->join_lo &&
		lo + n <= sc->join_hi))) {
		uint32_t prot = pt_log_prot(pt, lo, lo + n,
					    pt->prot[pt->rule.by_attr ? attr : 0]);
		uint64_t pfn = guest_pfn(pt->guest, lo);

		if (o.kind == OLD_LEAF && o.pfn == pfn)
			return o.prot == prot ? 0
					      : pt_protect_leaf(sc, NULL, lo, s, pfn,
								o.prot, prot);
		err = clear_block(sc, lo, n, &o);
		sc->prot = prot;
		return err ? err : pt_map_run(sc, lo, s, pfn, 1);
	}
	if (i + 1u == pt->sz.n)
		return -EIO;	/* the granule is always uniform */
	/* A block the table has nothing in, or whose leaf no longer
	 * holds, is built whole. */
	if (o.kind != OLD_SOME) {
		err = clear_block(sc, lo, n, &o);
		return err ? err : fresh_cover(sc, i, lo);
	}
	/* Down to the smaller blocks holding frames of the range: only
	 * they can differ. */
	cn = UINT64_C(1) << pt->sz.s[i + 1].shift;
	c_lo = sc->lo <= lo ? lo : sc->lo & ~(cn - 1);
	c_hi = sc->hi >= lo + n ? lo + n : sc->hi;
	for (c = c_lo; c < c_hi; c += cn) {
		err = visit(sc, i + 1, c);
		if (err)
			return err;
	}
	return 0;
}

static int walk_range(struct pt_batch *sc)
{
	uint64_t top = UINT64_C(1) << sc->pt->sz.s[0].shift, t;
	int err = 0;

	sc->cursor.valid = 0;
	for (t = sc->lo & ~(top - 1); !err && t < sc->hi; t += top)
		err = visit(sc, 0, t);
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
	struct pt_batch sc = { .pt = pt, .flags = r->flags, .lo = r->lo,
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
	pt_batch_end(&sc);
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
	GMEM_PROBE(sync_begin, pt);
	err = pt_changes_found(pt);
	if (!err)
		err = pt_log_fold(pt);
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
	GMEM_PROBE(sync, pt, err);
	return err;
}

