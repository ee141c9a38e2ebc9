/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Range listeners (gmem/iommu.h), on one subscription to the guest's
 * bus: in PREPARE, in the normal order, it checks granules and
 * populates (it may fail, and is cancelled like any subscriber); once
 * the conversion is SEALED, after every other subscriber, the VMM's view
 * included, it discards: nothing can refuse the conversion any more, so
 * what it discards is never needed back.
 */
#include <errno.h>
#include <string.h>

#include <gmem/iommu.h>

#include "core/opts.h"
#include "guest/guest.h"

struct gmem_range_listener {
	struct gmem_guest *guest;
	uint64_t lo, hi, granule;
	struct gmem_range_listener_ops ops;
};

struct range_hub {
	struct guest_ext ext;		/* first: the guest's record of it */
	struct gmem_range_listener **v;	/* ascending lo */
	uint32_t n, cap;
};

/* The part of run in l's range: false if none. */
static bool overlap(const struct gmem_range_listener *l,
		    const struct gmem_run *run, uint64_t *a, uint64_t *b)
{
	*a = run->gfn > l->lo ? run->gfn : l->lo;
	*b = run->gfn + run->npages < l->hi ? run->gfn + run->npages : l->hi;
	return *a < *b;
}

/* Discards run from listeners [0, upto) of the hub that it overlaps. */
static void discard_upto(const struct range_hub *h, const struct gmem_run *run,
			 uint32_t upto)
{
	uint64_t a, b;
	uint32_t i;

	for (i = 0; i < upto && h->v[i]->lo < run->gfn + run->npages; i++)
		if (overlap(h->v[i], run, &a, &b))
			h->v[i]->ops.discard(h->v[i]->ops.ctx, a, b - a);
}

static int populate(const struct range_hub *h, const struct gmem_run *run)
{
	bool shared = run->attr == GMEM_ATTR_SHARED;
	uint64_t a, b;
	uint32_t i;
	int err = 0;

	for (i = 0; i < h->n && h->v[i]->lo < run->gfn + run->npages; i++) {
		const struct gmem_range_listener *l = h->v[i];

		if (!overlap(l, run, &a, &b))
			continue;
		/* The range's state is uniform in each granule (it was at
		 * registration, and stays so), so a run that starts or ends
		 * inside a granule would leave it mixed. */
		if ((a | b) & (l->granule - 1))
			err = -EINVAL;
		else if (shared)
			err = l->ops.populate(l->ops.ctx, a, b - a);
		if (err) {
			if (shared)
				discard_upto(h, run, i);
			return err;
		}
	}
	return 0;
}

static int heard(void *ctx, const struct bus_event *ev)
{
	const struct range_hub *h = ctx;
	bool shared = ev->run->attr == GMEM_ATTR_SHARED;

	switch (ev->phase) {
	case GMEM_PHASE_PREPARE:
		return populate(h, ev->run);
	case GMEM_PHASE_CANCEL:
		if (shared)
			discard_upto(h, ev->run, h->n);
		return 0;
	case BUS_PHASE_SEALED:
		if (!shared)
			discard_upto(h, ev->run, h->n);
		return 0;
	}
	return 0;
}

static void hub_destroy(struct gmem_guest *g, struct guest_ext *x)
{
	struct range_hub *h = (struct range_hub *)x;
	uint32_t i;

	for (i = 0; i < h->n; i++)
		heap_free(&g->heap, h->v[i], sizeof(*h->v[i]));
	heap_free(&g->heap, h->v, h->cap * sizeof(*h->v));
}

static const struct guest_ext_ops hub_ext = {
	.size = sizeof(struct range_hub),
	.destroy = hub_destroy,
};

static int hub_get(struct gmem_guest *g, struct range_hub **out)
{
	static const struct bus_sub sub = {
		.fn = heard, .kinds = BUS_CONVERT, .order = BUS_ORDER_NORMAL,
		.sealed = true };
	struct guest_ext *x;
	struct range_hub *h;
	int err = guest_ext_get(g, &hub_ext, &sub, &x);

	if (err)
		return err;
	h = (struct range_hub *)x;
	if (heap_grow(&g->heap, &h->v, &h->cap, h->n, h->n + 1, sizeof(*h->v),
		      4))
		return -ENOMEM;
	*out = h;
	return 0;
}

