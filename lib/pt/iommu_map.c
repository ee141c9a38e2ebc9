/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fewest IOMMU mappings of a view (gmem/iommu.h). Page sizes are
 * powers of two, so in each stretch mapped linearly the largest size
 * that is aligned (in guest and host frames) and fits is always right,
 * as for a page table's cover; but an IOMMU's sizes need not form a
 * radix tree's levels (4 KiB, 64 KiB, 2 MiB, 512 MiB on some), so they
 * are taken as a plain set.
 */
#include <errno.h>

#include <gmem/iommu.h>

#include "guest/guest.h"
#include "pt_table.h"

struct iommu_cover {
	const struct gmem_guest *g;
	uint64_t sizes;		/* bit s: 2^s frames */
	gmem_iommu_map_fn fn;
	void *ctx;
	uint64_t count;
};

static int cover_stretch(void *ctx, uint64_t gfn, uint64_t end,
			 unsigned int attr)
{
	struct iommu_cover *c = ctx;
	uint64_t pfn = guest_pfn(c->g, gfn);

	(void)attr;
	while (gfn < end) {
		uint64_t low = (gfn | pfn) & -(gfn | pfn), ok = c->sizes;
		unsigned int s;
		struct gmem_iommu_map m;

		/* Sizes the alignment allows, then those that fit. */
		if (low && low < UINT64_C(1) << 63)
			ok &= (low << 1) - 1;
		while (ok && UINT64_C(1) << (63 - __builtin_clzll(ok)) >
				     end - gfn)
			ok &= ~(UINT64_C(1) << (63 - __builtin_clzll(ok)));
		if (!ok)
			return -EINVAL;
		s = 63u - (unsigned int)__builtin_clzll(ok);
		m = (struct gmem_iommu_map){ gfn, pfn, UINT64_C(1) << s };
		if (c->fn) {
			int err = c->fn(c->ctx, &m);

			if (err < 0)
				return err;
		}
		c->count++;
		gfn += m.npages;
		pfn += m.npages;
	}
	return 0;
}

int gmem_iommu_mappings(const struct gmem_guest *g, enum gmem_pt_view view,
			uint64_t pgsizes, uint64_t gfn, uint64_t npages,
			gmem_iommu_map_fn fn, void *ctx, uint64_t *count)
{
	struct pt_rule rule = { .view = view,
				.by_attr = view != GMEM_PT_VIEW_ALL,
				.space_shift = 64, .accept_shift = 64 };
	struct iommu_cover c = { .g = g, .sizes = pgsizes >> GMEM_FRAME_SHIFT,
				 .fn = fn, .ctx = ctx };
	int err;

	if (!g || (unsigned int)view > GMEM_PT_VIEW_SHARED || !c.sizes ||
	    !npages)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	err = pt_view_stretches(g, &rule, gfn, gfn + npages, cover_stretch, &c);
	if (count)
		*count = c.count;
	return err;
}
