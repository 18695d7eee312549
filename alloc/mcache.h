/*
 * mcache.h — per-CPU object caches (Go's mcache.go) and the central span
 * sets they refill from (mcentral.go, mspanset.go).
 *
 * A CPU owns the spans its mcache holds: the current span of every span
 * class, and at most one more per class that it took over to free into.
 * It allocates from and frees into spans it owns with plain loads and
 * stores, interrupts off. mspan.c has the ownership protocol.
 */
#ifndef GOHEAP_MCACHE_H
#define GOHEAP_MCACHE_H

#include "lfstack.h"

struct mspan;

/*
 * The spans of one span class that no CPU owns and that have free objects
 * (Go's mcentral), in a lock-free stack linked through mspan.next.
 *
 * Go's spanSet is an array of blocks indexed by head and tail counters, reset
 * while the world is stopped for the collector. gh_malloc's spans move
 * between CPUs without the world ever stopping, so the set is a stack of the
 * span records themselves (lfstack.h).
 */
struct mcentral {
	struct lfstack partial;
} __attribute__((aligned(64)));

struct mcache {
	/* The span each class allocates from; gh_empty_span when none, so that
	 * the fast path needs no NULL check. */
	struct mspan *alloc[NUM_SPANCLASSES];
	/* A full span this CPU took over to free into (NULL when none). */
	struct mspan *freeing[NUM_SPANCLASSES];
	/* Objects allocated and freed on this CPU, by span class (class 0:
	 * large objects), and the bytes of large ones. */
	uint64_t nmalloc[NUM_SPANCLASSES], nfree[NUM_SPANCLASSES];
	uint64_t large_alloc_bytes, large_free_bytes;
};

extern struct mspan gh_empty_span;

#endif
