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

/*
 * Adds one pin to each frame of [gfn, gfn + npages), which must lie in
 * one region. Errors, changing nothing: -EINVAL (NULL guest, zero
 * npages); -EOVERFLOW past GMEM_FRAME_LIMIT, or a frame already pinned
 * UINT32_MAX times; -ENOENT if gfn is in no region; -ERANGE if the range
 * leaves it; -EAGAIN at a frame not present (gmem/page.h); -ENOMEM.
 */
GMEM_API int gmem_pin(struct gmem_guest *guest, uint64_t gfn,
		      uint64_t npages, struct gmem_pin_opts *opts);

/*
 * Takes one pin from each frame of the range. -EINVAL, changing
 * nothing, if a frame of it is not pinned (fail_gfn the first); the
 * other errors as gmem_pin.
 */
GMEM_API int gmem_unpin(struct gmem_guest *guest, uint64_t gfn,
			uint64_t npages, struct gmem_pin_opts *opts);

/* The pins of frame gfn (0 outside regions). -EINVAL for NULL. */
GMEM_API int gmem_pin_count(const struct gmem_guest *guest, uint64_t gfn,
			    uint32_t *count);

/*
 * The first pinned frame of [gfn, gfn + npages) in *first: 0, or
 * -ENOENT when none is. -EINVAL for NULL or zero npages.
 */
GMEM_API int gmem_pin_find(const struct gmem_guest *guest, uint64_t gfn,
			   uint64_t npages, uint64_t *first);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_PIN_H */
