/*
 * gcbench.c — goheap's collector (gh_new, from build/hosted/libgoheap.a)
 * against the Boehm-Demers-Weiser collector (Debian's libgc) on the same
 * programs. scripts/bench-gc.sh runs every workload under both, interleaved
 * over rounds, and writes build/bench/gc.md.
 *
 *   gcbench [--gc goheap|boehm] [--stw] [--trace] [--checkmark] WORKLOAD ARGS...
 *
 *   binarytrees DEPTH [THREADS]   the Benchmarks Game's binary-trees: a
 *                                 stretch tree, a long-lived tree, and
 *                                 2^(DEPTH-d+4) trees of each depth d = 4, 6,
 *                                 ..., DEPTH (21 is the game's), the trees of
 *                                 each depth shared among THREADS threads
 *   churn N [RING]                N allocations of 16-256 B, half with a
 *                                 pointer, half pointer-free, each replacing
 *                                 a random one of RING (default 32768) live
 *                                 ones; one new pointerful object in two is
 *                                 linked from a random older one (no pointer
 *                                 runs from new to old, so the live set stays
 *                                 near RING objects)
 *   pauses LIVE_MIB OPS [THREADS [WORK]]
 *                                 a live heap of LIVE_MIB MiB: one array of
 *                                 pointers to linked lists of 16 nodes of
 *                                 64 B, built by THREADS (default 2) threads,
 *                                 which then make OPS operations in all: each
 *                                 replaces a random node of one of its lists
 *                                 by a new one and allocates four 1 KiB
 *                                 pointer-free temporaries, which it fills,
 *                                 then hashes them WORK (default 0) times,
 *                                 as a program computes between its
 *                                 allocations; the pause distribution and the
 *                                 mutators' utilization
 *
 *   stops N [THREADS]             goheap only: the hosted port's stop of the
 *                                 world alone, N times (0.5 ms apart) with
 *                                 THREADS (default 1) threads computing
 *                                 outside goheap, which the stop must
 *                                 signal; the median, p90, p99 and longest
 *   sharing [MIB]                 no collector: what a thread that reads the
 *                                 memory another writes (MIB MiB, default 9)
 *                                 costs the writer, as concurrent marking
 *                                 does to a program (see sharing())
 *
 * Every run prints one line, "gcbench gc=NAME workload=NAME key=value ...",
 * with at least secs (wall time of the workload), peak_rss_kib (VmHWM),
 * gc_cycles, pause_total_ms and pause_max_ms. Objects carry tags that are
 * checked as the program reads them: a collector that frees a live object
 * makes the run fail ("CORRUPT ...", exit 2).
 *
 * GCBENCH_SERIES=FILE has pauses write the mutators' operations per ms to
 * FILE, a line "ms operations collecting" each, for plotting.
 *
 * --stw marks with the world stopped (goheap's GH_GC_STW, Go's
 * gcstoptheworld=1); --trace prints a line per goheap cycle (GH_GC_TRACE);
 * --checkmark has goheap verify each cycle's marks (GH_GC_CHECKMARK), and
 * the run fail when an object was reachable but unmarked.
 * Boehm runs with its defaults (Debian's build: parallel marking on every
 * CPU, not incremental: each collection marks with the world stopped).
 * Boehm's GC_MALLOC_ATOMIC memory is not cleared; goheap's always is. One
 * process runs one collector: both stop threads with SIGPWR.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc/gc.h>

#include "../../alloc/include/goheap.h"
#include "../../alloc/hosted/port_hosted.h"
#include "peak_rss.h"

/* --- the two collectors behind one interface -------------------------------- */

static enum { GOHEAP, BOEHM } gc = GOHEAP;
static const char *gc_name = "goheap";
static const char *workload;

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t thread_cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static __attribute__((noreturn)) void oom(const gh_type *t)
{
	fprintf(stderr, "gcbench: %s: allocation of %s (%zu B) failed\n", gc_name, t->name,
		t->size);
	exit(1);
}

static __attribute__((noreturn)) void corrupt(const char *what, const void *p, uint64_t want,
					      uint64_t got)
{
	fprintf(stderr, "CORRUPT: %s %s %p: want %#llx, found %#llx\n", gc_name, what, p,
		(unsigned long long)want, (unsigned long long)got);
	exit(2);
}

/* A zeroed object of type t (Boehm: pointer-free ones are not zeroed). */
static inline void *new_obj(const gh_type *t)
{
	void *p;
	if (gc == GOHEAP)
		p = gh_new(t);
	else
		p = t->ptrdata ? GC_MALLOC(t->size) : GC_MALLOC_ATOMIC(t->size);
	if (__builtin_expect(!p, 0))
		oom(t);
	return p;
}

/* Store a pointer into a collected object or a root: goheap's write barrier. */
#define STORE(slot, v)                         \
	do {                                   \
		if (gc == GOHEAP)              \
			GH_STORE_PTR(slot, v); \
		else                           \
			*(slot) = (v);         \
	} while (0)

static void add_root(void *base, size_t len)
{
	if (gc == GOHEAP)
		gh_gc_add_root(base, len);
	else
		GC_add_roots(base, (char *)base + len);
}

