/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GMEM_TRACE_SCREEN_H
#define GMEM_TRACE_SCREEN_H

#include <stdbool.h>

#include "gmem_trace.h"

/* What tracing adds to each latency shown (gmem-trace measures it). */
void screen_set_probe_cost(double ns);
/* One screen: d is what happened over secs seconds, shown per second
 * (per_s), or in all; all is everything since attaching. */
void print_screen(const struct gt_counts *d, const struct gt_counts *all,
		  double secs, bool per_s);
/* d = a - b, counter by counter. */
void diff_counts(const struct gt_counts *a, const struct gt_counts *b,
		 struct gt_counts *d);

#endif
