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
#include "mcache.h"
#include "pagealloc.h"

/* What a span is used for. */
enum mspan_state {
	MSPAN_DEAD = 0,	  /* not in use: on a free list, or never used */
	MSPAN_MANUAL = 1, /* a gh_page_alloc run */
	MSPAN_META = 2,	  /* pages holding goheap's own metadata */
	MSPAN_SMALL = 3,  /* objects of one size class (Go's mSpanInUse, sizeclass != 0) */
	MSPAN_LARGE = 4,  /* one object over GH_MAX_SMALL_SIZE (sizeclass 0) */
	MSPAN_GC = 5,	  /* collected objects of one size class */
	MSPAN_GC_LARGE = 6, /* one collected object over GH_MAX_SMALL_SIZE */
	MSPAN_NSTATES
};

/*
 * A run of pages and what it is used for (Go's mspan). Records come from
 * fixalloc, are never returned to the page heap and are not zeroed on
 * reuse: a CPU freeing into a span may still read its record for a moment
 * after another CPU retired it (mspan.c explains the protocol), so the
 * fields it reads keep their meaning across reuse.
 *
 * Fields of small-object spans are owned by the CPU that owns the span
 * (see owner) and read by others only with relaxed atomics; the fields
 * under "shared" change only atomically.
 */
struct mspan {
	/* What finding and marking an object read, and nothing a CPU writes
	 * as it allocates: this line stays in every marking CPU's cache while
	 * the span's owner allocates from the next one. */
	uintptr_t base; /* first byte; fixalloc links free records through it */
	/* The collector's mark bits: a bit per object, bitsCap words. */
	uint64_t *gcmarkBits;
	union {
		struct {
			uint8_t state;	  /* enum mspan_state */
			uint8_t poisoned; /* free objects hold POISON_BYTE (debug; small spans) */
		};
		uint16_t state_poisoned; /* both: one compare on the free fast path */
	};
	uint16_t spanclass; /* size class << 1 | noscan */
	uint16_t nelems;    /* objects in the span */
	uint8_t needzero;   /* free objects may hold old data */
	uint8_t scanned;    /* on the list of gh_malloc_scanned spans */
	uint32_t elemsize;  /* bytes per object; a large span's requested size rounded to pages */
	uint32_t divmul;    /* offset / elemsize == (offset * divmul) >> 32 */
	/* The collector's. Scan spans of objects up to 512 bytes: a bit per
	 * word of the span, 1 = may hold a pointer (Go's heap bits; larger
	 * objects carry their type in a header word). */
	uint64_t *heapBits; /* in the span's page, at its end */
	/* Bitmaps of bitsCap words each, one bit per object, with gcmarkBits:
	 * allocBits (1 = allocated), freeBits (freed by a CPU that does not own
	 * the span, not yet merged into allocBits). */
	uint64_t *allocBits;
	uintptr_t npages; /* length in pages */
	/* Large collected spans: the element type, and (largeData) how many
	 * bytes of elements follow the base. */
	const struct gh_type *largeType;

	/* The owner's: what allocation and freeing write. */
	/* ~allocBits from freeindex to the end of its 64-bit word, bit 0 being
	 * object freeindex, 0 beyond nelems; 0 also means "reload from
	 * allocBits" (and is kept so in poisoned spans). */
	uint64_t allocCache;
	uint16_t freeindex; /* allocation scans upwards from here */
	/* A collected span a CPU allocates from while the collector marks:
	 * its objects from here to freeindex were allocated since marking
	 * began or the span was taken, and are marked black in bulk when the
	 * CPU gives it up (gc_uncache) or marking ends. */
	uint16_t blackfrom;
	/* Objects allocated (remote frees not yet merged included), as of when
	 * the span was last given up: exact while no CPU owns it. An owner
	 * counts allocBits when it needs the figure (span_count_alloc). */
	uint32_t allocCount;
	/* Frees by the owning CPU on the fast path, added to its mcache.nfree
	 * when it gives the span up (gh_read_memstats adds them meanwhile). */
	uint32_t nfree_owner;
	uint32_t sweepgen; /* for the collector: the heap's sweepgen when last swept */
	uint64_t *freeBits;
	uint32_t bitsCap;
	uint32_t largemark; /* the collector's mark of a large span's object */
	uint64_t largeData;
	/* Every slot's heap bits are this type's (one object per slot): its
	 * objects are allocated without writing them (mallocgc.c). */
	const struct gh_type *bits_type;
	struct special *specials; /* finalizers, by object offset (mfinal.c) */

