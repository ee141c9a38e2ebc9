/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backends: one file (or one anonymous reservation) grown by 1 GiB
 * blocks as its pool asks, each block placed by the NUMA policy. Frame
 * numbers are file offsets, so the pool's order is the file's order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/bits.h"
#include "core/heap.h"
#include "core/opts.h"
#include "pool/pool.h"
#include "backend.h"
#include "huge_split.h"
#include "kvm_uapi.h"
#include "placement.h"

#define GIB (UINT64_C(1) << GMEM_BLOCK_SHIFT)
#define MIB2 (UINT64_C(1) << 21)

struct gmem_backend {
	struct heap heap;
	struct os os;
	struct gmem_pool *pool;
	struct pool_source src;
	struct placement numa;
	enum gmem_backend_kind kind;
	int fd;				/* -1: anonymous */
	int shared_fd;			/* the shared copy of a guest_memfd
					 * that cannot be mapped, or -1 */
	uint64_t gmem_flags;		/* guest_memfd's, as made */
	char *area;			/* anonymous: 1 GiB-aligned */
	void *resv;			/* anonymous: the whole reservation */
	uint64_t resv_len;
	uint64_t page_size;
	uint64_t max_blocks;
	pthread_mutex_t grow_lock;
	_Atomic uint64_t nblocks;	/* grown; changed under grow_lock */
	int32_t *block_node;		/* max_blocks */
	uint64_t *dirty;		/* blocks whose release failed */
	struct huge_split split;	/* hugetlb pages split for views */
	_Atomic int views;
};

struct os *backend_os(struct gmem_backend *be)
{
	return &be->os;
}

enum gmem_backend_kind backend_kind(const struct gmem_backend *be)
{
	return be->kind;
}

uint64_t backend_page_size(const struct gmem_backend *be)
{
	return be->page_size;
}

struct gmem_pool *backend_pool(const struct gmem_backend *be)
{
	return be->pool;
}

int backend_file(const struct gmem_backend *be)
{
	return be->fd;
}

int backend_map_file(const struct gmem_backend *be)
{
	return be->shared_fd >= 0 ? be->shared_fd : be->fd;
}

bool backend_two_copies(const struct gmem_backend *be)
{
	return be->shared_fd >= 0;
}

char *backend_anon_addr(const struct gmem_backend *be, uint64_t off)
{
	return be->area ? be->area + off : NULL;
}

void backend_view_get(struct gmem_backend *be)
{
	atomic_fetch_add(&be->views, 1);
}

void backend_view_put(struct gmem_backend *be)
{
	atomic_fetch_sub(&be->views, 1);
}

int backend_pieces(const struct gmem_backend *be, uint64_t off, uint64_t len,
		   piece_fn fn, void *arg)
{
	return huge_split_pieces(&be->split, backend_map_file(be), off, len,
				 fn, arg);
}

struct map_piece {
	struct gmem_backend *be;
	char *addr;		/* where byte off0 goes */
	uint64_t off0;
};

static int map_piece(void *arg, int fd, uint64_t off, uint64_t len)
{
	struct map_piece *m = arg;
	void *got;

	return os_mmap(&m->be->os, m->addr + (off - m->off0), len,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		       (int64_t)off, &got);
}

int backend_map(struct gmem_backend *be, void *addr, uint64_t off,
		uint64_t len, bool shared)
{
	struct map_piece m = { be, addr, off };
	void *got;

	if (be->area)
		return os_mprotect(&be->os, be->area + off, len,
				   shared ? PROT_READ | PROT_WRITE : PROT_NONE);
	if (shared)
		return backend_pieces(be, off, len, map_piece, &m);
	/* A fresh inaccessible mapping, not mprotect: the file's pages leave
	 * the VMM's page tables, as they must for memory the guest made
	 * private. */
	return os_mmap(&be->os, addr, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		       -1, 0, &got);
}

static int punch_piece(void *arg, int fd, uint64_t off, uint64_t len)
{
	struct gmem_backend *be = arg;

	return os_punch(&be->os, fd, off, len);
}

