/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invalidation notifiers (gmem/notify.h).
 *
 * A notifier of at most 2 MiB (an IOMMU page, a prefix area, a shadowed
 * table: nearly all) is found by the pieces it touches (piece_index.h),
 * a bucket or two of a hash table; the longer ones are an interval tree:
 * a treap ordered by (first frame, registration number), each node
 * keeping the largest end in its subtree, so that a lookup descends only
 * where something may overlap.
 *
 * The index changes only in calls that are exclusive with conversions
 * (adding, removing outside a callback, destroying), so that dispatches,
 * from any number of threads at once, read it with no lock and pin
 * nothing. A callback may still remove a notifier that another thread's
 * dispatch holds: such a notifier is marked dead (its state, and its
 * piece index entries' tags), which every dispatch checks before calling
 * it, and buried; the next exclusive call unlinks and frees what is
 * buried, when no dispatch can hold it. A one-shot is claimed by the one
 * dispatch that fires it, then buried the same way.
 *
 * A short notifier's entries carry its callback and context: a dispatch
 * of one piece, the common case, calls a live persistent notifier
 * without reading the notifier itself, which with many registered is a
 * cache miss.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <gmem/notify.h>

#include "core/opts.h"
#include "core/piece_index.h"
#include "guest/guest.h"

struct gmem_notifier {
	struct gmem_notifier *left, *right;
	uint64_t lo, hi, max_hi;	/* max_hi: of the subtree */
	uint64_t seq;			/* registration order: keys unique */
	uint32_t prio;			/* treap heap order */
	uint32_t flags, events;
	_Atomic uint32_t state;		/* enum life */
	struct gmem_notifier *next_buried;
	struct gmem_guest *guest;
	gmem_notifier_fn fn;
	void *ctx;
};

enum life {
	LIVE,
	FIRING,		/* a one-shot claimed by a dispatch */
	DEAD,		/* fires no more; buried, or being freed */
};

struct notify_set {
	struct guest_ext ext;		/* first: the guest's record of it */
	struct gmem_notifier *root;	/* the long ones */
	struct piece_index short_ones;
	uint64_t linked;		/* in the index, dead or not */
	_Atomic(struct gmem_notifier *) buried;
	uint64_t seq;
	uint32_t rng;
};

/* Where a notifier sorts: by start, then registration. */
struct key {
	uint64_t lo, seq;
};

static struct key key_of(const struct gmem_notifier *n)
{
	return (struct key){ n->lo, n->seq };
}

static bool key_less(struct key a, struct key b)
{
	return a.lo < b.lo || (a.lo == b.lo && a.seq < b.seq);
}

static void fix(struct gmem_notifier *t)
{
	t->max_hi = t->hi;
	if (t->left && t->left->max_hi > t->max_hi)
		t->max_hi = t->left->max_hi;
	if (t->right && t->right->max_hi > t->max_hi)
		t->max_hi = t->right->max_hi;
}

static struct gmem_notifier *insert(struct gmem_notifier *t,
				    struct gmem_notifier *n)
{
	if (!t)
		return n;
	if (key_less(key_of(n), key_of(t))) {
		t->left = insert(t->left, n);
		if (t->left->prio > t->prio) {
			struct gmem_notifier *l = t->left;

			t->left = l->right;
			l->right = t;
			fix(t);
			t = l;
		}
	} else {
		t->right = insert(t->right, n);
		if (t->right->prio > t->prio) {
			struct gmem_notifier *r = t->right;

			t->right = r->left;
			r->left = t;
			fix(t);
			t = r;
		}
	}
	fix(t);
	return t;
}

/* Joins two treaps, every key of a below those of b. */
static struct gmem_notifier *join(struct gmem_notifier *a,
				  struct gmem_notifier *b)
{
	if (!a || !b)
		return a ? a : b;
	if (a->prio > b->prio) {
		a->right = join(a->right, b);
		fix(a);
		return a;
	}
	b->left = join(a, b->left);
	fix(b);
	return b;
}

static struct gmem_notifier *unlink(struct gmem_notifier *t,
				    struct gmem_notifier *n)
{
	if (t == n)
		return join(t->left, t->right);
	if (key_less(key_of(n), key_of(t)))
		t->left = unlink(t->left, n);
	else
		t->right = unlink(t->right, n);
	fix(t);
	return t;
}

/* What the set hears on the bus while it holds notifiers; with none,
 * nothing, so that conversions take the one-shot path again. */
#define NOTIFY_KINDS (BUS_CONVERT | BUS_REGION_REMOVE | BUS_PAGE_OUT | \
		      BUS_WRPROTECT)

