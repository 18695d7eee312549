/*
 * scavenge_test.c — in the reference kernel, an idle CPU runs the scavenger
 * in bounded slices (goheap_idle): with the goal at zero, released memory
 * grows by at most one slice a second while the test waits.
 */
#include "../../alloc/include/goheap.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

GH_TEST(scavenge, idle_cpu_releases_in_slices)
{
	if (ncpus < 2)
		GH_SKIP("needs an idle CPU");
	/* Work of its own: 16 MiB of free, unreleased pages (earlier cases may
	 * have released everything else). */
	void *dirty = gh_page_alloc(4 * 512, 0);
	GH_ASSERT(dirty != NULL);
	gh_page_free(dirty, 4 * 512);
	struct gh_page_stats a, b;
	gh_page_stats(&a);
	gh_set_scavenge_goal(0);
	uint64_t end = time_ns() + 2500000000ull; /* at least two slices */
	do {
		udelay(100000);
		gh_page_stats(&b);
	} while (time_ns() < end && b.released - a.released < 2 * 512 * GH_PAGE_SIZE);
	gh_set_scavenge_goal(~(uint64_t)0);
	uint64_t slices = (b.released - a.released) / (512 * GH_PAGE_SIZE);
	ght_log(t, "released %llu KiB in the background",
		(unsigned long long)((b.released - a.released) >> 10));
	GH_EXPECT_GE(slices, 1);
	GH_EXPECT_LE(b.released - a.released, 4ull * 512 * GH_PAGE_SIZE); /* bounded */
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
