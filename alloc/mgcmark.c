/*
 * mgcmark.c — marking (Go's mgcmark.go, mbitmap.go's findObject and
 * heap bits, mcheckmark.go): finding objects from pointers, greying them,
 * scanning objects precisely by type and roots conservatively, the root
 * jobs, draining work, and the checkmark verification.
 */
#include "mgc.h"

/* The object p points into, in s: its start, and its index in *idxp. A
 * span being set up reads as MSPAN_DEAD until gh_span_publish: a pointer
 * into it finds nothing. A word found by a conservative scan must point at
 * an allocated slot; a pointer from a typed slot does (Go's findObject
 * does not look either), which saves the allocation bits' cache miss. The
 * allocation bits of a published span are read while its CPU gives it up
 * (tests/hosted/tsan.supp). */
static inline uintptr_t object_in(struct mspan *s, uintptr_t p, uint32_t *idxp,
				  bool conservative)
{
	uint8_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	if (state == MSPAN_GC_LARGE) {
		*idxp = 0;
		return s->base;
	}
	if (state != MSPAN_GC)
		return 0;
	uint32_t idx = span_obj_index(s, p);
	if (idx >= s->nelems || (conservative && !gc_span_allocated(s, idx)))
		return 0;
	*idxp = idx;
	return span_obj_addr(s, idx);
}

/* The same from the pointer alone: the span too, in *sp. */
static inline uintptr_t find_object(uintptr_t p, struct mspan **sp, uint32_t *idxp,
				    bool conservative)
{
	struct mspan *s = gh_span_of(p);
	if (!s)
		return 0;
	*sp = s;
	return object_in(s, p, idxp, conservative);
}

uintptr_t gh_find_object(uintptr_t p, struct mspan **sp, uint32_t *idxp)
{
	return find_object(p, sp, idxp, true);
}

/* Set bit m of *word; true when this call set it. */
static bool set_once(uint64_t *word, uint64_t m)
{
	/* a plain load first: most pointers found are to marked objects */
	return !(__atomic_load_n(word, __ATOMIC_RELAXED) & m) &&
	       !(__atomic_fetch_or(word, m, __ATOMIC_RELAXED) & m);
}

/* The checkmark pass marks into freeBits (unused in collected spans) and
 * bit 1 of a large span's largemark. */
#define LARGE_MARK 1u
#define LARGE_CHECKMARK 2u

static inline bool mark_bit(struct mspan *s, uint32_t idx, bool check)
{
	if (s->state == MSPAN_GC_LARGE) {
		uint32_t m = check ? LARGE_CHECKMARK : LARGE_MARK;
		return !(__atomic_load_n(&s->largemark, __ATOMIC_RELAXED) & m) &&
		       !(__atomic_fetch_or(&s->largemark, m, __ATOMIC_RELAXED) & m);
	}
	uint64_t *bits = check ? s->freeBits : s->gcmarkBits;
	return set_once(&bits[idx / 64], (uint64_t)1 << (idx % 64));
}

static inline uint64_t object_bytes(const struct mspan *s)
{
	return s->state == MSPAN_GC_LARGE ? s->npages * PAGE_SIZE : s->elemsize;
}

/* Object idx of s was allocated black, and gc_blacken has not marked it
 * yet: its CPU allocates from s. */
static inline bool born_black(const struct mspan *s, uint32_t idx)
{
	return idx >= __atomic_load_n(&s->blackfrom, __ATOMIC_RELAXED) &&
	       idx < __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED) &&
	       !span_bit(s->allocBits, idx);
}

/* Small object idx of s, whose bit m in its word of mark bits reads marks
 * (a plain load first: most pointers found are to marked objects), is
 * white: neither marked nor born black. */
static inline bool white(const struct mspan *s, uint32_t idx, uint64_t marks, uint64_t m)
{
	return !(marks & m) && !born_black(s, idx);
}

/* Noscan objects are black as soon as they are marked. */
static inline bool has_pointers(const struct mspan *s)
{
	return !(s->spanclass & 1);
}

/* Mark object idx (at base) of s if it is not yet, and queue it for
 * scanning when it may hold pointers; true when this call marked it. */
