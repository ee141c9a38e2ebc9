/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-trace: what libgmem does in a running process, once a second,
 * from its USDT probes (doc/probes.md).
 *
 *   gmem-trace [-p PID | -- COMMAND [ARG...]] [--lib PATH]
 *              [--record FILE] [--interval S] [--duration S]
 *
 * With -p it attaches to a running process; with a command it starts
 * it, attached before its first instruction, and stops when it exits.
 * --record writes each conversion done, in order, in gmem-bench's
 * trace format ("gfn npages shared|private"), so that gmem-bench
 * --trace FILE replays it beside its baselines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <sys/sdt.h>

#include "gmem_trace.h"
#include "gmem_trace.skel.h"
#include "screen.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_WARN && getenv("GMEM_TRACE_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* The libgmem a process has mapped, from /proc/PID/maps. */
static char *lib_of_pid(int pid)
{
	char path[64], line[4096], *found = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libgmem.so")) {
			p[strcspn(p, "\n")] = 0;
			found = strdup(p);
		}
	}
	fclose(f);
	return found;
}

/* The libgmem a command would load, as the dynamic loader resolves it
 * (ldd's way: LD_TRACE_LOADED_OBJECTS lists and does not run). */
static char *lib_of_command(char *const argv[])
{
	char line[4096], *found = NULL;
	int fd[2];
	pid_t pid;
	FILE *f;

	if (pipe(fd))
		return NULL;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		setenv("LD_TRACE_LOADED_OBJECTS", "1", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "libgmem.so"), *path;

		if (!found && p && (path = strstr(p, "=> /"))) {
			path += 3;
			path[strcspn(path, " (\n")] = 0;
			found = strdup(path);
		}
	}
	if (f)
		fclose(f);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return found;
}

struct attach {
	struct bpf_program *prog;
	const char *probe;
};

#define MAX_LINKS 24

/* Attaches every program to its probe; links[] (MAX_LINKS) receives
 * the links, NULL-terminated, for detach_all. */
static int attach_all(struct gmem_trace *skel, int pid, const char *lib,
		      struct bpf_link **links)
{
	const struct attach a[] = {
		{ skel->progs.on_convert_begin, "convert_begin" },
		{ skel->progs.on_convert, "convert" },
		{ skel->progs.on_refuse, "refuse" },
		{ skel->progs.on_prepare, "prepare" },
		{ skel->progs.on_commit, "commit" },
		{ skel->progs.on_abort, "abort" },
		{ skel->progs.on_sync_begin, "sync_begin" },
		{ skel->progs.on_sync, "sync" },
		{ skel->progs.on_pt_batch, "pt_batch" },
		{ skel->progs.on_log_fault, "log_fault" },
		{ skel->progs.on_harvest, "harvest" },
		{ skel->progs.on_lookup_miss, "lookup_miss" },
		{ skel->progs.on_page_request, "page_request" },
		{ skel->progs.on_pager_pop, "pager_pop" },
		{ skel->progs.on_page_complete, "page_complete" },
		{ skel->progs.on_pin, "pin" },
		{ skel->progs.on_unpin, "unpin" },
		{ skel->progs.on_syscall, "syscall" },
	};

	_Static_assert(sizeof(a) / sizeof(a[0]) < MAX_LINKS, "links");
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		links[i] = bpf_program__attach_usdt(a[i].prog, pid, lib,
						    "gmem", a[i].probe, NULL);
		links[i + 1] = NULL;
		if (!links[i]) {
			int err = -errno;

			fprintf(stderr, "gmem-trace: cannot attach to %s in %s: "
				"%s%s\n", a[i].probe, lib, strerror(-err),
				err == -ENOENT ? " (a libgmem built with "
				"-DGMEM_PROBES=OFF has no probes)" : "");
			return err;
		}
	}
	return 0;
}

static void detach_all(struct bpf_link **links)
{
	for (; *links; links++)
		bpf_link__destroy(*links);
}

