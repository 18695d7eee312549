/*
 * spanset.c — a lock-free set of spans (the role of Go's mspanset.go).
 *
 * Go's spanSet is an array of blocks indexed by head and tail counters; it
 * is reset while the world is stopped for the collector. gh_malloc's spans
 * move between CPUs and mcentral without the world ever stopping, so the set
 * here is a stack linked through the span records (a Treiber stack). Span
 * records are never returned to the page heap, so a CPU that read a record
 * which another CPU popped meanwhile reads valid memory; the head carries a
 * counter that changes on every push and pop, so such a stale pop fails its
 * compare-and-swap instead of corrupting the stack (the ABA problem).
 *
 * The head packs a record's linear address over 64 (records are 64-byte
 * aligned, 42 bits) with a 22-bit counter; 0 is the empty set.
 */
#include "mspan.h"

#define PTR_BITS 42
#define PTR_MASK (((uint64_t)1 << PTR_BITS) - 1)
#define TAG_ONE ((uint64_t)1 << PTR_BITS)

static uint64_t encode(struct mspan *s)
{
	return LINEAR((uintptr_t)s) >> 6;
}

static struct mspan *decode(uint64_t v)
{
	v &= PTR_MASK;
	return v ? (struct mspan *)UNLINEAR(v << 6) : NULL;
}

void gh_spanset_push(struct spanset *set, struct mspan *s)
{
	uint64_t old = __atomic_load_n(&set->head, __ATOMIC_RELAXED), new;
	do {
		__atomic_store_n(&s->next, old & PTR_MASK, __ATOMIC_RELAXED);
		new = ((old & ~PTR_MASK) + TAG_ONE) | encode(s);
	} while (!__atomic_compare_exchange_n(&set->head, &old, new, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

struct mspan *gh_spanset_pop(struct spanset *set)
{
	uint64_t old = __atomic_load_n(&set->head, __ATOMIC_ACQUIRE), new;
	struct mspan *s;
	do {
		s = decode(old);
		if (!s)
			return NULL;
		new = ((old & ~PTR_MASK) + TAG_ONE) | __atomic_load_n(&s->next, __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(&set->head, &old, new, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_ACQUIRE));
	return s;
}

/* The first span of the set; walk on with gh_spanset_next. For checks only,
 * when nothing else uses the set. */
struct mspan *gh_spanset_first(const struct spanset *set)
{
	return decode(__atomic_load_n(&set->head, __ATOMIC_ACQUIRE));
}

struct mspan *gh_spanset_next(const struct mspan *s)
{
	return decode(__atomic_load_n(&s->next, __ATOMIC_RELAXED));
}
