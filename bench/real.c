/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Real memory: what a conversion costs through the VMM's view, against a
 * VMM that maps and unmaps its view one 4 KiB frame at a time, and what
 * creating and populating a 4 GiB guest costs on each backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <gmem.h>

#include "../tools/hugepages.h"
#include "real.h"
#include "util.h"

#define FRAME 4096ul
#define GUEST_GIB 1			/* conversions on a 1 GiB guest */
#define GUEST_FRAMES ((uint64_t)GUEST_GIB << 18)
#define NFRAMES 2000			/* 4 KiB conversions per run */
#define NPIECES 200			/* 2 MiB conversions per run */


static int open_vm(struct real_rig *r)
{
	r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (r->kvm < 0)
		return -errno;
	r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
	return r->vm < 0 ? -errno : 0;
}

void real_rig_close(struct real_rig *r)
{
	gmem_view_destroy(r->v);
	gmem_guest_destroy(r->g);
	gmem_backend_destroy(r->be);
	if (r->vm >= 0)
		close(r->vm);
	if (r->kvm >= 0)
		close(r->kvm);
}

int real_rig_open(struct real_rig *r, unsigned int kind, uint64_t frames,
		  unsigned int vflags, unsigned int threads,
		  const struct gmem_os_ops *os)
{
	GMEM_OPTS(gmem_backend_opts, bo, .kind = kind, .os = os, .vm_fd = -1,
		  .max_bytes = frames * FRAME);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .flags = vflags,
		  .populate_threads = threads);
	GMEM_OPTS(gmem_guest_opts, go);
	struct gmem_pool *pool;
	int err = 0;

	*r = (struct real_rig){ .kvm = -1, .vm = -1 };
	if (kind == GMEM_BACKEND_HUGETLB) {
		bo.page_size = 2ul << 20;
		go.granule = 512;	/* a view needs whole pages */
	}
	if (kind == GMEM_BACKEND_GUEST_MEMFD) {
		err = open_vm(r);
		bo.vm_fd = r->vm;
	}
	if (!err)
		err = gmem_backend_create(&bo, &r->be);
	if (!err)
		err = gmem_backend_pool(r->be, &pool);
	if (!err)
		err = gmem_guest_create(pool, &go, &r->g);
	if (!err)
		err = gmem_region_add(r->g, 0, frames, &ro);
	if (!err)
		err = gmem_view_create(r->g, r->be, &vo, &r->v);
	if (err)
		real_rig_close(r);
	return err;
}

static uint64_t calls_of(const struct real_rig *r)
{
	GMEM_OPTS(gmem_backend_stats, st);

	gmem_backend_stats(r->be, &st);
	return st.os_calls;
}

/* Random distinct units of `unit` frames in the guest. */
static void pick(uint64_t *at, int n, uint64_t unit)
{
	for (int i = 0; i < n; i++)
		at[i] = rnd() % (GUEST_FRAMES / unit) * unit;
}

/* ns per conversion of n units, each made private then shared again. */
static double time_lib(struct real_rig *r, const uint64_t *at, int n,
		       uint64_t unit, double *calls)
{
	uint64_t c0 = calls_of(r);
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		gmem_convert(r->g, at[i], unit, GMEM_ATTR_PRIVATE, NULL);
		gmem_convert(r->g, at[i], unit, GMEM_ATTR_SHARED, NULL);
	}
	if (calls)
		*calls = (double)(calls_of(r) - c0) / (2.0 * n);
	return (now_ns() - t0) / (2.0 * n);
}

/* The baseline: a VMM view kept by one munmap (to private) and one
 * mmap (back to shared) per 4 KiB frame. */
static double time_base(int fd, char *view, const uint64_t *at, int n,
			uint64_t unit)
{
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		for (uint64_t f = at[i]; f < at[i] + unit; f++)
			munmap(view + f * FRAME, FRAME);
		for (uint64_t f = at[i]; f < at[i] + unit; f++)
			mmap(view + f * FRAME, FRAME, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_FIXED, fd, (off_t)(f * FRAME));
	}
	return (now_ns() - t0) / (2.0 * n);
}

/* Writes one byte per page of each unit, through both views. */
static void touch(char *a, char *b, const uint64_t *at, int n, uint64_t unit)
{
	for (int i = 0; i < n; i++)
		for (uint64_t f = at[i]; f < at[i] + unit; f++)
			a[f * FRAME] = b[f * FRAME] = 1;
}