/* Callbacks of this thread running: the bus is being published on, so
 * what the set hears may not change now. */
static __thread unsigned int in_callback
	__attribute__((tls_model("initial-exec")));

static bool is_short(const struct gmem_notifier *n)
{
	return n->hi - n->lo <= PIDX_MAX_FRAMES;
}

/* n is dead: freed at the next exclusive call. Any thread. */
static void bury(struct notify_set *s, struct gmem_notifier *n)
{
	struct gmem_notifier *top = atomic_load_explicit(&s->buried,
							 memory_order_relaxed);

	do
		n->next_buried = top;
	while (!atomic_compare_exchange_weak_explicit(&s->buried, &top, n,
						      memory_order_release,
						      memory_order_relaxed));
}

/* Whether this dispatch is to call n: a one-shot is claimed, by one. */
static bool claim(struct gmem_notifier *n)
{
	uint32_t live = LIVE;

	if (!(n->flags & GMEM_NOTIFIER_ONESHOT))
		return atomic_load_explicit(&n->state,
					    memory_order_acquire) == LIVE;
	return atomic_compare_exchange_strong_explicit(
		&n->state, &live, FIRING, memory_order_acquire,
		memory_order_relaxed);
}

/* A notifier's entries in the piece index: what a dispatch reads to
 * call it, its events in the tag, which is cleared when it dies. */
#define TAG_ONESHOT (1u << 31)	/* claim it first: look at the notifier */

/* n (no longer LIVE) fires no more, from any thread. */
static void kill(struct notify_set *s, struct gmem_notifier *n)
{
	if (is_short(n))
		pidx_retag(&s->short_ones, n->lo, n->hi, n, 0);
	bury(s, n);
}

/* Calls fn for the part of [lo, hi) in [nlo, nhi). */
static void call(gmem_notifier_fn fn, void *ctx, struct gmem_notifier *n,
		 uint64_t lo, uint64_t hi, uint64_t nlo, uint64_t nhi,
		 uint32_t why)
{
	if (lo < nlo)
		lo = nlo;
	if (hi > nhi)
		hi = nhi;
	in_callback++;
	fn(ctx, n, lo, hi - lo, why);
	in_callback--;
}

/* Calls n for [lo, hi) unless it was removed or, a one-shot, fired. */
static void tell(struct notify_set *s, struct gmem_notifier *n, uint64_t lo,
		 uint64_t hi, uint32_t why)
{
	if (!claim(n))
		return;
	call(n->fn, n->ctx, n, lo, hi, n->lo, n->hi, why);
	if (n->flags & GMEM_NOTIFIER_ONESHOT) {
		atomic_store_explicit(&n->state, DEAD, memory_order_relaxed);
		kill(s, n);
	}
}

#define CHUNK 32

/* Notifiers overlapping [lo, hi) that hear why, keys after the last one
 * found before (kept by value: it may be buried since): the CHUNK with
 * the lowest keys, in key order. Keys are kept beside the notifiers,
 * read from the piece index, so that a notifier's own line is first
 * touched to call it, its load started when it is found. */
/* What a dispatch looks for: notifiers overlapping [lo, hi) that hear
 * why. */
struct query {
	uint64_t lo, hi;
	uint32_t why;
};

struct found {
	struct query q;
	bool resume;
	struct key after;
	struct key k[CHUNK];
	struct gmem_notifier *v[CHUNK];
	uint32_t n;
};

