/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared/private state of one 1 GiB slot, stored by levels:
 *
 *  slot     uniform: its attribute alone (no detail);
 *  detail   mixed slot: two 512-bit masks over its 2 MiB pieces,
 *           "uniformly shared" and "mixed";
 *  map      mixed piece: a 512-bit map, one bit per frame (1 = shared),
 *           held in a capacity-sized array ordered by the piece's rank
 *           among the mixed pieces.
 *
 * Invariants: a slot with a detail is not uniform, a piece with a map is
 * not uniform. So "is this aligned 2 MiB or 1 GiB uniform?" reads one bit
 * or one pointer, and uniform memory costs only the slot.
 *
 * Frame offsets here are relative to the slot: 0 .. SLOT_FRAMES.
 */
#ifndef GMEM_LIB_STATE_H
#define GMEM_LIB_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"

#define PIECE_SHIFT 9
#define PIECE_FRAMES (1u << PIECE_SHIFT)
#define SLOT_SHIFT 18
#define SLOT_FRAMES (1u << SLOT_SHIFT)
#define SLOT_PIECES (SLOT_FRAMES / PIECE_FRAMES)
#define MASK_WORDS (SLOT_PIECES / 64)
#define MAP_WORDS (PIECE_FRAMES / 64)

typedef uint64_t piece_map[MAP_WORDS];

struct slot_detail {
	uint64_t shared[MASK_WORDS];
	uint64_t mixed[MASK_WORDS];
	piece_map **maps;
	uint16_t nmixed;
	uint16_t nshared;
	uint16_t cap;
};

struct region;

struct slot {
	_Atomic uint32_t lock;		/* slot_lock.h */
	uint8_t attr;			/* the attribute when detail is NULL */
	uint8_t bound;			/* a block backs the slot */
	uint16_t nregions;		/* regions touching the slot */
	uint64_t pfn;			/* first frame of the block */
	struct region *region;		/* the region covering all of it, or NULL */
	struct slot_detail *detail;
};

/* Memory a state change may need, allocated before the change. */
struct state_need {
	bool detail;
	uint16_t cap;		/* new maps array capacity, 0: none */
	uint8_t nmaps;
};

struct state_reserve {
	struct slot_detail *detail;
	piece_map **maps;
	uint16_t cap;
	uint8_t nmaps;
	piece_map *map[2];
};

/* Memory detached by a change, freed after the slot lock is dropped. */
struct retired {
	struct retired *next;
	size_t size;
};

unsigned int state_get(const struct slot *s, uint32_t off);
/* GMEM_ATTR_SHARED, _PRIVATE or _MIXED over [a, b). */
unsigned int state_range(const struct slot *s, uint32_t a, uint32_t b);
/* First offset in (a, limit] where the attribute differs from that of a. */
uint32_t state_run_end(const struct slot *s, uint32_t a, uint32_t limit);
uint64_t state_shared_frames(const struct slot *s);

void state_plan(const struct slot *s, uint32_t a, uint32_t b,
		unsigned int attr, struct state_need *need);
/* Whether r holds all that need asks for. */
bool state_reserve_covers(const struct state_reserve *r,
			  const struct state_need *need);
int state_reserve(struct heap *h, const struct state_need *need,
		  struct state_reserve *r);
void state_unreserve(struct heap *h, struct state_reserve *r);

/* Sets [a, b) to attr, using memory planned into r; cannot fail. */
void state_set(struct slot *s, uint32_t a, uint32_t b, unsigned int attr,
	       struct state_reserve *r, struct retired **retired);
/* Detaches all detail of s (for release of the slot). */
void state_clear(struct slot *s, struct retired **retired);
void retired_free(struct heap *h, struct retired *list);

#endif
