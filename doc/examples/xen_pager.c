/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Xen-style pager daemon on libgmem: a pager thread that pages guest
 * frames out to its own store and back in on demand, and a vCPU thread
 * that touches guest memory through the VMM's view, looking each frame
 * up first in the three modes a VMM uses.
 *
 * The protocol between them, all through libgmem:
 *
 *  pager_fd  an eventfd (gmem_pager_opts.pager_fd) the library writes 1
 *            to each time a lookup posts requests (at most once per
 *            lookup, whatever the number of frames). The pager reads it
 *            (the count of posts since its last read, not of requests)
 *            and pops until gmem_pager_pop returns none: one request
 *            per frame block, oldest first.
 *  ready_fd  an eventfd (gmem_pager_opts.ready_fd) written when "page
 *            ready" events are queued: the frames of TRY lookups are in
 *            (or failed). The vCPU side pops them with
 *            gmem_page_ready_pop; each carries the token its TRY got.
 *
 * The pager pages out with gmem_page_nominate (the frames leave every
 * view; a lookup meanwhile cancels the nomination), gmem_page_read (the
 * contents, into its store) and gmem_page_evict (the memory is punched
 * out of the backend). It pages in with gmem_page_load (the contents
 * back) and gmem_page_complete. The vCPU's lookups:
 *
 *  QUERY  what state the frame is in: nothing is asked for;
 *  TRY    not present: a request goes out and the vCPU gets a token, as
 *         an asynchronous page fault would; it runs on and takes the
 *         frame when the token's event comes;
 *  WAIT   not present: the thread sleeps, holding no lock, until the
 *         frame is in.
 *
 * A frame found in may be paged out again before the vCPU reads it: the
 * vCPU pins it for the access (pinned frames are never nominated), and
 * looks it up again if it left in between (gmem_pin's -EAGAIN). Each
 * frame holds a pattern of its own number: every access checks it, so a
 * frame paged back wrong fails the run. At the end the pager
 * brings everything in, stops, and detaches (gmem_pager_detach).
 *
 *   xen_pager [ACCESSES]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gmem.h>

#define FRAMES 4096			/* 16 MiB of guest memory */
#define PAGE 4096

struct vm {
	struct gmem_guest *g;
	struct gmem_view *view;
	int pager_fd, ready_fd, stop_fd;
	unsigned char *store;		/* the pager's copy of paged frames */
	atomic_bool draining;		/* page nothing out any more */
	atomic_bool drained;		/* the pager saw draining: it pages
					 * nothing out from then on */
	atomic_bool stopping;
	/* Counts, for the report. */
	atomic_ulong paged_out, paged_in, evict_lost;
};

static uint64_t word_of(uint64_t gfn)
{
	return gfn * 0x9e3779b97f4a7c15ull;
}

static uint64_t *frame(const struct vm *vm, uint64_t gfn)
{
	void *addr;

	if (gmem_view_addr(vm->view, gfn, &addr))
		abort();
	return addr;
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		abort();
}

/* ---- The pager --------------------------------------------------------- */

/* Each thread its own random numbers (xorshift). */
static uint64_t rnd(uint64_t *state, uint64_t below)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state % below;
}

/* Pages a few frames out; a frame the vCPU touches meanwhile stays. */
static void page_out_some(struct vm *vm, uint64_t *rng)
{
	for (int i = 0; i < 64; i++) {
		uint64_t gfn = rnd(rng, FRAMES);

		if (gmem_page_nominate(vm->g, gfn, 1, NULL))
			continue;	/* not present: out already, or coming in */
		if (gmem_page_read(vm->g, gfn, 1, vm->store + gfn * PAGE, NULL) ||
		    gmem_page_evict(vm->g, gfn, 1, NULL)) {
			vm->evict_lost++;	/* looked up meanwhile */
			continue;
		}
		vm->paged_out++;
	}
}

/* Serves every request in the ring; the number served. */
static int serve(struct vm *vm)
{
	struct gmem_page_request req[16];
	uint32_t n;
	int served = 0;

	do {
		if (gmem_pager_pop(vm->g, req, 16, &n))
			abort();
		for (uint32_t i = 0; i < n; i++) {
			uint64_t gfn = req[i].gfn, np = req[i].npages;

			if (gmem_page_load(vm->g, gfn, np,
					   vm->store + gfn * PAGE, NULL) ||
			    gmem_page_complete(vm->g, gfn, np, 0, NULL))
				abort();
			vm->paged_in++;
		}
		served += (int)n;
	} while (n);
	return served;
}

static void *pager(void *arg)
{
	struct vm *vm = arg;
	struct pollfd fds[2] = { { .fd = vm->pager_fd, .events = POLLIN },
				 { .fd = vm->stop_fd, .events = POLLIN } };
	uint64_t rng = 0x5eed;

	while (!vm->stopping) {
		if (!vm->draining)
			page_out_some(vm, &rng);
		else
			vm->drained = true;
		if (poll(fds, 2, 1) > 0 && (fds[0].revents & POLLIN))
			drain(vm->pager_fd);
		serve(vm);
	}
	serve(vm);
	return NULL;
}

/* ---- The vCPU ---------------------------------------------------------- */

struct vcpu {
	struct vm *vm;
	long accesses;
	unsigned long queries_out, tries, waits, events, retries, bad;
};

