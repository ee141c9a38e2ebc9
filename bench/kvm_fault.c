/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KVM's side of conversions: a guest_memfd region bound to a VM whose
 * memory attributes follow it. Counts the attribute ioctls of random
 * conversions against their maximal changed runs, and times memory-fault
 * exits resolved by gmem_view_kvm_fault, the library's own work (system
 * calls made no-ops) against the whole. The VM is a real
 * KVM_X86_SW_PROTECTED_VM where /dev/kvm offers one; elsewhere a hook
 * plays KVM's ioctls (guest_memfd from a memfd, attributes accepted at
 * no cost, so the kernel's share is then understated, never the
 * library's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmem.h>

#include "../lib/mem/kvm_uapi.h"
#include "kvm_fault.h"
#include "real.h"
#include "util.h"

#define FRAMES (UINT64_C(1) << 18)	/* a 1 GiB region */
#define NCONV 2000
#define NFAULTS 2000

struct vm {
	int kvm, fd;			/* fd: the VM, or a played one */
	struct gmem_os_ops os;
	struct gmem_backend *be;
	struct gmem_guest *g;
	struct gmem_view *v;
	uint8_t *priv;			/* the expected state, per frame */
};

#define PLAYED_VM 1000

static int played_kvm(void *ctx, int fd, unsigned long request, void *arg)
{
	(void)ctx, (void)fd;
	switch (request) {
	case KVM_CHECK_EXTENSION:
		if ((uintptr_t)arg == KVM_CAP_MEMORY_ATTRIBUTES)
			return KVM_MEMORY_ATTRIBUTE_PRIVATE;
		if ((uintptr_t)arg == KVM_CAP_GUEST_MEMFD ||
		    (uintptr_t)arg == KVM_CAP_USER_MEMORY2)
			return 1;
		if ((uintptr_t)arg == KVM_CAP_GUEST_MEMFD_FLAGS)
			return GUEST_MEMFD_FLAG_MMAP |
			       GUEST_MEMFD_FLAG_INIT_SHARED;
		return 0;
	case KVM_CREATE_GUEST_MEMFD: {
		const struct kvm_create_guest_memfd *c = arg;
		int m = memfd_create("played-guest-memfd", MFD_CLOEXEC);

		if (m >= 0 && ftruncate(m, (off_t)c->size) < 0) {
			close(m);
			return -errno;
		}
		return m < 0 ? -errno : m;
	}
	default:	/* memory slots and attributes: accepted */
		return 0;
	}
}

