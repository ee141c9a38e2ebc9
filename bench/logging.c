/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging: a 4 GiB guest mapped by 1 GiB leaves (EPT, ALL view),
 * logging started on all of it, then rounds of 1% of its frames written
 * (each a write fault) and harvested, in two patterns: at random, and
 * clustered in 16 runs each starting on a 2 MiB boundary.
 *
 * Against, in the same run: the eager design (the same builder with
 * every leaf split to 4 KiB when logging starts), and a flat per-frame
 * dirty bitmap over a flat 4 KiB table harvested three ways: testing
 * each frame; a word at a time as KVM's dirty-log ioctl does; and the
 * floor, a word scan and one store per dirty frame, below which no
 * harvest that rewrites an entry per frame can go.
 *
 * Every harvest starts with cold caches. A VMM harvests every few
 * milliseconds while its guest runs, so the entries a harvest edits are
 * not in the cache then; here each would otherwise find warm the lines
 * its own writes left just before, and the contender written last (the
 * eager table) won by up to 1.2x on that alone.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmem.h>

#include "covers.h"
#include "logging.h"
#include "util.h"

#define GIB GMEM_BLOCK_FRAMES
#define FRAMES (4 * GIB)
#define WRITES (FRAMES / 100)
#define RUNS 16
#define PTE_W UINT64_C(2)
#define PTE_RO UINT64_C(5)

static struct gmem_pt *log_pt(struct gmem_guest *g, uint64_t accept)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = GMEM_PT_FORMAT_EPT,
		  .accept_npages = accept);
	struct gmem_pt *pt;

	if (gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom) ||
	    gmem_pt_create(g, GMEM_PT_VIEW_ALL, &geom, &o, &pt))
		exit(1);
	return pt;
}

static struct gmem_pt_stats stats(struct gmem_pt *pt)
{
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);

	if (gmem_pt_stats(pt, &st))
		exit(1);
	return st;
}

/* ms to start logging on all of the guest. */
static double start(struct gmem_pt *pt)
{
	double t0 = now_ns();

	if (gmem_pt_log_start(pt, 0, FRAMES))
		exit(1);
	return (now_ns() - t0) / 1e6;
}

/* ns per write fault of the round's frames. */
static double faults(struct gmem_pt *pt, const uint64_t *at, uint64_t n)
{
	double t0 = now_ns();

	for (uint64_t i = 0; i < n; i++)
		if (gmem_pt_log_fault(pt, at[i]))
			exit(1);
	return (now_ns() - t0) / (double)n;
}

/*
 * The harvests of libgmem's table and of the eager one, by pattern:
 * functions of their own, so that tools/harvest-insns can count the
 * instructions of each under callgrind (--toggle-collect).
 */
static __attribute__((noinline)) int
harvest_random(struct gmem_pt *pt, struct gmem_pt_harvest *h)
{
	return gmem_pt_log_harvest(pt, 0, FRAMES, h);
}

static __attribute__((noinline)) int
harvest_clustered(struct gmem_pt *pt, struct gmem_pt_harvest *h)
{
	return gmem_pt_log_harvest(pt, 0, FRAMES, h);
}

static __attribute__((noinline)) int
harvest_eager_random(struct gmem_pt *pt, struct gmem_pt_harvest *h)
{
	return gmem_pt_log_harvest(pt, 0, FRAMES, h);
}

static __attribute__((noinline)) int
harvest_eager_clustered(struct gmem_pt *pt, struct gmem_pt_harvest *h)
{
	return gmem_pt_log_harvest(pt, 0, FRAMES, h);
}

typedef int harvest_fn(struct gmem_pt *pt, struct gmem_pt_harvest *h);

/* Twice the last-level cache, read line by line before each harvest to
 * push out what the writes of the round left there. */
static struct {
	uint64_t *buf;
	size_t words;
	uint64_t sink;
} evict;

/* The last-level cache this CPU shares: sysfs's, as glibc's
 * _SC_LEVEL3_CACHE_SIZE sums the caches of the whole socket on some
 * parts; 32 MiB where sysfs says nothing. */
