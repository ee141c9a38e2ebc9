/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include <gmem/common.h>

#include "bits.h"
#include "state.h"

#define PIECE_MASK (PIECE_FRAMES - 1)
#define MIN_CAP 4

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

static unsigned int piece_rank(const struct slot_detail *d, uint32_t p)
{
	return (unsigned int)bits_count(d->mixed, 0, p);
}

static bool piece_mixed(const struct slot_detail *d, uint32_t p)
{
	return bits_test(d->mixed, p);
}

static unsigned int piece_uniform(const struct slot_detail *d, uint32_t p)
{
	return bits_test(d->shared, p);
}

static const uint64_t *piece_map_of(const struct slot_detail *d, uint32_t p)
{
	return *d->maps[piece_rank(d, p)];
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

unsigned int state_range(const struct slot *s, uint32_t a, uint32_t b)
{
	const struct slot_detail *d = s->detail;
	unsigned int attr = GMEM_ATTR_MIXED, i;
	bool seen = false;
	struct split sp;

	if (!d)
		return s->attr;
	if (b - a == PIECE_FRAMES && !(a & PIECE_MASK))
		return piece_mixed(d, a >> PIECE_SHIFT)
			       ? GMEM_ATTR_MIXED
			       : piece_uniform(d, a >> PIECE_SHIFT);
	split_range(a, b, &sp);
	if (sp.full_lo < sp.full_hi) {
		uint64_t n = bits_count(d->shared, sp.full_lo, sp.full_hi);

		if (bits_count(d->mixed, sp.full_lo, sp.full_hi))
			return GMEM_ATTR_MIXED;
		if (n && n != sp.full_hi - sp.full_lo)
			return GMEM_ATTR_MIXED;
		attr = n ? GMEM_ATTR_SHARED : GMEM_ATTR_PRIVATE;
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
	uint64_t n;
	unsigned int i;

	if (!d)
		return s->attr ? SLOT_FRAMES : 0;
	n = (uint64_t)d->nshared * PIECE_FRAMES;
	for (i = 0; i < d->nmixed; i++)
		n += bits_count(*d->maps[i], 0, PIECE_FRAMES);
	return n;
}

static uint16_t cap_for(unsigned int n)
{
	unsigned int cap = MIN_CAP;

	while (cap < n)
		cap *= 2;
	return (uint16_t)cap;
}

void state_plan(const struct slot *s, uint32_t a, uint32_t b,
		unsigned int attr, struct state_need *need)
{
	const struct slot_detail *d = s->detail;
	unsigned int i, n = 0;
	struct split sp;

	memset(need, 0, sizeof(*need));
	if (a == 0 && b == SLOT_FRAMES)
		return;
	if (!d && s->attr == attr)
		return;
	split_range(a, b, &sp);
	for (i = 0; i < sp.nedge; i++)
		if (!d || (!piece_mixed(d, sp.edge[i].piece) &&
			   piece_uniform(d, sp.edge[i].piece) != attr))
			n++;
	need->detail = !d;
	need->nmaps = (uint8_t)n;
	if (n && (!d || d->nmixed + n > d->cap))
		need->cap = cap_for((d ? d->nmixed : 0) + n);
}

bool state_reserve_covers(const struct state_reserve *r,
			  const struct state_need *need)
{
	return (!need->detail || r->detail) && need->cap <= r->cap &&
	       need->nmaps <= r->nmaps;
}

int state_reserve(struct heap *h, const struct state_need *need,
		  struct state_reserve *r)
{
	if (need->detail && !r->detail) {
		r->detail = heap_alloc(h, sizeof(*r->detail), 64);
		if (!r->detail)
			return -ENOMEM;
	}
	if (need->cap > r->cap) {
		piece_map **maps = heap_alloc(h, need->cap * sizeof(*maps), 8);

		if (!maps)
			return -ENOMEM;
		heap_free(h, r->maps, r->cap * sizeof(*r->maps));
		r->maps = maps;
		r->cap = need->cap;
	}
	while (r->nmaps < need->nmaps) {
		r->map[r->nmaps] = heap_alloc(h, sizeof(piece_map), 64);
		if (!r->map[r->nmaps])
			return -ENOMEM;
		r->nmaps++;
	}
	return 0;
}

void state_unreserve(struct heap *h, struct state_reserve *r)
{
	heap_free(h, r->detail, sizeof(*r->detail));
	heap_free(h, r->maps, r->cap * sizeof(*r->maps));
	while (r->nmaps)
		heap_free(h, r->map[--r->nmaps], sizeof(piece_map));
	memset(r, 0, sizeof(*r));
}

static void retire(struct retired **list, void *p, size_t size)
{
	struct retired *r = p;

	r->next = *list;
	r->size = size;
	*list = r;
}

void retired_free(struct heap *h, struct retired *list)
{
	while (list) {
		struct retired *next = list->next;

		heap_free(h, list, list->size);
		list = next;
	}
}

void state_clear(struct slot *s, struct retired **retired)
{
	struct slot_detail *d = s->detail;
	unsigned int i;

	if (!d)
		return;
	for (i = 0; i < d->nmixed; i++)
		retire(retired, d->maps[i], sizeof(piece_map));
	if (d->maps)
		retire(retired, d->maps, d->cap * sizeof(*d->maps));
	retire(retired, d, sizeof(*d));
	s->detail = NULL;
}

/* Drops the maps of ranks k..k+n-1: their pieces became uniform. */
static void unmix(struct slot_detail *d, unsigned int k, unsigned int n,
		  struct retired **retired)
{
	unsigned int i;

	for (i = k; i < k + n; i++)
		retire(retired, d->maps[i], sizeof(piece_map));
	memmove(&d->maps[k], &d->maps[k + n],
		(d->nmixed - k - n) * sizeof(*d->maps));
	d->nmixed = (uint16_t)(d->nmixed - n);
}

static void set_full_pieces(struct slot_detail *d, uint32_t lo, uint32_t hi,
			    unsigned int attr, struct retired **retired)
{
	unsigned int nm = (unsigned int)bits_count(d->mixed, lo, hi);
	unsigned int ns = (unsigned int)bits_count(d->shared, lo, hi);

	if (nm) {
		unmix(d, piece_rank(d, lo), nm, retired);
		bits_assign(d->mixed, lo, hi, false);
	}
	bits_assign(d->shared, lo, hi, attr);
	d->nshared = (uint16_t)(attr ? d->nshared + (hi - lo) - ns
				     : d->nshared - ns);
}

static void set_piece_part(struct slot_detail *d, uint32_t p, uint32_t lo,
			   uint32_t hi, unsigned int attr,
			   struct state_reserve *r, struct retired **retired)
{
	unsigned int k = piece_rank(d, p), was;
	piece_map *map;

	if (piece_mixed(d, p)) {
		uint64_t any = 0, all = ~UINT64_C(0);
		unsigned int i;

		map = d->maps[k];
		bits_assign(*map, lo, hi, attr);
		for (i = 0; i < MAP_WORDS; i++) {
			any |= (*map)[i];
			all &= (*map)[i];
		}
		if (!any || !~all) {
			unmix(d, k, 1, retired);
			bits_assign(d->mixed, p, p + 1, false);
			bits_assign(d->shared, p, p + 1, any != 0);
			d->nshared = (uint16_t)(d->nshared + (any != 0));
		}
		return;
	}
	was = piece_uniform(d, p);
	if (was == attr)
		return;
	map = r->map[--r->nmaps];
	memset(map, was ? 0xff : 0, sizeof(*map));
	bits_assign(*map, lo, hi, attr);
	memmove(&d->maps[k + 1], &d->maps[k], (d->nmixed - k) * sizeof(*d->maps));
	d->maps[k] = map;
	d->nmixed++;
	bits_assign(d->mixed, p, p + 1, true);
	if (was) {
		bits_assign(d->shared, p, p + 1, false);
		d->nshared--;
	}
}

void state_set(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
	       struct state_reserve *r, struct retired **retired)
{
	struct slot_detail *d = s->detail;
	struct split sp;
	unsigned int i;

	if (a == 0 && b == SLOT_FRAMES) {
		state_clear(s, retired);
		s->attr = (uint8_t)attr;
		return;
	}
	if (!d) {
		if (s->attr == attr)
			return;
		d = r->detail;
		r->detail = NULL;
		memset(d, 0, sizeof(*d));
		if (s->attr) {
			memset(d->shared, 0xff, sizeof(d->shared));
			d->nshared = SLOT_PIECES;
		}
		s->detail = d;
	}
	if (r->cap > d->cap) {
		memcpy(r->maps, d->maps, d->nmixed * sizeof(*d->maps));
		if (d->maps)
			retire(retired, d->maps, d->cap * sizeof(*d->maps));
		d->maps = r->maps;
		d->cap = r->cap;
		r->maps = NULL;
		r->cap = 0;
	}
	split_range(a, b, &sp);
	if (sp.full_lo < sp.full_hi)
		set_full_pieces(d, sp.full_lo, sp.full_hi, attr, retired);
	for (i = 0; i < sp.nedge; i++)
		set_piece_part(d, sp.edge[i].piece, sp.edge[i].lo,
			       sp.edge[i].hi, attr, r, retired);
	if (!d->nmixed && (!d->nshared || d->nshared == SLOT_PIECES)) {
		s->attr = d->nshared ? GMEM_ATTR_SHARED : GMEM_ATTR_PRIVATE;
		state_clear(s, retired);
	}
}
