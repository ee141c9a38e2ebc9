/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the rest of the library calls of the notifiers (lib/notify.c). */
#ifndef GMEM_LIB_NOTIFY_H
#define GMEM_LIB_NOTIFY_H

#include <stdint.h>

#include <gmem/notify.h>

struct gmem_guest;

/* Tells the notifiers overlapping [lo, hi) that it changed by why
 * (GMEM_INVAL_*). Any thread; no allocation. */
void notify_dispatch(struct gmem_guest *g, uint64_t lo, uint64_t hi,
		     uint32_t why);
/* Frees every notifier of a guest being destroyed. */
void notify_free(struct gmem_guest *g);

#endif
