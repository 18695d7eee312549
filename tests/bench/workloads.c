/*
 * workloads.c — the allocation workloads of workload.h, written from the
 * published descriptions of mimalloc-bench's benchmarks (none of their code).
 *
 * Freestanding: this header, <stdint.h>, <stddef.h> and <stdbool.h>, the
 * compiler's __atomic and __builtin_mem* builtins, and nothing else. No
 * floating point, small stack frames; bookkeeping comes from the allocator
 * under test before the clock starts (and goes back after it stops).
 *
 * Common rules:
 *  - Work is split: a workload does a fixed total amount of work at a scale
 *    (proportional to it), shared out among the env->nthreads workers, so
 *    ticks per operation falls as workers are added when the allocator
 *    scales. Per-worker live sets stay the same size, capped so the whole
 *    stays under about 100 MiB for any worker count.
 *  - Every object carries a tag byte at both ends (large objects: one in
 *    every 4 KiB page too), written after malloc and checked before free;
 *    a mismatch fails the run through env->fail.
 *  - Random numbers: xorshift64, seeded per workload and worker.
 *  - Operations counted: mallocs, frees and reallocs done while the clock
 *    runs. Ticks: env->now around the timed env->run_on_all calls only.
 *  - No worker ever waits for another to make progress (a worker may be
 *    descheduled: hosted threads on a busy machine, QEMU's vCPUs on fewer
 *    host cores): hand-offs go through atomic exchanges and rings that are
 *    never waited on for long, and a full ring is handled by the worker
 *    itself. With one worker every cross-thread path still runs (the worker
 *    hands to itself).
 */
#include "workload.h"

#define LINE 64	  /* cache line */
#define PAGE 4096 /* the touch stride of large objects */

static inline void relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* ---- random numbers -------------------------------------------------------- */

struct rng {
	uint64_t s;
};

static inline uint64_t next(struct rng *r)
{
	uint64_t x = r->s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return r->s = x;
}

/* A seed per workload and worker (splitmix64's finaliser, never zero). */
static struct rng rng_for(uint64_t workload, uint64_t worker)
{
	uint64_t z = workload * 0x9E3779B97F4A7C15ull + (worker + 1) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (struct rng){z ? z : 1};
}

