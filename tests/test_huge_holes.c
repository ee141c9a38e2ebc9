/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * 4 KiB holes in hugetlb pages, on real hugetlb memory reserved here and
 * put back: a hole splits its page into 4 KiB pages in the view and the
 * guest mapping, closing it joins the page into one huge mapping again
 * and the builder's 1 GiB leaf comes back; contents survive both ways,
 * writers through the view lose nothing while a page moves, random
 * conversions match the model, a page with a pinned frame never moves,
 * and each system call of a split or join failing in turn leaves the
 * guest and its memory as they were.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/hugepages.h"
#include "helpers.h"
#include "rig.h"

#define MIB2 (UINT64_C(2) << 20)
#define GIB (UINT64_C(1) << 30)
#define BLOCK (GIB / FRAME)		/* frames */

/* Reserves n pages of page bytes, or prints why the test is skipped. */
static bool reserve(const char *test, uint64_t page, long n, long *before)
{
	if (hugepages_reserve((unsigned long)(page >> 10), n, before))
		return true;
	printf("SKIP: %s: cannot reserve %ld hugetlb page(s) of %llu KiB\n",
	       test, n, (unsigned long long)(page >> 10));
	return false;
}

static void unreserve(uint64_t page, long before)
{
	ck_assert(hugepages_restore((unsigned long)(page >> 10), before));
}

static struct gmem_backend_stats backend_stats(const struct rig *r)
{
	struct gmem_backend_stats st = { .sz = sizeof(st) };

	ck_assert_int_eq(gmem_backend_stats(r->be, &st), 0);
	return st;
}

static struct gmem_view_stats view_stats(const struct rig *r)
{
	struct gmem_view_stats st = { .sz = sizeof(st) };

	ck_assert_int_eq(gmem_view_stats(r->v, &st), 0);
	return st;
}

/* Whether the page of page bytes at p is one huge mapping. */
static bool mapped_whole(const char *p, uint64_t page)
{
	struct smaps_entry e;

	smaps_of(p, &e);
	return e.page_kib == page >> 10 && e.lo <= (uintptr_t)p &&
	       e.hi >= (uintptr_t)p + page;
}

static uint64_t leaves(struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_stats, st);

	ck_assert_int_eq(gmem_pt_sync(pt), 0);
	ck_assert_int_eq(gmem_pt_stats(pt, &st), 0);
	return st.nleaves;
}

/* gmem_convert and the model, without counting the system calls that
 * splits and joins add. */
static void convert_huge(struct rig *r, uint64_t gfn, uint64_t n,
			 unsigned int attr)
{
	ck_assert_int_eq(gmem_convert(r->g, gfn, n, attr, NULL), 0);
	model_convert_contents(r, gfn, n, attr);
}

/*
 * Seed 004 on 2 MiB (_i 0) and 1 GiB (_i 1) pages, over one 1 GiB
 * block: a shared hole in a private page, and a private hole in a
 * shared page, each opened and closed.
 */
