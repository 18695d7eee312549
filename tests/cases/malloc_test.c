/*
 * malloc_test.c — the object API in both runners: every size lands in its
 * class with the promised alignment, random sequences checked against a
 * model, calloc/realloc/aligned_alloc contracts, every kind of bad input
 * reported with its reason (and nothing lost), write-after-free caught by
 * poisoning, exhaustion and full recovery 100 times over, memstats that
 * add up, and storms of frees across CPUs.
 */
#include "../../alloc/include/goheap.h"
#include "../../alloc/sizeclasses.h"
#include "../ghtest.h"

#define PAGE GH_PAGE_SIZE

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Sizes spread evenly over powers of two from 1 byte to 2^max_log2. */
static size_t random_size(uint64_t *rng, unsigned max_log2)
{
	unsigned lg = (unsigned)(rng_next(rng) % (max_log2 + 1));
	return ((size_t)1 << lg) + rng_next(rng) % ((size_t)1 << lg);
}

static void fill(void *p, size_t n, uint8_t v)
{
	__builtin_memset(p, v, n);
}

static bool holds(const void *p, size_t n, uint8_t v)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* The smallest class holding size, by a scan of the class table. */
static size_t class_size(size_t size)
{
	for (unsigned c = 1; c < GH_NUM_SIZE_CLASSES; c++)
		if (gh_class_to_size[c] >= size)
			return gh_class_to_size[c];
	return 0;
}

