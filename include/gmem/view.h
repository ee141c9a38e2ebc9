/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMM's view of a guest on a backend (since 1.2).
 *
 * A view reserves, once per region, an address range the size of the
 * region (PROT_NONE) and keeps it equal to the guest's state: shared runs
 * mapped read-write from the backend at their offsets, private runs
 * inaccessible. It follows conversions through a listener that runs
 * after every other listener of the guest, with one system call per
 * maximal changed run (and per stretch of contiguous blocks in it),
 * never one per frame.
 *
 * Both changes are made in the conversion's PREPARE step, so a failing
 * system call refuses the conversion and the view is put back; a run
 * becoming shared is therefore visible to the VMM from PREPARE on, which
 * is the guest's request anyway.
 *
 * Content, chosen per view:
 *  PRESERVE  in-place conversion: contents are kept across changes.
 *  DISCARD   the side being left is punched out (FALLOC_FL_PUNCH_HOLE,
 *            or MADV_DONTNEED for anonymous memory) and reads back as
 *            zeros: private data never reaches the VMM. A conversion
 *            refused after its PREPARE has discarded the runs it reached.
 *            On a backend of two copies (a guest_memfd of private memory
 *            only, since 1.5) it is the only mode: the copy left is
 *            punched, and GMEM_CONVERT_PRESERVE conversions are refused
 *            with -EOPNOTSUPP.
 *
 * While a view exists, the guest's regions cannot be added or removed
 * (-EBUSY). Region view addresses are congruent to guest-physical
 * addresses modulo 1 GiB, so a hypervisor may map them with large pages.
 *
 * Thread safety: create, destroy and resync are exclusive on the guest;
 * the rest may run concurrently with conversions.
 */
#ifndef GMEM_VIEW_H
#define GMEM_VIEW_H

#include <gmem/common.h>
#include <gmem/guest.h>
#include <gmem/backend.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gmem_content {
	GMEM_CONTENT_PRESERVE = 0,
	GMEM_CONTENT_DISCARD = 1,
};

/* Allocate all of the guest's memory at creation, and map in the page
 * tables of every run that becomes shared (MADV_POPULATE_WRITE). */
#define GMEM_VIEW_POPULATE (1u << 0)
/*
 * Also map all of the guest's memory read-write once, for a hypervisor
 * that needs an address for private memory too (a KVM memory slot of a
 * guest not on guest_memfd). The VMM must not touch it: it is the
 * guest's mapping, not the VMM's view. File backends only.
 */
#define GMEM_VIEW_GUEST_MAP (1u << 1)

/* The most threads that may populate a view (gmem_view_opts). */
#define GMEM_VIEW_POPULATE_THREADS_MAX 64

struct gmem_view_opts {
	size_t sz;
	unsigned int content;	/* enum gmem_content */
	unsigned int flags;	/* GMEM_VIEW_* */
	/*
	 * (since 1.6) With GMEM_VIEW_POPULATE: how many threads populate
	 * the guest at creation, the calling one among them (0 or 1: it
	 * alone). gmem_view_create starts the others and joins them before
	 * it returns, each on a part of every region; an embedder that
	 * lets the library use more cores for a guest's start (as QEMU's
	 * prealloc-threads) sets it. At most
	 * GMEM_VIEW_POPULATE_THREADS_MAX.
	 */
	unsigned int populate_threads;
	unsigned int reserved;	/* 0 */
};
#define gmem_view_opts__last_field reserved

struct gmem_view;

