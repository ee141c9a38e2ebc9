/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sets of guest frames, sparse by 1 GiB slot: a bitmap for each slot
 * that has any frame in the set, with a bit per 2 MiB piece that has
 * any, so that a walk costs the slots and pieces it meets, not the
 * frames of its range. Adding is split in two, so that a caller that
 * must change several things at once fails before it changes any:
 * fset_reserve allocates, fset_add cannot fail. Slots come from the
 * heap's pages (heap_zalloc_pages): a walk meets a line of one per 2
 * MiB, and on the private arena's huge pages those lines share a TLB
 * entry (a clustered harvest 8.9 -> 8.45 us).
 */
#ifndef GMEM_LIB_FRAME_SET_H
#define GMEM_LIB_FRAME_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "state.h"

/* Frames [lo, hi); arrays of structs that start with one, ascending and
 * disjoint, are searched by frame_range_after. */
struct frame_range {
	uint64_t lo, hi;
};

/* In such an array of n elements stride bytes apart: the first ending
 * after gfn, or n. */
uint32_t frame_range_after(const void *v, uint32_t n, size_t stride,
			   uint64_t gfn);

/* A growable array of ascending, disjoint ranges, touching ones joined. */
struct frame_ranges {
	struct frame_range *v;
	uint32_t n, cap;
};

/* Adds or takes away [lo, hi): 0, or -ENOMEM with the ranges unchanged. */
int frame_ranges_add(struct heap *h, struct frame_ranges *r, uint64_t lo,
		     uint64_t hi);
int frame_ranges_del(struct heap *h, struct frame_ranges *r, uint64_t lo,
		     uint64_t hi);
/* The first frame of [lo, hi) in the ranges, or hi. */
uint64_t frame_ranges_first(const struct frame_ranges *r, uint64_t lo,
			    uint64_t hi);
void frame_ranges_free(struct heap *h, struct frame_ranges *r);

struct fset_slot {
	uint64_t si;			/* slot number: gfn >> SLOT_SHIFT */
	uint64_t count;			/* frames in the set */
	uint64_t any[SLOT_GROUPS];	/* pieces with any (or left empty
					 * in with by fset_take) */
	/* A piece's words fill one cache line: a walk or a harvest that
	 * meets a piece misses once on it, not twice. */
	uint64_t bits[SLOT_FRAMES / 64] __attribute__((aligned(64)));
};

struct fset {
	struct fset_slot **v;		/* ascending si */
	uint32_t n, cap;
	uint64_t count;			/* frames in the set */
};

/* Makes room for every frame of [lo, hi): -ENOMEM, the set unchanged. */
int fset_reserve(struct heap *h, struct fset *s, uint64_t lo, uint64_t hi);
/* Adds [lo, hi), reserved before. */
void fset_add(struct fset *s, uint64_t lo, uint64_t hi);
/* Removes [lo, hi); slots left empty stay until fset_trim. */
void fset_del(struct fset *s, uint64_t lo, uint64_t hi);
/* Frees the slots left empty. */
void fset_trim(struct heap *h, struct fset *s);
void fset_free(struct heap *h, struct fset *s);

bool fset_has(const struct fset *s, uint64_t gfn);
/* The bit words of slot si, or NULL: its frames' bits, which may be
 * read without the owner's lock (relaxed atomic loads) as long as the
 * slot is not trimmed. */
const uint64_t *fset_slot_bits(const struct fset *s, uint64_t si);
/* The first frame of [lo, hi) in the set, or hi. */
uint64_t fset_next(const struct fset *s, uint64_t lo, uint64_t hi);

/* Whether any frame of [lo, hi) is in the set. */
static inline bool fset_any(const struct fset *s, uint64_t lo, uint64_t hi)
{
	return s->count && fset_next(s, lo, hi) < hi;
}
/* The first frame of [lo, hi) not in the set, or hi. */
uint64_t fset_next_out(const struct fset *s, uint64_t lo, uint64_t hi);
/* Whether every frame of [lo, hi) is. */
bool fset_all(const struct fset *s, uint64_t lo, uint64_t hi);

/* Frames base + i for each bit i of mask, base a multiple of 64; of
 * them, those of with (fset_take). */
struct fset_word {
	uint64_t base, mask, with;
};

/*
 * Takes out of the set up to *limit of its frames in [lo, hi), lowest
 * first, into at most n words (*limit less the frames taken), and takes
 * the same frames out of with (NULL: none), which a caller keeping two
 * sets, one within the other, walks once for both. The piece bits of
 * with stay set, even where it is left empty: its walks clear them. The
 * words of a 2 MiB piece go to one call, unless they alone are more
 * than n. Returns the words filled; *next is the frame after the last
 * one taken, or hi when none of the range is left.
 */
uint32_t fset_take(struct fset *s, struct fset *with, uint64_t lo,
		   uint64_t hi, uint64_t *limit, struct fset_word *words,
		   uint32_t n, uint64_t *next);

/*
 * A walk over the pieces of a set that hold frames in [lo, hi) (and
 * maybe some that fset_take left empty), in order, with the same pieces
 * of with: for a caller that reads ahead what it will touch (each
 * piece's words share one cache line), or that takes pieces whole
 * (fset_walk_take), where a word at a time would cost more than the
 * misses it overlaps.
 */
struct fset_walk {
	struct fset *s, *with;
	uint64_t lo, hi;		/* the range */
	uint32_t i;			/* the next slot to enter */
	/* The slot the walk is in (NULL: none yet, or past the last), as
	 * worked out once on entering it: */
	struct fset_slot *fs, *ws;	/* its own, and with's (or NULL) */
	uint64_t start;			/* its first frame */
	uint32_t a, b;			/* the range's frames in it */
	uint32_t p, end;		/* the next piece to look at, and the
					 * range's end, in pieces */
};

void fset_walk_init(struct fset_walk *a, struct fset *s, struct fset *with,
		    uint64_t lo, uint64_t hi);
/* The next piece: its first frame, and its words in the set and in
 * with (NULL where with has no slot for it); false after the last. */
bool fset_walk_next(struct fset_walk *a, uint64_t *gfn,
		    const uint64_t **words, const uint64_t **with_words);

/* The frames of one piece taken whole: frame base + 64 * j + i for each
 * bit i of mask[j]. */
struct fset_piece {
	uint64_t base;			/* the piece's first frame */
	uint64_t mask[MAP_WORDS];
	uint64_t with[MAP_WORDS];	/* of them, those with held */
	uint64_t frames, with_frames;	/* their counts */
	bool with_rest;			/* with holds other frames of the
					 * piece, left in it */
};

/* Takes the frames of the walk's range in the piece fset_walk_next gave
 * last out of the set, and the same frames out of with. */
void fset_walk_take(struct fset_walk *a, struct fset_piece *p);

/* Puts back frames of one word that fset_take took. */
void fset_put_word(struct fset *s, uint64_t base, uint64_t mask);

#endif
