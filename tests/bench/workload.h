/*
 * workload.h — allocation workloads written once and run in two places:
 * hosted (tests/bench/, any malloc through LD_PRELOAD, threads) and inside
 * the reference kernel (make bench-kernel: goheap and two baseline
 * allocators, one run per CPU count).
 *
 * The workloads are freestanding C: they use nothing but this header,
 * <stdint.h>, <stddef.h> and <stdbool.h>. Everything else comes from the
 * environment a driver provides. They re-implement, from their published
 * descriptions, the workloads of mimalloc-bench (glibc-simple, glibc-thread,
 * larson, xmalloc-test, cache-scratch, cache-thrash, alloc-test, mstress,
 * rptest, malloc-large).
 */
#ifndef GOHEAP_BENCH_WORKLOAD_H
#define GOHEAP_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The allocator under test. realloc may be NULL (the workload then frees
 * and allocates instead). */
struct wl_alloc {
	const char *name;
	void *(*malloc)(size_t size);
	void (*free)(void *p);
	void *(*realloc)(void *p, size_t size);
};

/* What the driver provides. */
struct wl_env {
	unsigned nthreads; /* workers that run at once: threads, or CPUs */
	/* Run fn(arg, i) for i in 0..nthreads-1, each on its own thread or
	 * CPU, all at once; return when all have returned. */
	void (*run_on_all)(void (*fn)(void *arg, unsigned i), void *arg);
	/* A clock for the whole run: ns hosted, TSC cycles in the kernel. */
	uint64_t (*now)(void);
	/* Report a broken invariant (an object's contents changed while it was
	 * live): the driver fails the run with msg. Does not return. */
	void (*fail)(const char *msg);
};

/* One run's outcome: operations done (mallocs + frees + reallocs), and the
 * clock ticks they took; the driver reports ticks per operation. */
struct wl_result {
	uint64_t ops;
	uint64_t ticks;
};

/* A workload at a scale: 1 is the smoke size (make test, well under a
 * second), larger scales multiply the work (the benchmark uses
 * WL_SCALE_BENCH). */
#define WL_SCALE_SMOKE 1
#define WL_SCALE_BENCH 100

struct workload {
	const char *name;    /* "larson", ... (mimalloc-bench's name) */
	const char *summary; /* one line: what it exercises */
	void (*run)(const struct wl_alloc *a, const struct wl_env *env, unsigned scale,
		    struct wl_result *r);
};

/* Every workload, ending with {NULL}. */
extern const struct workload wl_all[];

#endif
