/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pool: segments of whole 1 GiB blocks in ascending frame order, one
 * bit per block for "in use". Free runs are the maximal sequences of free
 * blocks that are physically adjacent on one node, so freeing coalesces
 * by construction. Allocation is rare (guest set-up), so runs are found
 * by scanning the bits in address order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "core/bits.h"
#include "core/opts.h"
#include "pool.h"

struct segment {
	uint64_t pfn;		/* first frame of the first block */
	uint64_t nblocks;
	int node;
	uint64_t *used;		/* allocated blocks */
	uint64_t *direct;	/* of those, by gmem_pool_alloc */
};

struct gmem_pool {
	struct heap heap;
	pthread_mutex_t lock;
	struct segment *segs;	/* ascending pfn */
	uint32_t nsegs, cap;
	uint64_t guests;
	const struct pool_source *src;	/* a backend's, or NULL */
};

struct run {
	uint32_t seg;		/* where the run starts */
	uint64_t blk;
	uint64_t pfn, nblocks;
	int node;
};

#define BF GMEM_BLOCK_FRAMES

static uint64_t seg_end(const struct segment *s)
{
	return s->pfn + s->nblocks * BF;
}

int gmem_pool_create(const struct gmem_pool_opts *opts,
		     struct gmem_pool **out)
{
	struct gmem_pool *pool;
	struct heap heap;
	int err = OPTS_VALID(opts, gmem_pool_opts);

	if (err)
		return err;
	if (!out)
		return -EINVAL;
	err = heap_init(&heap, OPTS_GET(opts, alloc, NULL));
	if (err)
		return err;
	pool = heap_zalloc(&heap, sizeof(*pool), 8);
	if (!pool)
		return -ENOMEM;
	heap_init_child(&pool->heap, &heap);
	atomic_store(&pool->heap.bytes, heap_bytes(&heap));
	pthread_mutex_init(&pool->lock, NULL);
	*out = pool;
	return 0;
}

static void seg_release(struct gmem_pool *pool, struct segment *s)
{
	heap_free(&pool->heap, s->used, bits_bytes(s->nblocks));
	heap_free(&pool->heap, s->direct, bits_bytes(s->nblocks));
}

static bool busy_locked(const struct gmem_pool *pool)
{
	uint32_t i;

	for (i = 0; i < pool->nsegs; i++) {
		const struct segment *s = &pool->segs[i];

		if (bits_find(s->used, s->nblocks, 0, true) < s->nblocks)
			return true;
	}
	return pool->guests;
}

bool pool_busy(struct gmem_pool *pool)
{
	bool busy;

	pthread_mutex_lock(&pool->lock);
	busy = busy_locked(pool);
	pthread_mutex_unlock(&pool->lock);
	return busy;
}

void pool_set_source(struct gmem_pool *pool, const struct pool_source *src)
{
	pool->src = src;
}

/* A backend's pool goes with its backend (pool_destroy). */
int gmem_pool_destroy(struct gmem_pool *pool)
{
	if (pool && pool->src)
		return -EBUSY;
	return pool_destroy(pool);
}

int pool_destroy(struct gmem_pool *pool)
{
	struct heap heap;
	uint32_t i;

	if (!pool)
		return 0;
	if (pool_busy(pool))
		return -EBUSY;
	for (i = 0; i < pool->nsegs; i++)
		seg_release(pool, &pool->segs[i]);
	heap_free(&pool->heap, pool->segs, pool->cap * sizeof(*pool->segs));
	pthread_mutex_destroy(&pool->lock);
	heap = pool->heap;
	heap_free(&heap, pool, sizeof(*pool));
	return 0;
}

struct heap *pool_heap(struct gmem_pool *pool)
{
	return &pool->heap;
}

