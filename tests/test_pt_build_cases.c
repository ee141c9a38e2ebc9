/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table builders in targeted cases: one frame in a uniform GiB,
 * regions reaching builders, allocation and sink failures part-way,
 * policies, the custom-allocator rule, table pages advised for huge
 * pages, and bad input. The checks are those of the differential suite
 * (pt_check.h).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_check.h"
#include "test_alloc.h"

START_TEST(one_frame_in_uniform_gib)
{
	static const struct cfg c[3] = {
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false },
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	};
	const uint64_t f = 3 * GIB + 12345;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld b[3];
	struct model m;
	int i, round;

	small_guest(&pool, &g, NULL, 4 * GIB, GMEM_ATTR_SHARED);
	model_init(&m);
	ck_assert_int_eq(model_add_region(&m, 0, 4 * GIB, GMEM_ATTR_SHARED), 0);
	for (i = 0; i < 3; i++)
		bld_setup(&b[i], &c[i], g);
	EXPECT_EQ(stats_of(b[0].pt).nleaves, 4);
	EXPECT_EQ(stats_of(b[1].pt).nleaves, 0);
	EXPECT_EQ(stats_of(b[2].pt).nleaves, 4);
	EXPECT_EQ(stats_of(b[1].pt).ntables, 1);
	EXPECT_EQ(stats_of(b[2].pt).ntables, 2);
	for (round = 0; round < 2; round++) {
		unsigned int attr = round ? GMEM_ATTR_SHARED : GMEM_ATTR_PRIVATE;
		uint64_t maps[3], unmaps[3], fail;

		ck_assert_int_eq(gmem_convert(g, f, 1, attr, NULL), 0);
		ck_assert_int_eq(model_convert(&m, f, 1, attr, &fail), 0);
		for (i = 0; i < 3; i++) {
			maps[i] = b[i].rec.maps;
			unmaps[i] = b[i].rec.unmaps;
			ck_assert_int_eq(rec_sync(&b[i].rec, b[i].pt), 0);
			maps[i] = b[i].rec.maps - maps[i];
			unmaps[i] = b[i].rec.unmaps - unmaps[i];
			full_check(&b[i], g, &m);
		}
		EXPECT_EQ(maps[0] + unmaps[0], 0);
		EXPECT_EQ(stats_of(b[0].pt).nleaves, 4);
		if (!round) {
			EXPECT_EQ(maps[1], 1);
			EXPECT_EQ(unmaps[1], 0);
			EXPECT_EQ(stats_of(b[1].pt).ntables, 4);
			/* 511 leaves of 2 MiB, 511 of 4 KiB. */
			EXPECT_EQ(unmaps[2], 1);
			EXPECT_EQ(maps[2], 1022);
			EXPECT_EQ(stats_of(b[2].pt).ntables, 4);
		} else {
			EXPECT_EQ(unmaps[1], 1);
			EXPECT_EQ(maps[1], 0);
			EXPECT_EQ(stats_of(b[1].pt).nleaves, 0);
			EXPECT_EQ(stats_of(b[1].pt).ntables, 1);
			EXPECT_EQ(unmaps[2], 1022);
			EXPECT_EQ(maps[2], 1);
			EXPECT_EQ(stats_of(b[2].pt).nleaves, 4);
			EXPECT_EQ(stats_of(b[2].pt).ntables, 2);
		}
	}
	for (i = 0; i < 3; i++)
		bld_teardown(&b[i]);
	small_guest_done(pool, g, &m);
}
END_TEST

/* Ranges to convert in the failure cases: splits, joins, both. */
static const struct {
	uint64_t gfn, n;
	unsigned int attr;
} steps[] = {
	{ 7, 1, GMEM_ATTR_SHARED }, { GIB + 600, 3000, GMEM_ATTR_SHARED },
	{ 5, 10, GMEM_ATTR_SHARED }, { 0, 2 * GIB, GMEM_ATTR_PRIVATE },
	{ 1000, 512 * 40, GMEM_ATTR_SHARED }, { 1500, 7, GMEM_ATTR_PRIVATE },
	{ 0, GIB, GMEM_ATTR_SHARED }, { 3, 2, GMEM_ATTR_PRIVATE },
};

/*
 * Table pages failing at every allocation of each sync: the sync returns
 * -ENOMEM and leaves the table as it was, entry for entry; the next
 * sync completes it.
 */
/* Builders hear regions come and go: a sync alone maps and unmaps
 * them, with no gmem_pt_mark. */