/*
 * Both sizes on one backend. Untouched: the VMM never touched the pages
 * (memory the guest converts for I/O, say), so a conversion is the
 * mapping change alone. Touched: the VMM wrote every page first, so the
 * kernel also tears down a page-table entry per page, in both designs.
 */
static void conv_backend(int runs, unsigned int kind, const char *name,
			 bool touched, struct real_result *res)
{
	static uint64_t at[NFRAMES];
	double lib[2][63], base[2][63], calls[2] = { 0 };
	static const uint64_t units[2] = { 1, 512 };
	static const int counts[2] = { NFRAMES, NPIECES };
	static const char *const sizes[2] = { "4 KiB", "2 MiB" };
	struct real_rig r;
	char *view, *mine;
	int fd, err = real_rig_open(&r, kind, GUEST_FRAMES, 0, 0, NULL);

	if (err) {
		fprintf(stderr, "gmem-bench: real memory: %s skipped: cannot "
			"make the guest (%s)\n", name, strerror(-err));
		return;
	}
	gmem_backend_fd(r.be, &fd);
	gmem_view_addr(r.v, 0, (void **)&mine);
	/* The baseline's own view of the same memory. */
	view = mmap(NULL, GUEST_FRAMES * FRAME, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < runs; i++) {
			pick(at, counts[k], units[k]);
			if (touched)
				touch(mine, view, at, counts[k], units[k]);
			lib[k][i] = time_lib(&r, at, counts[k], units[k],
					     &calls[k]);
			base[k][i] = time_base(fd, view, at, counts[k],
					       units[k]);
		}
		res->conv[res->nconv++] = (struct conv_row){
			.backend = name, .size = sizes[k], .touched = touched,
			.ns = median(lib[k], runs), .calls = calls[k],
			.base_ns = median(base[k], runs),
			.base_calls = (double)units[k],
		};
	}
	munmap(view, GUEST_FRAMES * FRAME);
	real_rig_close(&r);
}

/* Hooks that do nothing: what remains of a conversion is the library. */
static int no_mmap(void *ctx, void *addr, size_t len, int prot, int flags,
		   int fd, int64_t off, void **out)
{
	(void)ctx, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
	*out = addr ? addr : (void *)(UINT64_C(1) << 45);
	return 0;
}

static int no_munmap(void *ctx, void *addr, size_t len)
{
	(void)ctx, (void)addr, (void)len;
	return 0;
}

static int no_prot(void *ctx, void *addr, size_t len, int how)
{
	(void)ctx, (void)addr, (void)len, (void)how;
	return 0;
}

static int no_fallocate(void *ctx, int fd, int mode, int64_t off,
			int64_t len)
{
	(void)ctx, (void)fd, (void)mode, (void)off, (void)len;
	return 0;
}

static int no_ftruncate(void *ctx, int fd, int64_t len)
{
	(void)ctx, (void)fd, (void)len;
	return 0;
}

void real_noop_os(struct gmem_os_ops *os)
{
	gmem_os_default(os);
	os->mmap = no_mmap;
	os->munmap = no_munmap;
	os->mprotect = no_prot;
	os->madvise = no_prot;
	os->fallocate = no_fallocate;
	os->ftruncate = no_ftruncate;
}

/* The library's own work in a 4 KiB conversion. */
static void lib_share(int runs, struct real_result *res)
{
	GMEM_OPTS(gmem_os_ops, os);
	static uint64_t at[NFRAMES];
	double lib[63];
	struct real_rig r;

	real_noop_os(&os);
	if (real_rig_open(&r, GMEM_BACKEND_MEMFD, GUEST_FRAMES, 0, 0, &os))
		return;
	for (int i = 0; i < runs; i++) {
		lib[i] = 1e18;
		/* The best of a few passes: what is left is the library, not
		 * the other core's noise. */
		for (int pass = 0; pass < 10; pass++) {
			double t;

			pick(at, NFRAMES, 1);
			t = time_lib(&r, at, NFRAMES, 1, NULL);
			lib[i] = t < lib[i] ? t : lib[i];
		}
	}
	res->lib_ns = median(lib, runs);
	real_rig_close(&r);
}

#define POP_FRAMES (UINT64_C(4) << 18)	/* 4 GiB */

/* ms to create a 4 GiB guest on kind and populate all of it from
 * threads threads; < 0 if the backend is unavailable. */
static double populate_once(unsigned int kind, unsigned int threads)
{
	struct real_rig r;
	double t0 = now_ns(), t;

	if (real_rig_open(&r, kind, POP_FRAMES, GMEM_VIEW_POPULATE, threads,
			  NULL))
		return -1;
	t = (now_ns() - t0) / 1e6;
	real_rig_close(&r);
	return t;
}