/* Boehm's collections and stop-the-world pauses, from its event callback
 * (called on the collecting thread, with Boehm's lock held). */
#define MAX_EVENTS 8192
struct interval {
	uint64_t start, end;
};
static struct interval boehm_gcs[MAX_EVENTS], boehm_pauses[MAX_EVENTS];
static unsigned boehm_ngc, boehm_npause;
static bool boehm_collecting;

static void boehm_event(GC_EventType e)
{
	uint64_t t = now_ns();
	switch (e) {
	case GC_EVENT_START:
		__atomic_store_n(&boehm_collecting, true, __ATOMIC_RELAXED);
		if (boehm_ngc < MAX_EVENTS)
			boehm_gcs[boehm_ngc].start = t;
		break;
	case GC_EVENT_END:
		__atomic_store_n(&boehm_collecting, false, __ATOMIC_RELAXED);
		if (boehm_ngc < MAX_EVENTS)
			boehm_gcs[boehm_ngc].end = t;
		boehm_ngc++;
		break;
	case GC_EVENT_PRE_STOP_WORLD:
		if (boehm_npause < MAX_EVENTS)
			boehm_pauses[boehm_npause].start = t;
		break;
	case GC_EVENT_POST_START_WORLD:
		if (boehm_npause < MAX_EVENTS)
			boehm_pauses[boehm_npause].end = t;
		boehm_npause++;
		break;
	default:
		break;
	}
}

static void gc_start(unsigned gh_flags)
{
	if (gc == GOHEAP) {
		gh_gc_set_flags(gh_flags);
	} else {
		GC_INIT();
		GC_allow_register_threads();
		GC_set_on_collection_event(boehm_event);
	}
}

/* Completed collections so far. */
static uint64_t gc_cycles(void)
{
	if (gc == BOEHM)
		return GC_get_gc_no();
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	return st.cycles;
}

/* The stop-the-world pauses of the collections numbered [from, to) (from
 * gc_cycles() before and after; Boehm: those that started between the
 * times t_from and t_to), in ns, into v and their ends into end (room for
 * MAX_EVENTS each); returns how many. goheap keeps the last 256
 * (gh_memstats.PauseNs) and times them with gh_port_nanotime. */
static unsigned gc_pauses(uint64_t from, uint64_t to, uint64_t t_from, uint64_t t_to, uint64_t *v,
			  uint64_t *end)
{
	unsigned n = 0;
	if (gc == BOEHM) {
		for (unsigned i = 0; i < boehm_npause && i < MAX_EVENTS; i++) {
			struct interval p = boehm_pauses[i];
			if (p.end >= p.start && p.start >= t_from && p.start < t_to) {
				end[n] = p.end;
				v[n++] = p.end - p.start;
			}
		}
		return n;
	}
	static struct gh_memstats m;
	gh_read_memstats(&m);
	if (to > m.NumGC)
		to = m.NumGC;
	if (to > 256 && from < to - 256)
		from = to - 256;
	for (uint64_t c = from; c < to; c++) {
		end[n] = m.PauseEnd[c % 256];
		v[n++] = m.PauseNs[c % 256];
	}
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted values. */
static uint64_t pct(const uint64_t *v, unsigned n, double p)
{
	if (!n)
		return 0;
	unsigned k = (unsigned)ceil(p / 100.0 * n);
	return v[k ? k - 1 : 0];
}

/* The fields every result line ends with: collections since cycles0,
 * pauses over the whole run, peak RSS, and each collector's own figures. */
static void print_common(uint64_t cycles0)
{
	uint64_t total = 0, max = 0;
	if (gc == BOEHM) {
		for (unsigned i = 0; i < boehm_npause && i < MAX_EVENTS; i++) {
			uint64_t d = boehm_pauses[i].end - boehm_pauses[i].start;
			total += d;
			max = d > max ? d : max;
		}
	} else {
		static struct gh_memstats m;
		struct gh_gc_stats st;
		gh_read_memstats(&m);
		gh_gc_read_stats(&st);
		total = m.PauseTotalNs;
		max = st.pause_max_ns;
	}
	printf(" gc_cycles=%llu pause_total_ms=%.3f pause_max_ms=%.3f peak_rss_kib=%ld",
	       (unsigned long long)(gc_cycles() - cycles0), total / 1e6, max / 1e6, peak_rss_kib());
	if (gc == BOEHM) {
		uint64_t gctime = 0;
		for (unsigned i = 0; i < boehm_ngc && i < MAX_EVENTS; i++)
			gctime += boehm_gcs[i].end - boehm_gcs[i].start;
		printf(" gc_time_ms=%.3f markers=%d heap_mib=%.1f", gctime / 1e6,
		       GC_get_parallel() + 1, GC_get_heap_size() / 1048576.0);
	} else {
		struct gh_gc_stats st;
		gh_gc_read_stats(&st);
		printf(" mark_ms=%.3f heap_goal_mib=%.1f checkmark_errors=%llu", st.mark_ns / 1e6,
		       st.heap_goal / 1048576.0, (unsigned long long)st.checkmark_errors);
		if (st.checkmark_errors) {
			printf("\n");
			corrupt("checkmark: objects reachable but unmarked", NULL, 0,
				st.checkmark_errors);
		}
	}
}

/* --- threads ------------------------------------------------------------------ */

struct thread {
	pthread_t tid;
	int index, n;
	void (*fn)(struct thread *);
};

static void *thread_main(void *p)
{
	struct thread *t = p;
	struct GC_stack_base sb;
	if (gc == BOEHM) {
		GC_get_stack_base(&sb);
		GC_register_my_thread(&sb);
	}
	t->fn(t);
	if (gc == BOEHM)
		GC_unregister_my_thread();
	return NULL;
}

struct joining {
	struct thread *t;
	int n;
};

static void *join_each(void *arg)
{
	struct joining *j = arg;
	for (int i = 0; i < j->n; i++)
		pthread_join(j->t[i].tid, NULL);
	return NULL;
}

/* Wait for the threads out of the collectors' way: a collection need not
 * stop this thread, which only waits (Boehm's GC_do_blocking, and
 * goheap's hosted counterpart). */
static void join_all(struct thread *t, int n)
{
	struct joining j = {t, n};
	if (gc == BOEHM)
		GC_do_blocking(join_each, &j);
	else
		gh_hosted_do_blocking(join_each, &j);
}

/* Run fn on n threads (n == 1: on this one) and wait for them. */
static void run_threads(int n, void (*fn)(struct thread *))
{
	struct thread t[64];
	if (n < 1 || n > 64) {
		fprintf(stderr, "gcbench: 1 to 64 threads, not %d\n", n);
		exit(1);
	}
	for (int i = 0; i < n; i++)
		t[i] = (struct thread){.index = i, .n = n, .fn = fn};
	if (n == 1) {
		fn(&t[0]);
		return;
	}
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i].tid, NULL, thread_main, &t[i]) != 0) {
			fprintf(stderr, "gcbench: pthread_create failed\n");
			exit(1);
		}
	join_all(t, n);
}

