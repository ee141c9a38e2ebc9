/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Paging's state, shared by the states (paging.c) and the pager's side
 * (pager.c). */
#ifndef GMEM_LIB_PAGING_H
#define GMEM_LIB_PAGING_H

#include <gmem/page.h>

#include "core/frame_set.h"
#include "guest/guest.h"

/* A slot of the request ring. */
struct req_slot {
	_Atomic uint32_t state;		/* SLOT_* of pager.c */
	uint64_t gfn;
};

/* A vCPU's token, or a sleeper's entry (sleeper). */
struct page_wait {
	uint64_t token, gfn;
	uint32_t vcpu;
	int32_t status;			/* a sleeper's, once done */
	bool sleeper, done;
};

struct pager {
	uint32_t mask;			/* ring slots - 1 */
	int pager_fd, ready_fd;
	struct req_slot *ring;
	_Atomic uint64_t head;		/* the next slot to pop */
	_Atomic uint64_t tail;		/* the next slot to claim */
	_Atomic uint32_t room;		/* bumped by pops: full producers
					 * sleep on it */
	/* Under the paging lock: */
	struct page_wait *waits;
	uint32_t nwaits, waits_cap;
	struct gmem_page_ready *ready;
	uint32_t nready, ready_cap;
	uint64_t next_token;
	/* Blocks a TRY met the ring full for, oldest first: popped after
	 * the ring's requests, so no vCPU waits for room. */
	uint64_t *deferred;
	uint32_t ndeferred, deferred_cap;
	_Atomic uint32_t any_deferred;	/* ndeferred != 0, for pop */
};

/*
 * Each slot's bits of the absent set, for lookups that take no lock: a
 * table by slot number in two levels, whose pages are made before their
 * first use and kept until the guest goes, and whose entries stay valid
 * as long as the set keeps those bits (it is never trimmed).
 */
#define BITS_PAGE_SHIFT 11
#define BITS_DIR_SIZE (UINT64_C(1) << (40 - 18 - BITS_PAGE_SHIFT))
typedef const uint64_t *_Atomic slot_bits_page[1u << BITS_PAGE_SHIFT];

/* Paging states: sparse sets of frames, under lock. */
struct paging {
	struct guest_ext ext;		/* first: the guest's record of it */
	_Atomic uint32_t lock;
	_Atomic uint32_t done_seq;	/* bumped by completions: sleepers
					 * wait on it */
	struct fset absent;		/* not present: the states below */
	struct fset paged;		/* PAGED */
	struct fset in;			/* PAGING_IN */
	struct fset loaded;		/* PAGING_IN with the data back */
	struct frame_ranges never;	/* never to be paged */
	struct pager *_Atomic pager;	/* once attached */
	slot_bits_page *_Atomic bits_dir[BITS_DIR_SIZE];
};

/* The sets, made by the first call that needs them; NULL: -ENOMEM. */
struct paging *paging_get(struct gmem_guest *g);
/* The same, NULL if g never paged. */
struct paging *paging_find(const struct gmem_guest *g);

/* The first frame of [lo, hi) not present, or hi. */
uint64_t page_first_absent(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi);
/* The first present frame of [lo, hi), or hi. */
uint64_t page_next_present(const struct gmem_guest *g, uint64_t lo,
			   uint64_t hi);
/* Whether gfn, in a bound slot, is known present with no lock taken:
 * false means "ask under the lock". Any thread. */
bool page_present_fast(const struct gmem_guest *g, uint64_t gfn);

/* The pager's side, under the paging lock unless said: */
void pager_free(struct gmem_guest *g, struct paging *p);	/* unlocked */
/* The first frame of [lo, hi) a sleeping lookup waits for, or hi. */
uint64_t pager_first_waited(const struct paging *p, uint64_t lo, uint64_t hi);
/* Room for the events completing [lo, hi) makes. */
int pager_complete_reserve(struct gmem_guest *g, struct paging *p,
			   uint64_t lo, uint64_t hi);
/* [lo, hi) completed: tokens become events, sleepers are told. Whether
 * any was; if so, pager_wake after the lock. */
bool pager_complete(struct paging *p, uint64_t lo, uint64_t hi, int status);
void pager_wake(struct paging *p);				/* unlocked */

#endif
