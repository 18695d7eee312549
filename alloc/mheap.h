/*
 * mheap.h — the page heap (Go's mheap.go): spans over the page allocator,
 * the arena index, per-CPU state, and the metadata allocators that live on
 * it (persistentalloc, fixalloc).
 *
 * Lock order: mheap.lock is the only lock of this layer. Per-CPU state is
 * used on its own CPU with interrupts off.
 */
#ifndef GOHEAP_MHEAP_H
#define GOHEAP_MHEAP_H

#include "internal.h"
#include "pagealloc.h"

/* What a span is used for. */
enum mspan_state {
	MSPAN_DEAD = 0,	  /* not in use: on a free list, or never used */
	MSPAN_MANUAL = 1, /* a gh_page_alloc run */
	MSPAN_META = 2,	  /* pages holding goheap's own metadata */
};

/* A run of pages and what it is used for (Go's mspan). Records come from
 * fixalloc and are never returned to the page heap. */
struct mspan {
	uintptr_t base;	  /* first byte */
	uintptr_t npages; /* length in pages */
	uint8_t state;	  /* enum mspan_state */
};

/* Span records of a freed run stay findable until the pages are reused, so
 * that a second free is told apart from a free of something never
 * allocated. */
extern struct mspan gh_freed_span;
/* Every page goheap took from the heap for its own metadata points here. */
extern struct mspan gh_meta_span;
/* Mark [base, base + npages) as metadata in the arena index. */
void gh_mheap_set_meta(uintptr_t base, uintptr_t npages);

/* Records for the arena index: one span pointer per page of a 64 MiB arena. */
struct heap_arena {
	struct mspan *spans[PAGES_PER_ARENA];
};

/* fixalloc: a free list of fixed-size records (Go's mfixalloc.go), carved
 * from 16 KiB chunks of persistentalloc. Used under mheap.lock. */
struct fixalloc {
	size_t size;
	void *list;		 /* freed records, linked through their first word */
	uintptr_t chunk, nchunk; /* unused part of the current chunk */
	uint64_t inuse, sys;	 /* bytes handed out / taken from persistentalloc */
};

/* Each CPU's share of the heap (Go's p): touched only by that CPU with
 * interrupts off. */
struct gh_cpu {
	struct pagecache pcache;
	struct mspan *spans[MSPAN_CACHE]; /* span records ready for lock-free use */
	unsigned nspans;
	uintptr_t pers_off, pers_end; /* this CPU's persistentalloc chunk */
	uint64_t page_allocs, page_frees;
} __attribute__((aligned(64)));

struct mheap {
	struct gh_lock lock;
	struct pagealloc pages;
	struct heap_arena **arenas[1u << ARENA_L1_BITS]; /* L1 → L2 table → arena */
	struct fixalloc spanalloc;
	struct gh_cpu *cpus;
	unsigned ncpu;
	/* The global persistentalloc chunk, under lock. */
	uintptr_t pers_off, pers_end;
	uint64_t meta_pages; /* pages allocated from the heap for metadata */
	uint64_t carved;     /* bytes of managed ranges set aside for metadata */
	/* The scavenger (scavenge.c). */
	uint64_t released_pages;   /* free pages released to the port (atomic) */
	uint64_t scavenge_goal;	   /* retained free bytes to keep; ~0 = default */
	uintptr_t scavenge_cursor; /* releases continue below this address; 0 = top */
	bool release_keeps_data;   /* the port once said released pages keep data */
	/* The ranges goheap was given, to refuse overlaps. */
	unsigned nranges;
	struct gh_range ranges[64];
	bool ready;
};

extern struct mheap gh_mheap;

/* persistentalloc (Go's malloc.go): never-freed metadata with any power-of-two
 * alignment. gh_persistentalloc must not be called under mheap.lock; the
 * _locked form must. Both return zeroed memory, or NULL when memory is
 * exhausted. */
void *gh_persistentalloc(size_t size, size_t align);
void *gh_persistentalloc_locked(size_t size, size_t align);

void gh_fixalloc_init(struct fixalloc *f, size_t size);
void *gh_fixalloc_alloc(struct fixalloc *f); /* under mheap.lock; zeroed; NULL when exhausted */
void gh_fixalloc_free(struct fixalloc *f, void *p);

/* The span that the page at addr belongs to, NULL when goheap does not
 * manage addr or the page is not in a span. O(1), no lock. */
struct mspan *gh_span_of(uintptr_t addr);

#endif
