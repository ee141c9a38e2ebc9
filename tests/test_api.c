/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Behaviour of each entry point: the pool's placement, region layouts,
 * listeners' order, and bad input, which must return a negative errno
 * and change nothing, including allocation failure at every site.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES

static struct test_alloc ta;

static struct gmem_pool *pool_new(void)
{
	GMEM_OPTS(gmem_pool_opts, o, .alloc = &ta.ops);
	struct gmem_pool *p = NULL;

	test_alloc_init(&ta);
	ck_assert_int_eq(gmem_pool_create(&o, &p), 0);
	return p;
}

static void pool_del(struct gmem_pool *p)
{
	ck_assert_int_eq(gmem_pool_destroy(p), 0);
	ck_assert_int_eq(ta.live_bytes, 0);
	ck_assert_int_eq(ta.live_objects, 0);
}

START_TEST(version)
{
	ck_assert_uint_eq(gmem_version(), GMEM_VERSION);
	ck_assert_uint_eq(GMEM_VERSION >> 16, GMEM_VERSION_MAJOR);
}
END_TEST

START_TEST(pool_cuts_ranges_into_blocks)
{
	struct gmem_pool *p = pool_new();
	GMEM_OPTS(gmem_pool_add_info, info, .nblocks = 0);
	GMEM_OPTS(gmem_pool_stats, st, .free_blocks = 0);

	/* 3.5 GiB starting mid-block: 2 whole blocks, head and tail left. */
	ck_assert_int_eq(gmem_pool_add_frames(p, GIB / 2, 7 * GIB / 2, 0,
					      &info), 0);
	ck_assert_uint_eq(info.block_pfn, GIB);
	ck_assert_uint_eq(info.nblocks, 3);
	ck_assert_uint_eq(info.head_pfn, GIB / 2);
	ck_assert_uint_eq(info.head_npages, GIB / 2);
	ck_assert_uint_eq(info.tail_pfn, 4 * GIB);
	ck_assert_uint_eq(info.tail_npages, 0);
	/* Less than a block: nothing taken, all reported. */
	ck_assert_int_eq(gmem_pool_add_frames(p, 100 * GIB + 1, GIB, 0, &info),
			 0);
	ck_assert_uint_eq(info.nblocks, 0);
	ck_assert_uint_eq(info.head_npages + info.tail_npages, GIB);
	/* Overlap. */
	ck_assert_int_eq(gmem_pool_add_frames(p, 2 * GIB, GIB, 1, &info),
			 -EEXIST);
	ck_assert_int_eq(gmem_pool_stats(p, -1, &st), 0);
	ck_assert_uint_eq(st.free_blocks, 3);
	ck_assert_uint_eq(st.largest_free_run, 3);
	pool_del(p);
}
END_TEST

