/*
 * mallocgc.c — collected allocation (Go's mallocgc): gh_new, gh_new_array,
 * the tiny allocator, and how an object's type is recorded for the
 * collector's precise scan.
 *
 * Where the type goes, as in Go 1.22:
 *   pointer-free      nowhere: a noscan span, never scanned; under 16 bytes
 *                     objects share 16-byte blocks (the tiny allocator);
 *   up to 512 bytes   the span's heap bits, a bit per word in the last 128
 *                     bytes of its page, written from the type's pointer
 *                     mask when the object is allocated;
 *   larger, small     a header word in front of the object holding the type
 *                     (the object itself starts 8 bytes in);
 *   large (> 32 KiB)  the span record: the type and the bytes of elements.
 * An array repeats its element type.
 *
 * While the collector marks, a new object is born black: it is marked with
 * the others its CPU allocated from the span when the CPU gives the span
 * up or marking ends (gc_blacken), and the CPU pays for it with mark work
 * (an assist) in proportion to what it allocated.
 */
#include "mgc.h"

/* The pointer words of one element of t, for up to 64 words. */
static inline uint64_t type_mask(const gh_type *t)
{
	size_t words = t->ptrdata / 8;
	uint64_t all = words >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << words) - 1;
	if (!t->ptrmask)
		return all;
	if (words <= 8) /* most types: the mask is one byte */
		return t->ptrmask[0] & all;
	uint64_t m = 0;
	for (size_t i = 0; i < (words + 7) / 8 && i < 8; i++)
		m |= (uint64_t)t->ptrmask[i] << (8 * i);
	return m & all;
}

/* The pointer words of n elements of t back to back, in a slot of nw
 * words (up to 64). */
static inline uint64_t slot_mask(const gh_type *t, size_t n, uint32_t nw)
{
	uint64_t m = type_mask(t); /* within t->size, so within the slot */
	if (n == 1)
		return m;
	uint64_t mask = 0;
	size_t esz = t->size / 8;
	for (size_t e = 0; e < n && e * esz < nw; e++)
		mask |= m << (e * esz);
	return nw < 64 ? mask & (((uint64_t)1 << nw) - 1) : mask;
}

/* Write the heap bits of the object at p of s (objects up to 512 bytes):
 * mask, the rest of its slot without pointers. Owner only; the collector
 * reads them concurrently, word by word. */
static inline void heap_bits_set(struct mspan *s, uintptr_t p, uint64_t mask)
{
	unsigned sh, nw;
	uint64_t *w = heap_bits_at(s, p, &sh, &nw);
	__atomic_store_n(w, (*w & ~(bits_below(nw, 0) << sh)) | mask << sh, __ATOMIC_RELAXED);
	if (GH_UNLIKELY(sh + nw > 64)) { /* the slot runs into the next word */
		unsigned hi = sh + nw - 64;
		uint64_t hm = ((uint64_t)1 << hi) - 1;
		__atomic_store_n(w + 1, (w[1] & ~hm) | (mask >> (64 - sh)), __ATOMIC_RELAXED);
	}
}

/*
 * Heap bits without a write per object. A fresh span taken for objects of
 * one type (gh_new's) gets that type's bits in every slot at once, a word
 * at a time, and remembers the type (bits_type) while every slot has its
 * bits: objects of the type are then allocated without writing them. An
 * object of any other type, or an array, writes its own and makes the span
 * mixed for good. Sweeping does not touch heap bits, so a span that holds
 * one type cycle after cycle is written once.
 */
static __attribute__((noinline)) void heap_bits_fill(struct mspan *s, const gh_type *t,
						     uint64_t mask)
{
	uint32_t nw = s->elemsize / 8, n = s->nelems;
	/* when slots tile a word, every word but the last is the same */
	uint64_t rep = 0;
	for (uint32_t k = 0; 64 % nw == 0 && k < 64; k += nw)
		rep |= mask << k;
	for (uint64_t lo = 0, end = (uint64_t)n * nw; lo < end; lo += 64) {
		uint64_t bits = rep;
		if (!rep || lo + 64 > end) { /* the slots that reach into the word */
			bits = 0;
			for (uint32_t j = (uint32_t)(lo / nw); j < n && (uint64_t)j * nw < lo + 64; j++) {
				int64_t sh = (int64_t)j * nw - (int64_t)lo; /* > -nw */
				bits |= sh >= 0 ? mask << sh : mask >> -sh;
			}
		}
		__atomic_store_n(&s->heapBits[lo / 64], bits, __ATOMIC_RELAXED);
	}
	s->bits_type = t;
}

