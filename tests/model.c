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
	if (!m->r[m->n].attr || !m->r[m->n].pins)
		abort();
	memset(m->r[m->n].attr, (int)attr, npages);
	m->shared += attr ? npages : 0;
	m->n++;
	return 0;
}

struct model_region *model_region_of(const struct model *m, uint64_t gfn)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].gfn <= gfn && gfn < m->r[i].end)
			return (struct model_region *)&m->r[i];
	return NULL;
}

int model_check_range(const struct model *m, uint64_t gfn, uint64_t npages,
		      uint64_t *fail)
{
	struct model_region *r;
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
	*fail = model_pin_first(m, gfn, npages);
	if (*fail < gfn + npages)
		return -EBUSY;
	r = model_region_of(m, gfn);
	for (f = gfn - r->gfn; f < gfn - r->gfn + npages; f++) {
		m->shared += attr > r->attr[f];
		m->shared -= attr < r->attr[f];
		r->attr[f] = (uint8_t)attr;
	}
	return 0;
}

int model_attr(const struct model *m, uint64_t gfn, unsigned int *attr)
{
	struct model_region *r = model_region_of(m, gfn);

	if (!r)
		return -ENOENT;
	*attr = r->attr[gfn - r->gfn];
	return 0;
}

int model_range_attr(const struct model *m, uint64_t gfn, uint64_t npages,
		     unsigned int *attr)
{
	uint64_t fail, i;
	struct model_region *r;
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
	struct model_region *r;
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
	struct model_region *r = model_region_of(m, gfn);
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
	r = model_region_of(m, gfn);
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
	struct model_region *r = model_region_of(m, gfn);

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
