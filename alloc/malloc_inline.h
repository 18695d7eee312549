/*
 * malloc_inline.h — the fast paths of gh_malloc and gh_free, inline, so
 * that a wrapper (the hosted libc.c) compiles them into its own functions.
 * malloc.c has the slow paths and explains both.
 */
#ifndef GOHEAP_MALLOC_INLINE_H
#define GOHEAP_MALLOC_INLINE_H

#include "mspan.h"

#define GH_ALWAYS_INLINE inline __attribute__((always_inline))

/* Out of line, in malloc.c: an object of class cls when this CPU's current
 * span has none, or flags ask for more; interrupts are off (irq). */
void *gh_malloc_small_slow(struct gh_cpu *c, unsigned cpu, unsigned cls, unsigned flags,
			   unsigned long irq) __attribute__((noinline));
typedef void *gh_malloc_small_slow_fn(struct gh_cpu *c, unsigned cpu, unsigned cls,
				      unsigned flags, unsigned long irq);
typedef void *gh_malloc_flags_fn(size_t size, unsigned flags);
void gh_free_small_slow(struct mspan *s, uintptr_t p, unsigned long irq) __attribute__((noinline));
void gh_free_other(uintptr_t p, struct mspan *s) __attribute__((noinline));
void *gh_malloc_flags(size_t size, unsigned flags);

/* Per-CPU state: NULL until goheap is ready. */
static GH_ALWAYS_INLINE struct gh_cpu *gh_malloc_cpus(void)
{
	return __atomic_load_n(&gh_mheap.cpus, __ATOMIC_ACQUIRE);
}

/* gh_malloc's fast path: an object from this CPU's current span of the
 * class. What else a small allocation may need is in slow; sizes over
 * GH_MAX_SMALL (and 0) go to other. A wrapper passes its own slow and
 * other to act on failure (the hosted libc.c sets errno). */
static GH_ALWAYS_INLINE void *gh_malloc_inline(size_t size, gh_malloc_small_slow_fn *slow,
					       gh_malloc_flags_fn *other)
{
	struct gh_cpu *cpus = gh_malloc_cpus();
	if (GH_UNLIKELY(size - 1 >= GH_MAX_SMALL || !cpus))
		return other(size, 0);
	size_t cls = gh_size_to_class(size), spc = SPANCLASS(cls, 1);
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	struct gh_cpu *c = &cpus[cpu];
	struct mspan *s = c->mcache.alloc[spc];
	uint64_t cache = s->allocCache;
	if (GH_UNLIKELY(!cache))
		return slow(c, cpu, (unsigned)cls, 0, irq);
	uintptr_t p = span_next_free_fast(s, cache);
	gh_port_irq_restore(irq); /* counted when the cache was loaded (mcache.c) */
	return (void *)p;
}

static GH_ALWAYS_INLINE void gh_free_inline(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	struct mspan *s = gh_span_of(p);
	/* a small span, not poisoned (the debug check is out of line) */
	if (GH_UNLIKELY(!s || __atomic_load_n(&s->state_poisoned, __ATOMIC_RELAXED) != MSPAN_SMALL))
		return gh_free_other(p, s);
	uint32_t idx = span_obj_index(s, p);
	if (GH_UNLIKELY(idx >= s->nelems || span_obj_addr(s, idx) != p))
		return gh_free_other(p, s);
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	/* A span this CPU owns and an allocated object: clear its bit. */
	if (GH_UNLIKELY(span_owner_kind(s) != OWN_CPU(cpu)))
		return gh_free_small_slow(s, p, irq);
	uint64_t *w = &s->allocBits[idx / 64], m = (uint64_t)1 << (idx % 64), a = *w;
	if (GH_LIKELY((a & m) && !(__atomic_load_n(&s->freeBits[idx / 64], __ATOMIC_RELAXED) & m))) {
		__atomic_store_n(w, a & ~m, __ATOMIC_RELAXED);
		__atomic_store_n(&s->nfree_owner, s->nfree_owner + 1, __ATOMIC_RELAXED);
		gh_port_irq_restore(irq);
		return;
	}
	gh_free_small_slow(s, p, irq);
}

#endif
