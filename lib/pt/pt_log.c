/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging on a builder (gmem/pt_log.h).
 *
 * Logging is a rule of the cover, not a second table: the sync asks
 * pt_log_splits whether a block may still be one leaf and pt_log_prot
 * what a leaf may grant. Three sets decide it: the logged ranges; the
 * frames written while logging ("split": no leaf larger than the
 * smallest may hold one); and the frames that faulted since their last
 * harvest ("writable"). Start, fault and stop change them and sync the
 * range they changed, so the table edits (protects, splits, joins) are
 * the sync's, in the sink's order; harvest only takes write access away.
 * A fourth set, the dirty frames, is what harvests report: the writable
 * ones, and those marked or converted.
 */
#include <errno.h>
#include <string.h>

#include <gmem/pt_log.h>

#include "core/frame_set.h"
#include "core/opts.h"
#include "core/probe.h"
#include "guest/guest.h"
#include "pt_edit.h"

struct pt_log {
	struct frame_range *r;		/* ascending, disjoint */
	uint32_t n, cap;
	struct fset split, writable, dirty;
	uint64_t faults;
	bool own_listener;		/* conversions heard for logging
					 * only: the view needs none */
};

/* The first range ending after lo. */
static uint32_t range_after(const struct pt_log *log, uint64_t lo)
{
	return frame_range_after(log->r, log->n, sizeof(*log->r), lo);
}

bool pt_log_touches(const struct gmem_pt *pt, uint64_t lo, uint64_t hi)
{
	uint32_t i;

	if (!pt->log || !pt->log->n)
		return false;
	i = range_after(pt->log, lo);
	return i < pt->log->n && pt->log->r[i].lo < hi;
}

bool pt_log_shapes(const struct gmem_pt *pt, uint64_t lo, uint64_t hi)
{
	return pt_log_touches(pt, lo, hi) ||
	       (pt->log && fset_any(&pt->log->split, lo, hi));
}

static unsigned int granule_shift(const struct gmem_pt *pt)
{
	return pt->sz.s[pt->sz.n - 1].shift;
}

bool pt_log_splits(const struct gmem_pt *pt, uint64_t lo, unsigned int shift)
{
	return pt->log && pt->log->split.count && shift > granule_shift(pt) &&
	       fset_any(&pt->log->split, lo, lo + (UINT64_C(1) << shift));
}

uint64_t pt_log_first_split(const struct gmem_pt *pt, uint64_t lo,
			    uint64_t hi)
{
	return pt->log ? fset_next(&pt->log->split, lo, hi) : hi;
}

uint32_t pt_log_prot(const struct gmem_pt *pt, uint64_t lo, uint64_t hi,
		     uint32_t prot)
{
	const struct pt_log *log = pt->log;
	uint32_t i;

	if (!(prot & GMEM_PT_PROT_W) || !log || !log->n)
		return prot;
	for (i = range_after(log, lo); i < log->n && log->r[i].lo < hi; i++) {
		uint64_t a = log->r[i].lo > lo ? log->r[i].lo : lo;
		uint64_t b = log->r[i].hi < hi ? log->r[i].hi : hi;

		if (!fset_all(&log->writable, a, b))
			return prot & ~GMEM_PT_PROT_W;
	}
	return prot;
}

/* Reserves, or adds, the logged frames of [lo, hi) to set. */
static int add_logged(struct gmem_pt *pt, struct fset *set, uint64_t lo,
		      uint64_t hi, bool add)
{
	struct pt_log *log = pt->log;
	uint32_t i;

	for (i = range_after(log, lo); i < log->n && log->r[i].lo < hi; i++) {
		uint64_t a = log->r[i].lo > lo ? log->r[i].lo : lo;
		uint64_t b = log->r[i].hi < hi ? log->r[i].hi : hi;

		if (!add) {
			int err = fset_reserve(&pt->heap, set, a, b);

			if (err)
				return err;
		} else {
			fset_add(set, a, b);
		}
	}
	return 0;
}

static int mark_dirty(struct gmem_pt *pt, uint64_t lo, uint64_t hi)
{
	int err = add_logged(pt, &pt->log->dirty, lo, hi, false);

	if (!err)
		add_logged(pt, &pt->log->dirty, lo, hi, true);
	return err;
}

int pt_log_fold(struct gmem_pt *pt)
{
	uint32_t i;

	if (!pt->log)
		return 0;
	for (i = 0; i < pt->npending; i++) {
		struct pt_pending *r = &pt->pending[i];
		int err;

		if (!(r->flags & PT_RANGE_CONVERTED))
			continue;
		if (pt->log->n) {
			err = mark_dirty(pt, r->lo, r->hi);
			if (err)
				return err;
		}
		r->flags &= ~PT_RANGE_CONVERTED;
	}
	return 0;
}