static inline __attribute__((always_inline)) bool shade(struct gcwork *w, struct mspan *s,
							 uint32_t idx, uintptr_t base)
{
	if (s->state == MSPAN_GC_LARGE) {
		if (!mark_bit(s, idx, false))
			return false;
	} else {
		uint64_t *word = &s->gcmarkBits[idx / 64], m = (uint64_t)1 << (idx % 64);
		if (!white(s, idx, __atomic_load_n(word, __ATOMIC_RELAXED), m) ||
		    (__atomic_fetch_or(word, m, __ATOMIC_RELAXED) & m))
			return false;
	}
	w->bytes_marked += object_bytes(s);
	if (has_pointers(s))
		gh_gcwork_put_fast(w, base);
	return true;
}

/* The checkmark pass is scanning stacks. */
static bool check_from_stack;

/* grey's checkmark pass: mark into the check bits, and report an object
 * that is reachable from from but was not marked. */
static __attribute__((noinline)) bool grey_checkmark(struct gcwork *w, struct mspan *s,
						     uint32_t idx, uintptr_t base, uintptr_t from)
{
	bool marked = gh_span_marked(s, idx);
	if (!marked && check_from_stack)
		return false; /* a stale word on a stack proves nothing */
	if (!mark_bit(s, idx, true))
		return false;
	if (!marked) {
		gh_gcs.checkmark_errors++;
		const struct gh_type *t = s->state == MSPAN_GC_LARGE ? s->largeType : NULL;
		gh_logf("checkmark: the object at %p (%lu bytes%s%s) is reachable from %p "
			"but was not marked",
			(void *)base, (unsigned long)object_bytes(s), t ? ", " : "",
			t && t->name ? t->name : "", (void *)from);
	}
	if (has_pointers(s))
		gh_gcwork_put(w, base);
	return true;
}

/* Grey the object p points into, if it is not yet: mark it, and queue it
 * for scanning when it may hold pointers. Inline in the scan loops. */
static inline __attribute__((always_inline)) bool grey(struct gcwork *w, uintptr_t p,
							uintptr_t from, bool conservative)
{
	struct mspan *s;
	uint32_t idx;
	uintptr_t base = find_object(p, &s, &idx, conservative);
	if (!base)
		return false;
	if (GH_UNLIKELY(gh_gcs.in_checkmark))
		return grey_checkmark(w, s, idx, base, from);
	return shade(w, s, idx, base);
}

bool gh_greyobject(struct gcwork *w, uintptr_t p)
{
	return grey(w, p, 0, true);
}

/* Out of line for gh_scan_conservative: grey inlined into a function that
 * is not instrumented would still mark its locals' scopes for AddressSanitizer,
 * and leave that mark on the stack when the function returns. */
static __attribute__((noinline)) bool grey_word(struct gcwork *w, uintptr_t p, uintptr_t from)
{
	return grey(w, p, from, true);
}

static unsigned grey_batch(struct gcwork *w, const uintptr_t *v, unsigned n);

/*
 * Words that fall in the heap's range are gathered CONS_BATCH at a time
 * and greyed through the pipeline (grey_batch, instrumented and out of
 * line, as grey_word): a root range such as an array of pointers to
 * scattered objects is marked at the pipeline's pace, not a cache miss
 * after another. The checkmark pass, which reports the word that reached
 * an object, goes word by word.
 */
#define CONS_BATCH 64

GH_NO_SANITIZE unsigned gh_scan_conservative(struct gcwork *w, uintptr_t base, size_t len)
{
	unsigned marked = 0, n = 0;
	bool check = gh_gcs.in_checkmark;
	uintptr_t batch[CONS_BATCH];
	/* most words are no heap address: told apart here, without a call */
	uintptr_t lo = __atomic_load_n(&gh_mheap.lo, __ATOMIC_ACQUIRE);
	uintptr_t span = __atomic_load_n(&gh_mheap.hi, __ATOMIC_ACQUIRE) - lo;
	const uintptr_t *word = (const uintptr_t *)gh_align_up(base, sizeof(uintptr_t));
	for (const uintptr_t *end = (const uintptr_t *)(base + len); word + 1 <= end; word++) {
		uintptr_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
		if (v - lo >= span)
			continue;
		if (check) {
			marked += grey_word(w, v, (uintptr_t)word);
			continue;
		}
		batch[n++] = v;
		if (n == CONS_BATCH)
			marked += grey_batch(w, batch, n), n = 0;
	}
	if (n)
		marked += grey_batch(w, batch, n);
	GC_WIPE(batch);
	gh_stat_add(&w->scan_work, len);
	return marked;
}

