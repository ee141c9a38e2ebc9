/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Huge pages split into 4 KiB pages, and joined again (huge_split.h).
 * A page lives in exactly one of the two files at a time; its bit says
 * which. The bits change only under the TXN holds of the page's slot,
 * so readers of a page the caller owns need no lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "core/bits.h"
#include "huge_split.h"

void huge_split_init(struct huge_split *hs, uint64_t page_size)
{
	memset(hs, 0, sizeof(*hs));
	hs->fd = hs->uffd = -1;
	hs->page_size = page_size;
}

/* The kernel cannot hold writers for us: splitting is not offered. */
static int not_offered(int err)
{
	return err == -ENOENT || err == -EACCES || err == -EPERM ||
	       err == -ENODEV || err == -EINVAL ? -EOPNOTSUPP : err;
}

static int open_uffd(struct os *os)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
	int dev = os_open(os, "/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0);
	int fd, err;

	if (dev < 0)
		return not_offered(dev);
	fd = os_ioctl(os, dev, USERFAULTFD_IOC_NEW,
		      (void *)(uintptr_t)O_CLOEXEC);
	os_close(os, dev);
	if (fd < 0)
		return not_offered(fd);
	err = os_ioctl(os, fd, UFFDIO_API, &api);
	if (!err && !(api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM))
		err = -EOPNOTSUPP;
	if (err) {
		os_close(os, fd);
		return not_offered(err);
	}
	return fd;
}

int huge_split_enable(struct huge_split *hs, struct os *os, struct heap *h,
		      uint64_t max)
{
	uint64_t n = max / hs->page_size;
	int uffd, fd, err;

	if (hs->fd >= 0)
		return 0;
	uffd = open_uffd(os);
	if (uffd < 0)
		return uffd;
	fd = os_memfd_create(os, "gmem-split", MFD_CLOEXEC);
	err = fd < 0 ? fd : os_ftruncate(os, fd, (int64_t)max);
	if (!err) {
		hs->bits = heap_zalloc(h, bits_bytes(n), 8);
		err = hs->bits ? 0 : -ENOMEM;
	}
	if (err) {
		if (fd >= 0)
			os_close(os, fd);
		os_close(os, uffd);
		return err;
	}
	hs->npages = n;
	hs->uffd = uffd;
	hs->fd = fd;
	return 0;
}

void huge_split_fini(struct huge_split *hs, struct os *os, struct heap *h)
{
	if (hs->fd < 0)
		return;
	os_close(os, hs->fd);
	os_close(os, hs->uffd);
	heap_free(h, hs->bits, bits_bytes(hs->npages));
	hs->fd = hs->uffd = -1;
	hs->bits = NULL;
}

uint64_t huge_split_count(const struct huge_split *hs)
{
	return hs->bits ? bits_count(hs->bits, 0, hs->npages) : 0;
}

int huge_split_pieces(const struct huge_split *hs, int huge_fd, uint64_t off,
		      uint64_t len, piece_fn fn, void *arg)
{
	uint64_t end = off + len;

	if (!hs->bits)
		return fn(arg, huge_fd, off, len);
	while (off < end) {
		bool split = huge_split_test(hs, off);
		uint64_t next = (off / hs->page_size + 1) * hs->page_size;
		int err;

		while (next < end && huge_split_test(hs, next) == split)
			next += hs->page_size;
		next = next < end ? next : end;
		err = fn(arg, split ? hs->fd : huge_fd, off, next - off);
		if (err)
			return err;
		off = next;
	}
	return 0;
}

static void flip(struct huge_split *hs, uint64_t off)
{
	uint64_t p = off / hs->page_size;

	__atomic_fetch_xor(&hs->bits[p / 64], UINT64_C(1) << (p % 64),
			   __ATOMIC_RELEASE);
}

/* Copies the page at off from file from into file to, whose memory is
 * allocated (and placed) first. */
