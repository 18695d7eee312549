/*
 * page_test.c — gh_page_alloc / gh_page_free on the running heap, in both
 * runners: alignment and zeroing, every kind of misuse reported with its
 * reason (and nothing lost), all CPUs allocating at once without a page ever
 * handed out twice, and exhaustion that returns NULL and recovers fully.
 */
#include "../../alloc/include/goheap.h"
#include "../ghtest.h"

#define PAGE GH_PAGE_SIZE

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool all_bytes(const void *p, size_t n, uint8_t v)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

GH_TEST(page, alloc_free_sizes)
{
	struct gh_page_stats before, during;
	gh_page_stats(&before);
	void *p[40];
	for (size_t n = 1; n <= 40; n++) {
		p[n - 1] = gh_page_alloc(n, 0);
		GH_ASSERT(p[n - 1] != NULL);
		GH_EXPECT_EQ((uintptr_t)p[n - 1] % PAGE, 0);
		__builtin_memset(p[n - 1], (int)n, n * PAGE); /* the whole run is usable */
	}
	gh_page_stats(&during);
	GH_EXPECT_EQ(during.page_allocs - before.page_allocs, 40);
	GH_EXPECT_EQ(during.managed, during.in_use + during.free + during.cached);
	for (size_t n = 1; n <= 40; n++) {
		GH_EXPECT(all_bytes(p[n - 1], n * PAGE, (uint8_t)n));
		gh_page_free(p[n - 1], n);
	}
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(page, zeroed_on_request)
{
	for (int round = 0; round < 8; round++) {
		size_t n = 1 + (size_t)round * 5;
		uint8_t *p = gh_page_alloc(n, 0);
		GH_ASSERT(p != NULL);
		__builtin_memset(p, 0xab, n * PAGE);
		gh_page_free(p, n);
		uint8_t *q = gh_page_alloc(n, GH_PAGE_ZERO);
		GH_ASSERT(q != NULL);
		GH_EXPECT(all_bytes(q, n * PAGE, 0));
		gh_page_free(q, n);
	}
}

GH_TEST(page, aligned_runs)
{
	for (unsigned log2 = 13; log2 <= 23; log2++) {
		for (size_t n = 1; n <= 9; n += 4) {
			void *p = gh_page_alloc(n, GH_PAGE_ALIGN(log2));
			GH_ASSERT(p != NULL);
			GH_EXPECT_EQ((uintptr_t)p & (((uintptr_t)1 << log2) - 1), 0);
			gh_page_free(p, n);
		}
	}
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

GH_TEST(page, refuses_nonsense)
{
	GH_EXPECT(gh_page_alloc(0, 0) == NULL);
	GH_EXPECT(gh_page_alloc((size_t)1 << 40, 0) == NULL); /* 8 PiB */
	GH_EXPECT(gh_page_alloc(~(size_t)0, 0) == NULL);
}

/* Each misuse is reported with the address and the reason, before anything
 * changes: the heap checks out afterwards and the run can still be freed. */
GH_TEST(page, misuse_is_reported)
{
	static uint64_t not_heap[GH_PAGE_SIZE / 8] __attribute__((aligned(GH_PAGE_SIZE)));
	char *p = gh_page_alloc(3, 0);
	GH_ASSERT(p != NULL);
	GH_EXPECT_PANIC(gh_page_free(p + PAGE, 2), "inside a page allocation");
	GH_EXPECT_PANIC(gh_page_free(p, 2), "the run has 3 pages");
	GH_EXPECT_PANIC(gh_page_free(p + 8, 3), "not page aligned");
	GH_EXPECT_PANIC(gh_page_free(not_heap, 1), "not memory goheap manages");
	GH_EXPECT_EQ(gh_heap_check(), 0);
	gh_page_free(p, 3);
	GH_EXPECT_PANIC(gh_page_free(p, 3), "double free");
	GH_EXPECT_PANIC(gh_page_free(p + PAGE, 1), "not the start of a page allocation");
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

/* The message names the address. */
GH_TEST(page, misuse_names_the_address)
{
	char *p = gh_page_alloc(2, 0);
	GH_ASSERT(p != NULL);
	char want[32] = "gh_page_free(0x";
	static const char hex[] = "0123456789abcdef";
	uintptr_t a = (uintptr_t)(p + PAGE);
	int digits = 0;
	for (uintptr_t v = a; v; v >>= 4)
		digits++;
	for (int i = 0; i < digits; i++)
		want[15 + i] = hex[(a >> (4 * (digits - 1 - i))) & 15];
	want[15 + digits] = '\0';
	GH_EXPECT_PANIC(gh_page_free(p + PAGE, 1), want);
	gh_page_free(p, 2);
}

#define STORM_SLOTS 48
#define STORM_OPS 1500

struct storm_slot {
	uint64_t *p;
	size_t n;
	uint64_t tag;
};

/* Every CPU allocates and frees runs of 1..24 pages at once, stamping each
 * page's first and last word with its own tag; a page handed out twice shows
 * up as a foreign tag. */
GH_TEST_PERCPU(page, all_cpus_at_once)
{
	struct storm_slot slot[STORM_SLOTS] = {{0}};
	uint64_t rng = 0x9e3779b97f4a7c15ull * (t->cpu + 1), seq = 0;
	for (int op = 0; op < STORM_OPS; op++) {
		struct storm_slot *s = &slot[rng_next(&rng) % STORM_SLOTS];
		if (s->p) {
			for (size_t i = 0; i < s->n; i++) {
				uint64_t *page = s->p + i * (PAGE / 8);
				GH_ASSERT_EQ(page[0], s->tag);
				GH_ASSERT_EQ(page[PAGE / 8 - 1], s->tag);
			}
			gh_page_free(s->p, s->n);
			s->p = NULL;
			continue;
		}
		s->n = 1 + rng_next(&rng) % 24;
		s->p = gh_page_alloc(s->n, 0);
		GH_ASSERT(s->p != NULL);
		s->tag = (uint64_t)t->cpu << 48 | ++seq;
		for (size_t i = 0; i < s->n; i++) {
			uint64_t *page = s->p + i * (PAGE / 8);
			page[0] = page[PAGE / 8 - 1] = s->tag;
		}
	}
	for (int i = 0; i < STORM_SLOTS; i++)
		if (slot[i].p)
			gh_page_free(slot[i].p, slot[i].n);
}

GH_TEST(page, heap_checks_out_after_storm)
{
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

#define HOLD 8192

/* Allocate until NULL (large runs, then single pages), free everything, and
 * again: every round holds the same amount, and the heap returns to where it
 * was. Pages are not touched, so this is cheap even hosted. */
GH_TEST(page, exhaustion_and_recovery)
{
	static void *held[HOLD];
	static size_t len[HOLD];
	struct gh_page_stats base, after;
	gh_page_stats(&base);
	uint64_t first = 0;
	for (int round = 0; round < 5; round++) {
		unsigned n = 0;
		uint64_t bytes = 0;
		for (size_t run = 512; run >= 1; run /= 8) {
			while (n < HOLD) {
				void *p = gh_page_alloc(run, 0);
				if (!p)
					break;
				held[n] = p, len[n++] = run;
				bytes += run * PAGE;
			}
		}
		GH_ASSERT(n < HOLD);
		GH_EXPECT(gh_page_alloc(1, 0) == NULL);
		for (unsigned i = 0; i < n; i++)
			gh_page_free(held[i], len[i]);
		if (round == 0)
			first = bytes;
		GH_EXPECT_EQ(bytes, first);
		gh_page_stats(&after);
		GH_EXPECT_EQ(after.in_use, base.in_use);
	}
	ght_log(t, "held %llu MiB at exhaustion", (unsigned long long)(first >> 20));
	GH_EXPECT_EQ(gh_heap_check(), 0);
}

/* Free memory beyond the goal goes back to the port and comes back in use
 * (zeroed when asked) without being lost; the background form is bounded.
 * The goal retains everything meanwhile, so that a port's own background
 * scavenger (an idle CPU, the hosted mark thread) releases nothing between
 * the figures compared. */
GH_TEST(page, scavenger_releases_and_reuses)
{
	enum { RUN = 512 }; /* 4 MiB */
	gh_set_scavenge_goal(GHT_RETAIN_ALL_FREE);
	uint8_t *p = gh_page_alloc(RUN, 0);
	GH_ASSERT(p != NULL);
	__builtin_memset(p, 0x5a, (size_t)RUN * PAGE);
	gh_page_free(p, RUN);
	struct gh_page_stats a, b, c;
	gh_page_stats(&a);
	size_t got = gh_scavenge((size_t)64 << 20);
	gh_page_stats(&b);
	GH_EXPECT_GT(got, 0);
	GH_EXPECT_EQ(b.released - a.released, got);
	GH_EXPECT_EQ(b.free, a.free); /* released pages are still free */
	GH_EXPECT_EQ(gh_heap_check(), 0);

	/* Bounded background work, then none once the goal is met. */
	gh_set_scavenge_goal(0);
	GH_EXPECT_LE(gh_scavenge_work(16), 16);
	gh_set_scavenge_goal(GHT_RETAIN_ALL_FREE); /* retain everything */
	GH_EXPECT_EQ(gh_scavenge_work(16), 0);

	/* Using all memory again (without touching it) reuses released pages. */
	static void *held[8192];
	unsigned n = 0;
	while (n < 8192 && (held[n] = gh_page_alloc(RUN, 0)) != NULL)
		n++;
	gh_page_stats(&c);
	GH_EXPECT_LT(c.released, b.released);
	for (unsigned i = 0; i < n; i++)
		gh_page_free(held[i], RUN);

	/* With every free page released, zeroed runs read zero whether the port
	 * zeroes released pages (no memset needed) or keeps their data; dirty
	 * runs freed again must be zeroed next time. */
	gh_scavenge(~(size_t)0);
	for (int round = 0; round < 4; round++) {
		uint8_t *q = gh_page_alloc(RUN, GH_PAGE_ZERO);
		GH_ASSERT(q != NULL);
		for (size_t pg = 0; pg < RUN; pg += RUN / 4 - 1)
			GH_EXPECT(all_bytes(q + pg * PAGE, PAGE, 0));
		__builtin_memset(q, 0x77, (size_t)RUN * PAGE);
		gh_page_free(q, RUN);
	}
	gh_set_scavenge_goal(~(uint64_t)0);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
