/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include <gmem/common.h>

#include "bits.h"
#include "slot_lock.h"
#include "state.h"

#define PIECE_MASK (PIECE_FRAMES - 1)
#define GROUP_MASK (GROUP_PIECES - 1)
/* Map arrays of at most this many entries stay when their group empties,
 * so a piece flipping between mixed and uniform does not allocate. */
#define MIN_CAP 2


/*
 * A range within a slot, cut where the hierarchy needs it: up to two
 * pieces it covers in part (head first), and the pieces it covers whole.
 */
struct split {
	unsigned int nedge;
	struct {
		uint32_t piece, lo, hi;	/* frames lo..hi-1 of the piece */
	} edge[2];
	uint32_t full_lo, full_hi;	/* pieces */
};

static void split_range(uint32_t a, uint32_t b, struct split *sp)
{
	sp->nedge = 0;
	if (a & PIECE_MASK) {
		uint32_t p = a >> PIECE_SHIFT;
		uint32_t end = b < (p + 1) << PIECE_SHIFT ? b : (p + 1) << PIECE_SHIFT;

		sp->edge[sp->nedge].piece = p;
		sp->edge[sp->nedge].lo = a & PIECE_MASK;
		sp->edge[sp->nedge++].hi = end - (p << PIECE_SHIFT);
		a = end;
	}
	if (a < b && (b & PIECE_MASK)) {
		uint32_t p = b >> PIECE_SHIFT;

		sp->edge[sp->nedge].piece = p;
		sp->edge[sp->nedge].lo = 0;
		sp->edge[sp->nedge++].hi = b & PIECE_MASK;
		b = p << PIECE_SHIFT;
	}
	sp->full_lo = a >> PIECE_SHIFT;
	sp->full_hi = a < b ? b >> PIECE_SHIFT : sp->full_lo;
}

static unsigned int group_count(const struct slot_detail *d, unsigned int g)
{
	return (unsigned int)__builtin_popcountll(d->mixed[g]);
}

static bool piece_mixed(const struct slot_detail *d, uint32_t p)
{
	return d->mixed[p >> GROUP_SHIFT] & piece_bit(p);
}

static unsigned int piece_uniform(const struct slot_detail *d, uint32_t p)
{
	return (d->shared[p >> GROUP_SHIFT] & piece_bit(p)) != 0;
}

static uint64_t *piece_map_of(const struct slot_detail *d, uint32_t p)
{
	return d->maps[p >> GROUP_SHIFT][piece_rank(d, p)];
}

/* The part of pieces [lo, hi) in lo's group: the group *g, the pieces'
 * mask *m in it; returns where the part ends. */
static uint32_t group_span(uint32_t lo, uint32_t hi, unsigned int *g,
			   uint64_t *m)
{
	uint32_t end = ((lo >> GROUP_SHIFT) + 1) << GROUP_SHIFT;

	end = end < hi ? end : hi;
	*g = lo >> GROUP_SHIFT;
	*m = bits_word_mask(lo & GROUP_MASK, end - (*g << GROUP_SHIFT));
	return end;
}

static bool no_mixed(const struct slot_detail *d)
{
	uint64_t any = 0;
	unsigned int g;

	for (g = 0; g < SLOT_GROUPS; g++)
		any |= d->mixed[g];
	return !any;
}

unsigned int state_get(const struct slot *s, uint32_t off)
{
	const struct slot_detail *d = s->detail;
	uint32_t p = off >> PIECE_SHIFT;

	if (!d)
		return s->attr;
	if (piece_mixed(d, p))
		return bits_test(piece_map_of(d, p), off & PIECE_MASK);
	return piece_uniform(d, p);
}

/* Attribute of frames lo..hi-1 of piece p. */
static unsigned int piece_range(const struct slot_detail *d, uint32_t p,
				uint32_t lo, uint32_t hi)
{
	uint64_t n;

	if (!piece_mixed(d, p))
		return piece_uniform(d, p);
	n = bits_count(piece_map_of(d, p), lo, hi);
	return n == 0 ? GMEM_ATTR_PRIVATE
	       : n == hi - lo ? GMEM_ATTR_SHARED : GMEM_ATTR_MIXED;
}

