/*
 * mspan.c — objects inside small spans: Go's allocBits/allocCache scan
 * (mbitmap.go's nextFreeIndex, refillAllocCache), freeing objects, and the
 * ownership protocol of mspan.h that lets any CPU free into any span
 * without a lock.
 *
 * allocBits are exact here (1 = allocated), where Go's only become so when
 * the sweeper replaces them with the mark bits: gh_free frees objects one at
 * a time, so allocation sets an object's bit and freeing clears it.
 */
#include "mspan.h"

uint32_t gh_debug_flags;
struct mspan gh_empty_span; /* allocCache 0: every fast path falls through */

/* The free objects from idx to the end of its word, as allocCache holds
 * them: bit 0 is object idx, nothing beyond nelems. */
static uint64_t load_cache(const struct mspan *s, uint32_t idx)
{
	uint64_t free = ~s->allocBits[idx / 64];
	if (idx / 64 == s->nelems / 64) /* the last word: objects past nelems are not */
		free &= ((uint64_t)1 << (s->nelems % 64)) - 1;
	return free >> (idx % 64);
}

uint32_t gh_span_next_free_index(struct mspan *s)
{
	uint32_t idx = s->freeindex, n = s->nelems;
	for (; idx < n; idx = (idx + 64) & ~63u) {
		uint64_t cache = load_cache(s, idx);
		if (cache) {
			unsigned bit = (unsigned)__builtin_ctzll(cache);
			/* a poisoned span keeps its cache empty: every allocation
			 * comes here and is checked */
			__atomic_store_n(&s->allocCache, s->poisoned ? 0 : (cache >> bit) >> 1,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&s->freeindex, (uint16_t)(idx + bit + 1),
					 __ATOMIC_RELAXED);
			return idx + bit;
		}
	}
	__atomic_store_n(&s->freeindex, (uint16_t)n, __ATOMIC_RELAXED);
	__atomic_store_n(&s->allocCache, 0, __ATOMIC_RELAXED);
	return n;
}

void gh_span_rewind(struct mspan *s)
{
	/* release: a collected span's allocBits, which count for the objects
	 * below freeindex from now on, before it (gc_span_allocated) */
	__atomic_store_n(&s->freeindex, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->allocCache, s->poisoned ? 0 : load_cache(s, 0), __ATOMIC_RELAXED);
}

void gh_span_merge(struct mspan *s)
{
	if (__atomic_load_n(&s->remote, __ATOMIC_ACQUIRE) < REMOTE_FREED_ONE)
		return; /* nothing published */
	uint32_t words = (s->nelems + 63u) / 64, n = 0;
	uintptr_t twice = 0;
	for (uint32_t w = 0; w < words; w++) {
		if (!__atomic_load_n(&s->freeBits[w], __ATOMIC_RELAXED))
			continue;
		uint64_t x = __atomic_exchange_n(&s->freeBits[w], 0, __ATOMIC_ACQ_REL);
		uint64_t a = s->allocBits[w];
		if (x & ~a) { /* freed here and remotely at once: keep one free */
			twice = s->base + (w * 64 + (unsigned)__builtin_ctzll(x & ~a)) * s->elemsize;
			x &= a;
		}
		__atomic_store_n(&s->allocBits[w], a & ~x, __ATOMIC_RELAXED);
		n += (uint32_t)__builtin_popcountll(x);
		for (uint64_t y = x; s->poisoned && y; y &= y - 1)
			gh_poison_fill((void *)(s->base + (w * 64 + (unsigned)__builtin_ctzll(y)) *
							      s->elemsize),
				       s->elemsize);
	}
	__atomic_fetch_sub(&s->remote, n * REMOTE_FREED_ONE, __ATOMIC_RELEASE);
	if (twice)
		gh_panicf("gh_free(%p): double free: freed on two CPUs at once", (void *)twice);
}

/* ---- a span's life ---- */

