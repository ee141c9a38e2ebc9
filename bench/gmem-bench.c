/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-bench: conversion and query rates of libgmem against two
 * baselines measured in the same run, on fixed-seed workloads over a
 * 4 GiB guest, a 16 TiB guest over frames only, and optional traces.
 *
 *   gmem-bench [--runs N] [--seed S] [--json] [--csv FILE]
 *              [--trace FILE]... [--sections NAME,...] [--no-fail]
 *
 * Progress goes to stderr, one line per section as it runs. The exit
 * status is 1 when a target is missed (unless --no-fail), 2 on bad
 * usage. doc/bench.md describes the output and the JSON schema.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmem.h>

#include "builders.h"
#include "real.h"
#include "kvm_fault.h"
#include "covers.h"
#include "impl.h"
#include "logging.h"
#include "notify.h"
#include "paging.h"
#include "scaling.h"
#include "util.h"

#define GUEST_FRAMES (UINT64_C(4) << 18)	/* 4 GiB */
#define PIECE 512
#define GIB GMEM_BLOCK_FRAMES
#define MAX_TRACES 8


struct workload {
	const char *name;
	const char *what;
	struct op *ops;
	uint64_t nops;
	int query;		/* ops are range_attr queries */
	const struct workload *before;	/* applied untimed first */
	uint64_t nframes;
};

struct result {
	double ns_per_op;
	uint64_t ops;
	uint64_t meta_bytes;
};

static const struct impl *impls[] = { &impl_gmem, &impl_bitmap, &impl_radix,
				      &impl_bitmap_bare };
#define NIMPL (sizeof(impls) / sizeof(impls[0]))

uint64_t bench_rng = 1;

static struct op *ops_alloc(uint64_t n)
{
	struct op *ops = calloc(n, sizeof(*ops));

	if (!ops) {
		perror("gmem-bench");
		exit(1);
	}
	return ops;
}

/* Toggling conversions of random aligned ranges of "unit" frames: each
 * conversion flips its range, so every one changes state. */
static void gen_toggle(struct workload *w, uint64_t nops, uint64_t unit)
{
	uint64_t units = GUEST_FRAMES / unit, i;
	unsigned char *cur = calloc(units, 1);

	w->ops = ops_alloc(nops);
	w->nops = nops;
	w->nframes = GUEST_FRAMES;
	for (i = 0; i < nops; i++) {
		uint64_t u = rnd() % units;

		cur[u] ^= 1;
		w->ops[i] = (struct op){ .gfn = u * unit, .n = unit,
					 .attr = cur[u] };
	}
	free(cur);
}

static void gen_queries(struct workload *w, uint64_t nops)
{
	uint64_t i;

	w->ops = ops_alloc(nops);
	w->nops = nops;
	w->query = 1;
	w->nframes = GUEST_FRAMES;
	for (i = 0; i < nops; i++)
		w->ops[i] = (struct op){
			.gfn = rnd() % (GUEST_FRAMES / PIECE) * PIECE,
			.n = PIECE };
}

static volatile unsigned int sink;

static void apply(const struct impl *im, void *ctx, const struct workload *w,
		  uint64_t nops)
{
	if (w->query) {
		sink = im->query_all(ctx, w->ops, nops);
	} else if (im->convert_all(ctx, w->ops, nops)) {
		fprintf(stderr, "gmem-bench: %s: conversion failed\n",
			im->name);
		exit(1);
	}
}

/* One timed run on a fresh guest: ns per operation. */
static double run_once(const struct impl *im, const struct workload *w,
		       uint64_t nops, uint64_t *meta_bytes)
{
	void *ctx = im->create(w->nframes);
	double t0, t;

	if (w->before)
		apply(im, ctx, w->before, w->before->nops);
	t0 = now_ns();
	apply(im, ctx, w, nops);
	t = (now_ns() - t0) / (double)nops;
	*meta_bytes = im->meta_bytes(ctx);
	im->destroy(ctx);
	return t;
}

/*
 * The per-frame radix store needs 262,144 updates for one 1 GiB
 * conversion: measure it on a prefix of the operations (the rate per
 * operation is what is compared).
 */
static uint64_t ops_for(const struct impl *im, const struct workload *w)
{
	uint64_t frames = w->nops ? w->ops[0].n : 1, cap;

	if (im != &impl_radix)
		return w->nops;
	cap = (UINT64_C(1) << 24) / frames;
	if (w->query)
		cap /= 4;
	cap = cap < 16 ? 16 : cap;
	return w->nops < cap ? w->nops : cap;
}

struct row {
	const char *workload;
	const char *impl;
	struct result r;
	double ratio;	/* this ns/op over libgmem's */
};

static struct row rows[96];
static int nrows;

/*
 * Runs alternate between the stores (run 1 of each, then run 2 ...), so
 * that a slow spell of a shared machine falls on all of them alike; each
 * store's figure is its median. extra (NULL: none) is one more store.
 */