void pt_log_free(struct gmem_pt *pt)
{
	struct pt_log *log = pt->log;

	if (!log)
		return;
	fset_free(&pt->heap, &log->split);
	fset_free(&pt->heap, &log->writable);
	fset_free(&pt->heap, &log->dirty);
	heap_free(&pt->heap, log->r, log->cap * sizeof(*log->r));
	heap_free(&pt->heap, log, sizeof(*log));
	pt->log = NULL;
}

static int check_range(const struct gmem_pt *pt, uint64_t gfn,
		       uint64_t npages)
{
	if (!pt || !npages)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	return 0;
}

/* The builder's log, made on first use, and conversions heard; 0 or
 * -ENOMEM. */
static int log_setup(struct gmem_pt *pt)
{
	struct pt_log *log = pt->log;

	if (!log) {
		log = heap_zalloc(&pt->heap, sizeof(*log), 8);
		if (!log)
			return -ENOMEM;
		pt->log = log;
	}
	if (heap_grow(&pt->heap, &log->r, &log->cap, log->n, log->n + 1,
		      sizeof(*log->r), 4))
		return -ENOMEM;
	/* Conversions must be heard even where the table does not change
	 * with them: a converted logged frame is dirty. */
	if (!(pt->sub.kinds & BUS_CONVERT)) {
		pt_hear_conversions(pt, true);
		log->own_listener = true;
	}
	return 0;
}

static int log_start(struct gmem_pt *pt, uint64_t gfn, uint64_t npages)
{
	struct pt_log *log;
	uint32_t i;
	int err = check_range(pt, gfn, npages);

	if (err)
		return err;
	if (granule_shift(pt) > PIECE_SHIFT)
		return -EINVAL;
	if (pt_log_touches(pt, gfn, gfn + npages))
		return -EBUSY;
	err = gmem_pt_sync(pt);
	if (!err)
		err = log_setup(pt);
	if (!err)
		err = pt_pending_add(pt, gfn, gfn + npages, 0);
	if (err)
		return err;
	log = pt->log;
	i = range_after(log, gfn);
	memmove(&log->r[i + 1], &log->r[i], (log->n - i) * sizeof(*log->r));
	log->r[i] = (struct frame_range){ gfn, gfn + npages };
	log->n++;
	err = gmem_pt_sync(pt);
	if (err == -ENOMEM) {
		/* The table is as it was: so is logging. The range left
		 * pending changes nothing when it is synced. */
		memmove(&log->r[i], &log->r[i + 1],
			(log->n - i - 1) * sizeof(*log->r));
		log->n--;
	}
	return err;
}

int gmem_pt_log_stop(struct gmem_pt *pt, uint64_t gfn, uint64_t npages)
{
	struct pt_log *log;
	uint64_t end = gfn + npages, top, lo, hi;
	uint32_t i, j, k;
	int err = check_range(pt, gfn, npages);

	if (err)
		return err;
	log = pt->log;
	if (!log || !pt_log_touches(pt, gfn, end))
		return -ENOENT;
	i = range_after(log, gfn);
	for (j = i; j < log->n && log->r[j].lo < end; j++)
		if (log->r[j].lo < gfn || log->r[j].hi > end)
			return -EINVAL;
	/* Splits made for logging are joined in whole blocks of the
	 * largest leaf, where faults of frames next to the ranges split
	 * leaves too. */
	top = UINT64_C(1) << pt->sz.s[0].shift;
	lo = log->r[i].lo & ~(top - 1);
	hi = log->r[j - 1].hi;
	hi = hi > UINT64_MAX - top ? UINT64_MAX : (hi + top - 1) & ~(top - 1);
	err = pt_pending_add(pt, lo, hi, PT_RANGE_FULL | PT_RANGE_JOIN);
	if (err)
		return err;
	for (k = i; k < j; k++) {
		fset_del(&log->dirty, log->r[k].lo, log->r[k].hi);
		fset_del(&log->writable, log->r[k].lo, log->r[k].hi);
	}
	memmove(&log->r[i], &log->r[j], (log->n - j) * sizeof(*log->r));
	log->n -= j - i;
	fset_del(&log->split, lo, hi);
	fset_trim(&pt->heap, &log->split);
	fset_trim(&pt->heap, &log->writable);
	fset_trim(&pt->heap, &log->dirty);
	if (!log->n && log->own_listener) {
		pt_hear_conversions(pt, false);
		log->own_listener = false;
	}
	return gmem_pt_sync(pt);
}

/* The leaf mapping gfn: its first frame, frames, level and decoded
 * entry; false if none does. */
struct leaf_at {
	uint64_t *p;
	uint64_t lo, n;
	struct pt_leaf_size size;
	struct pt_decoded d;
};

static bool leaf_at(const struct gmem_pt *pt, uint64_t gfn,
		    struct leaf_at *l)
{
	unsigned int level = pt->geom.nlevels - 1, cb;

