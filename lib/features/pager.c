/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pager's side of paging (gmem/page.h): the request ring, lookups
 * that query, try or wait, and the tokens of asynchronous page faults.
 *
 * The ring has many producers (lookups) and one consumer (the pager). A
 * producer claims its slots, all at once, before it looks at the frames
 * under the paging lock, so that a full ring is met before anything
 * changed; it then posts a request, or cancels a claim where another
 * lookup's request is already out. The consumer stops at a slot still claimed: a producer
 * decides while holding the lock, never sleeping, so it is not long.
 *
 * A TRY never waits for room: where the ring is full, its blocks are
 * deferred (under the paging lock) and the pager's next pop serves them
 * after the ring's requests, so its token completes as any other.
 *
 * Waits (under the paging lock) are of two kinds: a vCPU's token, which
 * becomes a "page ready" event when the frame completes, and a sleeper's
 * entry, which is marked done; sleepers wait on a sequence word that
 * each completion bumps, holding no lock. A frame with a sleeper is not
 * nominated, so a lookup of several frames finds them all in at once.
 */
#include <errno.h>
#include <string.h>

#include <gmem/page.h>

#include "core/opts.h"
#include "core/port.h"
#include "core/probe.h"
#include "core/spin.h"
#include "guest/guest.h"
#include "paging.h"

enum { SLOT_EMPTY, SLOT_CLAIMED, SLOT_POSTED, SLOT_CANCELLED };

int gmem_pager_attach(struct gmem_guest *g, const struct gmem_pager_opts *o)
{
	uint32_t size = OPTS_GET(o, ring_size, 0);
	struct paging *p;
	struct pager *pg;
	int err = OPTS_VALID(o, gmem_pager_opts);

	if (err)
		return err;
	if (!size)
		size = 256;
	if (!g || (size & (size - 1)) || size < GMEM_LOOKUP_MAX ||
	    size > (1u << 24) || OPTS_GET(o, reserved, 0))
		return -EINVAL;
	p = paging_get(g);
	if (!p)
		return -ENOMEM;
	if (atomic_load(&p->pager))
		return -EBUSY;
	pg = heap_zalloc(&g->heap, sizeof(*pg), 8);
	if (pg)
		pg->ring = heap_zalloc(&g->heap, size * sizeof(*pg->ring), 8);
	if (!pg || !pg->ring) {
		heap_free(&g->heap, pg, sizeof(*pg));
		return -ENOMEM;
	}
	pg->mask = size - 1;
	pg->pager_fd = OPTS_GET(o, pager_fd, -1);
	pg->ready_fd = OPTS_GET(o, ready_fd, -1);
	/* A struct too short for the fds has none. */
	if (!OPTS_HAS(o, pager_fd))
		pg->pager_fd = -1;
	if (!OPTS_HAS(o, ready_fd))
		pg->ready_fd = -1;
	atomic_store(&p->pager, pg);
	return 0;
}

int gmem_pager_detach(struct gmem_guest *g)
{
	struct paging *p = g ? paging_find(g) : NULL;
	struct pager *pg = p ? atomic_load(&p->pager) : NULL;
	bool busy;

	if (!g)
		return -EINVAL;
	if (!pg)
		return -ENODEV;
	spin_lock(&p->lock);
	busy = p->in.count != 0;
	for (uint32_t i = 0; !busy && i < pg->nwaits; i++)
		busy = pg->waits[i].sleeper;
	spin_unlock(&p->lock);
	if (busy)
		return -EBUSY;
	pager_free(g, p);
	return 0;
}

void pager_free(struct gmem_guest *g, struct paging *p)
{
	struct pager *pg = p->pager;

	if (!pg)
		return;
	heap_free(&g->heap, pg->ring, (pg->mask + 1) * sizeof(*pg->ring));
	heap_free(&g->heap, pg->waits, pg->waits_cap * sizeof(*pg->waits));
	heap_free(&g->heap, pg->ready, pg->ready_cap * sizeof(*pg->ready));
	heap_free(&g->heap, pg->deferred,
		  pg->deferred_cap * sizeof(*pg->deferred));
	heap_free(&g->heap, pg, sizeof(*pg));
	p->pager = NULL;
}

