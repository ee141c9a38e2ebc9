/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-pt: page-table builders at work on a demo guest, and why a
 * frame's leaf is not larger.
 *
 * The guest: 4 GiB, private, with the frames given by --shared made
 * shared (default: one 4 KiB frame, one 2 MiB piece, half of a 1 GiB).
 * For each view it builds a table in the chosen format, prints what it
 * holds, and explains the leaf of each --explain frame.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmem.h>

#define GIB GMEM_BLOCK_FRAMES

static const char *const view_names[] = { "all", "private", "shared" };

static const char *const blocker_names[] = {
	[GMEM_PT_BLOCK_NONE] = "-",
	[GMEM_PT_BLOCK_MIXED] = "frames outside the view",
	[GMEM_PT_BLOCK_REGION] = "a region's edge",
	[GMEM_PT_BLOCK_BLOCKS] = "blocks not contiguous in host frames",
	[GMEM_PT_BLOCK_PFN] = "host frame not aligned",
	[GMEM_PT_BLOCK_SPACE] = "beyond what the root maps",
	[GMEM_PT_BLOCK_PROT] = "frames with other permissions",
	[GMEM_PT_BLOCK_ACCEPT] = "larger than the accept size",
	[GMEM_PT_BLOCK_NO_PROMOTE] = "split, joins not allowed",
	[GMEM_PT_BLOCK_DIRTY_LOG] = "a frame written while logging",
	[GMEM_PT_BLOCK_PINNED] = "a pinned frame, joins held back",
	[GMEM_PT_BLOCK_PAGING] = "frames paged out",
};

static const struct {
	const char *name;
	enum gmem_pt_arch arch;
	enum gmem_pt_format fmt;
} formats[] = {
	{ "ept", GMEM_PT_X86_4LEVEL, GMEM_PT_FORMAT_EPT },
	{ "ept5", GMEM_PT_X86_5LEVEL, GMEM_PT_FORMAT_EPT },
	{ "arm64", GMEM_PT_ARM64_4K, GMEM_PT_FORMAT_ARM64_S2 },
	{ "s390", GMEM_PT_S390, GMEM_PT_FORMAT_GENERIC },
	{ "riscv", GMEM_PT_RISCV_SV48, GMEM_PT_FORMAT_GENERIC },
};

static void size_str(uint64_t frames, char *buf, size_t len)
{
	uint64_t bytes = frames << GMEM_FRAME_SHIFT;
	const char *unit = "KiB";
	uint64_t v = bytes >> 10;

	if (bytes >= (UINT64_C(1) << 30) && !(bytes & ((UINT64_C(1) << 30) - 1))) {
		v = bytes >> 30;
		unit = "GiB";
	} else if (bytes >= (1u << 20) && !(bytes & ((1u << 20) - 1))) {
		v = bytes >> 20;
		unit = "MiB";
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)v, unit);
}

static void explain(struct gmem_pt *pt, uint64_t gfn)
{
	GMEM_OPTS(gmem_pt_explain, ex, .flags = 0);
	char sz[32];
	uint32_t i;
	int err = gmem_pt_explain_table(pt, gfn, &ex);

	if (err) {
		printf("    frame %#llx: %s\n", (unsigned long long)gfn,
		       err == -ENXIO ? "not in this view" : strerror(-err));
		return;
	}
	size_str(ex.leaf.npages, sz, sizeof(sz));
	printf("    frame %#llx: leaf of %s at %#llx%s\n",
	       (unsigned long long)gfn, sz, (unsigned long long)ex.leaf.gfn,
	       ex.leaf.flags & GMEM_PT_LEAF_CONTIG ? " (contiguous hint)" : "");
	for (i = 1; i < ex.nwhy; i++) {
		size_str(ex.why[i].npages, sz, sizeof(sz));
		printf("      not %-8s %s, at %#llx\n", sz,
		       blocker_names[ex.why[i].blocker],
		       (unsigned long long)ex.why[i].at_gfn);
	}
}

/* A builder of the view in format f, or NULL. */
static struct gmem_pt *build(struct gmem_guest *g, int f, enum gmem_pt_view v)
{
	GMEM_OPTS(gmem_pt_geometry, geom, .nlevels = 0);
	GMEM_OPTS(gmem_pt_opts, o, .format = formats[f].fmt);
	struct gmem_pt *pt;

	if (gmem_pt_geometry(formats[f].arch, &geom) ||
	    gmem_pt_create(g, v, &geom, &o, &pt))
		return NULL;
	return pt;
}

/* The ALL view with dirty logging on over the guest, after a write to
 * the first frame explained: only the path to it splits. */
