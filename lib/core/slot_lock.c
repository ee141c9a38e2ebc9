/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sleeping half of the slot lock, on the port's futex (port.c). */
#include "port.h"
#include "slot_lock.h"

void slot_txn_lock_slow(_Atomic uint32_t *w)
{
	uint32_t old = atomic_load_explicit(w, memory_order_relaxed);

	for (;;) {
		if (old & SLOT_STATE) {
			cpu_relax();
			old = atomic_load_explicit(w, memory_order_relaxed);
		} else if (!(old & SLOT_TXN)) {
			if (atomic_compare_exchange_weak_explicit(
				    w, &old, old | SLOT_TXN,
				    memory_order_acquire, memory_order_relaxed))
				return;
		} else if ((old & SLOT_WAIT) ||
			   atomic_compare_exchange_weak_explicit(
				   w, &old, old | SLOT_WAIT,
				   memory_order_relaxed,
				   memory_order_relaxed)) {
			port_wait(w, old | SLOT_WAIT);
			old = atomic_load_explicit(w, memory_order_relaxed);
		}
	}
}

void slot_txn_unlock_slow(_Atomic uint32_t *w)
{
	uint32_t old = atomic_load_explicit(w, memory_order_relaxed);

	for (;;) {
		if (old & SLOT_STATE) {
			cpu_relax();
			old = atomic_load_explicit(w, memory_order_relaxed);
		} else if (atomic_compare_exchange_weak_explicit(
				   w, &old, old & ~(SLOT_TXN | SLOT_WAIT),
				   memory_order_release,
				   memory_order_relaxed)) {
			break;
		}
	}
	if (old & SLOT_WAIT)
		port_wake_all(w);
}
