/*
 * mspan.h — spans of small objects (Go's mbitmap.go and the object half of
 * mheap.go's mspan): finding a free object, freeing one, and which CPU may
 * do what to a span.
 *
 * Ownership. Every small span is in exactly one of these states, kept in
 * mspan.owner with a sequence number that changes on every transition:
 *   OWN_CPU(c)   CPU c owns it: the current span of one of its classes, or
 *                the span it took over to free into. Only c touches its
 *                allocBits, allocCache, freeindex and allocCount.
 *   OWN_PARTIAL  in its class's mcentral set, with free objects.
 *   OWN_FULL     in no set, no free object when it was given up.
 *   OWN_FREEING  its pages are on their way back to the heap (a moment).
 *   OWN_ZOMBIE   all objects were freed while it sat in mcentral: its pages
 *                went back to the heap, and the record leaves the set when
 *                a CPU next pops it.
 *   OWN_NONE     not a span of objects (a fresh or retired record).
 * A CPU frees into a span it owns with plain loads and stores. Any other
 * free is remote: it announces itself in mspan.remote, publishes the object
 * in freeBits with an atomic OR (which also catches a second free of it),
 * then counts it as published. The owner merges freeBits into allocBits
 * when it needs room. A span no CPU owns is acted on by whoever sees it
 * last: the CPU giving it up, or the last remote free to leave it. A FULL
 * span that gains a free object becomes PARTIAL; a span whose objects are
 * all free goes back to the page heap.
 */
#ifndef GOHEAP_MSPAN_H
#define GOHEAP_MSPAN_H

#include "mheap.h"

#define OWN_KIND_MASK 0xffffu
#define OWN_SEQ_ONE 0x10000u
#define OWN_NONE 0u
#define OWN_PARTIAL 1u
#define OWN_FULL 2u
#define OWN_ZOMBIE 3u
#define OWN_FREEING 4u
#define OWN_CPU(c) (0x8000u | (c))
#define OWN_IS_CPU(k) ((k)&0x8000u)

#define REMOTE_REFS_MASK 0xffffffffu
#define REMOTE_FREED_ONE ((uint64_t)1 << 32)

/* Debug switches (gh_set_debug). */
extern uint32_t gh_debug_flags;

static inline unsigned span_owner_kind(const struct mspan *s)
{
	return (unsigned)(__atomic_load_n(&s->owner, __ATOMIC_RELAXED) & OWN_KIND_MASK);
}

/* Set the owner word to kind, the next in its sequence. Only the owner (or
 * a CPU that just won the span by compare-and-swap) calls it. */
static inline void span_set_owner(struct mspan *s, unsigned kind)
{
	uint64_t old = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
	__atomic_store_n(&s->owner, ((old & ~(uint64_t)OWN_KIND_MASK) + OWN_SEQ_ONE) | kind,
			 __ATOMIC_SEQ_CST);
}

static inline bool span_cas_owner(struct mspan *s, uint64_t old, unsigned kind)
{
	uint64_t new = ((old & ~(uint64_t)OWN_KIND_MASK) + OWN_SEQ_ONE) | kind;
	return __atomic_compare_exchange_n(&s->owner, &old, new, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_RELAXED);
}

/* The object index of p in s, by Go's division magic. */
static inline uint32_t span_obj_index(const struct mspan *s, uintptr_t p)
{
	/* relaxed loads (plain moves): the collector reads records that a CPU
	 * may be setting up for a new span */
	return (uint32_t)(((uint64_t)(p - __atomic_load_n(&s->base, __ATOMIC_RELAXED)) *
			   __atomic_load_n(&s->divmul, __ATOMIC_RELAXED)) >>
			  32);
}

/* The address of object idx of s: span_obj_index's inverse. */
static inline uintptr_t span_obj_addr(const struct mspan *s, uint32_t idx)
{
	return s->base + (uintptr_t)idx * s->elemsize;
}

