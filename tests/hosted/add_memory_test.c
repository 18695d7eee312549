/*
 * add_memory_test.c — hosted only: gh_add_memory takes a range far from the
 * heap (a terabyte away) at a cost that does not grow with the distance,
 * serves allocations from it, and refuses overlaps.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../../alloc/hosted/port_hosted.h"
#include "../../alloc/include/goheap.h"
#include "../ghtest.h"

#define TIB (1ull << 40)
#define RANGE (64ull << 20)

GH_TEST(hosted, add_memory_far_away)
{
	void *res;
	size_t res_len;
	gh_hosted_reservation(&res, &res_len);
	/* 1 TiB above or below the reservation, wherever the address space is free. */
	void *far = MAP_FAILED;
#if defined(__SANITIZE_THREAD__)
	GH_SKIP("ThreadSanitizer owns the address space 1 TiB away");
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	GH_SKIP("ThreadSanitizer owns the address space 1 TiB away");
#endif
#endif
	uintptr_t cand[2] = {(uintptr_t)res + res_len + TIB, (uintptr_t)res - TIB - RANGE};
	for (int i = 0; i < 2 && far == MAP_FAILED; i++)
		far =
		    mmap((void *)(cand[i] & ~((uintptr_t)RANGE - 1)), RANGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (far == MAP_FAILED)
		GH_SKIP("no free address space 1 TiB from the reservation");

	struct gh_page_stats a, b;
	gh_page_stats(&a);
	GH_ASSERT_EQ(gh_add_memory((uintptr_t)far, RANGE), 0);
	gh_page_stats(&b);
	uint64_t cost = (b.metadata - a.metadata) + (b.reserved - a.reserved);
	ght_log(t, "added %llu MiB 1 TiB away: %llu MiB managed more, metadata grew by %llu KiB",
		(unsigned long long)(RANGE >> 20),
		(unsigned long long)((b.managed - a.managed) >> 20),
		(unsigned long long)(cost >> 10));
	GH_EXPECT_EQ(b.managed + b.reserved, a.managed + a.reserved + RANGE);
	GH_EXPECT_LT(cost, 1ull << 20); /* not proportional to the terabyte between */

	/* Overlaps are refused, whole or partial. */
	GH_EXPECT_EQ(gh_add_memory((uintptr_t)far, RANGE), -1);
	GH_EXPECT_EQ(gh_add_memory((uintptr_t)far + RANGE / 2, RANGE), -1);
	GH_EXPECT_EQ(gh_add_memory((uintptr_t)res, 1 << 20), -1);

	/* Exhaust the heap: the new range is used, and its pages work. */
	static void *held[4096];
	unsigned n = 0;
	bool used_far = false;
	while (n < 4096 && (held[n] = gh_page_alloc(512, 0)) != NULL) {
		if ((uintptr_t)held[n] >= (uintptr_t)far &&
		    (uintptr_t)held[n] < (uintptr_t)far + RANGE) {
			used_far = true;
			*(volatile uint64_t *)held[n] = 42;
		}
		n++;
	}
	GH_EXPECT(used_far);
	for (unsigned i = 0; i < n; i++)
		gh_page_free(held[i], 512);
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