int backend_discard(struct gmem_backend *be, uint64_t off, uint64_t len,
		    unsigned int copies)
{
	int err = 0;

	if (be->area)
		return os_madvise(&be->os, be->area + off, len, MADV_DONTNEED);
	if (be->shared_fd < 0)
		return backend_pieces(be, off, len, punch_piece, be);
	if (copies & BACKEND_PRIVATE_COPY)
		err = os_punch(&be->os, be->fd, off, len);
	if (!err && (copies & BACKEND_SHARED_COPY))
		err = os_punch(&be->os, be->shared_fd, off, len);
	return err;
}

static int allocate_piece(void *arg, int fd, uint64_t off, uint64_t len)
{
	struct gmem_backend *be = arg;

	return os_fallocate(&be->os, fd, FALLOC_FL_KEEP_SIZE, (int64_t)off,
			    (int64_t)len);
}

int backend_allocate(struct gmem_backend *be, uint64_t off, uint64_t len)
{
	if (be->area)
		return 0;
	return backend_pieces(be, off, len, allocate_piece, be);
}

int backend_split_enable(struct gmem_backend *be)
{
	int err;

	if (be->kind != GMEM_BACKEND_HUGETLB)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&be->grow_lock);
	err = huge_split_enable(&be->split, &be->os, &be->heap,
				be->max_blocks * GIB);
	pthread_mutex_unlock(&be->grow_lock);
	return err;
}

bool backend_page_split(const struct gmem_backend *be, uint64_t off)
{
	return huge_split_test(&be->split, off);
}

/* A split page's 4 KiB pages go where its block was placed. */
static int bind_split(void *ctx, void *addr, uint64_t len)
{
	struct map_piece *m = ctx;
	struct gmem_backend *be = m->be;

	if (be->numa.mode == GMEM_NUMA_NONE)
		return 0;
	return placement_bind(&be->os, &be->numa,
			      be->block_node[m->off0 / GIB], addr, len);
}

int backend_page_move(struct gmem_backend *be, uint64_t off, bool to_split)
{
	struct map_piece m = { be, NULL, off };

	return huge_split_copy(&be->split, &be->os, be->fd, off, to_split,
			       bind_split, &m);
}

void backend_page_undo(struct gmem_backend *be, uint64_t off, bool to_split)
{
	huge_split_undo(&be->split, &be->os, be->fd, off, to_split);
}

void backend_page_drop(struct gmem_backend *be, uint64_t off, bool to_split)
{
	huge_split_drop(&be->split, &be->os, be->fd, off, to_split);
}

int backend_hold(struct gmem_backend *be, void *addr, uint64_t len)
{
	return huge_split_hold(&be->split, &be->os, addr, len);
}

int backend_release(struct gmem_backend *be, void *addr, uint64_t len)
{
	return huge_split_release(&be->split, &be->os, addr, len);
}

/*
 * Places [off, off + len) by the policy. A file's placement must outlive
 * the mapping used to set it: shmem and guest_memfd keep a policy per
 * file range, but hugetlbfs keeps none, so its pages are allocated now,
 * through the bound mapping.
 */
static int place(struct gmem_backend *be, uint64_t off, uint64_t len, int node)
{
	void *map;
	int err;

	if (be->area)
		return placement_bind(&be->os, &be->numa, node, be->area + off, len);
	/* A guest_memfd that cannot be mapped cannot be bound: its private
	 * copy is placed by the policy of the thread that faults it. */
	err = os_mmap(&be->os, NULL, len, PROT_NONE, MAP_SHARED,
		      backend_map_file(be), (int64_t)off, &map);
	if (err)
		return err;
	err = placement_bind(&be->os, &be->numa, node, map, len);
	if (!err && be->kind == GMEM_BACKEND_HUGETLB)
		err = os_fallocate(&be->os, be->fd, FALLOC_FL_KEEP_SIZE,
				   (int64_t)off, (int64_t)len);
	/* The placement is made; an unmap that fails leaves only an
	 * inaccessible mapping behind. */
	os_munmap(&be->os, map, len);
	return err;
}

