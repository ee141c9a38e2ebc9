/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Conversion transactions and listeners.
 *
 * Two paths lead to the same state change. Without listeners, a one-shot
 * conversion takes the STATE holds of its slots, allocates what the
 * change needs (dropping the holds to do so) and applies it: one atomic
 * operation per slot. With listeners, or when a transaction holds a slot,
 * it runs as a transaction: TXN holds from prepare to commit, so that
 * listener callbacks run with the slots held but queries go on.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "guest.h"
#include "opts.h"

struct gmem_txn {
	struct gmem_guest *g;
	uint64_t gfn, end;
	unsigned int attr;
	bool on_heap;
	struct state_need need[2];	/* first and last slot */
	struct state_reserve res[2];
	struct gmem_run *runs;		/* the runs that change */
	uint32_t nruns, cap;
	/* Most conversions change a run or two: those need no allocation. */
	struct gmem_run inline_runs[4];
};

static uint64_t first_slot(const struct gmem_txn *t)
{
	return t->gfn >> SLOT_SHIFT;
}

static uint64_t last_slot(const struct gmem_txn *t)
{
	return (t->end - 1) >> SLOT_SHIFT;
}

static struct slot *txn_slot(const struct gmem_txn *t, uint64_t si)
{
	return guest_slot(t->g, si << SLOT_SHIFT);
}

/* The checks of a conversion's arguments other than its range's place. */
static int convert_args(const struct gmem_guest *g, uint64_t gfn,
			uint64_t npages, unsigned int attr,
			const struct gmem_convert_opts *opts)
{
	int err = opts_check(opts, sizeof(*opts));

	if (!err && (!g || attr > GMEM_ATTR_SHARED ||
		     OPTS_GET(opts, flags, 0) ||
		     ((gfn | npages) & g->granule_mask)))
		err = -EINVAL;
	return err;
}

static int txn_init(struct gmem_txn *t, struct gmem_guest *g, uint64_t gfn,
		    uint64_t npages, unsigned int attr,
		    struct gmem_convert_opts *opts)
{
	uint64_t fail = gfn;
	int err = convert_args(g, gfn, npages, attr, opts);

	if (!err)
		err = guest_range(g, gfn, npages, &fail);
	if (err) {
		OPTS_SET(opts, fail_gfn, fail);
		return err;
	}
	/* The inline runs need no zeroing: nruns says what is valid. */
	memset(t, 0, offsetof(struct gmem_txn, inline_runs));
	t->g = g;
	t->gfn = gfn;
	t->end = gfn + npages;
	t->attr = attr;
	t->runs = t->inline_runs;
	t->cap = sizeof(t->inline_runs) / sizeof(t->inline_runs[0]);
	return 0;
}

/* Plans the end slots into t->need; whether t->res covers the plan. The
 * caller holds the slots (STATE, or TXN which keeps other writers out). */
static bool txn_plan(struct gmem_txn *t)
{
	uint64_t lo = first_slot(t), hi = last_slot(t);
	bool covered = true;
	unsigned int k;

	for (k = 0; k < 2; k++) {
		uint64_t si = k ? hi : lo;
		uint32_t a, b;

		memset(&t->need[k], 0, sizeof(t->need[k]));
		if (k && hi == lo)
			break;
		slot_span(si, t->gfn, t->end, &a, &b);
		state_plan(txn_slot(t, si), a, b, t->attr, &t->need[k]);
		covered &= state_reserve_covers(&t->res[k], &t->need[k]);
	}
	return covered;
}

/* Allocates what the plan asks for; needs no hold. */
static int txn_reserve(struct gmem_txn *t, uint64_t *fail)
{
	unsigned int k;

	for (k = 0; k < 2; k++)
		if (state_reserve(&t->g->mem, &t->need[k], &t->res[k])) {
			*fail = k ? last_slot(t) << SLOT_SHIFT : t->gfn;
			return -ENOMEM;
		}
	return 0;
}

/* Applies the change; the caller holds every slot against writers. */
static void txn_apply(struct gmem_txn *t, bool take_state,
		      struct retired *retired)
{
	uint64_t lo = first_slot(t), hi = last_slot(t), si;

