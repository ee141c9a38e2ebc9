/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paging states (gmem/page.h). A frame is present unless it is in the
 * absent set; the other sets tell the absent ones apart: paged, paging
 * in, and of those the ones whose data is back. Anything not in paged
 * nor in is nominated. Changes of what is present hold the TXN holds of
 * their slots, as pins do, so that a conversion or a pin sees the slot's
 * count of absent frames and the sets agree; the others need only the
 * lock of the sets.
 */
#include <errno.h>

#include <gmem/page.h>

#include "core/opts.h"
#include "core/probe.h"
#include "core/spin.h"
#include "guest/guest.h"
#include "paging.h"
#include "pin_set.h"

static void paging_destroy(struct gmem_guest *g, struct guest_ext *x);
static int paging_forget(struct gmem_guest *g, struct guest_ext *x,
			 uint64_t lo, uint64_t hi);

static uint64_t absent_first(struct paging *p, uint64_t lo, uint64_t hi);

/* Frames not present can be neither converted nor pinned. */
static uint64_t paging_block(const struct gmem_guest *g, uint64_t lo,
			     uint64_t hi, int *err)
{
	uint64_t f = absent_first(paging_find(g), lo, hi);

	*err = f < hi ? -EAGAIN : 0;
	return f;
}

static const struct guest_ext_ops paging_ext = {
	.size = sizeof(struct paging),
	.destroy = paging_destroy,
	.blocks = paging_block,
	.forget = paging_forget,
};

/* A guest that never pages pays nothing for the sets. */
struct paging *paging_get(struct gmem_guest *g)
{
	struct guest_ext *x;

	return guest_ext_get(g, &paging_ext, NULL, &x) ? NULL
						       : (struct paging *)x;
}

struct paging *paging_find(const struct gmem_guest *g)
{
	return (struct paging *)guest_ext_find(g, &paging_ext);
}

/* Readers take the lock of the sets too. */
static uint64_t absent_first(struct paging *p, uint64_t lo, uint64_t hi)
{
	uint64_t f;

	if (!p)
		return hi;
	spin_lock(&p->lock);
	f = fset_next(&p->absent, lo, hi);
	spin_unlock(&p->lock);
	return f;
}

/* Slots without a mark hold no absent frame: no lock taken for them. */
uint64_t page_first_absent(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi)
{
	return guest_slots_marked(g, lo, hi) ? absent_first(paging_find(g),
							    lo, hi)
					     : hi;
}

uint64_t page_next_present(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi)
{
	struct paging *p = guest_slots_marked(g, lo, hi) ? paging_find(g)
							 : NULL;
	uint64_t f;

	if (!p)
		return lo < hi ? lo : hi;
	spin_lock(&p->lock);
	f = fset_next_out(&p->absent, lo, hi);
	spin_unlock(&p->lock);
	return f;
}

/* The bits entry of slot si, or NULL while its page is not made. */
static const uint64_t *_Atomic *bits_entry(const struct paging *p,
					   uint64_t si)
{
	slot_bits_page *page = atomic_load_explicit(
		&p->bits_dir[si >> BITS_PAGE_SHIFT], memory_order_acquire);

	return page ? &(*page)[si & ((1u << BITS_PAGE_SHIFT) - 1)] : NULL;
}

/* A slot with no mark has no frame out; one with a mark but no bits
 * published has none out yet either. */
bool page_present_fast(const struct gmem_guest *g, uint64_t gfn)
{
	const struct paging *p;
	const uint64_t *_Atomic *e;
	const uint64_t *bits;
	uint32_t off = slot_off(gfn);

	if (!slot_exc(slot_lockw(guest_slot(g, gfn))))
		return true;
	p = paging_find(g);
	e = p ? bits_entry(p, gfn >> SLOT_SHIFT) : NULL;
	bits = e ? atomic_load_explicit(e, memory_order_acquire) : NULL;
	return !bits ||
	       !(__atomic_load_n(&bits[off / 64], __ATOMIC_RELAXED) >>
		 (off % 64) & 1);
}

/* Makes the table's pages for the slots of [lo, hi): 0 or -ENOMEM. */
static int bits_reserve(struct gmem_guest *g, struct paging *p, uint64_t lo,
			uint64_t hi)
{
	uint64_t d;

	for (d = lo >> (SLOT_SHIFT + BITS_PAGE_SHIFT);
	     d <= (hi - 1) >> (SLOT_SHIFT + BITS_PAGE_SHIFT); d++) {
		slot_bits_page *page;

		if (atomic_load_explicit(&p->bits_dir[d], memory_order_relaxed))
			continue;
		page = heap_zalloc(&g->heap, sizeof(*page), 8);
		if (!page)
			return -ENOMEM;
		atomic_store_explicit(&p->bits_dir[d], page,
				      memory_order_release);
	}
	return 0;
}

