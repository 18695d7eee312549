/*
 * mheap.c — the page heap (Go's mheap.go): taking memory in (gh_init,
 * gh_add_memory), the arena index from any address to its span, span
 * records, and page runs for kernel code (gh_page_alloc/gh_page_free, Go's
 * allocManual/freeManual).
 *
 * Metadata lives in the memory goheap manages: gh_init carves a window out
 * of the largest range for the structures that describe all the ranges, and
 * later metadata comes from the page heap itself (persistentalloc.c).
 *
 * The fast path of gh_page_alloc (runs under PAGECACHE_MAX_RUN pages) takes
 * no lock: pages come from this CPU's page cache and the span record from
 * this CPU's record cache. gh_page_free of a run inside this CPU's cache
 * block puts it back there, also without a lock. Everything else takes
 * mheap.lock.
 */
#include "mheap.h"

static struct arena_window no_window;
struct mheap gh_mheap = {.window = &no_window};
struct mspan gh_freed_span;
struct mspan gh_meta_span = {.state = MSPAN_META};

#define MAX_PAGES ((uintptr_t)1 << (ADDR_BITS - PAGE_SHIFT))

/* ---- the arena index ---- */

/* Point every page of [base, base + npages) at s (arenas exist). */
static void set_spans(uintptr_t base, uintptr_t npages, struct mspan *s)
{
	for (uintptr_t i = 0; i < npages; i++)
		__atomic_store_n(gh_span_slot(base + i * PAGE_SIZE), s, __ATOMIC_RELEASE);
}

void gh_mheap_set_meta(uintptr_t base, uintptr_t npages)
{
	set_spans(base, npages, &gh_meta_span);
}

/* The arenas a window over the index and [base, end) would span, or 0 when
 * that is more than a window may. */
static uintptr_t window_span(uintptr_t base, uintptr_t end, uintptr_t *first)
{
	const struct arena_window *w = gh_mheap.window;
	uintptr_t lo = LINEAR(base) >> ARENA_SHIFT, hi = (LINEAR(end - 1) >> ARENA_SHIFT) + 1;
	if (w->len) {
		lo = lo < w->first ? lo : w->first;
		hi = hi > w->first + w->len ? hi : w->first + w->len;
	}
	*first = lo;
	return hi - lo <= ARENA_WINDOW_MAX ? hi - lo : 0;
}

/* The metadata for a window over the index and [base, end). */
static uintptr_t window_cost(uintptr_t base, uintptr_t end)
{
	uintptr_t first, n = window_span(base, end, &first);
	return n ? sizeof(struct arena_window) + n * sizeof(void *) + 64 : 0;
}

/* Publish a window over the index that covers [base, end) as well, if one
 * may; mheap.lock held. Without one (no room), lookups there take the
 * two-level index. */
static bool new_window(uintptr_t base, uintptr_t end)
{
	uintptr_t first, n = window_span(base, end, &first);
	if (!n)
		return true; /* too sparse: those addresses take the two-level index */
	struct arena_window *w =
	    gh_persistentalloc_locked(sizeof(*w) + n * sizeof(struct heap_arena *), 64);
	if (!w)
		return false;
	w->first = first;
	w->len = n;
	for (uintptr_t i = 0; i < n; i++)
		w->arenas[i] = gh_arena_of(first + i);
	__atomic_store_n(&gh_mheap.window, w, __ATOMIC_RELEASE);
	return true;
}

/* Index records for every arena of [base, end); mheap.lock held. */
static bool ensure_arenas(uintptr_t base, uintptr_t end)
{
	struct mheap *h = &gh_mheap;
	for (uintptr_t ai = LINEAR(base) >> ARENA_SHIFT; ai <= (LINEAR(end - 1) >> ARENA_SHIFT);
	     ai++) {
		struct heap_arena ***l1 = &h->arenas[ai >> ARENA_L2_BITS];
		if (!*l1) {
			void *t = gh_persistentalloc_locked(ARENA_L2_ENTRIES * sizeof(void *), 64);
			if (!t)
				return false;
			__atomic_store_n(l1, t, __ATOMIC_RELEASE);
		}
		struct heap_arena **slot = &(*l1)[ai & (ARENA_L2_ENTRIES - 1)];
		if (!*slot) {
			struct heap_arena *a = gh_persistentalloc_locked(sizeof(*a), 64);
			if (!a)
				return false;
			__atomic_store_n(slot, a, __ATOMIC_RELEASE);
		}
	}
	return true;
}

