/*
 * pagealloc.c — the page allocator: Go's mpagealloc.go over a sparse radix
 * tree, and the page cache refill/flush of mpagecache.go. pagealloc.h states
 * the structure and its invariants.
 *
 * Addresses inside are linear (LINEAR(real)), so that comparisons and
 * indices work the same for both canonical halves; the interface takes and
 * returns real addresses. An entry i of level l covers linear addresses
 * [i << LEVEL_SHIFT(l), (i + 1) << LEVEL_SHIFT(l)); level 4 entries are
 * chunks.
 */
#include "pagealloc.h"

#include "internal.h"

#define LEAF (SUMMARY_LEVELS - 1)
#define ROOT_ENTRIES ((uintptr_t)1 << SUMMARY_L0_BITS)
#define NO_FREE (~(uintptr_t)0) /* search when nothing is free */
#define FREE_CHUNK_SUM gh_pallocsum_pack(CHUNK_PAGES, CHUNK_PAGES, CHUNK_PAGES)

static uintptr_t chunk_index(uintptr_t lin)
{
	return lin >> CHUNK_SHIFT;
}
static unsigned chunk_page(uintptr_t lin)
{
	return (unsigned)((lin >> PAGE_SHIFT) % CHUNK_PAGES);
}
static uintptr_t chunk_base(uintptr_t ci)
{
	return ci << CHUNK_SHIFT;
}

/* The block holding entry i of level l >= 1, or NULL where nothing grew. */
static struct sum_node *block(const struct pagealloc *p, int l, uintptr_t i)
{
	if (!p->root_child)
		return NULL;
	struct sum_node *n = p->root_child[i >> (SUMMARY_LEVEL_BITS * l)];
	for (int k = l - 1; n && k > 0; k--)
		n = n->child[(i >> (SUMMARY_LEVEL_BITS * k)) & (SUMMARY_FANOUT - 1)];
	return n;
}

static gh_pallocsum *sum_at(const struct pagealloc *p, int l, uintptr_t i)
{
	return l == 0 ? &p->root[i] : &block(p, l, i)->sum[i & (SUMMARY_FANOUT - 1)];
}

static struct palloc_data *chunk_of(const struct pagealloc *p, uintptr_t ci)
{
	struct sum_node *n = block(p, LEAF, ci);
	return n ? n->child[ci & (SUMMARY_FANOUT - 1)] : NULL;
}

/* Go's mergeSummaries: the summary of 8 consecutive entries that each cover
 * 2^log_pages pages. */
static gh_pallocsum merge(const gh_pallocsum *s, unsigned log_pages)
{
	unsigned full = 1u << log_pages;
	unsigned start = gh_pallocsum_start(s[0]), max = gh_pallocsum_max(s[0]);
	unsigned end = gh_pallocsum_end(s[0]);
	for (unsigned i = 1; i < SUMMARY_FANOUT; i++) {
		unsigned si = gh_pallocsum_start(s[i]), mi = gh_pallocsum_max(s[i]);
		unsigned ei = gh_pallocsum_end(s[i]);
		if (start == i * full) /* everything so far is free */
			start += si;
		if (end + si > max) /* a run across the boundary */
			max = end + si;
		if (mi > max)
			max = mi;
		end = ei == full ? end + full : ei;
	}
	return gh_pallocsum_pack(start, max, end);
}

void gh_pagealloc_init(struct pagealloc *p, gh_sysalloc_fn sysalloc, void *ctx)
{
	*p = (struct pagealloc){.search = NO_FREE, .sysalloc = sysalloc, .sysalloc_ctx = ctx};
}

static void *meta(struct pagealloc *p, size_t bytes)
{
	void *m = p->sysalloc(p->sysalloc_ctx, bytes);
	if (m)
		p->metadata_bytes += bytes;
	return m;
}

/* Make sure the root, the blocks down to chunk ci and its bitmaps exist. A
 * new chunk is all "in use": only pages that are memory get freed. */
