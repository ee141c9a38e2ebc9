/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared/private conversions and the listeners that follow them.
 *
 * A conversion is a transaction over frames of one region: it changes
 * all of them or, on any error, none. It has two steps, which the caller
 * may also run apart:
 *
 *  prepare  validates, allocates what the new state needs and asks every
 *           listener to consent. It may fail. It holds the 1 GiB slots of
 *           the range against other conversions until commit or abort;
 *           queries still see the old state meanwhile.
 *  commit   changes the state and tells the listeners. It cannot fail.
 *
 * Frames already in the target state are allowed and change nothing.
 */
#ifndef GMEM_CONVERT_H
#define GMEM_CONVERT_H

#include <gmem/common.h>
#include <gmem/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_txn;

/* Since 1.4: the frames keep their contents whatever a VMM view's
 * content mode says (gmem/view.h): for I/O to private memory. */
#define GMEM_CONVERT_PRESERVE (1u << 0)

struct gmem_convert_opts {
	size_t sz;
	unsigned int flags;	/* GMEM_CONVERT_* */
	unsigned int reserved;	/* must be 0 */
	/* Out: on error, the first frame that caused it. */
	uint64_t fail_gfn;
};
#define gmem_convert_opts__last_field fail_gfn

/*
 * Converts [gfn, gfn + npages) to attr (GMEM_ATTR_PRIVATE or _SHARED).
 * Errors: -EINVAL bad argument (reserved not 0 among them), or a range
 * not aligned to the guest's conversion granule; -EOVERFLOW range passes
 * GMEM_FRAME_LIMIT; -ENOENT gfn in no region; -ERANGE the range leaves
 * the region of gfn; -EBUSY (since 1.4) a frame of the range is pinned,
 * fail_gfn the first (gmem/pin.h), even one already in attr; -EAGAIN
 * (since 1.4) a frame is not present, fail_gfn the first: bring it in
 * (gmem/page.h) and try again; -ENOMEM; or the error a listener
 * returned. opts (optional) receives fail_gfn. Threads: any.
 */
GMEM_API int gmem_convert(struct gmem_guest *guest, uint64_t gfn,
			  uint64_t npages, unsigned int attr,
			  struct gmem_convert_opts *opts);

/*
 * First step of a conversion. On success *txn must be passed to
 * gmem_convert_commit or gmem_convert_abort, by any thread.
 * Errors: those of gmem_convert. Threads: any; a thread holding an open
 * transaction must not start another conversion on the same 1 GiB slots.
 */
GMEM_API int gmem_convert_prepare(struct gmem_guest *guest, uint64_t gfn,
				  uint64_t npages, unsigned int attr,
				  struct gmem_convert_opts *opts,
				  struct gmem_txn **txn);

/* Applies and ends a prepared conversion. Errors: none for a txn of
 * gmem_convert_prepare. Threads: any. */
GMEM_API int gmem_convert_commit(struct gmem_txn *txn);

/* Ends a prepared conversion without change; listeners get CANCEL.
 * Errors: none for a txn of gmem_convert_prepare. Threads: any. */
GMEM_API int gmem_convert_abort(struct gmem_txn *txn);

/*
 * Listener phases. For every conversion a listener receives, per maximal
 * run of frames that actually change (never per frame):
 *
 *  PREPARE  before the state changes. Runs leaving the shared state are
 *           announced here, so a listener unmaps them now. Returning a
 *           negative errno refuses the conversion.
 *  CANCEL   the conversion was refused or aborted: undo PREPARE. Sent
 *           for every run a listener accepted, in reverse order.
 *  COMMIT   after the state changed. Runs entering the shared state are
 *           announced here, so a listener maps them only now.
 *
 * A conversion's COMMITs reach every listener before any later
 * conversion of the same frames starts. Callbacks run with the slots of
 * the range held: they must not convert frames of the guest, nor query
 * it.
 */
enum gmem_phase {
	GMEM_PHASE_PREPARE = 0,
	GMEM_PHASE_CANCEL = 1,
	GMEM_PHASE_COMMIT = 2,
};

/* A run delivered by gmem_listener_add's replay, not by a conversion. */
#define GMEM_RUN_REPLAY (1u << 0)
/* Since 1.4: a run of a GMEM_CONVERT_PRESERVE conversion. */
#define GMEM_RUN_PRESERVE (1u << 1)

/*
 * run->attr is the attribute the run takes (it had the other one);
 * return 0 except to refuse in PREPARE.
 */
typedef int (*gmem_listener_fn)(void *ctx, enum gmem_phase phase,
				const struct gmem_run *run);

/* Replay the current shared runs to the new listener as COMMITs. */
#define GMEM_LISTENER_REPLAY (1u << 0)

struct gmem_listener_opts {
	size_t sz;
	unsigned int flags;	/* GMEM_LISTENER_* */
	/* Tail padding in 1.x, named so that no field is ever added
	 * into it: a 1.x caller may leave it undefined, so it is never
	 * read. */
	unsigned int unused;
};
#define gmem_listener_opts__last_field unused

struct gmem_listener;

/*
 * Registers fn; listeners are called in registration order. With
 * GMEM_LISTENER_REPLAY every shared run of every region is delivered
 * first, in address order, as COMMIT with GMEM_RUN_REPLAY.
 * Errors: -EINVAL fn NULL or unknown flags; -ENOMEM.
 * Threads: exclusive.
 */
GMEM_API int gmem_listener_add(struct gmem_guest *guest, gmem_listener_fn fn,
			       void *ctx,
			       const struct gmem_listener_opts *opts,
			       struct gmem_listener **listener);

/* Unregisters and frees a listener. Errors: none beyond the common ones.
 * Threads: exclusive. */
GMEM_API int gmem_listener_remove(struct gmem_listener *listener);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_CONVERT_H */
