/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pt_check.h"
#include "test_alloc.h"

/* The frames full checks translate at random. */
static uint64_t rng = 0x2545f4914f6cdd1d;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

/* ---- builders under test ---- */

void cfg_geoms(struct bld *b)
{
	uint32_t i;

	b->geom = (struct gmem_pt_geometry){ .sz = sizeof(b->geom) };
	ck_assert_int_eq(gmem_pt_geometry(b->c.arch, &b->geom), 0);
	b->cover = b->geom;
	b->top = 0;
	/* The accept size, as a geometry without the larger leaves. */
	for (i = 0; i < b->cover.nlevels; i++) {
		struct gmem_pt_level *l = &b->cover.level[i];
		uint64_t one = UINT64_C(1) << (l->entry_shift - 12);

		if (b->c.flags & GMEM_PT_COVER_NO_CONTIG)
			l->contig_bits = 0;
		if (b->c.accept && one > b->c.accept)
			l->leaf = 0;
		if (b->c.accept && l->leaf && one << l->contig_bits > b->c.accept)
			l->contig_bits = 0;
		if (l->leaf && !b->top)
			b->top = one << l->contig_bits;
	}
}

static bool by_attr(const struct cfg *c)
{
	return c->view != GMEM_PT_VIEW_ALL || c->prot[0] != c->prot[1];
}

uint32_t prot_of(const struct cfg *c, unsigned int attr)
{
	uint32_t p = c->prot[by_attr(c) ? attr : 0];

	return p ? p : GMEM_PT_PROT_RWX;
}

int bld_create(struct bld *b, struct gmem_guest *g, struct rec *rec,
		      struct ref_pages *pages, struct gmem_pt **pt)
{
	int err;
	struct gmem_pt_page_ops ops;
	struct gmem_pt_sink sink;
	GMEM_OPTS(gmem_pt_opts, o, .flags = b->c.flags, .format = b->c.fmt,
		  .accept_npages = b->c.accept);

	o.prot[0] = b->c.prot[0];
	o.prot[1] = b->c.prot[1];
	rec_init(rec, &sink);
	o.sink = b->c.nosink ? NULL : &sink;
	if (b->c.fmt != GMEM_PT_FORMAT_GENERIC) {
		ref_pages_ops(pages, &ops);
		o.pages = &ops;
	}
	err = gmem_pt_create(g, b->c.view, &b->geom, &o, pt);
	rec->added.n = 0;
	return err;
}

/* ---- what the cover should be ---- */

struct collect {
	struct leaves *l;
	uint32_t prot;
};

static int collect_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	struct collect *c = ctx;

	leaves_push(c->l, leaf, c->prot);
	return 0;
}

/* The minimal cover of [lo, hi), clipped there. With permissions that
 * differ in the ALL view, the covers of both attributes together. */
static void expected(const struct bld *b, struct gmem_guest *g, uint64_t lo,
		     uint64_t hi, struct leaves *out)
{
	GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);
	enum gmem_pt_view v;
	size_t i;

	out->n = 0;
	(void)i;
	for (v = GMEM_PT_VIEW_PRIVATE; v <= GMEM_PT_VIEW_SHARED; v++) {
		enum gmem_pt_view view = by_attr(&b->c) ? v : b->c.view;
		struct collect c = { out, prot_of(&b->c, v == GMEM_PT_VIEW_SHARED) };

		if (by_attr(&b->c) && b->c.view != GMEM_PT_VIEW_ALL &&
		    v != b->c.view)
			continue;
		ck_assert_int_eq(gmem_pt_view_cover(g, view, &b->cover, lo,
						    hi - lo, collect_leaf, &c,
						    &o), 0);
		if (!by_attr(&b->c))
			break;
	}
	if (by_attr(&b->c) && b->c.view == GMEM_PT_VIEW_ALL)
		leaves_sort(out);
}

/*
 * The sink's leaves around [lo, hi) (aligned to limit frames) are the
 * cover's. Leaves of the clipped cover smaller than limit are exact;
 * one of size limit may be part of a larger leaf.
 */
void check_window(const struct bld *b, struct gmem_guest *g,
			 uint64_t lo, uint64_t hi, uint64_t limit,
			 struct leaves *tmp)
{
	const struct rec *r = &b->rec;
	size_t i, k;
	int bk;

