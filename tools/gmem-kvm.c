/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-kvm: a minimal VMM whose guest RAM comes from libgmem.
 *
 * It runs the guest program of kvm_guest.S in long mode and serves its
 * requests over port I/O: conversions of guest ranges between shared and
 * private, checks of what the VMM sees through its view, and checksums.
 * It runs once per backend (guest_memfd, memfd) and content policy
 * (PRESERVE, DISCARD), then once as a confidential VM: a VM of type
 * KVM_X86_SW_PROTECTED_VM, where guest_memfd holds private memory and
 * KVM's memory attributes follow every conversion. It keeps an EPT
 * builder of each view in step, resolves KVM_EXIT_MEMORY_FAULT exits by
 * converting (gmem_view_kvm_fault), and prints what each conversion
 * cost. Exit status: 0 when every check held, 1 on any mismatch, 77 when
 * the machine cannot run a KVM guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <gmem.h>

#include "../lib/mem/kvm_uapi.h"

extern const char gmem_kvm_guest_start[], gmem_kvm_guest_end[];

#define PORT 0x10
#define CODE_GPA 0x10000
#define STACK_GPA 0x80000
#define PML4_GPA 0x1000		/* then the PDPT and 4 directories */
#define MAX_RAM (UINT64_C(4) << 30)

enum req { REQ_SHARE = 1, REQ_UNSHARE, REQ_CHECK, REQ_CLOSED, REQ_SUM,
	   REQ_DONE };

struct vm {
	int kvm, fd, vcpu;
	struct kvm_run *run;
	size_t run_size;
	struct gmem_backend *be;
	struct gmem_guest *g;
	struct gmem_view *view;
	struct gmem_pt *pt[3];		/* ALL, PRIVATE, SHARED */
	uint64_t ram;
	unsigned int content;
	bool verbose;
	/* the report */
	uint64_t conversions, calls, mismatches, fault_exits;
};

/* kvm_run.memory_fault, at the start of the exit union. */
struct memory_fault {
	__u64 flags, gpa, size;
};


static int fail(const char *what, int err)
{
	fprintf(stderr, "gmem-kvm: %s: %s\n", what, strerror(err < 0 ? -err
								 : err));
	return -1;
}

static uint64_t leaves(const struct vm *vm, int i)
{
	GMEM_OPTS(gmem_pt_stats, st);

	return gmem_pt_stats(vm->pt[i], &st) ? 0 : st.nleaves;
}

static uint64_t os_calls(const struct vm *vm)
{
	GMEM_OPTS(gmem_backend_stats, st);

	return gmem_backend_stats(vm->be, &st) ? 0 : st.os_calls;
}

static char *view_at(const struct vm *vm, uint64_t gpa)
{
	void *p = NULL;

	gmem_view_addr(vm->view, gpa >> 12, &p);
	return p;
}

/* A range of guest-physical memory the guest may name. */
static bool range_ok(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	return len && !(gpa & 0xfff) && !(len & 0xfff) && gpa < vm->ram &&
	       len <= vm->ram - gpa;
}

static const char *size_name(uint64_t len, char *buf, size_t n)
{
	if (len >= (1u << 30))
		snprintf(buf, n, "%" PRIu64 " GiB", len >> 30);
	else if (len >= (1u << 20))
		snprintf(buf, n, "%" PRIu64 " MiB", len >> 20);
	else
		snprintf(buf, n, "%" PRIu64 " KiB", len >> 10);
	return buf;
}

static uint64_t convert(struct vm *vm, uint64_t gpa, uint64_t len,
			unsigned int attr)
{
	GMEM_OPTS(gmem_view_stats, before);
	GMEM_OPTS(gmem_view_stats, after);
	uint64_t calls = os_calls(vm), runs;
	char size[32];
	int err, i;

	gmem_view_stats(vm->view, &before);
	err = gmem_convert(vm->g, gpa >> 12, len >> 12, attr, NULL);
	for (i = 0; !err && i < 3; i++)
		err = gmem_pt_sync(vm->pt[i]);
	if (err) {
		fail("conversion", err);
		return 1;
	}
	calls = os_calls(vm) - calls;
	gmem_view_stats(vm->view, &after);
	runs = after.runs_mapped + after.runs_unmapped - before.runs_mapped -
	       before.runs_unmapped;
	vm->conversions++;
	vm->calls += calls;
	printf("    %-7s %#10" PRIx64 " %7s: %" PRIu64 " run%s, %" PRIu64
	       " system call%s; leaves all %" PRIu64 ", private %" PRIu64
	       ", shared %" PRIu64 "\n",
	       attr == GMEM_ATTR_SHARED ? "share" : "unshare", gpa,
	       size_name(len, size, sizeof(size)), runs, runs == 1 ? "" : "s",
	       calls, calls == 1 ? "" : "s", leaves(vm, 0), leaves(vm, 1),
	       leaves(vm, 2));
	return 0;
}

