/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gmem/common.h>

unsigned int gmem_version(void)
{
	return GMEM_VERSION;
}