	for (si = lo; si <= hi; si++) {
		struct slot *s = txn_slot(t, si);
		uint32_t a, b;

		slot_span(si, t->gfn, t->end, &a, &b);
		if (take_state)
			slot_state_lock(&s->lock);
		state_set(s, a, b, t->attr, &t->res[si == lo ? 0 : 1], retired);
		if (take_state)
			slot_state_unlock(&s->lock);
	}
}

static void txn_release(struct gmem_txn *t, struct retired *retired)
{
	if (retired)
		retired_free(&t->g->mem, retired);
	state_unreserve(&t->g->mem, &t->res[0]);
	state_unreserve(&t->g->mem, &t->res[1]);
	if (t->runs != t->inline_runs)
		heap_free(&t->g->heap, t->runs, t->cap * sizeof(*t->runs));
	if (t->on_heap)
		heap_free(&t->g->heap, t, sizeof(*t));
}

static void slots_state_unlock(struct gmem_txn *t, uint64_t lo, uint64_t end)
{
	uint64_t si;

	for (si = lo; si < end; si++)
		slot_state_unlock(&txn_slot(t, si)->lock);
}

/*
 * The one-shot path: 1 if a transaction holds one of the slots (the
 * caller then takes the transaction path), else 0 or -ENOMEM.
 */
static int convert_direct(struct gmem_txn *t, uint64_t *fail)
{
	uint64_t lo = first_slot(t), hi = last_slot(t), si;
	struct retired retired = { 0 };
	int err;

	for (;;) {
		for (si = lo; si <= hi; si++) {
			if (!slot_state_lock_if(&txn_slot(t, si)->lock, true)) {
				slots_state_unlock(t, lo, si);
				txn_release(t, NULL);
				return 1;
			}
		}
		if (txn_plan(t))
			break;
		/* Allocate without holding a spin lock, then look again. */
		slots_state_unlock(t, lo, hi + 1);
		err = txn_reserve(t, fail);
		if (err) {
			txn_release(t, NULL);
			return err;
		}
	}
	txn_apply(t, false, &retired);
	slots_state_unlock(t, lo, hi + 1);
	txn_release(t, &retired);
	return 0;
}

static void slots_txn(struct gmem_txn *t, bool lock)
{
	uint64_t lo = first_slot(t), hi = last_slot(t), si;

	for (si = lo; si <= hi; si++) {
		if (lock)
			slot_txn_lock(&txn_slot(t, si)->lock);
		else
			slot_txn_unlock(&txn_slot(t, si)->lock);
	}
}

/* The maximal runs the conversion changes, for the listeners. */
static int collect_runs(struct gmem_txn *t, uint64_t *fail)
{
	uint64_t at = t->gfn;

	while (at < t->end) {
		struct gmem_run run;

		guest_run(t->g, at, t->end - at, false, &run);
		at += run.npages;
		if (run.attr == t->attr)
			continue;
		if (t->nruns == t->cap) {
			uint32_t cap = t->cap * 2;
			struct gmem_run *runs = heap_alloc(
				&t->g->heap, cap * sizeof(*runs), 8);

			if (!runs) {
				*fail = run.gfn;
				return -ENOMEM;
			}
			memcpy(runs, t->runs, t->nruns * sizeof(*runs));
			if (t->runs != t->inline_runs)
				heap_free(&t->g->heap, t->runs,
					  t->cap * sizeof(*runs));
			t->runs = runs;
			t->cap = cap;
		}
		run.attr = t->attr;
		t->runs[t->nruns++] = run;
	}
	return 0;
}

/* CANCEL, in reverse, for runs 0..nrun-1 of listener nl and all runs of
 * the listeners before it. */
static void notify_cancel(struct gmem_txn *t, uint32_t nl, uint32_t nrun)
{
	for (;;) {
		struct gmem_listener *l = t->g->listeners[nl];

		while (nrun)
			l->fn(l->ctx, GMEM_PHASE_CANCEL, &t->runs[--nrun]);
		if (!nl--)
			return;
		nrun = t->nruns;
	}
}