static bool ensure_chunk(struct pagealloc *p, uintptr_t ci)
{
	if (!p->root) /* either may fail: a later growth makes the missing one */
		p->root = meta(p, ROOT_ENTRIES * sizeof(*p->root));
	if (!p->root_child)
		p->root_child = meta(p, ROOT_ENTRIES * sizeof(*p->root_child));
	if (!p->root || !p->root_child)
		return false;
	void **slot = (void **)&p->root_child[ci >> (SUMMARY_LEVEL_BITS * LEAF)];
	for (int l = 1; l <= SUMMARY_LEVELS; l++) {
		if (!*slot) {
			bool leaf = l == SUMMARY_LEVELS;
			*slot =
			    meta(p, leaf ? sizeof(struct palloc_data) : sizeof(struct sum_node));
			if (!*slot)
				return false;
			if (leaf)
				gh_pallocbits_alloc_all(&((struct palloc_data *)*slot)->alloc);
		}
		if (l < SUMMARY_LEVELS) {
			unsigned shift = SUMMARY_LEVEL_BITS * (unsigned)(LEAF - l);
			slot = &((struct sum_node *)*slot)
				    ->child[(ci >> shift) & (SUMMARY_FANOUT - 1)];
		}
	}
	return true;
}

/*
 * Bring the summaries of [base, base + npages) up to date after its bits
 * changed. contig: the change was one contiguous alloc (alloc) or free, so
 * whole chunks in the middle are known to be full or empty.
 */
static void update(struct pagealloc *p, uintptr_t base, uintptr_t npages, bool contig, bool alloc)
{
	uintptr_t limit = base + npages * PAGE_SIZE - 1; /* inclusive */
	uintptr_t sc = chunk_index(base), ec = chunk_index(limit);
	if (sc == ec) {
		gh_pallocsum *s = sum_at(p, LEAF, sc);
		gh_pallocsum y = gh_pallocbits_summarize(&chunk_of(p, sc)->alloc);
		if (*s == y)
			return;
		*s = y;
	} else {
		for (uintptr_t c = sc; c <= ec; c++) {
			gh_pallocsum y = contig && c != sc && c != ec
					     ? (alloc ? 0 : FREE_CHUNK_SUM)
					     : gh_pallocbits_summarize(&chunk_of(p, c)->alloc);
			*sum_at(p, LEAF, c) = y;
		}
	}
	/* Walk up while something changes. */
	bool changed = true;
	for (int l = LEAF - 1; l >= 0 && changed; l--) {
		changed = false;
		uintptr_t lo = base >> LEVEL_SHIFT(l), hi = limit >> LEVEL_SHIFT(l);
		for (uintptr_t i = lo; i <= hi; i++) {
			const struct sum_node *kids = block(p, l + 1, i << SUMMARY_LEVEL_BITS);
			gh_pallocsum y = merge(kids->sum, LEVEL_LOG_PAGES(l + 1));
			gh_pallocsum *s = sum_at(p, l, i);
			if (*s != y) {
				*s = y;
				changed = true;
			}
		}
	}
}

uintptr_t gh_pagealloc_grow_cost(const struct pagealloc *p, uintptr_t base, uintptr_t len)
{
	uintptr_t lo = chunk_index(LINEAR(base)), hi = chunk_index(LINEAR(base + len - 1));
	uintptr_t chunks = hi - lo + 1;
	uintptr_t cost = chunks * sizeof(struct palloc_data);
	/* At most one new block per level per chunk, far fewer in practice; the
	 * bound only needs to be safe. */
	for (int l = 1; l < SUMMARY_LEVELS; l++)
		cost +=
		    ((chunks >> (SUMMARY_LEVEL_BITS * (LEAF - l))) + 2) * sizeof(struct sum_node);
	if (!p->root || !p->root_child)
		cost += GH_PAGEALLOC_ROOT_BYTES;
	return cost;
}

/* Clear (free) or set the bits of [base, base + npages), chunk by chunk;
 * returns how many of the pages were scavenged (clearing those bits on
 * allocation). */