/* Index of the first segment ending after pfn. */
static uint32_t seg_search(const struct gmem_pool *pool, uint64_t pfn)
{
	uint32_t lo = 0, hi = pool->nsegs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (seg_end(&pool->segs[mid]) <= pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A backend's pool holds only the backend's frames. */
int gmem_pool_add_frames(struct gmem_pool *pool, uint64_t pfn,
			 uint64_t npages, int node,
			 struct gmem_pool_add_info *info)
{
	if (pool && pool->src)
		return -EPERM;
	return pool_add_frames(pool, pfn, npages, node, info);
}

int pool_add_frames(struct gmem_pool *pool, uint64_t pfn, uint64_t npages,
		    int node, struct gmem_pool_add_info *info)
{
	struct gmem_pool_add_info res = { .sz = sizeof(res) };
	uint64_t first, end;
	struct segment seg = { 0 };
	uint32_t at;
	int err = 0;

	if (!pool || !npages || node < 0 || node >= GMEM_MAX_NODES)
		return -EINVAL;
	if (info && info->sz < sizeof(size_t))
		return -EINVAL;
	if (pfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - pfn)
		return -EOVERFLOW;
	first = (pfn + BF - 1) / BF * BF;
	end = (pfn + npages) / BF * BF;
	if (first < end) {
		res.block_pfn = first;
		res.nblocks = (end - first) / BF;
		res.head_pfn = pfn;
		res.head_npages = first - pfn;
		res.tail_pfn = end;
		res.tail_npages = pfn + npages - end;
	} else {
		res.head_pfn = pfn;
		res.head_npages = npages;
		res.tail_pfn = pfn + npages;
	}
	if (!res.nblocks)
		return info ? out_struct(info, &res, sizeof(res)) : 0;

	seg.pfn = first;
	seg.nblocks = res.nblocks;
	seg.node = node;
	seg.used = heap_zalloc(&pool->heap, bits_bytes(seg.nblocks), 8);
	seg.direct = heap_zalloc(&pool->heap, bits_bytes(seg.nblocks), 8);
	if (!seg.used || !seg.direct) {
		seg_release(pool, &seg);
		return -ENOMEM;
	}
	pthread_mutex_lock(&pool->lock);
	at = seg_search(pool, first);
	if (at < pool->nsegs && pool->segs[at].pfn < end) {
		err = -EEXIST;
	} else if (heap_grow(&pool->heap, &pool->segs, &pool->cap, pool->nsegs,
			     pool->nsegs + 1, sizeof(*pool->segs), 4)) {
		err = -ENOMEM;
	}
	if (!err) {
		memmove(&pool->segs[at + 1], &pool->segs[at],
			(pool->nsegs - at) * sizeof(seg));
		pool->segs[at] = seg;
		pool->nsegs++;
	}
	pthread_mutex_unlock(&pool->lock);
	if (err) {
		seg_release(pool, &seg);
		return err;
	}
	return info ? out_struct(info, &res, sizeof(res)) : 0;
}

/*
 * Next maximal free run at or after (seg, blk) whose node matches (-1:
 * any). A run continues into the next segment when that one starts
 * where this one ends, on the same node.
 */
static bool next_run(const struct gmem_pool *pool, uint32_t seg, uint64_t blk,
		     int node, struct run *r)
{
	for (; seg < pool->nsegs; seg++, blk = 0) {
		const struct segment *s = &pool->segs[seg];
		uint64_t end;

		if (node >= 0 && s->node != node)
			continue;
		blk = bits_find(s->used, s->nblocks, blk, false);
		if (blk == s->nblocks)
			continue;
		end = bits_find(s->used, s->nblocks, blk, true);
		r->seg = seg;
		r->blk = blk;
		r->pfn = s->pfn + blk * BF;
		r->nblocks = end - blk;
		r->node = s->node;
		while (end == s->nblocks && seg + 1 < pool->nsegs &&
		       pool->segs[seg + 1].pfn == seg_end(s) &&
		       pool->segs[seg + 1].node == s->node) {
			s = &pool->segs[++seg];
			end = bits_find(s->used, s->nblocks, 0, true);
			r->nblocks += end;
		}
		return true;
	}
	return false;
}

/* Iterates free runs: for (ok = first_run(..); ok; ok = after_run(..)) */
static bool after_run(const struct gmem_pool *pool, int node, struct run *r)
{
	uint64_t pfn = r->pfn + r->nblocks * BF;
	uint32_t seg = seg_search(pool, pfn);

	if (seg == pool->nsegs)
		return false;
	return next_run(pool, seg,
			pfn > pool->segs[seg].pfn ?
				(pfn - pool->segs[seg].pfn) / BF : 0,
			node, r);
}

#define for_each_run(pool, node, r)                                            \
	for (bool ok_ = next_run(pool, 0, 0, node, r); ok_;                    \
	     ok_ = after_run(pool, node, r))

/* Marks nblocks from pfn, which lie in segments, as used or free. */
static void mark(struct gmem_pool *pool, uint64_t pfn, uint64_t nblocks,
		 bool used, bool direct)
{
	uint32_t seg = seg_search(pool, pfn);

	while (nblocks) {
		struct segment *s = &pool->segs[seg++];
		uint64_t blk = (pfn - s->pfn) / BF;
		uint64_t n = s->nblocks - blk < nblocks ? s->nblocks - blk
							: nblocks;

		bits_assign(s->used, blk, blk + n, used);
		bits_assign(s->direct, blk, blk + n, used && direct);
		pfn += n * BF;
		nblocks -= n;
	}
}

static uint64_t free_blocks(const struct gmem_pool *pool, int node)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < pool->nsegs; i++)
		if (node < 0 || pool->segs[i].node == node)
			n += pool->segs[i].nblocks -
			     bits_count(pool->segs[i].used, 0,
					pool->segs[i].nblocks);
	return n;
}

