/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backends on real memory: every system call failing in turn, undo and
 * resync, blocks reused as zeros, growth, NUMA placement, hugetlb pages,
 * KVM memory slots and bad input.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "../tools/hugepages.h"
#include "helpers.h"
#include "rig.h"


START_TEST(syscall_failures)
{
	static const int errs[] = { ENOMEM, EINTR, EFAULT };
	unsigned int content = _i ? GMEM_CONTENT_DISCARD
				  : GMEM_CONTENT_PRESERVE;
	struct rig r;
	uint64_t seed = 42;

	rig_init(&r, GMEM_BACKEND_MEMFD, content, 8192);
	write_frames(&r, 0, r.npages, false);
	/* Stripes, so that a conversion over them has many runs. */
	for (uint64_t f = 0; f < 2048; f += 64)
		convert(&r, f, 16, GMEM_ATTR_PRIVATE);
	for (unsigned int e = 0; e < 3; e++) {
		for (uint64_t at = 1;; at++) {
			unsigned int attr = (unsigned int)(rng_next(&seed) & 1);
			uint64_t gfn = 8 * (rng_next(&seed) % 64), n = 1024;
			uint64_t runs = changing_runs(&r, gfn, n, attr);
			int err;

			os_inject_arm(&r.in, at, errs[e]);
			err = gmem_convert(r.g, gfn, n, attr, NULL);
			os_inject_arm(&r.in, 0, 0);
			if (!err) {
				model_convert_contents(&r, gfn, n, attr);
				check_frames(&r, 0, 2048);
				ck_assert_uint_gt(at, runs);
				break;
			}
			ck_assert_int_eq(err, -errs[e]);
			/* Contents of runs a refused DISCARD reached are
			 * gone: the model forgets them, state stays. */
			if (content == GMEM_CONTENT_DISCARD)
				for (uint64_t f = gfn; f < gfn + n; f++)
					if (r.attr[f] != attr &&
					    !holds(guest_of(&r, f), r.tag[f], f))
						r.tag[f] = 0;
			check_frames(&r, 0, 2048);
			check_tables(&r);
			convert(&r, gfn, n, attr);
			check_frames(&r, 0, 2048);
			convert(&r, gfn, n, !attr);
			write_frames(&r, gfn, n, false);
		}
	}
	rig_fini(&r);
}
END_TEST

/* A failed undo leaves the view closed, never open, and resync mends it. */
START_TEST(failed_undo_then_resync)
{
	struct rig r;
	GMEM_OPTS(gmem_view_stats, st);

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 4096);
	write_frames(&r, 0, r.npages, false);
	convert(&r, 10, 10, GMEM_ATTR_PRIVATE);
	/* Runs [0,10) and [20,30) go private: the second run's change fails,
	 * and so does every undo after it. */
	os_inject_arm_from(&r.in, 2, ENOMEM);
	ck_assert_int_eq(gmem_convert(r.g, 0, 30, GMEM_ATTR_PRIVATE, NULL),
			 -ENOMEM);
	os_inject_arm(&r.in, 0, 0);
	ck_assert_int_eq(gmem_view_stats(r.v, &st), 0);
	ck_assert_uint_eq(st.stale, 2);
	/* The first run, shared in the guest's state, stays closed in the
	 * view: the safe side. The second never changed. */
	ck_assert(!readable(&r, view_of(&r, 0)));
	ck_assert(!readable(&r, view_of(&r, 9)));
	check_frames(&r, 10, r.npages - 10);
	ck_assert_int_eq(gmem_view_resync(r.v), 0);
	ck_assert_int_eq(gmem_view_stats(r.v, &st), 0);
	ck_assert_uint_eq(st.stale, 0);
	check_frames(&r, 0, r.npages);
	rig_fini(&r);
}
END_TEST

/* Blocks a guest gave back read as zeros in the next, even when giving
 * back failed to punch them. */
