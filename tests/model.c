/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->granule = 1;
}

void model_fini(struct model *m)
{
	int i;

	for (i = 0; i < m->n; i++) {
		free(m->r[i].attr);
		free(m->r[i].pins);
		free(m->r[i].page);
		free(m->r[i].loaded);
		free(m->r[i].never);
	}
	m->n = 0;
}

int model_add_region(struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int attr)
{
	int i;

	if (!npages || attr > GMEM_ATTR_SHARED || m->n == MODEL_MAX_REGIONS ||
	    gfn % m->granule || npages % m->granule)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	for (i = 0; i < m->n; i++)
		if (gfn < m->r[i].end && m->r[i].gfn < gfn + npages)
			return -EEXIST;
	m->r[m->n].gfn = gfn;
	m->r[m->n].end = gfn + npages;
	m->r[m->n].attr = malloc(npages);
	m->r[m->n].pins = calloc(npages, sizeof(uint32_t));
	m->r[m->n].page = calloc(npages, 1);
	m->r[m->n].loaded = calloc(npages, 1);
	m->r[m->n].never = calloc(npages, 1);
	if (!m->r[m->n].attr || !m->r[m->n].pins || !m->r[m->n].page ||
	    !m->r[m->n].loaded || !m->r[m->n].never)
		abort();
	memset(m->r[m->n].attr, (int)attr, npages);
	m->shared += attr ? npages : 0;
	m->n++;
	return 0;
}

static int region_index(const struct model *m, uint64_t gfn)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].gfn <= gfn && gfn < m->r[i].end)
			return i;
	return -1;
}

const struct model_region *model_region_of(const struct model *m,
					   uint64_t gfn)
{
	int i = region_index(m, gfn);

	return i < 0 ? NULL : &m->r[i];
}

/* The same, to change. */
static struct model_region *region_to_change(struct model *m, uint64_t gfn)
{
	int i = region_index(m, gfn);

	return i < 0 ? NULL : &m->r[i];
}

int model_check_range(const struct model *m, uint64_t gfn, uint64_t npages,
		      uint64_t *fail)
{
	const struct model_region *r;
	uint64_t f;

	*fail = gfn;
	if (!npages)
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	r = model_region_of(m, gfn);
	if (!r)
		return -ENOENT;
	/* the first frame not in gfn's region */
	for (f = gfn; f < gfn + npages; f++) {
		if (f >= r->end) {
			*fail = f;
			return -ERANGE;
		}
	}
	return 0;
}

int model_check_convert(const struct model *m, uint64_t gfn, uint64_t npages,
			uint64_t *fail)
{
	*fail = gfn;
	if (gfn % m->granule || npages % m->granule)
		return -EINVAL;
	return model_check_range(m, gfn, npages, fail);
}

int model_convert(struct model *m, uint64_t gfn, uint64_t npages,
		  unsigned int attr, uint64_t *fail)
{
	int err;
	struct model_region *r;
	uint64_t f;

	*fail = gfn;
	if (attr > GMEM_ATTR_SHARED)
		return -EINVAL;
	err = model_check_convert(m, gfn, npages, fail);
	if (err)
		return err;
	/* The first frame pinned (-EBUSY) or not present (-EAGAIN). */
	for (f = gfn; f < gfn + npages; f++) {
		*fail = f;
		err = model_pin_count(m, f) ? -EBUSY
		      : model_page_state(m, f) != GMEM_PAGE_PRESENT ? -EAGAIN
								  : 0;
		if (err) {
			m->refusals++;
			return err;
		}
	}
	*fail = gfn;
	m->conversions++;
	m->converted += npages;
	r = region_to_change(m, gfn);
	for (f = gfn - r->gfn; f < gfn - r->gfn + npages; f++) {
		m->shared += attr > r->attr[f];
		m->shared -= attr < r->attr[f];
		r->attr[f] = (uint8_t)attr;
	}
	return 0;
}

int model_attr(const struct model *m, uint64_t gfn, unsigned int *attr)
{
	const struct model_region *r = model_region_of(m, gfn);

	if (!r)
		return -ENOENT;
	*attr = r->attr[gfn - r->gfn];
	return 0;
}

int model_range_attr(const struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int *attr)
{
	uint64_t fail, i;
	const struct model_region *r;
	int err = model_check_range(m, gfn, npages, &fail);

	if (err)
		return err;
	r = model_region_of(m, gfn);
	*attr = r->attr[gfn - r->gfn];
	for (i = 1; i < npages; i++)
		if (r->attr[gfn - r->gfn + i] != *attr)
			*attr = GMEM_ATTR_MIXED;
	return 0;
}

