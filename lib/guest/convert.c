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
#include <string.h>

#include "core/opts.h"
#include "core/probe.h"
#include "guest.h"

/*
 * A slot at an end of the range: the only slots a change may need memory
 * for, since those between are set whole.
 */
struct txn_end {
	struct slot *s;
	uint32_t a, b;			/* the range's frames in s */
	struct state_need need;
	struct state_reserve res;
};

struct gmem_txn {
	struct gmem_guest *g;
	uint64_t gfn, end;
	struct slot_entry *slots;	/* the range's slots, in order */
	uint32_t nslots, nends;		/* nends: 1 or 2 */
	unsigned int attr;
	unsigned int run_flags;		/* GMEM_RUN_PRESERVE, or 0 */
	bool on_heap;
	struct txn_end ends[2];		/* first and last slot */
	struct gmem_run *runs;		/* the runs that change */
	uint32_t nruns, cap;
	/* Most conversions change a run or two: those need no allocation. */
	struct gmem_run inline_runs[4];
};

/* The checks of a conversion's arguments other than its range's place. */
static int convert_args(const struct gmem_guest *g, uint64_t gfn,
			uint64_t npages, unsigned int attr,
			const struct gmem_convert_opts *opts)
{
	int err = OPTS_VALID(opts, gmem_convert_opts);

	if (!err && (!g || attr > GMEM_ATTR_SHARED ||
		     (OPTS_GET(opts, flags, 0) & ~GMEM_CONVERT_PRESERVE) ||
		     OPTS_GET(opts, reserved, 0) ||
		     ((gfn | npages) & g->granule_mask)))
		err = -EINVAL;
	return err;
}

static int txn_init(struct gmem_txn *t, struct gmem_guest *g, uint64_t gfn,
		    uint64_t npages, unsigned int attr,
		    struct gmem_convert_opts *opts)
{
	uint64_t fail = gfn, lo = gfn >> SLOT_SHIFT, hi;
	int err = convert_args(g, gfn, npages, attr, opts);
	unsigned int k;

	if (!err)
		err = guest_range(g, gfn, npages, &fail);
	if (err) {
		OPTS_SET(opts, fail_gfn, fail);
		return err;
	}
	hi = (gfn + npages - 1) >> SLOT_SHIFT;
	t->g = g;
	t->gfn = gfn;
	t->end = gfn + npages;
	/* One region holds the range, so its slots lie side by side. */
	t->slots = guest_entry(g, gfn);
	t->nslots = (uint32_t)(hi - lo + 1);
	t->nends = lo == hi ? 1 : 2;
	t->attr = attr;
	t->run_flags = OPTS_GET(opts, flags, 0) & GMEM_CONVERT_PRESERVE
			       ? GMEM_RUN_PRESERVE : 0;
	t->on_heap = false;
	for (k = 0; k < t->nends; k++) {
		struct txn_end *e = &t->ends[k];

		e->s = &t->slots[k ? t->nslots - 1 : 0].st;
		slot_span(k ? hi : lo, gfn, t->end, &e->a, &e->b);
		memset(&e->res, 0, sizeof(e->res));
	}
	t->runs = t->inline_runs;
	t->nruns = 0;
	t->cap = sizeof(t->inline_runs) / sizeof(t->inline_runs[0]);
	return 0;
}

/* Plans the end slots; whether what they hold covers the plan. The
 * caller holds the slots (STATE, or TXN which keeps other writers out). */
static bool txn_plan(struct gmem_txn *t)
{
	bool covered = true;
	unsigned int k;

	for (k = 0; k < t->nends; k++) {
		struct txn_end *e = &t->ends[k];

		state_plan(e->s, e->a, e->b, t->attr, &e->need);
		covered &= state_reserve_covers(&e->res, &e->need);
	}
	return covered;
}

/* Allocates what the plan asks for; needs no hold. */
static int txn_reserve(struct gmem_txn *t, uint64_t *fail)
{
	unsigned int k;

	for (k = 0; k < t->nends; k++)
		if (state_reserve(&t->g->mem, &t->ends[k].need,
				  &t->ends[k].res)) {
			*fail = k ? (t->end - 1) & ~(uint64_t)(SLOT_FRAMES - 1)
				  : t->gfn;
			return -ENOMEM;
		}
	return 0;
}

