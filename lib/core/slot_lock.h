/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lock of a 1 GiB slot: one 32-bit word with two holds.
 *
 *  STATE  short: held while the slot's state is read or written, never
 *         across a callback or an allocation. Waiters spin.
 *  TXN    long: held by a conversion transaction from prepare to commit
 *         or abort, across listener callbacks. Other transactions sleep
 *         on it; readers do not wait for it (they see the old state).
 *
 * The state changes only under STATE, and only by the TXN holder or, when
 * TXN is clear, by a one-shot conversion; so a TXN holder reads without
 * STATE. While STATE is held nobody else writes the word, which lets
 * its release be a plain store: a locked query costs one atomic operation.
 *
 * EXC marks a slot with frames a feature blocks, pinned or not present
 * (guest_slots_recheck): a one-shot conversion, which must not change those, leaves such a slot
 * to the transaction path as it leaves a slot a transaction holds. It is
 * changed only by a TXN holder that also takes STATE, so the plain store
 * of a STATE release keeps it.
 *
 * The bits above count STATE releases: a reader that takes no hold reads
 * the word before and after its loads (a sequence count) and trusts what
 * it read only if no STATE hold came in between.
 */
#ifndef GMEM_LIB_SLOT_LOCK_H
#define GMEM_LIB_SLOT_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SLOT_STATE 1u
#define SLOT_TXN 2u
#define SLOT_WAIT 4u
#define SLOT_EXC 8u
#define SLOT_SEQ 16u		/* one STATE release */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/* Acquires STATE; with no_txn, gives up (false) if a transaction holds
 * the slot or it is marked EXC. */
static inline bool slot_state_lock_if(_Atomic uint32_t *w, bool no_txn)
{
	uint32_t old = atomic_load_explicit(w, memory_order_relaxed);

	for (;;) {
		if (no_txn && (old & (SLOT_TXN | SLOT_EXC)))
			return false;
		if (old & SLOT_STATE) {
			cpu_relax();
			old = atomic_load_explicit(w, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
			    w, &old, old | SLOT_STATE, memory_order_acquire,
			    memory_order_relaxed)) {
			/* Readers without a hold who see a store made under
			 * this hold must then see the hold in the word. */
			atomic_thread_fence(memory_order_release);
			return true;
		}
	}
}

static inline void slot_state_lock(_Atomic uint32_t *w)
{
	slot_state_lock_if(w, false);
}

static inline void slot_state_unlock(_Atomic uint32_t *w)
{
	uint32_t v = atomic_load_explicit(w, memory_order_relaxed);

	atomic_store_explicit(w, (v & ~SLOT_STATE) + SLOT_SEQ,
			      memory_order_release);
}

/* Begins a read without a hold: false if a STATE hold is in progress. */
static inline bool slot_read_begin(_Atomic uint32_t *w, uint32_t *seq)
{
	*seq = atomic_load_explicit(w, memory_order_acquire);
	return !(*seq & SLOT_STATE);
}

/* Whether the loads since slot_read_begin saw no STATE hold. */
static inline bool slot_read_valid(_Atomic uint32_t *w, uint32_t seq)
{
	atomic_thread_fence(memory_order_acquire);
	return !((atomic_load_explicit(w, memory_order_relaxed) ^ seq) &
		 ~(SLOT_TXN | SLOT_WAIT | SLOT_EXC));
}

/* The contended halves, which may sleep or wake sleepers. */
void slot_txn_lock_slow(_Atomic uint32_t *w);
void slot_txn_unlock_slow(_Atomic uint32_t *w);

static inline void slot_txn_lock(_Atomic uint32_t *w)
{
	uint32_t old = atomic_load_explicit(w, memory_order_relaxed);

	if ((old & (SLOT_STATE | SLOT_TXN)) ||
	    !atomic_compare_exchange_strong_explicit(w, &old, old | SLOT_TXN,
						     memory_order_acquire,
						     memory_order_relaxed))
		slot_txn_lock_slow(w);
}

/* Acquires TXN if nothing holds the slot and it is not marked EXC;
 * false (and nothing held) otherwise, without waiting. */
static inline bool slot_txn_trylock(_Atomic uint32_t *w)
{
	uint32_t old = atomic_load_explicit(w, memory_order_relaxed);

	return !(old & (SLOT_STATE | SLOT_TXN | SLOT_EXC)) &&
	       atomic_compare_exchange_strong_explicit(w, &old, old | SLOT_TXN,
						       memory_order_acquire,
						       memory_order_relaxed);
}

static inline void slot_txn_unlock(_Atomic uint32_t *w)
{
	uint32_t old = atomic_load_explicit(w, memory_order_relaxed);

	if ((old & (SLOT_STATE | SLOT_WAIT)) ||
	    !atomic_compare_exchange_strong_explicit(w, &old, old & ~SLOT_TXN,
						     memory_order_release,
						     memory_order_relaxed))
		slot_txn_unlock_slow(w);
}

/* Whether EXC is set: exact for the TXN holder, a hint for others. */
static inline bool slot_exc(_Atomic uint32_t *w)
{
	return atomic_load_explicit(w, memory_order_relaxed) & SLOT_EXC;
}

/* Sets or clears EXC; the caller holds TXN, and takes STATE here. */
static inline void slot_exc_set(_Atomic uint32_t *w, bool exc)
{
	uint32_t v;

	slot_state_lock(w);
	v = atomic_load_explicit(w, memory_order_relaxed);
	atomic_store_explicit(w, exc ? v | SLOT_EXC : v & ~SLOT_EXC,
			      memory_order_relaxed);
	slot_state_unlock(w);
}

#endif