int model_run(const struct model *m, uint64_t gfn, uint64_t npages,
	      struct gmem_run *run)
{
	uint64_t fail, n = 1;
	const struct model_region *r;
	int err = model_check_range(m, gfn, npages, &fail);

	if (err)
		return err;
	r = model_region_of(m, gfn);
	while (n < npages && r->attr[gfn - r->gfn + n] == r->attr[gfn - r->gfn])
		n++;
	run->gfn = gfn;
	run->npages = n;
	run->attr = r->attr[gfn - r->gfn];
	run->flags = 0;
	return 0;
}

void model_changes(const struct model *m, uint64_t gfn, uint64_t npages,
		   unsigned int attr,
		   void (*fn)(void *ctx, const struct gmem_run *run), void *ctx)
{
	const struct model_region *r = model_region_of(m, gfn);
	uint64_t i = 0;

	while (i < npages) {
		struct gmem_run run = { .gfn = gfn + i, .attr = attr };

		if (r->attr[gfn - r->gfn + i] == attr) {
			i++;
			continue;
		}
		while (i < npages && r->attr[gfn - r->gfn + i] != attr) {
			run.npages++;
			i++;
		}
		fn(ctx, &run);
	}
}

uint64_t model_shared_frames(const struct model *m)
{
	return m->shared;
}

/* Adds delta (1 or -1) to the pins of a range: all or nothing. */
static int model_pin_add(struct model *m, uint64_t gfn, uint64_t npages,
			 int delta, uint64_t *fail)
{
	struct model_region *r;
	uint64_t f;
	int err = model_check_range(m, gfn, npages, fail);

	if (err)
		return err;
	r = region_to_change(m, gfn);
	for (f = gfn; delta > 0 && f < gfn + npages; f++)
		if (r->page[f - r->gfn] != GMEM_PAGE_PRESENT) {
			*fail = f;
			return -EAGAIN;
		}
	for (f = gfn; f < gfn + npages; f++) {
		uint32_t c = r->pins[f - r->gfn];

		if ((delta > 0 && c == UINT32_MAX) || (delta < 0 && !c)) {
			*fail = f;
			return delta > 0 ? -EOVERFLOW : -EINVAL;
		}
	}
	for (f = gfn; f < gfn + npages; f++)
		r->pins[f - r->gfn] += (uint32_t)delta;
	return 0;
}

int model_pin(struct model *m, uint64_t gfn, uint64_t npages, uint64_t *fail)
{
	return model_pin_add(m, gfn, npages, 1, fail);
}

int model_unpin(struct model *m, uint64_t gfn, uint64_t npages,
		uint64_t *fail)
{
	return model_pin_add(m, gfn, npages, -1, fail);
}

uint32_t model_pin_count(const struct model *m, uint64_t gfn)
{
	const struct model_region *r = model_region_of(m, gfn);

	return r ? r->pins[gfn - r->gfn] : 0;
}

uint64_t model_pin_first(const struct model *m, uint64_t gfn,
			 uint64_t npages)
{
	uint64_t f;

	for (f = gfn; f < gfn + npages; f++)
		if (model_pin_count(m, f))
			return f;
	return gfn + npages;
}

unsigned int model_page_state(const struct model *m, uint64_t gfn)
{
	const struct model_region *r = model_region_of(m, gfn);

	return r ? r->page[gfn - r->gfn] : GMEM_PAGE_PRESENT;
}

uint64_t model_page_first_absent(const struct model *m, uint64_t gfn,
				 uint64_t npages)
{
	uint64_t f;

	for (f = gfn; f < gfn + npages; f++)
		if (model_page_state(m, f) != GMEM_PAGE_PRESENT)
			return f;
	return gfn + npages;
}

/*
 * The first frame of a range that a paging call refuses, by the error
 * it gets: bad() returns 0 for a frame that may go, or its error.
 * Then every frame goes through step().
 */