	l->p = pt_entry_at(pt, gfn, &level, &l->d, NULL);
	if (l->d.kind != PT_LEAF)
		return false;
	cb = l->d.contig ? pt->geom.level[level].contig_bits : 0;
	l->n = pt_entry_frames(pt, level) << cb;
	l->lo = gfn & ~(l->n - 1);
	l->size = (struct pt_leaf_size){
		.shift = (uint8_t)(pt->geom.level[level].entry_shift -
				   GMEM_FRAME_SHIFT + cb),
		.level = (uint8_t)level, .contig = l->d.contig };
	return true;
}

/* The permissions the view gives frame gfn, before logging. */
static uint32_t view_prot(const struct gmem_pt *pt, uint64_t gfn)
{
	unsigned int attr = slot_get(guest_slot(pt->guest, gfn), slot_off(gfn));

	return pt->prot[pt->rule.by_attr ? attr : 0];
}

static int log_fault(struct gmem_pt *pt, uint64_t gfn)
{
	uint64_t gran, lo, f, added[3][MAP_WORDS] = { { 0 } };
	struct fset *sets[3];
	struct leaf_at l;
	int err, k;

	if (!pt)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT)
		return -EOVERFLOW;
	err = gmem_pt_sync(pt);
	if (err)
		return err;
	if (!leaf_at(pt, gfn, &l))
		return -ENOENT;
	if (!pt_log_touches(pt, l.lo, l.lo + l.n) ||
	    !(view_prot(pt, gfn) & GMEM_PT_PROT_W))
		return -EINVAL;
	if (l.d.prot & GMEM_PT_PROT_W)
		return 0;
	/* The smallest leaf around gfn is what becomes writable, so all
	 * its logged frames are dirty. It lies in one 2 MiB piece (start). */
	gran = UINT64_C(1) << granule_shift(pt);
	lo = gfn & ~(gran - 1);
	sets[0] = &pt->log->split;
	sets[1] = &pt->log->writable;
	sets[2] = &pt->log->dirty;
	for (k = 0; k < 3; k++) {
		err = fset_reserve(&pt->heap, sets[k], lo, lo + gran);
		if (err)
			return err;
	}
	err = pt_pending_add(pt, lo, lo + gran, 0);
	if (err)
		return err;
	/* What is new in each set, to take back if the sync cannot be. */
	for (f = lo; f < lo + gran; f++)
		for (k = 0; k < 3; k++)
			if (!fset_has(sets[k], f))
				added[k][(f - lo) / 64] |= UINT64_C(1) << ((f - lo) % 64);
	fset_add(sets[0], lo, lo + gran);
	add_logged(pt, sets[1], lo, lo + gran, true);
	add_logged(pt, sets[2], lo, lo + gran, true);
	pt->log->faults++;
	err = gmem_pt_sync(pt);
	if (err == -ENOMEM) {
		for (f = lo; f < lo + gran; f++)
			for (k = 0; k < 3; k++)
				if (added[k][(f - lo) / 64] >> ((f - lo) % 64) & 1)
					fset_del(sets[k], f, f + 1);
		pt->log->faults--;
	}
	return err;
}

int gmem_pt_log_mark(struct gmem_pt *pt, uint64_t gfn, uint64_t npages)
{
	int err = check_range(pt, gfn, npages);

	if (err || !pt_log_touches(pt, gfn, gfn + npages))
		return err;
	return mark_dirty(pt, gfn, gfn + npages);
}

/*
 * A harvest of scattered frames is bound by misses on the table entries
 * of each frame. Words are taken from the dirty set HARVEST_BATCH at a
 * time, with the writable set's same frames (one walk for both sets,
 * whose words the walk reads in order, as it does the caller's bitmap),
 * the entries' lines prefetched, then reported and protected in order,
 * one batch behind the taking: the misses of a batch overlap each other
 * and the work of the batch before, instead of following each other.
 */
#define HARVEST_BATCH 16

/* A table above last-level ones: its entries, the first frame it maps
 * and log2 of the frames it maps. */
struct upper {
	uint64_t *t, lo;
	unsigned int span;
};

struct harvest {
	struct gmem_pt *pt;
	struct gmem_pt_harvest *h;
	uint64_t gfn, end;		/* the range harvested */
	struct pt_batch sc;
	/* The last-level table of the word being protected: its first
	 * frame, log2 of the frames it maps, and its entry above. */
	uint64_t *table, t_lo, *t_entry;
	unsigned int t_span;
	struct upper up;		/* the table above it */
	uint64_t done;			/* frames below are protected */
	bool quick;			/* leaves of one frame in tables of
					 * 64 or more, and a sink that takes
					 * protects or none */
	bool quiet;			/* no sink or listener hears of
					 * protects */
	bool fold;			/* tables may be folded (fold) */
	struct pt_page_w page_w;	/* the format's pages with write */
	int err;			/* the sink's first error */
};

/* The entry above the last-level table of base, in u's table when that
 * maps base, or by a walk (from cursor, or the root: NULL) whose table
 * u then notes; NULL where the path ends above it. */
