/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table geometries and minimal covers.
 *
 *  - The built-in geometries have the leaf sizes and address widths of
 *    their architectures.
 *  - Every cover is valid: leaves in order, adjacent, aligned in both
 *    frame spaces, of a size the geometry has, covering the range.
 *  - Minimality, two ways: against an exhaustive search (a dynamic
 *    program over every cover) on small geometries and ranges, and
 *    against the closed form on large ranges of the built-in ones.
 *  - Bad input.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test_alloc.h"

#define KIB (UINT64_C(1) << 10)
#define GIB_B (UINT64_C(1) << 30)
#define FRAMES(bytes) ((bytes) >> GMEM_FRAME_SHIFT)

static struct gmem_pt_geometry geom_of(enum gmem_pt_arch arch)
{
	GMEM_OPTS(gmem_pt_geometry, g, .nlevels = 0);

	ck_assert_int_eq(gmem_pt_geometry(arch, &g), 0);
	return g;
}

/* Leaf sizes in frames, largest first, as the test derives them. */
struct sizes {
	int n;
	uint64_t frames[16];
};

static struct sizes sizes_of(const struct gmem_pt_geometry *g, bool contig)
{
	struct sizes s = { 0 };
	uint32_t i;

	for (i = 0; i < g->nlevels; i++) {
		const struct gmem_pt_level *l = &g->level[i];

		if (!l->leaf)
			continue;
		if (contig && l->contig_bits)
			s.frames[s.n++] = FRAMES(UINT64_C(1) << l->entry_shift)
					  << l->contig_bits;
		s.frames[s.n++] = FRAMES(UINT64_C(1) << l->entry_shift);
	}
	return s;
}

static const struct {
	enum gmem_pt_arch arch;
	unsigned int address_bits;
	uint64_t leaf_bytes[8];	/* largest first, 0-terminated */
} archs[] = {
	{ GMEM_PT_X86_4LEVEL, 48, { GIB_B, 2 << 20, 4 * KIB } },
	{ GMEM_PT_X86_5LEVEL, 57, { GIB_B, 2 << 20, 4 * KIB } },
	{ GMEM_PT_ARM64_4K, 48, { 16 * GIB_B, GIB_B, 32 << 20, 2 << 20,
				  64 * KIB, 4 * KIB } },
	{ GMEM_PT_ARM64_16K, 48, { GIB_B, 32 << 20, 2 << 20, 16 * KIB } },
	{ GMEM_PT_ARM64_64K, 48, { 16 * GIB_B, 512 << 20, 2 << 20, 64 * KIB } },
	{ GMEM_PT_S390, 64, { 2 * GIB_B, 1 << 20, 4 * KIB } },
	{ GMEM_PT_RISCV_SV39, 39, { GIB_B, 2 << 20, 4 * KIB } },
	{ GMEM_PT_RISCV_SV48, 48, { 512 * GIB_B, GIB_B, 2 << 20, 4 * KIB } },
	{ GMEM_PT_RISCV_SV57, 57, { UINT64_C(256) << 40, 512 * GIB_B, GIB_B,
				    2 << 20, 4 * KIB } },
};
#define NARCHS (int)(sizeof(archs) / sizeof(archs[0]))

START_TEST(builtin_geometries)
{
	struct gmem_pt_geometry g = geom_of(archs[_i].arch);
	struct sizes s = sizes_of(&g, true);
	int k;

	ck_assert_ptr_nonnull(g.name);
	ck_assert_uint_eq(g.level[0].entry_shift + g.level[0].index_bits,
			  archs[_i].address_bits);
	for (k = 0; archs[_i].leaf_bytes[k]; k++) {
		ck_assert_int_lt(k, s.n);
		ck_assert_uint_eq(s.frames[k], FRAMES(archs[_i].leaf_bytes[k]));
	}
	ck_assert_int_eq(k, s.n);
}
END_TEST

/* Collects a cover and checks each leaf as it comes. */
struct collect {
	const struct gmem_pt_geometry *g;
	struct sizes allowed;
	uint64_t next_gfn, delta, n;
	int stop_at;		/* return -EIO at this leaf; -1 never */
};