/*
 * Claims k slots at once: the position of the first, or -EBUSY when the
 * ring has no room for them and the caller will not wait. Waiting, it
 * sleeps until the pager pops. All at once, because a producer holding
 * a claim while it waits for more would stop the consumer at its claim.
 */
static int64_t ring_claim(struct pager *pg, uint32_t k, bool wait)
{
	uint64_t t = atomic_load(&pg->tail);

	for (;;) {
		uint32_t room = atomic_load(&pg->room);
		uint64_t i;

		if (t + k - atomic_load(&pg->head) > pg->mask + 1) {
			if (!wait)
				return -EBUSY;
			port_wait(&pg->room, room);
			t = atomic_load(&pg->tail);
			continue;
		}
		if (atomic_compare_exchange_weak(&pg->tail, &t, t + k)) {
			for (i = t; i < t + k; i++)
				atomic_store_explicit(&pg->ring[i & pg->mask].state,
						      SLOT_CLAIMED,
						      memory_order_relaxed);
			return (int64_t)t;
		}
	}
}

static void ring_end(struct pager *pg, uint64_t pos, uint64_t gfn,
		     bool post)
{
	struct req_slot *s = &pg->ring[pos & pg->mask];

	s->gfn = gfn;
	atomic_store_explicit(&s->state, post ? SLOT_POSTED : SLOT_CANCELLED,
			      memory_order_release);
}

/* The state of a frame; locked, or known absent. */
static unsigned int state_of(const struct paging *p, uint64_t gfn)
{
	if (!fset_has(&p->absent, gfn))
		return GMEM_PAGE_PRESENT;
	if (fset_has(&p->in, gfn))
		return GMEM_PAGE_PAGING_IN;
	return fset_has(&p->paged, gfn) ? GMEM_PAGE_PAGED
					 : GMEM_PAGE_PAGING_OUT;
}

/* PAGED -> PAGING_IN for the block at lo; locked. 0 or -ENOMEM. */
static int start_in(struct gmem_guest *g, struct paging *p, uint64_t lo)
{
	uint64_t hi = lo + g->granule_mask + 1;

	if (fset_reserve(&g->heap, &p->in, lo, hi))
		return -ENOMEM;
	fset_del(&p->paged, lo, hi);
	fset_add(&p->in, lo, hi);
	return 0;
}

/* Deferred blocks still paged become requests, up to max: how many.
 * The rest (no room, or no memory to start them) stay deferred. */
static uint32_t pop_deferred(struct gmem_guest *g, struct paging *p,
			     struct pager *pg, struct gmem_page_request *reqs,
			     uint32_t max)
{
	uint32_t i, k = 0, n = 0;

	spin_lock(&p->lock);
	for (i = 0; i < pg->ndeferred; i++) {
		uint64_t lo = pg->deferred[i];

		/* Requested meanwhile by another lookup: dropped. */
		if (state_of(p, lo) != GMEM_PAGE_PAGED)
			continue;
		if (k == max || start_in(g, p, lo)) {
			pg->deferred[n++] = lo;
			continue;
		}
		reqs[k++] = (struct gmem_page_request){ lo,
							g->granule_mask + 1 };
	}
	pg->ndeferred = n;
	atomic_store(&pg->any_deferred, n != 0);
	spin_unlock(&p->lock);
	return k;
}