START_TEST(reused_blocks_are_zero)
{
	struct rig r;
	struct gmem_pool *pool;
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_backend_stats, bs);

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 1024);
	write_frames(&r, 0, r.npages, false);
	ck_assert_int_eq(gmem_pt_destroy(r.pt_shared), 0);
	ck_assert_int_eq(gmem_pt_destroy(r.pt_all), 0);
	ck_assert_int_eq(gmem_view_destroy(r.v), 0);
	/* Giving back punches the block: make that fail. */
	os_inject_arm(&r.in, 1, EIO);
	ck_assert_int_eq(gmem_guest_destroy(r.g), 0);
	ck_assert_int_eq(r.in.failed, 1);
	os_inject_arm(&r.in, 0, 0);
	ck_assert_int_eq(gmem_backend_pool(r.be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &r.g), 0);
	ck_assert_int_eq(gmem_region_add(r.g, 0, r.npages, &ro), 0);
	ck_assert_int_eq(gmem_backend_stats(r.be, &bs), 0);
	ck_assert_uint_eq(bs.blocks, 1);	/* the same block again */
	ck_assert_int_eq(gmem_view_create(r.g, r.be, NULL, &r.v), 0);
	memset(r.tag, 0, r.npages * sizeof(*r.tag));
	check_frames(&r, 0, r.npages);
	ck_assert_int_eq(gmem_pt_create(r.g, GMEM_PT_VIEW_SHARED, &r.geom,
					NULL, &r.pt_shared), 0);
	ck_assert_int_eq(gmem_pt_create(r.g, GMEM_PT_VIEW_ALL, &r.geom,
					NULL, &r.pt_all), 0);
	rig_fini(&r);
}
END_TEST

/* The rig's view made again with vo, its Nth system call failing for
 * N = 1, 2 ... until none does: each failure -ENOMEM, and nothing left
 * behind (the guest's regions still there). */
static void view_again_failing(struct rig *r, const struct gmem_view_opts *vo)
{
	ck_assert_int_eq(gmem_view_destroy(r->v), 0);
	r->v = NULL;
	for (uint64_t at = 1;; at++) {
		int err;

		os_inject_arm(&r->in, at, ENOMEM);
		err = gmem_view_create(r->g, r->be, vo, &r->v);
		os_inject_arm(&r->in, 0, 0);
		if (!err)
			break;
		ck_assert_int_eq(err, -ENOMEM);
		ck_assert_int_eq(gmem_region_remove(r->g, 0, 1), -ENOENT);
	}
}

/* Creating a view fails cleanly at each of its system calls. */
START_TEST(view_create_failures)
{
	struct rig r;
	GMEM_OPTS(gmem_view_opts, vo, .flags = GMEM_VIEW_GUEST_MAP |
					       GMEM_VIEW_POPULATE);

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 2048);
	convert(&r, 100, 100, GMEM_ATTR_PRIVATE);
	view_again_failing(&r, &vo);
	check_frames(&r, 0, r.npages);
	rig_fini(&r);
}
END_TEST

/* Whether the page at p is in this process's page tables. */
static bool mapped_in(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t at = (off_t)((uintptr_t)p / (uintptr_t)sysconf(_SC_PAGESIZE) * 8);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &e, sizeof(e), at), (ssize_t)sizeof(e));
	close(fd);
	return e >> 63;
}

/*
 * A view populated from several threads: every shared frame in the
 * view's page tables (a memfd's view is a new mapping: only populating
 * puts them there) and holding its contents, the private ones out of the
 * view, on each backend; and creation failing cleanly at each system
 * call, from any of the threads.
 */
START_TEST(view_populated_by_threads)
{
	static const unsigned int kinds[] = { GMEM_BACKEND_MEMFD,
					      GMEM_BACKEND_ANON };
	GMEM_OPTS(gmem_view_opts, vo, .flags = GMEM_VIEW_POPULATE,
		  .populate_threads = 3);

	for (unsigned int k = 0; k < 2; k++) {
		struct rig r;
		uint64_t f;

		rig_init(&r, kinds[k], GMEM_CONTENT_PRESERVE, 4096);
		convert(&r, 100, 700, GMEM_ATTR_PRIVATE);
		convert(&r, 3000, 1, GMEM_ATTR_PRIVATE);
		write_frames(&r, 0, r.npages, true);
		view_again_failing(&r, &vo);
		for (f = 0; f < r.npages; f++) {
			bool shared = r.attr[f] == GMEM_ATTR_SHARED;

			/* Before reading, which would fault it in. */
			if (kinds[k] == GMEM_BACKEND_MEMFD)
				ck_assert_int_eq(mapped_in(view_of(&r, f)),
						 shared);
			ck_assert_int_eq(readable(&r, view_of(&r, f)), shared);
		}
		check_frames(&r, 0, r.npages);
		rig_fini(&r);
	}
}
END_TEST