/*
 * The run to take next for "want" more blocks: the smallest run that
 * holds them all, lowest address first (best fit); failing that the
 * largest run, so that the fewest runs are used.
 */
static bool pick_run(const struct gmem_pool *pool, int node, uint64_t want,
		     struct run *best)
{
	struct run r, fit = { 0 }, big = { 0 };

	for_each_run(pool, node, &r) {
		if (r.nblocks >= want && (!fit.nblocks || r.nblocks < fit.nblocks))
			fit = r;
		if (r.nblocks > big.nblocks)
			big = r;
	}
	*best = fit.nblocks ? fit : big;
	return best->nblocks != 0;
}

static void ext_insert(struct gmem_extent *ext, uint32_t n,
			  const struct gmem_extent *e)
{
	uint32_t i = n;

	while (i && ext[i - 1].pfn > e->pfn) {
		ext[i] = ext[i - 1];
		i--;
	}
	ext[i] = *e;
}

/* Caller holds the lock; on failure nothing stays allocated. */
static int alloc_locked(struct gmem_pool *pool, uint64_t nblocks, int node,
			unsigned int flags, bool direct,
			struct gmem_extent *ext, uint32_t *next)
{
	uint64_t want = nblocks;
	uint32_t n = 0, cap = *next, i;
	bool strict = flags & GMEM_ALLOC_NODE_STRICT;
	int pass_node = node;	/* the preferred node first, then any */
	struct run r;

	if (flags & GMEM_ALLOC_CONTIG) {
		if (!cap)
			return -E2BIG;
		if (!pick_run(pool, node, nblocks, &r) || r.nblocks < nblocks) {
			if (strict || node < 0 ||
			    !pick_run(pool, -1, nblocks, &r) ||
			    r.nblocks < nblocks)
				return -ENOSPC;
		}
		mark(pool, r.pfn, nblocks, true, direct);
		ext[0] = (struct gmem_extent){ .pfn = r.pfn, .nblocks = nblocks,
					       .node = r.node };
		*next = 1;
		return 0;
	}
	if (free_blocks(pool, strict ? node : -1) < nblocks)
		return -ENOSPC;
	while (want) {
		struct gmem_extent e;

		if (!pick_run(pool, pass_node, want, &r)) {
			pass_node = -1;
			continue;
		}
		if (n == cap)
			goto too_small;
		e.pfn = r.pfn;
		e.nblocks = r.nblocks < want ? r.nblocks : want;
		e.node = r.node;
		e.reserved = 0;
		mark(pool, e.pfn, e.nblocks, true, direct);
		ext_insert(ext, n++, &e);
		want -= e.nblocks;
	}
	/* Maximal runs taken whole are never adjacent: no merging needed. */
	*next = n;
	return 0;
too_small:
	for (i = 0; i < n; i++)
		mark(pool, ext[i].pfn, ext[i].nblocks, false, false);
	return -E2BIG;
}

static int alloc_try(struct gmem_pool *pool, uint64_t nblocks, int node,
		     unsigned int flags, bool direct, struct gmem_extent *ext,
		     uint32_t *next)
{
	uint32_t cap = *next;
	int err;

	pthread_mutex_lock(&pool->lock);
	err = alloc_locked(pool, nblocks, node, flags, direct, ext, next);
	pthread_mutex_unlock(&pool->lock);
	if (err)
		*next = cap;
	return err;
}

static void free_blocks_of(struct gmem_pool *pool, const struct gmem_extent *ext,
			   uint32_t n)
{
	pthread_mutex_lock(&pool->lock);
	while (n--)
		mark(pool, ext[n].pfn, ext[n].nblocks, false, false);
	pthread_mutex_unlock(&pool->lock);
}

/* An allocation, growing a backend's pool when it lacks the blocks. The
 * blocks stay held while the source prepares them, so a failure there
 * gives back exactly what was taken. */
static int alloc_blocks(struct gmem_pool *pool, uint64_t nblocks, int node,
			unsigned int flags, bool direct,
			struct gmem_extent *ext, uint32_t *next)
{
	const struct pool_source *src = pool->src;
	unsigned int first = flags;
	uint32_t i;
	int err;