START_TEST(regions_reach_builders)
{
	static const struct cfg c[2] = {
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0, false },
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false },
	};
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct model before, after;
	struct bld b[2];
	int i;

	small_guest(&pool, &g, NULL, 2 * GIB, GMEM_ATTR_SHARED);
	model_init(&before);
	model_init(&after);
	ck_assert_int_eq(model_add_region(&before, 0, 2 * GIB,
					  GMEM_ATTR_SHARED), 0);
	ck_assert_int_eq(model_add_region(&after, 0, 2 * GIB,
					  GMEM_ATTR_SHARED), 0);
	ck_assert_int_eq(model_add_region(&after, 3 * GIB, GIB + 512,
					  GMEM_ATTR_SHARED), 0);
	for (i = 0; i < 2; i++)
		bld_setup(&b[i], &c[i], g);
	ck_assert_int_eq(gmem_region_add(g, 3 * GIB, GIB + 512, &ro), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(rec_sync(&b[i].rec, b[i].pt), 0);
		full_check(&b[i], g, &after);
		EXPECT_EQ(stats_of(b[i].pt).nleaves, 4);
	}
	ck_assert_int_eq(gmem_region_remove(g, 3 * GIB, GIB + 512), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(rec_sync(&b[i].rec, b[i].pt), 0);
		full_check(&b[i], g, &before);
		EXPECT_EQ(stats_of(b[i].pt).nleaves, 2);
		bld_teardown(&b[i]);
	}
	model_fini(&after);
	small_guest_done(pool, g, &before);
}
END_TEST

START_TEST(table_alloc_failure_keeps_table)
{
	static const struct cfg c = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
				      GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, false };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld b;
	struct model m;
	uint64_t failures = 0, k;
	size_t i;

	small_guest(&pool, &g, NULL, 2 * GIB, GMEM_ATTR_PRIVATE);
	model_init(&m);
	ck_assert_int_eq(model_add_region(&m, 0, 2 * GIB, GMEM_ATTR_PRIVATE), 0);
	/* Creation failing at each allocation leaves nothing behind. */
	for (k = 1;; k++) {
		memset(&b, 0, sizeof(b));
		b.c = c;
		cfg_geoms(&b);
		ref_pages_init(&b.pages);
		b.pages.fail_at = k;
		if (!bld_create(&b, g, &b.rec, &b.pages, &b.pt))
			break;
		EXPECT_EQ(b.pages.live, 0);
		EXPECT_EQ(b.rec.n, 0);
		EXPECT_EQ(b.rec.tables, 0);
		ref_pages_fini(&b.pages);
		rec_free(&b.rec);
	}
	EXPECT(k > 1);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {

		convert_both(g, &m, steps[i].gfn, steps[i].n, steps[i].attr);
		for (k = 1;; k++) {
			struct raw before = { 0 }, after = { 0 };
			int err;

			raw_of(b.pt, &before);
			b.pages.fail_at = b.pages.calls + k;
			err = rec_sync(&b.rec, b.pt);
			b.pages.fail_at = 0;
			if (!err) {
				free(before.v);
				break;
			}
			ck_assert_int_eq(err, -ENOMEM);
			failures++;
			raw_of(b.pt, &after);
			EXPECT_EQ(before.n, after.n);
			EXPECT(!memcmp(before.v, after.v,
				       before.n * sizeof(*before.v)));
			EXPECT(stats_of(b.pt).pending > 0);
			free(before.v);
			free(after.v);
		}
		full_check(&b, g, &m);
	}
	EXPECT(failures >= 4);
	bld_teardown(&b);
	small_guest_done(pool, g, &m);
}
END_TEST

/*
 * Metadata allocations failing: creation fails cleanly at each, and a
 * conversion the builder cannot record is refused with nothing changed.
 */
