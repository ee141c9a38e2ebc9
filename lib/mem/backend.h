/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What views use of a backend: its memory, mapped and discarded. */
#ifndef GMEM_LIB_BACKEND_H
#define GMEM_LIB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem/backend.h>

#include "os.h"

struct gmem_backend;

struct os *backend_os(struct gmem_backend *be);
enum gmem_backend_kind backend_kind(const struct gmem_backend *be);
uint64_t backend_page_size(const struct gmem_backend *be);
struct gmem_pool *backend_pool(const struct gmem_backend *be);
/* The backend's file: guest_memfd itself for KVM; -1 anonymous. */
int backend_file(const struct gmem_backend *be);

/*
 * Where file bytes [off, off + len) appear to the VMM at addr (a view's
 * reservation): shared maps them read-write, !shared leaves the range
 * inaccessible. Anonymous memory has no second mapping: its addr is
 * backend_anon_addr() and the call changes its protection.
 */
int backend_map(struct gmem_backend *be, void *addr, uint64_t off,
		uint64_t len, bool shared);
/* The file the VMM maps: the shared copy where there are two. */
int backend_map_file(const struct gmem_backend *be);
/* A guest_memfd the VMM cannot map, with a memfd for shared memory. */
bool backend_two_copies(const struct gmem_backend *be);

#define BACKEND_PRIVATE_COPY (1u << 0)
#define BACKEND_SHARED_COPY (1u << 1)
#define BACKEND_BOTH_COPIES (BACKEND_PRIVATE_COPY | BACKEND_SHARED_COPY)
/* Punches out [off, off + len) of the copies named (of the one file,
 * where there is one): it reads back as zeros. */
int backend_discard(struct gmem_backend *be, uint64_t off, uint64_t len,
		    unsigned int copies);
/* Allocates the memory of [off, off + len) (files only). */
int backend_allocate(struct gmem_backend *be, uint64_t off, uint64_t len);
/* Anonymous memory: the address of byte off; NULL for files. */
char *backend_anon_addr(const struct gmem_backend *be, uint64_t off);

/* A view holds the backend. */
void backend_view_get(struct gmem_backend *be);
void backend_view_put(struct gmem_backend *be);

#endif
