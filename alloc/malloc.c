/*
 * malloc.c — the object API (Go's malloc.go mallocgc, for manually freed
 * memory): gh_malloc and its family, gh_free, and the reports of bad input.
 * alloc/README.md has the overview of the whole allocator.
 *
 * The fast paths are the two halves of a pair: gh_malloc takes the next
 * free object of this CPU's current span with Go's nextFreeFast (a count of
 * trailing zeros in allocCache), gh_free clears the object's bit in a span
 * this CPU owns. Neither takes a lock or executes an atomic read-modify-
 * write; interrupts are off only across the per-CPU part.
 */
#include "malloc_inline.h"

_Static_assert(GH_MAX_SMALL == GH_MAX_SMALL_SIZE, "goheap.h and sizeclasses.h disagree");


void *gh_malloc_small_slow(struct gh_cpu *c, unsigned cpu, unsigned cls, unsigned flags,
			   unsigned long irq)
{
	unsigned spc = SPANCLASS(cls, !(flags & GH_SCANNED));
	uintptr_t p = gh_mcache_refill(c, spc, cpu, flags & GH_NOWAIT);
	struct mspan *s = c->mcache.alloc[spc];
	bool check = p && s->poisoned;
	gh_port_irq_restore(irq);
	if (check)
		gh_poison_check(s, p);
	if (flags & GH_ZERO && p)
		__builtin_memset((void *)p, 0, gh_class_to_size[cls]);
	return (void *)p;
}

/* An object of class cls, with flags. */
static void *malloc_small(unsigned cls, unsigned flags)
{
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	return gh_malloc_small_slow(&gh_mheap.cpus[cpu], cpu, cls, flags, irq);
}

/* A span of its own, aligned to align (at least a page). */
static void *malloc_large(size_t size, uintptr_t align, unsigned flags)
{
	if (size > ~(size_t)0 - PAGE_SIZE)
		return NULL;
	uintptr_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	bool zeroed = false;
	struct mspan *s =
	    gh_mheap_alloc(c, npages, align, MSPAN_LARGE, (flags & GH_NOWAIT) != 0, &zeroed);
	if (s) {
		s->spanclass = SPANCLASS(0, 1);
		gh_stat_add(&c->mcache.nmalloc[SPANCLASS(0, 1)], 1);
		if (flags & GH_SCANNED)
			gc_scanned_add(s);
		gh_stat_add(&c->mcache.large_alloc_bytes, npages * PAGE_SIZE);
	}
	gh_port_irq_restore(irq);
	if (!s)
		return NULL;
	if (flags & GH_ZERO && !zeroed)
		__builtin_memset((void *)s->base, 0, npages * PAGE_SIZE);
	return (void *)s->base;
}

void *gh_malloc_flags(size_t size, unsigned flags)
{
	if (!gh_mheap_ready())
		return NULL;
	if (size <= GH_MAX_SMALL)
		return malloc_small(gh_size_to_class(size ? size : 1), flags);
	return malloc_large(size, PAGE_SIZE, flags);
}

void *gh_malloc(size_t size)
{
	return gh_malloc_inline(size, gh_malloc_small_slow, gh_malloc_flags);
}

void *gh_calloc(size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	return gh_malloc_flags(bytes, GH_ZERO);
}

void *gh_aligned_alloc(size_t align, size_t size)
{
	if (!align || (align & (align - 1)) || !gh_mheap_ready())
		return NULL;
	if (align <= 8)
		return gh_malloc_flags(size, 0);
	if (size <= GH_MAX_SMALL && align <= PAGE_SIZE) {
		/* Objects of a class lie at multiples of its size from a page
		 * boundary: the first class that fits and is a multiple of align. */
		for (unsigned cls = gh_size_to_class(size ? size : 1); cls < GH_NUM_SIZE_CLASSES; cls++)
			if (!(gh_class_to_size[cls] & (align - 1)))
				return malloc_small(cls, 0);
	}
	return malloc_large(size, align > PAGE_SIZE ? align : PAGE_SIZE, 0);
}

/* ---- freeing ---- */

/* Why p is not a live object, as a panic naming fn. */
__attribute__((noreturn)) static void bad_pointer(const char *fn, uintptr_t p, struct mspan *s)
{
	void *a = (void *)p;
	if (!s && !gh_mheap_managed(p))
		gh_panicf("%s(%p): not a heap object: goheap does not manage this address", fn, a);
	if (!s || s == &gh_freed_span || s->state == MSPAN_DEAD)
		gh_panicf("%s(%p): %s", fn, a, GH_NOT_ALLOCATED);
	if (s->state == MSPAN_META)
		gh_panicf("%s(%p): not a heap object: goheap keeps its own metadata there", fn, a);
	if (s->state == MSPAN_MANUAL)
		gh_panicf("%s(%p): %s (free it with gh_page_free)", fn, a,
			  s->base == p ? "a page run from gh_page_alloc"
				       : "inside a page run from gh_page_alloc");
	if (s->state == MSPAN_GC || s->state == MSPAN_GC_LARGE)
		gh_panicf("%s(%p): a collected object (from gh_new): the collector frees it", fn, a);
	if (s->state == MSPAN_LARGE)
		gh_panicf("%s(%p): interior pointer: inside the %lu-byte object at %p", fn, a,
			  (unsigned long)(s->npages * PAGE_SIZE), (void *)s->base);
	uint32_t idx = span_obj_index(s, p);
	if (idx >= s->nelems)
		gh_panicf("%s(%p): not an object: past the last object of its span", fn, a);
	if (span_obj_addr(s, idx) != p)
		gh_panicf("%s(%p): interior pointer: inside the %u-byte object at %p", fn, a,
			  s->elemsize, (void *)span_obj_addr(s, idx));
	gh_panicf("%s(%p): %s", fn, a, GH_NOT_ALLOCATED);
}