void gh_span_clear_marks(struct mspan *s)
{
	if (s->state == MSPAN_GC_LARGE)
		__atomic_store_n(&s->largemark, 0, __ATOMIC_RELAXED);
	else
		for (uint32_t w = 0; w < (s->nelems + 63u) / 64; w++)
			__atomic_store_n(&s->gcmarkBits[w], 0, __ATOMIC_RELAXED);
}

bool gh_span_marked(const struct mspan *s, uint32_t idx)
{
	if (s->state == MSPAN_GC_LARGE)
		return __atomic_load_n(&s->largemark, __ATOMIC_RELAXED) & LARGE_MARK;
	return span_bit(s->gcmarkBits, idx);
}

bool gc_mark_slot(struct mspan *s, uint32_t idx)
{
	return mark_bit(s, idx, false);
}

void gc_mark_new(struct gh_cpu *c, struct mspan *s)
{
	mark_bit(s, 0, false);
	c->gc.gcw.bytes_marked += object_bytes(s);
	c->gc.gcw.bytes_black += object_bytes(s);
}

void gc_blacken(struct gcwork *w, struct mspan *s)
{
	uint32_t from = s->blackfrom, to = s->freeindex, n = 0;
	for (uint32_t i = from; i < to; i = (i | 63u) + 1) {
		uint32_t word = i / 64;
		uint64_t m = bits_below(to, word) & ~bits_below(i, word) &
			     ~__atomic_load_n(&s->allocBits[word], __ATOMIC_RELAXED);
		/* an object a marker reached first is counted by it */
		if (m)
			n += (uint32_t)__builtin_popcountll(
			    m & ~__atomic_fetch_or(&s->gcmarkBits[word], m, __ATOMIC_RELAXED));
	}
	__atomic_store_n(&s->blackfrom, (uint16_t)to, __ATOMIC_RELAXED);
	w->bytes_marked += (uint64_t)n * s->elemsize;
	w->bytes_black += (uint64_t)n * s->elemsize;
}

/* ---- scanning objects ---- */

/*
 * Greying a pointer found in an object waits on two cache misses, one
 * after the other: the record of the span it points into, then the word
 * of that span's mark bits. The drain loop greys through a pipeline
 * instead. A pointer enters with its span's record prefetched; a few
 * pointers later, with the record in the cache, its object's index is
 * worked out and the mark word prefetched; a few later again it is
 * marked and queued. Both stages are rings of GREYQ entries.
 */
#define GREYQ 8 /* a power of two */

/* Each ring is a window of GREYQ entries that a pointer passes through: it
 * enters at n % GREYQ and pushes out the one GREYQ behind it (an entry
 * whose pointer is 0 is empty). */
struct greyq {
	unsigned n1, n2;
	unsigned marked; /* objects this pipeline marked */
	/* marks set in one word of mark bits, not yet stored (marks_flush) */
	uint64_t *mword, mmask;
	struct mspan *mspan;
	uintptr_t p1[GREYQ]; /* stage 1: the pointer, its span's record prefetched */
	struct mspan *s1[GREYQ];
	uintptr_t b2[GREYQ]; /* stage 2: the object, its mark word prefetched */
	struct mspan *s2[GREYQ];
	uint32_t i2[GREYQ];
};

/* Store the marks gathered in q's mark word with one atomic OR, counting
 * those no other CPU set meanwhile. */
static void marks_flush(struct gcwork *w, struct greyq *q)
{
	if (!q->mmask)
		return;
	uint64_t set = q->mmask & ~__atomic_fetch_or(q->mword, q->mmask, __ATOMIC_RELAXED);
	unsigned n = (unsigned)__builtin_popcountll(set);
	q->marked += n;
	w->bytes_marked += (uint64_t)n * q->mspan->elemsize;
	q->mmask = 0;
}

