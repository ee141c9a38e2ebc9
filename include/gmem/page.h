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
#define gmem_page_opts__last_field fail_gfn

/*
 * The range errors of every call below, changing nothing: -EINVAL (NULL
 * guest, zero npages, unknown flags); -EOVERFLOW past GMEM_FRAME_LIMIT;
 * -ENOENT if gfn is in no region; -ERANGE if the range leaves it; and
 * -ENOMEM. Each call changes all of its range or nothing.
 */

/*
 * PRESENT -> PAGING_OUT. With a VMM view (gmem/view.h), the frames
 * become unreachable through it and its guest mapping before this
 * returns (or its error is returned, the frames still present).
 * Errors: the range errors; -EBUSY at a frame pinned, marked never, or
 * held by a sleeping lookup; -EINVAL at a frame not present; or the
 * error of the view's system call. Threads: any, as above.
 */
GMEM_API int gmem_page_nominate(struct gmem_guest *guest, uint64_t gfn,
				uint64_t npages, struct gmem_page_opts *opts);

/*
 * PAGING_OUT -> PAGED: the frames' memory is given back (with a VMM
 * view, punched out of the backend: it reads back as zeros and counts
 * no more). Errors: the range errors; -EBUSY at a present frame: one
 * whose nomination an access cancelled, or one never nominated (the
 * pager, which knows what it nominated, tells the two apart); -EBUSY too
 * at frames a builder still maps (sync it first); -EINVAL at one paged
 * or paging in; or the error of the view's system call.
 * Threads: any, as above.
 */
GMEM_API int gmem_page_evict(struct gmem_guest *guest, uint64_t gfn,
			     uint64_t npages, struct gmem_page_opts *opts);

/*
 * PAGED or PAGING_IN -> PAGING_IN with the data back: data holds npages
 * frames of contents, written into the backend's memory of the frames
 * (a VMM view is needed: -EINVAL without); or NULL when the embedder,
 * owner of the frames, put the data back itself (with a view: the
 * frames read as zeros). The frames stay out of the views until
 * complete. Errors: the range errors; -EINVAL at a frame not paged nor
 * paging in, or data without a view; -EOPNOTSUPP data on a backend of
 * two copies; or the error of the view's system call. Threads: any, as
 * above.
 */
GMEM_API int gmem_page_load(struct gmem_guest *guest, uint64_t gfn,
			    uint64_t npages, const void *data,
			    struct gmem_page_opts *opts);

/*
 * Copies the contents of nominated frames (PAGING_OUT, the data still
 * there) to buf, npages frames: what the pager keeps before it evicts.
 * Errors: the range errors; -EINVAL at a frame not nominated;
 * -EOPNOTSUPP without a VMM view, or on a backend of two copies (the
 * private one cannot be read: gmem/backend.h). Threads: any.
 */
GMEM_API int gmem_page_read(struct gmem_guest *guest, uint64_t gfn,
			    uint64_t npages, void *buf,
			    struct gmem_page_opts *opts);

/*
 * Ends paging in. status 0: PAGING_IN with the data back -> PRESENT,
 * mapped in the views before any lookup finds them present (-EINVAL at
 * a frame not loaded). status < 0: the pager failed, PAGING_IN ->
 * PAGED (-EINVAL at a frame not paging in).
 * Errors: the range errors; -EINVAL as above; -ENOMEM, the frames left
 * as they were. Threads: any, as above.
 */
GMEM_API int gmem_page_complete(struct gmem_guest *guest, uint64_t gfn,
				uint64_t npages, int status,
				struct gmem_page_opts *opts);

/*
 * Marks [gfn, gfn + npages) never to be paged (never 1), like a VMA
 * flag, at no cost per frame; or clears the mark (never 0). Frames
 * already out stay so until brought in. Errors: the range errors.
 * Threads: any.
 */
GMEM_API int gmem_page_never(struct gmem_guest *guest, uint64_t gfn,
			     uint64_t npages, unsigned int never,
			     struct gmem_page_opts *opts);

/*
 * The pager (gmem_pager_attach) takes requests from a bounded ring with
 * gmem_pager_pop; one request per frame block (the conversion granule)
 * is out at a time. The ring's eventfd, if given, is written when
 * requests are posted; the ready eventfd when "page ready" events are
 * queued.
 */
struct gmem_pager_opts {
	size_t sz;
	uint32_t ring_size;	/* requests the ring holds, a power of two
				 * from GMEM_LOOKUP_MAX to 2^24; 0: 256 */
	int pager_fd;		/* eventfd for requests, or -1 */
	int ready_fd;		/* eventfd for page-ready events, or -1 */
	uint32_t reserved;	/* must be 0 */
};
#define gmem_pager_opts__last_field reserved

/*
 * Gives the guest its pager's ring. Errors: -EINVAL a bad ring size or
 * reserved not 0; -EBUSY a pager is attached already (one per guest);
 * -ENOMEM. Threads: exclusive on the guest.
 */
GMEM_API int gmem_pager_attach(struct gmem_guest *guest,
			       const struct gmem_pager_opts *opts);

