/*
 * malloc.c — a malloc benchmark through the plain C library API (malloc, free,
 * realloc), so it runs under any allocator put in with LD_PRELOAD.
 * scripts/bench-malloc.sh runs it for goheap and its peers; one workload per
 * run, results as machine-readable lines "workload parameters value".
 *
 *   malloc pair SIZE N       N times: p = malloc(SIZE), touch a byte, free(p)
 *                            -> "pair SIZE ns_per_pair"
 *   malloc batch SIZE N K    allocate K objects, free them all (in order),
 *                            until N objects -> "batch SIZE K ns_per_pair"
 *   malloc random N MAXLIVE  N random replacements in a window of MAXLIVE
 *                            live objects, sizes log-uniform 8 B..64 KiB
 *                            (1 in 64 64 KiB..1 MiB), 1 in 8 by realloc;
 *                            every page of every object is touched
 *                            -> "random ns_per_op X", "random peak_live_kib X",
 *                               "random peak_rss_kib X", "random rss_ratio X"
 *   malloc threads T N       T threads: each does N pairs of 64 B, then a ring
 *                            handoff (thread i allocates N objects of 16..256
 *                            B, thread i+1 frees them) -> "threads T pair X",
 *                            "threads T handoff X": wall time divided by N,
 *                            i.e. ns per malloc+free per thread while all T
 *                            run at once (equal to one thread's when they
 *                            scale perfectly)
 *   malloc which             the file malloc comes from -> "which PATH"
 *
 * Every timed loop follows a fixed warm-up that does not depend on N, so the
 * difference between two runs with different N (callgrind's instruction
 * counts, in the script) is the cost of the extra iterations alone. Objects
 * carry a tag at both ends that is checked before free: an allocator that
 * hands out overlapping memory makes the run fail ("CORRUPT ...", exit 2).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "peak_rss.h"

#define WARMUP 10000

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps the compiler from proving a malloc/free pair dead and removing it. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", n);
		exit(1);
	}
	return p;
}

/* xorshift64, fixed seed: every allocator sees the same sequence. */
struct rng {
	uint64_t s;
};

