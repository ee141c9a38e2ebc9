/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging in targeted cases: starting on 4 GiB of 1 GiB leaves
 * protects 4 leaves and splits none, a fault splits only along its
 * path, explain names logging, bad input changes nothing, a sink that
 * refuses a protect (early in a harvest of several batches too), a
 * harvest folds the tables where it should and only there (and a
 * conversion in a folded table), last-level tables smaller than a word
 * of the dirty set, a stopped log gives back its memory, and allocation
 * failures at every step leave everything as it was.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "log_check.h"

static struct gmem_pt_stats pt_stats(struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);

	ck_assert_int_eq(gmem_pt_stats(pt, &st), 0);
	return st;
}

static struct gmem_pt_log_stats log_stats(struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_log_stats, st, .ranges = 0);

	ck_assert_int_eq(gmem_pt_log_stats(pt, &st), 0);
	return st;
}

/* The EPT entry that points to the last-level table of gfn, read from
 * memory as the hardware reads it. */
static uint64_t pde_of(struct log_rig *r, uint64_t gfn)
{
	uint64_t pa, e = 0;
	int d;

	ck_assert_int_eq(gmem_pt_root(r->pt, NULL, &pa), 0);
	for (d = 0; d < 3; d++) {
		const uint64_t *t = ref_pages_virt(&r->pages, pa);

		ck_assert_ptr_nonnull(t);
		e = t[(gfn >> (9 * (3 - d))) & 511];
		pa = e & ~UINT64_C(0xfff) & ((UINT64_C(1) << 52) - 1);
	}
	return e;
}

static void fault_range(struct log_rig *r, uint64_t lo, uint64_t hi)
{
	for (; lo < hi; lo++)
		log_op_fault(r, lo);
}

/*
 * Without a sink, a harvest that takes write from 64 or more pages of
 * one table takes it from the table's entry instead (EPT), where all the
 * table is logged and the harvest takes all its writable frames: the
 * hardware, and the public walk, then read every page of it read-only.
 * A fault in it unfolds it, and only the faulting frame is writable
 * again.
 */
START_TEST(harvest_folds_tables)
{
	const uint64_t W_BIT = 2, p3 = 3 * 512, p5 = 5 * 512, p7 = 7 * 512,
		       p9 = 9 * 512;
	struct log_rig r;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
		     GMEM_ATTR_PRIVATE, true);
	/* Logged: all of pieces 3 to 8; of piece 9, its first 100 frames. */
	log_op_start(&r, p3, p9 + 100);
	fault_range(&r, p3, p3 + 512);		/* all of a table */
	fault_range(&r, p5 + 64, p5 + 164);	/* 100 pages */
	fault_range(&r, p7, p7 + 10);		/* too few to pay */
	fault_range(&r, p9, p9 + 80);		/* a table logged in part */
	log_full_check(&r, true);
	log_op_harvest(&r, 0, p5, 0);
	log_op_harvest(&r, p5 + 512, GIB, 0);
	ck_assert_uint_eq(pde_of(&r, p3) & W_BIT, 0);
	ck_assert_uint_eq(pde_of(&r, p7) & W_BIT, W_BIT);
	ck_assert_uint_eq(pde_of(&r, p9) & W_BIT, W_BIT);
	/* A ring of 70 takes 70 of piece 5's 100: 30 stay writable, so its
	 * table stays unfolded; the rest are too few to fold. */
	log_op_harvest(&r, p5, p5 + 512, 70);
	ck_assert_uint_eq(pde_of(&r, p5) & W_BIT, W_BIT);
	/* What the hardware reads, then what the public walk sees: it
	 * only reads, so the table stays folded. */
	log_full_check(&r, true);
	ck_assert_uint_eq(pde_of(&r, p3) & W_BIT, 0);
	log_op_harvest(&r, p5, p5 + 512, 0);
	ck_assert_uint_eq(pde_of(&r, p5) & W_BIT, W_BIT);
	log_full_check(&r, true);

	/* Folded again; a fault in it then unfolds it first. */
	fault_range(&r, p3, p3 + 512);
	fault_range(&r, p5, p5 + 512);
	log_op_harvest(&r, 0, GIB, 0);
	ck_assert_uint_eq(pde_of(&r, p3) & W_BIT, 0);
	ck_assert_uint_eq(pde_of(&r, p5) & W_BIT, 0);
	log_op_fault(&r, p3 + 200);
	ck_assert_uint_eq(pde_of(&r, p3) & W_BIT, W_BIT);
	ck_assert_uint_eq(pde_of(&r, p5) & W_BIT, 0);
	log_full_check(&r, true);
	log_op_harvest(&r, 0, GIB, 0);
	log_full_check(&r, true);
	/* Stopping joins the folded and unfolded tables alike. */
	fault_range(&r, p5, p5 + 512);
	log_op_harvest(&r, 0, GIB, 0);
	log_op_stop(&r, 0, GIB);
	log_full_check(&r, true);
	log_rig_close(&r);
}
END_TEST

