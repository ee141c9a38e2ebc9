/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Real memory: backends, the VMM's view and its content policies, tested
 * with real memfd, guest_memfd, anonymous and hugetlb memory against a
 * model of every frame's attribute and contents.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "../tools/hugepages.h"
#include "os_inject.h"
#include "test_alloc.h"

#define FRAME 4096u

/* A guest on real memory, its view and builders, and the model. */
struct rig {
	struct os_inject in;
	struct test_alloc ta;
	struct gmem_backend *be;
	struct gmem_guest *g;
	struct gmem_view *v;
	struct gmem_pt *pt_shared, *pt_all;
	struct gmem_pt_geometry geom;
	int kvm, vm;
	uint64_t npages;
	unsigned int content;
	unsigned char *attr;	/* model: attribute per frame */
	uint32_t *tag;		/* model: contents per frame, 0 = zeros */
	uint32_t next_tag;
};

static bool have_kvm(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

static void rig_open_vm(struct rig *r)
{
	r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(r->kvm, 0);
	r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
	ck_assert_int_ge(r->vm, 0);
}

static void rig_init(struct rig *r, unsigned int kind, unsigned int content,
		     uint64_t npages)
{
	/* Room for a few blocks: anonymous memory reserves all of it. */
	GMEM_OPTS(gmem_backend_opts, bo, .kind = kind, .vm_fd = -1,
		  .max_bytes = UINT64_C(4) << 30);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .content = content);
	struct gmem_pool *pool;

	memset(r, 0, sizeof(*r));
	r->kvm = r->vm = -1;
	os_inject_init(&r->in);
	test_alloc_init(&r->ta);
	bo.os = &r->in.ops;
	bo.alloc = &r->ta.ops;
	if (kind == GMEM_BACKEND_GUEST_MEMFD) {
		rig_open_vm(r);
		bo.vm_fd = r->vm;
	}
	if (kind != GMEM_BACKEND_ANON)
		vo.flags = GMEM_VIEW_GUEST_MAP;
	ck_assert_int_eq(gmem_backend_create(&bo, &r->be), 0);
	ck_assert_int_eq(gmem_backend_pool(r->be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &r->g), 0);
	ck_assert_int_eq(gmem_region_add(r->g, 0, npages, &ro), 0);
	ck_assert_int_eq(gmem_view_create(r->g, r->be, &vo, &r->v), 0);
	r->geom.sz = sizeof(r->geom);
	ck_assert_int_eq(gmem_pt_geometry(GMEM_PT_X86_4LEVEL, &r->geom), 0);
	ck_assert_int_eq(gmem_pt_create(r->g, GMEM_PT_VIEW_SHARED, &r->geom,
					NULL, &r->pt_shared), 0);
	ck_assert_int_eq(gmem_pt_create(r->g, GMEM_PT_VIEW_ALL, &r->geom,
					NULL, &r->pt_all), 0);
	r->npages = npages;
	r->content = content;
	r->attr = malloc(npages);
	r->tag = calloc(npages, sizeof(*r->tag));
	ck_assert(r->attr && r->tag);
	memset(r->attr, GMEM_ATTR_SHARED, npages);
}

static void rig_fini(struct rig *r)
{
	ck_assert_int_eq(gmem_pt_destroy(r->pt_shared), 0);
	ck_assert_int_eq(gmem_pt_destroy(r->pt_all), 0);
	ck_assert_int_eq(gmem_view_destroy(r->v), 0);
	ck_assert_int_eq(gmem_guest_destroy(r->g), 0);
	ck_assert_int_eq(gmem_backend_destroy(r->be), 0);
	ck_assert_int_eq(r->ta.live_bytes, 0);
	if (r->vm >= 0)
		close(r->vm);
	if (r->kvm >= 0)
		close(r->kvm);
	free(r->attr);
	free(r->tag);
}

static char *view_of(struct rig *r, uint64_t gfn)
{
	void *p;

	ck_assert_int_eq(gmem_view_addr(r->v, gfn, &p), 0);
	return p;
}

/* The guest's own access to its memory: the guest mapping, or for
 * anonymous memory (which has none) the frame made accessible. */
static char *guest_of(struct rig *r, uint64_t gfn)
{
	void *p;

	ck_assert_int_eq(gmem_view_guest_addr(r->v, gfn, &p), 0);
	return p;
}

/* Whether the process can read p, found without taking a fault (and
 * without an access a memory checker would report). */
static bool readable(struct rig *r, const void *p)
{
	char c;
	struct iovec local = { .iov_base = &c, .iov_len = 1 };
	struct iovec remote = { .iov_base = (void *)p, .iov_len = 1 };

	(void)r;
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 1) {
		ck_assert_int_eq(errno, EFAULT);
		return false;
	}
	return true;
}

static uint64_t word_of(uint32_t tag, uint64_t gfn, uint64_t i)
{
	return tag ? ((uint64_t)tag << 32 | (gfn & 0xffffff) << 8) + i : 0;
}

