/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on invalidation notifiers (notify.c). */
#ifndef GMEM_BENCH_NOTIFY_H
#define GMEM_BENCH_NOTIFY_H

#include <stdint.h>

struct notify_result {
	uint64_t notifiers, convs;
	/* per single-frame conversion: with nothing heard, one listener
	 * accepting everything, the notifiers */
	double ns_none, ns_listener, ns_with;
	double calls;			/* callbacks per conversion */
	double list_ns;			/* a list scanned per conversion */
};

void notify_run(int runs, struct notify_result *r);
void notify_print(const struct notify_result *r, int json);

#endif