/* Objects up to this size are cleared inline (zero_small). */
#define ZERO_INLINE 128u

/* Clear an object of at most ZERO_INLINE bytes by whole words (class sizes
 * are multiples of 8), with atomic stores, plain moves, that the compiler
 * does not turn into a call to memset. */
static inline __attribute__((always_inline)) void zero_small(uintptr_t p, uint32_t size)
{
	uint64_t *q = (uint64_t *)p;
#define Z(i)                                                                                      \
	case (i) + 1:                                                                             \
		__atomic_store_n(&q[i], 0, __ATOMIC_RELAXED);                                     \
		__attribute__((fallthrough))
	switch (size / 8) {
		Z(15); Z(14); Z(13); Z(12); Z(11); Z(10); Z(9); Z(8);
		Z(7); Z(6); Z(5); Z(4); Z(3); Z(2); Z(1); Z(0);
	default:
		break;
	}
#undef Z
}

/* Clear an object of a span that needs zeroing. */
static inline __attribute__((always_inline)) void zero_object(uintptr_t p, uint32_t size)
{
	if (size <= ZERO_INLINE)
		zero_small(p, size);
	else
		__builtin_memset((void *)p, 0, size);
}

/* This CPU's entry for type t (gh_type records are 32 bytes apart in an
 * array of them). */
static inline struct newtype *newtype_of(struct gh_cpu *c, const gh_type *t)
{
	return &c->gc.types[((uintptr_t)t / 32) % NEWTYPES];
}

/* Where an object's type goes (struct newtype's kind). */
#define NT_NOSCAN 0   /* nowhere: a noscan span */
#define NT_HEAPBITS 1 /* the heap bits: mask */
#define NT_HEADER 2   /* the header word */

/* The object of type t (NULL: an array with heap bits) just taken from s,
 * of a kind with heap bits, needs them written: s's slots do not all hold
 * t's already (heap_bits_fill). */
static inline bool bits_stale(const struct mspan *s, const gh_type *t)
{
	return s->bits_type != t || !t;
}

/*
 * Set up the object at p of s, just taken with interrupts off: zeroed if
 * its memory may hold old data, its type recorded (t is NULL for an array
 * with heap bits: not one object of t per slot), and counted. True when
 * the CPU now owes the collector an assist (gc_assist(0) once interrupts
 * are on).
 */
static inline __attribute__((always_inline)) bool init_object(struct gh_cpu *c, struct mspan *s,
							      uintptr_t p, unsigned kind,
							      uint64_t mask, const gh_type *t)
{
	if (s->needzero)
		zero_object(p, s->elemsize);
	if (kind == NT_HEAPBITS) {
		if (GH_UNLIKELY(bits_stale(s, t))) {
			heap_bits_set(s, p, mask);
			s->bits_type = NULL;
		}
	} else if (kind == NT_HEADER)
		*(const gh_type **)p = t;
	bool owe = false;
	if (gc_marking()) { /* black: marked in bulk (gc_blacken) */
		c->gc.assist_credit -= (int64_t)s->elemsize;
		owe = c->gc.assist_credit < 0;
	}
	return owe; /* counted when the allocation cache was loaded (refill) */
}

/* Make s the current collected span of class spc on c. */
static void set_current(struct gh_cpu *c, unsigned spc, struct mspan *s)
{
	__atomic_store_n(&c->gc.alloc[spc], s, __ATOMIC_RELAXED);
	uint64_t bit = (uint64_t)1 << (spc % 64), *w = &c->gc.cached[spc / 64];
	/* atomic (plain stores) for gh_gc_read_stats on another CPU */
	__atomic_store_n(w, s != &gh_empty_span ? *w | bit : *w & ~bit, __ATOMIC_RELAXED);
}

/* npages for collected objects, after gc_reclaim. Out of pages, what is
 * left unswept is swept first: the reclaim, bounded, may have stopped
 * short of the garbage that would serve. */
