/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging: a 4 GiB guest mapped by 1 GiB leaves (EPT, ALL view),
 * logging started on all of it, then rounds of 1% of its frames written
 * at random (each a write fault) and harvested. Against, in the same
 * run: the eager design (the same builder with every leaf split to
 * 4 KiB when logging starts), and two harvests of a flat per-frame
 * dirty bitmap over a flat 4 KiB table, one testing each frame, the
 * other a word at a time as KVM's dirty-log ioctl does.
 */
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
#define PTE_W UINT64_C(2)

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
static double faults(struct gmem_pt *pt, const uint64_t *at)
{
	double t0 = now_ns();

	for (uint64_t i = 0; i < WRITES; i++)
		if (gmem_pt_log_fault(pt, at[i]))
			exit(1);
	return (now_ns() - t0) / WRITES;
}

/* us to harvest all of the guest into out; the frames taken. */
static double harvest(struct gmem_pt *pt, uint64_t *out, uint64_t *count)
{
	GMEM_OPTS(gmem_pt_harvest, h, .bitmap = out,
		  .bitmap_bytes = FRAMES / 8);
	double t0;

	memset(out, 0, FRAMES / 8);
	t0 = now_ns();
	if (gmem_pt_log_harvest(pt, 0, FRAMES, &h))
		exit(1);
	*count = h.count;
	return (now_ns() - t0) / 1e3;
}

/* The flat design: a dirty bit per frame, a 4 KiB entry per frame. */
struct flat {
	uint64_t *dirty, *pte;
};

static void flat_write(struct flat *f, const uint64_t *at)
{
	for (uint64_t i = 0; i < WRITES; i++) {
		f->dirty[at[i] / 64] |= UINT64_C(1) << (at[i] % 64);
		f->pte[at[i]] |= PTE_W;
	}
}

/* Each frame tested: us. */
static double flat_per_frame(struct flat *f, uint64_t *out)
{
	double t0;

	memset(out, 0, FRAMES / 8);
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

/* A word at a time, zero words skipped: us. */
static double flat_per_word(struct flat *f, uint64_t *out)
{
	double t0;

	memset(out, 0, FRAMES / 8);
	t0 = now_ns();
	for (uint64_t w = 0; w < FRAMES / 64; w++) {
		uint64_t m = f->dirty[w];

		if (!m)
			continue;
		f->dirty[w] = 0;
		out[w] = m;
		for (; m; m &= m - 1)
			f->pte[w * 64 + (uint64_t)__builtin_ctzll(m)] &= ~PTE_W;
	}
	return (now_ns() - t0) / 1e3;
}

void logging_run(int runs, struct log_result *r)
{
	const struct guest_kind k = { "4 GiB uniform", 4, UNIFORM };
	uint64_t *at = malloc(WRITES * sizeof(*at));
	uint64_t *out = malloc(FRAMES / 8), count;
	struct flat flat = { calloc(FRAMES / 64, 8), calloc(FRAMES, 8) };
	double h[63], eh[63], pf[63], pw[63], fl[63], ef[63];
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);
	struct gmem_pt *pt = log_pt(g, 0), *eager = log_pt(g, 1);
	struct gmem_pt_stats s0 = stats(pt), s1;

	if (!at || !out || !flat.dirty || !flat.pte)
		exit(1);
	memset(r, 0, sizeof(*r));
	r->start_ms = start(pt);
	s1 = stats(pt);
	r->start_protects = s1.protects - s0.protects;
	r->start_splits = s1.unmaps - s0.unmaps;
	r->start_leaves = s1.nleaves;
	r->eager_start_ms = start(eager);
	r->eager_leaves = stats(eager).nleaves;
	r->rounds = runs;
	r->writes = WRITES;
	for (int i = 0; i < runs; i++) {
		for (uint64_t j = 0; j < WRITES; j++)
			at[j] = rnd() % FRAMES;
		s0 = stats(pt);
		fl[i] = faults(pt, at);
		s1 = stats(pt);
		if (i == 0) {
			r->leaves_after = s1.nleaves;
			r->splits = s1.unmaps - s0.unmaps;
		}
		ef[i] = faults(eager, at);
		flat_write(&flat, at);
		h[i] = harvest(pt, out, &count);
		r->dirty = count;
		eh[i] = harvest(eager, out, &count);
		/* The flat designs take turns being first. */
		if (i % 2) {
			pf[i] = flat_per_frame(&flat, out);
			flat_write(&flat, at);
			pw[i] = flat_per_word(&flat, out);
		} else {
			pw[i] = flat_per_word(&flat, out);
			flat_write(&flat, at);
			pf[i] = flat_per_frame(&flat, out);
		}
	}
	r->fault_ns = median(fl, runs);
	r->eager_fault_ns = median(ef, runs);
	r->harvest_us = median(h, runs);
	r->eager_harvest_us = median(eh, runs);
	r->flat_frame_us = median(pf, runs);
	r->flat_word_us = median(pw, runs);
	gmem_pt_destroy(eager);
	gmem_pt_destroy(pt);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	free(at);
	free(out);
	free(flat.dirty);
	free(flat.pte);
}