static inline uint64_t below(struct rng *r, uint64_t n)
{
	return next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline size_t between(struct rng *r, size_t lo, size_t hi)
{
	return lo + (size_t)below(r, (uint64_t)(hi - lo) + 1);
}

/* Log-uniform (density ~ 1/size) in [2^lo_bits, 2^(hi_bits+1)): a power-of-two
 * band chosen uniformly, then a size uniformly inside it. */
static inline size_t log_size(struct rng *r, unsigned lo_bits, unsigned hi_bits)
{
	unsigned b = lo_bits + (unsigned)below(r, hi_bits - lo_bits + 1);
	return ((size_t)1 << b) + (size_t)below(r, (uint64_t)1 << b);
}

static inline uint8_t new_tag(struct rng *r)
{
	return (uint8_t)(1 + below(r, 255));
}

/* ---- what every workload shares -------------------------------------------- */

struct wl {
	const struct wl_alloc *a;
	const struct wl_env *env;
	const char *nomem, *corrupt;
	unsigned n;    /* workers */
	uint64_t *ops; /* per worker, a cache line apart: OPS(w, i) */
	uint64_t ticks;
};

#define OPS(w, i) ((w)->ops[(size_t)(i) * (LINE / sizeof(uint64_t))])

/* An object's bookkeeping: where, how big, its tag. */
struct slot {
	uint8_t *p;
	uint32_t size;
	uint32_t tag;
};

static __attribute__((noreturn)) void nomem(const struct wl *w)
{
	w->env->fail(w->nomem);
	__builtin_unreachable(); /* fail does not return */
}

static __attribute__((noreturn)) void corrupt(const struct wl *w)
{
	w->env->fail(w->corrupt);
	__builtin_unreachable();
}

/* Bookkeeping memory from the allocator under test (outside the timed part):
 * zeroed and aligned to a cache line; bk_free gives it back. */
static void *bk_alloc(const struct wl *w, size_t bytes)
{
	uint8_t *raw = w->a->malloc(bytes + LINE + sizeof(void *));
	if (!raw)
		nomem(w);
	uintptr_t p = ((uintptr_t)raw + sizeof(void *) + LINE - 1) & ~(uintptr_t)(LINE - 1);
	((void **)p)[-1] = raw;
	__builtin_memset((void *)p, 0, bytes);
	return (void *)p;
}

static void bk_free(const struct wl *w, void *p)
{
	if (p)
		w->a->free(((void **)p)[-1]);
}

static void wl_begin(struct wl *w, const struct wl_alloc *a, const struct wl_env *env,
		     const char *nomem_msg, const char *corrupt_msg)
{
	w->a = a;
	w->env = env;
	w->nomem = nomem_msg;
	w->corrupt = corrupt_msg;
	w->n = env->nthreads ? env->nthreads : 1;
	w->ticks = 0;
	w->ops = bk_alloc(w, (size_t)w->n * LINE);
}

#define WL_BEGIN(w, a, env, name)                                                                  \
	wl_begin(w, a, env, name ": malloc returned NULL",                                         \
		 name ": an object changed while it was live (its tag bytes differ)")

/* Run fn on every worker with the clock running. */
static void timed(struct wl *w, void (*fn)(void *arg, unsigned i), void *arg)
{
	uint64_t t0 = w->env->now();
	w->env->run_on_all(fn, arg);
	w->ticks += w->env->now() - t0;
}

static void wl_end(struct wl *w, struct wl_result *r)
{
	uint64_t ops = 0;
	for (unsigned i = 0; i < w->n; i++)
		ops += OPS(w, i);
	r->ops = ops;
	r->ticks = w->ticks;
	bk_free(w, w->ops);
}

/* Worker i's share of total (all shares add up to total). */
static uint64_t share(uint64_t total, unsigned n, unsigned i)
{
	return total / n + (i < total % n);
}

/* ---- objects ---------------------------------------------------------------- */

static inline uint8_t *obj_new(const struct wl *w, size_t size, uint8_t tag)
{
	uint8_t *p = w->a->malloc(size);
	if (!p)
		nomem(w);
	p[0] = tag;
	p[size - 1] = tag;
	return p;
}

static inline void obj_check(const struct wl *w, const uint8_t *p, size_t size, uint8_t tag)
{
	if (p[0] != tag || p[size - 1] != tag)
		corrupt(w);
}

static inline void obj_free(const struct wl *w, uint8_t *p, size_t size, uint8_t tag)
{
	obj_check(w, p, size, tag);
	w->a->free(p);
}

/* Replace the object in s (if any) with a new one of size bytes; returns the
 * operations done. */
static inline uint64_t slot_replace(const struct wl *w, struct slot *s, size_t size,
				    struct rng *r)
{
	uint64_t ops = 1;
	if (s->p) {
		obj_free(w, s->p, s->size, (uint8_t)s->tag);
		ops++;
	}
	uint8_t tag = new_tag(r);
	s->p = obj_new(w, size, tag);
	s->size = (uint32_t)size;
	s->tag = tag;
	return ops;
}

static inline void slot_clear(const struct wl *w, struct slot *s)
{
	if (s->p)
		obj_free(w, s->p, s->size, (uint8_t)s->tag);
	s->p = NULL;
}

/* Free every object in n slots (cleanup, not timed). */
static void slots_clear(const struct wl *w, struct slot *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		slot_clear(w, &s[k]);
}

/* Objects that must carry their size with them (they are swapped between
 * workers through one pointer): a header word with the size, the tag and a
 * check of both, and the tag in the last byte. Sizes >= 16. */
static inline uint32_t hdr_check(uint32_t size, uint8_t tag)
{
	return (uint32_t)((((uint64_t)size * 0x9E3779B1u) >> 7) ^ ((uint64_t)tag * 0x45D9F3Bu)) &
	       0xFFFFFFu;
}

static inline uint8_t *hobj_new(const struct wl *w, size_t size, uint8_t tag)
{
	uint8_t *p = w->a->malloc(size);
	if (!p)
		nomem(w);
	*(uint64_t *)p = (uint64_t)size | (uint64_t)tag << 32 |
			 (uint64_t)hdr_check((uint32_t)size, tag) << 40;
	p[size - 1] = tag;
	return p;
}

/* Checks the object and returns its size. */
static inline size_t hobj_check(const struct wl *w, const uint8_t *p, size_t max)
{
	uint64_t h = *(const uint64_t *)p;
	uint32_t size = (uint32_t)h;
	uint8_t tag = (uint8_t)(h >> 32);
	if (size < 16 || size > max || (h >> 40) != hdr_check(size, tag) || p[size - 1] != tag)
		corrupt(w);
	return size;
}

/* A single-producer single-consumer ring of object descriptions. head is the
 * consumer's, tail the producer's, each on its own line. */
#define RING 1024 /* a power of two */

struct ring {
	uint64_t head;
	uint8_t pad0[LINE - sizeof(uint64_t)];
	uint64_t tail;
	uint8_t pad1[LINE - sizeof(uint64_t)];
	struct slot e[RING];
};

/* Producer: put s in the ring unless it is full. */
static inline bool ring_put(struct ring *q, const struct slot *s)
{
	uint64_t t = q->tail; /* only the producer writes it */
	if (t - __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) == RING)
		return false;
	q->e[t & (RING - 1)] = *s;
	__atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
	return true;
}