/* An upper bound on the metadata for adding [base, base + len): the arena
 * records and index tables that do not exist yet, and the pagealloc's part. */
static uintptr_t grow_cost(uintptr_t base, uintptr_t len)
{
	uintptr_t cost = gh_pagealloc_grow_cost(&gh_mheap.pages, base, len),
		  last_l1 = ~(uintptr_t)0;
	for (uintptr_t ai = LINEAR(base) >> ARENA_SHIFT;
	     ai <= (LINEAR(base + len - 1) >> ARENA_SHIFT); ai++) {
		struct heap_arena **l2 = gh_mheap.arenas[ai >> ARENA_L2_BITS];
		if (!l2 && ai >> ARENA_L2_BITS != last_l1)
			cost += ARENA_L2_ENTRIES * sizeof(void *) + 64;
		last_l1 = ai >> ARENA_L2_BITS;
		if (!l2 || !l2[ai & (ARENA_L2_ENTRIES - 1)])
			cost += sizeof(struct heap_arena) + 64;
	}
	return cost;
}

static bool overlaps_managed(uintptr_t base, uintptr_t end)
{
	for (unsigned i = 0; i < gh_mheap.nranges; i++) {
		const struct gh_range *r = &gh_mheap.ranges[i];
		if (base < r->base + r->len && r->base < end)
			return true;
	}
	return false;
}

/* Take [base, end) in: index it, then give its pages to the page allocator. */
static bool add_range_locked(uintptr_t base, uintptr_t end)
{
	struct mheap *h = &gh_mheap;
	if (h->nranges == sizeof(h->ranges) / sizeof(h->ranges[0]))
		return false;
	if (!ensure_arenas(base, end) || !gh_pagealloc_grow(&h->pages, base, end - base))
		return false;
	if (gh_port_memory_zeroed())
		gh_mheap_released(base, (end - base) / PAGE_SIZE);
	h->ranges[h->nranges++] = (struct gh_range){base, end - base};
	/* widened under the lock, before any page of the range is handed out */
	if (!h->lo || base < h->lo)
		__atomic_store_n(&h->lo, base, __ATOMIC_RELEASE);
	if (end > h->hi)
		__atomic_store_n(&h->hi, end, __ATOMIC_RELEASE);
	return true;
}

/* Round a range inwards to whole pages, leaving out page 0. */
static bool clip(uintptr_t *base, uintptr_t *end, uintptr_t b, size_t len)
{
	*base = gh_align_up(b ? b : PAGE_SIZE, PAGE_SIZE);
	*end = b + len < b ? gh_align_down(~(uintptr_t)0, PAGE_SIZE)
			   : gh_align_down(b + len, PAGE_SIZE);
	return *end > *base;
}

/* Use the top of [base, *end) for metadata: the global persistentalloc chunk
 * starts there. */
static void carve(uintptr_t *end, uintptr_t bytes)
{
	bytes = gh_align_up(bytes, PAGE_SIZE);
	*end -= bytes;
	gh_mheap.pers_off = *end;
	gh_mheap.pers_end = *end + bytes;
	gh_mheap.carved += bytes;
	if (!gh_port_memory_zeroed()) /* else reading it would fault it all in */
		gh_zero_pages(*end, bytes);
}

static void *pagealloc_meta(void *ctx, size_t bytes)
{
	(void)ctx;
	return gh_persistentalloc_locked(bytes, 64);
}

/* Set up c once: the first caller does, the others wait for it. */
static void cpu_prepare(struct gh_cpu *c)
{
	uint32_t state = CPU_NEW;
	if (__atomic_compare_exchange_n(&c->prepared, &state, CPU_PREPARING, false,
					__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++)
			c->mcache.alloc[spc] = c->gc.alloc[spc] = &gh_empty_span;
		__atomic_store_n(&c->prepared, CPU_READY, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&c->prepared, __ATOMIC_ACQUIRE) != CPU_READY)
		__builtin_ia32_pause();
}

