/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Minimal covers of guests' views: time to compute one (every leaf passed
 * to a callback, as a builder receives them) and its leaves and entries,
 * against the baseline that maps every frame at 4 KiB.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gmem.h>

#include "covers.h"
#include "util.h"

#define GIB GMEM_BLOCK_FRAMES
#define PIECE 512

const struct guest_kind guest_kinds[] = {
	{ "4 GiB uniform", 4, UNIFORM },
	{ "4 GiB, 1 frame/GiB", 4, ONE_FRAME_PER_GIB },
	{ "4 GiB alternating", 4, ALTERNATING },
	{ "16 TiB uniform", 16384, UNIFORM },
	{ "16 TiB, 2 MiB frag/GiB", 16384, ONE_PIECE_PER_GIB },
};
const unsigned int nguest_kinds = sizeof(guest_kinds) / sizeof(guest_kinds[0]);

static const struct { enum gmem_pt_view view; const char *name; } views[] = {
	{ GMEM_PT_VIEW_ALL, "all" },
	{ GMEM_PT_VIEW_PRIVATE, "private" },
	{ GMEM_PT_VIEW_SHARED, "shared" },
};

static const struct { enum gmem_pt_arch arch; const char *name; } geoms[] = {
	{ GMEM_PT_X86_4LEVEL, "x86-64" },
	{ GMEM_PT_ARM64_4K, "arm64-4K" },
};

struct gmem_guest *guest_new(const struct guest_kind *k,
			     struct gmem_pool **pool)
{
	struct gmem_guest *g;
	uint64_t b, f;

	if (gmem_pool_create(NULL, pool) ||
	    gmem_pool_add_frames(*pool, GIB, k->gib * GIB, 0, NULL) ||
	    gmem_guest_create(*pool, NULL, &g) ||
	    gmem_region_add(g, 0, k->gib * GIB, NULL))
		exit(1);
	for (b = 0; b < k->gib; b++) {
		uint64_t base = b * GIB, p = base + rnd() % (GIB / PIECE) * PIECE;

		switch (k->pattern) {
		case ONE_FRAME_PER_GIB:
			gmem_convert(g, base + rnd() % GIB, 1, 1, NULL);
			break;
		case ALTERNATING:
			for (f = base; f < base + GIB; f += 2)
				gmem_convert(g, f, 1, 1, NULL);
			break;
		case ONE_PIECE_PER_GIB:
			for (f = p; f < p + PIECE; f += 2)
				gmem_convert(g, f, 1, 1, NULL);
			break;
		case UNIFORM:
			break;
		}
	}
	return g;
}

static int count_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	uint64_t *frames = ctx;

	*frames += leaf->npages;
	return 0;
}

int covers_run(int runs, struct cover_row *rows, int max)
{
	size_t k, v, gi;
	int n = 0, r;

	for (k = 0; k < nguest_kinds; k++) {
		struct gmem_pool *pool;
		struct gmem_guest *g = guest_new(&guest_kinds[k], &pool);

		for (gi = 0; gi < sizeof(geoms) / sizeof(geoms[0]); gi++) {
			GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);

			if (gmem_pt_geometry(geoms[gi].arch, &geom))
				exit(1);
			for (v = 0; v < 3 && n < max; v++) {
				struct cover_row *row = &rows[n++];
				double t[64];

				for (r = 0; r < runs; r++) {
					GMEM_OPTS(gmem_pt_cover_opts, o, .flags = 0);
					uint64_t frames = 0;
					double t0 = now_ns();

					if (gmem_pt_view_cover(g, views[v].view,
							       &geom, 0,
							       guest_kinds[k].gib * GIB,
							       count_leaf, &frames,
							       &o))
						exit(1);
					t[r] = (now_ns() - t0) / 1e6;
					row->leaves = o.nleaves;
					row->entries = o.nentries;
					row->frames = frames;
				}
				row->guest = guest_kinds[k].name;
				row->view = views[v].name;
				row->geom = geoms[gi].name;
				row->ms = median(t, runs);
			}
		}
		gmem_guest_destroy(g);
		gmem_pool_destroy(pool);
	}
	return n;
}

void covers_print(const struct cover_row *rows, int n, int json)
{
	int i;

	if (json) {
		for (i = 0; i < n; i++)
			printf("%s{\"guest\":\"%s\",\"geometry\":\"%s\","
			       "\"view\":\"%s\",\"ms\":%.4f,\"leaves\":%llu,"
			       "\"entries\":%llu,\"leaves_4k_only\":%llu}",
			       i ? "," : "", rows[i].guest, rows[i].geom,
			       rows[i].view, rows[i].ms,
			       (unsigned long long)rows[i].leaves,
			       (unsigned long long)rows[i].entries,
			       (unsigned long long)rows[i].frames);
		return;
	}
	printf("\nMinimal covers (gmem_pt_view_cover, every leaf to a "
	       "callback), median of the runs:\n");
	printf("%-24s %-9s %-8s %10s %12s %12s %16s\n", "guest", "geometry",
	       "view", "ms", "leaves", "entries", "4 KiB-only leaves");
	for (i = 0; i < n; i++)
		printf("%-24s %-9s %-8s %10.4f %12llu %12llu %16llu\n",
		       rows[i].guest, rows[i].geom, rows[i].view, rows[i].ms,
		       (unsigned long long)rows[i].leaves,
		       (unsigned long long)rows[i].entries,
		       (unsigned long long)rows[i].frames);
}