/* Consumer: take the oldest entry unless the ring is empty. */
static inline bool ring_get(struct ring *q, struct slot *s)
{
	uint64_t h = q->head; /* only the consumer writes it */
	if (__atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) == h)
		return false;
	*s = q->e[h & (RING - 1)];
	__atomic_store_n(&q->head, h + 1, __ATOMIC_RELEASE);
	return true;
}

/* Free whatever is left in a ring (cleanup). */
static void ring_drain(const struct wl *w, struct ring *q)
{
	struct slot s;
	while (ring_get(q, &s))
		obj_free(w, s.p, s.size, (uint8_t)s.tag);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* ---- glibc-simple ---------------------------------------------------------------
 * glibc's bench-malloc-simple: one thread allocates a batch of blocks and
 * frees them all, in batches of 25, 100, 400 and 1600 blocks; here with
 * random sizes in three small bands (8-64, 65-256, 257-1024 bytes). Runs on
 * worker 0 alone, whatever the number of workers. */

struct simple {
	struct wl w;
	uint64_t target; /* operations */
	struct slot *objs;
};

static void simple_worker(void *arg, unsigned i)
{
	static const uint16_t counts[4] = {25, 100, 400, 1600};
	static const uint16_t lo[3] = {8, 65, 257}, hi[3] = {64, 256, 1024};
	struct simple *s = arg;
	if (i != 0)
		return;
	struct rng r = rng_for(1, 0);
	uint64_t ops = 0;
	for (unsigned c = 0; ops < s->target; c++) {
		unsigned k = counts[c % 4], band = (c / 4) % 3;
		for (unsigned j = 0; j < k; j++) {
			uint8_t tag = new_tag(&r);
			size_t size = between(&r, lo[band], hi[band]);
			s->objs[j] = (struct slot){obj_new(&s->w, size, tag), (uint32_t)size, tag};
		}
		for (unsigned j = 0; j < k; j++)
			obj_free(&s->w, s->objs[j].p, s->objs[j].size, (uint8_t)s->objs[j].tag);
		ops += 2 * (uint64_t)k;
	}
	OPS(&s->w, 0) = ops;
}

static void run_glibc_simple(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			     struct wl_result *r)
{
	struct simple s;
	WL_BEGIN(&s.w, a, env, "glibc-simple");
	s.target = 150000ull * scale;
	s.objs = bk_alloc(&s.w, 1600 * sizeof(struct slot));
	timed(&s.w, simple_worker, &s);
	bk_free(&s.w, s.objs);
	wl_end(&s.w, r);
}

/* ---- glibc-thread ---------------------------------------------------------------
 * glibc's bench-malloc-thread: every thread keeps a working set of 1024
 * blocks and replaces a random one again and again (free, then malloc),
 * sizes 4 B-32 KiB with density ~1/size. */

#define GT_SLOTS 1024

/* A workload in which every worker churns an array of slots of its own:
 * total operations shared out, nslots slots per worker. */
struct slotrun {
	struct wl w;
	uint64_t total;
	unsigned nslots;
	struct slot *slots;
};

static void run_slots(struct slotrun *t, void (*worker)(void *arg, unsigned i),
		      struct wl_result *r)
{
	size_t n = (size_t)t->w.n * t->nslots;
	t->slots = bk_alloc(&t->w, n * sizeof(struct slot));
	timed(&t->w, worker, t);
	slots_clear(&t->w, t->slots, n);
	bk_free(&t->w, t->slots);
	wl_end(&t->w, r);
}

static void gthread_worker(void *arg, unsigned i)
{
	struct slotrun *g = arg;
	struct slot *s = g->slots + (size_t)i * GT_SLOTS;
	struct rng r = rng_for(2, i);
	uint64_t ops = 0, n = share(g->total, g->w.n, i);
	for (uint64_t k = 0; k < n; k++)
		ops += slot_replace(&g->w, &s[below(&r, GT_SLOTS)], log_size(&r, 2, 14), &r);
	OPS(&g->w, i) = ops;
}

static void run_glibc_thread(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			     struct wl_result *r)
{
	struct slotrun g = {.total = 60000ull * scale, .nslots = GT_SLOTS};
	WL_BEGIN(&g.w, a, env, "glibc-thread");
	run_slots(&g, gthread_worker, r);
}

/* ---- larson -----------------------------------------------------------------
 * Larson and Krishnan's server simulation: every thread owns an array of
 * chunks (8-1000 bytes) and repeatedly frees a random chunk and allocates a
 * replacement of random size. The original ends each thread after a round
 * and starts a new one that inherits its array; here, after every epoch of
 * LARSON_EPOCH replacements, a worker swaps its array for a spare one in a
 * shared place (an atomic exchange: one more array than workers), so the
 * arrays wander from worker to worker and most frees are of objects another
 * worker allocated. */

#define LARSON_EPOCH 1000

struct larson {
	struct wl w;
	uint64_t total; /* replacements, all workers */
	size_t chunks;	/* per array */
	struct slot *arrays; /* n + 1 arrays */
	struct slot *spare;
};

static void larson_fill(void *arg, unsigned i)
{
	struct larson *l = arg;
	struct rng r = rng_for(3, i + 1000);
	for (unsigned a = i; a <= l->w.n; a += l->w.n) /* worker 0 also fills the spare */
		for (size_t k = 0; k < l->chunks; k++)
			slot_replace(&l->w, &l->arrays[a * l->chunks + k], between(&r, 8, 1000),
				     &r);
}

static void larson_worker(void *arg, unsigned i)
{
	struct larson *l = arg;
	struct slot *s = l->arrays + (size_t)i * l->chunks;
	struct rng r = rng_for(3, i);
	uint64_t ops = 0, n = share(l->total, l->w.n, i);
	for (uint64_t k = 1; k <= n; k++) {
		ops += slot_replace(&l->w, &s[below(&r, l->chunks)], between(&r, 8, 1000), &r);
		if (k % LARSON_EPOCH == 0)
			s = __atomic_exchange_n(&l->spare, s, __ATOMIC_ACQ_REL);
	}
	OPS(&l->w, i) = ops;
}

static void run_larson(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
		       struct wl_result *r)
{
	struct larson l;
	WL_BEGIN(&l.w, a, env, "larson");
	l.total = 100000ull * scale;
	l.chunks = max_size(64, min_size(5000, 80000 / l.w.n));
	l.arrays = bk_alloc(&l.w, (size_t)(l.w.n + 1) * l.chunks * sizeof(struct slot));
	l.spare = l.arrays + (size_t)l.w.n * l.chunks;
	env->run_on_all(larson_fill, &l);
	timed(&l.w, larson_worker, &l);
	slots_clear(&l.w, l.arrays, (size_t)(l.w.n + 1) * l.chunks);
	bk_free(&l.w, l.arrays);
	wl_end(&l.w, r);
}

/* ---- xmalloc-test -----------------------------------------------------------
 * Lever and Boreham's xmalloc test: half the threads allocate, the other
 * half free what they allocated. Workers pair up, 2k allocating into a
 * single-producer single-consumer ring and 2k+1 freeing from it until the
 * producer says it is done; an odd last worker (and a lone worker) does
 * both, a ring's worth at a time. A producer that finds the ring full for
 * XM_PATIENCE pauses (its consumer is not running) frees the object itself,
 * and does not wait again until the ring has room.
 * Sizes 8-256 bytes. */

#define XM_PATIENCE 4096

struct xmalloc {
	struct wl w;
	uint64_t total; /* objects, all rings */
	unsigned nrings;
	struct ring *rings;
	uint32_t *done; /* per ring: the producer has put its last object */
};

static void xmalloc_worker(void *arg, unsigned i)
{
	struct xmalloc *x = arg;
	unsigned k = i / 2;
	struct ring *q = &x->rings[k];
	uint64_t n = share(x->total, x->nrings, k), done = 0, ops = 0;
	bool produce = i % 2 == 0, consume = i % 2 == 1 || i + 1 == x->w.n;
	struct rng r = rng_for(4, i);
	struct slot s;
	if (produce && consume) {
		while (done < n) {
			uint64_t batch = min_size(RING, n - done);
			for (uint64_t j = 0; j < batch; j++) {
				size_t size = between(&r, 8, 256);
				uint8_t tag = new_tag(&r);
				s = (struct slot){obj_new(&x->w, size, tag), (uint32_t)size, tag};
				ring_put(q, &s); /* the ring was empty: there is room */
			}
			while (ring_get(q, &s))
				obj_free(&x->w, s.p, s.size, (uint8_t)s.tag);
			done += batch;
		}
		ops = 2 * n;
	} else if (produce) {
		unsigned patience = XM_PATIENCE;
		for (; done < n; done++) {
			size_t size = between(&r, 8, 256);
			uint8_t tag = new_tag(&r);
			s = (struct slot){obj_new(&x->w, size, tag), (uint32_t)size, tag};
			ops++;
			unsigned waited = 0;
			while (!ring_put(q, &s) && ++waited < patience)
				relax();
			if (waited < patience) {
				patience = XM_PATIENCE;
			} else { /* the consumer is away: until it is back, do not wait */
				obj_free(&x->w, s.p, s.size, tag);
				ops++;
				patience = 1;
			}
		}
		__atomic_store_n(&x->done[k * (LINE / sizeof(uint32_t))], 1, __ATOMIC_RELEASE);
	} else {
		for (;;) {
			if (ring_get(q, &s)) {
				obj_free(&x->w, s.p, s.size, (uint8_t)s.tag);
				ops++;
			} else if (__atomic_load_n(&x->done[k * (LINE / sizeof(uint32_t))],
						   __ATOMIC_ACQUIRE)) {
				if (!ring_get(q, &s))
					break;
				obj_free(&x->w, s.p, s.size, (uint8_t)s.tag);
				ops++;
			} else {
				relax();
			}
		}
	}
	OPS(&x->w, i) = ops;
}

static void run_xmalloc_test(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			     struct wl_result *r)
{
	struct xmalloc x;
	WL_BEGIN(&x.w, a, env, "xmalloc-test");
	x.total = 100000ull * scale;
	x.nrings = (x.w.n + 1) / 2;
	x.rings = bk_alloc(&x.w, x.nrings * sizeof(struct ring));
	x.done = bk_alloc(&x.w, (size_t)x.nrings * LINE);
	timed(&x.w, xmalloc_worker, &x);
	for (unsigned k = 0; k < x.nrings; k++)
		ring_drain(&x.w, &x.rings[k]);
	bk_free(&x.w, x.done);
	bk_free(&x.w, x.rings);
	wl_end(&x.w, r);
}

/* ---- cache-scratch and cache-thrash ------------------------------------------
 * Hoard's false-sharing tests, with 8-byte objects (eight to a cache line).
 * cache-thrash (active false sharing): every worker allocates an object,
 * writes its bytes many times, frees it, again and again; an allocator that
 * gives different workers objects on one line makes those writes fight over
 * it. cache-scratch (passive): first one worker allocates an object for every
 * worker, side by side; each worker frees the one it was given, then does the
 * same as in cache-thrash: an allocator that hands the freed object back to
 * the worker that freed it puts the workers on one line. */

#define CACHE_OBJ 8
#define CACHE_WRITES 40 /* passes over the object's inner bytes per allocation */

struct cache {
	struct wl w;
	uint64_t total; /* allocations, all workers */
	struct slot *given;
};

static void cache_give(void *arg, unsigned i)
{
	struct cache *c = arg;
	if (i != 0)
		return;
	for (unsigned k = 0; k < c->w.n; k++) {
		uint8_t tag = (uint8_t)(k * 37 + 11) | 1;
		c->given[k] = (struct slot){obj_new(&c->w, CACHE_OBJ, tag), CACHE_OBJ, tag};
	}
}

static void cache_worker(void *arg, unsigned i)
{
	struct cache *c = arg;
	struct rng r = rng_for(5, i);
	uint64_t ops = 0, n = share(c->total, c->w.n, i);
	if (c->given) {
		obj_free(&c->w, c->given[i].p, CACHE_OBJ, (uint8_t)c->given[i].tag);
		ops++;
	}
	for (uint64_t k = 0; k < n; k++) {
		uint8_t tag = new_tag(&r);
		volatile uint8_t *p = obj_new(&c->w, CACHE_OBJ, tag);
		for (unsigned pass = 0; pass < CACHE_WRITES; pass++)
			for (unsigned b = 1; b < CACHE_OBJ - 1; b++)
				p[b] = (uint8_t)(p[b] + 1);
		obj_free(&c->w, (uint8_t *)p, CACHE_OBJ, tag);
		ops += 2;
	}
	OPS(&c->w, i) = ops;
}

static void run_cache(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
		      struct wl_result *r, bool scratch)
{
	struct cache c;
	if (scratch)
		WL_BEGIN(&c.w, a, env, "cache-scratch");
	else
		WL_BEGIN(&c.w, a, env, "cache-thrash");
	c.total = 20000ull * scale;
	c.given = NULL;
	if (scratch) {
		c.given = bk_alloc(&c.w, c.w.n * sizeof(struct slot));
		env->run_on_all(cache_give, &c);
	}
	timed(&c.w, cache_worker, &c);
	bk_free(&c.w, c.given);
	wl_end(&c.w, r);
}

static void run_cache_scratch(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			      struct wl_result *r)
{
	run_cache(a, env, scale, r, true);
}

static void run_cache_thrash(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			     struct wl_result *r)
{
	run_cache(a, env, scale, r, false);
}

/* ---- alloc-test -------------------------------------------------------------
 * The alloc-test of mimalloc-bench: every thread keeps a bounded set of live
 * objects (2048 places) and picks a random place again and again: an empty
 * place gets a new object, a full one is freed, or one time in eight resized
 * with realloc. Sizes mostly small (8 B-2 KiB, density ~1/size), one in
 * sixteen 2-32 KiB. */

#define AT_SLOTS 2048


static size_t at_size(struct rng *r)
{
	return below(r, 16) == 0 ? log_size(r, 11, 14) : log_size(r, 3, 10);
}

static uint64_t at_realloc(const struct wl *w, struct slot *s, size_t size)
{
	size_t old = s->size;
	uint8_t tag = (uint8_t)s->tag, *q;
	uint64_t ops = 1;
	obj_check(w, s->p, old, tag);
	if (w->a->realloc) {
		q = w->a->realloc(s->p, size);
		if (!q)
			nomem(w);
	} else {
		q = w->a->malloc(size);
		if (!q)
			nomem(w);
		__builtin_memcpy(q, s->p, min_size(old, size));
		w->a->free(s->p);
		ops = 2;
	}
	/* what was kept must have come along */
	if (q[0] != tag || (size >= old && q[old - 1] != tag))
		corrupt(w);
	q[size - 1] = tag;
	s->p = q;
	s->size = (uint32_t)size;
	return ops;
}

static void alloctest_worker(void *arg, unsigned i)
{
	struct slotrun *t = arg;
	struct slot *s = t->slots + (size_t)i * AT_SLOTS;
	struct rng r = rng_for(6, i);
	uint64_t ops = 0, n = share(t->total, t->w.n, i);
	while (ops < n) {
		struct slot *o = &s[below(&r, AT_SLOTS)];
		if (!o->p) {
			ops += slot_replace(&t->w, o, at_size(&r), &r);
		} else if (below(&r, 8) == 0) {
			ops += at_realloc(&t->w, o, at_size(&r));
		} else {
			slot_clear(&t->w, o);
			ops++;
		}
	}
	OPS(&t->w, i) = ops;
}

static void run_alloc_test(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			   struct wl_result *r)
{
	struct slotrun t = {.total = 150000ull * scale, .nslots = AT_SLOTS};
	WL_BEGIN(&t.w, a, env, "alloc-test");
	run_slots(&t, alloctest_worker, r);
}

/* ---- mstress ----------------------------------------------------------------
 * mimalloc's stress test: in each of several rounds, fresh threads allocate
 * and free objects of widely varying sizes (mostly 16-256 bytes, one in 64
 * up to 16 KiB, one in 8192 up to 1 MiB) in a local array, and swap objects
 * with a transfer array shared by all (atomic exchange), so many objects are
 * freed by a thread other than the one that allocated them. A thread frees
 * its local objects when it ends; the transfer array lives across rounds.
 * Objects carry their size in a checked header. */

#define MS_ROUNDS 10
#define MS_LOCAL 512
#define MS_TRANSFER 1000
#define MS_MAX ((size_t)32 * 8 * 4096)

struct mstress {
	struct wl w;
	uint64_t total; /* iterations, all workers, all rounds */
	unsigned round;
	uint8_t **local; /* MS_LOCAL per worker */
	uint8_t **transfer;
};

static size_t ms_size(struct rng *r)
{
	size_t words = between(r, 2, 32);
	uint64_t x = below(r, 8192);
	if (x == 0)
		words *= 4096; /* 64 KiB-1 MiB */
	else if (x <= 128)
		words *= 64; /* 1-16 KiB */
	return words * 8;
}

static void ms_free(const struct wl *w, uint8_t *p)
{
	hobj_check(w, p, MS_MAX);
	w->a->free(p);
}

static void mstress_worker(void *arg, unsigned i)
{
	struct mstress *m = arg;
	uint8_t **loc = m->local + (size_t)i * MS_LOCAL;
	struct rng r = rng_for(7, (uint64_t)m->round * 4096 + i);
	uint64_t ops = 0, n = max_size(1, share(m->total, m->w.n, i) / MS_ROUNDS);
	for (uint64_t it = 0; it < n; it++) {
		uint8_t **o = &loc[below(&r, MS_LOCAL)];
		uint64_t x = below(&r, 100);
		if (x < 50) { /* allocate */
			if (*o) {
				ms_free(&m->w, *o);
				ops++;
			}
			*o = hobj_new(&m->w, ms_size(&r), new_tag(&r));
			ops++;
		} else if (x < 80) { /* free */
			if (*o) {
				ms_free(&m->w, *o);
				*o = NULL;
				ops++;
			}
		} else { /* transfer */
			uint8_t *got = __atomic_exchange_n(&m->transfer[below(&r, MS_TRANSFER)], *o,
							   __ATOMIC_ACQ_REL);
			if (got)
				hobj_check(&m->w, got, MS_MAX);
			*o = got;
		}
	}
	for (size_t k = 0; k < MS_LOCAL; k++) /* the thread ends */
		if (loc[k]) {
			ms_free(&m->w, loc[k]);
			loc[k] = NULL;
			ops++;
		}
	OPS(&m->w, i) += ops;
}

static void run_mstress(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			struct wl_result *r)
{
	struct mstress m;
	WL_BEGIN(&m.w, a, env, "mstress");
	m.total = 200000ull * scale;
	m.local = bk_alloc(&m.w, (size_t)m.w.n * MS_LOCAL * sizeof(uint8_t *));
	m.transfer = bk_alloc(&m.w, MS_TRANSFER * sizeof(uint8_t *));
	for (m.round = 0; m.round < MS_ROUNDS; m.round++)
		timed(&m.w, mstress_worker, &m);
	for (size_t k = 0; k < MS_TRANSFER; k++)
		if (m.transfer[k])
			ms_free(&m.w, m.transfer[k]);
	bk_free(&m.w, m.transfer);
	bk_free(&m.w, m.local);
	wl_end(&m.w, r);
}

/* ---- rptest -----------------------------------------------------------------
 * rpmalloc's benchmark: every thread keeps a working set and replaces random
 * objects, sizes drawn from bands (70% 16-256 B, 20% to 4 KiB, 9% to 32 KiB,
 * 1% to 256 KiB); every 64 replacements a thread hands eight of its objects
 * to the next thread (a ring per thread) and frees what it was handed. */

#define RP_BATCH 64
#define RP_HAND 8

struct rptest {
	struct wl w;
	uint64_t total; /* replacements, all workers */
	size_t slots;	/* per worker */
	struct slot *set;
	struct ring *inbox; /* one per worker, filled by the worker before it */
};

static size_t rp_size(struct rng *r)
{
	uint64_t x = below(r, 100);
	if (x < 70)
		return between(r, 16, 256);
	if (x < 90)
		return between(r, 257, 4096);
	if (x < 99)
		return between(r, 4097, 32768);
	return between(r, 32769, 262144);
}

static void rptest_worker(void *arg, unsigned i)
{
	struct rptest *t = arg;
	struct slot *s = t->set + (size_t)i * t->slots;
	struct ring *out = &t->inbox[(i + 1) % t->w.n], *in = &t->inbox[i];
	struct rng r = rng_for(8, i);
	uint64_t ops = 0, n = share(t->total, t->w.n, i);
	for (uint64_t k = 1; k <= n; k++) {
		ops += slot_replace(&t->w, &s[below(&r, t->slots)], rp_size(&r), &r);
		if (k % RP_BATCH)
			continue;
		for (unsigned h = 0; h < RP_HAND; h++) {
			struct slot *o = &s[below(&r, t->slots)];
			if (!o->p)
				continue;
			if (!ring_put(out, o)) {
				obj_free(&t->w, o->p, o->size, (uint8_t)o->tag);
				ops++;
			}
			o->p = NULL;
		}
		struct slot got;
		while (ring_get(in, &got)) {
			obj_free(&t->w, got.p, got.size, (uint8_t)got.tag);
			ops++;
		}
	}
	OPS(&t->w, i) = ops;
}

static void run_rptest(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
		       struct wl_result *r)
{
	struct rptest t;
	WL_BEGIN(&t.w, a, env, "rptest");
	t.total = 60000ull * scale;
	t.slots = max_size(64, min_size(2048, 8192 / t.w.n));
	t.set = bk_alloc(&t.w, (size_t)t.w.n * t.slots * sizeof(struct slot));
	t.inbox = bk_alloc(&t.w, (size_t)t.w.n * sizeof(struct ring));
	timed(&t.w, rptest_worker, &t);
	for (unsigned k = 0; k < t.w.n; k++)
		ring_drain(&t.w, &t.inbox[k]);
	slots_clear(&t.w, t.set, (size_t)t.w.n * t.slots);
	bk_free(&t.w, t.inbox);
	bk_free(&t.w, t.set);
	wl_end(&t.w, r);
}

/* ---- malloc-large -------------------------------------------------------------
 * mimalloc-bench's malloc-large: large objects (64 KiB to 5 MiB, most near
 * the small end) allocated, written through and freed, a few live at a
 * time per thread. Every 4 KiB page of an object is tagged and checked. */

struct large {
	struct wl w;
	uint64_t total; /* replacements, all workers */
	size_t slots;	/* per worker */
	size_t max;	/* largest object */
	struct slot *set;
};

static void large_fill(uint8_t *p, size_t size, uint8_t tag)
{
	for (size_t off = 0; off < size; off += PAGE)
		p[off] = tag;
	p[size - 1] = tag;
}

static void large_check(const struct wl *w, const uint8_t *p, size_t size, uint8_t tag)
{
	for (size_t off = 0; off < size; off += PAGE)
		if (p[off] != tag)
			corrupt(w);
	if (p[size - 1] != tag)
		corrupt(w);
}

static void large_worker(void *arg, unsigned i)
{
	struct large *l = arg;
	struct slot *s = l->set + (size_t)i * l->slots;
	struct rng r = rng_for(9, i);
	uint64_t ops = 0, n = share(l->total, l->w.n, i);
	for (uint64_t k = 0; k < n; k++) {
		struct slot *o = &s[below(&r, l->slots)];
		if (o->p) {
			large_check(&l->w, o->p, o->size, (uint8_t)o->tag);
			l->w.a->free(o->p);
			ops++;
		}
		size_t size = min_size(l->max, log_size(&r, 16, 22));
		uint8_t tag = new_tag(&r);
		o->p = l->w.a->malloc(size);
		if (!o->p)
			nomem(&l->w);
		o->size = (uint32_t)size;
		o->tag = tag;
		large_fill(o->p, size, tag);
		ops++;
	}
	OPS(&l->w, i) = ops;
}

static void run_malloc_large(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
			     struct wl_result *r)
{
	struct large l;
	WL_BEGIN(&l.w, a, env, "malloc-large");
	l.total = 40ull * scale;
	l.slots = max_size(1, 8 / l.w.n);
	/* at most 80 MiB live: 16 objects of 5 MiB, or more smaller ones */
	l.max = (size_t)5 << 20;
	if (l.slots * l.w.n > 16)
		l.max = max_size((size_t)64 << 10, ((size_t)80 << 20) / (l.slots * l.w.n));
	l.set = bk_alloc(&l.w, (size_t)l.w.n * l.slots * sizeof(struct slot));
	timed(&l.w, large_worker, &l);
	for (size_t k = 0; k < (size_t)l.w.n * l.slots; k++)
		if (l.set[k].p) {
			large_check(&l.w, l.set[k].p, l.set[k].size, (uint8_t)l.set[k].tag);
			a->free(l.set[k].p);
		}
	bk_free(&l.w, l.set);
	wl_end(&l.w, r);
}

/* ---- the list --------------------------------------------------------------- */

const struct workload wl_all[] = {
	{"glibc-simple", "one thread: batches of 25-1600 small blocks allocated, then all freed",
	 run_glibc_simple},
	{"glibc-thread", "every thread: random replacements in 1024 blocks of 4 B-32 KiB",
	 run_glibc_thread},
	{"larson", "server simulation: random replacements, arrays passed between threads",
	 run_larson},
	{"xmalloc-test", "producer/consumer pairs: one thread allocates, the other frees",
	 run_xmalloc_test},
	{"cache-scratch", "passive false sharing: free another thread's object, then churn 8 B",
	 run_cache_scratch},
	{"cache-thrash", "active false sharing: every thread allocates, writes, frees 8 B",
	 run_cache_thrash},
	{"alloc-test", "bounded live set of small objects: malloc, free and realloc at random",
	 run_alloc_test},
	{"mstress", "rounds of fresh threads, sizes 16 B-1 MiB, objects swapped through a shared "
		    "array",
	 run_mstress},
	{"rptest", "size bands 16 B-256 KiB, per-thread working sets, batches freed by the next "
		   "thread",
	 run_rptest},
	{"malloc-large", "objects of 64 KiB-5 MiB: allocate, write every page, free",
	 run_malloc_large},
	{NULL, NULL, NULL},
};
