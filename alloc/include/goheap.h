/*
 * goheap.h — goheap's public interface: the only header a kernel includes.
 *
 * goheap owns the physical pages it is given and hands them out as runs of
 * 8 KiB pages and as objects of any size. It follows the design of Go's
 * runtime allocator; alloc/README.md has the overview.
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
 * Metadata costs grow with the distance to existing ranges only up to
 * 512 KiB (a flat window over the arena index, up to 4 TiB wide). Returns 0,
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
 * (summaries match bitmaps, every span is where the arena index says, each
 * span's bitmaps match its counts and its owner, the counters add up).
 * Returns 0 when all hold; otherwise reports the first broken one through
 * gh_port_log and returns -1. Slow: for tests and debugging. Takes the heap
 * lock; the answer is exact only while no other CPU allocates or frees.
 */
int gh_heap_check(void);

/* ---- objects ----
 *
 * Objects up to GH_MAX_SMALL bytes come from 67 size classes (Go's table)
 * and are aligned to the largest power of two that divides their class
 * size, at least 8 and at most GH_PAGE_SIZE: 16 for every size above 8.
 * Larger objects get whole pages. gh_malloc memory is never moved, scanned
 * or collected: it lives until gh_free.
 *
 * Freeing on the CPU that allocated takes no lock and no atomic
 * instruction; frees from other CPUs are lock-free. Bad input to gh_free,
 * gh_realloc or gh_usable_size (a pointer goheap never handed out, one
 * inside an object, an object already freed, a page run from
 * gh_page_alloc) panics through the port with the address and the reason.
 */
#define GH_MAX_SMALL 32768u

/* Flags for gh_malloc_flags. */
#define GH_ZERO 0x1u   /* zero the object */
#define GH_NOWAIT 0x2u /* never wait for the heap lock: NULL instead (see below) */

/* gh_malloc — size bytes (0 gives a minimal object), or NULL when memory is
 * exhausted. */
void *gh_malloc(size_t size);

/* gh_malloc_flags — gh_malloc with flags. goheap never sleeps, so every call
 * is safe in interrupt context; GH_NOWAIT is for code that must not spin
 * either: it is served from this CPU's caches and lock-free structures only,
 * and gets NULL where the heap lock would be needed and is held. */
void *gh_malloc_flags(size_t size, unsigned flags);

/* gh_calloc — n zeroed objects of size bytes; NULL when n * size overflows
 * or memory is exhausted. */
void *gh_calloc(size_t n, size_t size);

/* gh_realloc — resize p (NULL: like gh_malloc). Stays in place while the
 * new size keeps the size class (small) or needs no more pages and at least
 * half of them (large); otherwise moves the contents and frees p. size 0
 * frees p and returns NULL. On exhaustion returns NULL and p is untouched. */
void *gh_realloc(void *p, size_t size);

/* gh_free — free p from any gh_malloc-family function (NULL: nothing). */
void gh_free(void *p);

/* gh_aligned_alloc — size bytes aligned to align, a power of two (any, also
 * above the page size); NULL when align is not one, or on exhaustion. */
void *gh_aligned_alloc(size_t align, size_t size);

/* gh_usable_size — the bytes usable at p: its size class, or its pages for
 * large objects; 0 for NULL. */
size_t gh_usable_size(const void *p);

/* gh_cache_flush — give back everything this CPU caches: its spans of
 * objects and its free pages. A port calls it when a CPU goes idle for a
 * while or offline, or when a thread standing in for a CPU exits. */
void gh_cache_flush(void);

/* For ports in a process that forks (pthread_atfork): gh_fork_prepare takes
 * goheap's lock before fork; after it, gh_fork_parent releases it in the
 * parent and gh_fork_child in the child, where the threads that waited for
 * it in the parent do not exist. */
void gh_fork_prepare(void);
void gh_fork_parent(void);
void gh_fork_child(void);

/* Debug switches for gh_set_debug. GH_DEBUG_POISON fills free small objects
 * with a pattern and checks it when they are handed out again: a write
 * after free panics with the object and the offset. It applies to spans a
 * CPU takes after the switch (gh_cache_flush takes effect at once). */
#define GH_DEBUG_POISON 0x1u
/* Set the debug switches; returns the previous ones. */
unsigned gh_set_debug(unsigned flags);

/* Heap figures with Go's runtime.MemStats names and meanings, in bytes or
 * counts. Go's identities hold: Sys is the sum of the *Sys fields,
 * HeapSys = HeapIdle + HeapInuse, HeapObjects = Mallocs - Frees. Per-CPU
 * counters are read while other CPUs may change them: figures are exact
 * while no other CPU allocates or frees. */
#define GH_MEMSTATS_CLASSES 67
struct gh_memstats {
	uint64_t Alloc;	       /* bytes of live objects (= HeapAlloc) */
	uint64_t TotalAlloc;   /* bytes ever allocated as objects */
	uint64_t Sys;	       /* all memory goheap holds, managed plus reserved */
	uint64_t Mallocs;      /* objects ever allocated */
	uint64_t Frees;	       /* objects ever freed */
	uint64_t HeapAlloc;    /* bytes of live objects */
	uint64_t HeapSys;      /* HeapInuse + HeapIdle */
	uint64_t HeapIdle;     /* free pages (including released ones) */
	uint64_t HeapInuse;    /* pages of spans that hold objects */
	uint64_t HeapReleased; /* free pages handed back through gh_port_release */
	uint64_t HeapObjects;  /* live objects */
	uint64_t PageInuse;    /* gh_page_alloc runs (Go's StackInuse) */
	uint64_t PageSys;      /* the same: page runs come from the heap */
	uint64_t MSpanInuse;   /* span records in use */
	uint64_t MSpanSys;     /* memory for span records */
	uint64_t MCacheInuse;  /* per-CPU structures */
	uint64_t MCacheSys;
	uint64_t GCSys;	       /* span bitmaps */
	uint64_t OtherSys;     /* other metadata: page allocator, arena index */
	struct {
		uint32_t Size; /* object size of the class (class 0: large objects) */
		uint64_t Mallocs, Frees;
	} BySize[GH_MEMSTATS_CLASSES];
};
void gh_read_memstats(struct gh_memstats *m);

#endif
