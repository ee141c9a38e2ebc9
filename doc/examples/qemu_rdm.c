/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A QEMU-style RamDiscardManager on libgmem, and a VFIO-style listener.
 *
 * A confidential guest's RAM in QEMU is guest_memfd (private) plus a
 * shared file; the RamDiscardManager tells VFIO which parts are
 * populated (shared, DMA-able) as the guest converts. Its interface
 * (include/exec/memory.h) maps onto libgmem like this:
 *
 *   get_min_granularity   the guest's conversion granule
 *   is_populated          gmem_range_attr() == SHARED
 *   replay_populated /    the shared / private runs, gmem_run_get()
 *     replay_discarded
 *   register_listener     gmem_range_listener_add(), replaying the
 *                         shared runs as populates
 *   notify_populate /     the range listener's populate (may refuse the
 *     notify_discard      conversion) and discard, one call per maximal
 *                         run a conversion changes, never per frame
 *
 * The VFIO side maps each populated run with the fewest IOMMU mappings
 * (gmem_iommu_mappings, 4 KiB | 2 MiB | 1 GiB pages) and counts them: the
 * number a VFIO container holds against its DMA entry limit. After a
 * run of random conversions the example checks that exactly the shared
 * frames are mapped, and prints the count beside the fewest possible.
 *
 *   qemu_rdm [CONVERSIONS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmem.h>

#define GIB GMEM_BLOCK_FRAMES
#define PGSIZES 0x40201000ull		/* 4 KiB | 2 MiB | 1 GiB */

/* ---- The RamDiscardManager ------------------------------------------ */

struct rdm_listener {
	int (*notify_populate)(struct rdm_listener *l, uint64_t gfn,
			       uint64_t npages);
	void (*notify_discard)(struct rdm_listener *l, uint64_t gfn,
			       uint64_t npages);
	struct gmem_range_listener *bound;
};

struct rdm {
	struct gmem_guest *guest;
	uint64_t granule;		/* frames */
};

static uint64_t rdm_get_min_granularity(const struct rdm *rdm)
{
	return rdm->granule << GMEM_FRAME_SHIFT;
}

static int rdm_is_populated(const struct rdm *rdm, uint64_t gfn,
			    uint64_t npages)
{
	unsigned int attr;

	return !gmem_range_attr(rdm->guest, gfn, npages, &attr) &&
	       attr == GMEM_ATTR_SHARED;
}

typedef int (*rdm_replay_fn)(void *opaque, uint64_t gfn, uint64_t npages);

/* The runs of [gfn, gfn + npages) in attr, to fn; its error stops it. */
static int rdm_replay(const struct rdm *rdm, uint64_t gfn, uint64_t npages,
		      unsigned int attr, rdm_replay_fn fn, void *opaque)
{
	uint64_t end = gfn + npages;
	struct gmem_run run;
	int err = 0;

	for (; !err && gfn < end; gfn += run.npages) {
		err = gmem_run_get(rdm->guest, gfn, end - gfn, &run);
		if (!err && run.attr == attr)
			err = fn(opaque, run.gfn, run.npages);
	}
	return err;
}

static int rdm_replay_populated(const struct rdm *rdm, uint64_t gfn,
				uint64_t npages, rdm_replay_fn fn, void *opaque)
{
	return rdm_replay(rdm, gfn, npages, GMEM_ATTR_SHARED, fn, opaque);
}

static int rdm_replay_discarded(const struct rdm *rdm, uint64_t gfn,
				uint64_t npages, rdm_replay_fn fn, void *opaque)
{
	return rdm_replay(rdm, gfn, npages, GMEM_ATTR_PRIVATE, fn, opaque);
}

static int heard_populate(void *ctx, uint64_t gfn, uint64_t npages)
{
	struct rdm_listener *l = ctx;

	return l->notify_populate(l, gfn, npages);
}

static void heard_discard(void *ctx, uint64_t gfn, uint64_t npages)
{
	struct rdm_listener *l = ctx;

	l->notify_discard(l, gfn, npages);
}

/* As QEMU's: the section's populated parts are replayed to the new
 * listener before it hears any conversion. */
static int rdm_register_listener(struct rdm *rdm, struct rdm_listener *l,
				 uint64_t gfn, uint64_t npages)
{
	GMEM_OPTS(gmem_range_listener_ops, ops, .populate = heard_populate,
		  .discard = heard_discard, .ctx = l);
	GMEM_OPTS(gmem_range_listener_opts, o,
		  .flags = GMEM_RANGE_REPLAY_SHARED,
		  .granule = (uint32_t)rdm->granule);

	return gmem_range_listener_add(rdm->guest, gfn, npages, &ops, &o,
				       &l->bound);
}

static int discard_run(void *opaque, uint64_t gfn, uint64_t npages)
{
	struct rdm_listener *l = opaque;

	l->notify_discard(l, gfn, npages);
	return 0;
}

/* As QEMU's: what the listener populated is discarded as it goes. */
static void rdm_unregister_listener(struct rdm *rdm, struct rdm_listener *l,
				    uint64_t gfn, uint64_t npages)
{
	gmem_range_listener_remove(l->bound);
	rdm_replay_populated(rdm, gfn, npages, discard_run, l);
}

/* ---- A VFIO-style listener ------------------------------------------ */

struct vfio {
	struct rdm_listener l;
	const struct gmem_guest *guest;
	struct gmem_iommu_map *maps;	/* the container's DMA mappings */
	size_t n, cap;
	uint64_t map_calls, unmap_calls;
};

static int add_map(void *ctx, const struct gmem_iommu_map *m)
{
	struct vfio *v = ctx;

	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		struct gmem_iommu_map *maps = realloc(v->maps,
						      cap * sizeof(*maps));

		if (!maps)
			return -ENOMEM;
		v->maps = maps;
		v->cap = cap;
	}
	v->maps[v->n++] = *m;	/* VFIO_IOMMU_MAP_DMA */
	v->map_calls++;
	return 0;
}

