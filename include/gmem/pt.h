/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table geometries and minimal covers.
 *
 * A geometry describes a page-table format by its levels, root first:
 * how much one entry maps, how many entries one table holds, whether an
 * entry may map memory itself (a leaf: page or block) or only point to
 * the next table, and how many adjacent leaf entries a contiguous hint
 * joins into one TLB entry (arm64's contiguous bit). The built-in ones
 * come from gmem_pt_geometry(); an embedder may describe its own (an
 * IOMMU's page sizes, say) in the same struct.
 *
 * The cover of a range mapped linearly (guest frame gfn + i to host frame
 * pfn + i) is the set of leaves with the fewest entries: each leaf
 * aligned to its size in both guest and host frames. Leaf sizes of a
 * geometry are powers of two, so taking at each step the largest leaf
 * that is aligned and fits is optimal, and the cover is unique.
 *
 * All functions here are pure: thread-safe, no allocation.
 */
#ifndef GMEM_PT_H
#define GMEM_PT_H

#include <gmem/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GMEM_PT_MAX_LEVELS 6

enum gmem_pt_arch {
	GMEM_PT_X86_4LEVEL,	/* EPT/NPT 4-level: 4 KiB, 2 MiB, 1 GiB */
	GMEM_PT_X86_5LEVEL,	/* 5-level: the same leaves, one more table */
	GMEM_PT_ARM64_4K,	/* stage 2, 4 KiB granule, 48-bit IPA */
	GMEM_PT_ARM64_16K,	/* 16 KiB granule, 48-bit IPA */
	GMEM_PT_ARM64_64K,	/* 64 KiB granule, 48-bit IPA */
	GMEM_PT_S390,		/* DAT: 4 KiB pages, 1 MiB segments, 2 GiB
				 * region-third entries */
	GMEM_PT_RISCV_SV39,
	GMEM_PT_RISCV_SV48,
	GMEM_PT_RISCV_SV57,
};

struct gmem_pt_level {
	uint8_t entry_shift;	/* log2 of the bytes one entry maps */
	uint8_t index_bits;	/* log2 of the entries of one table */
	uint8_t leaf;		/* 1: an entry may map memory itself */
	uint8_t contig_bits;	/* log2 of the leaf entries one contiguous
				 * hint joins; 0: no hint at this level */
};

/*
 * Levels root first. Rules a geometry must keep (checked wherever one is
 * passed in, -EINVAL otherwise): 1 to GMEM_PT_MAX_LEVELS levels; each
 * level's entry maps exactly one table of the next level (entry_shift of
 * a level = entry_shift + index_bits of the next); the last level is a
 * leaf level mapping at least one frame; contiguous hints only on leaf
 * levels and at most index_bits; the root maps at most 64 address bits.
 */
struct gmem_pt_geometry {
	size_t sz;
	const char *name;
	uint32_t nlevels;
	struct gmem_pt_level level[GMEM_PT_MAX_LEVELS];
	/* Tail padding in 1.x, named so that no field is ever added
	 * into it: a 1.x caller may leave it undefined, so it is never
	 * read. */
	uint32_t unused;
};
#define gmem_pt_geometry__last_field unused

/*
 * Fills geom with a built-in geometry. The caller sets geom->sz (use
 * GMEM_OPTS). Errors: -EINVAL an unknown arch. Threads: any.
 */
GMEM_API int gmem_pt_geometry(enum gmem_pt_arch arch,
			      struct gmem_pt_geometry *geom);

/* One leaf of a cover: npages frames from gfn mapped to pfn. */
struct gmem_pt_leaf {
	uint64_t gfn;
	uint64_t pfn;
	uint64_t npages;
	uint32_t level;		/* index in the geometry's level[] */
	uint32_t flags;		/* GMEM_PT_LEAF_* */
};

/* The leaf is 2^contig_bits entries of its level under one contiguous
 * hint; without it, it is one entry. */
#define GMEM_PT_LEAF_CONTIG (1u << 0)

/* Called for each leaf in address order; a negative return stops the
 * cover and is returned by it. */
typedef int (*gmem_pt_leaf_fn)(void *ctx, const struct gmem_pt_leaf *leaf);

/* Do not use contiguous hints. */
#define GMEM_PT_COVER_NO_CONTIG (1u << 0)

struct gmem_pt_cover_opts {
	size_t sz;
	uint32_t flags;		/* GMEM_PT_COVER_* */
	uint64_t nleaves;	/* out: leaves of the cover */
	uint64_t nentries;	/* out: entries written, a contiguous leaf
				 * counting 2^contig_bits */
};
#define gmem_pt_cover_opts__last_field nentries

/*
 * The minimal cover of guest frames [gfn, gfn + npages) mapped to host
 * frames from pfn: fn (which may be NULL to only count) is called for
 * each leaf. Errors: -EINVAL for a NULL or invalid geometry, unknown
 * flags, zero npages, or a range or pfn not aligned to the smallest leaf
 * (the geometry's granule); -EOVERFLOW if a range wraps or leaves the
 * frame space; -ERANGE if it goes beyond what the root maps; or fn's
 * negative return, which stops it. Threads: any.
 */
GMEM_API int gmem_pt_cover(const struct gmem_pt_geometry *geom, uint64_t gfn,
			   uint64_t pfn, uint64_t npages, gmem_pt_leaf_fn fn,
			   void *ctx, struct gmem_pt_cover_opts *opts);

/* Which frames of a guest a page table maps. */
enum gmem_pt_view {
	GMEM_PT_VIEW_ALL,	/* every frame in a region (pKVM-like) */
	GMEM_PT_VIEW_PRIVATE,	/* private frames (a CoCo private stage 2) */
	GMEM_PT_VIEW_SHARED,	/* shared frames (the VMM's or IOMMU's view) */
};

struct gmem_guest;

/*
 * The minimal cover of the frames of [gfn, gfn + npages) that are in a
 * region and in the view: gmem_pt_cover over each stretch that is in the
 * view and mapped linearly (one block, or physically adjacent blocks),
 * in address order; frames outside regions are skipped.
 * Errors: those of gmem_pt_cover, and -EINVAL for an unknown view or a
 * stretch not aligned to the geometry's granule. Threads: any; a
 * conversion running at the same time is seen per 1 GiB slot before or
 * after it.
 */
GMEM_API int gmem_pt_view_cover(const struct gmem_guest *guest,
				enum gmem_pt_view view,
				const struct gmem_pt_geometry *geom,
				uint64_t gfn, uint64_t npages,
				gmem_pt_leaf_fn fn, void *ctx,
				struct gmem_pt_cover_opts *opts);

/* Why a leaf of some size cannot cover a frame. */
enum gmem_pt_blocker {
	GMEM_PT_BLOCK_NONE,	/* nothing: this is the covering leaf */
	GMEM_PT_BLOCK_MIXED,	/* the aligned range holds frames not in the
				 * view */
	GMEM_PT_BLOCK_REGION,	/* it crosses a region's edge */
	GMEM_PT_BLOCK_BLOCKS,	/* it crosses blocks that do not follow on
				 * in host frames */
	GMEM_PT_BLOCK_PFN,	/* the host frame is not aligned to it */
	GMEM_PT_BLOCK_SPACE,	/* it reaches beyond what the root maps */
	/* Only from a builder (gmem/pt_build.h): */
	GMEM_PT_BLOCK_PROT,	/* it holds frames with other permissions */
	GMEM_PT_BLOCK_ACCEPT,	/* it is larger than the accept size */
	GMEM_PT_BLOCK_NO_PROMOTE,	/* it is split and may not be joined */
	GMEM_PT_BLOCK_DIRTY_LOG,	/* since 1.3: it holds a frame written
					 * while logging (gmem/pt_log.h) */
	GMEM_PT_BLOCK_PINNED,	/* since 1.4: it would join leaves that
				 * map a pinned frame (gmem/pin.h) */
	GMEM_PT_BLOCK_PAGING,	/* since 1.4: it holds frames that are
				 * not present (gmem/page.h) */
};

struct gmem_pt_why {
	uint64_t npages;	/* the size asked about */
	uint32_t level;
	uint32_t flags;		/* GMEM_PT_LEAF_CONTIG */
	uint32_t blocker;	/* enum gmem_pt_blocker */
	uint32_t pad;
	uint64_t at_gfn;	/* the first frame in its range that blocks
				 * it (or gfn, for PFN and SPACE) */
};

struct gmem_pt_explain {
	size_t sz;
	uint32_t flags;		/* in: GMEM_PT_COVER_NO_CONTIG */
	uint32_t nwhy;		/* out: entries of why[] */
	struct gmem_pt_leaf leaf;	/* out: the leaf covering the frame */
	/* out: the leaf's size, then each larger size of the geometry,
	 * smallest first, with what stops it. */
	struct gmem_pt_why why[2 * GMEM_PT_MAX_LEVELS];
};
#define gmem_pt_explain__last_field why

/*
 * Why the leaf covering frame gfn in the view's minimal cover is not
 * larger. Errors: -ENOENT gfn in no region; -ENXIO gfn not in the view;
 * -EINVAL bad arguments, or gfn's stretch has no cover in the geometry
 * (not aligned to its granule). Threads: any.
 */
GMEM_API int gmem_pt_explain(const struct gmem_guest *guest,
			     enum gmem_pt_view view,
			     const struct gmem_pt_geometry *geom, uint64_t gfn,
			     struct gmem_pt_explain *out);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PT_H */