static void run_workload(const struct workload *w, int runs,
			 const struct impl *extra)
{
	const struct impl *im[NIMPL + 1];
	double t[NIMPL + 1][64];
	struct result res[NIMPL + 1] = { { 0 } };
	size_t i, n = NIMPL;
	int r;

	memcpy(im, impls, sizeof(impls));
	if (extra)
		im[n++] = extra;
	for (r = 0; r < runs; r++)
		for (i = 0; i < n; i++) {
			res[i].ops = ops_for(im[i], w);
			t[i][r] = run_once(im[i], w, res[i].ops,
					   &res[i].meta_bytes);
		}
	for (i = 0; i < n; i++) {
		res[i].ns_per_op = median(t[i], runs);
		rows[nrows++] = (struct row){ w->name, im[i]->name, res[i],
					      res[i].ns_per_op /
						      res[0].ns_per_op };
	}
}

/*
 * What one uncontended locked instruction costs here, the floor of any
 * thread-safe conversion: libgmem's quick path takes one (its slot's
 * STATE hold), a mutex two (lock and unlock).
 */
static double locked_op_ns(int runs)
{
	static _Atomic uint64_t word;
	const uint64_t n = 2000000;
	double t[64], t0;
	int r;

	for (r = 0; r < runs; r++) {
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			atomic_fetch_add_explicit(&word, 1,
						  memory_order_acquire);
		t[r] = (now_ns() - t0) / (double)n;
	}
	return median(t, runs);
}

/* Metadata of a guest of nblocks GiB in a given pattern, through libgmem. */
static uint64_t gmem_meta_pattern(uint64_t nblocks, int alternate)
{
	void *ctx = impl_gmem.create(nblocks * GIB);
	uint64_t f, bytes;

	for (f = 0; alternate && f < GIB; f += 2)
		impl_gmem.convert(ctx, f, 1, GMEM_ATTR_SHARED);
	bytes = impl_gmem.meta_bytes(ctx);
	impl_gmem.destroy(ctx);
	return bytes;
}

struct w5 {
	double create_ms, convert_ms, query_ms, total_ms;
	uint64_t meta_bytes, queries, mixed;
};

/* A 16 TiB guest over frames only: create it, convert one random frame
 * in every 1 GiB, query every 2 MiB range. */
static struct w5 run_w5(void)
{
	const uint64_t frames = UINT64_C(16) << 40 >> GMEM_FRAME_SHIFT;
	GMEM_OPTS(gmem_guest_stats, st, .meta_bytes = 0);
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct w5 res = { 0 };
	double t0 = now_ns(), t1, t2, t3;
	uint64_t gfn;
	unsigned int attr;

	if (gmem_pool_create(NULL, &pool) ||
	    gmem_pool_add_frames(pool, GIB, frames, 0, NULL) ||
	    gmem_guest_create(pool, NULL, &g) ||
	    gmem_region_add(g, 0, frames, NULL))
		exit(1);
	t1 = now_ns();
	for (gfn = 0; gfn < frames; gfn += GIB)
		if (gmem_convert(g, gfn + rnd() % GIB, 1, GMEM_ATTR_SHARED, NULL))
			exit(1);
	t2 = now_ns();
	for (gfn = 0; gfn < frames; gfn += PIECE) {
		gmem_range_attr(g, gfn, PIECE, &attr);
		res.mixed += attr == GMEM_ATTR_MIXED;
		res.queries++;
	}
	t3 = now_ns();
	gmem_guest_stats(g, &st);
	res.meta_bytes = st.meta_bytes;
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	res.create_ms = (t1 - t0) / 1e6;
	res.convert_ms = (t2 - t1) / 1e6;
	res.query_ms = (t3 - t2) / 1e6;
	res.total_ms = (t3 - t0) / 1e6;
	return res;
}

/*
 * One "gfn npages shared|private" per line; # starts a comment. The
 * workload is named (in name) "trace:" and the file's name without its
 * folder and extension.
 */
static int load_trace(const char *path, struct workload *w, char name[64])
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	FILE *f = fopen(path, "r");
	char line[256], word[32];
	uint64_t cap = 1024, end = 0;

	if (!f)
		return -errno;
	w->ops = ops_alloc(cap);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long gfn, n;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%llu %llu %31s", &gfn, &n, word) != 3 || !n ||
		    (strcmp(word, "shared") && strcmp(word, "private"))) {
			fprintf(stderr, "gmem-bench: %s: bad line: %s", path,
				line);
			fclose(f);
			return -EINVAL;
		}
		if (w->nops == cap) {
			cap *= 2;
			w->ops = realloc(w->ops, cap * sizeof(*w->ops));
			if (!w->ops)
				exit(1);
		}
		w->ops[w->nops++] = (struct op){ .gfn = gfn, .n = n,
						 .attr = !strcmp(word, "shared") };
		if (gfn + n > end)
			end = gfn + n;
	}
	fclose(f);
	w->nframes = (end + GIB - 1) / GIB * GIB;
	snprintf(name, 64, "trace:%.*s", (int)strcspn(base, "."), base);
	w->name = name;
	w->what = path;
	return w->nops ? 0 : -EINVAL;
}

