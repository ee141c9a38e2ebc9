/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on real memory (real.c). */
#ifndef GMEM_BENCH_REAL_H
#define GMEM_BENCH_REAL_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

/* A guest of frames on a real backend (enum gmem_backend_kind), all
 * shared, with the VMM's view (GMEM_VIEW_* flags). */
struct real_rig {
	int kvm, vm;
	struct gmem_backend *be;
	struct gmem_guest *g;
	struct gmem_view *v;
};

int real_rig_open(struct real_rig *r, unsigned int kind, uint64_t frames,
		  unsigned int vflags, unsigned int threads,
		  const struct gmem_os_ops *os);
void real_rig_close(struct real_rig *r);

/* One conversion size on one backend, against one mmap/munmap per frame. */
struct conv_row {
	const char *backend, *size;
	bool touched;			/* the VMM had touched every page */
	double ns, calls;		/* libgmem, per conversion */
	double base_ns, base_calls;	/* the per-frame baseline */
};

/* Creating and populating a 4 GiB guest. */
struct populate_row {
	const char *backend;
	double ms;			/* < 0: not run */
	const char *why;		/* why not */
};

struct real_result {
	struct conv_row conv[6];
	int nconv;
	double lib_ns;		/* a 4 KiB conversion, system calls made no-ops */
	double kernel_ns;	/* the rest of a 4 KiB conversion */
#define POP_ROWS 9
	struct populate_row pop[POP_ROWS];
	int npop;
	unsigned int populate_threads;	/* of the rows "..., threads" */
};

/* Hooks whose memory and file calls do nothing (the rest are the
 * system calls): what remains of a conversion is the library's. */
void real_noop_os(struct gmem_os_ops *os);

/* ms of the guest start of backend (a populate_row's name); NAN if it
 * did not run. */
double real_populate_ms(const struct real_result *r, const char *backend);

void real_run(int runs, struct real_result *r);
void real_print(const struct real_result *r, int json);
/* The row of a backend, size and touch. */
const struct conv_row *real_conv(const struct real_result *r,
				 const char *backend, const char *size,
				 bool touched);

#endif