unsigned int state_pieces(const struct slot_detail *d, uint32_t lo,
			  uint32_t hi)
{
	uint32_t n = 0, total = hi - lo, end;
	unsigned int g;
	uint64_t m;

	if (total == 1)
		return state_piece(d, lo);
	for (; lo < hi; lo = end) {
		end = group_span(lo, hi, &g, &m);
		if (mask_get(&d->mixed[g]) & m)
			return GMEM_ATTR_MIXED;
		n += (uint32_t)__builtin_popcountll(mask_get(&d->shared[g]) & m);
	}
	return n == 0 ? GMEM_ATTR_PRIVATE
	       : n == total ? GMEM_ATTR_SHARED : GMEM_ATTR_MIXED;
}

unsigned int state_range(const struct slot *s, uint32_t a, uint32_t b)
{
	const struct slot_detail *d = s->detail;
	unsigned int attr = GMEM_ATTR_MIXED, i;
	bool seen = false;
	struct split sp;

	if (!d)
		return s->attr;
	if (b - a == 1)		/* a told conversion's usual question */
		return state_get(s, a);
	if (a >> PIECE_SHIFT == (b - 1) >> PIECE_SHIFT)	/* one piece */
		return piece_range(d, a >> PIECE_SHIFT, a & PIECE_MASK,
				   b - (a & ~PIECE_MASK));
	split_range(a, b, &sp);
	if (sp.full_lo < sp.full_hi) {
		attr = state_pieces(d, sp.full_lo, sp.full_hi);
		if (attr == GMEM_ATTR_MIXED)
			return attr;
		seen = true;
	}
	for (i = 0; i < sp.nedge; i++) {
		unsigned int e = piece_range(d, sp.edge[i].piece, sp.edge[i].lo,
					     sp.edge[i].hi);

		if (e == GMEM_ATTR_MIXED || (seen && e != attr))
			return GMEM_ATTR_MIXED;
		attr = e;
		seen = true;
	}
	return attr;
}

/* Next piece after p that is not uniformly attr. */
static uint32_t next_other_piece(const struct slot_detail *d, uint32_t p,
				 unsigned int attr)
{
	uint64_t q, m;

	if (attr)
		return (uint32_t)bits_find(d->shared, SLOT_PIECES, p + 1, false);
	q = bits_find(d->shared, SLOT_PIECES, p + 1, true);
	m = bits_find(d->mixed, SLOT_PIECES, p + 1, true);
	return (uint32_t)(q < m ? q : m);
}

uint32_t state_run_end(const struct slot *s, uint32_t a, uint32_t limit)
{
	const struct slot_detail *d = s->detail;
	unsigned int attr = state_get(s, a);
	uint32_t off = a;

	if (!d)
		return limit;
	while (off < limit) {
		uint32_t p = off >> PIECE_SHIFT;

		if (piece_mixed(d, p)) {
			uint64_t i = bits_find(piece_map_of(d, p), PIECE_FRAMES,
					       off & PIECE_MASK, !attr);

			if (i < PIECE_FRAMES) {
				off = (p << PIECE_SHIFT) + (uint32_t)i;
				break;
			}
			off = (p + 1) << PIECE_SHIFT;
		} else if (piece_uniform(d, p) != attr) {
			break;
		} else {
			off = next_other_piece(d, p, attr) << PIECE_SHIFT;
		}
	}
	return off < limit ? off : limit;
}

uint64_t state_shared_frames(const struct slot *s)
{
	const struct slot_detail *d = s->detail;
	unsigned int g, i;
	uint64_t n;

	if (!d)
		return s->attr ? SLOT_FRAMES : 0;
	n = (uint64_t)d->nshared * PIECE_FRAMES;
	for (g = 0; g < SLOT_GROUPS; g++)
		for (i = 0; i < group_count(d, g); i++)
			n += bits_count(d->maps[g][i], 0, PIECE_FRAMES);
	return n;
}