	/* shared */
	uint64_t owner;	 /* who may change the span: a sequence number << 16 | OWN_* */
	uint64_t remote; /* freeBits published but not merged << 32 | CPUs inside a remote free */
	uint64_t next;	 /* link in mcentral's lock-free stack (lfstack.h) */
	/* spans of gh_malloc_scanned memory: the list the collector scans */
	struct mspan *scanned_next, *scanned_prev;
} __attribute__((aligned(64)));
_Static_assert(__builtin_offsetof(struct mspan, allocCache) == 64,
	       "what allocation writes starts the span record's second cache line");

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

/* The arena index's fast lane: the arenas numbered first to first + len - 1
 * in one flat table. A new window replaces it when arenas are added; an old
 * one stays valid for a reader still using it (metadata is never freed).
 * Arenas outside it are found through the two-level index. */
struct arena_window {
	uintptr_t first, len;
	struct heap_arena *arenas[];
};

/* fixalloc: a free list of fixed-size records (Go's mfixalloc.go), carved
 * from 16 KiB chunks of persistentalloc. Used under mheap.lock. */
struct fixalloc {
	size_t size;
	bool zero;		 /* zero records when they are reused */
	void *list;		 /* freed records, linked through their first word */
	uintptr_t chunk, nchunk; /* unused part of the current chunk */
	uint64_t inuse, sys;	 /* bytes handed out / taken from persistentalloc */
};

/* Each CPU's share of the heap (Go's p): touched only by that CPU with
 * interrupts off. Counters are written with relaxed atomic stores so that
 * gh_read_memstats may read them from another CPU. */
struct gh_cpu {
	struct mcache mcache;
	struct gccache gc;
	struct pagecache pcache;
	struct mspan *spans[MSPAN_CACHE]; /* span records ready for lock-free use */
	unsigned nspans;
	uintptr_t pers_off, pers_end; /* this CPU's persistentalloc chunk */
	uint64_t page_allocs, page_frees;
	uint64_t pages_alloc[MSPAN_NSTATES], pages_free[MSPAN_NSTATES]; /* span pages by state */
	uint32_t prepared; /* CPU_*: set up for use (gh_cpu_prepare) */
} __attribute__((aligned(64)));

/* A CPU's structures start zeroed (CPU_NEW): its span classes read no
 * current span until gh_cpu_prepare sets them up. */
#define CPU_NEW 0u
#define CPU_PREPARING 1u
#define CPU_READY 2u

struct mheap {
	/* Read on every allocation and free, written once: a cache line of
	 * their own, away from the lock and what it guards. */
	struct {
		struct gh_cpu *cpus;
		struct arena_window *window; /* never NULL */
		unsigned ncpu;
		bool ready;
	} __attribute__((aligned(64)));
	struct gh_lock lock __attribute__((aligned(64)));
	struct pagealloc pages;
	struct heap_arena **arenas[1u << ARENA_L1_BITS]; /* L1 → L2 table → arena */
	struct fixalloc spanalloc;
	struct fixalloc bitsalloc[BITS_POOLS]; /* span bitmaps of 3 << i words (mspan.c) */
	struct mcentral central[NUM_SPANCLASSES];
	uint32_t sweepgen; /* the collector's; advances by 2 per cycle */
	/* The global persistentalloc chunk, under lock. */
	uintptr_t pers_off, pers_end;
	uint64_t meta_pages; /* pages allocated from the heap for metadata */
	uint64_t carved;     /* bytes of managed ranges set aside for metadata */
	/* The CPUs' structures as soon as gh_init has them, before they are
	 * published in cpus: for gh_cpu_prepare. */
	struct gh_cpu *cpus_setup;
	/* The scavenger (scavenge.c). */
	uint64_t released_pages;   /* free pages released to the port (atomic) */
	uint64_t releasing;	   /* pages taken out to be released, not back yet (atomic) */
	uint64_t scavenge_goal;	   /* retained free bytes to keep; ~0 = default */
	uintptr_t scavenge_cursor; /* releases continue below this address; 0 = top */
	bool release_keeps_data;   /* the port once said released pages keep data */
	/* The ranges goheap was given, to refuse overlaps. */
	unsigned nranges;
	/* From the lowest range's base to the highest one's end: what lies
	 * outside is no heap address (a conservative scan's first test). */
	uintptr_t lo, hi;
	struct gh_range ranges[64];
};