/* xorshift64: every collector sees the same sequence. */
static inline uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* --- binary-trees --------------------------------------------------------------- */

struct node {
	struct node *left, *right;
};
GH_TYPE(node_type, struct node, left, right);

/* As the game's Go program: the children first, then their node. */
static struct node *bottom_up(int depth)
{
	struct node *l = NULL, *r = NULL;
	if (depth > 0) {
		l = bottom_up(depth - 1);
		r = bottom_up(depth - 1);
	}
	struct node *n = new_obj(&node_type);
	if (l) {
		STORE(&n->left, l);
		STORE(&n->right, r);
	}
	return n;
}

static long item_check(const struct node *n)
{
	return n->left ? 1 + item_check(n->left) + item_check(n->right) : 1;
}

#define BT_MIN 4
static int bt_max;
static atomic_long bt_checks[64];

/* Thread t of n builds and checks its share of every depth's trees. */
static void bt_worker(struct thread *t)
{
	for (int d = BT_MIN; d <= bt_max; d += 2) {
		long iters = 1l << (bt_max - d + BT_MIN);
		long lo = iters * t->index / t->n, hi = iters * (t->index + 1) / t->n, sum = 0;
		for (long i = lo; i < hi; i++)
			sum += item_check(bottom_up(d));
		atomic_fetch_add(&bt_checks[d], sum);
	}
}

static void expect_check(const char *what, int depth, long got, long trees)
{
	long want = trees * ((2l << depth) - 1);
	if (got != want) {
		fprintf(stderr, "CORRUPT: %s binary-trees %s of depth %d: check %ld, want %ld\n",
			gc_name, what, depth, got, want);
		exit(2);
	}
}

static void binarytrees(int depth, int threads)
{
	if (depth > 40) {
		fprintf(stderr, "gcbench: binarytrees: depth %d is beyond any memory\n", depth);
		exit(1);
	}
	bt_max = depth < BT_MIN + 2 ? BT_MIN + 2 : depth;
	uint64_t c0 = gc_cycles(), t0 = now_ns();
	long stretch = item_check(bottom_up(bt_max + 1));
	struct node *long_lived = bottom_up(bt_max);
	run_threads(threads, bt_worker);
	long ll = item_check(long_lived);
	double secs = (now_ns() - t0) / 1e9;

	expect_check("stretch tree", bt_max + 1, stretch, 1);
	for (int d = BT_MIN; d <= bt_max; d += 2)
		expect_check("trees", d, bt_checks[d], 1l << (bt_max - d + BT_MIN));
	expect_check("long lived tree", bt_max, ll, 1);
	printf("gcbench gc=%s workload=binarytrees depth=%d threads=%d secs=%.3f", gc_name, bt_max,
	       threads, secs);
	print_common(c0);
	printf("\n");
}

/* --- churn ---------------------------------------------------------------------- */

/* Objects of 16 * (k + 1) bytes, k < 16: pointer-free ones are
 * {tag, ..., ~tag}, pointerful ones {link, tag, ..., ~tag} (16 B ones have
 * no room for ~tag). link points to a pointerful object. */
#define TAG_MAGIC 0x4743000000000000ull
#define TAG_MASK 0xffff000000000000ull
static gh_type churn_types[2][16];
static const uint8_t link_mask[1] = {0x1};

