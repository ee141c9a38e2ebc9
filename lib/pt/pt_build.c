/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Builders: creation, the ranges they hear of, table pages, and the
 * calls that are not the sync itself (pt_sync.c).
 */
#include <errno.h>
#include <string.h>

#include <gmem/convert.h>

#include "core/opts.h"
#include "core/spin.h"
#include "guest/guest.h"
#include "pt_table.h"

#define PT_FLAGS (GMEM_PT_COVER_NO_CONTIG | GMEM_PT_NO_PROMOTE)

/* Pages without the embedder's ops: the builder's heap, addressed by
 * their pointers. */
static void *heap_page_alloc(void *ctx, size_t size, uint64_t *pa)
{
	struct gmem_pt *pt = ctx;
	/* The embedder's heap aligns to 64 bytes at most: enough for the
	 * generic format, the only one that uses it. */
	void *p = heap_zalloc_pages(&pt->heap, size,
				    heap_aligns_any(&pt->heap) ? size : 64);

	*pa = (uintptr_t)p;
	return p;
}

static void heap_page_free(void *ctx, void *page, uint64_t pa, size_t size)
{
	struct gmem_pt *pt = ctx;

	(void)pa;
	heap_free_pages(&pt->heap, page, size);
}

static void *heap_page_virt(void *ctx, uint64_t pa)
{
	(void)ctx;
	return (void *)(uintptr_t)pa;
}


uint64_t *pt_page_alloc(struct gmem_pt *pt, unsigned int level, uint64_t *pa)
{
	struct pt_spare *sp;

	if (pt_spare_fill(pt, level, 1))
		return NULL;
	sp = pt->spare[level];
	pt->spare[level] = sp->next;
	pt->nspare[level]--;
	*pa = sp->pa;
	memset(sp, 0, sizeof(*sp));
	return (uint64_t *)sp;
}

void pt_page_free(struct gmem_pt *pt, unsigned int level, uint64_t *page,
		  uint64_t pa)
{
	struct pt_spare *sp = (struct pt_spare *)page;

	sp->next = pt->spare[level];
	sp->pa = pa;
	pt->spare[level] = sp;
	pt->nspare[level]++;
}

int pt_spare_fill(struct gmem_pt *pt, unsigned int level, uint32_t n)
{
	while (pt->nspare[level] < n) {
		uint64_t pa, *page = pt->pages.alloc(pt->pages.ctx,
						     pt_page_bytes(pt, level),
						     &pa);

		if (!page)
			return -ENOMEM;
		if (pa & (pt_page_align(pt, level) - 1)) {
			/* The embedder's pages must be aligned. */
			pt->pages.free(pt->pages.ctx, page, pa,
				       pt_page_bytes(pt, level));
			return -ENOMEM;
		}
		pt_page_free(pt, level, page, pa);
	}
	return 0;
}

void pt_spare_trim(struct gmem_pt *pt, uint32_t keep)
{
	unsigned int l;

	for (l = 0; l < pt->geom.nlevels; l++)
		while (pt->nspare[l] > keep) {
			struct pt_spare *sp = pt->spare[l];

			pt->spare[l] = sp->next;
			pt->nspare[l]--;
			pt->pages.free(pt->pages.ctx, sp, sp->pa,
				       pt_page_bytes(pt, l));
		}
}

/* Room for n more ranges; under the lock. */
static int pending_room(struct gmem_pt *pt, uint32_t n)
{
	return heap_grow(&pt->heap, &pt->pending, &pt->cap, pt->npending,
			 pt->npending + pt->reserved + n, sizeof(*pt->pending),
			 8);
}

/* Appends, joining a range that meets the last one; room is there. */
static void pending_put(struct gmem_pt *pt, uint64_t lo, uint64_t hi,
			uint32_t flags)
{
	struct pt_pending *last = pt->npending ? &pt->pending[pt->npending - 1]
					       : NULL;

	if (last && last->flags == flags && lo <= last->hi && hi >= last->lo) {
		last->lo = lo < last->lo ? lo : last->lo;
		last->hi = hi > last->hi ? hi : last->hi;
		return;
	}
	pt->pending[pt->npending++] = (struct pt_pending){ lo, hi, flags };
}

int pt_pending_add(struct gmem_pt *pt, uint64_t lo, uint64_t hi,
		   uint32_t flags)
{
	int err;

	spin_lock(&pt->lock);
	err = pending_room(pt, 1);
	if (!err)
		pending_put(pt, lo, hi, flags);
	spin_unlock(&pt->lock);
	return err;
}

/* Frames that left the view stay mapped until the sync that looks at
 * them: until then, the pager must not take their memory. */
