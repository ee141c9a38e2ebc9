/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMM's view of a guest: per region, one reserved address range kept
 * equal to the guest's state by the last listener of the guest. Every
 * change is made per stretch: a run's frames whose file bytes are
 * contiguous (the whole run, when its blocks are), so one system call
 * per maximal changed run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <gmem/view.h>

#include "core/opts.h"
#include "guest/guest.h"
#include "features/paging.h"
#include "backend.h"
#include "view.h"

#define GIB (UINT64_C(1) << GMEM_BLOCK_SHIFT)
#define FRAME (UINT64_C(1) << GMEM_FRAME_SHIFT)

struct view_region *view_region_of(const struct gmem_view *v, uint64_t gfn)
{
	uint32_t lo = 0, hi = v->nregs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (v->regs[mid].gfn + v->regs[mid].npages <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == v->nregs || v->regs[lo].gfn > gfn)
		return NULL;
	return &v->regs[lo];
}

/* The VMM's address of gfn in r. */
static char *view_at(const struct gmem_view *v, const struct view_region *r,
		     uint64_t gfn)
{
	if (!r->base)
		return backend_anon_addr(v->be, guest_pfn(v->g, gfn) * FRAME);
	return r->base + (gfn - r->gfn) * FRAME;
}

int view_for_stretches(const struct gmem_view *v, const struct view_region *r,
		       uint64_t gfn, uint64_t end, stretch_fn fn, void *arg)
{
	while (gfn < end) {
		uint64_t pfn = guest_pfn(v->g, gfn);
		uint64_t next = (gfn | (GMEM_BLOCK_FRAMES - 1)) + 1;
		int err;

		while (next < end &&
		       guest_pfn(v->g, next) == pfn + (next - gfn))
			next += GMEM_BLOCK_FRAMES;
		next = next < end ? next : end;
		err = fn(v, r, gfn, pfn * FRAME, (next - gfn) * FRAME, arg);
		if (err)
			return err;
		gfn = next;
	}
	return 0;
}

static int stretch_map(const struct gmem_view *v, const struct view_region *r,
		       uint64_t gfn, uint64_t off, uint64_t len, void *arg)
{
	return backend_map(v->be, view_at(v, r, gfn), off, len, arg != NULL);
}

int stretch_discard(const struct gmem_view *v, const struct view_region *r,
		    uint64_t gfn, uint64_t off, uint64_t len, void *arg)
{
	const unsigned int *copies = arg;

	(void)r, (void)gfn;
	return backend_discard(v->be, off, len,
			       copies ? *copies : BACKEND_BOTH_COPIES);
}

int stretch_allocate(const struct gmem_view *v,
			    const struct view_region *r, uint64_t gfn,
			    uint64_t off, uint64_t len, void *arg)
{
	(void)r, (void)gfn, (void)arg;
	return backend_allocate(v->be, off, len);
}

static int stretch_fault_in(const struct gmem_view *v,
			    const struct view_region *r, uint64_t gfn,
			    uint64_t off, uint64_t len, void *arg)
{
	(void)off, (void)arg;
	return os_madvise(backend_os(v->be), view_at(v, r, gfn), len,
			  MADV_POPULATE_WRITE);
}

static void *shared_arg(bool shared)
{
	return shared ? (void *)1 : NULL;
}

/* Makes the VMM's view of [gfn, end) in r shared or inaccessible. */
int view_set(struct gmem_view *v, const struct view_region *r,
		    uint64_t gfn, uint64_t end, bool shared)
{
	return view_for_stretches(v, r, gfn, end, stretch_map,
				  shared_arg(shared));
}

/*
 * A run changes side. Going private: the view closes first, so the VMM
 * never sees the run punched, then KVM is told, then the shared side is
 * punched. Going shared: KVM is told first, the private side is punched
 * before the VMM sees the run, so private data never reaches the VMM,
 * and the view opens last. *told says whether KVM was told.
 */
static int run_apply(struct gmem_view *v, const struct view_region *r,
		     const struct gmem_run *run, bool *told)
{
	uint64_t end = run->gfn + run->npages;
	bool shared = run->attr == GMEM_ATTR_SHARED;
	bool discard = v->content == GMEM_CONTENT_DISCARD &&
		       !(run->flags & GMEM_RUN_PRESERVE);
	/* The copy being left; with one copy, the one file. */
	unsigned int left = shared ? BACKEND_PRIVATE_COPY : BACKEND_SHARED_COPY;
	int err = 0;

	*told = false;
	/* Two copies cannot keep contents across a change. */
	if ((run->flags & GMEM_RUN_PRESERVE) && backend_two_copies(v->be))
		return -EOPNOTSUPP;
	if (!shared)
		err = view_set(v, r, run->gfn, end, false);
	if (!err)
		err = view_kvm_attrs(v, r, run->gfn, run->npages, !shared);
	*told = !err;
	if (!err && discard)
		err = view_for_stretches(v, r, run->gfn, end, stretch_discard,
					 &left);
	if (!err && shared)
		err = view_set(v, r, run->gfn, end, true);
	if (!err && shared && (v->flags & GMEM_VIEW_POPULATE))
		err = view_for_stretches(v, r, run->gfn, end, stretch_fault_in,
					 NULL);
	if (err)
		return err;
	if (discard)
		atomic_fetch_add(&v->discarded, 1);
	atomic_fetch_add(shared ? &v->mapped : &v->unmapped, 1);
	return 0;
}