/* Applies the change; the caller holds every slot against writers. */
static void txn_apply(struct gmem_txn *t, bool take_state,
		      struct retired *retired)
{
	uint32_t i;

	for (i = 0; i < t->nslots; i++) {
		struct slot *s = &t->slots[i].st;
		struct txn_end *e = i == 0 ? &t->ends[0]
			: i == t->nslots - 1 ? &t->ends[1] : NULL;

		if (take_state)
			slot_state_lock(&s->lock);
		if (e)
			state_set(s, e->a, e->b, t->attr, &e->res, retired);
		else
			state_set(s, 0, SLOT_FRAMES, t->attr, NULL, retired);
		slot_counted(s, e ? e->b - e->a : SLOT_FRAMES, i == 0);
		if (take_state)
			slot_state_unlock(&s->lock);
	}
}

static void txn_release(struct gmem_txn *t, struct retired *retired)
{
	unsigned int k;

	if (retired)
		retired_free(&t->g->mem, retired);
	for (k = 0; k < t->nends; k++)
		state_unreserve(&t->g->mem, &t->ends[k].res);
	if (t->runs != t->inline_runs)
		heap_free(&t->g->heap, t->runs, t->cap * sizeof(*t->runs));
	if (t->on_heap)
		heap_free(&t->g->heap, t, sizeof(*t));
}

/* A conversion of valid arguments failed (convert_general says how). */
static void refused(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    unsigned int attr, int err, uint64_t fail)
{
	GMEM_PROBE(refuse, g, gfn, npages, attr, err, fail);
	guest_count(&g->counts.refusals, 1);
}

static void slots_state_unlock(struct gmem_txn *t, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		slot_state_unlock(&t->slots[i].st.lock);
}

/*
 * The one-shot path: 1 if a transaction holds one of the slots or one
 * has frames pinned or not present (EXC: the caller then takes the
 * transaction path, which checks them), else 0 or -ENOMEM.
 */
static int convert_direct(struct gmem_txn *t, uint64_t *fail)
{
	struct retired retired = { 0 };
	uint32_t i;
	int err;

	for (;;) {
		for (i = 0; i < t->nslots; i++) {
			if (!slot_state_lock_if(&t->slots[i].st.lock, true)) {
				slots_state_unlock(t, i);
				txn_release(t, NULL);
				return 1;
			}
		}
		if (txn_plan(t))
			break;
		/* Allocate without holding a spin lock, then look again. */
		slots_state_unlock(t, t->nslots);
		err = txn_reserve(t, fail);
		if (err) {
			txn_release(t, NULL);
			return err;
		}
	}
	txn_apply(t, false, &retired);
	slots_state_unlock(t, t->nslots);
	txn_release(t, &retired);
	return 0;
}

static void slots_txn(struct gmem_txn *t, bool lock)
{
	uint32_t i;

	for (i = 0; i < t->nslots; i++) {
		if (lock)
			slot_txn_lock(&t->slots[i].st.lock);
		else
			slot_txn_unlock(&t->slots[i].st.lock);
	}
}

/* The maximal runs the conversion changes, for the listeners. */
static int collect_runs(struct gmem_txn *t, uint64_t *fail)
{
	uint64_t at = t->gfn;

	/* A range of one attribute in one slot is one run, or none. */
	if (t->nslots == 1) {
		unsigned int v = state_range(&t->slots[0].st, t->ends[0].a,
					     t->ends[0].b);

		if (v == t->attr)
			return 0;
		if (v != GMEM_ATTR_MIXED) {
			t->runs[t->nruns++] = (struct gmem_run){
				.gfn = t->gfn, .npages = t->end - t->gfn,
				.attr = t->attr, .flags = t->run_flags,
			};
			return 0;
		}
	}

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
		run.flags = t->run_flags;
		t->runs[t->nruns++] = run;
	}
	return 0;
}

/* The first frame a feature keeps from converting (pinned: -EBUSY; not
 * present: -EAGAIN); the TXN holds keep them as they are. */
static int txn_blocked(const struct gmem_txn *t, uint64_t *fail)
{
	int err;
	uint64_t f = guest_blocked(t->g, t->gfn, t->end, &err);

	if (f < t->end)
		*fail = f;
	return err;
}

