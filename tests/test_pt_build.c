/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table builders against the model.
 *
 * On each differential layout, a builder for every geometry and every
 * view (EPT for x86, stage 2 for arm64, the generic format for the
 * rest), plus builders with per-attribute permissions and an accept
 * size, follow random conversions. A recording sink holds what each was
 * told. After every conversion and sync:
 *
 *  - every op lies in the blocks of the largest leaf size holding the
 *    converted range; no leaf is mapped twice, unmapped while absent,
 *    or unmapped and mapped again in one sync (so the ops are exactly
 *    the difference of the old and new covers);
 *  - around the range, the sink's leaves are the minimal cover, which
 *    gmem_pt_view_cover computes independently (test_pt_view checks it
 *    against the model).
 *
 * Every few hundred conversions, for each builder: all its leaves are
 * the minimal cover; the public walker and, for real formats, a
 * reference walker written from the architecture manuals enumerate the
 * same leaves, with the permissions and memory type asked for; random
 * frames translate as the model says; and a builder made from scratch
 * has the same table, entry for entry.
 *
 * GMEM_BUILD_OPS: conversions per layout (20000).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "model.h"
#include "ref_walk.h"
#include "rng.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES
#define RO_NX (GMEM_PT_PROT_R)
#define RW_NX (GMEM_PT_PROT_R | GMEM_PT_PROT_W)

static uint64_t rng = 0x9e3779b97f4a7c15;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

/* ---- leaf lists ---- */

struct leaves {
	struct gmem_pt_leaf *v;
	uint32_t *prot;
	size_t n, cap;
};

static void leaves_push(struct leaves *l, const struct gmem_pt_leaf *leaf,
			uint32_t prot)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		l->prot = realloc(l->prot, l->cap * sizeof(*l->prot));
		EXPECT(l->v && l->prot);
	}
	l->v[l->n] = *leaf;
	l->prot[l->n++] = prot;
}

static void leaves_free(struct leaves *l)
{
	free(l->v);
	free(l->prot);
	memset(l, 0, sizeof(*l));
}

/* First leaf ending after gfn. */
static size_t leaves_find(const struct leaves *l, uint64_t gfn)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].gfn + l->v[mid].npages <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void leaves_sort(struct leaves *l);

static bool leaf_same(const struct gmem_pt_leaf *a, const struct gmem_pt_leaf *b)
{
	return a->gfn == b->gfn && a->npages == b->npages && a->pfn == b->pfn &&
	       a->level == b->level && a->flags == b->flags;
}

/* ---- the recording sink ---- */

/*
 * What the sink holds, in sorted lists per 32 MiB (a leaf in the list of
 * its first frame; larger leaves in a list of their own), so that ops
 * and checks touch short lists. Unmaps
 * must name leaves it holds; maps must not overlap them; a leaf unmapped
 * and mapped again in one sync is an op too many.
 */
#define REC_SPAN (UINT64_C(1) << 13)	/* frames of one list: 32 MiB */
#define REC_BUCKETS 4096
#define REC_BUCKET(gfn) \
	((gfn) / REC_SPAN < REC_BUCKETS ? (gfn) / REC_SPAN : REC_BUCKETS - 1)

struct rec {
	struct leaves b[REC_BUCKETS], big;
	uint64_t n;			/* leaves held */
	struct leaves gone, added;	/* this sync's unmaps and maps */
	uint64_t lo, hi;		/* where ops may happen now */
	uint64_t calls, fail_at;	/* fail_at: call that fails (1-based) */
	uint64_t maps, unmaps, tables, flushes;
	uint64_t flush_lo, flush_hi;	/* the hull of this batch's unmaps */
};

static int rec_fail(struct rec *r)
{
	return ++r->calls == r->fail_at ? -EPROTO : 0;
}

static struct leaves *rec_list(struct rec *r, const struct gmem_pt_leaf *leaf)
{
	return leaf->npages > REC_SPAN ? &r->big : &r->b[REC_BUCKET(leaf->gfn)];
}