/*
 * Puts a run's view, and KVM's attributes if told, back as they were
 * before run_apply, in the reverse order. A failure leaves the view
 * inaccessible there, the safe side, and counts a stale view until a
 * resync.
 */
static void run_undo(struct gmem_view *v, const struct view_region *r,
		     const struct gmem_run *run, bool told)
{
	bool was_shared = run->attr != GMEM_ATTR_SHARED;
	uint64_t end = run->gfn + run->npages;
	int err = 0, kvm_err = 0;

	if (!was_shared) {	/* closed before KVM goes private again */
		err = view_set(v, r, run->gfn, end, false);
		if (err)	/* never leave private memory visible */
			err = view_set(v, r, run->gfn, end, false);
	}
	if (told)
		kvm_err = view_kvm_attrs(v, r, run->gfn, run->npages,
					 !was_shared);
	if (was_shared && !kvm_err)	/* KVM must be shared first */
		err = view_set(v, r, run->gfn, end, true);
	if (err || kvm_err)
		atomic_fetch_add(&v->stale, 1);
}

/* In the LAST class: a conversion's runs are mapped and unmapped in
 * PREPARE, once every other subscriber consented, and undone on
 * CANCEL. */
static int heard(void *ctx, const struct bus_event *ev)
{
	const struct gmem_run *run = ev->run;
	enum gmem_phase phase = (enum gmem_phase)ev->phase;
	struct gmem_view *v = ctx;
	const struct view_region *r;
	bool told;
	int err;

	if (ev->kind != BUS_CONVERT)
		return view_paging_heard(v, ev);
	if (phase == GMEM_PHASE_COMMIT) {	/* all was done in PREPARE */
		view_split_join(v, run->gfn, run->gfn + run->npages);
		return 0;
	}
	r = view_region_of(v, run->gfn);
	/* A refused conversion leaves pages it split as it found them,
	 * where they can be joined. */
	if (phase == GMEM_PHASE_CANCEL) {
		run_undo(v, r, run, true);
		view_split_join(v, run->gfn, run->gfn + run->npages);
		return 0;
	}
	err = view_split_cut(v, r, run->gfn, run->gfn + run->npages);
	if (!err) {
		err = run_apply(v, r, run, &told);
		if (err)
			run_undo(v, r, run, told);
	}
	if (err)
		view_split_join(v, run->gfn, run->gfn + run->npages);
	return err;
}

/* Walks the runs of [gfn, end) in r: with set, makes the view equal to
 * them; with fault_in, maps in the page tables of the shared ones.
 * Frames not present (gmem/page.h) count as private. */
int runs_apply(struct gmem_view *v, const struct view_region *r,
	       uint64_t gfn, uint64_t end, bool set, bool fault_in)
{
	for (uint64_t at = gfn; at < end;) {
		uint64_t present = view_next_present(v, at, end);
		struct gmem_run run = { .npages = present - at };
		bool shared;
		int err = 0;

		if (present == at) {
			err = gmem_run_get(v->g, at,
					   view_first_absent(v, at, end) - at,
					   &run);
			if (err)
				return err;
		}
		shared = present == at && run.attr == GMEM_ATTR_SHARED;
		if (set)
			err = view_split_cut(v, r, at, at + run.npages);
		if (set && !err)
			err = view_set(v, r, at, at + run.npages, shared);
		if (!err && shared && fault_in)
			err = view_for_stretches(v, r, at, at + run.npages,
						 stretch_fault_in, NULL);
		if (err)
			return err;
		at += run.npages;
	}
	return 0;
}

/* An inaccessible range of len bytes at an address congruent to gfn's
 * guest-physical address modulo 1 GiB. */
static int reserve(struct gmem_view *v, uint64_t gfn, uint64_t len,
		   void **resv, char **base)
{
	uint64_t phase = (gfn * FRAME) & (GIB - 1);
	int err = os_mmap(backend_os(v->be), NULL, len + GIB, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
			  resv);
	uintptr_t a;

	if (err)
		return err;
	a = ((uintptr_t)*resv - phase + GIB - 1) & ~(uintptr_t)(GIB - 1);
	*base = (char *)(a + phase);
	return 0;
}

