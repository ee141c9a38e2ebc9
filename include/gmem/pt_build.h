/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page-table builders (since 1.1).
 *
 * A builder keeps the minimal cover (gmem/pt.h) of one view of a guest as
 * a page table, and after conversions changes only what must change:
 * gmem_pt_sync removes exactly the leaves of the old cover that are not
 * in the new one and adds those of the new one that were not in the old.
 *
 * The table lives in memory in the format chosen at creation: x86 EPT,
 * arm64 VMSAv8-64 stage 2, or the library's own encoding for embedders
 * that keep their tables themselves. Every change is also reported to an
 * optional sink of callbacks: leaves mapped and unmapped, tables added and
 * removed, and a flush at the end of each batch with the guest range whose
 * translations must be invalidated.
 *
 * Thread safety: create, sync, mark, join and destroy are exclusive on
 * the builder and must not run at the same time as a conversion, pin or
 * unpin of the guest (an embedder orders them under its MMU lock);
 * conversions may run in parallel with each other and with gmem_pt_walk and the stats.
 * The guest must outlive its builders.
 */
#ifndef GMEM_PT_BUILD_H
#define GMEM_PT_BUILD_H

#include <gmem/common.h>
#include <gmem/guest.h>
#include <gmem/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_pt;

/* Access a leaf grants. */
#define GMEM_PT_PROT_R (1u << 0)
#define GMEM_PT_PROT_W (1u << 1)
#define GMEM_PT_PROT_X (1u << 2)
#define GMEM_PT_PROT_RWX (GMEM_PT_PROT_R | GMEM_PT_PROT_W | GMEM_PT_PROT_X)

enum gmem_pt_format {
	/*
	 * The library's own entries, for a sink that writes the real ones:
	 * bit 0 valid, bit 1 table (else leaf), bit 2 contiguous, bits 3-5
	 * GMEM_PT_PROT_*, bits 12-63 the frame number of the next table
	 * or the leaf's first frame, shifted left by 12.
	 */
	GMEM_PT_FORMAT_GENERIC,
	/* Intel EPT, 4- or 5-level geometry: RWX in bits 0-2, memory type
	 * in bits 3-5 of leaves, bit 7 on 2 MiB and 1 GiB leaves. */
	GMEM_PT_FORMAT_EPT,
	/* arm64 VMSAv8-64 stage 2, any of the three granules with 48-bit
	 * output addresses: table, block and page descriptors, MemAttr,
	 * S2AP, SH, AF, XN and the contiguous bit. */
	GMEM_PT_FORMAT_ARM64_S2,
};

/*
 * Where table pages come from. alloc returns size bytes aligned to size
 * and zeroed, and stores their physical address in *pa; phys_to_virt
 * gives the pointer back from an address that alloc returned. Without
 * ops, or with all three NULL, pages come from the guest's allocator
 * and the physical address is the pointer itself; some but not all
 * three set is -EINVAL. The library's own allocator (no gmem_alloc_ops)
 * keeps table pages apart, in 2 MiB aligned chunks advised for
 * transparent huge pages (since 1.6), so that a walk over a large table
 * takes few TLB misses; where the kernel gives huge pages, the first
 * table pages of a process take up to 2 MiB of memory. A real format
 * (EPT, arm64 stage 2) needs its table pages aligned to their size:
 * over a pool whose gmem_alloc_ops promise only 64 bytes, such a
 * builder needs page ops (-EINVAL without).
 */
struct gmem_pt_page_ops {
	size_t sz;
	void *(*alloc)(void *ctx, size_t size, uint64_t *pa);
	void (*free)(void *ctx, void *page, uint64_t pa, size_t size);
	void *(*phys_to_virt)(void *ctx, uint64_t pa);
	void *ctx;
};
#define gmem_pt_page_ops__last_field ctx

/*
 * Callbacks told of every change of the table, in the order a hardware
 * walker must see them (break before make): a leaf is unmapped before
 * anything is mapped in its place, a table is added before the leaves
 * under it and removed after them. A negative return stops the sync
 * there; the builder keeps exactly what the sink accepted, and the next
 * gmem_pt_sync completes the change. Any member may be NULL.
 *
 *  map        leaf now maps its frames with prot (GMEM_PT_PROT_*).
 *  unmap      leaf no longer maps anything.
 *  table_add  a table of level `level` now maps [gfn, gfn + npages);
 *  table_del  it is gone (cannot fail).
 *  flush      end of a batch (a batch begins after the previous one
 *             ended): translations of [gfn, gfn + npages) that were
 *             unmapped, replaced or lost permissions must be invalidated
 *             now, one flush for the whole batch (npages 0: nothing to
 *             flush). Called even when the batch stopped early; cannot
 *             fail.
 *  protect    (since 1.3) the leaf, which stays, now grants prot: dirty
 *             logging (gmem/pt_log.h) changes permissions in place. When
 *             NULL, the sink is told an unmap and a map instead.
 */
