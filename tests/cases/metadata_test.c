/*
 * metadata_test.c — goheap's metadata allocators in both runners:
 * persistentalloc honours every power-of-two alignment and returns zeroed,
 * disjoint blocks from any CPU; fixalloc reuses freed records first.
 */
#include "../../alloc/mheap.h"
#include "../ghtest.h"

GH_TEST(metadata, persistentalloc_alignment)
{
	uintptr_t prev = 0;
	for (size_t align = 1; align <= (size_t)1 << 16; align <<= 1) {
		for (size_t size = 1; size <= 4096; size = size * 3 + 1) {
			uint8_t *p = gh_persistentalloc(size, align);
			GH_ASSERT(p != NULL);
			GH_EXPECT_EQ((uintptr_t)p & (align - 1), 0);
			bool zero = true;
			for (size_t i = 0; i < size; i++)
				zero &= p[i] == 0;
			GH_EXPECT(zero);
			__builtin_memset(p, 0xee, size);
			GH_EXPECT_NE((uintptr_t)p, prev);
			prev = (uintptr_t)p;
		}
	}
	/* Larger than a chunk: a run of its own. */
	uint8_t *big = gh_persistentalloc(PERSISTENT_CHUNK * 2, 4096);
	GH_ASSERT(big != NULL);
	GH_EXPECT_EQ((uintptr_t)big & 4095, 0);
	GH_EXPECT_EQ(big[PERSISTENT_CHUNK * 2 - 1], 0);
}

/* Every CPU at once: the blocks never overlap (each stamps its own). */
GH_TEST_PERCPU(metadata, persistentalloc_every_cpu)
{
	uint64_t *p[256];
	for (int i = 0; i < 256; i++) {
		p[i] = gh_persistentalloc(64, 64);
		GH_ASSERT(p[i] != NULL);
		for (int w = 0; w < 8; w++)
			p[i][w] = (uint64_t)t->cpu << 32 | (uint64_t)i;
	}
	for (int i = 0; i < 256; i++)
		for (int w = 0; w < 8; w++)
			GH_ASSERT_EQ(p[i][w], (uint64_t)t->cpu << 32 | (uint64_t)i);
}

GH_TEST(metadata, fixalloc_reuses)
{
	struct fixalloc f;
	gh_fixalloc_init(&f, 40);
	unsigned long cookie = gh_lock(&gh_mheap.lock);
	void *a = gh_fixalloc_alloc(&f), *b = gh_fixalloc_alloc(&f);
	bool distinct = a && b && (uintptr_t)b - (uintptr_t)a >= 40;
	uint64_t inuse2 = f.inuse;
	gh_fixalloc_free(&f, a);
	void *c = gh_fixalloc_alloc(&f);
	uint64_t sys = f.sys;
	for (int i = 0; i < 1000; i++) /* several 16 KiB chunks */
		gh_fixalloc_alloc(&f);
	gh_unlock(&gh_mheap.lock, cookie);
	GH_EXPECT(distinct);
	GH_EXPECT_EQ(inuse2, 80);
	GH_EXPECT_EQ(c, a); /* the freed record first */
	GH_EXPECT_EQ(sys, FIXALLOC_CHUNK);
	GH_EXPECT_EQ(f.inuse, 1002 * 40);
	GH_EXPECT_GE(f.sys, f.inuse);
}

/* goheap's own metadata pages are not page allocations: freeing one is
 * reported, and the heap still checks out. */
GH_TEST(metadata, freeing_metadata_is_reported)
{
	uintptr_t m = (uintptr_t)gh_persistentalloc(64, 64);
	GH_ASSERT(m != 0);
	void *page = (void *)(m & ~(uintptr_t)(GH_PAGE_SIZE - 1));
	struct mspan *s = gh_span_of((uintptr_t)page);
	if (s != &gh_meta_span)
		GH_SKIP("this CPU's metadata chunk was carved at gh_init, not taken from the heap");
	GH_EXPECT_PANIC(gh_page_free(page, 1), "goheap keeps its own metadata there");
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