static void fill(char *p, uint32_t tag, uint64_t gfn)
{
	uint64_t *w = (uint64_t *)p;

	for (uint64_t i = 0; i < FRAME / 8; i++)
		w[i] = word_of(tag, gfn, i);
}

static bool holds(const char *p, uint32_t tag, uint64_t gfn)
{
	const uint64_t *w = (const uint64_t *)p;

	for (uint64_t i = 0; i < FRAME / 8; i++)
		if (w[i] != word_of(tag, gfn, i))
			return false;
	return true;
}

/* Every observable of frames [gfn, gfn + n): state, the view's access
 * and contents byte for byte, and the guest's contents. */
static void check_frames(struct rig *r, uint64_t gfn, uint64_t n)
{
	for (uint64_t f = gfn; f < gfn + n; f++) {
		unsigned int attr;
		bool shared = r->attr[f] == GMEM_ATTR_SHARED;
		const char *p = view_of(r, f);

		ck_assert_int_eq(gmem_attr_get(r->g, f, &attr), 0);
		EXPECT_EQ(attr, r->attr[f]);
		if (readable(r, p) != shared)
			ck_abort_msg("frame %#llx: view %s, state %s",
				     (unsigned long long)f,
				     shared ? "closed" : "open",
				     shared ? "shared" : "private");
		if (shared && !holds(p, r->tag[f], f))
			ck_abort_msg("frame %#llx: view holds other data",
				     (unsigned long long)f);
		if (r->v && gmem_view_guest_addr(r->v, f, &(void *){ 0 }) == 0 &&
		    !holds(guest_of(r, f), r->tag[f], f))
			ck_abort_msg("frame %#llx: guest sees other data",
				     (unsigned long long)f);
	}
}

static int count_leaf(void *ctx, const struct gmem_pt_leaf *leaf)
{
	(void)leaf;
	++*(uint64_t *)ctx;
	return 0;
}

/* The builders follow the guest: their leaves are the minimal cover. */
static void check_tables(struct rig *r)
{
	static const enum gmem_pt_view views[] = { GMEM_PT_VIEW_SHARED,
						   GMEM_PT_VIEW_ALL };
	struct gmem_pt *pts[] = { r->pt_shared, r->pt_all };

	for (int i = 0; i < 2; i++) {
		GMEM_OPTS(gmem_pt_stats, st);
		uint64_t want = 0;

		ck_assert_int_eq(gmem_pt_sync(pts[i]), 0);
		ck_assert_int_eq(gmem_pt_stats(pts[i], &st), 0);
		ck_assert_int_eq(gmem_pt_view_cover(r->g, views[i], &r->geom, 0,
						    r->npages, count_leaf,
						    &want, NULL), 0);
		EXPECT_EQ(st.nleaves, want);
	}
}

/* Maximal runs of frames of [gfn, gfn + n) that are not attr. */
static uint64_t changing_runs(const struct rig *r, uint64_t gfn, uint64_t n,
			      unsigned int attr)
{
	uint64_t runs = 0;

	for (uint64_t f = gfn; f < gfn + n; f++)
		if (r->attr[f] != attr && (f == gfn || r->attr[f - 1] == attr))
			runs++;
	return runs;
}

static void model_convert_contents(struct rig *r, uint64_t gfn, uint64_t n,
				   unsigned int attr)
{
	for (uint64_t f = gfn; f < gfn + n; f++) {
		if (r->attr[f] != attr && r->content == GMEM_CONTENT_DISCARD)
			r->tag[f] = 0;
		r->attr[f] = (unsigned char)attr;
	}
}

/* A conversion, with the system calls it costs checked: one per maximal
 * changed run, two with DISCARD. */
static void convert(struct rig *r, uint64_t gfn, uint64_t n, unsigned int attr)
{
	uint64_t runs = changing_runs(r, gfn, n, attr);
	uint64_t before = r->in.calls;

	ck_assert_int_eq(gmem_convert(r->g, gfn, n, attr, NULL), 0);
	EXPECT_EQ(r->in.calls - before,
		  runs * (r->content == GMEM_CONTENT_DISCARD ? 2 : 1));
	model_convert_contents(r, gfn, n, attr);
}

/* Writes new contents: the VMM through its view where shared, the guest
 * through its mapping anywhere. */
