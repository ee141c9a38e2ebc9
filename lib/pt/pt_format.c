/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The formats' properties, and which geometries each can encode. */
#include "pt_table.h"

static const struct pt_format formats[] = {
	[GMEM_PT_FORMAT_GENERIC] = { GMEM_PT_FORMAT_GENERIC, 0, 64, 6, false,
				     0 },
	/* A write needs bit 1 in every entry of its walk (SDM, "EPT
	 * Violations"). */
	[GMEM_PT_FORMAT_EPT] = { GMEM_PT_FORMAT_EPT, 6, 52, 12, true,
				 GMEM_PT_PROT_W },
	/* Stage 2 tables have no permissions (APTable is stage 1's). */
	[GMEM_PT_FORMAT_ARM64_S2] = { GMEM_PT_FORMAT_ARM64_S2, 0xf, 48, 12,
				      true, 0 },
};

static bool same_levels(const struct gmem_pt_geometry *geom,
			enum gmem_pt_arch arch)
{
	struct gmem_pt_geometry ref = { .sz = sizeof(ref) };
	uint32_t i;

	if (gmem_pt_geometry(arch, &ref) || ref.nlevels != geom->nlevels)
		return false;
	for (i = 0; i < ref.nlevels; i++)
		if (ref.level[i].entry_shift != geom->level[i].entry_shift ||
		    ref.level[i].index_bits != geom->level[i].index_bits ||
		    ref.level[i].leaf != geom->level[i].leaf ||
		    ref.level[i].contig_bits != geom->level[i].contig_bits)
			return false;
	return true;
}

/* A real format encodes exactly the levels its architecture has. */
const struct pt_format *pt_format_of(enum gmem_pt_format f,
				     const struct gmem_pt_geometry *geom)
{
	switch (f) {
	case GMEM_PT_FORMAT_GENERIC:
		return &formats[f];
	case GMEM_PT_FORMAT_EPT:
		return same_levels(geom, GMEM_PT_X86_4LEVEL) ||
		       same_levels(geom, GMEM_PT_X86_5LEVEL) ? &formats[f]
							     : NULL;
	case GMEM_PT_FORMAT_ARM64_S2:
		return same_levels(geom, GMEM_PT_ARM64_4K) ||
		       same_levels(geom, GMEM_PT_ARM64_16K) ||
		       same_levels(geom, GMEM_PT_ARM64_64K) ? &formats[f]
							    : NULL;
	}
	return NULL;
}
