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

#define PAGE GH_PAGE_SIZE

/* n words, each of which may hold a pointer */
static const gh_type word = {8, 8, NULL, "word"};
static uint8_t *new_words(size_t bytes)
{
	return gh_new_array(&word, bytes / 8);
}

/* These cases mark by hand: no cycle may run meanwhile. */
static int collector_off(void)
{
	int old = gh_set_gc_percent(-1);
	gh_gc(); /* ends one that runs */
	return old;
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
	while (!__atomic_load_n(&race_ready, __ATOMIC_ACQUIRE))
		;
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
	while (__atomic_load_n(&race_done, __ATOMIC_ACQUIRE) < t->ncpu)
		;
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
