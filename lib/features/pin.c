/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pins (gmem/pin.h): ascending, disjoint runs of frames with one count
 * each, adjacent runs of equal counts joined. A change holds the TXN
 * holds of its slots, as a conversion transaction does, so that no
 * conversion of those slots is under way while a pin comes or goes;
 * each slot counts its pinned frames so that a conversion sees in one
 * load whether it must look here at all.
 */
#include <errno.h>
#include <string.h>

#include <gmem/pin.h>

#include "core/opts.h"
#include "core/probe.h"
#include "core/spin.h"
#include "paging.h"
#include "pin_set.h"

/* The first run ending after gfn. */
static uint32_t run_after(const struct pin_set *ps, uint64_t gfn)
{
	return frame_range_after(ps->v, ps->n, sizeof(*ps->v), gfn);
}

static uint64_t pins_first(struct pin_set *ps, uint64_t lo, uint64_t hi);

/* A guest that never pins pays nothing. */
static uint64_t pins_block(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi, int *err)
{
	uint64_t f = pins_first(pins_find(g), lo, hi);

	*err = f < hi ? -EBUSY : 0;
	return f;
}

static void pins_destroy(struct gmem_guest *g, struct guest_ext *x)
{
	struct pin_set *ps = (struct pin_set *)x;

	heap_free(&g->heap, ps->v, ps->cap * sizeof(*ps->v));
	frame_ranges_free(&g->heap, &ps->lazy);
}

static const struct guest_ext_ops pins_ext = {
	.size = sizeof(struct pin_set),
	.destroy = pins_destroy,
	.blocks = pins_block,
};

struct pin_set *pins_get(struct gmem_guest *g)
{
	struct guest_ext *x;

	return guest_ext_get(g, &pins_ext, NULL, &x) ? NULL
						     : (struct pin_set *)x;
}

struct pin_set *pins_find(const struct gmem_guest *g)
{
	return (struct pin_set *)guest_ext_find(g, &pins_ext);
}

/* The first pinned frame of [lo, hi) in the runs, or hi. */
static uint64_t pins_first(struct pin_set *ps, uint64_t lo, uint64_t hi)
{
	uint64_t first = hi;
	uint32_t i;

	if (!ps)
		return hi;
	spin_lock(&ps->lock);
	i = run_after(ps, lo);
	if (i < ps->n && ps->v[i].lo < hi)
		first = ps->v[i].lo > lo ? ps->v[i].lo : lo;
	spin_unlock(&ps->lock);
	return first;
}

/* Slots without a mark hold no pinned frame: no lock taken for them. */
uint64_t pin_first(const struct gmem_guest *g, uint64_t lo, uint64_t hi)
{
	return guest_slots_marked(g, lo, hi) ? pins_first(pins_find(g), lo, hi)
					     : hi;
}

/*
 * Whether delta (+1 or -1) can be added to every frame of [lo, hi):
 * 0, -EOVERFLOW at a frame pinned UINT32_MAX times, -EINVAL at one not
 * pinned. *k: the runs it meets.
 */
static int pins_check(const struct pin_set *ps, uint64_t lo, uint64_t hi,
		      int delta, uint64_t *fail, uint32_t *k)
{
	uint32_t i = run_after(ps, lo), j;
	uint64_t pos = lo;

	for (j = i; j < ps->n && ps->v[j].lo < hi; j++) {
		const struct pin_run *r = &ps->v[j];

		if (delta < 0 && r->lo > pos) {
			*fail = pos;
			return -EINVAL;
		}
		if (delta > 0 && r->count == UINT32_MAX) {
			*fail = r->lo > lo ? r->lo : lo;
			return -EOVERFLOW;
		}
		pos = r->hi;
	}
	if (delta < 0 && pos < hi) {
		*fail = pos;
		return -EINVAL;
	}
	*k = j - i;
	return 0;
}

/* Appends a run to out, joining it to the last one when they meet. */
static void put(struct pin_run *out, uint32_t *n, uint64_t lo, uint64_t hi,
		uint32_t count)
{
	if (!count || lo == hi)
		return;
	if (*n && out[*n - 1].hi == lo && out[*n - 1].count == count) {
		out[*n - 1].hi = hi;
		return;
	}
	out[(*n)++] = (struct pin_run){ lo, hi, count };
}

/*
 * Adds delta to [lo, hi), checked, with room for the k runs it meets
 * and the two beside them to become 2k + 5 beyond them. The new runs,
 * from the one before the range to the one after it, are built past the
 * end of the array, then put in place of the old ones.
 */