int gmem_pager_pop(struct gmem_guest *g, struct gmem_page_request *reqs,
		   uint32_t max, uint32_t *n)
{
	struct paging *p;
	struct pager *pg;
	uint64_t h;
	uint32_t k = 0;

	if (!g || !n || (max && !reqs))
		return -EINVAL;
	p = paging_find(g);
	pg = p ? atomic_load(&p->pager) : NULL;
	if (!pg)
		return -ENODEV;
	h = atomic_load(&pg->head);
	while (k < max && h < atomic_load(&pg->tail)) {
		struct req_slot *s = &pg->ring[h & pg->mask];
		uint32_t st = atomic_load_explicit(&s->state,
						   memory_order_acquire);

		if (st == SLOT_CLAIMED || st == SLOT_EMPTY)
			break;	/* its producer is still deciding */
		if (st == SLOT_POSTED)
			reqs[k++] = (struct gmem_page_request){
				s->gfn, g->granule_mask + 1 };
		atomic_store_explicit(&s->state, SLOT_EMPTY,
				      memory_order_relaxed);
		atomic_store(&pg->head, ++h);
	}
	if (k < max && h == atomic_load(&pg->tail) &&
	    atomic_load(&pg->any_deferred))
		k += pop_deferred(g, p, pg, reqs + k, max - k);
	*n = k;
	GMEM_PROBE(pager_pop, g, k);
	if (k || h != atomic_load(&pg->tail)) {
		atomic_fetch_add(&pg->room, 1);
		port_wake_all(&pg->room);
	}
	return 0;
}

/* The first frame of [lo, hi) a sleeper waits for, or hi; locked. */
uint64_t pager_first_waited(const struct paging *p, uint64_t lo, uint64_t hi)
{
	const struct pager *pg = p->pager;
	uint64_t first = hi;
	uint32_t i;

	for (i = 0; pg && i < pg->nwaits; i++)
		if (pg->waits[i].sleeper && pg->waits[i].gfn >= lo &&
		    pg->waits[i].gfn < first)
			first = pg->waits[i].gfn;
	return first;
}

/* Room for the events the completion of [lo, hi) makes; locked. */
int pager_complete_reserve(struct gmem_guest *g, struct paging *p,
			   uint64_t lo, uint64_t hi)
{
	struct pager *pg = p->pager;
	uint32_t i, k = 0;

	for (i = 0; pg && i < pg->nwaits; i++)
		k += !pg->waits[i].sleeper && pg->waits[i].gfn >= lo &&
		     pg->waits[i].gfn < hi;
	if (!k)
		return 0;
	return heap_grow(&g->heap, &pg->ready, &pg->ready_cap, pg->nready,
			 pg->nready + k, sizeof(*pg->ready), 16);
}

/* [lo, hi) completed with status: tokens become events, sleepers are
 * told; locked, room reserved. Whether anything changed. */
bool pager_complete(struct paging *p, uint64_t lo, uint64_t hi, int status)
{
	struct pager *pg = p->pager;
	uint32_t i, n = 0;
	bool any = false;

	for (i = 0; pg && i < pg->nwaits; i++) {
		struct page_wait *w = &pg->waits[i];

		if (w->gfn < lo || w->gfn >= hi || w->done) {
			pg->waits[n++] = *w;
			continue;
		}
		any = true;
		if (w->sleeper) {
			w->done = true;
			w->status = status;
			pg->waits[n++] = *w;
		} else {
			pg->ready[pg->nready++] = (struct gmem_page_ready){
				w->token, w->gfn, w->vcpu, status };
		}
	}
	if (pg)
		pg->nwaits = n;
	return any;
}

/* After pager_complete, with no lock held. */
void pager_wake(struct paging *p)
{
	struct pager *pg = p->pager;

	if (!pg)
		return;
	atomic_fetch_add(&p->done_seq, 1);
	port_wake_all(&p->done_seq);
	port_signal(pg->ready_fd);
}

int gmem_page_ready_pop(struct gmem_guest *g, struct gmem_page_ready *ev,
			uint32_t max, uint32_t *n)
{
	struct paging *p;
	struct pager *pg;
	uint32_t k;

	if (!g || !n || (max && !ev))
		return -EINVAL;
	p = paging_find(g);
	pg = p ? atomic_load(&p->pager) : NULL;
	if (!pg)
		return -ENODEV;
	spin_lock(&p->lock);
	k = pg->nready < max ? pg->nready : max;
	if (k) {	/* none: there may be no array, nor ev */
		memcpy(ev, pg->ready, k * sizeof(*ev));
		memmove(pg->ready, pg->ready + k,
			(pg->nready - k) * sizeof(*ev));
		pg->nready -= k;
	}
	spin_unlock(&p->lock);
	*n = k;
	return 0;
}