static int check_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	struct collect *c = ctx;
	const struct gmem_pt_level *l = &c->g->level[leaf->level];
	uint64_t expect;
	int k;

	if ((int)c->n == c->stop_at)
		return -EIO;
	EXPECT_EQ(leaf->gfn, c->next_gfn);
	EXPECT_EQ(leaf->pfn, leaf->gfn + c->delta);
	EXPECT(leaf->level < c->g->nlevels && l->leaf);
	expect = FRAMES(UINT64_C(1) << l->entry_shift);
	if (leaf->flags & GMEM_PT_LEAF_CONTIG)
		expect <<= l->contig_bits;
	EXPECT_EQ(leaf->npages, expect);
	for (k = 0; k < c->allowed.n && c->allowed.frames[k] != expect; k++)
		;
	EXPECT(k < c->allowed.n);
	EXPECT_EQ(leaf->gfn % leaf->npages, 0);
	EXPECT_EQ(leaf->pfn % leaf->npages, 0);
	c->next_gfn += leaf->npages;
	c->n++;
	return 0;
}

/* Covers [gfn, gfn + n) at pfn, checks validity; the leaf count. */
static uint64_t cover(const struct gmem_pt_geometry *g, uint64_t gfn,
		      uint64_t pfn, uint64_t n, bool contig)
{
	GMEM_OPTS(gmem_pt_cover_opts, o,
		  .flags = contig ? 0 : GMEM_PT_COVER_NO_CONTIG);
	struct collect c = { g, sizes_of(g, contig), gfn, pfn - gfn, 0, -1 };

	EXPECT_EQ(gmem_pt_cover(g, gfn, pfn, n, check_leaf, &c, &o), 0);
	EXPECT_EQ(c.next_gfn, gfn + n);
	EXPECT_EQ(o.nleaves, c.n);
	return c.n;
}

/* The fewest leaves over all covers of [a, b) at pfn a + delta: a dynamic
 * program over every way to end a cover at each frame. */
static uint64_t exhaustive(const struct sizes *s, uint64_t a, uint64_t b,
			   uint64_t delta)
{
	uint64_t *best = calloc(b - a + 1, sizeof(*best)), x, r;
	int k;

	EXPECT(best);
	for (x = 1; x <= b - a; x++)
		best[x] = UINT64_MAX;
	for (x = a; x < b; x++) {
		if (best[x - a] == UINT64_MAX)
			continue;
		for (k = 0; k < s->n; k++) {
			uint64_t f = s->frames[k];

			if (x % f || (x + delta) % f || x + f > b)
				continue;
			if (best[x - a] + 1 < best[x + f - a])
				best[x + f - a] = best[x - a] + 1;
		}
	}
	r = best[b - a];
	free(best);
	return r;
}

/* A small geometry: 4 KiB and 16 KiB leaves with 2-entry contiguous hints
 * (1, 2, 4, 8 frames), 256 frames in all. */
static struct gmem_pt_geometry tiny(void)
{
	struct gmem_pt_geometry g = {
		.sz = sizeof(g), .name = "tiny", .nlevels = 3,
		.level = { { 16, 4, 0, 0 }, { 14, 2, 1, 1 }, { 12, 2, 1, 1 } },
	};

	return g;
}

START_TEST(minimal_exhaustive_tiny)
{
	struct gmem_pt_geometry g = tiny();
	struct sizes s = sizes_of(&g, true);
	uint64_t a, b, delta;

	for (delta = 0; delta < 16; delta++)
		for (a = 0; a < 96; a++)
			for (b = a + 1; b <= 96; b++)
				EXPECT_EQ(cover(&g, a, a + delta, b - a, true),
					  exhaustive(&s, a, b, delta));
}
END_TEST

/* Built-in geometries on ranges small enough to search, at every pfn
 * alignment that matters. */
START_TEST(minimal_exhaustive_builtin)
{
	struct gmem_pt_geometry g = geom_of(archs[_i].arch);
	uint64_t gran = FRAMES(archs[_i].leaf_bytes[0]);
	uint64_t seed = 0x243f6a8885a308d3 + (uint64_t)_i, t;
	int k;

	for (k = 0; archs[_i].leaf_bytes[k]; k++)
		gran = FRAMES(archs[_i].leaf_bytes[k]);
	for (t = 0; t < 300; t++) {
		bool contig = t & 1;
		struct sizes s = sizes_of(&g, contig);
		uint64_t span = 1 + (seed >> 20) % 20000, a, delta;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		a = (seed >> 17) % 300000;
		delta = ((seed >> 5) % 4096) << ((seed >> 60) % 12);
		a -= a % gran;
		delta -= delta % gran;
		span += gran - 1;
		span -= span % gran;
		EXPECT_EQ(cover(&g, a, a + delta, span, contig),
			  exhaustive(&s, a, a + span, delta));
	}
}
END_TEST