static bool busy(struct gmem_pt *pt, uint64_t lo, uint64_t hi)
{
	bool any = atomic_load(&pt->changes_lost);
	uint32_t i;

	spin_lock(&pt->lock);
	for (i = 0; !any && i < pt->npending; i++)
		any = !(pt->pending[i].flags & PT_RANGE_DONE) &&
		      pt->pending[i].lo < hi && lo < pt->pending[i].hi;
	spin_unlock(&pt->lock);
	return any;
}

/* What a sync must know of a change of the kind. */
static uint32_t pending_flags(const struct gmem_pt *pt, uint32_t kind)
{
	if (kind & (BUS_REGION_ADD | BUS_REGION_REMOVE))
		return PT_RANGE_FULL;
	if (kind == BUS_CONVERT && pt->log)
		return PT_RANGE_CONVERTED;
	return 0;
}

/*
 * Every change that may change the table is pending for the next sync.
 * A phased change makes room in PREPARE (refusing the change if it
 * cannot), so COMMIT cannot fail; one that is told and finds no room
 * has the next sync look at every region.
 */
static int heard(void *ctx, const struct bus_event *ev)
{
	struct gmem_pt *pt = ctx;
	uint64_t lo = ev->run->gfn, hi = lo + ev->run->npages;
	bool told = ev->kind & PT_TOLD;
	int err = 0;

	if (ev->kind == BUS_PAGE_EVICT)
		return ev->phase == GMEM_PHASE_PREPARE && busy(pt, lo, hi)
			       ? -EBUSY : 0;
	spin_lock(&pt->lock);
	switch (ev->phase) {
	case GMEM_PHASE_PREPARE:
		err = pending_room(pt, 1);
		if (!err)
			pt->reserved++;
		break;
	case GMEM_PHASE_CANCEL:
		pt->reserved--;
		break;
	case GMEM_PHASE_COMMIT:
		if (told && pending_room(pt, 1)) {
			atomic_store(&pt->changes_lost, true);
			break;
		}
		pt->reserved -= !told;
		pending_put(pt, lo, hi, pending_flags(pt, ev->kind));
		break;
	}
	spin_unlock(&pt->lock);
	return err;
}

int pt_subscribe(struct gmem_pt *pt)
{
	pt->sub = (struct bus_sub){
		.fn = heard, .ctx = pt, .order = BUS_ORDER_NORMAL,
		.kinds = PT_HEARS | (pt->rule.by_attr ? BUS_CONVERT : 0) };
	return bus_subscribe(&pt->guest->bus, &pt->guest->heap, &pt->sub);
}

void pt_hear_conversions(struct gmem_pt *pt, bool on)
{
	bus_hear(&pt->guest->bus, &pt->sub,
		 on ? pt->sub.kinds | BUS_CONVERT : pt->sub.kinds & ~BUS_CONVERT);
}

/* Every region pending, for changes that found no room. */
int pt_changes_found(struct gmem_pt *pt)
{
	const struct gmem_guest *g = pt->guest;
	uint32_t i;
	int err = 0;

	if (!atomic_exchange(&pt->changes_lost, false))
		return 0;
	for (i = 0; !err && i < g->nregions; i++)
		err = pt_pending_add(pt, g->regions[i]->gfn, g->regions[i]->end,
				     0);
	if (err)
		atomic_store(&pt->changes_lost, true);
	return err;
}


/* How many of the page ops' three members are set: 0 means the guest's
 * allocator, as no ops at all. */
static int page_ops_set(const struct gmem_pt_opts *opts)
{
	const struct gmem_pt_page_ops *p = OPTS_GET(opts, pages, NULL);

	return !!OPTS_GET(p, alloc, NULL) + !!OPTS_GET(p, free, NULL) +
	       !!OPTS_GET(p, phys_to_virt, NULL);
}

static int check_opts(const struct gmem_guest *g, enum gmem_pt_view view,
		      const struct gmem_pt_opts *opts)
{
	uint32_t flags = OPTS_GET(opts, flags, 0);
	uint64_t accept = OPTS_GET(opts, accept_npages, 0);
	unsigned int f = OPTS_GET(opts, format, GMEM_PT_FORMAT_GENERIC);
	uint32_t mt = OPTS_GET(opts, memtype, 0);
	int i, err = OPTS_VALID(opts, gmem_pt_opts);

	if (err)
		return err;
	if (!g || (unsigned int)view > GMEM_PT_VIEW_SHARED ||
	    (flags & ~PT_FLAGS) || (accept & (accept - 1)) ||
	    OPTS_GET(opts, reserved, 0))
		return -EINVAL;
	for (i = 0; i < 2; i++) {
		uint32_t p = OPTS_GET(opts, prot[i], 0);

		if (p & ~GMEM_PT_PROT_RWX)
			return -EINVAL;
		/* Neither EPT nor stage 2 has write without read. */
		if (p && f != GMEM_PT_FORMAT_GENERIC &&
		    !(p & GMEM_PT_PROT_R) && (p & GMEM_PT_PROT_W))
			return -EINVAL;
		if (p && f == GMEM_PT_FORMAT_ARM64_S2 && !(p & GMEM_PT_PROT_R))
			return -EINVAL;
	}
	if ((f == GMEM_PT_FORMAT_EPT && (mt > 6 || mt == 2 || mt == 3)) ||
	    (f == GMEM_PT_FORMAT_ARM64_S2 && mt > 15))
		return -EINVAL;
	if (OPTS_HAS(opts, pages) && opts->pages &&
	    (OPTS_VALID(opts->pages, gmem_pt_page_ops) ||
	     page_ops_set(opts) % 3))
		return -EINVAL;
	if (OPTS_HAS(opts, sink) && opts->sink &&
	    OPTS_VALID(opts->sink, gmem_pt_sink))
		return -EINVAL;
	return 0;
}