/* pool_source.grow: nblocks more at the end of the file. */
static int grow(void *ctx, uint64_t nblocks, int want)
{
	struct gmem_backend *be = ctx;
	uint64_t off, len, i;
	bool bind;
	int node, err;

	err = placement_block_node(&be->numa, want, &node, &bind);
	if (err)
		return err;
	pthread_mutex_lock(&be->grow_lock);
	if (nblocks > be->max_blocks - be->nblocks) {
		err = -ENOSPC;
		goto out;
	}
	off = be->nblocks * GIB;
	len = nblocks * GIB;
	if (be->kind == GMEM_BACKEND_MEMFD || be->kind == GMEM_BACKEND_HUGETLB)
		err = os_ftruncate(&be->os, be->fd, (int64_t)(off + len));
	if (!err && bind)
		err = place(be, off, len, node);
	if (!err)
		err = pool_add_frames(be->pool, off >> GMEM_FRAME_SHIFT,
				      len >> GMEM_FRAME_SHIFT, node, NULL);
	/* On failure the file keeps its size: the next growth reuses the
	 * range and places it again. */
	for (i = 0; !err && i < nblocks; i++)
		be->block_node[be->nblocks + i] = node;
	if (!err)
		be->nblocks += nblocks;
out:
	pthread_mutex_unlock(&be->grow_lock);
	return err;
}

/* pool_source.prepare: a block whose release failed still holds the data
 * of its last guest, which the next must never see. */
static int prepare(void *ctx, uint64_t pfn, uint64_t nblocks)
{
	struct gmem_backend *be = ctx;
	uint64_t b = pfn / GMEM_BLOCK_FRAMES, end = b + nblocks;
	int err = 0;

	pthread_mutex_lock(&be->grow_lock);
	for (; b < end && !err; b++) {
		if (!bits_test(be->dirty, b))
			continue;
		err = backend_discard(be, b * GIB, GIB, BACKEND_BOTH_COPIES);
		if (!err)
			huge_split_forget(&be->split, &be->os, b * GIB, GIB);
		if (!err)
			bits_assign(be->dirty, b, b + 1, false);
	}
	pthread_mutex_unlock(&be->grow_lock);
	return err;
}

/* pool_source.release: the memory goes back to the system. */
static void release(void *ctx, uint64_t pfn, uint64_t nblocks)
{
	struct gmem_backend *be = ctx;
	uint64_t b = pfn / GMEM_BLOCK_FRAMES;

	huge_split_forget(&be->split, &be->os, b * GIB, nblocks * GIB);
	if (backend_discard(be, b * GIB, nblocks * GIB, BACKEND_BOTH_COPIES)) {
		pthread_mutex_lock(&be->grow_lock);
		bits_assign(be->dirty, b, b + nblocks, true);
		pthread_mutex_unlock(&be->grow_lock);
	}
}

/* A hook's descriptor or negative errno. */
static int set_fd(struct gmem_backend *be, int fd)
{
	if (fd < 0)
		return fd;
	be->fd = fd;
	return 0;
}

/*
 * A file of its own in a hugetlbfs mount, unlinked at once so that it
 * goes with its last descriptor. Names are tried as mkstemp(3) does,
 * through the hooks.
 */