struct gmem_pt_sink {
	size_t sz;
	int (*map)(void *ctx, const struct gmem_pt_leaf *leaf, uint32_t prot);
	int (*unmap)(void *ctx, const struct gmem_pt_leaf *leaf);
	int (*table_add)(void *ctx, uint64_t gfn, uint64_t npages,
			 uint32_t level);
	void (*table_del)(void *ctx, uint64_t gfn, uint64_t npages,
			  uint32_t level);
	void (*flush)(void *ctx, uint64_t gfn, uint64_t npages);
	void *ctx;
	int (*protect)(void *ctx, const struct gmem_pt_leaf *leaf,
		       uint32_t prot);
};
#define gmem_pt_sink__last_field protect

/*
 * Hardware that cannot join mappings in place (TDX-like): once a range
 * is split, its leaves are never joined into a larger one until
 * gmem_pt_join allows it. Newly mapped frames still get their largest
 * leaf.
 */
#define GMEM_PT_NO_PROMOTE (1u << 1)

struct gmem_pt_opts {
	size_t sz;
	uint32_t flags;		/* GMEM_PT_COVER_NO_CONTIG, GMEM_PT_NO_PROMOTE */
	enum gmem_pt_format format;
	/* Access of leaves by attribute: prot[GMEM_ATTR_PRIVATE] and
	 * prot[GMEM_ATTR_SHARED]; 0 means GMEM_PT_PROT_RWX. When they
	 * differ in the ALL view, a leaf never spans both attributes. */
	uint32_t prot[2];
	/* The largest leaf in frames (a power of two), for a guest that
	 * accepted its memory at that size; 0: no limit. */
	uint64_t accept_npages;
	/* EPT memory type of leaves or arm64 stage-2 MemAttr[3:0]; 0
	 * means the default: 6 (write-back) for EPT, 0xf (normal
	 * write-back) for stage 2. */
	uint32_t memtype;
	uint32_t reserved;
	const struct gmem_pt_page_ops *pages;
	const struct gmem_pt_sink *sink;
	/* Out: on error, the first frame at fault, if any. */
	uint64_t fail_gfn;
};
#define gmem_pt_opts__last_field fail_gfn

/*
 * Creates a builder of guest's view in geometry geom and maps the view's
 * current cover (one batch for the whole guest). The geometry is copied.
 * Errors: -EINVAL for an unknown view, format, flags or prot bits, a bad
 * geometry, a format that does not fit the geometry, or a guest whose
 * conversion granule is smaller than the geometry's smallest leaf,
 * page ops with some but not all members set, or a real format over a
 * pool with gmem_alloc_ops and no page ops (gmem_pt_page_ops);
 * -ERANGE if a frame lies beyond what the geometry or format can map;
 * -ENOMEM; or a sink's error. Nothing is left behind on error.
 * Threads: exclusive on the guest.
 */
GMEM_API int gmem_pt_create(struct gmem_guest *guest, enum gmem_pt_view view,
			    const struct gmem_pt_geometry *geom,
			    struct gmem_pt_opts *opts, struct gmem_pt **pt);

/*
 * Removes every leaf and table (telling the sink: unmaps, table
 * removals, one flush) and frees the builder. NULL is a no-op.
 * Errors: none. Threads: exclusive, as above.
 */
GMEM_API int gmem_pt_destroy(struct gmem_pt *pt);

/*
 * Applies the changes since the last sync: conversions the builder heard
 * of, and ranges passed to gmem_pt_mark or gmem_pt_join. Each range heard
 * of (adjacent ones joined) is one batch, ending with one flush: changed
 * whole, or not at all when tables cannot be allocated (-ENOMEM: the
 * table is the one of before for it, and it stays pending with those
 * after it). A sink's error is returned as it is, the table holding what
 * the sink accepted. Either way a later sync completes the work.
 * Errors: -ENOMEM or a sink's error, as above. Threads: exclusive, as
 * above. Not even conversions of other slots may run meanwhile: the
 * sync works through the list of pending ranges that every conversion
 * the builder hears appends to (and may move, growing it), and it
 * reads each range's state with no hold of its slots, deciding a leaf
 * from frames read one after another, which a conversion of the same
 * frames between two reads would make a leaf of neither state. A VMM
 * that converts from vCPU threads while it syncs takes its own lock
 * around both, as KVM takes mmu_lock around its invalidations.
 */
GMEM_API int gmem_pt_sync(struct gmem_pt *pt);

/*
 * Asks the next sync to look again at [gfn, gfn + npages), to check the
 * table again. Since 1.4 a builder hears regions added and removed by
 * itself; calling this after such a change, as before, is harmless.
 * Errors: -EINVAL npages 0; -EOVERFLOW past GMEM_FRAME_LIMIT; -ENOMEM
 * (nothing left pending). Threads: exclusive, as above.
 */