/* A real KVM_X86_SW_PROTECTED_VM, or -1. */
static int real_vm(struct vm *vm)
{
	int types;

	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		return -1;
	types = ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
	if (types > 0 && (types & (1 << KVM_X86_SW_PROTECTED_VM)))
		return ioctl(vm->kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	return -1;
}

static void vm_close(struct vm *vm)
{
	if (vm->v)
		gmem_view_kvm_unbind(vm->v, vm->fd, 0, 0);
	gmem_view_destroy(vm->v);
	gmem_guest_destroy(vm->g);
	gmem_backend_destroy(vm->be);
	if (vm->kvm >= 0) {
		if (vm->fd >= 0)
			close(vm->fd);
		close(vm->kvm);
	}
	free(vm->priv);
}

/* A private 1 GiB region on guest_memfd, DISCARD view, bound; noop:
 * memory and file calls do nothing. */
static int vm_open(struct vm *vm, bool noop, bool *real)
{
	GMEM_OPTS(gmem_backend_opts, bo, .kind = GMEM_BACKEND_GUEST_MEMFD,
		  .max_bytes = FRAMES * 4096);
	GMEM_OPTS(gmem_view_opts, vo, .content = GMEM_CONTENT_DISCARD);
	struct gmem_pool *pool;
	uint32_t n;
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->kvm = -1;
	vm->os.sz = sizeof(vm->os);
	if (noop)
		real_noop_os(&vm->os);
	else
		gmem_os_default(&vm->os);
	vm->fd = noop ? -1 : real_vm(vm);
	*real = vm->fd >= 0;
	if (vm->fd < 0) {
		vm->os.ioctl = played_kvm;
		vm->fd = PLAYED_VM;
	}
	bo.vm_fd = vm->fd;
	bo.os = &vm->os;
	vm->priv = malloc(FRAMES);
	err = vm->priv ? 0 : -ENOMEM;
	if (!err)
		memset(vm->priv, 1, FRAMES);
	if (!err)
		err = gmem_backend_create(&bo, &vm->be);
	if (!err)
		err = gmem_backend_pool(vm->be, &pool);
	if (!err)
		err = gmem_guest_create(pool, NULL, &vm->g);
	if (!err)
		err = gmem_region_add(vm->g, 0, FRAMES, NULL);
	if (!err)
		err = gmem_view_create(vm->g, vm->be, &vo, &vm->v);
	if (!err)
		err = gmem_view_kvm_bind(vm->v, vm->fd, 0, 0, &n);
	if (err)
		vm_close(vm);
	return err;
}

static uint64_t attr_ioctls(const struct vm *vm)
{
	GMEM_OPTS(gmem_view_stats, st);

	gmem_view_stats(vm->v, &st);
	return st.attr_ioctls;
}

/* Maximal runs of [gfn, gfn + n) not in the state want. */
static uint64_t changed_runs(const uint8_t *priv, uint64_t gfn, uint64_t n,
			     uint8_t want)
{
	uint64_t runs = 0;
	bool in = false;

	for (uint64_t i = gfn; i < gfn + n; i++) {
		bool change = priv[i] != want;

		runs += change && !in;
		in = change;
	}
	return runs;
}

static void count_ioctls(struct kvm_fault_result *r)
{
	struct vm vm;

	if (vm_open(&vm, false, &r->real_kvm))
		return;
	for (int i = 0; i < NCONV; i++) {
		uint64_t len = 1 + rnd() % (UINT64_C(1) << (rnd() % 16));
		uint64_t gfn = rnd() % (FRAMES - len + 1);
		uint8_t want = rnd() & 1;
		uint64_t runs = changed_runs(vm.priv, gfn, len, want);
		uint64_t before = attr_ioctls(&vm), made;

		if (gmem_convert(vm.g, gfn, len, want ? GMEM_ATTR_PRIVATE
						      : GMEM_ATTR_SHARED, NULL))
			continue;
		memset(vm.priv + gfn, want, len);
		made = attr_ioctls(&vm) - before;
		r->conversions++;
		r->runs += runs;
		r->ioctls += made;
		r->off += made > runs ? made - runs : runs - made;
	}
	vm_close(&vm);
}

/* ns per 4 KiB memory fault, each converting its frame. */
static double time_faults(struct vm *vm)
{
	GMEM_OPTS(gmem_kvm_fault, f, .size = 4096);
	uint64_t at[NFAULTS];
	double t0;

	for (int i = 0; i < NFAULTS; i++)
		at[i] = rnd() % FRAMES;
	t0 = now_ns();
	for (int i = 0; i < NFAULTS; i++) {
		/* The access wants the state the frame is not in. */
		f.gpa = at[i] * 4096;
		f.flags = vm->priv[at[i]] ? 0 : GMEM_KVM_FAULT_PRIVATE;
		if (!gmem_view_kvm_fault(vm->v, &f) && f.changed)
			vm->priv[at[i]] ^= 1;
	}
	return (now_ns() - t0) / NFAULTS;
}

void kvm_fault_run(int runs, struct kvm_fault_result *r)
{
	double all[63], lib[63];
	struct vm vm;
	bool real;

	memset(r, 0, sizeof(*r));
	r->fault_ns = r->lib_ns = NAN;
	count_ioctls(r);
	for (int i = 0; i < runs; i++) {
		all[i] = lib[i] = NAN;
		if (!vm_open(&vm, false, &real)) {
			all[i] = time_faults(&vm);
			vm_close(&vm);
		}
		if (!vm_open(&vm, true, &real)) {
			/* The best of a few passes, as for conversions. */
			lib[i] = 1e18;
			for (int pass = 0; pass < 10; pass++) {
				double t = time_faults(&vm);

				lib[i] = t < lib[i] ? t : lib[i];
			}
			vm_close(&vm);
		}
	}
	r->fault_ns = median(all, runs);
	r->lib_ns = median(lib, runs);
}

void kvm_fault_print(const struct kvm_fault_result *r, int json)
{
	double kernel = r->fault_ns - r->lib_ns;

	if (json) {
		printf("\"kvm\":{\"real_kvm\":%s,\"conversions\":%llu,"
		       "\"runs\":%llu,\"attr_ioctls\":%llu,\"off\":%llu,"
		       "\"fault_ns\":%.1f,\"fault_lib_ns\":%.1f},",
		       r->real_kvm ? "true" : "false",
		       (unsigned long long)r->conversions,
		       (unsigned long long)r->runs,
		       (unsigned long long)r->ioctls,
		       (unsigned long long)r->off, r->fault_ns, r->lib_ns);
		return;
	}
	printf("\nKVM memory attributes (%s): %llu random conversions of a "
	       "bound 1 GiB guest_memfd region,\n%llu maximal changed runs, "
	       "%llu KVM_SET_MEMORY_ATTRIBUTES ioctls (off by %llu).\n",
	       r->real_kvm ? "a real KVM_X86_SW_PROTECTED_VM"
			   : "KVM played by a hook: no /dev/kvm VM with "
			     "private memory",
	       (unsigned long long)r->conversions,
	       (unsigned long long)r->runs, (unsigned long long)r->ioctls,
	       (unsigned long long)r->off);
	printf("A 4 KiB memory-fault exit resolved (DISCARD view): %.0f ns; "
	       "the library's own work %.0f ns,\nthe kernel's %.0f ns: the "
	       "library's share %.2f%% of the kernel's.\n",
	       r->fault_ns, r->lib_ns, kernel, 100 * r->lib_ns / kernel);
}