static void paging_destroy(struct gmem_guest *g, struct guest_ext *x)
{
	struct paging *p = (struct paging *)x;

	pager_free(g, p);
	fset_free(&g->heap, &p->absent);
	fset_free(&g->heap, &p->paged);
	fset_free(&g->heap, &p->in);
	fset_free(&g->heap, &p->loaded);
	frame_ranges_free(&g->heap, &p->never);
	for (uint64_t d = 0; d < BITS_DIR_SIZE; d++)
		heap_free(&g->heap, atomic_load(&p->bits_dir[d]),
			  sizeof(slot_bits_page));
}

/* A region goes: its frames are no longer to be kept from paging. */
static int paging_forget(struct gmem_guest *g, struct guest_ext *x,
			 uint64_t lo, uint64_t hi)
{
	struct paging *p = (struct paging *)x;
	int err;

	spin_lock(&p->lock);
	err = frame_ranges_del(&g->heap, &p->never, lo, hi);
	spin_unlock(&p->lock);
	return err;
}

/* The range checks of every call, aligned to the conversion granule so
 * that a builder's smallest leaf is always all present or all not. */
static int page_args(const struct gmem_guest *g, uint64_t gfn,
		     uint64_t npages, struct gmem_page_opts *opts,
		     uint64_t *fail)
{
	int err = OPTS_VALID(opts, gmem_page_opts);

	*fail = gfn;
	if (err)
		return err;
	if (!g || ((gfn | npages) & g->granule_mask))
		return -EINVAL;
	return guest_range(g, gfn, npages, fail);
}

static int page_end(int err, uint64_t fail, struct gmem_page_opts *opts)
{
	if (err)
		OPTS_SET(opts, fail_gfn, fail);
	return err;
}

/*
 * What every call begins with: the range checks, then bad (a negative
 * errno when an argument of the call's own is wrong), then the sets.
 * NULL, with *err returned to the caller, if the call ends there.
 */
static struct paging *page_begin(struct gmem_guest *g, uint64_t gfn,
				 uint64_t npages, int bad,
				 struct gmem_page_opts *opts, int *err)
{
	struct paging *p = NULL;
	uint64_t fail;

	*err = page_args(g, gfn, npages, opts, &fail);
	if (!*err)
		*err = bad;
	if (!*err) {
		p = paging_get(g);
		*err = p ? 0 : -ENOMEM;
	}
	if (*err)
		page_end(*err, fail, opts);
	return p;
}

/* The first frame of [lo, hi) in neither a nor b (disjoint), or hi. */
static uint64_t first_neither(const struct fset *a, const struct fset *b,
			      uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		uint64_t f = fset_next_out(a, lo, hi);

		if (f == hi)
			return hi;
		lo = fset_next_out(b, f, hi);
		if (lo == f)
			return f;
	}
	return hi;
}

/*
 * Gives the slots of [lo, hi) their bits of the absent set, for lookups
 * that take no lock. Those bits stay allocated (the set is never
 * trimmed) until the guest goes, so a lookup never reads freed memory.
 */
static void publish_bits(const struct paging *p, uint64_t lo, uint64_t hi)
{
	uint64_t si;

	for (si = lo >> SLOT_SHIFT; si <= (hi - 1) >> SLOT_SHIFT; si++)
		atomic_store_explicit(bits_entry(p, si),
				      fset_slot_bits(&p->absent, si),
				      memory_order_release);
}


/* Keeps the lowest frame at fault and its error: *fail starts at the
 * range's end, and of equal frames the first one offered stays. */
static void worst(uint64_t f, int ferr, uint64_t *fail, int *err)
{
	if (f < *fail) {
		*fail = f;
		*err = ferr;
	}
}

