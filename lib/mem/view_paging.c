/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMM's view under paging (gmem/page.h): a nominated frame becomes
 * unreachable through the view and the guest mapping before the call
 * returns; an evicted one is punched out of the backend; loading writes
 * the pager's data into the backend's memory of the frame, and reading
 * copies it out, both through a mapping of their own, as the view keeps
 * frames not present inaccessible; a frame back in is mapped again as
 * its attribute says.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "features/paging.h"
#include "backend.h"
#include "view.h"

#define FRAME (UINT64_C(1) << GMEM_FRAME_SHIFT)

/* Calls fn for the part of [lo, hi) in each of the view's regions. */
static int for_regions(struct gmem_view *v, uint64_t lo, uint64_t hi,
		       int (*fn)(struct gmem_view *v, struct view_region *r,
				 uint64_t lo, uint64_t hi, void *arg),
		       void *arg)
{
	uint32_t i;
	int err = 0;

	for (i = 0; !err && i < v->nregs; i++) {
		struct view_region *r = &v->regs[i];
		uint64_t a = r->gfn > lo ? r->gfn : lo;
		uint64_t b = r->gfn + r->npages < hi ? r->gfn + r->npages : hi;

		if (a < b)
			err = fn(v, r, a, b, arg);
	}
	return err;
}

static int stretch_guest_close(const struct gmem_view *v,
			       const struct view_region *r, uint64_t gfn,
			       uint64_t off, uint64_t len, void *arg)
{
	void *got;

	(void)off, (void)arg;
	return os_mmap(backend_os(v->be), r->guest_base + (gfn - r->gfn) * FRAME,
		       len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		       -1, 0, &got);
}

static int close_part(struct gmem_view *v, struct view_region *r,
		      uint64_t lo, uint64_t hi, void *arg)
{
	int err = view_split_cut(v, r, lo, hi);

	(void)arg;
	if (!err)
		err = view_set(v, r, lo, hi, false);
	if (!err && r->guest_base)
		err = view_for_stretches(v, r, lo, hi, stretch_guest_close,
					 NULL);
	return err;
}


/* The guest mapping of present frames open, of the others closed. */
static int guest_part(struct gmem_view *v, struct view_region *r,
		      uint64_t lo, uint64_t hi, void *arg)
{
	int err = view_split_cut(v, r, lo, hi);

	(void)arg;
	while (!err && r->guest_base && lo < hi) {
		uint64_t p = view_next_present(v, lo, hi), q;

		if (p > lo) {
			err = view_for_stretches(v, r, lo, p,
						 stretch_guest_close, NULL);
			lo = p;
			continue;
		}
		q = view_first_absent(v, lo, hi);
		err = view_for_stretches(v, r, lo, q, stretch_guest_map, NULL);
		lo = q;
	}
	return err;
}

/* Present frames mapped by their attribute, the others closed. */
static int open_part(struct gmem_view *v, struct view_region *r,
		     uint64_t lo, uint64_t hi, void *arg)
{
	int err = runs_apply(v, r, lo, hi, true, false);

	return err ? err : guest_part(v, r, lo, hi, arg);
}

/* Cannot fail: what could not be mapped stays closed, the safe side,
 * and counts as stale until a resync. */
static void entered(struct gmem_view *v, uint64_t lo, uint64_t hi)
{
	if (for_regions(v, lo, hi, open_part, NULL)) {
		for_regions(v, lo, hi, close_part, NULL);
		atomic_fetch_add(&v->stale, 1);
	}
}

static int discard_part(struct gmem_view *v, struct view_region *r,
			uint64_t lo, uint64_t hi, void *arg)
{
	int err = view_split_cut(v, r, lo, hi);

	(void)arg;
	return err ? err : view_for_stretches(v, r, lo, hi, stretch_discard,
					      NULL);
}


/* A copy between the caller's buffer, whose first frame is gfn0, and
 * the backend's memory. */
struct copy {
	char *buf;
	uint64_t gfn0;
	bool in;		/* into the backend */
	struct gmem_backend *be;
	char *at;		/* the caller's bytes of file byte off0 */
	uint64_t off0;
};

/* A file gets a mapping of its own, populated in one call rather than a
 * fault per page, of whole pages of the file that holds the piece. */
static int copy_piece(void *arg, int fd, uint64_t off, uint64_t len)
{
	struct copy *c = arg;
	struct os *os = backend_os(c->be);
	uint64_t page = backend_page_split(c->be, off) ? FRAME
						       : backend_page_size(c->be);
	uint64_t lo = off / page * page;
	uint64_t span = (off + len + page - 1) / page * page - lo;
	char *b = c->at + (off - c->off0), *mem;
	void *got;
	int err = os_mmap(os, NULL, span, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, fd, (int64_t)lo, &got);

	if (err)
		return err;
	mem = (char *)got + (off - lo);
	if (c->in)
		memcpy(mem, b, len);
	else
		memcpy(b, mem, len);
	return os_munmap(os, got, span);
}

