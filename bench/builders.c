/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table builders: the time to build a guest's table and what it
 * holds, against mapping every frame at 4 KiB; and the cost of keeping it
 * after single-frame conversions (conversion plus sync, ops emitted),
 * against two baselines run on the same conversions: a table that maps
 * every frame at 4 KiB, and one whose affected 1 GiB is rebuilt from
 * scratch after each conversion.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gmem.h>

#include "baseline_pt.h"
#include "builders.h"
#include "covers.h"
#include "util.h"

#define GIB GMEM_BLOCK_FRAMES
#define PIECE 512

static const struct {
	enum gmem_pt_view view;
	const char *name;
} views[] = {
	{ GMEM_PT_VIEW_ALL, "all" },
	{ GMEM_PT_VIEW_PRIVATE, "private" },
	{ GMEM_PT_VIEW_SHARED, "shared" },
};

static const struct {
	enum gmem_pt_arch arch;
	enum gmem_pt_format fmt;
	const char *name;
} formats[] = {
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT, "EPT" },
	{ GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2, "arm64-S2" },
};

/* A sink that only counts, for the cost of telling each op. */
static uint64_t sink_ops;

static int sink_map(void *ctx, const struct gmem_pt_leaf *leaf, uint32_t prot)
{
	(void)ctx;
	(void)leaf;
	(void)prot;
	sink_ops++;
	return 0;
}

static int sink_unmap(void *ctx, const struct gmem_pt_leaf *leaf)
{
	(void)ctx;
	(void)leaf;
	sink_ops++;
	return 0;
}

static const struct gmem_pt_sink counting_sink = {
	.sz = sizeof(counting_sink), .map = sink_map, .unmap = sink_unmap,
};

static struct gmem_pt *pt_new_sink(struct gmem_guest *g, enum gmem_pt_view view,
				   enum gmem_pt_arch arch,
				   enum gmem_pt_format fmt,
				   const struct gmem_pt_sink *sink)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = fmt, .sink = sink);
	struct gmem_pt *pt;

	if (gmem_pt_geometry(arch, &geom) ||
	    gmem_pt_create(g, view, &geom, &o, &pt))
		exit(1);
	return pt;
}

static struct gmem_pt *pt_new(struct gmem_guest *g, enum gmem_pt_view view,
			      enum gmem_pt_arch arch, enum gmem_pt_format fmt)
{
	return pt_new_sink(g, view, arch, fmt, NULL);
}

/* What mapping a view's frames at 4 KiB takes: a leaf per frame and a
 * table per 2 MiB, 1 GiB and 512 GiB holding any, and the root. */
struct four_k {
	uint64_t frames, tables, last[3];
};

static int count_4k(void *ctx, const struct gmem_pt_leaf *leaf)
{
	static const unsigned int shift[3] = { 9, 18, 27 };
	struct four_k *c = ctx;
	int i;

	c->frames += leaf->npages;
	for (i = 0; i < 3; i++) {
		uint64_t first = leaf->gfn >> shift[i];
		uint64_t last = (leaf->gfn + leaf->npages - 1) >> shift[i];

		c->tables += last - first + 1 - (c->last[i] == first + 1);
		c->last[i] = last + 1;
	}
	return 0;
}

int builds_run(int runs, struct build_row *rows, int max)
{
	unsigned int k, f, v;
	int n = 0, r;

	for (k = 0; k < nguest_kinds; k++) {
		struct gmem_pool *pool;
		struct gmem_guest *g = guest_new(&guest_kinds[k], &pool);

		for (f = 0; f < sizeof(formats) / sizeof(formats[0]); f++)
			for (v = 0; v < 3 && n < max; v++) {
				GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
				GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);
				struct build_row *row = &rows[n++];
				struct four_k c = { 0, 1, { 0, 0, 0 } };
				double t[64];

				for (r = 0; r < runs; r++) {
					double t0 = now_ns();
					struct gmem_pt *pt = pt_new(g, views[v].view,
								    formats[f].arch,
								    formats[f].fmt);

					t[r] = (now_ns() - t0) / 1e6;
					gmem_pt_stats(pt, &st);
					gmem_pt_destroy(pt);
				}
				gmem_pt_geometry(formats[f].arch, &geom);
				gmem_pt_view_cover(g, views[v].view, &geom, 0,
						   guest_kinds[k].gib * GIB,
						   count_4k, &c, NULL);
				*row = (struct build_row){
					guest_kinds[k].name, formats[f].name,
					views[v].name, median(t, runs),
					st.nleaves, st.ntables, st.table_bytes,
					c.frames, c.frames ? c.tables : 1 };
			}
		gmem_guest_destroy(g);
		gmem_pool_destroy(pool);
	}
	return n;
}