static int copy_page(struct os *os, int from, int to, uint64_t off,
		     uint64_t len, int (*bind)(void *, void *, uint64_t),
		     void *ctx)
{
	void *src = NULL, *dst = NULL;
	int err;

	err = os_mmap(os, NULL, len, PROT_READ, MAP_SHARED, from,
		      (int64_t)off, &src);
	if (!err)
		err = os_mmap(os, NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			      to, (int64_t)off, &dst);
	if (!err && bind)
		err = bind(ctx, dst, len);
	if (!err)
		err = os_madvise(os, dst, len, MADV_POPULATE_WRITE);
	if (!err)
		memcpy(dst, src, len);
	if (dst)
		os_munmap(os, dst, len);
	if (src)
		os_munmap(os, src, len);
	return err;
}

int huge_split_copy(struct huge_split *hs, struct os *os, int huge_fd,
		    uint64_t off, bool to_split,
		    int (*bind)(void *ctx, void *addr, uint64_t len),
		    void *ctx)
{
	int from = to_split ? huge_fd : hs->fd;
	int to = to_split ? hs->fd : huge_fd;
	int err = 0;

	/* A huge page comes from the reserve or not at all: asked for
	 * here, so that its absence is an error and not a SIGBUS. */
	if (!to_split)
		err = os_fallocate(os, huge_fd, 0, (int64_t)off,
				   (int64_t)hs->page_size);
	if (!err)
		err = copy_page(os, from, to, off, hs->page_size,
				to_split ? bind : NULL, ctx);
	if (err) {
		os_punch(os, to, off, hs->page_size);
		if (!to_split)
			atomic_fetch_add(&hs->join_fallbacks, 1);
		return err;
	}
	flip(hs, off);
	return 0;
}

void huge_split_undo(struct huge_split *hs, struct os *os, int huge_fd,
		     uint64_t off, bool to_split)
{
	flip(hs, off);
	os_punch(os, to_split ? hs->fd : huge_fd, off, hs->page_size);
}

/* A punch that fails leaves the old copy's memory allocated until the
 * page moves back or its block goes: memory, never data, is lost. */
void huge_split_drop(struct huge_split *hs, struct os *os, int huge_fd,
		     uint64_t off, bool to_split)
{
	os_punch(os, to_split ? huge_fd : hs->fd, off, hs->page_size);
	atomic_fetch_add(to_split ? &hs->splits : &hs->joins, 1);
}

void huge_split_forget(struct huge_split *hs, struct os *os, uint64_t off,
		       uint64_t len)
{
	if (!hs->bits)
		return;
	for (uint64_t at = off; at < off + len; at += hs->page_size) {
		if (huge_split_test(hs, at))
			flip(hs, at);
	}
	os_punch(os, hs->fd, off, len);
}

int huge_split_hold(struct huge_split *hs, struct os *os, void *addr,
		    uint64_t len)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)addr, len },
		.mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = {
		.range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	int err = os_ioctl(os, hs->uffd, UFFDIO_REGISTER, &reg);

	if (err)
		return err;
	err = os_ioctl(os, hs->uffd, UFFDIO_WRITEPROTECT, &wp);
	if (err)
		os_ioctl(os, hs->uffd, UFFDIO_UNREGISTER, &reg.range);
	return err;
}

/* Lifting the protection wakes the writers held; where the mapping was
 * replaced, its registration went with it and they only need waking,
 * to fault again on the new mapping. A writer left waiting would wait
 * for ever: a failed wake is tried once more before it is reported. */
int huge_split_release(struct huge_split *hs, struct os *os, void *addr,
		       uint64_t len)
{
	struct uffdio_range range = { (uintptr_t)addr, len };
	struct uffdio_writeprotect wp = { .range = range };

	if (os_ioctl(os, hs->uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
		os_ioctl(os, hs->uffd, UFFDIO_UNREGISTER, &range);
	return os_ioctl(os, hs->uffd, UFFDIO_WAKE, &range) &&
	       os_ioctl(os, hs->uffd, UFFDIO_WAKE, &range) ? -EIO : 0;
}