/* The guest's pattern: each page's first and last quadwords hold their
 * address ^ seed, the rest is zero; seed 0 is a page of zeros. */
#define LAST_WORD 511

static uint64_t pattern(uint64_t page, uint64_t i, uint64_t seed)
{
	if (!seed || (i && i != LAST_WORD))
		return 0;
	return (page + i * 8) ^ seed;
}

/* 0 if the view holds seed's pattern over the range, byte for byte. */
static uint64_t check(const struct vm *vm, uint64_t gpa, uint64_t len,
		      uint64_t seed)
{
	for (uint64_t page = gpa; page < gpa + len; page += 4096) {
		const uint64_t *w = (const uint64_t *)view_at(vm, page);

		for (uint64_t i = 0; i < 512; i++) {
			if (w[i] == pattern(page, i, seed))
				continue;
			fprintf(stderr, "gmem-kvm: %#" PRIx64 ": view holds %#"
				PRIx64 ", not %#" PRIx64 "\n", page + i * 8,
				w[i], pattern(page, i, seed));
			return 1;
		}
	}
	return 0;
}

/* 0 if no page of the range can be read through the view. */
static uint64_t closed(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += 4096) {
		char c;
		struct iovec local = { &c, 1 };
		struct iovec remote = { view_at(vm, gpa + off), 1 };

		if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) >= 0 ||
		    errno != EFAULT) {
			fprintf(stderr, "gmem-kvm: %#" PRIx64
				": private but readable by the VMM\n",
				gpa + off);
			return 1;
		}
	}
	return 0;
}

static uint64_t rol1(uint64_t x)
{
	return (x << 1) | (x >> 63);
}

/* 0 if the guest's checksum of its patterned words is the view's. */
static uint64_t sum(const struct vm *vm, uint64_t gpa, uint64_t len,
		    uint64_t want)
{
	uint64_t s = 0;

	for (uint64_t page = gpa; page < gpa + len; page += 4096) {
		const uint64_t *w = (const uint64_t *)view_at(vm, page);

		s = rol1(rol1(s) + w[0]) + w[LAST_WORD];
	}
	if (s != want)
		fprintf(stderr, "gmem-kvm: checksum %#" PRIx64 ", guest says %#"
			PRIx64 "\n", s, want);
	return s != want;
}

/* Serves one request; returns 1 when the guest is done. */
static int serve(struct vm *vm, int *verdict)
{
	struct kvm_regs regs;
	uint64_t r = 1;

	if (ioctl(vm->vcpu, KVM_GET_REGS, &regs) < 0)
		return fail("KVM_GET_REGS", errno);
	if ((regs.rax & 0xff) == REQ_DONE) {
		*verdict = (int)regs.rdi;
		return 1;
	}
	if (!range_ok(vm, regs.rdi, regs.rsi)) {
		fprintf(stderr, "gmem-kvm: bad range %#llx+%#llx\n", regs.rdi,
			regs.rsi);
	} else {
		switch (regs.rax & 0xff) {
		case REQ_SHARE:
			r = convert(vm, regs.rdi, regs.rsi, GMEM_ATTR_SHARED);
			break;
		case REQ_UNSHARE:
			r = convert(vm, regs.rdi, regs.rsi, GMEM_ATTR_PRIVATE);
			break;
		case REQ_CHECK:
			r = check(vm, regs.rdi, regs.rsi, regs.rdx);
			break;
		case REQ_CLOSED:
			r = closed(vm, regs.rdi, regs.rsi);
			break;
		case REQ_SUM:
			r = sum(vm, regs.rdi, regs.rsi, regs.rdx);
			break;
		}
	}
	vm->mismatches += r != 0;
	regs.rax = r;
	if (ioctl(vm->vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS", errno);
	return 0;
}

/* Identity map of the first 4 GiB with 2 MiB pages, and the program. */
static void load(struct vm *vm)
{
	uint64_t *pml4 = (uint64_t *)view_at(vm, PML4_GPA);
	uint64_t *pdpt = (uint64_t *)view_at(vm, PML4_GPA + 0x1000);

	pml4[0] = (PML4_GPA + 0x1000) | 3;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t pd_gpa = PML4_GPA + 0x2000 + i * 0x1000;
		uint64_t *pd = (uint64_t *)view_at(vm, pd_gpa);

		pdpt[i] = pd_gpa | 3;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i * 512 + j) << 21) | 0x83;	/* P RW PS */
	}
	memcpy(view_at(vm, CODE_GPA), gmem_kvm_guest_start,
	       (size_t)(gmem_kvm_guest_end - gmem_kvm_guest_start));
}