static const struct row *find_row(const char *w, const char *impl)
{
	int i;

	for (i = 0; i < nrows; i++)
		if (!strcmp(rows[i].workload, w) && !strcmp(rows[i].impl, impl))
			return &rows[i];
	return NULL;
}

static const struct build_row *find_build_in(const struct build_row *r, int n,
					    const char *guest, const char *view)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(r[i].guest, guest) && !strcmp(r[i].format, "EPT") &&
		    !strcmp(r[i].view, view))
			return &r[i];
	abort();
}

static const struct incr_row *find_incr(const struct incr_row *r, int n,
					const char *work, const char *view,
					const char *impl)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(r[i].work, work) && !strcmp(r[i].view, view) &&
		    !strcmp(r[i].impl, impl))
			return &r[i];
	abort();
}

/* The sections, in the order they run. */
enum section {
	S_WORKLOADS, S_W5, S_METADATA, S_COVERS, S_BUILDS, S_INCREMENTAL,
	S_SYNC, S_LOGGING, S_NOTIFY, S_SCALING, S_PAGING, S_REAL, S_KVM,
	S_TRACES,
	NSECTIONS
};

/* What each measures, and its time and peak memory at the default
 * --runs 9 on a 2-core machine (gmem-bench --sections NAME under
 * /usr/bin/time). */
static const struct {
	const char *name, *what, *cost;
} sections[NSECTIONS] = {
	[S_WORKLOADS] = { "workloads", "W1-W4 against the bitmap and radix stores", "6 s, 45 MiB" },
	[S_W5] = { "w5", "a 16 TiB guest over frames: create, convert, query", "0.2 s, 43 MiB" },
	[S_METADATA] = { "metadata", "bytes per uniform and alternating 1 GiB", "0.1 s, 36 MiB" },
	[S_COVERS] = { "covers", "minimal page-table covers against a per-4 KiB walk", "4 s, 43 MiB" },
	[S_BUILDS] = { "builds", "page-table builds, 4 GiB to 16 TiB guests", "8 s, 301 MiB" },
	[S_INCREMENTAL] = { "incremental", "builder syncs after conversions, with a sink", "61 s, 59 MiB" },
	[S_SYNC] = { "sync", "a sync in the ALL view after a single-frame conversion", "0.2 s, 36 MiB" },
	[S_LOGGING] = { "logging", "dirty logging: start, fault, harvest against eager and flat", "1.2 s, 130 MiB" },
	[S_NOTIFY] = { "notify", "invalidation notifiers: dispatch with 10,000 registered", "3 s, 45 MiB" },
	[S_SCALING] = { "scaling", "conversions and queries from 1 to --threads threads", "1 s, 90 MiB" },
	[S_PAGING] = { "paging", "lookups in each mode, pager ring round trips", "7 s, 174 MiB" },
	[S_REAL] = { "real", "conversions on real memory, guest start per backend", "53 s, 4.0 GiB + 4 GiB hugetlb" },
	[S_KVM] = { "kvm", "KVM attribute ioctls and memory faults", "0.2 s, 37 MiB" },
	[S_TRACES] = { "traces", "replay of the --trace files against the same stores", "1 s per 10,000 lines" },
};

static int section_of(const char *name, size_t len)
{
	for (int i = 0; i < NSECTIONS; i++)
		if (strlen(sections[i].name) == len &&
		    !strncmp(sections[i].name, name, len))
			return i;
	return -1;
}

/* "a,b,c" into want[]; false for a name that is no section. */
static bool parse_sections(const char *list, bool want[NSECTIONS])
{
	memset(want, 0, NSECTIONS * sizeof(*want));
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		int i = section_of(p, len);

		if (i < 0) {
			fprintf(stderr, "gmem-bench: no section \"%.*s\" "
				"(--help lists them)\n", (int)len, p);
			return false;
		}
		want[i] = true;
		p += len + (p[len] == ',');
	}
	return true;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [--runs N] [--seed S] [--json] [--csv FILE]\n"
		   "       [--trace FILE]... [--sections NAME,...] [--no-fail]\n\n"
		   "  --runs N        runs per figure, the median quoted (1..63, "
		   "default 9)\n"
		   "  --seed S        seed of the random workloads\n"
		   "  --json          the results as JSON on stdout (schema: "
		   "doc/bench.md)\n"
		   "  --csv FILE      also the workload rows and targets as CSV "
		   "in FILE\n"
		   "  --trace FILE    replay \"gfn npages shared|private\" lines "
		   "(up to %d files)\n"
		   "  --sections LIST run only these (default: all); targets "
		   "of others are skipped\n"
		   "  --no-fail       exit 0 even when a target is missed\n"
		   "  --threads N     the scaling section's most threads "
		   "(1..%d, default: the CPUs)\n\n"
		   "sections (time and peak memory at --runs 9 on 2 cores):\n",
		prog, MAX_TRACES, SCALING_MAX);
	for (int i = 0; i < NSECTIONS; i++)
		fprintf(f, "  %-12s %-60s %s\n", sections[i].name,
			sections[i].what, sections[i].cost);
}