/*
 * A CPU's structures are set up when it is first used, not all of them by
 * gh_init: a hosted port has 64 thread slots of 7.5 KiB each, and setting
 * up every one put them all in the process's memory. gh_init sets up the
 * CPUs used so far, [0, gh_port_ncpu_used()); a port whose count grows
 * calls this for each CPU it adds. The two may race, and each looks for
 * the other's store first (sequentially consistent on both sides): either
 * gh_init sees the count that includes cpu, or this sees cpus_setup.
 */
void gh_cpu_prepare(unsigned cpu)
{
	struct gh_cpu *cpus = __atomic_load_n(&gh_mheap.cpus_setup, __ATOMIC_SEQ_CST);
	if (cpus && cpu < gh_mheap.ncpu)
		cpu_prepare(&cpus[cpu]);
}

int gh_init(const struct gh_range *ranges, unsigned n)
{
	struct mheap *h = &gh_mheap;
	GH_ENSURE(!h->ready);
	gh_pagealloc_init(&h->pages, pagealloc_meta, NULL);
	gh_fixalloc_init(&h->spanalloc, sizeof(struct mspan));
	h->spanalloc.zero = false; /* see struct mspan */
	/* Whole cache lines: a CPU writes its spans' bitmaps on every
	 * allocation and free, so two CPUs' spans must not share a line. */
	for (unsigned i = 0; i < BITS_POOLS; i++)
		gh_fixalloc_init(&h->bitsalloc[i], gh_align_up((3 * sizeof(uint64_t)) << i, 64));
	h->ncpu = gh_port_ncpu();
	h->scavenge_goal = ~(uint64_t)0;
	for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++)
		h->central[spc].partial.link_offset = __builtin_offsetof(struct mspan, next);

	/* Whole pages of each range; the metadata for all of them goes into the
	 * largest. Each range's estimate includes the pagealloc's root, which is
	 * made only once. */
	struct gh_range r[sizeof(h->ranges) / sizeof(h->ranges[0])];
	unsigned nr = 0, big = 0;
	uintptr_t cost =
	    h->ncpu * sizeof(struct gh_cpu) + PERSISTENT_CHUNK + GH_PAGEALLOC_ROOT_BYTES;
	uintptr_t lo = ~(uintptr_t)0, hi = 0; /* the window covers them all */
	for (unsigned i = 0; i < n; i++) {
		uintptr_t b, e;
		if (!clip(&b, &e, ranges[i].base, ranges[i].len))
			continue;
		if (nr == sizeof(r) / sizeof(r[0]))
			return -1;
		r[nr] = (struct gh_range){b, e - b};
		cost += grow_cost(b, e - b) - GH_PAGEALLOC_ROOT_BYTES;
		lo = LINEAR(b) < LINEAR(lo) ? b : lo;
		hi = LINEAR(e - 1) >= LINEAR(hi - 1) ? e : hi;
		if (r[nr].len > r[big].len)
			big = nr;
		nr++;
	}
	if (nr == 0)
		return -1;
	cost += window_cost(lo, hi);
	if (r[big].len < 2 * cost)
		return -1;

	unsigned long cookie = gh_lock(&h->lock);
	uintptr_t end = r[big].base + r[big].len;
	carve(&end, cost);
	r[big].len = end - r[big].base;
	bool ok = true;
	for (unsigned i = 0; i < nr && ok; i++)
		ok = !overlaps_managed(r[i].base, r[i].base + r[i].len) &&
		     add_range_locked(r[i].base, r[i].base + r[i].len);
	ok = ok && new_window(lo, hi);
	/* Zeroed (carved memory is), and published to the allocation fast
	 * paths only once the CPUs in use are set up. */
	struct gh_cpu *cpus =
	    ok ? gh_persistentalloc_locked(h->ncpu * sizeof(struct gh_cpu), 64) : NULL;
	__atomic_store_n(&h->cpus_setup, cpus, __ATOMIC_SEQ_CST);
	for (unsigned i = 0, used = cpus ? gh_port_ncpu_used() : 0; i < used && i < h->ncpu; i++)
		cpu_prepare(&cpus[i]);
	gc_init();
	__atomic_store_n(&h->cpus, cpus, __ATOMIC_RELEASE);
	h->ready = h->cpus != NULL;
	gh_unlock(&h->lock, cookie);
	return h->ready ? 0 : -1;
}