/*
 * Stage 3: shade, for small objects with the atomic OR deferred. An atomic
 * OR waits for every load and store before it, stalling the pipeline, and
 * objects found one after the other are often neighbours: their marks are
 * gathered while they fall in one word of mark bits and stored together.
 * An object is queued before its mark is stored; a CPU that marks it
 * meanwhile queues it too, and it is scanned twice, which is harmless.
 */
static inline __attribute__((always_inline)) void shade_q(struct gcwork *w, struct greyq *q,
							   struct mspan *s, uint32_t idx,
							   uintptr_t base)
{
	if (s->state == MSPAN_GC_LARGE) {
		q->marked += shade(w, s, idx, base);
		return;
	}
	uint64_t *word = &s->gcmarkBits[idx / 64], m = (uint64_t)1 << (idx % 64);
	if (word != q->mword) {
		marks_flush(w, q);
		q->mword = word;
		q->mspan = s;
	}
	if (!white(s, idx, __atomic_load_n(word, __ATOMIC_RELAXED) | q->mmask, m))
		return;
	q->mmask |= m;
	if (has_pointers(s))
		gh_gcwork_put_fast(w, base);
}

/* Stage 2: the record of s is in the cache; find the object p points to
 * (an allocated one, for a word that may be no pointer) and prefetch its
 * mark word (a large span's is in the record). Stage 3, when it leaves
 * the ring, is shade. */
static inline __attribute__((always_inline)) void greyq_find(struct gcwork *w, struct greyq *q,
							      uintptr_t p, struct mspan *s,
							      bool conservative)
{
	uint32_t idx;
	uintptr_t base = object_in(s, p, &idx, conservative);
	if (!base)
		return;
	__builtin_prefetch(&s->gcmarkBits[idx / 64]); /* never faults */
	unsigned t = q->n2++ % GREYQ;
	uintptr_t old = q->b2[t];
	struct mspan *olds = q->s2[t];
	uint32_t oldi = q->i2[t];
	q->b2[t] = base;
	q->s2[t] = s;
	q->i2[t] = idx;
	if (old)
		shade_q(w, q, olds, oldi, old);
}

/* Stage 1: a pointer found in a typed slot, or a word that may be one. */
static inline __attribute__((always_inline)) void greyq_add(struct gcwork *w, struct greyq *q,
							     uintptr_t p, bool conservative)
{
	struct mspan *s = gh_span_of(p);
	if (!s)
		return;
	__builtin_prefetch(s);
	unsigned t = q->n1++ % GREYQ;
	uintptr_t old = q->p1[t];
	struct mspan *olds = q->s1[t];
	q->p1[t] = p;
	q->s1[t] = s;
	if (old)
		greyq_find(w, q, old, olds, conservative);
}

static bool greyq_empty(const struct greyq *q)
{
	uintptr_t any = 0;
	for (unsigned i = 0; i < GREYQ; i++)
		any |= q->p1[i] | q->b2[i];
	return !any;
}

/* Everything in the pipeline, marked and queued. */
static inline __attribute__((always_inline)) void greyq_drain(struct gcwork *w, struct greyq *q,
							       bool conservative)
{
	for (unsigned i = 0; i < GREYQ; i++)
		if (q->p1[i]) {
			greyq_find(w, q, q->p1[i], q->s1[i], conservative);
			q->p1[i] = 0;
		}
	for (unsigned i = 0; i < GREYQ; i++)
		if (q->b2[i]) {
			shade_q(w, q, q->s2[i], q->i2[i], q->b2[i]);
			q->b2[i] = 0;
		}
	marks_flush(w, q);
}

static void greyq_flush(struct gcwork *w, struct greyq *q)
{
	greyq_drain(w, q, false);
}