unsigned int state_mixed_pieces(const struct slot *s)
{
	const struct slot_detail *d = s->detail;
	unsigned int g, n = 0;

	for (g = 0; d && g < SLOT_GROUPS; g++)
		n += group_count(d, g);
	return n;
}

static uint8_t cap_for(unsigned int n)
{
	unsigned int cap = MIN_CAP;

	while (cap < n)
		cap *= 2;
	return (uint8_t)cap;
}

/* Whether setting piece p in part to attr gives it a new map. */
static bool gains_map(const struct slot *s, uint32_t p, unsigned int attr)
{
	const struct slot_detail *d = s->detail;

	if (!d)
		return s->attr != attr;
	return !piece_mixed(d, p) && piece_uniform(d, p) != attr;
}

/* Plans room for add more maps in group g of s. */
static void plan_maps(const struct slot *s, uint8_t g, unsigned int add,
		      struct state_need *need)
{
	const struct slot_detail *d = s->detail;
	unsigned int n = d ? group_count(d, g) : 0;

	if (d && n + add <= d->cap[g])
		return;
	need->grow[need->ngrow].group = g;
	need->grow[need->ngrow++].cap = cap_for(n + add);
}

void state_plan(const struct slot *s, uint32_t a, uint32_t b,
		unsigned int attr, struct state_need *need)
{
	const struct slot_detail *d = s->detail;
	uint32_t p = a >> PIECE_SHIFT;
	unsigned int i, add[2] = { 0, 0 }, ng = 0;
	uint8_t groups[2];
	struct split sp;

	memset(need, 0, sizeof(*need));
	if ((a == 0 && b == SLOT_FRAMES) || (!d && s->attr == attr))
		return;
	need->detail = !d;
	/* The common small change, within one piece: at most its map. */
	if (p == (b - 1) >> PIECE_SHIFT) {
		if (b - a < PIECE_FRAMES && gains_map(s, p, attr))
			plan_maps(s, (uint8_t)(p >> GROUP_SHIFT), 1, need);
		return;
	}
	split_range(a, b, &sp);
	for (i = 0; i < sp.nedge; i++) {
		uint8_t g = (uint8_t)(sp.edge[i].piece >> GROUP_SHIFT);

		if (!gains_map(s, sp.edge[i].piece, attr))
			continue;
		if (!ng || groups[ng - 1] != g)
			groups[ng++] = g;
		add[ng - 1]++;
	}
	for (i = 0; i < ng; i++)
		plan_maps(s, groups[i], add[i], need);
}

/* The cell of r holding an array for group g of at least cap entries. */
static int grow_find(const struct state_reserve *r, unsigned int g,
		     unsigned int cap)
{
	int j;

	for (j = 0; j < 2; j++)
		if (r->grow[j].maps && r->grow[j].group == g &&
		    r->grow[j].cap >= cap)
			return j;
	return -1;
}

bool state_reserve_covers(const struct state_reserve *r,
			  const struct state_need *need)
{
	unsigned int i;

	if (need->detail && !r->detail)
		return false;
	for (i = 0; i < need->ngrow; i++)
		if (grow_find(r, need->grow[i].group, need->grow[i].cap) < 0)
			return false;
	return true;
}

static void grow_drop(struct heap *h, struct state_reserve *r, int j)
{
	heap_free(h, r->grow[j].maps, r->grow[j].cap * sizeof(piece_map));
	r->grow[j].maps = NULL;
}

static struct slot_detail *detail_get(struct state_mem *m)
{
	struct slot_detail *d;

	slot_state_lock(&m->lock);
	d = m->free;
	if (d)
		m->free = d->next;
	slot_state_unlock(&m->lock);
	if (!d)
		d = heap_zalloc(m->heap, sizeof(*d), 64);
	return d;
}

