/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pinning guest frames for device I/O (since 1.4).
 *
 * A pin is a promise that a frame stays where it is while a device may
 * reach it: a pinned frame's shared/private attribute does not change
 * (a conversion of a range holding one fails with -EBUSY and that frame
 * as its fail_gfn, changing nothing), its region cannot be removed, and
 * a page-table builder does not join the leaves that map it into a
 * larger one, which would replace its entry under the device
 * (gmem_pt_explain_table names GMEM_PT_BLOCK_PINNED). Splits still
 * happen: they keep every translation. Once unpinned, the builders'
 * next sync joins what the pin held back.
 *
 * Pins count per frame, up to UINT32_MAX. They are kept as runs of
 * frames with one count, so pinning a range costs the runs it meets,
 * not its frames.
 *
 * Thread safety: any (gmem/guest.h), but, like a conversion, not at the
 * same time as a sync of one of the guest's builders. A pin or unpin
 * waits for a conversion transaction holding the same 1 GiB slots to
 * end, so it must not be called from a listener callback or by the
 * holder of a prepared conversion of those slots.
 */
#ifndef GMEM_PIN_H
#define GMEM_PIN_H

#include <gmem/common.h>
#include <gmem/guest.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmem_pin_opts {
	size_t sz;
	/* Out: on error, the first frame at fault. */
	uint64_t fail_gfn;
};
#define gmem_pin_opts__last_field fail_gfn

/*
 * Adds one pin to each frame of [gfn, gfn + npages), which must lie in
 * one region. opts (optional) receives fail_gfn.
 * Errors: -EINVAL npages 0; -EOVERFLOW past GMEM_FRAME_LIMIT, or a frame
 * already pinned UINT32_MAX times; -ENOENT gfn in no region; -ERANGE the
 * range leaves it; -EAGAIN at a frame not present (gmem/page.h);
 * -ENOMEM. Threads: any, as above.
 */
GMEM_API int gmem_pin(struct gmem_guest *guest, uint64_t gfn,
		      uint64_t npages, struct gmem_pin_opts *opts);

/*
 * Takes one pin from each frame of the range.
 * Errors: -EINVAL a frame of it is not pinned (fail_gfn the first); the
 * others of gmem_pin. Threads: any, as above.
 */
GMEM_API int gmem_unpin(struct gmem_guest *guest, uint64_t gfn,
			uint64_t npages, struct gmem_pin_opts *opts);

/* The pins of frame gfn (0 outside regions). Errors: none beyond the
 * common ones. Threads: any. */
GMEM_API int gmem_pin_count(const struct gmem_guest *guest, uint64_t gfn,
			    uint32_t *count);

/*
 * The first pinned frame of [gfn, gfn + npages) in *first.
 * Errors: -EINVAL npages 0; -ENOENT no frame of it is pinned.
 * Threads: any.
 */
GMEM_API int gmem_pin_find(const struct gmem_guest *guest, uint64_t gfn,
			   uint64_t npages, uint64_t *first);

/*
 * I/O to private memory (since 1.4). A device cannot reach private
 * memory: gmem_io_begin makes the private frames of a range shared,
 * their contents kept (GMEM_CONVERT_PRESERVE), and pins the range for
 * the I/O; gmem_io_end unpins it and returns those frames to private at
 * once, at the guest's next access, or never. The frames are told to
 * listeners, builders and the VMM's view as any conversion.
 */
struct gmem_io;

/* What gmem_io_end does with the frames gmem_io_begin made shared. */
#define GMEM_IO_END_PRIVATE 0	/* private again now */
#define GMEM_IO_END_LAZY 1	/* private at the guest's next access to
				 * them, reported with gmem_io_access */
#define GMEM_IO_END_SHARED 2	/* they stay shared */

/*
 * Makes [gfn, gfn + npages) reachable for device I/O and pins it, *io
 * the handle to end it with.
 * Errors: those of gmem_convert and gmem_pin (-EAGAIN at a frame not
 * present, -EBUSY at one another thread keeps converting).
 * Threads: any, as above.
 */
GMEM_API int gmem_io_begin(struct gmem_guest *guest, uint64_t gfn,
			   uint64_t npages, struct gmem_pin_opts *opts,
			   struct gmem_io **io);

/*
 * Ends the I/O: unpins, and handles the frames as how says
 * (GMEM_IO_END_*). Frees io, also on -ENOMEM.
 * Errors: -EINVAL unknown how (io kept); -ENOMEM a conversion back
 * failed, leaving those frames shared, pinned no more.
 * Threads: any, as above; one call per io.
 */
GMEM_API int gmem_io_end(struct gmem_io *io, unsigned int how);

/*
 * The guest accessed [gfn, gfn + npages): frames left shared for it by
 * gmem_io_end(GMEM_IO_END_LAZY) or gmem_io_fault go private again now,
 * contents kept.
 * Errors: -EINVAL npages 0; -EOVERFLOW past GMEM_FRAME_LIMIT; -ENOENT
 * gfn in no region; -ERANGE the range leaves it; or gmem_convert's.
 * Threads: any, as above.
 */
GMEM_API int gmem_io_access(struct gmem_guest *guest, uint64_t gfn,
			    uint64_t npages);

/*
 * A device's I/O failed on [gfn, gfn + npages): its private frames are
 * made shared, contents kept, until the guest's next access
 * (gmem_io_access). Returns 0 when none was private (the error is not
 * this). Errors: -EAGAIN some were (retry the I/O); the range errors of
 * gmem_io_access; or gmem_convert's. Threads: any, as above.
 */
GMEM_API int gmem_io_fault(struct gmem_guest *guest, uint64_t gfn,
			   uint64_t npages);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PIN_H */