static void write_frames(struct rig *r, uint64_t gfn, uint64_t n, bool vmm)
{
	for (uint64_t f = gfn; f < gfn + n; f++) {
		if (vmm && r->attr[f] != GMEM_ATTR_SHARED)
			continue;
		r->tag[f] = ++r->next_tag;
		fill(vmm ? view_of(r, f) : guest_of(r, f), r->tag[f], f);
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random range: mostly small and unaligned, sometimes whole 2 MiB. */
static void pick(struct rig *r, uint64_t *seed, uint64_t *gfn, uint64_t *n)
{
	uint64_t kind = rnd(seed) % 8;

	if (kind == 0) {
		*n = 512 * (1 + rnd(seed) % 4);
		*gfn = rnd(seed) % (r->npages / 512 - 4) * 512;
	} else {
		*n = 1 + rnd(seed) % (kind < 4 ? 8 : 300);
		*gfn = rnd(seed) % (r->npages - *n);
	}
}

static void differential(unsigned int kind, unsigned int content)
{
	uint64_t ops = test_env_u64("GMEM_BACKEND_OPS", 3000);
	uint64_t mib = test_env_u64("GMEM_BACKEND_MIB", 256);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (kind * 7 + content);
	struct rig r;

	if (kind == GMEM_BACKEND_GUEST_MEMFD && !have_kvm()) {
		printf("SKIP: guest_memfd differential: no /dev/kvm\n");
		return;
	}
	rig_init(&r, kind, content, mib << 20 >> 12);
	write_frames(&r, 0, r.npages, false);
	check_frames(&r, 0, r.npages);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t gfn, n, op = rnd(&seed) % 8;

		pick(&r, &seed, &gfn, &n);
		if (op < 5) {
			convert(&r, gfn, n, (unsigned int)(rnd(&seed) & 1));
		} else {
			write_frames(&r, gfn, n, op == 5);
		}
		check_frames(&r, gfn > 1 ? gfn - 1 : 0,
			     n + 2 < r.npages - gfn ? n + 2 : r.npages - gfn);
		if (i % 1000 == 999) {
			check_frames(&r, 0, r.npages);
			check_tables(&r);
		}
	}
	check_frames(&r, 0, r.npages);
	check_tables(&r);
	rig_fini(&r);
}

START_TEST(differential_memfd)
{
	differential(GMEM_BACKEND_MEMFD, _i ? GMEM_CONTENT_DISCARD
					    : GMEM_CONTENT_PRESERVE);
}
END_TEST

START_TEST(differential_guest_memfd)
{
	differential(GMEM_BACKEND_GUEST_MEMFD, _i ? GMEM_CONTENT_DISCARD
						  : GMEM_CONTENT_PRESERVE);
}
END_TEST

/* Anonymous memory has no guest mapping: its view is the memory. */
START_TEST(anonymous)
{
	struct rig r;
	unsigned int content = _i ? GMEM_CONTENT_DISCARD
				  : GMEM_CONTENT_PRESERVE;

	rig_init(&r, GMEM_BACKEND_ANON, content, 4096);
	write_frames(&r, 0, r.npages, true);
	convert(&r, 100, 300, GMEM_ATTR_PRIVATE);
	convert(&r, 1024, 512, GMEM_ATTR_PRIVATE);
	check_frames(&r, 0, r.npages);
	convert(&r, 0, 2048, GMEM_ATTR_SHARED);
	check_frames(&r, 0, r.npages);
	check_tables(&r);
	rig_fini(&r);
}
END_TEST

/*
 * Paging on real memory: frames nominated become unreachable through
 * the view and the guest mapping; the pager reads them and evicts, the
 * file's blocks really go; loaded and completed, every frame holds
 * exactly what it held, and is reachable again as its attribute says.
 * An access (TRY) to a nominated frame cancels it, contents intact.
 * Conversions and writes go on around them. The builders' tables cover
 * exactly the present frames.
 */
enum { P_IN, P_NOMINATED, P_PAGED };

static uint64_t file_blocks(struct rig *r)
{
	struct stat st;
	int fd;

	if (gmem_backend_fd(r->be, &fd) || fd < 0)
		return 0;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks;
}

static void check_paged(struct rig *r, const unsigned char *state, uint64_t f)
{
	void *g;

	if (state[f] == P_IN) {
		check_frames(r, f, 1);
		return;
	}
	if (readable(r, view_of(r, f)))
		ck_abort_msg("frame %#llx out, yet the view reaches it",
			     (unsigned long long)f);
	if (gmem_view_guest_addr(r->v, f, &g) == 0 && readable(r, g))
		ck_abort_msg("frame %#llx out, yet the guest reaches it",
			     (unsigned long long)f);
}

/* The run of frames in state from f on (at most max), or 0. */
static uint64_t run_in(const unsigned char *state, uint64_t npages,
		       uint64_t f, uint64_t max, unsigned char want)
{
	uint64_t n = 0;

	while (f + n < npages && n < max && state[f + n] == want)
		n++;
	return n;
}

static void paging(unsigned int kind)
{
	uint64_t ops = test_env_u64("GMEM_BACKEND_OPS", 3000) / 3;
	uint64_t seed = 0x2545f4914f6cdd1dull ^ kind, npages = 4096;
	unsigned char *state = calloc(npages, 1);
	char *store = malloc(npages * FRAME);
	struct rig r;

	if (kind == GMEM_BACKEND_GUEST_MEMFD && !have_kvm()) {
		printf("SKIP: guest_memfd paging: no /dev/kvm\n");
		free(state);
		free(store);
		return;
	}
	ck_assert(state && store);
	rig_init(&r, kind, GMEM_CONTENT_PRESERVE, npages);
	/* Anonymous memory has no guest mapping: the VMM writes. */
	write_frames(&r, 0, npages, kind == GMEM_BACKEND_ANON);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t f = rnd(&seed) % npages, n = 1 + rnd(&seed) % 8, k;
		unsigned int op = (unsigned int)(rnd(&seed) % 6);
		bool all_in;

		if (f + n > npages)
			n = npages - f;
		all_in = run_in(state, npages, f, n, P_IN) == n;
		if (op == 0) {
			int err = gmem_page_nominate(r.g, f, n, NULL);

			EXPECT_EQ(err, all_in ? 0 : -EINVAL);
			if (!err)
				memset(state + f, P_NOMINATED, n);
		} else if (op == 1) {
			/* The pager: read, let the builders sync, evict. */
			while (f < npages && state[f] != P_NOMINATED)
				f++;
			n = run_in(state, npages, f, n, P_NOMINATED);
			if (!n)
				continue;
			ck_assert_int_eq(gmem_page_read(r.g, f, n,
							store + f * FRAME,
							NULL), 0);
			ck_assert_int_eq(gmem_pt_sync(r.pt_shared), 0);
			ck_assert_int_eq(gmem_pt_sync(r.pt_all), 0);
			k = file_blocks(&r);
			ck_assert_int_eq(gmem_page_evict(r.g, f, n, NULL), 0);
			if (k)	/* the memory really went */
				ck_assert_uint_le(file_blocks(&r),
						  k - n * FRAME / 512);
			memset(state + f, P_PAGED, n);
		} else if (op == 2) {
			while (f < npages && state[f] != P_PAGED)
				f++;
			n = run_in(state, npages, f, n, P_PAGED);
			if (!n)
				continue;
			ck_assert_int_eq(gmem_page_load(r.g, f, n,
							store + f * FRAME,
							NULL), 0);
			ck_assert_int_eq(gmem_page_complete(r.g, f, n, 0, NULL),
					 0);
			memset(state + f, P_IN, n);
		} else if (op == 3) {
			while (f < npages && state[f] != P_NOMINATED)
				f++;
			if (f == npages)
				continue;
			n = 1;
			ck_assert_int_eq(gmem_page_lookup(r.g, f,
							  GMEM_LOOKUP_TRY,
							  NULL), 0);
			state[f] = P_IN;
		} else if (op == 4 && all_in) {
			convert(&r, f, n, (unsigned int)(rnd(&seed) & 1));
		} else if (op == 5 && all_in) {
			write_frames(&r, f, n, kind == GMEM_BACKEND_ANON);
		}
		for (k = f > 1 ? f - 1 : 0; k < f + n + 1 && k < npages; k++)
			check_paged(&r, state, k);
		if (i % 200 == 199)
			check_tables(&r);
	}
	for (uint64_t f = 0; f < npages; f++)
		check_paged(&r, state, f);
	check_tables(&r);
	rig_fini(&r);
	free(state);
	free(store);
}

