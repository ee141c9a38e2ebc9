/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libgmem common definitions: version, frame geometry, attributes, the
 * options-struct convention and the metadata allocator callbacks.
 */
#ifndef GMEM_COMMON_H
#define GMEM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(GMEM_API)
#define GMEM_API __attribute__((visibility("default")))
#elif !defined(GMEM_API)
#define GMEM_API
#endif

#define GMEM_VERSION_MAJOR 1
#define GMEM_VERSION_MINOR 6
#define GMEM_VERSION_PATCH 0
/* One integer, comparable with <, for compile-time checks. */
#define GMEM_VERSION_CODE(maj, min, pat) (((maj) << 16) | ((min) << 8) | (pat))
/* Spelled out, not through GMEM_VERSION_CODE, so that binding
 * generators (bindgen) that do not expand function-like macros keep it. */
#define GMEM_VERSION \
	((GMEM_VERSION_MAJOR << 16) | (GMEM_VERSION_MINOR << 8) | GMEM_VERSION_PATCH)

/*
 * Frames are 4 KiB and numbered (PFN for host frames, GFN for guest
 * frames). A block is 1 GiB: 2^18 frames, aligned to its own size.
 */
#define GMEM_FRAME_SHIFT 12
#define GMEM_BLOCK_SHIFT 30
/* 64-bit constants (unsigned long long), as literals binding
 * generators keep. */
#define GMEM_BLOCK_FRAMES (1ULL << (GMEM_BLOCK_SHIFT - GMEM_FRAME_SHIFT))
/* Frame numbers are below 2^40: 52-bit physical addresses. */
#define GMEM_FRAME_LIMIT (1ULL << 40)

/* Attribute of a guest frame. */
enum gmem_attr {
	GMEM_ATTR_PRIVATE = 0,
	GMEM_ATTR_SHARED = 1,
	/* Only reported by queries over a range: not one attribute. */
	GMEM_ATTR_MIXED = 2,
};

/*
 * Options structs start with "size_t sz", set by the caller to the size
 * of the struct it was compiled with. The library reads only the fields
 * that sz covers, uses defaults for the rest, and rejects a larger sz
 * whose extra bytes are not zero (-E2BIG). Each struct names its last
 * field in TYPE__last_field and has no tail padding (padding a 1.x
 * struct had is a named, unused field): a field is only ever added
 * after the last one, where an older library sees it. Output structs
 * follow the same rule: the library fills what sz covers and zeroes
 * the rest. GMEM_OPTS declares one, with sz set and the fields given
 * (C99 and later, -pedantic clean with no fields too):
 *
 *	GMEM_OPTS(gmem_region_opts, ropts, .attr = GMEM_ATTR_SHARED);
 *	GMEM_OPTS(gmem_guest_stats, st);
 *
 * In C++, which has no designated initializers before C++20, GMEM_OPTS
 * takes no fields: it declares the struct zeroed with sz set, and the
 * fields are assigned after.
 */
#ifndef __cplusplus
#define GMEM_OPTS(TYPE, ...)						\
	struct TYPE GMEM_OPTS_NAME_(__VA_ARGS__, ~) = {		\
		.sz = sizeof(struct TYPE), GMEM_OPTS_FIELDS_(__VA_ARGS__, ) }
/* The name, and the fields (each with a comma after), of the list. */
#define GMEM_OPTS_NAME_(NAME, ...) NAME
#define GMEM_OPTS_FIELDS_(NAME, ...) __VA_ARGS__
#else
extern "C++" {
template <typename T> static inline T gmem_opts_init_()
{
	T t = T();

	t.sz = sizeof(T);
	return t;
}
}
#define GMEM_OPTS(TYPE, NAME) struct TYPE NAME = gmem_opts_init_<struct TYPE>()
#endif

/*
 * Metadata allocation callbacks, for embedders without a libc heap (a
 * hypervisor). alloc returns memory of at least size bytes aligned to
 * align (a power of two, at most 64), or NULL; free receives the size
 * that was asked for. Both may be called from any thread that calls the
 * library, concurrently. Without them the library uses a private
 * jemalloc arena, never the process-wide malloc.
 */
struct gmem_alloc_ops {
	size_t sz;
	void *(*alloc)(void *ctx, size_t size, size_t align);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
};
#define gmem_alloc_ops__last_field ctx

/*
 * How each function's comment ends:
 *
 *  Errors:  the negative errno values it returns and why; "none" when it
 *           cannot fail. Not repeated there: a NULL handle or required
 *           pointer is -EINVAL, an options or output struct whose sz is
 *           below its first version's size is -EINVAL, and non-zero bytes
 *           past the fields this library knows are -E2BIG. A function that
 *           fails changes nothing unless its comment says otherwise.
 *  Threads: "any": may run concurrently with any call on the same object
 *           except its destroy and calls marked "exclusive";
 *           "exclusive": the caller ensures no other call on the object
 *           (the guest, the pool, the builder...) runs meanwhile; other
 *           words state a narrower rule.
 */

/* GMEM_VERSION of the library loaded at run time. Errors: none.
 * Threads: any. */
GMEM_API unsigned int gmem_version(void);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_COMMON_H */
