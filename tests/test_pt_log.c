/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging against a model.
 *
 * The model keeps, per frame, what the semantics of gmem/pt_log.h are
 * about: logged, written while logging (split), dirty, and the guest's
 * attribute; from them it derives each frame's leaf the slow way (the
 * largest aligned block that is all in the view, uniform where the view
 * goes by attribute, and holds no split frame unless it is the smallest
 * leaf) and its permissions (no write while a logged frame in it is
 * clean). Random starts, stops, write faults, marks, conversions and
 * harvests run on the library and the model together. After each:
 *
 *  - every harvest returned exactly the frames the model says were
 *    dirtied since that frame's last harvest, and errors agree;
 *  - the table (by the public walker) and a mirror kept from the sink's
 *    calls both hold, frame by frame, the model's leaf and permissions:
 *    so no logged clean frame is writable, nothing is split that needs
 *    not be, and after a stop the cover is the minimal one again;
 *  - each batch flushed every leaf that lost access in it.
 *
 * Targeted cases: starting on 4 GiB of 1 GiB leaves protects 4 leaves
 * and splits none, a fault splits only along its path, explain names
 * logging, bad input changes nothing, and allocation failures at every
 * step leave everything as it was.
 *
 * GMEM_LOG_OPS: operations per configuration (6000).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "ref_walk.h"
#include "rng.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES
#define W GMEM_PT_PROT_W
#define RWX GMEM_PT_PROT_RWX

static uint64_t rng = 0x2545f4914f6cdd1d;

static uint64_t rnd(void)
{
	return rng_next(&rng);
}

/* ---- the sink's mirror: per frame, the leaf the sink was told of ---- */

struct mirror {
	uint64_t n;		/* frames */
	uint64_t *lo;		/* first frame of the leaf holding it */
	uint64_t *len;		/* its frames; 0: unmapped */
	uint8_t *prot;
	uint64_t lost_lo, lost_hi;	/* lost access since the last flush */
	uint64_t maps, unmaps, protects, flushes;
	int fail_protects;	/* protects to refuse, from the next one */
};

static void mirror_init(struct mirror *m, uint64_t n)
{
	memset(m, 0, sizeof(*m));
	m->n = n;
	m->lo = calloc(n, sizeof(*m->lo));
	m->len = calloc(n, sizeof(*m->len));
	m->prot = calloc(n, 1);
	m->lost_lo = UINT64_MAX;
	EXPECT(m->lo && m->len && m->prot);
}

static void mirror_fini(struct mirror *m)
{
	free(m->lo);
	free(m->len);
	free(m->prot);
}

static void lost(struct mirror *m, const struct gmem_pt_leaf *leaf)
{
	if (m->lost_lo > leaf->gfn)
		m->lost_lo = leaf->gfn;
	if (m->lost_hi < leaf->gfn + leaf->npages)
		m->lost_hi = leaf->gfn + leaf->npages;
}

static int m_map(void *ctx, const struct gmem_pt_leaf *leaf, uint32_t prot)
{
	struct mirror *m = ctx;
	uint64_t f;

	EXPECT(leaf->gfn + leaf->npages <= m->n);
	for (f = leaf->gfn; f < leaf->gfn + leaf->npages; f++) {
		EXPECT_EQ(m->len[f], 0);
		m->lo[f] = leaf->gfn;
		m->len[f] = leaf->npages;
		m->prot[f] = (uint8_t)prot;
	}
	m->maps++;
	return 0;
}

/* The sink is told of whole leaves it holds. */
static void expect_held(const struct mirror *m, const struct gmem_pt_leaf *leaf)
{
	EXPECT(leaf->gfn + leaf->npages <= m->n);
	EXPECT_EQ(m->lo[leaf->gfn], leaf->gfn);
	EXPECT_EQ(m->len[leaf->gfn], leaf->npages);
}

static int m_unmap(void *ctx, const struct gmem_pt_leaf *leaf)
{
	struct mirror *m = ctx;
	uint64_t f;

	expect_held(m, leaf);
	for (f = leaf->gfn; f < leaf->gfn + leaf->npages; f++)
		m->len[f] = 0;
	lost(m, leaf);
	m->unmaps++;
	return 0;
}