static void details_put(struct state_mem *m, struct slot_detail *list)
{
	struct slot_detail *last = list;

	if (!list)
		return;
	while (last->next)
		last = last->next;
	slot_state_lock(&m->lock);
	last->next = m->free;
	m->free = list;
	slot_state_unlock(&m->lock);
}

void state_mem_release(struct state_mem *m)
{
	while (m->free) {
		struct slot_detail *d = m->free;

		m->free = d->next;
		if (d->spare)
			heap_free(m->heap, d->spare,
				  MIN_CAP * sizeof(piece_map));
		heap_free(m->heap, d, sizeof(*d));
	}
}

int state_reserve(struct state_mem *m, const struct state_need *need,
		  struct state_reserve *r)
{
	struct heap *h = m->heap;
	bool keep[2] = { false, false };
	unsigned int i;
	int j;

	if (state_need_none(need) && state_reserve_empty(r))
		return 0;
	if (need->detail && !r->detail) {
		r->detail = detail_get(m);
		if (!r->detail)
			return -ENOMEM;
	}
	/* Groups in a plan differ, so each kept cell serves one need. */
	for (i = 0; i < need->ngrow; i++) {
		j = grow_find(r, need->grow[i].group, need->grow[i].cap);
		if (j >= 0)
			keep[j] = true;
	}
	for (j = 0; j < 2; j++)
		if (!keep[j] && r->grow[j].maps)
			grow_drop(h, r, j);
	for (i = 0; i < need->ngrow; i++) {
		unsigned int cap = need->grow[i].cap;

		if (grow_find(r, need->grow[i].group, cap) >= 0)
			continue;
		j = r->grow[0].maps ? 1 : 0;
		if (cap == MIN_CAP && r->detail && r->detail->spare) {
			r->grow[j].maps = r->detail->spare;
			r->detail->spare = NULL;
		} else {
			r->grow[j].maps = heap_alloc(h, cap * sizeof(piece_map),
						     64);
			if (!r->grow[j].maps)
				return -ENOMEM;
		}
		r->grow[j].group = need->grow[i].group;
		r->grow[j].cap = (uint8_t)cap;
	}
	return 0;
}

void state_unreserve(struct state_mem *m, struct state_reserve *r)
{
	int j;

	if (state_reserve_empty(r))
		return;
	if (r->detail) {
		r->detail->next = NULL;
		details_put(m, r->detail);
	}
	for (j = 0; j < 2; j++)
		if (r->grow[j].maps)
			grow_drop(m->heap, r, j);
	memset(r, 0, sizeof(*r));
}

static void retire(struct retired *retired, void *p, size_t size)
{
	struct retired_block *b = p;

	b->next = retired->blocks;
	b->size = size;
	retired->blocks = b;
}

void retired_release(struct state_mem *m, struct retired *retired)
{
	struct retired_block *b = retired->blocks;

	while (b) {
		struct retired_block *next = b->next;

		heap_free(m->heap, b, b->size);
		b = next;
	}
	details_put(m, retired->details);
	retired->blocks = NULL;
	retired->details = NULL;
}

static void retire_group(struct slot_detail *d, unsigned int g,
			 struct retired *retired)
{
	if (d->maps[g])
		retire(retired, d->maps[g], d->cap[g] * sizeof(piece_map));
	d->maps[g] = NULL;
	d->cap[g] = 0;
}

void state_clear(struct slot *s, struct retired *retired)
{
	struct slot_detail *d = s->detail;
	unsigned int g;

	if (!d)
		return;
	__atomic_store_n(&s->detail, NULL, __ATOMIC_RELEASE);
	/* A cached detail has no mixed piece and no map (see state_set). */
	for (g = 0; g < SLOT_GROUPS; g++) {
		mask_put(&d->mixed[g], 0);
		if (!d->maps[g])
			continue;
		if (d->cap[g] == MIN_CAP && !d->spare) {
			d->spare = d->maps[g];
			d->maps[g] = NULL;
			d->cap[g] = 0;
		}
		retire_group(d, g, retired);
	}
	d->next = retired->details;
	retired->details = d;
}