START_TEST(paging_real_memory)
{
	static const unsigned int kinds[] = { GMEM_BACKEND_MEMFD,
					      GMEM_BACKEND_GUEST_MEMFD,
					      GMEM_BACKEND_ANON };

	paging(kinds[_i]);
}
END_TEST

/*
 * I/O to private memory keeps the contents where the view discards
 * them on conversion: the device sees what the guest wrote, and the
 * guest finds it again once the frames are private again.
 */
START_TEST(io_keeps_private_contents)
{
	struct gmem_io *io;
	struct rig r;

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_DISCARD, 4096);
	convert(&r, 0, 1024, GMEM_ATTR_PRIVATE);
	write_frames(&r, 0, 1024, false);
	ck_assert_int_eq(gmem_io_begin(r.g, 100, 300, NULL, &io), 0);
	memset(r.attr + 100, GMEM_ATTR_SHARED, 300);
	check_frames(&r, 0, 1024);
	ck_assert_int_eq(gmem_io_end(io, GMEM_IO_END_PRIVATE), 0);
	memset(r.attr + 100, GMEM_ATTR_PRIVATE, 300);
	check_frames(&r, 0, 1024);
	/* An ordinary conversion still discards. */
	convert(&r, 0, 50, GMEM_ATTR_SHARED);
	check_frames(&r, 0, 1024);
	check_tables(&r);
	rig_fini(&r);
}
END_TEST

/* A private run faults the VMM: read in a child, which must die of
 * SIGSEGV; shared again, the guest's data (or zeros) is there. */
