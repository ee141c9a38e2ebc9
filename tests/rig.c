/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "../lib/mem/kvm_uapi.h"
#include "../tools/hugepages.h"
#include "rig.h"

const char *kvm_missing(bool gmem)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, has = 0;

	if (kvm < 0)
		return "no /dev/kvm";
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm >= 0) {
		has = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD);
		close(vm);
	}
	close(kvm);
	if (vm < 0)
		return "KVM_CREATE_VM failed";
	return gmem && has <= 0 ? "KVM offers no guest_memfd "
				  "(KVM_CAP_GUEST_MEMFD is 0)" : NULL;
}

void rig_open_vm(struct rig *r)
{
	r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(r->kvm, 0);
	r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
	ck_assert_int_ge(r->vm, 0);
}

void rig_init(struct rig *r, unsigned int kind, unsigned int content,
	      uint64_t npages)
{
	rig_init_paged(r, kind, content, npages, 0);
}

void rig_init_paged(struct rig *r, unsigned int kind, unsigned int content,
		    uint64_t npages, uint64_t page_size)
{
	/* Room for a few blocks: anonymous memory reserves all of it. */
	GMEM_OPTS(gmem_backend_opts, bo, .kind = kind, .vm_fd = -1,
		  .max_bytes = UINT64_C(4) << 30, .page_size = page_size);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .content = content);
	struct gmem_pool *pool;

	memset(r, 0, sizeof(*r));
	r->kvm = r->vm = -1;
	os_inject_init(&r->in);
	test_alloc_init(&r->ta);
	bo.os = &r->in.ops;
	bo.alloc = &r->ta.ops;
	if (kind == GMEM_BACKEND_GUEST_MEMFD) {
		rig_open_vm(r);
		bo.vm_fd = r->vm;
	}
	if (kind != GMEM_BACKEND_ANON)
		vo.flags = GMEM_VIEW_GUEST_MAP;
	ck_assert_int_eq(gmem_backend_create(&bo, &r->be), 0);
	ck_assert_int_eq(gmem_backend_pool(r->be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &r->g), 0);
	ck_assert_int_eq(gmem_region_add(r->g, 0, npages, &ro), 0);
	ck_assert_int_eq(gmem_view_create(r->g, r->be, &vo, &r->v), 0);
	r->geom.sz = sizeof(r->geom);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &r->geom), 0);
	ck_assert_int_eq(gmem_pt_create(r->g, GMEM_PT_VIEW_SHARED, &r->geom,
					NULL, &r->pt_shared), 0);
	ck_assert_int_eq(gmem_pt_create(r->g, GMEM_PT_VIEW_ALL, &r->geom,
					NULL, &r->pt_all), 0);
	r->npages = npages;
	r->content = content;
	r->attr = malloc(npages);
	r->tag = calloc(npages, sizeof(*r->tag));
	ck_assert(r->attr && r->tag);
	memset(r->attr, GMEM_ATTR_SHARED, npages);
}

void rig_fini(struct rig *r)
{
	ck_assert_int_eq(gmem_pt_destroy(r->pt_shared), 0);
	ck_assert_int_eq(gmem_pt_destroy(r->pt_all), 0);
	ck_assert_int_eq(gmem_view_destroy(r->v), 0);
	ck_assert_int_eq(gmem_guest_destroy(r->g), 0);
	ck_assert_int_eq(gmem_backend_destroy(r->be), 0);
	ck_assert_int_eq(r->ta.live_bytes, 0);
	if (r->vm >= 0)
		close(r->vm);
	if (r->kvm >= 0)
		close(r->kvm);
	free(r->attr);
	free(r->tag);
}

char *view_of(struct rig *r, uint64_t gfn)
{
	void *p;

	ck_assert_int_eq(gmem_view_addr(r->v, gfn, &p), 0);
	return p;
}

/* The guest's own access to its memory: the guest mapping, or for
 * anonymous memory (which has none) the frame made accessible. */
char *guest_of(struct rig *r, uint64_t gfn)
{
	void *p;

	ck_assert_int_eq(gmem_view_guest_addr(r->v, gfn, &p), 0);
	return p;
}

/* Whether the process can read p, found without taking a fault (and
 * without an access a memory checker would report). */
bool readable(struct rig *r, const void *p)
{
	char c;
	struct iovec local = { .iov_base = &c, .iov_len = 1 };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)p,
				 .iov_len = 1 };

	(void)r;
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 1) {
		ck_assert_int_eq(errno, EFAULT);
		return false;
	}
	return true;
}

uint64_t word_of(uint32_t tag, uint64_t gfn, uint64_t i)
{
	return tag ? ((uint64_t)tag << 32 | (gfn & 0xffffff) << 8) + i : 0;
}