static inline void check_obj(const uint64_t *o, int ptrful, size_t words)
{
	uint64_t tag = o[ptrful];
	if ((tag & TAG_MASK) != TAG_MAGIC)
		corrupt("churn object tag", o, TAG_MAGIC, tag);
	if (words - 1 > (size_t)ptrful && o[words - 1] != ~tag)
		corrupt("churn object end", o, ~tag, o[words - 1]);
}

static void churn(long n, long ring_len)
{
	static char names[2][16][24];
	for (int k = 0; k < 16; k++) {
		size_t size = 16 * (size_t)(k + 1);
		snprintf(names[0][k], sizeof(names[0][k]), "churn-noscan-%zu", size);
		snprintf(names[1][k], sizeof(names[1][k]), "churn-scan-%zu", size);
		churn_types[0][k] = (gh_type){size, 0, NULL, names[0][k]};
		churn_types[1][k] = (gh_type){size, 8, link_mask, names[1][k]};
	}
	uint64_t **ring = calloc((size_t)ring_len, sizeof(*ring));
	uint8_t *kind = calloc((size_t)ring_len, 1); /* size class k, | 16 if pointerful */
	if (!ring || !kind) {
		fprintf(stderr, "gcbench: out of memory for the ring\n");
		exit(1);
	}
	add_root(ring, (size_t)ring_len * sizeof(*ring));

	uint64_t s = 0x9E3779B97F4A7C15ull, c0 = gc_cycles(), t0 = now_ns();
	long bytes = 0;
	for (long i = 0; i < n; i++) {
		uint64_t r = next_rand(&s);
		int k = (int)(r & 15), ptrful = (int)(r >> 4) & 1;
		size_t words = 2 * (size_t)(k + 1);
		uint64_t *o = new_obj(&churn_types[ptrful][k]);
		uint64_t tag = TAG_MAGIC | (uint64_t)i;
		o[ptrful] = tag;
		o[words - 1] = words - 1 > (size_t)ptrful ? ~tag : tag;
		bytes += 16 * (k + 1);

		long slot = (long)(((r >> 8) & 0xffffff) * (uint64_t)ring_len >> 24);
		uint64_t *old = ring[slot];
		if (old) {
			int ok = kind[slot] & 15, op = kind[slot] >> 4;
			check_obj(old, op, 2 * (size_t)(ok + 1));
			if (op && old[0])
				check_obj((uint64_t *)old[0], 1, 2);
		}
		STORE(&ring[slot], o);
		kind[slot] = (uint8_t)(k | ptrful << 4);
		if (ptrful && (r >> 5) & 1) {
			long j = (long)((r >> 32) * (uint64_t)ring_len >> 32);
			if (ring[j] && kind[j] >> 4 && ring[j] != o)
				STORE((uint64_t **)&ring[j][0], o);
		}
	}
	double secs = (now_ns() - t0) / 1e9;
	printf("gcbench gc=%s workload=churn n=%ld ring=%ld secs=%.3f ns_per_alloc=%.2f "
	       "alloc_mib=%.1f",
	       gc_name, n, ring_len, secs, secs * 1e9 / (double)n, bytes / 1048576.0);
	print_common(c0);
	printf("\n");
}

/* --- pauses ---------------------------------------------------------------------- */

/* The temporaries are 1 KiB, not 4 KiB: Boehm allocates objects over 2 KiB
 * as whole blocks, which after the build takes it up to 50 times longer. */
#define LIST_LEN 16
#define TEMPS 4			/* temporaries per operation, */
#define TEMP_SIZE 1024		/* small objects for both collectors */
#define MAX_MS (20 * 60 * 1000) /* buckets: 20 minutes of 1 ms */

struct lnode {
	struct lnode *next;
	uint64_t tag; /* TAG_MAGIC | list index */
	uint64_t val[6];
};
GH_TYPE(lnode_type, struct lnode, next);
static const gh_type head_type = {sizeof(void *), sizeof(void *), NULL, "list heads"};
GH_TYPE_NOSCAN(temp_type, char[TEMP_SIZE]);

static struct lnode **top; /* the lists' heads: a collected array */
static long nlists, pause_ops, pause_work;
static uint64_t pause_t0;
static uint32_t *ops_ms[64]; /* per thread: operations completed in each ms */
static uint32_t *cpu_ms[64]; /* per thread: CPU time (us) used in each ms */
static uint8_t *gc_ms;	     /* a collection was under way in that ms */
static uint64_t first_ms[64], last_ms[64];

static struct lnode *new_lnode(long list)
{
	struct lnode *n = new_obj(&lnode_type);
	n->tag = TAG_MAGIC | (uint64_t)list;
	n->val[0] = ~n->tag;
	return n;
}

static inline void check_lnode(const struct lnode *n, long list)
{
	if (n->tag != (TAG_MAGIC | (uint64_t)list))
		corrupt("list node tag", n, TAG_MAGIC | (uint64_t)list, n->tag);
	if (n->val[0] != ~n->tag)
		corrupt("list node value", n, ~n->tag, n->val[0]);
}

static void build_worker(struct thread *t)
{
	long lo = nlists * t->index / t->n, hi = nlists * (t->index + 1) / t->n;
	for (long i = lo; i < hi; i++) {
		struct lnode *head = NULL;
		for (int k = 0; k < LIST_LEN; k++) {
			struct lnode *n = new_lnode(i);
			STORE(&n->next, head);
			head = n;
		}
		STORE(&top[i], head);
	}
}