int gh_add_memory(uintptr_t base, size_t len)
{
	struct mheap *h = &gh_mheap;
	uintptr_t b, e;
	if (!h->ready || !clip(&b, &e, base, len))
		return -1;
	unsigned long cookie = gh_lock(&h->lock);
	int ret = -1;
	if (!overlaps_managed(b, e)) {
		/* Metadata comes from the current metadata chunk if it has room;
		 * else a range that can hold its own does; a small one leans on
		 * the heap. */
		uintptr_t cost = grow_cost(b, e - b) + window_cost(b, e);
		if (h->pers_end - h->pers_off < cost && e - b >= 8 * cost)
			carve(&e, cost);
		ret = add_range_locked(b, e) ? 0 : -1;
		if (ret == 0)
			new_window(b, e); /* without room for it, the two-level index serves */
	}
	gh_unlock(&h->lock, cookie);
	return ret;
}

/* ---- span records ---- */

/* A span record from this CPU's cache, refilling it when the lock is held. */
static struct mspan *span_alloc(struct gh_cpu *c, bool locked)
{
	if (!c->nspans && locked)
		while (c->nspans < MSPAN_CACHE / 2) {
			struct mspan *s = gh_fixalloc_alloc(&gh_mheap.spanalloc);
			if (!s)
				break;
			c->spans[c->nspans++] = s;
		}
	return c->nspans ? c->spans[--c->nspans] : NULL;
}

static void span_free(struct gh_cpu *c, struct mspan *s)
{
	if (c->nspans < MSPAN_CACHE)
		c->spans[c->nspans++] = s;
	else
		gh_fixalloc_free(&gh_mheap.spanalloc, s);
}

/* ---- spans ---- */

bool gh_mheap_lock(unsigned long *cookie, bool nowait)
{
	struct gh_lock *l = &gh_mheap.lock;
	if (nowait) {
		unsigned long irq = gh_port_irq_save();
		if (!gh_trylock_raw(l)) {
			gh_port_irq_restore(irq);
			return false;
		}
		*cookie = irq;
		return true;
	}
	*cookie = gh_lock(l);
	return true;
}

/* npages aligned to align bytes, from the page allocator; mheap.lock held.
 * Over-allocates by the alignment and gives back both ends. */
static uintptr_t alloc_aligned(uintptr_t npages, uintptr_t align, uintptr_t *scav)
{
	struct pagealloc *p = &gh_mheap.pages;
	if (align <= PAGE_SIZE)
		return gh_pagealloc_alloc(p, npages, scav);
	uintptr_t extra = align / PAGE_SIZE - 1;
	if (npages > MAX_PAGES - extra)
		return 0;
	uintptr_t base = gh_pagealloc_alloc(p, npages + extra, scav);
	if (!base)
		return 0;
	/* Which of the scavenged pages fall in the part kept is not known:
	 * account for them here and claim nothing about zeros. */
	__atomic_fetch_sub(&gh_mheap.released_pages, *scav, __ATOMIC_RELAXED);
	*scav = 0;
	uintptr_t a = gh_align_up(base, align), head = (a - base) / PAGE_SIZE;
	if (head)
		gh_pagealloc_free(p, base, head);
	if (extra - head)
		gh_pagealloc_free(p, a + npages * PAGE_SIZE, extra - head);
	return a;
}

/* The locked part of gh_mheap_alloc: refill the page cache or search the
 * page allocator, and take a span record. */
static bool alloc_locked(struct gh_cpu *c, uintptr_t npages, uintptr_t align, bool nowait,
			 uintptr_t *base, uintptr_t *scav, struct mspan **s)
{
	struct mheap *h = &gh_mheap;
	bool small = align == PAGE_SIZE && npages < PAGECACHE_MAX_RUN;
	unsigned long cookie;
	if (!gh_mheap_lock(&cookie, nowait))
		return false;
	if (!*base && small && !c->pcache.cache) {
		c->pcache = gh_pagealloc_alloc_to_cache(&h->pages);
		*base = gh_pagecache_alloc(&c->pcache, npages, scav);
	}
	if (!*base)
		*base = alloc_aligned(npages, align, scav);
	if (*base)
		*s = span_alloc(c, true);
	/* read under the lock, which the scavenger takes to claim a run and
	 * to give it back */
	bool in_flight = !*base && __atomic_load_n(&h->releasing, __ATOMIC_RELAXED);
	gh_unlock(&h->lock, cookie);
	return in_flight;
}