START_TEST(metadata_failure)
{
	static const struct cfg c = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_GENERIC,
				      GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false };
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld b;
	int64_t base;
	uint64_t k, n;
	unsigned int attr;
	int err;

	test_alloc_init(&ta);
	small_guest(&pool, &g, &ta.ops, 2 * GIB, GMEM_ATTR_PRIVATE);
	/* The guest keeps its listener array once it had a listener. */
	memset(&b, 0, sizeof(b));
	b.c = c;
	cfg_geoms(&b);
	ck_assert_int_eq(bld_create(&b, g, &b.rec, &b.pages, &b.pt), 0);
	ck_assert_int_eq(gmem_pt_destroy(b.pt), 0);
	rec_free(&b.rec);
	base = ta.live_bytes;
	for (k = 1;; k++) {
		memset(&b, 0, sizeof(b));
		b.c = c;
		cfg_geoms(&b);
		ta.fail_at = ta.calls + k;
		err = bld_create(&b, g, &b.rec, &b.pages, &b.pt);
		ta.fail_at = 0;
		if (!err)
			break;
		rec_free(&b.rec);
		ck_assert_int_eq(err, -ENOMEM);
		EXPECT_EQ(ta.live_bytes, base);
	}
	EXPECT(k > 2);
	/* Conversions until the pending list must grow, with it failing. */
	for (n = 0, k = 0; n < 64; n++) {
		ta.fail_at = ta.calls + 1;
		err = gmem_convert(g, 2 * n * 512 + 3, 1, GMEM_ATTR_SHARED, NULL);
		ta.fail_at = 0;
		if (err) {
			ck_assert_int_eq(err, -ENOMEM);
			ck_assert_int_eq(gmem_attr_get(g, 2 * n * 512 + 3, &attr),
					 0);
			EXPECT_EQ(attr, GMEM_ATTR_PRIVATE);
			k++;
		}
	}
	EXPECT(k > 0);
	ck_assert_int_eq(gmem_pt_sync(b.pt), 0);
	ck_assert_int_eq(gmem_pt_destroy(b.pt), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
	EXPECT_EQ(ta.live_bytes, 0);
	rec_free(&b.rec);
}
END_TEST

/*
 * A sink failing at each of its calls: the sync returns its error, the
 * table holds exactly what the sink accepted, and the next sync
 * completes the change.
 */
START_TEST(sink_error_partway)
{
	static const struct cfg c = { GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2,
				      GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, false };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld b;
	struct model m;
	uint64_t failures = 0, k;
	size_t i;

	small_guest(&pool, &g, NULL, 2 * GIB, GMEM_ATTR_PRIVATE);
	model_init(&m);
	ck_assert_int_eq(model_add_region(&m, 0, 2 * GIB, GMEM_ATTR_PRIVATE), 0);
	bld_setup(&b, &c, g);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint64_t stride;

		convert_both(g, &m, steps[i].gfn, steps[i].n, steps[i].attr);
		/* Fail early calls one by one, later ones sparsely. */
		for (k = 1, stride = 1;; k += stride, stride += k > 16) {
			GMEM_OPTS(gmem_pt_walker, wk, .fn = walked_visit,
				  .flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE);
			struct walked w = { &b, { 0 }, 0 };
			struct leaves have = { 0 };
			int err;

			b.rec.fail_at = b.rec.calls + k;
			err = rec_sync(&b.rec, b.pt);
			b.rec.fail_at = 0;
			/* What the table has is what the sink holds. */
			wk.ctx = &w;
			ck_assert_int_eq(gmem_pt_walk(b.pt, 0, GMEM_FRAME_LIMIT,
						      &wk), 0);
			rec_all(&b.rec, &have);
			expect_lists(&w.l, &have, true);
			EXPECT_EQ(stats_of(b.pt).ntables, b.rec.tables);
			EXPECT_EQ(stats_of(b.pt).ntables, w.ntables + 1);
			leaves_free(&w.l);
			leaves_free(&have);
			if (!err)
				break;
			ck_assert_int_eq(err, -EPROTO);
			failures++;
		}
		ck_assert_int_eq(rec_sync(&b.rec, b.pt), 0);
		full_check(&b, g, &m);
	}
	EXPECT(failures >= 8);
	bld_teardown(&b);
	small_guest_done(pool, g, &m);
}
END_TEST

/*
 * GMEM_PT_NO_PROMOTE keeps a split range split until gmem_pt_join, the
 * accept size caps every leaf, and permissions that differ keep leaves
 * to one attribute; explain names all three.
 */