/* Replays the range's runs as flags ask; on a populate's error, what was
 * populated is discarded again. */
static int replay(struct gmem_guest *g, const struct gmem_range_listener *l,
		  uint32_t flags)
{
	struct gmem_run run;
	uint64_t at, stop;
	int err = 0;

	for (at = l->lo; !err && at < l->hi; at += run.npages) {
		guest_run(g, at, l->hi - at, true, &run);
		if (run.attr == GMEM_ATTR_SHARED &&
		    (flags & GMEM_RANGE_REPLAY_SHARED))
			err = l->ops.populate(l->ops.ctx, run.gfn, run.npages);
		else if (run.attr == GMEM_ATTR_PRIVATE &&
			 (flags & GMEM_RANGE_REPLAY_PRIVATE))
			l->ops.discard(l->ops.ctx, run.gfn, run.npages);
	}
	if (!err)
		return 0;
	stop = run.gfn;
	for (at = l->lo; at < stop; at += run.npages) {
		guest_run(g, at, l->hi - at, true, &run);
		if (run.attr == GMEM_ATTR_SHARED)
			l->ops.discard(l->ops.ctx, run.gfn, run.npages);
	}
	return err;
}

/* Whether the state of [lo, hi) is uniform in each granule. */
static bool state_in_granules(const struct gmem_guest *g, uint64_t lo,
			      uint64_t hi, uint64_t granule)
{
	struct gmem_run run;
	uint64_t at;

	for (at = lo; at < hi; at += run.npages) {
		guest_run(g, at, hi - at, true, &run);
		if ((run.gfn + run.npages) & (granule - 1))
			return false;
	}
	return true;
}

int gmem_range_listener_add(struct gmem_guest *g, uint64_t gfn,
			    uint64_t npages,
			    const struct gmem_range_listener_ops *ops,
			    const struct gmem_range_listener_opts *opts,
			    struct gmem_range_listener **out)
{
	uint32_t flags = OPTS_GET(opts, flags, 0);
	uint64_t granule = OPTS_GET(opts, granule, 0), fail;
	struct gmem_range_listener *l;
	struct range_hub *h;
	uint32_t i;
	int err = OPTS_VALID(opts, gmem_range_listener_opts);

	if (!err)
		err = OPTS_VALID(ops, gmem_range_listener_ops);
	if (err)
		return err;
	granule = granule ? granule : 1;
	if (!g || !ops || !out || !npages || !OPTS_GET(ops, populate, NULL) ||
	    !OPTS_GET(ops, discard, NULL) ||
	    (flags & ~(GMEM_RANGE_REPLAY_SHARED | GMEM_RANGE_REPLAY_PRIVATE)) ||
	    (granule & (granule - 1)) || granule > GMEM_BLOCK_FRAMES ||
	    ((gfn | npages) & (granule - 1)))
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	err = guest_range(g, gfn, npages, &fail);
	if (err)
		return err;
	if (!state_in_granules(g, gfn, gfn + npages, granule))
		return -EINVAL;
	l = heap_zalloc(&g->heap, sizeof(*l), 8);
	if (!l)
		return -ENOMEM;
	l->guest = g;
	l->lo = gfn;
	l->hi = gfn + npages;
	l->granule = granule;
	memcpy(&l->ops, ops, ops->sz < sizeof(l->ops) ? ops->sz
						     : sizeof(l->ops));
	err = hub_get(g, &h);
	if (!err)
		err = replay(g, l, flags);
	if (err) {
		heap_free(&g->heap, l, sizeof(*l));
		return err;
	}
	for (i = h->n; i && h->v[i - 1]->lo > l->lo; i--)
		h->v[i] = h->v[i - 1];
	h->v[i] = l;
	h->n++;
	*out = l;
	return 0;
}

int gmem_range_listener_remove(struct gmem_range_listener *l)
{
	struct range_hub *h;
	uint32_t i;

	if (!l)
		return -EINVAL;
	h = (struct range_hub *)guest_ext_find(l->guest, &hub_ext);
	for (i = 0; i < h->n && h->v[i] != l; i++)
		;
	if (i == h->n)
		return -ENOENT;
	memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof(*h->v));
	h->n--;
	heap_free(&l->guest->heap, l, sizeof(*l));
	return 0;
}