START_TEST(hole_opens_and_closes)
{
	const uint64_t page = _i ? GIB : MIB2, pf = page / FRAME;
	const uint64_t p = _i ? 0 : 3 * pf;	/* the page holed */
	const uint64_t hole = p + 17;
	struct smaps_entry e;
	long before;
	struct rig r;

	if (!reserve("hole_opens_and_closes", page, (long)(GIB / page) + 1,
		     &before))
		return;
	rig_init_paged(&r, GMEM_BACKEND_HUGETLB, GMEM_CONTENT_PRESERVE, BLOCK,
		       page);
	write_frames(&r, 0, BLOCK, false);
	convert_huge(&r, 0, BLOCK, GMEM_ATTR_PRIVATE);
	ck_assert_uint_eq(leaves(r.pt_all), 1);

	/* A shared hole: its page is split, in 4 KiB pages. */
	convert_huge(&r, hole, 1, GMEM_ATTR_SHARED);
	ck_assert_uint_eq(backend_stats(&r).split_pages, 1);
	check_frames(&r, p, pf < 4096 ? pf : 4096);
	smaps_of(view_of(&r, hole), &e);
	ck_assert_uint_eq(e.page_kib, 4);
	ck_assert(!mapped_whole(guest_of(&r, p), page));
	/* The table of all memory keeps its 1 GiB leaf over the hole;
	 * the shared one has the hole alone. */
	ck_assert_uint_eq(leaves(r.pt_all), 1);
	ck_assert_uint_eq(leaves(r.pt_shared), 1);
	/* Both sides write the split page. */
	write_frames(&r, hole, 1, true);
	write_frames(&r, p, 8, false);
	check_frames(&r, p, 32);

	/* Closed: one huge page again, contents kept, one 1 GiB leaf. */
	convert_huge(&r, hole, 1, GMEM_ATTR_PRIVATE);
	ck_assert_uint_eq(backend_stats(&r).split_pages, 0);
	ck_assert_uint_eq(backend_stats(&r).joins, 1);
	ck_assert(mapped_whole(guest_of(&r, p), page));
	ck_assert_uint_eq(leaves(r.pt_all), 1);
	ck_assert_uint_eq(leaves(r.pt_shared), 0);

	/* A private hole in a shared page, and the view whole again. */
	convert_huge(&r, 0, BLOCK, GMEM_ATTR_SHARED);
	convert_huge(&r, hole, 1, GMEM_ATTR_PRIVATE);
	ck_assert(!mapped_whole(view_of(&r, p), page));
	ck_assert(!readable(&r, view_of(&r, hole)));
	check_frames(&r, hole - 1, 3);
	ck_assert_uint_gt(leaves(r.pt_shared), 1);
	convert_huge(&r, hole, 1, GMEM_ATTR_SHARED);
	ck_assert(mapped_whole(view_of(&r, p), page));
	ck_assert_uint_eq(leaves(r.pt_shared), 1);
	ck_assert_uint_eq(backend_stats(&r).splits, 2);
	ck_assert_uint_eq(backend_stats(&r).joins, 2);
	check_frames(&r, 0, BLOCK);
	rig_fini(&r);
	unreserve(page, before);
}
END_TEST

/* A thread adding one to a word of a shared frame, through the view, as
 * fast as it can, and counting how often it did. */
struct adder {
	volatile uint64_t *word;
	_Atomic bool stop;
	uint64_t adds;
};

static void *add(void *arg)
{
	struct adder *a = arg;

	while (!atomic_load_explicit(&a->stop, memory_order_relaxed)) {
		*a->word = *a->word + 1;
		a->adds++;
	}
	return NULL;
}

/* While its page is split and joined again and again by conversions of
 * another frame, a writer's every write lands: a write made to the old
 * copy during the move would be lost and the count fall short. */
START_TEST(writers_lose_nothing)
{
	const uint64_t pf = MIB2 / FRAME, rounds = 200;
	struct adder a = { 0 };
	pthread_t t;
	long before;
	struct rig r;

	/* valgrind runs one thread at a time and a writer held in a page
	 * fault would keep the converting thread from ever running. */
	if (test_env_u64("GMEM_UNDER_VALGRIND", 0)) {
		printf("SKIP: writers_lose_nothing: under valgrind, a writer "
		       "held in a fault blocks every thread\n");
		return;
	}
	if (!reserve("writers_lose_nothing", MIB2, 520, &before))
		return;
	rig_init_paged(&r, GMEM_BACKEND_HUGETLB, GMEM_CONTENT_PRESERVE, BLOCK,
		       MIB2);
	a.word = (volatile uint64_t *)view_of(&r, pf + 5);
	*a.word = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, add, &a), 0);
	for (uint64_t i = 0; i < rounds; i++) {
		ck_assert_int_eq(gmem_convert(r.g, pf + 300, 1,
					      GMEM_ATTR_PRIVATE, NULL), 0);
		ck_assert_int_eq(gmem_convert(r.g, pf + 300, 1,
					      GMEM_ATTR_SHARED, NULL), 0);
	}
	atomic_store(&a.stop, true);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(backend_stats(&r).splits, rounds);
	ck_assert_uint_eq(backend_stats(&r).joins, rounds);
	ck_assert_uint_gt(a.adds, 0);
	ck_assert_uint_eq(*a.word, a.adds);
	ck_assert(mapped_whole(view_of(&r, pf), MIB2));
	rig_fini(&r);
	unreserve(MIB2, before);
}
END_TEST