static uint64_t down(uint64_t x, uint64_t s)
{
	return x - x % s;
}

static uint64_t up(uint64_t x, uint64_t s)
{
	return down(x + s - 1, s);
}

/*
 * The closed form for sizes s[0] > s[1] > ... (each dividing the one
 * before) all dividing the pfn offset: between the first and last
 * multiples of the largest size that fits, whole leaves of it; before,
 * a rising ladder of each smaller size up to the next boundary; after, a
 * falling one.
 */
static uint64_t closed_form(const uint64_t *s, int n, uint64_t a, uint64_t b)
{
	uint64_t count = 0;
	int top = 0, i;

	while (top < n - 1 && up(a, s[top]) >= down(b, s[top]))
		top++;
	if (top == n - 1)
		return (b - a) / s[top];
	count = (down(b, s[top]) - up(a, s[top])) / s[top];
	for (i = top + 1; i < n; i++) {
		count += (up(a, s[i - 1]) - up(a, s[i])) / s[i];
		count += (down(b, s[i]) - down(b, s[i - 1])) / s[i];
	}
	return count;
}

START_TEST(minimal_closed_form)
{
	struct gmem_pt_geometry g = geom_of(archs[_i].arch);
	unsigned int space_bits = archs[_i].address_bits - GMEM_FRAME_SHIFT;
	/* Ranges stay in half the space and below 2^36 frames. */
	uint64_t lim = UINT64_C(1) << (space_bits > 37 ? 36 : space_bits - 1);
	uint64_t seed = 0x13198a2e03707344 + (uint64_t)_i, t;

	for (t = 0; t < 2000; t++) {
		bool contig = t & 1;
		struct sizes all = sizes_of(&g, contig);
		uint64_t s[16], gran = all.frames[all.n - 1], a, b, delta, x;
		uint64_t len_max;
		int n = 0, k;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		x = seed * 0x9e3779b97f4a7c15ULL;
		delta = down(x % (UINT64_C(1) << 34), gran) << (t % 5);
		if (t % 3 == 0)
			delta = down(delta, all.frames[0]);
		/* Only sizes dividing the offset can be used. */
		for (k = 0; k < all.n; k++)
			if (delta % all.frames[k] == 0)
				s[n++] = all.frames[k];
		/* At most a few thousand leaves of the largest usable size. */
		len_max = s[0] << (t % 12);
		len_max = len_max < lim ? len_max : lim;
		a = down((seed >> 20) % lim, gran);
		b = a + gran + down((x >> 17) % len_max, gran);
		EXPECT_EQ(cover(&g, a, a + delta, b - a, contig),
			  closed_form(s, n, a, b));
	}
}
END_TEST

START_TEST(closed_form_cases)
{
	struct gmem_pt_geometry x86 = geom_of(GMEM_PT_X86_4LEVEL);
	struct gmem_pt_geometry a4k = geom_of(GMEM_PT_ARM64_4K);
	GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);

	/* 4 GiB aligned: 4 leaves, not 1,048,576. */
	ck_assert_uint_eq(cover(&x86, 0, FRAMES(GIB_B), FRAMES(4 * GIB_B),
				true), 4);
	/* Shifted by 4 KiB in host frames: nothing larger than 4 KiB. */
	ck_assert_uint_eq(cover(&x86, 0, 1, 1024, true), 1024);
	/* 64 KiB on arm64: one contiguous leaf of 16 entries. */
	ck_assert_int_eq(gmem_pt_cover(&a4k, 16, 32, 16, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 1);
	ck_assert_uint_eq(o.nentries, 16);
	o.flags = GMEM_PT_COVER_NO_CONTIG;
	ck_assert_int_eq(gmem_pt_cover(&a4k, 16, 32, 16, NULL, NULL, &o), 0);
	ck_assert_uint_eq(o.nleaves, 16);
	ck_assert_uint_eq(o.nentries, 16);
}
END_TEST

