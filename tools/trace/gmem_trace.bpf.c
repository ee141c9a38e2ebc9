// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gmem-trace's programs: one per probe of libgmem (doc/probes.md). All
 * counting goes to one struct in .bss, which the tool reads; --record
 * takes the conversions from a ring.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "gmem_trace.h"

char LICENSE[] SEC("license") = "GPL";

struct gt_counts counts;
const volatile bool record;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* When each thread called, until its conversion is done. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} called SEC(".maps");

/* When a prepared transaction was asked for, until it commits. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} txn_called SEC(".maps");

/* When a block was requested from the pager, until it completes. */
struct req_key {
	__u64 guest, gfn;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct req_key);
	__type(value, __u64);
} requested SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} syncing SEC(".maps");

#define ADD(field, n) __sync_fetch_and_add(&(field), (n))

static __always_inline unsigned int size_class(__u64 npages)
{
	return npages == 1 ? 0 : npages < 512 ? 1 : npages < 262144 ? 2 : 3;
}

static __always_inline unsigned int log2_bucket(__u64 v)
{
	unsigned int b = 0;

	if (v >> 32) { v >>= 32; b += 32; }
	if (v >> 16) { v >>= 16; b += 16; }
	if (v >> 8) { v >>= 8; b += 8; }
	if (v >> 4) { v >>= 4; b += 4; }
	if (v >> 2) { v >>= 2; b += 2; }
	if (v >> 1) b += 1;
	return b < GT_BUCKETS ? b : GT_BUCKETS - 1;
}

static __always_inline void failed(long err, bool refusal)
{
	__u64 e = (__u64)-err;

	if (e >= GT_ERRNOS)
		e = 0;
	if (refusal)
		ADD(counts.refused[e], 1);
	else
		ADD(counts.errors[e], 1);
}

/* A conversion done: counted, its latency from t0 (0: unknown), and
 * recorded. */
static __always_inline void done(__u64 guest, __u64 gfn, __u64 npages,
				 long attr, __u64 t0)
{
	unsigned int c = size_class(npages), a = attr ? 1 : 0;
	struct gt_event *ev;

	ADD(counts.conv[a][c], 1);
	ADD(counts.frames[a][c], npages);
	if (t0)
		ADD(counts.lat[c][log2_bucket(bpf_ktime_get_ns() - t0)], 1);
	if (!record)
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		ADD(counts.unrecorded, 1);
		return;
	}
	ev->guest = guest;
	ev->gfn = gfn;
	ev->npages = npages;
	ev->attr = a;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
}

/* The time stored under key in map, taken out; 0 if none. */
static __always_inline __u64 take(void *map, const void *key)
{
	__u64 *t = bpf_map_lookup_elem(map, key), t0 = t ? *t : 0;

	if (t)
		bpf_map_delete_elem(map, key);
	return t0;
}

static __always_inline int stamp(void *map, const void *key)
{
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(map, key, &now, BPF_ANY);
	return 0;
}

SEC("usdt")
int on_convert_begin(struct pt_regs *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();

	return stamp(&called, &tid);
}

SEC("usdt")
int BPF_USDT(on_convert, __u64 guest, __u64 gfn, __u64 npages, long attr,
	     long err)
{
	__u64 tid = bpf_get_current_pid_tgid(), t0 = take(&called, &tid);

	/* No guest: gmem-trace timing its own probes (probe_cost_ns). */
	if (!guest) {
		if (t0) {
			ADD(counts.calib_n, 1);
			ADD(counts.calib_ns, bpf_ktime_get_ns() - t0);
		}
	} else if (err) {
		failed(err, false);
	} else {
		done(guest, gfn, npages, attr, t0);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_refuse, __u64 guest, __u64 gfn, __u64 npages, long attr,
	     long err)
{
	failed(err, true);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_prepare, __u64 txn, __u64 guest, __u64 gfn, __u64 npages,
	     long attr, long err)
{
	__u64 tid = bpf_get_current_pid_tgid(), t0 = take(&called, &tid);

	if (err) {
		failed(err, false);
		return 0;
	}
	ADD(counts.prepared, 1);
	if (t0)
		bpf_map_update_elem(&txn_called, &txn, &t0, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_commit, __u64 txn, __u64 guest, __u64 gfn, __u64 npages,
	     long attr)
{
	ADD(counts.committed, 1);
	done(guest, gfn, npages, attr, take(&txn_called, &txn));
	return 0;
}

SEC("usdt")
int BPF_USDT(on_abort, __u64 txn)
{
	ADD(counts.aborted, 1);
	take(&txn_called, &txn);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_sync_begin, __u64 pt)
{
	__u64 tid = bpf_get_current_pid_tgid();

	return stamp(&syncing, &tid);
}

SEC("usdt")
int BPF_USDT(on_sync, __u64 pt, long err)
{
	__u64 tid = bpf_get_current_pid_tgid(), t0 = take(&syncing, &tid);

	ADD(counts.syncs, 1);
	if (t0)
		ADD(counts.sync_ns, bpf_ktime_get_ns() - t0);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_pt_batch, __u64 pt, __u64 maps, __u64 unmaps, __u64 protects,
	     __u64 flush_frames)
{
	ADD(counts.sync_ops, maps + unmaps + protects);
	if (flush_frames)
		ADD(counts.flushes, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_log_fault, __u64 pt, __u64 gfn, long err)
{
	ADD(counts.log_faults, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_harvest, __u64 pt, __u64 gfn, __u64 npages, __u64 count)
{
	ADD(counts.harvests, 1);
	ADD(counts.harvested, count);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_lookup_miss, __u64 guest)
{
	ADD(counts.lookup_misses, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_page_request, __u64 guest, __u64 gfn)
{
	struct req_key k = { guest, gfn };

	ADD(counts.requests, 1);
	return stamp(&requested, &k);
}

SEC("usdt")
int BPF_USDT(on_pager_pop, __u64 guest, __u32 n)
{
	ADD(counts.popped, n);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_page_complete, __u64 guest, __u64 gfn, __u64 npages,
	     int status, int err)
{
	struct req_key k = { guest, gfn };
	__u64 t0;

	if (err)
		return 0;
	ADD(counts.completed, 1);
	t0 = take(&requested, &k);
	if (t0 && !status)
		ADD(counts.pagein_lat[log2_bucket(bpf_ktime_get_ns() - t0)], 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_pin, __u64 guest, __u64 gfn, __u64 npages, int err)
{
	if (!err)
		ADD(counts.pins, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_unpin, __u64 guest, __u64 gfn, __u64 npages, int err)
{
	if (!err)
		ADD(counts.unpins, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_syscall, __u64 os, int call)
{
	if (call >= 0 && call < GT_CALLS)
		ADD(counts.syscalls[call], 1);
	return 0;
}