extern struct mheap gh_mheap;

/* Free pages, under the heap lock: in the page allocator, or taken out of
 * it by the scavenger while it releases them (scavenge.c), which puts them
 * back free. */
static inline uint64_t gh_free_pages_locked(const struct mheap *h)
{
	return h->pages.free_pages + __atomic_load_n(&h->releasing, __ATOMIC_RELAXED);
}

/* How many CPUs' structures goheap visits (gh_port_ncpu_used). Among them
 * may be one not set up yet (gh_cpu_prepare), which reads as zeros: the
 * collector reads and writes only their counters and cached-span bitmaps,
 * and the figures skip it (gh_cpu_prepared). */
static inline unsigned gh_ncpu_used(void)
{
	unsigned n = gh_port_ncpu_used();
	return n < gh_mheap.ncpu ? n : gh_mheap.ncpu;
}

/* CPU i's structures, or NULL while they are not set up: a CPU never
 * used reads as zeros, and its current spans are not gh_empty_span. */
static inline const struct gh_cpu *gh_cpu_prepared(unsigned i)
{
	const struct gh_cpu *c = &gh_mheap.cpus[i];
	return __atomic_load_n(&c->prepared, __ATOMIC_ACQUIRE) == CPU_READY ? c : NULL;
}

#define ARENA_L2_ENTRIES ((uintptr_t)1 << ARENA_L2_BITS)

/* The arena record of arena number ai, from the two-level index. */
static inline struct heap_arena *gh_arena_of(uintptr_t ai)
{
	if (ai >> (ARENA_L1_BITS + ARENA_L2_BITS))
		return NULL; /* not a 48-bit linear address */
	struct heap_arena **l2 =
	    __atomic_load_n(&gh_mheap.arenas[ai >> ARENA_L2_BITS], __ATOMIC_ACQUIRE);
	return l2 ? __atomic_load_n(&l2[ai & (ARENA_L2_ENTRIES - 1)], __ATOMIC_ACQUIRE) : NULL;
}

/* The arena index entry of the page at addr, NULL when no arena holds it.
 * O(1), no lock: arena records, once published, stay. */
static inline struct mspan **gh_span_slot(uintptr_t addr)
{
	const struct arena_window *w = __atomic_load_n(&gh_mheap.window, __ATOMIC_ACQUIRE);
	uintptr_t ai = LINEAR(addr) >> ARENA_SHIFT;
	struct heap_arena *a =
	    GH_LIKELY(ai - w->first < w->len) ? w->arenas[ai - w->first] : gh_arena_of(ai);
	return a ? &a->spans[(LINEAR(addr) >> PAGE_SHIFT) % PAGES_PER_ARENA] : NULL;
}

/* The span that the page at addr belongs to, NULL when goheap does not
 * manage addr or the page is not in a span. */
static inline struct mspan *gh_span_of(uintptr_t addr)
{
	struct mspan **slot = gh_span_slot(addr);
	return slot ? __atomic_load_n(slot, __ATOMIC_ACQUIRE) : NULL;
}


