/* Compiles with -std=c99 -pedantic -Werror against the installed headers. */
#include <gmem.h>

int consumer_c99(void);

int consumer_c99(void)
{
	GMEM_OPTS(gmem_region_opts, ropts, .attr = GMEM_ATTR_SHARED);

	return (int)ropts.sz + (int)gmem_version();
}