/* The span of the live object at p, or a panic naming fn. */
static struct mspan *object_span(const char *fn, uintptr_t p)
{
	struct mspan *s = gh_span_of(p);
	if (s && s->state == MSPAN_SMALL) {
		uint32_t idx = span_obj_index(s, p);
		if (idx < s->nelems && span_obj_addr(s, idx) == p &&
		    span_bit(s->allocBits, idx) && !span_bit(s->freeBits, idx))
			return s;
	} else if (s && s->state == MSPAN_LARGE && s->base == p) {
		return s;
	}
	bad_pointer(fn, p, s);
}

static void free_large(uintptr_t p, struct mspan *s)
{
	if (!s || s->state != MSPAN_LARGE || s->base != p)
		bad_pointer("gh_free", p, s);
	/* Claim the span: of two CPUs freeing it at once, one sees a double free. */
	if (!__atomic_compare_exchange_n(gh_span_slot(p), &s, &gh_freed_span, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		gh_panicf("gh_free(%p): %s", (void *)p, GH_NOT_ALLOCATED);
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	gh_stat_add(&c->mcache.nfree[SPANCLASS(0, 1)], 1);
	gh_stat_add(&c->mcache.large_free_bytes, s->npages * PAGE_SIZE);
	gh_mheap_free(c, s, false);
	gh_port_irq_restore(irq);
}

/* A free into a span this CPU does not own. A full span nobody owns is
 * taken over, so that the frees that usually follow it are local. */
static const char *free_foreign(struct gh_cpu *c, struct mspan *s, uint32_t idx, uintptr_t p,
				unsigned cpu)
{
	if (!gh_span_claim_full(s, cpu))
		return gh_span_free_remote(c, s, idx, p);
	struct mspan **slot = &c->mcache.freeing[s->spanclass], *old = *slot;
	__atomic_store_n(slot, s, __ATOMIC_RELAXED); /* read by gh_read_memstats */
	const char *why = span_free_local(s, idx, p);
	if (old)
		gh_span_release(c, old);
	return why;
}

/* The rest of a small free, out of line: a span this CPU does not own, a
 * poisoned span, bad input. Interrupts are off (irq). */
void gh_free_small_slow(struct mspan *s, uintptr_t p, unsigned long irq)
{
	unsigned cpu = gh_port_cpu();
	struct gh_cpu *c = &gh_mheap.cpus[cpu];
	uint32_t idx = span_obj_index(s, p);
	unsigned spc = s->spanclass;
	const char *why = span_owner_kind(s) == OWN_CPU(cpu) ? span_free_local(s, idx, p)
							     : free_foreign(c, s, idx, p, cpu);
	if (!why)
		gh_stat_add(&c->mcache.nfree[spc], 1);
	gh_port_irq_restore(irq);
	if (why)
		gh_panicf("gh_free(%p): %s", (void *)p, why);
}

/* Anything but a small object, out of line. */
void gh_free_other(uintptr_t p, struct mspan *s)
{
	if (!p)
		return;
	if (!s || s->state != MSPAN_SMALL)
		return free_large(p, s);
	uint32_t idx = span_obj_index(s, p);
	if (idx >= s->nelems || span_obj_addr(s, idx) != p)
		bad_pointer("gh_free", p, s);
	gh_free_small_slow(s, p, gh_port_irq_save()); /* a poisoned span */
}

void gh_free(void *ptr)
{
	gh_free_inline(ptr);
}

size_t gh_usable_size(const void *ptr)
{
	if (!ptr)
		return 0;
	struct mspan *s = object_span("gh_usable_size", (uintptr_t)ptr);
	return s->state == MSPAN_SMALL ? s->elemsize : s->npages * PAGE_SIZE;
}

void *gh_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return gh_malloc(size);
	struct mspan *s = object_span("gh_realloc", (uintptr_t)ptr);
	size_t usable;
	if (s->state == MSPAN_SMALL) {
		usable = s->elemsize;
		if (size && size <= GH_MAX_SMALL &&
		    gh_size_to_class(size) == SPANCLASS_SIZECLASS(s->spanclass))
			return ptr;
	} else {
		usable = s->npages * PAGE_SIZE;
		size_t npages = size / PAGE_SIZE + (size % PAGE_SIZE != 0);
		if (size > GH_MAX_SMALL && npages <= s->npages && npages * 2 >= s->npages)
			return ptr;
	}
	if (!size) {
		gh_free(ptr);
		return NULL;
	}
	void *q = gh_malloc(size);
	if (!q)
		return NULL;
	__builtin_memcpy(q, ptr, usable < size ? usable : size);
	gh_free(ptr);
	return q;
}

void gh_cache_flush(void)
{
	if (!gh_mheap.ready)
		return;
	unsigned long irq = gh_port_irq_save();
	gh_mcache_flush(&gh_mheap.cpus[gh_port_cpu()]);
	gh_port_irq_restore(irq);
}

unsigned gh_set_debug(unsigned flags)
{
	return __atomic_exchange_n(&gh_debug_flags, flags, __ATOMIC_RELAXED);
}