int gmem_page_vcpu_reset(struct gmem_guest *g, uint32_t vcpu)
{
	struct paging *p;
	struct pager *pg;
	uint32_t i, n = 0;

	if (!g)
		return -EINVAL;
	p = paging_find(g);
	pg = p ? atomic_load(&p->pager) : NULL;
	if (!pg)
		return 0;
	spin_lock(&p->lock);
	for (i = 0; i < pg->nwaits; i++)
		if (pg->waits[i].sleeper || pg->waits[i].vcpu != vcpu)
			pg->waits[n++] = pg->waits[i];
	pg->nwaits = n;
	for (i = n = 0; i < pg->nready; i++)
		if (pg->ready[i].vcpu != vcpu)
			pg->ready[n++] = pg->ready[i];
	pg->nready = n;
	spin_unlock(&p->lock);
	return 0;
}

/* The block of the conversion granule holding gfn. */
static uint64_t block_of(const struct gmem_guest *g, uint64_t gfn)
{
	return gfn & ~g->granule_mask;
}

/* An access: the nomination of gfn's block, if any, is cancelled. */
static void cancel_nomination(struct gmem_guest *g, struct paging *p,
			      uint64_t gfn)
{
	uint64_t lo = block_of(g, gfn), hi = lo + g->granule_mask + 1, fail;
	bool nominated;

	guest_slots_txn(g, lo, hi, true);
	spin_lock(&p->lock);
	nominated = state_of(p, gfn) == GMEM_PAGE_PAGING_OUT;
	spin_unlock(&p->lock);
	/* Back in the views before they are present (the holds keep them
	 * nominated meanwhile); a part that cannot follow leaves them so,
	 * and the access goes on as for any frame out. */
	if (nominated && !bus_ask(&g->bus, BUS_PAGE_IN, lo, hi, &fail)) {
		spin_lock(&p->lock);
		fset_del(&p->absent, lo, hi);
		spin_unlock(&p->lock);
		guest_slots_recheck(g, lo, hi);
		bus_done(&g->bus, BUS_PAGE_IN, lo, hi);
	}
	guest_slots_txn(g, lo, hi, false);
}

/* Adds a wait for gfn; for a vCPU, its token for gfn if it has one.
 * Locked, room reserved. */
static uint64_t add_wait(struct pager *pg, uint64_t gfn, uint32_t vcpu,
			 bool sleeper)
{
	uint32_t i;

	for (i = 0; !sleeper && i < pg->nwaits; i++)
		if (!pg->waits[i].sleeper && pg->waits[i].vcpu == vcpu &&
		    pg->waits[i].gfn == gfn)
			return pg->waits[i].token;
	pg->waits[pg->nwaits++] = (struct page_wait){
		.token = ++pg->next_token, .gfn = gfn, .vcpu = vcpu,
		.sleeper = sleeper };
	return pg->next_token;
}

/* A request for the block at lo went to the pager, in the ring or
 * deferred. */
static void requested(struct gmem_guest *g, uint64_t lo, int deferred)
{
	guest_count(&g->counts.pager_requests, 1);
	GMEM_PROBE(page_request, g, lo, g->granule_mask + 1, deferred);
}

/* Defers the block at lo, once (true the first time); locked, room
 * reserved. */
static bool defer_block(struct pager *pg, uint64_t lo)
{
	for (uint32_t i = 0; i < pg->ndeferred; i++)
		if (pg->deferred[i] == lo)
			return false;
	pg->deferred[pg->ndeferred++] = lo;
	atomic_store(&pg->any_deferred, 1);
	return true;
}

/*
 * One pass of a TRY or WAIT over frames that are not all present: a
 * request out for each paged one, then the waits (a sleeper's for each
 * frame not present, with its token in tokens[]; or one token, for the
 * first). 0 when done, 1 to go round again (the frames changed while
 * the lock was not held), or an error. *absent: frames not present.
 */