static inline uint64_t *upper_entry(const struct gmem_pt *pt,
				    struct upper *u, uint64_t base,
				    struct pt_cursor *cursor)
{
	unsigned int last = pt->geom.nlevels - 1, level = last - 1;
	struct pt_decoded d;
	uint64_t *up;

	if (u->t && !((base - u->lo) >> u->span))
		return &u->t[pt_index(pt, last - 1, base)];
	up = pt_entry_at(pt, base, &level, &d, cursor);
	if (level != last - 1)
		return NULL;
	u->span = pt->geom.level[last].entry_shift - GMEM_FRAME_SHIFT +
		  pt->geom.level[last].index_bits +
		  pt->geom.level[last - 1].index_bits;
	u->lo = base & ~((UINT64_C(1) << u->span) - 1);
	u->t = up - pt_index(pt, last - 1, base);
	return up;
}

/* The entry above the last-level table of base, decoded into d, where
 * that table is there and not folded (a table folded has no frame with
 * write: none to take); NULL otherwise. The walk starts at the deepest
 * table of the batch's cursor holding base: harvests go up through the
 * frames. */
static inline uint64_t *table_above(struct harvest *hv, uint64_t base,
				    struct pt_decoded *d)
{
	const struct gmem_pt *pt = hv->pt;
	uint64_t *up = upper_entry(pt, &hv->up, base, &hv->sc.cursor);

	if (!up)
		return NULL;
	pt_decode(pt, *up, pt->geom.nlevels - 2, d);
	if (d->kind != PT_TABLE ||
	    (pt->fmt->table_w && !(*up & pt->fmt->table_w)))
		return NULL;
	return up;
}

/* table_entry for a frame outside the table noted last. The table
 * comes from the entry above it, so the walk touches none of the
 * table's own lines. */
static __attribute__((noinline)) uint64_t *table_find(struct harvest *hv,
						      uint64_t base)
{
	const struct gmem_pt *pt = hv->pt;
	unsigned int last = pt->geom.nlevels - 1;
	const struct gmem_pt_level *lv = &pt->geom.level[last];
	struct pt_decoded d;
	uint64_t *up;

	hv->table = NULL;
	hv->t_span = lv->entry_shift - GMEM_FRAME_SHIFT + lv->index_bits;
	hv->t_lo = base & ~((UINT64_C(1) << hv->t_span) - 1);
	if (!last) {
		hv->table = pt->root;
		hv->t_entry = NULL;	/* none above: never folded */
		return &hv->table[base - hv->t_lo];
	}
	up = table_above(hv, base, &d);
	if (!up)
		return NULL;
	hv->table = pt_virt(pt, d.addr);
	hv->t_entry = up;
	return &hv->table[base - hv->t_lo];
}

/* The entry of frame base in its last-level table, if it has one and
 * that table is not folded. */
static inline uint64_t *table_entry(struct harvest *hv, uint64_t base)
{
	if (hv->table && !((base - hv->t_lo) >> hv->t_span))
		return &hv->table[base - hv->t_lo];
	return table_find(hv, base);
}

/* Whether one logged range holds all of [lo, hi). */
static bool logged_whole(const struct gmem_pt *pt, uint64_t lo, uint64_t hi)
{
	const struct pt_log *log = pt->log;
	uint32_t i = range_after(log, lo);

	return i < log->n && log->r[i].lo <= lo && log->r[i].hi >= hi;
}

/* The writable pages a table must lose at once for folding it to pay:
 * unfolding costs a pass over all its entries. */
#define FOLD_MIN 64

/*
 * Folds the last-level table of the 2 MiB piece at lo, of which the
 * harvest took pages writable frames, all it held of the piece (the
 * caller's to know): write access taken from the table's entry (the
 * format's table_w), in one store, instead of from each page. Every
 * page of the table that has write is one of those frames, as the piece
 * is logged whole and the writable set holds no other frame of it: so
 * the fold takes write from exactly those. The next walk into the table
 * unfolds it (pt_unfold). Returns whether it folded.
 */
static bool fold(struct harvest *hv, uint64_t lo, uint64_t pages)
{
	struct gmem_pt *pt = hv->pt;
	struct pt_decoded d;
	uint64_t *up;

	if (lo < hv->gfn || lo + PIECE_FRAMES > hv->end ||
	    !logged_whole(pt, lo, lo + PIECE_FRAMES))
		return false;
	up = table_above(hv, lo, &d);
	if (!up)
		return false;
	*up &= ~pt->fmt->table_w;
	if (hv->table && hv->t_entry == up)
		hv->table = NULL;
	hv->sc.cursor.valid &= ~(1u << (pt->geom.nlevels - 1));
	hv->sc.protects += pages;
	pt_flush_add(&hv->sc, lo, lo + PIECE_FRAMES);
	return true;
}

/* Protects the leaf of frame f, taken from the writable set, whatever
 * its size: it was writable and may not be any more. */