/*
 * A conversion in a folded table, in the PRIVATE view: the frames
 * converted to shared leave the view, so the sync unmaps them there,
 * unfolding the table first; the others stay read-only, and the
 * converted ones are dirty.
 */
START_TEST(fold_then_convert)
{
	const uint64_t W_BIT = 2, p2 = 2 * 512;
	struct log_rig r;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_PRIVATE, GIB,
		     GMEM_ATTR_PRIVATE, true);
	log_op_start(&r, 0, 8 * 512);
	fault_range(&r, p2, p2 + 512);
	log_op_harvest(&r, 0, GIB, 0);
	ck_assert_uint_eq(pde_of(&r, p2) & W_BIT, 0);
	log_full_check(&r, true);
	log_op_convert(&r, p2 + 100, p2 + 300, GMEM_ATTR_SHARED);
	ck_assert_uint_eq(pde_of(&r, p2) & W_BIT, W_BIT);
	log_full_check(&r, true);
	log_op_fault(&r, p2 + 400);
	log_full_check(&r, true);
	log_op_harvest(&r, 0, GIB, 0);
	log_full_check(&r, true);
	log_rig_close(&r);
}
END_TEST

START_TEST(start_on_gib_leaves)
{
	uint64_t f = GIB + 3 * 512 + 7, bm[4] = { 0 };
	struct gmem_pt_stats st0, st;
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm, .bitmap_bytes = sizeof(bm));
	struct log_rig r;
	uint32_t k;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, 4 * GIB,
		     GMEM_ATTR_PRIVATE, false);
	st0 = pt_stats(r.pt);
	ck_assert_uint_eq(st0.nleaves, 4);
	ck_assert_int_eq(gmem_pt_log_start(r.pt, 0, 4 * GIB), 0);
	st = pt_stats(r.pt);
	ck_assert_uint_eq(st.protects - st0.protects, 4);
	ck_assert_uint_eq(r.m.protects, 4);
	ck_assert_uint_eq(st.maps, st0.maps);
	ck_assert_uint_eq(st.unmaps, st0.unmaps);
	ck_assert_uint_eq(st.nleaves, 4);
	ck_assert_uint_eq(r.m.prot[f], RWX & ~W);

	ck_assert_int_eq(gmem_pt_log_fault(r.pt, f), 0);
	st = pt_stats(r.pt);
	ck_assert_uint_eq(st.nleaves, 3 + 511 + 512);
	ck_assert_uint_eq(st.unmaps - st0.unmaps, 1);
	ck_assert_uint_eq(r.m.len[f], 1);
	ck_assert_uint_eq(r.m.prot[f], RWX);
	ck_assert_uint_eq(r.m.prot[f + 1], RWX & ~W);
	ck_assert_uint_eq(r.m.len[GIB + 4 * 512], 512);
	ck_assert_uint_eq(r.m.len[0], GIB);
	/* Again, as a second vCPU would: nothing to do. */
	ck_assert_int_eq(gmem_pt_log_fault(r.pt, f), 0);
	ck_assert_uint_eq(pt_stats(r.pt).nleaves, 3 + 511 + 512);
	ck_assert_uint_eq(log_stats(r.pt).faults, 1);

	/* A frame next to it: its 4 KiB leaf is kept by nothing but the
	 * 2 MiB size is kept by the written frame, and so is 1 GiB. */
	ck_assert_int_eq(gmem_pt_explain_table(r.pt, f + 1, &ex), 0);
	ck_assert_uint_eq(ex.leaf.npages, 1);
	ck_assert_uint_ge(ex.nwhy, 3);
	for (k = 1; k < ex.nwhy; k++) {
		ck_assert_uint_eq(ex.why[k].blocker, GMEM_PT_BLOCK_DIRTY_LOG);
		ck_assert_uint_eq(ex.why[k].at_gfn, f);
	}

	ck_assert_int_eq(gmem_pt_log_mark(r.pt, 8, 2), 0);
	ck_assert_int_eq(gmem_pt_log_harvest(r.pt, f - 100, 200, &h), 0);
	ck_assert_uint_eq(h.count, 1);
	ck_assert_uint_eq(h.next, f + 100);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_uint_eq(bm[1], UINT64_C(1) << 36);
	ck_assert_uint_eq(r.m.prot[f], RWX & ~W);
	ck_assert_uint_eq(log_stats(r.pt).dirty, 2);
	ck_assert_uint_eq(r.m.len[f], 1);

	ck_assert_int_eq(gmem_pt_log_stop(r.pt, 0, 4 * GIB), 0);
	st = pt_stats(r.pt);
	ck_assert_uint_eq(st.nleaves, 4);
	for (k = 0; k < 4; k++) {
		ck_assert_uint_eq(r.m.len[k * GIB], GIB);
		ck_assert_uint_eq(r.m.prot[k * GIB], RWX);
	}
	ck_assert_uint_eq(log_stats(r.pt).dirty, 0);
	ck_assert_uint_eq(log_stats(r.pt).ranges, 0);
	log_rig_close(&r);
}
END_TEST

