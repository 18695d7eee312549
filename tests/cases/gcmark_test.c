/*
 * gcmark_test.c — finding objects from pointers and marking them
 * (alloc/mgcmark.h) in both runners, on collected objects: interior
 * pointers find their object, free slots, gh_malloc memory and foreign
 * memory find none, an object is marked and queued once, and all CPUs
 * racing to mark the same objects queue each exactly once. The marks set
 * here are cleared again, so the objects are garbage for the next cycle.
 */
#include "../../alloc/mgc.h"
#include "../ghtest.h"
#include "collector_off.h"

#define PAGE GH_PAGE_SIZE

/* n words, each of which may hold a pointer */
static const gh_type word = {8, 8, NULL, "word"};
static uint8_t *new_words(size_t bytes)
{
	return gh_new_array(&word, bytes / 8);
}

static void clear_mark(uintptr_t p)
{
	struct mspan *s;
	uint32_t idx;
	if (gh_find_object(p, &s, &idx))
		gh_span_clear_marks(s);
}

GH_TEST(gcmark, find_object_from_any_pointer)
{
	struct mspan *s;
	uint32_t idx;
	uint8_t *p = new_words(48), *big = new_words(100000), *m = gh_malloc(48);
	GH_ASSERT(p && big && m);
	GH_ASSERT(gh_find_object((uintptr_t)p, &s, &idx));
	uint32_t free_idx = 0; /* a slot of p's span nobody allocated */
	while (free_idx < s->nelems && gc_span_allocated(s, free_idx))
		free_idx++;
	GH_ASSERT(free_idx < s->nelems);
	uintptr_t gone = s->base + (uintptr_t)free_idx * s->elemsize;
	GH_EXPECT_EQ(gh_find_object((uintptr_t)m, &s, &idx), 0); /* gh_malloc's */
	gh_free(m);
	GH_EXPECT_EQ(gh_find_object((uintptr_t)p, &s, &idx), (uintptr_t)p);
	GH_EXPECT_EQ(gh_find_object((uintptr_t)p + 47, &s, &idx), (uintptr_t)p);
	GH_EXPECT_EQ(s->elemsize, 48);
	GH_EXPECT_EQ(gh_find_object((uintptr_t)big + 5 * PAGE + 7, &s, &idx), (uintptr_t)big);
	GH_EXPECT_EQ(gh_find_object(gone + 1, &s, &idx), 0); /* a free slot */
	uint64_t local = 0;
	GH_EXPECT_EQ(gh_find_object((uintptr_t)&local, &s, &idx), 0);
	void *run = gh_page_alloc(1, 0);
	GH_ASSERT(run != NULL);
	GH_EXPECT_EQ(gh_find_object((uintptr_t)run + 8, &s, &idx), 0); /* not an object */
	gh_page_free(run, 1);
	/* the tail of a 48-byte class span (170 objects in 8160 bytes) */
	uintptr_t tail = ((uintptr_t)p & ~(uintptr_t)(PAGE - 1)) + 170 * 48;
	GH_EXPECT_EQ(gh_find_object(tail, &s, &idx), 0);
}

GH_TEST(gcmark, marked_and_queued_once)
{
	int old = collector_off();
	struct gcwork w = {0};
	uint8_t *p = new_words(200), *big = new_words(50000);
	GH_ASSERT(p && big);
	clear_mark((uintptr_t)p);
	clear_mark((uintptr_t)big);
	unsigned long irq = gh_port_irq_save();
	GH_EXPECT(gh_greyobject(&w, (uintptr_t)p + 100));
	GH_EXPECT(!gh_greyobject(&w, (uintptr_t)p));
	GH_EXPECT(gh_greyobject(&w, (uintptr_t)big + 40000));
	GH_EXPECT(!gh_greyobject(&w, (uintptr_t)big));
	uint64_t local = 0;
	GH_EXPECT(!gh_greyobject(&w, (uintptr_t)&local));
	uintptr_t q1 = gh_gcwork_tryget(&w), q2 = gh_gcwork_tryget(&w);
	GH_EXPECT(gh_gcwork_tryget(&w) == 0);
	gh_gcwork_dispose(&w);
	gh_port_irq_restore(irq);
	GH_EXPECT((q1 == (uintptr_t)p && q2 == (uintptr_t)big) ||
		  (q1 == (uintptr_t)big && q2 == (uintptr_t)p));
	struct mspan *s;
	uint32_t idx;
	GH_ASSERT(gh_find_object((uintptr_t)p, &s, &idx));
	GH_EXPECT(gh_span_marked(s, idx));
	gh_span_clear_marks(s);
	GH_EXPECT(!gh_span_marked(s, idx));
	clear_mark((uintptr_t)big);
	gh_set_gc_percent(old);
}

/* A root range (as a stack would be) holding pointers to some objects,
 * interior and exact, among integers: exactly those objects are marked. */