/* A JSON member holding an array, opened and closed; nothing in text. */
static void json_array(int json, const char *key)
{
	if (json)
		printf("\"%s\":[", key);
}

static void json_array_end(int json)
{
	if (json)
		printf("],");
}

/* Progress on stderr, so that stdout stays the report (or JSON): a line
 * as a section starts and one as it ends. */
static double section_start(enum section s, int n, int total)
{
	fprintf(stderr, "gmem-bench: [%d/%d] %s ...\n", n, total,
		sections[s].name);
	return now_ns();
}

static void section_end(enum section s, int n, int total, double t0)
{
	fprintf(stderr, "gmem-bench: [%d/%d] %s done in %.1f s\n", n, total,
		sections[s].name, (now_ns() - t0) / 1e9);
}

/* The workloads' table, one row per workload and store; the notes on
 * W1-W4 if they ran. */
static void print_rows(bool workloads)
{
	int i, width = 6;

	for (i = 0; i < nrows; i++)
		if ((int)strlen(rows[i].workload) > width)
			width = (int)strlen(rows[i].workload);
	printf("%-*s %-13s %10s %12s %14s %14s %12s\n", width, "work", "store",
	       "ops", "ns/op", "ops/s", "meta bytes", "x libgmem");
	for (i = 0; i < nrows; i++)
		printf("%-*s %-13s %10llu %12.2f %14.0f %14llu %12.2f\n",
		       width, rows[i].workload, rows[i].impl,
		       (unsigned long long)rows[i].r.ops,
		       rows[i].r.ns_per_op, 1e9 / rows[i].r.ns_per_op,
		       (unsigned long long)rows[i].r.meta_bytes,
		       rows[i].ratio);
	printf("\n\"x libgmem\": store's ns/op over libgmem's. trace:NAME "
	       "replays the --trace file NAME (its header says what it is).\n");
	if (!workloads)
		return;
	printf("W1 single frames, W2 2 MiB, W3 1 GiB: toggling "
	       "conversions at random; W4 after W1, W4u on a uniform\n"
	       "guest. The radix store runs a prefix of W3/W4 (per-frame "
	       "work).\n"
	       "bitmap: one lock per guest, range checked, no-op "
	       "conversions skipped (as VMMs keep it);\n"
	       "bitmap-nolock: bare bit operations, not thread-safe, "
	       "for reference only (no target uses it);\n"
	       "no-probes: libgmem built without its USDT probes (W1 "
	       "only): what probes cost with nothing attached.\n");
}

/* A value of NAN: not measured here (the backend is missing, or its
 * section was not asked for), so neither met nor missed. */
struct target {
	const char *what;
	double value, limit;
	int at_most;
};

static int target_met(const struct target *t)
{
	return t->at_most ? t->value <= t->limit : t->value >= t->limit;
}

/* Prints the targets; the number missed. */
static int print_targets(const struct target *t, int n, int json)
{
	int i, missed = 0, skipped = 0;

	if (!json)
		printf("\nTargets\n");
	for (i = 0; i < n; i++) {
		int ok = target_met(&t[i]);
		int skip = isnan(t[i].value);

		missed += !skip && !ok;
		if (json && skip)
			printf("%s{\"target\":\"%s\",\"value\":null,"
			       "\"limit\":%.3f,\"ok\":null}",
			       i ? "," : "", t[i].what, t[i].limit);
		else if (json)
			printf("%s{\"target\":\"%s\",\"value\":%.3f,\"limit\":%.3f,"
			       "\"ok\":%s}",
			       i ? "," : "", t[i].what, t[i].value, t[i].limit,
			       ok ? "true" : "false");
		else if (skip)
			skipped++;
		else
			printf("  %-4s %-44s %12.2f %s %.2f\n", ok ? "ok" : "MISS",
			       t[i].what, t[i].value, t[i].at_most ? "<=" : ">=",
			       t[i].limit);
	}
	if (!json && skipped)
		printf("  skip %d targets of sections not run\n", skipped);
	return missed;
}

/* A CSV field: quoted, since target names hold commas. */
static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/*
 * The workload rows and the targets, one value a line:
 * kind,name,store,metric,value (doc/bench.md). A target not run has
 * an empty value.
 */