void builds_print(const struct build_row *rows, int n, int json)
{
	int i;

	if (json) {
		for (i = 0; i < n; i++)
			printf("%s{\"guest\":\"%s\",\"format\":\"%s\","
			       "\"view\":\"%s\",\"build_ms\":%.4f,\"leaves\":%llu,"
			       "\"tables\":%llu,\"table_bytes\":%llu,"
			       "\"leaves_4k_only\":%llu,\"tables_4k_only\":%llu}",
			       i ? "," : "", rows[i].guest, rows[i].format,
			       rows[i].view, rows[i].ms,
			       (unsigned long long)rows[i].leaves,
			       (unsigned long long)rows[i].tables,
			       (unsigned long long)rows[i].table_bytes,
			       (unsigned long long)rows[i].leaves_4k,
			       (unsigned long long)rows[i].tables_4k);
		return;
	}
	printf("\nPage-table builds (gmem_pt_create: the whole table in "
	       "memory), median of the runs:\n");
	printf("%-24s %-9s %-8s %10s %10s %8s %10s | %12s %10s\n", "guest",
	       "format", "view", "build ms", "leaves", "tables", "KiB",
	       "4K-only leaves", "tables");
	for (i = 0; i < n; i++)
		printf("%-24s %-9s %-8s %10.3f %10llu %8llu %10.1f | %12llu %10llu\n",
		       rows[i].guest, rows[i].format, rows[i].view, rows[i].ms,
		       (unsigned long long)rows[i].leaves,
		       (unsigned long long)rows[i].tables,
		       (double)rows[i].table_bytes / 1024,
		       (unsigned long long)rows[i].leaves_4k,
		       (unsigned long long)rows[i].tables_4k);
}

/* ---- incremental ---- */

enum impl { LIBGMEM, LIBGMEM_SINK, CONVERT_ONLY, FOUR_K, REBUILD_GIB, NIMPL };

static const char *const impl_names[NIMPL] = {
	"libgmem", "libgmem+sink", "convert only", "4K-only", "rebuild 1 GiB",
};

/* The conversions of a workload: frames and attributes. */
struct convs {
	const char *name;
	uint64_t n, *gfn;
	unsigned int *attr;
	uint64_t warm;		/* the first ones, not timed */
};

static void convs_toggle(struct convs *c, uint64_t n)
{
	uint64_t i;

	c->name = "toggle in uniform";
	c->n = n;
	c->warm = 0;
	c->gfn = malloc(n * sizeof(*c->gfn));
	c->attr = malloc(n * sizeof(*c->attr));
	/* A frame made shared, then private again: the guest stays
	 * uniform but for one frame. */
	for (i = 0; i < n; i += 2) {
		c->gfn[i] = c->gfn[i + 1] = rnd() % (4 * GIB);
		c->attr[i] = GMEM_ATTR_SHARED;
		c->attr[i + 1] = GMEM_ATTR_PRIVATE;
	}
}

static void convs_random(struct convs *c, uint64_t warm, uint64_t n)
{
	uint64_t i;

	c->name = "random frames";
	c->n = warm + n;
	c->warm = warm;
	c->gfn = malloc(c->n * sizeof(*c->gfn));
	c->attr = malloc(c->n * sizeof(*c->attr));
	/* Within the first 1 GiB: a fragmented guest, at steady state. */
	for (i = 0; i < c->n; i++) {
		c->gfn[i] = rnd() % GIB;
		c->attr[i] = rnd() & 1;
	}
}

static int write_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	struct bpt *t = ctx;
	int level = leaf->npages == GIB ? 1 : leaf->npages == PIECE ? 2 : 3;

	bpt_map(t, leaf->gfn, leaf->pfn, level);
	return 0;
}