/* The checks whose failure a user can act on, before libbpf's own. */
static bool can_trace(void)
{
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "gmem-trace: needs root (BPF programs and "
			"uprobes need CAP_BPF and CAP_PERFMON)\n");
		return false;
	}
	if (stat("/sys/bus/event_source/devices/uprobe", &st)) {
		fprintf(stderr, "gmem-trace: this kernel has no uprobes "
			"(CONFIG_UPROBE_EVENTS): USDT probes cannot be "
			"attached\n");
		return false;
	}
	return true;
}

struct recorder {
	FILE *f;
	__u64 guest;		/* the one guest recorded (the first seen) */
	__u64 written, other;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct gt_event *ev = data;

	(void)size;
	if (!r->guest)
		r->guest = ev->guest;
	if (ev->guest != r->guest) {
		r->other++;
		return 0;
	}
	fprintf(r->f, "%llu %llu %s\n", (unsigned long long)ev->gfn,
		(unsigned long long)ev->npages,
		ev->attr ? "shared" : "private");
	r->written++;
	return 0;
}

/*
 * What tracing adds to each latency shown: the same two probes around
 * a function of this program that does nothing.
 */
__attribute__((noinline)) void gt_calibrate_point(void);
__attribute__((noinline)) void gt_calibrate_point(void)
{
	STAP_PROBE(gmem, convert_begin);
	STAP_PROBE5(gmem, convert, 0, 0, 0, 0, 0);
}

