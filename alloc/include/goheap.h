/*
 * goheap.h — goheap's public interface: the only header a kernel includes.
 *
 * goheap owns the physical pages it is given and hands them out as runs of
 * 8 KiB pages (this header) and, in later layers, as objects. It follows the
 * design of Go's runtime allocator; alloc/malloc.c has the overview.
 *
 * Contexts: every function may be called with interrupts enabled or
 * disabled, from any CPU, and from interrupt context, unless its comment
 * says otherwise. goheap never sleeps; exhaustion returns NULL.
 *
 * Misuse (freeing what goheap did not hand out, a wrong length, a double
 * free) is reported through the port's gh_port_panic with the address and
 * the reason; goheap's state is left as it was.
 */
#ifndef GOHEAP_H
#define GOHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GH_PAGE_SIZE 8192u /* goheap's page: two 4 KiB frames (see alloc/constants.h) */

/* A range of memory goheap may use, at the address goheap will use it (the
 * kernel's direct map). Need not be aligned: goheap uses the whole 8 KiB
 * pages inside it. */
struct gh_range {
	uintptr_t base;
	size_t len;
};

/*
 * gh_init — start goheap on the given free ranges (any order, may have holes
 * of any size between them). Call once, on one CPU, before any other goheap
 * function and after the port works. goheap keeps its own metadata inside
 * the memory it manages. Returns 0, or -1 when the ranges are too small to
 * hold their own metadata (nothing is then managed).
 */
int gh_init(const struct gh_range *ranges, unsigned n);

/*
 * gh_add_memory — give goheap more memory later (hot-add, memory released by
 * firmware). The range must not overlap memory goheap already manages.
 * Metadata costs do not depend on the distance to existing ranges. Returns 0,
 * or -1 when there is no room for the range's metadata (nothing is added) or
 * it overlaps managed memory.
 */
int gh_add_memory(uintptr_t base, size_t len);

/* Flags for gh_page_alloc. */
#define GH_PAGE_ZERO 0x1u /* zero the pages (cheaply, when goheap knows they are) */
/* Align the run to 2^log2 bytes (log2 >= 13, below 64). Without it, runs are
 * aligned to GH_PAGE_SIZE. */
#define GH_PAGE_ALIGN(log2) ((unsigned)(log2) << 8)

/*
 * gh_page_alloc — a run of npages contiguous pages (npages >= 1), aligned to
 * GH_PAGE_SIZE or as GH_PAGE_ALIGN asks. Returns NULL when no such run is
 * free (or npages is 0 or absurdly large). Runs of fewer than 16 pages
 * usually come from this CPU's page cache without taking a lock.
 */
void *gh_page_alloc(size_t npages, unsigned flags);

/*
 * gh_page_free — return a run from gh_page_alloc. p and npages must be exactly
 * what was allocated; anything else (an address inside a run, a wrong
 * length, a second free, an object from gh_malloc) panics with the reason.
 */
void gh_page_free(void *p, size_t npages);

/*
 * The scavenger: free pages beyond a retained goal are handed back through
 * the port's gh_port_release (to a hypervisor, or the host) and reused last.
 *
 * gh_scavenge_work — release at most max_pages pages, and only while more
 * free memory is retained than the goal. Bounded: a port calls it from a
 * timer tick or its idle loop. Returns the pages released.
 * gh_scavenge — release up to bytes of free memory now, whatever the goal
 * (memory pressure, tests). Returns the bytes released.
 * gh_set_scavenge_goal — retain this many free bytes; ~0 restores the
 * default (a tenth of the memory in use, plus 4 MiB).
 */
unsigned gh_scavenge_work(unsigned max_pages);
size_t gh_scavenge(size_t bytes);
void gh_set_scavenge_goal(uint64_t bytes);

/* Page heap figures, in bytes, taken under the heap lock. Other CPUs' page
 * caches change without that lock, so cached (and in_use, which is derived
 * from it) may be off by what they did meanwhile; every other field is
 * exact. */
struct gh_page_stats {
	uint64_t managed;  /* pages goheap was given (after alignment) */
	uint64_t in_use;   /* pages handed out (spans, page allocations) */
	uint64_t free;	   /* pages free in the page heap */
	uint64_t cached;   /* free pages held in per-CPU page caches */
	uint64_t metadata; /* goheap's own structures: reserved plus pages taken later */
	uint64_t reserved; /* set aside for metadata when memory was added (not in managed) */
	uint64_t released; /* free pages handed back through gh_port_release */
	uint64_t page_allocs, page_frees; /* gh_page_alloc / gh_page_free calls that succeeded */
};
void gh_page_stats(struct gh_page_stats *st);

/*
 * gh_heap_check — walk goheap's structures and verify their invariants
 * (summaries match bitmaps, every span is where the arena index says, the
 * counters add up). Returns 0 when all hold; otherwise reports the first
 * broken one through gh_port_log and returns -1. Slow: for tests and
 * debugging. Takes the heap lock.
 */
int gh_heap_check(void);

#endif