static int reprotect(struct harvest *hv, uint64_t f)
{
	struct gmem_pt *pt = hv->pt;
	struct leaf_at l;
	uint32_t prot;

	if (f < hv->done || !leaf_at(pt, f, &l) ||
	    !(l.d.prot & GMEM_PT_PROT_W))
		return 0;
	hv->done = l.lo + l.n;
	prot = pt_log_prot(pt, l.lo, l.lo + l.n, view_prot(pt, f));
	if (prot == l.d.prot)
		return 0;
	return pt_protect_leaf(&hv->sc, NULL, l.lo, &l.size,
			       l.d.addr >> GMEM_FRAME_SHIFT, l.d.prot, prot);
}

/* The frames of n words from base (mask[j] the frames base + 64 * j +
 * i, count of them), to the caller's bitmap or ring. */
static inline __attribute__((always_inline)) void
harvest_out(struct harvest *hv, uint64_t base, const uint64_t *mask,
	    uint32_t n, uint64_t count)
{
	struct gmem_pt_harvest *h = hv->h;
	uint64_t m, b, w, sh;
	uint32_t j;

	if (!h->bitmap) {
		for (j = 0; j < n; j++)
			for (m = mask[j]; m; m &= m - 1)
				h->ring[h->count++] = base + 64 * j +
					(uint64_t)__builtin_ctzll(m);
		return;
	}
	h->count += count;
	/* gfn on a word's frames, as a VMM's slots are: the set's words are
	 * the bitmap's, none of them below gfn. */
	if (!(hv->gfn & 63)) {
		uint64_t *out = &h->bitmap[(base - hv->gfn) / 64];

		for (j = 0; j < n; j++)
			out[j] |= mask[j];
		return;
	}
	/* Otherwise no frame below gfn was taken, and the first word at or
	 * above it shifts into two of the bitmap, as do the ones after. */
	for (j = 0, b = base; j < n && b < hv->gfn; j++, b += 64)
		if (hv->gfn - b < 64)
			h->bitmap[0] |= mask[j] >> (hv->gfn - b);
	if (j == n)
		return;
	w = (b - hv->gfn) / 64;
	sh = (b - hv->gfn) % 64;
	for (; j < n; j++, w++) {
		h->bitmap[w] |= mask[j] << sh;
		if (mask[j] >> (64 - sh))
			h->bitmap[w + 1] |= mask[j] >> (64 - sh);
	}
}

/*
 * Protects the writable frames w of the word from base: through page
 * (the cached table's entry of base, or NULL) those that are pages of
 * their own there, the others through reprotect. Returns the bits of w
 * not done yet when the sink refused one (at *f).
 */
static uint64_t reprotect_word(struct harvest *hv, uint64_t *page,
			       uint64_t base, uint64_t w, uint64_t *f)
{
	struct gmem_pt *pt = hv->pt;
	uint64_t m;

	for (m = w; m; m &= m - 1) {
		unsigned int i = (unsigned int)__builtin_ctzll(m);
		uint64_t e, wbit;
		int err = 0;

		*f = base + i;
		e = page ? page[i] : 0;
		wbit = page ? pt_page_w_of(&hv->page_w, e) : 0;
		if (!wbit) {
			err = reprotect(hv, *f);
		} else {
			if (pt->sink.protect) {
				struct pt_decoded d;
				struct gmem_pt_leaf leaf;

				pt_decode(pt, e, pt->geom.nlevels - 1, &d);
				leaf = (struct gmem_pt_leaf){
					*f, d.addr >> GMEM_FRAME_SHIFT, 1,
					pt->geom.nlevels - 1, 0 };
				err = pt->sink.protect(pt->sink.ctx, &leaf,
						       d.prot & ~GMEM_PT_PROT_W);
			}
			if (!err) {
				page[i] = e & ~wbit;
				hv->sc.protects++;
				pt_flush_add(&hv->sc, *f, *f + 1);
				if (bus_heard(&pt->guest->bus, BUS_WRPROTECT))
					bus_tell(&pt->guest->bus, BUS_WRPROTECT,
						 *f, *f + 1);
			}
		}
		if (err) {
			hv->err = err;
			return m & (m - 1);
		}
	}
	return 0;
}

/* Whether the 64 entries from page are all pages with write access. */
static bool pages_writable(const struct pt_page_w *r, const uint64_t *page)
{
	uint64_t all = r->w;
	unsigned int i;

	for (i = 0; i < 64; i++)
		all &= pt_page_w_of(r, page[i]);
	return all;
}

/*
 * The pages of w with write access in the table of page, when neither a
 * sink nor a listener hears of protects: their entries edited in one
 * tight pass. Returns the frames of w left for reprotect_word.
 */
