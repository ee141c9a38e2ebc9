/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The default operating-system hooks: the system calls, errno returned. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/opts.h"
#include "os.h"

static int sys_ret(long r)
{
	return r < 0 ? -errno : 0;
}

static int sys_mmap(void *ctx, void *addr, size_t len, int prot, int flags,
		    int fd, int64_t off, void **out)
{
	void *p = mmap(addr, len, prot, flags, fd, (off_t)off);

	(void)ctx;
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

static int sys_munmap(void *ctx, void *addr, size_t len)
{
	(void)ctx;
	return sys_ret(munmap(addr, len));
}

static int sys_mprotect(void *ctx, void *addr, size_t len, int prot)
{
	(void)ctx;
	return sys_ret(mprotect(addr, len, prot));
}

static int sys_madvise(void *ctx, void *addr, size_t len, int advice)
{
	(void)ctx;
	return sys_ret(madvise(addr, len, advice));
}

/* A signal during a long allocation or punch is not the caller's error:
 * the call is made again, as the kernel expects. */
static int sys_fallocate(void *ctx, int fd, int mode, int64_t off,
			 int64_t len)
{
	int r;

	(void)ctx;
	do
		r = fallocate(fd, mode, (off_t)off, (off_t)len);
	while (r < 0 && errno == EINTR);
	return sys_ret(r);
}

static int sys_ftruncate(void *ctx, int fd, int64_t len)
{
	(void)ctx;
	return sys_ret(ftruncate(fd, (off_t)len));
}

static int sys_mbind(void *ctx, void *addr, size_t len, int mode,
		     const unsigned long *mask, unsigned long maxnode,
		     unsigned int flags)
{
	(void)ctx;
	return sys_ret(mbind(addr, len, mode, mask, maxnode, flags));
}

/* A descriptor or a count, or -errno. */
static int sys_val(long r)
{
	return r < 0 ? -errno : (int)r;
}

static int sys_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	(void)ctx;
	return sys_val(ioctl(fd, request, arg));
}

static int sys_memfd_create(void *ctx, const char *name, unsigned int flags)
{
	(void)ctx;
	return sys_val(memfd_create(name, flags));
}

static int sys_open(void *ctx, const char *path, int flags, unsigned int mode)
{
	(void)ctx;
	return sys_val(open(path, flags, (mode_t)mode));
}

static int64_t sys_pread(void *ctx, int fd, void *buf, size_t len,
			 int64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	(void)ctx;
	return n < 0 ? -errno : n;
}

static int sys_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return sys_ret(unlink(path));
}

/* Linux releases the descriptor whatever close returns: never retried. */
static int sys_close(void *ctx, int fd)
{
	(void)ctx;
	return sys_ret(close(fd));
}

static const struct gmem_os_ops sys_ops = {
	.sz = sizeof(struct gmem_os_ops),
	.mmap = sys_mmap,
	.munmap = sys_munmap,
	.mprotect = sys_mprotect,
	.madvise = sys_madvise,
	.fallocate = sys_fallocate,
	.ftruncate = sys_ftruncate,
	.mbind = sys_mbind,
	.ioctl = sys_ioctl,
	.memfd_create = sys_memfd_create,
	.open = sys_open,
	.pread = sys_pread,
	.unlink = sys_unlink,
	.close = sys_close,
};

int gmem_os_default(struct gmem_os_ops *ops)
{
	size_t sz;

	if (!ops || ops->sz < sizeof(size_t))
		return -EINVAL;
	sz = ops->sz < sizeof(sys_ops) ? ops->sz : sizeof(sys_ops);
	memcpy((char *)ops + sizeof(size_t), (const char *)&sys_ops +
	       sizeof(size_t), sz - sizeof(size_t));
	return 0;
}

#define HOOK(f) (OPTS_GET(hooks, f, NULL) ? hooks->f : sys_ops.f)

int os_init(struct os *os, const struct gmem_os_ops *hooks)
{
	int err = OPTS_VALID(hooks, gmem_os_ops);

	if (err)
		return err;
	os->ops = sys_ops;
	os->ops.ctx = OPTS_GET(hooks, ctx, NULL);
	os->ops.mmap = HOOK(mmap);
	os->ops.munmap = HOOK(munmap);
	os->ops.mprotect = HOOK(mprotect);
	os->ops.madvise = HOOK(madvise);
	os->ops.fallocate = HOOK(fallocate);
	os->ops.ftruncate = HOOK(ftruncate);
	os->ops.mbind = HOOK(mbind);
	os->ops.ioctl = HOOK(ioctl);
	os->ops.memfd_create = HOOK(memfd_create);
	os->ops.open = HOOK(open);
	os->ops.pread = HOOK(pread);
	os->ops.unlink = HOOK(unlink);
	os->ops.close = HOOK(close);
	for (int i = 0; i < OS_NCALLS; i++)
		atomic_init(&os->calls[i], 0);
	return 0;
}