static int lookup_pass(struct gmem_guest *g, struct paging *p,
		       const uint64_t *gfns, uint32_t n, unsigned int mode,
		       struct gmem_lookup *lk, uint64_t *tokens,
		       uint32_t *absent)
{
	struct pager *pg = atomic_load(&p->pager);
	int64_t first = 0;
	uint32_t i, want = 0, used = 0;
	bool defer = false;
	int err = 0;

	/* An access cancels a nomination first. */
	spin_lock(&p->lock);
	for (i = 0; i < n; i++) {
		unsigned int st = state_of(p, gfns[i]);

		if (st == GMEM_PAGE_PAGING_OUT) {
			spin_unlock(&p->lock);
			cancel_nomination(g, p, gfns[i]);
			return 1;
		}
		want += st == GMEM_PAGE_PAGED;
	}
	spin_unlock(&p->lock);
	if (want && !pg)
		return -ENODEV;
	if (want)
		first = ring_claim(pg, want, (mode & 3) == GMEM_LOOKUP_WAIT &&
					     !(mode & GMEM_LOOKUP_NO_WAIT_RING));
	if (first == -EBUSY && (mode & 3) == GMEM_LOOKUP_TRY &&
	    !(mode & GMEM_LOOKUP_NO_WAIT_RING)) {
		defer = true;
		want = 0;
	} else if (first < 0) {
		return (int)first;
	}
	spin_lock(&p->lock);
	if (defer && heap_grow(&g->heap, &pg->deferred, &pg->deferred_cap,
			       pg->ndeferred, pg->ndeferred + n,
			       sizeof(*pg->deferred), 16))
		err = -ENOMEM;
	*absent = 0;
	for (i = 0; !err && i < n; i++) {
		unsigned int st = state_of(p, gfns[i]);
		uint64_t lo = block_of(g, gfns[i]);

		*absent += st != GMEM_PAGE_PRESENT;
		if (st == GMEM_PAGE_PAGING_OUT ||
		    (st == GMEM_PAGE_PAGED && !defer && used == want)) {
			err = 1;
		} else if (st == GMEM_PAGE_PAGED && defer) {
			if (defer_block(pg, lo))
				requested(g, lo, 1);
		} else if (st == GMEM_PAGE_PAGED) {
			err = start_in(g, p, lo);
			if (!err) {
				ring_end(pg, (uint64_t)first + used++, lo,
					 true);
				requested(g, lo, 0);
			}
		}
	}
	/* A sleeper holds every frame of its lookup, present ones too (its
	 * entry born done), so that none is nominated while it sleeps: all
	 * are in together when it wakes. */
	if (!err && *absent &&
	    heap_grow(&g->heap, &pg->waits, &pg->waits_cap, pg->nwaits,
		      pg->nwaits + n, sizeof(*pg->waits), 16))
		err = -ENOMEM;
	for (i = 0; !err && *absent && i < n; i++) {
		unsigned int st = state_of(p, gfns[i]);

		if ((mode & 3) == GMEM_LOOKUP_WAIT) {
			tokens[i] = add_wait(pg, gfns[i], 0, true);
			pg->waits[pg->nwaits - 1].done = st == GMEM_PAGE_PRESENT;
		} else if (st != GMEM_PAGE_PRESENT) {
			lk->gfn = gfns[i];
			lk->state = st;
			/* A caller with no struct to take it gets no token. */
			if (lk->sz)
				lk->token = add_wait(pg, gfns[i], lk->vcpu,
						     false);
			break;
		}
	}
	spin_unlock(&p->lock);
	for (i = used; i < want; i++)
		ring_end(pg, (uint64_t)first + i, 0, false);
	if (used || defer)
		port_signal(pg->pager_fd);
	return err;
}

/* Sleeps until the sleeper entries tokens[] (0: none) are done, and
 * drops them: 0, or the first failed one's status (at lk->gfn). */