static inline bool span_bit(const uint64_t *bits, uint32_t i)
{
	return (__atomic_load_n(&bits[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}

/* Owner only: allocBits are read by remote frees, so stores are atomic
 * (plain moves on x86). */
static inline void span_set_alloc(struct mspan *s, uint32_t i)
{
	uint64_t *w = &s->allocBits[i / 64];
	__atomic_store_n(w, *w | (uint64_t)1 << (i % 64), __ATOMIC_RELAXED);
}

/* Objects allocated now, by allocBits. Owner only. */
static inline uint32_t span_count_alloc(const struct mspan *s)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < (s->nelems + 63u) / 64; w++)
		n += (uint32_t)__builtin_popcountll(s->allocBits[w]);
	return n;
}

/*
 * Go's nextFreeFast: take the next free object from s's allocCache, cache,
 * which is not empty (when it is, nextFreeIndex reloads it), and return its
 * index. allocBits are left alone: gh_malloc's spans set the bit
 * (span_next_free_fast), collected ones count every object below freeindex
 * as allocated (gc_span_allocated). Owner only.
 */
static inline uint32_t span_take_fast(struct mspan *s, uint64_t cache)
{
	unsigned bit = (unsigned)__builtin_ctzll(cache);
	uint32_t idx = s->freeindex + bit;
	/* atomic (plain stores) for gh_read_memstats and the collector on
	 * other CPUs */
	__atomic_store_n(&s->allocCache, (cache >> bit) >> 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->freeindex, (uint16_t)(idx + 1), __ATOMIC_RELAXED);
	return idx;
}

static inline uintptr_t span_next_free_fast(struct mspan *s, uint64_t cache)
{
	uint32_t idx = span_take_fast(s, cache);
	span_set_alloc(s, idx);
	return span_obj_addr(s, idx);
}

/* How many objects s's allocation cache still offers (any CPU: they count
 * as allocated already, see mcache.c). */
static inline uint32_t span_offered(const struct mspan *s)
{
	return (uint32_t)__builtin_popcountll(__atomic_load_n(&s->allocCache, __ATOMIC_RELAXED));
}

/* Go's nextFreeIndex: the next free object at or after freeindex, reloading
 * allocCache a word at a time; nelems when there is none. It does not mark
 * the object allocated (span_set_alloc). Owner only. */
uint32_t gh_span_next_free_index(struct mspan *s);
/* Start scanning from object 0 again (freed objects become visible). */
void gh_span_rewind(struct mspan *s);
/* Merge remote frees into allocBits (poisoning the objects when the span
 * is poisoned: a remote free does not touch the object). Owner only. */
void gh_span_merge(struct mspan *s);

/* Prepare s, fresh from the page heap, for objects of class spc owned by
 * cpu; false when there is no room for its bitmaps (or nowait and the heap
 * lock is busy). */
bool gh_span_init_small(struct gh_cpu *c, struct mspan *s, unsigned spc, unsigned cpu,
			bool nowait);
/* Give up s, owned by this CPU: to mcentral, to no one, or to the heap. */
void gh_span_release(struct gh_cpu *c, struct mspan *s);
/* Take a FULL span over to free into it; false if it is not FULL now. */
bool gh_span_claim_full(struct mspan *s, unsigned cpu);
/* Pop a span of class spc from mcentral and own it; NULL when none. */
struct mspan *gh_span_pop_partial(struct gh_cpu *c, unsigned spc, unsigned cpu);

/* gh_malloc_flags, internally: memory the collector scans (gh_malloc_scanned). */
#define GH_SCANNED 0x100u

#define GH_NOT_ALLOCATED "the object is already free (a double free, or never handed out)"

void gh_poison_fill(void *p, size_t n);

/* Free object idx (at p) of s, which this CPU owns: plain loads and stores.
 * Returns NULL, or why p cannot be freed (nothing is changed then). */
static inline const char *span_free_local(struct mspan *s, uint32_t idx, uintptr_t p)
{
	uint64_t *w = &s->allocBits[idx / 64], m = (uint64_t)1 << (idx % 64), a = *w;
	if (GH_UNLIKELY(!(a & m) ||
			(__atomic_load_n(&s->freeBits[idx / 64], __ATOMIC_RELAXED) & m)))
		return GH_NOT_ALLOCATED;
	if (GH_UNLIKELY(s->poisoned))
		gh_poison_fill((void *)p, s->elemsize);
	__atomic_store_n(w, a & ~m, __ATOMIC_RELAXED);
	return NULL;
}
/* Free object idx of s, which another CPU owns or none does: lock-free,
 * three atomic operations. Returns NULL or why not, as span_free_local. */
const char *gh_span_free_remote(struct gh_cpu *c, struct mspan *s, uint32_t idx, uintptr_t p);

/* Debug poisoning of free objects: check on allocation, and bring a span
 * that a CPU just took in line with the current switch. */
void gh_poison_check(const struct mspan *s, uintptr_t p);
void gh_span_poison_sync(struct mspan *s);

/* The next object of class spc when the current span has none (mcache.c);
 * 0 when memory is exhausted. */
uintptr_t gh_mcache_refill(struct gh_cpu *c, unsigned spc, unsigned cpu, bool nowait);
/* Give back every span and cached page of c (its CPU, or an offline one). */
void gh_mcache_flush(struct gh_cpu *c);


/* Verify a small span's bitmaps and counters; logs and returns false when
 * one is broken. For gh_heap_check, with nothing else running. */
bool gh_span_check(const struct mspan *s);

#endif