static inline __attribute__((always_inline)) uint64_t
protect_pages(struct harvest *hv, uint64_t *page, uint64_t base, uint64_t w)
{
	const struct pt_page_w r = hv->page_w;
	uint64_t m, rest = 0, done;
	unsigned int i;

	/* A whole word of writable pages, as writes in runs leave them:
	 * tested and protected in two branchless passes the compiler
	 * vectorizes, instead of a frame at a time. */
	if (w == ~UINT64_C(0) && pages_writable(&r, page)) {
		for (i = 0; i < 64; i++)
			page[i] &= ~r.w;
	} else {
		for (m = w; m; m &= m - 1) {
			uint64_t e, wbit;

			i = (unsigned int)__builtin_ctzll(m);
			e = page[i];
			wbit = pt_page_w_of(&r, e);
			if (wbit)
				page[i] = e & ~wbit;
			else
				rest |= m & -m;
		}
	}
	done = w & ~rest;
	if (done) {
		hv->sc.protects += (uint64_t)__builtin_popcountll(done);
		pt_flush_add(&hv->sc, base + (uint64_t)__builtin_ctzll(done),
			     base + 64 - (uint64_t)__builtin_clzll(done));
	}
	return rest;
}

/*
 * One word taken from the dirty set and, of its frames, those the
 * writable set held: reported, and the writable ones protected (through
 * page, the table's entry of base, or NULL); or after the sink's error
 * (now or before) left as they were: the frames of the leaf it refused
 * (all writable, so dirty) and those after it, which the next harvest
 * reports again.
 */
static inline __attribute__((always_inline)) void
harvest_word(struct harvest *hv, uint64_t *page, const struct fset_word *fw)
{
	struct pt_log *log = hv->pt->log;
	uint64_t w = fw->with, m = 0, f = 0, left;
	struct leaf_at l;

	harvest_out(hv, fw->base, &fw->mask, 1,
		    (uint64_t)__builtin_popcountll(fw->mask));
	if (hv->err) {
		fset_put_word(&log->writable, fw->base, fw->with);
		fset_put_word(&log->dirty, fw->base, fw->mask);
		return;
	}
	if (w && page && hv->quiet)
		w = protect_pages(hv, page, fw->base, w);
	if (w)
		m = reprotect_word(hv, page, fw->base, w, &f);
	if (!hv->err)
		return;
	if (leaf_at(hv->pt, f, &l)) {
		add_logged(hv->pt, &log->writable, l.lo, l.lo + l.n, true);
		add_logged(hv->pt, &log->dirty, l.lo, l.lo + l.n, true);
	}
	left = (f - fw->base + 1 < 64) ? ~UINT64_C(0) << (f - fw->base + 1) : 0;
	fset_put_word(&log->writable, fw->base, m & left);
	fset_put_word(&log->dirty, fw->base, fw->mask & left);
}

/* Words taken from the dirty set, with the table entries of each (or
 * NULL: folded, or found by reprotect). */
struct harvest_batch {
	struct fset_word fw[HARVEST_BATCH];
	uint64_t *page[HARVEST_BATCH];
	uint32_t n;
};

/* Readies a batch taken: each piece's table folded, or the lines of its
 * entries prefetched, while the batch before is harvested. Returns the
 * pieces of the batch. */
static uint32_t batch_ready(struct harvest *hv, struct harvest_batch *b)
{
	struct fset_word *fw = b->fw;
	uint64_t m, pages, lo;
	uint32_t k, j, pieces = 0;

	for (k = 0; k < b->n; k = j, pieces++) {
		/* [k, j): the words of one piece, with pages writable. */
		pages = (uint64_t)__builtin_popcountll(fw[k].with);
		for (j = k + 1; j < b->n &&
				!((fw[j].base ^ fw[k].base) >> PIECE_SHIFT);
		     j++)
			pages += (uint64_t)__builtin_popcountll(fw[j].with);
		lo = fw[k].base & ~(uint64_t)(PIECE_FRAMES - 1);
		/* fset_take gives all of a piece at once. */
		if (hv->fold && !hv->err && pages >= FOLD_MIN &&
		    !fset_any(&hv->pt->log->writable, lo, lo + PIECE_FRAMES) &&
		    fold(hv, lo, pages)) {
			for (; k < j; k++) {
				b->page[k] = NULL;
				fw[k].with = 0;	/* protected: reported only */
			}
			continue;
		}
		for (; k < j; k++) {
			uint64_t *page = hv->quick ? table_entry(hv, fw[k].base)
						   : NULL;

			b->page[k] = page;
			/* One prefetch a line of entries (8 to a line at
			 * most). */
			for (m = page ? fw[k].with : 0; m;
			     m &= ~(UINT64_C(0xff) << (__builtin_ctzll(m) & ~7)))
				__builtin_prefetch(&page[__builtin_ctzll(m)], 1);
		}
	}
	return pieces;
}

/*
 * Writes in runs leave pieces dirty whole, and a batch of words holds
 * one or two of them: taking words and readying them a batch ahead
 * costs more than the misses it overlaps. Where pieces hold many frames
 * each, they are taken whole instead (fset_walk_take), each reported
 * and folded (or protected a word at a time) in turn, while a walk
 * HARVEST_AHEAD pieces ahead prefetches what each will touch: its words
 * in the dirty and writable sets, its entry above (which a fold edits,
 * and through which its table is found) and the caller's bitmap words.
 * So a harvest of runs waits for the misses of many pieces at once, and
 * spends on each piece a few instructions a word. Pieces are taken
 * whole while HARVEST_AHEAD of them in a row hold PIECES_DENSE frames
 * each on average, and batches of words are taken while a batch holds
 * fewer a piece (scattered writes, whose batches span many pieces).
 */