/* The 1-ms bucket of time t (the mutating phase's start, pause_t0, is 0). */
static uint64_t ms_of(uint64_t t)
{
	return t > pause_t0 ? (t - pause_t0) / 1000000 : 0;
}

/* Mark the ms buckets that [start, end) overlaps as collecting. */
static void mark_gc(uint64_t start, uint64_t end)
{
	if (end <= pause_t0)
		return;
	for (uint64_t b = ms_of(start); b <= ms_of(end) && b < MAX_MS; b++)
		gc_ms[b] = 1;
}

/* A collection is under way: goheap's write barrier is on, or Boehm is
 * between GC_EVENT_START and GC_EVENT_END. */
static bool collecting(void)
{
	return __atomic_load_n(gc == GOHEAP ? &gh_wb_enabled : &boehm_collecting,
			       __ATOMIC_RELAXED);
}

/* Which ms a collection was under way in: each mutator notes it after
 * each operation (the operation's span), and a thread that takes part in
 * neither collector (it never allocates, so neither stops it) every
 * 0.5 ms, for the time no mutator runs. The sampler alone missed ms where
 * the scheduler kept it off the CPUs, which counted collecting time as
 * not. */
static atomic_bool sampling;

static void *sampler(void *arg)
{
	(void)arg;
	while (atomic_load(&sampling)) {
		if (collecting()) {
			uint64_t t = now_ns();
			mark_gc(t, t);
		}
		nanosleep(&(struct timespec){0, 500000}, NULL);
	}
	return NULL;
}

static void mutate_worker(struct thread *t)
{
	long lo = nlists * t->index / t->n, hi = nlists * (t->index + 1) / t->n;
	long ops = pause_ops / t->n;
	uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(t->index + 1);
	uint32_t *count = ops_ms[t->index];
	uint32_t *cpu = cpu_ms[t->index];
	uint64_t t_op = now_ns(), b = ms_of(t_op);
	uint64_t b_cpu = b, c_prev = thread_cpu_ns();
	first_ms[t->index] = b;
	for (long op = 0; op < ops; op++) {
		uint64_t r = next_rand(&s);
		long i = lo + (long)(r % (uint64_t)(hi - lo));
		int pos = (int)(r >> 40) % LIST_LEN;
		struct lnode *n = new_lnode(i);
		n->val[1] = (uint64_t)op;
		uint64_t h = r;
		for (int k = 0; k < TEMPS; k++) {
			uint64_t *tmp = new_obj(&temp_type);
			memset(tmp, (int)op, TEMP_SIZE); /* used, as a program uses a buffer */
			for (long round = 0; round < pause_work; round++)
				for (size_t j = 0; j < TEMP_SIZE / 8; j++)
					h = (h ^ tmp[j]) * 0x100000001b3ull;
			escape(tmp);
		}
		n->val[2] = h;

		struct lnode **link = &top[i], *old = *link;
		for (int k = 0; k < pos; k++) {
			check_lnode(old, i);
			link = &old->next;
			old = *link;
		}
		check_lnode(old, i);
		STORE(&n->next, old->next);
		STORE(link, n);

		/* Every operation is counted in its own ms: with WORK 64 one
		 * takes tens of us, and counting them in batches left 1-ms
		 * buckets with none or two batches, which biased the undisturbed
		 * rate up and the MMU down. A clock read costs ~20 ns. */
		uint64_t t_end = now_ns();
		b = ms_of(t_end);
		if (b < MAX_MS)
			count[b]++;
		/* The CPU time it used since the first operation that ended in
		 * an earlier ms, credited to that ms: a system call, once a ms. */
		if (b != b_cpu) {
			uint64_t c = thread_cpu_ns();
			if (b_cpu < MAX_MS)
				cpu[b_cpu] += (uint32_t)((c - c_prev) / 1000);
			b_cpu = b, c_prev = c;
		}
		if (collecting())
			mark_gc(t_op, t_end);
		t_op = t_end;
	}
	last_ms[t->index] = ms_of(now_ns());
}

/*
 * The mutators' utilization, from their operations in the 1-ms buckets
 * [lo, hi). base, their undisturbed rate in operations per ms, is the 99th
 * percentile of their rate over all 10-ms windows. MMU over w ms is the
 * fewest operations in any w-ms window ÷ (w × base), at most 1; collecting
 * and otherwise are the mean rates in the buckets with and without a
 * collection under way ÷ base. cpu_collecting and cpu_otherwise are the
 * share of the CPUs the mutators could use (one each, up to the machine's)
 * that they did use, in the same buckets: Go's measure of utilization,
 * which leaves out how much slower each operation runs meanwhile. A
 * collector's work on a mutator's own thread counts as the mutator's:
 * goheap's assists (gctrace shows their CPU time), and Boehm's whole
 * collection, which the allocating thread runs.
 */
struct util {
	double gc_frac, base, collecting, otherwise, mmu10, mmu100, cpu_collecting, cpu_otherwise;
};

