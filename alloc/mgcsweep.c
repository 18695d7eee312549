/*
 * mgcsweep.c — sweeping collected spans (Go's mgcsweep.go) and the sets
 * they wait in between (Go's mcentral.go for the collected heap); mgc.h
 * explains sweepgen and the sets.
 *
 * Sweeping a span makes its mark bits its allocation bits: every object
 * the last mark did not reach is free. A span left with no object goes
 * back to the page heap; an unmarked object with a finalizer is kept one
 * more cycle and its finalizer queued (mfinal.c). Spans are swept lazily
 * by the CPU that needs one of its class, by a CPU about to take fresh
 * pages for collected objects (as many pages as it takes, Go's
 * mheap.reclaim), in the background by gh_gc_background, and all of them
 * before the next mark starts.
 */
#include "mgc.h"

struct lfstack *gc_set(unsigned spc, bool swept, bool partial)
{
	uint32_t sg = __atomic_load_n(&gh_mheap.sweepgen, __ATOMIC_ACQUIRE);
	unsigned i = (sg / 2 + !swept) % 2;
	struct gccentral *m = &gh_gcs.central[spc];
	return partial ? &m->partial[i] : &m->full[i];
}

/* Put s, which no CPU holds now, in its class's set by its state. */
static void put(struct mspan *s)
{
	bool swept = s->sweepgen == __atomic_load_n(&gh_mheap.sweepgen, __ATOMIC_ACQUIRE);
	bool partial = s->state == MSPAN_GC && s->allocCount < s->nelems;
	span_set_owner(s, partial ? OWN_PARTIAL : OWN_FULL);
	gh_lfstack_push(gc_set(s->spanclass, swept, partial), s);
}

void gc_uncache(struct gh_cpu *c, struct mspan *s)
{
	/* what its cache offered and no one took is not allocated */
	gc_count_alloc(c, s, -(int64_t)span_offered(s));
	if (gc_marking())
		gc_blacken(&c->gc.gcw, s);
	uint32_t below = s->freeindex;
	__atomic_store_n(&s->blackfrom, (uint16_t)below, __ATOMIC_RELAXED);
	for (uint32_t w = 0; w < (below + 63u) / 64; w++)
		__atomic_store_n(&s->allocBits[w], s->allocBits[w] | bits_below(below, w),
				 __ATOMIC_RELAXED);
	uint32_t n = gc_span_count_alloc(s);
	/* heap_live counted the whole span when it was cached */
	__atomic_fetch_sub(&gh_gcs.heap_live, (uint64_t)(s->nelems - n) * s->elemsize,
			   __ATOMIC_RELAXED);
	__atomic_store_n(&s->allocCount, n, __ATOMIC_RELAXED);
	put(s);
}

static uint32_t popcount(const uint64_t *bits, uint32_t words)
{
	uint32_t n = 0;
	for (uint32_t w = 0; w < words; w++)
		n += (uint32_t)__builtin_popcountll(__atomic_load_n(&bits[w], __ATOMIC_RELAXED));
	return n;
}

