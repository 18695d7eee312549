/*
 * mcache.c — refilling and flushing a CPU's object cache (Go's mcache.go
 * refill and releaseAll, with mcentral.go's cacheSpan and grow).
 *
 * When a CPU's current span of a class runs out, it looks for room in this
 * order: the same span again (objects freed into it since it was scanned),
 * the span it took over to free into, a partial span from mcentral, and
 * last a fresh span from the page heap.
 *
 * Counting, as Go does: the objects a span's allocCache offers count as
 * allocated (mcache.nmalloc) when the cache is loaded, and those not handed
 * out are taken back when it is given up, so the fast path counts nothing.
 */
#include "mspan.h"

static void count_cache(struct mcache *mc, const struct mspan *s, int64_t sign)
{
	gh_stat_add(&mc->nmalloc[s->spanclass], (uint64_t)(sign * (int64_t)span_offered(s)));
}

/* Hand out object idx of s, which this CPU owns, and count what its freshly
 * loaded cache offers. */
static uintptr_t take(struct mcache *mc, struct mspan *s, uint32_t idx)
{
	span_set_alloc(s, idx);
	count_cache(mc, s, 1);
	gh_stat_add(&mc->nmalloc[s->spanclass], 1);
	return span_obj_addr(s, idx);
}

/* Make s the current span of class spc (or none); others read the pointer
 * (gh_read_memstats). */
static void set_current(struct mcache *mc, unsigned spc, struct mspan *s)
{
	__atomic_store_n(&mc->alloc[spc], s, __ATOMIC_RELAXED);
}

/* Room left in a span this CPU owns, after merging remote frees. */
static uint32_t room(struct mspan *s)
{
	gh_span_merge(s);
	return s->nelems - span_count_alloc(s);
}

/* Make s the current span of its class and take its first free object. */
static uintptr_t use(struct mcache *mc, unsigned spc, struct mspan *s)
{
	gh_span_poison_sync(s);
	gh_span_rewind(s);
	set_current(mc, spc, s);
	uint32_t idx = gh_span_next_free_index(s);
	GH_ENSURE(idx < s->nelems);
	return take(mc, s, idx);
}

uintptr_t gh_mcache_refill(struct gh_cpu *c, unsigned spc, unsigned cpu, bool nowait)
{
	struct mcache *mc = &c->mcache;
	struct mspan *s = mc->alloc[spc];
	if (s != &gh_empty_span) {
		count_cache(mc, s, -1); /* a flagged allocation comes with a full cache */
		uint32_t idx = gh_span_next_free_index(s);
		if (idx < s->nelems)
			return take(mc, s, idx);
		uint32_t free = room(s);
		if (free && free * REWIND_FRACTION >= s->nelems)
			return use(mc, spc, s);
		set_current(mc, spc, &gh_empty_span);
		gh_span_release(c, s);
	}
	s = mc->freeing[spc];
	if (s) {
		__atomic_store_n(&mc->freeing[spc], NULL, __ATOMIC_RELAXED);
		if (room(s))
			return use(mc, spc, s);
		gh_span_release(c, s);
	}
	while ((s = gh_span_pop_partial(c, spc, cpu))) {
		if (room(s))
			return use(mc, spc, s);
		gh_span_release(c, s);
	}
	bool zeroed;
	unsigned cls = SPANCLASS_SIZECLASS(spc);
	s = gh_mheap_alloc(c, gh_class_to_npages[cls], PAGE_SIZE, MSPAN_SMALL, nowait, &zeroed);
	if (!s)
		return 0;
	if (!gh_span_init_small(c, s, spc, cpu, nowait)) {
		gh_mheap_free(c, s, false);
		return 0;
	}
	return use(mc, spc, s);
}

void gh_mcache_flush(struct gh_cpu *c)
{
	struct mcache *mc = &c->mcache;
	for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++) {
		struct mspan *s = mc->alloc[spc];
		if (s != &gh_empty_span) {
			count_cache(mc, s, -1);
			set_current(mc, spc, &gh_empty_span);
			gh_span_release(c, s);
		}
		s = mc->freeing[spc];
		if (s) {
			__atomic_store_n(&mc->freeing[spc], NULL, __ATOMIC_RELAXED);
			gh_span_release(c, s);
		}
	}
	if (c->pcache.cache) {
		unsigned long cookie = gh_lock(&gh_mheap.lock);
		gh_pagecache_flush(&c->pcache, &gh_mheap.pages);
		gh_unlock(&gh_mheap.lock, cookie);
	}
}
