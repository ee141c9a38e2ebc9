/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "log_check.h"

/* One stream for the suites and the picks, so that a run repeats. */
static uint64_t rng = 0x2545f4914f6cdd1d;

uint64_t log_rnd(void)
{
	return rng_next(&rng);
}

/* ---- the sink's mirror: per frame, the leaf the sink was told of ---- */


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


void log_rig_open(struct log_rig *r, enum gmem_pt_arch arch,
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
	r->fmt = fmt;
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

void log_rig_close(struct log_rig *r)
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
	const struct log_rig *r;
	uint64_t leaves;
};

/* The table's leaves against the model's, frame by frame. */
static int walk_check(void *ctx, const struct gmem_pt_entry *e,
		      uint32_t visit)
{
	struct walked *w = ctx;
	const struct log_rig *r = w->r;
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

/* A leaf as the hardware reads it: the access the model gives its
 * frames. */
static void hw_check(void *ctx, const struct ref_leaf *leaf)
{
	const struct log_rig *r = ctx;
	uint64_t f;

	for (f = leaf->gfn; f < leaf->gfn + leaf->npages && f < r->n; f++)
		if (r->e.prot[f] != leaf->prot)
			ck_abort_msg("frame %#llx: the hardware reads prot %u, "
				     "model %u", (unsigned long long)f,
				     leaf->prot, r->e.prot[f]);
}

/* Table, sink and model agree everywhere; returns the table's leaves. */
uint64_t log_full_check(struct log_rig *r, bool nosink)
{
	struct gmem_pt_walker wk = { .sz = sizeof(wk), .fn = walk_check,
				     .flags = GMEM_PT_VISIT_LEAF };
	struct walked w = { r, 0 };
	const char *err;
	uint64_t f, pa;

	lm_expect(&r->lm, &r->e);
	/* As the hardware reads the table's memory (a harvest may have
	 * folded tables, pt_log.c), then by the public walk. */
	ck_assert_int_eq(gmem_pt_root(r->pt, NULL, &pa), 0);
	if (r->fmt == GMEM_PT_FORMAT_EPT)
		err = ref_ept_leaves(&r->pages, pa, (int)r->geo.nlevels,
				     hw_check, r);
	else
		err = ref_s2_leaves(&r->pages, pa,
				    r->geo.level[r->geo.nlevels - 1].entry_shift,
				    hw_check, r);
	ck_assert_msg(!err, "%s", err ? err : "");
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

void log_op_start(struct log_rig *r, uint64_t lo, uint64_t hi)
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

void log_op_stop(struct log_rig *r, uint64_t lo, uint64_t hi)
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

void log_op_fault(struct log_rig *r, uint64_t gfn)
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

void log_op_fault_run(struct log_rig *r, uint64_t gfn)
{
	static const uint64_t lens[] = { 64, 128, 512 };
	uint64_t f = gfn & ~UINT64_C(63), end = f + lens[log_rnd() % 3];

	for (; f < end && f < r->lm.n; f++)
		log_op_fault(r, f);
}

void log_op_mark(struct log_rig *r, uint64_t lo, uint64_t hi)
{
	uint64_t f;

	ck_assert_int_eq(gmem_pt_log_mark(r->pt, lo, hi - lo), 0);
	r->lm.stale = true;
	for (f = lo; f < hi; f++)
		if (r->lm.logged[f])
			r->lm.dirty[f] = 1;
}

void log_converted(void *ctx, const struct gmem_run *run)
{
	struct lmodel *lm = ctx;
	uint64_t f;

	for (f = run->gfn; f < run->gfn + run->npages; f++)
		if (lm->logged[f])
			lm->dirty[f] = 1;
}

void log_op_convert(struct log_rig *r, uint64_t lo, uint64_t hi,
		    unsigned int attr)
{
	uint64_t fail;

	r->lm.stale = true;
	model_changes(&r->lm.g, lo, hi - lo, attr, log_converted, &r->lm);
	ck_assert_int_eq(model_convert(&r->lm.g, lo, hi - lo, attr, &fail), 0);
	ck_assert_int_eq(gmem_convert(r->g, lo, hi - lo, attr, NULL), 0);
	ck_assert_int_eq(gmem_pt_sync(r->pt), 0);
}

/* A harvest into a bitmap, or a ring of cap entries (0: the bitmap). */
void log_op_harvest(struct log_rig *r, uint64_t lo, uint64_t hi, uint32_t cap)
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
void log_pick(const struct log_rig *r, uint64_t *lo, uint64_t *hi)
{
	static const uint64_t sizes[] = { 1, 3, 16, 512, 700, 4096, GIB };
	uint64_t n = sizes[log_rnd() % 7], a;

	if (n > r->n)
		n = r->n;
	a = log_rnd() % 2 ? n : 1;
	*lo = (log_rnd() % (r->n - n + 1)) & ~(a - 1);
	*hi = *lo + n;
}

/* A frame near the logged ranges, where faults do something. */
uint64_t log_pick_frame(const struct log_rig *r)
{
	const struct lmodel *lm = &r->lm;

	if (lm->nr && log_rnd() % 4) {
		int i = (int)(log_rnd() % (uint64_t)lm->nr);
		uint64_t span = lm->r[i].hi - lm->r[i].lo + 1024;
		uint64_t f = lm->r[i].lo + log_rnd() % span;

		f = f > 512 ? f - 512 : f;
		return f < r->n ? f : r->n - 1;
	}
	return log_rnd() % (r->n + 16);
}