static struct mspan *gc_pages(struct gh_cpu *c, uintptr_t npages, uint8_t state, bool *zeroed)
{
	struct mspan *s = gh_mheap_alloc(c, npages, PAGE_SIZE, state, false, zeroed);
	if (!s) {
		gc_finish_sweep();
		s = gh_mheap_alloc(c, npages, PAGE_SIZE, state, false, zeroed);
	}
	return s;
}

/* A fresh span from the heap for collected objects of class spc. */
static struct mspan *fresh_span(struct gh_cpu *c, unsigned spc, unsigned cpu)
{
	bool zeroed;
	unsigned cls = SPANCLASS_SIZECLASS(spc);
	gc_reclaim(gh_class_to_npages[cls]);
	struct mspan *s = gc_pages(c, gh_class_to_npages[cls], MSPAN_GC, &zeroed);
	if (!s)
		return NULL;
	if (!gh_span_init_small(c, s, spc, cpu, false)) {
		s->state = MSPAN_GC; /* counted as such by gh_mheap_free */
		gh_mheap_free(c, s, false);
		return NULL;
	}
	if (!(spc & 1) && s->elemsize <= MAX_HEAPBITS_OBJ) {
		/* Go's heapBitsInSpan: the bits take the end of the span */
		GH_ENSURE(s->npages == 1);
		s->heapBits = (uint64_t *)(s->base + PAGE_SIZE - HEAPBITS_BYTES);
		s->nelems = (uint16_t)((PAGE_SIZE - HEAPBITS_BYTES) / s->elemsize);
		gh_span_rewind(s);
	}
	s->bits_type = NULL;
	s->poisoned = 0;
	s->needzero = !zeroed;
	gh_span_publish(s, MSPAN_GC);
	return s;
}

/*
 * The next object of collected class spc when the current span has none:
 * the rest of the current span, a swept span from mcentral (sweeping some
 * on the way), or a fresh one. 0 when memory is exhausted. Interrupts off.
 * *live gets the bytes the new span adds to heap_live.
 */
static uintptr_t refill(struct gh_cpu *c, unsigned spc, unsigned cpu, uint64_t *live)
{
	struct mspan *s = c->gc.alloc[spc];
	uint32_t idx;
	if (s != &gh_empty_span) {
		idx = gh_span_next_free_index(s);
		if (idx < s->nelems)
			goto take;
		set_current(c, spc, &gh_empty_span);
		gc_uncache(c, s);
	}
	s = gc_central_get(c, spc);
	if (!s)
		s = fresh_span(c, spc, cpu);
	if (!s)
		return 0;
	span_set_owner(s, OWN_CPU(cpu));
	gh_span_rewind(s);
	/* black from the start while marking; from mark start otherwise */
	__atomic_store_n(&s->blackfrom, gc_marking() ? 0 : s->nelems, __ATOMIC_RELAXED);
	*live += (uint64_t)(s->nelems - s->allocCount) * s->elemsize;
	set_current(c, spc, s);
	idx = gh_span_next_free_index(s);
	GH_ENSURE(idx < s->nelems);
take:
	/* the object and what the freshly loaded cache offers */
	gc_count_alloc(c, s, 1 + span_offered(s));
	return span_obj_addr(s, idx);
}

/* A pointer-free object under 16 bytes from this CPU's tiny block (Go's
 * tiny allocator); 0 when the block has no room. */
static uintptr_t tiny_alloc(struct gh_cpu *c, size_t size)
{
	uint32_t off = c->gc.tinyoffset;
	if (!(size & 7))
		off = (off + 7) & ~7u;
	else if (!(size & 3))
		off = (off + 3) & ~3u;
	else if (!(size & 1))
		off = (off + 1) & ~1u;
	if (!c->gc.tiny || off + size > TINY_SIZE)
		return 0;
	c->gc.tinyoffset = (uint32_t)(off + size);
	return c->gc.tiny + off;
}

static inline void check_type(const char *fn, const gh_type *t)
{
	if (GH_UNLIKELY(!t || !t->size || t->ptrdata > t->size ||
			((t->ptrdata | (t->ptrdata ? t->size : 0)) & 7)))
		gh_panicf("%s: bad type %p (%s): size %lu, ptrdata %lu; ptrdata must be a "
			  "multiple of 8 no larger than size, and size a multiple of 8 when it "
			  "has pointers",
			  fn, (const void *)t, t && t->name ? t->name : "?",
			  (unsigned long)(t ? t->size : 0), (unsigned long)(t ? t->ptrdata : 0));
}

