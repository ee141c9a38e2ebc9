/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paging of guest memory (since 1.4).
 *
 * Every frame is present or on its way to or from a pager:
 *
 *   PRESENT --nominate--> PAGING_OUT --evict--> PAGED
 *      ^                      |                   |
 *      +--- an access --------+             load  v
 *      +------------------complete------- PAGING_IN
 *
 * A nominated frame still holds its data, but it has left every view:
 * builders unmap it at their next sync, the VMM's view closes it, and
 * invalidation notifiers hear GMEM_INVAL_PAGE_OUT. An access to it
 * (gmem_page_lookup) cancels the nomination. The pager reads the data,
 * then evicts: the memory is given back (a real backend punches the
 * frames out). To bring frames back the pager loads their data (the
 * frames stay out of the views) and completes them, which makes them
 * present and puts them back in the views; complete with a negative
 * status when the data could not be loaded, and the frames stay paged.
 *
 * Frames that are not present cannot be converted (-EAGAIN), pinned
 * (-EAGAIN) or nominated again. Pinned frames and ranges marked with
 * gmem_page_never are never nominated (-EBUSY).
 *
 * States are kept sparsely: a guest whose memory is all present costs
 * nothing, and a frame is known present in one load of its 1 GiB slot's
 * count of absent frames.
 *
 * Thread safety: any (gmem/guest.h), and like a conversion not at the
 * same time as a sync of one of the guest's builders. Calls that change
 * whether a frame is present (nominate, complete, an access cancelling
 * a nomination) wait for conversion transactions holding the same
 * 1 GiB slots, so they must not be called from listener callbacks.
 */
#ifndef GMEM_PAGE_H
#define GMEM_PAGE_H

#include <gmem/common.h>
#include <gmem/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gmem_page_state {
	GMEM_PAGE_PRESENT = 0,
	GMEM_PAGE_PAGING_OUT = 1,	/* nominated: data still there */
	GMEM_PAGE_PAGED = 2,		/* evicted: memory given back */
	GMEM_PAGE_PAGING_IN = 3,	/* on its way in, not yet complete */
};

struct gmem_page_opts {
	size_t sz;
	/* Out: on error, the first frame at fault. */
	uint64_t fail_gfn;
};

/*
 * The range errors of every call below, changing nothing: -EINVAL (NULL
 * guest, zero npages, unknown flags); -EOVERFLOW past GMEM_FRAME_LIMIT;
 * -ENOENT if gfn is in no region; -ERANGE if the range leaves it; and
 * -ENOMEM. Each call changes all of its range or nothing.
 */

/*
 * PRESENT -> PAGING_OUT. -EBUSY at a frame pinned or marked never; -EINVAL
 * at a frame not present; -EOPNOTSUPP while the guest has a VMM view
 * (gmem/view.h).
 */
GMEM_API int gmem_page_nominate(struct gmem_guest *guest, uint64_t gfn,
				uint64_t npages, struct gmem_page_opts *opts);

/*
 * PAGING_OUT -> PAGED: the frames' memory is given back. -EBUSY at a
 * frame whose nomination an access cancelled, or that a builder still
 * maps (sync it first); -EINVAL at one in another state.
 */
GMEM_API int gmem_page_evict(struct gmem_guest *guest, uint64_t gfn,
			     uint64_t npages, struct gmem_page_opts *opts);

/*
 * PAGED or PAGING_IN -> PAGING_IN with the data back: data holds npages
 * frames of contents to write into them, or is NULL when the embedder,
 * owner of the frames, put the data back itself. The frames stay out of
 * the views until complete. -EINVAL at a frame not paged nor paging in.
 */
GMEM_API int gmem_page_load(struct gmem_guest *guest, uint64_t gfn,
			    uint64_t npages, const void *data,
			    struct gmem_page_opts *opts);

/*
 * Ends paging in. status 0: PAGING_IN with the data back -> PRESENT,
 * back in the views (-EINVAL at a frame not loaded). status < 0: the
 * pager failed, PAGING_IN -> PAGED (-EINVAL at a frame not paging in).
 */
GMEM_API int gmem_page_complete(struct gmem_guest *guest, uint64_t gfn,
				uint64_t npages, int status,
				struct gmem_page_opts *opts);

/*
 * Marks [gfn, gfn + npages) never to be paged (never 1), like a VMA
 * flag, at no cost per frame; or clears the mark (never 0). Frames already out
 * stay so until brought in.
 */
GMEM_API int gmem_page_never(struct gmem_guest *guest, uint64_t gfn,
			     uint64_t npages, unsigned int never,
			     struct gmem_page_opts *opts);

/* The state of frame gfn in *state. -ENOENT outside regions. */
GMEM_API int gmem_page_state(const struct gmem_guest *guest, uint64_t gfn,
			     uint32_t *state);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PAGE_H */