int stretch_guest_map(const struct gmem_view *v,
			     const struct view_region *r, uint64_t gfn,
			     uint64_t off, uint64_t len, void *arg)
{
	(void)arg;
	return backend_map(v->be, r->guest_base + (gfn - r->gfn) * FRAME, off,
			   len, true);
}

static void region_unmap(struct gmem_view *v, struct view_region *r)
{
	uint64_t len = r->npages * FRAME + GIB;

	if (r->resv)
		os_munmap(backend_os(v->be), r->resv, len);
	if (r->guest_resv)
		os_munmap(backend_os(v->be), r->guest_resv, len);
	if (backend_map_file(v->be) < 0)	/* the backend's memory: closed */
		view_set(v, r, r->gfn, r->gfn + r->npages, false);
	r->resv = r->guest_resv = NULL;
}

static int region_map(struct gmem_view *v, struct view_region *r)
{
	uint64_t len = r->npages * FRAME, end = r->gfn + r->npages;
	bool populate = v->flags & GMEM_VIEW_POPULATE;
	int err = 0;

	if (backend_map_file(v->be) >= 0)
		err = reserve(v, r->gfn, len, &r->resv, &r->base);
	if (!err && (v->flags & GMEM_VIEW_GUEST_MAP))
		err = reserve(v, r->gfn, len, &r->guest_resv, &r->guest_base);
	if (!err && r->guest_base)
		err = view_for_stretches(v, r, r->gfn, end, stretch_guest_map,
					 NULL);
	if (!err && populate && v->populate_threads > 1) {
		err = runs_apply(v, r, r->gfn, end, true, false);
		if (!err)
			err = view_populate(v, r);
		return err;
	}
	if (!err && populate)
		err = view_for_stretches(v, r, r->gfn, end, stretch_allocate,
					 NULL);
	if (!err)
		err = runs_apply(v, r, r->gfn, end, true, populate);
	return err;
}

static void view_free(struct gmem_view *v)
{
	struct heap *h = &v->g->heap;
	uint32_t i;

	for (i = 0; i < v->nregs; i++)
		region_unmap(v, &v->regs[i]);
	heap_free(h, v->regs, v->nregs * sizeof(*v->regs));
	heap_free(h, v, sizeof(*v));
}

/*
 * A guest converting below the backend's page: its hugetlb pages split
 * where they must, if every region holds whole pages and the kernel can
 * hold writers while a page moves. *huge: frames per page, or 0.
 */
static int huge_check(const struct gmem_guest *g, struct gmem_backend *be,
		      uint64_t *huge)
{
	uint64_t page = backend_page_size(be) / FRAME;

	*huge = 0;
	if (g->granule_mask + 1 >= page)
		return 0;
	if (backend_kind(be) != GMEM_BACKEND_HUGETLB)
		return -EINVAL;
	for (uint32_t i = 0; i < g->nregions; i++)
		if (g->regions[i]->gfn % page || g->regions[i]->end % page)
			return -EINVAL;
	*huge = page;
	return backend_split_enable(be);
}

static int view_check(const struct gmem_guest *g, struct gmem_backend *be,
		      const struct gmem_view_opts *opts, uint64_t *huge)
{
	unsigned int content = OPTS_GET(opts, content, GMEM_CONTENT_PRESERVE);
	unsigned int flags = OPTS_GET(opts, flags, 0);

	if (!g || !be || content > GMEM_CONTENT_DISCARD ||
	    (flags & ~(GMEM_VIEW_POPULATE | GMEM_VIEW_GUEST_MAP)) ||
	    OPTS_GET(opts, populate_threads, 0) >
		    GMEM_VIEW_POPULATE_THREADS_MAX ||
	    OPTS_GET(opts, reserved, 0) ||
	    g->pool != backend_pool(be))
		return -EINVAL;
	if ((flags & GMEM_VIEW_GUEST_MAP) && backend_map_file(be) < 0)
		return -EOPNOTSUPP;
	if (content == GMEM_CONTENT_PRESERVE && backend_two_copies(be))
		return -EOPNOTSUPP;
	if (g->views)
		return -EBUSY;
	return huge_check(g, be, huge);
}

