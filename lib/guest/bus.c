/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A guest's event bus (bus.h). */
#include <errno.h>
#include <string.h>

#include "bus.h"

/* The kinds some subscriber hears, after a change of subscribers. */
static void recount(struct bus *b)
{
	uint32_t i;

	b->kinds = b->phased = b->sealed = 0;
	for (i = 0; i < b->n; i++) {
		b->kinds |= b->v[i]->kinds;
		if (!b->v[i]->after)
			b->phased |= b->v[i]->kinds;
		if (b->v[i]->sealed)
			b->sealed |= b->v[i]->kinds;
	}
}

/* Puts s at the end of its class. */
static void place(struct bus *b, struct bus_sub *s)
{
	uint32_t pos;

	for (pos = b->n; pos && b->v[pos - 1]->order > s->order; pos--)
		;
	memmove(&b->v[pos + 1], &b->v[pos], (b->n - pos) * sizeof(*b->v));
	b->v[pos] = s;
	b->n++;
}

static void take_out(struct bus *b, const struct bus_sub *s)
{
	uint32_t i;

	for (i = 0; i < b->n && b->v[i] != s; i++)
		;
	if (i == b->n)
		return;
	memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof(*b->v));
	b->n--;
}

int bus_subscribe(struct bus *b, struct heap *h, struct bus_sub *s)
{
	if (heap_grow(h, &b->v, &b->cap, b->n, b->n + 1, sizeof(*b->v), 4))
		return -ENOMEM;
	place(b, s);
	recount(b);
	return 0;
}

void bus_unsubscribe(struct bus *b, struct bus_sub *s)
{
	take_out(b, s);
	recount(b);
}

void bus_hear(struct bus *b, struct bus_sub *s, uint32_t kinds)
{
	if (kinds & ~s->kinds) {
		take_out(b, s);
		place(b, s);
	}
	s->kinds = kinds;
	recount(b);
}

void bus_release(struct bus *b, struct heap *h)
{
	heap_free(h, b->v, b->cap * sizeof(*b->v));
	memset(b, 0, sizeof(*b));
}

void bus_cancel_from(const struct bus *b, uint32_t kind,
		     const struct gmem_run *runs, uint32_t n, uint32_t i,
		     uint32_t nrun)
{
	for (;;) {
		const struct bus_sub *s = b->v[i];

		while ((s->kinds & kind) && nrun)
			bus_call(s, kind, GMEM_PHASE_CANCEL, &runs[--nrun]);
		if (!i--)
			return;
		nrun = n;
	}
}

void bus_cancel(const struct bus *b, uint32_t kind,
		const struct gmem_run *runs, uint32_t n)
{
	if (b->n)
		bus_cancel_from(b, kind, runs, n, b->n - 1, n);
}

void bus_seal(const struct bus *b, uint32_t kind,
	      const struct gmem_run *runs, uint32_t n)
{
	uint32_t i, r;

	if (!(b->sealed & kind))
		return;		/* most changes: no walk */
	for (i = 0; i < b->n; i++)
		for (r = 0; b->v[i]->sealed && (b->v[i]->kinds & kind) && r < n;
		     r++)
			bus_call(b->v[i], kind, BUS_PHASE_SEALED, &runs[r]);
}

static void commit(const struct bus *b, uint32_t kind,
		   const struct gmem_run *runs, uint32_t n, bool all)
{
	uint32_t i, r;

	for (i = 0; i < b->n; i++) {
		const struct bus_sub *s = b->v[i];

		if (!all && s->order != BUS_ORDER_NORMAL && !s->committed)
			continue;
		for (r = 0; (s->kinds & kind) && r < n; r++)
			bus_call(s, kind, GMEM_PHASE_COMMIT, &runs[r]);
	}
}

void bus_commit(const struct bus *b, uint32_t kind,
		const struct gmem_run *runs, uint32_t n)
{
	commit(b, kind, runs, n, false);
}

int bus_ask(const struct bus *b, uint32_t kind, uint64_t lo, uint64_t hi,
	    uint64_t *fail)
{
	struct gmem_run run = { .gfn = lo, .npages = hi - lo };

	return bus_prepare(b, kind, &run, 1, fail);
}

void bus_done(const struct bus *b, uint32_t kind, uint64_t lo, uint64_t hi)
{
	struct gmem_run run = { .gfn = lo, .npages = hi - lo };

	commit(b, kind, &run, 1, false);
}

void bus_tell(const struct bus *b, uint32_t kind, uint64_t lo, uint64_t hi)
{
	struct gmem_run run = { .gfn = lo, .npages = hi - lo };

	commit(b, kind, &run, 1, true);
}

void bus_tell_run(const struct bus *b, uint32_t kind,
		  const struct gmem_run *run)
{
	commit(b, kind, run, 1, true);
}