/* Everything a caller can see of the builder and its logging. */
struct seen {
	struct gmem_pt_stats st;
	struct gmem_pt_log_stats log;
	uint64_t leaves;
};

static struct seen seen_of(struct log_rig *r)
{
	struct seen s;

	memset(&s, 0, sizeof(s));
	s.st = pt_stats(r->pt);
	s.log = log_stats(r->pt);
	s.leaves = log_full_check(r, false);
	return s;
}

static void expect_unchanged(struct log_rig *r, const struct seen *before)
{
	struct seen now = seen_of(r);

	ck_assert_uint_eq(now.st.nleaves, before->st.nleaves);
	ck_assert_uint_eq(now.st.maps, before->st.maps);
	ck_assert_uint_eq(now.st.unmaps, before->st.unmaps);
	ck_assert_uint_eq(now.st.protects, before->st.protects);
	ck_assert_uint_eq(now.log.ranges, before->log.ranges);
	ck_assert_uint_eq(now.log.frames, before->log.frames);
	ck_assert_uint_eq(now.log.dirty, before->log.dirty);
	ck_assert_uint_eq(now.log.split, before->log.split);
	ck_assert_uint_eq(now.log.faults, before->log.faults);
	ck_assert_uint_eq(now.leaves, before->leaves);
}

