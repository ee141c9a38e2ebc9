/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one way the library reaches the operating system: the embedder's
 * hooks or the system calls, each call counted.
 */
#ifndef GMEM_LIB_OS_H
#define GMEM_LIB_OS_H

#include <stdatomic.h>
#include <stdint.h>

#include <gmem/backend.h>

enum os_call {
	OS_MMAP, OS_MUNMAP, OS_MPROTECT, OS_MADVISE, OS_FALLOCATE,
	OS_FTRUNCATE, OS_MBIND, OS_NCALLS
};

struct os {
	struct gmem_os_ops ops;		/* every member set */
	_Atomic uint64_t calls[OS_NCALLS];
};

/* The embedder's hooks (NULL: none) over the defaults. */
int os_init(struct os *os, const struct gmem_os_ops *hooks);

static inline void os_count(struct os *os, enum os_call c)
{
	atomic_fetch_add_explicit(&os->calls[c], 1, memory_order_relaxed);
}

static inline int os_mmap(struct os *os, void *addr, size_t len, int prot,
			  int flags, int fd, int64_t off, void **out)
{
	os_count(os, OS_MMAP);
	return os->ops.mmap(os->ops.ctx, addr, len, prot, flags, fd, off, out);
}

static inline int os_munmap(struct os *os, void *addr, size_t len)
{
	os_count(os, OS_MUNMAP);
	return os->ops.munmap(os->ops.ctx, addr, len);
}

static inline int os_mprotect(struct os *os, void *addr, size_t len, int prot)
{
	os_count(os, OS_MPROTECT);
	return os->ops.mprotect(os->ops.ctx, addr, len, prot);
}

static inline int os_madvise(struct os *os, void *addr, size_t len, int advice)
{
	os_count(os, OS_MADVISE);
	return os->ops.madvise(os->ops.ctx, addr, len, advice);
}

static inline int os_fallocate(struct os *os, int fd, int mode, int64_t off,
			       int64_t len)
{
	os_count(os, OS_FALLOCATE);
	return os->ops.fallocate(os->ops.ctx, fd, mode, off, len);
}

static inline int os_ftruncate(struct os *os, int fd, int64_t len)
{
	os_count(os, OS_FTRUNCATE);
	return os->ops.ftruncate(os->ops.ctx, fd, len);
}

static inline int os_mbind(struct os *os, void *addr, size_t len, int mode,
			   const unsigned long *mask, unsigned long maxnode,
			   unsigned int flags)
{
	os_count(os, OS_MBIND);
	return os->ops.mbind(os->ops.ctx, addr, len, mode, mask, maxnode,
			     flags);
}

#endif
