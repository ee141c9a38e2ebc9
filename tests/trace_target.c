/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A known sequence of conversions for the gmem-trace test: every class
 * of size, both directions, a refusal, a bad argument, a transaction
 * committed and one aborted, pins and builder syncs, over about two
 * seconds so that gmem-trace shows a screen or two.
 *
 *   trace_target EXPECTED_TRACE [PAUSE_MS]
 *
 * PAUSE_MS (default 700) is the pause after each of the three rounds.
 * It writes the conversions it did, in gmem-bench's trace format, to
 * EXPECTED_TRACE, and on stdout the counts gmem-trace must report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gmem.h>

#define GIB GMEM_BLOCK_FRAMES
#define FRAMES (4 * GIB)

static struct gmem_guest *g;
static FILE *expect;
static unsigned long long done, frames;
static uint64_t rng = 0x5eed;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void must(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "trace_target: %s: %d\n", what, err);
		exit(1);
	}
}

static void convert(uint64_t gfn, uint64_t n, unsigned int attr)
{
	must(gmem_convert(g, gfn, n, attr, NULL), "convert");
	fprintf(expect, "%llu %llu %s\n", (unsigned long long)gfn,
		(unsigned long long)n, attr ? "shared" : "private");
	done++;
	frames += n;
}

static void pause_ms(long ms)
{
	struct timespec d = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&d, NULL);
}

int main(int argc, char **argv)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = GMEM_PT_FORMAT_EPT);
	struct gmem_pool *pool;
	struct gmem_txn *t;
	struct gmem_pt *pt;
	long pause = argc > 2 ? atol(argv[2]) : 700;
	int i;

	if (argc < 2 || !(expect = fopen(argv[1], "w")))
		return 2;
	must(gmem_pool_create(NULL, &pool), "pool");
	must(gmem_pool_add_frames(pool, GIB, FRAMES, 0, NULL), "frames");
	must(gmem_guest_create(pool, NULL, &g), "guest");
	must(gmem_region_add(g, 0, FRAMES, NULL), "region");
	must(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom), "geometry");
	must(gmem_pt_create(g, GMEM_PT_VIEW_SHARED, &geom, &o, &pt), "pt");
	for (int round = 0; round < 3; round++) {
		for (i = 0; i < 400; i++)
			convert(rnd() % FRAMES, 1, (unsigned int)(rnd() & 1));
		for (i = 0; i < 40; i++)
			convert(rnd() % FRAMES / 4 * 4, 4 + rnd() % 400,
				(unsigned int)(rnd() & 1));
		for (i = 0; i < 20; i++)
			convert(rnd() % (FRAMES / 512) * 512, 512,
				(unsigned int)(rnd() & 1));
		convert((uint64_t)round * GIB, GIB, round & 1);
		must(gmem_pt_sync(pt), "sync");
		pause_ms(pause);
	}
	/* A pinned frame refuses; a bad attribute is no refusal. */
	must(gmem_pin(g, 5000, 3, NULL), "pin");
	if (gmem_convert(g, 4096, 1024, GMEM_ATTR_SHARED, NULL) != -EBUSY ||
	    gmem_convert(g, 0, 1, 7, NULL) != -EINVAL)
		return 1;
	must(gmem_unpin(g, 5000, 3, NULL), "unpin");
	must(gmem_convert_prepare(g, 8192, 100, GMEM_ATTR_SHARED, NULL, &t),
	     "prepare");
	must(gmem_convert_commit(t), "commit");
	fprintf(expect, "8192 100 shared\n");
	done++;
	frames += 100;
	must(gmem_convert_prepare(g, 9000, 10, GMEM_ATTR_SHARED, NULL, &t),
	     "prepare");
	must(gmem_convert_abort(t), "abort");
	must(gmem_pt_destroy(pt), "pt destroy");
	must(gmem_guest_destroy(g), "guest destroy");
	must(gmem_pool_destroy(pool), "pool destroy");
	printf("all %llu %llu\n", done, frames);
	return fclose(expect) ? 1 : 0;
}
