/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sparse sets of guest frames (frame_set.h). */
#include <errno.h>
#include <string.h>

#include "frame_set.h"


/* Bit words are written under the owner's lock, but may be read without
 * it (fset_slot_bits): stores are single and relaxed. */
static inline void word_store(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

uint32_t frame_range_after(const void *v, uint32_t n, size_t stride,
			   uint64_t gfn)
{
	const unsigned char *base = v;
	uint32_t a = 0, b = n;

	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		const struct frame_range *r =
			(const void *)(base + (size_t)mid * stride);

		if (r->hi <= gfn)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

int frame_ranges_add(struct heap *h, struct frame_ranges *r, uint64_t lo,
		     uint64_t hi)
{
	uint32_t i, j;

	if (heap_grow(h, &r->v, &r->cap, r->n, r->n + 1, sizeof(*r->v), 4))
		return -ENOMEM;
	/* [i, j): the ranges that meet or touch [lo, hi), merged into i. */
	i = frame_range_after(r->v, r->n, sizeof(*r->v), lo ? lo - 1 : 0);
	for (j = i; j < r->n && r->v[j].lo <= hi; j++) {
		lo = r->v[j].lo < lo ? r->v[j].lo : lo;
		hi = r->v[j].hi > hi ? r->v[j].hi : hi;
	}
	if (j == i)
		memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
	else
		memmove(&r->v[i + 1], &r->v[j], (r->n - j) * sizeof(*r->v));
	r->v[i] = (struct frame_range){ lo, hi };
	r->n = r->n + 1 - (j - i);
	return 0;
}

int frame_ranges_del(struct heap *h, struct frame_ranges *r, uint64_t lo,
		     uint64_t hi)
{
	uint32_t i = frame_range_after(r->v, r->n, sizeof(*r->v), lo), j, k = 0;
	struct frame_range keep[2];

	for (j = i; j < r->n && r->v[j].lo < hi; j++) {
		if (r->v[j].lo < lo)
			keep[k++] = (struct frame_range){ r->v[j].lo, lo };
		if (r->v[j].hi > hi)
			keep[k++] = (struct frame_range){ hi, r->v[j].hi };
	}
	if (j == i)
		return 0;	/* nothing there (maybe no array at all) */
	if (heap_grow(h, &r->v, &r->cap, r->n, r->n - (j - i) + k,
		      sizeof(*r->v), 4))
		return -ENOMEM;
	memmove(&r->v[i + k], &r->v[j], (r->n - j) * sizeof(*r->v));
	memcpy(&r->v[i], keep, k * sizeof(*keep));
	r->n = r->n - (j - i) + k;
	return 0;
}

uint64_t frame_ranges_first(const struct frame_ranges *r, uint64_t lo,
			    uint64_t hi)
{
	uint32_t i = frame_range_after(r->v, r->n, sizeof(*r->v), lo);

	if (i == r->n || r->v[i].lo >= hi)
		return hi;
	return r->v[i].lo > lo ? r->v[i].lo : lo;
}

void frame_ranges_free(struct heap *h, struct frame_ranges *r)
{
	heap_free(h, r->v, r->cap * sizeof(*r->v));
	*r = (struct frame_ranges){ 0 };
}

/* The position of slot si in s->v, or where it would go. */
static uint32_t find(const struct fset *s, uint64_t si)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->v[mid]->si < si)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct fset_slot *slot_of(const struct fset *s, uint64_t si)
{
	uint32_t i = find(s, si);

	return i < s->n && s->v[i]->si == si ? s->v[i] : NULL;
}

/* The bits of word w (of a slot) that are frames [a, b) of the slot. */
static uint64_t word_mask(uint32_t a, uint32_t b, uint32_t w)
{
	uint32_t lo = w * 64, hi = lo + 64;
	uint64_t m = ~UINT64_C(0);

	if (a >= hi || b <= lo)
		return 0;
	if (a > lo)
		m &= ~UINT64_C(0) << (a - lo);
	if (b < hi)
		m &= ~UINT64_C(0) >> (hi - b);
	return m;
}

/* Slot numbers [*first, *last] of [lo, hi), which is not empty. */
static void slots_of(uint64_t lo, uint64_t hi, uint64_t *first,
		     uint64_t *last)
{
	*first = lo >> SLOT_SHIFT;
	*last = (hi - 1) >> SLOT_SHIFT;
}

int fset_reserve(struct heap *h, struct fset *s, uint64_t lo, uint64_t hi)
{
	uint64_t si, last;

	if (lo >= hi)
		return 0;
	for (slots_of(lo, hi, &si, &last); si <= last; si++) {
		uint32_t i = find(s, si);
		struct fset_slot *fs;

		if (i < s->n && s->v[i]->si == si)
			continue;
		fs = heap_grow(h, &s->v, &s->cap, s->n, s->n + 1,
			       sizeof(*s->v), 8)
			     ? NULL
			     : heap_zalloc_pages(h, sizeof(*fs), 64);
		if (!fs)
			return -ENOMEM;
		fs->si = si;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->v[i] = fs;
		s->n++;
	}
	return 0;
}

static void piece_mark(struct fset_slot *fs, uint32_t w)
{
	uint32_t p = w / MAP_WORDS;

	fs->any[p / 64] |= UINT64_C(1) << (p % 64);
}

/* Clears the piece's bit if its words are all clear. */
static void piece_check(struct fset_slot *fs, uint32_t p)
{
	const uint64_t *w = &fs->bits[p * MAP_WORDS];
	uint32_t i;

	for (i = 0; i < MAP_WORDS; i++)
		if (w[i])
			return;
	fs->any[p / 64] &= ~(UINT64_C(1) << (p % 64));
}

/* The first piece of slot fs from p, below end, whose bit says it has
 * any frame; end if none. */
static uint32_t piece_next(const struct fset_slot *fs, uint32_t p,
			   uint32_t end)
{
	while (p < end) {
		uint64_t any = fs->any[p / 64] >> (p % 64);

		if (any) {
			p += (uint32_t)__builtin_ctzll(any);
			return p < end ? p : end;
		}
		p = (p | 63) + 1;	/* past a clear group at once */
	}
	return end;
}

/* Adds the frames of mask to word w of slot fs. */
static void fset_add_word(struct fset_slot *fs, uint32_t w, uint64_t mask,
			  struct fset *s)
{
	uint64_t m = mask & ~fs->bits[w];

	if (!m)
		return;
	word_store(&fs->bits[w], fs->bits[w] | m);
	fs->count += (uint64_t)__builtin_popcountll(m);
	s->count += (uint64_t)__builtin_popcountll(m);
	piece_mark(fs, w);
}

void fset_add(struct fset *s, uint64_t lo, uint64_t hi)
{
	uint64_t si, last;

	if (lo >= hi)
		return;
	for (slots_of(lo, hi, &si, &last); si <= last; si++) {
		struct fset_slot *fs = slot_of(s, si);
		uint32_t a, b, w;

		slot_span(si, lo, hi, &a, &b);

		for (w = a / 64; w <= (b - 1) / 64; w++)
			fset_add_word(fs, w, word_mask(a, b, w), s);
	}
}

void fset_del(struct fset *s, uint64_t lo, uint64_t hi)
{
	uint64_t si, last;

	if (lo >= hi)
		return;
	for (slots_of(lo, hi, &si, &last); si <= last; si++) {
		struct fset_slot *fs = slot_of(s, si);
		uint32_t a, b, w, p, end;

		slot_span(si, lo, hi, &a, &b);

		if (!fs || !fs->count)
			continue;
		end = (b - 1) / PIECE_FRAMES + 1;
		for (p = piece_next(fs, a / PIECE_FRAMES, end); p < end;
		     p = piece_next(fs, p + 1, end)) {
			for (w = p * MAP_WORDS; w < (p + 1) * MAP_WORDS; w++) {
				uint64_t m = word_mask(a, b, w) & fs->bits[w];

				word_store(&fs->bits[w], fs->bits[w] & ~m);
				fs->count -= (uint64_t)__builtin_popcountll(m);
				s->count -= (uint64_t)__builtin_popcountll(m);
			}
			piece_check(fs, p);
		}
	}
}

void fset_trim(struct heap *h, struct fset *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->n; i++) {
		if (s->v[i]->count)
			s->v[n++] = s->v[i];
		else
			heap_free_pages(h, s->v[i], sizeof(*s->v[i]));
	}
	s->n = n;
}