static uintptr_t mark(struct pagealloc *p, uintptr_t base, uintptr_t npages, bool alloc)
{
	uintptr_t scav = 0;
	while (npages) {
		struct palloc_data *d = chunk_of(p, chunk_index(base));
		unsigned i = chunk_page(base);
		unsigned n = npages < CHUNK_PAGES - i ? (unsigned)npages : CHUNK_PAGES - i;
		if (alloc) {
			scav += gh_pallocbits_popcnt_range(&d->scavenged, i, n);
			gh_pallocbits_alloc_range(&d->alloc, i, n);
			gh_pallocbits_clear_range(&d->scavenged, i, n);
		} else {
			gh_pallocbits_free(&d->alloc, i, n);
		}
		base += (uintptr_t)n * PAGE_SIZE;
		npages -= n;
	}
	return scav;
}

bool gh_pagealloc_grow(struct pagealloc *p, uintptr_t base, uintptr_t len)
{
	uintptr_t end = gh_align_down(base + len, PAGE_SIZE);
	base = gh_align_up(base, PAGE_SIZE);
	if (base == 0) /* address 0 means "no page" */
		base = PAGE_SIZE;
	if (end <= base || base + len < base)
		return false;
	uintptr_t lin = LINEAR(base), npages = (end - base) / PAGE_SIZE;
	uintptr_t sc = chunk_index(lin), ec = chunk_index(lin + (end - base) - 1);
	for (uintptr_t c = sc; c <= ec; c++)
		if (!ensure_chunk(p, c))
			return false;
	if (p->start == p->end) {
		p->start = sc;
		p->end = ec + 1;
	} else {
		p->start = sc < p->start ? sc : p->start;
		p->end = ec + 1 > p->end ? ec + 1 : p->end;
	}
	mark(p, lin, npages, false);
	update(p, lin, npages, true, false);
	p->managed_pages += npages;
	p->free_pages += npages;
	if (lin < p->search || p->search == NO_FREE)
		p->search = lin;
	return true;
}

/*
 * Go's find: walk the levels from the root, in each block looking for a run
 * of npages either inside one entry (then descend into it) or across entries
 * (then it is found). Returns the linear address, or NO_FREE; *first_free
 * receives the lowest linear address that may still hold a free page.
 */
static uintptr_t find(const struct pagealloc *p, uintptr_t npages, uintptr_t *first_free)
{
	uintptr_t i = 0; /* first entry of the block being scanned */
	uintptr_t ff_base = 0, ff_bound = ((uintptr_t)1 << ADDR_BITS) - 1;
	const struct sum_node *node = NULL;
	for (int l = 0; l < SUMMARY_LEVELS; l++) {
		uintptr_t entries = l == 0 ? ROOT_ENTRIES : SUMMARY_FANOUT;
		/* node is the child chosen at level l - 1 */
		/* cppcheck-suppress nullPointer */
		const gh_pallocsum *sums = l == 0 ? p->root : node->sum;
		unsigned log_pages = LEVEL_LOG_PAGES(l);
		uintptr_t j0 = 0, s = p->search >> LEVEL_SHIFT(l);
		if ((s & ~(entries - 1)) == i)
			j0 = s & (entries - 1);
		uintptr_t base = 0, size = 0, j;
		for (j = j0; j < entries; j++) {
			gh_pallocsum sum = sums[j];
			if (sum == 0) { /* full: any run is broken */
				size = 0;
				continue;
			}
			/* The first entry with free pages narrows where the first free
			 * page can be (as long as we have not moved past it). */
			uintptr_t a = (i + j) << LEVEL_SHIFT(l),
				  last = a + ((uintptr_t)1 << LEVEL_SHIFT(l)) - 1;
			if (ff_base <= a && last <= ff_bound)
				ff_base = a, ff_bound = last;
			uintptr_t start = gh_pallocsum_start(sum);
			if (size + start >= npages) {
				if (size == 0)
					base = j << log_pages;
				size += start;
				break;
			}
			if (gh_pallocsum_max(sum) >= npages)
				break; /* descend into this entry */
			if (size == 0 || start < (1u << log_pages)) {
				size = gh_pallocsum_end(sum);
				base = ((j + 1) << log_pages) - size;
				continue;
			}
			size += (uintptr_t)1 << log_pages; /* wholly free: the run goes on */
		}
		if (size >= npages) {
			*first_free = ff_base;
			return (i << LEVEL_SHIFT(l)) + base * PAGE_SIZE;
		}
		if (j == entries) {
			GH_ENSURE(l == 0); /* a summary above promised a run here */
			*first_free = NO_FREE;
			return NO_FREE;
		}
		i += j;
		if (l < LEAF) {
			node = l == 0 ? p->root_child[i] : node->child[j];
			i <<= SUMMARY_LEVEL_BITS;
		}
	}
	/* The run lies inside chunk i: search its bitmap. */
	const struct palloc_data *d = chunk_of(p, i);
	unsigned next;
	unsigned k = gh_pallocbits_find(&d->alloc, (unsigned)npages, 0, &next);
	GH_ENSURE(k != ~0u);
	uintptr_t a = chunk_base(i) + (uintptr_t)next * PAGE_SIZE;
	if (ff_base <= a && a <= ff_bound)
		ff_base = a;
	*first_free = ff_base;
	return chunk_base(i) + (uintptr_t)k * PAGE_SIZE;
}