static inline uint64_t next_rand(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static long arg(int argc, char **argv, int i)
{
	if (i >= argc) {
		fprintf(stderr, "malloc: missing argument %d\n", i);
		exit(1);
	}
	char *end;
	long v = strtol(argv[i], &end, 0);
	if (*end || v <= 0) {
		fprintf(stderr, "malloc: bad argument '%s'\n", argv[i]);
		exit(1);
	}
	return v;
}

/* --- pair ------------------------------------------------------------------ */

static __attribute__((noinline)) void pair_loop(size_t size, long n)
{
	for (long i = 0; i < n; i++) {
		char *p = malloc(size);
		p[0] = (char)i;
		escape(p);
		free(p);
	}
}

static void pair(size_t size, long n)
{
	pair_loop(size, WARMUP);
	double t0 = now_ns();
	pair_loop(size, n);
	printf("pair %zu %.3f\n", size, (now_ns() - t0) / (double)n);
}

/* --- batch ----------------------------------------------------------------- */

static void batch_loop(size_t size, long rounds, long k, char **v)
{
	for (long r = 0; r < rounds; r++) {
		for (long i = 0; i < k; i++) {
			v[i] = malloc(size);
			v[i][0] = (char)i;
		}
		escape(v);
		for (long i = 0; i < k; i++)
			free(v[i]);
	}
}

static void batch(size_t size, long n, long k)
{
	char **v = xmalloc((size_t)k * sizeof(*v));
	long rounds = n / k > 0 ? n / k : 1;
	batch_loop(size, WARMUP / k + 1, k, v);
	double t0 = now_ns();
	batch_loop(size, rounds, k, v);
	printf("batch %zu %ld %.3f\n", size, k, (now_ns() - t0) / (double)(rounds * k));
	free(v);
}

/* --- random ---------------------------------------------------------------- */

struct obj {
	unsigned char *p;
	size_t size;
};

/* log-uniform in [lo, hi) */
static size_t log_uniform(struct rng *r, double lo, double hi)
{
	double u = (double)(next_rand(r) >> 11) * (1.0 / 9007199254740992.0);
	return (size_t)(lo * __builtin_exp(u * __builtin_log(hi / lo)));
}

static size_t random_size(struct rng *r)
{
	if (next_rand(r) % 64 == 0)
		return log_uniform(r, 65536, 1 << 20);
	return log_uniform(r, 8, 65536);
}

/* Tag the first and last byte and one byte in every page in between, so the
 * object's pages are resident as they would be in a program that uses them. */
static void fill(struct obj *o, unsigned char tag)
{
	for (size_t i = 0; i < o->size; i += 4096)
		o->p[i] = tag;
	o->p[o->size - 1] = tag;
}

static void check(const struct obj *o, unsigned char tag, const char *what)
{
	if (o->p[0] != tag || o->p[o->size - 1] != tag) {
		fprintf(stderr, "CORRUPT: %s %p size %zu: tag %02x, found %02x..%02x\n", what,
			(void *)o->p, o->size, tag, o->p[0], o->p[o->size - 1]);
		exit(2);
	}
}

static unsigned char tag_of(long slot)
{
	return (unsigned char)(slot * 131 + 7);
}

static void random_ops(long n, long maxlive)
{
	struct rng r = {0x9E3779B97F4A7C15ull};
	struct obj *w = xmalloc((size_t)maxlive * sizeof(*w));
	memset(w, 0, (size_t)maxlive * sizeof(*w));
	size_t live = 0, peak = 0;
	double t0 = now_ns();
	for (long op = 0; op < n; op++) {
		long k = (long)(next_rand(&r) % (uint64_t)maxlive);
		struct obj *o = &w[k];
		size_t size = random_size(&r);
		if (o->p && next_rand(&r) % 8 == 0) {
			check(o, tag_of(k), "before realloc");
			size_t keep = o->size < size ? o->size : size;
			unsigned char *q = realloc(o->p, size);
			if (!q) {
				fprintf(stderr, "realloc(%zu) failed\n", size);
				exit(1);
			}
			live = live - o->size + size;
			o->p = q, o->size = size;
			/* the preserved part keeps its tags: check the first and last */
			if (q[0] != tag_of(k) || q[(keep - 1) / 4096 * 4096] != tag_of(k)) {
				fprintf(stderr, "CORRUPT: realloc lost contents at %p\n",
					(void *)q);
				exit(2);
			}
		} else {
			if (o->p) {
				check(o, tag_of(k), "before free");
				free(o->p);
				live -= o->size;
			}
			o->p = xmalloc(size), o->size = size;
			live += size;
		}
		fill(o, tag_of(k));
		if (live > peak)
			peak = live;
	}
	double t1 = now_ns();
	long rss = peak_rss_kib();
	for (long k = 0; k < maxlive; k++)
		if (w[k].p) {
			check(&w[k], tag_of(k), "at the end");
			free(w[k].p);
		}
	free(w);
	double live_kib = (double)peak / 1024.0;
	printf("random ns_per_op %.3f\n", (t1 - t0) / (double)n);
	printf("random peak_live_kib %.0f\n", live_kib);
	printf("random peak_rss_kib %ld\n", rss);
	printf("random rss_ratio %.4f\n", (double)rss / live_kib);
}

/* --- threads --------------------------------------------------------------- */

#define QCAP 1024 /* a power of two */

struct queue { /* single producer, single consumer */
	_Alignas(64) atomic_size_t head;
	_Alignas(64) atomic_size_t tail;
	_Alignas(64) void *slot[QCAP];
};

struct worker {
	pthread_t tid;
	int id, nthreads;
	long n;
	struct queue *out, *in;
	pthread_barrier_t *bar;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct rng r = {0x2545F4914F6CDD1Dull + (uint64_t)w->id};

	/* phase 1: every thread its own pairs */
	pair_loop(64, WARMUP);
	pthread_barrier_wait(w->bar);
	pair_loop(64, w->n);
	pthread_barrier_wait(w->bar);

	/* phase 2: allocate into out, free what arrives on in */
	pthread_barrier_wait(w->bar);
	long made = 0, freed = 0;
	while (made < w->n || freed < w->n) {
		int progress = 0;
		size_t t = atomic_load_explicit(&w->out->tail, memory_order_relaxed);
		size_t h = atomic_load_explicit(&w->out->head, memory_order_acquire);
		for (int i = 0; i < 64 && made < w->n && t - h < QCAP; i++, made++, t++) {
			char *p = malloc(16u << (next_rand(&r) % 5));
			p[0] = (char)made;
			w->out->slot[t & (QCAP - 1)] = p;
			progress = 1;
		}
		atomic_store_explicit(&w->out->tail, t, memory_order_release);
		h = atomic_load_explicit(&w->in->head, memory_order_relaxed);
		t = atomic_load_explicit(&w->in->tail, memory_order_acquire);
		for (; h != t; h++, freed++) {
			free(w->in->slot[h & (QCAP - 1)]);
			progress = 1;
		}
		atomic_store_explicit(&w->in->head, h, memory_order_release);
		if (!progress)
			sched_yield();
	}
	pthread_barrier_wait(w->bar);
	return NULL;
}

static void threads(int nt, long n)
{
	struct queue *q = xmalloc((size_t)nt * sizeof(*q));
	struct worker *w = xmalloc((size_t)nt * sizeof(*w));
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, (unsigned)nt + 1);
	for (int i = 0; i < nt; i++) {
		atomic_init(&q[i].head, 0);
		atomic_init(&q[i].tail, 0);
	}
	for (int i = 0; i < nt; i++) {
		w[i] = (struct worker){.id = i, .nthreads = nt, .n = n, .bar = &bar};
		w[i].out = &q[i];
		w[i].in = &q[(i + nt - 1) % nt];
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&bar);
	double t0 = now_ns();
	pthread_barrier_wait(&bar);
	double t1 = now_ns();
	pthread_barrier_wait(&bar);
	double t2 = now_ns();
	pthread_barrier_wait(&bar);
	double t3 = now_ns();
	for (int i = 0; i < nt; i++)
		pthread_join(w[i].tid, NULL);
	printf("threads %d pair %.3f\n", nt, (t1 - t0) / (double)n);
	printf("threads %d handoff %.3f\n", nt, (t3 - t2) / (double)n);
	pthread_barrier_destroy(&bar);
	free(w);
	free(q);
}

/* --- which ---------------------------------------------------------------- */

/* Which object's malloc this process calls: checks that LD_PRELOAD took. */
static void which(void)
{
	Dl_info info;
	void *(*volatile fn)(size_t) = malloc;
	if (dladdr((void *)fn, &info) && info.dli_fname)
		printf("which %s\n", info.dli_fname);
	else
		printf("which ?\n");
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "pair"))
		pair((size_t)arg(argc, argv, 2), arg(argc, argv, 3));
	else if (!strcmp(what, "batch"))
		batch((size_t)arg(argc, argv, 2), arg(argc, argv, 3), arg(argc, argv, 4));
	else if (!strcmp(what, "random"))
		random_ops(arg(argc, argv, 2), arg(argc, argv, 3));
	else if (!strcmp(what, "threads"))
		threads((int)arg(argc, argv, 2), arg(argc, argv, 3));
	else if (!strcmp(what, "which"))
		which();
	else {
		fprintf(stderr, "usage: malloc pair SIZE N | batch SIZE N K | random N MAXLIVE | "
				"threads T N | which\n");
		return 1;
	}
	return 0;
}
