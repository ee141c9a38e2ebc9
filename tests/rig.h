/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest on real memory for the backend and view suites: a backend
 * with failure-injecting hooks, a guest, its view and two builders, and
 * the model of every frame's attribute and contents.
 */
#ifndef GMEM_TEST_RIG_H
#define GMEM_TEST_RIG_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

#include "os_inject.h"
#include "test_alloc.h"

#define FRAME 4096u

/* A guest on real memory, its view and builders, and the model. */
struct rig {
	struct os_inject in;
	struct test_alloc ta;
	struct gmem_backend *be;
	struct gmem_guest *g;
	struct gmem_view *v;
	struct gmem_pt *pt_shared, *pt_all;
	struct gmem_pt_geometry geom;
	int kvm, vm;
	uint64_t npages;
	unsigned int content;
	unsigned char *attr;	/* model: attribute per frame */
	uint32_t *tag;		/* model: contents per frame, 0 = zeros */
	uint32_t next_tag;
};

/* NULL where KVM runs VMs (with guest_memfd if gmem), else why not. */
const char *kvm_missing(bool gmem);
void rig_open_vm(struct rig *r);
void rig_init(struct rig *r, unsigned int kind, unsigned int content,
	      uint64_t npages);
/* The same on backing pages of page_size bytes (0: the kind's own). */
void rig_init_paged(struct rig *r, unsigned int kind, unsigned int content,
		    uint64_t npages, uint64_t page_size);
void rig_fini(struct rig *r);
char *view_of(struct rig *r, uint64_t gfn);
char *guest_of(struct rig *r, uint64_t gfn);
bool readable(struct rig *r, const void *p);
uint64_t word_of(uint32_t tag, uint64_t gfn, uint64_t i);
void fill(char *p, uint32_t tag, uint64_t gfn);
bool holds(const char *p, uint32_t tag, uint64_t gfn);
void check_frames(struct rig *r, uint64_t gfn, uint64_t n);
int count_leaf(void *ctx, const struct gmem_pt_leaf *leaf);
void check_tables(struct rig *r);
uint64_t changing_runs(const struct rig *r, uint64_t gfn, uint64_t n,
		       unsigned int attr);
void model_convert_contents(struct rig *r, uint64_t gfn, uint64_t n,
			    unsigned int attr);
void convert(struct rig *r, uint64_t gfn, uint64_t n, unsigned int attr);
void write_frames(struct rig *r, uint64_t gfn, uint64_t n, bool vmm);

#endif