static int m_protect(void *ctx, const struct gmem_pt_leaf *leaf,
		     uint32_t prot)
{
	struct mirror *m = ctx;
	uint64_t f;

	expect_held(m, leaf);
	EXPECT(m->prot[leaf->gfn] != prot);
	if (m->fail_protects) {
		m->fail_protects--;
		return -EIO;
	}
	if (m->prot[leaf->gfn] & ~prot)
		lost(m, leaf);
	for (f = leaf->gfn; f < leaf->gfn + leaf->npages; f++)
		m->prot[f] = (uint8_t)prot;
	m->protects++;
	return 0;
}

static void m_flush(void *ctx, uint64_t gfn, uint64_t npages)
{
	struct mirror *m = ctx;

	if (m->lost_hi)
		EXPECT(gfn <= m->lost_lo && gfn + npages >= m->lost_hi);
	m->lost_lo = UINT64_MAX;
	m->lost_hi = 0;
	m->flushes++;
}

/* ---- the model of logging ---- */

struct lmodel {
	struct model g;		/* the guest's attributes */
	uint64_t n;
	uint8_t *logged, *split, *writable, *dirty;
	struct { uint64_t lo, hi; } r[64];	/* logged ranges, any order */
	int nr;
	/* What a leaf may be: sizes largest first, the smallest last. */
	uint64_t size[8];
	int contig[8];
	int nsizes;
	enum gmem_pt_view view;
	bool stale;		/* changed since the last lm_expect */
	/* Scratch: prefix counts for the derivation. */
	uint32_t *shared_c, *split_c, *clean_c, *logged_c;
};

static void lm_init(struct lmodel *lm, uint64_t n, unsigned int attr,
		    enum gmem_pt_view view, const struct gmem_pt_geometry *geo)
{
	int i;

	memset(lm, 0, sizeof(*lm));
	model_init(&lm->g);
	ck_assert_int_eq(model_add_region(&lm->g, 0, n, attr), 0);
	lm->n = n;
	lm->view = view;
	lm->stale = true;
	lm->logged = calloc(n, 1);
	lm->split = calloc(n, 1);
	lm->writable = calloc(n, 1);
	lm->dirty = calloc(n, 1);
	lm->shared_c = calloc(n + 1, sizeof(uint32_t));
	lm->split_c = calloc(n + 1, sizeof(uint32_t));
	lm->clean_c = calloc(n + 1, sizeof(uint32_t));
	lm->logged_c = calloc(n + 1, sizeof(uint32_t));
	EXPECT(lm->logged && lm->split && lm->writable && lm->dirty && lm->shared_c &&
	       lm->split_c && lm->clean_c && lm->logged_c);
	for (i = 0; i < (int)geo->nlevels; i++) {
		const struct gmem_pt_level *l = &geo->level[i];
		uint64_t one = UINT64_C(1) << (l->entry_shift - 12);

		if (!l->leaf)
			continue;
		if (l->contig_bits) {
			lm->size[lm->nsizes] = one << l->contig_bits;
			lm->contig[lm->nsizes++] = 1;
		}
		lm->size[lm->nsizes] = one;
		lm->contig[lm->nsizes++] = 0;
	}
}

static void lm_fini(struct lmodel *lm)
{
	model_fini(&lm->g);
	free(lm->logged);
	free(lm->split);
	free(lm->writable);
	free(lm->dirty);
	free(lm->shared_c);
	free(lm->split_c);
	free(lm->clean_c);
	free(lm->logged_c);
}

static unsigned int lm_attr(const struct lmodel *lm, uint64_t f)
{
	unsigned int a = 0;

	EXPECT_EQ(model_attr(&lm->g, f, &a), 0);
	return a;
}

static bool lm_in_view(const struct lmodel *lm, uint64_t f)
{
	return lm->view == GMEM_PT_VIEW_ALL ||
	       lm_attr(lm, f) == (lm->view == GMEM_PT_VIEW_SHARED);
}