#define HARVEST_AHEAD 8
#define PIECES_DENSE 64

/* The walk ahead of the taking of pieces. */
struct harvest_ahead {
	struct fset_walk walk;
	struct upper up;
	struct pt_cursor cursor;
	uint32_t n;			/* pieces ahead of the taking */
};

/* Prefetches pieces until HARVEST_AHEAD are ahead of the taking. */
static void ahead_fill(struct harvest *hv, struct harvest_ahead *a)
{
	const struct gmem_pt *pt = hv->pt;
	const uint64_t *w, *ww;
	uint64_t gfn, *up;

	for (; a->n < HARVEST_AHEAD &&
	       fset_walk_next(&a->walk, &gfn, &w, &ww); a->n++) {
		__builtin_prefetch(w, 1);
		if (ww)
			__builtin_prefetch(ww, 1);
		if (hv->quick && pt->geom.nlevels > 1) {
			up = upper_entry(pt, &a->up, gfn, &a->cursor);
			if (up)
				__builtin_prefetch(up, 1);
		}
		if (hv->h->bitmap) {
			uint64_t word = gfn > hv->gfn ? (gfn - hv->gfn) / 64 : 0;

			__builtin_prefetch(&hv->h->bitmap[word], 1);
		}
	}
}

/* A piece taken whole: reported, and its writable frames protected, by
 * a fold of its table or a word at a time. */
static void harvest_piece(struct harvest *hv, const struct fset_piece *p)
{
	uint32_t j;

	if (hv->fold && !hv->err && p->with_frames >= FOLD_MIN &&
	    !p->with_rest && fold(hv, p->base, p->with_frames)) {
		harvest_out(hv, p->base, p->mask, MAP_WORDS, p->frames);
		return;
	}
	for (j = 0; j < MAP_WORDS; j++) {
		struct fset_word fw = { p->base + 64 * j, p->mask[j],
					p->with[j] };

		if (fw.mask)
			harvest_word(hv, fw.with && hv->quick
						 ? table_entry(hv, fw.base)
						 : NULL,
				     &fw);
	}
}

/*
 * Takes pieces whole from *next (*limit frames at most), while they are
 * dense. Returns whether frames may be left for batches: false when the
 * range or the limit is done.
 */
static bool harvest_pieces(struct harvest *hv, uint64_t *next,
			   uint64_t *limit)
{
	struct pt_log *log = hv->pt->log;
	struct harvest_ahead ahead = { .n = 0 };
	struct fset_walk take;
	struct fset_piece p;
	const uint64_t *w, *ww;
	uint64_t gfn, frames = 0;
	uint32_t pieces = 0;

	fset_walk_init(&ahead.walk, &log->dirty, &log->writable, *next,
		       hv->end);
	fset_walk_init(&take, &log->dirty, &log->writable, *next, hv->end);
	/* A piece may hold PIECE_FRAMES: it must fit the limit whole. */
	while (*limit >= PIECE_FRAMES) {
		ahead_fill(hv, &ahead);
		if (!fset_walk_next(&take, &gfn, &w, &ww)) {
			*next = hv->end;
			return false;
		}
		/* The walk ahead met it first: the sets change behind
		 * both walks only. */
		ahead.n--;
		fset_walk_take(&take, &p);
		harvest_piece(hv, &p);
		*limit -= p.frames;
		*next = gfn + PIECE_FRAMES < hv->end ? gfn + PIECE_FRAMES
						     : hv->end;
		frames += p.frames;
		if (++pieces == HARVEST_AHEAD) {
			if (frames < (uint64_t)pieces * PIECES_DENSE)
				break;
			frames = pieces = 0;
		}
	}
	if (*limit)
		return *next < hv->end;
	/* As fset_take: none of the range left, the next is its end. */
	if (!fset_any(&log->dirty, *next, hv->end))
		*next = hv->end;
	return false;
}

/*
 * Takes batches of words from *next (*limit frames at most), two in
 * flight: the next is taken and readied before the one before it is
 * harvested, so that its misses overlap that batch's work. Tables are
 * never freed in a harvest, so the entries readied stay where they are.
 * Returns whether it stopped at a dense batch, frames maybe left for
 * pieces: false when the range or the limit is done.
 */
