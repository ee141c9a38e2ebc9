/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMM's view on real memory: random conversions on memfd,
 * guest_memfd and anonymous memory against a model of every frame's
 * attribute and contents, with both content policies; paging through
 * the view, I/O to private memory, and private memory unreachable.
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
#include "helpers.h"
#include "rig.h"


static void pick(struct rig *r, uint64_t *seed, uint64_t *gfn, uint64_t *n)
{
	uint64_t kind = rng_next(seed) % 8;

	if (kind == 0) {
		*n = 512 * (1 + rng_next(seed) % 4);
		*gfn = rng_next(seed) % (r->npages / 512 - 4) * 512;
	} else {
		*n = 1 + rng_next(seed) % (kind < 4 ? 8 : 300);
		*gfn = rng_next(seed) % (r->npages - *n);
	}
}

static void differential(unsigned int kind, unsigned int content)
{
	uint64_t ops = test_env_u64("GMEM_BACKEND_OPS", 3000);
	uint64_t mib = test_env_u64("GMEM_BACKEND_MIB", 256);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (kind * 7 + content);
	const char *why = kind == GMEM_BACKEND_GUEST_MEMFD ? kvm_missing(true)
							    : NULL;
	struct rig r;

	if (why) {
		printf("SKIP: guest_memfd differential: %s\n", why);
		return;
	}
	rig_init(&r, kind, content, mib << 20 >> 12);
	write_frames(&r, 0, r.npages, false);
	check_frames(&r, 0, r.npages);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t gfn, n, op = rng_next(&seed) % 8;

		pick(&r, &seed, &gfn, &n);
		if (op < 5) {
			convert(&r, gfn, n, (unsigned int)(rng_next(&seed) & 1));
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
 * file's blocks really go (hugetlb: the 2 MiB pages split, and split
 * pages live in a file of their own); loaded and completed, every frame holds
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
	bool huge = kind == GMEM_BACKEND_HUGETLB;
	long before = 0;
	const char *why = kind == GMEM_BACKEND_GUEST_MEMFD ? kvm_missing(true)
							    : NULL;
	struct rig r;

	if (why) {
		printf("SKIP: guest_memfd paging: %s\n", why);
		free(state);
		free(store);
		return;
	}
	/* 4 KiB frames paged out of 2 MiB pages: the pages split. */
	if (huge && !hugepages_reserve(2048, 16, &before)) {
		printf("SKIP: hugetlb paging: cannot reserve 16 pages of "
		       "2048 KiB\n");
		free(state);
		free(store);
		return;
	}
	ck_assert(state && store);
	rig_init_paged(&r, kind, GMEM_CONTENT_PRESERVE, npages,
		       huge ? UINT64_C(2) << 20 : 0);
	/* Anonymous memory has no guest mapping: the VMM writes. */
	write_frames(&r, 0, npages, kind == GMEM_BACKEND_ANON);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t f = rng_next(&seed) % npages, n = 1 + rng_next(&seed) % 8, k;
		unsigned int op = (unsigned int)(rng_next(&seed) % 6);
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
			k = huge ? 0 : file_blocks(&r);
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
		} else if (op == 4 && all_in && huge) {	/* splits cost calls */
			k = rng_next(&seed) & 1;
			ck_assert_int_eq(gmem_convert(r.g, f, n, (unsigned int)k,
						      NULL), 0);
			model_convert_contents(&r, f, n, (unsigned int)k);
		} else if (op == 4 && all_in) {
			convert(&r, f, n, (unsigned int)(rng_next(&seed) & 1));
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
	if (huge) {
		struct gmem_backend_stats st = { .sz = sizeof(st) };

		ck_assert_int_eq(gmem_backend_stats(r.be, &st), 0);
		ck_assert_uint_gt(st.splits, 0);
		ck_assert_uint_gt(st.joins, 0);
	}
	rig_fini(&r);
	if (huge)
		ck_assert(hugepages_restore(2048, before));
	free(state);
	free(store);
}

START_TEST(paging_real_memory)
{
	static const unsigned int kinds[] = { GMEM_BACKEND_MEMFD,
					      GMEM_BACKEND_GUEST_MEMFD,
					      GMEM_BACKEND_ANON,
					      GMEM_BACKEND_HUGETLB };

	paging(kinds[_i]);
}
END_TEST

/*
 * A frame coming back in is mapped before it is present: a lookup from
 * inside the system calls that map it (a load completed, or a
 * nomination cancelled by an access) finds it not present yet, so a
 * vCPU told "present" never meets an unmapped frame; once the call
 * returns the frame is present and reachable, contents intact.
 */
struct coming_in {
	struct gmem_guest *g;
	uint64_t gfn;
	unsigned int calls, present;
};

static void query_during(void *arg, enum inject_kind kind)
{
	struct coming_in *c = arg;

	(void)kind;
	c->calls++;
	if (!gmem_page_lookup(c->g, c->gfn, GMEM_LOOKUP_QUERY, NULL))
		c->present++;
}

START_TEST(mapped_before_present)
{
	uint64_t f = 700;
	char *store = malloc(FRAME);
	struct coming_in c = { .gfn = f };
	struct rig r;

	ck_assert(store);
	rig_init_paged(&r, GMEM_BACKEND_MEMFD, GMEM_CONTENT_PRESERVE, 4096, 0);
	write_frames(&r, 0, r.npages, false);
	ck_assert_int_eq(gmem_page_nominate(r.g, f, 1, NULL), 0);
	if (!_i) {
		ck_assert_int_eq(gmem_page_read(r.g, f, 1, store, NULL), 0);
		ck_assert_int_eq(gmem_pt_sync(r.pt_shared), 0);
		ck_assert_int_eq(gmem_pt_sync(r.pt_all), 0);
		ck_assert_int_eq(gmem_page_evict(r.g, f, 1, NULL), 0);
		ck_assert_int_eq(gmem_page_load(r.g, f, 1, store, NULL), 0);
	}
	c.g = r.g;
	r.in.watch = query_during;
	r.in.watch_arg = &c;
	if (_i)
		ck_assert_int_eq(gmem_page_lookup(r.g, f, GMEM_LOOKUP_TRY,
						  NULL), 0);
	else
		ck_assert_int_eq(gmem_page_complete(r.g, f, 1, 0, NULL), 0);
	r.in.watch = NULL;
	ck_assert_uint_gt(c.calls, 0);
	ck_assert_uint_eq(c.present, 0);
	ck_assert_int_eq(gmem_page_lookup(r.g, f, GMEM_LOOKUP_QUERY, NULL), 0);
	check_frames(&r, f - 1, 3);
	check_tables(&r);
	rig_fini(&r);
	free(store);
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

static Suite *view_suite(void)
{
	Suite *s = suite_create("view");
	TCase *tc = tcase_create("real memory");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, differential_memfd, 0, 2);
	tcase_add_loop_test(tc, differential_guest_memfd, 0, 2);
	tcase_add_loop_test(tc, anonymous, 0, 2);
	tcase_add_loop_test(tc, paging_real_memory, 0, 4);
	tcase_add_loop_test(tc, mapped_before_present, 0, 2);
	tcase_add_test(tc, io_keeps_private_contents);
	tcase_add_loop_test(tc, private_is_unreachable, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(view_suite());
}
