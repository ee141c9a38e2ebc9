/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging's checks, shared by its suites: a model of logging per
 * frame, a mirror of what the sink was told, one builder on a guest
 * (struct log_rig), and operations run on the library and the model
 * alike, each checked (test_pt_log.c says what is checked).
 */
#ifndef GMEM_TEST_LOG_CHECK_H
#define GMEM_TEST_LOG_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

#include "model.h"
#include "ref_walk.h"
#include "test_alloc.h"

#define GIB GMEM_BLOCK_FRAMES
#define W GMEM_PT_PROT_W
#define RWX GMEM_PT_PROT_RWX

struct mirror {
	uint64_t n;		/* frames */
	uint64_t *lo;		/* first frame of the leaf holding it */
	uint64_t *len;		/* its frames; 0: unmapped */
	uint8_t *prot;
	uint64_t lost_lo, lost_hi;	/* lost access since the last flush */
	uint64_t maps, unmaps, protects, flushes;
	int fail_protects;	/* protects to refuse, from the next one */
};

struct lmodel {
	struct model g;		/* the guest's attributes */
	uint64_t n;
	uint8_t *logged, *split, *writable, *dirty;
	struct { uint64_t lo, hi; } r[64];	/* logged ranges, any order */
	int nr;
	/* What a leaf may be: sizes largest first, the smallest last. */
	uint64_t size[8];
	int contig[8];
	int nsizes;
	enum gmem_pt_view view;
	bool stale;		/* changed since the last lm_expect */
	/* Scratch: prefix counts for the derivation. */
	uint32_t *shared_c, *split_c, *clean_c, *logged_c;
};

struct expect_leaf {
	uint64_t *lo, *len;
	uint8_t *prot;
};

struct log_rig {
	struct test_alloc ta;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	struct gmem_pt *pt;
	struct gmem_pt_geometry geo;
	enum gmem_pt_format fmt;
	struct ref_pages pages;
	struct mirror m;
	struct lmodel lm;
	struct expect_leaf e;
	uint64_t n;
};

void log_rig_open(struct log_rig *r, enum gmem_pt_arch arch,
		  enum gmem_pt_view view, uint64_t n, unsigned int attr,
		  bool nosink);
void log_rig_close(struct log_rig *r);
uint64_t log_full_check(struct log_rig *r, bool nosink);
void log_op_start(struct log_rig *r, uint64_t lo, uint64_t hi);
void log_op_stop(struct log_rig *r, uint64_t lo, uint64_t hi);
void log_op_fault(struct log_rig *r, uint64_t gfn);
/* Faults of a run of frames from gfn rounded down to 64, as a guest
 * writing a buffer makes: whole words of the sets at once. */
void log_op_fault_run(struct log_rig *r, uint64_t gfn);
void log_op_mark(struct log_rig *r, uint64_t lo, uint64_t hi);
void log_op_convert(struct log_rig *r, uint64_t lo, uint64_t hi,
		    unsigned int attr);
void log_op_harvest(struct log_rig *r, uint64_t lo, uint64_t hi, uint32_t cap);
void log_pick(const struct log_rig *r, uint64_t *lo, uint64_t *hi);
uint64_t log_pick_frame(const struct log_rig *r);
/* What a conversion of the model tells the logging model (ctx: the
 * rig's lmodel), for model_changes. */
void log_converted(void *ctx, const struct gmem_run *run);
/* The random numbers of the logging suites: one stream. */
uint64_t log_rnd(void);

#endif
