/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One interface over the stores gmem-bench compares: libgmem and the two
 * baselines that mimic designs in use today.
 */
#ifndef GMEM_BENCH_IMPL_H
#define GMEM_BENCH_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One operation of a workload: a conversion of [gfn, gfn + n) to attr,
 * or a query of it. 16 bytes, so the harness streams little. */
struct op {
	uint64_t gfn;
	uint64_t n : 63;
	uint64_t attr : 1;
};

struct impl {
	const char *name;
	/* A guest of nframes frames (a multiple of 1 GiB), all private. */
	void *(*create)(uint64_t nframes);
	void (*destroy)(void *ctx);
	int (*convert)(void *ctx, uint64_t gfn, uint64_t n, unsigned int attr);
	/* 0 private, 1 shared, 2 mixed */
	unsigned int (*range_attr)(void *ctx, uint64_t gfn, uint64_t n);
	uint64_t (*meta_bytes)(void *ctx);
	/* The timed loops, calling the store's operations directly (no
	 * function pointer): 0 or -1 if a conversion failed; the sum of the
	 * query results. */
	int (*convert_all)(void *ctx, const struct op *ops, uint64_t n);
	unsigned int (*query_all)(void *ctx, const struct op *ops, uint64_t n);
};

/*
 * A baseline's convert and range_attr: one call each, never inlined into
 * the timed loop, just as every libgmem call is a call into the library.
 */
#define STORE_OP __attribute__((noinline))

/* Defines prefix_convert_all and prefix_query_all over a store's
 * convert and range_attr functions of the same file. */
#define IMPL_LOOPS(prefix, convert, range_attr)                               \
	static int prefix##_convert_all(void *ctx, const struct op *ops,       \
					uint64_t n)                            \
	{                                                                      \
		uint64_t i;                                                    \
									       \
		for (i = 0; i < n; i++)                                        \
			if (convert(ctx, ops[i].gfn, ops[i].n, ops[i].attr))   \
				return -1;                                     \
		return 0;                                                      \
	}                                                                      \
	static unsigned int prefix##_query_all(void *ctx, const struct op *ops,\
					       uint64_t n)                     \
	{                                                                      \
		unsigned int acc = 0;                                          \
		uint64_t i;                                                    \
									       \
		for (i = 0; i < n; i++)                                        \
			acc += range_attr(ctx, ops[i].gfn, ops[i].n);          \
		return acc;                                                    \
	}

extern const struct impl impl_gmem;
extern const struct impl impl_bitmap;
extern const struct impl impl_bitmap_bare;
extern const struct impl impl_radix;
/* libgmem without its probes, once impl_noprobes_load found it. */
extern const struct impl impl_noprobes;
bool impl_noprobes_load(void);

#endif