/* Growing the backend fails cleanly at each system call, and again. */
START_TEST(growth_failures)
{
	GMEM_OPTS(gmem_backend_opts, bo, .numa_mode = GMEM_NUMA_BIND);
	struct os_inject in;
	struct gmem_backend *be;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint64_t at;
	int err = 1;

	if (numa_available() < 0) {
		printf("SKIP: growth_failures: no NUMA support\n");
		return;
	}
	os_inject_init(&in);
	bo.os = &in.ops;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	for (at = 1; err; at++) {
		os_inject_arm(&in, at, ENOMEM);
		err = gmem_region_add(g, 0, 1024, NULL);
		os_inject_arm(&in, 0, 0);
		ck_assert(err == 0 || err == -ENOMEM);
	}
	ck_assert_uint_ge(at, 4);	/* ftruncate, mmap, mbind, munmap */
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
}
END_TEST

static int node_of(void *p)
{
	int node = -1;

	ck_assert_int_eq(get_mempolicy(&node, NULL, 0, p,
				       MPOL_F_NODE | MPOL_F_ADDR), 0);
	return node;
}

static int mode_of(void *p)
{
	int mode = -1;

	ck_assert_int_eq(get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR), 0);
	return mode;
}

/* Blocks bound by each policy: real pages on the node, the policy seen
 * through the view; a node that does not exist is refused. */
START_TEST(numa_policies)
{
	static const unsigned int modes[] = { GMEM_NUMA_BIND,
					      GMEM_NUMA_INTERLEAVE,
					      GMEM_NUMA_REGION };
	int last = numa_available() < 0 ? -1 : numa_max_node();

	if (last < 0) {
		printf("SKIP: numa_policies: no NUMA support\n");
		return;
	}
	for (unsigned int m = 0; m < 3; m++) {
		GMEM_OPTS(gmem_backend_opts, bo, .numa_mode = modes[m],
			  .numa_node = last, .numa_nodes = 1ull << last);
		GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED,
			  .node = last);
		GMEM_OPTS(gmem_block_info, bi);
		struct gmem_backend *be;
		struct gmem_pool *pool;
		struct gmem_guest *g;
		struct gmem_view *v;
		char *p;

		ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
		ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
		ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
		ck_assert_int_eq(gmem_region_add(g, 0, 1024, &ro), 0);
		ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), 0);
		ck_assert_int_eq(gmem_view_addr(v, 5, (void **)&p), 0);
		memset(p, 1, FRAME);
		ck_assert_int_eq(node_of(p), last);
		ck_assert_int_eq(mode_of(p), modes[m] == GMEM_NUMA_INTERLEAVE
						     ? MPOL_INTERLEAVE
						     : MPOL_BIND);
		ck_assert_int_eq(gmem_backend_block_info(be, 0, &bi), 0);
		ck_assert_int_eq(bi.node, last);
		ck_assert_uint_ne(bi.phys_pfn, 0);
		ck_assert_int_eq(gmem_view_destroy(v), 0);
		/* A region asking for a node that does not exist. */
		ro.node = last + 1;
		ck_assert_int_eq(gmem_region_add(g, 1ull << 20, 1024, &ro),
				 modes[m] == GMEM_NUMA_REGION ? -EINVAL : 0);
		ck_assert_int_eq(gmem_guest_destroy(g), 0);
		ck_assert_int_eq(gmem_backend_destroy(be), 0);
		bo.numa_node = last + 1;
		bo.numa_nodes = 1ull << (last + 1);
		be = NULL;
		ck_assert_int_eq(gmem_backend_create(&bo, &be),
				 modes[m] == GMEM_NUMA_REGION ? 0 : -EINVAL);
		ck_assert_int_eq(gmem_backend_destroy(be), 0);
	}
}
END_TEST