/* Waits for the page-ready event of token. */
static void await_ready(struct vcpu *c, uint64_t token)
{
	struct gmem_page_ready ev[8];
	struct pollfd fd = { .fd = c->vm->ready_fd, .events = POLLIN };
	uint32_t n;

	for (;;) {
		if (gmem_page_ready_pop(c->vm->g, ev, 8, &n))
			abort();
		for (uint32_t i = 0; i < n; i++) {
			c->events++;
			if (ev[i].token == token) {
				if (ev[i].status)
					abort();
				return;
			}
		}
		if (poll(&fd, 1, 10) > 0)
			drain(c->vm->ready_fd);
	}
}

static void *vcpu(void *arg)
{
	struct vcpu *c = arg;
	struct vm *vm = c->vm;
	uint64_t rng = 0xc0ffee;

	for (long k = 0; k < c->accesses; k++) {
		GMEM_OPTS(gmem_lookup, lk, .vcpu = 0);
		uint64_t gfn = rnd(&rng, FRAMES);
		int err;

		/* A guest does other work between accesses. */
		if (k % 32 == 0)
			usleep(100);
		switch (k % 3) {
		case 0:		/* QUERY, then WAIT if it is out */
			err = gmem_page_lookup(vm->g, gfn, GMEM_LOOKUP_QUERY, &lk);
			if (err == -EAGAIN) {
				c->queries_out++;
				err = gmem_page_lookup(vm->g, gfn,
						       GMEM_LOOKUP_WAIT, NULL);
			}
			break;
		case 1:		/* TRY: run on, take it when its event comes */
			err = gmem_page_lookup(vm->g, gfn, GMEM_LOOKUP_TRY, &lk);
			while (err == -EAGAIN) {
				c->tries++;
				await_ready(c, lk.token);
				err = gmem_page_lookup(vm->g, gfn,
						       GMEM_LOOKUP_TRY, &lk);
			}
			break;
		default:	/* WAIT */
			err = gmem_page_lookup(vm->g, gfn, GMEM_LOOKUP_WAIT, NULL);
			c->waits += err == 0;
			break;
		}
		if (err)
			abort();
		/* The frame is in, but the pager may take it again at any
		 * time: a pin keeps it for the access (a frame gone again
		 * is -EAGAIN: look it up again). */
		err = gmem_pin(vm->g, gfn, 1, NULL);
		if (err == -EAGAIN) {
			c->retries++;
			k--;
			continue;
		}
		if (err)
			abort();
		c->bad += *frame(vm, gfn) != word_of(gfn);
		if (gmem_unpin(vm->g, gfn, 1, NULL))
			abort();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	GMEM_OPTS(gmem_backend_opts, bo, .kind = GMEM_BACKEND_MEMFD);
	GMEM_OPTS(gmem_region_opts, ro, .attr = GMEM_ATTR_SHARED);
	GMEM_OPTS(gmem_view_opts, vo, .content = GMEM_CONTENT_PRESERVE);
	GMEM_OPTS(gmem_pager_opts, pa, .ring_size = 64);
	struct vcpu c = { .accesses = argc > 1 ? atol(argv[1]) : 20000 };
	struct gmem_backend *be;
	struct gmem_pool *pool;
	pthread_t tp, tv;
	struct vm vm = { 0 };
	unsigned long bad = 0;

	c.vm = &vm;
	vm.pager_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vm.ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vm.stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vm.store = calloc(FRAMES, PAGE);
	pa.pager_fd = vm.pager_fd;
	pa.ready_fd = vm.ready_fd;
	if (vm.pager_fd < 0 || vm.ready_fd < 0 || vm.stop_fd < 0 || !vm.store ||
	    gmem_backend_create(&bo, &be) || gmem_backend_pool(be, &pool) ||
	    gmem_guest_create(pool, NULL, &vm.g) ||
	    gmem_region_add(vm.g, 0, FRAMES, &ro) ||
	    gmem_view_create(vm.g, be, &vo, &vm.view) ||
	    gmem_pager_attach(vm.g, &pa)) {
		fprintf(stderr, "xen_pager: cannot set up the guest\n");
		return 1;
	}
	for (uint64_t gfn = 0; gfn < FRAMES; gfn++)
		*frame(&vm, gfn) = word_of(gfn);
	if (pthread_create(&tp, NULL, pager, &vm) ||
	    pthread_create(&tv, NULL, vcpu, &c))
		return 1;
	pthread_join(tv, NULL);
	/* Bring everything in while the pager still serves, once it pages
	 * nothing out any more (it may be paging some out as it is told),
	 * then stop it and let it go. */
	vm.draining = true;
	while (!vm.drained)
		usleep(100);
	for (uint64_t gfn = 0; gfn < FRAMES; gfn++) {
		if (gmem_page_lookup(vm.g, gfn, GMEM_LOOKUP_WAIT, NULL))
			return 1;
		bad += *frame(&vm, gfn) != word_of(gfn);
	}
	vm.stopping = true;
	if (write(vm.stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
		return 1;
	pthread_join(tp, NULL);
	printf("xen_pager: %ld accesses; %lu frames paged out, %lu in "
	       "(%lu nominations cancelled by an access); lookups: %lu "
	       "QUERY found out, %lu TRY waited for %lu events, %lu WAIT; "
	       "%lu frames gone again before their pin\n",
	       c.accesses, vm.paged_out, vm.paged_in, vm.evict_lost,
	       c.queries_out, c.tries, c.events, c.waits, c.retries);
	if (bad || c.bad) {
		fprintf(stderr, "xen_pager: %lu frames wrong at the end, %lu "
			"during the run\n", bad, c.bad);
		return 1;
	}
	if (gmem_pager_detach(vm.g))
		return 1;
	printf("xen_pager: every frame back as it was; pager detached\n");
	gmem_view_destroy(vm.view);
	gmem_guest_destroy(vm.g);
	gmem_backend_destroy(be);
	free(vm.store);
	return 0;
}
