/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Word-wide operations on bit ranges [lo, hi) of uint64_t arrays. */
#ifndef GMEM_LIB_BITS_H
#define GMEM_LIB_BITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of an array of nbits bits. */
static inline size_t bits_bytes(uint64_t nbits)
{
	return (size_t)((nbits + 63) / 64 * sizeof(uint64_t));
}

static inline uint64_t bits_word_mask(uint64_t lo, uint64_t hi)
{
	/* bits lo..hi-1 of one word; 0 <= lo < hi <= 64 */
	uint64_t m = hi == 64 ? ~UINT64_C(0) : (UINT64_C(1) << hi) - 1;

	return m & (~UINT64_C(0) << lo);
}

static inline void bits_assign(uint64_t *w, uint64_t lo, uint64_t hi, bool v)
{
	while (lo < hi) {
		uint64_t i = lo / 64, end = hi - i * 64 > 64 ? 64 : hi - i * 64;
		uint64_t m = bits_word_mask(lo % 64, end);

		w[i] = v ? w[i] | m : w[i] & ~m;
		lo = i * 64 + end;
	}
}

static inline uint64_t bits_count(const uint64_t *w, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;

	while (lo < hi) {
		uint64_t i = lo / 64, end = hi - i * 64 > 64 ? 64 : hi - i * 64;

		n += (uint64_t)__builtin_popcountll(w[i] &
						    bits_word_mask(lo % 64, end));
		lo = i * 64 + end;
	}
	return n;
}

/* First index in [from, nbits) whose bit equals v, else nbits. */
static inline uint64_t bits_find(const uint64_t *w, uint64_t nbits,
				 uint64_t from, bool v)
{
	uint64_t flip = v ? 0 : ~UINT64_C(0);

	while (from < nbits) {
		uint64_t i = from / 64;
		uint64_t word = (w[i] ^ flip) & (~UINT64_C(0) << (from % 64));

		if (word) {
			uint64_t at = i * 64 + (uint64_t)__builtin_ctzll(word);

			return at < nbits ? at : nbits;
		}
		from = (i + 1) * 64;
	}
	return nbits;
}

static inline bool bits_test(const uint64_t *w, uint64_t i)
{
	return (w[i / 64] >> (i % 64)) & 1;
}

#endif