/* Keeps n, of key k, if k is among the CHUNK lowest found. */
static void found_add(struct found *f, struct key k, struct gmem_notifier *n)
{
	uint32_t i;

	if (f->resume && !key_less(f->after, k))
		return;
	if (f->n == CHUNK && key_less(f->k[CHUNK - 1], k))
		return;
	__builtin_prefetch(n);
	i = f->n < CHUNK ? f->n++ : CHUNK - 1;
	for (; i && key_less(k, f->k[i - 1]); i--) {
		f->k[i] = f->k[i - 1];
		f->v[i] = f->v[i - 1];
	}
	f->k[i] = k;
	f->v[i] = n;
}

/* The long ones: the walk stops at CHUNK in key order, and found_add
 * keeps the lowest of those and the short ones. */
static void collect(struct gmem_notifier *t, struct found *f, uint32_t *n)
{
	bool past;

	if (!t || *n == CHUNK || t->max_hi <= f->q.lo)
		return;
	past = !f->resume || key_less(f->after, key_of(t));
	if (past)
		collect(t->left, f, n);
	if (*n == CHUNK || t->lo >= f->q.hi)
		return;
	if (past && t->hi > f->q.lo && (t->events & f->q.why)) {
		found_add(f, key_of(t), t);
		++*n;
	}
	collect(t->right, f, n);
}

/* The short ones in the bucket of piece p; a notifier in the bucket of
 * the piece before as well (it starts there) is taken there, unless p
 * is the range's first. A bucket is in key order: when it is all there
 * is to find (f NULL), each is told as it is met. */
static void collect_piece(struct notify_set *s, const struct query *q,
			  struct found *f, uint64_t p, bool first)
{
	const struct pidx_bucket *b = pidx_bucket(&s->short_ones, p);
	uint64_t base = p << PIECE_SHIFT;
	/* The range relative to the piece, clamped to where its spans lie. */
	int32_t lo = q->lo + PIECE_FRAMES < base ? -(int32_t)PIECE_FRAMES
		     : (int32_t)(int64_t)(q->lo - base);
	int32_t hi = q->hi > base + 2 * PIECE_FRAMES ? 2 * (int32_t)PIECE_FRAMES
		     : (int32_t)(int64_t)(q->hi - base);
	int32_t from = first ? -(int32_t)PIECE_FRAMES : 0;
	const struct pidx_span *span;
	uint32_t i;

	if (!b)
		return;
	span = pidx_spans(b);
	for (i = 0; i < b->n; i++) {
		const struct pidx_span sp = span[i];
		const struct pidx_entry *e;
		uint32_t tag;

		if (sp.lo >= hi)
			break;
		if (sp.hi <= lo || sp.lo < from)
			continue;
		e = &b->e[i];
		tag = pidx_tag(e);
		if (!(tag & q->why))
			continue;
		if (f)
			found_add(f, (struct key){ e->lo, e->seq }, e->item);
		else if (tag & TAG_ONESHOT)
			tell(s, e->item, q->lo, q->hi, q->why);
		else	/* alive when its tag was read */
			call((gmem_notifier_fn)e->fn, e->ctx, e->item, q->lo,
			     q->hi, e->lo, e->lo + e->len, q->why);
	}
}

static void find(struct notify_set *s, struct found *f)
{
	uint64_t p = f->q.lo >> PIECE_SHIFT, last = (f->q.hi - 1) >> PIECE_SHIFT;
	uint32_t n = 0, i;
	bool direct;

	f->n = 0;
	collect(s->root, f, &n);
	/* The index holds still while dispatches run (callbacks only bury):
	 * with no long one found, a range in one piece needs no sorting
	 * (first time only: a resumed dispatch told some already). */
	direct = !f->resume && !f->n && p == last;
	if (last - p < s->short_ones.cap) {
		for (; p <= last; p++)
			collect_piece(s, &f->q, direct ? NULL : f, p,
				      p == f->q.lo >> PIECE_SHIFT);
		return;
	}
	/* More pieces than places: every bucket, each notifier where it
	 * starts. */
	for (i = 0; i < s->short_ones.cap; i++) {
		const struct pidx_bucket *b = &s->short_ones.tab[i];

		if (b->piece != PIDX_NONE && b->piece >= p && b->piece <= last)
			collect_piece(s, &f->q, f, b->piece, false);
	}
}

