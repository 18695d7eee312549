/*
 * lfstack.h — a lock-free stack of records (Go's lfstack.go), the one list
 * structure goheap shares between CPUs without a lock: mcentral's span sets
 * and the collector's work buffers.
 *
 * Records are linked through a 64-bit word inside them (at link_offset) and
 * must be 64-byte aligned and never returned to the page heap: a CPU that
 * read a record another CPU popped meanwhile still reads valid memory. The
 * head packs a record's linear address over 64 (42 bits) with a 22-bit
 * counter that changes on every push and pop, so such a stale pop fails its
 * compare-and-swap instead of corrupting the stack (the ABA problem).
 */
#ifndef GOHEAP_LFSTACK_H
#define GOHEAP_LFSTACK_H

#include "internal.h"

struct lfstack {
	uint64_t head; /* 0: empty */
	size_t link_offset;
};

void gh_lfstack_push(struct lfstack *st, void *rec);
void *gh_lfstack_pop(struct lfstack *st);
/* The top record, and the one below rec: for checks, while nothing else
 * uses the stack. */
void *gh_lfstack_first(const struct lfstack *st);
void *gh_lfstack_next(const struct lfstack *st, const void *rec);

#endif
