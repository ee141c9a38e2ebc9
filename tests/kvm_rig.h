/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KVM for tests, beneath the injecting hooks (os_inject.h): a hook that
 * plays KVM's ioctls (guest_memfd from a memfd, memory slots, memory
 * attributes), or one that passes them to a real VM and records what
 * they set. Either way the record is what KVM was told, so a test
 * compares it with the library's state on every machine, and against
 * the real thing where /dev/kvm exists.
 */
#ifndef GMEM_TEST_KVM_RIG_H
#define GMEM_TEST_KVM_RIG_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

#include "../lib/mem/kvm_uapi.h"
#include "os_inject.h"
#include "test_alloc.h"

#define KVM_RIG_FAKE_VM 1000	/* never a real descriptor */
#define KVM_RIG_SLOTS 16
#define KVM_RIG_GFNS (UINT64_C(4) << 18)	/* 4 GiB recorded */

struct kvm_rig {
	struct os_inject in;
	int vm;			/* KVM_RIG_FAKE_VM, or a real VM's */
	int kvm;		/* /dev/kvm when real, else -1 */
	/* The fake's offers: KVM_CAP_MEMORY_ATTRIBUTES, KVM_CAP_GUEST_MEMFD,
	 * KVM_CAP_USER_MEMORY2 and KVM_CAP_GUEST_MEMFD_FLAGS. */
	uint64_t attr_offer;
	bool has_gmem;
	bool has_region2;
	uint64_t gmem_offer;
	/* What KVM was told. */
	struct kvm_userspace_memory_region2 slot[KVM_RIG_SLOTS];
	uint32_t nset;		/* KVM_SET_USER_MEMORY_REGION{,2} calls */
	uint32_t nset_v1;	/* of them, KVM_SET_USER_MEMORY_REGION */
	uint32_t nlive;		/* slots with a size */
	struct kvm_create_guest_memfd made;
	uint32_t ncreated;
	uint32_t nattr;		/* KVM_SET_MEMORY_ATTRIBUTES calls */
	uint8_t *private_;	/* per gfn below KVM_RIG_GFNS */
};

/* A fake KVM offering the private attribute, KVM_SET_USER_MEMORY_REGION2
 * and guest_memfd with its MMAP and INIT_SHARED. 0 or -ENOMEM. */
int kvm_rig_fake(struct kvm_rig *k);
/* A real VM of type KVM_X86_SW_PROTECTED_VM. 0, or a negative errno
 * with *why saying what the machine lacks. */
int kvm_rig_real(struct kvm_rig *k, const char **why);
void kvm_rig_fini(struct kvm_rig *k);

/* A guest of conversion granule granule (0: one frame) with a region
 * over two 1 GiB slots and a small one, on a backend of kind whose calls
 * go through k, and its view. */
struct kvm_world {
	struct kvm_rig *k;
	struct test_alloc ta;
	struct gmem_backend *be;
	struct gmem_guest *g;
	struct gmem_view *v;
};
#define KVM_WORLD_SMALL (3 * GMEM_BLOCK_FRAMES)	/* the small region */

int kvm_world_open(struct kvm_world *w, struct kvm_rig *k, unsigned int kind,
		   unsigned int view_flags, unsigned int content,
		   uint32_t granule);
void kvm_world_close(struct kvm_world *w);

/* Whether KVM's record of [gfn, gfn + n) equals the guest's state. */
bool kvm_rig_attrs_match(const struct kvm_rig *k, const struct gmem_guest *g,
			 uint64_t gfn, uint64_t n);

#endif