static int vfio_populate(struct rdm_listener *l, uint64_t gfn,
			 uint64_t npages)
{
	struct vfio *v = (struct vfio *)l;

	/* The run is not shared yet: map what it will be, in the view of
	 * all frames (the same host frames). */
	return gmem_iommu_mappings(v->guest, GMEM_PT_VIEW_ALL, PGSIZES, gfn,
				   npages, add_map, v, NULL);
}

/*
 * An IOMMU unmaps whole mappings only: one that reaches outside the run
 * is unmapped and what stays shared of it mapped again.
 */
static void vfio_discard(struct rdm_listener *l, uint64_t gfn, uint64_t npages)
{
	struct vfio *v = (struct vfio *)l;
	uint64_t end = gfn + npages;
	size_t i = 0;

	while (i < v->n) {
		struct gmem_iommu_map m = v->maps[i];

		if (m.gfn >= end || m.gfn + m.npages <= gfn) {
			i++;
			continue;
		}
		v->maps[i] = v->maps[--v->n];	/* VFIO_IOMMU_UNMAP_DMA */
		v->unmap_calls++;
		if (m.gfn < gfn && gmem_iommu_mappings(v->guest, GMEM_PT_VIEW_ALL,
						      PGSIZES, m.gfn, gfn - m.gfn,
						      add_map, v, NULL))
			abort();
		if (m.gfn + m.npages > end &&
		    gmem_iommu_mappings(v->guest, GMEM_PT_VIEW_ALL, PGSIZES, end,
					m.gfn + m.npages - end, add_map, v,
					NULL))
			abort();
	}
}

/* ---- The run --------------------------------------------------------- */

static uint64_t rng = 0x5eed;

static uint64_t rnd(uint64_t below)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % below;
}

static int count_run(void *opaque, uint64_t gfn, uint64_t npages)
{
	(void)gfn;
	*(uint64_t *)opaque += npages;
	return 0;
}

int main(int argc, char **argv)
{
	const uint64_t frames = 4 * GIB;
	long conversions = argc > 1 ? atol(argv[1]) : 20000;
	struct vfio v = { .l = { .notify_populate = vfio_populate,
				 .notify_discard = vfio_discard } };
	uint64_t shared = 0, mapped = 0, fewest = 0, f;
	struct gmem_pool *pool;
	struct rdm rdm;
	size_t i;

	if (gmem_pool_create(NULL, &pool) ||
	    gmem_pool_add_frames(pool, GIB, frames, 0, NULL) ||
	    gmem_guest_create(pool, NULL, &rdm.guest) ||
	    gmem_region_add(rdm.guest, 0, frames, NULL))
		return 1;
	rdm.granule = 1;
	v.guest = rdm.guest;
	/* Firmware shares a window before VFIO comes: it is replayed. */
	if (gmem_convert(rdm.guest, 0, 512, GMEM_ATTR_SHARED, NULL) ||
	    rdm_register_listener(&rdm, &v.l, 0, frames))
		return 1;
	for (long k = 0; k < conversions; k++) {
		static const uint64_t sizes[] = { 1, 1, 1, 16, 512, 512, GIB };
		uint64_t n = sizes[rnd(sizeof(sizes) / sizeof(sizes[0]))];
		uint64_t gfn = rnd(frames / n) * n;

		if (gmem_convert(rdm.guest, gfn, n, (unsigned int)rnd(2), NULL))
			return 1;
	}
	rdm_replay_populated(&rdm, 0, frames, count_run, &shared);
	for (i = 0; i < v.n; i++)
		mapped += v.maps[i].npages;
	/* Exactly the shared frames are mapped, each once. */
	for (i = 0; i < v.n; i++)
		if (!rdm_is_populated(&rdm, v.maps[i].gfn, v.maps[i].npages)) {
			fprintf(stderr, "qemu_rdm: %#llx mapped, not shared\n",
				(unsigned long long)v.maps[i].gfn);
			return 1;
		}
	if (mapped != shared) {
		fprintf(stderr, "qemu_rdm: %llu frames mapped, %llu shared\n",
			(unsigned long long)mapped, (unsigned long long)shared);
		return 1;
	}
	gmem_iommu_mappings(rdm.guest, GMEM_PT_VIEW_SHARED, PGSIZES, 0, frames,
			    NULL, NULL, &fewest);
	f = 0;
	rdm_replay_discarded(&rdm, 0, frames, count_run, &f);
	printf("qemu_rdm: %ld conversions, granularity %llu bytes; shared %llu "
	       "frames, private %llu\n", conversions,
	       (unsigned long long)rdm_get_min_granularity(&rdm),
	       (unsigned long long)shared, (unsigned long long)f);
	printf("qemu_rdm: VFIO holds %zu mappings (%llu map, %llu unmap "
	       "calls); the fewest for this state: %llu\n", v.n,
	       (unsigned long long)v.map_calls,
	       (unsigned long long)v.unmap_calls, (unsigned long long)fewest);
	rdm_unregister_listener(&rdm, &v.l, 0, frames);
	if (v.n) {
		fprintf(stderr, "qemu_rdm: %zu mappings left\n", v.n);
		return 1;
	}
	free(v.maps);
	gmem_guest_destroy(rdm.guest);
	gmem_pool_destroy(pool);
	return 0;
}