	if (src && src->node_first && node >= 0)
		first |= GMEM_ALLOC_NODE_STRICT;
	err = alloc_try(pool, nblocks, node, first, direct, ext, next);
	if (err == -ENOSPC && src) {
		err = src->grow(src->ctx, nblocks, node);
		if (!err)
			err = alloc_try(pool, nblocks, node, flags, direct,
					ext, next);
	}
	for (i = 0; !err && src && i < *next; i++) {
		err = src->prepare(src->ctx, ext[i].pfn, ext[i].nblocks);
		if (err)
			free_blocks_of(pool, ext, *next);
	}
	return err;
}

int gmem_pool_alloc(struct gmem_pool *pool, uint64_t nblocks,
		    const struct gmem_pool_alloc_opts *opts,
		    struct gmem_extent *ext, uint32_t *next)
{
	int err = OPTS_VALID(opts, gmem_pool_alloc_opts);
	int node = OPTS_GET(opts, node, -1);
	unsigned int flags = OPTS_GET(opts, flags, 0);

	if (err)
		return err;
	if (!pool || !nblocks || !ext || !next || node < -1 ||
	    node >= GMEM_MAX_NODES ||
	    (flags & ~(GMEM_ALLOC_NODE_STRICT | GMEM_ALLOC_CONTIG)) ||
	    ((flags & GMEM_ALLOC_NODE_STRICT) && node < 0))
		return -EINVAL;
	return alloc_blocks(pool, nblocks, node, flags, true, ext, next);
}

int pool_alloc_guest(struct gmem_pool *pool, uint64_t nblocks, int node,
		     struct gmem_extent *ext, uint32_t *next)
{
	return alloc_blocks(pool, nblocks, node, 0, false, ext, next);
}

/* Whether every block of the range is in a segment and used (direct). */
static bool all_used(const struct gmem_pool *pool, uint64_t pfn,
		     uint64_t nblocks, bool direct)
{
	uint32_t seg = seg_search(pool, pfn);

	while (nblocks) {
		const struct segment *s;
		uint64_t blk, n;

		if (seg == pool->nsegs || pool->segs[seg].pfn > pfn)
			return false;
		s = &pool->segs[seg++];
		blk = (pfn - s->pfn) / BF;
		n = s->nblocks - blk < nblocks ? s->nblocks - blk : nblocks;
		if (bits_count(direct ? s->direct : s->used, blk, blk + n) != n)
			return false;
		pfn += n * BF;
		nblocks -= n;
	}
	return true;
}

int gmem_pool_free(struct gmem_pool *pool, uint64_t pfn, uint64_t nblocks)
{
	int err = 0;

	if (!pool || !nblocks || pfn % BF || pfn >= GMEM_FRAME_LIMIT ||
	    nblocks > (GMEM_FRAME_LIMIT - pfn) / BF)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	if (all_used(pool, pfn, nblocks, true))
		mark(pool, pfn, nblocks, true, false);	/* claimed: held */
	else
		err = -EINVAL;
	pthread_mutex_unlock(&pool->lock);
	if (!err)
		pool_free_guest(pool, pfn, nblocks);
	return err;
}

void pool_free_guest(struct gmem_pool *pool, uint64_t pfn, uint64_t nblocks)
{
	if (pool->src)
		pool->src->release(pool->src->ctx, pfn, nblocks);
	pthread_mutex_lock(&pool->lock);
	mark(pool, pfn, nblocks, false, false);
	pthread_mutex_unlock(&pool->lock);
}

void pool_guest_get(struct gmem_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->guests++;
	pthread_mutex_unlock(&pool->lock);
}

void pool_guest_put(struct gmem_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->guests--;
	pthread_mutex_unlock(&pool->lock);
}

int gmem_pool_stats(struct gmem_pool *pool, int node,
		    struct gmem_pool_stats *stats)
{
	struct gmem_pool_stats st = { .sz = sizeof(st) };
	struct run r;
	uint32_t i;

	if (!pool || !stats || node < -1 || node >= GMEM_MAX_NODES)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	for (i = 0; i < pool->nsegs; i++)
		if (node < 0 || pool->segs[i].node == node)
			st.used_blocks += bits_count(pool->segs[i].used, 0,
						     pool->segs[i].nblocks);
	st.free_blocks = free_blocks(pool, node);
	for_each_run(pool, node, &r)
		if (r.nblocks > st.largest_free_run)
			st.largest_free_run = r.nblocks;
	st.meta_bytes = (uint64_t)heap_bytes(&pool->heap);
	pthread_mutex_unlock(&pool->lock);
	return out_struct(stats, &st, sizeof(st));
}
