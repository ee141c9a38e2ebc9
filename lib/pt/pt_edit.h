/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One batch of a builder's sync, and the edits of its table. */
#ifndef GMEM_LIB_PT_EDIT_H
#define GMEM_LIB_PT_EDIT_H

#include "pt_walk.h"

/* Tables whose entries were cleared, checked for emptiness at the end. */
#define TOUCHED_MAX 32

struct pt_batch {
	struct gmem_pt *pt;
	bool apply;			/* false: count tables only */
	uint32_t flags;			/* PT_RANGE_* of the range */
	uint64_t lo, hi;		/* the range */
	uint64_t join_lo, join_hi;	/* where joins are allowed */
	uint32_t need[GMEM_PT_MAX_LEVELS];
	uint64_t counted[GMEM_PT_MAX_LEVELS];	/* last table counted, + 1 */
	uint64_t flush_lo, flush_hi;
	/* The tables last walked through: consecutive leaves mostly
	 * share their path. Cleared when a table is freed. */
	struct pt_cursor cursor;
	/* Counts, added to the builder's at the end of the batch. */
	int64_t leaves, entries, tables, table_bytes;
	uint64_t maps, unmaps, protects;
	uint32_t prot;			/* of the stretch being covered */
	uint32_t ntouched;
	bool touched_over;
	struct {
		uint64_t gfn;
		uint32_t level;
	} touched[TOUCHED_MAX];
};

/* Entries a leaf of size s takes. */
static inline unsigned int pt_run_entries(const struct gmem_pt *pt,
					  const struct pt_leaf_size *s)
{
	return s->contig ? 1u << pt->geom.level[s->level].contig_bits : 1;
}

/* Adds [lo, hi) to what the batch's flush invalidates. */
static inline void pt_flush_add(struct pt_batch *sc, uint64_t lo, uint64_t hi)
{
	if (sc->flush_lo > lo)
		sc->flush_lo = lo;
	if (sc->flush_hi < hi)
		sc->flush_hi = hi;
}

/* Notes that the table of level holding gfn had entries cleared. */
void pt_touch(struct pt_batch *sc, uint64_t gfn, unsigned int level);

/*
 * Counts (sc->apply false) or makes the tables on the path to an entry of
 * level for gfn; *table the table holding it (when making).
 */
int pt_make_path(struct pt_batch *sc, uint64_t gfn, unsigned int level,
		 uint64_t **table);

/* Maps k leaves of size s from gfn (all in one table) to host frames from
 * pfn, with sc->prot; when counting, counts their path. */
int pt_map_run(struct pt_batch *sc, uint64_t gfn, const struct pt_leaf_size *s,
	       uint64_t pfn, uint64_t k);

/* Gives the leaf of size s at gfn, which the table has with permissions
 * old at *p (its first entry; NULL: looked up), the permissions prot in
 * place. */
int pt_protect_leaf(struct pt_batch *sc, uint64_t *p, uint64_t gfn,
		    const struct pt_leaf_size *s, uint64_t pfn, uint32_t old,
		    uint32_t prot);

/* Removes every leaf and table inside [lo, hi). */
int pt_clear_range(struct gmem_pt *pt, struct pt_batch *sc, uint64_t lo,
		   uint64_t hi);

/* Counts a table of level starting at base that the batch will need. */
void pt_count_table(struct pt_batch *sc, unsigned int level, uint64_t base);

/* Ends a batch: frees the tables it left empty, adds its counts to the
 * builder's and tells the sink the range to flush. */
void pt_batch_end(struct pt_batch *sc);

#endif
