/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KVM's memory attributes follow conversions, and memory-fault exits
 * are resolved by converting: against a hook that plays KVM on every
 * machine, and against a real KVM_X86_SW_PROTECTED_VM where /dev/kvm
 * exists. What KVM was told (the rig's record) must equal the guest's
 * state after every step, refused steps and injected failures included.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kvm_rig.h"

#define BIG_FRAMES (2 * GMEM_BLOCK_FRAMES)	/* the region at 0 */

static struct gmem_view_stats stats_of(struct gmem_view *v)
{
	GMEM_OPTS(gmem_view_stats, st);

	ck_assert_int_eq(gmem_view_stats(v, &st), 0);
	return st;
}

/* Binding tells KVM every run of the region, one ioctl each; a
 * conversion tells it each maximal changed run; unbinding makes the
 * region shared in KVM again. */
START_TEST(attrs_follow_conversions)
{
	struct kvm_rig k;
	struct kvm_world w;
	uint32_t n;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD, 0, 0,
					0), 0);
	ck_assert_int_eq(gmem_convert(w.g, 100, 50, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(w.v, k.vm, 0, 0, &n), 0);
	ck_assert_uint_eq(k.nattr, 3);		/* private, shared, private */
	ck_assert_uint_eq(stats_of(w.v).attr_regions, 1);
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	/* Two changed runs in one conversion: two ioctls. */
	ck_assert_int_eq(gmem_convert(w.g, 300, 10, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_uint_eq(k.nattr, 4);
	ck_assert_int_eq(gmem_convert(w.g, 90, 300, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_uint_eq(k.nattr, 7);	/* 90-99, 150-299, 310-389 */
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	/* Nothing changing tells KVM nothing. */
	ck_assert_int_eq(gmem_convert(w.g, 95, 5, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_uint_eq(k.nattr, 7);
	ck_assert_uint_eq(stats_of(w.v).attr_ioctls, 7);
	/* The small region is not followed: its conversions tell nothing. */
	ck_assert_int_eq(gmem_convert(w.g, KVM_WORLD_SMALL, 8,
				      GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_uint_eq(k.nattr, 7);
	ck_assert_int_eq(gmem_view_kvm_bind(w.v, k.vm, 0, 4, &n), -EBUSY);
	ck_assert_int_eq(gmem_view_kvm_unbind(w.v, k.vm, 0, 0), 0);
	ck_assert_uint_eq(k.nattr, 8);
	ck_assert_uint_eq(stats_of(w.v).attr_regions, 0);
	for (uint64_t i = 0; i < BIG_FRAMES; i++)
		ck_assert_uint_eq(k.private_[i], 0);
	ck_assert_int_eq(gmem_convert(w.g, 0, 8, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_uint_eq(k.nattr, 8);
	kvm_world_close(&w);
	kvm_rig_fini(&k);
}
END_TEST

/* Without the private attribute (or without guest_memfd, where private
 * frames would have no memory in KVM), KVM is never told. */
START_TEST(attrs_only_where_offered)
{
	struct kvm_rig k;
	struct kvm_world w;
	uint32_t n;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	if (_i == 0)
		k.attr_offer = 0;
	ck_assert_int_eq(kvm_world_open(&w, &k, _i ? GMEM_BACKEND_MEMFD
						   : GMEM_BACKEND_GUEST_MEMFD,
					0, 0, 0), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(w.v, k.vm, 0, 0, &n), 0);
	ck_assert_int_eq(gmem_convert(w.g, 0, 8, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_uint_eq(k.nattr, 0);
	ck_assert_uint_eq(stats_of(w.v).attr_regions, 0);
	ck_assert_int_eq(gmem_view_kvm_unbind(w.v, k.vm, 0, 0), 0);
	ck_assert_uint_eq(k.nattr, 0);
	kvm_world_close(&w);
	kvm_rig_fini(&k);
}
END_TEST

/* Binding fails at each of its calls in turn: the error comes back, no
 * slot stays and KVM's attributes are shared. */
START_TEST(bind_failure_leaves_nothing)
{
	struct kvm_rig k;
	struct kvm_world w;
	uint32_t n;
	int err;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD, 0, 0,
					0), 0);
	ck_assert_int_eq(gmem_convert(w.g, 7, 9, GMEM_ATTR_SHARED, NULL), 0);
	for (uint64_t c = 1;; c++) {
		os_inject_arm(&k.in, c, EIO);
		err = gmem_view_kvm_bind(w.v, k.vm, 0, 0, &n);
		os_inject_arm(&k.in, 0, 0);
		if (!err)
			break;
		ck_assert_int_eq(err, -EIO);
		ck_assert_uint_eq(k.nlive, 0);
		ck_assert_uint_eq(stats_of(w.v).attr_regions, 0);
		for (uint64_t i = 0; i < 64; i++)
			ck_assert_uint_eq(k.private_[i], 0);
	}
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	ck_assert_int_eq(gmem_view_kvm_unbind(w.v, k.vm, 0, 0), 0);
	kvm_world_close(&w);
	kvm_rig_fini(&k);
}
END_TEST

/* Maximal runs of [gfn, gfn + n) whose state is not attr. */
static uint64_t changed_runs(const uint8_t *priv, uint64_t gfn, uint64_t n,
			     unsigned int attr)
{
	uint64_t runs = 0;
	bool in = false;

	for (uint64_t i = gfn; i < gfn + n; i++) {
		bool change = priv[i] != (attr == GMEM_ATTR_PRIVATE);

		runs += change && !in;
		in = change;
	}
	return runs;
}

/*
 * Random conversions over a bound region, some with one system call
 * made to fail: after each, KVM's record equals the guest's state, which
 * equals the expected one (unchanged after a refusal), and a conversion
 * that went through cost one attribute ioctl per maximal changed run.
 */
static void differential(struct kvm_rig *k, uint64_t seed, int steps)
{
	struct kvm_world w;
	uint8_t *want = calloc(BIG_FRAMES, 1);
	uint64_t rng = seed, refused = 0;
	uint32_t n;

	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(kvm_world_open(&w, k, GMEM_BACKEND_GUEST_MEMFD, 0,
					GMEM_CONTENT_DISCARD, 0), 0);
	memset(want, 1, BIG_FRAMES);		/* regions start private */
	ck_assert_int_eq(gmem_view_kvm_bind(w.v, k->vm, 0, 0, &n), 0);
	for (int step = 0; step < steps; step++) {
		uint64_t len = 1 + rng_next(&rng) % (UINT64_C(1) <<
						      (rng_next(&rng) % 19));
		uint64_t gfn = rng_next(&rng) % (BIG_FRAMES - len + 1);
		unsigned int attr = rng_next(&rng) & 1 ? GMEM_ATTR_SHARED
						       : GMEM_ATTR_PRIVATE;
		uint64_t runs = changed_runs(want, gfn, len, attr);
		uint64_t before = k->nattr;
		uint64_t fail = rng_next(&rng) % 4 ? 0 : 1 + rng_next(&rng) % 4;
		int err;

		os_inject_arm(&k->in, fail, EIO);
		err = gmem_convert(w.g, gfn, len, attr, NULL);
		os_inject_arm(&k->in, 0, 0);
		if (err) {
			ck_assert_int_eq(err, -EIO);
			ck_assert_uint_gt(fail, 0);
			refused++;
		} else {
			memset(want + gfn, attr == GMEM_ATTR_PRIVATE, len);
			ck_assert_uint_eq(k->nattr - before, runs);
		}
		ck_assert_uint_eq(stats_of(w.v).stale, 0);
		ck_assert(kvm_rig_attrs_match(k, w.g, 0, BIG_FRAMES));
		/* The guest's state, and so KVM's, is the expected one. */
		ck_assert(memcmp(k->private_, want, BIG_FRAMES) == 0);
	}
	ck_assert_uint_gt(refused, 0);
	ck_assert_int_eq(gmem_view_kvm_unbind(w.v, k->vm, 0, 0), 0);
	kvm_world_close(&w);
	free(want);
}

/* Loops 0-3 on one copy (in-place guest_memfd), 4-5 on two. */
START_TEST(attrs_differential)
{
	struct kvm_rig k;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	if (_i >= 4)
		k.gmem_offer = GUEST_MEMFD_FLAG_MMAP;
	differential(&k, 0x9e3779b97f4a7c15ull * (uint64_t)(_i + 1), 60);
	kvm_rig_fini(&k);
}
END_TEST

/* The same against a real KVM_X86_SW_PROTECTED_VM: the record is of
 * ioctls KVM accepted. */
START_TEST(attrs_differential_real)
{
	const char *why = NULL;
	struct kvm_rig k;
	int err = kvm_rig_real(&k, &why);

	if (err) {
		printf("SKIP: real KVM attributes: %s (%s)\n", why,
		       strerror(-err));
		return;
	}
	differential(&k, 0x2545f4914f6cdd1dull, 60);
	kvm_rig_fini(&k);
}
END_TEST

/*
 * One conversion of three changed runs, each of its system calls made to
 * fail in turn (view mappings, punches, attribute ioctls), on one copy
 * and on two: every failure refuses it with both the guest's state and
 * KVM's unchanged and no stale view; then it goes through.
 */
START_TEST(each_call_fails_in_turn)
{
	struct kvm_rig k;
	struct kvm_world w;
	uint8_t *before = malloc(BIG_FRAMES);
	uint64_t c, ioctls;
	uint32_t n;
	int err;

	ck_assert_ptr_nonnull(before);
	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	if (_i)
		k.gmem_offer = GUEST_MEMFD_FLAG_MMAP;
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD, 0,
					GMEM_CONTENT_DISCARD, 0), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(w.v, k.vm, 0, 0, &n), 0);
	ck_assert_int_eq(gmem_convert(w.g, 110, 10, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(gmem_convert(w.g, 130, 10, GMEM_ATTR_SHARED, NULL), 0);
	memcpy(before, k.private_, BIG_FRAMES);
	for (c = 1;; c++) {
		ioctls = k.nattr;
		os_inject_arm(&k.in, c, EIO);
		err = gmem_convert(w.g, 100, 50, GMEM_ATTR_SHARED, NULL);
		os_inject_arm(&k.in, 0, 0);
		if (!err)
			break;
		ck_assert_int_eq(err, -EIO);
		ck_assert_uint_eq(stats_of(w.v).stale, 0);
		ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
		ck_assert(memcmp(k.private_, before, BIG_FRAMES) == 0);
	}
	/* Each of the three runs: at least its ioctl and a mapping. */
	ck_assert_uint_ge(c, 7);
	ck_assert_uint_eq(k.nattr - ioctls, 3);
	for (uint64_t i = 100; i < 150; i++)
		ck_assert_uint_eq(k.private_[i], 0);
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	ck_assert_int_eq(gmem_view_kvm_unbind(w.v, k.vm, 0, 0), 0);
	kvm_world_close(&w);
	kvm_rig_fini(&k);
	free(before);
}
END_TEST

/* Memory faults: the range is rounded out to the granule and converted
 * to what the access wanted; a repeated fault converts nothing; faults
 * outside memory, on pinned or paged-out frames are refused unchanged. */
START_TEST(fault_converts)
{
	GMEM_OPTS(gmem_kvm_fault, f, .gpa = 0x12345, .size = 4096);
	struct kvm_rig k;
	struct kvm_world w;
	uint32_t n, pins;

	ck_assert_int_eq(kvm_rig_fake(&k), 0);
	ck_assert_int_eq(kvm_world_open(&w, &k, GMEM_BACKEND_GUEST_MEMFD, 0, 0,
					16), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(w.v, k.vm, 0, 0, &n), 0);
	/* A shared access to a private frame: its 64 KiB becomes shared. */
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), 0);
	ck_assert_uint_eq(f.gfn, 0x10);
	ck_assert_uint_eq(f.npages, 16);
	ck_assert_uint_eq(f.changed, 16);
	ck_assert_uint_eq(k.private_[0x12], 0);
	ck_assert_uint_eq(k.private_[0x20], 1);
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	/* Again: another vCPU got there first. */
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), 0);
	ck_assert_uint_eq(f.changed, 0);
	/* A private access across two granules. */
	f.flags = GMEM_KVM_FAULT_PRIVATE;
	f.gpa = 0x1f000;
	f.size = 0x2000;
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), 0);
	ck_assert_uint_eq(f.gfn, 0x10);
	ck_assert_uint_eq(f.npages, 32);
	ck_assert_uint_eq(f.changed, 16);
	ck_assert_uint_eq(k.private_[0x12], 1);
	ck_assert_uint_eq(stats_of(w.v).faults, 3);
	ck_assert_uint_eq(stats_of(w.v).fault_conversions, 2);
	/* Refused, unchanged. */
	f.gpa = 3 * GMEM_BLOCK_FRAMES * 4096 - 4096;	/* a hole */
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), -EFAULT);
	f.gpa = 0;
	f.flags = 1;
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), -EINVAL);
	f.flags = 0;
	f.size = 0;
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), -EINVAL);
	f.size = 4096;
	ck_assert_int_eq(gmem_pin(w.g, 0x45, 1, NULL), 0);
	f.gpa = 0x40000;
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), -EBUSY);
	ck_assert_uint_eq(f.fail_gfn, 0x45);
	ck_assert_uint_eq(f.changed, 0);
	ck_assert_int_eq(gmem_unpin(w.g, 0x45, 1, NULL), 0);
	ck_assert_int_eq(gmem_pin_count(w.g, 0x45, &pins), 0);
	ck_assert_uint_eq(pins, 0);
	ck_assert_int_eq(gmem_page_nominate(w.g, 0x50, 16, NULL), 0);
	f.gpa = 0x50000;
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), -EAGAIN);
	ck_assert_uint_eq(f.fail_gfn, 0x50);
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	/* KVM refusing the attribute refuses the fault's conversion. */
	f.gpa = 0x60000;
	os_inject_arm(&k.in, 1, ENOMEM);
	ck_assert_int_eq(gmem_view_kvm_fault(w.v, &f), -ENOMEM);
	os_inject_arm(&k.in, 0, 0);
	ck_assert_uint_eq(k.private_[0x60], 1);
	ck_assert(kvm_rig_attrs_match(&k, w.g, 0, BIG_FRAMES));
	/* The guest counts the faults' conversions (3, one changing
	 * nothing) and refusals (pinned, paged out, KVM's ENOMEM). */
	{
		GMEM_OPTS(gmem_guest_stats, gs, .meta_bytes = 0);

		ck_assert_int_eq(gmem_guest_stats(w.g, &gs), 0);
		ck_assert_uint_eq(gs.conversions, 3);
		ck_assert_uint_eq(gs.converted_frames, 16 + 16 + 32);
		ck_assert_uint_eq(gs.refusals, 3);
	}
	ck_assert_int_eq(gmem_view_kvm_unbind(w.v, k.vm, 0, 0), 0);
	kvm_world_close(&w);
	kvm_rig_fini(&k);
}
END_TEST

static Suite *kvm_attrs_suite(void)
{
	Suite *s = suite_create("kvm_attrs");
	TCase *tc = tcase_create("played by a hook");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, attrs_follow_conversions);
	tcase_add_loop_test(tc, attrs_only_where_offered, 0, 2);
	tcase_add_test(tc, bind_failure_leaves_nothing);
	tcase_add_loop_test(tc, attrs_differential, 0, 6);
	tcase_add_loop_test(tc, each_call_fails_in_turn, 0, 2);
	tcase_add_test(tc, fault_converts);
	suite_add_tcase(s, tc);
	tc = tcase_create("real KVM");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, attrs_differential_real);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(kvm_attrs_suite());
}
