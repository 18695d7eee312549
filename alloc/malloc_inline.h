/*
 * malloc_inline.h — the fast paths of gh_malloc and gh_free, inline, so
 * that a wrapper (the hosted libc.c) compiles them into its own functions.
 * malloc.c has the slow paths and explains both.
 */
#ifndef GOHEAP_MALLOC_INLINE_H
#define GOHEAP_MALLOC_INLINE_H

#include "mspan.h"

#define GH_ALWAYS_INLINE inline __attribute__((always_inline))

/* Out of line, in malloc.c. */
void *gh_malloc_small_slow(struct gh_cpu *c, unsigned cpu, unsigned cls, unsigned flags,
			   uintptr_t p, unsigned long irq) __attribute__((noinline));
void gh_free_small_slow(struct gh_cpu *c, unsigned cpu, struct mspan *s, uint32_t idx,
			uintptr_t p, unsigned long irq) __attribute__((noinline));
void gh_free_other(uintptr_t p, struct mspan *s) __attribute__((noinline));
void *gh_malloc_flags(size_t size, unsigned flags);

/* Per-CPU state: NULL until goheap is ready. */
static GH_ALWAYS_INLINE struct gh_cpu *gh_malloc_cpus(void)
{
	return __atomic_load_n(&gh_mheap.cpus, __ATOMIC_ACQUIRE);
}

/* An object of size class cls from this CPU's cache: the fast path. */
static GH_ALWAYS_INLINE void *gh_malloc_small(struct gh_cpu *cpus, unsigned cls, unsigned flags)
{
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	struct gh_cpu *c = &cpus[cpu];
	struct mspan *s = c->mcache.alloc[SPANCLASS(cls, 1)];
	uintptr_t p = span_next_free_fast(s);
	if (GH_LIKELY(p && !s->poisoned && !flags)) {
		gh_stat_add(&c->mcache.nmalloc[cls], 1);
		gh_port_irq_restore(irq);
		return (void *)p;
	}
	return gh_malloc_small_slow(c, cpu, cls, flags, p, irq);
}

static GH_ALWAYS_INLINE void *gh_malloc_inline(size_t size)
{
	struct gh_cpu *c = gh_malloc_cpus();
	if (GH_LIKELY(size - 1 < GH_MAX_SMALL && c))
		return gh_malloc_small(c, gh_size_to_class(size), 0);
	return gh_malloc_flags(size, 0);
}

static GH_ALWAYS_INLINE void gh_free_inline(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	struct mspan *s = gh_span_of(p);
	if (GH_UNLIKELY(!s || s->state != MSPAN_SMALL))
		return gh_free_other(p, s);
	uint32_t idx = span_obj_index(s, p);
	if (GH_UNLIKELY(idx >= s->nelems || s->base + (uintptr_t)idx * s->elemsize != p))
		return gh_free_other(p, s);
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	struct gh_cpu *c = &gh_mheap.cpus[cpu];
	/* A span this CPU owns, an allocated object, no debug: clear its bit. */
	uint64_t *w = &s->allocBits[idx / 64], m = (uint64_t)1 << (idx % 64), a = *w;
	if (GH_LIKELY(span_owner_kind(s) == OWN_CPU(cpu) && (a & m) && !s->poisoned &&
		      !(__atomic_load_n(&s->freeBits[idx / 64], __ATOMIC_RELAXED) & m))) {
		__atomic_store_n(w, a & ~m, __ATOMIC_RELAXED);
		__atomic_store_n(&s->allocCount, s->allocCount - 1, __ATOMIC_RELAXED);
		gh_stat_add(&c->mcache.nfree[SPANCLASS_SIZECLASS(s->spanclass)], 1);
		gh_port_irq_restore(irq);
		return;
	}
	gh_free_small_slow(c, cpu, s, idx, p, irq);
}

#endif