void fset_free(struct heap *h, struct fset *s)
{
	uint32_t i;

	for (i = 0; i < s->n; i++)
		heap_free_pages(h, s->v[i], sizeof(*s->v[i]));
	heap_free(h, s->v, s->cap * sizeof(*s->v));
	memset(s, 0, sizeof(*s));
}

const uint64_t *fset_slot_bits(const struct fset *s, uint64_t si)
{
	const struct fset_slot *fs = slot_of(s, si);

	return fs ? fs->bits : NULL;
}

bool fset_has(const struct fset *s, uint64_t gfn)
{
	const struct fset_slot *fs = s->count ? slot_of(s, gfn >> SLOT_SHIFT)
					      : NULL;
	uint32_t off = (uint32_t)(gfn & (SLOT_FRAMES - 1));

	return fs && (fs->bits[off / 64] >> (off % 64)) & 1;
}

uint64_t fset_next(const struct fset *s, uint64_t lo, uint64_t hi)
{
	uint32_t i = find(s, lo >> SLOT_SHIFT);

	for (; lo < hi && i < s->n; i++) {
		const struct fset_slot *fs = s->v[i];
		uint64_t start = fs->si << SLOT_SHIFT;
		uint32_t a, b, p, end;

		if (start >= hi)
			break;
		if (!fs->count)
			continue;
		slot_span(fs->si, lo, hi, &a, &b);
		end = (b - 1) / PIECE_FRAMES + 1;
		for (p = piece_next(fs, a / PIECE_FRAMES, end); p < end;
		     p = piece_next(fs, p + 1, end)) {
			uint32_t w;
			bool whole;

			/* A piece the range holds whole needs no masks. */
			whole = p * PIECE_FRAMES >= a &&
				(p + 1) * PIECE_FRAMES <= b;
			for (w = p * MAP_WORDS; w < (p + 1) * MAP_WORDS; w++) {
				uint64_t m = whole ? fs->bits[w]
						   : fs->bits[w] & word_mask(a, b, w);

				if (m)
					return start + w * 64 +
					       (uint64_t)__builtin_ctzll(m);
			}
		}
	}
	return hi;
}

