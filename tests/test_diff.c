/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Randomized differential test: the driver of diff.c on every layout,
 * its choices from a seeded generator.
 *
 * GMEM_DIFF_OPS sets the number of operations (default 1,000,000, split
 * over the layouts); GMEM_DIFF_SEED the seed.
 */
#include <check.h>
#include <stdbool.h>

#include "diff.h"
#include "test_alloc.h"

static uint64_t rng_state;

static uint64_t xorshift(void *ctx)
{
	(void)ctx;
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static bool never_dry(void *ctx)
{
	(void)ctx;
	return false;
}

static void fail_check(const char *msg)
{
	ck_abort_msg("%s", msg);
}

START_TEST(test_differential)
{
	uint64_t nops = test_env_u64("GMEM_DIFF_OPS", 1000000) / diff_nlayouts;
	uint64_t seed = test_env_u64("GMEM_DIFF_SEED", 0x9e3779b97f4a7c15);
	struct diff_source src = { xorshift, never_dry, NULL };

	rng_state = seed + (uint64_t)_i * 0x1234567;
	diff_fail = fail_check;
	diff_run((unsigned int)_i, nops, &src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("differential");
	TCase *tc = tcase_create("model");

	tcase_set_timeout(tc, 1200);
	tcase_add_loop_test(tc, test_differential, 0, (int)diff_nlayouts);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