static double mmu(const double *sum, size_t n, size_t w, double base)
{
	double min = INFINITY;
	for (size_t s = 0; s + w <= n; s++)
		min = sum[s + w] - sum[s] < min ? sum[s + w] - sum[s] : min;
	return n < w ? NAN : min / ((double)w * base) < 1 ? min / ((double)w * base) : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static struct util utilization(int threads, uint64_t lo, uint64_t hi)
{
	struct util u = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
	size_t n = hi > lo + 10 ? hi - lo : 0, nw = 0, ngc = 0;
	if (!n)
		return u;
	/* Prefix sums: sum[i] operations in [lo, lo + i). */
	double *sum = calloc(n + 1, sizeof(double)), *w = calloc(n, sizeof(double));
	double gc_ops = 0, cpu_us[2] = {0, 0};
	for (size_t i = 0; i < n; i++) {
		double o = 0;
		for (int t = 0; t < threads; t++) {
			o += ops_ms[t][lo + i];
			cpu_us[gc_ms[lo + i] != 0] += cpu_ms[t][lo + i];
		}
		sum[i + 1] = sum[i] + o;
		if (gc_ms[lo + i])
			gc_ops += o, ngc++;
	}
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	double usable = threads < online ? threads : (double)online; /* CPUs, in us per ms */
	u.cpu_collecting = ngc ? cpu_us[1] / (double)ngc / (usable * 1000) : NAN;
	u.cpu_otherwise = ngc < n ? cpu_us[0] / (double)(n - ngc) / (usable * 1000) : NAN;
	for (size_t s = 0; s + 10 <= n; s++)
		w[nw++] = sum[s + 10] - sum[s];
	qsort(w, nw, sizeof(*w), cmp_double);
	u.base = w[(nw * 99) / 100] / 10;
	u.gc_frac = (double)ngc / (double)n;
	u.collecting = ngc ? gc_ops / (double)ngc / u.base : NAN;
	u.otherwise = ngc < n ? (sum[n] - gc_ops) / (double)(n - ngc) / u.base : NAN;
	u.mmu10 = mmu(sum, n, 10, u.base);
	u.mmu100 = mmu(sum, n, 100, u.base);
	free(sum);
	free(w);
	return u;
}

static void pauses(long live_mib, long ops, int threads, long work)
{
	pause_work = work;
	nlists = live_mib * 1048576 / (LIST_LEN * (long)sizeof(struct lnode));
	pause_ops = ops;
	if (gc == GOHEAP) {
		add_root(&top, sizeof(top));
		STORE(&top, (struct lnode **)gh_new_array(&head_type, (size_t)nlists));
	} else {
		top = GC_MALLOC_IGNORE_OFF_PAGE((size_t)nlists * sizeof(*top));
	}
	if (!top)
		oom(&head_type);
	for (int t = 0; t < threads; t++)
		ops_ms[t] = calloc(MAX_MS, sizeof(uint32_t)), cpu_ms[t] = calloc(MAX_MS, sizeof(uint32_t));
	gc_ms = calloc(MAX_MS, 1);

	uint64_t c0 = gc_cycles(), t0 = now_ns();
	run_threads(threads, build_worker);
	uint64_t c1 = gc_cycles(), t1 = now_ns();
	long rss_built = peak_rss_kib();
	pause_t0 = now_ns();
	pthread_t st;
	atomic_store(&sampling, true);
	if (pthread_create(&st, NULL, sampler, NULL) != 0) {
		fprintf(stderr, "gcbench: pthread_create failed\n");
		exit(1);
	}
	run_threads(threads, mutate_worker);
	uint64_t t2 = now_ns(), c2 = gc_cycles();
	atomic_store(&sampling, false);
	pthread_join(st, NULL);

	/* Every list still holds LIST_LEN nodes with their tags. */
	for (long i = 0; i < nlists; i++) {
		long len = 0;
		for (struct lnode *n = top[i]; n; n = n->next, len++)
			check_lnode(n, i);
		if (len != LIST_LEN)
			corrupt("list length", top[i], LIST_LEN, (uint64_t)len);
	}

	/* The pauses of the mutator phase's collections. */
	static uint64_t v[MAX_EVENTS], end[MAX_EVENTS];
	unsigned np = gc_pauses(c1, c2, t1, t2, v, end);
	if (gc == BOEHM) {
		for (unsigned i = 0; i < boehm_ngc && i < MAX_EVENTS; i++)
			mark_gc(boehm_gcs[i].start, boehm_gcs[i].end);
	} else {
		/* When gh_port_nanotime is CLOCK_MONOTONIC, the pauses too. */
		for (unsigned i = 0; i < np; i++)
			if (end[i] >= pause_t0 && end[i] <= t2)
				mark_gc(end[i] - v[i], end[i]);
	}

	/* Utilization, between the last thread's start and the first one's
	 * end. */
	uint64_t lo = 0, hi = MAX_MS;
	for (int t = 0; t < threads; t++) {
		lo = first_ms[t] + 1 > lo ? first_ms[t] + 1 : lo;
		hi = last_ms[t] < hi ? last_ms[t] : hi;
	}
	struct util u = utilization(threads, lo, hi);
	const char *series = getenv("GCBENCH_SERIES");
	FILE *f = series && *series ? fopen(series, "w") : NULL;
	for (uint64_t b = lo; f && b < hi; b++) {
		uint32_t o = 0;
		for (int t = 0; t < threads; t++)
			o += ops_ms[t][b];
		fprintf(f, "%llu %u %u\n", (unsigned long long)b, o, gc_ms[b]);
	}
	if (f)
		fclose(f);

	static uint64_t sorted[MAX_EVENTS]; /* 64 KiB: not on the stack the collectors scan */
	memcpy(sorted, v, np * sizeof(*v));
	qsort(sorted, np, sizeof(*sorted), cmp_u64);
	double secs = (t2 - t1) / 1e9;
	printf("gcbench gc=%s workload=pauses live_mib=%ld ops=%ld threads=%d work=%ld build_secs=%.3f "
	       "build_cycles=%llu build_rss_kib=%ld secs=%.3f ops_per_sec=%.0f "
	       "cycles_mutating=%u pause_min_ms=%.3f pause_median_ms=%.3f pause_p99_ms=%.3f "
	       "pause_mutating_max_ms=%.3f gc_time_frac=%.4f base_ops_per_ms=%.1f "
	       "util_collecting=%.3f util_otherwise=%.3f cpu_collecting=%.3f cpu_otherwise=%.3f "
	       "mmu_10ms=%.3f mmu_100ms=%.3f",
	       gc_name, live_mib, ops, threads, work, (t1 - t0) / 1e9, (unsigned long long)(c1 - c0),
	       rss_built, secs, (double)ops / secs, np, pct(sorted, np, 0) / 1e6,
	       pct(sorted, np, 50) / 1e6, pct(sorted, np, 99) / 1e6, pct(sorted, np, 100) / 1e6,
	       u.gc_frac, u.base, u.collecting, u.otherwise, u.cpu_collecting, u.cpu_otherwise, u.mmu10,
	       u.mmu100);
	print_common(c0);
	printf(" pauses_ms=");
	for (unsigned i = 0; i < np; i++)
		printf("%s%.3f", i ? "," : "", v[i] / 1e6);
	printf("\n");
}

/* --- stops ---------------------------------------------------------------------- */

/* The hosted port's stop of the world alone (alloc/port.h), goheap only. */
void gh_port_stop_world(void);
void gh_port_start_world(void);

static atomic_bool computing;

/* Registered with goheap, then computing outside it: a thread the stop
 * must interrupt, as a program's thread that computes between its calls. */
static void *compute_main(void *arg)
{
	(void)arg;
	gh_free(gh_malloc(16));
	uint64_t h = 1;
	while (atomic_load_explicit(&computing, memory_order_relaxed))
		for (int i = 0; i < 10000; i++)
			h = h * 6364136223846793005ull + 1442695040888963407ull;
	return (void *)(uintptr_t)h;
}

static void stops(long n, int threads)
{
	if (gc != GOHEAP || n < 1 || n > MAX_EVENTS) {
		fprintf(stderr, "gcbench: stops: goheap only, 1 to %d stops\n", MAX_EVENTS);
		exit(1);
	}
	gh_free(gh_malloc(16));
	pthread_t t[64];
	atomic_store(&computing, true);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, compute_main, NULL) != 0) {
			fprintf(stderr, "gcbench: pthread_create failed\n");
			exit(1);
		}
	nanosleep(&(struct timespec){0, 2000000}, NULL); /* all registered */
	static uint64_t v[MAX_EVENTS];
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		gh_port_stop_world();
		v[i] = now_ns() - t0;
		gh_port_start_world();
		nanosleep(&(struct timespec){0, 500000}, NULL);
	}
	atomic_store(&computing, false);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	printf("gcbench gc=%s workload=stops n=%ld threads=%d stop_median_us=%.1f stop_p90_us=%.1f "
	       "stop_p99_us=%.1f stop_max_us=%.1f\n",
	       gc_name, n, threads, pct(v, (unsigned)n, 50) / 1e3, pct(v, (unsigned)n, 90) / 1e3,
	       pct(v, (unsigned)n, 99) / 1e3, pct(v, (unsigned)n, 100) / 1e3);
}

