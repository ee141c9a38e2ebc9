/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Queries of the attribute state. */
#include <errno.h>

#include "guest.h"

const struct region *guest_region(const struct gmem_guest *g, uint64_t gfn)
{
	const struct slot *s = guest_slot(g, gfn);
	uint32_t lo = 0, hi = g->nregions;

	if (s && s->region)
		return s->region;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (g->regions[mid]->end <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < g->nregions && g->regions[lo]->gfn <= gfn)
		return g->regions[lo];
	return NULL;
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

static void read_lock(const struct slot *s, bool lock)
{
	if (lock)
		slot_state_lock(slot_lockw(s));
}

static void read_unlock(const struct slot *s, bool lock)
{
	if (lock)
		slot_state_unlock(slot_lockw(s));
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

		read_lock(s, lock);
		if (at == gfn)
			run->attr = state_get(s, a);
		else if (state_get(s, a) != run->attr)
			b = a;	/* the run ended at the slot boundary */
		stop = b > a ? state_run_end(s, a, b) : a;
		read_unlock(s, lock);
		at += stop - a;
		if (stop < b || b == a)
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
	*pfn = guest_slot(g, gfn)->pfn + slot_off(gfn);
	return 0;
}

int gmem_attr_get(const struct gmem_guest *g, uint64_t gfn, unsigned int *attr)
{
	const struct slot *s;

	if (!g || !attr)
		return -EINVAL;
	if (!guest_region(g, gfn))
		return -ENOENT;
	s = guest_slot(g, gfn);
	read_lock(s, true);
	*attr = state_get(s, slot_off(gfn));
	read_unlock(s, true);
	return 0;
}

int gmem_range_attr(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
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
		const struct slot *s = guest_slot(g, at);
		uint32_t a = slot_off(at);
		uint64_t room = SLOT_FRAMES - a;
		uint32_t b = (uint32_t)(end - at < room ? a + (end - at)
							 : SLOT_FRAMES);
		unsigned int v;

		read_lock(s, true);
		v = state_range(s, a, b);
		read_unlock(s, true);
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
