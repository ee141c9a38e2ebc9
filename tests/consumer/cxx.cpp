// Compiles as C++ without warnings against the installed headers.
#include <gmem.h>

int consumer_cxx();

int consumer_cxx()
{
	struct gmem_region_opts ropts = {};

	ropts.sz = sizeof(ropts);
	ropts.attr = GMEM_ATTR_SHARED;
	return static_cast<int>(ropts.sz + gmem_version());
}
