/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on paging (paging.c). */
#ifndef GMEM_BENCH_PAGING_H
#define GMEM_BENCH_PAGING_H

#include <stdint.h>

struct page_result {
	uint64_t frames, paged, lookups;
	/* ns per lookup of a present frame, by mode; and a state query. */
	double query_ns, try_ns, wait_ns, attr_ns;
	/* Frames per second through nominate + evict, and load + complete. */
	double out_fps, in_fps;
	/* us from a TRY to its "page ready" event, a pager thread woken by
	 * eventfd, and the count of round trips. */
	double rtt_us;
	uint64_t trips;
};

void paging_run(int runs, struct page_result *r);
void paging_print(const struct page_result *r, int json);

#endif