/*
 * Since 1.5: takes the pager away (a pager that stops or restarts), with
 * its ring. Only a pager with nothing in hand may go: no frame paging in
 * (complete each request popped or not, with an error status to leave
 * its frames paged out) and no WAIT lookup asleep. What is dropped with
 * the ring: page-ready events not popped, requests of TRY lookups
 * deferred for room, and the tokens of TRY lookups, whose events never
 * come (reset those vCPUs, gmem_page_vcpu_reset, or retry the accesses).
 * Frames paged out stay so; a lookup of one returns -ENODEV until a
 * pager is attached again. Errors: -ENODEV no pager; -EBUSY as above.
 * Threads: exclusive on the guest.
 */
GMEM_API int gmem_pager_detach(struct gmem_guest *guest);

struct gmem_page_request {
	uint64_t gfn;		/* the first frame of the block */
	uint64_t npages;	/* the conversion granule */
};

/*
 * Takes up to max requests, oldest first, into reqs (*n of them): the
 * ring's, then those TRY lookups deferred while it was full.
 * Errors: -ENODEV without a pager. Threads: any, one
 * consumer thread at a time.
 */
GMEM_API int gmem_pager_pop(struct gmem_guest *guest,
			    struct gmem_page_request *reqs, uint32_t max,
			    uint32_t *n);

/* Lookup modes. */
#define GMEM_LOOKUP_QUERY 0	/* report the state, change nothing */
#define GMEM_LOOKUP_TRY 1	/* not present: a request is out, -EAGAIN
				 * with a token; never sleeps, not even
				 * for room in a full ring (since 1.5) */
#define GMEM_LOOKUP_WAIT 2	/* not present: request it and sleep,
				 * holding no lock, until it is in */
/* Or'ed with TRY or WAIT: when the ring is full, -EBUSY rather than
 * waiting for room (WAIT) or deferring the request (TRY). */
#define GMEM_LOOKUP_NO_WAIT_RING (1u << 8)

/* The most frames one lookup takes. */
#define GMEM_LOOKUP_MAX 16

struct gmem_lookup {
	size_t sz;
	uint32_t vcpu;		/* in: who asks, for TRY's token */
	uint32_t state;		/* out: enum gmem_page_state of gfn as the
				 * call leaves it */
	uint64_t gfn;		/* out: the first frame not present, or at
				 * fault */
	uint64_t token;		/* out, TRY: "page not present" for vcpu and
				 * gfn; its "page ready" event comes with
				 * the same token */
};
#define gmem_lookup__last_field token

/*
 * An access to frame gfn. 0 when it is present, in any mode: for a
 * present frame this takes no lock, allocates nothing and costs a few
 * loads. Otherwise: QUERY returns -EAGAIN with lk->state; TRY and WAIT
 * cancel a nomination (0: present again), and for a frame paged or on
 * its way in make sure one request is out; then TRY returns -EAGAIN
 * with a token for (lk->vcpu, gfn), the same one until it completes,
 * and where the ring is full its request is deferred: the pager's next
 * gmem_pager_pop returns it after the ring's requests, and the token
 * completes as any other. WAIT sleeps for room in a full ring, then
 * until the frame is in (0) or its loading failed
 * (the pager's status, the frame paged). Errors: -EINVAL for a bad mode,
 * NULL guest or lk->sz below sizeof(size_t); -E2BIG for a larger lk
 * with non-zero bytes past what this library knows (checked as by
 * gmem_page_lookup_frames, present frame or not); -ENOENT outside
 * regions; -ENODEV with no pager to ask; -EBUSY for a full ring with
 * GMEM_LOOKUP_NO_WAIT_RING; -ENOMEM. lk may be NULL: TRY then requests
 * the frame without a token. Threads: any; WAIT sleeps, so not from a
 * listener callback.
 */
GMEM_API int gmem_page_lookup(struct gmem_guest *guest, uint64_t gfn,
			      unsigned int mode, struct gmem_lookup *lk);

/*
 * The same for n frames at once (up to GMEM_LOOKUP_MAX), as a copy
 * between two guest pages needs: WAIT returns when all are in together
 * (a frame a lookup sleeps on is not nominated), without deadlock
 * however the frames and lookups are ordered. TRY's token is for the
 * first frame not present. Errors: those of gmem_page_lookup, and
 * -EINVAL for n 0 or above GMEM_LOOKUP_MAX. Threads: as gmem_page_lookup.
 */
GMEM_API int gmem_page_lookup_frames(struct gmem_guest *guest,
				     const uint64_t *gfns, uint32_t n,
				     unsigned int mode, struct gmem_lookup *lk);

/* A "page ready" event: the frame of a TRY's token is in (status 0), or
 * its loading failed (status < 0). */
struct gmem_page_ready {
	uint64_t token;
	uint64_t gfn;
	uint32_t vcpu;
	int32_t status;
};

/* Takes up to max events, oldest first (*n of them).
 * Errors: -ENODEV without a pager. Threads: any. */
GMEM_API int gmem_page_ready_pop(struct gmem_guest *guest,
				 struct gmem_page_ready *ev, uint32_t max,
				 uint32_t *n);

/* A vCPU was reset: its tokens and events are dropped.
 * Errors: none beyond the common ones. Threads: any. */
GMEM_API int gmem_page_vcpu_reset(struct gmem_guest *guest, uint32_t vcpu);

/* The state of frame gfn in *state. Errors: -ENOENT gfn in no region.
 * Threads: any. */
GMEM_API int gmem_page_state(const struct gmem_guest *guest, uint64_t gfn,
			     uint32_t *state);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PAGE_H */