/* Takes n out of the index and frees it (exclusive). */
static void set_free(struct gmem_guest *g, struct notify_set *s,
		     struct gmem_notifier *n)
{
	if (is_short(n))
		pidx_del(&s->short_ones, n->lo, n->hi, n);
	else
		s->root = unlink(s->root, n);
	s->linked--;
	heap_free(&g->heap, n, sizeof(*n));
}

/* Frees what callbacks removed and one-shots that fired (exclusive:
 * no dispatch holds them). */
static void unbury(struct gmem_guest *g, struct notify_set *s)
{
	struct gmem_notifier *n = atomic_exchange_explicit(
		&s->buried, NULL, memory_order_acquire);

	while (n) {
		struct gmem_notifier *next = n->next_buried;

		set_free(g, s, n);
		n = next;
	}
}

/* dispatch, in chunks sorted by key: on a frame of its own, which the
 * common case does without. */
static __attribute__((noinline)) void
dispatch_sorted(struct notify_set *s, const struct query *q)
{
	struct found f;
	uint32_t i;

	/* Not the array: found fills what it keeps. */
	f.q = *q;
	f.resume = false;
	do {
		find(s, &f);
		for (i = 0; i < f.n; i++)
			tell(s, f.v[i], q->lo, q->hi, q->why);
		/* Buried ones stay in the index until no dispatch runs. */
		if (f.n) {
			f.resume = true;
			f.after = f.k[f.n - 1];
		}
	} while (f.n == CHUNK);
}

/* Tells the notifiers overlapping [lo, hi) that it changed by why
 * (GMEM_INVAL_*). Any thread; no allocation, no lock. */
static void dispatch(struct notify_set *s, uint64_t lo, uint64_t hi,
		     uint32_t why)
{
	const struct query q = { lo, hi, why };

	if (!s->linked)
		return;
	/* The common case, what find would make of it: one piece's bucket,
	 * told as it is walked. */
	if (!s->root && lo >> PIECE_SHIFT == (hi - 1) >> PIECE_SHIFT)
		collect_piece(s, &q, NULL, lo >> PIECE_SHIFT, true);
	else
		dispatch_sorted(s, &q);
}

/* What a change heard on the bus is to the notifiers. */
static uint32_t why_of(uint32_t kind)
{
	switch (kind) {
	case BUS_CONVERT:
		return GMEM_INVAL_CONVERT;
	case BUS_REGION_REMOVE:
		return GMEM_INVAL_UNMAP;
	case BUS_PAGE_OUT:
		return GMEM_INVAL_PAGE_OUT;
	default:
		return GMEM_INVAL_WRPROTECT;
	}
}

/* Changes heard on the bus, once made. */
static int heard(void *ctx, const struct bus_event *ev)
{
	struct notify_set *s = ctx;

	if (ev->phase == GMEM_PHASE_COMMIT)
		dispatch(s, ev->run->gfn,
			 ev->run->gfn + ev->run->npages, why_of(ev->kind));
	return 0;
}

static void set_destroy(struct gmem_guest *g, struct guest_ext *x);

static const struct guest_ext_ops notify_ext = {
	.size = sizeof(struct notify_set),
	.destroy = set_destroy,
};

static int set_get(struct gmem_guest *g, struct notify_set **out)
{
	static const struct bus_sub sub = {
		.fn = heard, .order = BUS_ORDER_NORMAL, .kinds = NOTIFY_KINDS,
		.after = true };
	struct guest_ext *x;
	int err = guest_ext_get(g, &notify_ext, &sub, &x);
	struct notify_set *s = (struct notify_set *)x;

	if (err)
		return err;
	if (!s->rng)	/* new; 0 would stay 0 under xorshift */
		s->rng = 0x9e3779b9u;
	*out = s;
	return 0;
}

int gmem_notifier_add(struct gmem_guest *g, uint64_t gfn, uint64_t npages,
		      gmem_notifier_fn fn, void *ctx,
		      const struct gmem_notifier_opts *opts,
		      struct gmem_notifier **out)
{
	uint32_t flags = OPTS_GET(opts, flags, 0);
	uint32_t events = OPTS_GET(opts, events, 0);
	struct gmem_notifier *n;
	struct notify_set *s;
	uint64_t fail;
	int err = OPTS_VALID(opts, gmem_notifier_opts);