static int stretch_copy(const struct gmem_view *v,
			const struct view_region *r, uint64_t gfn,
			uint64_t off, uint64_t len, void *arg)
{
	struct copy *c = arg;
	struct os *os = backend_os(v->be);
	char *mem = backend_anon_addr(v->be, off);
	int err;

	(void)r;
	/* Two copies: the private one cannot be read or written here. */
	if (backend_two_copies(v->be))
		return -EOPNOTSUPP;
	c->at = c->buf + (gfn - c->gfn0) * FRAME;
	c->off0 = off;
	if (!mem)
		return backend_pieces(c->be, off, len, copy_piece, c);
	/* Anonymous memory is the view itself, closed: opened meanwhile. */
	err = os_mprotect(os, mem, len, PROT_READ | PROT_WRITE);
	if (err)
		return err;
	if (c->in)
		memcpy(mem, c->at, len);
	else
		memcpy(c->at, mem, len);
	return os_mprotect(os, mem, len, PROT_NONE);
}

static int copy_part(struct gmem_view *v, struct view_region *r,
		     uint64_t lo, uint64_t hi, void *arg)
{
	return view_for_stretches(v, r, lo, hi, stretch_copy, arg);
}

static int loading(void *ctx, uint64_t lo, uint64_t hi, const void *data)
{
	struct gmem_view *v = ctx;
	struct copy c = { (char *)(uintptr_t)data, lo, true, v->be, NULL, 0 };

	return for_regions(v, lo, hi, copy_part, &c);
}

static int reading(void *ctx, uint64_t lo, uint64_t hi, void *buf)
{
	struct gmem_view *v = ctx;
	struct copy c = { buf, lo, false, v->be, NULL, 0 };

	return for_regions(v, lo, hi, copy_part, &c);
}

/* The frames of a page-in the view is mapping, in this thread: still
 * absent, but present to the view. */
static __thread struct {
	const struct gmem_view *v;
	uint64_t lo, hi;
} coming_in __attribute__((tls_model("initial-exec")));

uint64_t view_next_present(const struct gmem_view *v, uint64_t lo,
			   uint64_t hi)
{
	uint64_t f = page_next_present(v->g, lo, hi);

	if (coming_in.v == v && coming_in.lo < f && coming_in.hi > lo)
		f = coming_in.lo > lo ? coming_in.lo : lo;
	return f;
}

uint64_t view_first_absent(const struct gmem_view *v, uint64_t lo,
			   uint64_t hi)
{
	uint64_t f = page_first_absent(v->g, lo, hi);

	if (coming_in.v == v && coming_in.lo <= f && coming_in.hi > f)
		f = coming_in.hi < hi ? page_first_absent(v->g, coming_in.hi,
							   hi)
				      : hi;
	return f;
}

/*
 * All in PREPARE (the view is in the LAST class, and nothing after it
 * refuses): nominated frames become unreachable before the call
 * returns, evicted ones are punched out of the backend, and frames
 * coming back in are mapped again before they are present (closed
 * again if the page-in is cancelled).
 */
int view_paging_heard(struct gmem_view *v, const struct bus_event *ev)
{
	uint64_t lo = ev->run->gfn, hi = lo + ev->run->npages;

	if (ev->kind == BUS_PAGE_IN && ev->phase == GMEM_PHASE_CANCEL) {
		/* Not in after all (no room for the pager's events). */
		if (for_regions(v, lo, hi, close_part, NULL))
			atomic_fetch_add(&v->stale, 1);
		return 0;
	}
	if (ev->phase != GMEM_PHASE_PREPARE)
		return 0;
	if (ev->kind == BUS_PAGE_IN) {
		coming_in.v = v;
		coming_in.lo = lo;
		coming_in.hi = hi;
		entered(v, lo, hi);
		view_split_join(v, lo, hi);
		coming_in.v = NULL;
		return 0;
	}
	return for_regions(v, lo, hi,
			   ev->kind == BUS_PAGE_OUT ? close_part : discard_part,
			   NULL);
}

int view_paging_attach(struct gmem_view *v)
{
	v->memory = (struct guest_memory){
		.load = loading, .read = reading, .ctx = v };
	/* Frames already out when the view came: the guest mapping of
	 * them is closed too. */
	if (view_first_absent(v, 0, UINT64_MAX) < UINT64_MAX &&
	    for_regions(v, 0, UINT64_MAX, guest_part, NULL))
		return -ENOMEM;
	return 0;
}
