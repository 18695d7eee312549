/*
 * pagealloc.h — the page allocator (Go's mpagealloc.go and mpagecache.go):
 * which 8 KiB pages are free, found by address-ordered first fit through a
 * radix tree of summaries.
 *
 * Each 4 MiB chunk has a bitmap (1 = in use or not memory) and a bitmap of
 * scavenged pages. Above the chunks, five levels of summaries (start, max,
 * end free run; see pallocbits.h) each describe 8 entries of the level
 * below; the root level is one flat array over the whole 48-bit linear
 * address space. Below the root the tree is sparse: a block of 8 summaries
 * and their children exists only where memory was added, so holes between
 * ranges cost nothing.
 *
 * Invariants: every summary equals the summary of what is below it; no free
 * page lies below search (a linear address); pages that are not memory are
 * marked in use and never freed. Callers hold the lock that guards the
 * pagealloc (mheap.lock); nothing here locks.
 */
#ifndef GOHEAP_PAGEALLOC_H
#define GOHEAP_PAGEALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"
#include "pallocbits.h"

/* The bitmaps of one chunk. */
struct palloc_data {
	gh_pallocbits alloc;	 /* 1 = in use (or not memory) */
	gh_pallocbits scavenged; /* 1 = free and released to the port */
};

/* A block of 8 summaries at one level and what each describes: a block of
 * the next level, or at the last level a chunk's bitmaps. */
struct sum_node {
	gh_pallocsum sum[SUMMARY_FANOUT];
	void *child[SUMMARY_FANOUT];
};

/* Where the pagealloc gets its own metadata: zeroed, 64-byte aligned, or NULL
 * when there is none. */
typedef void *(*gh_sysalloc_fn)(void *ctx, size_t bytes);

struct pagealloc {
	gh_pallocsum *root;	      /* level 0 summaries, 1 << SUMMARY_L0_BITS */
	struct sum_node **root_child; /* the level 1 block below each */
	uintptr_t search;	      /* linear address; no free page below it */
	uintptr_t start, end;	      /* chunk indices ever grown: [start, end) */
	uint64_t managed_pages;	      /* pages added by grow */
	uint64_t free_pages;	      /* pages free in the bitmaps */
	uint64_t metadata_bytes;      /* taken through sysalloc */
	gh_sysalloc_fn sysalloc;
	void *sysalloc_ctx;
};

/* A per-CPU page cache: one 64-page aligned block taken from the pagealloc
 * at once; its free pages are served without a lock. */
struct pagecache {
	uintptr_t base; /* address of the block; 0 = empty cache */
	uint64_t cache; /* 1 = free page, owned by the cache */
	uint64_t scav;	/* 1 = that free page was scavenged */
};

void gh_pagealloc_init(struct pagealloc *p, gh_sysalloc_fn sysalloc, void *ctx);

/* Add the pages inside [base, base + len) (rounded inwards to pages; real
 * addresses, never overlapping earlier ones; base + len must not wrap past
 * 2^64, so the very last page of the address space cannot be added). False when sysalloc could not
 * provide the metadata; then nothing changed. */
bool gh_pagealloc_grow(struct pagealloc *p, uintptr_t base, uintptr_t len);

/* Bytes of metadata that growing by [base, base+len) would take at most,
 * including the root level (GH_PAGEALLOC_ROOT_BYTES) on the first growth. */
#define GH_PAGEALLOC_ROOT_BYTES \
	(((uintptr_t)1 << SUMMARY_L0_BITS) * (sizeof(gh_pallocsum) + sizeof(void *)))
uintptr_t gh_pagealloc_grow_cost(const struct pagealloc *p, uintptr_t base, uintptr_t len);

/* First fit of npages; returns the address (0 when no run is free) and sets
 * *scav to how many of the pages were scavenged. */
uintptr_t gh_pagealloc_alloc(struct pagealloc *p, uintptr_t npages, uintptr_t *scav);

/* Allocate exactly [base, base + npages pages), which must be free. */
void gh_pagealloc_alloc_range(struct pagealloc *p, uintptr_t base, uintptr_t npages);

/* Free a run that was allocated. */
void gh_pagealloc_free(struct pagealloc *p, uintptr_t base, uintptr_t npages);

/* Is every page of [base, base+npages) marked in use? Are they all free? */
bool gh_pagealloc_all_in_use(const struct pagealloc *p, uintptr_t base, uintptr_t npages);
bool gh_pagealloc_all_free(const struct pagealloc *p, uintptr_t base, uintptr_t npages);

/* Does the pagealloc have the chunk holding addr? (Per 4 MiB chunk: pages of
 * the chunk outside the grown ranges are "in use" forever.) */
bool gh_pagealloc_manages(const struct pagealloc *p, uintptr_t addr);

/* Take a block of free pages for a page cache; empty when none are free. */
struct pagecache gh_pagealloc_alloc_to_cache(struct pagealloc *p);
/* Give a page cache's remaining pages back and empty it. */
void gh_pagecache_flush(struct pagecache *c, struct pagealloc *p);

/* Serve npages from the cache (no lock): the address, or 0 when the cache has
 * no such run; *scav as for gh_pagealloc_alloc. */
static inline uintptr_t gh_pagecache_alloc(struct pagecache *c, uintptr_t npages, uintptr_t *scav)
{
	if (c->cache == 0)
		return 0;
	unsigned i;
	uint64_t mask;
	if (npages == 1) {
		i = (unsigned)__builtin_ctzll(c->cache);
		mask = 1ull << i;
	} else {
		i = gh_find_bit_range64(c->cache, (unsigned)npages);
		if (i >= 64)
			return 0;
		mask = (npages == 64 ? ~0ull : (1ull << npages) - 1) << i;
	}
	*scav = (uintptr_t)__builtin_popcountll(c->scav & mask);
	c->cache &= ~mask;
	c->scav &= ~mask;
	return c->base + (uintptr_t)i * PAGE_SIZE;
}

/* The scavenger's search: the highest run of free, unscavenged pages inside
 * [lo, hi) (real addresses), at most max pages, within one chunk. Returns
 * its address and sets *npages, or returns 0. */
uintptr_t gh_pagealloc_scavenge_candidate(const struct pagealloc *p, uintptr_t lo, uintptr_t hi,
					  uintptr_t max, uintptr_t *npages);
/* Mark a free run as scavenged (released to the port). */
void gh_pagealloc_mark_scavenged(struct pagealloc *p, uintptr_t base, uintptr_t npages);

/* Take a run back into the cache if it lies in the cache's block (no lock);
 * false when it does not. The pages must have been allocated from it. */
static inline bool gh_pagecache_free(struct pagecache *c, uintptr_t base, uintptr_t npages)
{
	uintptr_t end = c->base + PAGECACHE_PAGES * PAGE_SIZE;
	if (!c->base || base < c->base || base >= end || npages > (end - base) / PAGE_SIZE)
		return false;
	unsigned i = (unsigned)((base - c->base) / PAGE_SIZE);
	c->cache |= (npages == 64 ? ~0ull : (1ull << npages) - 1) << i;
	return true;
}

/* Verify every summary against the bitmaps and the free-page count; logs the
 * first mismatch and returns false. */
bool gh_pagealloc_check(const struct pagealloc *p);

#endif
