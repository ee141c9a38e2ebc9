// Compiles as C++11 -pedantic without warnings against the installed
// headers; GMEM_OPTS declares a struct zeroed with sz set.
#include <gmem.h>

int consumer_cxx();

int consumer_cxx()
{
	GMEM_OPTS(gmem_region_opts, ropts);

	ropts.attr = GMEM_ATTR_SHARED;
	return static_cast<int>(ropts.sz + gmem_version() +
				GMEM_BLOCK_FRAMES / GMEM_BLOCK_FRAMES);
}