uintptr_t gh_pagealloc_alloc(struct pagealloc *p, uintptr_t npages, uintptr_t *scav)
{
	*scav = 0;
	if (p->search == NO_FREE || chunk_index(p->search) >= p->end || npages > p->free_pages)
		return 0;
	uintptr_t addr = NO_FREE, search = NO_FREE;
	/* Fast path: the run may fit in the chunk the search address is in. */
	unsigned si = chunk_page(p->search);
	uintptr_t ci = chunk_index(p->search);
	struct sum_node *leaf = block(p, LEAF, ci);
	if (leaf && CHUNK_PAGES - si >= npages &&
	    gh_pallocsum_max(leaf->sum[ci & (SUMMARY_FANOUT - 1)]) >= npages) {
		unsigned next;
		unsigned k =
		    gh_pallocbits_find(&chunk_of(p, ci)->alloc, (unsigned)npages, si, &next);
		if (k != ~0u) {
			addr = chunk_base(ci) + (uintptr_t)k * PAGE_SIZE;
			search = chunk_base(ci) + (uintptr_t)next * PAGE_SIZE;
		}
	}
	if (addr == NO_FREE)
		addr = find(p, npages, &search);
	if (addr == NO_FREE) {
		if (npages == 1)
			p->search = NO_FREE; /* not a single free page */
		return 0;
	}
	*scav = mark(p, addr, npages, true);
	update(p, addr, npages, true, true);
	p->free_pages -= npages;
	if (search > p->search || p->search == NO_FREE)
		p->search = search;
	return UNLINEAR(addr);
}

void gh_pagealloc_alloc_range(struct pagealloc *p, uintptr_t base, uintptr_t npages)
{
	uintptr_t lin = LINEAR(base);
	mark(p, lin, npages, true);
	update(p, lin, npages, true, true);
	p->free_pages -= npages;
}

void gh_pagealloc_free(struct pagealloc *p, uintptr_t base, uintptr_t npages)
{
	uintptr_t lin = LINEAR(base);
	if (lin < p->search || p->search == NO_FREE)
		p->search = lin;
	mark(p, lin, npages, false);
	update(p, lin, npages, true, false);
	p->free_pages += npages;
}