	if (err)
		return err;
	if (!g || !fn || !out || !npages || (flags & ~GMEM_NOTIFIER_ONESHOT) ||
	    (events & ~GMEM_INVAL_ALL))
		return -EINVAL;
	if (gfn >= GMEM_FRAME_LIMIT || npages > GMEM_FRAME_LIMIT - gfn)
		return -EOVERFLOW;
	err = guest_range(g, gfn, npages, &fail);
	if (!err)
		err = set_get(g, &s);
	if (err)
		return err;
	n = heap_zalloc(&g->heap, sizeof(*n), 8);
	if (!n)
		return -ENOMEM;
	*n = (struct gmem_notifier){
		.lo = gfn, .hi = gfn + npages, .max_hi = gfn + npages,
		.flags = flags, .events = events ? events : GMEM_INVAL_ALL,
		.guest = g, .fn = fn, .ctx = ctx };
	/* Exclusive with conversions: no dispatch reads the index now. */
	unbury(g, s);
	if (is_short(n) &&
	    pidx_reserve(&g->heap, &s->short_ones, n->lo, n->hi)) {
		heap_free(&g->heap, n, sizeof(*n));
		return -ENOMEM;
	}
	/* Heard no more since the last one went: the bus may change. */
	if (!s->ext.sub.kinds) {
		s->ext.sub.kinds = NOTIFY_KINDS;
		if (bus_subscribe(&g->bus, &g->heap, &s->ext.sub)) {
			s->ext.sub.kinds = 0;
			heap_free(&g->heap, n, sizeof(*n));
			return -ENOMEM;
		}
	}
	/* xorshift32: priorities only need to look random. */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	n->prio = s->rng;
	n->seq = s->seq++;
	if (is_short(n)) {
		const struct pidx_entry e = {
			.lo = n->lo, .seq = n->seq, .item = n, .ctx = ctx,
			.fn = (void (*)(void))fn, .len = (uint32_t)npages,
			.tag = n->events | (flags & GMEM_NOTIFIER_ONESHOT
					    ? TAG_ONESHOT : 0) };

		pidx_add(&s->short_ones, &e);
	}
	else
		s->root = insert(s->root, n);
	s->linked++;
	*out = n;
	return 0;
}

int gmem_notifier_remove(struct gmem_notifier *n)
{
	struct gmem_guest *g;
	struct notify_set *s;
	uint32_t live = LIVE;

	if (!n)
		return -EINVAL;
	g = n->guest;
	s = (struct notify_set *)guest_ext_find(g, &notify_ext);
	if (in_callback) {
		/* Other threads' dispatches may hold it. A one-shot
		 * firing is buried by its dispatch. */
		if (atomic_compare_exchange_strong(&n->state, &live, DEAD))
			kill(s, n);
		return 0;
	}
	unbury(g, s);
	set_free(g, s, n);
	/* The last one gone, and no publication running (this call is
	 * exclusive, not a callback's): conversions need not be heard. */
	if (!s->linked && s->ext.sub.kinds) {
		bus_unsubscribe(&g->bus, &s->ext.sub);
		s->ext.sub.kinds = 0;	/* what the guest's end looks at */
	}
	return 0;
}

static void free_tree(struct gmem_guest *g, struct gmem_notifier *t)
{
	if (!t)
		return;
	free_tree(g, t->left);
	free_tree(g, t->right);
	heap_free(&g->heap, t, sizeof(*t));
}

static void set_destroy(struct gmem_guest *g, struct guest_ext *x)
{
	struct notify_set *s = (struct notify_set *)x;
	uint32_t i, k;

	unbury(g, s);
	free_tree(g, s->root);
	/* Each short one from the bucket of the piece it starts in. */
	for (i = 0; i < s->short_ones.cap; i++) {
		const struct pidx_bucket *b = &s->short_ones.tab[i];

		for (k = 0; b->piece != PIDX_NONE && k < b->n; k++)
			if (b->e[k].lo >> PIECE_SHIFT == b->piece)
				heap_free(&g->heap, b->e[k].item,
					  sizeof(struct gmem_notifier));
	}
	pidx_free(&g->heap, &s->short_ones);
}
