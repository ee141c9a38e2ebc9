/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What guests use of the pool. */
#ifndef GMEM_LIB_POOL_H
#define GMEM_LIB_POOL_H

#include <stdbool.h>

#include <gmem/pool.h>

#include "core/heap.h"

struct heap *pool_heap(struct gmem_pool *pool);
/* Blocks for a guest: as gmem_pool_alloc, ext sized for nblocks runs. */
int pool_alloc_guest(struct gmem_pool *pool, uint64_t nblocks, int node,
		     struct gmem_extent *ext, uint32_t *next);
void pool_free_guest(struct gmem_pool *pool, uint64_t pfn, uint64_t nblocks);
/*
 * Where a backend's pool gets its blocks. Called without the pool's lock;
 * the blocks concerned are held (used) meanwhile.
 */
struct pool_source {
	/* Adds blocks for an allocation of nblocks on node (-1: any), with
	 * gmem_pool_add_frames. */
	int (*grow)(void *ctx, uint64_t nblocks, int node);
	/* Blocks about to be handed out: they must read as zeros. */
	int (*prepare)(void *ctx, uint64_t pfn, uint64_t nblocks);
	/* Blocks just freed: their memory may go back to the system. */
	void (*release)(void *ctx, uint64_t pfn, uint64_t nblocks);
	void *ctx;
	/* Grow on the preferred node before taking another node's blocks. */
	bool node_first;
};
/* Sets the source, before the pool is used. */
void pool_set_source(struct gmem_pool *pool, const struct pool_source *src);
/* gmem_pool_add_frames for any pool, a backend's too. */
int pool_add_frames(struct gmem_pool *pool, uint64_t pfn, uint64_t npages,
		    int node, struct gmem_pool_add_info *info);
/* Destroys any pool, a backend's too. */
int pool_destroy(struct gmem_pool *pool);
/* Whether the pool still holds guests or allocations. */
bool pool_busy(struct gmem_pool *pool);
void pool_guest_get(struct gmem_pool *pool);
void pool_guest_put(struct gmem_pool *pool);

#endif
