/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What gmem-trace's BPF programs count and record, shared by the
 * programs (gmem_trace.bpf.c) and the tool that reads them once a
 * second (gmem-trace.c).
 */
#ifndef GMEM_TRACE_H
#define GMEM_TRACE_H

#include <linux/types.h>

/* Conversions by size: 4 KiB, under 2 MiB, under 1 GiB, 1 GiB or more. */
#define GT_CLASSES 4
#define GT_BUCKETS 40		/* latencies: bucket b holds [2^b, 2^b+1) ns */
#define GT_ERRNOS 64		/* errno values counted one by one */
#define GT_CALLS 13		/* the "syscall" probe's calls (doc/probes.md) */

/* Counts since the programs were loaded; the tool shows differences. */
struct gt_counts {
	__u64 conv[2][GT_CLASSES];	/* [attr][class]: to private, shared */
	__u64 frames[2][GT_CLASSES];
	__u64 lat[GT_CLASSES][GT_BUCKETS];	/* call to done, ns */
	__u64 errors[GT_ERRNOS];	/* failed conversions by errno */
	__u64 refused[GT_ERRNOS];	/* of them, refusals (probe refuse) */
	__u64 prepared, committed, aborted;
	__u64 syncs, sync_ns, sync_ops, flushes;
	__u64 requests, popped, completed, pagein_lat[GT_BUCKETS];
	__u64 lookup_misses, pins, unpins;
	__u64 log_faults, harvests, harvested;
	__u64 syscalls[GT_CALLS];
	__u64 unrecorded;		/* conversions the ring had no room for */
	__u64 calib_n, calib_ns;	/* gmem-trace's own empty "conversion" */
};

/* One conversion done, in order, for --record. */
struct gt_event {
	__u64 guest, gfn, npages;
	__u32 attr, pad;
};

#endif
