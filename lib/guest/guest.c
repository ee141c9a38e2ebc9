/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest life cycle, regions and their slots. */
#include <errno.h>
#include <string.h>

#include "core/opts.h"
#include "pool/pool.h"
#include "guest.h"

int gmem_guest_create(struct gmem_pool *pool,
		      const struct gmem_guest_opts *opts,
		      struct gmem_guest **out)
{
	int err = OPTS_VALID(opts, gmem_guest_opts);
	int node = OPTS_GET(opts, node, -1);
	uint32_t granule = OPTS_GET(opts, granule, 0);
	struct gmem_guest *g;
	struct heap heap;

	if (err)
		return err;
	granule = granule ? granule : 1;
	if (!pool || !out || node < -1 || node >= GMEM_MAX_NODES ||
	    (granule & (granule - 1)) || granule > GMEM_BLOCK_FRAMES)
		return -EINVAL;
	heap_init_child(&heap, pool_heap(pool));
	g = heap_zalloc(&heap, sizeof(*g), 8);
	if (!g)
		return -ENOMEM;
	g->heap = heap;
	g->mem.heap = &g->heap;
	g->pool = pool;
	g->node = node;
	g->granule_mask = granule - 1;
	pool_guest_get(pool);
	*out = g;
	return 0;
}

/* Returns the blocks of slots first..last (table indices) that no region
 * touches any more, a physically contiguous stretch per call. */
static void release_slots(struct gmem_guest *g, uint64_t first, uint64_t last,
			  struct retired *retired)
{
	uint64_t i, run_pfn = 0, run_n = 0;

	for (i = first; i <= last; i++) {
		struct slot_entry *e = &g->slots[i];
		uint64_t pfn = slot_pfn(&e->st);

		if (!slot_bound(&e->st) || e->nregions)
			continue;
		g->counts.conversions += e->conversions;
		g->counts.converted_frames += e->converted_frames;
		state_clear(&e->st, retired);
		if (run_n && run_pfn + run_n * SLOT_FRAMES == pfn) {
			run_n++;
		} else {
			if (run_n)
				pool_free_guest(g->pool, run_pfn, run_n);
			run_pfn = pfn;
			run_n = 1;
		}
		memset(e, 0, sizeof(*e));
	}
	if (run_n)
		pool_free_guest(g->pool, run_pfn, run_n);
}

int gmem_guest_destroy(struct gmem_guest *g)
{
	struct retired retired = { 0 };
	struct gmem_pool *pool;
	struct heap heap;
	uint32_t i;

	if (!g)
		return 0;
	if (g->views)
		return -EBUSY;
	for (i = 0; i < GUEST_EXTS && g->exts[i]; i++) {
		struct guest_ext *x = g->exts[i];

		if (x->sub.kinds)
			bus_unsubscribe(&g->bus, &x->sub);
		x->ops->destroy(g, x);
		heap_free(&g->heap, x, x->ops->size);
	}
	listeners_free(g);
	bus_release(&g->bus, &g->heap);
	for (i = 0; i < g->nregions; i++)
		heap_free(&g->heap, g->regions[i], sizeof(*g->regions[i]));
	heap_free(&g->heap, g->regions, g->regions_cap * sizeof(*g->regions));
	for (i = 0; i < g->nslots; i++)
		g->slots[i].nregions = 0;
	if (g->nslots)
		release_slots(g, 0, g->nslots - 1, &retired);
	retired_free(&g->mem, &retired);
	state_mem_release(&g->mem);
	heap_free(&g->heap, g->slots, g->nslots * sizeof(*g->slots));
	pool = g->pool;
	heap = g->heap;
	heap_free(&heap, g, sizeof(*g));
	pool_guest_put(pool);
	return 0;
}