static bool in_view(enum gmem_pt_view view, unsigned int attr)
{
	return view == GMEM_PT_VIEW_ALL || attr == (view == GMEM_PT_VIEW_SHARED);
}

/*
 * One timed pass of impl over the conversions; *ops: leaves mapped and
 * unmapped per timed conversion. The guest: 4 GiB, private.
 */
static double pass(const struct convs *c, enum gmem_pt_view view,
		   enum impl impl, uint64_t limit, double *ops)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);
	const struct guest_kind k = { "4 GiB", 4, UNIFORM };
	struct gmem_pt_geometry geom4k;
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);
	struct gmem_pt *pt = NULL;
	uint64_t i, n = c->n < limit ? c->n : limit, base = 0;
	struct bpt t;
	double t0 = 0;

	gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom);
	geom4k = geom;
	geom4k.level[1].leaf = geom4k.level[2].leaf = 0;
	/* The warm-up shapes the guest before any table exists. */
	for (i = 0; i < c->warm; i++)
		gmem_convert(g, c->gfn[i], 1, c->attr[i], NULL);
	bpt_init(&t);
	if (impl == LIBGMEM || impl == LIBGMEM_SINK)
		pt = pt_new_sink(g, view, GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT,
				 impl == LIBGMEM_SINK ? &counting_sink : NULL);
	else if (impl != CONVERT_ONLY)
		gmem_pt_view_cover(g, view, impl == FOUR_K ? &geom4k : &geom, 0,
				   4 * GIB, write_leaf, &t, NULL);
	if (pt) {
		gmem_pt_stats(pt, &st);
		base = st.maps + st.unmaps;
	} else {
		base = t.leaves + 2 * t.cleared;
	}
	t0 = now_ns();
	for (i = c->warm; i < n; i++) {
		uint64_t f = c->gfn[i];
		unsigned int old;

		gmem_attr_get(g, f, &old);
		gmem_convert(g, f, 1, c->attr[i], NULL);
		switch (impl) {
		case LIBGMEM:
		case LIBGMEM_SINK:
			gmem_pt_sync(pt);
			break;
		case CONVERT_ONLY:
			break;
		case FOUR_K:
			if (old == c->attr[i] || view == GMEM_PT_VIEW_ALL)
				break;
			if (in_view(view, c->attr[i]))
				bpt_map(&t, f, f + GIB, 3);
			else
				bpt_clear(&t, f, f + 1);
			break;
		case REBUILD_GIB:
		case NIMPL:
			bpt_clear(&t, f & ~(GIB - 1), (f & ~(GIB - 1)) + GIB);
			gmem_pt_view_cover(g, view, &geom, f & ~(GIB - 1), GIB,
					   write_leaf, &t, NULL);
			break;
		}
	}
	t0 = now_ns() - t0;
	if (pt) {
		gmem_pt_stats(pt, &st);
		*ops = (double)(st.maps + st.unmaps - base) / (double)(n - c->warm);
		gmem_pt_destroy(pt);
	} else {
		/* Leaves mapped are counted by what is left, plus twice
		 * those cleared (mapped once, removed once). */
		*ops = impl == CONVERT_ONLY
			       ? 0
			       : (double)(t.leaves + 2 * t.cleared - base) /
					 (double)(n - c->warm);
	}
	bpt_fini(&t);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	return t0 / (double)(n - c->warm);
}

/*
 * What a sync adds to a single-frame conversion in the ALL view, where
 * conversions change no leaf: blocks of conversions with and without a
 * sync after each, alternating on one guest and builder so that both see
 * the same state and caches; the median block of each, and the median
 * over the runs. Taking apart
 * separate passes would leave the difference in the noise of the
 * conversions themselves.
 */