static void lm_prefix(struct lmodel *lm)
{
	uint64_t f;

	for (f = 0; f < lm->n; f++) {
		lm->shared_c[f + 1] = lm->shared_c[f] + lm_attr(lm, f);
		lm->split_c[f + 1] = lm->split_c[f] + lm->split[f];
		lm->logged_c[f + 1] = lm->logged_c[f] + lm->logged[f];
		lm->clean_c[f + 1] = lm->clean_c[f] +
				     (lm->logged[f] && !lm->writable[f]);
	}
}

#define CNT(a, lo, hi) ((a)[hi] - (a)[lo])

struct expect_leaf {
	uint64_t *lo, *len;
	uint8_t *prot;
};

/* The model's leaves of block [lo, lo + size[i]), frame by frame. */
static void lm_block(const struct lmodel *lm, int i, uint64_t lo,
		     struct expect_leaf *e)
{
	uint64_t n = lm->size[i], hi = lo + n, f, sh;
	bool empty, uniform;

	if (lo >= lm->n)
		return;
	if (hi > lm->n) {	/* it crosses the region's end */
		for (f = lo; f < lm->n; f += lm->size[i + 1])
			lm_block(lm, i + 1, f, e);
		return;
	}
	sh = CNT(lm->shared_c, lo, hi);
	if (lm->view == GMEM_PT_VIEW_ALL) {
		empty = false;
		uniform = true;
	} else {
		uint64_t in = lm->view == GMEM_PT_VIEW_SHARED ? sh : n - sh;

		empty = in == 0;
		uniform = in == n;
	}
	if (empty)
		return;
	if (uniform && (i == lm->nsizes - 1 || !CNT(lm->split_c, lo, hi))) {
		uint8_t prot = RWX;

		if (CNT(lm->logged_c, lo, hi) && CNT(lm->clean_c, lo, hi))
			prot &= (uint8_t)~W;
		for (f = lo; f < hi; f++) {
			e->lo[f] = lo;
			e->len[f] = n;
			e->prot[f] = prot;
		}
		return;
	}
	ck_assert_int_lt(i, lm->nsizes - 1);
	for (f = lo; f < hi; f += lm->size[i + 1])
		lm_block(lm, i + 1, f, e);
}

static void lm_expect(struct lmodel *lm, struct expect_leaf *e)
{
	uint64_t f;

	if (!lm->stale)
		return;
	lm->stale = false;
	memset(e->len, 0, lm->n * sizeof(*e->len));
	lm_prefix(lm);
	for (f = 0; f < lm->n; f += lm->size[0])
		lm_block(lm, 0, f, e);
}

static int lm_range_at(const struct lmodel *lm, uint64_t lo, uint64_t hi)
{
	int i;

	for (i = 0; i < lm->nr; i++)
		if (lm->r[i].lo < hi && lm->r[i].hi > lo)
			return i;
	return -1;
}

/* ---- one configuration ---- */

struct rig {
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt;
	struct gmem_pt_geometry geo;
	struct ref_pages pages;
	struct mirror m;
	struct lmodel lm;
	struct expect_leaf e;
	uint64_t n;
};

