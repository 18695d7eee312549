/*
 * mstats.c — heap figures (Go's mstats.go, runtime.ReadMemStats) and the
 * object half of gh_heap_check.
 *
 * The figures add up per-CPU counters that only their CPU writes: pages
 * taken and given back per span state, objects allocated and freed per
 * size class. Metadata comes from the allocators that hand it out.
 */
#include "mgc.h"

_Static_assert(GH_MEMSTATS_CLASSES == GH_NUM_SIZE_CLASSES, "goheap.h and sizeclasses.h disagree");

struct totals {
	uint64_t mallocs[GH_NUM_SIZE_CLASSES], frees[GH_NUM_SIZE_CLASSES];
	uint64_t large_alloc_bytes, large_free_bytes;
	uint64_t pages[MSPAN_NSTATES]; /* in use, by state */
};

static uint64_t load(const uint64_t *x)
{
	return __atomic_load_n(x, __ATOMIC_RELAXED);
}

static void add_up(struct totals *t)
{
	*t = (struct totals){0};
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		const struct gh_cpu *c = gh_cpu_prepared(i);
		if (!c)
			continue;
		for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++) {
			/* what the current span's cache still offers counts already */
			const struct mspan *s =
			    __atomic_load_n(&c->mcache.alloc[spc], __ATOMIC_RELAXED);
			const struct mspan *g =
			    __atomic_load_n(&c->gc.alloc[spc], __ATOMIC_RELAXED);
			uint64_t offered = span_offered(s) + span_offered(g);
			t->mallocs[SPANCLASS_SIZECLASS(spc)] +=
			    load(&c->mcache.nmalloc[spc]) - offered;
			/* and so do the frees its spans have not handed over yet */
			const struct mspan *f =
			    __atomic_load_n(&c->mcache.freeing[spc], __ATOMIC_RELAXED);
			t->frees[SPANCLASS_SIZECLASS(spc)] +=
			    load(&c->mcache.nfree[spc]) +
			    __atomic_load_n(&s->nfree_owner, __ATOMIC_RELAXED) +
			    (f ? __atomic_load_n(&f->nfree_owner, __ATOMIC_RELAXED) : 0);
		}
		t->large_alloc_bytes += load(&c->mcache.large_alloc_bytes);
		t->large_free_bytes += load(&c->mcache.large_free_bytes);
		for (unsigned st = 0; st < MSPAN_NSTATES; st++)
			t->pages[st] += load(&c->pages_alloc[st]) - load(&c->pages_free[st]);
	}
}

GH_NO_SANITIZE void gh_read_memstats(struct gh_memstats *m)
{
	struct mheap *h = &gh_mheap;
	*m = (struct gh_memstats){0};
	if (!gh_mheap_ready())
		return;
	struct totals t;
	unsigned long cookie = gh_lock(&h->lock);
	add_up(&t);
	uint64_t cached = 0;
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++)
		cached += (uint64_t)__builtin_popcountll(h->cpus[i].pcache.cache);
	m->HeapIdle = (gh_free_pages_locked(h) + cached) * PAGE_SIZE;
	m->MSpanInuse = h->spanalloc.inuse;
	m->MSpanSys = h->spanalloc.sys;
	for (unsigned i = 0; i < BITS_POOLS; i++)
		m->GCSys += h->bitsalloc[i].sys;
	uint64_t metadata = h->carved + h->meta_pages * PAGE_SIZE;
	gh_unlock(&h->lock, cookie);

	for (unsigned cls = 0; cls < GH_NUM_SIZE_CLASSES; cls++) {
		m->BySize[cls].Size = gh_class_to_size[cls];
		m->BySize[cls].Mallocs = t.mallocs[cls];
		m->BySize[cls].Frees = t.frees[cls];
		m->Mallocs += t.mallocs[cls];
		m->Frees += t.frees[cls];
		m->TotalAlloc += t.mallocs[cls] * gh_class_to_size[cls];
		m->HeapAlloc += (t.mallocs[cls] - t.frees[cls]) * gh_class_to_size[cls];
	}
	m->TotalAlloc += t.large_alloc_bytes;
	m->HeapAlloc += t.large_alloc_bytes - t.large_free_bytes;
	m->Alloc = m->HeapAlloc;
	m->HeapObjects = m->Mallocs - m->Frees;
	m->HeapInuse = (t.pages[MSPAN_SMALL] + t.pages[MSPAN_LARGE] + t.pages[MSPAN_GC] +
			t.pages[MSPAN_GC_LARGE]) *
		       PAGE_SIZE;
	m->HeapSys = m->HeapInuse + m->HeapIdle;
	m->HeapReleased = __atomic_load_n(&h->released_pages, __ATOMIC_RELAXED) * PAGE_SIZE;
	m->PageInuse = m->PageSys = t.pages[MSPAN_MANUAL] * PAGE_SIZE;
	m->MCacheInuse = m->MCacheSys = h->ncpu * sizeof(struct gh_cpu);
	m->OtherSys = metadata - m->MSpanSys - m->MCacheSys - m->GCSys;
	m->Sys = m->HeapSys + m->PageSys + m->MSpanSys + m->MCacheSys + m->GCSys + m->OtherSys;
	const struct gcstate *g = &gh_gcs;
	m->NextGC = g->heap_goal;
	m->NumGC = __atomic_load_n(&g->completed, __ATOMIC_ACQUIRE); /* then its cycles' figures */
	m->NumForcedGC = (uint32_t)g->num_forced;
	m->PauseTotalNs = g->pause_total;
	/* Go's layout: cycle n's pauses at [(n + 255) % 256] */
	for (unsigned i = 0; i < 256; i++) {
		m->PauseNs[i] = g->pause_ns[i];
		m->PauseEnd[i] = g->pause_end[i];
	}
	m->LastGC = g->completed ? g->t_end : 0;
	uint64_t since = g->t_end > g->first_start ? g->t_end - g->first_start : 0;
	m->GCCPUPermille = since ? (uint32_t)(g->cpu_ns_gc * 1000 / (since * gh_port_nprocs())) : 0;
}