/* Conservative words, through the pipeline: the objects marked. */
static __attribute__((noinline)) unsigned grey_batch(struct gcwork *w, const uintptr_t *v,
						     unsigned n)
{
	struct greyq q;
	__builtin_memset(&q, 0, sizeof(q));
	for (unsigned i = 0; i < n; i++)
		if (v[i])
			greyq_add(w, &q, v[i], true);
	greyq_drain(w, &q, true);
	return q.marked;
}

void gc_grey_words(struct gcwork *w, const uintptr_t *v, unsigned n)
{
	if (GH_UNLIKELY(gh_gcs.in_checkmark)) { /* word by word, to report each */
		for (unsigned i = 0; i < n; i++)
			grey_word(w, v[i], 0);
		return;
	}
	grey_batch(w, v, n);
}

/* The pointer in a typed slot: through the pipeline when there is one
 * (not in the checkmark pass, which reports where each pointer was). */
static inline __attribute__((always_inline)) void grey_slot(struct gcwork *w, struct greyq *q,
							    uintptr_t slot)
{
	uintptr_t v = __atomic_load_n((const uintptr_t *)slot, __ATOMIC_RELAXED);
	if (!v)
		return;
	if (q)
		greyq_add(w, q, v, false);
	else
		grey(w, v, slot, false);
}

/* Scan [from, to) of an array of t's back to back from data (Go's
 * typePointers iteration, without its cache). */
static void scan_typed(struct gcwork *w, struct greyq *q, uintptr_t data, const gh_type *t,
		       uintptr_t from, uintptr_t to)
{
	uintptr_t esz = t->size, pw = t->ptrdata / 8;
	uintptr_t e = (from - data) / esz;
	for (uintptr_t elem = data + e * esz; elem < to; elem += esz) {
		uintptr_t first = elem < from ? (from - elem) / 8 : 0;
		for (uintptr_t i = first; i < pw && elem + i * 8 < to; i++)
			if (!t->ptrmask || (t->ptrmask[i / 8] >> (i % 8)) & 1)
				grey_slot(w, q, elem + i * 8);
	}
}

/*
 * Scan [from, to) of the t's from data, SCAN_CHUNK bytes at a time. When a
 * stop of the world is wanted and some is left, queue where it got to and
 * return: a stop waits for one chunk, not for the rest of a large object
 * (a 128 KiB oblet of pointers to cold memory took a millisecond).
 * scan_object takes the address queued for the rest of its object.
 */
static void scan_resumable(struct gcwork *w, struct greyq *q, uintptr_t data, const gh_type *t,
			   uintptr_t from, uintptr_t to, uint64_t *work)
{
	while (from < to) {
		uintptr_t next = to - from > SCAN_CHUNK ? from + SCAN_CHUNK : to;
		scan_typed(w, q, data, t, from, next);
		*work += next - from;
		from = next;
		if (from < to && gc_stop_wanted()) {
			gh_gcwork_put(w, from);
			return;
		}
	}
}

/* Scan the object at b, in s, or the rest of one from b: the queue holds
 * an address inside an object only where scan_resumable left it. */
static inline __attribute__((always_inline)) void
scan_object(struct gcwork *w, struct greyq *q, struct mspan *s, uintptr_t b, uint64_t *work)
{
	if (s->state == MSPAN_GC_LARGE) {
		const gh_type *t = __atomic_load_n(&s->largeType, __ATOMIC_ACQUIRE);
		if (!t)
			return;
		uintptr_t base = s->base, end = base + s->largeData;
		/* Go's oblets: the first piece queues the others. A piece ends
		 * at the next multiple of OBLET_BYTES from the base, so that
		 * the rest of one cut short is a piece too. */
		if (b == base && s->largeData > OBLET_BYTES)
			for (uintptr_t o = b + OBLET_BYTES; o < end; o += OBLET_BYTES)
				gh_gcwork_put(w, o);
		uintptr_t to = base + ((b - base) / OBLET_BYTES + 1) * OBLET_BYTES;
		scan_resumable(w, q, base, t, b, to < end ? to : end, work);
		return;
	}
	if (s->elemsize > MAX_HEAPBITS_OBJ) {
		uintptr_t obj = span_obj_addr(s, span_obj_index(s, b)), from = b;
		if (b == obj) /* the whole object: its fields follow the header */
			from = b + MALLOC_HEADER, *work += MALLOC_HEADER;
		const gh_type *t = *(const gh_type *const *)obj;
		if (t) /* NULL only for a moment, while its CPU allocates it black */
			scan_resumable(w, q, obj + MALLOC_HEADER, t, from, obj + s->elemsize, work);
		else
			*work += obj + s->elemsize - from;
		return;
	}
	for (uint64_t bits = heap_bits_of(s, b); bits; bits &= bits - 1)
		grey_slot(w, q, b + 8 * (uintptr_t)__builtin_ctzll(bits));
	*work += s->elemsize;
}