int gmem_page_nominate(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		       struct gmem_page_opts *opts)
{
	uint64_t fail, hi = gfn + npages;
	int err;
	struct paging *p = page_begin(g, gfn, npages, 0, opts, &err);

	if (!p)
		return err;
	guest_slots_txn(g, gfn, hi, true);
	spin_lock(&p->lock);
	/* The first frame that cannot go decides the error: not present
	 * (-EINVAL) before pinned or never paged (-EBUSY). */
	fail = hi;
	worst(fset_next(&p->absent, gfn, hi), -EINVAL, &fail, &err);
	worst(pin_first(g, gfn, hi), -EBUSY, &fail, &err);
	worst(frame_ranges_first(&p->never, gfn, hi), -EBUSY, &fail, &err);
	/* A lookup sleeps until all its frames are in at once. */
	worst(pager_first_waited(p, gfn, hi), -EBUSY, &fail, &err);
	if (!err && (fset_reserve(&g->heap, &p->absent, gfn, hi) ||
		     bits_reserve(g, p, gfn, hi))) {
		err = -ENOMEM;
		fail = gfn;
	}
	spin_unlock(&p->lock);
	/* The VMM loses sight of them first; the holds keep them present. */
	if (!err)
		err = bus_ask(&g->bus, BUS_PAGE_OUT, gfn, hi, &fail);
	if (!err) {
		spin_lock(&p->lock);
		fset_add(&p->absent, gfn, hi);
		publish_bits(p, gfn, hi);
		spin_unlock(&p->lock);
		guest_slots_recheck(g, gfn, hi);
	}
	guest_slots_txn(g, gfn, hi, false);
	if (!err)
		bus_done(&g->bus, BUS_PAGE_OUT, gfn, hi);
	return page_end(err, fail, opts);
}

int gmem_page_evict(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    struct gmem_page_opts *opts)
{
	uint64_t fail, hi = gfn + npages;
	int err;
	struct paging *p = page_begin(g, gfn, npages, 0, opts, &err);

	if (!p)
		return err;
	/* The holds keep an access from cancelling while memory goes. */
	guest_slots_txn(g, gfn, hi, true);
	spin_lock(&p->lock);
	/* Present again (an access came): -EBUSY; further on: -EINVAL. */
	fail = hi;
	worst(fset_next_out(&p->absent, gfn, hi), -EBUSY, &fail, &err);
	worst(fset_next(&p->paged, gfn, hi), -EINVAL, &fail, &err);
	worst(fset_next(&p->in, gfn, hi), -EINVAL, &fail, &err);
	if (!err && fset_reserve(&g->heap, &p->paged, gfn, hi)) {
		err = -ENOMEM;
		fail = gfn;
	}
	spin_unlock(&p->lock);
	/* A builder not synced since the frames left refuses (-EBUSY):
	 * it may still map them. Then the memory goes. */
	if (!err)
		err = bus_ask(&g->bus, BUS_PAGE_EVICT, gfn, hi, &fail);
	if (!err) {
		spin_lock(&p->lock);
		fset_add(&p->paged, gfn, hi);
		spin_unlock(&p->lock);
	}
	guest_slots_txn(g, gfn, hi, false);
	return page_end(err, fail, opts);
}

int gmem_page_load(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		   const void *data, struct gmem_page_opts *opts)
{
	uint64_t fail, hi = gfn + npages;
	const struct guest_memory *mem = g ? g->memory : NULL;
	int err;
	/* Data needs memory of the frames to go to. */
	struct paging *p = page_begin(g, gfn, npages,
				      data && !mem ? -EINVAL : 0, opts, &err);

	if (!p)
		return err;
	spin_lock(&p->lock);
	fail = first_neither(&p->paged, &p->in, gfn, hi);
	if (fail < hi)
		err = -EINVAL;
	if (!err && (fset_reserve(&g->heap, &p->in, gfn, hi) ||
		     fset_reserve(&g->heap, &p->loaded, gfn, hi))) {
		err = -ENOMEM;
		fail = gfn;
	}
	spin_unlock(&p->lock);
	/* Paged or paging in, the frames are in no view: nothing else
	 * writes them. */
	if (!err && data) {
		err = mem->load(mem->ctx, gfn, hi, data);
		fail = gfn;
	}
	spin_lock(&p->lock);
	if (!err) {
		fset_del(&p->paged, gfn, hi);
		fset_add(&p->in, gfn, hi);
		fset_add(&p->loaded, gfn, hi);
	}
	fset_trim(&g->heap, &p->paged);
	fset_trim(&g->heap, &p->in);
	fset_trim(&g->heap, &p->loaded);
	spin_unlock(&p->lock);
	return page_end(err, fail, opts);
}

