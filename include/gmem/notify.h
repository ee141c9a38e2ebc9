/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invalidation notifiers (since 1.3): a range of guest frames that
 * something outside the library depends on (the two pages of a prefix
 * area, the source pages of a shadow table, an IOMMU mapping) and a
 * callback told when any frame in it changes under it: converted
 * between shared and private, paged out, unmapped (its region removed),
 * or write-protected (by a builder's dirty logging or permissions).
 *
 * A notifier is kept at the range's own granularity: registering one
 * changes no mapping and splits nothing. It fires once per change that
 * touches it, with the part of its range the change covered: a
 * conversion tells it of each maximal run it changed inside the range,
 * never of each frame. A notifier of at most 2 MiB is found through
 * the one or two 2 MiB pieces it touches (a hash table of small sorted
 * arrays: a few cache lines for a conversion of up to 2 MiB); a longer
 * one through an interval tree, which a lookup descends only where a
 * notifier overlaps: O(log n) when it finds none, and at most O(log n)
 * more for each it finds.
 *
 * Callbacks run in the thread that made the change, after it, with no
 * library lock held: they may remove any notifier, their own included,
 * but must not convert or change regions of the guest. A notifier that a
 * callback removes is not called again by any thread, but a call that
 * another thread had started may still be running, so its context must
 * outlive the conversions running at the time. Dispatches take no lock:
 * conversions in different slots tell their notifiers at the same time.
 */
#ifndef GMEM_NOTIFY_H
#define GMEM_NOTIFY_H

#include <gmem/common.h>
#include <gmem/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_notifier;

/* What changed (the why of a callback, and the events one hears). */
#define GMEM_INVAL_CONVERT (1u << 0)
#define GMEM_INVAL_PAGE_OUT (1u << 1)
#define GMEM_INVAL_UNMAP (1u << 2)
#define GMEM_INVAL_WRPROTECT (1u << 3)
#define GMEM_INVAL_ALL (GMEM_INVAL_CONVERT | GMEM_INVAL_PAGE_OUT | \
			GMEM_INVAL_UNMAP | GMEM_INVAL_WRPROTECT)

/* [gfn, gfn + npages): the part of the notifier's range that changed. */
typedef void (*gmem_notifier_fn)(void *ctx, struct gmem_notifier *notifier,
				 uint64_t gfn, uint64_t npages, uint32_t why);

/* Fire once, then go away: the handle is gone when the callback
 * returns (removing it from inside the callback is allowed). */
#define GMEM_NOTIFIER_ONESHOT (1u << 0)

struct gmem_notifier_opts {
	size_t sz;
	uint32_t flags;		/* GMEM_NOTIFIER_* */
	uint32_t events;	/* GMEM_INVAL_* to hear; 0: all */
};
#define gmem_notifier_opts__last_field events

/*
 * Registers fn for [gfn, gfn + npages), which must lie in one region.
 * Errors: -EINVAL (NULL guest, fn or notifier, zero npages, unknown
 * flags or events); -EOVERFLOW past GMEM_FRAME_LIMIT; -ENOENT if gfn is
 * in no region; -ERANGE if the range leaves it; -ENOMEM.
 * Threads: exclusive: not while a conversion of the guest runs.
 */
GMEM_API int gmem_notifier_add(struct gmem_guest *guest, uint64_t gfn,
			       uint64_t npages, gmem_notifier_fn fn, void *ctx,
			       const struct gmem_notifier_opts *opts,
			       struct gmem_notifier **notifier);

/*
 * Unregisters and frees a notifier: no call to it starts once this
 * returns. From inside a callback (of this notifier or another, on any
 * thread) its memory is reclaimed at the next exclusive call
 * (gmem_notifier_add, gmem_notifier_remove outside a callback,
 * gmem_guest_destroy); the handle is invalid at once either way.
 * Errors: none beyond the common ones. Threads: exclusive like
 * gmem_notifier_add, or from inside any notifier's callback.
 */
GMEM_API int gmem_notifier_remove(struct gmem_notifier *notifier);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_NOTIFY_H */