uint64_t fset_next_out(const struct fset *s, uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		uint64_t si = lo >> SLOT_SHIFT, start = si << SLOT_SHIFT;
		const struct fset_slot *fs = s->count ? slot_of(s, si) : NULL;
		uint32_t a, b, w;

		if (!fs || !fs->count)
			return lo;
		slot_span(si, lo, hi, &a, &b);
		if (fs->count < SLOT_FRAMES)
			for (w = a / 64; w <= (b - 1) / 64; w++) {
				uint64_t m = ~fs->bits[w] & word_mask(a, b, w);

				if (m)
					return start + w * 64 +
					       (uint64_t)__builtin_ctzll(m);
			}
		lo = start + b;
	}
	return hi;
}

bool fset_all(const struct fset *s, uint64_t lo, uint64_t hi)
{
	uint64_t si, last;

	if (lo >= hi)
		return true;
	for (slots_of(lo, hi, &si, &last); si <= last; si++) {
		const struct fset_slot *fs = slot_of(s, si);
		uint32_t a, b, w;

		slot_span(si, lo, hi, &a, &b);

		if (!fs || fs->count < b - a)
			return false;
		if (fs->count == SLOT_FRAMES)
			continue;
		for (w = a / 64; w <= (b - 1) / 64; w++) {
			uint64_t m = word_mask(a, b, w);

			if ((fs->bits[w] & m) != m)
				return false;
		}
	}
	return true;
}

/* Takes the frames of mask out of word w of slot fs, which holds them
 * all: the popcount of mask. The counts are the caller's to lower. */
