/*
 * scavenger_test.c — hosted only: between cycles the mark thread gives free
 * memory beyond the retained goal back to the host (Go's background
 * scavenger), a slice every 100 ms for as long as there is some.
 */
#define _GNU_SOURCE
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
