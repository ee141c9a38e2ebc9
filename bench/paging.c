/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paging: on a 4 GiB guest with 1% of its frames paged out (at random,
 * so most 1 GiB slots hold some), the cost of looking up a present frame
 * in each mode, beside a state query of the same frames (gmem_attr_get);
 * the rate at which frames go out (nominate, evict) and come back
 * (load, complete) one at a time, and on memfd memory with a pager that
 * keeps the data in its own memory, a frame or a 2 MiB piece at a time
 * (the contents checked after); and the round trip from a TRY to its
 * "page ready" event through a pager thread that sleeps on its eventfd,
 * the vCPU sleeping on the ready eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gmem.h>

#include "covers.h"
#include "paging.h"
#include "real.h"
#include "util.h"

#define GIB GMEM_BLOCK_FRAMES
#define FRAMES (4 * GIB)
#define PAGED (FRAMES / 100)
#define LOOKUPS 1000000
#define TRIPS 2000

static double lookups(struct gmem_guest *g, const uint64_t *at,
		      unsigned int mode)
{
	double t0 = now_ns();
	int sum = 0;

	for (int i = 0; i < LOOKUPS; i++)
		sum += gmem_page_lookup(g, at[i], mode, NULL);
	if (sum)
		exit(1);
	return (now_ns() - t0) / LOOKUPS;
}

static double queries(struct gmem_guest *g, const uint64_t *at)
{
	double t0 = now_ns();
	unsigned int attr, sum = 0;

	for (int i = 0; i < LOOKUPS; i++) {
		gmem_attr_get(g, at[i], &attr);
		sum += attr;
	}
	if (sum == UINT32_MAX)
		printf("\n");	/* keeps the loop */
	return (now_ns() - t0) / LOOKUPS;
}

struct pager_thread {
	struct gmem_guest *g;
	int fd;
	volatile int stop;
};

/* Sleeps on the eventfd; serves what the ring holds. */
static void *pager(void *arg)
{
	struct pager_thread *p = arg;
	struct gmem_page_request req[16];
	uint64_t v;
	uint32_t n, i;

	while (read(p->fd, &v, sizeof(v)) == sizeof(v) && !p->stop) {
		do {
			if (gmem_pager_pop(p->g, req, 16, &n))
				exit(1);
			for (i = 0; i < n; i++)
				if (gmem_page_load(p->g, req[i].gfn,
						   req[i].npages, NULL, NULL) ||
				    gmem_page_complete(p->g, req[i].gfn,
						       req[i].npages, 0, NULL))
					exit(1);
		} while (n);
	}
	return NULL;
}

/* us per round trip over frames paged out before. */
static double round_trips(struct gmem_guest *g, const uint64_t *at,
			  int ready_fd)
{
	struct gmem_page_ready ev[4];
	double t0 = now_ns();
	uint64_t v;
	uint32_t n;

	for (int i = 0; i < TRIPS; i++) {
		GMEM_OPTS(gmem_lookup, lk, .vcpu = 1);

		if (gmem_page_lookup(g, at[i], GMEM_LOOKUP_TRY, &lk) != -EAGAIN)
			exit(1);
		do {
			if (read(ready_fd, &v, sizeof(v)) != sizeof(v) ||
			    gmem_page_ready_pop(g, ev, 4, &n))
				exit(1);
		} while (!n);
		if (n != 1 || ev[0].token != lk.token || ev[0].status)
			exit(1);
	}
	return (now_ns() - t0) / 1e3 / TRIPS;
}

/* Out and in again, one frame at a time: frames per second each way. */
static void out_and_in(struct gmem_guest *g, const uint64_t *at, uint64_t n,
		       double *out, double *in)
{
	double t0 = now_ns(), t1;

	for (uint64_t i = 0; i < n; i++)
		if (gmem_page_nominate(g, at[i], 1, NULL) ||
		    gmem_page_evict(g, at[i], 1, NULL))
			exit(1);
	t1 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		if (gmem_page_load(g, at[i], 1, NULL, NULL) ||
		    gmem_page_complete(g, at[i], 1, 0, NULL))
			exit(1);
	*out = n / ((t1 - t0) / 1e9);
	*in = n / ((now_ns() - t1) / 1e9);
}