static void rig_open(struct rig *r, enum gmem_pt_arch arch,
		     enum gmem_pt_view view, uint64_t n, unsigned int attr,
		     bool nosink)
{
	struct gmem_pt_sink sink = { .sz = sizeof(sink), .map = m_map,
				     .unmap = m_unmap, .protect = m_protect,
				     .flush = m_flush, .ctx = &r->m };
	enum gmem_pt_format fmt = arch == GMEM_PT_ARM64_4K
					  ? GMEM_PT_FORMAT_ARM64_S2
					  : GMEM_PT_FORMAT_EPT;
	GMEM_OPTS(gmem_pool_opts, po, .alloc = &r->ta.ops);
	GMEM_OPTS(gmem_guest_opts, go, .node = -1);
	GMEM_OPTS(gmem_region_opts, ro, .attr = attr);
	struct gmem_pt_page_ops pages;
	GMEM_OPTS(gmem_pt_opts, o, .format = fmt, .pages = &pages,
		  .sink = nosink ? NULL : &sink);

	memset(r, 0, sizeof(*r));
	r->n = n;
	test_alloc_init(&r->ta);
	ref_pages_init(&r->pages);
	ref_pages_ops(&r->pages, &pages);
	r->geo = (struct gmem_pt_geometry){ .sz = sizeof(r->geo) };
	ck_assert_int_eq(gmem_pt_geometry(arch, &r->geo), 0);
	ck_assert_int_eq(gmem_pool_create(&po, &r->pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(r->pool, 64 * GIB, 8 * GIB, 0,
					      NULL), 0);
	ck_assert_int_eq(gmem_guest_create(r->pool, &go, &r->g), 0);
	ck_assert_int_eq(gmem_region_add(r->g, 0, n, &ro), 0);
	mirror_init(&r->m, n);
	lm_init(&r->lm, n, attr, view, &r->geo);
	r->e.lo = calloc(n, sizeof(uint64_t));
	r->e.len = calloc(n, sizeof(uint64_t));
	r->e.prot = calloc(n, 1);
	EXPECT(r->e.lo && r->e.len && r->e.prot);
	ck_assert_int_eq(gmem_pt_create(r->g, view, &r->geo, &o, &r->pt), 0);
}

static void rig_close(struct rig *r)
{
	ck_assert_int_eq(gmem_pt_destroy(r->pt), 0);
	ck_assert_int_eq(gmem_guest_destroy(r->g), 0);
	ck_assert_int_eq(gmem_pool_destroy(r->pool), 0);
	EXPECT_EQ(r->ta.live_objects, 0);
	EXPECT_EQ(r->pages.live, 0);
	ref_pages_fini(&r->pages);
	mirror_fini(&r->m);
	lm_fini(&r->lm);
	free(r->e.lo);
	free(r->e.len);
	free(r->e.prot);
}

struct walked {
	const struct rig *r;
	uint64_t leaves;
};

/* The table's leaves against the model's, frame by frame. */
static int walk_check(void *ctx, const struct gmem_pt_entry *e,
		      uint32_t visit)
{
	struct walked *w = ctx;
	const struct rig *r = w->r;
	uint64_t lo = e->gfn, len = e->npages, f;

	(void)visit;
	if (e->flags & GMEM_PT_LEAF_CONTIG) {
		len <<= r->geo.level[e->level].contig_bits;
		lo &= ~(len - 1);
	}
	if (lo == e->gfn)
		w->leaves++;
	for (f = e->gfn; f < e->gfn + e->npages; f++) {
		EXPECT(f < r->n);
		if (r->e.len[f] != len || r->e.lo[f] != lo ||
		    r->e.prot[f] != e->prot)
			ck_abort_msg("frame %#llx: table leaf [%#llx +%#llx) "
				     "prot %u, model [%#llx +%#llx) prot %u",
				     (unsigned long long)f,
				     (unsigned long long)lo,
				     (unsigned long long)len, e->prot,
				     (unsigned long long)r->e.lo[f],
				     (unsigned long long)r->e.len[f],
				     r->e.prot[f]);
	}
	return 0;
}

/* Table, sink and model agree everywhere; returns the table's leaves. */
static uint64_t full_check(struct rig *r, bool nosink)
{
	struct gmem_pt_walker wk = { .sz = sizeof(wk), .fn = walk_check,
				     .flags = GMEM_PT_VISIT_LEAF };
	struct walked w = { r, 0 };
	uint64_t f;

	lm_expect(&r->lm, &r->e);
	wk.ctx = &w;
	ck_assert_int_eq(gmem_pt_walk(r->pt, 0, r->n, &wk), 0);
	for (f = 0; f < r->n; f++) {
		if (nosink)
			continue;
		EXPECT_EQ(r->m.len[f], r->e.len[f]);
		if (r->e.len[f]) {
			EXPECT_EQ(r->m.lo[f], r->e.lo[f]);
			EXPECT_EQ(r->m.prot[f], r->e.prot[f]);
		}
	}
	return w.leaves;
}

/* ---- operations on both ---- */

static void op_start(struct rig *r, uint64_t lo, uint64_t hi)
{
	struct lmodel *lm = &r->lm;
	int err = gmem_pt_log_start(r->pt, lo, hi - lo);
	uint64_t f;

	if (lm_range_at(lm, lo, hi) >= 0) {
		ck_assert_int_eq(err, -EBUSY);
		return;
	}
	ck_assert_int_eq(err, 0);
	lm->stale = true;
	ck_assert_int_lt(lm->nr, 64);
	lm->r[lm->nr].lo = lo;
	lm->r[lm->nr++].hi = hi;
	for (f = lo; f < hi; f++)
		lm->logged[f] = 1;
}

static void op_stop(struct rig *r, uint64_t lo, uint64_t hi)
{
	struct lmodel *lm = &r->lm;
	int err = gmem_pt_log_stop(r->pt, lo, hi - lo), i, any = 0;
	uint64_t f, hull_lo = UINT64_MAX, hull_hi = 0, top = lm->size[0];

	for (i = 0; i < lm->nr; i++) {
		if (lm->r[i].lo >= hi || lm->r[i].hi <= lo)
			continue;
		if (lm->r[i].lo < lo || lm->r[i].hi > hi) {
			ck_assert_int_eq(err, -EINVAL);
			return;
		}
		any = 1;
	}
	if (!any) {
		ck_assert_int_eq(err, -ENOENT);
		return;
	}
	ck_assert_int_eq(err, 0);
	lm->stale = true;
	for (i = 0; i < lm->nr;) {
		if (lm->r[i].lo >= lo && lm->r[i].hi <= hi) {
			for (f = lm->r[i].lo; f < lm->r[i].hi; f++)
				lm->logged[f] = lm->writable[f] =
					lm->dirty[f] = 0;
			if (hull_lo > lm->r[i].lo)
				hull_lo = lm->r[i].lo;
			if (hull_hi < lm->r[i].hi)
				hull_hi = lm->r[i].hi;
			lm->r[i] = lm->r[--lm->nr];
		} else {
			i++;
		}
	}
	/* Splits go in whole blocks of the largest leaf. */
	for (f = hull_lo & ~(top - 1); f < hull_hi && f < lm->n; f++)
		lm->split[f] = 0;
	for (; f & (top - 1) && f < lm->n; f++)
		lm->split[f] = 0;
}

static void op_fault(struct rig *r, uint64_t gfn)
{
	struct lmodel *lm = &r->lm;
	int err = gmem_pt_log_fault(r->pt, gfn);
	uint64_t lo, hi, f;
	bool logged = false;

	if (test_env_u64("GMEM_LOG_TRACE", 0))
		fprintf(stderr, "  fault %#llx: %d\n", (unsigned long long)gfn,
			err);
	lm_expect(lm, &r->e);
	if (gfn >= lm->n || !r->e.len[gfn]) {
		ck_assert_int_eq(err, -ENOENT);
		return;
	}
	lo = r->e.lo[gfn];
	hi = lo + r->e.len[gfn];
	for (f = lo; f < hi; f++)
		logged |= lm->logged[f];
	if (!logged) {
		ck_assert_int_eq(err, -EINVAL);
		return;
	}
	ck_assert_int_eq(err, 0);
	if (r->e.prot[gfn] & W)
		return;
	lm->stale = true;
	lm->split[gfn] = 1;
	if (lm->logged[gfn])
		lm->writable[gfn] = lm->dirty[gfn] = 1;
}

static void op_mark(struct rig *r, uint64_t lo, uint64_t hi)
{
	uint64_t f;

	ck_assert_int_eq(gmem_pt_log_mark(r->pt, lo, hi - lo), 0);
	r->lm.stale = true;
	for (f = lo; f < hi; f++)
		if (r->lm.logged[f])
			r->lm.dirty[f] = 1;
}

static void converted(void *ctx, const struct gmem_run *run)
{
	struct lmodel *lm = ctx;
	uint64_t f;

	for (f = run->gfn; f < run->gfn + run->npages; f++)
		if (lm->logged[f])
			lm->dirty[f] = 1;
}

static void op_convert(struct rig *r, uint64_t lo, uint64_t hi,
		       unsigned int attr)
{
	uint64_t fail;

	r->lm.stale = true;
	model_changes(&r->lm.g, lo, hi - lo, attr, converted, &r->lm);
	ck_assert_int_eq(model_convert(&r->lm.g, lo, hi - lo, attr, &fail), 0);
	ck_assert_int_eq(gmem_convert(r->g, lo, hi - lo, attr, NULL), 0);
	ck_assert_int_eq(gmem_pt_sync(r->pt), 0);
}

/* A harvest into a bitmap, or a ring of cap entries (0: the bitmap). */
static void op_harvest(struct rig *r, uint64_t lo, uint64_t hi, uint32_t cap)
{
	struct lmodel *lm = &r->lm;
	uint64_t words = (hi - lo + 63) / 64, f, k = 0, *buf;
	GMEM_OPTS(gmem_pt_harvest, h, .ring_cap = cap);

	buf = calloc(cap ? cap : words, sizeof(uint64_t));
	EXPECT(buf);
	if (cap) {
		h.ring = buf;
	} else {
		h.bitmap = buf;
		h.bitmap_bytes = words * 8;
	}
	ck_assert_int_eq(gmem_pt_log_harvest(r->pt, lo, hi - lo, &h), 0);
	lm->stale = true;
	for (f = lo; f < hi; f++) {
		bool got;

		if (cap && k == cap) {
			/* A full ring resumes after its last frame, or
			 * says it is done when nothing dirty is left. */
			uint64_t left = f;

			while (left < hi && !lm->dirty[left])
				left++;
			EXPECT_EQ(h.next, left < hi ? f : hi);
			break;
		}
		if (cap)
			got = k < h.count && buf[k] == f;
		else
			got = buf[(f - lo) / 64] >> ((f - lo) % 64) & 1;
		EXPECT_EQ(got, lm->dirty[f]);
		if (got) {
			lm->dirty[f] = lm->writable[f] = 0;
			k++;
		}
	}
	EXPECT_EQ(h.count, k);
	if (f == hi)
		EXPECT_EQ(h.next, hi);
	free(buf);
}

/* A range of random size, mostly small, sometimes aligned and large. */
static void pick(const struct rig *r, uint64_t *lo, uint64_t *hi)
{
	static const uint64_t sizes[] = { 1, 3, 16, 512, 700, 4096, GIB };
	uint64_t n = sizes[rnd() % 7], a;

	if (n > r->n)
		n = r->n;
	a = rnd() % 2 ? n : 1;
	*lo = (rnd() % (r->n - n + 1)) & ~(a - 1);
	*hi = *lo + n;
}

/* A frame near the logged ranges, where faults do something. */
static uint64_t pick_frame(const struct rig *r)
{
	const struct lmodel *lm = &r->lm;

	if (lm->nr && rnd() % 4) {
		int i = (int)(rnd() % (uint64_t)lm->nr);
		uint64_t span = lm->r[i].hi - lm->r[i].lo + 1024;
		uint64_t f = lm->r[i].lo + rnd() % span;

		f = f > 512 ? f - 512 : f;
		return f < r->n ? f : r->n - 1;
	}
	return rnd() % (r->n + 16);
}

struct lcfg {
	enum gmem_pt_arch arch;
	enum gmem_pt_view view;
	unsigned int attr;
	bool nosink;
};

static const struct lcfg lcfgs[] = {
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GMEM_ATTR_PRIVATE, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_SHARED, GMEM_ATTR_SHARED, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_PRIVATE, GMEM_ATTR_PRIVATE, true },
	{ GMEM_PT_ARM64_4K, GMEM_PT_VIEW_SHARED, GMEM_ATTR_SHARED, false },
};