/* Random conversions and writes at 4 KiB over 2 MiB pages against the
 * model, with each content policy; uniform at the end, nothing stays
 * split. */
START_TEST(differential)
{
	uint64_t ops = test_env_u64("GMEM_HUGE_OPS", 1500);
	uint64_t seed = 0x5bd1e995u ^ (uint64_t)_i;
	const uint64_t n = 64 * (MIB2 / FRAME);	/* 64 pages */
	long before;
	struct rig r;

	if (!reserve("differential", MIB2, 72, &before))
		return;
	rig_init_paged(&r, GMEM_BACKEND_HUGETLB, (unsigned int)_i, n, MIB2);
	write_frames(&r, 0, n, false);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t op = rng_next(&seed) % 8, len, gfn;

		len = op == 0 ? 512 * (1 + rng_next(&seed) % 3)
			      : 1 + rng_next(&seed) % (op < 4 ? 8 : 700);
		gfn = rng_next(&seed) % (n - len);
		if (op < 5)
			convert_huge(&r, gfn, len,
				     (unsigned int)(rng_next(&seed) & 1));
		else
			write_frames(&r, gfn, len, op == 5);
		check_frames(&r, gfn > 1 ? gfn - 1 : 0,
			     len + 2 < n - gfn ? len + 2 : n - gfn);
		ck_assert_uint_eq(view_stats(&r).stale, 0);
	}
	check_frames(&r, 0, n);
	check_tables(&r);
	convert_huge(&r, 0, n, GMEM_ATTR_SHARED);
	ck_assert_uint_eq(backend_stats(&r).split_pages, 0);
	for (uint64_t p = 0; p < n; p += MIB2 / FRAME)
		ck_assert(mapped_whole(view_of(&r, p), MIB2));
	check_frames(&r, 0, n);
	rig_fini(&r);
	unreserve(MIB2, before);
}
END_TEST

/*
 * A conversion that splits a page (_i 0) or joins one (_i 1), with each
 * of its system calls failing in turn: a refused conversion leaves the
 * guest's state, every frame's contents and the page whole; a join that
 * fails only leaves the page split; the view is never left stale.
 */
START_TEST(each_call_fails_in_turn)
{
	const uint64_t pf = MIB2 / FRAME, n = 8 * pf, hole = pf + 9;
	unsigned int attr, want = _i ? GMEM_ATTR_SHARED : GMEM_ATTR_PRIVATE;
	long before;
	struct rig r;
	uint64_t c;

	if (!reserve("each_call_fails_in_turn", MIB2, 12, &before))
		return;
	rig_init_paged(&r, GMEM_BACKEND_HUGETLB, GMEM_CONTENT_PRESERVE, n,
		       MIB2);
	write_frames(&r, 0, n, false);
	for (c = 1;; c++) {
		int failed = r.in.failed, err;

		if (_i)
			convert_huge(&r, hole, 1, GMEM_ATTR_PRIVATE);
		os_inject_arm(&r.in, c, EIO);
		err = gmem_convert(r.g, hole, 1, want, NULL);
		os_inject_arm(&r.in, 0, 0);
		ck_assert_uint_eq(view_stats(&r).stale, 0);
		if (err) {
			ck_assert_int_eq(err, -EIO);
			ck_assert_int_eq(gmem_attr_get(r.g, hole, &attr), 0);
			ck_assert_uint_ne(attr, want);
		} else {
			model_convert_contents(&r, hole, 1, want);
		}
		check_frames(&r, pf, pf);
		if (r.in.failed == failed)
			break;		/* the whole change ran unhurt */
		if (!err && _i)	/* joined, or left split by the failure */
			ck_assert_uint_le(backend_stats(&r).split_pages, 1);
		if (!err && !_i)
			convert_huge(&r, hole, 1, GMEM_ATTR_SHARED);
		if (!_i)
			ck_assert_uint_eq(backend_stats(&r).split_pages, 0);
	}
	printf("each_call_fails_in_turn %s: %llu calls\n", _i ? "join" : "split",
	       (unsigned long long)c - 1);
	ck_assert_uint_ge(c, 12);	/* holds, copy, remaps, releases */
	ck_assert_uint_eq(backend_stats(&r).split_pages, _i ? 0 : 1);
	check_frames(&r, 0, n);
	rig_fini(&r);
	unreserve(MIB2, before);
}
END_TEST