/* The held leaf holding gfn, or NULL. */
static const struct gmem_pt_leaf *rec_at(const struct rec *r, uint64_t gfn,
					 uint32_t *prot)
{
	const struct leaves *ls[2] = { &r->b[REC_BUCKET(gfn)], &r->big };
	int k;

	for (k = 0; k < 2; k++) {
		const struct leaves *l = ls[k];
		size_t i = leaves_find(l, gfn);

		if (i < l->n && l->v[i].gfn <= gfn) {
			if (prot)
				*prot = l->prot[i];
			return &l->v[i];
		}
	}
	return NULL;
}

static int rec_map(void *ctx, const struct gmem_pt_leaf *leaf, uint32_t prot)
{
	struct rec *r = ctx;
	struct leaves *l = rec_list(r, leaf);
	size_t i;

	if (rec_fail(r))
		return -EPROTO;
	EXPECT(leaf->gfn >= r->lo && leaf->gfn + leaf->npages <= r->hi);
	EXPECT(leaf->gfn % leaf->npages == 0 && leaf->pfn % leaf->npages == 0);
	EXPECT(!rec_at(r, leaf->gfn, NULL) &&
	       !rec_at(r, leaf->gfn + leaf->npages - 1, NULL));
	i = leaves_find(l, leaf->gfn);
	EXPECT(i == l->n || l->v[i].gfn >= leaf->gfn + leaf->npages);
	leaves_push(l, leaf, prot);
	memmove(&l->v[i + 1], &l->v[i], (l->n - 1 - i) * sizeof(*leaf));
	memmove(&l->prot[i + 1], &l->prot[i], (l->n - 1 - i) * sizeof(prot));
	l->v[i] = *leaf;
	l->prot[i] = prot;
	leaves_push(&r->added, leaf, prot);
	r->n++;
	r->maps++;
	return 0;
}

static int rec_unmap(void *ctx, const struct gmem_pt_leaf *leaf)
{
	struct rec *r = ctx;
	struct leaves *l = rec_list(r, leaf);
	size_t i;

	if (rec_fail(r))
		return -EPROTO;
	EXPECT(leaf->gfn >= r->lo && leaf->gfn + leaf->npages <= r->hi);
	i = leaves_find(l, leaf->gfn);
	EXPECT(i < l->n && leaf_same(&l->v[i], leaf));
	leaves_push(&r->gone, leaf, l->prot[i]);
	memmove(&l->v[i], &l->v[i + 1], (l->n - 1 - i) * sizeof(*leaf));
	memmove(&l->prot[i], &l->prot[i + 1], (l->n - 1 - i) * sizeof(*l->prot));
	l->n--;
	r->n--;
	r->unmaps++;
	if (r->flush_lo > leaf->gfn)
		r->flush_lo = leaf->gfn;
	if (r->flush_hi < leaf->gfn + leaf->npages)
		r->flush_hi = leaf->gfn + leaf->npages;
	return 0;
}

static void rec_free(struct rec *r)
{
	int k;

	for (k = 0; k < REC_BUCKETS; k++)
		leaves_free(&r->b[k]);
	leaves_free(&r->big);
	leaves_free(&r->gone);
	leaves_free(&r->added);
	memset(r, 0, sizeof(*r));
}

/* All held leaves in order, into out. */
static void rec_all(const struct rec *r, struct leaves *out)
{
	size_t i;
	int k;

	out->n = 0;
	for (k = 0; k < REC_BUCKETS; k++)
		for (i = 0; i < r->b[k].n; i++)
			leaves_push(out, &r->b[k].v[i], r->b[k].prot[i]);
	for (i = 0; i < r->big.n; i++)
		leaves_push(out, &r->big.v[i], r->big.prot[i]);
	leaves_sort(out);
}

/* A sync's ops: no leaf both unmapped and mapped, with the same
 * permissions (a change of permissions replaces a leaf). */
static int rec_sync(struct rec *r, struct gmem_pt *pt)
{
	int err = gmem_pt_sync(pt);
	size_t i, k = 0;

	leaves_sort(&r->gone);
	leaves_sort(&r->added);
	for (i = 0; i < r->added.n; i++) {
		size_t j;

		while (k < r->gone.n && r->gone.v[k].gfn < r->added.v[i].gfn)
			k++;
		for (j = k; j < r->gone.n &&
			    r->gone.v[j].gfn == r->added.v[i].gfn; j++)
			if (leaf_same(&r->gone.v[j], &r->added.v[i]) &&
			    r->gone.prot[j] == r->added.prot[i])
				ck_abort_msg("leaf %llx+%llx unmapped and mapped again",
					     (unsigned long long)r->added.v[i].gfn,
					     (unsigned long long)r->added.v[i].npages);
	}
	r->gone.n = 0;
	r->added.n = 0;
	return err;
}