static int open_hugetlbfs(struct gmem_backend *be, const char *dir)
{
	static _Atomic uint32_t seq;
	char path[4096];
	int fd = -EEXIST;

	for (int tries = 0; fd == -EEXIST && tries < 100; tries++) {
		if (snprintf(path, sizeof(path), "%s/gmem.%ld.%u", dir,
			     (long)getpid(), atomic_fetch_add(&seq, 1)) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		fd = os_open(&be->os, path,
			     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return fd;
	os_unlink(&be->os, path);
	return set_fd(be, fd);
}

/*
 * guest_memfd's flags, where the VM has guest_memfd at all: the caller's,
 * or one copy of memory that KVM and the VMM both map (MMAP | INIT_SHARED)
 * where the VM offers it, else a guest_memfd of private memory only (as on
 * VMs with private memory in Linux 6.18, and on every VM before 6.17).
 */
static int guest_memfd_flags(struct gmem_backend *be, int vm, uint64_t asked,
			     uint64_t *flags)
{
	const uint64_t in_place = GUEST_MEMFD_FLAG_MMAP |
				  GUEST_MEMFD_FLAG_INIT_SHARED;
	int offer;

	/* Without it KVM_CREATE_GUEST_MEMFD is an unknown ioctl (ENOTTY),
	 * as on KVMs built without private memory (PVM, say). */
	offer = os_ioctl(&be->os, vm, KVM_CHECK_EXTENSION,
			 (void *)(uintptr_t)KVM_CAP_GUEST_MEMFD);
	if (offer <= 0)
		return offer < 0 ? offer : -EOPNOTSUPP;
	*flags = asked;
	if (asked)
		return 0;
	offer = os_ioctl(&be->os, vm, KVM_CHECK_EXTENSION,
			 (void *)(uintptr_t)KVM_CAP_GUEST_MEMFD_FLAGS);
	if (offer < 0)
		return offer;
	*flags = ((uint64_t)offer & in_place) == in_place ? in_place : 0;
	return 0;
}

/*
 * A guest_memfd. Without INIT_SHARED the VMM cannot map it, so shared
 * memory is a second file, a memfd of the same size at the same offsets:
 * two copies, one for each state, as KVM's memory attributes expect.
 */
static int open_guest_memfd(struct gmem_backend *be,
			    const struct gmem_backend_opts *opts, uint64_t max)
{
	struct kvm_create_guest_memfd gc = { .size = max };
	int vm = OPTS_GET(opts, vm_fd, -1), fd, err;
	uint64_t flags;

	if (vm < 0)
		return -EINVAL;
	err = guest_memfd_flags(be, vm, OPTS_GET(opts, gmem_flags, 0), &flags);
	gc.flags = flags;
	if (!err)
		err = set_fd(be, os_ioctl(&be->os, vm, KVM_CREATE_GUEST_MEMFD,
					  &gc));
	if (err)
		return err;
	be->gmem_flags = gc.flags;
	if (gc.flags & GUEST_MEMFD_FLAG_INIT_SHARED)
		return 0;
	fd = os_memfd_create(&be->os, "gmem-shared", MFD_CLOEXEC);
	if (fd < 0)
		return fd;
	be->shared_fd = fd;
	return os_ftruncate(&be->os, fd, (int64_t)max);
}

static int open_file(struct gmem_backend *be,
		     const struct gmem_backend_opts *opts, uint64_t max)
{
	const char *dir = OPTS_GET(opts, hugetlbfs_dir, NULL);
	unsigned int mfd = MFD_CLOEXEC;

	switch (be->kind) {
	case GMEM_BACKEND_GUEST_MEMFD:
		return open_guest_memfd(be, opts, max);
	case GMEM_BACKEND_HUGETLB:
		if (dir)
			return open_hugetlbfs(be, dir);
		mfd |= MFD_HUGETLB | (be->page_size == GIB ? MFD_HUGE_1GB
							   : MFD_HUGE_2MB);
		/* fall through */
	case GMEM_BACKEND_MEMFD:
		return set_fd(be, os_memfd_create(&be->os, "gmem", mfd));
	case GMEM_BACKEND_ANON:
		break;
	}
	return 0;
}

/* Anonymous memory: one reservation, never moved, 1 GiB-aligned so that
 * blocks can be mapped huge. */
static int reserve_anon(struct gmem_backend *be, uint64_t max)
{
	int err = os_mmap(&be->os, NULL, max + GIB, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
			  &be->resv);

	if (err)
		return err;
	be->resv_len = max + GIB;
	be->area = (char *)(((uintptr_t)be->resv + GIB - 1) & ~(GIB - 1));
	return 0;
}

static int check_opts(const struct gmem_backend_opts *opts, uint64_t *max,
		      uint64_t *page)
{
	unsigned int kind = OPTS_GET(opts, kind, GMEM_BACKEND_MEMFD);
	uint64_t ps = OPTS_GET(opts, page_size, 0);

	*max = OPTS_GET(opts, max_bytes, 0) ? OPTS_GET(opts, max_bytes, 0)
					    : UINT64_C(1) << 40;
	if (kind > GMEM_BACKEND_ANON || *max % GIB ||
	    *max > GMEM_FRAME_LIMIT << GMEM_FRAME_SHIFT)
		return -EINVAL;
	if (kind == GMEM_BACKEND_HUGETLB) {
		ps = ps ? ps : MIB2;
		if (ps != MIB2 && ps != GIB)
			return -EINVAL;
	} else if (ps && ps != 4096) {
		return -EINVAL;
	} else {
		ps = 4096;
	}
	*page = ps;
	if (OPTS_GET(opts, gmem_flags, 0) && kind != GMEM_BACKEND_GUEST_MEMFD)
		return -EINVAL;
	return 0;
}

static void backend_free(struct gmem_backend *be)
{
	struct heap heap = be->heap;

	pool_destroy(be->pool);
	huge_split_fini(&be->split, &be->os, &be->heap);
	if (be->fd >= 0)
		os_close(&be->os, be->fd);
	if (be->shared_fd >= 0)
		os_close(&be->os, be->shared_fd);
	if (be->resv)
		os_munmap(&be->os, be->resv, be->resv_len);
	heap_free(&be->heap, be->block_node,
		  be->max_blocks * sizeof(*be->block_node));
	heap_free(&be->heap, be->dirty, bits_bytes(be->max_blocks));
	pthread_mutex_destroy(&be->grow_lock);
	heap_free(&heap, be, sizeof(*be));
}

int gmem_backend_create(const struct gmem_backend_opts *opts,
			struct gmem_backend **out)
{
	GMEM_OPTS(gmem_pool_opts, popts, .alloc = OPTS_GET(opts, alloc, NULL));
	uint64_t max, page;
	struct gmem_backend *be;
	struct heap heap;
	int err = OPTS_VALID(opts, gmem_backend_opts);

	if (!err && !out)
		err = -EINVAL;
	if (!err)
		err = check_opts(opts, &max, &page);
	if (err)
		return err;
	err = heap_init(&heap, OPTS_GET(opts, alloc, NULL));
	if (err)
		return err;
	be = heap_zalloc(&heap, sizeof(*be), 8);
	if (!be)
		return -ENOMEM;
	be->heap = heap;
	be->fd = be->shared_fd = -1;
	be->kind = OPTS_GET(opts, kind, GMEM_BACKEND_MEMFD);
	be->page_size = page;
	huge_split_init(&be->split, page);
	be->max_blocks = max / GIB;
	be->numa = (struct placement){
		.mode = OPTS_GET(opts, numa_mode, GMEM_NUMA_NONE),
		.node = OPTS_GET(opts, numa_node, 0),
		.nodes = OPTS_GET(opts, numa_nodes, 0),
	};
	pthread_mutex_init(&be->grow_lock, NULL);
	be->block_node = heap_zalloc(&be->heap,
				     be->max_blocks * sizeof(*be->block_node), 8);
	be->dirty = heap_zalloc(&be->heap, bits_bytes(be->max_blocks), 8);
	err = !be->block_node || !be->dirty ? -ENOMEM : 0;
	if (!err)
		err = os_init(&be->os, OPTS_GET(opts, os, NULL));
	if (!err)
		err = placement_check(&be->numa);
	if (!err)
		err = be->kind == GMEM_BACKEND_ANON ? reserve_anon(be, max)
						    : open_file(be, opts, max);
	if (!err)
		err = gmem_pool_create(&popts, &be->pool);
	if (err) {
		backend_free(be);
		return err;
	}
	be->src = (struct pool_source){
		.grow = grow, .prepare = prepare, .release = release,
		.ctx = be, .node_first = be->numa.mode == GMEM_NUMA_REGION,
	};
	pool_set_source(be->pool, &be->src);
	*out = be;
	return 0;
}

int gmem_backend_destroy(struct gmem_backend *be)
{
	if (!be)
		return 0;
	if (atomic_load(&be->views) || pool_busy(be->pool))
		return -EBUSY;
	backend_free(be);
	return 0;
}

int gmem_backend_pool(const struct gmem_backend *be, struct gmem_pool **pool)
{
	if (!be || !pool)
		return -EINVAL;
	*pool = be->pool;
	return 0;
}

int gmem_backend_fd(const struct gmem_backend *be, int *fd)
{
	if (!be || !fd)
		return -EINVAL;
	if (be->fd < 0)
		return -EOPNOTSUPP;
	*fd = be->fd;
	return 0;
}

/* The physical frame behind virtual address va, from pagemap. */
static int phys_of(struct os *os, const void *va, uint64_t *pfn)
{
	uint64_t ent;
	int fd = os_open(os, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	int64_t n;

	if (fd < 0)
		return fd;
	n = os_pread(os, fd, &ent, sizeof(ent),
		     (int64_t)((uintptr_t)va / 4096 * sizeof(ent)));
	os_close(os, fd);
	if (n != (int64_t)sizeof(ent))
		return n < 0 ? (int)n : -EIO;
	if (!(ent >> 63))
		return -ENODATA;
	*pfn = ent & ((UINT64_C(1) << 55) - 1);
	return *pfn ? 0 : -EPERM;	/* frames hidden without CAP_SYS_ADMIN */
}

int gmem_backend_block_info(struct gmem_backend *be, uint64_t pfn,
			    struct gmem_block_info *info)
{
	struct gmem_block_info res = { .sz = sizeof(res) };
	uint64_t b = pfn / GMEM_BLOCK_FRAMES;
	void *map = NULL;
	int err;

	if (!be || !info || info->sz < sizeof(size_t))
		return -EINVAL;
	pthread_mutex_lock(&be->grow_lock);
	err = b < be->nblocks ? 0 : -ENOENT;
	if (!err)
		res.node = be->block_node[b];
	pthread_mutex_unlock(&be->grow_lock);
	if (err)
		return err;
	if (be->area) {
		err = phys_of(&be->os, be->area + b * GIB, &res.phys_pfn);
	} else {
		int fd = backend_page_split(be, b * GIB) ? be->split.fd
							 : backend_map_file(be);

		err = os_mmap(&be->os, NULL, be->page_size, PROT_READ,
			      MAP_SHARED | MAP_POPULATE, fd, (int64_t)(b * GIB),
			      &map);
		if (!err)
			err = phys_of(&be->os, map, &res.phys_pfn);
		if (map)
			os_munmap(&be->os, map, be->page_size);
	}
	if (err)
		return err;
	if (be->page_size == GIB)
		res.flags |= GMEM_BLOCK_PHYS_CONTIG;
	return out_struct(info, &res, sizeof(res));
}

int gmem_backend_stats(const struct gmem_backend *be,
		       struct gmem_backend_stats *stats)
{
	struct gmem_backend_stats res = { .sz = sizeof(res) };
	const _Atomic uint64_t *c;

	if (!be || !stats || stats->sz < sizeof(size_t))
		return -EINVAL;
	c = be->os.calls;
	res.blocks = atomic_load(&be->nblocks);
	res.page_size = be->page_size;
	res.mmap_calls = atomic_load(&c[OS_CALL_mmap]);
	res.munmap_calls = atomic_load(&c[OS_CALL_munmap]);
	res.mprotect_calls = atomic_load(&c[OS_CALL_mprotect]);
	res.madvise_calls = atomic_load(&c[OS_CALL_madvise]);
	res.fallocate_calls = atomic_load(&c[OS_CALL_fallocate]);
	res.ftruncate_calls = atomic_load(&c[OS_CALL_ftruncate]);
	res.mbind_calls = atomic_load(&c[OS_CALL_mbind]);
	res.ioctl_calls = atomic_load(&c[OS_CALL_ioctl]);
	res.memfd_create_calls = atomic_load(&c[OS_CALL_memfd_create]);
	res.open_calls = atomic_load(&c[OS_CALL_open]);
	res.pread_calls = atomic_load(&c[OS_CALL_pread]);
	res.unlink_calls = atomic_load(&c[OS_CALL_unlink]);
	res.close_calls = atomic_load(&c[OS_CALL_close]);
	res.gmem_flags = be->gmem_flags;
	res.copies = be->shared_fd >= 0 ? 2 : 1;
	res.split_pages = huge_split_count(&be->split);
	res.splits = atomic_load(&be->split.splits);
	res.joins = atomic_load(&be->split.joins);
	res.join_fallbacks = atomic_load(&be->split.join_fallbacks);
	for (int i = 0; i < OS_NCALLS; i++)
		res.os_calls += atomic_load(&c[i]);
	return out_struct(stats, &res, sizeof(res));
}
