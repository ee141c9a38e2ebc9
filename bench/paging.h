/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on paging (paging.c). */
#ifndef GMEM_BENCH_PAGING_H
#define GMEM_BENCH_PAGING_H

#include <stdint.h>

struct page_result {
	uint64_t frames, paged, lookups;
	/* ns per lookup of a present frame, by mode; and a state query. */
	double query_ns, try_ns, wait_ns, attr_ns;
	/* Frames per second through nominate + evict, and load + complete,
	 * of frames the embedder owns (no data moves). */
	double out_fps, in_fps;
	/* The same on memfd memory with a pager that keeps the data in its
	 * memory (nominate, read, evict; load with data, complete), a 4 KiB
	 * frame or a 2 MiB piece at a time; 0 where memfd is missing. */
	double mem_out_fps, mem_in_fps, mem_out_piece_fps, mem_in_piece_fps;
	uint64_t mem_frames;
	/* us from a TRY to its "page ready" event, a pager thread woken by
	 * eventfd, and the count of round trips. */
	double rtt_us;
	uint64_t trips;
};

void paging_run(int runs, struct page_result *r);
void paging_print(const struct page_result *r, int json);

#endif
