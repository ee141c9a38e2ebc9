/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Queries of the attribute state. */
#include <errno.h>

#include "guest.h"

const struct region *guest_region_after(const struct gmem_guest *g,
				       uint64_t gfn)
{
	uint32_t lo = 0, hi = g->nregions;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (g->regions[mid]->end <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->nregions ? g->regions[lo] : NULL;
}

const struct region *guest_region(const struct gmem_guest *g, uint64_t gfn)
{
	const struct region *r = guest_slot_region(g, gfn);

	if (r)
		return r;
	r = guest_region_after(g, gfn);
	return r && r->gfn <= gfn ? r : NULL;
}

int guest_range(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		uint64_t *fail)
{
	const struct region *r;

	*fail = gfn;
	if (!npages)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	r = guest_region(g, gfn);
	if (!r)
		return -ENOENT;
	if (npages > r->end - gfn) {
		*fail = r->end;
		return -ERANGE;
	}
	return 0;
}

unsigned int slot_get(const struct slot *s, uint32_t off)
{
	unsigned int v;

	if (!slot_detail_peek(s))
		return slot_attr_peek(s);
	slot_state_lock(slot_lockw(s));
	v = state_get(s, off);
	slot_state_unlock(slot_lockw(s));
	return v;
}

/*
 * Whole pieces are answered from the masks without a hold, checked by
 * the sequence count; anything else, or a count that moved, under the
 * STATE hold.
 */
static __attribute__((noinline)) unsigned int
slot_range_slow(const struct slot *s, uint32_t a, uint32_t b)
{
	_Atomic uint32_t *w = slot_lockw(s);
	const struct slot_detail *d;
	unsigned int v;
	uint32_t seq;

	if (!((a | b) & (PIECE_FRAMES - 1)) && slot_read_begin(w, &seq) &&
	    (d = slot_detail_peek(s))) {
		v = state_pieces(d, a >> PIECE_SHIFT, b >> PIECE_SHIFT);
		if (slot_read_valid(w, seq))
			return v;
	}
	slot_state_lock(w);
	v = state_range(s, a, b);
	slot_state_unlock(w);
	return v;
}

/*
 * state_range without a hold where it can be. A uniform slot is answered
 * from its attribute: attr is stored before detail is cleared, so the
 * pair read here held at some moment of this call. One whole piece, the
 * common query, is answered inline; the rest out of line, so that this
 * needs no stack frame.
 */
static inline unsigned int slot_range_inline(const struct slot *s, uint32_t a,
					     uint32_t b)
{
	const struct slot_detail *d;
	unsigned int v;
	uint32_t seq;

	if (!slot_detail_peek(s))
		return slot_attr_peek(s);
	if (b - a == PIECE_FRAMES && !(a & (PIECE_FRAMES - 1)) &&
	    slot_read_begin(slot_lockw(s), &seq) && (d = slot_detail_peek(s))) {
		v = state_piece(d, a >> PIECE_SHIFT);
		if (slot_read_valid(slot_lockw(s), seq))
			return v;
	}
	return slot_range_slow(s, a, b);
}

unsigned int slot_range(const struct slot *s, uint32_t a, uint32_t b)
{
	return slot_range_inline(s, a, b);
}

void slot_mixed_pieces(const struct slot *s, uint64_t mixed[SLOT_GROUPS])
{
	const struct slot_detail *d;
	unsigned int i;

	slot_state_lock(slot_lockw(s));
	d = s->detail;
	for (i = 0; i < SLOT_GROUPS; i++)
		mixed[i] = d ? d->mixed[i] : 0;
	slot_state_unlock(slot_lockw(s));
}

/* The attribute at a and the end of its run in [a, b) of slot s. */
static unsigned int slot_run(const struct slot *s, uint32_t a, uint32_t b,
			     bool lock, uint32_t *stop)
{
	unsigned int v;

	if (lock && !slot_detail_peek(s)) {
		*stop = b;
		return slot_attr_peek(s);
	}
	if (lock)
		slot_state_lock(slot_lockw(s));
	v = state_get(s, a);
	*stop = state_run_end(s, a, b);
	if (lock)
		slot_state_unlock(slot_lockw(s));
	return v;
}

void guest_run(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
	       bool lock, struct gmem_run *run)
{
	uint64_t at = gfn, end = gfn + npages;

	run->gfn = gfn;
	run->flags = 0;
	while (at < end) {
		const struct slot *s = guest_slot(g, at);
		uint32_t a = slot_off(at);
		uint64_t room = SLOT_FRAMES - a;
		uint32_t b = (uint32_t)(end - at < room ? a + (end - at)
							 : SLOT_FRAMES);
		uint32_t stop;
		unsigned int v = slot_run(s, a, b, lock, &stop);

		if (at == gfn)
			run->attr = v;
		else if (v != run->attr)
			break;	/* the run ended at the slot boundary */
		at += stop - a;
		if (stop < b)
			break;
	}
	run->npages = at - gfn;
}

int gmem_translate(const struct gmem_guest *g, uint64_t gfn, uint64_t *pfn)
{
	if (!g || !pfn)
		return -EINVAL;
	if (!guest_region(g, gfn))
		return -ENOENT;
	*pfn = guest_pfn(g, gfn);
	return 0;
}

int gmem_attr_get(const struct gmem_guest *g, uint64_t gfn, unsigned int *attr)
{
	const struct slot *s;

	if (!g || !attr)
		return -EINVAL;
	s = guest_slot_whole(g, gfn, 1);
	if (!s) {
		if (!guest_region(g, gfn))
			return -ENOENT;
		s = guest_slot(g, gfn);
	}
	*attr = slot_get(s, slot_off(gfn));
	return 0;
}

static __attribute__((noinline)) int
range_attr_general(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		   unsigned int *attr)
{
	uint64_t at = gfn, end, fail;
	unsigned int acc = GMEM_ATTR_MIXED;
	int err;

	if (!g || !attr)
		return -EINVAL;
	err = guest_range(g, gfn, npages, &fail);
	if (err)
		return err;
	end = gfn + npages;
	while (at < end) {
		uint32_t a = slot_off(at);
		uint64_t room = SLOT_FRAMES - a;
		uint32_t b = (uint32_t)(end - at < room ? a + (end - at)
							 : SLOT_FRAMES);
		unsigned int v = slot_range_inline(guest_slot(g, at), a, b);

		if (v == GMEM_ATTR_MIXED || (at != gfn && v != acc)) {
			acc = GMEM_ATTR_MIXED;
			break;
		}
		acc = v;
		at += b - a;
	}
	*attr = acc;
	return 0;
}

/* A range inside one slot of one region needs no other check. */
int gmem_range_attr(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    unsigned int *attr)
{
	const struct slot *s;

	if (!g || !attr || !(s = guest_slot_whole(g, gfn, npages)))
		return range_attr_general(g, gfn, npages, attr);
	*attr = slot_range_inline(s, slot_off(gfn),
				  slot_off(gfn) + (uint32_t)npages);
	return 0;
}

int gmem_run_get(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		 struct gmem_run *run)
{
	uint64_t fail;
	int err;

	if (!g || !run)
		return -EINVAL;
	err = guest_range(g, gfn, npages, &fail);
	if (err)
		return err;
	guest_run(g, gfn, npages, true, run);
	return 0;
}
