/*
 * scavenger_test.c — hosted only: between cycles the mark thread gives free
 * memory beyond the retained goal back to the host (Go's background
 * scavenger), a slice every 100 ms for as long as there is some.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../../alloc/include/goheap.h"
#include "../../alloc/port.h"
#include "../ghtest.h"

GH_TEST(hosted, scavenger_returns_free_memory)
{
	enum { BIG = 64 << 20, WANT = 32 << 20 };
	struct gh_page_stats a, b;
	char *p = gh_malloc(BIG);
	GH_ASSERT(p != NULL);
	memset(p, 1, BIG); /* touched: the host backs it */
	gh_page_stats(&a);
	gh_free(p);
	gh_gc(); /* the mark thread runs, and goes on to scavenge */
	uint64_t end = gh_port_nanotime() + 10000000000ull;
	do {
		nanosleep(&(struct timespec){0, 20000000}, NULL);
		gh_page_stats(&b);
	} while (b.released < a.released + WANT && gh_port_nanotime() < end);
	ght_log(t, "released %llu MiB of the %d MiB freed",
		(unsigned long long)((b.released - a.released) >> 20), BIG >> 20);
	GH_EXPECT_GE(b.released, a.released + WANT);
}

/* A thread that releases free pages a run at a time until none is left
 * beyond the goal, counting the runs. */
static unsigned released_runs, release_done;

static void *release_all(void *arg)
{
	(void)arg;
	while (gh_scavenge_work(64) != 0)
		__atomic_fetch_add(&released_runs, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&release_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Pages the scavenger holds while it releases them (taken out of the page
 * allocator, handed to the host, then put back) are free pages: the page
 * heap's figures never count them in use. One thread releases every free
 * page, 64 MiB of them dirty, while this one reads the figures.
 */
GH_TEST(hosted, pages_being_released_are_not_in_use)
{
	enum { RUN = 8192 }; /* 64 MiB */
	gh_gc(); /* no sweeping left to change the figures */
	void *p = gh_page_alloc(RUN, 0);
	GH_ASSERT(p != NULL);
	memset(p, 1, (size_t)RUN * GH_PAGE_SIZE);
	gh_page_free(p, RUN);
	struct gh_page_stats s;
	gh_page_stats(&s);
	uint64_t lo = s.in_use, hi = s.in_use, samples = 0;
	__atomic_store_n(&released_runs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&release_done, 0, __ATOMIC_RELAXED);
	gh_set_scavenge_goal(0);
	pthread_t thread;
	GH_ASSERT_EQ(pthread_create(&thread, NULL, release_all, NULL), 0);
	while (!__atomic_load_n(&release_done, __ATOMIC_ACQUIRE)) {
		gh_page_stats(&s);
		lo = s.in_use < lo ? s.in_use : lo;
		hi = s.in_use > hi ? s.in_use : hi;
		samples++;
	}
	pthread_join(thread, NULL);
	gh_set_scavenge_goal(~(uint64_t)0);
	ght_log(t, "%llu readings while %u runs were released", (unsigned long long)samples,
		released_runs);
	GH_EXPECT_GE(released_runs, RUN / 64);
	GH_EXPECT_EQ(hi, lo);
}