START_TEST(bad_input)
{
	uint64_t bm[2] = { 0 }, ring[4];
	struct seen before;
	struct log_rig r;

	/* The SHARED view of a guest with a private hole. */
	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_SHARED, GIB,
		     GMEM_ATTR_SHARED, false);
	log_op_convert(&r, 4096, 4096 + 512, GMEM_ATTR_PRIVATE);
	log_op_start(&r, 0, 1024);
	log_op_start(&r, 8192, 8192 + 512);
	log_op_fault(&r, 5);
	before = seen_of(&r);

	ck_assert_int_eq(gmem_pt_log_start(r.pt, 1000, 100), -EBUSY);
	ck_assert_int_eq(gmem_pt_log_start(r.pt, 0, 1), -EBUSY);
	ck_assert_int_eq(gmem_pt_log_start(r.pt, 2000, 0), -EINVAL);
	ck_assert_int_eq(gmem_pt_log_start(NULL, 2000, 1), -EINVAL);
	ck_assert_int_eq(gmem_pt_log_start(r.pt, GMEM_FRAME_LIMIT - 1, 2),
			 -EOVERFLOW);
	ck_assert_int_eq(gmem_pt_log_stop(r.pt, 0, 512), -EINVAL);
	ck_assert_int_eq(gmem_pt_log_stop(r.pt, 0, 8192 + 1), -EINVAL);
	ck_assert_int_eq(gmem_pt_log_stop(r.pt, 2048, 2048), -ENOENT);
	ck_assert_int_eq(gmem_pt_log_stop(r.pt, 0, 0), -EINVAL);
	/* Not logged, in the view, with a writable leaf. */
	ck_assert_int_eq(gmem_pt_log_fault(r.pt, 20000), -EINVAL);
	/* Not in the view, and beyond the guest. */
	ck_assert_int_eq(gmem_pt_log_fault(r.pt, 4096 + 3), -ENOENT);
	ck_assert_int_eq(gmem_pt_log_fault(r.pt, 5 * GIB), -ENOENT);
	ck_assert_int_eq(gmem_pt_log_fault(r.pt, GMEM_FRAME_LIMIT), -EOVERFLOW);
	ck_assert_int_eq(gmem_pt_log_fault(NULL, 0), -EINVAL);
	ck_assert_int_eq(gmem_pt_log_mark(r.pt, 0, 0), -EINVAL);
	ck_assert_int_eq(gmem_pt_log_mark(r.pt, GMEM_FRAME_LIMIT, 1),
			 -EOVERFLOW);
	{
		GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm,
			  .bitmap_bytes = sizeof(bm));

		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 129, &h), -ENOSPC);
		h.pad = 1;	/* reserved */
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 64, &h), -EINVAL);
		h.pad = 0;
		h.ring = ring;
		h.ring_cap = 4;
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 64, &h), -EINVAL);
		h.bitmap = NULL;
		h.ring_cap = 0;
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 64, &h), -EINVAL);
		h.ring = NULL;
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 64, &h), -EINVAL);
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 64, NULL), -EINVAL);
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 0, &h), -EINVAL);
	}
	{
		struct { struct gmem_pt_harvest h; uint64_t more; } big;

		memset(&big, 0, sizeof(big));
		big.h.sz = sizeof(big);
		big.h.bitmap = bm;
		big.h.bitmap_bytes = sizeof(bm);
		big.more = 1;	/* a field this library does not know */
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 64, &big.h),
				 -E2BIG);
	}
	ck_assert_int_eq(gmem_pt_log_stats(r.pt, NULL), -EINVAL);
	{
		/* A newer caller's result struct: filled, its tail zeroed,
		 * as every result struct. */
		struct { struct gmem_pt_log_stats st; uint64_t more; } big = {
			{ .sz = sizeof(big) }, ~0ull };

		ck_assert_int_eq(gmem_pt_log_stats(r.pt, &big.st), 0);
		ck_assert_uint_eq(big.more, 0);
	}
	expect_unchanged(&r, &before);
	log_rig_close(&r);
}
END_TEST

/* The sink refuses a harvest's protect: the frames of that leaf and
 * after it stay dirty (and writable), and the next harvest takes them. */
START_TEST(sink_refuses_protect)
{
	uint64_t bm[4];
	struct log_rig r;
	int round;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
		     GMEM_ATTR_PRIVATE, false);
	log_op_start(&r, 0, 256);
	log_op_fault(&r, 10);
	log_op_fault(&r, 200);
	log_op_mark(&r, 100, 101);
	for (round = 0; round < 2; round++) {
		GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm,
			  .bitmap_bytes = sizeof(bm));

		memset(bm, 0, sizeof(bm));
		r.m.fail_protects = round == 0;
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, 256, &h),
				 round == 0 ? -EIO : 0);
		ck_assert_uint_eq(h.count, 3);
		ck_assert_uint_eq(bm[0], UINT64_C(1) << 10);
		ck_assert_uint_eq(bm[1], UINT64_C(1) << 36);
		ck_assert_uint_eq(bm[3], UINT64_C(1) << 8);
		ck_assert_uint_eq(r.m.prot[10], round == 0 ? RWX : (RWX & ~W));
		ck_assert_uint_eq(r.m.prot[200], round == 0 ? RWX : (RWX & ~W));
		ck_assert_uint_eq(log_stats(r.pt).dirty, round == 0 ? 3 : 0);
	}
	/* The model's view of it: all harvested, both protected. */
	r.lm.dirty[10] = r.lm.dirty[100] = r.lm.dirty[200] = 0;
	r.lm.writable[10] = r.lm.writable[200] = 0;
	r.lm.stale = true;
	log_full_check(&r, false);
	log_rig_close(&r);
}
END_TEST