START_TEST(logging_follows_model)
{
	const struct lcfg *c = &lcfgs[_i];
	uint64_t ops = test_env_u64("GMEM_LOG_OPS", 6000), i, lo, hi;
	bool trace = test_env_u64("GMEM_LOG_TRACE", 0);
	struct rig r;

	rig_open(&r, c->arch, c->view, 2 * GIB, c->attr, c->nosink);
	full_check(&r, c->nosink);
	for (i = 0; i < ops; i++) {
		unsigned int k = (unsigned int)(rnd() % 100);

		pick(&r, &lo, &hi);
		if (trace)
			fprintf(stderr, "%llu: k %u [%#llx, %#llx)\n",
				(unsigned long long)i, k,
				(unsigned long long)lo, (unsigned long long)hi);
		if (k < 6)
			op_start(&r, lo, hi);
		else if (k < 9)
			op_stop(&r, lo, hi);
		else if (k < 55)
			op_fault(&r, pick_frame(&r));
		else if (k < 65)
			op_mark(&r, lo, hi);
		else if (k < 80)
			op_convert(&r, lo, hi, (unsigned int)(rnd() % 2));
		else
			op_harvest(&r, lo, hi,
				   rnd() % 2 ? 0 : (uint32_t)(1 + rnd() % 40));
		if (trace || i % 16 == 0 || i + 1 == ops)
			full_check(&r, c->nosink);
	}
	/* Logging stopped everywhere: the cover is minimal again. */
	op_stop(&r, 0, r.n);
	full_check(&r, c->nosink);
	rig_close(&r);
}
END_TEST


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

