/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tests' random numbers: xorshift64*, repeatable from a seed. */
#ifndef GMEM_TEST_RNG_H
#define GMEM_TEST_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

#endif
