/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one metadata allocation interface. Every allocation of the library
 * goes through a heap: the embedder's callbacks or a private jemalloc
 * arena. A heap counts the bytes it holds, for statistics and for proving
 * that nothing leaks.
 */
#ifndef GMEM_LIB_HEAP_H
#define GMEM_LIB_HEAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gmem/common.h>

struct heap {
	void *(*alloc)(void *ctx, size_t size, size_t align);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
	_Atomic int64_t bytes;
};

/* Sets up h from the embedder's ops, or the private arena if ops is NULL. */
int heap_init(struct heap *h, const struct gmem_alloc_ops *ops);
/* Whether the heap takes any power-of-two alignment: the embedder's
 * callbacks promise only 64 bytes. */
bool heap_aligns_any(const struct heap *h);
/* A heap drawing from the same source as parent, counting on its own. */
void heap_init_child(struct heap *h, const struct heap *parent);

void *heap_alloc(struct heap *h, size_t size, size_t align);
void *heap_zalloc(struct heap *h, size_t size, size_t align);
void heap_free(struct heap *h, void *ptr, size_t size);
/* Table pages, and other memory walked a line per 2 MiB of the guest
 * (a frame set's slots), zeroed: from the private arena through a cache
 * of their own (heap.c), or the embedder's callbacks as any
 * allocation. */
void *heap_zalloc_pages(struct heap *h, size_t size, size_t align);
void heap_free_pages(struct heap *h, void *ptr, size_t size);

/*
 * Room for need elements of size bytes in the array at *(void **)array,
 * of *cap elements (n in use): the capacity doubles from first until it
 * holds need, and the n are copied over. 0 or -ENOMEM, the array as it
 * was.
 */
int heap_grow(struct heap *h, void *array, uint32_t *cap, uint32_t n,
	      uint32_t need, size_t size, uint32_t first);

static inline int64_t heap_bytes(const struct heap *h)
{
	return atomic_load_explicit(&h->bytes, memory_order_relaxed);
}

#endif