/* The same without the library, as a VMM does it: a memfd (hugetlb: of
 * the default huge pages) allocated and mapped, or anonymous memory
 * mapped, then populated. */
static double populate_plain_once(unsigned int kind)
{
	double t0 = now_ns(), t;
	size_t len = POP_FRAMES * FRAME;
	int fd = -1;
	void *p;

	if (kind != GMEM_BACKEND_ANON) {
		/* hugetlb: the default size, 2 MiB on x86 */
		fd = memfd_create("plain", MFD_CLOEXEC |
			(kind == GMEM_BACKEND_HUGETLB ? MFD_HUGETLB : 0));
		if (fd < 0 || ftruncate(fd, (off_t)len) ||
		    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)len))
			goto fail;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	if (madvise(p, len, MADV_POPULATE_WRITE)) {
		munmap(p, len);
		goto fail;
	}
	t = (now_ns() - t0) / 1e6;
	munmap(p, len);
	if (fd >= 0)
		close(fd);
	return t;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Guest start on each backend, from one thread and from every CPU, and
 * each backend without the library. 4 GiB of first touches depend on
 * the host's memory as much as on the code (in a VM, the hypervisor's
 * own faults; reclaim after another test): the first round warms up and
 * is not counted, and the rounds interleave a backend's rows, so that
 * a slow spell falls on all of them alike.
 */
static void populate_all(int runs, struct real_result *res)
{
	static const struct {
		unsigned int kind;
		bool plain, threads;
		const char *name;
	} b[POP_ROWS] = {
		{ GMEM_BACKEND_MEMFD, false, false, "memfd" },
		{ GMEM_BACKEND_MEMFD, false, true, "memfd, threads" },
		{ GMEM_BACKEND_MEMFD, true, false, "memfd without libgmem" },
		{ GMEM_BACKEND_GUEST_MEMFD, false, false, "guest_memfd" },
		{ GMEM_BACKEND_ANON, false, false, "anonymous" },
		{ GMEM_BACKEND_ANON, false, true, "anonymous, threads" },
		{ GMEM_BACKEND_ANON, true, false, "anonymous without libgmem" },
		{ GMEM_BACKEND_HUGETLB, false, false, "hugetlb 2 MiB" },
		{ GMEM_BACKEND_HUGETLB, true, false,
		  "hugetlb 2 MiB without libgmem" },
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), before = 0;
	unsigned int threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
	double t[POP_ROWS][64];
	bool huge = hugepages_reserve(2048, 2048, &before);
	bool ok[POP_ROWS];

	for (int i = 0; i < POP_ROWS; i++)
		ok[i] = b[i].kind != GMEM_BACKEND_HUGETLB || huge;
	res->populate_threads = threads;
	/* A backend's rows together, after a warm-up round of their own,
	 * each round from the next row: what a row follows is its own
	 * backend (after another's, the first 4 GiB or so here can take
	 * twice as long: the host takes back memory freed a while ago). */
	for (int from = 0, to; from < POP_ROWS; from = to) {
		for (to = from; to < POP_ROWS && b[to].kind == b[from].kind;)
			to++;
		for (int r = 0; r <= runs; r++) {
			for (int k = 0; k < to - from; k++) {
				int i = from + (k + r) % (to - from);
				double ms;

				if (!ok[i])
					continue;
				ms = b[i].plain
					? populate_plain_once(b[i].kind)
					: populate_once(b[i].kind,
							b[i].threads ? threads
								     : 1);
				ok[i] = ms >= 0;
				if (r)
					t[i][r - 1] = ms;
			}
		}
	}
	if (huge)
		hugepages_restore(2048, before);
	for (int i = 0; i < POP_ROWS; i++) {
		struct populate_row *row = &res->pop[res->npop++];

		*row = (struct populate_row){
			.backend = b[i].name,
			.ms = ok[i] ? median(t[i], runs) : -1,
		};
		if (b[i].kind == GMEM_BACKEND_HUGETLB && !huge)
			row->why = "cannot reserve 2048 pages of 2 MiB";
		else if (!ok[i])
			row->why = "backend unavailable";
	}
}

double real_populate_ms(const struct real_result *r, const char *backend)
{
	for (int i = 0; i < r->npop; i++)
		if (!strcmp(r->pop[i].backend, backend) && r->pop[i].ms >= 0)
			return r->pop[i].ms;
	return NAN;
}

