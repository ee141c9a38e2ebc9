/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A spinning lock word, for short critical sections that never wait
 * for another thread. */
#ifndef GMEM_LIB_SPIN_H
#define GMEM_LIB_SPIN_H

#include <stdatomic.h>
#include <stdint.h>

static inline void spin_lock(_Atomic uint32_t *w)
{
	uint32_t z = 0;

	while (!atomic_compare_exchange_weak_explicit(
		w, &z, 1, memory_order_acquire, memory_order_relaxed))
		z = 0;
}

static inline void spin_unlock(_Atomic uint32_t *w)
{
	atomic_store_explicit(w, 0, memory_order_release);
}

#endif
