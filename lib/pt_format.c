/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Entry formats: how a leaf or a table pointer is written, and read back.
 *
 * EPT (Intel SDM vol. 3, "EPT Translation Mechanism"): bits 2:0 read,
 * write, execute; an entry with none of them is not present. Leaves have
 * the memory type in bits 5:3, and bit 7 set when they map 2 MiB or 1 GiB
 * (in a PT entry bit 7 is ignored). Tables grant RWX so that leaves alone
 * decide the access. Addresses in bits 51:12.
 *
 * arm64 stage 2 (Arm ARM D8, "VMSAv8-64 translation table format"): bit 0
 * valid; bit 1 set for a table, or for a page at the last level, clear
 * for a block. Leaves: MemAttr 5:2, S2AP 7:6 (bit 6 read, bit 7 write),
 * SH 9:8 (inner shareable), AF 10, contiguous 52, XN 54 (with 53 clear:
 * not executable at EL1 or EL0). Output addresses in bits 47:12.
 */
#include "pt_table.h"

#define ADDR_MASK(hi) ((UINT64_C(1) << (hi)) - (UINT64_C(1) << 12))

/* The library's own: bits 5:0 flags and prot, the address above. */
#define GEN_VALID (1u << 0)
#define GEN_TABLE (1u << 1)
#define GEN_CONTIG (1u << 2)
#define GEN_PROT_SHIFT 3

static uint64_t gen_leaf(uint64_t addr, uint32_t prot, bool contig,
			 uint32_t memtype, unsigned int level, bool last)
{
	(void)memtype;
	(void)level;
	(void)last;
	return addr | GEN_VALID | (contig ? GEN_CONTIG : 0) |
	       (uint64_t)prot << GEN_PROT_SHIFT;
}

static uint64_t gen_table(uint64_t addr)
{
	return addr | GEN_VALID | GEN_TABLE;
}

static void gen_decode(uint64_t e, unsigned int level, bool last,
		       struct pt_decoded *d)
{
	(void)level;
	(void)last;
	d->kind = !(e & GEN_VALID) ? PT_EMPTY
		  : (e & GEN_TABLE) ? PT_TABLE : PT_LEAF;
	d->addr = e & ~UINT64_C(63);
	d->prot = (uint32_t)(e >> GEN_PROT_SHIFT) & GMEM_PT_PROT_RWX;
	d->contig = (e & GEN_CONTIG) != 0;
}

#define EPT_RWX UINT64_C(7)
#define EPT_MT_SHIFT 3
#define EPT_LARGE (UINT64_C(1) << 7)

static uint64_t ept_leaf(uint64_t addr, uint32_t prot, bool contig,
			 uint32_t memtype, unsigned int level, bool last)
{
	(void)contig;
	(void)level;
	/* GMEM_PT_PROT_R/W/X are EPT's bits 0/1/2. */
	return addr | prot | (uint64_t)memtype << EPT_MT_SHIFT |
	       (last ? 0 : EPT_LARGE);
}

static uint64_t ept_table(uint64_t addr)
{
	return addr | EPT_RWX;
}

static void ept_decode(uint64_t e, unsigned int level, bool last,
		       struct pt_decoded *d)
{
	(void)level;
	d->kind = !(e & EPT_RWX) ? PT_EMPTY
		  : (last || (e & EPT_LARGE)) ? PT_LEAF : PT_TABLE;
	d->addr = e & ADDR_MASK(52);
	d->prot = (uint32_t)(e & EPT_RWX);
	d->contig = false;
}

#define S2_VALID UINT64_C(1)
#define S2_TABLE UINT64_C(2)	/* or page, at the last level */
#define S2_MEMATTR_SHIFT 2
#define S2_AP_R (UINT64_C(1) << 6)
#define S2_AP_W (UINT64_C(1) << 7)
#define S2_SH_INNER (UINT64_C(3) << 8)
#define S2_AF (UINT64_C(1) << 10)
#define S2_CONTIG (UINT64_C(1) << 52)
#define S2_XN (UINT64_C(1) << 54)

static uint64_t s2_leaf(uint64_t addr, uint32_t prot, bool contig,
			uint32_t memtype, unsigned int level, bool last)
{
	(void)level;
	return addr | S2_VALID | (last ? S2_TABLE : 0) |
	       (uint64_t)(memtype & 0xf) << S2_MEMATTR_SHIFT |
	       (prot & GMEM_PT_PROT_R ? S2_AP_R : 0) |
	       (prot & GMEM_PT_PROT_W ? S2_AP_W : 0) | S2_SH_INNER | S2_AF |
	       (contig ? S2_CONTIG : 0) | (prot & GMEM_PT_PROT_X ? 0 : S2_XN);
}

static uint64_t s2_table(uint64_t addr)
{
	return addr | S2_VALID | S2_TABLE;
}

static void s2_decode(uint64_t e, unsigned int level, bool last,
		      struct pt_decoded *d)
{
	(void)level;
	d->kind = !(e & S2_VALID) ? PT_EMPTY
		  : (last || !(e & S2_TABLE)) ? PT_LEAF : PT_TABLE;
	d->addr = e & ADDR_MASK(48);
	d->prot = (e & S2_AP_R ? GMEM_PT_PROT_R : 0) |
		  (e & S2_AP_W ? GMEM_PT_PROT_W : 0) |
		  (e & S2_XN ? 0 : GMEM_PT_PROT_X);
	d->contig = (e & S2_CONTIG) != 0;
}

static const struct pt_format formats[] = {
	[GMEM_PT_FORMAT_GENERIC] = { gen_leaf, gen_table, gen_decode, 0, 64, 6,
				     false },
	[GMEM_PT_FORMAT_EPT] = { ept_leaf, ept_table, ept_decode, 6, 52, 12,
				 true },
	[GMEM_PT_FORMAT_ARM64_S2] = { s2_leaf, s2_table, s2_decode, 0xf, 48,
				      12, true },
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