START_TEST(private_is_unreachable)
{
	unsigned int content = _i ? GMEM_CONTENT_DISCARD
				  : GMEM_CONTENT_PRESERVE;
	struct rig r;
	int status;
	pid_t pid;

	rig_init(&r, GMEM_BACKEND_MEMFD, content, 4096);
	write_frames(&r, 0, r.npages, false);
	convert(&r, 512, 512, GMEM_ATTR_PRIVATE);
	write_frames(&r, 600, 10, false);	/* the guest writes private */
	for (int access = 0; access < 2; access++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (!pid) {
			volatile char *p = view_of(&r, 700);

			if (access)
				p[0] = 1;
			else
				(void)p[0];
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));
		ck_assert_int_eq(WTERMSIG(status), SIGSEGV);
	}
	convert(&r, 512, 512, GMEM_ATTR_SHARED);
	check_frames(&r, 0, r.npages);
	rig_fini(&r);
}
END_TEST

/*
 * Every system call of a conversion failing in turn: the conversion
 * fails with that error, and state, view and tables are as before; a
 * retry then succeeds.
 */
START_TEST(syscall_failures)
{
	static const int errs[] = { ENOMEM, EINTR, EFAULT };
	unsigned int content = _i ? GMEM_CONTENT_DISCARD
				  : GMEM_CONTENT_PRESERVE;
	struct rig r;
	uint64_t seed = 42;

	rig_init(&r, GMEM_BACKEND_MEMFD, content, 8192);
	write_frames(&r, 0, r.npages, false);
	/* Stripes, so that a conversion over them has many runs. */
	for (uint64_t f = 0; f < 2048; f += 64)
		convert(&r, f, 16, GMEM_ATTR_PRIVATE);
	for (unsigned int e = 0; e < 3; e++) {
		for (uint64_t at = 1;; at++) {
			unsigned int attr = (unsigned int)(rnd(&seed) & 1);
			uint64_t gfn = 8 * (rnd(&seed) % 64), n = 1024;
			uint64_t runs = changing_runs(&r, gfn, n, attr);
			int err;

			os_inject_arm(&r.in, at, errs[e]);
			err = gmem_convert(r.g, gfn, n, attr, NULL);
			os_inject_arm(&r.in, 0, 0);
			if (!err) {
				model_convert_contents(&r, gfn, n, attr);
				check_frames(&r, 0, 2048);
				ck_assert_uint_gt(at, runs);
				break;
			}
			ck_assert_int_eq(err, -errs[e]);
			/* Contents of runs a refused DISCARD reached are
			 * gone: the model forgets them, state stays. */
			if (content == GMEM_CONTENT_DISCARD)
				for (uint64_t f = gfn; f < gfn + n; f++)
					if (r.attr[f] != attr &&
					    !holds(guest_of(&r, f), r.tag[f], f))
						r.tag[f] = 0;
			check_frames(&r, 0, 2048);
			check_tables(&r);
			convert(&r, gfn, n, attr);
			check_frames(&r, 0, 2048);
			convert(&r, gfn, n, !attr);
			write_frames(&r, gfn, n, false);
		}
	}
	rig_fini(&r);
}
END_TEST

/* A failed undo leaves the view closed, never open, and resync mends it. */
START_TEST(failed_undo_then_resync)
{
	struct rig r;
	GMEM_OPTS(gmem_view_stats, st);

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 4096);
	write_frames(&r, 0, r.npages, false);
	convert(&r, 10, 10, GMEM_ATTR_PRIVATE);
	/* Runs [0,10) and [20,30) go private: the second run's change fails,
	 * and so does every undo after it. */
	os_inject_arm_from(&r.in, 2, ENOMEM);
	ck_assert_int_eq(gmem_convert(r.g, 0, 30, GMEM_ATTR_PRIVATE, NULL),
			 -ENOMEM);
	os_inject_arm(&r.in, 0, 0);
	ck_assert_int_eq(gmem_view_stats(r.v, &st), 0);
	ck_assert_uint_eq(st.stale, 2);
	/* The first run, shared in the guest's state, stays closed in the
	 * view: the safe side. The second never changed. */
	ck_assert(!readable(&r, view_of(&r, 0)));
	ck_assert(!readable(&r, view_of(&r, 9)));
	check_frames(&r, 10, r.npages - 10);
	ck_assert_int_eq(gmem_view_resync(r.v), 0);
	ck_assert_int_eq(gmem_view_stats(r.v, &st), 0);
	ck_assert_uint_eq(st.stale, 0);
	check_frames(&r, 0, r.npages);
	rig_fini(&r);
}
END_TEST

/* Blocks a guest gave back read as zeros in the next, even when giving
 * back failed to punch them. */