/* --- sharing -------------------------------------------------------------------- */

/*
 * What another CPU reading the memory a thread writes costs that thread on
 * this machine, as a concurrent collector's marking does to a program: no
 * collector runs. A writer makes SHARING_OPS random read-and-write pairs
 * over MIB MiB, alone, then with a thread that reads the same memory over
 * and over, then with one that reads memory of its own. A store into a line
 * the reader holds must take it back first, a round trip between the two
 * CPUs' caches: cheap between cores that share one, dear between ones that
 * do not (another chiplet or socket, where a virtual machine's CPUs may be
 * placed, and placed anew from one hour to the next). Each figure is the
 * median of 3 runs; "penalty" is with the reader on the same memory over
 * alone.
 */
#define SHARING_OPS 20000000L

static uint64_t *sharing_mem, *sharing_other;
static size_t sharing_words;
static const uint64_t *sharing_read;
static atomic_bool sharing_stop;

static void *sharing_reader(void *arg)
{
	(void)arg;
	uint64_t sum = 0;
	while (!atomic_load_explicit(&sharing_stop, memory_order_relaxed))
		for (size_t i = 0; i < sharing_words; i += 8) /* a word per 64-byte line */
			sum += ((volatile const uint64_t *)sharing_read)[i];
	return (void *)(uintptr_t)sum;
}

