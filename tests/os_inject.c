/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "os_inject.h"

/* Atomic: a view populated from several threads calls from each. */
static int should_fail(struct os_inject *in, enum inject_kind k)
{
	uint64_t armed;

	if (in->watch)
		in->watch(in->watch_arg, k);
	__atomic_add_fetch(&in->calls, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&in->by_kind[k], 1, __ATOMIC_RELAXED);
	if (!in->fail_at)
		return 0;
	armed = __atomic_add_fetch(&in->armed_calls, 1, __ATOMIC_RELAXED);
	if (armed != in->fail_at && !(in->sticky && armed > in->fail_at))
		return 0;
	__atomic_add_fetch(&in->failed, 1, __ATOMIC_RELAXED);
	return -in->err;
}

static int i_mmap(void *ctx, void *addr, size_t len, int prot, int flags,
		  int fd, int64_t off, void **out)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_MMAP);

	return err ? err : in->sys.mmap(in->sys.ctx, addr, len, prot, flags,
					fd, off, out);
}

static int i_munmap(void *ctx, void *addr, size_t len)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_MUNMAP);

	return err ? err : in->sys.munmap(in->sys.ctx, addr, len);
}

static int i_mprotect(void *ctx, void *addr, size_t len, int prot)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_MPROTECT);

	return err ? err : in->sys.mprotect(in->sys.ctx, addr, len, prot);
}

static int i_madvise(void *ctx, void *addr, size_t len, int advice)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_MADVISE);

	return err ? err : in->sys.madvise(in->sys.ctx, addr, len, advice);
}

static int i_fallocate(void *ctx, int fd, int mode, int64_t off, int64_t len)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_FALLOCATE);

	return err ? err : in->sys.fallocate(in->sys.ctx, fd, mode, off, len);
}

static int i_ftruncate(void *ctx, int fd, int64_t len)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_FTRUNCATE);

	return err ? err : in->sys.ftruncate(in->sys.ctx, fd, len);
}

static int i_mbind(void *ctx, void *addr, size_t len, int mode,
		   const unsigned long *mask, unsigned long maxnode,
		   unsigned int flags)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_MBIND);

	return err ? err : in->sys.mbind(in->sys.ctx, addr, len, mode, mask,
					 maxnode, flags);
}

static int i_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_IOCTL);

	return err ? err : in->sys.ioctl(in->sys.ctx, fd, request, arg);
}

static int i_memfd_create(void *ctx, const char *name, unsigned int flags)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_MEMFD_CREATE);

	return err ? err : in->sys.memfd_create(in->sys.ctx, name, flags);
}

static int i_open(void *ctx, const char *path, int flags, unsigned int mode)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_OPEN);

	return err ? err : in->sys.open(in->sys.ctx, path, flags, mode);
}

static int64_t i_pread(void *ctx, int fd, void *buf, size_t len, int64_t off)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_PREAD);

	return err ? err : in->sys.pread(in->sys.ctx, fd, buf, len, off);
}

static int i_unlink(void *ctx, const char *path)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_UNLINK);

	return err ? err : in->sys.unlink(in->sys.ctx, path);
}

static int i_close(void *ctx, int fd)
{
	struct os_inject *in = ctx;
	int err = should_fail(in, INJ_CLOSE);
	int done = in->sys.close(in->sys.ctx, fd);

	return err ? err : done;
}

void os_inject_init(struct os_inject *in)
{
	*in = (struct os_inject){ 0 };
	in->sys.sz = sizeof(in->sys);
	gmem_os_default(&in->sys);
	in->ops = (struct gmem_os_ops){
		.sz = sizeof(in->ops), .ctx = in,
		.mmap = i_mmap, .munmap = i_munmap, .mprotect = i_mprotect,
		.madvise = i_madvise, .fallocate = i_fallocate,
		.ftruncate = i_ftruncate, .mbind = i_mbind, .ioctl = i_ioctl,
		.memfd_create = i_memfd_create, .open = i_open,
		.pread = i_pread, .unlink = i_unlink, .close = i_close,
	};
}

void os_inject_arm(struct os_inject *in, uint64_t n, int err)
{
	in->fail_at = n;
	in->armed_calls = 0;
	in->err = err;
	in->sticky = false;
}

void os_inject_arm_from(struct os_inject *in, uint64_t n, int err)
{
	os_inject_arm(in, n, err);
	in->sticky = true;
}