/*
 * A pool on hugetlb pages, end to end, for 2 MiB and 1 GiB pages: the
 * pages are reserved here and the reservation is put back. A guest
 * converts whole pages; DISCARD punches them.
 */
START_TEST(hugetlb)
{
	const uint64_t page = _i ? GMEM_BLOCK_FRAMES : 512;	/* frames */
	const unsigned long kib = (unsigned long)page * 4;
	const long want = _i ? 1 : 64, npages = _i ? 1 : 16;
	GMEM_OPTS(gmem_backend_opts, bo, .kind = GMEM_BACKEND_HUGETLB,
		  .page_size = page << 12);
	GMEM_OPTS(gmem_guest_opts, go, .granule = (uint32_t)page);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .content = GMEM_CONTENT_DISCARD);
	GMEM_OPTS(gmem_block_info, bi);
	const uint64_t len = npages * page << 12;
	const uint64_t a = _i ? 0 : page, n = _i ? page : 2 * page;
	struct gmem_backend *be;
	struct gmem_pool *pool;
	struct gmem_guest *g, *g4k;
	struct gmem_view *v;
	long before;
	char *p;

	if (!hugepages_reserve(kib, want, &before)) {
		printf("SKIP: hugetlb: cannot reserve %ld page(s) of %lu KiB\n",
		       want, kib);
		return;
	}
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g4k), 0);
	/* A guest converting 4 KiB frames gets a view too: its pages split
	 * where they must (test_huge_holes). */
	ck_assert_int_eq(gmem_view_create(g4k, be, NULL, &v), 0);
	ck_assert_int_eq(gmem_view_destroy(v), 0);
	ck_assert_int_eq(gmem_guest_destroy(g4k), 0);
	ck_assert_int_eq(gmem_guest_create(pool, &go, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, npages * page, &ro), 0);
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), 0);
	ck_assert_int_eq(gmem_view_addr(v, 0, (void **)&p), 0);
	memset(p, 0x5a, len);
	ck_assert_int_eq(gmem_convert(g, a, n, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, a, n, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(p[(a << 12) + 17], 0);		/* discarded */
	ck_assert_int_eq(p[((a + n) << 12) - 1], 0);
	if (a)
		ck_assert_int_eq(p[(a << 12) - 1], 0x5a);	/* kept */
	if ((a + n) << 12 < len)
		ck_assert_int_eq(p[(a + n) << 12], 0x5a);
	ck_assert_int_eq(gmem_convert(g, 0, 100, GMEM_ATTR_PRIVATE, NULL),
			 -EINVAL);				/* granule */
	ck_assert_int_eq(gmem_backend_block_info(be, 0, &bi), 0);
	ck_assert_uint_ne(bi.phys_pfn, 0);
	if (_i) {	/* a 1 GiB page: the block is physically one run */
		ck_assert_uint_eq(bi.flags & GMEM_BLOCK_PHYS_CONTIG,
				  GMEM_BLOCK_PHYS_CONTIG);
		ck_assert_uint_eq(bi.phys_pfn % GMEM_BLOCK_FRAMES, 0);
	} else {
		ck_assert_uint_eq(bi.flags & GMEM_BLOCK_PHYS_CONTIG, 0);
	}
	ck_assert_int_eq(gmem_view_destroy(v), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
	ck_assert(hugepages_restore(kib, before));
}
END_TEST

/* Regions as KVM memory slots, on guest_memfd and on memfd. */
START_TEST(kvm_slots)
{
	const char *why = kvm_missing(_i == 0);
	struct rig r;
	uint32_t n = 0;

	if (why) {
		printf("SKIP: kvm_slots on %s: %s\n",
		       _i ? "memfd" : "guest_memfd", why);
		return;
	}
	rig_init(&r, _i ? GMEM_BACKEND_MEMFD : GMEM_BACKEND_GUEST_MEMFD,
		 GMEM_CONTENT_PRESERVE, 4096);
	if (r.vm < 0)
		rig_open_vm(&r);
	ck_assert_int_eq(gmem_view_kvm_bind(r.v, r.vm, 0, 3, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(gmem_view_kvm_bind(r.v, r.vm, 7, 5, &n), -ENOENT);
	ck_assert_int_eq(gmem_view_kvm_unbind(r.v, r.vm, 0, 3), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(r.v, -1, 0, 3, &n), -EINVAL);
	rig_fini(&r);
}
END_TEST

START_TEST(bad_input)
{
	GMEM_OPTS(gmem_backend_opts, bo);
	GMEM_OPTS(gmem_view_opts, vo);
	struct gmem_backend *be, *be2;
	struct gmem_pool *pool, *pool2;
	struct gmem_guest *g, *g2;
	struct gmem_view *v, *v2;
	void *p;

	bo.kind = 9;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.kind = GMEM_BACKEND_HUGETLB;
	bo.page_size = 4096;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.kind = GMEM_BACKEND_GUEST_MEMFD;
	bo.page_size = 0;
	bo.vm_fd = -1;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.kind = GMEM_BACKEND_MEMFD;
	bo.max_bytes = 12345;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.max_bytes = 1ull << 30;
	bo.numa_mode = 7;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.numa_mode = GMEM_NUMA_NONE;
	ck_assert_int_eq(gmem_backend_create(&bo, NULL), -EINVAL);
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_create(NULL, &be2), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_backend_pool(be2, &pool2), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), -EBUSY);
	ck_assert_int_eq(gmem_pool_add_frames(pool, 0, 1 << 18, 0, NULL),
			 -EPERM);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 512, NULL), 0);
	/* max_bytes is 1 GiB: a second block does not fit. */
	ck_assert_int_eq(gmem_region_add(g, 1 << 18, 512, NULL), -ENOSPC);
	ck_assert_int_eq(gmem_guest_create(pool2, NULL, &g2), 0);
	ck_assert_int_eq(gmem_view_create(g2, be, NULL, &v), -EINVAL);
	vo.content = 2;
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), -EINVAL);
	vo.content = 0;
	vo.populate_threads = GMEM_VIEW_POPULATE_THREADS_MAX + 1;
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), -EINVAL);
	vo.populate_threads = 0;
	vo.reserved = 1;
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), -EINVAL);
	vo.reserved = 0;
	vo.content = 0;
	vo.flags = 1u << 7;
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), -EINVAL);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), 0);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v2), -EBUSY);
	ck_assert_int_eq(gmem_region_add(g, 1024, 512, NULL), -EBUSY);
	ck_assert_int_eq(gmem_region_remove(g, 0, 512), -EBUSY);
	ck_assert_int_eq(gmem_guest_destroy(g), -EBUSY);
	ck_assert_int_eq(gmem_backend_destroy(be), -EBUSY);
	ck_assert_int_eq(gmem_view_addr(v, 512, &p), -ENOENT);
	ck_assert_int_eq(gmem_view_guest_addr(v, 0, &p), -EOPNOTSUPP);
	ck_assert_int_eq(gmem_view_populate(v, 0, 513), -ERANGE);
	ck_assert_int_eq(gmem_view_populate(v, 0, 512), 0);
	ck_assert_int_eq(gmem_view_destroy(v), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_guest_destroy(g2), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
	ck_assert_int_eq(gmem_backend_destroy(be2), 0);
	ck_assert_int_eq(gmem_backend_destroy(NULL), 0);
	ck_assert_int_eq(gmem_view_destroy(NULL), 0);
}
END_TEST


static Suite *backend_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *tc = tcase_create("real memory");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, syscall_failures, 0, 2);
	tcase_add_test(tc, failed_undo_then_resync);
	tcase_add_test(tc, reused_blocks_are_zero);
	tcase_add_test(tc, view_create_failures);
	tcase_add_test(tc, view_populated_by_threads);
	tcase_add_test(tc, growth_failures);
	tcase_add_test(tc, numa_policies);
	tcase_add_loop_test(tc, hugetlb, 0, 2);
	tcase_add_loop_test(tc, kvm_slots, 0, 2);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(backend_suite());
}
