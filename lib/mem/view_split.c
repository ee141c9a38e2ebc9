/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Holes in huge pages (doc/memory.md). A view whose guest converts below
 * the backend's hugetlb page splits a page before any mapping of it
 * changes in part, and joins it once its frames agree again. Before a
 * page is split its mappings are uniform, so the state of any frame the
 * change leaves alone (the probe) says how each is mapped; they are
 * remapped as they were, writers held meanwhile.
 */
#include <errno.h>
#include <stdatomic.h>

#include "features/paging.h"
#include "features/pin_set.h"
#include "backend.h"
#include "view.h"

#define FRAME (UINT64_C(1) << GMEM_FRAME_SHIFT)

/* One of the two mappings of a page: the VMM's view, the guest's. */
struct page_map {
	char *addr;		/* NULL: none */
	bool open;
};

static void page_maps(const struct gmem_view *v, const struct view_region *r,
		      uint64_t p0, uint64_t probe, struct page_map m[2])
{
	bool present = view_first_absent(v, probe, probe + 1) > probe;
	struct gmem_run run;

	guest_run(v->g, probe, 1, true, &run);
	m[0] = (struct page_map){ r->base + (p0 - r->gfn) * FRAME,
				  present && run.attr == GMEM_ATTR_SHARED };
	m[1] = (struct page_map){ NULL, present };
	if (r->guest_base)
		m[1].addr = r->guest_base + (p0 - r->gfn) * FRAME;
}

/* A mapping of the page at off made to show where it lives now. A
 * failure is tried once more; then the mapping is closed, the safe side,
 * and counts the view stale until a resync. */
static int follow(struct gmem_view *v, const struct page_map *m, uint64_t off)
{
	uint64_t len = v->huge * FRAME;

	if (!backend_map(v->be, m->addr, off, len, true) ||
	    !backend_map(v->be, m->addr, off, len, true))
		return 0;
	backend_map(v->be, m->addr, off, len, false);
	atomic_fetch_add(&v->stale, 1);
	return -EIO;
}

/*
 * Moves the huge page at p0 of r into 4 KiB pages or back into one huge
 * page. A failure before any mapping shows the new copy puts everything
 * back; after, the page stays moved and the other mapping follows.
 */
static int page_move(struct gmem_view *v, const struct view_region *r, uint64_t p0,
		     uint64_t probe, bool to_split)
{
	uint64_t len = v->huge * FRAME, off = guest_pfn(v->g, p0) * FRAME;
	struct page_map m[2];
	bool held[2] = { false, false }, shown = false;
	int failed = -1, err = 0, i;

	/* A pinned frame's memory must not move under its user. */
	if (pin_first(v->g, p0, p0 + v->huge) < p0 + v->huge)
		return -EBUSY;
	page_maps(v, r, p0, probe, m);
	for (i = 0; !err && i < 2; i++)
		if (m[i].addr && m[i].open) {
			err = backend_hold(v->be, m[i].addr, len);
			held[i] = !err;
		}
	if (!err)
		err = backend_page_move(v->be, off, to_split);
	for (i = 0; !err && i < 2; i++)
		if (m[i].addr && m[i].open) {
			err = backend_map(v->be, m[i].addr, off, len, true);
			failed = err ? i : -1;
			shown |= !err;
		}
	if (failed >= 0 && !shown) {
		/* nothing shows the new copy: the page goes back */
		backend_page_undo(v->be, off, to_split);
		follow(v, &m[failed], off);
	} else if (failed >= 0) {
		/* the new copy is live: the rest must follow it */
		err = follow(v, &m[failed], off);
		backend_page_drop(v->be, off, to_split);
	} else if (!err) {
		backend_page_drop(v->be, off, to_split);
	}
	for (i = 0; i < 2; i++)
		if (held[i] && backend_release(v->be, m[i].addr, len))
			atomic_fetch_add(&v->stale, 1);
	return err;
}

static bool page_split(const struct gmem_view *v, uint64_t p0)
{
	return backend_page_split(v->be, guest_pfn(v->g, p0) * FRAME);
}

int view_split_cut(struct gmem_view *v, const struct view_region *r, uint64_t gfn,
		   uint64_t end)
{
	uint64_t h = v->huge, head, tail;
	int err = 0;

	if (!h)
		return 0;
	head = gfn - gfn % h;
	tail = end - end % h;
	if (gfn % h && !page_split(v, head))
		err = page_move(v, r, head, head, true);
	if (!err && end % h && !page_split(v, tail))
		err = page_move(v, r, tail, end, true);
	return err;
}

/* Whether the frames of the page at p0 are all present and alike. */
static bool page_uniform(const struct gmem_view *v, uint64_t p0)
{
	struct gmem_run run;

	if (view_first_absent(v, p0, p0 + v->huge) < p0 + v->huge)
		return false;
	guest_run(v->g, p0, v->huge, true, &run);
	return run.npages == v->huge;
}

void view_split_join(struct gmem_view *v, uint64_t gfn, uint64_t end)
{
	uint64_t h = v->huge;

	if (!h)
		return;
	for (uint64_t p0 = gfn - gfn % h; p0 < end; p0 += h) {
		const struct view_region *r = view_region_of(v, p0);

		/* A join that fails leaves the page split, as good a state;
		 * the next change of the page tries again. */
		if (r && page_split(v, p0) && page_uniform(v, p0))
			page_move(v, r, p0, p0, false);
	}
}