void gc_scan_object(struct gcwork *w, uintptr_t b, uint64_t *work)
{
	scan_object(w, NULL, gh_span_of(b), b, work);
}

/* ---- roots ---- */

static void scan_stack(void *ctx, uintptr_t lo, uintptr_t hi)
{
	if (hi > lo)
		gh_scan_conservative(ctx, lo, hi - lo);
}

void gc_mark_stacks(struct gh_cpu *c)
{
	/* This CPU's callee-saved registers, onto its stack: the port scans
	 * from below this frame up. */
	uintptr_t regs[6];
	GH_SPILL_CALLEE_SAVED(regs);
	check_from_stack = true;
	gh_port_scan_stacks(scan_stack, &c->gc.gcw);
	check_from_stack = false;
	GC_WIPE(regs);
}

/* Every registered root range. */
static void mark_roots(struct gcwork *w)
{
	unsigned long cookie = gh_lock(&gh_gcs.roots_lock);
	for (struct gc_root *r = gh_gcs.roots; r; r = r->next)
		gh_scan_conservative(w, r->base, r->len);
	gh_unlock(&gh_gcs.roots_lock, cookie);
}

/* Every live object of gh_malloc_scanned memory. */
static void mark_scanned(struct gcwork *w)
{
	unsigned long cookie = gh_lock(&gh_gcs.scanned_lock);
	for (struct mspan *s = gh_gcs.scanned; s; s = s->scanned_next) {
		if (s->state == MSPAN_LARGE) {
			gh_scan_conservative(w, s->base, s->npages * PAGE_SIZE);
			continue;
		}
		for (uint32_t i = 0; i < s->nelems; i++)
			if (span_bit(s->allocBits, i))
				gh_scan_conservative(w, span_obj_addr(s, i), s->elemsize);
	}
	gh_unlock(&gh_gcs.scanned_lock, cookie);
}

static void run_root_job(struct gh_cpu *c, unsigned job)
{
	struct gcwork *w = &c->gc.gcw;
	if (job == 0)
		mark_roots(w);
	else if (job == 1)
		mark_scanned(w);
	else
		gc_mark_finalizers(w, &w->scan_work);
}

/*
 * The next ROOT_BLOCK bytes of the registered ranges, scanned under
 * roots_lock: a range is not removed (and its memory given back) under
 * the scan, and gh_gc_remove_root waits for one block at most. A range
 * registered while marking is put before the ones the blocks go through,
 * and one removed is skipped: both are shaded whole as that happens
 * (shade_root). Blocks are cut at word boundaries. False when no block is
 * left; the first CPU to find so counts the job done (every block before
 * was scanned under the lock it holds).
 */
static bool mark_root_block(struct gcwork *w)
{
	struct gcstate *g = &gh_gcs;
	unsigned long cookie = gh_lock(&g->roots_lock);
	struct gc_root *r = g->root_next;
	if (!r) {
		bool first = !g->ranges_done;
		__atomic_store_n(&g->ranges_done, true, __ATOMIC_RELAXED);
		gh_unlock(&g->roots_lock, cookie);
		if (first)
			__atomic_fetch_add(&g->roots_done, 1, __ATOMIC_RELEASE);
		return false;
	}
	uintptr_t from = gh_align_up(r->base, sizeof(uintptr_t)) + g->root_offset;
	uintptr_t end = r->base + r->len;
	uintptr_t to = from < end && end - from > ROOT_BLOCK ? from + ROOT_BLOCK : end;
	if (from < to)
		gh_scan_conservative(w, from, to - from);
	if (to == end)
		g->root_next = r->next, g->root_offset = 0;
	else
		g->root_offset += ROOT_BLOCK;
	gh_unlock(&g->roots_lock, cookie);
	return true;
}