/* Do all pages of [base, base + npages) have the given state? */
static bool all_pages(const struct pagealloc *p, uintptr_t base, uintptr_t npages, bool in_use)
{
	uintptr_t lin = LINEAR(base);
	while (npages) {
		const struct palloc_data *d = chunk_of(p, chunk_index(lin));
		if (!d)
			return false;
		unsigned i = chunk_page(lin);
		unsigned n = npages < CHUNK_PAGES - i ? (unsigned)npages : CHUNK_PAGES - i;
		if (gh_pallocbits_popcnt_range(&d->alloc, i, n) != (in_use ? n : 0))
			return false;
		lin += (uintptr_t)n * PAGE_SIZE;
		npages -= n;
	}
	return true;
}

bool gh_pagealloc_all_in_use(const struct pagealloc *p, uintptr_t base, uintptr_t npages)
{
	return all_pages(p, base, npages, true);
}

bool gh_pagealloc_all_free(const struct pagealloc *p, uintptr_t base, uintptr_t npages)
{
	return all_pages(p, base, npages, false);
}

bool gh_pagealloc_manages(const struct pagealloc *p, uintptr_t addr)
{
	uintptr_t ci = chunk_index(LINEAR(addr));
	return p->root_child && ci >= p->start && ci < p->end && chunk_of(p, ci);
}

struct pagecache gh_pagealloc_alloc_to_cache(struct pagealloc *p)
{
	struct pagecache c = {0, 0, 0};
	if (p->search == NO_FREE || chunk_index(p->search) >= p->end || p->free_pages == 0)
		return c;
	/* The first free page: in the search address's chunk, or found the slow way. */
	uintptr_t ci = chunk_index(p->search), addr = NO_FREE, ignored;
	const struct palloc_data *sd = chunk_of(p, ci);
	unsigned k = sd ? gh_pallocbits_find(&sd->alloc, 1, chunk_page(p->search), NULL) : ~0u;
	if (k != ~0u)
		addr = chunk_base(ci) + (uintptr_t)k * PAGE_SIZE;
	else
		addr = find(p, 1, &ignored);
	if (addr == NO_FREE) {
		p->search = NO_FREE;
		return c;
	}
	/* Take every free page of the aligned 64-page block holding addr. */
	struct palloc_data *d = chunk_of(p, chunk_index(addr));
	unsigned i = chunk_page(addr), w = i / 64;
	c.base = UNLINEAR(gh_align_down(addr, PAGECACHE_PAGES * PAGE_SIZE));
	c.cache = ~gh_pallocbits_pages64(&d->alloc, i);
	c.scav = gh_pallocbits_pages64(&d->scavenged, i) & c.cache;
	d->alloc.w[w] = ~0ull;
	d->scavenged.w[w] &= ~c.cache;
	update(p, LINEAR(c.base), PAGECACHE_PAGES, false, true);
	p->free_pages -= (uint64_t)__builtin_popcountll(c.cache);
	/* Everything below the block's end is in use now. */
	p->search = LINEAR(c.base) + (PAGECACHE_PAGES - 1) * PAGE_SIZE;
	return c;
}

void gh_pagecache_flush(struct pagecache *c, struct pagealloc *p)
{
	if (c->cache) {
		uintptr_t lin = LINEAR(c->base);
		struct palloc_data *d = chunk_of(p, chunk_index(lin));
		unsigned w = chunk_page(lin) / 64;
		d->alloc.w[w] &= ~c->cache;
		d->scavenged.w[w] |= c->scav;
		update(p, lin, PAGECACHE_PAGES, false, false);
		p->free_pages += (uint64_t)__builtin_popcountll(c->cache);
		if (lin < p->search || p->search == NO_FREE)
			p->search = lin;
	}
	*c = (struct pagecache){0, 0, 0};
}

