/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What views use of a backend: its memory, mapped and discarded. */
#ifndef GMEM_LIB_BACKEND_H
#define GMEM_LIB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem/backend.h>

#include "huge_split.h"
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
/* Calls fn for each piece of file bytes [off, off + len) that one file
 * holds: the file the VMM maps, or a split page's (huge_split.h). */
int backend_pieces(const struct gmem_backend *be, uint64_t off, uint64_t len,
		   piece_fn fn, void *arg);
/* Allocates the memory of [off, off + len) (files only). */
int backend_allocate(struct gmem_backend *be, uint64_t off, uint64_t len);
/* Anonymous memory: the address of byte off; NULL for files. */
char *backend_anon_addr(const struct gmem_backend *be, uint64_t off);

/*
 * Hugetlb pages split into 4 KiB pages and joined (huge_split.h).
 * Enabling: 0, or -EOPNOTSUPP for other backends and kernels that cannot
 * hold writers. A move copies the page at off to its other file
 * (backend_page_move); the caller remaps every mapping of it, then drops
 * the old copy, or undoes the move. Hold and release bracket the move
 * for a writable mapping of the page.
 */
int backend_split_enable(struct gmem_backend *be);
bool backend_page_split(const struct gmem_backend *be, uint64_t off);
int backend_page_move(struct gmem_backend *be, uint64_t off, bool to_split);
void backend_page_undo(struct gmem_backend *be, uint64_t off, bool to_split);
void backend_page_drop(struct gmem_backend *be, uint64_t off, bool to_split);
int backend_hold(struct gmem_backend *be, void *addr, uint64_t len);
int backend_release(struct gmem_backend *be, void *addr, uint64_t len);

/* A view holds the backend. */
void backend_view_get(struct gmem_backend *be);
void backend_view_put(struct gmem_backend *be);

#endif