static int leaf_cmp(const void *a, const void *b);

/* Sorts a list's leaves, with their permissions. */
static void leaves_sort(struct leaves *l)
{
	struct { struct gmem_pt_leaf l; uint32_t p; } *t;
	size_t i;

	if (l->n < 2)
		return;
	t = malloc(l->n * sizeof(*t));
	for (i = 0; i < l->n; i++) {
		t[i].l = l->v[i];
		t[i].p = l->prot[i];
	}
	qsort(t, l->n, sizeof(*t), leaf_cmp);
	for (i = 0; i < l->n; i++) {
		l->v[i] = t[i].l;
		l->prot[i] = t[i].p;
	}
	free(t);
}

static int rec_table_add(void *ctx, uint64_t gfn, uint64_t npages,
			 uint32_t level)
{
	struct rec *r = ctx;

	(void)level;
	if (rec_fail(r))
		return -EPROTO;
	EXPECT(gfn % npages == 0);
	r->tables++;
	return 0;
}

static void rec_table_del(void *ctx, uint64_t gfn, uint64_t npages,
			  uint32_t level)
{
	struct rec *r = ctx;

	(void)level;
	EXPECT(gfn % npages == 0 && r->tables > 0);
	r->tables--;
}

/* One flush per batch, covering every unmap of it. */
static void rec_flush(void *ctx, uint64_t gfn, uint64_t npages)
{
	struct rec *r = ctx;

	if (r->flush_hi)
		EXPECT(gfn <= r->flush_lo && gfn + npages >= r->flush_hi);
	else
		EXPECT_EQ(npages, 0);
	r->flush_lo = UINT64_MAX;
	r->flush_hi = 0;
	r->flushes++;
}

static void rec_init(struct rec *r, struct gmem_pt_sink *sink)
{
	memset(r, 0, sizeof(*r));
	r->hi = UINT64_MAX;
	r->flush_lo = UINT64_MAX;
	*sink = (struct gmem_pt_sink){ .sz = sizeof(*sink), .map = rec_map,
				       .unmap = rec_unmap,
				       .table_add = rec_table_add,
				       .table_del = rec_table_del,
				       .flush = rec_flush, .ctx = r };
}

/* ---- builders under test ---- */

struct cfg {
	enum gmem_pt_arch arch;
	enum gmem_pt_format fmt;
	enum gmem_pt_view view;
	uint32_t flags;
	uint32_t prot[2];
	uint64_t accept;
	bool nosink;	/* the table alone: the builder's path without
			 * callbacks (leaves written in runs) */
};

struct bld {
	struct cfg c;
	struct gmem_pt_geometry geom;	/* what the builder gets */
	struct gmem_pt_geometry cover;	/* the same, accept size applied */
	uint64_t top;			/* largest leaf, frames */
	struct gmem_pt *pt;
	struct rec rec;
	struct ref_pages pages;
};

static void cfg_geoms(struct bld *b)
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

static uint32_t prot_of(const struct cfg *c, unsigned int attr)
{
	uint32_t p = c->prot[by_attr(c) ? attr : 0];

	return p ? p : GMEM_PT_PROT_RWX;
}