#define MEM_FRAMES 16384		/* 64 MiB of a 1 GiB memfd guest */

/* Out and in again on memfd memory, unit frames at a time, the pager's
 * copy in store: frames per second each way. The contents come back. */
static void memory_round(struct real_rig *rr, char *store, uint64_t unit,
			 double *out, double *in)
{
	double t0 = now_ns(), t1;
	char *view;
	uint64_t f;

	if (gmem_view_addr(rr->v, 0, (void **)&view))
		exit(1);
	for (f = 0; f < MEM_FRAMES; f++)
		*(uint64_t *)(view + f * 4096) = f * 2654435761u;
	t0 = now_ns();
	for (f = 0; f < MEM_FRAMES; f += unit)
		if (gmem_page_nominate(rr->g, f, unit, NULL) ||
		    gmem_page_read(rr->g, f, unit, store + f * 4096, NULL) ||
		    gmem_page_evict(rr->g, f, unit, NULL))
			exit(1);
	t1 = now_ns();
	for (f = 0; f < MEM_FRAMES; f += unit)
		if (gmem_page_load(rr->g, f, unit, store + f * 4096, NULL) ||
		    gmem_page_complete(rr->g, f, unit, 0, NULL))
			exit(1);
	*out = MEM_FRAMES / ((t1 - t0) / 1e9);
	*in = MEM_FRAMES / ((now_ns() - t1) / 1e9);
	for (f = 0; f < MEM_FRAMES; f++)
		if (*(uint64_t *)(view + f * 4096) != f * 2654435761u)
			exit(1);
}

static void memory_run(int runs, struct page_result *r)
{
	double o[63], in[63], po[63], pin[63];
	char *store = malloc(MEM_FRAMES * 4096ul);
	struct real_rig rr;

	if (!store)
		exit(1);
	if (real_rig_open(&rr, GMEM_BACKEND_MEMFD, GIB, 0, 0, NULL)) {
		free(store);
		return;	/* no memfd: 0 */
	}
	for (int j = 0; j < runs; j++) {
		memory_round(&rr, store, 1, &o[j], &in[j]);
		memory_round(&rr, store, 512, &po[j], &pin[j]);
	}
	r->mem_frames = MEM_FRAMES;
	r->mem_out_fps = median(o, runs);
	r->mem_in_fps = median(in, runs);
	r->mem_out_piece_fps = median(po, runs);
	r->mem_in_piece_fps = median(pin, runs);
	real_rig_close(&rr);
	free(store);
}