START_TEST(reused_blocks_are_zero)
{
	struct rig r;
	struct gmem_pool *pool;
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_backend_stats, bs);

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 1024);
	write_frames(&r, 0, r.npages, false);
	ck_assert_int_eq(gmem_pt_destroy(r.pt_shared), 0);
	ck_assert_int_eq(gmem_pt_destroy(r.pt_all), 0);
	ck_assert_int_eq(gmem_view_destroy(r.v), 0);
	/* Giving back punches the block: make that fail. */
	os_inject_arm(&r.in, 1, EIO);
	ck_assert_int_eq(gmem_guest_destroy(r.g), 0);
	ck_assert_int_eq(r.in.failed, 1);
	os_inject_arm(&r.in, 0, 0);
	ck_assert_int_eq(gmem_backend_pool(r.be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &r.g), 0);
	ck_assert_int_eq(gmem_region_add(r.g, 0, r.npages, &ro), 0);
	ck_assert_int_eq(gmem_backend_stats(r.be, &bs), 0);
	ck_assert_uint_eq(bs.blocks, 1);	/* the same block again */
	ck_assert_int_eq(gmem_view_create(r.g, r.be, NULL, &r.v), 0);
	memset(r.tag, 0, r.npages * sizeof(*r.tag));
	check_frames(&r, 0, r.npages);
	ck_assert_int_eq(gmem_pt_create(r.g, GMEM_PT_VIEW_SHARED, &r.geom,
					NULL, &r.pt_shared), 0);
	ck_assert_int_eq(gmem_pt_create(r.g, GMEM_PT_VIEW_ALL, &r.geom,
					NULL, &r.pt_all), 0);
	rig_fini(&r);
}
END_TEST

/* Creating a view fails cleanly at each of its system calls. */
START_TEST(view_create_failures)
{
	struct rig r;
	GMEM_OPTS(gmem_view_opts, vo, .flags = GMEM_VIEW_GUEST_MAP |
					       GMEM_VIEW_POPULATE);

	rig_init(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 2048);
	convert(&r, 100, 100, GMEM_ATTR_PRIVATE);
	ck_assert_int_eq(gmem_view_destroy(r.v), 0);
	r.v = NULL;
	for (uint64_t at = 1;; at++) {
		int err;

		os_inject_arm(&r.in, at, ENOMEM);
		err = gmem_view_create(r.g, r.be, &vo, &r.v);
		os_inject_arm(&r.in, 0, 0);
		if (!err)
			break;
		ck_assert_int_eq(err, -ENOMEM);
		ck_assert_int_eq(gmem_region_remove(r.g, 0, 1), -ENOENT);
	}
	check_frames(&r, 0, r.npages);
	rig_fini(&r);
}
END_TEST

/* Growing the backend fails cleanly at each system call, and again. */
START_TEST(growth_failures)
{
	GMEM_OPTS(gmem_backend_opts, bo, .numa_mode = GMEM_NUMA_BIND);
	struct os_inject in;
	struct gmem_backend *be;
	struct gmem_pool *pool;
	struct gmem_guest *g;
	uint64_t at;
	int err = 1;

	if (numa_available() < 0) {
		printf("SKIP: growth_failures: no NUMA support\n");
		return;
	}
	os_inject_init(&in);
	bo.os = &in.ops;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	for (at = 1; err; at++) {
		os_inject_arm(&in, at, ENOMEM);
		err = gmem_region_add(g, 0, 1024, NULL);
		os_inject_arm(&in, 0, 0);
		ck_assert(err == 0 || err == -ENOMEM);
	}
	ck_assert_uint_ge(at, 4);	/* ftruncate, mmap, mbind, munmap */
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
}
END_TEST

static int node_of(void *p)
{
	int node = -1;

	ck_assert_int_eq(get_mempolicy(&node, NULL, 0, p,
				       MPOL_F_NODE | MPOL_F_ADDR), 0);
	return node;
}

static int mode_of(void *p)
{
	int mode = -1;

	ck_assert_int_eq(get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR), 0);
	return mode;
}

/* Blocks bound by each policy: real pages on the node, the policy seen
 * through the view; a node that does not exist is refused. */
START_TEST(numa_policies)
{
	static const unsigned int modes[] = { GMEM_NUMA_BIND,
					      GMEM_NUMA_INTERLEAVE,
					      GMEM_NUMA_REGION };
	int last = numa_available() < 0 ? -1 : numa_max_node();

	if (last < 0) {
		printf("SKIP: numa_policies: no NUMA support\n");
		return;
	}
	for (unsigned int m = 0; m < 3; m++) {
		GMEM_OPTS(gmem_backend_opts, bo, .numa_mode = modes[m],
			  .numa_node = last, .numa_nodes = 1ull << last);
		GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED,
			  .node = last);
		GMEM_OPTS(gmem_block_info, bi);
		struct gmem_backend *be;
		struct gmem_pool *pool;
		struct gmem_guest *g;
		struct gmem_view *v;
		char *p;

		ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
		ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
		ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
		ck_assert_int_eq(gmem_region_add(g, 0, 1024, &ro), 0);
		ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), 0);
		ck_assert_int_eq(gmem_view_addr(v, 5, (void **)&p), 0);
		memset(p, 1, FRAME);
		ck_assert_int_eq(node_of(p), last);
		ck_assert_int_eq(mode_of(p), modes[m] == GMEM_NUMA_INTERLEAVE
						     ? MPOL_INTERLEAVE
						     : MPOL_BIND);
		ck_assert_int_eq(gmem_backend_block_info(be, 0, &bi), 0);
		ck_assert_int_eq(bi.node, last);
		ck_assert_uint_ne(bi.phys_pfn, 0);
		ck_assert_int_eq(gmem_view_destroy(v), 0);
		/* A region asking for a node that does not exist. */
		ro.node = last + 1;
		ck_assert_int_eq(gmem_region_add(g, 1ull << 20, 1024, &ro),
				 modes[m] == GMEM_NUMA_REGION ? -EINVAL : 0);
		ck_assert_int_eq(gmem_guest_destroy(g), 0);
		ck_assert_int_eq(gmem_backend_destroy(be), 0);
		bo.numa_node = last + 1;
		bo.numa_nodes = 1ull << (last + 1);
		be = NULL;
		ck_assert_int_eq(gmem_backend_create(&bo, &be),
				 modes[m] == GMEM_NUMA_REGION ? 0 : -EINVAL);
		ck_assert_int_eq(gmem_backend_destroy(be), 0);
	}
}
END_TEST