static int bld_create(struct bld *b, struct gmem_guest *g, struct rec *rec,
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

static int leaf_cmp(const void *a, const void *b)
{
	const struct gmem_pt_leaf *x = a, *y = b;

	if (x->gfn != y->gfn)
		return x->gfn < y->gfn ? -1 : 1;
	return x->npages < y->npages ? -1 : x->npages > y->npages;
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
static void check_window(const struct bld *b, struct gmem_guest *g,
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

struct walked {
	const struct bld *b;
	struct leaves l;
	uint64_t ntables;
};

/* Leaves by the public walker: a contiguous run's entries make one. */
static int walked_visit(void *ctx, const struct gmem_pt_entry *e,
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

static void expect_lists(const struct leaves *a, const struct leaves *b,
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

struct raw {
	uint64_t *v;
	size_t n, cap;
};

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

static void raw_of(struct gmem_pt *pt, struct raw *r)
{
	GMEM_OPTS(gmem_pt_walker, w, .fn = raw_visit, .ctx = r,
		  .flags = GMEM_PT_VISIT_LEAF | GMEM_PT_VISIT_TABLE_PRE);

	r->n = 0;
	ck_assert_int_eq(gmem_pt_walk(pt, 0, GMEM_FRAME_LIMIT, &w), 0);
}

static void full_check(struct bld *b, struct gmem_guest *g,
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
static void convert_both(struct gmem_guest *g, struct model *m, uint64_t gfn,
			 uint64_t n, unsigned int attr)
{
	uint64_t fail;

	ck_assert_int_eq(gmem_convert(g, gfn, n, attr, NULL), 0);
	ck_assert_int_eq(model_convert(m, gfn, n, attr, &fail), 0);
}

static void small_guest_done(struct gmem_pool *pool, struct gmem_guest *g,
			     struct model *m)
{
	if (m)
		model_fini(m);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), 0);
}

/* ---- the differential run ---- */

static const struct cfg cfgs[] = {
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, RW_NX }, 0 },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, RW_NX }, 0 },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 512 },
	{ GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, RO_NX }, 0 },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { RW_NX, 0 }, 0 },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED,
	  GMEM_PT_COVER_NO_CONTIG, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_16K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_16K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_16K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_64K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_64K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_ARM64_64K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV39, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV39, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV39, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV57, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV57, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
	{ GMEM_PT_RISCV_SV57, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, true },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, RW_NX }, 0, true },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0, true },
	{ GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0, true },
};

#define NCFG (sizeof(cfgs) / sizeof(cfgs[0]))