uintptr_t gh_pagealloc_scavenge_candidate(const struct pagealloc *p, uintptr_t lo, uintptr_t hi,
					  uintptr_t max, uintptr_t *npages)
{
	if (!p->root_child || hi <= lo || max == 0)
		return 0;
	uintptr_t lo_lin = LINEAR(lo), hi_lin = LINEAR(hi) - PAGE_SIZE; /* inclusive */
	for (uintptr_t ci = chunk_index(hi_lin);; ci--) {
		const struct palloc_data *d = chunk_of(p, ci);
		unsigned first = ci == chunk_index(lo_lin) ? chunk_page(lo_lin) : 0;
		unsigned last = ci == chunk_index(hi_lin) ? chunk_page(hi_lin) : CHUNK_PAGES - 1;
		for (int w = d ? (int)(last / 64) : -1; w >= (int)(first / 64); w--) {
			uint64_t cand = ~d->alloc.w[w] & ~d->scavenged.w[w];
			if ((unsigned)w == last / 64 && last % 64 != 63)
				cand &= (2ull << (last % 64)) - 1;
			if ((unsigned)w == first / 64)
				cand &= ~0ull << (first % 64);
			if (!cand)
				continue;
			unsigned top = (unsigned)w * 64 + 63 - (unsigned)__builtin_clzll(cand),
				 n = 0;
			while (n < max && top - n >= first && top >= n &&
			       !gh_pallocbits_get(&d->alloc, top - n) &&
			       !gh_pallocbits_get(&d->scavenged, top - n))
				n++;
			*npages = n;
			return UNLINEAR(chunk_base(ci) + (uintptr_t)(top + 1 - n) * PAGE_SIZE);
		}
		if (ci == chunk_index(lo_lin))
			return 0;
	}
}

void gh_pagealloc_mark_scavenged(struct pagealloc *p, uintptr_t base, uintptr_t npages)
{
	uintptr_t lin = LINEAR(base);
	while (npages) {
		struct palloc_data *d = chunk_of(p, chunk_index(lin));
		unsigned i = chunk_page(lin);
		unsigned n = npages < CHUNK_PAGES - i ? (unsigned)npages : CHUNK_PAGES - i;
		gh_pallocbits_set_range(&d->scavenged, i, n);
		lin += (uintptr_t)n * PAGE_SIZE;
		npages -= n;
	}
}

/* Check the subtree of entry i at level l; counts free pages into *free. */
static bool check_entry(const struct pagealloc *p, int l, uintptr_t i, const void *child,
			gh_pallocsum want, uint64_t *free)
{
	gh_pallocsum got;
	if (l == LEAF) {
		const struct palloc_data *d = child;
		got = gh_pallocbits_summarize(&d->alloc);
		*free += CHUNK_PAGES - gh_pallocbits_popcnt_range(&d->alloc, 0, CHUNK_PAGES);
	} else {
		const struct sum_node *n = child;
		for (unsigned j = 0; j < SUMMARY_FANOUT; j++) {
			if (!n->child[j]) {
				if (n->sum[j] != 0) {
					gh_logf(
					    "pagealloc: level %d entry %lu: summary without memory",
					    l + 1, (unsigned long)((i << SUMMARY_LEVEL_BITS) + j));
					return false;
				}
				continue;
			}
			if (!check_entry(p, l + 1, (i << SUMMARY_LEVEL_BITS) + j, n->child[j],
					 n->sum[j], free))
				return false;
		}
		got = merge(n->sum, LEVEL_LOG_PAGES(l + 1));
	}
	if (got != want) {
		gh_logf(
		    "pagealloc: level %d entry %lu: summary (%u,%u,%u), contents say (%u,%u,%u)", l,
		    (unsigned long)i, gh_pallocsum_start(want), gh_pallocsum_max(want),
		    gh_pallocsum_end(want), gh_pallocsum_start(got), gh_pallocsum_max(got),
		    gh_pallocsum_end(got));
		return false;
	}
	return true;
}

bool gh_pagealloc_check(const struct pagealloc *p)
{
	uint64_t free = 0;
	if (p->root && p->root_child)
		for (uintptr_t i = 0; i < ROOT_ENTRIES; i++)
			if (p->root_child[i] &&
			    !check_entry(p, 0, i, p->root_child[i], p->root[i], &free))
				return false;
	if (free != p->free_pages) {
		gh_logf("pagealloc: bitmaps have %llu free pages, the count says %llu",
			(unsigned long long)free, (unsigned long long)p->free_pages);
		return false;
	}
	return true;
}