/*
 * A harvest whose sink refuses the first protect, over more pieces than
 * it takes whole before it sees the frames are scattered (two a piece)
 * and goes on by batches of words, each read before the one before it
 * is protected: the pieces and every batch after the refusal must still
 * be reported and stay dirty and writable, as the refused frame does.
 */
static uint64_t scattered_frame(uint64_t i)
{
	return 512 * (i / 2) + 64 * (4 * (i % 2)) + i % 64;
}

START_TEST(sink_refuses_early_in_long_harvest)
{
	const uint64_t frames = 40, n = 512 * frames / 2;
	uint64_t bm[n / 64], i;
	struct log_rig r;
	int round;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
		     GMEM_ATTR_PRIVATE, false);
	log_op_start(&r, 0, n);
	for (i = 0; i < frames; i++)
		log_op_fault(&r, scattered_frame(i));
	for (round = 0; round < 2; round++) {
		GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm,
			  .bitmap_bytes = sizeof(bm));

		memset(bm, 0, sizeof(bm));
		r.m.fail_protects = round == 0;
		ck_assert_int_eq(gmem_pt_log_harvest(r.pt, 0, n, &h),
				 round == 0 ? -EIO : 0);
		ck_assert_uint_eq(h.count, frames);
		for (i = 0; i < frames; i++) {
			uint64_t f = scattered_frame(i);

			ck_assert_uint_eq(bm[f / 64], UINT64_C(1) << (f % 64));
			ck_assert_uint_eq(r.m.prot[f],
					  round == 0 ? RWX : (RWX & ~W));
		}
		ck_assert_uint_eq(log_stats(r.pt).dirty,
				  round == 0 ? frames : 0);
	}
	for (i = 0; i < frames; i++)
		r.lm.dirty[scattered_frame(i)] =
			r.lm.writable[scattered_frame(i)] = 0;
	r.lm.stale = true;
	log_full_check(&r, false);
	log_rig_close(&r);
}
END_TEST

/* Write faults on [lo, hi), all logged and none writable (as after a
 * harvest of all): the model's update of log_op_fault for each frame,
 * made once, not derived again after each. */
static void fault_clean(struct log_rig *r, uint64_t lo, uint64_t hi)
{
	struct lmodel *lm = &r->lm;

	for (; lo < hi; lo++) {
		ck_assert(lm->logged[lo] && !lm->writable[lo]);
		ck_assert_int_eq(gmem_pt_log_fault(r->pt, lo), 0);
		lm->split[lo] = lm->writable[lo] = lm->dirty[lo] = 1;
	}
	lm->stale = true;
}

static bool model_dirty(const struct log_rig *r, uint64_t lo, uint64_t hi)
{
	for (; lo < hi; lo++)
		if (r->lm.dirty[lo])
			return true;
	return false;
}

/*
 * A harvest takes pieces whole while they hold many frames each, and
 * batches of words where the frames are scattered, switching each way
 * as they change along the range: twelve and a half pieces written
 * whole, then a frame in each of twenty pieces, then twelve and a third
 * written whole again. Harvested into a bitmap from a frame inside the
 * first piece (so that piece is taken in two harvests), and into rings
 * whose caps end inside pieces, each call going on where the last one
 * stopped; with a sink that hears every protect, and without one (where
 * tables fold). Each harvest is checked against the model frame by
 * frame, and so are the tables.
 */
