/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one way the library reaches the operating system: the embedder's
 * hooks or the system calls, each call counted.
 */
#ifndef GMEM_LIB_OS_H
#define GMEM_LIB_OS_H

#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdint.h>

#include <gmem/backend.h>

#include "core/probe.h"

/* One per hook, named after its member of struct gmem_os_ops. */
enum os_call {
	OS_CALL_mmap, OS_CALL_munmap, OS_CALL_mprotect, OS_CALL_madvise,
	OS_CALL_fallocate, OS_CALL_ftruncate, OS_CALL_mbind, OS_CALL_ioctl,
	OS_CALL_memfd_create, OS_CALL_open, OS_CALL_pread, OS_CALL_unlink,
	OS_CALL_close, OS_NCALLS
};

struct os {
	struct gmem_os_ops ops;		/* every member set */
	_Atomic uint64_t calls[OS_NCALLS];
};

/* The embedder's hooks (NULL: none) over the defaults. */
int os_init(struct os *os, const struct gmem_os_ops *hooks);

static inline struct os *os_count(struct os *os, enum os_call c)
{
	atomic_fetch_add_explicit(&os->calls[c], 1, memory_order_relaxed);
	return os;
}

/* Calls hook f of os with its context first, counting it; the probe
 * "syscall" tells the call (enum os_call) and its result. os is read
 * more than once: pass a plain pointer. */
#define os_call(os, f, ...) __extension__ ({                                  \
	__typeof__((os)->ops.f((os)->ops.ctx, __VA_ARGS__)) os_r_ =           \
		os_count((os), OS_CALL_##f)->ops.f((os)->ops.ctx, __VA_ARGS__); \
	GMEM_PROBE(syscall, (os), (int)OS_CALL_##f, (int64_t)os_r_);          \
	os_r_;                                                                \
})

#define os_mmap(os, ...) os_call(os, mmap, __VA_ARGS__)
#define os_munmap(os, ...) os_call(os, munmap, __VA_ARGS__)
#define os_mprotect(os, ...) os_call(os, mprotect, __VA_ARGS__)
#define os_madvise(os, ...) os_call(os, madvise, __VA_ARGS__)
#define os_fallocate(os, ...) os_call(os, fallocate, __VA_ARGS__)
#define os_ftruncate(os, ...) os_call(os, ftruncate, __VA_ARGS__)
#define os_mbind(os, ...) os_call(os, mbind, __VA_ARGS__)
#define os_ioctl(os, ...) os_call(os, ioctl, __VA_ARGS__)
#define os_memfd_create(os, ...) os_call(os, memfd_create, __VA_ARGS__)
#define os_open(os, ...) os_call(os, open, __VA_ARGS__)
#define os_pread(os, ...) os_call(os, pread, __VA_ARGS__)
#define os_unlink(os, ...) os_call(os, unlink, __VA_ARGS__)
#define os_close(os, ...) os_call(os, close, __VA_ARGS__)

/* Bytes [off, off + len) of fd punched out: they read back as zeros. */
static inline int os_punch(struct os *os, int fd, uint64_t off, uint64_t len)
{
	return os_fallocate(os, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    (int64_t)off, (int64_t)len);
}

#endif