void real_run(int runs, struct real_result *res)
{
	memset(res, 0, sizeof(*res));
	res->lib_ns = NAN;
	conv_backend(runs, GMEM_BACKEND_MEMFD, "memfd", false, res);
	conv_backend(runs, GMEM_BACKEND_GUEST_MEMFD, "guest_memfd", false,
		     res);
	conv_backend(runs, GMEM_BACKEND_MEMFD, "memfd", true, res);
	lib_share(runs, res);
	/* The kernel's part of a 4 KiB conversion: all of it, on pages the
	 * VMM had touched, less the library's own work. */
	res->kernel_ns = real_conv(res, "memfd", "4 KiB", true)->ns -
			 res->lib_ns;
	populate_all(runs < 5 ? runs : 5, res);
}

const struct conv_row *real_conv(const struct real_result *r,
				 const char *backend, const char *size,
				 bool touched)
{
	static const struct conv_row none = { .ns = NAN, .base_ns = NAN,
					       .calls = NAN };

	for (int i = 0; i < r->nconv; i++)
		if (!strcmp(r->conv[i].backend, backend) &&
		    !strcmp(r->conv[i].size, size) &&
		    r->conv[i].touched == touched)
			return &r->conv[i];
	return &none;
}

void real_print(const struct real_result *r, int json)
{
	if (json) {
		printf("\"conversions\":[");
		for (int i = 0; i < r->nconv; i++)
			printf("%s{\"backend\":\"%s\",\"size\":\"%s\","
			       "\"touched\":%s,"
			       "\"ns\":%.1f,\"calls\":%.2f,\"base_ns\":%.1f,"
			       "\"base_calls\":%.0f}", i ? "," : "",
			       r->conv[i].backend, r->conv[i].size,
			       r->conv[i].touched ? "true" : "false",
			       r->conv[i].ns, r->conv[i].calls,
			       r->conv[i].base_ns, r->conv[i].base_calls);
		printf("],\"lib_ns_4k\":%.1f,\"kernel_ns_4k\":%.1f,"
		       "\"populate_threads\":%u,\"populate_4gib\":[",
		       r->lib_ns, r->kernel_ns, r->populate_threads);
		for (int i = 0; i < r->npop; i++)
			printf("%s{\"backend\":\"%s\",\"ms\":%.1f}",
			       i ? "," : "", r->pop[i].backend, r->pop[i].ms);
		printf("],");
		return;
	}
	printf("\nReal memory: conversions of a 1 GiB guest through the VMM's "
	       "view (PRESERVE), each range\nmade private and shared again; "
	       "baseline: one munmap/mmap per 4 KiB frame on a view of its "
	       "own.\n\"touched\": the VMM wrote every page first, so both "
	       "also tear down a page-table entry per page.\n");
	printf("%-12s %-6s %-9s %12s %8s %14s %8s %10s\n", "backend", "size",
	       "pages", "ns/conv", "calls", "baseline ns", "calls",
	       "speed-up");
	for (int i = 0; i < r->nconv; i++)
		printf("%-12s %-6s %-9s %12.0f %8.2f %14.0f %8.0f %10.1f\n",
		       r->conv[i].backend, r->conv[i].size,
		       r->conv[i].touched ? "touched" : "untouched",
		       r->conv[i].ns,
		       r->conv[i].calls, r->conv[i].base_ns,
		       r->conv[i].base_calls,
		       r->conv[i].base_ns / r->conv[i].ns);
	double cold = real_conv(r, "memfd", "4 KiB", false)->ns - r->lib_ns;

	printf("A 4 KiB conversion of touched memory, %.0f ns: the library's "
	       "own work %.0f ns (system calls\nmade no-ops), the kernel's "
	       "the other %.0f ns; the library's share %.2f%% of the "
	       "kernel's\n(of untouched memory: %.2f%% of %.0f ns).\n",
	       r->lib_ns + r->kernel_ns, r->lib_ns, r->kernel_ns,
	       100 * r->lib_ns / r->kernel_ns, 100 * r->lib_ns / cold, cold);
	printf("Create and populate a 4 GiB guest (median of up to 5, "
	       "rows interleaved, after a warm-up round;\nthreads: "
	       "populate_threads %u):\n", r->populate_threads);
	for (int i = 0; i < r->npop; i++) {
		if (r->pop[i].ms < 0)
			printf("  %-30s skipped: %s\n", r->pop[i].backend,
			       r->pop[i].why);
		else
			printf("  %-30s %8.0f ms\n", r->pop[i].backend,
			       r->pop[i].ms);
	}
}