START_TEST(policies)
{
	static const struct cfg np = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
				       GMEM_PT_VIEW_PRIVATE, GMEM_PT_NO_PROMOTE,
				       { 0, 0 }, 0, false };
	static const struct cfg acc = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
					GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 512, false };
	static const struct cfg perm = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
					 GMEM_PT_VIEW_ALL, 0, { 0, RW_NX }, 0, false };
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld a, b;
	struct model m;

	small_guest(&pool, &g, NULL, GIB, GMEM_ATTR_PRIVATE);
	model_init(&m);
	ck_assert_int_eq(model_add_region(&m, 0, GIB, GMEM_ATTR_PRIVATE), 0);
	bld_setup(&b, &np, g);
	bld_setup(&a, &acc, g);
	EXPECT_EQ(stats_of(b.pt).nleaves, 1);
	EXPECT_EQ(stats_of(a.pt).nleaves, 512);
	ck_assert_int_eq(gmem_pt_explain_table(a.pt, 700, &ex), 0);
	EXPECT_EQ(ex.leaf.npages, 512);
	EXPECT_EQ(ex.nwhy, 2);
	EXPECT_EQ(ex.why[1].blocker, GMEM_PT_BLOCK_ACCEPT);

	convert_both(g, &m, 700, 1, GMEM_ATTR_SHARED);
	ck_assert_int_eq(gmem_pt_explain_table(b.pt, 800, &ex), -EAGAIN);
	ck_assert_int_eq(rec_sync(&b.rec, b.pt), 0);
	ck_assert_int_eq(rec_sync(&a.rec, a.pt), 0);
	EXPECT_EQ(stats_of(b.pt).nleaves, 1022);
	EXPECT_EQ(stats_of(a.pt).nleaves, 512);
	/* Back to uniform: the hole is filled, nothing is joined. */
	convert_both(g, &m, 700, 1, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(rec_sync(&b.rec, b.pt), 0);
	EXPECT_EQ(stats_of(b.pt).nleaves, 1023);
	ck_assert_int_eq(gmem_pt_explain_table(b.pt, 700, &ex), 0);
	EXPECT_EQ(ex.leaf.npages, 1);
	EXPECT_EQ(ex.why[1].blocker, GMEM_PT_BLOCK_NO_PROMOTE);
	EXPECT_EQ(ex.why[2].blocker, GMEM_PT_BLOCK_NO_PROMOTE);
	/* A new hole elsewhere still splits only what it must. */
	convert_both(g, &m, 5 * 512, 512, GMEM_ATTR_SHARED);
	ck_assert_int_eq(rec_sync(&b.rec, b.pt), 0);
	EXPECT_EQ(stats_of(b.pt).nleaves, 1022);
	/* Joins allowed inside a range: the 2 MiB of the old hole only. */
	ck_assert_int_eq(gmem_pt_join(b.pt, 512, 512), 0);
	ck_assert_int_eq(rec_sync(&b.rec, b.pt), 0);
	EXPECT_EQ(stats_of(b.pt).nleaves, 1022 - 511);
	convert_both(g, &m, 5 * 512, 512, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_pt_join(b.pt, 0, GIB), 0);
	ck_assert_int_eq(rec_sync(&b.rec, b.pt), 0);
	full_check(&b, g, &m);
	EXPECT_EQ(stats_of(b.pt).nleaves, 1);
	EXPECT_EQ(stats_of(b.pt).ntables, 2);
	bld_teardown(&a);
	bld_teardown(&b);
	/* Permissions that differ in the ALL view split at attributes. */
	bld_setup(&a, &perm, g);
	convert_both(g, &m, 700, 1, GMEM_ATTR_SHARED);
	ck_assert_int_eq(rec_sync(&a.rec, a.pt), 0);
	ck_assert_int_eq(gmem_pt_explain_table(a.pt, 701, &ex), 0);
	EXPECT_EQ(ex.leaf.npages, 1);
	EXPECT_EQ(ex.why[1].blocker, GMEM_PT_BLOCK_PROT);
	EXPECT_EQ(ex.why[1].at_gfn, 700);
	ck_assert_int_eq(gmem_pt_explain_table(a.pt, 700, &ex), 0);
	EXPECT_EQ(ex.why[1].at_gfn, 512);
	full_check(&a, g, &m);
	bld_teardown(&a);
	small_guest_done(pool, g, &m);
}
END_TEST

static int count_visit(void *ctx, const struct gmem_pt_entry *e,
		       uint32_t visit)
{
	(void)e;
	(void)visit;
	return ++*(int *)ctx == 2 ? -ECANCELED : 0;
}

/*
 * Over a pool with the embedder's allocator (64-byte alignment only), a
 * builder of a real format needs page ops, as its header says; the
 * generic format, or page ops given, work.
 */
