/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The built-in page-table geometries, and the check of any geometry. */
#include <errno.h>
#include <string.h>

#include "core/opts.h"
#include "pt.h"

#define L(shift, bits, is_leaf, contig) { shift, bits, is_leaf, contig }

/*
 * Levels root first, from the architecture manuals: x86 EPT/NPT
 * (PML5, PML4, PDPT, PD, PT); arm64 VMSAv8-64 stage 2, whose contiguous
 * bit joins 16 entries with a 4 KiB granule, 32 at level 2 and 128 at
 * level 3 with 16 KiB, 32 with 64 KiB; s390 DAT (region first, second,
 * third, segment, page tables of 256 entries); RISC-V Sv39/48/57, where
 * every level may hold a leaf.
 */
static const struct builtin {
	const char *name;
	uint32_t nlevels;
	struct gmem_pt_level level[GMEM_PT_MAX_LEVELS];
} builtins[] = {
	[GMEM_PT_X86_4LEVEL] = { "x86-64 4-level", 4,
		{ L(39, 9, 0, 0), L(30, 9, 1, 0), L(21, 9, 1, 0),
		  L(12, 9, 1, 0) } },
	[GMEM_PT_X86_5LEVEL] = { "x86-64 5-level", 5,
		{ L(48, 9, 0, 0), L(39, 9, 0, 0), L(30, 9, 1, 0),
		  L(21, 9, 1, 0), L(12, 9, 1, 0) } },
	[GMEM_PT_ARM64_4K] = { "arm64 4K granule", 4,
		{ L(39, 9, 0, 0), L(30, 9, 1, 4), L(21, 9, 1, 4),
		  L(12, 9, 1, 4) } },
	[GMEM_PT_ARM64_16K] = { "arm64 16K granule", 4,
		{ L(47, 1, 0, 0), L(36, 11, 0, 0), L(25, 11, 1, 5),
		  L(14, 11, 1, 7) } },
	[GMEM_PT_ARM64_64K] = { "arm64 64K granule", 3,
		{ L(42, 6, 0, 0), L(29, 13, 1, 5), L(16, 13, 1, 5) } },
	[GMEM_PT_S390] = { "s390", 5,
		{ L(53, 11, 0, 0), L(42, 11, 0, 0), L(31, 11, 1, 0),
		  L(20, 11, 1, 0), L(12, 8, 1, 0) } },
	[GMEM_PT_RISCV_SV39] = { "riscv sv39", 3,
		{ L(30, 9, 1, 0), L(21, 9, 1, 0), L(12, 9, 1, 0) } },
	[GMEM_PT_RISCV_SV48] = { "riscv sv48", 4,
		{ L(39, 9, 1, 0), L(30, 9, 1, 0), L(21, 9, 1, 0),
		  L(12, 9, 1, 0) } },
	[GMEM_PT_RISCV_SV57] = { "riscv sv57", 5,
		{ L(48, 9, 1, 0), L(39, 9, 1, 0), L(30, 9, 1, 0),
		  L(21, 9, 1, 0), L(12, 9, 1, 0) } },
};

int gmem_pt_geometry(enum gmem_pt_arch arch, struct gmem_pt_geometry *geom)
{
	struct gmem_pt_geometry g = { .sz = sizeof(g) };

	if ((unsigned int)arch >= sizeof(builtins) / sizeof(builtins[0]))
		return -EINVAL;
	g.name = builtins[arch].name;
	g.nlevels = builtins[arch].nlevels;
	memcpy(g.level, builtins[arch].level, sizeof(g.level));
	return out_struct(geom, &g, sizeof(g));
}

int pt_sizes_of(const struct gmem_pt_geometry *geom, bool no_contig,
		struct pt_sizes *sizes)
{
	const struct gmem_pt_level *lv;
	unsigned int i;

	if (!geom || geom->sz < sizeof(*geom) ||
	    OPTS_VALID(geom, gmem_pt_geometry) || !geom->nlevels ||
	    geom->nlevels > GMEM_PT_MAX_LEVELS)
		return -EINVAL;
	lv = geom->level;
	if (lv[0].entry_shift + lv[0].index_bits > 64 ||
	    !lv[geom->nlevels - 1].leaf ||
	    lv[geom->nlevels - 1].entry_shift < GMEM_FRAME_SHIFT)
		return -EINVAL;
	sizes->n = 0;
	sizes->space_shift = (uint8_t)(lv[0].entry_shift + lv[0].index_bits -
				       GMEM_FRAME_SHIFT);
	for (i = 0; i < geom->nlevels; i++) {
		if (i + 1 < geom->nlevels &&
		    lv[i].entry_shift != lv[i + 1].entry_shift +
						 lv[i + 1].index_bits)
			return -EINVAL;
		if (lv[i].contig_bits &&
		    (!lv[i].leaf || lv[i].contig_bits > lv[i].index_bits))
			return -EINVAL;
		if (!lv[i].leaf)
			continue;
		/* Levels go down in size, so the list stays largest first. */
		if (lv[i].contig_bits && !no_contig)
			sizes->s[sizes->n++] = (struct pt_leaf_size){
				(uint8_t)(lv[i].entry_shift + lv[i].contig_bits -
					  GMEM_FRAME_SHIFT),
				(uint8_t)i, 1 };
		sizes->s[sizes->n++] = (struct pt_leaf_size){
			(uint8_t)(lv[i].entry_shift - GMEM_FRAME_SHIFT),
			(uint8_t)i, 0 };
	}
	return 0;
}