static bool harvest_batches(struct harvest *hv, uint64_t *next,
			    uint64_t *limit)
{
	struct pt_log *log = hv->pt->log;
	struct harvest_batch b[2];
	uint32_t cur = 0, k, pieces;
	bool more = true, dense = false;

	b[0].n = 0;
	for (;;) {
		struct harvest_batch *nb = &b[cur ^ 1];

		nb->n = 0;
		if (more) {
			uint64_t was = *limit;

			nb->n = fset_take(&log->dirty, &log->writable, *next,
					  hv->end, limit, nb->fw,
					  HARVEST_BATCH, next);
			pieces = batch_ready(hv, nb);
			more = nb->n && *limit && *next < hv->end;
			dense = more && *limit >= PIECE_FRAMES &&
				was - *limit >= (uint64_t)pieces * PIECES_DENSE;
			more = more && !dense;
		}
		for (k = 0; k < b[cur].n; k++)
			harvest_word(hv, b[cur].page[k], &b[cur].fw[k]);
		cur ^= 1;
		if (!b[cur].n)
			return dense;
	}
}

static int log_harvest(struct gmem_pt *pt, uint64_t gfn, uint64_t npages,
		       struct gmem_pt_harvest *h)
{
	struct harvest hv = { .pt = pt, .h = h, .gfn = gfn,
			      .end = gfn + npages };
	const struct gmem_pt_level *leaves;	/* the last level */
	uint64_t limit = UINT64_MAX, next = gfn;
	bool pieces, more;
	int err = check_range(pt, gfn, npages);

	if (!err)
		err = OPTS_VALID(h, gmem_pt_harvest);
	if (err)
		return err;
	if (!h || h->sz < sizeof(*h) || !h->bitmap == !h->ring ||
	    (h->ring && !h->ring_cap) || h->pad)
		return -EINVAL;
	if (h->bitmap && h->bitmap_bytes / 8 < (npages + 63) / 64)
		return -ENOSPC;
	if (h->ring)
		limit = h->ring_cap;
	err = pt_log_fold(pt);
	if (err)
		return err;
	h->count = 0;
	h->next = gfn + npages;
	if (!pt->log || !pt->log->dirty.count)
		return 0;
	/* Dirty frames are in the dirty set alone, their leaves' write
	 * access taken in the same batch: one flush before returning. */
	leaves = &pt->geom.level[pt->geom.nlevels - 1];
	hv.sc = (struct pt_batch){ .pt = pt, .apply = true,
				   .flush_lo = UINT64_MAX };
	/* A word's frames are edited through one table: its 64 entries
	 * must be in it (a generic geometry may have smaller tables). */
	hv.quick = granule_shift(pt) == 0 &&
		   leaves->entry_shift == GMEM_FRAME_SHIFT &&
		   leaves->index_bits >= 6 &&
		   (pt->sink.protect || (!pt->sink.map && !pt->sink.unmap));
	hv.page_w = pt_format_page_w_rule(pt->fmt->id);
	hv.quiet = !pt->sink.protect &&
		   !bus_heard(&pt->guest->bus, BUS_WRPROTECT);
	/* Folding takes write from pages no sink or listener hears of. */
	hv.fold = hv.quick && hv.quiet && pt->fmt->table_w &&
		  pt->geom.nlevels > 1 && leaves->index_bits == PIECE_SHIFT;
	/* Pieces first: until they show scattered frames. */
	for (pieces = true, more = true; more; pieces = !pieces)
		more = pieces ? harvest_pieces(&hv, &next, &limit)
			      : harvest_batches(&hv, &next, &limit);
	h->next = next;
	pt_batch_end(&hv.sc);
	return hv.err;
}

/* The calls an operator follows, each told by a probe as it ends. */
int gmem_pt_log_start(struct gmem_pt *pt, uint64_t gfn, uint64_t npages)
{
	int err = log_start(pt, gfn, npages);

	GMEM_PROBE(log_start, pt, gfn, npages, err);
	return err;
}

int gmem_pt_log_fault(struct gmem_pt *pt, uint64_t gfn)
{
	int err = log_fault(pt, gfn);

	GMEM_PROBE(log_fault, pt, gfn, err);
	return err;
}

int gmem_pt_log_harvest(struct gmem_pt *pt, uint64_t gfn, uint64_t npages,
			struct gmem_pt_harvest *h)
{
	int err;

	GMEM_PROBE(harvest_begin, pt, gfn, npages);
	err = log_harvest(pt, gfn, npages, h);
	GMEM_PROBE(harvest, pt, gfn, npages, err ? 0 : h->count, err);
	return err;
}

int gmem_pt_log_stats(const struct gmem_pt *pt, struct gmem_pt_log_stats *stats)
{
	struct gmem_pt_log_stats st = { .sz = sizeof(st) };
	uint32_t i;

	if (!pt || !stats)
		return -EINVAL;
	if (pt->log) {
		st.ranges = pt->log->n;
		for (i = 0; i < pt->log->n; i++)
			st.frames += pt->log->r[i].hi - pt->log->r[i].lo;
		st.dirty = pt->log->dirty.count;
		st.split = pt->log->split.count;
		st.faults = pt->log->faults;
	}
	return out_struct(stats, &st, sizeof(st));
}