static bool txn_heard(const struct gmem_txn *t)
{
	return bus_heard(&t->g->bus, BUS_CONVERT);
}

static int txn_prepare(struct gmem_txn *t, uint64_t *fail)
{
	int err;

	slots_txn(t, true);
	err = txn_blocked(t, fail);
	if (!err) {
		txn_plan(t);
		err = txn_reserve(t, fail);
	}
	if (!err && txn_heard(t))
		err = collect_runs(t, fail);
	if (!err)
		err = bus_prepare(&t->g->bus, BUS_CONVERT, t->runs, t->nruns,
				  fail);
	if (err) {
		slots_txn(t, false);
		txn_release(t, NULL);
	}
	return err;
}

static void txn_commit(struct gmem_txn *t)
{
	struct retired retired = { 0 };

	bus_seal(&t->g->bus, BUS_CONVERT, t->runs, t->nruns);
	txn_apply(t, true, &retired);
	bus_commit(&t->g->bus, BUS_CONVERT, t->runs, t->nruns);
	slots_txn(t, false);
	txn_release(t, &retired);
}

/*
 * Every conversion but the quick one ends here. A refusal is a failure
 * of valid arguments: a listener's, a feature's (pinned, paged out), or
 * no memory for the change.
 */
static __attribute__((noinline)) int
convert_general(struct gmem_guest *g, uint64_t gfn,
			   uint64_t npages, unsigned int attr,
			   struct gmem_convert_opts *opts)
{
	uint64_t fail = gfn;
	struct gmem_txn t;
	int err = txn_init(&t, g, gfn, npages, attr, opts);

	if (err) {
		GMEM_PROBE(convert, g, gfn, npages, attr, err);
		return err;
	}
	err = txn_heard(&t) ? 1 : convert_direct(&t, &fail);
	if (err == 1) {
		/* convert_direct may have left t half used: start afresh. */
		if (!txn_heard(&t))
			err = txn_init(&t, g, gfn, npages, attr, opts);
		else
			err = 0;
		if (!err)
			err = txn_prepare(&t, &fail);
		if (!err)
			txn_commit(&t);
	}
	if (err) {
		refused(g, gfn, npages, attr, err, fail);
		OPTS_SET(opts, fail_gfn, fail);
	}
	GMEM_PROBE(convert, g, gfn, npages, attr, err);
	return err;
}

int convert_counted(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		    unsigned int attr, struct gmem_convert_opts *opts,
		    uint64_t *changed)
{
	uint64_t fail = gfn;
	struct gmem_txn t;
	int err = txn_init(&t, g, gfn, npages, attr, opts);

	if (!err) {
		err = txn_prepare(&t, &fail);
		if (err) {
			refused(g, gfn, npages, attr, err, fail);
			OPTS_SET(opts, fail_gfn, fail);
		}
	}
	if (!err) {
		*changed = 0;
		for (uint32_t i = 0; i < t.nruns; i++)
			*changed += t.runs[i].npages;
		txn_commit(&t);
	}
	GMEM_PROBE(convert, g, gfn, npages, attr, err);
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

	if (done)
		slot_counted(s, npages, true);
	slot_state_unlock(&s->lock);
	retired_free(&g->mem, &retired);
	if (!done)
		return convert_general(g, gfn, npages, attr, NULL);
	GMEM_PROBE(convert, g, gfn, npages, attr, 0);
	return 0;
}

/* The one run a conversion of [gfn, gfn + npages) changes, whole. */
static struct gmem_run run_of(uint64_t gfn, uint64_t npages,
			      unsigned int attr,
			      const struct gmem_convert_opts *opts)
{
	return (struct gmem_run){
		.gfn = gfn, .npages = npages, .attr = attr,
		.flags = OPTS_GET(opts, flags, 0) & GMEM_CONVERT_PRESERVE
				 ? GMEM_RUN_PRESERVE : 0 };
}

/* The attribute of [a, b); where the range lies in one map word, *sw is
 * that word, else sw->w is NULL. This and the next are inlined in both
 * the told and the quick transaction paths (a call costs them 10%). */