int gmem_page_read(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		   void *buf, struct gmem_page_opts *opts)
{
	uint64_t fail, hi = gfn + npages;
	const struct guest_memory *mem = g ? g->memory : NULL;
	int err;
	struct paging *p = page_begin(g, gfn, npages,
				      !buf ? -EINVAL : !mem ? -EOPNOTSUPP : 0,
				      opts, &err);

	if (!p)
		return err;
	/* Nominated: the data is still there and nothing writes it. */
	spin_lock(&p->lock);
	fail = hi;
	worst(fset_next_out(&p->absent, gfn, hi), -EINVAL, &fail, &err);
	worst(fset_next(&p->paged, gfn, hi), -EINVAL, &fail, &err);
	worst(fset_next(&p->in, gfn, hi), -EINVAL, &fail, &err);
	spin_unlock(&p->lock);
	if (!err) {
		err = mem->read(mem->ctx, gfn, hi, buf);
		fail = gfn;
	}
	return page_end(err, fail, opts);
}

int gmem_page_complete(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		       int status, struct gmem_page_opts *opts)
{
	uint64_t fail, hi = gfn + npages;
	const struct gmem_run run = { .gfn = gfn, .npages = npages };
	bool woken = false, asked;
	int err;
	struct paging *p = page_begin(g, gfn, npages, status > 0 ? -EINVAL : 0,
				      opts, &err);

	if (!p)
		return err;
	/* The holds keep the frames loaded (or in) from the checks to the
	 * change. */
	guest_slots_txn(g, gfn, hi, true);
	spin_lock(&p->lock);
	fail = fset_next_out(status ? &p->in : &p->loaded, gfn, hi);
	if (fail < hi)
		err = -EINVAL;
	if (!err && status && fset_reserve(&g->heap, &p->paged, gfn, hi)) {
		err = -ENOMEM;
		fail = gfn;
	}
	spin_unlock(&p->lock);
	/* Back in the views before they are present: a lookup that finds
	 * a frame present finds it mapped. */
	asked = !err && !status;
	if (asked && (err = bus_ask(&g->bus, BUS_PAGE_IN, gfn, hi, &fail)))
		asked = false;
	spin_lock(&p->lock);
	/* Room for the events of the lookups waiting, some maybe since. */
	if (!err && pager_complete_reserve(g, p, gfn, hi)) {
		err = -ENOMEM;
		fail = gfn;
	}
	if (!err) {
		woken = pager_complete(p, gfn, hi, status);
		fset_del(&p->in, gfn, hi);
		fset_del(&p->loaded, gfn, hi);
		if (status)
			fset_add(&p->paged, gfn, hi);
		else
			fset_del(&p->absent, gfn, hi);
	}
	fset_trim(&g->heap, &p->in);
	fset_trim(&g->heap, &p->loaded);
	spin_unlock(&p->lock);
	if (asked && err) {
		bus_cancel(&g->bus, BUS_PAGE_IN, &run, 1);
	} else if (asked) {
		guest_slots_recheck(g, gfn, hi);
		bus_commit(&g->bus, BUS_PAGE_IN, &run, 1);
	}
	guest_slots_txn(g, gfn, hi, false);
	if (woken)
		pager_wake(p);
	GMEM_PROBE(page_complete, g, gfn, npages, status, err);
	return page_end(err, fail, opts);
}

int gmem_page_never(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    unsigned int never, struct gmem_page_opts *opts)
{
	int err;
	struct paging *p = page_begin(g, gfn, npages, never > 1 ? -EINVAL : 0,
				      opts, &err);

	if (!p)
		return err;
	spin_lock(&p->lock);
	err = never ? frame_ranges_add(&g->heap, &p->never, gfn, gfn + npages)
		    : frame_ranges_del(&g->heap, &p->never, gfn, gfn + npages);
	spin_unlock(&p->lock);
	return page_end(err, gfn, opts);
}

int gmem_page_state(const struct gmem_guest *g, uint64_t gfn,
		    uint32_t *state)
{
	struct paging *p;

	if (!g || !state)
		return -EINVAL;
	if (!guest_region(g, gfn))
		return -ENOENT;
	*state = GMEM_PAGE_PRESENT;
	p = guest_slots_marked(g, gfn, gfn + 1) ? paging_find(g) : NULL;
	if (!p)
		return 0;
	spin_lock(&p->lock);
	if (fset_has(&p->in, gfn))
		*state = GMEM_PAGE_PAGING_IN;
	else if (fset_has(&p->paged, gfn))
		*state = GMEM_PAGE_PAGED;
	else if (fset_has(&p->absent, gfn))
		*state = GMEM_PAGE_PAGING_OUT;
	spin_unlock(&p->lock);
	return 0;
}