static void set_uniform(struct slot *s, unsigned int attr,
			struct retired *retired)
{
	__atomic_store_n(&s->attr, (uint8_t)attr, __ATOMIC_RELAXED);
	state_clear(s, retired);
}

/* Drops the maps of the mixed pieces among pieces m of group g: they
 * became uniform. m is one contiguous range of pieces. */
static void group_remove(struct slot_detail *d, unsigned int g, uint64_t m)
{
	uint64_t mixed = d->mixed[g];
	unsigned int count = (unsigned int)__builtin_popcountll(mixed);
	unsigned int k = (unsigned int)__builtin_popcountll(
		mixed & ((m & -m) - 1));
	unsigned int n = (unsigned int)__builtin_popcountll(mixed & m);
	piece_map *maps = d->maps[g];

	if (count > k + n)
		memmove(&maps[k], &maps[k + n],
			(count - k - n) * sizeof(*maps));
	mask_put(&d->mixed[g], mixed & ~m);
}

/* Room for the map of piece p, which becomes mixed: in place, or in the
 * bigger array planned into r (NULL when the plan needed none). */
static uint64_t *group_insert(struct slot_detail *d, uint32_t p,
			      struct state_reserve *r, struct retired *retired)
{
	unsigned int g = p >> GROUP_SHIFT, count = group_count(d, g);
	unsigned int k = piece_rank(d, p);
	piece_map *maps = d->maps[g];
	int j;

	if (count < d->cap[g]) {
		if (count > k)
			memmove(&maps[k + 1], &maps[k],
				(count - k) * sizeof(*maps));
		return maps[k];
	}
	j = grow_find(r, g, count + 1);
	if (count) {
		memcpy(r->grow[j].maps, maps, k * sizeof(*maps));
		memcpy(&r->grow[j].maps[k + 1], &maps[k],
		       (count - k) * sizeof(*maps));
	}
	retire_group(d, g, retired);
	d->maps[g] = r->grow[j].maps;
	d->cap[g] = r->grow[j].cap;
	r->grow[j].maps = NULL;
	return d->maps[g][k];
}

/* Sets whole pieces lo..hi-1 to attr; *emptied gains the groups that
 * lost maps. */
static void set_full_pieces(struct slot_detail *d, uint32_t lo, uint32_t hi,
			    unsigned int attr, unsigned int *emptied)
{
	uint32_t end;
	unsigned int g;
	uint64_t m;

	for (; lo < hi; lo = end) {
		unsigned int ns;

		end = group_span(lo, hi, &g, &m);
		ns = (unsigned int)__builtin_popcountll(d->shared[g] & m);
		if (d->mixed[g] & m) {
			group_remove(d, g, m);
			*emptied |= 1u << g;
		}
		if (attr) {
			mask_put(&d->shared[g], d->shared[g] | m);
			d->nshared = (uint16_t)(d->nshared + (end - lo) - ns);
		} else {
			mask_put(&d->shared[g], d->shared[g] & ~m);
			d->nshared = (uint16_t)(d->nshared - ns);
		}
	}
}

/* Drops the map of mixed piece p if it became uniform. */
static void unmix_if_uniform(struct slot_detail *d, uint32_t p,
			     unsigned int *emptied)
{
	const uint64_t *map = piece_map_of(d, p);
	uint64_t any = 0, all = ~UINT64_C(0), bit = piece_bit(p);
	unsigned int i, g = p >> GROUP_SHIFT;

	for (i = 0; i < MAP_WORDS; i++) {
		any |= map[i];
		all &= map[i];
	}
	if (any && ~all)
		return;
	group_remove(d, g, bit);
	*emptied |= 1u << g;
	if (any) {
		mask_put(&d->shared[g], d->shared[g] | bit);
		d->nshared++;
	}
}