START_TEST(custom_allocator_rule)
{
	GMEM_OPTS(gmem_pt_geometry, x86, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, ept, .format = GMEM_PT_FORMAT_EPT);
	GMEM_OPTS(gmem_pt_opts, gen, .format = GMEM_PT_FORMAT_GENERIC);
	struct gmem_pt_page_ops ops = { .sz = sizeof(ops) };
	struct ref_pages pages;
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt = NULL;

	test_alloc_init(&ta);
	ref_pages_init(&pages);
	ref_pages_ops(&pages, &ops);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &x86), 0);
	small_guest(&pool, &g, &ta.ops, GIB, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &x86, &ept, &pt),
			 -EINVAL);
	ck_assert_ptr_null(pt);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &x86, &gen, &pt),
			 0);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	ept.pages = &ops;
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &x86, &ept, &pt),
			 0);
	ck_assert_int_eq(stats_of(pt).nleaves, 1);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	small_guest_done(pool, g, NULL);
	ck_assert_int_eq(ta.live_objects, 0);
	ref_pages_fini(&pages);
}
END_TEST

/* The kernel's transparent huge page mode ("always", "madvise",
 * "never"), or NULL without them. */
static const char *thp_mode(char *buf, size_t n)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char *a, *b;

	if (!f)
		return NULL;
	a = fgets(buf, (int)n, f);
	fclose(f);
	if (!a || !(a = strchr(buf, '[')) || !(b = strchr(a, ']')))
		return NULL;
	*b = 0;
	return a + 1;
}

/*
 * Without gmem_alloc_ops or page ops, table pages and the guest's other
 * metadata are in the private arena's memory, advised for huge pages,
 * which the kernel may back by them (where its mode is not "never");
 * the program's own heap is not advised.
 */
START_TEST(table_pages_advised_huge)
{
	GMEM_OPTS(gmem_pt_geometry, x86, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, ept, .format = GMEM_PT_FORMAT_EPT);
	struct smaps_entry e;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt;
	const char *mode;
	char buf[128];
	void *root, *heap;

	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &x86), 0);
	small_guest(&pool, &g, NULL, GIB, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &x86, &ept, &pt),
			 0);
	ck_assert_int_eq(gmem_pt_root(pt, &root, NULL), 0);
	smaps_of(root, &e);
	ck_assert_msg(smaps_flag(&e, "hg"), "table page at %p: VmFlags%s",
		      root, e.vmflags);
	smaps_of(g, &e);
	ck_assert_msg(smaps_flag(&e, "hg"), "guest at %p: VmFlags%s", g,
		      e.vmflags);
	heap = malloc(64);
	ck_assert_ptr_nonnull(heap);
	smaps_of(heap, &e);
	ck_assert_msg(!smaps_flag(&e, "hg"), "malloc at %p: VmFlags%s", heap,
		      e.vmflags);
	free(heap);
	smaps_of(root, &e);
	mode = thp_mode(buf, sizeof(buf));
	if (!mode || !strcmp(mode, "never"))
		printf("SKIP: table_pages_advised_huge: the kernel gives no "
		       "transparent huge pages (%s): advice checked only\n",
		       mode ? mode : "no sysfs file");
	else
		ck_assert_msg(e.thp_eligible, "table page at %p: not THP "
			      "eligible under mode %s", root, mode);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	small_guest_done(pool, g, NULL);
}
END_TEST

static void *never_alloc(void *ctx, size_t size, uint64_t *pa)
{
	(void)ctx, (void)size, (void)pa;
	return NULL;
}

START_TEST(bad_input)
{
	GMEM_OPTS(gmem_pt_geometry, x86, .nlevels = 0);
	GMEM_OPTS(gmem_pt_geometry, a64k, .nlevels = 0);
	GMEM_OPTS(gmem_pt_geometry, sv39, .nlevels = 0);
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	struct gmem_pt_page_ops half = { .sz = sizeof(half) };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt = NULL;
	struct { struct gmem_pt_opts o; uint64_t extra; } big;
	int n = 0;

	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &x86), 0);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_ARM64_64K, &a64k), 0);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_RISCV_SV39, &sv39), 0);
	small_guest(&pool, &g, NULL, GIB, GMEM_ATTR_PRIVATE);
