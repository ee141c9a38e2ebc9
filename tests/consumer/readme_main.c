/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs the embedding example of README.md, compiled from the README. */
#include <gmem.h>

int setup(uint64_t base_pfn, uint64_t npages, struct gmem_pool **pool,
	  struct gmem_guest **out);

int main(void)
{
	struct gmem_pool *pool;
	struct gmem_guest *g;
	unsigned int a = 9, b = 9;

	if (setup(GMEM_BLOCK_FRAMES, 4 * GMEM_BLOCK_FRAMES, &pool, &g))
		return 1;
	if (gmem_attr_get(g, 0x1000 + 15, &a) || a != GMEM_ATTR_SHARED ||
	    gmem_attr_get(g, 0x1000 + 16, &b) || b != GMEM_ATTR_PRIVATE)
		return 1;
	return gmem_guest_destroy(g) || gmem_pool_destroy(pool);
}