GH_TEST(malloc, every_size_lands_in_its_class)
{
	for (size_t size = 1; size <= 40 << 10; size++) {
		uint8_t *p = gh_malloc(size);
		GH_ASSERT(p != NULL);
		size_t usable = gh_usable_size(p), want;
		if (size <= GH_MAX_SMALL)
			want = class_size(size);
		else
			want = (size + PAGE - 1) / PAGE * PAGE;
		GH_ASSERT_EQ(usable, want);
		/* the largest power of two dividing the size, 8 to a page */
		uintptr_t align = usable & -usable;
		align = align > PAGE ? PAGE : align;
		GH_ASSERT_EQ((uintptr_t)p % align, 0);
		if (size >= 16)
			GH_ASSERT_EQ((uintptr_t)p % 16, 0);
		p[0] = 1;
		p[usable - 1] = 2;
		gh_free(p);
	}
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(malloc, zero_bytes_gives_an_object)
{
	void *a = gh_malloc(0), *b = gh_malloc(0);
	GH_ASSERT(a != NULL && b != NULL);
	GH_EXPECT_NE(a, b);
	GH_EXPECT_GE(gh_usable_size(a), 1);
	gh_free(a);
	gh_free(b);
	gh_free(NULL);
	GH_EXPECT_EQ(gh_usable_size(NULL), 0);
}

/* Random malloc/realloc/free against a model of what each live object
 * holds; memstats follow the model's counts. */
#define MODEL_SLOTS 512
GH_TEST(malloc, model)
{
	static struct {
		uint8_t *p;
		size_t n;
		uint8_t v;
	} m[MODEL_SLOTS];
	__builtin_memset(m, 0, sizeof(m));
	struct gh_memstats base, now;
	gh_read_memstats(&base);
	uint64_t rng = 0x2545f4914f6cdd1dull, live = 0, bytes = 0;
	for (int op = 0; op < 60000; op++) {
		unsigned i = (unsigned)(rng_next(&rng) % MODEL_SLOTS);
		unsigned what = (unsigned)(rng_next(&rng) % 4);
		if (m[i].p) {
			GH_ASSERT(holds(m[i].p, m[i].n, m[i].v));
			if (what == 0) { /* realloc: contents move with it */
				size_t n = random_size(&rng, 16);
				bytes -= gh_usable_size(m[i].p);
				uint8_t *q = gh_realloc(m[i].p, n);
				GH_ASSERT(q != NULL);
				GH_ASSERT(holds(q, n < m[i].n ? n : m[i].n, m[i].v));
				m[i].p = q;
				m[i].n = n;
				m[i].v = (uint8_t)rng_next(&rng);
				fill(q, n, m[i].v);
				bytes += gh_usable_size(q);
			} else {
				bytes -= gh_usable_size(m[i].p);
				gh_free(m[i].p);
				m[i].p = NULL;
				live--;
			}
		} else {
			m[i].n = random_size(&rng, what == 3 ? 17 : 11);
			m[i].p = gh_malloc(m[i].n);
			GH_ASSERT(m[i].p != NULL);
			m[i].v = (uint8_t)rng_next(&rng);
			fill(m[i].p, m[i].n, m[i].v);
			bytes += gh_usable_size(m[i].p);
			live++;
		}
		if (op % 10000 == 0) {
			gh_read_memstats(&now);
			GH_ASSERT_EQ(now.HeapObjects - base.HeapObjects, live);
			GH_ASSERT_EQ(now.HeapAlloc - base.HeapAlloc, bytes);
		}
	}
	GH_EXPECT_EQ(gh_heap_check(), 0);
	for (unsigned i = 0; i < MODEL_SLOTS; i++)
		if (m[i].p) {
			GH_EXPECT(holds(m[i].p, m[i].n, m[i].v));
			gh_free(m[i].p);
		}
	gh_read_memstats(&now);
	GH_EXPECT_EQ(now.HeapObjects, base.HeapObjects);
	GH_EXPECT_EQ(now.HeapAlloc, base.HeapAlloc);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(malloc, calloc_zeroes_and_checks_overflow)
{
	GH_EXPECT(gh_calloc(~(size_t)0 / 2, 3) == NULL);
	GH_EXPECT(gh_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
	static const size_t sizes[] = {1, 24, 100, 4000, 32768, 100000};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *dirty = gh_malloc(sizes[i]);
		GH_ASSERT(dirty != NULL);
		fill(dirty, gh_usable_size(dirty), 0xee);
		gh_free(dirty);
		uint8_t *p = gh_calloc(1, sizes[i]);
		GH_ASSERT(p != NULL);
		GH_EXPECT(holds(p, sizes[i], 0));
		uint8_t *q = gh_malloc_flags(sizes[i], GH_ZERO);
		GH_ASSERT(q != NULL);
		GH_EXPECT(holds(q, sizes[i], 0));
		gh_free(p);
		gh_free(q);
	}
}

GH_TEST(malloc, realloc_in_place_or_moved)
{
	uint8_t *p = gh_realloc(NULL, 40); /* like gh_malloc */
	GH_ASSERT(p != NULL);
	fill(p, 40, 7);
	GH_EXPECT(gh_realloc(p, 48) == p); /* same class: 48 bytes */
	GH_EXPECT(gh_realloc(p, 33) == p);
	uint8_t *q = gh_realloc(p, 1000); /* grows out of the class */
	GH_ASSERT(q != NULL);
	GH_EXPECT(q != p);
	GH_EXPECT(holds(q, 33, 7));
	uint8_t *r = gh_realloc(q, 10); /* shrinks to a smaller class: moves */
	GH_ASSERT(r != NULL);
	GH_EXPECT(holds(r, 10, 7));
	GH_EXPECT_EQ(gh_usable_size(r), 16);

	uint8_t *big = gh_malloc(10 * PAGE);
	GH_ASSERT(big != NULL);
	fill(big, 10 * PAGE, 9);
	GH_EXPECT(gh_realloc(big, 6 * PAGE) == big); /* fewer pages, not below half */
	GH_EXPECT(gh_realloc(big, 10 * PAGE) == big);
	uint8_t *small = gh_realloc(big, 3 * PAGE); /* below half: moves */
	GH_ASSERT(small != NULL);
	GH_EXPECT(small != big);
	GH_EXPECT(holds(small, 3 * PAGE, 9));
	GH_EXPECT(gh_realloc(small, 0) == NULL); /* frees */
	GH_EXPECT(gh_realloc(r, 0) == NULL);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(malloc, aligned_alloc_any_power_of_two)
{
	static const size_t sizes[] = {1, 100, 5000, 40000};
	for (size_t align = 1; align <= (size_t)16 << 20; align <<= 1)
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint8_t *p = gh_aligned_alloc(align, sizes[i]);
			GH_ASSERT(p != NULL);
			GH_ASSERT_EQ((uintptr_t)p % align, 0);
			GH_ASSERT(gh_usable_size(p) >= sizes[i]);
			fill(p, sizes[i], 1);
			gh_free(p);
		}
	GH_EXPECT(gh_aligned_alloc(0, 8) == NULL);
	GH_EXPECT(gh_aligned_alloc(48, 8) == NULL);
	GH_EXPECT(gh_aligned_alloc(3, 8) == NULL);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(malloc, bad_input_is_reported)
{
	uint64_t on_stack = 0;
	GH_EXPECT_PANIC(gh_free(&on_stack), "goheap does not manage this address");

	uint8_t *p = gh_malloc(48), *q = gh_malloc(48);
	GH_ASSERT(p != NULL && q != NULL);
	GH_EXPECT_PANIC(gh_free(p + 8), "interior pointer: inside the 48-byte object at");
	GH_EXPECT_PANIC(gh_realloc(p + 1, 10), "interior pointer");
	gh_free(q);
	GH_EXPECT_PANIC(gh_free(q), "already free");
	GH_EXPECT_PANIC(gh_realloc(q, 100), "already free");
	GH_EXPECT_PANIC(gh_usable_size(q), "already free");
	/* 170 objects of 48 bytes fill 8160 bytes of the page: the tail is no
	 * object */
	uint8_t *base = (uint8_t *)((uintptr_t)p & ~(uintptr_t)(PAGE - 1));
	GH_EXPECT_PANIC(gh_free(base + 170 * 48), "past the last object");

	uint8_t *big = gh_malloc(100000);
	GH_ASSERT(big != NULL);
	GH_EXPECT_PANIC(gh_free(big + PAGE), "interior pointer: inside the");
	GH_EXPECT_PANIC(gh_page_free(big, 13), "memory from gh_malloc");
	gh_free(big);
	GH_EXPECT_PANIC(gh_free(big), "already free");

	void *run = gh_page_alloc(2, 0);
	GH_ASSERT(run != NULL);
	GH_EXPECT_PANIC(gh_free(run), "a page run from gh_page_alloc");
	GH_EXPECT_PANIC(gh_realloc((uint8_t *)run + PAGE, 5), "inside a page run");
	gh_page_free(run, 2);
	GH_EXPECT_PANIC(gh_free(run), "already free");

	/* A free into a span this CPU gave up goes the remote way; the second
	 * one is caught there too. */
	uint8_t *r = gh_malloc(48);
	GH_ASSERT(r != NULL);
	gh_cache_flush();
	gh_free(r);
	GH_EXPECT_PANIC(gh_free(r), "already free");

	/* Nothing was lost or changed by the refused calls. */
	GH_EXPECT(gh_usable_size(p) == 48);
	gh_free(p);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(malloc, poisoning_catches_write_after_free)
{
	unsigned old = gh_set_debug(GH_DEBUG_POISON);
	gh_cache_flush(); /* the next span of the class is poisoned */
	enum { N = 256 }; /* more than a 64-byte span holds */
	static uint8_t *objs[N];
	static unsigned n; /* assigned inside GH_EXPECT_PANIC: not in a register */
	uint8_t *victim = gh_malloc(64);
	GH_ASSERT(victim != NULL);
	gh_free(victim);
	victim[5] = 1; /* a write after free */
	n = 0;
	GH_EXPECT_PANIC(
	    for (; n < N; n++) {
		    objs[n] = gh_malloc(64);
		    GH_ASSERT(objs[n] != NULL);
		    GH_ASSERT(objs[n] != victim);
	    },
	    "write after free: the 64-byte object at");
	gh_free(victim); /* it was handed out when the check fired */
	for (unsigned i = 0; i < n; i++)
		gh_free(objs[i]);
	/* Without a stray write, reuse passes the check. */
	for (unsigned i = 0; i < N; i++) {
		objs[i] = gh_malloc(64);
		GH_ASSERT(objs[i] != NULL);
	}
	for (unsigned i = 0; i < N; i++)
		gh_free(objs[i]);
	gh_set_debug(old);
	gh_cache_flush();
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

/* Every CPU gives back what it caches (a kernel does this when a CPU goes
 * idle or offline; the hosted port when a thread exits). */
GH_TEST_PERCPU(malloc, every_cpu_flushes_its_cache)
{
	void *p = gh_malloc(100);
	GH_ASSERT(p != NULL);
	gh_free(p);
	gh_cache_flush();
}

/* With every cache flushed, every object of the cases above freed, and
 * the collected objects earlier suites dropped collected, no span holds
 * objects: nothing leaked, nothing is stranded. */
GH_TEST(malloc, empty_heap_after_flushing)
{
	static struct gh_memstats m; /* not on the stack, which the collector scans */
	ght_clobber_stack();
	gh_gc();
	gh_gc();
	gh_cache_flush();
	struct gh_gc_stats gc;
	gh_read_memstats(&m);
	gh_gc_read_stats(&gc);
	/* collected objects a stale word on a stack still holds, if any, are
	 * counted apart */
	GH_EXPECT_LE(gc.objects, 16);
	if (gc.objects)
		ght_log(t, "%llu collected objects still held", (unsigned long long)gc.objects);
	GH_EXPECT_EQ(m.HeapObjects - gc.objects, 0);
	GH_EXPECT_EQ(m.HeapAlloc - gc.bytes, 0);
	GH_EXPECT_EQ(m.HeapInuse - gc.inuse, 0);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

/* Allocate objects of size until NULL, linked through their first word. */
static size_t exhaust(void **list, size_t size)
{
	size_t n = 0;
	for (void **p; (p = gh_malloc(size)) != NULL; n++) {
		*p = *list;
		*list = p;
	}
	return n;
}

GH_TEST(malloc, exhaustion_and_recovery_100_times)
{
	static const size_t sizes[] = {1 << 20, 100000, 32768, 3000, 200};
	size_t first[5] = {0};
	struct gh_memstats base, now;
	struct gh_page_stats full[5], ps;
	/* The goal retains every free page meanwhile: a background scavenger
	 * (an idle kernel CPU, the hosted mark thread between cycles) that
	 * took runs out of the heap while a round allocates would move where
	 * its objects go, and how many of a size fit would then vary by one. */
	gh_set_scavenge_goal(GHT_RETAIN_ALL_FREE);
	gh_cache_flush();
	gh_read_memstats(&base);
	for (int round = 0; round < 100; round++) {
		void *list = NULL;
		bool same = true;
		for (unsigned i = 0; i < 5 && same; i++) {
			size_t n = exhaust(&list, sizes[i]);
			gh_page_stats(&ps);
			if (round == 0)
				first[i] = n, full[i] = ps;
			same = n == first[i];
			GH_EXPECT_EQ(n, first[i]);
			if (!same) /* where the memory was, in KiB: now (first round) */
				ght_log(t,
					"round %d, size %zu: in use %llu (%llu), free %llu (%llu), "
					"cached %llu (%llu), released %llu (%llu)",
					round, sizes[i], (unsigned long long)(ps.in_use >> 10),
					(unsigned long long)(full[i].in_use >> 10),
					(unsigned long long)(ps.free >> 10),
					(unsigned long long)(full[i].free >> 10),
					(unsigned long long)(ps.cached >> 10),
					(unsigned long long)(full[i].cached >> 10),
					(unsigned long long)(ps.released >> 10),
					(unsigned long long)(full[i].released >> 10));
		}
		/* all of it back, even after a failure, or the cases after
		 * this one find no memory */
		while (list) {
			void *next = *(void **)list;
			gh_free(list);
			list = next;
		}
		gh_cache_flush();
		if (!same)
			break;
		gh_read_memstats(&now);
		GH_EXPECT_EQ(now.HeapObjects, base.HeapObjects);
		GH_EXPECT_EQ(now.HeapAlloc, base.HeapAlloc);
		GH_EXPECT_EQ(now.HeapInuse, base.HeapInuse);
		if (t->failures)
			break;
	}
	gh_set_scavenge_goal(~(uint64_t)0);
	ght_log(t,
		"capacity per round: %zu x 1 MiB, %zu x 100000, %zu x 32 KiB, %zu x 3000, "
		"%zu x 200 bytes",
		first[0], first[1], first[2], first[3], first[4]);
	GH_EXPECT_GT(first[0], 0);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(malloc, memstats_add_up)
{
	struct gh_memstats a, b;
	struct gh_page_stats ps;
	gh_read_memstats(&a);
	void *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = gh_malloc(300); /* class 320 */
	void *big = gh_malloc(5 * PAGE + 1);
	gh_read_memstats(&b);
	gh_page_stats(&ps);
	unsigned cls = 0;
	while (b.BySize[cls].Size != 320)
		cls++;
	GH_EXPECT_EQ(b.BySize[cls].Mallocs - a.BySize[cls].Mallocs, 100);
	GH_EXPECT_EQ(b.BySize[0].Mallocs - a.BySize[0].Mallocs, 1);
	GH_EXPECT_EQ(b.HeapAlloc - a.HeapAlloc, 100 * 320 + 6 * PAGE);
	GH_EXPECT_EQ(b.TotalAlloc - a.TotalAlloc, 100 * 320 + 6 * PAGE);
	GH_EXPECT_EQ(b.Mallocs - a.Mallocs, 101);
	GH_EXPECT_EQ(b.Alloc, b.HeapAlloc);
	GH_EXPECT_EQ(b.HeapObjects, b.Mallocs - b.Frees);
	GH_EXPECT_EQ(b.HeapSys, b.HeapIdle + b.HeapInuse);
	GH_EXPECT_EQ(b.Sys,
		     b.HeapSys + b.PageSys + b.MSpanSys + b.MCacheSys + b.GCSys + b.OtherSys);
	/* The same memory counted from the page allocator's side. */
	GH_EXPECT_EQ(b.Sys, ps.managed + ps.reserved);
	GH_EXPECT_GE(b.HeapInuse, 100 * 320 + 6 * PAGE);
	GH_EXPECT_LE(b.HeapReleased, b.HeapIdle);
	uint64_t mallocs = 0, frees = 0;
	for (unsigned c = 0; c < GH_MEMSTATS_CLASSES; c++) {
		mallocs += b.BySize[c].Mallocs;
		frees += b.BySize[c].Frees;
	}
	GH_EXPECT_EQ(mallocs, b.Mallocs);
	GH_EXPECT_EQ(frees, b.Frees);
	for (int i = 0; i < 100; i++)
		gh_free(p[i]);
	gh_free(big);
	gh_read_memstats(&b);
	GH_EXPECT_EQ(b.HeapAlloc, a.HeapAlloc);
	GH_EXPECT_EQ(b.Frees - a.Frees, 101);
}

/* Spans whose objects are all free go back to the page heap, whichever CPU
 * frees them. */
GH_TEST(malloc, empty_spans_return_their_pages)
{
	enum { N = 4096 };
	static void *p[N];
	struct gh_memstats a, b;
	gh_cache_flush();
	gh_read_memstats(&a);
	for (int i = 0; i < N; i++)
		GH_ASSERT((p[i] = gh_malloc(512)) != NULL); /* 256 spans of 16 */
	gh_read_memstats(&b);
	GH_EXPECT_GE(b.HeapInuse - a.HeapInuse, (uint64_t)N * 512);
	for (int i = 0; i < N; i++)
		gh_free(p[i]);
	gh_cache_flush();
	gh_read_memstats(&b);
	GH_EXPECT_EQ(b.HeapInuse, a.HeapInuse);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

/* GH_NOWAIT never waits for the heap lock: with the lock held, what needs
 * it fails and what this CPU caches still comes. */
GH_TEST(malloc, nowait_does_not_wait_for_the_heap_lock)
{
	void *warm = gh_malloc(96); /* this CPU now has a span of the class */
	GH_ASSERT(warm != NULL);
	gh_fork_prepare(); /* holds the heap lock */
	void *small = gh_malloc_flags(96, GH_NOWAIT);
	void *large = gh_malloc_flags(64 * PAGE, GH_NOWAIT);
	gh_fork_parent();
	GH_EXPECT(small != NULL);
	GH_EXPECT(large == NULL);
	gh_free(small);
	gh_free(warm);
	large = gh_malloc_flags(64 * PAGE, GH_NOWAIT);
	GH_EXPECT(large != NULL);
	gh_free(large);
}

/*
 * Cross-CPU storm: every CPU allocates objects and hands them through a
 * ring to the next CPU, which checks and frees them; so nearly every free
 * is remote, and spans change hands all the time.
 */
#define STORM_CPUS 64
#define RING 256
#define STORM_OBJECTS 20000
struct ring {
	void *slot[RING];
	uint32_t size[RING];
	uint32_t head, tail; /* consumer's, producer's */
} __attribute__((aligned(64)));
static struct ring rings[STORM_CPUS];
static unsigned storm_arrived, storm_done;

static bool ring_put(struct ring *r, void *p, uint32_t size)
{
	uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	if (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == RING)
		return false;
	r->slot[tail % RING] = p;
	r->size[tail % RING] = size;
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
	return true;
}

static bool ring_get(struct ring *r, void **p, uint32_t *size)
{
	uint32_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	if (head == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE))
		return false;
	*p = r->slot[head % RING];
	*size = r->size[head % RING];
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
	return true;
}

GH_TEST_PERCPU(malloc, cross_cpu_free_storm)
{
	GH_ASSERT(t->ncpu <= STORM_CPUS);
	struct ring *out = &rings[(t->cpu + 1) % t->ncpu], *in = &rings[t->cpu];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (t->cpu + 1);
	unsigned made = 0, freed = 0, bad = 0;
	__atomic_fetch_add(&storm_arrived, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&storm_arrived, t->ncpu);
	while (made < STORM_OBJECTS || freed < STORM_OBJECTS) {
		if (made < STORM_OBJECTS) {
			uint32_t size = (uint32_t)random_size(&rng, (made % 97) ? 10 : 16);
			uint8_t *p = gh_malloc(size);
			GH_ASSERT(p != NULL);
			fill(p, size, (uint8_t)size);
			if (ring_put(out, p, size))
				made++;
			else
				gh_free(p); /* a local free, when the ring is full */
		}
		void *p;
		uint32_t size;
		while (ring_get(in, &p, &size)) {
			bad += !holds(p, size, (uint8_t)size);
			gh_free(p);
			freed++;
		}
	}
	GH_EXPECT_EQ(bad, 0);
	__atomic_fetch_add(&storm_done, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&storm_done, t->ncpu);
	gh_cache_flush();
}

/*
 * All-to-all storm with flushes: objects go to a random CPU, and every CPU
 * now and then gives up all its spans while others are freeing into them,
 * so spans keep moving between owners, mcentral, full and the page heap.
 */
#define A2A_CPUS 16
#define A2A_OBJECTS 12000
static struct ring a2a[A2A_CPUS][A2A_CPUS]; /* [from][to] */
static unsigned a2a_arrived, a2a_done, a2a_finished;

GH_TEST_PERCPU(malloc, all_to_all_storm_with_flushes)
{
	unsigned n = t->ncpu < A2A_CPUS ? t->ncpu : A2A_CPUS;
	if (t->cpu >= n) { /* CPUs past the rings still flush and churn */
		for (int i = 0; i < 2000; i++) {
			void *p = gh_malloc(64 + i % 512);
			GH_ASSERT(p != NULL);
			gh_free(p);
			if (i % 100 == 0)
				gh_cache_flush();
		}
		return;
	}
	uint64_t rng = 0x5851f42d4c957f2dull * (t->cpu + 1);
	unsigned made = 0, bad = 0;
	__atomic_fetch_add(&a2a_arrived, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&a2a_arrived, n);
	for (unsigned op = 0;; op++) {
		if (made < A2A_OBJECTS) {
			uint32_t size = (uint32_t)random_size(&rng, (made % 53) ? 9 : 15);
			uint8_t *p = gh_malloc(size);
			GH_ASSERT(p != NULL);
			fill(p, size, (uint8_t)(size ^ t->cpu));
			if (ring_put(&a2a[t->cpu][rng_next(&rng) % n], p, size | t->cpu << 24))
				made++;
			else
				gh_free(p);
			if (made == A2A_OBJECTS)
				__atomic_fetch_add(&a2a_done, 1, __ATOMIC_ACQ_REL);
		}
		bool got = false;
		for (unsigned from = 0; from < n; from++) {
			void *p;
			uint32_t size;
			while (ring_get(&a2a[from][t->cpu], &p, &size)) {
				uint32_t bytes = size & 0xffffff;
				bad += !holds(p, bytes, (uint8_t)(bytes ^ (size >> 24)));
				gh_free(p);
				got = true;
			}
		}
		if (op % 1500 == 0)
			gh_cache_flush();
		if (!got && made == A2A_OBJECTS &&
		    __atomic_load_n(&a2a_done, __ATOMIC_ACQUIRE) == n) {
			/* every producer is done: one more sweep empties the rings */
			bool left = false;
			for (unsigned from = 0; from < n; from++)
				left |=
				    __atomic_load_n(&a2a[from][t->cpu].head, __ATOMIC_ACQUIRE) !=
				    __atomic_load_n(&a2a[from][t->cpu].tail, __ATOMIC_ACQUIRE);
			if (!left)
				break;
		}
	}
	GH_EXPECT_EQ(bad, 0);
	__atomic_fetch_add(&a2a_finished, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&a2a_finished, n);
	gh_cache_flush();
}

GH_TEST(malloc, heap_checks_out_after_storm)
{
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