int gmem_view_create(struct gmem_guest *g, struct gmem_backend *be,
		     const struct gmem_view_opts *opts, struct gmem_view **out)
{
	struct gmem_view *v;
	uint64_t huge;
	uint32_t i;
	int err = OPTS_VALID(opts, gmem_view_opts);

	if (!err && !out)
		err = -EINVAL;
	if (!err)
		err = view_check(g, be, opts, &huge);
	if (err)
		return err;
	v = heap_zalloc(&g->heap, sizeof(*v), 8);
	if (!v)
		return -ENOMEM;
	v->g = g;
	v->be = be;
	v->content = OPTS_GET(opts, content, GMEM_CONTENT_PRESERVE);
	v->flags = OPTS_GET(opts, flags, 0);
	v->populate_threads = OPTS_GET(opts, populate_threads, 0);
	v->huge = huge;
	v->regs = heap_zalloc(&g->heap, g->nregions * sizeof(*v->regs), 8);
	if (!v->regs && g->nregions) {
		heap_free(&g->heap, v, sizeof(*v));
		return -ENOMEM;
	}
	v->nregs = g->nregions;
	for (i = 0; i < v->nregs; i++) {
		v->regs[i].gfn = g->regions[i]->gfn;
		v->regs[i].npages = g->regions[i]->end - g->regions[i]->gfn;
		v->regs[i].attr_vm = -1;
	}
	for (i = 0; !err && i < v->nregs; i++)
		err = region_map(v, &v->regs[i]);
	if (!err)
		err = view_paging_attach(v);
	if (!err) {
		v->sub = (struct bus_sub){
			.fn = heard, .ctx = v, .order = BUS_ORDER_LAST,
			.kinds = BUS_CONVERT | BUS_PAGE_OUT | BUS_PAGE_EVICT |
				 BUS_PAGE_IN,
			/* split pages are joined once the change is made */
			.committed = v->huge != 0 };
		err = bus_subscribe(&g->bus, &g->heap, &v->sub);
	}
	if (err) {
		view_free(v);
		return err;
	}
	g->memory = &v->memory;
	g->views++;
	backend_view_get(be);
	*out = v;
	return 0;
}

int gmem_view_destroy(struct gmem_view *v)
{
	if (!v)
		return 0;
	bus_unsubscribe(&v->g->bus, &v->sub);
	v->g->memory = NULL;
	v->g->views--;
	backend_view_put(v->be);
	view_free(v);
	return 0;
}

int gmem_view_addr(const struct gmem_view *v, uint64_t gfn, void **addr)
{
	const struct view_region *r;

	if (!v || !addr)
		return -EINVAL;
	r = view_region_of(v, gfn);
	if (!r)
		return -ENOENT;
	*addr = view_at(v, r, gfn);
	return 0;
}

int gmem_view_guest_addr(const struct gmem_view *v, uint64_t gfn, void **addr)
{
	const struct view_region *r;

	if (!v || !addr)
		return -EINVAL;
	if (!(v->flags & GMEM_VIEW_GUEST_MAP))
		return -EOPNOTSUPP;
	r = view_region_of(v, gfn);
	if (!r)
		return -ENOENT;
	*addr = r->guest_base + (gfn - r->gfn) * FRAME;
	return 0;
}

int gmem_view_populate(struct gmem_view *v, uint64_t gfn, uint64_t npages)
{
	const struct view_region *r;
	int err;

	if (!v || !npages)
		return -EINVAL;
	r = view_region_of(v, gfn);
	if (!r)
		return -ENOENT;
	if (npages > r->gfn + r->npages - gfn)
		return -ERANGE;
	err = view_for_stretches(v, r, gfn, gfn + npages, stretch_allocate,
				 NULL);
	return err ? err : runs_apply(v, r, gfn, gfn + npages, false, true);
}

int gmem_view_resync(struct gmem_view *v)
{
	uint32_t i;
	int err = 0;

	if (!v)
		return -EINVAL;
	for (i = 0; !err && i < v->nregs; i++)
		err = runs_apply(v, &v->regs[i], v->regs[i].gfn,
				 v->regs[i].gfn + v->regs[i].npages, true,
				 false);
	for (i = 0; !err && i < v->nregs; i++)
		err = view_kvm_resync(v, &v->regs[i]);
	for (i = 0; !err && i < v->nregs; i++)
		view_split_join(v, v->regs[i].gfn,
				v->regs[i].gfn + v->regs[i].npages);
	if (!err)
		atomic_store(&v->stale, 0);
	return err;
}

int gmem_view_stats(const struct gmem_view *v, struct gmem_view_stats *stats)
{
	struct gmem_view_stats res = { .sz = sizeof(res) };

	if (!v || !stats)
		return -EINVAL;
	res.runs_mapped = atomic_load(&v->mapped);
	res.runs_unmapped = atomic_load(&v->unmapped);
	res.runs_discarded = atomic_load(&v->discarded);
	res.stale = atomic_load(&v->stale);
	res.attr_ioctls = atomic_load(&v->attr_ioctls);
	for (uint32_t i = 0; i < v->nregs; i++)
		res.attr_regions += v->regs[i].attr_vm >= 0;
	res.faults = atomic_load(&v->faults);
	res.fault_conversions = atomic_load(&v->fault_conversions);
	return out_struct(stats, &res, sizeof(res));
}