static uint64_t sharing_writer(void)
{
	uint64_t s = 0x9E3779B97F4A7C15ull, sum = 0, t0 = now_ns();
	for (long k = 0; k < SHARING_OPS; k++) {
		uint64_t r = next_rand(&s);
		sum += sharing_mem[(r & 0xffffffff) % sharing_words];
		sharing_mem[(r >> 32) % sharing_words] = sum;
	}
	uint64_t d = now_ns() - t0;
	__asm__ volatile("" : : "r"(sum));
	return d;
}

/* The writer's median time over 3 runs, with a reader of what (NULL: none). */
static uint64_t sharing_run(const uint64_t *what)
{
	uint64_t v[3];
	for (int i = 0; i < 3; i++) {
		pthread_t t;
		sharing_read = what;
		atomic_store(&sharing_stop, false);
		if (what && pthread_create(&t, NULL, sharing_reader, NULL) != 0) {
			fprintf(stderr, "gcbench: pthread_create failed\n");
			exit(1);
		}
		if (what) /* the reader under way */
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		v[i] = sharing_writer();
		atomic_store(&sharing_stop, true);
		if (what)
			pthread_join(t, NULL);
	}
	qsort(v, 3, sizeof(*v), cmp_u64);
	return v[1];
}

static void sharing(long mib)
{
	sharing_words = (size_t)mib << 17;
	sharing_mem = calloc(sharing_words, sizeof(uint64_t));
	sharing_other = calloc(sharing_words, sizeof(uint64_t));
	if (!sharing_mem || !sharing_other) {
		fprintf(stderr, "gcbench: out of memory\n");
		exit(1);
	}
	sharing_writer(); /* pages touched, caches warm */
	uint64_t alone = sharing_run(NULL), same = sharing_run(sharing_mem),
		 other = sharing_run(sharing_other);
	printf("gcbench gc=none workload=sharing mib=%ld alone_ms=%.1f same_ms=%.1f "
	       "other_ms=%.1f penalty=%.2f\n",
	       mib, alone / 1e6, same / 1e6, other / 1e6, (double)same / (double)alone);
}

/* --- main ---------------------------------------------------------------------- */

static long arg(int argc, char **argv, int i, long dflt)
{
	if (i >= argc) {
		if (dflt >= 0)
			return dflt;
		fprintf(stderr, "gcbench: %s: missing argument %d\n", workload, i);
		exit(1);
	}
	char *end;
	long v = strtol(argv[i], &end, 0);
	if (*end || v <= 0) {
		fprintf(stderr, "gcbench: bad argument '%s'\n", argv[i]);
		exit(1);
	}
	return v;
}

static int threads(int argc, char **argv, int i, int dflt)
{
	long n = arg(argc, argv, i, dflt);
	if (n > 64) {
		fprintf(stderr, "gcbench: at most 64 threads\n");
		exit(1);
	}
	return (int)n;
}

static __attribute__((noreturn)) void usage(void)
{
	fprintf(stderr,
		"usage: gcbench [--gc goheap|boehm] [--stw] [--trace] [--checkmark] WORKLOAD "
		"ARGS\n"
		"  binarytrees DEPTH [THREADS]\n"
		"  churn N [RING]\n"
		"  pauses LIVE_MIB OPS [THREADS [WORK]]\n"
		"  stops N [THREADS]\n"
		"  sharing [MIB]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned flags = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--gc") && i + 1 < argc) {
			gc_name = argv[++i];
			if (!strcmp(gc_name, "goheap"))
				gc = GOHEAP;
			else if (!strcmp(gc_name, "boehm"))
				gc = BOEHM;
			else
				usage();
		} else if (!strcmp(argv[i], "--stw")) {
			flags |= GH_GC_STW;
		} else if (!strcmp(argv[i], "--trace")) {
			flags |= GH_GC_TRACE;
		} else if (!strcmp(argv[i], "--checkmark")) {
			flags |= GH_GC_CHECKMARK;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	workload = argv[i];
	if (gc == GOHEAP && (flags & GH_GC_STW))
		gc_name = "goheap-stw";
	gc_start(flags);
	if (!strcmp(workload, "binarytrees"))
		binarytrees((int)arg(argc, argv, i + 1, -1), threads(argc, argv, i + 2, 1));
	else if (!strcmp(workload, "churn"))
		churn(arg(argc, argv, i + 1, -1), arg(argc, argv, i + 2, 32768));
	else if (!strcmp(workload, "pauses"))
		pauses(arg(argc, argv, i + 1, -1), arg(argc, argv, i + 2, -1),
		       threads(argc, argv, i + 3, 2), arg(argc, argv, i + 4, 0));
	else if (!strcmp(workload, "stops"))
		stops(arg(argc, argv, i + 1, -1), threads(argc, argv, i + 2, 1));
	else if (!strcmp(workload, "sharing"))
		sharing(arg(argc, argv, i + 1, 9));
	else
		usage();
	return 0;
}