double all_view_sync_ns(int runs)
{
	enum { BLOCK = 4096, BLOCKS = 32 };
	const struct guest_kind k = { "4 GiB", 4, UNIFORM };
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);
	struct gmem_pt *pt = pt_new(g, GMEM_PT_VIEW_ALL, GMEM_PT_X86_4LEVEL,
				    GMEM_PT_FORMAT_EPT);
	double with[BLOCKS], without[BLOCKS], diff[64], d;
	uint64_t f[BLOCK];
	int b, i, r;

	for (i = 0; i < BLOCK; i++)
		f[i] = rnd() % GIB;
	for (r = 0; r < runs; r++) {
		for (b = 0; b < 2 * BLOCKS; b++) {
			double t0 = now_ns();

			/* Each block toggles the same frames twice: the guest
			 * ends as it began. */
			for (i = 0; i < 2 * BLOCK; i++) {
				gmem_convert(g, f[i % BLOCK], 1, i < BLOCK, NULL);
				if (b & 1)
					gmem_pt_sync(pt);
			}
			(b & 1 ? with : without)[b / 2] =
				(now_ns() - t0) / (2 * BLOCK);
		}
		diff[r] = median(with, BLOCKS) - median(without, BLOCKS);
	}
	gmem_pt_destroy(pt);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	d = median(diff, runs);
	return d > 0 ? d : 0;
}

int incr_run(int runs, struct incr_row *rows, int max)
{
	struct convs w[2];
	unsigned int k, v, im;
	int n = 0, r;

	convs_toggle(&w[0], 20000);
	convs_random(&w[1], 200000, 100000);
	for (k = 0; k < 2; k++)
		for (v = 0; v < 3; v++) {
			double conv = 0;

			for (im = 0; im < NIMPL && n < max; im++) {
				struct incr_row *row = &rows[n++];
				/* Rebuilding costs as much as the 1 GiB's
				 * cover: fewer conversions. */
				uint64_t limit = im == REBUILD_GIB
							 ? w[k].warm + 400
							 : UINT64_MAX;
				double t[64], ops = 0;

				for (r = 0; r < runs; r++)
					t[r] = pass(&w[k], views[v].view,
						    (enum impl)im, limit, &ops);
				*row = (struct incr_row){
					w[k].name, views[v].name, impl_names[im],
					median(t, runs), ops, 0, 0 };
				if (im == CONVERT_ONLY)
					conv = row->ns_per_conv;
			}
			/* What the sync adds to the conversion, and per op,
			 * for libgmem with and without a sink. */
			for (im = LIBGMEM; im <= LIBGMEM_SINK; im++) {
				struct incr_row *row = &rows[n - NIMPL + im];

				row->sync_ns = row->ns_per_conv - conv;
				if (row->ops_per_conv > 0)
					row->ns_per_op = row->sync_ns /
							 row->ops_per_conv;
			}
		}
	for (k = 0; k < 2; k++) {
		free(w[k].gfn);
		free(w[k].attr);
	}
	return n;
}

void incr_print(const struct incr_row *rows, int n, int json)
{
	int i;

	if (json) {
		for (i = 0; i < n; i++)
			printf("%s{\"workload\":\"%s\",\"view\":\"%s\","
			       "\"impl\":\"%s\",\"ns_per_conversion\":%.2f,"
			       "\"ops_per_conversion\":%.3f,\"sync_ns\":%.2f,"
			       "\"sync_ns_per_op\":%.3f}",
			       i ? "," : "", rows[i].work, rows[i].view,
			       rows[i].impl, rows[i].ns_per_conv,
			       rows[i].ops_per_conv, rows[i].sync_ns,
			       rows[i].ns_per_op);
		return;
	}
	printf("\nIncremental: single-frame conversions on a 4 GiB guest, "
	       "x86 EPT, each followed by its\ntable's update; median of "
	       "the runs. sync ns: libgmem's conversion+sync less the "
	       "conversion alone.\n");
	printf("%-18s %-8s %-14s %12s %12s %10s %10s\n", "workload", "view",
	       "table", "ns/conv", "ops/conv", "sync ns", "ns/op");
	for (i = 0; i < n; i++) {
		printf("%-18s %-8s %-14s %12.1f %12.3f", rows[i].work,
		       rows[i].view, rows[i].impl, rows[i].ns_per_conv,
		       rows[i].ops_per_conv);
		if (!rows[i].sync_ns)
			printf("\n");
		else
			printf(" %10.1f %10.2f\n", rows[i].sync_ns,
			       rows[i].ns_per_op);
	}
	printf("toggle in uniform: a random frame made shared and private "
	       "again, the guest otherwise uniform;\nrandom frames: random "
	       "attributes in 1 GiB, after 200,000 such conversions.\n"
	       "libgmem: the EPT in memory; +sink: also every op told to a "
	       "callback (which each leaf then goes through).\n");
}
