/*
 * gcdemo.c — what `make run` shows after the self tests ("gcdemo" on the
 * command line): every CPU builds binary trees of collected objects, keeps
 * some in a table and drops the rest, while the collector runs on its own
 * pacing with gctrace on. It ends with a summary of the heap and the pauses.
 */
#include "../alloc/include/goheap.h"
#include "kernel.h"

GH_TYPE(tree_type, struct tree, left, right);

#define KEEP 64 /* trees each CPU keeps */
static struct tree *kept[MAX_CPUS][KEEP];

static struct tree *build(unsigned depth, uint64_t val)
{
	struct tree *t = gh_new(&tree_type);
	if (t && depth) {
		t->val = val;
		GH_STORE_PTR(&t->left, build(depth - 1, 2 * val));
		GH_STORE_PTR(&t->right, build(depth - 1, 2 * val + 1));
	}
	return t;
}

static unsigned count(const struct tree *t)
{
	return t ? 1 + count(t->left) + count(t->right) : 0;
}

static void work(void *arg, unsigned cpu)
{
	unsigned rounds = *(unsigned *)arg;
	uint64_t seed = cpu + 1;
	for (unsigned r = 0; r < rounds; r++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		struct tree *t = build(8 + (unsigned)(seed >> 61), r);
		if (r % 4 == 0) /* a quarter of the trees live on, replacing older ones */
			GH_STORE_PTR(&kept[cpu][(seed >> 33) % KEEP], t);
	}
}

void gcdemo_main(void)
{
	unsigned rounds = 400;
	printk("gcdemo: %u CPUs build and drop binary trees (%u rounds each), gctrace on\n", ncpus,
	       rounds);
	gh_gc_add_root(kept, sizeof(kept));
	unsigned old = gh_gc_set_flags(GH_GC_TRACE);
	uint64_t t0 = time_ns();
	smp_call_all(work, &rounds);
	uint64_t ms = (time_ns() - t0) / 1000000;
	gh_gc_set_flags(old);
	unsigned live = 0;
	for (unsigned c = 0; c < ncpus; c++)
		for (unsigned k = 0; k < KEEP; k++)
			live += count(kept[c][k]);
	struct gh_memstats m;
	gh_read_memstats(&m);
	uint64_t max = 0;
	for (unsigned i = 0; i < 256 && i < m.NumGC; i++)
		max = m.PauseNs[i] > max ? m.PauseNs[i] : max;
	printk("gcdemo: %llu ms, %u trees' nodes reachable\n", (unsigned long long)ms, live);
	printk("gcdemo: memstats: HeapAlloc %llu KiB in %llu objects, HeapInuse %llu KiB, "
	       "NextGC %llu KiB, NumGC %u, PauseTotalNs %llu (longest recent %llu ns), "
	       "GC CPU %u.%u%%\n",
	       (unsigned long long)(m.HeapAlloc / 1024), (unsigned long long)m.HeapObjects,
	       (unsigned long long)(m.HeapInuse / 1024), (unsigned long long)(m.NextGC / 1024),
	       m.NumGC, (unsigned long long)m.PauseTotalNs, (unsigned long long)max,
	       m.GCCPUPermille / 10, m.GCCPUPermille % 10);
	__builtin_memset(kept, 0, sizeof(kept));
	gh_gc_remove_root(kept);
}
