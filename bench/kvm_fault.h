/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gmem-bench's section on KVM's side of conversions (kvm_fault.c). */
#ifndef GMEM_BENCH_KVM_FAULT_H
#define GMEM_BENCH_KVM_FAULT_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_fault_result {
	bool real_kvm;		/* a KVM_X86_SW_PROTECTED_VM, else played */
	uint64_t conversions;	/* random conversions of a bound region */
	uint64_t runs;		/* their maximal changed runs */
	uint64_t ioctls;	/* KVM_SET_MEMORY_ATTRIBUTES they made */
	uint64_t off;		/* sum over conversions of |ioctls - runs| */
	double fault_ns;	/* a 4 KiB memory fault resolved, all of it */
	double lib_ns;		/* the same, system calls made no-ops */
};

void kvm_fault_run(int runs, struct kvm_fault_result *r);
void kvm_fault_print(const struct kvm_fault_result *r, int json);

#endif