/*
 * A pool on hugetlb pages, end to end, for 2 MiB and 1 GiB pages: the
 * pages are reserved here and the reservation is put back. A guest
 * converts whole pages; DISCARD punches them.
 */
START_TEST(hugetlb)
{
	const uint64_t page = _i ? GMEM_BLOCK_FRAMES : 512;	/* frames */
	const unsigned long kib = (unsigned long)page * 4;
	const long want = _i ? 1 : 64, npages = _i ? 1 : 16;
	GMEM_OPTS(gmem_backend_opts, bo, .kind = GMEM_BACKEND_HUGETLB,
		  .page_size = page << 12);
	GMEM_OPTS(gmem_guest_opts, go, .granule = (uint32_t)page);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .content = GMEM_CONTENT_DISCARD);
	GMEM_OPTS(gmem_block_info, bi);
	const uint64_t len = npages * page << 12;
	const uint64_t a = _i ? 0 : page, n = _i ? page : 2 * page;
	struct gmem_backend *be;
	struct gmem_pool *pool;
	struct gmem_guest *g, *g4k;
	struct gmem_view *v;
	long before;
	char *p;

	if (!hugepages_reserve(kib, want, &before)) {
		printf("SKIP: hugetlb: cannot reserve %ld page(s) of %lu KiB\n",
		       want, kib);
		return;
	}
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g4k), 0);
	ck_assert_int_eq(gmem_view_create(g4k, be, NULL, &v), -EINVAL);
	ck_assert_int_eq(gmem_guest_destroy(g4k), 0);
	ck_assert_int_eq(gmem_guest_create(pool, &go, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, npages * page, &ro), 0);
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), 0);
	ck_assert_int_eq(gmem_view_addr(v, 0, (void **)&p), 0);
	memset(p, 0x5a, len);
	ck_assert_int_eq(gmem_convert(g, a, n, GMEM_ATTR_PRIVATE, NULL), 0);
	ck_assert_int_eq(gmem_convert(g, a, n, GMEM_ATTR_SHARED, NULL), 0);
	ck_assert_int_eq(p[(a << 12) + 17], 0);		/* discarded */
	ck_assert_int_eq(p[((a + n) << 12) - 1], 0);
	if (a)
		ck_assert_int_eq(p[(a << 12) - 1], 0x5a);	/* kept */
	if ((a + n) << 12 < len)
		ck_assert_int_eq(p[(a + n) << 12], 0x5a);
	ck_assert_int_eq(gmem_convert(g, 0, 100, GMEM_ATTR_PRIVATE, NULL),
			 -EINVAL);				/* granule */
	ck_assert_int_eq(gmem_backend_block_info(be, 0, &bi), 0);
	ck_assert_uint_ne(bi.phys_pfn, 0);
	if (_i) {	/* a 1 GiB page: the block is physically one run */
		ck_assert_uint_eq(bi.flags & GMEM_BLOCK_PHYS_CONTIG,
				  GMEM_BLOCK_PHYS_CONTIG);
		ck_assert_uint_eq(bi.phys_pfn % GMEM_BLOCK_FRAMES, 0);
	} else {
		ck_assert_uint_eq(bi.flags & GMEM_BLOCK_PHYS_CONTIG, 0);
	}
	ck_assert_int_eq(gmem_view_destroy(v), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
	ck_assert(hugepages_restore(kib, before));
}
END_TEST