GH_TEST(gcmark, conservative_scan_marks_what_is_referenced)
{
	enum { N = 64 };
	int old = collector_off();
	uintptr_t obj[N], roots[3 * N / 2];
	for (unsigned i = 0; i < N; i++) {
		obj[i] = (uintptr_t)new_words(24 + 40 * i);
		GH_ASSERT(obj[i] != 0);
		clear_mark(obj[i]);
	}
	unsigned n = 0;
	for (unsigned i = 0; i < N; i += 2) /* every other object, some inside */
		roots[n++] = obj[i] + (i % 3 == 0 ? 0 : 7);
	for (unsigned i = 0; n < sizeof(roots) / sizeof(roots[0]); i++)
		roots[n++] = 0x1000 + i * 8; /* not pointers into the heap */
	struct gcwork w = {0};
	unsigned long irq = gh_port_irq_save();
	unsigned marked = gh_scan_conservative(&w, (uintptr_t)roots, sizeof(roots));
	unsigned queued = 0;
	while (gh_gcwork_tryget(&w))
		queued++;
	gh_gcwork_dispose(&w);
	gh_port_irq_restore(irq);
	GH_EXPECT_EQ(marked, N / 2);
	GH_EXPECT_EQ(queued, N / 2);
	for (unsigned i = 0; i < N; i++) {
		struct mspan *s;
		uint32_t idx;
		uintptr_t base = gh_find_object(obj[i], &s, &idx);
		GH_ASSERT(base && obj[i] - base <= 8); /* past a type header */
		GH_EXPECT_EQ(gh_span_marked(s, idx), i % 2 == 0);
	}
	for (unsigned i = 0; i < N; i++)
		clear_mark(obj[i]);
	gh_set_gc_percent(old);
}

/* n objects of one word, unmarked, each holding its index (no pointer:
 * scanning one finds nothing), for what follows to point to; NULL when
 * out of memory. */
static uintptr_t *new_targets(size_t n)
{
	uintptr_t *to = gh_malloc(n * sizeof(uintptr_t));
	for (size_t i = 0; to && i < n; i++) {
		to[i] = (uintptr_t)new_words(8);
		if (!to[i])
			return NULL;
		*(uintptr_t *)to[i] = i;
		clear_mark(to[i]);
	}
	return to;
}

/* How many of to[from, end) are marked. */
static size_t marked_among(const uintptr_t *to, size_t from, size_t end)
{
	size_t n = 0;
	for (size_t i = from; i < end; i++) {
		struct mspan *s;
		uint32_t idx;
		if (gh_find_object(to[i], &s, &idx) == to[i])
			n += gh_span_marked(s, idx);
	}
	return n;
}

static void free_targets(uintptr_t *to, size_t n)
{
	for (size_t i = 0; i < n; i++)
		clear_mark(to[i]);
	gh_free(to);
}

/*
 * An object scanned while a stop of the world is wanted: SCAN_CHUNK bytes
 * of it are scanned, and the rest is queued from where the scan got to.
 * Taking up what was queued marks the rest: each object it points to is
 * queued once, and the scan work adds up to the object's size. words
 * pointers, each to an object of its own, from p (n words of type word).
 */
static void scan_cut_short(struct ght *t, uintptr_t *p, size_t words, uint64_t size)
{
	uintptr_t *to = new_targets(words);
	uint8_t *seen = gh_malloc(words);
	GH_ASSERT(to && seen);
	for (size_t i = 0; i < words; i++) {
		p[i] = to[i];
		seen[i] = 0;
	}
	clear_mark((uintptr_t)p);
	struct mspan *s;
	uint32_t idx;
	uintptr_t base = gh_find_object((uintptr_t)p, &s, &idx);
	GH_ASSERT(base != 0);
	struct gcwork w = {0};
	uint64_t work = 0;
	unsigned long irq = gh_port_irq_save();
	__atomic_store_n(&gh_gcs.stop_wanted, 1, __ATOMIC_RELAXED);
	gc_scan_object(&w, base, &work);
	__atomic_store_n(&gh_gcs.stop_wanted, 0, __ATOMIC_RELAXED);
	size_t first = SCAN_CHUNK / sizeof(uintptr_t); /* the first chunk only */
	GH_EXPECT_EQ(marked_among(to, 0, first), first);
	GH_EXPECT_EQ(marked_among(to, first, words), 0);
	/* What is queued: the pointers of the first chunk, the rest of the
	 * object (and a large one's other oblets); taken up with no stop. */
	unsigned rests = 0, bad = 0;
	for (uintptr_t q; (q = gh_gcwork_tryget(&w)) != 0;) {
		if (q >= base && q < base + size) {
			if (q == (uintptr_t)p + SCAN_CHUNK)
				rests++;
			gc_scan_object(&w, q, &work);
			continue;
		}
		uintptr_t i = *(const uintptr_t *)q; /* its index */
		if (i >= words || to[i] != q || seen[i]++)
			bad++; /* not one of them, or queued twice */
	}
	gh_gcwork_dispose(&w);
	gh_port_irq_restore(irq);
	GH_EXPECT_EQ(rests, 1);
	GH_EXPECT_EQ(bad, 0);
	GH_EXPECT_EQ(work, size);
	for (size_t i = 0; i < words; i++)
		GH_EXPECT(seen[i]);
	free_targets(to, words);
	gh_free(seen);
}