static int set_cpuid(struct vm *vm)
{
	int n = 256, err = 0;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	if (!c)
		return fail("cpuid", ENOMEM);
	c->nent = (uint32_t)n;
	if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, c) < 0 ||
	    ioctl(vm->vcpu, KVM_SET_CPUID2, c) < 0)
		err = fail("cpuid", errno);
	free(c);
	return err;
}

static void segment(struct kvm_segment *s, uint16_t sel, uint8_t type,
		    bool code)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .s = 1, .g = 1, .l = code, .db = !code,
	};
}

/* Long mode from the first instruction: paging, PAE, EFER.LME/LMA. */
static int start_vcpu(struct vm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };

	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu < 0)
		return fail("KVM_CREATE_VCPU", errno);
	vm->run_size = (size_t)ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu, 0);
	if (vm->run == MAP_FAILED)
		return fail("mmap kvm_run", errno);
	if (set_cpuid(vm) || ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS", errno);
	segment(&sregs.cs, 8, 11, true);
	segment(&sregs.ds, 16, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1u << 5;				/* PAE */
	sregs.cr0 = 1u | (1u << 4) | (1u << 5) | (1u << 31);	/* PE ET NE PG */
	sregs.efer = (1u << 8) | (1u << 10);		/* LME LMA */
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS", errno);
	regs.rip = CODE_GPA;
	regs.rsp = STACK_GPA;
	regs.rflags = 2;
	regs.rdi = vm->ram;
	regs.rsi = vm->content;
	if (ioctl(vm->vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS", errno);
	return 0;
}

/* A memory-fault exit: the access's range converted, as a confidential
 * VMM does, then the vCPU re-enters. */
static int memory_fault(struct vm *vm)
{
	const struct memory_fault *mf = (const void *)&vm->run->hw;
	GMEM_OPTS(gmem_kvm_fault, f, .gpa = mf->gpa, .size = mf->size,
		  .flags = mf->flags & KVM_MEMORY_EXIT_FLAG_PRIVATE);
	int err = gmem_view_kvm_fault(vm->view, &f), i;

	for (i = 0; !err && i < 3; i++)
		err = gmem_pt_sync(vm->pt[i]);
	if (err)
		return fail("memory fault", err);
	vm->fault_exits++;
	if (vm->verbose || f.changed)
		printf("    fault   %#10llx %s: %llu frames converted\n",
		       (unsigned long long)mf->gpa,
		       f.flags ? "private" : "shared",
		       (unsigned long long)f.changed);
	return 0;
}

static int run_guest(struct vm *vm, int *verdict)
{
	for (;;) {
		int done;

		if (ioctl(vm->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EFAULT &&
			    vm->run->exit_reason == KVM_EXIT_MEMORY_FAULT) {
				if (memory_fault(vm))
					return -1;
				continue;
			}
			return fail("KVM_RUN", errno);
		}
		if (vm->run->exit_reason != KVM_EXIT_IO ||
		    vm->run->io.port != PORT) {
			fprintf(stderr, "gmem-kvm: unexpected exit %u\n",
				vm->run->exit_reason);
			return -1;
		}
		done = serve(vm, verdict);
		if (done)
			return done < 0 ? -1 : 0;
	}
}

static int setup(struct vm *vm, unsigned int kind)
{
	GMEM_OPTS(gmem_backend_opts, bo, .kind = kind, .vm_fd = vm->fd,
		  .max_bytes = MAX_RAM);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .content = vm->content);
	GMEM_OPTS(gmem_pt_geometry, geom);
	struct gmem_pool *pool;
	uint32_t nslots;
	int err, i;

	/* KVM reaches private memory through an address too (for its own
	 * accesses, and on hosts whose MMU does not map guest_memfd from
	 * the file): the guest mapping, never the VMM's view. With two
	 * copies it maps the shared one, where KVM takes shared memory. */
	vo.flags = GMEM_VIEW_GUEST_MAP;
	err = gmem_backend_create(&bo, &vm->be);
	if (err == -EOPNOTSUPP)
		return err;	/* a kind this KVM lacks: the caller says so */
	if (err)
		return fail("backend", err);
	gmem_backend_pool(vm->be, &pool);
	err = gmem_guest_create(pool, NULL, &vm->g);
	if (!err)
		err = gmem_region_add(vm->g, 0, vm->ram >> 12, &ro);
	if (!err)
		err = gmem_view_create(vm->g, vm->be, &vo, &vm->view);
	if (!err)
		err = gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &geom);
	for (i = 0; !err && i < 3; i++) {
		GMEM_OPTS(gmem_pt_opts, po, .format = GMEM_PT_FORMAT_EPT);

		err = gmem_pt_create(vm->g, (enum gmem_pt_view)i, &geom, &po,
				     &vm->pt[i]);
	}
	if (!err)
		err = gmem_view_kvm_bind(vm->view, vm->fd, 0, 0, &nslots);
	if (err)
		return fail("guest memory", err);
	return 0;
}

static void teardown(struct vm *vm)
{
	if (vm->run && vm->run != MAP_FAILED)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu >= 0)
		close(vm->vcpu);
	if (vm->fd >= 0)
		close(vm->fd);		/* the VM holds the memory slots */
	for (int i = 0; i < 3; i++)
		gmem_pt_destroy(vm->pt[i]);
	gmem_view_destroy(vm->view);
	gmem_guest_destroy(vm->g);
	gmem_backend_destroy(vm->be);
}