static int sleep_for(struct paging *p, uint32_t n, const uint64_t *tokens,
		     struct gmem_lookup *lk)
{
	struct pager *pg = atomic_load(&p->pager);
	int status = 0;

	for (;;) {
		uint32_t seq = atomic_load(&p->done_seq), i, j, left = 0, m = 0;

		spin_lock(&p->lock);
		for (i = 0; i < pg->nwaits; i++)
			for (j = 0; j < n; j++)
				if (tokens[j] && pg->waits[i].sleeper &&
				    pg->waits[i].token == tokens[j])
					left += !pg->waits[i].done;
		if (!left) {
			for (i = 0; i < pg->nwaits; i++) {
				struct page_wait *w = &pg->waits[i];
				bool mine = false;

				for (j = 0; j < n; j++)
					mine |= w->sleeper && tokens[j] == w->token;
				if (!mine) {
					pg->waits[m++] = *w;
				} else if (w->status && !status) {
					status = w->status;
					lk->gfn = w->gfn;
				}
			}
			pg->nwaits = m;
		}
		spin_unlock(&p->lock);
		if (!left)
			return status;
		port_wait(&p->done_seq, seq);
	}
}

static int lookup_slow(struct gmem_guest *g, const uint64_t *gfns,
		       uint32_t n, unsigned int mode, struct gmem_lookup *lk)
{
	uint64_t tokens[GMEM_LOOKUP_MAX] = { 0 };
	struct paging *p = paging_find(g);
	uint32_t i, absent = 0;
	int err;

	for (i = 0; i < n; i++)
		if (page_first_absent(g, gfns[i], gfns[i] + 1) == gfns[i])
			break;
	if (i == n)
		return 0;
	GMEM_PROBE(lookup_miss, g, gfns[i], mode);
	if ((mode & 3) == GMEM_LOOKUP_QUERY) {
		spin_lock(&p->lock);
		lk->gfn = gfns[i];
		lk->state = state_of(p, gfns[i]);
		spin_unlock(&p->lock);
		return -EAGAIN;
	}
	do
		err = lookup_pass(g, p, gfns, n, mode, lk, tokens, &absent);
	while (err == 1);
	if (err)
		return err;
	if (!absent)
		return 0;
	if ((mode & 3) == GMEM_LOOKUP_TRY)
		return -EAGAIN;
	return sleep_for(p, n, tokens, lk);
}

int gmem_page_lookup_frames(struct gmem_guest *g, const uint64_t *gfns,
			    uint32_t n, unsigned int mode,
			    struct gmem_lookup *lk)
{
	struct gmem_lookup none = { .sz = 0 };
	uint32_t i;
	int err = OPTS_VALID(lk, gmem_lookup);

	if (err)
		return err;
	if (!g || !gfns || !n || n > GMEM_LOOKUP_MAX ||
	    (mode & ~(3u | GMEM_LOOKUP_NO_WAIT_RING)) ||
	    (mode & 3) > GMEM_LOOKUP_WAIT)
		return -EINVAL;
	if (!lk || lk->sz < sizeof(*lk))
		lk = &none;	/* none, or an older caller's: nothing out */
	for (i = 0; i < n; i++)
		if (!guest_region(g, gfns[i])) {
			lk->gfn = gfns[i];
			return -ENOENT;
		}
	return lookup_slow(g, gfns, n, mode, lk);
}

/*
 * A present frame: in a slot whole in a region, with no frame out or
 * with gfn's bit clear in the slot's bits of the absent set. No lock,
 * no allocation.
 */
int gmem_page_lookup(struct gmem_guest *g, uint64_t gfn, unsigned int mode,
		     struct gmem_lookup *lk)
{
	/* A struct of another size is checked there, as for any frame. */
	if (!g || !guest_slot_region(g, gfn) || mode > GMEM_LOOKUP_WAIT ||
	    (lk && lk->sz != sizeof(*lk)))
		return gmem_page_lookup_frames(g, &gfn, 1, mode, lk);
	if (page_present_fast(g, gfn))
		return 0;
	return gmem_page_lookup_frames(g, &gfn, 1, mode, lk);
}