static void fail_check(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* A range to convert: mostly small and near a few hot spots, so the
 * covers stay of moderate size; sometimes a whole region at once. */
static bool pick(const struct model *m, uint64_t *hot, uint64_t *gfn,
		 uint64_t *n)
{
	const struct model_region *r = &m->r[rnd() % (uint64_t)m->n];
	uint64_t span = r->end - r->gfn, g = m->granule, fail;
	unsigned int k = (unsigned int)(rnd() % 100);

	if (k < 3) {
		*gfn = r->gfn;
		*n = span;
	} else {
		uint64_t base = k < 75 ? hot[rnd() % 4] : r->gfn + rnd() % span;
		uint64_t len = k % 5 == 0 ? 1 + rnd() % 4096 : 1 + rnd() % 24;

		*gfn = base + rnd() % 2048 - 1024;
		*n = len;
	}
	*gfn -= *gfn % g;
	*n = (*n + g - 1) / g * g;
	return !model_check_convert(m, *gfn, *n, &fail);
}

START_TEST(builders_follow_model)
{
	const struct diff_layout *lay = &diff_layouts[_i];
	uint64_t ops = test_env_u64("GMEM_BUILD_OPS", 20000), k, hot[4];
	struct leaves tmp = { 0 };
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct bld *b = calloc(NCFG, sizeof(*b));
	struct model m;
	size_t i, nb = 0;

	ck_assert_int_eq(gmem_pool_create(NULL, &pool), 0);
	diff_fail = fail_check;
	diff_layout_guest(lay, pool, &g, &m);
	for (i = 0; i < 4; i++)
		hot[i] = m.r[i % (uint64_t)m.n].gfn +
			 rnd() % (m.r[i % (uint64_t)m.n].end - m.r[i % (uint64_t)m.n].gfn);
	for (i = 0; i < NCFG; i++) {
		struct bld *x = &b[nb];
		int err;

		x->c = cfgs[i];
		cfg_geoms(x);
		ref_pages_init(&x->pages);
		err = bld_create(x, g, &x->rec, &x->pages, &x->pt);
		/* The granule of 16 and 64 KiB geometries needs a guest
		 * whose conversions and regions are aligned to it. */
		if (x->geom.level[x->geom.nlevels - 1].entry_shift > 12 &&
		    !lay->granule) {
			ck_assert_int_eq(err, -EINVAL);
			EXPECT_EQ(x->pages.allocs, x->pages.frees);
			ref_pages_fini(&x->pages);
			rec_free(&x->rec);
			continue;
		}
		ck_assert_msg(err == 0, "create %zu: %d", i, err);
		full_check(x, g, &m);
		nb++;
	}
	for (k = 0; k < ops; k++) {
		uint64_t gfn, n, fail;
		unsigned int attr = rnd() & 1;

		if (!pick(&m, hot, &gfn, &n))
			continue;
		if (rnd() % 64 == 0)
			hot[rnd() % 4] = gfn;
		ck_assert_int_eq(gmem_convert(g, gfn, n, attr, NULL), 0);
		ck_assert_int_eq(model_convert(&m, gfn, n, attr, &fail), 0);
		for (i = 0; i < nb; i++) {
			struct bld *x = &b[i];
			/* Leaves below 2 MiB exactly, larger ones
			 * by containment; all of them in full checks. */
			uint64_t limit = x->top < 512 ? x->top : 512;

			x->rec.lo = gfn & ~(x->top - 1);
			x->rec.hi = (gfn + n + x->top - 1) & ~(x->top - 1);
			ck_assert_int_eq(rec_sync(&x->rec, x->pt), 0);
			if (!x->c.nosink)
				check_window(x, g, gfn, gfn + n, limit, &tmp);
			x->rec.lo = 0;
			x->rec.hi = UINT64_MAX;
		}
		if (k % 2000 == 1999)
			for (i = 0; i < nb; i++)
				full_check(&b[i], g, &m);
	}
	for (i = 0; i < nb; i++) {
		full_check(&b[i], g, &m);
		ck_assert_int_eq(gmem_pt_destroy(b[i].pt), 0);
		EXPECT_EQ(b[i].rec.n, 0);
		EXPECT_EQ(b[i].rec.tables, 0);
		EXPECT_EQ(b[i].pages.live, 0);
		EXPECT_EQ(b[i].pages.allocs, b[i].pages.frees);
		ref_pages_fini(&b[i].pages);
		rec_free(&b[i].rec);
	}
	leaves_free(&tmp);
	free(b);
	small_guest_done(pool, g, &m);
}
END_TEST

/* ---- targeted cases ---- */

/* A guest of one region [0, npages) with the given attribute, its blocks
 * aligned in host frames. */
static void small_guest(struct gmem_pool **pool, struct gmem_guest **g,
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

static struct gmem_pt_stats stats_of(struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);

	ck_assert_int_eq(gmem_pt_stats(pt, &st), 0);
	return st;
}

static void bld_setup(struct bld *b, const struct cfg *c,
		      struct gmem_guest *g)
{
	memset(b, 0, sizeof(*b));
	b->c = *c;
	cfg_geoms(b);
	ref_pages_init(&b->pages);
	ck_assert_int_eq(bld_create(b, g, &b->rec, &b->pages, &b->pt), 0);
}

static void bld_teardown(struct bld *b)
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
START_TEST(one_frame_in_uniform_gib)
{
	static const struct cfg c[3] = {
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 },
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
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
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 0 },
		{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 },
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
				      GMEM_PT_VIEW_PRIVATE, 0, { 0, 0 }, 0 };
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
				      GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 };
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
				      GMEM_PT_VIEW_SHARED, 0, { 0, 0 }, 0 };
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
				       { 0, 0 }, 0 };
	static const struct cfg acc = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
					GMEM_PT_VIEW_ALL, 0, { 0, 0 }, 512 };
	static const struct cfg perm = { GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
					 GMEM_PT_VIEW_ALL, 0, { 0, RW_NX }, 0 };
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
	Suite *s = suite_create("pt_build");
	TCase *tc = tcase_create("differential");

	tcase_set_timeout(tc, 1200);
	tcase_add_loop_test(tc, builders_follow_model, 0, (int)diff_nlayouts);
	suite_add_tcase(s, tc);
	tc = tcase_create("cases");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, one_frame_in_uniform_gib);
	tcase_add_test(tc, regions_reach_builders);
	tcase_add_test(tc, table_alloc_failure_keeps_table);
	tcase_add_test(tc, metadata_failure);
	tcase_add_test(tc, sink_error_partway);
	tcase_add_test(tc, policies);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, custom_allocator_rule);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