static size_t llc_bytes(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
	size_t kib = 0;

	if (f) {
		if (fscanf(f, "%zuK", &kib) != 1)
			kib = 0;
		fclose(f);
	}
	return (kib ? kib : 32768) << 10;
}

static void evict_setup(void)
{
	evict.words = 2 * llc_bytes() / 8;
	evict.buf = malloc(evict.words * 8);
	if (!evict.buf)
		exit(1);
	/* Written once, so that it is memory and not the zero page. */
	memset(evict.buf, 1, evict.words * 8);
}

/* Read, not written: no dirty line of ours is written back while a
 * harvest runs. */
static void caches_cold(void)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < evict.words; i += 8)
		sum += ((volatile uint64_t *)evict.buf)[i];
	evict.sink = sum;
}

/* us to harvest all of the guest into out; the frames taken. */
static double harvest(struct gmem_pt *pt, harvest_fn *fn, uint64_t *out,
		      uint64_t *count)
{
	GMEM_OPTS(gmem_pt_harvest, h, .bitmap = out,
		  .bitmap_bytes = FRAMES / 8);
	double t0;
	int err;

	memset(out, 0, FRAMES / 8);
	caches_cold();
	t0 = now_ns();
	err = fn(pt, &h);
	if (err)
		exit(1);
	*count = h.count;
	return (now_ns() - t0) / 1e3;
}

/* The flat design: a dirty bit per frame, a 4 KiB entry per frame. */
struct flat {
	uint64_t *dirty, *pte;
};

static void flat_write(struct flat *f, const uint64_t *at, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		f->dirty[at[i] / 64] |= UINT64_C(1) << (at[i] % 64);
		f->pte[at[i]] |= PTE_W;
	}
}

/* Each frame tested: us. */
static double flat_per_frame(struct flat *f, uint64_t *out)
{
	double t0;

	memset(out, 0, FRAMES / 8);
	caches_cold();
	t0 = now_ns();
	for (uint64_t i = 0; i < FRAMES; i++) {
		uint64_t bit = UINT64_C(1) << (i % 64);

		if (!(f->dirty[i / 64] & bit))
			continue;
		f->dirty[i / 64] &= ~bit;
		out[i / 64] |= bit;
		f->pte[i] &= ~PTE_W;
	}
	return (now_ns() - t0) / 1e3;
}

/*
 * A word at a time, zero words skipped, each dirty frame's entry
 * protected (as KVM's dirty log), or at the floor, one store to it: us.
 */
static inline double flat_words(struct flat *f, uint64_t *out, bool floor)
{
	double t0;

	memset(out, 0, FRAMES / 8);
	caches_cold();
	t0 = now_ns();
	for (uint64_t w = 0; w < FRAMES / 64; w++) {
		uint64_t m = f->dirty[w];

		if (!m)
			continue;
		f->dirty[w] = 0;
		out[w] = m;
		for (; m; m &= m - 1) {
			uint64_t *pte = &f->pte[w * 64 + (uint64_t)__builtin_ctzll(m)];

			*pte = floor ? PTE_RO : *pte & ~PTE_W;
		}
	}
	return (now_ns() - t0) / 1e3;
}

static double flat_per_word(struct flat *f, uint64_t *out)
{
	return flat_words(f, out, false);
}

static double flat_floor(struct flat *f, uint64_t *out)
{
	return flat_words(f, out, true);
}

/* A round's frames: at random, or RUNS runs from 2 MiB boundaries. */
static void round_frames(uint64_t *at, int clustered)
{
	const uint64_t piece = 512, run = WRITES / RUNS;

	if (!clustered) {
		for (uint64_t j = 0; j < WRITES; j++)
			at[j] = rnd() % FRAMES;
		return;
	}
	for (uint64_t k = 0; k < RUNS; k++) {
		uint64_t from = rnd() % (FRAMES / piece) * piece;

		for (uint64_t j = 0; j < run; j++)
			at[k * run + j] = from + j;
	}
}

/* The flat harvests of one round, each on the round's writes, in an
 * order that turns with the round. */
