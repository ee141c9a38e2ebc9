/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-trace's screen: the counts of an interval, or the totals. */
#define _GNU_SOURCE	/* strerrorname_np */
#include <stdio.h>
#include <string.h>

#include "gmem_trace.h"
#include "screen.h"

static const char *const class_name[GT_CLASSES] = {
	"4 KiB", "< 2 MiB", "< 1 GiB", ">= 1 GiB"
};
static const char *const call_name[GT_CALLS] = {
	"mmap", "munmap", "mprotect", "madvise", "fallocate", "ftruncate",
	"mbind", "ioctl", "memfd_create", "open", "pread", "unlink", "close"
};

static double hit_ns;	/* what tracing adds to a latency */

void screen_set_probe_cost(double ns)
{
	hit_ns = ns;
}

static __u64 sum(const __u64 *v, int n)
{
	__u64 s = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}

/* A quantile of a log2 histogram: the bucket's lower bound, in ns. */
static double quantile(const __u64 *h, double q)
{
	__u64 n = sum(h, GT_BUCKETS), seen = 0;

	for (int b = 0; b < GT_BUCKETS; b++) {
		seen += h[b];
		if (n && seen >= q * n)
			return (double)(1ull << b);
	}
	return 0;
}

static void print_hist(const char *what, const __u64 *h)
{
	__u64 n = sum(h, GT_BUCKETS), max = 0;

	if (!n)
		return;
	for (int b = 0; b < GT_BUCKETS; b++)
		max = h[b] > max ? h[b] : max;
	printf("  %s latency, ns (p50 %.0f, p99 %.0f; tracing adds about "
	       "%.0f):\n", what, quantile(h, 0.5), quantile(h, 0.99), hit_ns);
	for (int b = 0; b < GT_BUCKETS; b++)
		if (h[b])
			printf("    %12llu .. %-12llu %10llu %.*s\n",
			       1ull << b, (2ull << b) - 1,
			       (unsigned long long)h[b],
			       (int)(h[b] * 40 / max), "########################################");
}

static void print_errnos(const char *what, const __u64 *v)
{
	if (!sum(v, GT_ERRNOS))
		return;
	printf("  %-14s", what);
	for (int e = 0; e < GT_ERRNOS; e++)
		if (v[e])
			printf(" %s %llu", e ? strerrorname_np(e) : "other",
			       (unsigned long long)v[e]);
	printf("\n");
}

void print_screen(const struct gt_counts *d, const struct gt_counts *all,
		  double secs, bool per_s)
{
	const char *unit = per_s ? "/s" : "";
	double k = per_s && secs > 0 ? 1 / secs : 1;
	struct gt_counts other = *d;

	printf("conversions%-4s %10s %10s %14s\n", unit, "to private",
	       "to shared", "frames");
	for (int c = 0; c < GT_CLASSES; c++)
		printf("  %-14s %10.0f %10.0f %14.0f\n", class_name[c],
		       d->conv[0][c] * k, d->conv[1][c] * k,
		       (d->frames[0][c] + d->frames[1][c]) * k);
	printf("  %-14s %10.0f %10.0f %14.0f\n", "all",
	       sum(d->conv[0], GT_CLASSES) * k, sum(d->conv[1], GT_CLASSES) * k,
	       (sum(d->frames[0], GT_CLASSES) + sum(d->frames[1], GT_CLASSES)) * k);
	if (d->prepared || d->committed || d->aborted)
		printf("  transactions   prepared %llu, committed %llu, "
		       "aborted %llu\n", (unsigned long long)d->prepared,
		       (unsigned long long)d->committed,
		       (unsigned long long)d->aborted);
	for (int c = 0; c < GT_CLASSES; c++)
		print_hist(class_name[c], d->lat[c]);
	print_errnos("refused", d->refused);
	/* A refusal is also a failed conversion: the rest failed on their
	 * arguments. */
	for (int e = 0; e < GT_ERRNOS; e++)
		other.errors[e] -= other.errors[e] < d->refused[e]
					   ? other.errors[e] : d->refused[e];
	print_errnos("other errors", other.errors);
	if (d->syncs)
		printf("  syncs          %llu, %.0f ns each, %llu table ops, "
		       "%llu flushes\n", (unsigned long long)d->syncs,
		       (double)d->sync_ns / d->syncs,
		       (unsigned long long)d->sync_ops,
		       (unsigned long long)d->flushes);
	/* Requests made before gmem-trace attached are popped unseen. */
	if (all->requests || d->lookup_misses)
		printf("  pager          queue %llu, requests %llu, popped "
		       "%llu, completed %llu, lookup misses %llu\n",
		       (unsigned long long)(all->requests > all->popped
						    ? all->requests - all->popped
						    : 0),
		       (unsigned long long)d->requests,
		       (unsigned long long)d->popped,
		       (unsigned long long)d->completed,
		       (unsigned long long)d->lookup_misses);
	print_hist("page-in", d->pagein_lat);
	if (d->log_faults || d->harvests)
		printf("  dirty log      faults %llu, harvests %llu, frames "
		       "%llu\n", (unsigned long long)d->log_faults,
		       (unsigned long long)d->harvests,
		       (unsigned long long)d->harvested);
	if (d->pins || d->unpins)
		printf("  pins           %llu pinned, %llu unpinned\n",
		       (unsigned long long)d->pins,
		       (unsigned long long)d->unpins);
	if (sum(d->syscalls, GT_CALLS)) {
		printf("  system calls  ");
		for (int c = 0; c < GT_CALLS; c++)
			if (d->syscalls[c])
				printf(" %s %llu", call_name[c],
				       (unsigned long long)d->syscalls[c]);
		printf("\n");
	}
}

void diff_counts(const struct gt_counts *a, const struct gt_counts *b,
		 struct gt_counts *d)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 *z = (__u64 *)d;

	for (size_t i = 0; i < sizeof(*d) / sizeof(__u64); i++)
		z[i] = x[i] - y[i];
}