/* Leaf sizes the builder uses: those within the accept size. */
static int setup_sizes(struct gmem_pt *pt, uint64_t accept)
{
	unsigned int i, n = 0;

	if (pt_sizes_of(&pt->geom, pt->flags & GMEM_PT_COVER_NO_CONTIG,
			&pt->all))
		return -EINVAL;
	pt->sz = pt->all;
	pt->rule.space_shift = pt->all.space_shift;
	pt->rule.accept_shift = accept ? (uint8_t)__builtin_ctzll(accept) : 64;
	for (i = 0; i < pt->all.n; i++)
		if (pt->all.s[i].shift <= pt->rule.accept_shift)
			pt->sz.s[n++] = pt->all.s[i];
	pt->sz.n = n;
	/* The granule must fit both the guest's conversions and the
	 * accept size. */
	if (!n || UINT64_C(1) << pt->sz.s[n - 1].shift >
			  pt->guest->granule_mask + 1)
		return -EINVAL;
	return 0;
}

/* Every region fits what the root maps and the format addresses. */
static int check_space(const struct gmem_pt *pt, uint64_t *fail)
{
	uint64_t oa = UINT64_C(1) << (pt->fmt->oa_bits - GMEM_FRAME_SHIFT);
	const struct gmem_guest *g = pt->guest;
	uint32_t i;

	for (i = 0; i < g->nregions; i++) {
		const struct region *r = g->regions[i];
		uint64_t f;

		*fail = r->gfn;
		if (pt->rule.space_shift < 64 &&
		    r->end > UINT64_C(1) << pt->rule.space_shift)
			return -ERANGE;
		for (f = r->gfn; f < r->end; f = (f | (SLOT_FRAMES - 1)) + 1) {
			*fail = f;
			if (guest_pfn(g, f) >= oa ||
			    slot_pfn(guest_slot(g, f)) + SLOT_FRAMES > oa)
				return -ERANGE;
		}
	}
	return 0;
}

int gmem_pt_create(struct gmem_guest *g, enum gmem_pt_view view,
		   const struct gmem_pt_geometry *geom,
		   struct gmem_pt_opts *opts, struct gmem_pt **out)
{
	unsigned int f = OPTS_GET(opts, format, GMEM_PT_FORMAT_GENERIC);
	uint64_t fail = 0;
	struct gmem_pt *pt;
	uint32_t i;
	int err = check_opts(g, view, opts);

