/*
 * bench_smoke_test.c — make bench-kernel cannot rot: every workload of
 * tests/bench/workloads.c runs at the smoke scale on two CPUs at once (one
 * on -smp 1) with each allocator of kernel/bench_alloc.c, does some work,
 * and leaves goheap's heap consistent. A workload that finds an object changed while
 * it was live panics the kernel, naming the workload and the allocator.
 */
#include "../../kernel/bench_alloc.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

/* The baselines' region: the smoke scale keeps far less than this live. */
#define SMOKE_REGION (64 * MiB)
/* Workers (CPUs 0 and 1; the others idle). More would be slow for no gain
 * under QEMU on a 2-core host: vCPUs beyond the host's cores wait for each
 * other's time slices in every lock handoff (see kernel/bench_alloc.c). */
#define SMOKE_WORKERS 2

GH_TEST(bench, workloads_smoke)
{
	size_t npages = SMOKE_REGION / GH_PAGE_SIZE;
	void *region = gh_page_alloc(npages, 0);
	GH_ASSERT(region != NULL);
	unsigned n = 0;
	for (const struct workload *w = wl_all; w->name; w++, n++) {
		uint64_t ops[BENCH_NALLOC];
		for (unsigned k = 0; k < BENCH_NALLOC; k++) {
			const struct bench_allocator *ba = &bench_allocators[k];
			struct wl_result r;
			bench_run(ba, w, WL_SCALE_SMOKE, SMOKE_WORKERS, region, SMOKE_REGION, &r);
			ops[k] = r.ops;
			if (!r.ops)
				ght_fail(t, __FILE__, __LINE__, "%s under %s: no operations",
					 w->name, ba->a.name);
		}
		ght_log(t, "%s: %llu ops (goheap), %llu (firstfit), %llu (pow2)", w->name,
			(unsigned long long)ops[0], (unsigned long long)ops[1],
			(unsigned long long)ops[2]);
	}
	GH_EXPECT_GT(n, 0);
	gh_page_free(region, npages);
	bench_flush_all_cpus();
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