enum run_end { RUN_HELD, RUN_MISMATCH, RUN_SKIPPED };

/* One guest on one backend under one policy. */
static enum run_end run_one(int kvm, unsigned int kind, unsigned int content,
			    uint64_t ram, bool confidential)
{
	struct vm vm = { .kvm = kvm, .fd = -1, .vcpu = -1, .ram = ram,
			 .content = content };
	GMEM_OPTS(gmem_view_stats, vs);
	GMEM_OPTS(gmem_backend_stats, bs);
	int verdict = -1, err;

	printf("%s%s, %s, %" PRIu64 " MiB guest\n",
	       confidential ? "confidential (KVM_X86_SW_PROTECTED_VM), " : "",
	       kind == GMEM_BACKEND_GUEST_MEMFD ? "guest_memfd" : "memfd",
	       content == GMEM_CONTENT_DISCARD ? "DISCARD" : "PRESERVE",
	       ram >> 20);
	vm.fd = ioctl(kvm, KVM_CREATE_VM,
		      confidential ? KVM_X86_SW_PROTECTED_VM : 0);
	err = vm.fd < 0 ? fail("KVM_CREATE_VM", errno) : 0;
	if (!err)
		err = setup(&vm, kind);
	if (err == -EOPNOTSUPP) {
		printf("  skipped: KVM offers no %s on this VM "
		       "(gmem_backend_create: %s)\n",
		       kind == GMEM_BACKEND_GUEST_MEMFD ? "guest_memfd"
							: "such backend",
		       strerror(-err));
		teardown(&vm);
		return RUN_SKIPPED;
	}
	if (!err) {
		/* KVM needs a TSS page on VMX; harmless elsewhere. */
		ioctl(vm.fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
		load(&vm);
		err = start_vcpu(&vm);
	}
	if (!err)
		err = run_guest(&vm, &verdict);
	gmem_view_stats(vm.view, &vs);
	gmem_backend_stats(vm.be, &bs);
	printf("  conversions %" PRIu64 ", runs mapped %" PRIu64
	       ", unmapped %" PRIu64 ", discarded %" PRIu64
	       ", system calls %" PRIu64 "\n",
	       vm.conversions, vs.runs_mapped, vs.runs_unmapped,
	       vs.runs_discarded, vm.calls);
	printf("  memory copies %" PRIu64 ", KVM attribute ioctls %" PRIu64
	       " (regions followed %" PRIu64 "), memory-fault exits %" PRIu64
	       "\n", bs.copies, vs.attr_ioctls, vs.attr_regions,
	       vm.fault_exits);
	/* Each changed run told KVM once, plus the bind's one run. */
	if (confidential &&
	    vs.attr_ioctls != vs.runs_mapped + vs.runs_unmapped + 1) {
		printf("  attribute ioctls are not one per changed run\n");
		err = -1;
	}
	printf("  leaves now: all %" PRIu64 ", private %" PRIu64
	       ", shared %" PRIu64 "\n", vm.pt[0] ? leaves(&vm, 0) : 0,
	       vm.pt[1] ? leaves(&vm, 1) : 0, vm.pt[2] ? leaves(&vm, 2) : 0);
	err = err || verdict || vm.mismatches;
	if (verdict > 0)
		printf("  guest failed at step %d\n", verdict);
	printf("  verdict: %s\n", err ? "MISMATCH" : "ok");
	teardown(&vm);
	return err ? RUN_MISMATCH : RUN_HELD;
}

/*
 * The confidential run, where KVM offers VMs with private memory: its
 * guest_memfd cannot be mapped, so each state has its copy and only
 * DISCARD can hold (gmem/view.h); the guest program checks exactly that.
 */
static enum run_end run_confidential(int kvm, uint64_t ram)
{
	int types = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);

	if (types <= 0 || !(types & (1 << KVM_X86_SW_PROTECTED_VM))) {
		printf("confidential run skipped: KVM offers no "
		       "KVM_X86_SW_PROTECTED_VM (KVM_CAP_VM_TYPES %d)\n",
		       types);
		return RUN_SKIPPED;
	}
	return run_one(kvm, GMEM_BACKEND_GUEST_MEMFD, GMEM_CONTENT_DISCARD,
		       ram, true);
}

