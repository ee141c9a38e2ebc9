/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's event bus: every change of guest memory is published here,
 * and every part that follows changes (the embedder's listeners, the
 * notifiers, the range listeners, the builders, the VMM's view,
 * paging) subscribes once, for the kinds of change it needs.
 *
 * A change that may be refused is published in phases:
 *
 *  PREPARE  before the change, to the subscribers in order: first the
 *           NORMAL class in subscription order, then the LAST class. A
 *           subscriber may refuse (a negative errno); those that had
 *           consented then hear CANCEL for the same runs, newest first.
 *           A LAST subscriber acts in PREPARE (it is the VMM's view: what
 *           it does must be done before the change and undone on CANCEL)
 *           and hears no COMMIT unless it asks (committed).
 *  SEALED   once nothing can refuse the change any more, just before it
 *           is made, to the subscribers that asked for it: what they do
 *           cannot fail and is never undone.
 *  COMMIT   after the change, to the NORMAL class and the LAST
 *           subscribers that asked for it.
 *
 * A change that cannot be refused is told: every subscriber of the kind
 * hears one COMMIT.
 *
 * An AFTER subscriber hears only COMMIT and never refuses. A conversion
 * inside one slot that only such subscribers hear needs no transaction:
 * it is made on the one-shot path and told once the slot is released,
 * so the COMMITs of concurrent conversions of the same frames reach it
 * in no set order (right for invalidations, which look again).
 *
 * Subscribing, unsubscribing and changing kinds are exclusive with
 * every publication that the subscriber may hear (the same rule as for
 * gmem_listener_add): publications read the list without a lock.
 */
#ifndef GMEM_LIB_BUS_H
#define GMEM_LIB_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem/convert.h>

#include "core/heap.h"

/* Kinds of change, as bits of a subscriber's mask. The range of each
 * is the event's run (gfn, npages); a conversion's run also says the
 * attribute the frames take and its GMEM_RUN_* flags. */
enum bus_kind {
	BUS_CONVERT = 1u << 0,		/* phased: a run changes attribute */
	BUS_REGION_ADD = 1u << 1,	/* phased: the range becomes memory */
	BUS_REGION_REMOVE = 1u << 2,	/* phased: the range goes */
	BUS_UNPIN = 1u << 3,		/* told: pins taken off the range */
	BUS_PAGE_OUT = 1u << 4,		/* phased: the range leaves every
					 * view (nominated) */
	BUS_PAGE_EVICT = 1u << 5,	/* phased: its memory is given back */
	BUS_PAGE_IN = 1u << 6,		/* phased: the range comes back in
					 * every view (the VMM's view maps
					 * it in PREPARE, before it is
					 * present) */
	BUS_WRPROTECT = 1u << 7,	/* told: a builder took write access
					 * from a leaf over the range */
};

/* Phases beyond enum gmem_phase's PREPARE, CANCEL and COMMIT. */
#define BUS_PHASE_SEALED 3

/* Ordering classes. */
enum bus_order {
	BUS_ORDER_NORMAL = 0,	/* in subscription order */
	BUS_ORDER_LAST = 1,	/* after every NORMAL one (the VMM's view) */
};

struct bus_event {
	uint32_t kind;			/* one BUS_* */
	uint32_t phase;			/* GMEM_PHASE_* or BUS_PHASE_SEALED */
	const struct gmem_run *run;
};

typedef int (*bus_fn)(void *ctx, const struct bus_event *ev);

/* Embedded in its owner, which fills it before subscribing. */
struct bus_sub {
	bus_fn fn;
	void *ctx;
	uint32_t kinds;			/* BUS_* it hears */
	uint8_t order;			/* BUS_ORDER_* */
	bool sealed;			/* also hears BUS_PHASE_SEALED */
	bool committed;			/* LAST: also hears COMMIT */
	bool after;			/* hears COMMIT only, maybe late */
};

struct bus {
	struct bus_sub **v;		/* by class, then subscription */
	uint32_t n, cap;
	uint32_t kinds;			/* heard by some subscriber */
	uint32_t phased;		/* heard by one that is not AFTER */
	uint32_t sealed;		/* heard SEALED by some subscriber */
};

/* Whether any subscriber hears kind: one load, for the one-shot
 * conversion path. */
static inline bool bus_heard(const struct bus *b, enum bus_kind kind)
{
	return (b->kinds & kind) != 0;
}

/* Whether a subscriber that is not AFTER hears kind: a conversion needs
 * a transaction. */
static inline bool bus_heard_phased(const struct bus *b, enum bus_kind kind)
{
	return (b->phased & kind) != 0;
}

/* s at the end of its class; 0 or -ENOMEM. */
int bus_subscribe(struct bus *b, struct heap *h, struct bus_sub *s);
void bus_unsubscribe(struct bus *b, struct bus_sub *s);
/* s hears kinds from now on; a subscriber that hears more moves to the
 * end of its class, as if it subscribed now. */
void bus_hear(struct bus *b, struct bus_sub *s, uint32_t kinds);
void bus_release(struct bus *b, struct heap *h);

static inline int bus_call(const struct bus_sub *s, uint32_t kind,
			   uint32_t phase, const struct gmem_run *run)
{
	struct bus_event ev = { kind, phase, run };

	return s->fn(s->ctx, &ev);
}

/* CANCEL to runs 0..nrun-1 of subscriber i and every run of those
 * before it, newest first. */
void bus_cancel_from(const struct bus *b, uint32_t kind,
		     const struct gmem_run *runs, uint32_t n, uint32_t i,
		     uint32_t nrun);

/* PREPARE for runs 0..n-1 of kind; on a refusal, CANCEL to those that
 * consented, *fail the run's first frame, and the error. Inline: a
 * quick transaction's one run costs no loop setup. */
static inline int bus_prepare(const struct bus *b, uint32_t kind,
			      const struct gmem_run *runs, uint32_t n,
			      uint64_t *fail)
{
	uint32_t i, r;

	for (i = 0; i < b->n; i++) {
		const struct bus_sub *s = b->v[i];

		for (r = 0; (s->kinds & kind) && r < n; r++) {
			int err = bus_call(s, kind, GMEM_PHASE_PREPARE,
					   &runs[r]);

			if (err < 0) {
				bus_cancel_from(b, kind, runs, n, i, r);
				*fail = runs[r].gfn;
				return err;
			}
		}
	}
	return 0;
}
/* CANCEL of a prepared change, newest first. */
void bus_cancel(const struct bus *b, uint32_t kind,
		const struct gmem_run *runs, uint32_t n);
/* SEALED: the prepared change is about to be made. */
void bus_seal(const struct bus *b, uint32_t kind,
	      const struct gmem_run *runs, uint32_t n);
/* COMMIT: the prepared change was made. */
void bus_commit(const struct bus *b, uint32_t kind,
		const struct gmem_run *runs, uint32_t n);

/* A change of [lo, hi) in one run: bus_prepare, and once made
 * bus_commit. */
int bus_ask(const struct bus *b, uint32_t kind, uint64_t lo, uint64_t hi,
	    uint64_t *fail);
void bus_done(const struct bus *b, uint32_t kind, uint64_t lo, uint64_t hi);
/* A change that cannot be refused: COMMIT to every subscriber of kind. */
void bus_tell(const struct bus *b, uint32_t kind, uint64_t lo, uint64_t hi);
/* The same for a run (a conversion's, with its attribute). */
void bus_tell_run(const struct bus *b, uint32_t kind,
		  const struct gmem_run *run);

#endif