void paging_run(int runs, struct page_result *r)
{
	const struct guest_kind k = { "4 GiB uniform", 4, UNIFORM };
	uint64_t *at = malloc(LOOKUPS * sizeof(*at));
	uint64_t *out = malloc(PAGED * sizeof(*out));
	unsigned char *is_out = calloc(FRAMES, 1);
	double q[63], t[63], w[63], a[63], o[63], in[63], rt[63];
	struct pager_thread pt;
	struct gmem_pool *pool;
	struct gmem_guest *g = guest_new(&k, &pool);
	GMEM_OPTS(gmem_pager_opts, po, .ring_size = 256);
	pthread_t th;
	uint64_t i, n = 0;

	if (!at || !out || !is_out)
		exit(1);
	memset(r, 0, sizeof(*r));
	po.pager_fd = eventfd(0, 0);
	po.ready_fd = eventfd(0, 0);
	if (po.pager_fd < 0 || po.ready_fd < 0 ||
	    gmem_pager_attach(g, &po))
		exit(1);
	while (n < PAGED) {
		uint64_t f = rnd() % FRAMES;

		if (!is_out[f]) {
			is_out[f] = 1;
			out[n++] = f;
		}
	}
	for (i = 0; i < LOOKUPS; i++)
		do
			at[i] = rnd() % FRAMES;
		while (is_out[at[i]]);
	for (int j = 0; j < runs; j++) {
		out_and_in(g, out, PAGED, &o[j], &in[j]);
		for (i = 0; i < PAGED; i++)
			if (gmem_page_nominate(g, out[i], 1, NULL) ||
			    gmem_page_evict(g, out[i], 1, NULL))
				exit(1);
		q[j] = lookups(g, at, GMEM_LOOKUP_QUERY);
		t[j] = lookups(g, at, GMEM_LOOKUP_TRY);
		w[j] = lookups(g, at, GMEM_LOOKUP_WAIT);
		a[j] = queries(g, at);
		/* The pager brings back the first TRIPS, the rest stay. */
		pt = (struct pager_thread){ g, po.pager_fd, 0 };
		if (pthread_create(&th, NULL, pager, &pt))
			exit(1);
		rt[j] = round_trips(g, out, po.ready_fd);
		pt.stop = 1;
		eventfd_write(po.pager_fd, 1);
		pthread_join(th, NULL);
		for (i = TRIPS; i < PAGED; i++)
			if (gmem_page_load(g, out[i], 1, NULL, NULL) ||
			    gmem_page_complete(g, out[i], 1, 0, NULL))
				exit(1);
	}
	r->frames = FRAMES;
	r->paged = PAGED;
	r->lookups = LOOKUPS;
	r->trips = TRIPS;
	r->query_ns = median(q, runs);
	r->try_ns = median(t, runs);
	r->wait_ns = median(w, runs);
	r->attr_ns = median(a, runs);
	r->out_fps = median(o, runs);
	r->in_fps = median(in, runs);
	r->rtt_us = median(rt, runs);
	memory_run(runs, r);
	gmem_guest_destroy(g);
	gmem_pool_destroy(pool);
	close(po.pager_fd);
	close(po.ready_fd);
	free(at);
	free(out);
	free(is_out);
}

void paging_print(const struct page_result *r, int json)
{
	if (json) {
		printf("\"paging\":{\"query_ns\":%.2f,\"try_ns\":%.2f,"
		       "\"wait_ns\":%.2f,\"attr_ns\":%.2f,\"out_fps\":%.0f,"
		       "\"in_fps\":%.0f,\"mem_out_fps\":%.0f,"
		       "\"mem_in_fps\":%.0f,\"mem_out_piece_fps\":%.0f,"
		       "\"mem_in_piece_fps\":%.0f,\"rtt_us\":%.2f},",
		       r->query_ns, r->try_ns, r->wait_ns, r->attr_ns,
		       r->out_fps, r->in_fps, r->mem_out_fps, r->mem_in_fps,
		       r->mem_out_piece_fps, r->mem_in_piece_fps, r->rtt_us);
		return;
	}
	printf("\nPaging: a 4 GiB guest with %llu frames (1%%) paged out at "
	       "random; %llu lookups of\nrandom present frames in each mode, "
	       "beside a state query (gmem_attr_get) of the same frames.\n",
	       (unsigned long long)r->paged, (unsigned long long)r->lookups);
	printf("ns per lookup: QUERY %.2f, TRY %.2f, WAIT %.2f; state query "
	       "%.2f (lookup/query %.2fx)\n",
	       r->query_ns, r->try_ns, r->wait_ns, r->attr_ns,
	       r->wait_ns / r->attr_ns);
	printf("frames per second, one at a time, frames the embedder owns "
	       "(no data moves): out %.0f, in %.0f\n", r->out_fps, r->in_fps);
	printf("frames per second on memfd, the pager keeping the data "
	       "(read, evict; load, complete):\n  4 KiB at a time: out %.0f, "
	       "in %.0f; 2 MiB at a time: out %.0f, in %.0f\n",
	       r->mem_out_fps, r->mem_in_fps, r->mem_out_piece_fps,
	       r->mem_in_piece_fps);
	printf("TRY to \"page ready\", pager and vCPU woken by eventfds: "
	       "%.2f us (%llu round trips a run)\n",
	       r->rtt_us, (unsigned long long)r->trips);
}
