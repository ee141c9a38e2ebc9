/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on dirty logging (logging.c). */
#ifndef GMEM_BENCH_LOGGING_H
#define GMEM_BENCH_LOGGING_H

#include <stdint.h>

/* Rounds of writes in one pattern, each round harvested. */
struct log_harvest_row {
	uint64_t writes, dirty;		/* a round's faults; frames harvested */
	uint64_t leaves_after, splits;	/* after the first round's writes */
	double fault_ns, eager_fault_ns;
	double harvest_us, eager_harvest_us;
	double flat_frame_us, flat_word_us, floor_us;
	/* Medians of each round's ratios: libgmem / eager and / floor, and
	 * the per-frame and per-word scans / libgmem. Both sides of each
	 * come from the same round, so the host's drift from one round to
	 * the next cancels out. */
	double by_eager, by_floor, speedup_frame, speedup_word;
};

struct log_result {
	/* Starting logging on 4 GiB of 1 GiB leaves. */
	uint64_t start_protects, start_splits, start_leaves;
	double start_ms;
	uint64_t eager_leaves;		/* split to 4 KiB at start */
	double eager_start_ms;
	int rounds;
	/* Rounds of 1% writes, each harvested: random, clustered. */
	struct log_harvest_row random, clustered;
};

void logging_run(int runs, struct log_result *r);
void logging_print(const struct log_result *r, int json);

#endif
