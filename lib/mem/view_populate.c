/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A view populated from several threads (gmem_view_opts'
 * populate_threads): each allocates its part of the region and faults in
 * the shared runs of it, as the calling thread would do for all of it
 * alone. The kernel populates different ranges of one mapping in
 * parallel (MADV_POPULATE_WRITE takes the mmap lock for reading): that
 * is where anonymous memory gains. A file's fallocate holds its inode,
 * and shmem's faults meet on the file too: a memfd gains little or
 * nothing (measured: letting the faults allocate its shared runs
 * instead of fallocate changed nothing).
 */
#include <pthread.h>

#include "guest/guest.h"
#include "view.h"

struct part {
	struct gmem_view *v;
	const struct view_region *r;
	uint64_t lo, hi;
	pthread_t thread;
	bool started;
	int err;
};

static void *populate_part(void *arg)
{
	struct part *p = arg;

	p->err = view_for_stretches(p->v, p->r, p->lo, p->hi,
				    stretch_allocate, NULL);
	if (!p->err)
		p->err = runs_apply(p->v, p->r, p->lo, p->hi, false, true);
	return NULL;
}

int view_populate(struct gmem_view *v, const struct view_region *r)
{
	struct part part[GMEM_VIEW_POPULATE_THREADS_MAX];
	uint64_t n = v->populate_threads, each, at = r->gfn;
	uint32_t i, k = 0;
	int err = 0;

	/* Parts of whole 2 MiB pieces, so that no huge page is shared. */
	each = (r->npages / n + PIECE_FRAMES - 1) & ~(uint64_t)(PIECE_FRAMES - 1);
	for (; at < r->gfn + r->npages; at += each, k++) {
		part[k] = (struct part){ .v = v, .r = r, .lo = at };
		part[k].hi = r->gfn + r->npages - at > each ? at + each
							   : r->gfn + r->npages;
	}
	/* The first part is the caller's; a thread that cannot start
	 * leaves its part to the caller too. */
	for (i = 1; i < k; i++)
		part[i].started = !pthread_create(&part[i].thread, NULL,
						  populate_part, &part[i]);
	for (i = 0; i < k; i++)
		if (!part[i].started)
			populate_part(&part[i]);
	for (i = 0; i < k; i++) {
		if (part[i].started)
			pthread_join(part[i].thread, NULL);
		if (!err)
			err = part[i].err;
	}
	return err;
}