/* A large object: a span of its own, its type in the record. */
static void *new_large(const gh_type *t, size_t n, size_t size)
{
	bool noscan = !t->ptrdata, zeroed = false;
	if (size > ~(size_t)0 - PAGE_SIZE)
		return NULL;
	uintptr_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
	gc_reclaim(npages);
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	struct mspan *s = gc_pages(c, npages, MSPAN_GC_LARGE, &zeroed);
	if (s) {
		unsigned spc = SPANCLASS(0, noscan);
		s->spanclass = (uint16_t)spc;
		s->elemsize = 0;
		s->nelems = 1;
		s->largeData = noscan ? 0 : n * t->size;
		__atomic_store_n(&s->largeType, noscan ? NULL : t, __ATOMIC_RELEASE);
		s->sweepgen = __atomic_load_n(&gh_mheap.sweepgen, __ATOMIC_RELAXED);
		span_set_owner(s, OWN_FULL);
		if (gc_marking())
			gc_mark_new(c, s);
		gh_stat_add(&c->mcache.nmalloc[spc], 1);
		gh_stat_add(&c->mcache.large_alloc_bytes, npages * PAGE_SIZE);
		gh_stat_add(&c->gc.nmalloc, 1);
		gh_stat_add(&c->gc.alloc_bytes, npages * PAGE_SIZE);
		/* zeroed with interrupts on, below; not scanned meanwhile: it is
		 * black if marking, and nothing reaches it yet otherwise */
		gh_lfstack_push(gc_set(spc, true, false), s);
	}
	gh_port_irq_restore(irq);
	if (!s)
		return NULL;
	/* From here a cycle may start (gc_heap_live_add) and find the object
	 * only through a word on this stack: keep its address there, not
	 * just its span record's. */
	void *volatile obj = (void *)s->base;
	if (!zeroed)
		__builtin_memset(obj, 0, npages * PAGE_SIZE);
	gc_heap_live_add(npages * PAGE_SIZE);
	if (gc_marking())
		gc_assist(npages * PAGE_SIZE);
	return obj;
}

/* A small object: size bytes (with the header when there is one). */
static inline __attribute__((always_inline)) void *new_small(const gh_type *t, size_t n, size_t size)
{
	bool noscan = !t->ptrdata, header = !noscan && size > MAX_HEAPBITS_OBJ;
	bool tiny = noscan && size < TINY_SIZE;
	if (header)
		size += MALLOC_HEADER;
	if (size > GH_MAX_SMALL_SIZE)
		return new_large(t, n, size - (header ? MALLOC_HEADER : 0));
	unsigned cls = tiny ? gh_size_to_class(TINY_SIZE) : gh_size_to_class(size);
	unsigned spc = SPANCLASS(cls, noscan);
	unsigned kind = noscan ? NT_NOSCAN : header ? NT_HEADER : NT_HEAPBITS;
	uint64_t live = 0;
	bool owe = false;
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	struct gh_cpu *c = &gh_mheap.cpus[cpu];
	uintptr_t p = tiny ? tiny_alloc(c, size) : 0;
	if (p) { /* in a block that is already zeroed and counted */
		gh_port_irq_restore(irq);
		return (void *)p;
	}
	struct mspan *s = c->gc.alloc[spc];
	uint64_t cache = s->allocCache;
	p = cache ? span_obj_addr(s, span_take_fast(s, cache))
		  : refill(c, spc, cpu, &live);
	if (p) {
		s = c->gc.alloc[spc];
		uint64_t mask = kind == NT_HEAPBITS ? slot_mask(t, n, s->elemsize / 8) : 0;
		const gh_type *one = kind != NT_HEAPBITS || n == 1 ? t : NULL;
		/* A span with nothing in it, just loaded: every slot's bits at
		 * once, before the object's own. Those are then written already,
		 * and a span's fresh page is never read before it is written
		 * (a read maps the shared zero page, and the write after it
		 * costs a second fault and a TLB shootdown). */
		if (live && one && kind == NT_HEAPBITS && !s->allocCount)
			heap_bits_fill(s, t, mask);
		owe = init_object(c, s, p, kind, mask, one);
		if (tiny) {
			c->gc.tiny = p;
			c->gc.tinyoffset = (uint32_t)size;
		} else if (n == 1) { /* for gh_new's next object of t */
			*newtype_of(c, t) = (struct newtype){t, mask, (uint16_t)spc, (uint8_t)kind};
		}
	}
	gh_port_irq_restore(irq);
	if (live)
		gc_heap_live_add(live);
	if (owe)
		gc_assist(0);
	if (p && header)
		p += MALLOC_HEADER;
	return (void *)p;
}