void logging_print(const struct log_result *r, int json)
{
	if (json) {
		printf("\"logging\":{\"start_protects\":%llu,\"start_splits\":%llu,"
		       "\"start_leaves\":%llu,\"start_ms\":%.3f,"
		       "\"eager_leaves\":%llu,\"eager_start_ms\":%.3f,"
		       "\"writes\":%llu,\"dirty\":%llu,\"leaves_after\":%llu,"
		       "\"splits\":%llu,\"fault_ns\":%.1f,\"eager_fault_ns\":%.1f,"
		       "\"harvest_us\":%.1f,\"eager_harvest_us\":%.1f,"
		       "\"flat_frame_us\":%.1f,\"flat_word_us\":%.1f},",
		       (unsigned long long)r->start_protects,
		       (unsigned long long)r->start_splits,
		       (unsigned long long)r->start_leaves, r->start_ms,
		       (unsigned long long)r->eager_leaves, r->eager_start_ms,
		       (unsigned long long)r->writes,
		       (unsigned long long)r->dirty,
		       (unsigned long long)r->leaves_after,
		       (unsigned long long)r->splits, r->fault_ns,
		       r->eager_fault_ns, r->harvest_us, r->eager_harvest_us,
		       r->flat_frame_us, r->flat_word_us);
		return;
	}
	printf("\nDirty logging: a 4 GiB guest mapped by 1 GiB leaves (EPT, ALL "
	       "view), logging started on all\nof it, then %d rounds of %llu "
	       "random write faults (1%% of frames) and a harvest of the guest.\n"
	       "eager: the same builder split to 4 KiB when logging starts. "
	       "flat: a dirty bit and a 4 KiB entry\nper frame, harvested "
	       "testing each frame, or a word at a time (as KVM's dirty log).\n",
	       r->rounds, (unsigned long long)r->writes);
	printf("start            libgmem %llu protects, %llu splits, %llu leaves, "
	       "%.3f ms; eager %llu leaves, %.1f ms\n",
	       (unsigned long long)r->start_protects,
	       (unsigned long long)r->start_splits,
	       (unsigned long long)r->start_leaves, r->start_ms,
	       (unsigned long long)r->eager_leaves, r->eager_start_ms);
	printf("a round's writes libgmem %llu leaves after (%llu splits), "
	       "%.0f ns per fault; eager %llu leaves, %.0f ns per fault\n",
	       (unsigned long long)r->leaves_after,
	       (unsigned long long)r->splits, r->fault_ns,
	       (unsigned long long)r->eager_leaves, r->eager_fault_ns);
	printf("harvest (%llu dirty) libgmem %.1f us; eager %.1f us; flat per "
	       "frame %.1f us (%.1fx), per word %.1f us (%.2fx)\n",
	       (unsigned long long)r->dirty, r->harvest_us, r->eager_harvest_us,
	       r->flat_frame_us, r->flat_frame_us / r->harvest_us,
	       r->flat_word_us, r->flat_word_us / r->harvest_us);
}