static inline __attribute__((always_inline)) unsigned int
range_word(const struct slot *s, uint32_t a, uint32_t b, struct state_word *sw)
{
	unsigned int v = state_range_mapped(s, a, b, sw);

	if (v != STATE_ASK)
		return v;
	sw->w = NULL;
	return state_range(s, a, b);
}

/* Sets [a, b) to attr as the one-shot path does, in the word range_word
 * found if it found one. */
static inline __attribute__((always_inline)) enum state_quick
set_word_or_quick(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
		  const struct state_word *sw)
{
	return sw->w ? state_set_word(sw, attr) : state_set_quick(s, a, b, attr);
}

/* range_word's answer, or GMEM_ATTR_MIXED where changing [a, b) to attr
 * needs memory: a quick transaction makes no change it must plan. */
static unsigned int quick_range(const struct slot *s, uint32_t a, uint32_t b,
				unsigned int attr, struct state_word *sw)
{
	struct state_need need;
	unsigned int v = range_word(s, a, b, sw);

	if (v == attr || v == GMEM_ATTR_MIXED || sw->w)
		return v;
	state_plan(s, a, b, attr, &need);
	return state_need_none(&need) ? v : GMEM_ATTR_MIXED;
}

/*
 * A conversion that subscribers hear, inside one slot and changing one
 * run (the range was of one attribute) with no new memory: what the
 * transaction path does, TXN held from PREPARE to COMMIT, without its
 * general setup. 1 (nothing done) when the general path must take it:
 * the slot held or marked EXC, a mixed range, memory to allocate.
 */
static int convert_heard(struct gmem_guest *g, struct slot *s, uint64_t gfn,
			 uint64_t npages, unsigned int attr,
			 struct gmem_convert_opts *opts)
{
	uint32_t a = slot_off(gfn), b = a + (uint32_t)npages;
	struct retired retired = { 0 };
	struct state_word sw;
	struct gmem_run run;
	uint64_t fail = gfn;
	enum state_quick q;
	unsigned int v;
	int err;

	if (!slot_txn_trylock(&s->lock))
		return 1;
	/* The TXN holder reads the state without STATE. */
	v = quick_range(s, a, b, attr, &sw);
	if (v == attr) {
		slot_counted(s, npages, true);
		slot_txn_unlock(&s->lock);
		return 0;
	}
	if (v == GMEM_ATTR_MIXED) {
		slot_txn_unlock(&s->lock);
		return 1;
	}
	run = run_of(gfn, npages, attr, opts);
	err = bus_prepare(&g->bus, BUS_CONVERT, &run, 1, &fail);
	if (err) {
		slot_txn_unlock(&s->lock);
		refused(g, gfn, npages, attr, err, fail);
		OPTS_SET(opts, fail_gfn, fail);
		return err;
	}
	bus_seal(&g->bus, BUS_CONVERT, &run, 1);
	slot_state_lock(&s->lock);
	/* The word found, or the one-shot path's setter, inline. The plan
	 * found no memory needed and the TXN hold kept the state as
	 * planned, so what they leave, state_finish completes without
	 * failing. */
	q = set_word_or_quick(s, a, b, attr, &sw);
	if (q != STATE_QUICK_DONE)
		state_finish(s, a, b, attr, q, &retired);
	slot_counted(s, npages, true);
	slot_state_unlock(&s->lock);
	bus_commit(&g->bus, BUS_CONVERT, &run, 1);
	slot_txn_unlock(&s->lock);
	retired_free(&g->mem, &retired);
	return 0;
}

/*
 * A conversion inside one slot that only AFTER subscribers hear (bus.h):
 * made as on the one-shot path, and told once the slot is released if
 * it changed anything. 1 (nothing done) when the general path must take
 * it: the slot held by a transaction or marked EXC, a mixed range,
 * memory to allocate.
 */
static int convert_told(struct gmem_guest *g, struct slot *s, uint64_t gfn,
			uint64_t npages, unsigned int attr,
			struct gmem_convert_opts *opts)
{
	uint32_t a = slot_off(gfn), b = a + (uint32_t)npages;
	struct retired retired = { 0 };
	struct state_word sw;
	struct gmem_run run;
	enum state_quick q;
	unsigned int v;