GH_TEST(gcmark, scan_cut_short_by_a_stop_resumes_where_it_stopped)
{
	int old = collector_off();
	/* a large object, of three oblets, and one with a type header */
	size_t large = (2 * OBLET_BYTES + 4096) / 8, header = 4096 / 8 - 1;
	uintptr_t *big = (uintptr_t *)new_words(large * 8), *mid = (uintptr_t *)new_words(header * 8);
	GH_ASSERT(big && mid);
	struct mspan *s;
	uint32_t idx;
	GH_ASSERT(gh_find_object((uintptr_t)big, &s, &idx) && s->state == MSPAN_GC_LARGE);
	scan_cut_short(t, big, large, s->largeData);
	GH_ASSERT(gh_find_object((uintptr_t)mid, &s, &idx) && s->elemsize == 4096);
	scan_cut_short(t, mid, header, s->elemsize);
	clear_mark((uintptr_t)big);
	clear_mark((uintptr_t)mid);
	gh_set_gc_percent(old);
}

/*
 * Registered ranges are scanned ROOT_BLOCK bytes at a time, each CPU that
 * marks taking the next block: one call scans one block (from the first
 * whole word of a range that does not start on one), and a range
 * removed while its blocks are under way is left for the next (its rest
 * is shaded by gh_gc_remove_root while marking; here no cycle runs, so it
 * stays white). The cycle's job-0 state is set up by hand.
 */
#define RB_WORDS (3 * ROOT_BLOCK / 8)

GH_TEST(gcmark, root_ranges_are_scanned_a_block_at_a_time)
{
	int old = collector_off();
	uint8_t *mem[2];
	uintptr_t *range[2], *to[2];
	for (unsigned k = 0; k < 2; k++) {
		mem[k] = gh_malloc(RB_WORDS * 8 + 16);
		to[k] = new_targets(RB_WORDS);
		GH_ASSERT(mem[k] && to[k]);
		range[k] = (uintptr_t *)(mem[k] + 8);
		__builtin_memcpy(range[k], to[k], RB_WORDS * 8);
	}
	/* B, then A, which comes first: A starts 4 bytes before a word */
	gh_gc_add_root(range[1], RB_WORDS * 8);
	gh_gc_add_root((uint8_t *)range[0] - 4, RB_WORDS * 8 + 4);
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	gh_gcs.root_next = gh_gcs.roots;
	gh_gcs.root_offset = 0;
	gh_gcs.ranges_done = false;
	gh_gcs.roots_next = GC_ROOT_JOBS; /* the other jobs: not here */
	gh_gcs.roots_done = 0;
	GH_EXPECT(gc_mark_root(c));
	gh_port_irq_restore(irq);
	size_t block = ROOT_BLOCK / 8;
	/* the first block of A: from its first whole word */
	GH_EXPECT_EQ(marked_among(to[0], 0, block), block);
	GH_EXPECT_EQ(marked_among(to[0], block, RB_WORDS), 0);
	GH_EXPECT_EQ(marked_among(to[1], 0, RB_WORDS), 0);
	gh_gc_remove_root((uint8_t *)range[0] - 4); /* its blocks are under way */
	irq = gh_port_irq_save();
	unsigned calls = 0;
	while (gc_mark_root(c))
		calls++;
	while (gh_gcwork_tryget(&c->gc.gcw))
		;
	gh_port_irq_restore(irq);
	GH_EXPECT_GE(calls, 3); /* B's three blocks, and any older range's */
	GH_EXPECT_EQ(marked_among(to[1], 0, RB_WORDS), RB_WORDS);
	GH_EXPECT_EQ(marked_among(to[0], block, RB_WORDS), 0); /* A was left */
	GH_EXPECT_EQ(gh_gcs.roots_done, 1);
	GH_EXPECT(gh_gcs.ranges_done);
	gh_gcs.roots_next = gh_gcs.roots_done = 0;
	gh_gc_remove_root(range[1]);
	for (unsigned k = 0; k < 2; k++) {
		free_targets(to[k], RB_WORDS);
		gh_free(mem[k]);
	}
	gh_set_gc_percent(old);
}

