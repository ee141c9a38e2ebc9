/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

#include "heap.h"
#include "opts.h"
#include "port.h"

/* One arena for the whole library: its memory never mixes with the
 * embedding program's heap. Each thread that allocates gets a cache of
 * its own for that arena (an explicit jemalloc tcache), never the
 * program's thread cache, so that no object of ours lingers where the
 * program's allocations live and conversions take no arena lock; and
 * one more for table pages and slots (heap_zalloc_pages), which a cache
 * shared with the rest would hand to other allocations of their size. */
enum { CACHE_META, CACHE_PAGES, NCACHES };

static unsigned int arena_index;
static int arena_error;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static pthread_key_t tcache_key[NCACHES];
static __thread unsigned int tcache_plus1[NCACHES]
	__attribute__((tls_model("initial-exec")));	/* 0: none yet */

static void tcache_destroy(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg - 1;

	mallctl("tcache.destroy", NULL, NULL, &id, sizeof(id));
}

/*
 * The arena's memory is mapped in 2 MiB aligned chunks advised for huge
 * pages (where the kernel has them, as its own tables and structures
 * are in its direct map). A walk over a large table touches one page of
 * it per 2 MiB of the guest, and a harvest's walk over a frame set's
 * slots a line per 2 MiB: in 4 KiB pages of the process each is a TLB
 * miss. A harvest also starts cold (a VMM harvests every few
 * milliseconds, its vCPUs running in between), and before its first
 * frame it reads the builder, its log, the sets' slot arrays and the
 * logged ranges: each a TLB miss more on a page of its own, a walk of
 * the process's tables and, in a guest, of the host's (a harvest of 16
 * runs of 2 MiB against the per-word scan: 3.03 -> 3.23x, medians of
 * tools/bench-ab -n 8). The cost is up to 2 MiB of memory a chunk the
 * kernel backs with a huge page.
 */
#define HUGE_BYTES ((size_t)2 << 20)

static extent_hooks_t *base_hooks, huge_hooks;

static void *huge_extent_alloc(extent_hooks_t *hooks, void *addr,
			       size_t size, size_t align, bool *zero,
			       bool *commit, unsigned int arena)
{
	void *p;

	(void)hooks;
	if (!addr && size >= HUGE_BYTES && align < HUGE_BYTES)
		align = HUGE_BYTES;
	p = base_hooks->alloc(base_hooks, addr, size, align, zero, commit,
			      arena);
	if (p)
		port_advise_huge(p, size);
	return p;
}

/* The arena, made with jemalloc's default hooks, then given its own:
 * the defaults but for alloc. */
static int huge_arena_create(void)
{
	extent_hooks_t *hooks = &huge_hooks;
	size_t len = sizeof(arena_index);
	char name[64];

	if (mallctl("arenas.create", &arena_index, &len, NULL, 0))
		return -ENOMEM;
	snprintf(name, sizeof(name), "arena.%u.extent_hooks", arena_index);
	len = sizeof(base_hooks);
	if (mallctl(name, &base_hooks, &len, NULL, 0))
		return -ENOMEM;
	huge_hooks = *base_hooks;
	huge_hooks.alloc = huge_extent_alloc;
	return mallctl(name, NULL, NULL, &hooks, sizeof(hooks)) ? -ENOMEM : 0;
}

static void arena_create(void)
{
	if (huge_arena_create() ||
	    pthread_key_create(&tcache_key[CACHE_META], tcache_destroy) ||
	    pthread_key_create(&tcache_key[CACHE_PAGES], tcache_destroy))
		arena_error = -ENOMEM;
}

/* The calling thread's cache c, made on first use; without one (the
 * thread could not get one), the arena itself. */
static int tcache_flag(unsigned int c)
{
	unsigned int id;
	size_t len = sizeof(id);

	if (!tcache_plus1[c] && !mallctl("tcache.create", &id, &len, NULL, 0)) {
		if (pthread_setspecific(tcache_key[c],
					(void *)(uintptr_t)(id + 1))) {
			mallctl("tcache.destroy", NULL, NULL, &id, sizeof(id));
			return MALLOCX_TCACHE_NONE;
		}
		tcache_plus1[c] = id + 1;
	}
	return tcache_plus1[c] ? MALLOCX_TCACHE(tcache_plus1[c] - 1)
			       : MALLOCX_TCACHE_NONE;
}

