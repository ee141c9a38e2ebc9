/* A tiny embedder, built with pkg-config against an installed prefix. */
#include <stdio.h>

#include <gmem.h>

int main(void)
{
	struct gmem_pool *pool;
	struct gmem_guest *guest;
	unsigned int attr;
	int err;

	err = gmem_pool_create(NULL, &pool);
	if (!err)
		err = gmem_pool_add_frames(pool, 0, 2 * GMEM_BLOCK_FRAMES, 0, NULL);
	if (!err)
		err = gmem_guest_create(pool, NULL, &guest);
	if (!err)
		err = gmem_region_add(guest, 0, GMEM_BLOCK_FRAMES, NULL);
	if (!err)
		err = gmem_convert(guest, 42, 1, GMEM_ATTR_SHARED, NULL);
	if (!err)
		err = gmem_attr_get(guest, 42, &attr);
	if (err || attr != GMEM_ATTR_SHARED) {
		fprintf(stderr, "tiny: error %d\n", err);
		return 1;
	}
	gmem_guest_destroy(guest);
	gmem_pool_destroy(pool);
	printf("tiny: libgmem %#x works\n", gmem_version());
	return 0;
}