/*
 * Makes the view of guest, whose pool must be be's.
 *
 * Since 1.5 a guest may convert below a hugetlb backend's page: a huge
 * page whose frames must be mapped differently (a 4 KiB shared hole in
 * a private page) is moved into 4 KiB pages at the same offsets, and
 * back into one huge page once its frames agree again; writers through
 * the view and the guest mapping wait while it moves, and a page with a
 * pinned frame never moves (the conversion fails -EBUSY). The builders
 * are unaffected: they keep their largest leaves. See doc/memory.md,
 * "Holes in huge pages", and gmem_backend_stats' split_pages.
 *
 * Errors: -EINVAL guest not on be's pool, bad content or flags,
 * populate_threads above GMEM_VIEW_POPULATE_THREADS_MAX, reserved not
 * 0, or the
 * guest's conversion granule below be's page size on a backend other
 * than HUGETLB or with a region not made of whole pages; -EBUSY the
 * guest already has a view (one per guest); -EOPNOTSUPP
 * GMEM_VIEW_GUEST_MAP on anonymous memory, or (since 1.5)
 * GMEM_CONTENT_PRESERVE on a backend of two copies (gmem/backend.h),
 * which cannot keep contents, or a granule below the page where the
 * kernel cannot hold writers (no /dev/userfaultfd, Linux 6.1, or no
 * write protection of hugetlb memory, Linux 5.19); -ENOMEM; otherwise
 * the error of the system call that failed.
 * Threads: exclusive on the guest.
 */
GMEM_API int gmem_view_create(struct gmem_guest *guest,
			      struct gmem_backend *be,
			      const struct gmem_view_opts *opts,
			      struct gmem_view **view);

/* Unmaps and frees the view. A NULL view is a no-op. Errors: none.
 * Threads: exclusive on the guest. */
GMEM_API int gmem_view_destroy(struct gmem_view *view);


/* The VMM's address of guest frame gfn. Errors: -ENOENT gfn in no
 * region. Threads: any. */
GMEM_API int gmem_view_addr(const struct gmem_view *view, uint64_t gfn,
			    void **addr);

/* The guest mapping's address of gfn. Errors: -EOPNOTSUPP without
 * GMEM_VIEW_GUEST_MAP; -ENOENT gfn in no region. Threads: any. */
GMEM_API int gmem_view_guest_addr(const struct gmem_view *view, uint64_t gfn,
				  void **addr);


/*
 * Allocates the memory of [gfn, gfn + npages) and maps in its shared
 * runs' page tables, in one region. Errors: -EINVAL npages 0; -ENOENT
 * gfn in no region; -ERANGE the range leaves it; otherwise the error of
 * the system call that failed. Threads: any.
 */
GMEM_API int gmem_view_populate(struct gmem_view *view, uint64_t gfn,
				uint64_t npages);

/*
 * Maps every region again from the guest's state. Needed only after a
 * conversion was refused and the undo of its view change failed too
 * (stats.stale): the view is then left inaccessible where it could not
 * be put back, never more accessible than the guest's state.
 * Errors: the error of the system call that failed (stats.stale stays
 * set). Threads: exclusive on the guest.
 */
GMEM_API int gmem_view_resync(struct gmem_view *view);

struct gmem_view_stats {
	size_t sz;
	uint64_t runs_mapped;		/* runs that became shared */
	uint64_t runs_unmapped;		/* runs that became private */
	uint64_t runs_discarded;	/* runs punched out (DISCARD) */
	uint64_t stale;			/* failed undos since the last resync */
	/* Since 1.5: KVM_SET_MEMORY_ATTRIBUTES ioctls made, and the
	 * regions whose attributes KVM follows (gmem_view_kvm_bind). */
	uint64_t attr_ioctls;
	uint64_t attr_regions;
	/* Since 1.5: memory faults resolved (gmem_view_kvm_fault), and
	 * those of them that converted frames. */
	uint64_t faults;
	uint64_t fault_conversions;
};
#define gmem_view_stats__last_field fault_conversions

/* Counts of the view. Errors: none beyond the common ones. Threads: any. */
GMEM_API int gmem_view_stats(const struct gmem_view *view,
			     struct gmem_view_stats *stats);

