/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The block pool: 1 GiB blocks of host frames, kept in ascending frame
 * order, handed out in physically ordered runs.
 *
 * Thread safety: every pool function may be called concurrently with any
 * other on the same pool, except gmem_pool_destroy.
 */
#ifndef GMEM_POOL_H
#define GMEM_POOL_H

#include <gmem/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_pool;

struct gmem_pool_opts {
	size_t sz;
	/* Metadata allocator for the pool and its guests; NULL: jemalloc. */
	const struct gmem_alloc_ops *alloc;
};
#define gmem_pool_opts__last_field alloc

/* Creates an empty pool. Errors: -ENOMEM. Threads: any. */
GMEM_API int gmem_pool_create(const struct gmem_pool_opts *opts,
			      struct gmem_pool **pool);

/*
 * Destroys a pool. -EBUSY (and nothing changes) while guests or
 * allocations hold blocks, and for a backend's pool, which goes with its
 * backend (gmem/backend.h). A NULL pool is a no-op.
 * Errors: -EBUSY as above. Threads: exclusive.
 */
GMEM_API int gmem_pool_destroy(struct gmem_pool *pool);

/*
 * What gmem_pool_add_frames did with a range: the whole aligned blocks it
 * took, and the frames before and after them that it could not use.
 */
struct gmem_pool_add_info {
	size_t sz;
	uint64_t block_pfn;	/* first frame of the first block taken */
	uint64_t nblocks;	/* blocks taken (0: range holds no whole block) */
	uint64_t head_pfn;	/* unused frames before the blocks */
	uint64_t head_npages;
	uint64_t tail_pfn;	/* unused frames after the blocks */
	uint64_t tail_npages;
};
#define gmem_pool_add_info__last_field tail_npages

#define GMEM_MAX_NODES 1024

/*
 * Gives the pool the frames [pfn, pfn + npages) on NUMA node node (>= 0,
 * below GMEM_MAX_NODES). The range is cut into 1 GiB-aligned blocks;
 * info (optional, sz set by the caller) reports the blocks taken and the
 * frames left over.
 * Errors: -EINVAL npages 0 or node out of range (a range holding no
 * whole block is not an error: info says so);
 * -EEXIST a block overlaps frames the pool has; -EOVERFLOW the range
 * passes GMEM_FRAME_LIMIT; -EPERM a backend's pool (it holds only the
 * backend's memory); -ENOMEM. Threads: any.
 */
GMEM_API int gmem_pool_add_frames(struct gmem_pool *pool, uint64_t pfn,
				  uint64_t npages, int node,
				  struct gmem_pool_add_info *info);

/* A physically contiguous run of blocks. */
struct gmem_extent {
	uint64_t pfn;		/* first frame, 1 GiB-aligned */
	uint64_t nblocks;
	int32_t node;
	uint32_t reserved;
};

/* Take blocks only from the preferred node. */
#define GMEM_ALLOC_NODE_STRICT (1u << 0)
/* Fail rather than return more than one extent. */
#define GMEM_ALLOC_CONTIG (1u << 1)

struct gmem_pool_alloc_opts {
	size_t sz;
	int node;		/* preferred node, or -1: none (no opts: -1) */
	unsigned int flags;	/* GMEM_ALLOC_* */
};
#define gmem_pool_alloc_opts__last_field flags

/*
 * Allocates nblocks blocks. One contiguous run when the preferred node
 * has one (the lowest-addressed of the smallest runs that fit), otherwise
 * several runs in ascending frame order; blocks from other nodes only if
 * the preferred node lacks them and GMEM_ALLOC_NODE_STRICT is not set.
 * ext receives the runs in ascending order; *next is its capacity on
 * entry and the number used on return. Nothing is allocated on error.
 * Errors: -EINVAL nblocks 0, a bad node, unknown flags or
 * GMEM_ALLOC_NODE_STRICT without a node; -ENOSPC the pool (or node,
 * or contiguous run) lacks the blocks; -E2BIG *next is too small.
 * Threads: any.
 */
GMEM_API int gmem_pool_alloc(struct gmem_pool *pool, uint64_t nblocks,
			     const struct gmem_pool_alloc_opts *opts,
			     struct gmem_extent *ext, uint32_t *next);

/*
 * Returns blocks [pfn, pfn + nblocks * GMEM_BLOCK_FRAMES) to the pool,
 * where they join their free neighbours.
 * Errors: -EINVAL unless every block is allocated from this pool.
 * Threads: any.
 */
GMEM_API int gmem_pool_free(struct gmem_pool *pool, uint64_t pfn,
			    uint64_t nblocks);

struct gmem_pool_stats {
	size_t sz;
	uint64_t free_blocks;
	uint64_t used_blocks;
	uint64_t largest_free_run;	/* blocks, physically contiguous */
	uint64_t meta_bytes;		/* metadata of the pool itself */
};
#define gmem_pool_stats__last_field meta_bytes

/*
 * Statistics of the whole pool (node -1) or of one node; largest_free_run
 * never spans two nodes. Errors: -EINVAL node out of range.
 * Threads: any.
 */
GMEM_API int gmem_pool_stats(struct gmem_pool *pool, int node,
			     struct gmem_pool_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_POOL_H */
