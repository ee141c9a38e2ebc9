/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared/private state of one 1 GiB slot, stored by levels:
 *
 *  slot     uniform: its attribute alone (no detail);
 *  detail   mixed slot: two 512-bit masks over its 2 MiB pieces,
 *           "uniformly shared" and "mixed";
 *  map      mixed piece: a 512-bit map, one bit per frame (1 = shared).
 *
 * The pieces of a slot form eight groups of 64, one mask word each. The
 * maps of a group's mixed pieces lie side by side in one array, in piece
 * order, so a piece's map is found from its mask word alone: base of the
 * group plus the count of mixed pieces before it. Finding a frame's bit
 * thus costs two dependent loads after the slot, and inserting or
 * removing a map moves at most one group (4 KiB).
 *
 * Invariants: a slot with a detail is not uniform, a piece with a map is
 * not uniform. So "is this aligned 2 MiB or 1 GiB uniform?" reads one bit
 * or one pointer, and uniform memory costs only the slot.
 *
 * Such queries take no lock. Details are type-stable: once allocated, a
 * detail stays a detail of its guest (in use or in the guest's cache)
 * until the guest is destroyed, so a reader holding a stale pointer
 * still reads a detail, and the slot's sequence count (slot_lock.h)
 * tells it to retry. The masks are therefore read and written with
 * atomic accesses; maps are read only under the slot's STATE hold.
 *
 * Frame offsets here are relative to the slot: 0 .. SLOT_FRAMES.
 */
#ifndef GMEM_LIB_STATE_H
#define GMEM_LIB_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem/common.h>

#include "bits.h"
#include "heap.h"

#define PIECE_SHIFT 9
#define PIECE_FRAMES (1u << PIECE_SHIFT)
#define SLOT_SHIFT 18
#define SLOT_FRAMES (1u << SLOT_SHIFT)
#define SLOT_PIECES (SLOT_FRAMES / PIECE_FRAMES)
#define GROUP_SHIFT 6
#define GROUP_PIECES (1u << GROUP_SHIFT)
#define SLOT_GROUPS (SLOT_PIECES / GROUP_PIECES)
#define MAP_WORDS (PIECE_FRAMES / 64)

/* The frames of [gfn, end) in slot number si, as slot offsets [a, b). */
static inline void slot_span(uint64_t si, uint64_t gfn, uint64_t end,
			     uint32_t *a, uint32_t *b)
{
	uint64_t start = si << SLOT_SHIFT;

	*a = gfn > start ? (uint32_t)(gfn - start) : 0;
	*b = end < start + SLOT_FRAMES ? (uint32_t)(end - start) : SLOT_FRAMES;
}

typedef uint64_t piece_map[MAP_WORDS];

struct slot_detail {
	uint64_t shared[SLOT_GROUPS];
	uint64_t mixed[SLOT_GROUPS];
	piece_map *maps[SLOT_GROUPS];	/* per group, cap[] entries */
	struct slot_detail *next;	/* in a retired list or the cache */
	/* A smallest group array kept when the slot turned uniform, for its
	 * next split: a slot toggling one piece then allocates nothing. */
	piece_map *spare;
	uint8_t cap[SLOT_GROUPS];
	uint16_t nshared;
};

/* Where a guest's state memory comes from: its heap, and the cache of
 * details no slot uses now. */
struct state_mem {
	struct heap *heap;
	_Atomic uint32_t lock;		/* guards free */
	struct slot_detail *free;
};

/*
 * detail and attr are written under the slot's STATE hold, with atomic
 * stores: a reader may load them without the hold to answer for a
 * uniform slot (detail NULL) in two loads. A slot turning uniform stores
 * attr before it clears detail, so such a reader never pairs a NULL
 * detail with an attribute older than that detail.
 */
struct slot {
	_Atomic uint32_t lock;		/* slot_lock.h */
	uint8_t attr;			/* the attribute when detail is NULL */
	uint8_t bound;			/* a block backs the slot */
	uint64_t pfn;			/* first frame of the block */
	struct slot_detail *detail;
};

/* The block: bound once, before any reader can see the slot. */
static inline bool slot_bound(const struct slot *s)
{
	return s->bound;
}

static inline uint64_t slot_pfn(const struct slot *s)
{
	return s->pfn;
}

/* Binds a fresh (zeroed) slot to the block at pfn, uniformly attr. */
static inline void slot_bind(struct slot *s, uint64_t pfn, unsigned int attr)
{
	s->pfn = pfn;
	s->bound = 1;
	s->attr = (uint8_t)attr;
}

/* The masks of a detail are read without holds (see above). */
static inline uint64_t mask_get(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static inline void mask_put(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

static inline uint64_t piece_bit(uint32_t p)
{
	return UINT64_C(1) << (p & (GROUP_PIECES - 1));
}

/* Index of piece p's map in its group's array. */
static inline unsigned int piece_rank(const struct slot_detail *d, uint32_t p)
{
	return (unsigned int)__builtin_popcountll(d->mixed[p >> GROUP_SHIFT] &
						  (piece_bit(p) - 1));
}

/* The attribute of piece p of a mixed slot; safe without a hold. */
static inline unsigned int state_piece(const struct slot_detail *d,
				       uint32_t p)
{
	if (mask_get(&d->mixed[p >> GROUP_SHIFT]) & piece_bit(p))
		return GMEM_ATTR_MIXED;
	return (mask_get(&d->shared[p >> GROUP_SHIFT]) & piece_bit(p)) != 0;
}

/* The attribute of whole pieces lo..hi-1 of a mixed slot's detail; safe
 * without a hold, to be checked with slot_read_valid. */
unsigned int state_pieces(const struct slot_detail *d, uint32_t lo,
			  uint32_t hi);

static inline struct slot_detail *slot_detail_peek(const struct slot *s)
{
	return __atomic_load_n(&s->detail, __ATOMIC_ACQUIRE);
}

static inline unsigned int slot_attr_peek(const struct slot *s)
{
	return __atomic_load_n(&s->attr, __ATOMIC_RELAXED);
}

/* Memory a state change needs: a detail, and bigger map arrays for up
 * to two groups (those of the pieces the range covers in part). */
struct state_need {
	bool detail;
	uint8_t ngrow;
	struct {
		uint8_t group, cap;
	} grow[2];
};

struct state_reserve {
	struct slot_detail *detail;
	struct {
		uint8_t group, cap;
		piece_map *maps;	/* NULL: cell unused */
	} grow[2];
};

/* Memory detached by a change, released after the slot lock is dropped:
 * heap blocks, and details that go back to the cache. */
struct retired_block {
	struct retired_block *next;
	size_t size;
};

struct retired {
	struct retired_block *blocks;
	struct slot_detail *details;
};

unsigned int state_get(const struct slot *s, uint32_t off);
/* GMEM_ATTR_SHARED, _PRIVATE or _MIXED over [a, b). */
unsigned int state_range(const struct slot *s, uint32_t a, uint32_t b);
/* First offset in (a, limit] where the attribute differs from that of a. */
uint32_t state_run_end(const struct slot *s, uint32_t a, uint32_t limit);
uint64_t state_shared_frames(const struct slot *s);
unsigned int state_mixed_pieces(const struct slot *s);

void state_plan(const struct slot *s, uint32_t a, uint32_t b,
		unsigned int attr, struct state_need *need);
static inline bool state_need_none(const struct state_need *need)
{
	return !need->detail && !need->ngrow;
}
static inline bool state_reserve_empty(const struct state_reserve *r)
{
	return !r->detail && !r->grow[0].maps && !r->grow[1].maps;
}
/* Whether r holds all that need asks for. */
bool state_reserve_covers(const struct state_reserve *r,
			  const struct state_need *need);
/* Makes r hold exactly what need asks for (keeping what fits). */
int state_reserve(struct state_mem *m, const struct state_need *need,
		  struct state_reserve *r);
void state_unreserve(struct state_mem *m, struct state_reserve *r);

/* Sets [a, b) to attr, using memory planned into r (NULL if the plan
 * needed none); cannot fail. */
void state_set(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
	       struct state_reserve *r, struct retired *retired);
/*
 * The common changes, made inline in the caller under the STATE hold: no
 * change at all, a whole uniform slot, a whole piece of a mixed slot,
 * frames of a mixed piece. STATE_QUICK_NO: not one of them, nothing
 * changed; otherwise the change is made, and for _PIECE and _SLOT the
 * piece or the slot may have become uniform: state_finish must follow.
 */
enum state_quick {
	STATE_QUICK_DONE,
	STATE_QUICK_NO,
	STATE_QUICK_PIECE,
	STATE_QUICK_SLOT,
};

/* A change inside one word of a piece's map: the word and the bits of
 * the range in it. */
struct state_word {
	uint64_t *w;
	uint64_t m;
};

/* Sets sw's bits to attr: _PIECE if the word is left uniform (the piece
 * may be), else _DONE. */
static inline enum state_quick state_set_word(const struct state_word *sw,
					      unsigned int attr)
{
	uint64_t w = (*sw->w & ~sw->m) | (sw->m & -(uint64_t)attr);

	*sw->w = w;
	return w && ~w ? STATE_QUICK_DONE : STATE_QUICK_PIECE;
}

/* Always inlined: the one-shot path is built around it (with a third
 * caller, the compiler had stopped inlining it, costing W1 1 ns). */
static inline __attribute__((always_inline)) enum state_quick
state_set_quick(struct slot *s, uint32_t a, uint32_t b, unsigned int attr)
{
	struct slot_detail *d = s->detail;
	uint32_t p = a >> PIECE_SHIFT, lo, hi;
	unsigned int g = p >> GROUP_SHIFT;
	uint64_t bit = piece_bit(p), sh, *map;

	if (!d) {
		if (a == 0 && b == SLOT_FRAMES)
			__atomic_store_n(&s->attr, (uint8_t)attr,
					 __ATOMIC_RELAXED);
		else if (s->attr != attr)
			return STATE_QUICK_NO;
		return STATE_QUICK_DONE;
	}
	if (p != (b - 1) >> PIECE_SHIFT)
		return STATE_QUICK_NO;
	sh = d->shared[g];
	if (!(d->mixed[g] & bit)) {
		if (!(sh & bit) == !attr)
			return STATE_QUICK_DONE;
		if (b - a != PIECE_FRAMES)
			return STATE_QUICK_NO;
		/* Toggling workloads make attr random: no branch on it. */
		mask_put(&d->shared[g], sh ^ bit);
		d->nshared = (uint16_t)(d->nshared + 2 * attr - 1);
		return !d->nshared || d->nshared == SLOT_PIECES
			       ? STATE_QUICK_SLOT : STATE_QUICK_DONE;
	}
	if (b - a == PIECE_FRAMES)
		return STATE_QUICK_NO;
	map = d->maps[g][piece_rank(d, p)];
	lo = a & (PIECE_FRAMES - 1);
	hi = b - (p << PIECE_SHIFT);
	if (lo >> 6 == (hi - 1) >> 6) {
		const struct state_word sw = {
			&map[lo >> 6],
			bits_word_mask(lo & 63, ((hi - 1) & 63) + 1) };

		return state_set_word(&sw, attr);
	}
	bits_assign(map, lo, hi, attr);
	return STATE_QUICK_PIECE;
}

/* What state_range_mapped answers where it cannot tell cheaply. */
#define STATE_ASK (GMEM_ATTR_MIXED + 1)

/*
 * The attribute of [a, b) where it lies in one word of a mixed piece's
 * map, as a 4 KiB conversion in a mixed region does, and that word in
 * *sw: a change of it needs no memory (the map is there), and is made
 * with state_set_word within the same STATE hold, or by the holder of
 * TXN under STATE (the word stays where it is while TXN is held: only
 * its holder changes the slot). STATE_ASK elsewhere: state_range and
 * state_plan tell. In a line or two, where they take a hundred
 * instructions.
 */
static inline unsigned int state_range_mapped(const struct slot *s,
					      uint32_t a, uint32_t b,
					      struct state_word *sw)
{
	const struct slot_detail *d = s->detail;
	uint32_t p = a >> PIECE_SHIFT, lo = a & (PIECE_FRAMES - 1);
	uint32_t hi = b - (p << PIECE_SHIFT);
	uint64_t w;

	/* One word of piece p's map (so hi <= PIECE_FRAMES too). */
	if (!d || lo >> 6 != (hi - 1) >> 6 ||
	    !(d->mixed[p >> GROUP_SHIFT] & piece_bit(p)))
		return STATE_ASK;
	sw->w = &d->maps[p >> GROUP_SHIFT][piece_rank(d, p)][lo >> 6];
	sw->m = bits_word_mask(lo & 63, ((hi - 1) & 63) + 1);
	w = *sw->w & sw->m;
	return w == sw->m ? GMEM_ATTR_SHARED : w ? GMEM_ATTR_MIXED
						 : GMEM_ATTR_PRIVATE;
}

/* Completes what state_set_quick answered with q (not _DONE): false (and
 * no change) if the change needs new memory. */
bool state_finish(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
		  enum state_quick q, struct retired *retired);

/* Detaches all detail of s (for release of the slot). */
void state_clear(struct slot *s, struct retired *retired);
void retired_release(struct state_mem *m, struct retired *retired);
/* Frees what a change detached; inline, as most detach nothing. */
static inline void retired_free(struct state_mem *m, struct retired *retired)
{
	if (retired->blocks || retired->details)
		retired_release(m, retired);
}
/* Frees the cache (the guest is going away). */
void state_mem_release(struct state_mem *m);

#endif