	if (!slot_state_lock_if(&s->lock, true))
		return 1;
	v = range_word(s, a, b, &sw);
	if (v != attr && v != GMEM_ATTR_MIXED) {
		q = set_word_or_quick(s, a, b, attr, &sw);
		if (q != STATE_QUICK_DONE &&
		    !state_finish(s, a, b, attr, q, &retired))
			v = GMEM_ATTR_MIXED;	/* needs memory */
	}
	if (v == GMEM_ATTR_MIXED) {
		slot_state_unlock(&s->lock);
		return 1;
	}
	slot_counted(s, npages, true);
	slot_state_unlock(&s->lock);
	retired_free(&g->mem, &retired);
	if (v == attr)
		return 0;
	run = run_of(gfn, npages, attr, opts);
	bus_tell_run(&g->bus, BUS_CONVERT, &run);
	return 0;
}

static __attribute__((noinline)) int
convert_heard_path(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		   unsigned int attr, struct gmem_convert_opts *opts)
{
	struct slot *s = guest_slot_whole(g, gfn, npages);
	int err = !s ? 1
		  : bus_heard_phased(&g->bus, BUS_CONVERT)
			  ? convert_heard(g, s, gfn, npages, attr, opts)
			  : convert_told(g, s, gfn, npages, attr, opts);

	if (err == 1)
		return convert_general(g, gfn, npages, attr, opts);
	GMEM_PROBE(convert, g, gfn, npages, attr, err);
	return err;
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

	/* No arguments: the quick path keeps its own in their registers. */
	GMEM_PROBE(convert_begin);
	if (convert_args(g, gfn, npages, attr, opts))
		return convert_general(g, gfn, npages, attr, opts);
	if (bus_heard(&g->bus, BUS_CONVERT))
		return convert_heard_path(g, gfn, npages, attr, opts);
	s = guest_slot_whole(g, gfn, npages);
	if (!s || !slot_state_lock_if(&s->lock, true))
		return convert_general(g, gfn, npages, attr, opts);
	q = state_set_quick(s, slot_off(gfn), slot_off(gfn) + (uint32_t)npages,
			    attr);
	if (q != STATE_QUICK_DONE)
		return convert_finish(g, s, gfn, npages, attr, q);
	slot_counted(s, npages, true);
	slot_state_unlock(&s->lock);
	GMEM_PROBE(convert, g, gfn, npages, attr, 0);
	return 0;
}

int gmem_convert_prepare(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
			 unsigned int attr, struct gmem_convert_opts *opts,
			 struct gmem_txn **txn)
{
	uint64_t fail = gfn;
	struct gmem_txn *t = NULL;
	int err = 0;

	if (!txn)
		return -EINVAL;
	GMEM_PROBE(convert_begin);
	if (g) {
		t = heap_alloc(&g->heap, sizeof(*t), 8);
		if (!t) {
			OPTS_SET(opts, fail_gfn, gfn);
			err = -ENOMEM;
		}
	}
	if (!err) {
		err = txn_init(t, g, gfn, npages, attr, opts);
		if (err && g)
			heap_free(&g->heap, t, sizeof(*t));
	}
	if (!err) {
		t->on_heap = true;
		err = txn_prepare(t, &fail);
		if (err) {
			refused(g, gfn, npages, attr, err, fail);
			OPTS_SET(opts, fail_gfn, fail);
		}
	}
	GMEM_PROBE(prepare, err ? NULL : t, g, gfn, npages, attr, err,
		   err ? 0 : t->nruns);
	if (!err)
		*txn = t;
	return err;
}

int gmem_convert_commit(struct gmem_txn *t)
{
	if (!t)
		return -EINVAL;
	GMEM_PROBE(commit, t, t->g, t->gfn, t->end - t->gfn, t->attr,
		   t->nruns);
	txn_commit(t);
	return 0;
}

int gmem_convert_abort(struct gmem_txn *t)
{
	if (!t)
		return -EINVAL;
	GMEM_PROBE(abort, t, t->g, t->gfn, t->end - t->gfn, t->attr,
		   t->nruns);
	bus_cancel(&t->g->bus, BUS_CONVERT, t->runs, t->nruns);
	slots_txn(t, false);
	txn_release(t, NULL);
	return 0;
}