bool gh_span_init_small(struct gh_cpu *c, struct mspan *s, unsigned spc, unsigned cpu, bool nowait)
{
	struct mheap *h = &gh_mheap;
	unsigned cls = SPANCLASS_SIZECLASS(spc);
	uint32_t size = gh_class_to_size[cls], nelems = (uint32_t)(s->npages * PAGE_SIZE / size);
	uint32_t words = (nelems + 63) / 64;
	if (s->bitsCap < words) {
		unsigned pool = 0;
		while ((1u << pool) < words)
			pool++;
		unsigned long cookie;
		if (!gh_mheap_lock(&cookie, nowait))
			return false;
		uint64_t *b = gh_fixalloc_alloc(&h->bitsalloc[pool]);
		if (b)
			gh_span_bits_free(s);
		gh_unlock(&h->lock, cookie);
		if (!b)
			return false;
		s->bitsCap = 1u << pool;
		s->allocBits = b;
		s->freeBits = b + s->bitsCap;
		s->gcmarkBits = b + 2 * s->bitsCap;
	}
	__builtin_memset(s->allocBits, 0, words * sizeof(uint64_t));
	__builtin_memset(s->freeBits, 0, words * sizeof(uint64_t));
	__builtin_memset(s->gcmarkBits, 0, words * sizeof(uint64_t));
	s->spanclass = (uint16_t)spc;
	s->elemsize = size;
	s->nelems = (uint16_t)nelems;
	s->divmul = gh_class_to_divmagic[cls];
	/* read by a remote free that may still be leaving the last life */
	__atomic_store_n(&s->allocCount, 0, __ATOMIC_RELAXED);
	s->nfree_owner = 0;
	s->sweepgen = h->sweepgen;
	/* A late remote free of the record's last life may still hold a
	 * reference: keep the count of those, clear the published ones. */
	__atomic_fetch_and(&s->remote, REMOTE_REFS_MASK, __ATOMIC_RELAXED);
	s->poisoned = (gh_debug_flags & GH_DEBUG_POISON) != 0;
	if (s->poisoned)
		gh_poison_fill((void *)s->base, s->npages * PAGE_SIZE);
	span_set_owner(s, OWN_CPU(cpu));
	gh_span_rewind(s);
	if (s->state == MSPAN_SMALL && !(spc & 1))
		gc_scanned_add(s); /* gh_malloc_scanned memory: a root */
	return true;
}

/*
 * A span no CPU owns: act on what its counts say. Called by a CPU that gave
 * the span up and by the last remote free to leave it, since either may be
 * the one that sees the final state.
 */
static void unowned_check(struct gh_cpu *c, struct mspan *s)
{
	uint64_t w = __atomic_load_n(&s->owner, __ATOMIC_SEQ_CST);
	unsigned kind = (unsigned)(w & OWN_KIND_MASK);
	if (kind != OWN_PARTIAL && kind != OWN_FULL)
		return;
	uint64_t r = __atomic_load_n(&s->remote, __ATOMIC_SEQ_CST);
	if (r & REMOTE_REFS_MASK)
		return; /* a remote free is inside: it checks as it leaves */
	uint32_t freed = (uint32_t)(r >> 32);
	if (freed == __atomic_load_n(&s->allocCount, __ATOMIC_RELAXED)) {
		/* Every object is free: the pages go back to the heap. A record
		 * in mcentral's set stays linked until a CPU pops it. */
		bool linked = kind == OWN_PARTIAL;
		if (!span_cas_owner(s, w, linked ? OWN_FREEING : OWN_NONE))
			return;
		gh_mheap_free(c, s, linked);
		if (linked)
			span_set_owner(s, OWN_ZOMBIE);
		return;
	}
	if (kind == OWN_FULL && freed && span_cas_owner(s, w, OWN_PARTIAL))
		gh_lfstack_push(&gh_mheap.central[s->spanclass].partial, s);
}

void gh_span_release(struct gh_cpu *c, struct mspan *s)
{
	gh_stat_add(&c->mcache.nfree[s->spanclass], s->nfree_owner);
	__atomic_store_n(&s->nfree_owner, 0, __ATOMIC_RELAXED);
	gh_span_merge(s);
	__atomic_store_n(&s->allocCount, span_count_alloc(s), __ATOMIC_RELAXED);
	if (s->allocCount == 0 &&
	    !(__atomic_load_n(&s->remote, __ATOMIC_SEQ_CST) & REMOTE_REFS_MASK)) {
		span_set_owner(s, OWN_NONE);
		gh_mheap_free(c, s, false);
		return;
	}
	bool partial = s->allocCount < s->nelems;
	span_set_owner(s, partial ? OWN_PARTIAL : OWN_FULL);
	if (partial)
		gh_lfstack_push(&gh_mheap.central[s->spanclass].partial, s);
	unowned_check(c, s);
}

bool gh_span_claim_full(struct mspan *s, unsigned cpu)
{
	uint64_t w = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
	return (w & OWN_KIND_MASK) == OWN_FULL && span_cas_owner(s, w, OWN_CPU(cpu));
}

struct mspan *gh_span_pop_partial(struct gh_cpu *c, unsigned spc, unsigned cpu)
{
	struct mspan *s;
	while ((s = gh_lfstack_pop(&gh_mheap.central[spc].partial))) {
		for (unsigned spins = 0;;) {
			uint64_t w = __atomic_load_n(&s->owner, __ATOMIC_SEQ_CST);
			unsigned kind = (unsigned)(w & OWN_KIND_MASK);
			if (kind == OWN_PARTIAL) {
				if (span_cas_owner(s, w, OWN_CPU(cpu)))
					return s;
			} else if (kind == OWN_FREEING) {
				gh_port_relax(++spins); /* its pages are being freed */
			} else {
				GH_ENSURE(kind == OWN_ZOMBIE);
				span_set_owner(s, OWN_NONE);
				gh_mheap_free_record(c, s);
				break;
			}
		}
	}
	return NULL;
}

