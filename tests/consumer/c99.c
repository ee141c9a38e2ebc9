/* Compiles with -std=c99 -pedantic -Werror against the installed headers. */
#include <gmem.h>

int consumer_c99(void);

int consumer_c99(void)
{
	GMEM_OPTS(gmem_region_opts, ropts, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_guest_stats, st);	/* no fields: still pedantic-clean */
	unsigned long long frames = GMEM_BLOCK_FRAMES, limit = GMEM_FRAME_LIMIT;

	return (int)ropts.sz + (int)st.sz + (int)gmem_version() +
	       (GMEM_VERSION >= GMEM_VERSION_CODE(1, 5, 0)) +
	       (int)(frames >> 18) + (int)(limit >> 40);
}
