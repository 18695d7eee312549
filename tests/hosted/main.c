/*
 * main.c — the hosted test runner: goheap's test cases in Linux user space,
 * with threads standing in for CPUs. Prints KTAP on standard output; exits
 * 0 when every case passed, 1 otherwise.
 *
 * Environment: GOHEAP_TEST_CPUS (default 4) is how many threads run a
 * per-CPU case at once; GOHEAP_TEST_OPTS holds runner options, as the
 * kernel command line does ("test=fmt demo=fail").
 *
 * "ghtest --settings" starts goheap, prints the collector settings it took
 * from the environment (GOHEAP_GOGC, GOHEAP_MEMLIMIT) and exits: for
 * hosted.settings_from_environment, which runs it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../alloc/hosted/port_hosted.h"
#include "../../alloc/include/goheap.h"
#include "../ghtest.h"

static unsigned cpus = 4;

static void write_out(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(1, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static unsigned ncpu(void)
{
	return cpus;
}

static __thread unsigned my_cpu;

static unsigned this_cpu(void)
{
	return my_cpu;
}

struct worker {
	pthread_t thread;
	pthread_barrier_t *start;
	void (*fn)(void *, unsigned);
	void *arg;
	unsigned cpu;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	my_cpu = w->cpu;
	pthread_barrier_wait(w->start); /* every "CPU" starts at once */
	w->fn(w->arg, w->cpu);
	return NULL;
}

static void run_on_all(void (*fn)(void *, unsigned), void *arg)
{
	struct worker w[64];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, cpus);
	for (unsigned i = 1; i < cpus; i++) {
		w[i] = (struct worker){.start = &start, .fn = fn, .arg = arg, .cpu = i};
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i])) {
			perror("pthread_create");
			exit(2);
		}
	}
	w[0] = (struct worker){.start = &start, .fn = fn, .arg = arg, .cpu = 0};
	worker_main(&w[0]);
	for (unsigned i = 1; i < cpus; i++)
		pthread_join(w[i].thread, NULL);
	pthread_barrier_destroy(&start);
}

static int print_settings(void)
{
	gh_free(gh_malloc(1)); /* goheap starts, reading the environment */
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	printf("settings gogc=%d limit=%llu\n", st.gc_percent, (unsigned long long)st.memory_limit);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--settings"))
		return print_settings();
	const char *n = getenv("GOHEAP_TEST_CPUS");
	if (n && atoi(n) > 0)
		cpus = (unsigned)atoi(n) > 64 ? 64 : (unsigned)atoi(n);
	const char *opts = getenv("GOHEAP_TEST_OPTS");
	gh_hosted_panic_hook = ght_panic_catch;
	gh_hosted_grow = false; /* the cases exhaust a heap of a known size */
	struct ght_runner r = {
	    .name = "hosted",
	    .write = write_out,
	    .ncpu = ncpu,
	    .this_cpu = this_cpu,
	    .run_on_all = run_on_all,
	    .options = opts ? opts : "",
	};
	return ght_run_all(&r) ? 1 : 0;
}