bool gc_sweep_span(struct gh_cpu *c, struct mspan *s)
{
	uint32_t sg = __atomic_load_n(&gh_mheap.sweepgen, __ATOMIC_ACQUIRE);
	GH_ENSURE(s->sweepgen == sg - 2);
	__atomic_store_n(&s->sweepgen, sg - 1, __ATOMIC_RELEASE);
	span_set_owner(s, OWN_NONE);
	if (s->specials)
		gc_sweep_specials(s);
	unsigned spc = s->spanclass;
	if (s->state == MSPAN_GC_LARGE) {
		if (__atomic_load_n(&s->largemark, __ATOMIC_RELAXED) & 1) {
			__atomic_store_n(&s->largemark, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
			return true;
		}
		gh_stat_add(&c->mcache.nfree[spc], 1);
		gh_stat_add(&c->mcache.large_free_bytes, s->npages * PAGE_SIZE);
		gh_stat_add(&c->gc.nfree, 1);
		gh_stat_add(&c->gc.free_bytes, s->npages * PAGE_SIZE);
		__atomic_store_n(&s->largeType, NULL, __ATOMIC_RELAXED);
		s->largeData = 0;
		gh_mheap_free(c, s, false);
		return false;
	}
	uint32_t words = (s->nelems + 63u) / 64;
	uint32_t before = popcount(s->allocBits, words), after = popcount(s->gcmarkBits, words);
	GH_ENSURE(after <= before);
	gh_stat_add(&c->mcache.nfree[spc], before - after);
	gh_stat_add(&c->gc.nfree, before - after);
	gh_stat_add(&c->gc.free_bytes, (uint64_t)(before - after) * s->elemsize);
	for (uint32_t w = 0; w < words; w++) {
		__atomic_store_n(&s->allocBits[w], s->gcmarkBits[w], __ATOMIC_RELAXED);
		__atomic_store_n(&s->gcmarkBits[w], 0, __ATOMIC_RELAXED);
	}
	s->needzero |= before != after;
	__atomic_store_n(&s->allocCount, after, __ATOMIC_RELAXED);
	__atomic_store_n(&s->freeindex, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->allocCache, 0, __ATOMIC_RELAXED);
	if (!after) {
		gh_mheap_free(c, s, false);
		return false;
	}
	__atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
	return true;
}

/* Go's spanBudget: how many full unswept spans a CPU looking for room sweeps
 * before it takes fresh pages instead. */
#define FULL_SWEEP_BUDGET 100

struct mspan *gc_central_get(struct gh_cpu *c, unsigned spc)
{
	struct mspan *s = gh_lfstack_pop(gc_set(spc, true, true));
	if (s)
		return s;
	while ((s = gh_lfstack_pop(gc_set(spc, false, true)))) {
		if (!gc_sweep_span(c, s))
			continue;
		if (s->allocCount < s->nelems)
			return s;
		put(s);
	}
	for (unsigned n = 0;
	     n < FULL_SWEEP_BUDGET && (s = gh_lfstack_pop(gc_set(spc, false, false))); n++) {
		if (!gc_sweep_span(c, s))
			continue;
		if (s->allocCount < s->nelems)
			return s;
		put(s);
	}
	return NULL;
}

/* Sweep one unswept span of any class: the pages it gave back to the
 * heap, or -1 when none is left to sweep. Then sweeping is done until the
 * next mark ends (the unswept sets only shrink in between), which
 * gh_gcs.sweep_done tells by the sweepgen it was found done at: a mark
 * that ended while this looked (it turns interrupts on between classes)
 * makes that an old one. */
static intptr_t sweep_next(void)
{
	uint32_t sg = __atomic_load_n(&gh_mheap.sweepgen, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&gh_gcs.sweep_done, __ATOMIC_ACQUIRE) == sg)
		return -1;
	for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++)
		for (int partial = 0; partial < 2; partial++) {
			unsigned long irq = gh_port_irq_save();
			struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
			struct mspan *s = gh_lfstack_pop(gc_set(spc, false, partial));
			intptr_t freed = 0;
			if (s) {
				uintptr_t npages = s->npages;
				if (gc_sweep_span(c, s))
					put(s);
				else
					freed = (intptr_t)npages;
			}
			gh_port_irq_restore(irq);
			if (s)
				return freed;
		}
	__atomic_store_n(&gh_gcs.sweep_done, sg, __ATOMIC_RELEASE);
	return -1;
}

bool gc_sweep_one(void)
{
	return sweep_next() >= 0;
}

/*
 * Go's mheap.reclaim sweeps only spans with no object marked, which give
 * all their pages back, found through a bitmap of the pages marked. The
 * unswept sets do not tell those apart, so a reclaim sweeps at most
 * RECLAIM_BUDGET spans, and the heap grows rather than sweep through a
 * large heap whose spans free nothing: with 1 GiB live, one reclaim of a
 * page swept 136,000 spans, for tens of milliseconds with interrupts off
 * (gcbench pauses 1024 1000000 2). It also gives way to a CPU that is
 * stopping the world, which waits for this one (refill reclaims with
 * interrupts off).
 */
unsigned gc_reclaim(uintptr_t npages)
{
	unsigned spans = 0;
	for (uintptr_t freed = 0; freed < npages && spans < RECLAIM_BUDGET && !gc_stop_wanted();
	     spans++) {
		intptr_t n = sweep_next();
		if (n < 0)
			break;
		freed += (uintptr_t)n;
	}
	return spans;
}

void gc_finish_sweep(void)
{
	while (gc_sweep_one())
		;
}