bool gc_mark_root(struct gh_cpu *c)
{
	if (!__atomic_load_n(&gh_gcs.ranges_done, __ATOMIC_RELAXED) &&
	    mark_root_block(&c->gc.gcw))
		return true;
	if (__atomic_load_n(&gh_gcs.roots_next, __ATOMIC_RELAXED) >= GC_ROOT_JOBS)
		return false;
	unsigned job = __atomic_fetch_add(&gh_gcs.roots_next, 1, __ATOMIC_ACQ_REL);
	if (job >= GC_ROOT_JOBS)
		return false;
	run_root_job(c, job);
	__atomic_fetch_add(&gh_gcs.roots_done, 1, __ATOMIC_RELEASE);
	return true;
}

/* Call fn on every collected span, in address order (world stopped, or
 * marking: spans are not freed then). */
static void each_gc_span(void (*fn)(struct mspan *s, void *arg), void *arg)
{
	struct mheap *h = &gh_mheap;
	for (unsigned r = 0; r < h->nranges; r++)
		for (uintptr_t a = h->ranges[r].base, end = a + h->ranges[r].len; a < end;) {
			struct mspan *s = gh_span_of(a);
			if (!s || s->base != a ||
			    (s->state != MSPAN_GC && s->state != MSPAN_GC_LARGE)) {
				a += PAGE_SIZE;
				continue;
			}
			fn(s, arg);
			a += s->npages * PAGE_SIZE;
		}
}

/* After an overflow: scan every marked object again, queueing what it
 * reaches that is not marked yet. */
static void rescan_span(struct mspan *s, void *arg)
{
	struct gcwork *w = arg;
	uint64_t work = 0;
	if (!has_pointers(s))
		return;
	if (s->state == MSPAN_GC_LARGE) {
		if (gh_span_marked(s, 0)) /* its first piece, which queues the others */
			gc_scan_object(w, s->base, &work);
	} else {
		for (uint32_t i = 0; i < s->nelems; i++)
			if (span_bit(s->gcmarkBits, i))
				gc_scan_object(w, span_obj_addr(s, i), &work);
	}
	gh_stat_add(&w->scan_work, work);
}

/*
 * Scanning waits on memory: the object, its heap bits and its span's
 * record are rarely in the cache. The drain loop therefore takes objects a
 * few ahead of scanning them and prefetches what their scan will read
 * (Boehm's mark stack prefetching; Cher, Hosking and Vijaykumar's FIFO
 * prefetch buffer). A span's heap bits are at the end of its page when it
 * has them; prefetching that line when it has not costs nothing.
 */
#define PREFETCH_AHEAD 8

/* Prefetch what scanning the object at b reads. Returns its arena index
 * entry, where the scan finds its span. */
static inline struct mspan **prefetch_object(uintptr_t b)
{
	__builtin_prefetch((const void *)b);
	uintptr_t page = b & ~(uintptr_t)(PAGE_SIZE - 1), off = (b - page) / 8;
	__builtin_prefetch((const void *)(page + PAGE_SIZE - HEAPBITS_BYTES + off / 64 * 8));
	struct mspan **slot = gh_span_slot(b); /* queued objects are in the heap */
	__builtin_prefetch(slot);
	return slot;
}

