/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For IOMMU and VFIO-style users (since 1.3): listeners bound to a guest
 * range that keep a device's mappings equal to the shared part of it,
 * and the fewest aligned mappings an IOMMU with given page sizes needs
 * for a view.
 *
 * A range listener is told of the range's shared runs as they come and
 * go, coalesced (one call per maximal run a conversion changes inside
 * the range, never one per frame): populate before the guest sees a run
 * shared, discard before it sees it private. Populate may fail: the
 * conversion is then refused and every run populated for it discarded
 * again. Discard cannot fail, and is called only once nothing can stop
 * the conversion any more. A listener with a granule needs the range's
 * state uniform in each aligned granule: conversions that would break
 * that are refused with -EINVAL.
 *
 * Callbacks run in the converting thread, under the slots' holds: they
 * must not convert, and may query the guest (which shows the state
 * before the conversion).
 */
#ifndef GMEM_IOMMU_H
#define GMEM_IOMMU_H

#include <gmem/common.h>
#include <gmem/guest.h>
#include <gmem/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_range_listener;

struct gmem_range_listener_ops {
	size_t sz;
	/* [gfn, gfn + npages) becomes shared: map it. 0 or a negative
	 * errno, which refuses the conversion. */
	int (*populate)(void *ctx, uint64_t gfn, uint64_t npages);
	/* It becomes private: unmap it. */
	void (*discard)(void *ctx, uint64_t gfn, uint64_t npages);
	void *ctx;
};
#define gmem_range_listener_ops__last_field ctx

/* At registration, populate the shared runs of the range, or discard its
 * private runs. */
#define GMEM_RANGE_REPLAY_SHARED (1u << 0)
#define GMEM_RANGE_REPLAY_PRIVATE (1u << 1)

struct gmem_range_listener_opts {
	size_t sz;
	uint32_t flags;		/* GMEM_RANGE_REPLAY_* */
	uint32_t granule;	/* frames, a power of two up to
				 * GMEM_BLOCK_FRAMES; 0 or 1: one */
};
#define gmem_range_listener_opts__last_field granule

/*
 * Binds a listener to [gfn, gfn + npages), which must lie in one region
 * and be aligned to the granule. Errors: -EINVAL (NULL arguments, no
 * populate or discard, unknown flags, a granule that is not a power of
 * two or that the range or its current state is not aligned to);
 * -EOVERFLOW; -ENOENT or -ERANGE as for a conversion; -ENOMEM; a
 * populate's error during replay (what it populated is discarded).
 * Threads: exclusive.
 */
GMEM_API int gmem_range_listener_add(struct gmem_guest *guest, uint64_t gfn,
				     uint64_t npages,
				     const struct gmem_range_listener_ops *ops,
				     const struct gmem_range_listener_opts *opts,
				     struct gmem_range_listener **listener);

/* Unbinds and frees it (nothing is discarded). Errors: none beyond the
 * common ones. Threads: exclusive. */
GMEM_API int gmem_range_listener_remove(struct gmem_range_listener *listener);

/* One IOMMU mapping: npages frames from gfn (the IOVA's frame) to host
 * frames from pfn, npages one of the page sizes asked for. */
struct gmem_iommu_map {
	uint64_t gfn, pfn, npages;
};

typedef int (*gmem_iommu_map_fn)(void *ctx, const struct gmem_iommu_map *map);

/*
 * The fewest mappings, each aligned to its size in both guest and host
 * frames, that map the frames of [gfn, gfn + npages) in the view, for an
 * IOMMU whose page sizes are the bits of pgsizes (in bytes, as Linux's
 * pgsize_bitmap: 4 KiB | 2 MiB | 1 GiB is 0x40201000). fn (may be NULL)
 * gets each in address order; *count (may be NULL) their number. Errors:
 * -EINVAL (NULL guest, an unknown view, no page size of 4 KiB or more,
 * a stretch not aligned to the smallest page size); -EOVERFLOW; or fn's
 * negative return, which stops it. Threads: any.
 */
GMEM_API int gmem_iommu_mappings(const struct gmem_guest *guest,
				 enum gmem_pt_view view, uint64_t pgsizes,
				 uint64_t gfn, uint64_t npages,
				 gmem_iommu_map_fn fn, void *ctx,
				 uint64_t *count);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_IOMMU_H */
