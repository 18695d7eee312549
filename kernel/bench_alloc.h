/*
 * bench_alloc.h — the allocators make bench-kernel compares, and how one
 * workload (tests/bench/workload.h) is run on every CPU of the reference
 * kernel.
 *
 *   goheap    gh_malloc / gh_free / gh_realloc
 *   firstfit  one global free list of blocks with boundary tags, first fit,
 *             coalescing on free, one global spinlock
 *   pow2      power-of-two buckets 16 B .. 1 MiB, each a free list, pages
 *             from a bitmap, larger requests as whole pages, one global
 *             spinlock
 *
 * The two baselines manage a region the caller took from goheap with
 * gh_page_alloc; each run starts them afresh over that region.
 */
#ifndef GOHEAP_KERNEL_BENCH_ALLOC_H
#define GOHEAP_KERNEL_BENCH_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "../tests/bench/workload.h"

struct bench_allocator {
	struct wl_alloc a;
	/* Start afresh over [base, base + bytes) (NULL for goheap). */
	void (*reset)(void *base, size_t bytes);
};

enum { BENCH_NALLOC = 3 };
extern const struct bench_allocator bench_allocators[BENCH_NALLOC]; /* goheap first */

/* The baselines: reset over a region, then the malloc family. The region's
 * base must be 16-byte aligned. */
void firstfit_reset(void *base, size_t bytes);
void *firstfit_malloc(size_t size);
void firstfit_free(void *p);
void *firstfit_realloc(void *p, size_t size);
void pow2_reset(void *base, size_t bytes);
void *pow2_malloc(size_t size);
void pow2_free(void *p);
void *pow2_realloc(void *p, size_t size);

/* Run workload w at the given scale with allocator ba on CPUs
 * 0..workers-1 at once (all CPUs when workers is 0 or more than there are),
 * after resetting a baseline over region; the result goes to *r. A broken
 * invariant the workload reports panics, naming both. */
void bench_run(const struct bench_allocator *ba, const struct workload *w, unsigned scale,
	       unsigned workers, void *region, size_t region_bytes, struct wl_result *r);

/* The baselines' global lock: test-and-set (false, the default) or the
 * kernel's ticket spinlock (true); see bench_alloc.c. */
extern bool bench_ticket_lock;

/* Give back every CPU's goheap caches (before gh_heap_check). */
void bench_flush_all_cpus(void);

#endif