/*
 * Registers the region starting at gfn as KVM memory slots of vm_fd with
 * KVM_SET_USER_MEMORY_REGION2 (since 1.6, KVM_SET_USER_MEMORY_REGION on
 * a KVM without KVM_CAP_USER_MEMORY2, as before Linux 6.8): one slot per
 * stretch of contiguous blocks, numbered from slot; *nslots receives how
 * many. On guest_memfd, the slots also take the backend's file and
 * offsets. Their address, which KVM uses for its own accesses and for
 * shared memory (and, on some hosts, to map the guest), is the guest
 * mapping (GMEM_VIEW_GUEST_MAP) if the view has one, else the view.
 *
 * Since 1.5, on guest_memfd, where the VM offers the private memory
 * attribute (KVM_CHECK_EXTENSION(KVM_CAP_MEMORY_ATTRIBUTES) on vm_fd,
 * as on VMs of type KVM_X86_SW_PROTECTED_VM and confidential ones), KVM
 * is told the region's private runs now and every conversion of the
 * region from then on, with KVM_SET_MEMORY_ATTRIBUTES: one ioctl per
 * maximal changed run, in the conversion's PREPARE, after the view
 * closed a run going private and before it opens a run going shared, so
 * the ioctl's failure refuses the conversion and puts both back.
 * stats.attr_regions counts the regions followed. Elsewhere KVM keeps
 * every frame shared and only the view enforces private memory.
 *
 * On error no slot stays registered and KVM's attributes of the region
 * are all shared. Errors: -EINVAL vm_fd negative; -ENOENT no region
 * starts at gfn; -EBUSY (since 1.5) the region's attributes already
 * follow a VM; -EOPNOTSUPP (since 1.6) guest_memfd on a KVM without
 * KVM_CAP_USER_MEMORY2; otherwise the error of the ioctl that failed.
 * Threads: exclusive on the guest.
 */
GMEM_API int gmem_view_kvm_bind(struct gmem_view *view, int vm_fd,
				uint64_t gfn, uint32_t slot,
				uint32_t *nslots);
/* Deletes the slots gmem_view_kvm_bind made for the region at gfn, and
 * (since 1.5) makes KVM's attributes of the region shared again and
 * stops following it. Errors: those of gmem_view_kvm_bind but -EBUSY.
 * Threads: exclusive on the guest. */
GMEM_API int gmem_view_kvm_unbind(struct gmem_view *view, int vm_fd,
				  uint64_t gfn, uint32_t slot);

/* kvm_run.memory_fault.flags: the access was private. */
#define GMEM_KVM_FAULT_PRIVATE (1ull << 3)

/* Since 1.5: a KVM_EXIT_MEMORY_FAULT exit, as kvm_run.memory_fault
 * reports it, and what resolving it did. */
struct gmem_kvm_fault {
	size_t sz;
	uint64_t gpa;
	uint64_t size;
	uint64_t flags;		/* GMEM_KVM_FAULT_PRIVATE or 0 */
	/* Out: the range converted, rounded out to the guest's granule,
	 * and how many of its frames were in the other state. */
	uint64_t gfn;
	uint64_t npages;
	uint64_t changed;
	/* Out: on -EAGAIN or -EBUSY, the first frame that caused it. */
	uint64_t fail_gfn;
};
#define gmem_kvm_fault__last_field fail_gfn

/*
 * Resolves a memory-fault exit the way a confidential VMM does: converts
 * [gpa, gpa + size), rounded out to the guest's conversion granule, to
 * the state the access wanted (private with GMEM_KVM_FAULT_PRIVATE, else
 * shared), as gmem_convert does, so the view applies its content policy
 * and a bound VM's attributes follow. Returns 0 when the vCPU may
 * re-enter. changed 0 means nothing was converted: another thread
 * converted first, or the access cannot be served in either state (a
 * private access to a slot without guest_memfd); re-entering then
 * faults again, so the caller counts repeats.
 * Errors: -EINVAL bad size or flags; -EFAULT gpa in no region (not
 * guest memory: MMIO or a hole, the caller's to handle); -EAGAIN a
 * frame is paged out, fail_gfn the first: bring it in (gmem/page.h) and
 * re-enter; -EBUSY a frame is pinned, fail_gfn the first: the vCPU
 * cannot proceed until it is unpinned; -ENOMEM; or a listener's error.
 * Nothing changes on error. Threads: any (vCPU threads).
 */
GMEM_API int gmem_view_kvm_fault(struct gmem_view *view,
				 struct gmem_kvm_fault *fault);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_VIEW_H */
