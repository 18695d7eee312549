/*
 * pageheap.c — benchmarks of goheap's page heap (hosted).
 *
 *   build/bench/pageheap [rounds]
 *
 * 1. One-page alloc+free pairs through gh_page_alloc/gh_page_free (served by
 *    the per-CPU page cache) and straight through the page allocator under
 *    the heap lock (no cache), in nanoseconds per pair.
 * 2. Random runs of 1..512 pages allocated and freed in a page allocator
 *    managing 1, 4, 16 and 64 GiB, kept half full: nanoseconds per
 *    operation, to see that the radix search stays flat as memory grows.
 *    These managers work on address space only (nothing is touched), with
 *    their metadata from the running goheap.
 *
 * Each figure is the median of several rounds, with the spread (min..max).
 * Timings on shared machines are noisy: compare the ratios within one run.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../alloc/include/goheap.h"
#include "../../alloc/mheap.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double median, min, max;
};

static struct result summarize(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return (struct result){v[n / 2], v[0], v[n - 1]};
}

#define PAIRS 2000000

static double pairs_cached(void)
{
	double t0 = now_ns();
	for (int i = 0; i < PAIRS; i++) {
		void *p = gh_page_alloc(1, 0);
		gh_page_free(p, 1);
	}
	return (now_ns() - t0) / PAIRS;
}

static double pairs_uncached(void)
{
	struct mheap *h = &gh_mheap;
	double t0 = now_ns();
	for (int i = 0; i < PAIRS; i++) {
		uintptr_t scav;
		unsigned long c = gh_lock(&h->lock);
		uintptr_t p = gh_pagealloc_alloc(&h->pages, 1, &scav);
		gh_pagealloc_free(&h->pages, p, 1);
		gh_unlock(&h->lock, c);
	}
	return (now_ns() - t0) / PAIRS;
}

/* Metadata for the benchmark's own page allocators. */
static void *bench_sysalloc(void *ctx, size_t bytes)
{
	(void)ctx;
	void *p = gh_persistentalloc(bytes, 64);
	if (!p) {
		fprintf(stderr, "pageheap: out of metadata\n");
		exit(1);
	}
	return p;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define LIVE 256 /* runs that come and go: about 32 MiB, the same at every size */
#define OPS 200000

/*
 * A page allocator of any size filled to half with random runs, every other
 * one then freed (so the free space is fragmented all the way up), then
 * OPS random allocations and frees of 1..512 pages among LIVE slots.
 */
static double random_runs(struct pagealloc *p)
{
	static uintptr_t base[LIVE], len[LIVE];
	uintptr_t scav, nfill = 0, cap = p->managed_pages / 128 + 16;
	uintptr_t *fill = malloc(cap * 2 * sizeof(*fill));
	for (uint64_t used = 0; used < p->managed_pages / 2 && nfill < cap;) {
		uintptr_t np = 1 + next_rand() % 512, a = gh_pagealloc_alloc(p, np, &scav);
		if (!a)
			break;
		fill[2 * nfill] = a, fill[2 * nfill + 1] = np, nfill++;
		used += np;
	}
	for (uintptr_t i = 0; i < nfill; i += 2)
		gh_pagealloc_free(p, fill[2 * i], fill[2 * i + 1]);
	free(fill);
	for (int i = 0; i < LIVE; i++)
		base[i] = 0;
	double t0 = now_ns();
	for (int op = 0; op < OPS; op++) {
		int k = (int)(next_rand() % LIVE);
		if (base[k]) {
			gh_pagealloc_free(p, base[k], len[k]);
			base[k] = 0;
		} else {
			len[k] = 1 + next_rand() % 512;
			base[k] = gh_pagealloc_alloc(p, len[k], &scav);
		}
	}
	return (now_ns() - t0) / OPS;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	if (rounds < 1 || rounds > 64)
		rounds = 5;
	double v[64] = {0};
	gh_page_free(gh_page_alloc(1, 0), 1); /* start goheap */

	printf("| benchmark | median | spread |\n|---|---|---|\n");
	for (int r = 0; r < rounds; r++)
		v[r] = pairs_cached();
	struct result cached = summarize(v, rounds);
	printf("| 1-page alloc+free, page cache | %.1f ns | %.1f..%.1f |\n", cached.median,
	       cached.min, cached.max);
	for (int r = 0; r < rounds; r++)
		v[r] = pairs_uncached();
	struct result uncached = summarize(v, rounds);
	printf("| 1-page alloc+free, page allocator under the lock | %.1f ns | %.1f..%.1f |\n",
	       uncached.median, uncached.min, uncached.max);

	static const unsigned gib[] = {1, 4, 16, 64};
	double first = 0, meta[4] = {0};
	for (unsigned g = 0; g < sizeof(gib) / sizeof(gib[0]); g++) {
		for (int r = 0; r < rounds; r++) {
			struct pagealloc p;
			gh_pagealloc_init(&p, bench_sysalloc, NULL);
			/* An address range no one uses: only the metadata is touched. */
			uintptr_t base = (uintptr_t)0x200000000000ull + ((uintptr_t)g << 40);
			gh_pagealloc_grow(&p, base, (uintptr_t)gib[g] << 30);
			meta[g] =
			    100.0 * (double)p.metadata_bytes / (double)((uintptr_t)gib[g] << 30);
			v[r] = random_runs(&p);
		}
		struct result res = summarize(v, rounds);
		if (g == 0)
			first = res.median;
		printf("| random 1..512-page runs, %u GiB managed | %.1f ns/op (x%.2f of 1 GiB) "
		       "| %.1f..%.1f |\n",
		       gib[g], res.median, res.median / first, res.min, res.max);
	}
	printf("\npage allocator metadata:");
	for (unsigned g = 0; g < 4; g++)
		printf(" %u GiB %.4f%%%s", gib[g], meta[g], g < 3 ? "," : "\n");
	return 0;
}