/* Pages gh_mheap_alloc took but cannot use. */
static void give_back(struct gh_cpu *c, uintptr_t base, uintptr_t npages)
{
	if (!gh_pagecache_free(&c->pcache, base, npages)) {
		unsigned long cookie = gh_lock(&gh_mheap.lock);
		gh_pagealloc_free(&gh_mheap.pages, base, npages);
		gh_unlock(&gh_mheap.lock, cookie);
	}
}

/*
 * A span record keeps its bitmaps from one life to the next (see struct
 * mspan), but one about to hold a single object gives them back: else the
 * records that large objects take from the caches would carry bitmaps
 * away from small spans, which then allocate new ones, and the metadata
 * for bitmaps would creep up with every shuffle of the records (by a
 * 256 KiB chunk every few dozen rounds of filling and emptying the heap).
 */
void gh_span_bits_free(struct mspan *s)
{
	if (s->bitsCap)
		gh_fixalloc_free(&gh_mheap.bitsalloc[__builtin_ctz(s->bitsCap)], s->allocBits);
	s->bitsCap = 0;
	s->allocBits = s->freeBits = s->gcmarkBits = NULL;
}

static void drop_bits(struct mspan *s)
{
	unsigned long cookie = gh_lock(&gh_mheap.lock);
	gh_span_bits_free(s);
	gh_unlock(&gh_mheap.lock, cookie);
}

/* Wait until the scavenger has given back the runs it was releasing. Each
 * comes back within one gh_port_release, done with interrupts off
 * (scavenge.c), so the wait is short and no stop of the world is in its
 * way. */
static void wait_for_releases(void)
{
	for (unsigned spins = 1; __atomic_load_n(&gh_mheap.releasing, __ATOMIC_ACQUIRE); spins++)
		gh_port_relax(spins);
}

struct mspan *gh_mheap_alloc(struct gh_cpu *c, uintptr_t npages, uintptr_t align, uint8_t state,
			     bool nowait, bool *zeroed)
{
	uintptr_t base = 0, scav = 0;
	struct mspan *s = NULL;
	if (!npages || npages > MAX_PAGES)
		return NULL;
	if (align == PAGE_SIZE && npages < PAGECACHE_MAX_RUN) {
		base = gh_pagecache_alloc(&c->pcache, npages, &scav);
		if (base)
			s = span_alloc(c, false);
	}
	bool in_flight = false;
	if (!base || !s)
		in_flight = alloc_locked(c, npages, align, nowait, &base, &scav, &s);
	/* Out of pages while the scavenger held some it was releasing: wait
	 * for them and try again, for as long as a try finds pages in flight
	 * (the scavenger may claim its next run meanwhile). It claims only
	 * pages not yet released, so this ends. */
	while (!base && !nowait && in_flight) {
		wait_for_releases();
		in_flight = alloc_locked(c, npages, align, nowait, &base, &scav, &s);
	}
	/* Out of pages, or of room for a span record (metadata comes in
	 * PERSISTENT_CHUNK pieces): the port may find more. */
	if (!s && !nowait) {
		if (base)
			give_back(c, base, npages);
		base = 0;
		if (gh_port_grow(npages * PAGE_SIZE + (align > PAGE_SIZE ? align : 0) +
				 PERSISTENT_CHUNK))
			alloc_locked(c, npages, align, nowait, &base, &scav, &s);
	}
	if (base && !s) { /* no room for a span record, or the lock was busy */
		give_back(c, base, npages);
		return NULL;
	}
	if (!base)
		return NULL;
	if (s->bitsCap && state != MSPAN_SMALL && state != MSPAN_GC)
		drop_bits(s);
	s->base = base;
	s->npages = npages;
	/* A collected span of objects is not shown to the collector's
	 * conservative lookup until its caller has set up its bits
	 * (gh_span_publish): a word that looks like a pointer into it finds
	 * nothing meanwhile. */
	__atomic_store_n(&s->state, state == MSPAN_GC ? MSPAN_DEAD : state, __ATOMIC_RELAXED);
	__atomic_store_n(&s->largemark, 0, __ATOMIC_RELAXED);
	set_spans(base, npages, s);
	gh_stat_add(&c->pages_alloc[state], npages);
	*zeroed = gh_mheap_took(scav, npages);
	return s;
}