	lo &= ~(limit - 1);
	hi = (hi + limit - 1) & ~(limit - 1);
	expected(b, g, lo, hi, tmp);
	for (i = 0; i < tmp->n; i++) {
		const struct gmem_pt_leaf *w = &tmp->v[i];
		uint32_t prot = 0;
		const struct gmem_pt_leaf *h = rec_at(r, w->gfn, &prot);

		EXPECT(h);
		if (w->npages < limit || h->npages == w->npages) {
			EXPECT(leaf_same(h, w));
			EXPECT_EQ(prot, tmp->prot[i]);
		} else {
			EXPECT(h->npages > w->npages && h->gfn <= w->gfn &&
			       h->gfn + h->npages >= w->gfn + w->npages);
		}
	}
	/* And nothing else in the window. */
	for (bk = (int)REC_BUCKET(lo); bk <= (int)REC_BUCKET(hi - 1); bk++) {
		k = leaves_find(&r->b[bk], lo);
		for (; k < r->b[bk].n && r->b[bk].v[k].gfn < hi; k++) {
			const struct gmem_pt_leaf *h = &r->b[bk].v[k];
			size_t j;

			if (h->npages >= limit)
				continue;
			j = leaves_find(tmp, h->gfn);
			EXPECT(j < tmp->n && leaf_same(&tmp->v[j], h));
		}
	}
}

/* ---- full checks ---- */

/* Leaves by the public walker: a contiguous run's entries make one. */
int walked_visit(void *ctx, const struct gmem_pt_entry *e,
			uint32_t visit)
{
	struct walked *w = ctx;
	struct gmem_pt_leaf leaf = { e->gfn, e->pfn, e->npages, e->level,
				     e->flags };

	if (visit != GMEM_PT_VISIT_LEAF) {
		w->ntables += visit == GMEM_PT_VISIT_TABLE_PRE;
		return 0;
	}
	if (e->flags & GMEM_PT_LEAF_CONTIG) {
		uint64_t run = e->npages << w->b->geom.level[e->level].contig_bits;

		if (e->gfn % run)
			return 0;	/* counted with the first entry */
		leaf.npages = run;
	}
	leaves_push(&w->l, &leaf, e->prot);
	return 0;
}

struct ref_seen {
	struct leaves l;
	uint32_t memtype;
	bool memtype_ok;
};

static void ref_visit(void *ctx, const struct ref_leaf *r)
{
	struct ref_seen *s = ctx;
	struct gmem_pt_leaf leaf = { r->gfn, r->pfn, r->npages, 0,
				     r->contig ? GMEM_PT_LEAF_CONTIG : 0 };

	s->memtype_ok &= r->memtype == s->memtype;
	leaves_push(&s->l, &leaf, r->prot);
}

void expect_lists(const struct leaves *a, const struct leaves *b,
			 bool levels)
{
	size_t i;

	EXPECT_EQ(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		EXPECT_EQ(a->v[i].gfn, b->v[i].gfn);
		EXPECT_EQ(a->v[i].npages, b->v[i].npages);
		EXPECT_EQ(a->v[i].pfn, b->v[i].pfn);
		EXPECT_EQ(a->v[i].flags, b->v[i].flags);
		EXPECT_EQ(a->prot[i], b->prot[i]);
		if (levels)
			EXPECT_EQ(a->v[i].level, b->v[i].level);
	}
}

static void ref_leaves(const struct bld *b, struct gmem_pt *pt,
		       struct ref_pages *pages, struct ref_seen *s)
{
	uint64_t pa;
	const char *err = NULL;

	ck_assert_int_eq(gmem_pt_root(pt, NULL, &pa), 0);
	s->memtype = b->c.fmt == GMEM_PT_FORMAT_EPT ? 6 : 15;
	s->memtype_ok = true;
	if (b->c.fmt == GMEM_PT_FORMAT_EPT)
		err = ref_ept_leaves(pages, pa, (int)b->geom.nlevels, ref_visit, s);
	else
		err = ref_s2_leaves(pages, pa, b->geom.level[b->geom.nlevels - 1]
						       .entry_shift,
				    ref_visit, s);
	ck_assert_msg(!err, "%s", err ? err : "");
	EXPECT(s->memtype_ok);
}