GMEM_API int gmem_pt_mark(struct gmem_pt *pt, uint64_t gfn,
			  uint64_t npages);

/*
 * With GMEM_PT_NO_PROMOTE: lets the next sync join leaves into larger
 * ones where the larger one lies inside [gfn, gfn + npages). Without
 * the flag, the same as gmem_pt_mark. Errors: those of gmem_pt_mark.
 * Threads: exclusive, as above.
 */
GMEM_API int gmem_pt_join(struct gmem_pt *pt, uint64_t gfn, uint64_t npages);

/*
 * The root table: its address as the hardware sees it (*pa, for an EPT
 * pointer or VTTBR) and as this process does (*root). Either may be
 * NULL. The root stays the same for the builder's life.
 * Errors: none beyond the common ones. Threads: any.
 */
GMEM_API int gmem_pt_root(const struct gmem_pt *pt, void **root,
			  uint64_t *pa);

/* One entry as the walker shows it. */
struct gmem_pt_entry {
	uint64_t gfn;		/* first frame the entry maps */
	uint64_t npages;	/* frames one entry of its level maps */
	uint64_t pfn;		/* leaf: the first frame it maps */
	uint64_t table_pa;	/* table entry: the next table's physical
				 * address */
	uint64_t *ptep;		/* the entry in the table */
	uint32_t level;		/* index in the geometry's level[] */
	uint32_t prot;		/* leaf: GMEM_PT_PROT_* */
	uint32_t flags;		/* leaf: GMEM_PT_LEAF_CONTIG */
	uint32_t pad;
};

/* Which entries a walker visits. */
#define GMEM_PT_VISIT_LEAF (1u << 0)		/* leaf entries */
#define GMEM_PT_VISIT_TABLE_PRE (1u << 1)	/* table entries, before
						 * the table's entries */
#define GMEM_PT_VISIT_TABLE_POST (1u << 2)	/* and after them */

/* A negative return stops the walk and is returned by it. */
typedef int (*gmem_pt_visit_fn)(void *ctx, const struct gmem_pt_entry *e,
				uint32_t visit);

struct gmem_pt_walker {
	size_t sz;
	gmem_pt_visit_fn fn;
	void *ctx;
	uint32_t flags;		/* GMEM_PT_VISIT_* */
	/* Tail padding in 1.x, named so that no field is ever added
	 * into it: a 1.x caller may leave it undefined, so it is never
	 * read. */
	uint32_t unused;
};
#define gmem_pt_walker__last_field unused

/*
 * Visits, in address order, the valid entries of the table that map any
 * of [gfn, gfn + npages), each once per visit kind asked for. Visitors
 * read the table; they must not change it.
 * Errors: -EINVAL no fn, npages 0 or unknown flags; -EOVERFLOW past
 * GMEM_FRAME_LIMIT; or a visitor's negative return, which stops it.
 * Threads: any, while no call that changes the builder runs.
 */
GMEM_API int gmem_pt_walk(const struct gmem_pt *pt, uint64_t gfn,
			  uint64_t npages, const struct gmem_pt_walker *walker);

struct gmem_pt_stats {
	size_t sz;
	uint64_t nleaves;	/* leaves mapped now */
	uint64_t nentries;	/* leaf entries (a contiguous leaf is many) */
	uint64_t ntables;	/* table pages, root included */
	uint64_t table_bytes;
	uint64_t maps;		/* leaves mapped since creation */
	uint64_t unmaps;
	uint64_t syncs;
	uint64_t pending;	/* ranges waiting for a sync */
	uint64_t protects;	/* since 1.3: leaves whose permissions
				 * changed in place */
};
#define gmem_pt_stats__last_field protects

/* Counts of the builder. Errors: none beyond the common ones.
 * Threads: any, while no call that changes the builder runs. */
GMEM_API int gmem_pt_stats(const struct gmem_pt *pt,
			   struct gmem_pt_stats *stats);

/*
 * gmem_pt_explain for the builder's view, geometry and policy: also
 * names permissions that differ (GMEM_PT_BLOCK_PROT), the accept size
 * (GMEM_PT_BLOCK_ACCEPT), leaves kept split by GMEM_PT_NO_PROMOTE
 * (GMEM_PT_BLOCK_NO_PROMOTE) or by a pinned frame (GMEM_PT_BLOCK_PINNED,
 * since 1.4). Describes the table as the last sync left it.
 * Errors: those of gmem_pt_explain. Threads: any, while no call that
 * changes the builder runs.
 */
GMEM_API int gmem_pt_explain_table(const struct gmem_pt *pt, uint64_t gfn,
				   struct gmem_pt_explain *out);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PT_BUILD_H */