void gh_mheap_free_record(struct gh_cpu *c, struct mspan *s)
{
	if (c->nspans < MSPAN_CACHE) {
		c->spans[c->nspans++] = s;
	} else {
		unsigned long cookie = gh_lock(&gh_mheap.lock);
		span_free(c, s);
		gh_unlock(&gh_mheap.lock, cookie);
	}
}

void gh_mheap_free(struct gh_cpu *c, struct mspan *s, bool keep_record)
{
	struct mheap *h = &gh_mheap;
	uintptr_t base = s->base, npages = s->npages;
	struct mspan **first = gh_span_slot(base);
	if (s->scanned)
		gc_scanned_remove(s);
	if (__atomic_load_n(first, __ATOMIC_RELAXED) == s)
		__atomic_store_n(first, &gh_freed_span, __ATOMIC_RELEASE);
	set_spans(base + PAGE_SIZE, npages - 1, NULL);
	gh_stat_add(&c->pages_free[s->state], npages);
	__atomic_store_n(&s->state, MSPAN_DEAD, __ATOMIC_RELAXED);
	/* Fast path: the run goes back into this CPU's page cache and the record
	 * into its record cache, without a lock. */
	bool cached = gh_pagecache_free(&c->pcache, base, npages);
	if (cached && (keep_record || c->nspans < MSPAN_CACHE)) {
		if (!keep_record)
			c->spans[c->nspans++] = s;
	} else {
		unsigned long cookie = gh_lock(&h->lock);
		if (!cached)
			gh_pagealloc_free(&h->pages, base, npages);
		if (!keep_record)
			span_free(c, s);
		gh_unlock(&h->lock, cookie);
	}
}

/* ---- page runs ---- */

void *gh_page_alloc(size_t npages, unsigned flags)
{
	struct mheap *h = &gh_mheap;
	unsigned log2 = (flags >> 8) & 63;
	uintptr_t align = log2 > PAGE_SHIFT ? (uintptr_t)1 << log2 : PAGE_SIZE;
	if (!gh_mheap_ready())
		return NULL;
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &h->cpus[gh_port_cpu()];
	bool zeroed = false;
	struct mspan *s = gh_mheap_alloc(c, npages, align, MSPAN_MANUAL, false, &zeroed);
	if (s)
		gh_stat_add(&c->page_allocs, 1);
	gh_port_irq_restore(irq);
	if (!s)
		return NULL;
	if ((flags & GH_PAGE_ZERO) && !zeroed)
		__builtin_memset((void *)s->base, 0, npages * PAGE_SIZE);
	return (void *)s->base;
}

/* Why p is not a live page run, for the panic message. */
static const char *not_a_run(uintptr_t a, struct mspan *s)
{
	if (a & (PAGE_SIZE - 1))
		return "not page aligned: not a page allocation";
	if (!overlaps_managed(a, a + 1))
		return "not memory goheap manages";
	if (s == &gh_freed_span)
		return "double free: this run was already freed";
	if (!s)
		return "not the start of a page allocation (never allocated, or freed)";
	if (s->state == MSPAN_META)
		return "not a page allocation: goheap keeps its own metadata there";
	if (s->state == MSPAN_SMALL || s->state == MSPAN_LARGE)
		return "not a page allocation: memory from gh_malloc (free it with gh_free)";
	if (s->state != MSPAN_MANUAL)
		return "not a page allocation (goheap uses these pages for something else)";
	if (s->base != a)
		return "inside a page allocation, not at its start";
	return NULL;
}

bool gh_mheap_managed(uintptr_t addr)
{
	return overlaps_managed(addr, addr + 1);
}