/* Regions as KVM memory slots, on guest_memfd and on memfd. */
START_TEST(kvm_slots)
{
	struct rig r;
	uint32_t n = 0;

	if (!have_kvm()) {
		printf("SKIP: kvm_slots: no /dev/kvm\n");
		return;
	}
	rig_init(&r, _i ? GMEM_BACKEND_MEMFD : GMEM_BACKEND_GUEST_MEMFD,
		 GMEM_CONTENT_PRESERVE, 4096);
	if (r.vm < 0)
		rig_open_vm(&r);
	ck_assert_int_eq(gmem_view_kvm_bind(r.v, r.vm, 0, 3, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(gmem_view_kvm_bind(r.v, r.vm, 7, 5, &n), -ENOENT);
	ck_assert_int_eq(gmem_view_kvm_unbind(r.v, r.vm, 0, 3), 0);
	ck_assert_int_eq(gmem_view_kvm_bind(r.v, -1, 0, 3, &n), -EINVAL);
	rig_fini(&r);
}
END_TEST

START_TEST(bad_input)
{
	GMEM_OPTS(gmem_backend_opts, bo);
	GMEM_OPTS(gmem_view_opts, vo);
	struct gmem_backend *be, *be2;
	struct gmem_pool *pool, *pool2;
	struct gmem_guest *g, *g2;
	struct gmem_view *v, *v2;
	void *p;

	bo.kind = 9;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.kind = GMEM_BACKEND_HUGETLB;
	bo.page_size = 4096;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.kind = GMEM_BACKEND_GUEST_MEMFD;
	bo.page_size = 0;
	bo.vm_fd = -1;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.kind = GMEM_BACKEND_MEMFD;
	bo.max_bytes = 12345;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.max_bytes = 1ull << 30;
	bo.numa_mode = 7;
	ck_assert_int_eq(gmem_backend_create(&bo, &be), -EINVAL);
	bo.numa_mode = GMEM_NUMA_NONE;
	ck_assert_int_eq(gmem_backend_create(&bo, NULL), -EINVAL);
	ck_assert_int_eq(gmem_backend_create(&bo, &be), 0);
	ck_assert_int_eq(gmem_backend_create(NULL, &be2), 0);
	ck_assert_int_eq(gmem_backend_pool(be, &pool), 0);
	ck_assert_int_eq(gmem_backend_pool(be2, &pool2), 0);
	ck_assert_int_eq(gmem_pool_destroy(pool), -EBUSY);
	ck_assert_int_eq(gmem_pool_add_frames(pool, 0, 1 << 18, 0, NULL),
			 -EPERM);
	ck_assert_int_eq(gmem_guest_create(pool, NULL, &g), 0);
	ck_assert_int_eq(gmem_region_add(g, 0, 512, NULL), 0);
	/* max_bytes is 1 GiB: a second block does not fit. */
	ck_assert_int_eq(gmem_region_add(g, 1 << 18, 512, NULL), -ENOSPC);
	ck_assert_int_eq(gmem_guest_create(pool2, NULL, &g2), 0);
	ck_assert_int_eq(gmem_view_create(g2, be, NULL, &v), -EINVAL);
	vo.content = 2;
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), -EINVAL);
	vo.content = 0;
	vo.flags = 1u << 7;
	ck_assert_int_eq(gmem_view_create(g, be, &vo, &v), -EINVAL);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v), 0);
	ck_assert_int_eq(gmem_view_create(g, be, NULL, &v2), -EBUSY);
	ck_assert_int_eq(gmem_region_add(g, 1024, 512, NULL), -EBUSY);
	ck_assert_int_eq(gmem_region_remove(g, 0, 512), -EBUSY);
	ck_assert_int_eq(gmem_guest_destroy(g), -EBUSY);
	ck_assert_int_eq(gmem_backend_destroy(be), -EBUSY);
	ck_assert_int_eq(gmem_view_addr(v, 512, &p), -ENOENT);
	ck_assert_int_eq(gmem_view_guest_addr(v, 0, &p), -EOPNOTSUPP);
	ck_assert_int_eq(gmem_view_populate(v, 0, 513), -ERANGE);
	ck_assert_int_eq(gmem_view_populate(v, 0, 512), 0);
	ck_assert_int_eq(gmem_view_destroy(v), 0);
	ck_assert_int_eq(gmem_guest_destroy(g), 0);
	ck_assert_int_eq(gmem_guest_destroy(g2), 0);
	ck_assert_int_eq(gmem_backend_destroy(be), 0);
	ck_assert_int_eq(gmem_backend_destroy(be2), 0);
	ck_assert_int_eq(gmem_backend_destroy(NULL), 0);
	ck_assert_int_eq(gmem_view_destroy(NULL), 0);
}
END_TEST

static Suite *backend_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *tc = tcase_create("real memory");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, differential_memfd, 0, 2);
	tcase_add_loop_test(tc, differential_guest_memfd, 0, 2);
	tcase_add_loop_test(tc, anonymous, 0, 2);
	tcase_add_loop_test(tc, paging_real_memory, 0, 3);
	tcase_add_test(tc, io_keeps_private_contents);
	tcase_add_loop_test(tc, private_is_unreachable, 0, 2);
	tcase_add_loop_test(tc, syscall_failures, 0, 2);
	tcase_add_test(tc, failed_undo_then_resync);
	tcase_add_test(tc, reused_blocks_are_zero);
	tcase_add_test(tc, view_create_failures);
	tcase_add_test(tc, growth_failures);
	tcase_add_test(tc, numa_policies);
	tcase_add_loop_test(tc, hugetlb, 0, 2);
	tcase_add_loop_test(tc, kvm_slots, 0, 2);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(backend_suite());
}