static int write_csv(const char *path, const struct target *t, int n)
{
	FILE *f = fopen(path, "w");
	int i;

	if (!f) {
		fprintf(stderr, "gmem-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "kind,name,store,metric,value\n");
	for (i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		fprintf(f, "workload,%s,%s,ns_per_op,%.3f\n", r->workload,
			r->impl, r->r.ns_per_op);
		fprintf(f, "workload,%s,%s,ops,%llu\n", r->workload, r->impl,
			(unsigned long long)r->r.ops);
		fprintf(f, "workload,%s,%s,meta_bytes,%llu\n", r->workload,
			r->impl, (unsigned long long)r->r.meta_bytes);
		fprintf(f, "workload,%s,%s,ratio_to_libgmem,%.4f\n",
			r->workload, r->impl, r->ratio);
	}
	for (i = 0; i < n; i++) {
		static const char *const metric[] = { "value", "limit", "ok" };
		int ok = target_met(&t[i]);

		for (int m = 0; m < 3; m++) {
			fputs("target,", f);
			csv_str(f, t[i].what);
			fprintf(f, ",,%s,", metric[m]);
			if (m == 1)
				fprintf(f, "%.3f", t[i].limit);
			else if (!isnan(t[i].value) && m == 2)
				fprintf(f, "%d", ok);
			else if (!isnan(t[i].value))
				fprintf(f, "%.3f", t[i].value);
			fputc('\n', f);
		}
	}
	return fclose(f) ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "trace", required_argument, NULL, 't' },
		{ "sections", required_argument, NULL, 'S' },
		{ "csv", required_argument, NULL, 'c' },
		{ "no-fail", no_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct workload w[5 + MAX_TRACES] = {
		{ .name = "W1", .what = "1,000,000 single-frame conversions" },
		{ .name = "W2", .what = "100,000 2 MiB conversions" },
		{ .name = "W3", .what = "1,000 1 GiB conversions" },
		{ .name = "W4", .what = "1,000,000 2 MiB uniform? after W1" },
		{ .name = "W4u", .what = "1,000,000 2 MiB uniform? on uniform" },
	};
	const char *trace[MAX_TRACES], *csv = NULL;
	char trace_name[MAX_TRACES][64];
	int ntraces = 0, missed, no_fail = 0, threads = -1;
	uint64_t seed = 0x5eed, uni, alt;
	int runs = 9, json = 0, c, i, nw = 5;
	struct target t[48];
	struct cover_row crow[64];
	struct build_row brow[64];
	struct incr_row irow[40];
	struct w5 w5;
	int nc, nb, ni;
	double all_sync, locked_ns = NAN;
	static struct real_result real;
	static struct kvm_fault_result kvmf;
	static struct log_result logr;
	static struct notify_result notr;
	struct scaling_row srow[SCALING_MAX];
	int ns = 0;
	static struct page_result pager;
	bool want[NSECTIONS], noprobes, sections_given = false;
	int nt = 0, total = 0, n = 0;
	double t0;

	for (i = 0; i < NSECTIONS; i++)
		want[i] = true;
	while ((c = getopt_long(argc, argv, "r:s:jt:S:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			if (ntraces == MAX_TRACES) {
				fprintf(stderr, "gmem-bench: at most %d "
					"--trace files\n", MAX_TRACES);
				return 2;
			}
			trace[ntraces++] = optarg;
			break;
		case 'c':
			csv = optarg;
			break;
		case 'n':
			no_fail = 1;
			break;
		case 'T':
			threads = atoi(optarg);
			break;
		case 'S':
			if (!parse_sections(optarg, want))
				return 2;
			sections_given = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (threads == -1) {	/* not given */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		threads = cpus < 1 ? 1 : cpus > SCALING_MAX ? SCALING_MAX
							    : (int)cpus;
	}
	if (threads < 1 || threads > SCALING_MAX) {
		fprintf(stderr, "gmem-bench: --threads must be 1..%d\n",
			SCALING_MAX);
		return 2;
	}
	if (runs < 1 || runs > 63) {
		fprintf(stderr, "gmem-bench: --runs must be 1..63\n");
		return 2;
	}
	bench_rng = seed ? seed : 1;
	noprobes = impl_noprobes_load();
	gen_toggle(&w[0], 1000000, 1);
	gen_toggle(&w[1], 100000, PIECE);
	gen_toggle(&w[2], 1000, GIB);
	gen_queries(&w[3], 1000000);
	w[3].before = &w[0];
	w[4] = w[3];
	w[4].name = "W4u";
	w[4].what = "1,000,000 2 MiB uniform? on uniform";
	w[4].before = NULL;
	for (i = 0; i < ntraces; i++) {
		int err = load_trace(trace[i], &w[nw], trace_name[i]);

		if (err) {
			fprintf(stderr, "gmem-bench: %s: %s\n", trace[i],
				strerror(-err));
			return 1;
		}
		nw++;
	}
	/* Traces run where there are some: asked for without, an error. */
	if (!ntraces && want[S_TRACES] && sections_given) {
		fprintf(stderr, "gmem-bench: the traces section needs "
			"--trace FILE\n");
		return 2;
	}
	want[S_TRACES] = ntraces > 0 && want[S_TRACES];
	for (i = 0; i < NSECTIONS; i++)
		total += want[i];
	memset(&w5, 0, sizeof(w5));
	uni = alt = 0;
	nc = nb = ni = 0;
	all_sync = NAN;
#define SECTION(s, body)						\
	do {								\
		if (want[s]) {						\
			t0 = section_start(s, ++n, total);		\
			body;						\
			section_end(s, n, total, t0);		\
		}							\
	} while (0)
	/* W1 also through the library built without its probes. */
	SECTION(S_WORKLOADS, for (i = 0; i < 5; i++) run_workload(&w[i], runs,
		i == 0 && noprobes ? &impl_noprobes : NULL);
		locked_ns = locked_op_ns(runs));
	SECTION(S_W5, w5 = run_w5());
	/* The cost of one more uniform block, the guest's own struct apart. */
	SECTION(S_METADATA,
		uni = (gmem_meta_pattern(68, 0) - gmem_meta_pattern(4, 0)) / 64;
		alt = gmem_meta_pattern(1, 1));
	SECTION(S_COVERS, nc = covers_run(runs < 5 ? runs : 5, crow, 64));
	SECTION(S_BUILDS, nb = builds_run(runs < 5 ? runs : 5, brow, 64));
	SECTION(S_INCREMENTAL, ni = incr_run(runs < 5 ? runs : 5, irow, 40));
	SECTION(S_SYNC, all_sync = all_view_sync_ns(runs < 5 ? runs : 5));
	/* Rounds of a harvest and of the notifiers' conversions take a
	 * fraction of a second each: all of them, for steadier medians. */
	SECTION(S_LOGGING, logging_run(runs, &logr));
	SECTION(S_NOTIFY, notify_run(runs, &notr));
	SECTION(S_SCALING, ns = scaling_run(runs, threads, srow));
	SECTION(S_PAGING, paging_run(runs < 5 ? runs : 5, &pager));
	SECTION(S_REAL, real_run(runs < 5 ? runs : 5, &real));
	SECTION(S_KVM, kvm_fault_run(runs < 5 ? runs : 5, &kvmf));
	SECTION(S_TRACES, for (i = 5; i < nw; i++) run_workload(&w[i], runs, NULL));
#undef SECTION

	if (json) {
		printf("{\"version\":%u,\"runs\":%d,\"seed\":%llu,\"results\":[",
		       gmem_version(), runs, (unsigned long long)seed);
		for (i = 0; i < nrows; i++)
			printf("%s{\"workload\":\"%s\",\"impl\":\"%s\",\"ops\":%llu,"
			       "\"ns_per_op\":%.3f,\"ops_per_s\":%.0f,"
			       "\"meta_bytes\":%llu,\"ratio_to_libgmem\":%.3f}",
			       i ? "," : "", rows[i].workload, rows[i].impl,
			       (unsigned long long)rows[i].r.ops,
			       rows[i].r.ns_per_op, 1e9 / rows[i].r.ns_per_op,
			       (unsigned long long)rows[i].r.meta_bytes,
			       rows[i].ratio);
		printf("],");
		if (want[S_WORKLOADS])
			printf("\"locked_op_ns\":%.3f,", locked_ns);
		if (want[S_W5])
			printf("\"w5\":{\"total_ms\":%.3f,\"create_ms\":%.3f,"
			       "\"convert_ms\":%.3f,\"query_ms\":%.3f,"
			       "\"queries\":%llu,\"meta_bytes\":%llu},",
			       w5.total_ms, w5.create_ms, w5.convert_ms,
			       w5.query_ms, (unsigned long long)w5.queries,
			       (unsigned long long)w5.meta_bytes);
		if (want[S_METADATA])
			printf("\"meta_uniform_gib\":%llu,"
			       "\"meta_alternating_gib\":%llu,",
			       (unsigned long long)uni, (unsigned long long)alt);
	} else {
		printf("gmem-bench %u.%u.%u: median of %d runs, seed %#llx, "
		       "4 GiB guest starting private\n\n",
		       gmem_version() >> 16, (gmem_version() >> 8) & 0xff,
		       gmem_version() & 0xff, runs, (unsigned long long)seed);
		if (nrows)
			print_rows(want[S_WORKLOADS]);
		/* A figure, not a target: what else a conversion costs
		 * (the state's lines) does not scale with it, and hosts
		 * differ (5.9 ns on one, 2.4 on another). */
		if (want[S_WORKLOADS])
			printf("One uncontended locked instruction: %.2f ns "
			       "(W2 is %.2f of them). A thread-safe conversion\n"
			       "needs one (libgmem's slot hold); the bitmap's "
			       "mutex takes two.\n", locked_ns,
			       find_row("W2", "libgmem")->r.ns_per_op /
				       locked_ns);
		if (want[S_W5])
			printf("\nW5, 16 TiB guest over frames: %.1f ms (create "
			       "%.1f, 16384 conversions %.1f, %llu queries %.1f), "
			       "metadata %llu bytes\n",
			       w5.total_ms, w5.create_ms, w5.convert_ms,
			       (unsigned long long)w5.queries, w5.query_ms,
			       (unsigned long long)w5.meta_bytes);
		if (want[S_METADATA])
			printf("Metadata per 1 GiB: uniform block %llu bytes, "
			       "alternating frames %llu bytes (bitmap: %llu "
			       "always)\n",
			       (unsigned long long)uni, (unsigned long long)alt,
			       (unsigned long long)(GIB / 8));
	}
	/* The sections that print themselves, in either form. */
	if (want[S_COVERS]) {
		json_array(json, "covers");
		covers_print(crow, nc, json);
		json_array_end(json);
	}
	if (want[S_BUILDS]) {
		json_array(json, "builds");
		builds_print(brow, nb, json);
		json_array_end(json);
	}
	if (want[S_INCREMENTAL]) {
		json_array(json, "incremental");
		incr_print(irow, ni, json);
		json_array_end(json);
	}
	if (want[S_SYNC] && json)
		printf("\"all_view_sync_ns\":%.3f,", all_sync);
	else if (want[S_SYNC])
		printf("A sync after a single-frame conversion in the ALL view "
		       "(no leaf changes): %.1f ns\n", all_sync);
	if (want[S_LOGGING])
		logging_print(&logr, json);
	if (want[S_NOTIFY])
		notify_print(&notr, json);
	if (want[S_SCALING])
		scaling_print(srow, ns, json);
	if (want[S_PAGING])
		paging_print(&pager, json);
	if (want[S_REAL])
		real_print(&real, json);
	if (want[S_KVM])
		kvm_fault_print(&kvmf, json);
	if (json)
		printf("\"targets\":[");
	/* A target whose section did not run is skipped. */
#define TARGET(sec, what, value, limit, at_most)			\
	(t[nt++] = (struct target){ what, want[sec] ? (value) : NAN,	\
				    limit, at_most })
	TARGET(S_WORKLOADS, "W1 ns/op", find_row("W1", "libgmem")->r.ns_per_op, 25, 1);
	TARGET(S_WORKLOADS, "W1 with probes / without (none attached)", noprobes ? 1 / find_row("W1", "no-probes")->ratio : NAN, 1.05, 1);
	TARGET(S_WORKLOADS, "W1 libgmem / bitmap", 1 / find_row("W1", "bitmap")->ratio, 1.3, 1);
	TARGET(S_WORKLOADS, "W2 speed-up over bitmap", find_row("W2", "bitmap")->ratio, 3, 0);
	TARGET(S_WORKLOADS, "W3 speed-up over bitmap", find_row("W3", "bitmap")->ratio, 100, 0);
	TARGET(S_WORKLOADS, "W3 speed-up over radix", find_row("W3", "radix")->ratio, 10000, 0);
	TARGET(S_WORKLOADS, "W4 ns/op", find_row("W4", "libgmem")->r.ns_per_op, 5, 1);
	TARGET(S_WORKLOADS, "W4u ns/op", find_row("W4u", "libgmem")->r.ns_per_op, 5, 1);
	TARGET(S_WORKLOADS, "W4u speed-up over bitmap", find_row("W4u", "bitmap")->ratio, 4, 0);
	TARGET(S_METADATA, "metadata bytes per uniform 1 GiB block", (double)uni, 64, 1);
	TARGET(S_METADATA, "metadata KiB, alternating 1 GiB", (double)alt / 1024, 40, 1);
	TARGET(S_W5, "W5 ms", w5.total_ms, 1000, 1);
	TARGET(S_W5, "W5 metadata MiB", (double)w5.meta_bytes / (1 << 20), 64, 1);
	TARGET(S_BUILDS, "16 TiB uniform build ms (EPT, all)", find_build_in(brow, nb, "16 TiB uniform", "all")->ms, 10, 1);
	TARGET(S_BUILDS, "16 TiB uniform table KiB (EPT, all)", (double)find_build_in(brow, nb, "16 TiB uniform", "all")->table_bytes / 1024, 1024, 1);
	TARGET(S_SYNC, "sync ns per conversion, all view", all_sync, 50, 1);
	TARGET(S_INCREMENTAL, "ns per op emitted (toggle, private)", find_incr(irow, ni, "toggle in uniform", "private", "libgmem")->ns_per_op, 10, 1);
	TARGET(S_INCREMENTAL, "ns per op emitted to a sink (toggle, private)", find_incr(irow, ni, "toggle in uniform", "private", "libgmem+sink")->ns_per_op, 10, 1);
	TARGET(S_REAL, "2 MiB conversion speed-up over per-frame mmap (memfd)", real_conv(&real, "memfd", "2 MiB", false)->base_ns / real_conv(&real, "memfd", "2 MiB", false)->ns, 50, 0);
	TARGET(S_REAL, "2 MiB conversion speed-up over per-frame mmap (guest_memfd)", real_conv(&real, "guest_memfd", "2 MiB", false)->base_ns / real_conv(&real, "guest_memfd", "2 MiB", false)->ns, 50, 0);
	TARGET(S_REAL, "system calls per 2 MiB conversion (memfd)", real_conv(&real, "memfd", "2 MiB", false)->calls, 1, 1);
	TARGET(S_REAL, "guest start, 4 GiB memfd / plain memfd", real_populate_ms(&real, "memfd") / real_populate_ms(&real, "memfd without libgmem"), 1.1, 1);
	TARGET(S_REAL, "guest start, 4 GiB anonymous / plain anonymous", real_populate_ms(&real, "anonymous") / real_populate_ms(&real, "anonymous without libgmem"), 1.1, 1);
	TARGET(S_REAL, "guest start, anonymous: one thread / every CPU", real.populate_threads > 1 ? real_populate_ms(&real, "anonymous") / real_populate_ms(&real, "anonymous, threads") : NAN, 1.3, 0);
	TARGET(S_REAL, "guest start, 4 GiB hugetlb / plain hugetlb", real_populate_ms(&real, "hugetlb 2 MiB") / real_populate_ms(&real, "hugetlb 2 MiB without libgmem"), 1.1, 1);
	TARGET(S_REAL, "library % of kernel time, 4 KiB conversion", 100 * real.lib_ns / real.kernel_ns, 2, 1);
	TARGET(S_KVM, "KVM attribute ioctls off the changed runs", (double)kvmf.off, 0, 1);
	TARGET(S_KVM, "library % of kernel time, memory fault", 100 * kvmf.lib_ns / (kvmf.fault_ns - kvmf.lib_ns), 2, 1);
	TARGET(S_LOGGING, "logging start, 4 GiB of 1 GiB leaves: protects", (double)logr.start_protects, 4, 1);
	TARGET(S_LOGGING, "logging start, 4 GiB of 1 GiB leaves: splits", (double)logr.start_splits, 0, 1);
	TARGET(S_LOGGING, "harvest, 1% random: libgmem / eager", logr.random.by_eager, 1, 1);
	TARGET(S_LOGGING, "harvest, 1% random: libgmem / floor", logr.random.by_floor, 2, 1);
	TARGET(S_LOGGING, "harvest, clustered: speed-up over per-frame", logr.clustered.speedup_frame, 20, 0);
	TARGET(S_LOGGING, "harvest, clustered: speed-up over per-word", logr.clustered.speedup_word, 3, 0);
	TARGET(S_LOGGING, "harvest, clustered: libgmem / floor", logr.clustered.by_floor, 2, 1);
	TARGET(S_NOTIFY, "one accepting listener / one-shot conversion", notr.ns_listener / notr.ns_none, 2, 1);
	TARGET(S_NOTIFY, "notifier dispatch ns, 10,000 notifiers", notr.ns_with - notr.ns_none, 50, 1);
	TARGET(S_SCALING, "conversions, most threads / one, per thread", srow[ns ? ns - 1 : 0].conv_ratio / srow[ns ? ns - 1 : 0].threads, 0.75, 0);
	TARGET(S_SCALING, "queries, most threads / one, per thread", srow[ns ? ns - 1 : 0].query_ratio / srow[ns ? ns - 1 : 0].threads, 0.75, 0);
	TARGET(S_SCALING, "sleeps of threads on slots of their own", (double)srow[ns ? ns - 1 : 0].sleeps, 0, 1);
	TARGET(S_PAGING, "lookup of a present frame, slowest mode, ns", pager.query_ns > pager.try_ns ? (pager.query_ns > pager.wait_ns ? pager.query_ns : pager.wait_ns) : (pager.try_ns > pager.wait_ns ? pager.try_ns : pager.wait_ns), 15, 1);
#undef TARGET
	missed = print_targets(t, nt, json);
	if (json)
		printf("]}\n");
	if (csv && write_csv(csv, t, nt))
		return 1;
	for (i = 0; i < nw; i++)
		if (i != 4)
			free(w[i].ops);
	/* The report first, when both go to one file. */
	fflush(stdout);
	if (missed)
		fprintf(stderr, "gmem-bench: %d of %d targets missed%s\n",
			missed, nt, no_fail ? " (--no-fail: exit 0)" : "");
	return missed && !no_fail ? 1 : 0;
}
