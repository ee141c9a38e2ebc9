/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sleeping half of the slot lock. The only system calls of the core
 * are here: a port to a hypervisor replaces futex wait and wake.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "slot_lock.h"

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

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
			futex_wait(w, old | SLOT_WAIT);
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
		futex_wake_all(w);
}
