/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pins (pin.c), as I/O (io.c) and the builders read them. */
#ifndef GMEM_LIB_PIN_SET_H
#define GMEM_LIB_PIN_SET_H

#include "core/frame_set.h"
#include "guest/guest.h"

/* Frames [lo, hi) pinned count times. */
struct pin_run {
	uint64_t lo, hi;	/* a struct frame_range */
	uint32_t count;
};

/* Pins: ascending disjoint runs, under lock; and the frames I/O left
 * shared until the guest's next access (io.c). */
struct pin_set {
	struct guest_ext ext;	/* first: the guest's record of it */
	_Atomic uint32_t lock;
	uint32_t n, cap;
	struct pin_run *v;
	struct frame_ranges lazy;
};

/* The pins of g, made on first use; NULL: -ENOMEM. Any thread. */
struct pin_set *pins_get(struct gmem_guest *g);
/* The same, NULL if g never pinned. */
struct pin_set *pins_find(const struct gmem_guest *g);
/* The first pinned frame of [lo, hi), or hi. */
uint64_t pin_first(const struct gmem_guest *g, uint64_t lo, uint64_t hi);

#endif