static void set_piece_part(struct slot_detail *d, uint32_t p, uint32_t lo,
			   uint32_t hi, unsigned int attr,
			   struct state_reserve *r, struct retired *retired,
			   unsigned int *emptied)
{
	unsigned int g = p >> GROUP_SHIFT, was;
	uint64_t bit = piece_bit(p), *map;

	if (d->mixed[g] & bit) {
		bits_assign(piece_map_of(d, p), lo, hi, attr);
		unmix_if_uniform(d, p, emptied);
		return;
	}
	was = (d->shared[g] & bit) != 0;
	if (was == attr)
		return;
	map = group_insert(d, p, r, retired);
	for (unsigned int i = 0; i < MAP_WORDS; i++)
		map[i] = -(uint64_t)was;
	bits_assign(map, lo, hi, attr);
	mask_put(&d->mixed[g], d->mixed[g] | bit);
	if (was) {
		mask_put(&d->shared[g], d->shared[g] & ~bit);
		d->nshared--;
	}
}

static void state_settle(struct slot *s, unsigned int emptied,
		  struct retired *retired)
{
	struct slot_detail *d = s->detail;
	unsigned int g;

	for (; emptied; emptied &= emptied - 1) {
		g = (unsigned int)__builtin_ctz(emptied);
		if (!d->mixed[g] && d->cap[g] > MIN_CAP)
			retire_group(d, g, retired);
	}
	if ((!d->nshared || d->nshared == SLOT_PIECES) && no_mixed(d))
		set_uniform(s, d->nshared ? GMEM_ATTR_SHARED
					  : GMEM_ATTR_PRIVATE, retired);
}

/* state_set for a change state_set_quick cannot make. */
static void state_set_planned(struct slot *s, uint32_t a, uint32_t b,
			      unsigned int attr, struct state_reserve *r,
			      struct retired *retired)
{
	struct slot_detail *d = s->detail;
	unsigned int i, g, emptied = 0;
	struct split sp;

	if (a == 0 && b == SLOT_FRAMES) {
		set_uniform(s, attr, retired);
		return;
	}
	if (!d) {
		if (s->attr == attr)
			return;
		d = r->detail;
		r->detail = NULL;
		/* A stale reader may still look at a cached detail, so its
		 * masks are stored whole; it has no mixed piece and no map. */
		for (g = 0; g < SLOT_GROUPS; g++)
			mask_put(&d->shared[g], -(uint64_t)s->attr);
		d->nshared = s->attr ? SLOT_PIECES : 0;
		__atomic_store_n(&s->detail, d, __ATOMIC_RELEASE);
	}
	split_range(a, b, &sp);
	if (sp.full_lo < sp.full_hi)
		set_full_pieces(d, sp.full_lo, sp.full_hi, attr, &emptied);
	for (i = 0; i < sp.nedge; i++)
		set_piece_part(d, sp.edge[i].piece, sp.edge[i].lo,
			       sp.edge[i].hi, attr, r, retired, &emptied);
	state_settle(s, emptied, retired);
}

/* What a quick change q (_PIECE or _SLOT) leaves: the piece or the slot
 * may have become uniform. */
static void quick_settle(struct slot *s, uint32_t a, enum state_quick q,
			 struct retired *retired)
{
	unsigned int emptied = 0;

	if (q == STATE_QUICK_PIECE)
		unmix_if_uniform(s->detail, a >> PIECE_SHIFT, &emptied);
	state_settle(s, emptied, retired);
}

void state_set(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
	       struct state_reserve *r, struct retired *retired)
{
	enum state_quick q = state_set_quick(s, a, b, attr);

	if (q == STATE_QUICK_NO)
		state_set_planned(s, a, b, attr, r, retired);
	else if (q != STATE_QUICK_DONE)
		quick_settle(s, a, q, retired);
}

bool state_finish(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
		  enum state_quick q, struct retired *retired)
{
	struct state_need need;

	if (q != STATE_QUICK_NO) {
		quick_settle(s, a, q, retired);
		return true;
	}
	state_plan(s, a, b, attr, &need);
	if (!state_need_none(&need))
		return false;
	state_set_planned(s, a, b, attr, NULL, retired);
	return true;
}
