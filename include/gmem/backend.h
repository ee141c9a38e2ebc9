/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backends: real memory for user-space VMMs (since 1.2).
 *
 * A backend is one file (or one anonymous area) that grows by 1 GiB
 * blocks, and the pool those blocks feed: a guest created on
 * gmem_backend_pool() gets real memory as its regions are added. A
 * block's frame numbers are its offset in the file divided by the frame
 * size, so gmem_translate() of a guest frame is also where its contents
 * live: pfn << GMEM_FRAME_SHIFT in the backend's file.
 *
 * Every system call of a backend, its view and the view's KVM binding
 * goes through one table of hooks, which an embedder or a test may
 * replace, in whole or in part: memory (mmap, munmap, mprotect, madvise,
 * mbind), files (memfd_create, open, pread, ftruncate, fallocate,
 * unlink, close) and ioctl (guest_memfd creation, KVM memory slots).
 *
 * Thread safety: gmem_backend_destroy is exclusive; the rest may be
 * called from any thread.
 */
#ifndef GMEM_BACKEND_H
#define GMEM_BACKEND_H

#include <gmem/common.h>
#include <gmem/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Operating-system hooks. Each returns 0 or a negative errno, never sets
 * errno for the caller, and does what the system call of its name does;
 * mmap returns the mapping through *out; ioctl, memfd_create, open and
 * pread return what the call returns (a count or a file descriptor)
 * when it is not negative. A NULL member means the system call itself.
 * gmem_os_default() fills a table with the system calls, so a hook can
 * wrap the default one.
 */
struct gmem_os_ops {
	size_t sz;
	void *ctx;
	int (*mmap)(void *ctx, void *addr, size_t len, int prot, int flags,
		    int fd, int64_t off, void **out);
	int (*munmap)(void *ctx, void *addr, size_t len);
	int (*mprotect)(void *ctx, void *addr, size_t len, int prot);
	int (*madvise)(void *ctx, void *addr, size_t len, int advice);
	int (*fallocate)(void *ctx, int fd, int mode, int64_t off,
			 int64_t len);
	int (*ftruncate)(void *ctx, int fd, int64_t len);
	/* As mbind(2): nodemask holds maxnode bits. */
	int (*mbind)(void *ctx, void *addr, size_t len, int mode,
		     const unsigned long *nodemask, unsigned long maxnode,
		     unsigned int flags);
	/* Since 1.4. */
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
	int (*memfd_create)(void *ctx, const char *name, unsigned int flags);
	int (*open)(void *ctx, const char *path, int flags, unsigned int mode);
	int64_t (*pread)(void *ctx, int fd, void *buf, size_t len,
			 int64_t off);
	int (*unlink)(void *ctx, const char *path);
	/* The descriptor is released even when an error is returned. */
	int (*close)(void *ctx, int fd);
};
#define gmem_os_ops__last_field close

/* Fills every hook of ops (ops->sz set by the caller) with the default.
 * Errors: none beyond the common ones. Threads: any. */
GMEM_API int gmem_os_default(struct gmem_os_ops *ops);

enum gmem_backend_kind {
	GMEM_BACKEND_MEMFD = 0,		/* memfd_create(2) */
	GMEM_BACKEND_HUGETLB = 1,	/* hugetlb memfd, or a hugetlbfs file */
	GMEM_BACKEND_GUEST_MEMFD = 2,	/* KVM_CREATE_GUEST_MEMFD */
	GMEM_BACKEND_ANON = 3,		/* anonymous memory */
};

/* Where blocks are placed. Nodes must exist (-EINVAL otherwise). */
enum gmem_numa_mode {
	GMEM_NUMA_NONE = 0,		/* the process's policy; blocks on node 0 */
	GMEM_NUMA_BIND = 1,		/* every block on numa_node */
	GMEM_NUMA_INTERLEAVE = 2,	/* pages interleaved over numa_nodes */
	GMEM_NUMA_REGION = 3,		/* each block on the node its region asks
					 * for (gmem_region_opts.node, or the
					 * guest's); none asked: not bound */
};