static void flat_round(struct flat *f, const uint64_t *at, uint64_t n,
		       uint64_t *out, int round, double *frame, double *word,
		       double *floor)
{
	for (int k = 0; k < 3; k++) {
		flat_write(f, at, n);
		switch ((k + round) % 3) {
		case 0:
			*frame = flat_per_frame(f, out);
			break;
		case 1:
			*word = flat_per_word(f, out);
			break;
		default:
			*floor = flat_floor(f, out);
		}
	}
}

static void pattern_run(int runs, int clustered, struct gmem_pt *pt,
			struct gmem_pt *eager, struct flat *flat, uint64_t *at,
			uint64_t *out, struct log_harvest_row *r)
{
	double h[63], eh[63], pf[63], pw[63], fl[63], ef[63], ff[63];
	double re[63], rf[63], sf[63], sw[63];
	uint64_t n = clustered ? WRITES / RUNS * RUNS : WRITES, count;
	harvest_fn *fn = clustered ? harvest_clustered : harvest_random;
	harvest_fn *efn = clustered ? harvest_eager_clustered
				    : harvest_eager_random;
	struct gmem_pt_stats s0, s1;

	memset(r, 0, sizeof(*r));
	r->writes = n;
	for (int i = 0; i < runs; i++) {
		round_frames(at, clustered);
		s0 = stats(pt);
		fl[i] = faults(pt, at, n);
		s1 = stats(pt);
		if (i == 0) {
			r->leaves_after = s1.nleaves;
			r->splits = s1.unmaps - s0.unmaps;
		}
		ef[i] = faults(eager, at, n);
		/* The two tables take turns being harvested first. */
		if (i % 2) {
			eh[i] = harvest(eager, efn, out, &count);
			h[i] = harvest(pt, fn, out, &count);
		} else {
			h[i] = harvest(pt, fn, out, &count);
			r->dirty = count;
			eh[i] = harvest(eager, efn, out, &count);
		}
		flat_round(flat, at, n, out, i, &pf[i], &pw[i], &ff[i]);
		re[i] = h[i] / eh[i];
		rf[i] = h[i] / ff[i];
		sf[i] = pf[i] / h[i];
		sw[i] = pw[i] / h[i];
	}
	r->fault_ns = median(fl, runs);
	r->eager_fault_ns = median(ef, runs);
	r->harvest_us = median(h, runs);
	r->eager_harvest_us = median(eh, runs);
	r->flat_frame_us = median(pf, runs);
	r->flat_word_us = median(pw, runs);
	r->floor_us = median(ff, runs);
	r->by_eager = median(re, runs);
	r->by_floor = median(rf, runs);
	r->speedup_frame = median(sf, runs);
	r->speedup_word = median(sw, runs);
}

void logging_run(int runs, struct log_result *r)
{
	const struct guest_kind k = { "4 GiB uniform", 4, UNIFORM };
	uint64_t *at = malloc(WRITES * sizeof(*at));
	uint64_t *out = malloc(FRAMES / 8);
	struct flat flat = { malloc(FRAMES / 8), malloc(FRAMES * 8) };
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);

	if (!at || !out || !flat.dirty || !flat.pte)
		exit(1);
	/* Touched here: first-touch faults are no harvest's. */
	memset(flat.dirty, 0, FRAMES / 8);
	memset(flat.pte, 0, FRAMES * 8);
	evict_setup();
	memset(r, 0, sizeof(*r));
	r->rounds = runs;
	/* Each pattern on tables of its own, logging started afresh. */
	for (int clustered = 0; clustered < 2; clustered++) {
		struct gmem_pt *pt = log_pt(g, 0), *eager = log_pt(g, 1);
		struct gmem_pt_stats s0 = stats(pt), s1;
		double ms = start(pt);

		s1 = stats(pt);
		if (!clustered) {
			r->start_ms = ms;
			r->start_protects = s1.protects - s0.protects;
			r->start_splits = s1.unmaps - s0.unmaps;
			r->start_leaves = s1.nleaves;
			r->eager_start_ms = start(eager);
			r->eager_leaves = stats(eager).nleaves;
		} else {
			start(eager);
		}
		pattern_run(runs, clustered, pt, eager, &flat, at, out,
			    clustered ? &r->clustered : &r->random);
		gmem_pt_destroy(eager);
		gmem_pt_destroy(pt);
	}
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	free(at);
	free(out);
	free(flat.dirty);
	free(flat.pte);
	free(evict.buf);
}