START_TEST(harvest_by_pieces_and_words)
{
	static const uint32_t caps[] = { 0, 700, 1500, 5000 };
	const uint64_t W_BIT = 2, lo = 100, hi = 53 * 512;
	bool nosink = _i;
	struct log_rig r;
	unsigned int c;
	uint64_t i;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
		     GMEM_ATTR_PRIVATE, nosink);
	log_op_start(&r, 0, GIB);
	for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		fault_clean(&r, 0, 12 * 512 + 256);
		for (i = 13; i < 33; i++)
			fault_clean(&r, i * 512 + 7 * i, i * 512 + 7 * i + 1);
		fault_clean(&r, 40 * 512, 52 * 512 + 170);
		while (model_dirty(&r, lo, hi))
			log_op_harvest(&r, lo, hi, caps[c]);
		log_op_harvest(&r, 0, lo, caps[c]);
		ck_assert(!model_dirty(&r, 0, GIB));
		if (nosink && !caps[c]) {
			/* Whole pieces lost all their writable frames at
			 * once: folded, but the first (two harvests) and
			 * the scattered ones (those never written are 2
			 * MiB leaves, read-only while logged). */
			ck_assert_uint_eq(pde_of(&r, 0) & W_BIT, W_BIT);
			for (i = 1; i < 53; i++)
				ck_assert_uint_eq(pde_of(&r, i * 512) & W_BIT,
						  i > 12 && i < 33 ? W_BIT : 0);
		}
		log_full_check(&r, nosink);
	}
	log_rig_close(&r);
}
END_TEST

/*
 * A log stopped gives back what its sets took: after writes in two
 * slots, all of them harvested (into a bitmap, or rings that end inside
 * pieces), stopping leaves the allocator holding what it held after a
 * first round with one write (the sets' arrays of slots keep their
 * room): every slot of a set is freed once its count says it is empty.
 */
START_TEST(stop_gives_back)
{
	struct log_rig r;
	int64_t idle;
	int round;

	log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, 2 * GIB,
		     GMEM_ATTR_PRIVATE, false);
	log_op_start(&r, 0, 2 * GIB);
	log_op_fault(&r, GIB + 7);
	log_op_harvest(&r, 0, 2 * GIB, 0);
	log_op_stop(&r, 0, 2 * GIB);
	idle = r.ta.live_bytes;
	for (round = 0; round < 2; round++) {
		log_op_start(&r, 0, 2 * GIB);
		fault_range(&r, 100, 1300);
		fault_range(&r, GIB + 5000, GIB + 5100);
		while (model_dirty(&r, 0, 2 * GIB))
			log_op_harvest(&r, 0, 2 * GIB, round ? 700 : 0);
		log_op_stop(&r, 0, 2 * GIB);
		ck_assert_int_eq(r.ta.live_bytes, idle);
	}
	log_rig_close(&r);
}
END_TEST

/* Each call with the Nth allocation failing: -ENOMEM changes nothing,
 * and the call succeeds once allocations do. */
START_TEST(allocation_failures)
{
	int call;

	for (call = 0; call < 5; call++) {
		struct log_rig r;
		uint64_t n, bm[16];
		int err = -ENOMEM;

		log_rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
			     GMEM_ATTR_PRIVATE, false);
		if (call > 0)
			log_op_start(&r, 512, 4096);
		if (call > 1)
			log_op_fault(&r, 600);
		for (n = 1; err == -ENOMEM; n++) {
			struct seen before = seen_of(&r);
			GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm,
				  .bitmap_bytes = sizeof(bm));

			memset(bm, 0, sizeof(bm));
			r.ta.fail_at = r.ta.calls + n;
			switch (call) {
			case 0:
				err = gmem_pt_log_start(r.pt, 512, 4096);
				break;
			case 1:
				err = gmem_pt_log_fault(r.pt, 700);
				break;
			case 2:
				err = gmem_pt_log_mark(r.pt, 0, 8192);
				break;
			case 3:
				err = gmem_convert(r.g, 0, 2048,
						   GMEM_ATTR_SHARED, NULL);
				if (!err)
					model_changes(&r.lm.g, 0, 2048,
						      GMEM_ATTR_SHARED,
						      log_converted, &r.lm);
				if (!err)
					ck_assert_int_eq(model_convert(&r.lm.g,
						0, 2048, GMEM_ATTR_SHARED,
						&h.next), 0);
				if (!err)
					err = gmem_pt_log_harvest(r.pt, 512,
								  1024, &h);
				break;
			default:
				err = gmem_pt_log_stop(r.pt, 0, GIB);
				break;
			}
			r.ta.fail_at = 0;
			if (err == -ENOMEM) {
				expect_unchanged(&r, &before);
				continue;
			}
			ck_assert_int_eq(err, 0);
			r.lm.stale = true;
		}
		if (call < 2)
			ck_assert_uint_gt(n, 2);	/* it did allocate */
		log_rig_close(&r);
	}
}
END_TEST

