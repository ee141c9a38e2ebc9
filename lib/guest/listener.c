/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The embedder's conversion listeners (gmem/convert.h): subscribers of
 * the guest's bus for conversions, in the NORMAL class. */
#include <errno.h>
#include <time.h>

#include "core/opts.h"
#include "guest.h"

struct gmem_listener {
	struct gmem_guest *guest;
	gmem_listener_fn fn;
	void *ctx;
	struct bus_sub sub;
};

/*
 * Reading the clock costs more than many listeners do (50 ns in a VM
 * with kvm-clock, twice a call): one call in LISTENER_SAMPLE of each
 * thread is timed and counted for all of them, which adds under 1 ns to
 * a conversion.
 */
#define LISTENER_SAMPLE 256
static __thread uint32_t listener_tick
	__attribute__((tls_model("initial-exec")));

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A call timed, out of line: the others are a tail call, no frame. */
static __attribute__((noinline)) int heard_timed(const struct gmem_listener *l,
						 const struct bus_event *ev)
{
	uint64_t t0 = clock_ns();
	int err = l->fn(l->ctx, (enum gmem_phase)ev->phase, ev->run);

	guest_count(&l->guest->counts.listener_ns,
		    (clock_ns() - t0) * LISTENER_SAMPLE);
	return err;
}

static int heard(void *ctx, const struct bus_event *ev)
{
	const struct gmem_listener *l = ctx;

	if (__builtin_expect(++listener_tick % LISTENER_SAMPLE != 0, 1))
		return l->fn(l->ctx, (enum gmem_phase)ev->phase, ev->run);
	return heard_timed(l, ev);
}

/* The shared runs of every region, as COMMITs with GMEM_RUN_REPLAY. */
static void replay(struct gmem_guest *g, gmem_listener_fn fn, void *ctx)
{
	uint32_t i;

	for (i = 0; i < g->nregions; i++) {
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
}

int gmem_listener_add(struct gmem_guest *g, gmem_listener_fn fn, void *ctx,
		      const struct gmem_listener_opts *opts,
		      struct gmem_listener **out)
{
	int err = OPTS_VALID(opts, gmem_listener_opts);
	unsigned int flags = OPTS_GET(opts, flags, 0);
	struct gmem_listener *l;

	if (err)
		return err;
	if (!g || !fn || !out || (flags & ~GMEM_LISTENER_REPLAY))
		return -EINVAL;
	l = heap_alloc(&g->heap, sizeof(*l), 8);
	if (!l)
		return -ENOMEM;
	*l = (struct gmem_listener){
		.guest = g, .fn = fn, .ctx = ctx,
		.sub = { .fn = heard, .ctx = l, .kinds = BUS_CONVERT,
			 .order = BUS_ORDER_NORMAL } };
	if (bus_subscribe(&g->bus, &g->heap, &l->sub)) {
		heap_free(&g->heap, l, sizeof(*l));
		return -ENOMEM;
	}
	if (flags & GMEM_LISTENER_REPLAY)
		replay(g, fn, ctx);
	*out = l;
	return 0;
}

int gmem_listener_remove(struct gmem_listener *l)
{
	if (!l)
		return -EINVAL;
	bus_unsubscribe(&l->guest->bus, &l->sub);
	heap_free(&l->guest->heap, l, sizeof(*l));
	return 0;
}

void listeners_free(struct gmem_guest *g)
{
	uint32_t i = 0;

	while (i < g->bus.n) {
		struct bus_sub *s = g->bus.v[i];

		if (s->fn == heard)
			gmem_listener_remove(s->ctx);
		else
			i++;
	}
}