struct gmem_backend_opts {
	size_t sz;
	unsigned int kind;		/* enum gmem_backend_kind */
	unsigned int numa_mode;		/* enum gmem_numa_mode */
	int numa_node;			/* GMEM_NUMA_BIND */
	int vm_fd;			/* GMEM_BACKEND_GUEST_MEMFD: the VM */
	uint64_t numa_nodes;		/* GMEM_NUMA_INTERLEAVE: bit n, node n */
	/* HUGETLB: 2 MiB or 1 GiB (0: 2 MiB). A guest whose conversion
	 * granule is smaller gets a view only where pages can be split
	 * (gmem/view.h). */
	uint64_t page_size;
	/*
	 * GUEST_MEMFD: KVM's flags. 0 (since 1.5): MMAP | INIT_SHARED where
	 * the VM offers both (KVM_CAP_GUEST_MEMFD_FLAGS), one copy of memory
	 * that KVM and the VMM map; else 0, private memory only, and shared
	 * memory in a memfd of the same offsets: two copies, so conversions
	 * cannot keep contents (doc/memory.md).
	 */
	uint64_t gmem_flags;
	/* The most the backend may grow to; 0: 1 TiB. GUEST_MEMFD sizes its
	 * file, ANON reserves its address space with it, once. */
	uint64_t max_bytes;
	/* HUGETLB: make the file in this hugetlbfs mount (unlinked at
	 * once) instead of a hugetlb memfd. */
	const char *hugetlbfs_dir;
	const struct gmem_os_ops *os;		/* NULL: system calls */
	const struct gmem_alloc_ops *alloc;	/* NULL: jemalloc */
};
#define gmem_backend_opts__last_field alloc

struct gmem_backend;

/*
 * Makes a backend, empty until its pool grows, and that pool.
 * Errors: -EINVAL bad options or a node that does not exist;
 * -EOPNOTSUPP a NUMA policy without NUMA support, or a backend kind this
 * kernel lacks; -ENOMEM; otherwise the error of the system call that
 * failed. Threads: any.
 */
GMEM_API int gmem_backend_create(const struct gmem_backend_opts *opts,
				 struct gmem_backend **be);

/*
 * Releases the memory and the pool. A NULL backend is a no-op.
 * Errors: -EBUSY while a guest or a view uses it. Threads: exclusive.
 */
GMEM_API int gmem_backend_destroy(struct gmem_backend *be);

/*
 * The pool the backend feeds. When it lacks blocks for an allocation,
 * it grows by them (extending the file, binding the blocks' memory by
 * the NUMA policy). Blocks handed out read as zeros.
 * Errors: none beyond the common ones. Threads: any.
 */
GMEM_API int gmem_backend_pool(const struct gmem_backend *be,
			       struct gmem_pool **pool);

/* The backend's file descriptor, owned by the backend.
 * Errors: -EOPNOTSUPP for GMEM_BACKEND_ANON. Threads: any. */
GMEM_API int gmem_backend_fd(const struct gmem_backend *be, int *fd);

/* What a block is and where it lives. */
#define GMEM_BLOCK_PHYS_CONTIG (1u << 0)	/* phys_pfn starts a 1 GiB page */
struct gmem_block_info {
	size_t sz;
	int node;		/* the node it was bound to, as the pool has it */
	unsigned int flags;	/* GMEM_BLOCK_* */
	uint64_t phys_pfn;	/* host-physical frame of the block's first frame */
};
#define gmem_block_info__last_field phys_pfn

/*
 * Information on the block holding frame pfn. Populates the block's first
 * page (a file's; anonymous memory is read as it is) and reads its
 * physical frame from /proc/self/pagemap.
 * Errors: -EPERM the process may not see physical frames; -ENODATA the
 * page is not in memory; -ENOENT no block holds pfn; otherwise the error
 * of the system call that failed. Threads: any.
 */
GMEM_API int gmem_backend_block_info(struct gmem_backend *be, uint64_t pfn,
				     struct gmem_block_info *info);

struct gmem_backend_stats {
	size_t sz;
	uint64_t blocks;	/* grown so far */
	uint64_t page_size;	/* bytes of the backing pages */
	uint64_t os_calls;	/* hooks called, all kinds */
	uint64_t mmap_calls, munmap_calls, mprotect_calls, madvise_calls,
		 fallocate_calls, ftruncate_calls, mbind_calls;
	/* Since 1.4. */
	uint64_t ioctl_calls, memfd_create_calls, open_calls, pread_calls,
		 unlink_calls, close_calls;
	/* Since 1.5: GUEST_MEMFD's flags, as made; and the copies of
	 * memory, 2 where guest_memfd holds private memory only and a
	 * memfd the shared, else 1. */
	uint64_t gmem_flags;
	uint64_t copies;
	/* Since 1.5, HUGETLB under a view with a granule below the page
	 * (gmem/view.h): huge pages held as 4 KiB pages now, splits and
	 * joins so far, and joins put off for want of a free huge page. */
	uint64_t split_pages, splits, joins, join_fallbacks;
};
#define gmem_backend_stats__last_field join_fallbacks

/* Counts of the backend, hooks called by kind among them.
 * Errors: none beyond the common ones. Threads: any. */
GMEM_API int gmem_backend_stats(const struct gmem_backend *be,
				struct gmem_backend_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_BACKEND_H */