#define CREATE(err, view, geom, ...)                                          \
	do {                                                                  \
		GMEM_OPTS(gmem_pt_opts, o, __VA_ARGS__);                     \
		ck_assert_int_eq(gmem_pt_create(g, view, geom, &o, &pt), err); \
	} while (0)
	CREATE(-EINVAL, 3, &x86, .flags = 0);
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .format = 7);
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .flags = 1u << 9);
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .prot = { 8, 0 });
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .format = GMEM_PT_FORMAT_EPT,
	       .prot = { GMEM_PT_PROT_W, 0 });
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .format = GMEM_PT_FORMAT_EPT,
	       .memtype = 2);
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &a64k, .format = GMEM_PT_FORMAT_EPT);
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .format = GMEM_PT_FORMAT_ARM64_S2);
	/* Granule: 64 KiB leaves on a guest converting 4 KiB frames. */
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &a64k, .format = GMEM_PT_FORMAT_ARM64_S2);
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .accept_npages = 3);
	/* Page ops: all three NULL is the guest's allocator, as none;
	 * some but not all set is refused. */
	CREATE(0, GMEM_PT_VIEW_ALL, &x86, .pages = &half,
	       .format = GMEM_PT_FORMAT_EPT);
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	pt = NULL;
	half.alloc = never_alloc;
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, &x86, .pages = &half);
	half.alloc = NULL;
	CREATE(-EINVAL, GMEM_PT_VIEW_ALL, NULL, .flags = 0);
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.extra = 1;
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &x86, &big.o, &pt),
			 -E2BIG);
	ck_assert_int_eq(gmem_pt_create(NULL, GMEM_PT_VIEW_ALL, &x86, NULL, &pt),
			 -EINVAL);
	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_ALL, &x86, NULL, NULL),
			 -EINVAL);
	/* Beyond what Sv39's root maps (512 GiB). */
	ck_assert_int_eq(gmem_region_add(g, 600 * GIB, GIB, &ro), 0);
	CREATE(-ERANGE, GMEM_PT_VIEW_ALL, &sv39, .flags = 0);
	ck_assert_int_eq(gmem_region_remove(g, 600 * GIB, GIB), 0);
	EXPECT(pt == NULL);

	ck_assert_int_eq(gmem_pt_create(g, GMEM_PT_VIEW_SHARED, &x86, NULL, &pt),
			 0);
	ck_assert_int_eq(gmem_pt_sync(NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_mark(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(gmem_pt_mark(pt, 0, 0), -EINVAL);
	ck_assert_int_eq(gmem_pt_mark(pt, GMEM_FRAME_LIMIT - 1, 2), -EOVERFLOW);
	ck_assert_int_eq(gmem_pt_join(pt, 0, 0), -EINVAL);
	ck_assert_int_eq(gmem_pt_root(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_stats(pt, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_explain_table(pt, GIB + 5, &ex), -ENOENT);
	ck_assert_int_eq(gmem_pt_explain_table(pt, 5, &ex), -ENXIO);
	ck_assert_int_eq(gmem_pt_explain_table(NULL, 5, &ex), -EINVAL);
	{
		GMEM_OPTS(gmem_pt_walker, w, .fn = count_visit, .ctx = &n,
			  .flags = 1u << 5);

		ck_assert_int_eq(gmem_pt_walk(pt, 0, GIB, &w), -EINVAL);
		w.flags = GMEM_PT_VISIT_TABLE_PRE;
		ck_assert_int_eq(gmem_pt_walk(pt, 0, 0, &w), -EINVAL);
		w.fn = NULL;
		ck_assert_int_eq(gmem_pt_walk(pt, 0, GIB, &w), -EINVAL);
		/* A visitor's error stops the walk and comes back. */
		ck_assert_int_eq(gmem_convert(g, 0, 2, GMEM_ATTR_SHARED, NULL), 0);
		ck_assert_int_eq(gmem_convert(g, 1024, 2, GMEM_ATTR_SHARED, NULL),
				 0);
		ck_assert_int_eq(gmem_pt_sync(pt), 0);
		w.fn = count_visit;
		w.flags = GMEM_PT_VISIT_LEAF;
		ck_assert_int_eq(gmem_pt_walk(pt, 0, GIB, &w), -ECANCELED);
		EXPECT_EQ(n, 2);
	}
	ck_assert_int_eq(gmem_pt_destroy(pt), 0);
	ck_assert_int_eq(gmem_pt_destroy(NULL), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pt_build_cases");
	TCase *tc = tcase_create("cases");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, one_frame_in_uniform_gib);
	tcase_add_test(tc, regions_reach_builders);
	tcase_add_test(tc, table_alloc_failure_keeps_table);
	tcase_add_test(tc, metadata_failure);
	tcase_add_test(tc, sink_error_partway);
	tcase_add_test(tc, policies);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, custom_allocator_rule);
	tcase_add_test(tc, table_pages_advised_huge);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