static uint64_t take_bits(struct fset_slot *fs, uint32_t w, uint64_t mask)
{
	word_store(&fs->bits[w], fs->bits[w] & ~mask);
	return (uint64_t)__builtin_popcountll(mask);
}

/* n frames taken out of slot fs of set s: their counts lowered. */
static void taken_out(struct fset *s, struct fset_slot *fs, uint64_t n)
{
	fs->count -= n;
	s->count -= n;
}

/*
 * The counts are lowered once a slot, not once a word: stores to the
 * words could be to them, so the compiler would load and store both
 * counts of both sets for every word taken. A slot's own count reads
 * higher meanwhile, which only makes its walk look on.
 */
uint32_t fset_take(struct fset *s, struct fset *with, uint64_t lo,
		   uint64_t hi, uint64_t *limit, struct fset_word *words,
		   uint32_t n, uint64_t *next)
{
	uint64_t taken = 0, with_taken = 0, left = *limit, last = hi;
	uint32_t i = find(s, lo >> SLOT_SHIFT), k = 0;
	bool full = false;		/* words or limit ran out */

	for (; lo < hi && i < s->n && !full; i++) {
		struct fset_slot *fs = s->v[i], *ws;
		uint64_t start = fs->si << SLOT_SHIFT, was = taken;
		uint64_t with_was = with_taken;
		uint32_t a, b, g;

		if (start >= hi)
			break;
		/* The same slot of with: its words are at the same places. */
		ws = with && with->count ? slot_of(with, fs->si) : NULL;
		a = lo > start ? (uint32_t)(lo - start) : 0;
		b = hi - start < SLOT_FRAMES ? (uint32_t)(hi - start)
					     : SLOT_FRAMES;
		for (g = a / PIECE_FRAMES / 64;
		     fs->count > taken - was && g < SLOT_GROUPS && !full;
		     g++) {
			uint64_t pieces = fs->any[g];

			while (pieces && !full) {
				uint32_t p = g * 64 + (uint32_t)__builtin_ctzll(pieces),
					 w, end = (p + 1) * MAP_WORDS;
				uint64_t nz = 0;
				/* A piece the range holds whole needs no
				 * masks, and is empty after. */
				bool whole = p * PIECE_FRAMES >= a &&
					     (p + 1) * PIECE_FRAMES <= b;

				pieces &= pieces - 1;
				if (p * PIECE_FRAMES >= b)
					break;
				/* The piece's words that hold frames (its
				 * words share one cache line). */
				for (w = p * MAP_WORDS; w < end; w++)
					nz |= (uint64_t)(fs->bits[w] != 0)
					      << (w - p * MAP_WORDS);
				/* A piece goes whole into one call's words,
				 * unless it alone has more than fit. */
				if (k && k + (uint32_t)__builtin_popcountll(nz) > n) {
					full = true;
					break;
				}
				for (; nz && !full; nz &= nz - 1) {
					uint64_t m, pc, wm;

					w = p * MAP_WORDS +
					    (uint32_t)__builtin_ctzll(nz);
					m = whole ? fs->bits[w]
						  : fs->bits[w] & word_mask(a, b, w);
					if (!m)
						continue;
					pc = (uint64_t)__builtin_popcountll(m);
					while (pc > left - taken) {
						m &= ~(UINT64_C(1) << (63 - __builtin_clzll(m)));
						pc--;
					}
					taken += take_bits(fs, w, m);
					wm = ws ? ws->bits[w] & m : 0;
					if (wm)
						with_taken += take_bits(ws, w, wm);
					words[k++] = (struct fset_word){
						start + w * 64, m, wm };
					/* Where a call that stops here would
					 * go on from. */
					last = start + w * 64 + 64 -
					       (uint64_t)__builtin_clzll(m);
					full = taken == left || k == n;
				}
				if (whole && !nz && taken < left)
					fs->any[p / 64] &= ~(UINT64_C(1) << (p % 64));
				else
					piece_check(fs, p);
			}
			if ((uint64_t)(g + 1) * 64 * PIECE_FRAMES >= b)
				break;
		}
		taken_out(s, fs, taken - was);
		if (ws)
			taken_out(with, ws, with_taken - with_was);
	}
	*limit = left - taken;
	*next = full ? last : hi;
	if (full && taken == left && *next < hi && !fset_any(s, *next, hi))
		*next = hi;
	return k;
}