/* The leaf that maps gfn, by the reference walker or the public one. */
static bool translate(const struct bld *b, struct gmem_pt *pt,
		      struct ref_pages *pages, uint64_t gfn,
		      struct ref_leaf *out)
{
	uint64_t pa;

	ck_assert_int_eq(gmem_pt_root(pt, NULL, &pa), 0);
	if (b->c.fmt == GMEM_PT_FORMAT_EPT)
		return ref_ept_translate(pages, pa, (int)b->geom.nlevels, gfn,
					 out);
	return ref_s2_translate(pages, pa,
				b->geom.level[b->geom.nlevels - 1].entry_shift,
				gfn, out);
}

/* The table as entries: leaves by value, tables by position. */
static int raw_visit(void *ctx, const struct gmem_pt_entry *e, uint32_t visit)
{
	struct raw *r = ctx;

	if (r->n + 3 > r->cap) {
		r->cap = r->cap ? 2 * r->cap : 1024;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = e->gfn;
	r->v[r->n++] = (uint64_t)e->level << 8 | visit;
	r->v[r->n++] = visit == GMEM_PT_VISIT_LEAF ? *e->ptep : 0;
	return 0;
}

void raw_of(struct gmem_pt *pt, struct raw *r)
{
	GMEM_OPTS(gmem_pt_walker, w, .fn = raw_visit, .ctx = r,
		  .flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE);

	r->n = 0;
	ck_assert_int_eq(gmem_pt_walk(pt, 0, GMEM_FRAME_LIMIT, &w), 0);
}

void full_check(struct bld *b, struct gmem_guest *g,
		       const struct model *m)
{
	GMEM_OPTS(gmem_pt_walker, wk, .fn = walked_visit,
		  .flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE);
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);
	struct walked w = { b, { 0 }, 0 };
	struct leaves want = { 0 };
	struct ref_pages pages2;
	struct rec rec2;
	struct raw r1 = { 0 }, r2 = { 0 };
	struct gmem_pt *pt2;
	int k;

	struct leaves have = { 0 };
	struct bld twin = *b;

	expected(b, g, 0, GMEM_FRAME_LIMIT, &want);
	if (!b->c.nosink) {
		rec_all(&b->rec, &have);
		expect_lists(&have, &want, true);
		leaves_free(&have);
	}
	wk.ctx = &w;
	ck_assert_int_eq(gmem_pt_walk(b->pt, 0, GMEM_FRAME_LIMIT, &wk), 0);
	expect_lists(&w.l, &want, true);
	ck_assert_int_eq(gmem_pt_stats(b->pt, &st), 0);
	EXPECT_EQ(st.nleaves, want.n);
	EXPECT_EQ(st.ntables, w.ntables + 1);
	if (!b->c.nosink)
		EXPECT_EQ(st.ntables, b->rec.tables);
	EXPECT_EQ(st.pending, 0);
	if (b->c.fmt != GMEM_PT_FORMAT_GENERIC) {
		struct ref_seen s = { { 0 }, 0, true };

		ref_leaves(b, b->pt, &b->pages, &s);
		expect_lists(&s.l, &want, false);
		/* Live pages: the tables, and a few spares. */
		EXPECT(b->pages.live >= st.ntables);
		leaves_free(&s.l);
	}
	/* Random frames translate as the model says. */
	for (k = 0; k < 64 && b->c.fmt != GMEM_PT_FORMAT_GENERIC; k++) {
		const struct model_region *mr = &m->r[rnd() % (uint64_t)m->n];
		uint64_t f = mr->gfn + rnd() % (mr->end - mr->gfn), pfn;
		unsigned int attr;
		struct ref_leaf leaf;
		bool in, mapped = translate(b, b->pt, &b->pages, f, &leaf);

		ck_assert_int_eq(model_attr(m, f, &attr), 0);
		in = b->c.view == GMEM_PT_VIEW_ALL ||
		     attr == (b->c.view == GMEM_PT_VIEW_SHARED);
		EXPECT_EQ(mapped, in);
		if (!mapped)
			continue;
		ck_assert_int_eq(gmem_translate(g, f, &pfn), 0);
		EXPECT_EQ(leaf.pfn + (f - leaf.gfn), pfn);
		EXPECT_EQ(leaf.prot, prot_of(&b->c, attr));
	}
	/* A builder made now, by the other path (with or without a sink),
	 * has the same table. */
	ref_pages_init(&pages2);
	twin.c.nosink = !b->c.nosink;
	ck_assert_int_eq(bld_create(&twin, g, &rec2, &pages2, &pt2), 0);
	raw_of(b->pt, &r1);
	raw_of(pt2, &r2);
	EXPECT_EQ(r1.n, r2.n);
	for (k = 0; k < (int)r1.n; k += 3) {
		EXPECT_EQ(r1.v[k], r2.v[k]);
		EXPECT_EQ(r1.v[k + 1], r2.v[k + 1]);
		EXPECT_EQ(r1.v[k + 2], r2.v[k + 2]);
	}
	ck_assert_int_eq(gmem_pt_destroy(pt2), 0);
	EXPECT_EQ(rec2.n, 0);
	EXPECT_EQ(rec2.tables, 0);
	EXPECT(!twin.c.nosink || !rec2.maps);
	EXPECT_EQ(pages2.live, 0);
	EXPECT_EQ(pages2.allocs, pages2.frees);
	rec_free(&rec2);
	ref_pages_fini(&pages2);
	free(r1.v);
	free(r2.v);
	leaves_free(&w.l);
	leaves_free(&want);
}

