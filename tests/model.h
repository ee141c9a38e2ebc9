/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The model: the semantics of guest state with one byte per frame and
 * no cleverness at all. Tests run it beside the library and compare.
 */
#ifndef GMEM_TEST_MODEL_H
#define GMEM_TEST_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

#define MODEL_MAX_REGIONS 16

struct model_region {
	uint64_t gfn, end;
	uint8_t *attr;
	uint32_t *pins;		/* per frame */
	uint8_t *page;		/* per frame: enum gmem_page_state */
	uint8_t *loaded;	/* per frame: PAGING_IN with the data back */
	uint8_t *never;		/* per frame: never to be paged */
};

struct model {
	struct model_region r[MODEL_MAX_REGIONS];
	int n;
	uint64_t shared;	/* frames, kept as it changes */
	uint64_t granule;	/* conversions' alignment, in frames */
	/* What gmem_guest_stats counts: conversions done, the frames of
	 * their ranges, and those of valid arguments that failed (the
	 * model's own pins and pages; a test adds its listeners'). */
	uint64_t conversions, converted, refusals;
};

void model_init(struct model *m);
void model_fini(struct model *m);
int model_add_region(struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int attr);
/* The errors and failing frame the library must report for a range. */
int model_check_range(const struct model *m, uint64_t gfn, uint64_t npages,
		      uint64_t *fail);
/* The same for a conversion, which must also be aligned to the granule. */
int model_check_convert(const struct model *m, uint64_t gfn, uint64_t npages,
			uint64_t *fail);
const struct model_region *model_region_of(const struct model *m,
					   uint64_t gfn);
int model_convert(struct model *m, uint64_t gfn, uint64_t npages,
		  unsigned int attr, uint64_t *fail);
int model_attr(const struct model *m, uint64_t gfn, unsigned int *attr);
int model_range_attr(const struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int *attr);
int model_run(const struct model *m, uint64_t gfn, uint64_t npages,
	      struct gmem_run *run);
/* Calls fn for each maximal run of [gfn, gfn+npages) not already attr. */
void model_changes(const struct model *m, uint64_t gfn, uint64_t npages,
		   unsigned int attr,
		   void (*fn)(void *ctx, const struct gmem_run *run), void *ctx);
uint64_t model_shared_frames(const struct model *m);

/* Pins: a count per frame. A conversion of a range holding a pinned
 * frame fails with -EBUSY at the first. */
int model_pin(struct model *m, uint64_t gfn, uint64_t npages, uint64_t *fail);
int model_unpin(struct model *m, uint64_t gfn, uint64_t npages,
		uint64_t *fail);
uint32_t model_pin_count(const struct model *m, uint64_t gfn);
/* The first pinned frame of [gfn, gfn + npages), or gfn + npages. */
uint64_t model_pin_first(const struct model *m, uint64_t gfn,
			 uint64_t npages);

/* Paging (gmem/page.h): the same calls, errors and failing frames. A
 * frame not present cannot be converted or pinned (-EAGAIN). */
int model_page_nominate(struct model *m, uint64_t gfn, uint64_t npages,
			uint64_t *fail);
int model_page_evict(struct model *m, uint64_t gfn, uint64_t npages,
		     uint64_t *fail);
int model_page_load(struct model *m, uint64_t gfn, uint64_t npages,
		    uint64_t *fail);
int model_page_complete(struct model *m, uint64_t gfn, uint64_t npages,
			int status, uint64_t *fail);
int model_page_never(struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int never, uint64_t *fail);
unsigned int model_page_state(const struct model *m, uint64_t gfn);
/* An access (a lookup that tries or waits) to gfn: a nominated block
 * of the granule is present again; a paged one is asked for, paging in
 * (true: a request goes out for the block). */
bool model_page_access(struct model *m, uint64_t gfn);
/* The first frame of [gfn, gfn + npages) not present, or gfn + npages. */
uint64_t model_page_first_absent(const struct model *m, uint64_t gfn,
				 uint64_t npages);

#endif