/* Counts the leaves with write access a walk visits. */
static int count_writable(void *ctx, const struct gmem_pt_entry *e,
			  uint32_t visit)
{
	(void)visit;
	if (e->prot & GMEM_PT_PROT_W)
		(*(uint64_t *)ctx)++;
	return 0;
}

/*
 * A generic table whose last-level tables hold 8 entries, fewer than a
 * word of a frame set, each in a table page of its own size from the
 * embedder (so memcheck sees any access past one): a harvest protects
 * exactly the frames it reports, and reads no entry past their tables.
 */
START_TEST(harvest_small_tables)
{
	const uint64_t n = 4096;
	struct gmem_pt_geometry geo = { .sz = sizeof(geo), .nlevels = 4 };
	GMEM_OPTS(gmem_pool_opts, po, .alloc = NULL);
	GMEM_OPTS(gmem_guest_opts, go, .node = -1);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_PRIVATE);
	struct gmem_pt_page_ops pages;
	GMEM_OPTS(gmem_pt_opts, o, .format = GMEM_PT_FORMAT_GENERIC,
		  .pages = &pages);
	uint64_t writable = 0, bm[64], f, i;	/* bm: n bits */
	GMEM_OPTS(gmem_pt_walker, wk, .fn = count_writable, .ctx = &writable,
		  .flags = GMEM_PT_VISIT_LEAF);
	GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm,
		  .bitmap_bytes = sizeof(bm));
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct ref_pages ref;
	struct gmem_pt *pt;

	geo.level[0] = (struct gmem_pt_level){ 33, 9, 0, 0 };
	geo.level[1] = (struct gmem_pt_level){ 24, 9, 0, 0 };
	geo.level[2] = (struct gmem_pt_level){ 15, 9, 0, 0 };
	geo.level[3] = (struct gmem_pt_level){ 12, 3, 1, 0 };
	ref_pages_init(&ref);
	ref_pages_ops(&ref, &pages);
	ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(pool, 64 * GIB, GIB, 0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(pool, &go, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, n, &ro), 0);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &geo, &o, &pt), 0);
	ck_assert_int_eq(gmem_pt_log_start(pt, 0, n), 0);
	/* A whole word, then frames of every third table of the next. */
	for (f = 0; f < 64; f++)
		ck_assert_int_eq(gmem_pt_log_fault(pt, f), 0);
	for (f = 64; f < 128; f += 24)
		for (i = 0; i < 8; i++)
			ck_assert_int_eq(gmem_pt_log_fault(pt, f + i), 0);
	ck_assert_int_eq(gmem_pt_walk(pt, 0, n, &wk), 0);
	ck_assert_uint_eq(writable, 64 + 24);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(gmem_pt_log_harvest(pt, 0, n, &h), 0);
	ck_assert_uint_eq(h.count, 64 + 24);
	ck_assert_uint_eq(bm[0], ~UINT64_C(0));
	ck_assert_uint_eq(bm[1], UINT64_C(0xff0000ff0000ff));
	writable = 0;
	ck_assert_int_eq(gmem_pt_walk(pt, 0, n, &wk), 0);
	ck_assert_uint_eq(writable, 0);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	ref_pages_fini(&ref);
}
END_TEST


static Suite *suite(void)
{
	Suite *s = suite_create("pt_log_cases");
	TCase *tc = tcase_create("cases");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, start_on_gib_leaves);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, allocation_failures);
	tcase_add_test(tc, stop_gives_back);
	tcase_add_test(tc, sink_refuses_protect);
	tcase_add_test(tc, sink_refuses_early_in_long_harvest);
	tcase_add_test(tc, harvest_folds_tables);
	tcase_add_test(tc, fold_then_convert);
	tcase_add_test(tc, harvest_small_tables);
	tcase_add_loop_test(tc, harvest_by_pieces_and_words, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