	if (err)
		return err;
	if (!out || !geom || geom->sz < sizeof(*geom) ||
	    OPTS_VALID(geom, gmem_pt_geometry))
		return -EINVAL;
	pt = heap_zalloc(&g->heap, sizeof(*pt), 64);
	if (!pt)
		return -ENOMEM;
	pt->guest = g;
	heap_init_child(&pt->heap, &g->heap);
	memcpy(&pt->geom, geom, sizeof(pt->geom));
	pt->geom.sz = sizeof(pt->geom);
	pt->geom.name = NULL;
	pt->flags = OPTS_GET(opts, flags, 0);
	pt->fmt = pt_format_of((enum gmem_pt_format)f, &pt->geom);
	err = !pt->fmt ? -EINVAL
		       : setup_sizes(pt, OPTS_GET(opts, accept_npages, 0));
	if (err)
		goto free_pt;
	for (i = 0; i < 2; i++) {
		pt->prot[i] = OPTS_GET(opts, prot[i], 0);
		if (!pt->prot[i])
			pt->prot[i] = GMEM_PT_PROT_RWX;
	}
	pt->memtype = OPTS_GET(opts, memtype, 0);
	if (!OPTS_HAS(opts, memtype) || !opts->memtype)
		pt->memtype = pt->fmt->memtype;
	pt->rule.view = view;
	pt->rule.by_attr = view != GMEM_PT_VIEW_ALL ||
			   pt->prot[0] != pt->prot[1];
	if (page_ops_set(opts)) {
		memcpy(&pt->pages, opts->pages,
		       opts->pages->sz < sizeof(pt->pages) ? opts->pages->sz
							   : sizeof(pt->pages));
	} else if (f != GMEM_PT_FORMAT_GENERIC && !heap_aligns_any(&g->heap)) {
		err = -EINVAL;	/* tables need more than 64-byte alignment */
		goto free_pt;
	} else {
		pt->pages = (struct gmem_pt_page_ops){
			.alloc = heap_page_alloc, .free = heap_page_free,
			.phys_to_virt = heap_page_virt, .ctx = pt };
	}
	if (OPTS_GET(opts, sink, NULL))
		memcpy(&pt->sink, opts->sink,
		       opts->sink->sz < sizeof(pt->sink) ? opts->sink->sz
							 : sizeof(pt->sink));
	err = check_space(pt, &fail);
	if (err)
		goto free_pt;
	pt->root = pt_page_alloc(pt, 0, &pt->root_pa);
	if (!pt->root) {
		err = -ENOMEM;
		goto free_pt;
	}
	atomic_store(&pt->ntables, 1);
	atomic_store(&pt->table_bytes, pt_page_bytes(pt, 0));
	if (pt->sink.table_add) {
		err = pt->sink.table_add(pt->sink.ctx, 0,
					 pt_entry_frames(pt, 0) <<
						 pt->geom.level[0].index_bits,
					 0);
		if (err)
			goto free_root;
	}
	err = pt_subscribe(pt);
	if (err)
		goto destroy;
	for (i = 0; !err && i < g->nregions; i++)
		err = pt_pending_add(pt, g->regions[i]->gfn, g->regions[i]->end,
				     PT_RANGE_FULL);
	if (!err)
		err = gmem_pt_sync(pt);
	if (err)
		goto destroy;
	*out = pt;
	return 0;

destroy:
	gmem_pt_destroy(pt);
	OPTS_SET(opts, fail_gfn, fail);
	return err;
free_root:
	pt->pages.free(pt->pages.ctx, pt->root, pt->root_pa, pt_page_bytes(pt, 0));
free_pt:
	OPTS_SET(opts, fail_gfn, fail);
	heap_free(&g->heap, pt, sizeof(*pt));
	return err;
}

int gmem_pt_destroy(struct gmem_pt *pt)
{
	if (!pt)
		return 0;
	if (pt->sub.fn)
		bus_unsubscribe(&pt->guest->bus, &pt->sub);
	pt_clear_all(pt);
	pt_log_free(pt);
	if (pt->sink.table_del)
		pt->sink.table_del(pt->sink.ctx, 0,
				   pt_entry_frames(pt, 0)
					   << pt->geom.level[0].index_bits,
				   0);
	pt_page_free(pt, 0, pt->root, pt->root_pa);
	pt_spare_trim(pt, 0);
	heap_free(&pt->heap, pt->pending, pt->cap * sizeof(*pt->pending));
	heap_free(&pt->guest->heap, pt, sizeof(*pt));
	return 0;
}

/* A range to look at: inside the frame space, aligned to the granule
 * (a conversion always is). */
static int mark(struct gmem_pt *pt, uint64_t gfn, uint64_t npages,
		uint32_t flags)
{
	if (!pt || !npages)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	return pt_pending_add(pt, gfn, gfn + npages, flags);
}

int gmem_pt_mark(struct gmem_pt *pt, uint64_t gfn, uint64_t npages)
{
	return mark(pt, gfn, npages, PT_RANGE_FULL);
}

int gmem_pt_join(struct gmem_pt *pt, uint64_t gfn, uint64_t npages)
{
	return mark(pt, gfn, npages, PT_RANGE_JOIN);
}

int gmem_pt_root(const struct gmem_pt *pt, void **root, uint64_t *pa)
{
	if (!pt)
		return -EINVAL;
	if (root)
		*root = pt->root;
	if (pa)
		*pa = pt->root_pa;
	return 0;
}

int gmem_pt_stats(const struct gmem_pt *pt, struct gmem_pt_stats *stats)
{
	struct gmem_pt_stats st = { .sz = sizeof(st) };

	if (!pt || !stats)
		return -EINVAL;
	st.nleaves = atomic_load(&pt->nleaves);
	st.nentries = atomic_load(&pt->nentries);
	st.ntables = atomic_load(&pt->ntables);
	st.table_bytes = atomic_load(&pt->table_bytes);
	st.maps = atomic_load(&pt->maps);
	st.unmaps = atomic_load(&pt->unmaps);
	st.syncs = atomic_load(&pt->syncs);
	st.pending = pt->npending;
	st.protects = atomic_load(&pt->protects);
	return out_struct(stats, &st, sizeof(st));
}
