/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "test_alloc.h"

static void *ta_alloc(void *ctx, size_t size, size_t align)
{
	struct test_alloc *ta = ctx;
	void *p = NULL;

	/* The library may call from several threads at once. */
	if (__atomic_add_fetch(&ta->calls, 1, __ATOMIC_RELAXED) == ta->fail_at)
		return NULL;
	if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align,
			   size))
		return NULL;
	__atomic_add_fetch(&ta->live_bytes, (int64_t)size, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ta->live_objects, 1, __ATOMIC_RELAXED);
	return p;
}

static void ta_free(void *ctx, void *ptr, size_t size)
{
	struct test_alloc *ta = ctx;

	__atomic_sub_fetch(&ta->live_bytes, (int64_t)size, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&ta->live_objects, 1, __ATOMIC_RELAXED);
	free(ptr);
}

void test_alloc_init(struct test_alloc *ta)
{
	memset(ta, 0, sizeof(*ta));
	ta->ops.sz = sizeof(ta->ops);
	ta->ops.alloc = ta_alloc;
	ta->ops.free = ta_free;
	ta->ops.ctx = ta;
}

uint64_t test_env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

uint64_t test_alloc_each_failure(uint64_t npages,
				 bool (*body)(struct gmem_guest *g, void *ctx),
				 void *ctx)
{
	uint64_t n;

	for (n = 1;; n++) {
		GMEM_OPTS(gmem_pool_opts, po, .alloc = NULL);
		struct test_alloc ta;
		struct gmem_pool *pool;
		struct gmem_guest *g;
		bool failed;

		test_alloc_init(&ta);
		po.alloc = &ta.ops;
		ck_assert_int_eq(gmem_pool_create(&po, &pool), 0);
		ck_assert_int_eq(gmem_pool_add_frames(pool, GMEM_BLOCK_FRAMES,
			(npages + GMEM_BLOCK_FRAMES - 1) & ~(uint64_t)(GMEM_BLOCK_FRAMES - 1),
			0, NULL), 0);
		ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
		ck_assert_int_eq(gmem_region_add(g, 0, npages, NULL), 0);
		ta.fail_at = ta.calls + n;
		failed = body(g, ctx);
		ta.fail_at = 0;
		ck_assert_int_eq(gmem_guest_destroy(g), 0);
		ck_assert_int_eq(gmem_pool_destroy(pool), 0);
		ck_assert_int_eq(ta.live_objects, 0);
		if (!failed)
			return n;
	}
}