void fset_walk_init(struct fset_walk *a, struct fset *s, struct fset *with,
		    uint64_t lo, uint64_t hi)
{
	*a = (struct fset_walk){ .s = s, .with = with, .lo = lo, .hi = hi,
				 .i = find(s, lo >> SLOT_SHIFT) };
}

/* Enters the walk's next slot holding some of the range: false past
 * the last. */
static bool walk_enter(struct fset_walk *a)
{
	struct fset_slot *fs;

	a->fs = NULL;
	if (a->i >= a->s->n)
		return false;
	fs = a->s->v[a->i++];
	a->start = fs->si << SLOT_SHIFT;
	if (a->start >= a->hi) {
		a->i = a->s->n;
		return false;
	}
	a->fs = fs;
	slot_span(fs->si, a->lo, a->hi, &a->a, &a->b);
	a->p = a->a >> PIECE_SHIFT;
	a->end = (a->b + PIECE_FRAMES - 1) >> PIECE_SHIFT;
	a->ws = a->with && a->with->count ? slot_of(a->with, fs->si) : NULL;
	return true;
}

bool fset_walk_next(struct fset_walk *a, uint64_t *gfn,
		    const uint64_t **words, const uint64_t **with_words)
{
	do {
		uint32_t p;

		if (!a->fs || !a->fs->count ||
		    (p = piece_next(a->fs, a->p, a->end)) >= a->end)
			continue;
		a->p = p + 1;
		*gfn = a->start + (uint64_t)p * PIECE_FRAMES;
		*words = &a->fs->bits[p * MAP_WORDS];
		*with_words = a->ws ? &a->ws->bits[p * MAP_WORDS] : NULL;
		return true;
	} while (walk_enter(a));
	return false;
}

/* As fset_take a word at a time, but the counts kept once a piece: in
 * locals, as the stores to the words might otherwise be to them. The
 * words are stored whatever they held (the piece's line is written
 * anyway), so that a piece costs no branch a word. */
void fset_walk_take(struct fset_walk *a, struct fset_piece *p)
{
	struct fset_slot *fs = a->fs;
	uint32_t piece = a->p - 1, first = piece * PIECE_FRAMES, w;
	uint64_t *bits = &fs->bits[piece * MAP_WORDS], none[MAP_WORDS] = { 0 };
	uint64_t *with = a->ws ? &a->ws->bits[piece * MAP_WORDS] : none;
	uint64_t frames = 0, with_frames = 0, rest = 0;
	bool whole = first >= a->a && first + PIECE_FRAMES <= a->b;

	for (w = 0; w < MAP_WORDS; w++) {
		uint64_t b = bits[w], m = b, wb = with[w];

		if (!whole)
			m &= word_mask(a->a, a->b, piece * MAP_WORDS + w);
		word_store(&bits[w], b & ~m);
		word_store(&with[w], wb & ~m);
		rest |= wb & ~m;
		p->mask[w] = m;
		p->with[w] = wb & m;
		frames += (uint64_t)__builtin_popcountll(m);
		with_frames += (uint64_t)__builtin_popcountll(wb & m);
	}
	p->base = a->start + first;
	p->frames = frames;
	p->with_frames = with_frames;
	p->with_rest = rest != 0;
	taken_out(a->s, fs, frames);
	if (with_frames)
		taken_out(a->with, a->ws, with_frames);
	/* A piece taken whole is left empty. */
	if (whole)
		fs->any[piece / 64] &= ~(UINT64_C(1) << (piece % 64));
	else
		piece_check(fs, piece);
}

void fset_put_word(struct fset *s, uint64_t base, uint64_t mask)
{
	fset_add_word(slot_of(s, base >> SLOT_SHIFT),
		      (uint32_t)(base & (SLOT_FRAMES - 1)) / 64, mask, s);
}
