/*
 * workloads_main.c — runs one workload of workloads.c (tests/bench/workload.h)
 * in user space, through the C library's malloc, free and realloc, so the
 * allocator is whatever LD_PRELOAD puts in. Workers are pthreads (fresh ones
 * for every run_on_all), the clock is CLOCK_MONOTONIC in ns.
 *
 *   workloads NAME THREADS SCALE   -> "wl NAME THREADS ns_per_op X"
 *                                     "wl NAME THREADS ops N"
 *                                     "wl NAME THREADS peak_rss_kib Y" (VmHWM)
 *   workloads list                 -> every workload's name and summary
 *
 * SCALE 1 is the smoke size (make test), 100 the benchmark's (make bench).
 * A broken object (an allocator handing out memory twice) prints
 * "workloads: NAME: FAILED: ..." on stderr and exits with status 2.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload.h"

#include "peak_rss.h"

static const char *current = "?";
static unsigned nthreads;

static void *lib_malloc(size_t n)
{
	return malloc(n);
}

static void lib_free(void *p)
{
	free(p);
}

static void *lib_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

static const struct wl_alloc libc_alloc = {"libc", lib_malloc, lib_free, lib_realloc};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __attribute__((noreturn)) void fail(const char *msg)
{
	fprintf(stderr, "workloads: %s: FAILED: %s\n", current, msg);
	fflush(stdout);
	exit(2);
}

struct job {
	pthread_t tid;
	void (*fn)(void *arg, unsigned i);
	void *arg;
	unsigned i;
};

static void *job_main(void *p)
{
	struct job *j = p;
	j->fn(j->arg, j->i);
	return NULL;
}

static void run_on_all(void (*fn)(void *arg, unsigned i), void *arg)
{
	struct job *jobs = calloc(nthreads, sizeof(*jobs));
	if (!jobs)
		fail("out of memory for the threads");
	for (unsigned i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){.fn = fn, .arg = arg, .i = i};
		if (pthread_create(&jobs[i].tid, NULL, job_main, &jobs[i]))
			fail("pthread_create failed");
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(jobs[i].tid, NULL);
	free(jobs);
}

static unsigned number(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v == 0 || v > 4096) {
		fprintf(stderr, "workloads: bad %s '%s'\n", what, s);
		exit(1);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list")) {
		for (const struct workload *w = wl_all; w->name; w++)
			printf("%s\t%s\n", w->name, w->summary);
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: workloads NAME THREADS SCALE | workloads list\n");
		return 1;
	}
	const struct workload *w = wl_all;
	while (w->name && strcmp(w->name, argv[1]))
		w++;
	if (!w->name) {
		fprintf(stderr, "workloads: no workload '%s' (workloads list)\n", argv[1]);
		return 1;
	}
	current = w->name;
	nthreads = number(argv[2], "thread count");
	unsigned scale = number(argv[3], "scale");
	struct wl_env env = {nthreads, run_on_all, now_ns, fail};
	struct wl_result r = {0, 0};
	w->run(&libc_alloc, &env, scale, &r);
	if (!r.ops)
		fail("no operations counted");
	printf("wl %s %u ns_per_op %.3f\n", w->name, nthreads, (double)r.ticks / (double)r.ops);
	printf("wl %s %u ops %llu\n", w->name, nthreads, (unsigned long long)r.ops);
	printf("wl %s %u peak_rss_kib %ld\n", w->name, nthreads, peak_rss_kib());
	return 0;
}