/* Index in g->regions where a region starting at gfn goes. */
static uint32_t region_index(const struct gmem_guest *g, uint64_t gfn)
{
	uint32_t lo = 0, hi = g->nregions;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (g->regions[mid]->gfn < gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Everything a region addition allocates before it changes anything. */
struct region_add {
	struct region *region;
	struct region **regions;	/* grown array, or NULL */
	uint32_t regions_cap;
	struct slot_entry *slots;	/* grown table, or NULL */
	uint64_t slot_base, nslots;
	struct gmem_extent *ext;	/* blocks for the unbound slots */
	uint32_t next;
	uint64_t nblocks;
	struct state_reserve res[2];	/* first and last slot, if bound */
};

static void region_add_undo(struct gmem_guest *g, struct region_add *ra)
{
	uint32_t i;

	for (i = 0; i < ra->next; i++)
		pool_free_guest(g->pool, ra->ext[i].pfn, ra->ext[i].nblocks);
	heap_free(&g->heap, ra->ext, ra->nblocks * sizeof(*ra->ext));
	heap_free(&g->heap, ra->slots, ra->nslots * sizeof(*ra->slots));
	heap_free(&g->heap, ra->regions, ra->regions_cap * sizeof(*ra->regions));
	heap_free(&g->heap, ra->region, sizeof(*ra->region));
	state_unreserve(&g->mem, &ra->res[0]);
	state_unreserve(&g->mem, &ra->res[1]);
}

static int region_add_prepare(struct gmem_guest *g, uint64_t gfn, uint64_t end,
			      unsigned int attr, int node, struct region_add *ra)
{
	uint64_t lo = gfn >> SLOT_SHIFT, hi = (end - 1) >> SLOT_SHIFT, i;
	uint32_t k;

	ra->region = heap_alloc(&g->heap, sizeof(*ra->region), 8);
	if (!ra->region)
		return -ENOMEM;
	if (g->nregions == g->regions_cap) {
		ra->regions_cap = g->regions_cap ? g->regions_cap * 2 : 4;
		ra->regions = heap_alloc(&g->heap,
					 ra->regions_cap * sizeof(*ra->regions), 8);
		if (!ra->regions)
			return -ENOMEM;
	}
	ra->slot_base = g->nslots && g->slot_base < lo ? g->slot_base : lo;
	ra->nslots = (g->nslots && g->slot_base + g->nslots - 1 > hi ?
			      g->slot_base + g->nslots - 1 : hi) -
		     ra->slot_base + 1;
	if (ra->nslots != g->nslots) {
		ra->slots = heap_zalloc(&g->heap, ra->nslots * sizeof(*ra->slots),
					_Alignof(struct slot_entry));
		if (!ra->slots)
			return -ENOMEM;
	} else {
		ra->nslots = 0;
	}
	for (i = lo; i <= hi; i++) {
		struct slot *s = guest_slot(g, i << SLOT_SHIFT);

		ra->nblocks += !s || !slot_bound(s);
	}
	if (ra->nblocks) {
		int err;

		ra->ext = heap_alloc(&g->heap, ra->nblocks * sizeof(*ra->ext), 8);
		if (!ra->ext)
			return -ENOMEM;
		ra->next = (uint32_t)ra->nblocks;
		err = pool_alloc_guest(g->pool, ra->nblocks,
				       node >= 0 ? node : g->node, ra->ext,
				       &ra->next);
		if (err) {
			ra->next = 0;
			return err;
		}
	}
	/* Only the end slots can hold other regions' frames already. */
	for (k = 0; k < 2 && (k == 0 || hi != lo); k++) {
		struct slot *s = guest_slot(g, (k ? hi : lo) << SLOT_SHIFT);
		struct state_need need;
		uint32_t a, b;
		int err;

		if (!s || !slot_bound(s))
			continue;
		slot_span(k ? hi : lo, gfn, end, &a, &b);
		state_plan(s, a, b, attr, &need);
		err = state_reserve(&g->mem, &need, &ra->res[k]);
		if (err)
			return err;
	}
	return 0;
}

static void region_add_commit(struct gmem_guest *g, uint64_t gfn, uint64_t end,
			      unsigned int attr, struct region_add *ra)
{
	uint64_t lo = gfn >> SLOT_SHIFT, hi = (end - 1) >> SLOT_SHIFT, i;
	struct retired retired = { 0 };
	uint32_t e = 0, idx = region_index(g, gfn);
	uint64_t used = 0;

	if (ra->slots) {
		if (g->nslots)
			memcpy(&ra->slots[g->slot_base - ra->slot_base], g->slots,
			       g->nslots * sizeof(*g->slots));
		heap_free(&g->heap, g->slots, g->nslots * sizeof(*g->slots));
		g->slots = ra->slots;
		g->slot_base = ra->slot_base;
		g->nslots = ra->nslots;
		ra->slots = NULL;
	}
	if (ra->regions) {
		if (g->nregions)	/* none yet: no array to copy from */
			memcpy(ra->regions, g->regions,
			       g->nregions * sizeof(*g->regions));
		heap_free(&g->heap, g->regions,
			  g->regions_cap * sizeof(*g->regions));
		g->regions = ra->regions;
		g->regions_cap = ra->regions_cap;
		ra->regions = NULL;
	}
	ra->region->gfn = gfn;
	ra->region->end = end;
	for (i = lo; i <= hi; i++) {
		struct slot_entry *se = guest_entry(g, i << SLOT_SHIFT);
		uint32_t a, b;

		slot_span(i, gfn, end, &a, &b);

		if (!slot_bound(&se->st)) {
			/* Blocks go to slots in ascending order. */
			slot_bind(&se->st, ra->ext[e].pfn + used * SLOT_FRAMES,
				  attr);
			if (++used == ra->ext[e].nblocks) {
				e++;
				used = 0;
			}
		} else {
			state_set(&se->st, a, b, attr,
				  &ra->res[i == lo ? 0 : 1], &retired);
		}
		se->nregions++;
		se->region = a == 0 && b == SLOT_FRAMES ? ra->region : NULL;
	}
	memmove(&g->regions[idx + 1], &g->regions[idx],
		(g->nregions - idx) * sizeof(*g->regions));
	g->regions[idx] = ra->region;
	g->nregions++;
	ra->region = NULL;
	ra->next = 0;
	region_add_undo(g, ra);	/* frees what was not used */
	retired_free(&g->mem, &retired);
}

int gmem_region_add(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    const struct gmem_region_opts *opts)
{
	int err = OPTS_VALID(opts, gmem_region_opts);
	unsigned int attr = OPTS_GET(opts, attr, GMEM_ATTR_PRIVATE);
	int node = OPTS_GET(opts, node, -1);
	struct region_add ra = { 0 };
	uint64_t fail;
	uint32_t idx;

	if (err)
		return err;
	if (!g || !npages || attr > GMEM_ATTR_SHARED || node < -1 ||
	    node >= GMEM_MAX_NODES || OPTS_GET(opts, flags, 0) ||
	    ((gfn | npages) & g->granule_mask))
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	if (g->views)
		return -EBUSY;
	idx = region_index(g, gfn);
	if ((idx < g->nregions && g->regions[idx]->gfn < gfn + npages) ||
	    (idx > 0 && g->regions[idx - 1]->end > gfn))
		return -EEXIST;
	err = region_add_prepare(g, gfn, gfn + npages, attr, node, &ra);
	if (err) {
		region_add_undo(g, &ra);
		return err;
	}
	err = bus_ask(&g->bus, BUS_REGION_ADD, gfn, gfn + npages, &fail);
	if (err) {
		region_add_undo(g, &ra);
		return err;
	}
	region_add_commit(g, gfn, gfn + npages, attr, &ra);
	bus_done(&g->bus, BUS_REGION_ADD, gfn, gfn + npages);
	return 0;
}

/* What the features keep of [lo, hi) is dropped (the region goes). */
static int exts_forget(struct gmem_guest *g, uint64_t lo, uint64_t hi)
{
	uint32_t i;
	int err = 0;

	for (i = 0; !err && i < GUEST_EXTS && g->exts[i]; i++)
		if (g->exts[i]->ops->forget)
			err = g->exts[i]->ops->forget(g, g->exts[i], lo, hi);
	return err;
}

int gmem_region_remove(struct gmem_guest *g, uint64_t gfn, uint64_t npages)
{
	struct retired retired = { 0 };
	struct region *r;
	struct gmem_run gone;
	uint64_t i, lo, hi, fail;
	uint32_t idx;
	int err;

	if (!g || !npages)
		return -EINVAL;
	if (g->views)
		return -EBUSY;
	idx = region_index(g, gfn);
	if (idx == g->nregions || g->regions[idx]->gfn != gfn ||
	    g->regions[idx]->end - gfn != npages)
		return -ENOENT;
	r = g->regions[idx];
	gone = (struct gmem_run){ .gfn = gfn, .npages = npages };
	/* Pinned frames, or frames not present, keep the region. */
	if (guest_blocked(g, r->gfn, r->end, &err) < r->end)
		return -EBUSY;
	err = bus_prepare(&g->bus, BUS_REGION_REMOVE, &gone, 1, &fail);
	if (err)
		return err;
	err = exts_forget(g, r->gfn, r->end);
	if (err) {
		bus_cancel(&g->bus, BUS_REGION_REMOVE, &gone, 1);
		return err;
	}
	bus_commit(&g->bus, BUS_REGION_REMOVE, &gone, 1);
	lo = (gfn >> SLOT_SHIFT) - g->slot_base;
	hi = ((r->end - 1) >> SLOT_SHIFT) - g->slot_base;
	for (i = lo; i <= hi; i++) {
		g->slots[i].nregions--;
		g->slots[i].region = NULL;
	}
	release_slots(g, lo, hi, &retired);
	retired_free(&g->mem, &retired);
	memmove(&g->regions[idx], &g->regions[idx + 1],
		(g->nregions - idx - 1) * sizeof(*g->regions));
	g->nregions--;
	heap_free(&g->heap, r, sizeof(*r));
	return 0;
}

int gmem_guest_stats(const struct gmem_guest *g, struct gmem_guest_stats *stats)
{
	struct gmem_guest_stats st = { .sz = sizeof(st) };
	uint64_t i;
	uint32_t k;

	if (!g || !stats)
		return -EINVAL;
	st.nregions = g->nregions;
	st.conversions = g->counts.conversions;
	st.converted_frames = g->counts.converted_frames;
	st.refusals = atomic_load(&g->counts.refusals);
	st.listener_ns = atomic_load(&g->counts.listener_ns);
	st.pins = atomic_load(&g->counts.pins);
	st.pager_requests = atomic_load(&g->counts.pager_requests);
	for (i = 0; i < g->nslots; i++) {
		const struct slot *s = &g->slots[i].st;

		if (!slot_bound(s))
			continue;
		slot_state_lock(slot_lockw(s));
		st.conversions += g->slots[i].conversions;
		st.converted_frames += g->slots[i].converted_frames;
		st.nblocks++;
		st.mixed_blocks += s->detail != NULL;
		st.mixed_pieces += state_mixed_pieces(s);
		if (g->slots[i].region)
			st.shared_frames += state_shared_frames(s);
		slot_state_unlock(slot_lockw(s));
	}
	/* Slots shared by regions or holes: count the regions' runs. */
	for (k = 0; k < g->nregions; k++) {
		const struct region *r = g->regions[k];
		uint64_t at = r->gfn;

		while (at < r->end) {
			uint64_t next = ((at >> SLOT_SHIFT) + 1) << SLOT_SHIFT;
			uint64_t stop = next < r->end ? next : r->end;
			struct gmem_run run;

			if (guest_slot_region(g, at)) {
				at = stop;
				continue;
			}
			guest_run(g, at, stop - at, true, &run);
			st.shared_frames += run.attr ? run.npages : 0;
			at += run.npages;
		}
	}
	st.meta_bytes = (uint64_t)heap_bytes(&g->heap);
	return out_struct(stats, &st, sizeof(st));
}

/* Records are read with no lock: a finder sees a record made. */
static struct guest_ext *ext_at(const struct gmem_guest *g, uint32_t i)
{
	return atomic_load_explicit(
		(struct guest_ext *_Atomic *)(uintptr_t)&g->exts[i],
		memory_order_acquire);
}

struct guest_ext *guest_ext_find(const struct gmem_guest *g,
				 const struct guest_ext_ops *ops)
{
	uint32_t i;

	for (i = 0; i < GUEST_EXTS; i++) {
		struct guest_ext *x = ext_at(g, i);

		if (!x || x->ops == ops)
			return x;
	}
	return NULL;
}

int guest_ext_get(struct gmem_guest *g, const struct guest_ext_ops *ops,
		  const struct bus_sub *sub, struct guest_ext **out)
{
	struct guest_ext *x = guest_ext_find(g, ops);
	uint32_t i;

	if (x) {
		*out = x;
		return 0;
	}
	x = heap_zalloc(&g->heap, ops->size, 8);
	if (!x)
		return -ENOMEM;
	x->ops = ops;
	x->guest = g;
	if (sub) {
		x->sub = *sub;
		x->sub.ctx = x;
		if (bus_subscribe(&g->bus, &g->heap, &x->sub)) {
			heap_free(&g->heap, x, ops->size);
			return -ENOMEM;
		}
	}
	/* Records fill the array from the front and never leave it: a
	 * maker that loses a place looks at the winner. */
	for (i = 0; i < GUEST_EXTS; i++) {
		struct guest_ext *none = NULL;

		if (atomic_compare_exchange_strong(&g->exts[i], &none, x)) {
			*out = x;
			return 0;
		}
		if (none->ops == ops)
			break;
	}
	if (sub)
		bus_unsubscribe(&g->bus, &x->sub);
	heap_free(&g->heap, x, ops->size);
	/* Only a racing maker of the same feature takes its place. */
	*out = i < GUEST_EXTS ? g->exts[i] : NULL;
	return *out ? 0 : -ENOMEM;
}

/* What the features block, asked of each: the marks are not read. */
static uint64_t exts_blocked(const struct gmem_guest *g, uint64_t lo,
			     uint64_t hi, int *err)
{
	uint64_t first = hi;
	uint32_t i;

	*err = 0;
	for (i = 0; i < GUEST_EXTS; i++) {
		struct guest_ext *x = ext_at(g, i);
		uint64_t f;
		int e;

		if (!x)
			break;
		if (!x->ops->blocks)
			continue;
		f = x->ops->blocks(g, lo, first, &e);
		if (f < first) {
			first = f;
			*err = e;
		}
	}
	return first;
}

uint64_t guest_blocked(const struct gmem_guest *g, uint64_t lo, uint64_t hi,
		       int *err)
{
	*err = 0;
	return guest_slots_marked(g, lo, hi) ? exts_blocked(g, lo, hi, err)
					     : hi;
}

void guest_slots_txn(struct gmem_guest *g, uint64_t lo, uint64_t hi,
		     bool lock)
{
	uint64_t si;

	for (si = lo >> SLOT_SHIFT; si <= (hi - 1) >> SLOT_SHIFT; si++) {
		struct slot *s = guest_slot(g, si << SLOT_SHIFT);

		if (lock)
			slot_txn_lock(&s->lock);
		else
			slot_txn_unlock(&s->lock);
	}
}

void guest_slots_recheck(struct gmem_guest *g, uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		uint64_t start = lo & ~(uint64_t)(SLOT_FRAMES - 1);
		struct slot *s = guest_slot(g, lo);
		int err;
		bool was = slot_exc(slot_lockw(s));
		bool now = exts_blocked(g, start, start + SLOT_FRAMES, &err) <
			   start + SLOT_FRAMES;

		if (was != now)
			slot_exc_set(&s->lock, now);
		lo = start + SLOT_FRAMES;
	}
}

bool guest_slots_marked(const struct gmem_guest *g, uint64_t lo, uint64_t hi)
{
	uint64_t si = lo >> SLOT_SHIFT, last = (hi - 1) >> SLOT_SHIFT;

	if (lo >= hi || !g->nslots)
		return false;
	if (si < g->slot_base)
		si = g->slot_base;
	if (last > g->slot_base + g->nslots - 1)
		last = g->slot_base + g->nslots - 1;
	for (; si <= last; si++)
		if (slot_exc(slot_lockw(&g->slots[si - g->slot_base].st)))
			return true;
	return false;
}
