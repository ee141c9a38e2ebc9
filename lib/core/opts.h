/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sz convention of options structs (see gmem/common.h). */
#ifndef GMEM_LIB_OPTS_H
#define GMEM_LIB_OPTS_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define offsetofend(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/* NULL is valid (all defaults); sz must cover itself; a tail beyond what
 * this library knows must be zero, or the caller asks for more than we
 * can honour. */
static inline int opts_check(const void *opts, size_t known)
{
	size_t sz;
	const unsigned char *p;

	if (!opts)
		return 0;
	sz = *(const size_t *)opts;
	if (sz < sizeof(size_t))
		return -EINVAL;
	for (p = (const unsigned char *)opts + known;
	     p < (const unsigned char *)opts + sz; p++)
		if (*p)
			return -E2BIG;
	return 0;
}

/* The bytes of struct type this library knows: up to the end of its
 * last field, type##__last_field (the public header's). */
#define OPTS_KNOWN(type) offsetofend(struct type, type##__last_field)
/* An input struct of type: opts_check up to its last field. */
#define OPTS_VALID(opts, type) opts_check(opts, OPTS_KNOWN(type))
/* A struct whose last field is not its end, or whose __last_field was
 * not moved with a field added, would let a newer caller's field go
 * unseen: the build stops. */
#define OPTS_NO_TAIL(type)                                                     \
	_Static_assert(OPTS_KNOWN(type) == sizeof(struct type),               \
		       #type ": tail padding, or __last_field not its last")

#define OPTS_HAS(o, f) ((o) && (o)->sz >= offsetofend(__typeof__(*(o)), f))
#define OPTS_GET(o, f, def) (OPTS_HAS(o, f) ? (o)->f : (def))
#define OPTS_SET(o, f, v)                                                      \
	do {                                                                   \
		if (OPTS_HAS(o, f))                                            \
			(o)->f = (v);                                          \
	} while (0)

/* Copies a result struct (known bytes of it) out to a caller whose struct may be older
 * (shorter) or newer (longer, its unknown tail zeroed). */
static inline int out_struct(void *dst, const void *src, size_t known)
{
	size_t sz;

	if (!dst)
		return -EINVAL;
	sz = *(const size_t *)dst;
	if (sz < sizeof(size_t))
		return -EINVAL;
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
	       (sz < known ? sz : known) - sizeof(size_t));
	if (sz > known)
		memset((char *)dst + known, 0, sz - known);
	return 0;
}

#endif