/* A page holding a pinned frame never moves: a conversion that would
 * split it is refused, and once the pin goes it splits. */
START_TEST(pinned_pages_stay)
{
	const uint64_t pf = MIB2 / FRAME, n = 4 * pf;
	unsigned int attr;
	long before;
	struct rig r;

	if (!reserve("pinned_pages_stay", MIB2, 8, &before))
		return;
	rig_init_paged(&r, GMEM_BACKEND_HUGETLB, GMEM_CONTENT_PRESERVE, n,
		       MIB2);
	write_frames(&r, 0, n, false);
	ck_assert_int_eq(gmem_pin(r.g, pf + 1, 1, NULL), 0);
	ck_assert_int_eq(gmem_convert(r.g, pf + 8, 1, GMEM_ATTR_PRIVATE,
				      NULL), -EBUSY);
	ck_assert_int_eq(gmem_attr_get(r.g, pf + 8, &attr), 0);
	ck_assert_uint_eq(attr, GMEM_ATTR_SHARED);
	ck_assert_uint_eq(backend_stats(&r).split_pages, 0);
	ck_assert_uint_eq(view_stats(&r).stale, 0);
	ck_assert(mapped_whole(view_of(&r, pf), MIB2));
	check_frames(&r, 0, n);
	/* Another page moves freely meanwhile. */
	convert_huge(&r, 2 * pf + 8, 1, GMEM_ATTR_PRIVATE);
	ck_assert_uint_eq(backend_stats(&r).split_pages, 1);
	ck_assert_int_eq(gmem_unpin(r.g, pf + 1, 1, NULL), 0);
	convert_huge(&r, pf + 8, 1, GMEM_ATTR_PRIVATE);
	ck_assert_uint_eq(backend_stats(&r).split_pages, 2);
	check_frames(&r, 0, n);
	rig_fini(&r);
	unreserve(MIB2, before);
}
END_TEST

/* Where pages cannot split, the view says so; a region that does not
 * hold whole pages is refused. */
START_TEST(granule_rules)
{
	GMEM_OPTS(gmem_backend_opts, bo, .kind = GMEM_BACKEND_HUGETLB,
		  .page_size = MIB2);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	struct os_inject in;
	struct gmem_backend *be;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_view *v;
	long before;

	if (!reserve("granule_rules", MIB2, 4, &before))
		return;
	os_inject_init(&in);
	bo.os = &in.ops;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 600, &ro), 0);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), -EINVAL);
	ck_assert_int_eq(gmem_region_remove(g, 0, 600), 0);
	ck_assert_int_eq(gmem_region_add(g, 512, 1024, &ro), 0);
	/* No /dev/userfaultfd: no writer could be held. */
	os_inject_arm(&in, 1, ENOENT);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), -EOPNOTSUPP);
	os_inject_arm(&in, 0, 0);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), 0);
	ck_assert_int_eq(gmem_view_destroy(v), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
	unreserve(MIB2, before);
}
END_TEST

static Suite *huge_holes_suite(void)
{
	Suite *s = suite_create("huge_holes");
	TCase *tc = tcase_create("hugetlb");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, hole_opens_and_closes, 0, 2);
	tcase_add_test(tc, writers_lose_nothing);
	tcase_add_loop_test(tc, differential, 0, 2);
	tcase_add_loop_test(tc, each_call_fails_in_turn, 0, 2);
	tcase_add_test(tc, pinned_pages_stay);
	tcase_add_test(tc, granule_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(huge_holes_suite());
}