static void *arena_alloc(void *ctx, size_t size, size_t align)
{
	int flags = MALLOCX_ARENA(arena_index) | tcache_flag(CACHE_META);

	(void)ctx;
	if (align > 16)
		flags |= MALLOCX_ALIGN(align);
	return mallocx(size, flags);
}

static void arena_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	dallocx(ptr, tcache_flag(CACHE_META));
}

int heap_init(struct heap *h, const struct gmem_alloc_ops *ops)
{
	int err = OPTS_VALID(ops, gmem_alloc_ops);

	if (err)
		return err;
	memset(h, 0, sizeof(*h));
	if (OPTS_GET(ops, alloc, NULL) || OPTS_GET(ops, free, NULL)) {
		if (!OPTS_GET(ops, alloc, NULL) || !OPTS_GET(ops, free, NULL))
			return -EINVAL;
		h->alloc = ops->alloc;
		h->free = ops->free;
		h->ctx = OPTS_GET(ops, ctx, NULL);
		return 0;
	}
	pthread_once(&arena_once, arena_create);
	if (arena_error)
		return arena_error;
	h->alloc = arena_alloc;
	h->free = arena_free;
	return 0;
}

bool heap_aligns_any(const struct heap *h)
{
	return h->alloc == arena_alloc;
}

void heap_init_child(struct heap *h, const struct heap *parent)
{
	h->alloc = parent->alloc;
	h->free = parent->free;
	h->ctx = parent->ctx;
	atomic_init(&h->bytes, 0);
}

/* Counts bytes of h taken (size > 0) or given back. */
static void heap_count(struct heap *h, int64_t bytes)
{
	atomic_fetch_add_explicit(&h->bytes, bytes, memory_order_relaxed);
}

void *heap_alloc(struct heap *h, size_t size, size_t align)
{
	void *p = h->alloc(h->ctx, size, align);

	if (p)
		heap_count(h, (int64_t)size);
	return p;
}

void *heap_zalloc(struct heap *h, size_t size, size_t align)
{
	void *p = heap_alloc(h, size, align);

	if (p)
		memset(p, 0, size);
	return p;
}

void *heap_zalloc_pages(struct heap *h, size_t size, size_t align)
{
	void *p;

	if (h->alloc != arena_alloc)
		return heap_zalloc(h, size, align);
	p = mallocx(size, MALLOCX_ARENA(arena_index) |
				  tcache_flag(CACHE_PAGES) |
				  MALLOCX_ALIGN(align) | MALLOCX_ZERO);
	if (p)
		heap_count(h, (int64_t)size);
	return p;
}

void heap_free_pages(struct heap *h, void *ptr, size_t size)
{
	if (h->alloc != arena_alloc) {
		heap_free(h, ptr, size);
		return;
	}
	if (!ptr)
		return;
	heap_count(h, -(int64_t)size);
	dallocx(ptr, tcache_flag(CACHE_PAGES));
}

int heap_grow(struct heap *h, void *array, uint32_t *cap, uint32_t n,
	      uint32_t need, size_t size, uint32_t first)
{
	uint32_t c = *cap ? *cap : first;
	void *old, *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = heap_alloc(h, c * size, 8);
	if (!p)
		return -ENOMEM;
	/* The array's own pointer type is the caller's: copied as bytes. */
	memcpy(&old, array, sizeof(old));
	if (n)
		memcpy(p, old, n * size);
	heap_free(h, old, *cap * size);
	memcpy(array, &p, sizeof(p));
	*cap = c;
	return 0;
}

void heap_free(struct heap *h, void *ptr, size_t size)
{
	if (!ptr)
		return;
	heap_count(h, -(int64_t)size);
	h->free(h->ctx, ptr, size);
}
