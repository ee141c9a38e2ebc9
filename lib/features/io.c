/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * I/O to private memory (gmem/pin.h): conversions that keep contents,
 * around a pin. The frames begin made shared are kept as ranges in the
 * handle; those left shared until the guest's next access, in the pin
 * set's lazy ranges, under its lock.
 */
#include <errno.h>

#include <gmem/pin.h>

#include "core/opts.h"
#include "core/spin.h"
#include "pin_set.h"

struct gmem_io {
	struct gmem_guest *g;
	uint64_t gfn, npages;
	struct frame_ranges made;	/* frames begin made shared */
};

static int convert_keep(struct gmem_guest *g, uint64_t lo, uint64_t hi,
			unsigned int attr, uint64_t *fail)
{
	GMEM_OPTS(gmem_convert_opts, co, .flags = GMEM_CONVERT_PRESERVE);
	int err = gmem_convert(g, lo, hi - lo, attr, &co);

	if (err && fail)
		*fail = co.fail_gfn;
	return err;
}

/* Adds the private runs of [lo, hi) to r. */
static int private_runs(struct gmem_guest *g, uint64_t lo, uint64_t hi,
			struct frame_ranges *r)
{
	while (lo < hi) {
		struct gmem_run run;
		int err = gmem_run_get(g, lo, hi - lo, &run);

		if (!err && run.attr == GMEM_ATTR_PRIVATE)
			err = frame_ranges_add(&g->heap, r, lo, lo + run.npages);
		if (err)
			return err;
		lo += run.npages;
	}
	return 0;
}

/* Converts the ranges of r[0, n) to attr, keeping contents: the first
 * error, the others converted anyway. */
static int convert_ranges(struct gmem_guest *g, const struct frame_ranges *r,
			  uint32_t n, unsigned int attr, uint64_t *fail)
{
	int err = 0;

	for (uint32_t i = 0; i < n; i++) {
		int e = convert_keep(g, r->v[i].lo, r->v[i].hi, attr,
				     err ? NULL : fail);

		err = err ? err : e;
	}
	return err;
}

static void io_free(struct gmem_io *io)
{
	frame_ranges_free(&io->g->heap, &io->made);
	heap_free(&io->g->heap, io, sizeof(*io));
}

int gmem_io_begin(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		  struct gmem_pin_opts *opts, struct gmem_io **out)
{
	uint64_t fail = gfn;
	struct gmem_io *io = NULL;
	uint32_t i;
	int err = OPTS_VALID(opts, gmem_pin_opts);

	if (err)
		return err;
	if (!g || !out)
		return -EINVAL;
	err = guest_range(g, gfn, npages, &fail);
	if (!err) {
		io = heap_zalloc(&g->heap, sizeof(*io), 8);
		err = io ? 0 : -ENOMEM;
	}
	if (!err) {
		*io = (struct gmem_io){ .g = g, .gfn = gfn, .npages = npages };
		err = private_runs(g, gfn, gfn + npages, &io->made);
	}
	for (i = 0; !err && i < io->made.n; i++)
		err = convert_keep(g, io->made.v[i].lo, io->made.v[i].hi,
				   GMEM_ATTR_SHARED, &fail);
	if (!err) {
		err = gmem_pin(g, gfn, npages, opts);
		if (err)
			fail = OPTS_GET(opts, fail_gfn, gfn);
	}
	if (err) {
		/* Those made shared go back: nothing changed. */
		if (io) {
			convert_ranges(g, &io->made, i, GMEM_ATTR_PRIVATE, NULL);
			io_free(io);
		}
		OPTS_SET(opts, fail_gfn, fail);
		return err;
	}
	*out = io;
	return 0;
}

/* Adds r's ranges to the lazy ones: 0 or -ENOMEM, some added. */
static int lazy_add(struct gmem_guest *g, const struct frame_ranges *r)
{
	struct pin_set *ps = pins_get(g);
	int err = ps ? 0 : -ENOMEM;

	if (!ps)
		return err;
	spin_lock(&ps->lock);
	for (uint32_t i = 0; !err && i < r->n; i++)
		err = frame_ranges_add(&g->heap, &ps->lazy, r->v[i].lo,
				       r->v[i].hi);
	spin_unlock(&ps->lock);
	return err;
}

int gmem_io_end(struct gmem_io *io, unsigned int how)
{
	struct gmem_guest *g;
	int err;

	if (!io || how > GMEM_IO_END_SHARED)
		return -EINVAL;
	g = io->g;
	err = gmem_unpin(g, io->gfn, io->npages, NULL);
	if (!err && how == GMEM_IO_END_LAZY)
		err = lazy_add(g, &io->made);
	/* Private now, also when the lazy ranges had no room. */
	if ((!err && how == GMEM_IO_END_PRIVATE) ||
	    (err == -ENOMEM && how == GMEM_IO_END_LAZY))
		err = convert_ranges(g, &io->made, io->made.n,
				     GMEM_ATTR_PRIVATE, NULL);
	io_free(io);
	return err;
}

int gmem_io_access(struct gmem_guest *g, uint64_t gfn, uint64_t npages)
{
	struct pin_set *ps;
	uint64_t hi = gfn + npages, fail;
	int err;

	if (!g)
		return -EINVAL;
	err = guest_range(g, gfn, npages, &fail);
	if (err)
		return err;
	ps = pins_find(g);
	while (ps && !err) {
		uint64_t lo, end;
		uint32_t i;

		spin_lock(&ps->lock);
		i = frame_range_after(ps->lazy.v, ps->lazy.n,
				      sizeof(*ps->lazy.v), gfn);
		lo = i < ps->lazy.n ? ps->lazy.v[i].lo : hi;
		end = i < ps->lazy.n ? ps->lazy.v[i].hi : hi;
		spin_unlock(&ps->lock);
		lo = lo > gfn ? lo : gfn;
		end = end < hi ? end : hi;
		if (lo >= end)
			break;
		err = convert_keep(g, lo, end, GMEM_ATTR_PRIVATE, NULL);
		if (!err) {
			spin_lock(&ps->lock);
			err = frame_ranges_del(&g->heap, &ps->lazy, lo, end);
			spin_unlock(&ps->lock);
		}
		gfn = end;
	}
	return err;
}

int gmem_io_fault(struct gmem_guest *g, uint64_t gfn, uint64_t npages)
{
	struct frame_ranges r = { 0 };
	uint64_t fail;
	int err;

	if (!g)
		return -EINVAL;
	err = guest_range(g, gfn, npages, &fail);
	if (!err)
		err = private_runs(g, gfn, gfn + npages, &r);
	if (!err && r.n)
		err = lazy_add(g, &r);
	if (!err && r.n)
		err = convert_ranges(g, &r, r.n, GMEM_ATTR_SHARED, NULL);
	if (!err && r.n)
		err = -EAGAIN;	/* reachable now: retry the I/O */
	frame_ranges_free(&g->heap, &r);
	return err;
}
