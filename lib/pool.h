/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What guests use of the pool. */
#ifndef GMEM_LIB_POOL_H
#define GMEM_LIB_POOL_H

#include <gmem/pool.h>

#include "heap.h"

struct heap *pool_heap(struct gmem_pool *pool);
/* Blocks for a guest: as gmem_pool_alloc, ext sized for nblocks runs. */
int pool_alloc_guest(struct gmem_pool *pool, uint64_t nblocks, int node,
		     struct gmem_extent *ext, uint32_t *next);
void pool_free_guest(struct gmem_pool *pool, uint64_t pfn, uint64_t nblocks);
void pool_guest_get(struct gmem_pool *pool);
void pool_guest_put(struct gmem_pool *pool);

#endif