static int model_page_call(struct model *m, uint64_t gfn, uint64_t npages,
			   uint64_t *fail,
			   int (*bad)(const struct model_region *r, uint64_t i,
				      int arg),
			   void (*step)(struct model_region *r, uint64_t i,
					int arg),
			   int arg)
{
	struct model_region *r;
	uint64_t f;
	int err = model_check_convert(m, gfn, npages, fail);

	if (err)
		return err;
	r = region_to_change(m, gfn);
	for (f = gfn; f < gfn + npages; f++) {
		err = bad(r, f - r->gfn, arg);
		if (err) {
			*fail = f;
			return err;
		}
	}
	for (f = gfn; f < gfn + npages; f++)
		step(r, f - r->gfn, arg);
	return 0;
}

static int nominate_bad(const struct model_region *r, uint64_t i, int arg)
{
	(void)arg;
	if (r->page[i] != GMEM_PAGE_PRESENT)
		return -EINVAL;
	return r->pins[i] || r->never[i] ? -EBUSY : 0;
}

static void nominate_step(struct model_region *r, uint64_t i, int arg)
{
	(void)arg;
	r->page[i] = GMEM_PAGE_PAGING_OUT;
}

int model_page_nominate(struct model *m, uint64_t gfn, uint64_t npages,
			uint64_t *fail)
{
	return model_page_call(m, gfn, npages, fail, nominate_bad,
			       nominate_step, 0);
}

static int evict_bad(const struct model_region *r, uint64_t i, int arg)
{
	(void)arg;
	if (r->page[i] == GMEM_PAGE_PRESENT)
		return -EBUSY;
	return r->page[i] == GMEM_PAGE_PAGING_OUT ? 0 : -EINVAL;
}

static void evict_step(struct model_region *r, uint64_t i, int arg)
{
	(void)arg;
	r->page[i] = GMEM_PAGE_PAGED;
}

int model_page_evict(struct model *m, uint64_t gfn, uint64_t npages,
		     uint64_t *fail)
{
	return model_page_call(m, gfn, npages, fail, evict_bad, evict_step, 0);
}

static int load_bad(const struct model_region *r, uint64_t i, int arg)
{
	(void)arg;
	return r->page[i] == GMEM_PAGE_PAGED ||
	       r->page[i] == GMEM_PAGE_PAGING_IN ? 0 : -EINVAL;
}

static void load_step(struct model_region *r, uint64_t i, int arg)
{
	(void)arg;
	r->page[i] = GMEM_PAGE_PAGING_IN;
	r->loaded[i] = 1;
}

int model_page_load(struct model *m, uint64_t gfn, uint64_t npages,
		    uint64_t *fail)
{
	return model_page_call(m, gfn, npages, fail, load_bad, load_step, 0);
}

static int complete_bad(const struct model_region *r, uint64_t i, int status)
{
	if (r->page[i] != GMEM_PAGE_PAGING_IN)
		return -EINVAL;
	return !status && !r->loaded[i] ? -EINVAL : 0;
}

static void complete_step(struct model_region *r, uint64_t i, int status)
{
	r->page[i] = status ? GMEM_PAGE_PAGED : GMEM_PAGE_PRESENT;
	r->loaded[i] = 0;
}

int model_page_complete(struct model *m, uint64_t gfn, uint64_t npages,
			int status, uint64_t *fail)
{
	int err = model_check_convert(m, gfn, npages, fail);

	if (err || status > 0)
		return err ? err : -EINVAL;
	return model_page_call(m, gfn, npages, fail, complete_bad,
			       complete_step, status);
}

static int never_bad(const struct model_region *r, uint64_t i, int arg)
{
	(void)r, (void)i, (void)arg;
	return 0;
}

static void never_step(struct model_region *r, uint64_t i, int never)
{
	r->never[i] = (uint8_t)never;
}

int model_page_never(struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int never, uint64_t *fail)
{
	int err = model_check_convert(m, gfn, npages, fail);

	if (err || never > 1)
		return err ? err : -EINVAL;
	return model_page_call(m, gfn, npages, fail, never_bad, never_step,
			       (int)never);
}

bool model_page_access(struct model *m, uint64_t gfn)
{
	struct model_region *r = region_to_change(m, gfn);
	uint64_t lo = gfn - gfn % m->granule, f;
	unsigned int st = r->page[gfn - r->gfn];

	if (st != GMEM_PAGE_PAGING_OUT && st != GMEM_PAGE_PAGED)
		return false;
	for (f = lo; f < lo + m->granule; f++)
		r->page[f - r->gfn] = st == GMEM_PAGE_PAGED ? GMEM_PAGE_PAGING_IN
							    : GMEM_PAGE_PRESENT;
	return st == GMEM_PAGE_PAGED;
}
