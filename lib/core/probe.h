/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * USDT probes, provider "gmem" (doc/probes.md lists them with their
 * arguments). A probe not attached is one nop and costs nothing
 * measurable; its arguments must be values the code has at hand, since
 * they are computed whether or not anything listens. Built with
 * -DGMEM_PROBES=OFF, every probe is gone.
 */
#ifndef GMEM_LIB_PROBE_H
#define GMEM_LIB_PROBE_H

#ifdef GMEM_PROBES
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>
#define GMEM_PROBE(...) STAP_PROBEV(gmem, __VA_ARGS__)
#else
/* Takes the arguments, so that a value computed only for a probe is
 * still used; the compiler drops them. */
static inline void gmem_probe_off(int none, ...)
{
	(void)none;
}
#define GMEM_PROBE(name, ...) gmem_probe_off(0, ##__VA_ARGS__)
#endif

#endif