/* gh_new and gh_new_array, each with its own copy (n is 1 for gh_new). */
static inline __attribute__((always_inline)) void *new_object(const char *fn, const gh_type *t,
							       size_t n)
{
	check_type(fn, t);
	size_t size;
	if (__builtin_mul_overflow(t->size, n, &size) || !gh_mheap_ready())
		return NULL;
	if (!size)
		size = 1;
	unsigned every = __atomic_load_n(&gh_gcs.stress_every, __ATOMIC_RELAXED);
	if (GH_UNLIKELY(every)) {
		unsigned long irq = gh_port_irq_save();
		struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
		bool now = ++c->gc.stress >= every;
		if (now)
			c->gc.stress = 0;
		gh_port_irq_restore(irq);
		if (now)
			gh_gc();
	}
	for (int attempt = 0;; attempt++) {
		void *p = size <= GH_MAX_SMALL_SIZE ? new_small(t, n, size) : new_large(t, n, size);
		if (p || attempt)
			return p;
		gh_gc(); /* out of memory: what a full cycle frees may serve */
	}
}

/*
 * gh_new's fast path: another object of a type this CPU allocated before
 * (one of the last NEWTYPES, as their addresses fall), from its current
 * span's allocation cache. The type was checked, and its
 * span class and heap bits worked out, the first time (the type must not
 * change, which a const static gh_type, as GH_TYPE makes, does not). Every
 * other case, and stress collection, takes new_object.
 */
static __attribute__((noinline)) void *new_slow(const gh_type *t)
{
	return new_object("gh_new", t, 1);
}

/* What gh_new returns for the object at p: its fields, past the type of
 * an object that has a header. */
static inline void *new_fields(uintptr_t p, unsigned kind)
{
	return (void *)(kind == NT_HEADER ? p + MALLOC_HEADER : p);
}

/* The rest of gh_new for an object taken from the allocation cache when it
 * needs more than the common case: clearing beyond ZERO_INLINE, heap bits
 * for another type, or assist credit while marking. Out of line, so that
 * the fast path calls nothing and saves no register. */
static __attribute__((noinline)) void *new_finish(struct gh_cpu *c, struct mspan *s, uintptr_t p,
						  const gh_type *t, const struct newtype *k,
						  unsigned long irq)
{
	unsigned kind = k->kind;
	bool owe = init_object(c, s, p, kind, k->mask, t);
	gh_port_irq_restore(irq);
	if (owe)
		gc_assist(0);
	return new_fields(p, kind);
}

void *gh_new(const gh_type *t)
{
	if (GH_LIKELY(__atomic_load_n(&gh_mheap.ready, __ATOMIC_ACQUIRE) &&
		      !__atomic_load_n(&gh_gcs.stress_every, __ATOMIC_RELAXED))) {
		unsigned long irq = gh_port_irq_save();
		struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
		const struct newtype *k = newtype_of(c, t);
		struct mspan *s = c->gc.alloc[k->spc];
		uint64_t cache = s->allocCache;
		if (GH_LIKELY(k->type == t && cache)) {
			uintptr_t p = span_obj_addr(s, span_take_fast(s, cache));
			unsigned kind = k->kind;
			if (GH_UNLIKELY(gc_marking() || (s->needzero && s->elemsize > ZERO_INLINE) ||
					(kind == NT_HEAPBITS && bits_stale(s, t))))
				return new_finish(c, s, p, t, k, irq);
			/* init_object's common case */
			if (s->needzero)
				zero_small(p, s->elemsize);
			if (kind == NT_HEADER)
				*(const gh_type **)p = t;
			gh_port_irq_restore(irq);
			return new_fields(p, kind);
		}
		gh_port_irq_restore(irq);
	}
	return new_slow(t);
}

void *gh_new_array(const gh_type *elem, size_t n)
{
	return new_object("gh_new_array", elem, n);
}