/* Converts in the guest and its model alike. */
void convert_both(struct gmem_guest *g, struct model *m, uint64_t gfn,
			 uint64_t n, unsigned int attr)
{
	uint64_t fail;

	ck_assert_int_eq(gmem_convert(g, gfn, n, attr, NULL), 0);
	ck_assert_int_eq(model_convert(m, gfn, n, attr, &fail), 0);
}

void small_guest_done(struct gmem_pool *pool, struct gmem_guest *g,
			     struct model *m)
{
	if (m)
		model_fini(m);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}

/* ---- targeted cases ---- */

/* A guest of one region [0, npages) with the given attribute, its blocks
 * aligned in host frames. */
void small_guest(struct gmem_pool **pool, struct gmem_guest **g,
			const struct gmem_alloc_ops *ops, uint64_t npages,
			unsigned int attr)
{
	GMEM_OPTS(gmem_pool_opts, po, .alloc = ops);
	GMEM_OPTS(gmem_guest_opts, go, .node = -1);
	GMEM_OPTS(gmem_region_opts, ro, .attr = attr);

	ck_assert_int_eq(gmem_pool_create(&po, pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(*pool, 64 * GIB, 8 * GIB, 0, NULL),
			 0);
	ck_assert_int_eq(gmem_guest_create(*pool, &go, g), 0);
	ck_assert_int_eq(gmem_region_add(*g, 0, npages, &ro), 0);
}

struct gmem_pt_stats stats_of(struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);

	ck_assert_int_eq(gmem_pt_stats(pt, &st), 0);
	return st;
}

void bld_setup(struct bld *b, const struct cfg *c,
		      struct gmem_guest *g)
{
	memset(b, 0, sizeof(*b));
	b->c = *c;
	cfg_geoms(b);
	ref_pages_init(&b->pages);
	ck_assert_int_eq(bld_create(b, g, &b->rec, &b->pages, &b->pt), 0);
}

void bld_teardown(struct bld *b)
{
	ck_assert_int_eq(gmem_pt_destroy(b->pt), 0);
	EXPECT_EQ(b->rec.n, 0);
	EXPECT_EQ(b->rec.tables, 0);
	EXPECT_EQ(b->pages.live, 0);
	EXPECT_EQ(b->pages.allocs, b->pages.frees);
	ref_pages_fini(&b->pages);
	rec_free(&b->rec);
}

/*
 * One 4 KiB frame made private in a shared 1 GiB: nothing changes in the
 * ALL view, one leaf comes in the PRIVATE view, the SHARED view's 1 GiB
 * leaf splits; made shared again, the SHARED view has its one leaf back
 * and the tables the split needed are gone.
 */
