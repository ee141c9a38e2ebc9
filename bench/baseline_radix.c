/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Baseline: a per-frame attribute store in a radix tree of 64-slot nodes,
 * updated frame by frame, as KVM's memory-attribute xarray is. A frame
 * is private when its entry is present; making it shared erases the
 * entry, and nodes that empty are freed.
 */
#include <stdlib.h>

#include "impl.h"

#define FANOUT 64
#define SHIFT 6

struct node {
	void *slot[FANOUT];
	unsigned int count;
};

struct radix {
	struct node *root;
	unsigned int height;	/* levels of nodes */
	uint64_t nodes;
};

#define PRESENT ((void *)1)	/* a value entry, as xa_mk_value() */

static struct node *node_new(struct radix *r)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		abort();
	r->nodes++;
	return n;
}

static void store(struct radix *r, uint64_t idx, int present)
{
	struct node *path[8];
	unsigned int slots[8] = { 0 }, lvl;
	struct node *n;

	if (!r->root) {
		if (!present)
			return;
		r->root = node_new(r);
	}
	n = r->root;
	for (lvl = 0; lvl < r->height; lvl++) {
		unsigned int s = (idx >> ((r->height - 1 - lvl) * SHIFT)) &
				 (FANOUT - 1);

		path[lvl] = n;
		slots[lvl] = s;
		if (lvl + 1 == r->height)
			break;
		if (!n->slot[s]) {
			if (!present)
				return;
			n->slot[s] = node_new(r);
			n->count++;
		}
		n = n->slot[s];
	}
	if (!!n->slot[slots[lvl]] == present)
		return;
	n->slot[slots[lvl]] = present ? PRESENT : NULL;
	n->count += present ? 1 : -1;
	/* Free nodes that emptied, bottom up. */
	while (!present && lvl > 0 && path[lvl]->count == 0) {
		free(path[lvl]);
		r->nodes--;
		path[lvl - 1]->slot[slots[lvl - 1]] = NULL;
		path[lvl - 1]->count--;
		lvl--;
	}
}

static int load(const struct radix *r, uint64_t idx)
{
	const struct node *n = r->root;
	unsigned int lvl;

	for (lvl = 0; n && lvl < r->height; lvl++) {
		const void *e = n->slot[(idx >> ((r->height - 1 - lvl) * SHIFT)) &
					(FANOUT - 1)];

		if (lvl + 1 == r->height)
			return e != NULL;
		n = e;
	}
	return 0;
}

static void *rx_create(uint64_t nframes)
{
	struct radix *r = calloc(1, sizeof(*r));
	uint64_t f;

	if (!r)
		abort();
	for (r->height = 1; (UINT64_C(1) << (SHIFT * r->height)) < nframes;)
		r->height++;
	for (f = 0; f < nframes; f++)
		store(r, f, 1);	/* all private */
	return r;
}

static void free_node(struct node *n, unsigned int levels)
{
	unsigned int i;

	if (levels > 1)
		for (i = 0; i < FANOUT; i++)
			if (n->slot[i])
				free_node(n->slot[i], levels - 1);
	free(n);
}

static void rx_destroy(void *ctx)
{
	struct radix *r = ctx;

	if (r->root)
		free_node(r->root, r->height);
	free(r);
}

static STORE_OP int rx_convert(void *ctx, uint64_t gfn, uint64_t n,
			       unsigned int attr)
{
	uint64_t f;

	for (f = gfn; f < gfn + n; f++)
		store(ctx, f, !attr);
	return 0;
}

static STORE_OP unsigned int rx_range_attr(void *ctx, uint64_t gfn,
					   uint64_t n)
{
	int first = load(ctx, gfn);
	uint64_t f;

	for (f = gfn + 1; f < gfn + n; f++)
		if (load(ctx, f) != first)
			return 2;
	return first ? 0 : 1;
}

static uint64_t rx_meta_bytes(void *ctx)
{
	return ((struct radix *)ctx)->nodes * sizeof(struct node);
}

IMPL_LOOPS(rx, rx_convert, rx_range_attr)

const struct impl impl_radix = {
	.name = "radix",
	.create = rx_create,
	.destroy = rx_destroy,
	.convert = rx_convert,
	.range_attr = rx_range_attr,
	.meta_bytes = rx_meta_bytes,
	.convert_all = rx_convert_all,
	.query_all = rx_query_all,
};
