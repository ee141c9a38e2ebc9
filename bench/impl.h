/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One interface over the stores gmem-bench compares: libgmem and the two
 * baselines that mimic designs in use today.
 */
#ifndef GMEM_BENCH_IMPL_H
#define GMEM_BENCH_IMPL_H

#include <stddef.h>
#include <stdint.h>

struct impl {
	const char *name;
	/* A guest of nframes frames (a multiple of 1 GiB), all private. */
	void *(*create)(uint64_t nframes);
	void (*destroy)(void *ctx);
	int (*convert)(void *ctx, uint64_t gfn, uint64_t n, unsigned int attr);
	/* 0 private, 1 shared, 2 mixed */
	unsigned int (*range_attr)(void *ctx, uint64_t gfn, uint64_t n);
	uint64_t (*meta_bytes)(void *ctx);
};

extern const struct impl impl_gmem;
extern const struct impl impl_bitmap;
extern const struct impl impl_bitmap_bare;
extern const struct impl impl_radix;

#endif
