/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* ---- a guest on a fresh pool, and its model ---- */

void test_guest_open(struct test_guest *t, uint64_t pool_pfn,
		     uint64_t pool_frames, const struct test_region *regions,
		     unsigned int nregions)
{
	GMEM_OPTS(gmem_pool_opts, po, .alloc = &t->ta.ops);
	unsigned int i;

	test_alloc_init(&t->ta);
	model_init(&t->m);
	ck_assert_int_eq(gmem_pool_create(&po, &t->pool), 0);
	ck_assert_int_eq(gmem_pool_add_frames(t->pool, pool_pfn, pool_frames,
					      0, NULL), 0);
	ck_assert_int_eq(gmem_guest_create(t->pool, NULL, &t->g), 0);
	for (i = 0; i < nregions; i++) {
		GMEM_OPTS(gmem_region_opts, ro, .attr = regions[i].attr);

		ck_assert_int_eq(gmem_region_add(t->g, regions[i].gfn,
						 regions[i].npages, &ro), 0);
		ck_assert_int_eq(model_add_region(&t->m, regions[i].gfn,
						  regions[i].npages,
						  regions[i].attr), 0);
	}
}

void test_guest_close(struct test_guest *t)
{
	ck_assert_int_eq(gmem_guest_destroy(t->g), 0);
	ck_assert_int_eq(gmem_pool_destroy(t->pool), 0);
	ck_assert_int_eq(t->ta.live_bytes, 0);
	model_fini(&t->m);
}

/* ---- a recording sink for builders ---- */

void leaves_push(struct leaves *l, const struct gmem_pt_leaf *leaf,
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

void leaves_free(struct leaves *l)
{
	free(l->v);
	free(l->prot);
	memset(l, 0, sizeof(*l));
}

/* First leaf ending after gfn. */
size_t leaves_find(const struct leaves *l, uint64_t gfn)
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

/* Sorts a list's leaves, with their permissions. */
void leaves_sort(struct leaves *l)
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

bool leaf_same(const struct gmem_pt_leaf *a, const struct gmem_pt_leaf *b)
{
	return a->gfn == b->gfn && a->npages == b->npages && a->pfn == b->pfn &&
	       a->level == b->level && a->flags == b->flags;
}

int leaf_cmp(const void *a, const void *b)
{
	const struct gmem_pt_leaf *x = a, *y = b;

	if (x->gfn != y->gfn)
		return x->gfn < y->gfn ? -1 : 1;
	return x->npages < y->npages ? -1 : x->npages > y->npages;
}

static int rec_fail(struct rec *r)
{
	return ++r->calls == r->fail_at ? -EPROTO : 0;
}

static struct leaves *rec_list(struct rec *r, const struct gmem_pt_leaf *leaf)
{
	return leaf->npages > REC_SPAN ? &r->big : &r->b[REC_BUCKET(leaf->gfn)];
}

/* The held leaf holding gfn, or NULL. */
const struct gmem_pt_leaf *rec_at(const struct rec *r, uint64_t gfn,
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

void rec_free(struct rec *r)
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
void rec_all(const struct rec *r, struct leaves *out)
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
int rec_sync(struct rec *r, struct gmem_pt *pt)
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

void rec_init(struct rec *r, struct gmem_pt_sink *sink)
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


/* ---- /proc/self/smaps ---- */

void smaps_of(const void *p, struct smaps_entry *e)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	int n;

	ck_assert_ptr_nonnull(f);
	memset(e, 0, sizeof(*e));
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		/* A mapping's first line: "lo-hi perms ...". */
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = (uintptr_t)p >= a && (uintptr_t)p < b;
			e->lo = a;
			e->hi = b;
		} else if (in) {
			sscanf(line, "KernelPageSize: %lu kB", &e->page_kib);
			if (sscanf(line, "THPeligible: %d", &n) == 1)
				e->thp_eligible = n == 1;
			if (!strncmp(line, "VmFlags:", 8)) {
				size_t len = strcspn(line + 8, "\n");

				if (len >= sizeof(e->vmflags))
					len = sizeof(e->vmflags) - 1;
				memcpy(e->vmflags, line + 8, len);
				e->vmflags[len] = 0;
			}
		}
	}
	fclose(f);
	ck_assert_msg(in, "no mapping holds %p", p);
}

bool smaps_flag(const struct smaps_entry *e, const char *flag)
{
	const char *s;

	for (s = e->vmflags; (s = strstr(s, flag)); s += 2)
		if ((s == e->vmflags || s[-1] == ' ') &&
		    (s[2] == ' ' || !s[2]))
			return true;
	return false;
}