static void usage(void)
{
	printf("usage: gmem-kvm [--ram MiB] [--backend guest_memfd|memfd]"
	       " [--content preserve|discard]\n"
	       "Runs a KVM guest on libgmem memory that converts ranges of\n"
	       "4 KiB, 64 KiB, 2 MiB and 1 GiB (with 2 GiB of RAM or more),\n"
	       "once per backend and policy unless one is named, then as a\n"
	       "confidential VM (KVM_X86_SW_PROTECTED_VM, guest_memfd, DISCARD)\n"
	       "where KVM offers one.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ram", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "content", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const unsigned int kinds[] = { GMEM_BACKEND_GUEST_MEMFD,
					      GMEM_BACKEND_MEMFD };
	unsigned int ends[3] = { 0 };
	int only_kind = -1, only_content = -1, c, kvm;
	uint64_t ram = UINT64_C(2) << 30;

	while ((c = getopt_long(argc, argv, "r:b:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ram = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'b':
			only_kind = !strcmp(optarg, "memfd") ? GMEM_BACKEND_MEMFD
							      : GMEM_BACKEND_GUEST_MEMFD;
			break;
		case 'c':
			only_content = !strcmp(optarg, "discard");
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (ram < (UINT64_C(4) << 20) || ram > MAX_RAM || ram % (2 << 20)) {
		fprintf(stderr, "gmem-kvm: RAM must be 4 MiB to 4 GiB, in "
			"2 MiB steps\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("SKIP: gmem-kvm: cannot open /dev/kvm: %s\n",
		       strerror(errno));
		return 77;
	}
	for (unsigned int k = 0; k < 2; k++) {
		if (only_kind >= 0 && kinds[k] != (unsigned int)only_kind)
			continue;
		for (unsigned int p = 0; p < 2; p++)
			if (only_content < 0 || (unsigned int)only_content == p)
				ends[run_one(kvm, kinds[k], p, ram, false)]++;
	}
	if (only_kind != GMEM_BACKEND_MEMFD && only_content != 0)
		ends[run_confidential(kvm, ram)]++;
	close(kvm);
	if (ends[RUN_MISMATCH]) {
		printf("gmem-kvm: MISMATCH in %u run(s)\n", ends[RUN_MISMATCH]);
		return 1;
	}
	if (!ends[RUN_HELD]) {
		printf("SKIP: gmem-kvm: KVM offers none of the runs asked "
		       "for\n");
		return 77;
	}
	printf("gmem-kvm: all checks held in %u run(s), %u skipped\n",
	       ends[RUN_HELD], ends[RUN_SKIPPED]);
	return 0;
}