static void pins_apply(struct pin_set *ps, uint64_t lo, uint64_t hi,
		       int delta, uint32_t k)
{
	uint32_t i = run_after(ps, lo), j = i + k, a, b, n = 0;
	struct pin_run *out = &ps->v[ps->n + k + 3], *v = ps->v;
	uint64_t pos = lo;

	a = i && v[i - 1].hi == lo ? i - 1 : i;
	b = j < ps->n && v[j].lo == hi ? j + 1 : j;
	if (a < i)
		put(out, &n, v[a].lo, v[a].hi, v[a].count);
	for (; i < j; i++) {
		const struct pin_run *r = &v[i];
		uint64_t rlo = r->lo > lo ? r->lo : lo;
		uint64_t rhi = r->hi < hi ? r->hi : hi;

		put(out, &n, r->lo, rlo, r->count);
		put(out, &n, pos, rlo, 1);
		put(out, &n, rlo, rhi, (uint32_t)((int64_t)r->count + delta));
		put(out, &n, rhi, r->hi, r->count);
		pos = rhi;
	}
	put(out, &n, pos, hi, 1);
	if (b > j)
		put(out, &n, v[j].lo, v[j].hi, v[j].count);
	memmove(&v[a + n], &v[b], (ps->n - b) * sizeof(*v));
	memmove(&v[a], out, n * sizeof(*out));
	ps->n = ps->n - (b - a) + n;
}

static int pin_change(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		      int delta, struct gmem_pin_opts *opts)
{
	uint64_t fail = gfn, hi = gfn + npages;
	struct pin_set *ps;
	uint32_t k = 0;
	int err = OPTS_VALID(opts, gmem_pin_opts);

	if (err)
		return err;
	if (!g)
		return -EINVAL;
	err = guest_range(g, gfn, npages, &fail);
	ps = err ? NULL : pins_get(g);
	if (!err && !ps)
		err = -ENOMEM;
	if (err)
		goto out;
	guest_slots_txn(g, gfn, hi, true);
	/* Only a present frame can be pinned; the holds keep it so. */
	fail = delta > 0 ? page_first_absent(g, gfn, hi) : hi;
	if (fail < hi) {
		guest_slots_txn(g, gfn, hi, false);
		err = -EAGAIN;
		goto out;
	}
	spin_lock(&ps->lock);
	err = pins_check(ps, gfn, hi, delta, &fail, &k);
	if (!err) {
		/* The runs met, then 2k + 5 new ones built past the end. */
		err = heap_grow(&g->heap, &ps->v, &ps->cap, ps->n,
				ps->n + 3 * k + 8, sizeof(*ps->v), 8);
		if (err)
			fail = gfn;
	}
	if (!err)
		pins_apply(ps, gfn, hi, delta, k);
	spin_unlock(&ps->lock);
	if (!err)
		guest_slots_recheck(g, gfn, hi);
	guest_slots_txn(g, gfn, hi, false);
	if (!err && delta < 0)
		bus_tell(&g->bus, BUS_UNPIN, gfn, hi);
out:
	if (err)
		OPTS_SET(opts, fail_gfn, fail);
	return err;
}

int gmem_pin(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
	     struct gmem_pin_opts *opts)
{
	int err = pin_change(g, gfn, npages, 1, opts);

	if (!err)
		guest_count(&g->counts.pins, 1);
	GMEM_PROBE(pin, g, gfn, npages, err);
	return err;
}

int gmem_unpin(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
	       struct gmem_pin_opts *opts)
{
	int err = pin_change(g, gfn, npages, -1, opts);

	GMEM_PROBE(unpin, g, gfn, npages, err);
	return err;
}

int gmem_pin_count(const struct gmem_guest *g, uint64_t gfn, uint32_t *count)
{
	struct pin_set *ps;
	uint32_t i;

	if (!g || !count)
		return -EINVAL;
	*count = 0;
	ps = pins_find(g);
	if (!ps)
		return 0;
	spin_lock(&ps->lock);
	i = run_after(ps, gfn);
	if (i < ps->n && ps->v[i].lo <= gfn)
		*count = ps->v[i].count;
	spin_unlock(&ps->lock);
	return 0;
}

int gmem_pin_find(const struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		  uint64_t *first)
{
	uint64_t hi;

	if (!g || !npages || !first)
		return -EINVAL;
	hi = npages > UINT64_MAX - gfn ? UINT64_MAX : gfn + npages;
	*first = pin_first(g, gfn, hi);
	return *first < hi ? 0 : -ENOENT;
}