static int logging_demo(struct gmem_guest *g, int f, const uint64_t *expl,
			int nexpl)
{
	GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);
	struct gmem_pt *pt = build(g, f, GMEM_PT_VIEW_ALL);
	int i;

	if (!pt)
		return -1;
	if (gmem_pt_log_start(pt, 0, 4 * GIB) ||
	    gmem_pt_log_fault(pt, expl[0])) {
		gmem_pt_destroy(pt);
		return -1;
	}
	gmem_pt_stats(pt, &st);
	printf("  all, logging on, frame %#llx written: %llu leaves, %llu "
	       "protects\n", (unsigned long long)expl[0],
	       (unsigned long long)st.nleaves,
	       (unsigned long long)st.protects);
	for (i = 0; i < nexpl; i++)
		explain(pt, expl[i]);
	gmem_pt_destroy(pt);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "shared", required_argument, NULL, 's' },
		{ "explain", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t shared[32][2], expl[32], in_view[3];
	int nshared = 0, nexpl = 0, f = 0, c, v, i;
	struct gmem_pool *pool;
	struct gmem_guest *g;

	while ((c = getopt_long(argc, argv, "f:s:e:h", lopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'f':
			for (f = 0; f < 5 && strcmp(formats[f].name, optarg); f++)
				;
			if (f == 5)
				goto usage;
			break;
		case 's':
			if (nshared == 32)
				goto usage;
			shared[nshared][0] = strtoull(optarg, &end, 0);
			shared[nshared][1] = *end == '+' ? strtoull(end + 1, NULL, 0)
							 : 1;
			nshared++;
			break;
		case 'e':
			if (nexpl == 32)
				goto usage;
			expl[nexpl++] = strtoull(optarg, NULL, 0);
			break;
		default:
usage:
			fprintf(stderr,
				"usage: %s [--format ept|ept5|arm64|s390|riscv]"
				" [--shared GFN[+N]]... [--explain GFN]...\n",
				argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (!nshared) {
		static const uint64_t demo[3][2] = {
			{ 0x12345, 1 }, { GIB + 0x800, 512 }, { 2 * GIB, GIB / 2 },
		};

		memcpy(shared, demo, sizeof(demo));
		nshared = 3;
	}
	if (!nexpl) {
		expl[nexpl++] = 0x12345;
		expl[nexpl++] = 0x12346;
		expl[nexpl++] = GIB + 0x900;
	}
	if (gmem_pool_create(NULL, &pool) ||
	    gmem_pool_add_frames(pool, 16 * GIB, 4 * GIB, 0, NULL) ||
	    gmem_guest_create(pool, NULL, &g) ||
	    gmem_region_add(g, 0, 4 * GIB, NULL)) {
		fprintf(stderr, "gmem-pt: cannot set up the guest\n");
		return 1;
	}
	for (i = 0; i < nshared; i++) {
		int err = gmem_convert(g, shared[i][0], shared[i][1],
				       GMEM_ATTR_SHARED, NULL);

		if (err) {
			fprintf(stderr, "gmem-pt: --shared %#llx+%llu: %s\n",
				(unsigned long long)shared[i][0],
				(unsigned long long)shared[i][1], strerror(-err));
			return 1;
		}
	}
	{
		GMEM_OPTS(gmem_guest_stats, gs, .nregions = 0);

		gmem_guest_stats(g, &gs);
		in_view[GMEM_PT_VIEW_ALL] = 4 * GIB;
		in_view[GMEM_PT_VIEW_SHARED] = gs.shared_frames;
		in_view[GMEM_PT_VIEW_PRIVATE] = 4 * GIB - gs.shared_frames;
	}
	printf("4 GiB guest, %s tables\n", formats[f].name);
	for (v = GMEM_PT_VIEW_ALL; v <= GMEM_PT_VIEW_SHARED; v++) {
		GMEM_OPTS(gmem_pt_stats, st, .nleaves = 0);
		struct gmem_pt *pt = build(g, f, (enum gmem_pt_view)v);

		if (!pt) {
			fprintf(stderr, "gmem-pt: cannot build the tables\n");
			return 1;
		}
		gmem_pt_stats(pt, &st);
		printf("  %-7s %8llu leaves, %4llu tables (%llu KiB); at 4 KiB "
		       "only: %llu leaves\n",
		       view_names[v], (unsigned long long)st.nleaves,
		       (unsigned long long)st.ntables,
		       (unsigned long long)st.table_bytes / 1024,
		       (unsigned long long)in_view[v]);
		for (i = 0; i < nexpl; i++)
			explain(pt, expl[i]);
		gmem_pt_destroy(pt);
	}
	if (logging_demo(g, f, expl, nexpl)) {
		fprintf(stderr, "gmem-pt: cannot log the ALL view\n");
		return 1;
	}
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	return 0;
}
