/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Builders under test and their checks, shared by the page-table
 * builder suites: a configuration (geometry, format, view, policy), the
 * builder made of it with a recording sink and reference pages, the
 * cover it should hold, and the full check of its table against the
 * model, the public walker, reference walkers and a builder made anew.
 */
#ifndef GMEM_TEST_PT_CHECK_H
#define GMEM_TEST_PT_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

#include "helpers.h"
#include "model.h"
#include "ref_walk.h"

#define GIB GMEM_BLOCK_FRAMES
#define RO_NX (GMEM_PT_PROT_R)
#define RW_NX (GMEM_PT_PROT_R | GMEM_PT_PROT_W)

struct cfg {
	enum gmem_pt_arch arch;
	enum gmem_pt_format fmt;
	enum gmem_pt_view view;
	uint32_t flags;
	uint32_t prot[2];
	uint64_t accept;
	bool nosink;	/* the table alone: the builder's path without
			 * callbacks (leaves written in runs) */
};

struct bld {
	struct cfg c;
	struct gmem_pt_geometry geom;	/* what the builder gets */
	struct gmem_pt_geometry cover;	/* the same, accept size applied */
	uint64_t top;			/* largest leaf, frames */
	struct gmem_pt *pt;
	struct rec rec;
	struct ref_pages pages;
};

/* The geometries of b->c: the builder's, and the cover's with the
 * accept size applied. */
void cfg_geoms(struct bld *b);
/* The permissions the configuration gives a leaf of attr. */
uint32_t prot_of(const struct cfg *c, unsigned int attr);
/* A builder of b's configuration on g, telling rec (unless nosink). */
int bld_create(struct bld *b, struct gmem_guest *g, struct rec *rec,
	       struct ref_pages *pages, struct gmem_pt **pt);
/* bld_create into b itself, which must succeed; and its end, which
 * must leave nothing behind. */
void bld_setup(struct bld *b, const struct cfg *c, struct gmem_guest *g);
void bld_teardown(struct bld *b);

/* The sink's leaves around [lo, hi) (aligned to limit frames) are the
 * cover's; tmp is scratch. */
void check_window(const struct bld *b, struct gmem_guest *g, uint64_t lo,
		  uint64_t hi, uint64_t limit, struct leaves *tmp);

/* Raw entries of a table, to compare two tables entry for entry. */
struct raw {
	uint64_t *v;
	size_t n, cap;
};
void raw_of(struct gmem_pt *pt, struct raw *r);

/* Everything about b's table, against the model m of g. */
void full_check(struct bld *b, struct gmem_guest *g, const struct model *m);

/* Converts in the guest and its model alike. */
void convert_both(struct gmem_guest *g, struct model *m, uint64_t gfn,
		  uint64_t n, unsigned int attr);
/* A guest of one region [0, npages) of attr on a pool of its own (with
 * ops), blocks aligned in host frames; and its end (m may be NULL). */
void small_guest(struct gmem_pool **pool, struct gmem_guest **g,
		 const struct gmem_alloc_ops *ops, uint64_t npages,
		 unsigned int attr);
void small_guest_done(struct gmem_pool *pool, struct gmem_guest *g,
		      struct model *m);
struct gmem_pt_stats stats_of(struct gmem_pt *pt);

/* Walker visitors the cases use too. */
struct walked {
	const struct bld *b;
	struct leaves l;
	uint64_t ntables;
};
int walked_visit(void *ctx, const struct gmem_pt_entry *e, uint32_t visit);
/* Two leaf lists are equal (levels too, if asked). */
void expect_lists(const struct leaves *a, const struct leaves *b,
		  bool levels);

#endif
