/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging on a page-table builder (since 1.3), for live migration:
 * dirty frames at 4 KiB while memory stays mapped huge where it is not
 * written.
 *
 * Starting logging write-protects the builder's leaves over the range at
 * the size they have: one protect per leaf, nothing split. A write fault
 * that the embedder reports for a frame splits only along the path to
 * it, the leaf holding it into leaves of the next size down and so on to
 * the smallest leaf around the frame, which alone becomes writable and
 * dirty; everything not written stays huge and read-only. Harvesting
 * takes the dirty frames of a range and write-protects them again;
 * stopping joins back every leaf split for logging.
 *
 * Dirty frames are 4 KiB frames. Writes that do not fault (the VMM's own,
 * device emulation, DMA) are recorded with gmem_pt_log_mark, and a
 * logged frame converted between shared and private is dirty too. A leaf
 * is writable while logging only when all its logged frames faulted
 * since their last harvest: a write to it needs no record until then.
 *
 * The sink hears of permission changes through its protect callback
 * (gmem/pt_build.h), or as an unmap and a map when it has none; each
 * call ends with one flush of what lost write access.
 *
 * Thread safety: as gmem_pt_sync (exclusive on the builder, and not at
 * the same time as a conversion of the guest).
 */
#ifndef GMEM_PT_LOG_H
#define GMEM_PT_LOG_H

#include <gmem/common.h>
#include <gmem/pt_build.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Starts logging [gfn, gfn + npages), after applying what is pending
 * (as gmem_pt_sync). Errors: -EINVAL for a bad builder or an empty
 * range, or a builder whose smallest leaf is larger than 2 MiB;
 * -EOVERFLOW past GMEM_FRAME_LIMIT; -EBUSY if the range overlaps one
 * already logged; -ENOMEM; a sink's error (logging is then on and the
 * next sync completes the protection). Nothing changes on the other
 * errors. Threads: as gmem_pt_sync.
 */
GMEM_API int gmem_pt_log_start(struct gmem_pt *pt, uint64_t gfn,
			       uint64_t npages);

/*
 * Stops logging every logged range inside [gfn, gfn + npages), forgets
 * their dirty frames and joins the leaves split for them into the
 * minimal cover, writable again. Errors: -ENOENT no logged range lies
 * inside; -EINVAL the range cuts one; -ENOMEM (nothing changes); a sink's
 * error (logging is off; the next sync completes the joins).
 * Threads: as gmem_pt_sync.
 */
GMEM_API int gmem_pt_log_stop(struct gmem_pt *pt, uint64_t gfn,
			      uint64_t npages);

/*
 * A write fault on frame gfn: splits along the path to it, makes the
 * smallest leaf around it writable and its logged frames dirty. 0 also
 * when the leaf is writable already (another vCPU's fault got there
 * first). Errors: -ENOENT if the table does not map gfn; -EINVAL if gfn
 * is not write-protected for logging (its leaf holds no logged frame, or
 * its view gives no write access); -ENOMEM (nothing changes); a sink's
 * error (the frame is dirty; the next sync completes the split).
 * Threads: as gmem_pt_sync.
 */
GMEM_API int gmem_pt_log_fault(struct gmem_pt *pt, uint64_t gfn);

/*
 * Records writes that did not fault: the logged frames of
 * [gfn, gfn + npages) become dirty. The table is not changed.
 * Errors: -EINVAL npages 0; -EOVERFLOW past GMEM_FRAME_LIMIT; -ENOMEM.
 * Threads: as gmem_pt_sync.
 */
GMEM_API int gmem_pt_log_mark(struct gmem_pt *pt, uint64_t gfn,
			      uint64_t npages);

/*
 * Where a harvest puts the frames it takes: a bitmap (bit i of word
 * i / 64 for frame gfn + i; the call sets the bits of dirty frames and
 * leaves the others as they are, so that one bitmap can gather several
 * harvests: zero it first for one) or, when bitmap is NULL, a ring of
 * frame numbers in ascending order, which may be smaller than the dirty
 * frames: the harvest then stops when it is full and next tells where to
 * resume.
 */
struct gmem_pt_harvest {
	size_t sz;
	uint64_t *bitmap;
	size_t bitmap_bytes;	/* at least 8 * ceil(npages / 64) */
	uint64_t *ring;
	uint32_t ring_cap;	/* entries; at least 1 */
	uint32_t pad;		/* must be 0 */
	uint64_t count;		/* out: frames taken */
	uint64_t next;		/* out: gfn + npages, or where a full ring
				 * stopped */
};
#define gmem_pt_harvest__last_field next

/*
 * Takes the dirty frames of [gfn, gfn + npages) and write-protects those
 * whose leaves were writable, with one flush. Costs the dirty frames and
 * the 2 MiB pieces holding them, not the frames of the range. Since 1.6,
 * in EPT and with no sink to tell of protects and no listener of
 * GMEM_INVAL_WRPROTECT, a last-level table that loses write on 64 of its
 * pages or more may lose it in its own entry instead (a write needs it
 * in every entry of its walk): the hardware then reads all its pages
 * read-only (gmem_pt_walk reports them so), and the library gives the
 * pages their own access back the next time it changes that table,
 * changing no access. An embedder that reads the table's memory itself
 * sees such an entry as it is.
 * Errors: -EINVAL (bad arguments, both or neither of bitmap and ring, pad
 * not 0); -EOVERFLOW; -ENOSPC if the bitmap is too small; -ENOMEM (nothing
 * changes); a sink's error: the frames are reported, but those of the
 * leaf the sink refused and all after it stay dirty (and writable where
 * they were), so the next harvest reports them again.
 * Threads: as gmem_pt_sync.
 */
GMEM_API int gmem_pt_log_harvest(struct gmem_pt *pt, uint64_t gfn,
				 uint64_t npages, struct gmem_pt_harvest *h);

struct gmem_pt_log_stats {
	size_t sz;
	uint64_t ranges;	/* logged ranges */
	uint64_t frames;	/* logged frames */
	uint64_t dirty;		/* dirty frames not yet harvested */
	uint64_t split;		/* frames whose leaves were split for logging */
	uint64_t faults;	/* write faults served */
	uint64_t protects;	/* leaves write-protected for logging */
};
#define gmem_pt_log_stats__last_field protects

/* Counts of the builder's logging. Errors: none beyond the common ones.
 * Threads: any, while no call that changes the builder runs. */
GMEM_API int gmem_pt_log_stats(const struct gmem_pt *pt,
			       struct gmem_pt_log_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PT_LOG_H */
