/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Huge pages split into 4 KiB pages. A hugetlb page can only be mapped
 * whole, so a page whose frames must be mapped differently (a shared
 * hole in a private page) moves into a memfd of 4 KiB pages at the same
 * offsets, and back into one huge page once its frames agree again.
 * Writers through the page's mappings are held in the kernel while it
 * moves (userfaultfd write protection), so no write is lost.
 */
#ifndef GMEM_LIB_HUGE_SPLIT_H
#define GMEM_LIB_HUGE_SPLIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/heap.h"
#include "os.h"

struct huge_split {
	int fd;				/* the 4 KiB memfd, or -1: never split */
	int uffd;			/* holds writers during a move */
	uint64_t page_size;		/* bytes */
	uint64_t npages;		/* huge pages the file can hold */
	uint64_t *bits;			/* split pages, read and flipped
					 * atomically */
	_Atomic uint64_t splits, joins, join_fallbacks;
};

/* Nothing can split yet (fd -1). */
void huge_split_init(struct huge_split *hs, uint64_t page_size);
/* Makes splitting possible for a file of max bytes: the 4 KiB memfd and
 * the userfaultfd (from /dev/userfaultfd, which also holds the kernel's
 * own accesses such as KVM's). -EOPNOTSUPP where the kernel lacks them
 * or the process may not use them. Idempotent. */
int huge_split_enable(struct huge_split *hs, struct os *os, struct heap *h,
		      uint64_t max);
void huge_split_fini(struct huge_split *hs, struct os *os, struct heap *h);

static inline bool huge_split_test(const struct huge_split *hs, uint64_t off)
{
	uint64_t p = off / hs->page_size;

	return hs->bits && (__atomic_load_n(&hs->bits[p / 64],
					    __ATOMIC_ACQUIRE) >> (p % 64) & 1);
}

/* Pages split now. */
uint64_t huge_split_count(const struct huge_split *hs);

/* Calls fn for each piece of file bytes [off, off + len) that one file
 * holds: huge_fd, or the 4 KiB memfd for pages split; in order, stopping
 * at the first error. */
typedef int (*piece_fn)(void *arg, int fd, uint64_t off, uint64_t len);
int huge_split_pieces(const struct huge_split *hs, int huge_fd, uint64_t off,
		      uint64_t len, piece_fn fn, void *arg);

/*
 * Copies the huge page at off into the other file (to_split: the 4 KiB
 * memfd; else a huge page allocated for it, -ENOSPC if none is free)
 * and marks where it now lives. Its old copy stays until
 * huge_split_drop, so the caller can remap its mappings first. bind, if
 * set, places the new copy (called on a mapping of it).
 */
int huge_split_copy(struct huge_split *hs, struct os *os, int huge_fd,
		    uint64_t off, bool to_split,
		    int (*bind)(void *ctx, void *addr, uint64_t len),
		    void *ctx);
/* Undoes huge_split_copy: the page lives where it did, its new copy is
 * freed. */
void huge_split_undo(struct huge_split *hs, struct os *os, int huge_fd,
		     uint64_t off, bool to_split);
/* Frees the old copy of a page moved by huge_split_copy. */
void huge_split_drop(struct huge_split *hs, struct os *os, int huge_fd,
		     uint64_t off, bool to_split);
/* Forgets the split pages of [off, off + len), whose memory goes: their
 * 4 KiB pages are freed. */
void huge_split_forget(struct huge_split *hs, struct os *os, uint64_t off,
		       uint64_t len);

/* Holds writers to [addr, addr + len), a writable mapping of one huge
 * page: their writes wait in the kernel until huge_split_release. */
int huge_split_hold(struct huge_split *hs, struct os *os, void *addr,
		    uint64_t len);
/* Lets them write again, through whatever maps the range now. An error
 * means writers may still wait: the caller counts its view stale. */
int huge_split_release(struct huge_split *hs, struct os *os, void *addr,
		       uint64_t len);

#endif