/* ---- gh_heap_check ---- */

static struct {
	uint64_t pages[MSPAN_NSTATES];
	uint64_t live_small, large_spans, large_bytes, partial;
} seen;

void gh_check_objects_begin(void)
{
	__builtin_memset(&seen, 0, sizeof(seen));
}

bool gh_check_span_objects(struct mspan *s)
{
	seen.pages[s->state] += s->npages;
	if (s->state == MSPAN_LARGE || s->state == MSPAN_GC_LARGE) {
		seen.large_spans++;
		seen.large_bytes += s->npages * PAGE_SIZE;
	}
	if (s->state == MSPAN_GC) { /* collected: allocBits and freeindex */
		seen.live_small += gc_span_count_alloc(s);
		return true;
	}
	if (s->state != MSPAN_SMALL)
		return true;
	if (!gh_span_check(s))
		return false;
	unsigned kind = span_owner_kind(s);
	if (OWN_IS_CPU(kind)) {
		unsigned cpu = kind & 0x7fffu;
		const struct mcache *mc = cpu < gh_mheap.ncpu ? &gh_mheap.cpus[cpu].mcache : NULL;
		if (!mc || (mc->alloc[s->spanclass] != s && mc->freeing[s->spanclass] != s)) {
			gh_logf("mcache: span at %p says CPU %u owns it; that CPU does not hold it",
				(void *)s->base, cpu);
			return false;
		}
	}
	seen.partial += kind == OWN_PARTIAL;
	seen.live_small += span_count_alloc(s) - (uint32_t)(s->remote >> 32);
	return true;
}

bool gh_check_objects_end(void)
{
	struct mheap *h = &gh_mheap;
	for (unsigned cpu = 0, end = gh_ncpu_used(); cpu < end; cpu++) {
		if (!gh_cpu_prepared(cpu))
			continue;
		const struct mcache *mc = &h->cpus[cpu].mcache;
		for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++) {
			const struct mspan *a = mc->alloc[spc], *f = mc->freeing[spc];
			if ((a != &gh_empty_span &&
			     (a->state != MSPAN_SMALL || span_owner_kind(a) != OWN_CPU(cpu) ||
			      a->spanclass != spc)) ||
			    (f && (f->state != MSPAN_SMALL || span_owner_kind(f) != OWN_CPU(cpu) ||
				   f->spanclass != spc))) {
				gh_logf("mcache: CPU %u holds a span of class %u it does not own",
					cpu, spc);
				return false;
			}
		}
	}
	uint64_t partial = 0;
	for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++)
		for (struct mspan *s = gh_lfstack_first(&h->central[spc].partial); s;
		     s = gh_lfstack_next(&h->central[spc].partial, s)) {
			unsigned kind = span_owner_kind(s);
			if (kind == OWN_ZOMBIE)
				continue;
			if (kind != OWN_PARTIAL || s->state != MSPAN_SMALL || s->spanclass != spc) {
				gh_logf("mcentral: class %u's set holds a span in state %x", spc,
					kind);
				return false;
			}
			partial++;
		}
	if (partial != seen.partial) {
		gh_logf("mcentral: %lu spans are partial, the sets hold %lu",
			(unsigned long)seen.partial, (unsigned long)partial);
		return false;
	}
	struct totals t;
	add_up(&t);
	uint64_t live = 0;
	for (unsigned cls = 1; cls < GH_NUM_SIZE_CLASSES; cls++)
		live += t.mallocs[cls] - t.frees[cls];
	static const uint8_t states[] = {MSPAN_MANUAL, MSPAN_SMALL, MSPAN_LARGE, MSPAN_GC,
					 MSPAN_GC_LARGE};
	for (unsigned i = 0; i < sizeof(states); i++)
		if (t.pages[states[i]] != seen.pages[states[i]]) {
			gh_logf("mheap: %lu pages are in spans of state %u, the counters say %lu",
				(unsigned long)seen.pages[states[i]], states[i],
				(unsigned long)t.pages[states[i]]);
			return false;
		}
	if (live != seen.live_small || t.mallocs[0] - t.frees[0] != seen.large_spans ||
	    t.large_alloc_bytes - t.large_free_bytes != seen.large_bytes) {
		gh_logf("malloc: the spans hold %lu small and %lu large objects, the counters "
			"say %lu and %lu",
			(unsigned long)seen.live_small, (unsigned long)seen.large_spans,
			(unsigned long)live, (unsigned long)(t.mallocs[0] - t.frees[0]));
		return false;
	}
	return true;
}