static void row_json(const char *name, const struct log_harvest_row *h)
{
	printf("\"%s\":{\"writes\":%llu,\"dirty\":%llu,"
	       "\"leaves_after\":%llu,\"splits\":%llu,\"fault_ns\":%.1f,"
	       "\"eager_fault_ns\":%.1f,\"harvest_us\":%.1f,"
	       "\"eager_harvest_us\":%.1f,\"flat_frame_us\":%.1f,"
	       "\"flat_word_us\":%.1f,\"floor_us\":%.1f,\"by_eager\":%.3f,"
	       "\"by_floor\":%.3f,\"speedup_frame\":%.2f,"
	       "\"speedup_word\":%.3f}",
	       name, (unsigned long long)h->writes,
	       (unsigned long long)h->dirty,
	       (unsigned long long)h->leaves_after,
	       (unsigned long long)h->splits, h->fault_ns, h->eager_fault_ns,
	       h->harvest_us, h->eager_harvest_us, h->flat_frame_us,
	       h->flat_word_us, h->floor_us, h->by_eager, h->by_floor,
	       h->speedup_frame, h->speedup_word);
}

static void row_print(const char *name, const struct log_harvest_row *h)
{
	printf("%-9s writes: libgmem %llu leaves after (%llu splits), %.0f ns "
	       "per fault; eager %.0f ns per fault\n",
	       name, (unsigned long long)h->leaves_after,
	       (unsigned long long)h->splits, h->fault_ns, h->eager_fault_ns);
	printf("%-9s harvest of %llu dirty, us: libgmem %.1f (%.1f ns a "
	       "frame), eager %.1f (%.3fx), floor %.1f (%.2fx),\n"
	       "          flat per frame %.1f (%.1fx libgmem), per word %.1f "
	       "(%.2fx); ratios: medians of each round's\n",
	       name, (unsigned long long)h->dirty, h->harvest_us,
	       h->harvest_us * 1e3 / (double)(h->dirty ? h->dirty : 1),
	       h->eager_harvest_us, h->by_eager, h->floor_us, h->by_floor,
	       h->flat_frame_us, h->speedup_frame, h->flat_word_us,
	       h->speedup_word);
}

void logging_print(const struct log_result *r, int json)
{
	if (json) {
		printf("\"logging\":{\"start_protects\":%llu,"
		       "\"start_splits\":%llu,\"start_leaves\":%llu,"
		       "\"start_ms\":%.3f,\"eager_leaves\":%llu,"
		       "\"eager_start_ms\":%.3f,",
		       (unsigned long long)r->start_protects,
		       (unsigned long long)r->start_splits,
		       (unsigned long long)r->start_leaves, r->start_ms,
		       (unsigned long long)r->eager_leaves, r->eager_start_ms);
		row_json("random", &r->random);
		printf(",");
		row_json("clustered", &r->clustered);
		printf("},");
		return;
	}
	printf("\nDirty logging: a 4 GiB guest mapped by 1 GiB leaves (EPT, ALL "
	       "view), logging started on all\nof it, then %d rounds of 1%% of "
	       "its frames written (each a write fault), at random or in %d\n"
	       "runs from 2 MiB boundaries, and a harvest of the guest. eager: "
	       "the same builder split to 4 KiB\nwhen logging starts. flat: a "
	       "dirty bit and a 4 KiB entry per frame, harvested testing each\n"
	       "frame, a word at a time (as KVM's dirty log), or at the floor "
	       "(a word scan, a store per frame).\n",
	       r->rounds, RUNS);
	printf("start     libgmem %llu protects, %llu splits, %llu leaves, "
	       "%.3f ms; eager %llu leaves, %.1f ms\n",
	       (unsigned long long)r->start_protects,
	       (unsigned long long)r->start_splits,
	       (unsigned long long)r->start_leaves, r->start_ms,
	       (unsigned long long)r->eager_leaves, r->eager_start_ms);
	row_print("random", &r->random);
	row_print("clustered", &r->clustered);
}