START_TEST(bad_input)
{
	struct gmem_pt_geometry g = geom_of(GMEM_PT_X86_4LEVEL), bad;
	struct gmem_pt_geometry a16 = geom_of(GMEM_PT_ARM64_16K);
	struct gmem_pt_geometry sv39 = geom_of(GMEM_PT_RISCV_SV39);
	GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);
	struct collect c = { &g, sizes_of(&g, true), 0, 0, 0, 2 };
	struct { struct gmem_pt_geometry g; uint64_t tail; } big;
	unsigned char *old;
	size_t old_sz;
	uint32_t old_nlevels;

	/* gmem_pt_geometry */
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_RISCV_SV57 + 1, &bad), -EINVAL);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_S390, NULL), -EINVAL);
	memset(&big, 0xff, sizeof(big));
	big.g.sz = sizeof(big);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_S390, &big.g), 0);
	ck_assert_uint_eq(big.tail, 0);	/* a newer caller's tail zeroed */
	/* A caller of a version whose struct ended before level[]: only
	 * those bytes exist, so they are written and read as bytes. */
	old_sz = offsetof(struct gmem_pt_geometry, level);
	old = calloc(1, old_sz);
	ck_assert_ptr_nonnull(old);
	memcpy(old, &old_sz, sizeof(old_sz));
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_S390,
					  (struct gmem_pt_geometry *)old), 0);
	memcpy(&old_nlevels, old + offsetof(struct gmem_pt_geometry, nlevels),
	       sizeof(old_nlevels));
	ck_assert_uint_eq(old_nlevels, 5);
	free(old);

	/* the geometry */
	ck_assert_int_eq(gmem_pt_cover(NULL, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.sz = sizeof(bad) - 1;
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.nlevels = 0;
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad.nlevels = GMEM_PT_MAX_LEVELS + 1;
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.level[2].entry_shift = 22;	/* PD entry no longer = one PT */
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.level[3].leaf = 0;		/* last level maps nothing */
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.level[0].contig_bits = 4;	/* hint on a table level */
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.level[3].contig_bits = 10;	/* more than a table holds */
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = g;
	bad.level[0].index_bits = 30;	/* more than 64 address bits */
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);
	bad = tiny();
	bad.level[0] = (struct gmem_pt_level){ 14, 2, 1, 0 };
	bad.level[1] = (struct gmem_pt_level){ 12, 2, 1, 0 };
	bad.level[2] = (struct gmem_pt_level){ 11, 1, 1, 0 };	/* < a frame */
	ck_assert_int_eq(gmem_pt_cover(&bad, 0, 0, 1, NULL, NULL, NULL), -EINVAL);

	/* the range and options */
	ck_assert_int_eq(gmem_pt_cover(&g, 0, 0, 0, NULL, NULL, NULL), -EINVAL);
	o.flags = 1u << 7;
	ck_assert_int_eq(gmem_pt_cover(&g, 0, 0, 1, NULL, NULL, &o), -EINVAL);
	o.flags = 0;
	o.sz = 1;
	ck_assert_int_eq(gmem_pt_cover(&g, 0, 0, 1, NULL, NULL, &o), -EINVAL);
	ck_assert_int_eq(gmem_pt_cover(&a16, 4, 8, 3, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_cover(&a16, 2, 8, 4, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_cover(&a16, 4, 6, 4, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gmem_pt_cover(&a16, 4, 8, 4, NULL, NULL, NULL), 0);
	ck_assert_int_eq(gmem_pt_cover(&g, GMEM_FRAME_LIMIT - 1, 0, 2, NULL,
				       NULL, NULL), -EOVERFLOW);
	ck_assert_int_eq(gmem_pt_cover(&g, 0, GMEM_FRAME_LIMIT - 1, 2, NULL,
				       NULL, NULL), -EOVERFLOW);
	ck_assert_int_eq(gmem_pt_cover(&g, UINT64_MAX, 0, 1, NULL, NULL, NULL),
			 -EOVERFLOW);
	ck_assert_int_eq(gmem_pt_cover(&sv39, (UINT64_C(1) << 27) - 1, 0, 2,
				       NULL, NULL, NULL), -ERANGE);
	ck_assert_int_eq(gmem_pt_cover(&sv39, (UINT64_C(1) << 27) - 1, 0, 1,
				       NULL, NULL, NULL), 0);

	/* a callback error stops the cover and is returned */
	o.sz = sizeof(o);
	ck_assert_int_eq(gmem_pt_cover(&g, 0, 0, 5, check_leaf, &c, &o), -EIO);
	ck_assert_uint_eq(c.n, 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pt_cover");
	TCase *tc = tcase_create("cover");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, builtin_geometries, 0, NARCHS);
	tcase_add_test(tc, minimal_exhaustive_tiny);
	tcase_add_loop_test(tc, minimal_exhaustive_builtin, 0, NARCHS);
	tcase_add_loop_test(tc, minimal_closed_form, 0, NARCHS);
	tcase_add_test(tc, closed_form_cases);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