uint64_t gc_drain(struct gh_cpu *c, uint64_t budget)
{
	struct gcwork *w = &c->gc.gcw;
	uint64_t work = 0, start = w->scan_work;
	uintptr_t ahead[PREFETCH_AHEAD];
	struct mspan **slots[PREFETCH_AHEAD]; /* their arena index entries */
	unsigned head = 0, queued = 0;
	struct greyq q = {0};
	/* the checkmark pass greys pointer by pointer, to report each */
	struct greyq *qp = gh_gcs.in_checkmark ? NULL : &q;
	__atomic_fetch_add(&gh_gcs.nbusy, 1, __ATOMIC_ACQ_REL);
	for (unsigned n = 0;; n++) {
		/* past the budget, only what was taken ahead is scanned */
		bool more = work + (w->scan_work - start) < budget;
		if (!more && !queued)
			break;
		uintptr_t b = more ? gh_gcwork_tryget_fast(w) : 0;
		struct mspan **slot;
		if (b) {
			struct mspan **bslot = prefetch_object(b);
			if (queued < PREFETCH_AHEAD) {
				unsigned t = (head + queued++) % PREFETCH_AHEAD;
				ahead[t] = b, slots[t] = bslot;
				continue;
			}
			uintptr_t next = ahead[head];
			slot = slots[head];
			ahead[head] = b, slots[head] = bslot;
			b = next;
			head = (head + 1) % PREFETCH_AHEAD;
		} else if (queued) {
			b = ahead[head], slot = slots[head];
			head = (head + 1) % PREFETCH_AHEAD;
			queued--;
		} else {
			if (!greyq_empty(&q)) { /* what the pipeline holds may be work */
				greyq_flush(w, &q);
				continue;
			}
			if (gc_mark_root(c))
				continue;
			if (__atomic_exchange_n(&gh_work.overflow, 0, __ATOMIC_ACQ_REL)) {
				each_gc_span(rescan_span, w);
				continue;
			}
			break;
		}
		scan_object(w, qp, __atomic_load_n(slot, __ATOMIC_ACQUIRE), b, &work);
		if (n % 16 == 15)
			gh_gcwork_balance(w);
		/* A CPU waits to stop the world: end the piece here (some work
		 * is done, so callers do not read the end as the mark's), and
		 * what was taken ahead goes back to be scanned later. */
		if (gc_stop_wanted()) {
			budget = 0;
			for (; queued; queued--, head = (head + 1) % PREFETCH_AHEAD)
				gh_gcwork_put(w, ahead[head]);
		}
	}
	greyq_flush(w, &q);
	/* what was taken ahead is scanned (the pipeline's rings are left
	 * empty by greyq_flush) */
	GC_WIPE(ahead);
	gh_stat_add(&w->scan_work, work);
	uint64_t did = w->scan_work - start;
	__atomic_fetch_add(&gh_gcs.scan_done, did, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&gh_gcs.nbusy, 1, __ATOMIC_ACQ_REL);
	if (did)
		gc_pacer_revise();
	return did;
}

/* As deep as gc_drain's calls go (measured: under 1.5 KiB with the
 * sanitizers' larger frames). */
#define DRAIN_STACK 2048

__attribute__((noinline)) uint64_t gc_drain_piece(struct gh_cpu *c, uint64_t budget)
{
	uint64_t did = gc_drain(c, budget);
	if (did) /* one that found no work held no object */
		gh_clear_stack(DRAIN_STACK); /* where gc_drain's frames were */
	return did;
}

/* ---- checkmark (Go's mcheckmark.go) ---- */

static void clear_checkmark(struct mspan *s, void *arg)
{
	(void)arg;
	if (s->state == MSPAN_GC_LARGE)
		__atomic_fetch_and(&s->largemark, ~LARGE_CHECKMARK, __ATOMIC_RELAXED);
	else
		__builtin_memset(s->freeBits, 0, (s->nelems + 63u) / 64 * 8);
}

uint64_t gc_checkmark(struct gh_cpu *c)
{
	struct gcwork *w = &c->gc.gcw;
	uint64_t before = gh_gcs.checkmark_errors, work = 0;
	each_gc_span(clear_checkmark, NULL);
	gh_gcs.in_checkmark = 1;
	gc_mark_stacks(c);
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++)
		if (gh_mheap.cpus[i].gc.tiny)
			grey(w, gh_mheap.cpus[i].gc.tiny, 0, true);
	for (unsigned job = 0; job < GC_ROOT_JOBS; job++)
		run_root_job(c, job);
	for (uintptr_t b; (b = gh_gcwork_tryget(w));)
		gc_scan_object(w, b, &work);
	gh_gcs.in_checkmark = 0;
	each_gc_span(clear_checkmark, NULL);
	return gh_gcs.checkmark_errors - before;
}