/*
 * 4 GiB mapped by 1 GiB leaves: starting logging protects the 4 leaves
 * and splits nothing; a fault splits its 1 GiB into 2 MiB pieces and its
 * 2 MiB into 4 KiB ones, and explain says why; a harvest returns the
 * frame and protects it again; stopping joins back the 4 leaves.
 */
START_TEST(start_on_gib_leaves)
{
	uint64_t f = GIB + 3 * 512 + 7, bm[4] = { 0 };
	struct gmem_pt_stats st0, st;
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	GMEM_OPTS(gmem_pt_harvest, h, .bitmap = bm, .bitmap_bytes = sizeof(bm));
	struct rig r;
	uint32_t k;

	rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, 4 * GIB,
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
	rig_close(&r);
}
END_TEST

/* Everything a caller can see of the builder and its logging. */
struct seen {
	struct gmem_pt_stats st;
	struct gmem_pt_log_stats log;
	uint64_t leaves;
};

static struct seen seen_of(struct rig *r)
{
	struct seen s;

	memset(&s, 0, sizeof(s));
	s.st = pt_stats(r->pt);
	s.log = log_stats(r->pt);
	s.leaves = full_check(r, false);
	return s;
}

static void expect_unchanged(struct rig *r, const struct seen *before)
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
	struct rig r;

	/* The SHARED view of a guest with a private hole. */
	rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_SHARED, GIB,
		 GMEM_ATTR_SHARED, false);
	op_convert(&r, 4096, 4096 + 512, GMEM_ATTR_PRIVATE);
	op_start(&r, 0, 1024);
	op_start(&r, 8192, 8192 + 512);
	op_fault(&r, 5);
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
	rig_close(&r);
}
END_TEST