static double probe_cost_ns(struct gmem_trace *skel)
{
	struct bpf_link *begin, *end;
	double ns = 0;

	begin = bpf_program__attach_usdt(skel->progs.on_convert_begin,
					 getpid(), "/proc/self/exe", "gmem",
					 "convert_begin", NULL);
	end = bpf_program__attach_usdt(skel->progs.on_convert, getpid(),
				       "/proc/self/exe", "gmem", "convert",
				       NULL);
	/* The best of ten batches: a batch that met an interrupt or a
	 * migration says more about the machine than about the probes. */
	for (int batch = 0; begin && end && batch < 10; batch++) {
		__u64 n0 = skel->bss->counts.calib_n;
		__u64 ns0 = skel->bss->counts.calib_ns;
		double mean;

		for (int i = 0; i < 100; i++)
			gt_calibrate_point();
		if (skel->bss->counts.calib_n == n0)
			break;
		mean = (double)(skel->bss->counts.calib_ns - ns0) /
		       (skel->bss->counts.calib_n - n0);
		ns = !batch || mean < ns ? mean : ns;
	}
	bpf_link__destroy(begin);
	bpf_link__destroy(end);
	return ns;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: gmem-trace [-p PID | -- COMMAND [ARG...]] "
		"[--lib PATH] [--record FILE]\n"
		"                  [--interval S] [--duration S]\n\n"
		"  -p, --pid PID      attach to a running process\n"
		"  --lib PATH         the libgmem to attach to (default: the "
		"one the process maps\n"
		"                     or the command would load)\n"
		"  --record FILE      write each conversion as \"gfn npages "
		"shared|private\"\n"
		"                     (gmem-bench --trace FILE replays it)\n"
		"  --interval S       seconds between screens (default 1)\n"
		"  --duration S       stop after S seconds (default: until "
		"the process ends or ^C)\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "lib", required_argument, NULL, 'l' },
		{ "record", required_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct recorder rec = { 0 };
	struct gt_counts prev = { 0 }, cur, d;
	struct ring_buffer *ring = NULL;
	struct gmem_trace *skel = NULL;
	struct bpf_link *links[MAX_LINKS] = { NULL };
	double interval = 1, duration = 0, t0, last;
	char *lib = NULL, **cmd = NULL;
	const char *record = NULL;
	int pid = -1, go[2] = { -1, -1 }, c, err, status = 0;
	pid_t child = -1;

	while ((c = getopt_long(argc, argv, "+p:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'p': pid = atoi(optarg); break;
		case 'l': lib = strdup(optarg); break;
		case 'r': record = optarg; break;
		case 'i': interval = atof(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		cmd = &argv[optind];
	if ((pid > 0) == !!cmd || interval <= 0) {
		usage(stderr);
		return 2;
	}
	if (!can_trace())
		return 1;
	if (!lib)
		lib = pid > 0 ? lib_of_pid(pid) : lib_of_command(cmd);
	if (!lib) {
		fprintf(stderr, "gmem-trace: %s does not use libgmem.so (give "
			"--lib PATH if it loads it later)\n",
			pid > 0 ? "the process" : cmd[0]);
		return 1;
	}
	if (record) {
		rec.f = fopen(record, "w");
		if (!rec.f) {
			fprintf(stderr, "gmem-trace: %s: %s\n", record,
				strerror(errno));
			return 1;
		}
	}
	/* A command waits on a pipe, attached to before it runs. */
	if (cmd) {
		if (pipe(go))
			return 1;
		child = fork();
		if (child == 0) {
			char b;

			close(go[1]);
			if (read(go[0], &b, 1) != 1)
				_exit(127);
			execvp(cmd[0], cmd);
			fprintf(stderr, "gmem-trace: %s: %s\n", cmd[0],
				strerror(errno));
			_exit(127);
		}
		close(go[0]);
		pid = child;
	}
	libbpf_set_print(quiet_libbpf);
	skel = gmem_trace__open();
	if (skel) {
		skel->rodata->record = record != NULL;
		err = gmem_trace__load(skel);
	} else {
		err = -errno;
	}
	if (err) {
		fprintf(stderr, "gmem-trace: cannot load the BPF programs: %s "
			"(a kernel without BPF, or one locked down)\n",
			strerror(-err));
		goto out;
	}
	screen_set_probe_cost(probe_cost_ns(skel));
	err = attach_all(skel, pid, lib, links);
	if (err)
		goto out;
	if (record) {
		ring = ring_buffer__new(bpf_map__fd(skel->maps.events),
					on_event, &rec, NULL);
		if (!ring) {
			err = -errno;
			goto out;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "gmem-trace: attached to pid %d, %s\n", pid, lib);
	if (child > 0 && write(go[1], "g", 1) != 1)
		err = -errno;
	t0 = last = now_s();
	while (!stop && !err) {
		double t;

		if (ring)
			ring_buffer__poll(ring, 100);
		else
			usleep(100000);
		if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
			child = -1;
			break;
		}
		if (pid > 0 && child < 0 && kill(pid, 0) && errno == ESRCH)
			break;
		t = now_s();
		if (duration > 0 && t - t0 >= duration)
			break;
		if (t - last < interval)
			continue;
		cur = skel->bss->counts;
		diff_counts(&cur, &prev, &d);
		printf("\ngmem-trace: pid %d, %.0f s\n", pid, t - t0);
		print_screen(&d, &cur, t - last, true);
		fflush(stdout);
		prev = cur;
		last = t;
	}
	if (ring)
		ring_buffer__consume(ring);
	cur = skel->bss->counts;
	printf("\ngmem-trace: totals over %.1f s\n", now_s() - t0);
	print_screen(&cur, &cur, 0, false);
	if (record) {
		printf("  recorded       %llu conversions to %s",
		       (unsigned long long)rec.written, record);
		if (rec.other || cur.unrecorded)
			printf(" (not recorded: %llu of other guests, %llu "
			       "for want of room)",
			       (unsigned long long)rec.other,
			       (unsigned long long)cur.unrecorded);
		printf("\n");
	}
out:
	if (child > 0) {
		if (err)
			kill(child, SIGKILL);
		else
			close(go[1]);
		waitpid(child, &status, 0);
	}
	ring_buffer__free(ring);
	detach_all(links);
	gmem_trace__destroy(skel);
	if (rec.f && fclose(rec.f) && !err)
		err = -errno;
	free(lib);
	if (err)
		return 1;
	/* A command's failure is gmem-trace's. */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