void gh_page_free(void *p, size_t npages)
{
	struct mheap *h = &gh_mheap;
	uintptr_t a = (uintptr_t)p;
	struct mspan **slot = (a & (PAGE_SIZE - 1)) ? NULL : gh_span_slot(a);
	struct mspan *s = slot ? __atomic_load_n(slot, __ATOMIC_ACQUIRE) : NULL;
	const char *why = not_a_run(a, s);
	if (why)
		gh_panicf("gh_page_free(%p, %zu): %s", p, npages, why);
	if (s->npages != npages)
		gh_panicf("gh_page_free(%p, %zu): the run has %lu pages", p, npages,
			  (unsigned long)s->npages);
	/* Claim the run: of two CPUs freeing it at once, one sees a double free. */
	if (!__atomic_compare_exchange_n(slot, &s, &gh_freed_span, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		gh_panicf("gh_page_free(%p, %zu): double free: this run was already freed", p,
			  npages);
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &h->cpus[gh_port_cpu()];
	gh_mheap_free(c, s, false);
	gh_stat_add(&c->page_frees, 1);
	gh_port_irq_restore(irq);
}

/* ---- fork, for hosted ports ---- */

static unsigned long fork_cookie;

void gh_fork_prepare(void)
{
	fork_cookie = gh_lock(&gh_mheap.lock);
}

void gh_fork_parent(void)
{
	gh_unlock(&gh_mheap.lock, fork_cookie);
}

/* Only the forking thread exists in the child, and it holds the lock: no
 * waiter of the parent's is owed it. */
void gh_fork_child(void)
{
	gh_fork_parent();
}

/* ---- figures and checks ---- */

void gh_page_stats(struct gh_page_stats *st)
{
	struct mheap *h = &gh_mheap;
	*st = (struct gh_page_stats){0};
	if (!gh_mheap_ready())
		return;
	unsigned long cookie = gh_lock(&h->lock);
	st->managed = h->pages.managed_pages * PAGE_SIZE;
	st->free = gh_free_pages_locked(h) * PAGE_SIZE;
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		/* other CPUs' caches are read while they may change: approximate */
		st->cached += (uint64_t)__builtin_popcountll(h->cpus[i].pcache.cache) * PAGE_SIZE;
		st->page_allocs += h->cpus[i].page_allocs;
		st->page_frees += h->cpus[i].page_frees;
	}
	st->in_use = st->managed - st->free - st->cached;
	st->metadata = h->carved + h->meta_pages * PAGE_SIZE;
	st->reserved = h->carved;
	st->released = __atomic_load_n(&h->released_pages, __ATOMIC_RELAXED) * PAGE_SIZE;
	gh_unlock(&h->lock, cookie);
}

/* Every page of every live span points at its span and is in use; spans of
 * objects pass their own checks. */
static bool check_spans(void)
{
	struct mheap *h = &gh_mheap;
	for (unsigned r = 0; r < h->nranges; r++) {
		uintptr_t a = h->ranges[r].base, end = a + h->ranges[r].len;
		while (a < end) {
			struct mspan *s = gh_span_of(a);
			if (s == &gh_meta_span && !gh_pagealloc_all_in_use(&h->pages, a, 1)) {
				gh_logf("mheap: metadata page %p is free in the page allocator",
					(void *)a);
				return false;
			}
			if (!s || s == &gh_freed_span || s == &gh_meta_span) {
				a += PAGE_SIZE;
				continue;
			}
			if ((s->state != MSPAN_MANUAL && s->state != MSPAN_SMALL &&
			     s->state != MSPAN_LARGE && s->state != MSPAN_GC &&
			     s->state != MSPAN_GC_LARGE) ||
			    s->base != a || s->npages == 0 ||
			    !gh_pagealloc_all_in_use(&h->pages, a, s->npages)) {
				gh_logf("mheap: span at %p (state %u, base %p, %lu pages) is "
					"inconsistent",
					(void *)a, s->state, (void *)s->base,
					(unsigned long)s->npages);
				return false;
			}
			for (uintptr_t i = 1; i < s->npages; i++)
				if (gh_span_of(a + i * PAGE_SIZE) != s) {
					gh_logf(
					    "mheap: page %lu of the span at %p points elsewhere",
					    (unsigned long)i, (void *)a);
					return false;
				}
			if (!gh_check_span_objects(s))
				return false;
			a += s->npages * PAGE_SIZE;
		}
	}
	return true;
}

int gh_heap_check(void)
{
	struct mheap *h = &gh_mheap;
	if (!h->ready)
		return -1;
	unsigned long cookie = gh_lock(&h->lock);
	gh_check_objects_begin();
	bool ok = gh_pagealloc_check(&h->pages) && check_spans() && gh_check_objects_end();
	gh_unlock(&h->lock, cookie);
	return ok ? 0 : -1;
}

__attribute__((weak)) bool gh_port_memory_zeroed(void)
{
	return false;
}