/* Zero whole pages, writing only those that are not zero already: memory a
 * hosted port maps fresh reads as zeros without being backed. */
void gh_zero_pages(uintptr_t p, uintptr_t bytes);

/* The free pages [base, base + npages pages) are released (given back to
 * the port, or never backed); mheap.lock held. */
static inline void gh_mheap_released(uintptr_t base, uintptr_t npages)
{
	gh_pagealloc_mark_scavenged(&gh_mheap.pages, base, npages);
	__atomic_fetch_add(&gh_mheap.released_pages, npages, __ATOMIC_RELAXED);
}

/* npages pages were just taken from the page allocator, scav of them
 * released: they count as retained again. True when all of them read as
 * zeros, as the port said released pages do. */
static inline bool gh_mheap_took(uintptr_t scav, uintptr_t npages)
{
	if (scav)
		__atomic_fetch_sub(&gh_mheap.released_pages, scav, __ATOMIC_RELAXED);
	return scav == npages && !gh_mheap.release_keeps_data;
}

/* persistentalloc (Go's malloc.go): never-freed metadata with any power-of-two
 * alignment. gh_persistentalloc must not be called under mheap.lock; the
 * _locked form must. Both return zeroed memory, or NULL when memory is
 * exhausted. */
void *gh_persistentalloc(size_t size, size_t align);
void *gh_persistentalloc_locked(size_t size, size_t align);

void gh_fixalloc_init(struct fixalloc *f, size_t size);
void *gh_fixalloc_alloc(struct fixalloc *f); /* under mheap.lock; zeroed; NULL when exhausted */
void gh_fixalloc_free(struct fixalloc *f, void *p);
/* Give s's bitmaps back to their pool (none: nothing); mheap.lock held. */
void gh_span_bits_free(struct mspan *s);

/* A span of npages pages aligned to align bytes (a power of two, at least
 * PAGE_SIZE) for the given state, entered in the arena index; NULL when no
 * run is free, or when nowait is set and the heap lock is busy. *zeroed says
 * whether the pages are known to read as zeros. Interrupts off; c is this
 * CPU's. */
struct mspan *gh_mheap_alloc(struct gh_cpu *c, uintptr_t npages, uintptr_t align, uint8_t state,
			     bool nowait, bool *zeroed);
/* A span of collected objects reads as MSPAN_DEAD to other CPUs until its
 * bits are set up: then this shows it (Go publishes mSpanInUse last). */
static inline void gh_span_publish(struct mspan *s, uint8_t state)
{
	__atomic_store_n(&s->state, state, __ATOMIC_RELEASE);
}
/* Give a span's pages back, and its record unless keep_record (the record
 * is still linked in a span set). Its first page then reads as
 * gh_freed_span in the arena index. Interrupts off; c is this CPU's. */
void gh_mheap_free(struct gh_cpu *c, struct mspan *s, bool keep_record);
void gh_mheap_free_record(struct gh_cpu *c, struct mspan *s);
/* gh_heap_check's part for objects (mstats.c): begin, every span in address
 * order, end. Under mheap.lock, nothing else running. */
void gh_check_objects_begin(void);
bool gh_check_span_objects(struct mspan *s);
bool gh_check_objects_end(void);

/* Whether goheap is started: starts it first through the port when it is
 * not (a port that starts it lazily). */
static inline bool gh_mheap_ready(void)
{
	if (GH_UNLIKELY(!gh_mheap.ready))
		gh_port_first_use();
	return gh_mheap.ready;
}

/* Set up the collector's state (mgc.c), from gh_init. */
void gc_init(void);
/* The list of gh_malloc_scanned spans the collector scans (mfinal.c). */
void gc_scanned_add(struct mspan *s);
void gc_scanned_remove(struct mspan *s);

/* Whether addr lies in memory goheap was given. */
bool gh_mheap_managed(uintptr_t addr);
/* Take mheap.lock, or with nowait only if it is free (returns false). */
bool gh_mheap_lock(unsigned long *cookie, bool nowait);

#endif