/* ---- freeing ---- */

/* Leave a remote free: the last one out looks at the span. */
static void remote_leave(struct gh_cpu *c, struct mspan *s, uint64_t delta)
{
	uint64_t r = __atomic_add_fetch(&s->remote, delta, __ATOMIC_SEQ_CST);
	if (!(r & REMOTE_REFS_MASK))
		unowned_check(c, s);
}

const char *gh_span_free_remote(struct gh_cpu *c, struct mspan *s, uint32_t idx, uintptr_t p)
{
	uint64_t m = (uint64_t)1 << (idx % 64);
	__atomic_fetch_add(&s->remote, 1, __ATOMIC_SEQ_CST);
	if (!span_bit(s->allocBits, idx)) {
		remote_leave(c, s, -(uint64_t)1);
		return GH_NOT_ALLOCATED;
	}
	if (__atomic_fetch_or(&s->freeBits[idx / 64], m, __ATOMIC_ACQ_REL) & m) {
		remote_leave(c, s, -(uint64_t)1);
		return "the object is already free (a double free: freed twice)";
	}
	remote_leave(c, s, REMOTE_FREED_ONE - 1);
	return NULL;
}

/* ---- debug poisoning ---- */

void gh_poison_fill(void *p, size_t n)
{
	__builtin_memset(p, POISON_BYTE, n);
}

void gh_poison_check(const struct mspan *s, uintptr_t p)
{
	const uint8_t *b = (const uint8_t *)p;
	for (uint32_t i = 0; i < s->elemsize; i++)
		if (b[i] != POISON_BYTE)
			gh_panicf("gh_malloc: write after free: the %u-byte object at %p was "
				  "changed at offset %u (now 0x%x) while it was free",
				  s->elemsize, (void *)p, i, b[i]);
}

void gh_span_poison_sync(struct mspan *s)
{
	bool on = (gh_debug_flags & GH_DEBUG_POISON) != 0;
	if (on == s->poisoned)
		return;
	if (on) {
		gh_span_merge(s);
		for (uint32_t i = 0; i < s->nelems; i++)
			if (!span_bit(s->allocBits, i))
				gh_poison_fill((void *)span_obj_addr(s, i), s->elemsize);
	}
	/* read without a lock by frees on other CPUs (malloc_inline.h) */
	__atomic_store_n(&s->poisoned, on, __ATOMIC_RELAXED);
}

/* ---- checks ---- */

bool gh_span_check(const struct mspan *s)
{
	unsigned cls = SPANCLASS_SIZECLASS(s->spanclass);
	if (cls == 0 || cls >= GH_NUM_SIZE_CLASSES || s->elemsize != gh_class_to_size[cls] ||
	    s->npages != gh_class_to_npages[cls] ||
	    s->nelems != s->npages * PAGE_SIZE / s->elemsize) {
		gh_logf("mspan: span at %p has class %u, %u-byte objects, %u of them, %lu pages",
			(void *)s->base, cls, s->elemsize, s->nelems, (unsigned long)s->npages);
		return false;
	}
	uint32_t words = (s->nelems + 63u) / 64, allocated = 0, freed = 0;
	for (uint32_t w = 0; w < words; w++) {
		uint64_t a = s->allocBits[w], f = s->freeBits[w];
		uint64_t valid = w + 1 < words || s->nelems % 64 == 0
				     ? ~(uint64_t)0
				     : ((uint64_t)1 << (s->nelems % 64)) - 1;
		if ((a | f) & ~valid || f & ~a) {
			gh_logf("mspan: span at %p: word %u of its bitmaps is inconsistent "
				"(alloc %lx, freed %lx)",
				(void *)s->base, w, (unsigned long)a, (unsigned long)f);
			return false;
		}
		allocated += (uint32_t)__builtin_popcountll(a);
		freed += (uint32_t)__builtin_popcountll(f);
	}
	uint64_t r = __atomic_load_n(&s->remote, __ATOMIC_RELAXED);
	unsigned kind = span_owner_kind(s);
	if ((!OWN_IS_CPU(kind) && allocated != s->allocCount) || (r & REMOTE_REFS_MASK) ||
	    (uint32_t)(r >> 32) != freed) {
		gh_logf("mspan: span at %p counts %u objects, %u published frees, %u inside; "
			"its bitmaps say %u and %u",
			(void *)s->base, s->allocCount, (unsigned)(r >> 32),
			(unsigned)(r & REMOTE_REFS_MASK), allocated, freed);
		return false;
	}
	if (kind == OWN_FULL ? freed != 0 || allocated != s->nelems
			     : kind != OWN_PARTIAL && !OWN_IS_CPU(kind)) {
		gh_logf("mspan: span at %p is in state %x with %u of %u objects allocated",
			(void *)s->base, kind, allocated, s->nelems);
		return false;
	}
	return true;
}