/* The sink refuses a harvest's protect: the frames of that leaf and
 * after it stay dirty (and writable), and the next harvest takes them. */
START_TEST(sink_refuses_protect)
{
	uint64_t bm[4];
	struct rig r;
	int round;

	rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
		 GMEM_ATTR_PRIVATE, false);
	op_start(&r, 0, 256);
	op_fault(&r, 10);
	op_fault(&r, 200);
	op_mark(&r, 100, 101);
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
	full_check(&r, false);
	rig_close(&r);
}
END_TEST

/* Each call with the Nth allocation failing: -ENOMEM changes nothing,
 * and the call succeeds once allocations do. */
START_TEST(allocation_failures)
{
	int call;

	for (call = 0; call < 5; call++) {
		struct rig r;
		uint64_t n, bm[16];
		int err = -ENOMEM;

		rig_open(&r, GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GIB,
			 GMEM_ATTR_PRIVATE, false);
		if (call > 0)
			op_start(&r, 512, 4096);
		if (call > 1)
			op_fault(&r, 600);
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
						      converted, &r.lm);
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
		rig_close(&r);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pt_log");
	TCase *tc = tcase_create("differential");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, logging_follows_model, 0,
			    (int)(sizeof(lcfgs) / sizeof(lcfgs[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("cases");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, start_on_gib_leaves);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, allocation_failures);
	tcase_add_test(tc, sink_refuses_protect);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