void fill(char *p, uint32_t tag, uint64_t gfn)
{
	uint64_t *w = (uint64_t *)p;

	for (uint64_t i = 0; i < FRAME / 8; i++)
		w[i] = word_of(tag, gfn, i);
}

bool holds(const char *p, uint32_t tag, uint64_t gfn)
{
	const uint64_t *w = (const uint64_t *)p;

	for (uint64_t i = 0; i < FRAME / 8; i++)
		if (w[i] != word_of(tag, gfn, i))
			return false;
	return true;
}

/* Every observable of frames [gfn, gfn + n): state, the view's access
 * and contents byte for byte, and the guest's contents. */
void check_frames(struct rig *r, uint64_t gfn, uint64_t n)
{
	for (uint64_t f = gfn; f < gfn + n; f++) {
		unsigned int attr;
		bool shared = r->attr[f] == GMEM_ATTR_SHARED;
		const char *p = view_of(r, f);

		ck_assert_int_eq(gmem_attr_get(r->g, f, &attr), 0);
		EXPECT_EQ(attr, r->attr[f]);
		if (readable(r, p) != shared)
			ck_abort_msg("frame %#llx: view %s, state %s",
				     (unsigned long long)f,
				     shared ? "closed" : "open",
				     shared ? "shared" : "private");
		if (shared && !holds(p, r->tag[f], f))
			ck_abort_msg("frame %#llx: view holds other data",
				     (unsigned long long)f);
		if (r->v && gmem_view_guest_addr(r->v, f, &(void *){ 0 }) == 0 &&
		    !holds(guest_of(r, f), r->tag[f], f))
			ck_abort_msg("frame %#llx: guest sees other data",
				     (unsigned long long)f);
	}
}

int count_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	(void)leaf;
	++*(uint64_t *)ctx;
	return 0;
}

/* The builders follow the guest: their leaves are the minimal cover. */
void check_tables(struct rig *r)
{
	static const enum gmem_pt_view views[] = { GMEM_PT_VIEW_SHARED,
						   GMEM_PT_VIEW_ALL };
	struct gmem_pt *pts[] = { r->pt_shared, r->pt_all };

	for (int i = 0; i < 2; i++) {
		GMEM_OPTS(gmem_pt_stats, st);
		uint64_t want = 0;

		ck_assert_int_eq(gmem_pt_sync(pts[i]), 0);
		ck_assert_int_eq(gmem_pt_stats(pts[i], &st), 0);
		ck_assert_int_eq(gmem_pt_view_cover(r->g, views[i], &r->geom, 0,
						    r->npages, count_leaf,
						    &want, NULL), 0);
		EXPECT_EQ(st.nleaves, want);
	}
}

/* Maximal runs of frames of [gfn, gfn + n) that are not attr. */
uint64_t changing_runs(const struct rig *r, uint64_t gfn, uint64_t n,
		       unsigned int attr)
{
	uint64_t runs = 0;

	for (uint64_t f = gfn; f < gfn + n; f++)
		if (r->attr[f] != attr && (f == gfn || r->attr[f - 1] == attr))
			runs++;
	return runs;
}

void model_convert_contents(struct rig *r, uint64_t gfn, uint64_t n,
			    unsigned int attr)
{
	for (uint64_t f = gfn; f < gfn + n; f++) {
		if (r->attr[f] != attr && r->content == GMEM_CONTENT_DISCARD)
			r->tag[f] = 0;
		r->attr[f] = (unsigned char)attr;
	}
}

/* A conversion, with the system calls it costs checked: one per maximal
 * changed run, two with DISCARD. */
void convert(struct rig *r, uint64_t gfn, uint64_t n, unsigned int attr)
{
	uint64_t runs = changing_runs(r, gfn, n, attr);
	uint64_t before = r->in.calls;

	ck_assert_int_eq(gmem_convert(r->g, gfn, n, attr, NULL), 0);
	EXPECT_EQ(r->in.calls - before,
		  runs * (r->content == GMEM_CONTENT_DISCARD ? 2 : 1));
	model_convert_contents(r, gfn, n, attr);
}

/* Writes new contents: the VMM through its view where shared, the guest
 * through its mapping anywhere. */
void write_frames(struct rig *r, uint64_t gfn, uint64_t n, bool vmm)
{
	for (uint64_t f = gfn; f < gfn + n; f++) {
		if (vmm && r->attr[f] != GMEM_ATTR_SHARED)
			continue;
		r->tag[f] = ++r->next_tag;
		fill(vmm ? view_of(r, f) : guest_of(r, f), r->tag[f], f);
	}
}