static int notify_prepare(struct gmem_txn *t, uint64_t *fail)
{
	uint32_t nl, i;

	for (nl = 0; nl < t->g->nlisteners; nl++) {
		struct gmem_listener *l = t->g->listeners[nl];

		for (i = 0; i < t->nruns; i++) {
			int err = l->fn(l->ctx, GMEM_PHASE_PREPARE, &t->runs[i]);

			if (err < 0) {
				notify_cancel(t, nl, i);
				*fail = t->runs[i].gfn;
				return err;
			}
		}
	}
	return 0;
}

static int txn_prepare(struct gmem_txn *t, uint64_t *fail)
{
	int err;

	slots_txn(t, true);
	txn_plan(t);
	err = txn_reserve(t, fail);
	if (!err && t->g->nlisteners)
		err = collect_runs(t, fail);
	if (!err)
		err = notify_prepare(t, fail);
	if (err) {
		slots_txn(t, false);
		txn_release(t, NULL);
	}
	return err;
}

static void txn_commit(struct gmem_txn *t)
{
	struct retired retired = { 0 };
	uint32_t nl, i;

	txn_apply(t, true, &retired);
	for (nl = 0; nl < t->g->nlisteners; nl++)
		for (i = 0; i < t->nruns; i++)
			t->g->listeners[nl]->fn(t->g->listeners[nl]->ctx,
						GMEM_PHASE_COMMIT, &t->runs[i]);
	slots_txn(t, false);
	txn_release(t, &retired);
}

static __attribute__((noinline)) int
convert_general(struct gmem_guest *g, uint64_t gfn,
			   uint64_t npages, unsigned int attr,
			   struct gmem_convert_opts *opts)
{
	uint64_t fail = gfn;
	struct gmem_txn t;
	int err = txn_init(&t, g, gfn, npages, attr, opts);

	if (err)
		return err;
	err = g->nlisteners ? 1 : convert_direct(&t, &fail);
	if (err == 1) {
		/* convert_direct may have left t half used: start afresh. */
		if (!g->nlisteners)
			err = txn_init(&t, g, gfn, npages, attr, opts);
		else
			err = 0;
		if (!err)
			err = txn_prepare(&t, &fail);
		if (!err)
			txn_commit(&t);
	}
	if (err)
		OPTS_SET(opts, fail_gfn, fail);
	return err;
}

/* The rest of a conversion that state_set_quick began (q) under the
 * STATE hold of s. */
static __attribute__((noinline)) int
convert_finish(struct gmem_guest *g, struct slot *s, uint64_t gfn,
	       uint64_t npages, unsigned int attr, enum state_quick q)
{
	struct retired retired = { 0 };
	bool done = state_finish(s, slot_off(gfn),
				 slot_off(gfn) + (uint32_t)npages, attr, q,
				 &retired);

	slot_state_unlock(&s->lock);
	retired_free(&g->mem, &retired);
	return done ? 0 : convert_general(g, gfn, npages, attr, NULL);
}

/*
 * The common case runs here, with no transaction to set up and no call:
 * a range in one slot of one region, no listeners, and a change that
 * needs no new memory, planned and applied under one STATE hold.
 */
int gmem_convert(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		 unsigned int attr, struct gmem_convert_opts *opts)
{
	enum state_quick q;
	struct slot *s;

	if (convert_args(g, gfn, npages, attr, opts) || g->nlisteners)
		return convert_general(g, gfn, npages, attr, opts);
	s = guest_slot_whole(g, gfn, npages);
	if (!s || !slot_state_lock_if(&s->lock, true))
		return convert_general(g, gfn, npages, attr, opts);
	q = state_set_quick(s, slot_off(gfn), slot_off(gfn) + (uint32_t)npages,
			    attr);
	if (q != STATE_QUICK_DONE)
		return convert_finish(g, s, gfn, npages, attr, q);
	slot_state_unlock(&s->lock);
	return 0;
}

int gmem_convert_prepare(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
			 unsigned int attr, struct gmem_convert_opts *opts,
			 struct gmem_txn **txn)
{
	uint64_t fail = gfn;
	struct gmem_txn *t = NULL;
	int err;