/* All CPUs race to grey the same objects through interior pointers. */
#define RACE_OBJS 2000
static uintptr_t race_obj[RACE_OBJS];
static uint8_t race_seen[RACE_OBJS];
static unsigned race_ready, race_marked, race_done, race_bad;

static unsigned index_of(uintptr_t base)
{
	for (unsigned i = 0; i < RACE_OBJS; i++)
		if (race_obj[i] == base)
			return i;
	return RACE_OBJS;
}

GH_TEST_PERCPU(gcmark, all_cpus_race_to_mark)
{
	static int old;
	if (t->cpu == 0) {
		old = collector_off();
		for (unsigned i = 0; i < RACE_OBJS; i++) {
			race_obj[i] = (uintptr_t)new_words(16 + i % 300 / 8 * 8);
			GH_ASSERT(race_obj[i] != 0);
			clear_mark(race_obj[i]);
		}
		__atomic_store_n(&race_ready, 1, __ATOMIC_RELEASE);
	}
	ght_wait_until(&race_ready, 1);
	struct gcwork w = {0};
	unsigned mine = 0;
	unsigned long irq = gh_port_irq_save();
	for (unsigned k = 0; k < RACE_OBJS; k++) {
		unsigned i = (k + t->cpu * 97) % RACE_OBJS; /* different orders */
		mine += gh_greyobject(&w, race_obj[i] + (k % 16));
	}
	for (uintptr_t p; (p = gh_gcwork_tryget(&w)) != 0;) {
		unsigned i = index_of(p);
		if (i == RACE_OBJS || __atomic_exchange_n(&race_seen[i], 1, __ATOMIC_RELAXED))
			__atomic_fetch_add(&race_bad, 1, __ATOMIC_RELAXED);
	}
	gh_gcwork_dispose(&w);
	gh_port_irq_restore(irq);
	__atomic_fetch_add(&race_marked, mine, __ATOMIC_RELAXED);
	__atomic_fetch_add(&race_done, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&race_done, t->ncpu);
	GH_EXPECT_EQ(__atomic_load_n(&race_bad, __ATOMIC_RELAXED), 0);
	if (t->cpu == 0) {
		GH_EXPECT_EQ(__atomic_load_n(&race_marked, __ATOMIC_RELAXED), RACE_OBJS);
		for (unsigned i = 0; i < RACE_OBJS; i++) {
			GH_EXPECT(race_seen[i]);
			clear_mark(race_obj[i]);
		}
		gh_set_gc_percent(old);
	}
}

/*
 * Asked to flush (gc_mark_done's ask, before the stop that ends a mark),
 * a CPU shades what its write-barrier buffer holds at its next barrier
 * store, and notes that it answered. The mark phase is faked, with the
 * collector's lock held so that no cycle starts or ends meanwhile.
 */
GH_TEST(gcmark, barrier_buffer_flushed_when_asked)
{
	enum { K = 20 };
	int old = collector_off();
	uintptr_t *to = new_targets(K + 2);
	void **slot = (void **)new_words(8);
	GH_ASSERT(to && slot);
	GH_ASSERT(gc_trylock());
	const struct wbbuf *b = &gh_mheap.cpus[gh_port_cpu()].gc.wb;
	uint32_t n0 = b->n;
	__atomic_store_n(&gh_gcs.phase, GC_MARK, __ATOMIC_RELEASE);
	__atomic_store_n(&gh_wb_enabled, true, __ATOMIC_RELAXED);
	for (unsigned i = 0; i <= K; i++) /* each deletes the one before */
		GH_STORE_PTR(slot, (void *)to[i]);
	GH_EXPECT_EQ(b->n, n0 + K);
	GH_EXPECT_EQ(marked_among(to, 0, K), 0);
	uint32_t asked = __atomic_add_fetch(&gh_gcs.flush_asked, 1, __ATOMIC_RELAXED);
	GH_STORE_PTR(slot, (void *)to[K + 1]); /* flushes, then deletes to[K] */
	GH_EXPECT_EQ(b->n, 1);
	GH_EXPECT_EQ(b->flushed, asked);
	GH_EXPECT_EQ(marked_among(to, 0, K), K);
	GH_EXPECT_EQ(marked_among(to, K, K + 2), 0);
	__atomic_store_n(&gh_wb_enabled, false, __ATOMIC_RELAXED);
	__atomic_store_n(&gh_gcs.phase, GC_OFF, __ATOMIC_RELEASE);
	gh_mheap.cpus[gh_port_cpu()].gc.wb.n = 0;
	struct gcwork w = {0}; /* what the flush queued */
	unsigned long irq = gh_port_irq_save();
	while (gh_gcwork_tryget(&w))
		;
	gh_gcwork_dispose(&w);
	gh_port_irq_restore(irq);
	gc_unlock();
	free_targets(to, K + 2);
	clear_mark((uintptr_t)slot);
	gh_set_gc_percent(old);
}
