/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An allocator for tests, passed as gmem_alloc_ops: malloc underneath
 * (so memory checkers see every allocation), counting what is live, and
 * able to fail the Nth allocation.
 */
#ifndef GMEM_TEST_ALLOC_H
#define GMEM_TEST_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

struct test_alloc {
	struct gmem_alloc_ops ops;
	int64_t live_bytes;
	int64_t live_objects;
	uint64_t calls;		/* allocations attempted */
	uint64_t fail_at;	/* 1-based call to fail; 0: never */
};

void test_alloc_init(struct test_alloc *ta);

/*
 * Runs body on a fresh guest with one region [0, npages) whose
 * allocations fail at the nth call from the start of body, for n = 1,
 * 2, ... until a run in which body met no -ENOMEM (body says whether it
 * did). After each run the allocator must hold nothing. Returns the
 * runs.
 */
uint64_t test_alloc_each_failure(uint64_t npages,
				 bool (*body)(struct gmem_guest *g, void *ctx),
				 void *ctx);
struct Suite;
/* Runs a Check suite and frees it; the process exit status. */
int test_run_suite(struct Suite *s);
/* Reads a size from the environment, for runs under memory checkers. */
uint64_t test_env_u64(const char *name, uint64_t def);

/*
 * Check's ck_assert records every passing check with a system call: hot
 * loops use these, which only call Check on a failure.
 */
#define EXPECT_EQ(a, b)                                                      \
	do {                                                                 \
		unsigned long long a_ = (a), b_ = (b);                       \
									     \
		if (a_ != b_)                                                \
			ck_abort_msg("%s == %s: %llu != %llu", #a, #b, a_,   \
				     b_);                                    \
	} while (0)
#define EXPECT(cond)                                                         \
	do {                                                                 \
		if (!(cond))                                                 \
			ck_abort_msg("%s", #cond);                           \
	} while (0)

#endif
