/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Entry formats: how a leaf or a table pointer is written, and read back.
 * Inline, so that the walker and the sync pay no call per entry.
 *
 * EPT (Intel SDM vol. 3, "EPT Translation Mechanism"): bits 2:0 read,
 * write, execute; an entry with none of them is not present. Leaves have
 * the memory type in bits 5:3, and bit 7 set when they map 2 MiB or 1 GiB
 * (in a PT entry bit 7 is ignored). Tables grant RWX so that leaves alone
 * decide the access, but for a table a harvest folded (pt_log.c): write
 * is clear in its entry, which takes it from every leaf under it.
 * Addresses in bits 51:12.
 *
 * arm64 stage 2 (Arm ARM D8, "VMSAv8-64 translation table format"): bit 0
 * valid; bit 1 set for a table, or for a page at the last level, clear
 * for a block. Leaves: MemAttr 5:2, S2AP 7:6 (bit 6 read, bit 7 write),
 * SH 9:8 (inner shareable), AF 10, contiguous 52, XN 54 (with 53 clear:
 * not executable at EL1 or EL0). Output addresses in bits 47:12.
 *
 * Every format writes an empty entry as 0.
 */
#ifndef GMEM_LIB_PT_FORMAT_H
#define GMEM_LIB_PT_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem/pt_build.h>

enum pt_kind { PT_EMPTY, PT_LEAF, PT_TABLE };

/* An entry decoded. */
struct pt_decoded {
	enum pt_kind kind;
	uint64_t addr;		/* leaf: output address; table: its address */
	uint32_t prot;
	bool contig;
};

#define ADDR_MASK(hi) ((UINT64_C(1) << (hi)) - (UINT64_C(1) << 12))

/* The library's own: bits 5:0 flags and prot, the address above. */
#define GEN_VALID (1u << 0)
#define GEN_TABLE (1u << 1)
#define GEN_CONTIG (1u << 2)
#define GEN_PROT_SHIFT 3

static inline uint64_t gen_leaf(uint64_t addr, uint32_t prot, bool contig,
			 uint32_t memtype, unsigned int level, bool last)
{
	(void)memtype;
	(void)level;
	(void)last;
	return addr | GEN_VALID | (contig ? GEN_CONTIG : 0) |
	       (uint64_t)prot << GEN_PROT_SHIFT;
}

static inline uint64_t gen_table(uint64_t addr)
{
	return addr | GEN_VALID | GEN_TABLE;
}

static inline void gen_decode(uint64_t e, unsigned int level, bool last,
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

static inline uint64_t ept_leaf(uint64_t addr, uint32_t prot, bool contig,
			 uint32_t memtype, unsigned int level, bool last)
{
	(void)contig;
	(void)level;
	/* GMEM_PT_PROT_R/W/X are EPT's bits 0/1/2. */
	return addr | prot | (uint64_t)memtype << EPT_MT_SHIFT |
	       (last ? 0 : EPT_LARGE);
}

static inline uint64_t ept_table(uint64_t addr)
{
	return addr | EPT_RWX;
}

static inline void ept_decode(uint64_t e, unsigned int level, bool last,
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

static inline uint64_t s2_leaf(uint64_t addr, uint32_t prot, bool contig,
			uint32_t memtype, unsigned int level, bool last)
{
	(void)level;
	return addr | S2_VALID | (last ? S2_TABLE : 0) |
	       (uint64_t)(memtype & 0xf) << S2_MEMATTR_SHIFT |
	       (prot & GMEM_PT_PROT_R ? S2_AP_R : 0) |
	       (prot & GMEM_PT_PROT_W ? S2_AP_W : 0) | S2_SH_INNER | S2_AF |
	       (contig ? S2_CONTIG : 0) | (prot & GMEM_PT_PROT_X ? 0 : S2_XN);
}

static inline uint64_t s2_table(uint64_t addr)
{
	return addr | S2_VALID | S2_TABLE;
}

static inline void s2_decode(uint64_t e, unsigned int level, bool last,
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

/* level indexes the geometry's level[]; last: it is the last level
 * (arm64 pages differ from blocks). */
static inline uint64_t pt_format_leaf(enum gmem_pt_format f, uint64_t addr,
				      uint32_t prot, bool contig,
				      uint32_t memtype, unsigned int level,
				      bool last)
{
	switch (f) {
	case GMEM_PT_FORMAT_EPT:
		return ept_leaf(addr, prot, contig, memtype, level, last);
	case GMEM_PT_FORMAT_ARM64_S2:
		return s2_leaf(addr, prot, contig, memtype, level, last);
	default:
		return gen_leaf(addr, prot, contig, memtype, level, last);
	}
}

/*
 * Which last-level entries are pages alone (no contiguous hint) that
 * grant write: those with (e & mask) == match, by their bit w. Dirty
 * logging's harvest takes w away in place, a word of frames at a time.
 */
struct pt_page_w {
	uint64_t mask, match, w;
};

static inline struct pt_page_w pt_format_page_w_rule(enum gmem_pt_format f)
{
	switch (f) {
	case GMEM_PT_FORMAT_EPT:	/* RWX are bits 0-2 */
		return (struct pt_page_w){ 0, 0, GMEM_PT_PROT_W };
	case GMEM_PT_FORMAT_ARM64_S2:
		return (struct pt_page_w){ S2_VALID | S2_TABLE | S2_CONTIG,
					   S2_VALID | S2_TABLE, S2_AP_W };
	default:
		return (struct pt_page_w){
			GEN_VALID | GEN_TABLE | GEN_CONTIG, GEN_VALID,
			(uint64_t)GMEM_PT_PROT_W << GEN_PROT_SHIFT };
	}
}

/* The bit of e that lets it write, by rule r; 0 if none. */
static inline uint64_t pt_page_w_of(const struct pt_page_w *r, uint64_t e)
{
	return e & r->w & -(uint64_t)((e & r->mask) == r->match);
}

static inline uint64_t pt_format_table(enum gmem_pt_format f, uint64_t addr)
{
	switch (f) {
	case GMEM_PT_FORMAT_EPT:
		return ept_table(addr);
	case GMEM_PT_FORMAT_ARM64_S2:
		return s2_table(addr);
	default:
		return gen_table(addr);
	}
}

static inline void pt_format_decode(enum gmem_pt_format f, uint64_t e,
				    unsigned int level, bool last,
				    struct pt_decoded *d)
{
	switch (f) {
	case GMEM_PT_FORMAT_EPT:
		ept_decode(e, level, last, d);
		break;
	case GMEM_PT_FORMAT_ARM64_S2:
		s2_decode(e, level, last, d);
		break;
	default:
		gen_decode(e, level, last, d);
		break;
	}
}

#endif