	if (!txn)
		return -EINVAL;
	if (g) {
		t = heap_alloc(&g->heap, sizeof(*t), 8);
		if (!t) {
			OPTS_SET(opts, fail_gfn, gfn);
			return -ENOMEM;
		}
	}
	err = txn_init(t, g, gfn, npages, attr, opts);
	if (err) {
		if (g)
			heap_free(&g->heap, t, sizeof(*t));
		return err;
	}
	t->on_heap = true;
	err = txn_prepare(t, &fail);
	if (err) {
		OPTS_SET(opts, fail_gfn, fail);
		return err;
	}
	*txn = t;
	return 0;
}

int gmem_convert_commit(struct gmem_txn *t)
{
	if (!t)
		return -EINVAL;
	txn_commit(t);
	return 0;
}

int gmem_convert_abort(struct gmem_txn *t)
{
	if (!t)
		return -EINVAL;
	if (t->g->nlisteners)
		notify_cancel(t, t->g->nlisteners - 1, t->nruns);
	slots_txn(t, false);
	txn_release(t, NULL);
	return 0;
}

int gmem_listener_add(struct gmem_guest *g, gmem_listener_fn fn, void *ctx,
		      const struct gmem_listener_opts *opts,
		      struct gmem_listener **out)
{
	int err = opts_check(opts, sizeof(*opts));
	unsigned int flags = OPTS_GET(opts, flags, 0);

	if (err)
		return err;
	if (!g || !fn || !out || (flags & ~GMEM_LISTENER_REPLAY))
		return -EINVAL;
	return listener_add(g, fn, ctx, flags, false, out);
}

int listener_add(struct gmem_guest *g, gmem_listener_fn fn, void *ctx,
		 unsigned int flags, bool last, struct gmem_listener **out)
{
	struct gmem_listener *l;
	uint32_t i, pos;

	l = heap_alloc(&g->heap, sizeof(*l), 8);
	if (!l)
		return -ENOMEM;
	if (g->nlisteners == g->listeners_cap) {
		uint32_t cap = g->listeners_cap ? g->listeners_cap * 2 : 4;
		struct gmem_listener **ls =
			heap_alloc(&g->heap, cap * sizeof(*ls), 8);

		if (!ls) {
			heap_free(&g->heap, l, sizeof(*l));
			return -ENOMEM;
		}
		memcpy(ls, g->listeners, g->nlisteners * sizeof(*ls));
		heap_free(&g->heap, g->listeners,
			  g->listeners_cap * sizeof(*ls));
		g->listeners = ls;
		g->listeners_cap = cap;
	}
	l->guest = g;
	l->fn = fn;
	l->ctx = ctx;
	l->last = last;
	for (i = 0; (flags & GMEM_LISTENER_REPLAY) && i < g->nregions; i++) {
		const struct region *r = g->regions[i];
		uint64_t at = r->gfn;

		while (at < r->end) {
			struct gmem_run run;

			guest_run(g, at, r->end - at, true, &run);
			at += run.npages;
			run.flags = GMEM_RUN_REPLAY;
			if (run.attr == GMEM_ATTR_SHARED)
				fn(ctx, GMEM_PHASE_COMMIT, &run);
		}
	}
	for (pos = g->nlisteners;
	     !last && pos && g->listeners[pos - 1]->last; pos--)
		;
	memmove(&g->listeners[pos + 1], &g->listeners[pos],
		(g->nlisteners - pos) * sizeof(*g->listeners));
	g->listeners[pos] = l;
	g->nlisteners++;
	*out = l;
	return 0;
}

int gmem_listener_remove(struct gmem_listener *l)
{
	struct gmem_guest *g;
	uint32_t i;

	if (!l)
		return -EINVAL;
	g = l->guest;
	for (i = 0; i < g->nlisteners && g->listeners[i] != l; i++)
		;
	if (i == g->nlisteners)
		return -ENOENT;
	memmove(&g->listeners[i], &g->listeners[i + 1],
		(g->nlisteners - i - 1) * sizeof(*g->listeners));
	g->nlisteners--;
	heap_free(&g->heap, l, sizeof(*l));
	return 0;
}