START_TEST(pool_best_fit_and_order)
{
	struct gmem_pool *p = pool_new();
	GMEM_OPTS(gmem_pool_stats, st, .free_blocks = 0);
	struct gmem_extent ext[8];
	uint32_t n;

	/* Runs: [0,4) [10,12) [20,23) on node 0, [30,40) on node 1. */
	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 4 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_pool_add_frames(p, 10 * GIB, 2 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_pool_add_frames(p, 20 * GIB, 3 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_pool_add_frames(p, 30 * GIB, 10 * GIB, 1, NULL), 0);
	/* Best fit for 2 on node 0: the 2-block run, not the first. */
	{
		GMEM_OPTS(gmem_pool_alloc_opts, o, .node = 0);

		n = 8;
		ck_assert_int_eq(gmem_pool_alloc(p, 2, &o, ext, &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(ext[0].pfn, 10 * GIB);
		/* 6 on node 0 (4 + 3 free): two runs, ascending. */
		n = 8;
		ck_assert_int_eq(gmem_pool_alloc(p, 6, &o, ext, &n), 0);
		ck_assert_uint_eq(n, 2);
		ck_assert_uint_eq(ext[0].pfn, 0);
		ck_assert_uint_eq(ext[0].nblocks, 4);
		ck_assert_uint_eq(ext[1].pfn, 20 * GIB);
		ck_assert_uint_eq(ext[1].nblocks, 2);
		ck_assert_int_eq(gmem_pool_stats(p, 0, &st), 0);
		ck_assert_uint_eq(st.free_blocks, 1);
	}
	/* Strict node 0 lacks 2; preferred node 0 falls back to node 1. */
	{
		GMEM_OPTS(gmem_pool_alloc_opts, o, .node = 0,
			  .flags = GMEM_ALLOC_NODE_STRICT);
		GMEM_OPTS(gmem_pool_alloc_opts, o2, .node = 0);

		n = 8;
		ck_assert_int_eq(gmem_pool_alloc(p, 2, &o, ext, &n), -ENOSPC);
		n = 8;
		ck_assert_int_eq(gmem_pool_alloc(p, 3, &o2, ext, &n), 0);
		ck_assert_uint_eq(n, 2);
		ck_assert_uint_lt(ext[0].pfn, ext[1].pfn);
		ck_assert_int_eq(ext[0].node, 0);
		ck_assert_int_eq(ext[1].node, 1);
	}
	/* Free with coalescing: the node-0 runs join their neighbours. */
	ck_assert_int_eq(gmem_pool_free(p, 0, 4), 0);
	ck_assert_int_eq(gmem_pool_free(p, 10 * GIB, 2), 0);
	ck_assert_int_eq(gmem_pool_free(p, 20 * GIB, 2), 0);
	ck_assert_int_eq(gmem_pool_free(p, 20 * GIB, 1), -EINVAL); /* twice */
	ck_assert_int_eq(gmem_pool_free(p, 22 * GIB, 1), 0);
	ck_assert_int_eq(gmem_pool_free(p, 30 * GIB, 2), 0);
	ck_assert_int_eq(gmem_pool_stats(p, 0, &st), 0);
	ck_assert_uint_eq(st.free_blocks, 9);
	ck_assert_uint_eq(st.used_blocks, 0);
	ck_assert_uint_eq(st.largest_free_run, 4);
	ck_assert_int_eq(gmem_pool_stats(p, 1, &st), 0);
	ck_assert_uint_eq(st.largest_free_run, 10);
	/* Contiguous only: 10 fits on node 1, 11 nowhere. */
	{
		GMEM_OPTS(gmem_pool_alloc_opts, o, .node = -1,
			  .flags = GMEM_ALLOC_CONTIG);

		n = 1;
		ck_assert_int_eq(gmem_pool_alloc(p, 11, &o, ext, &n), -ENOSPC);
		ck_assert_int_eq(gmem_pool_alloc(p, 10, &o, ext, &n), 0);
		ck_assert_uint_eq(ext[0].pfn, 30 * GIB);
		ck_assert_int_eq(gmem_pool_destroy(p), -EBUSY);
		ck_assert_int_eq(gmem_pool_free(p, 30 * GIB, 10), 0);
	}
	/* Too small an extent array: nothing allocated. */
	n = 1;
	ck_assert_int_eq(gmem_pool_alloc(p, 14, NULL, ext, &n), -E2BIG);
	ck_assert_int_eq(gmem_pool_stats(p, -1, &st), 0);
	ck_assert_uint_eq(st.used_blocks, 0);
	pool_del(p);
}
END_TEST

/* Guest frames map to pool frames congruent modulo 1 GiB, in physical
 * order, and regions in one slot share its block. */
START_TEST(guest_layout_and_translation)
{
	struct gmem_pool *p = pool_new();
	struct gmem_guest *g;
	uint64_t a, b, c;
	unsigned int attr;
	GMEM_OPTS(gmem_region_opts, sh, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_guest_stats, st, .nblocks = 0);

	ck_assert_int_eq(gmem_pool_add_frames(p, 8 * GIB, 8 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 160, 3 * GIB - 160, NULL), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 100, &sh), 0);
	ck_assert_int_eq(gmem_region_add(g, 50, 200, NULL), -EEXIST);
	ck_assert_int_eq(gmem_translate(g, 7, &a), 0);
	ck_assert_int_eq(gmem_translate(g, 160, &b), 0);
	ck_assert_int_eq(gmem_translate(g, 2 * GIB + 5, &c), 0);
	ck_assert_uint_eq(a % GIB, 7);
	ck_assert_uint_eq(b - a, 153);	/* same block */
	ck_assert_uint_lt(b, c);
	ck_assert_uint_eq(c % GIB, 5);
	ck_assert_int_eq(gmem_translate(g, 120, &a), -ENOENT);	/* hole */
	ck_assert_int_eq(gmem_attr_get(g, 5, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_attr_get(g, 500, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.nblocks, 3);
	ck_assert_uint_eq(st.nregions, 2);
	ck_assert_uint_eq(st.shared_frames, 100);
	ck_assert_int_eq(gmem_pool_destroy(p), -EBUSY);
	ck_assert_int_eq(gmem_region_remove(g, 0, 99), -ENOENT);
	ck_assert_int_eq(gmem_region_remove(g, 160, 3 * GIB - 160), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.nblocks, 1);	/* slot 0 kept for region 0 */
	ck_assert_int_eq(gmem_region_remove(g, 0, 100), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.nblocks, 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

struct seen {
	int n;
	struct { enum gmem_phase ph; struct gmem_run run; } e[16];
	unsigned int attr_at_call;
	struct gmem_guest *g;
};

static int watch(void *ctx, enum gmem_phase ph, const struct gmem_run *run)
{
	struct seen *s = ctx;

	ck_assert_int_lt(s->n, 16);
	s->e[s->n].ph = ph;
	s->e[s->n++].run = *run;
	return 0;
}

/* Coalesced runs from a mixed request, and the replay. */
START_TEST(listener_runs_are_coalesced)
{
	struct gmem_pool *p = pool_new();
	struct gmem_guest *g;
	struct gmem_listener *l;
	struct seen s = { 0 };
	GMEM_OPTS(gmem_listener_opts, rep, .flags = GMEM_LISTENER_REPLAY);

	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 4 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 2 * GIB, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 10, 10, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, GIB - 5, 10, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_listener_add(g, watch, &s, &rep, &l), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_uint_eq(s.e[1].run.gfn, GIB - 5);
	ck_assert_uint_eq(s.e[1].run.npages, 10);	/* across two blocks */
	ck_assert_uint_eq(s.e[1].run.flags, GMEM_RUN_REPLAY);
	s.n = 0;
	/* Private over [0, 2 GiB): the two shared runs change, nothing else. */
	ck_assert_int_eq(gmem_convert(g, 0, 2 * GIB, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(s.n, 4);
	ck_assert_int_eq(s.e[0].ph, GMEM_PHASE_PREPARE);
	ck_assert_uint_eq(s.e[0].run.gfn, 10);
	ck_assert_uint_eq(s.e[0].run.npages, 10);
	ck_assert_uint_eq(s.e[0].run.attr, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(s.e[2].ph, GMEM_PHASE_COMMIT);
	s.n = 0;
	/* Already private: no call at all. */
	ck_assert_int_eq(gmem_convert(g, 0, 100, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(gmem_listener_remove(l), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

/* A prepared conversion is invisible until commit; abort leaves nothing. */
START_TEST(prepare_commit_abort)
{
	struct gmem_pool *p = pool_new();
	struct gmem_guest *g;
	struct gmem_txn *t;
	unsigned int attr;

	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 2 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB, NULL), 0);
	ck_assert_int_eq(gmem_convert_prepare(g, 3, 1000, GMEM_ATTR_SHARED,
					      NULL, &t), 0);
	ck_assert_int_eq(gmem_attr_get(g, 3, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_convert_commit(t), 0);
	ck_assert_int_eq(gmem_range_attr(g, 3, 1000, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_convert_prepare(g, 0, GIB, GMEM_ATTR_SHARED,
					      NULL, &t), 0);
	ck_assert_int_eq(gmem_convert_abort(t), 0);
	ck_assert_int_eq(gmem_range_attr(g, 0, GIB, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_MIXED);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

/* A listener that takes 200 us a call, and refuses when ctx says so. */
static int slow_listener(void *ctx, enum gmem_phase ph,
			 const struct gmem_run *run)
{
	struct timespec d = { 0, 200000 };

	(void)run;
	nanosleep(&d, NULL);
	return ph == GMEM_PHASE_PREPARE && *(int *)ctx ? -EPERM : 0;
}

/*
 * The counters a VMM reads without tracing: every path of a conversion
 * counts once with its range's frames (two slots, a transaction, the
 * quick path); a refusal is not a conversion; an abort is neither; the
 * listeners' time is estimated from every 256th call; counts survive the
 * region they were made in.
 */
START_TEST(guest_counters)
{
	struct gmem_pool *p = pool_new();
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);
	struct gmem_listener *l;
	struct gmem_guest *g;
	struct gmem_txn *t;
	int refuse = 0, i;

	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 4 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 2 * GIB, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 7, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 7, 1, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, GIB - 512, 1024, GMEM_ATTR_SHARED,
				      NULL), 0);
	ck_assert_int_eq(gmem_convert(g, 2 * GIB, 1, GMEM_ATTR_SHARED, NULL),
			 -ENOENT);
	ck_assert_int_eq(gmem_convert(g, 0, 1, 5, NULL), -EINVAL);
	ck_assert_int_eq(gmem_convert_prepare(g, 100, 10, GMEM_ATTR_SHARED,
					      NULL, &t), 0);
	ck_assert_int_eq(gmem_convert_commit(t), 0);
	ck_assert_int_eq(gmem_convert_prepare(g, 100, 10, GMEM_ATTR_PRIVATE,
					      NULL, &t), 0);
	ck_assert_int_eq(gmem_convert_abort(t), 0);
	ck_assert_int_eq(gmem_pin(g, 5000, 3, NULL), 0);
	ck_assert_int_eq(gmem_pin(g, 5000, 1, NULL), 0);
	ck_assert_int_eq(gmem_pin(g, 2 * GIB, 1, NULL), -ENOENT);
	ck_assert_int_eq(gmem_convert(g, 4096, 1000, GMEM_ATTR_SHARED, NULL),
			 -EBUSY);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.conversions, 4);
	ck_assert_uint_eq(st.converted_frames, 1 + 1 + 1024 + 10);
	ck_assert_uint_eq(st.refusals, 1);
	ck_assert_uint_eq(st.pins, 2);
	ck_assert_uint_eq(st.listener_ns, 0);
	ck_assert_uint_eq(st.pager_requests, 0);

	/* 256 conversions, 512 calls: 2 timed, each at least 200 us. */
	ck_assert_int_eq(gmem_listener_add(g, slow_listener, &refuse, NULL,
					   &l), 0);
	for (i = 0; i < 256; i++)
		ck_assert_int_eq(gmem_convert(g, 20000 + i, 1,
					      GMEM_ATTR_SHARED, NULL), 0);
	refuse = 1;
	ck_assert_int_eq(gmem_convert(g, 30000, 1, GMEM_ATTR_SHARED, NULL),
			 -EPERM);
	ck_assert_int_eq(gmem_listener_remove(l), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.conversions, 4 + 256);
	ck_assert_uint_eq(st.refusals, 2);
	ck_assert_uint_ge(st.listener_ns, 2ULL * 256 * 200000);
	ck_assert_uint_le(st.listener_ns, 256ULL * 3 * 20000000);

	/* The counts of the region's slots outlive it. */
	ck_assert_int_eq(gmem_unpin(g, 5000, 3, NULL), 0);
	ck_assert_int_eq(gmem_unpin(g, 5000, 1, NULL), 0);
	ck_assert_int_eq(gmem_region_remove(g, 0, 2 * GIB), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.conversions, 4 + 256);
	ck_assert_uint_eq(st.converted_frames, 1 + 1 + 1024 + 10 + 256);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

/* A guest with a 64 KiB conversion granule refuses what is not aligned
 * to it, reporting the first frame, and changes nothing. */
START_TEST(conversion_granule)
{
	struct gmem_pool *p = pool_new();
	GMEM_OPTS(gmem_guest_opts, go, .node = -1, .granule = 16);
	GMEM_OPTS(gmem_convert_opts, co, .flags = 0);
	struct gmem_guest *g;
	struct gmem_txn *t = NULL;
	unsigned int attr;

	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 4 * GIB, 0, NULL), 0);
	go.granule = 3;
	ck_assert_int_eq(gmem_guest_create(p, &go, &g), -EINVAL);
	go.granule = 2 * GIB;
	ck_assert_int_eq(gmem_guest_create(p, &go, &g), -EINVAL);
	go.granule = 16;
	ck_assert_int_eq(gmem_guest_create(p, &go, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 8, 1600, NULL), -EINVAL);
	ck_assert_int_eq(gmem_region_add(g, 16, 1608, NULL), -EINVAL);
	ck_assert_int_eq(gmem_region_add(g, 16, 1600, NULL), 0);
	co.fail_gfn = 0;
	ck_assert_int_eq(gmem_convert(g, 40, 16, GMEM_ATTR_SHARED, &co),
			 -EINVAL);
	ck_assert_uint_eq(co.fail_gfn, 40);
	ck_assert_int_eq(gmem_convert(g, 32, 8, GMEM_ATTR_SHARED, NULL),
			 -EINVAL);
	ck_assert_int_eq(gmem_convert_prepare(g, 32, 24, GMEM_ATTR_SHARED,
					      NULL, &t), -EINVAL);
	ck_assert_int_eq(gmem_range_attr(g, 16, 1600, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_convert(g, 32, 16, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_attr_get(g, 47, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

START_TEST(bad_input)
{
	struct gmem_pool *p = pool_new();
	struct gmem_guest *g;
	struct gmem_txn *t;
	struct gmem_listener *l;
	struct gmem_run run;
	unsigned int attr;
	uint64_t pfn;
	struct gmem_extent ext[2];
	uint32_t n = 2;
	/* An options struct from a newer caller: bigger, tail set. */
	struct {
		struct gmem_convert_opts o;
		uint64_t future;
	} big = { { .sz = sizeof(big) }, 1 };
	struct gmem_convert_opts tiny = { .sz = 4 };
	GMEM_OPTS(gmem_convert_opts, co, .flags = 0);
	GMEM_OPTS(gmem_convert_opts, badflags, .flags = 1u << 1);
	GMEM_OPTS(gmem_region_opts, badattr, .attr = 7);
	GMEM_OPTS(gmem_listener_opts, badl, .flags = 0x80);

	ck_assert_int_eq(gmem_pool_create(NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pool_add_frames(NULL, 0, GIB, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pool_add_frames(p, 0, GIB, -1, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pool_add_frames(p, GMEM_FRAME_LIMIT - 1, 2, 0,
					      NULL), -EOVERFLOW);
	ck_assert_int_eq(gmem_pool_add_frames(p, 1, UINT64_MAX, 0, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(gmem_pool_alloc(p, 1, NULL, ext, &n), -ENOSPC);
	ck_assert_int_eq(gmem_pool_alloc(NULL, 1, NULL, ext, &n), -EINVAL);
	ck_assert_int_eq(gmem_pool_free(p, 1, 1), -EINVAL);
	ck_assert_int_eq(gmem_pool_stats(p, -2, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 4 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(NULL, NULL, &g), -EINVAL);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(NULL, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(gmem_region_add(g, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_region_add(g, 0, 1, &badattr), -EINVAL);
	ck_assert_int_eq(gmem_region_add(g, GMEM_FRAME_LIMIT, 1, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(gmem_region_add(g, 0, 5 * GIB, NULL), -ENOSPC);
	ck_assert_int_eq(gmem_region_add(g, 0, 2 * GIB, NULL), 0);
	ck_assert_int_eq(gmem_region_add(g, 2 * GIB + 10, 100, NULL), 0);

	/* Conversions: every refusal reports the frame and changes nothing. */
	ck_assert_int_eq(gmem_convert(NULL, 0, 1, 0, &co), -EINVAL);
	ck_assert_int_eq(gmem_convert(g, 0, 1, GMEM_ATTR_MIXED, &co), -EINVAL);
	ck_assert_int_eq(gmem_convert(g, 0, 0, 1, &co), -EINVAL);
	ck_assert_int_eq(gmem_convert(g, 0, 1, 1, &badflags), -EINVAL);
	ck_assert_int_eq(gmem_convert(g, 0, 1, 1, &tiny), -EINVAL);
	ck_assert_int_eq(gmem_convert(g, 0, 1, 1, &big.o), -E2BIG);
	ck_assert_int_eq(gmem_convert(g, 5, UINT64_MAX, 1, &co), -EOVERFLOW);
	ck_assert_uint_eq(co.fail_gfn, 5);
	ck_assert_int_eq(gmem_convert(g, 2 * GIB + 3, 1, 1, &co), -ENOENT);
	ck_assert_uint_eq(co.fail_gfn, 2 * GIB + 3);
	ck_assert_int_eq(gmem_convert(g, 2 * GIB - 4, 20, 1, &co), -ERANGE);
	ck_assert_uint_eq(co.fail_gfn, 2 * GIB);
	ck_assert_int_eq(gmem_convert_prepare(g, 0, 1, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_convert_prepare(g, 3 * GIB, 1, 1, &co, &t),
			 -ENOENT);
	ck_assert_int_eq(gmem_convert_commit(NULL), -EINVAL);
	ck_assert_int_eq(gmem_convert_abort(NULL), -EINVAL);
	ck_assert_int_eq(gmem_range_attr(g, 0, 2 * GIB, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_PRIVATE);

	ck_assert_int_eq(gmem_attr_get(NULL, 0, &attr), -EINVAL);
	ck_assert_int_eq(gmem_attr_get(g, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_attr_get(g, 2 * GIB, &attr), -ENOENT);
	ck_assert_int_eq(gmem_range_attr(g, 2 * GIB + 10, 101, &attr), -ERANGE);
	ck_assert_int_eq(gmem_run_get(g, 0, 0, &run), -EINVAL);
	ck_assert_int_eq(gmem_run_get(g, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(gmem_translate(g, 0, NULL), -EINVAL);
	ck_assert_int_eq(gmem_translate(NULL, 0, &pfn), -EINVAL);
	ck_assert_int_eq(gmem_guest_stats(g, NULL), -EINVAL);
	ck_assert_int_eq(gmem_listener_add(g, NULL, NULL, NULL, &l), -EINVAL);
	ck_assert_int_eq(gmem_listener_add(g, watch, NULL, &badl, &l), -EINVAL);
	ck_assert_int_eq(gmem_listener_remove(NULL), -EINVAL);
	ck_assert_int_eq(gmem_region_remove(g, 1, 1), -ENOENT);
	ck_assert_int_eq(gmem_guest_destroy(NULL), 0);
	ck_assert_int_eq(gmem_pool_destroy(NULL), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

/*
 * The options-struct rules. A struct that had tail padding in 1.x names
 * it (unused), and the library never reads it: a 1.x caller built with
 * GCC leaves it undefined. Anything past the last field of a newer
 * caller's struct must be zero (-E2BIG); reserved fields must be zero
 * (-EINVAL) and change nothing; a result struct from a newer caller
 * gets its tail zeroed.
 */
START_TEST(options_struct_rules)
{
	struct gmem_pool *p = pool_new();
	GMEM_OPTS(gmem_listener_opts, lo, .flags = 0, .unused = 0xdeadbeef);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED,
		  .unused = 0xdeadbeef);
	GMEM_OPTS(gmem_convert_opts, co, .reserved = 1);
	GMEM_OPTS(gmem_pager_opts, pa, .reserved = 1, .pager_fd = -1,
		  .ready_fd = -1);
	struct {
		struct gmem_region_opts o;
		uint64_t future;
	} big = { { .sz = sizeof(big) }, 1 };
	struct {
		struct gmem_guest_stats st;
		uint64_t future;
	} out = { { .sz = sizeof(out) }, ~0ull };
	struct gmem_listener *l;
	struct gmem_guest *g;
	unsigned int attr;

	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 4 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB, &ro), 0);
	ck_assert_int_eq(gmem_attr_get(g, 0, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_listener_add(g, watch, NULL, &lo, &l), 0);
	ck_assert_int_eq(gmem_listener_remove(l), 0);
	ck_assert_int_eq(gmem_region_add(g, GIB, GIB, &big.o), -E2BIG);
	big.future = 0;
	ck_assert_int_eq(gmem_region_add(g, GIB, GIB, &big.o), 0);
	ck_assert_int_eq(gmem_convert(g, 0, 1, GMEM_ATTR_PRIVATE, &co),
			 -EINVAL);
	ck_assert_int_eq(gmem_attr_get(g, 0, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_pager_attach(g, &pa), -EINVAL);
	pa.reserved = 0;
	ck_assert_int_eq(gmem_pager_attach(g, &pa), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &out.st), 0);
	ck_assert_uint_eq(out.st.nregions, 2);
	ck_assert_uint_eq(out.future, 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	pool_del(p);
}
END_TEST

/*
 * Observables of a guest, to prove a failed call changed nothing: the
 * runs of the first 3 GiB and the statistics.
 */
struct snapshot {
	struct gmem_run runs[64];
	int nruns;
	struct gmem_guest_stats st;
};

static void snap(struct gmem_guest *g, struct snapshot *s)
{
	uint64_t at = 0;

	memset(s, 0, sizeof(*s));
	while (at < 3 * GIB && s->nruns < 64) {
		struct gmem_run *r = &s->runs[s->nruns];
		uint64_t end = at < 2 * GIB ? 2 * GIB : 3 * GIB;

		if (gmem_run_get(g, at, end - at, r)) {
			at = end;
			continue;
		}
		s->nruns++;
		at += r->npages;
	}
	s->st.sz = sizeof(s->st);
	ck_assert_int_eq(gmem_guest_stats(g, &s->st), 0);
	s->st.meta_bytes = 0;
}

static int nop_listener(void *ctx, enum gmem_phase ph,
			const struct gmem_run *run)
{
	(void)ctx;
	(void)ph;
	(void)run;
	return 0;
}

/*
 * Each operation runs with the Nth allocation failing, for every N until
 * it succeeds: each failure must be -ENOMEM (or -ENOSPC for none) and
 * leave every observable as it was.
 */
static int op_at(struct gmem_guest *g, int op)
{
	GMEM_OPTS(gmem_region_opts, sh, .attr = GMEM_ATTR_SHARED);
	struct gmem_listener *l;
	struct gmem_txn *t;
	int err;

	switch (op) {
	case 0: return gmem_convert(g, 100000, 1, GMEM_ATTR_SHARED, NULL);
	case 1: return gmem_convert(g, 33768, 3 * 512, GMEM_ATTR_SHARED, NULL);
	case 2: return gmem_convert(g, GIB - 3, 7, GMEM_ATTR_SHARED, NULL);
	case 3: return gmem_region_add(g, 2 * GIB + 100, 50, &sh);
	case 4: return gmem_region_add(g, 2 * GIB + 1000, GIB, NULL);
	case 5:
		err = gmem_listener_add(g, nop_listener, NULL, NULL, &l);
		if (err)
			return err;
		err = gmem_convert(g, 5, 3, GMEM_ATTR_SHARED, NULL);
		gmem_listener_remove(l);
		return err;
	case 6:
		err = gmem_convert_prepare(g, 9000, 9, GMEM_ATTR_SHARED, NULL, &t);
		return err ? err : gmem_convert_commit(t);
	default:
		return gmem_guest_create(NULL, NULL, NULL);
	}
}

START_TEST(allocation_failure_everywhere)
{
	int op;

	for (op = 0; op < 7; op++) {
		uint64_t fail_at;

		for (fail_at = 1;; fail_at++) {
			struct gmem_pool *p = pool_new();
			struct gmem_guest *g;
			struct snapshot before, after;
			int err;

			ck_assert_int_eq(gmem_pool_add_frames(p, 0, 8 * GIB, 0,
							      NULL), 0);
			ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
			ck_assert_int_eq(gmem_region_add(g, 0, 2 * GIB, NULL), 0);
			ck_assert_int_eq(gmem_convert(g, 600, 3, 1, NULL), 0);
			snap(g, &before);
			ta.fail_at = ta.calls + fail_at;
			err = op_at(g, op);
			ta.fail_at = 0;
			if (!err) {
				ck_assert_msg(fail_at > 1, "op %d needs no allocation", op);
				ck_assert_int_eq(gmem_guest_destroy(g), 0);
				pool_del(p);
				break;
			}
			ck_assert_msg(err == -ENOMEM, "op %d fail_at %llu: %d",
				      op, (unsigned long long)fail_at, err);
			snap(g, &after);
			/* A conversion that failed is counted as refused:
			 * ops 0-2 always, 5 and 6 when the failure was not
			 * in adding the listener or the transaction. */
			ck_assert_uint_le(after.st.refusals - before.st.refusals,
					  op <= 2 || op >= 5);
			ck_assert_uint_ge(after.st.refusals - before.st.refusals,
					  op <= 2);
			after.st.refusals = before.st.refusals;
			ck_assert_int_eq(before.nruns, after.nruns);
			ck_assert_mem_eq(&before, &after, sizeof(before));
			ck_assert_int_eq(gmem_guest_destroy(g), 0);
			pool_del(p);
		}
	}
}
END_TEST

/* The default allocator: a private arena, and nothing left behind. */
START_TEST(default_allocator)
{
	struct gmem_pool *p;
	struct gmem_guest *g;
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);
	uint64_t f;

	ck_assert_int_eq(gmem_pool_create(NULL, &p), 0);
	ck_assert_int_eq(gmem_pool_add_frames(p, 0, 2 * GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(p, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, GIB, NULL), 0);
	for (f = 0; f < GIB; f += 2)
		ck_assert_int_eq(gmem_convert(g, f, 1, 1, NULL), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_le(st.meta_bytes, 40 * 1024);	/* worst pattern */
	ck_assert_uint_eq(st.mixed_pieces, 512);
	ck_assert_int_eq(gmem_convert(g, 0, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_stats(g, &st), 0);
	ck_assert_uint_eq(st.mixed_pieces, 0);
	ck_assert_uint_le(st.meta_bytes, 1024);	/* detail (32 KiB) freed */
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(p), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, version);
	tcase_add_test(tc, pool_cuts_ranges_into_blocks);
	tcase_add_test(tc, pool_best_fit_and_order);
	tcase_add_test(tc, guest_layout_and_translation);
	tcase_add_test(tc, listener_runs_are_coalesced);
	tcase_add_test(tc, prepare_commit_abort);
	tcase_add_test(tc, guest_counters);
	tcase_add_test(tc, conversion_granule);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, options_struct_rules);
	tcase_add_test(tc, allocation_failure_everywhere);
	tcase_add_test(tc, default_allocator);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
