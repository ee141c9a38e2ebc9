/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guests: regions of guest-physical frames bound to pool blocks, and the
 * shared/private attribute of every frame.
 *
 * A guest frame gfn in a region lives in host frame
 * block_pfn(gfn / GMEM_BLOCK_FRAMES) + gfn % GMEM_BLOCK_FRAMES: guest and
 * host frames are congruent modulo 1 GiB, so any aligned range can become
 * one large mapping. Each 1 GiB slot of guest-physical space touched by a
 * region has its own block, shared by the regions that touch it.
 *
 * Thread safety (words of gmem/common.h): region, listener, view and
 * builder changes are exclusive on the guest; queries and conversions
 * are "any".
 * Conversions take a lock per 1 GiB slot, so conversions and queries on
 * different slots proceed in parallel; a query racing with a conversion
 * of the same frames sees each frame either before or after it.
 */
#ifndef GMEM_GUEST_H
#define GMEM_GUEST_H

#include <gmem/common.h>
#include <gmem/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_guest;

struct gmem_guest_opts {
	size_t sz;
	int node;		/* preferred node of its blocks; -1: none */
	/*
	 * Since 1.1: the conversion granule in frames, a power of two up to
	 * GMEM_BLOCK_FRAMES (0 or 1: one frame). Regions and conversions
	 * must be aligned to it (-EINVAL), so that a page table whose
	 * smallest leaf is the granule can map every state.
	 */
	uint32_t granule;
};
#define gmem_guest_opts__last_field granule

/*
 * Creates a guest without regions whose blocks come from pool.
 * Errors: -EINVAL a bad node or granule; -ENOMEM. Threads: any (on the
 * pool).
 */
GMEM_API int gmem_guest_create(struct gmem_pool *pool,
			       const struct gmem_guest_opts *opts,
			       struct gmem_guest **guest);

/*
 * Destroys a guest and returns its blocks to the pool. A NULL guest is a
 * no-op. Errors: -EBUSY while it has a view (gmem/view.h).
 * Threads: exclusive.
 */
GMEM_API int gmem_guest_destroy(struct gmem_guest *guest);

struct gmem_region_opts {
	size_t sz;
	unsigned int attr;	/* initial enum gmem_attr (default private) */
	int node;		/* preferred node; -1 (no opts): the guest's */
	unsigned int flags;	/* none defined yet: must be 0 */
	/* Tail padding in 1.x, named so that no field is ever added
	 * into it: a 1.x caller may leave it undefined, so it is never
	 * read. */
	unsigned int unused;
};
#define gmem_region_opts__last_field unused

/*
 * Adds the region [gfn, gfn + npages), allocating blocks for the 1 GiB
 * slots it is the first to touch (one ascending run when the pool has
 * one). Conversion listeners are not told of new regions; builders and
 * range listeners are.
 * Errors: -EINVAL npages 0, attr or node bad, flags not 0, or the range
 * not aligned to the guest's granule; -EOVERFLOW the range passes
 * GMEM_FRAME_LIMIT; -EEXIST it overlaps a region; -EBUSY while the guest
 * has a view (gmem/view.h); -ENOSPC the pool lacks blocks; -ENOMEM; or
 * the error a builder or range listener refused it with.
 * Threads: exclusive.
 */
GMEM_API int gmem_region_add(struct gmem_guest *guest, uint64_t gfn,
			     uint64_t npages,
			     const struct gmem_region_opts *opts);

/*
 * Removes the region that is exactly [gfn, gfn + npages), returning to
 * the pool the blocks no other region touches.
 * Errors: -EINVAL npages 0; -ENOENT no such region; -EBUSY while the
 * guest has a view or (since 1.4) a frame of the region is pinned
 * (gmem/pin.h); or the error a builder or range listener refused it with.
 * Threads: exclusive.
 */
GMEM_API int gmem_region_remove(struct gmem_guest *guest, uint64_t gfn,
				uint64_t npages);

/* Host frame backing guest frame gfn. Errors: -ENOENT gfn in no region.
 * Threads: any. */
GMEM_API int gmem_translate(const struct gmem_guest *guest, uint64_t gfn,
			    uint64_t *pfn);

/* Attribute of frame gfn. Errors: -ENOENT gfn in no region.
 * Threads: any. */
GMEM_API int gmem_attr_get(const struct gmem_guest *guest, uint64_t gfn,
			   unsigned int *attr);

/*
 * Whether [gfn, gfn + npages) inside one region is uniform: *attr is its
 * attribute, or GMEM_ATTR_MIXED. O(1) for an aligned 2 MiB or 1 GiB
 * range. Errors: -EINVAL npages 0; -EOVERFLOW the range passes
 * GMEM_FRAME_LIMIT; -ENOENT gfn in no region; -ERANGE the range leaves
 * it. Threads: any.
 */
GMEM_API int gmem_range_attr(const struct gmem_guest *guest, uint64_t gfn,
			     uint64_t npages, unsigned int *attr);

/* A maximal run of frames with one attribute. */
struct gmem_run {
	uint64_t gfn;
	uint64_t npages;
	unsigned int attr;
	unsigned int flags;	/* GMEM_RUN_* */
};

/*
 * The run of equal attribute that starts at gfn, clipped to npages
 * frames (which must lie in one region). Iterating a range in address
 * order:
 *
 *	for (g = start; g < end; g += run.npages)
 *		if (gmem_run_get(guest, g, end - g, &run)) break;
 *
 * Errors: those of gmem_range_attr. Threads: any; a run is exact when
 * no conversion of its frames runs meanwhile.
 */
GMEM_API int gmem_run_get(const struct gmem_guest *guest, uint64_t gfn,
			  uint64_t npages, struct gmem_run *run);

struct gmem_guest_stats {
	size_t sz;
	uint64_t nregions;
	uint64_t nblocks;	/* 1 GiB blocks bound */
	uint64_t mixed_blocks;	/* blocks holding both attributes */
	uint64_t mixed_pieces;	/* 2 MiB pieces holding both */
	uint64_t shared_frames;
	uint64_t meta_bytes;	/* metadata of this guest, all included */
	/* Since 1.5, counts since the guest was created: */
	uint64_t conversions;	/* conversions done, by any call */
	uint64_t converted_frames;	/* frames in their ranges, changed
					 * or not */
	uint64_t refusals;	/* conversions of valid arguments that
				 * failed: refused by a listener, pinned or
				 * paged-out frames, no memory */
	uint64_t listener_ns;	/* time in the embedder's listeners,
				 * estimated: one call in 256 of each
				 * thread is timed */
	uint64_t pins;		/* gmem_pin calls that succeeded */
	uint64_t pager_requests;	/* requests sent to the pager */
};
#define gmem_guest_stats__last_field pager_requests

/* Statistics of the guest: its layout, its metadata, and what it has
 * done since it was created. Errors: none beyond the common ones.
 * Threads: any; exact when no conversion runs meanwhile. */
GMEM_API int gmem_guest_stats(const struct gmem_guest *guest,
			      struct gmem_guest_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_GUEST_H */
