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
	uint64_t free;	   /* pages free in the page heap (some the scavenger is releasing) */
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

/* gh_cpu_prepare — set up CPU cpu's per-CPU structures before its first
 * use. gh_init sets up the CPUs [0, gh_port_ncpu_used()) and leaves the
 * others untouched (not in memory, on a host that backs pages as they are
 * touched); a port whose gh_port_ncpu_used() grows calls this for each
 * CPU it adds, before that CPU runs goheap code. Safe to call before
 * gh_init (gh_init then sets the CPU up, when its count includes it), at
 * the same time as gh_init, and again. */
void gh_cpu_prepare(unsigned cpu);

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
	/* The collector (gh_new's objects are counted in the Heap* figures
	 * and BySize above, and in Mallocs/Frees, along with gh_malloc's). */
	uint64_t NextGC;	/* heap goal of the next cycle, bytes of live objects */
	uint64_t LastGC;	/* gh_port_nanotime() when the last cycle ended */
	uint64_t PauseTotalNs;	/* every stop-the-world pause so far */
	uint64_t PauseNs[256];	/* each cycle's pauses summed, the latest at [(NumGC + 255) % 256] */
	uint64_t PauseEnd[256]; /* when each cycle ended (gh_port_nanotime) */
	uint32_t NumGC;		/* completed cycles */
	uint32_t NumForcedGC;	/* of which gh_gc() asked for */
	uint32_t GCCPUPermille; /* Go's GCCPUFraction, in thousandths */
};
void gh_read_memstats(struct gh_memstats *m);

/* ---- collected objects (the garbage collector) ----
 *
 * gh_new's objects are freed by the collector once nothing reaches them.
 * What reaches them: registered roots (gh_gc_add_root), every CPU's stack
 * and saved registers (the port reports them, gh_port_scan_stacks), the
 * memory of gh_malloc_scanned, objects queued for finalization, and,
 * through their types' pointer bitmaps, other collected objects. Stacks,
 * registers, roots and gh_malloc_scanned memory are scanned
 * conservatively: any word that points into an object (its start or
 * inside) keeps it. Objects are scanned precisely: only the words their
 * type says may hold pointers.
 *
 * Memory from gh_malloc and gh_page_alloc is neither scanned nor
 * collected: a pointer kept only there does not keep an object alive. Use
 * gh_malloc_scanned for kernel structures that point into the collected
 * heap.
 *
 * Every store of a pointer into a collected object, a registered root or
 * gh_malloc_scanned memory must go through GH_STORE_PTR (the write
 * barrier) while the collector may be marking; stores to stack variables
 * need nothing.
 */

/* What the collector knows of an object's layout. A type is read whenever
 * objects of it are allocated or scanned, and a CPU keeps what it worked
 * out from the last one it allocated: it must stay unchanged at its
 * address for as long as the program runs (GH_TYPE defines a const one). */
typedef struct gh_type {
	size_t size;		/* bytes of one object */
	size_t ptrdata;		/* bytes of the prefix that may hold pointers; 0 = pointer-free */
	const uint8_t *ptrmask; /* 1 bit per 8-byte word of ptrdata, LSB first; NULL = every word */
	const char *name;	/* for profiles and error messages */
} gh_type;

/* A zeroed object of type t; NULL only if a full collection cannot make
 * room. Not from interrupt context: it may collect. */
void *gh_new(const gh_type *t);
/* n zeroed objects of type elem, back to back; NULL on overflow too. */
void *gh_new_array(const gh_type *elem, size_t n);
/* A full cycle, to completion, sweep included (like Go's runtime.GC()). */
void gh_gc(void);
/* Scan [base, base + len) conservatively in every cycle, until removed. */
void gh_gc_add_root(void *base, size_t len);
void gh_gc_remove_root(void *base);
/* Run fn(obj, arg) once obj, a collected object (its start), is
 * unreachable; the object lives until the cycle after fn ran. fn NULL
 * clears it. Finalizers run from gh_run_finalizers, never inside the
 * collector. */
void gh_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg);
/* Like GOGC: the heap may grow by this percentage of the live heap before
 * the next cycle (default 100). Negative turns the collector off. Returns
 * the old value. */
int gh_set_gc_percent(int percent);
/* Like GOMEMLIMIT, soft: the collector runs more often to keep the heap
 * under it (0 or ~0: no limit). */
void gh_set_memory_limit(uint64_t bytes);

/* Uncollectable but scanned: gh_malloc memory (freed with gh_free) whose
 * words are scanned conservatively as roots in every cycle. Zeroed. */
void *gh_malloc_scanned(size_t size);

/* GH_STORE_PTR(slot_address, value): *slot_address = value, through the
 * write barrier (Go's hybrid barrier with every stack black: the value
 * overwritten is shaded while marking). A call that tests a flag and just
 * stores when not marking: the test and the store are one sequence that a
 * stop of the world restarts (alloc/storeptr.S), which an inline test
 * could not be. */
extern bool gh_wb_enabled;
void gh_store_ptr(void **slot, void *value);
#define GH_STORE_PTR(slot_address, value)                                                     \
	do {                                                                                  \
		void **gh_slot_ = (void **)(slot_address);                                    \
		void *gh_val_ = (void *)(value);                                              \
		(void)sizeof(*(slot_address) = (value)); /* type-checked, not evaluated */    \
		gh_store_ptr(gh_slot_, gh_val_);                                              \
	} while (0)

/* For ports: an interrupt or signal that found the CPU at *pc, inside
 * gh_store_ptr's test-and-store, sends it back to the test. A port calls
 * this on the interrupted context of whatever may stop the world there
 * (the kernel: every interrupt's entry; hosted: the stop signal). */
extern const char gh_store_ptr_done[];
static inline void gh_store_restart(uintptr_t *pc)
{
	if (*pc >= (uintptr_t)gh_store_ptr && *pc < (uintptr_t)gh_store_ptr_done)
		*pc = (uintptr_t)gh_store_ptr;
}

/*
 * GH_TYPE(name, T, fields...) defines "const gh_type name" for struct T
 * from the names of its pointer fields (up to 16), for example
 *
 *     struct node { int key; struct node *left, *right; char *label; };
 *     GH_TYPE(node_type, struct node, left, right, label);
 *     struct node *n = gh_new(&node_type);
 *
 * GH_TYPE_NOSCAN(name, T) is a pointer-free type. The pointer fields must
 * lie in the first 4 KiB of T.
 */
#define GH_TYPE(name, T, ...)                                                                \
	static const uint8_t name##_ptrmask_[64] = {GH_T_BYTES_(T, __VA_ARGS__)};              \
	_Static_assert(GH_T_FOLD_(GH_T_OK_, T, 0, __VA_ARGS__) 1,                              \
		       #T ": a GH_TYPE field is not an aligned pointer in the first 4 KiB");   \
	const gh_type name = {sizeof(T),                                                       \
			      sizeof(union { GH_T_FOLD_(GH_T_END_, T, 0, __VA_ARGS__) }),      \
			      name##_ptrmask_, #T}
#define GH_TYPE_NOSCAN(name, T) const gh_type name = {sizeof(T), 0, NULL, #T}

/* ---- the collector's switches, figures, and what a port calls ---- */

#define GH_GC_TRACE 0x1u     /* a line per cycle in Go's gctrace format (gh_port_log) */
#define GH_GC_STW 0x2u	     /* mark with the world stopped (Go's gcstoptheworld=1) */
#define GH_GC_CHECKMARK 0x4u /* verify each cycle's marks with the world stopped */
unsigned gh_gc_set_flags(unsigned flags); /* returns the old flags */
/* Collect (a full cycle) every n collected allocations; 0: off. */
void gh_gc_stress(unsigned n);

struct gh_gc_stats {
	uint64_t cycles;       /* completed */
	uint64_t heap_live;    /* bytes of collected objects allocated, as the pacer counts */
	uint64_t heap_marked;  /* live after the last cycle */
	uint64_t heap_black;   /* of which allocated black while it marked (most
				* of it garbage by the next cycle) */
	uint64_t heap_goal;    /* of the cycle running or next: heap_marked plus
				* GOGC% of what was traced (heap_marked - heap_black) */
	uint64_t trigger;      /* heap_live that starts the next cycle */
	uint64_t pause_max_ns; /* the longest stop-the-world pause so far */
	uint64_t mark_ns;      /* total concurrent mark time (wall) */
	uint64_t assist_ns, background_ns; /* CPU time of marking, by who did it */
	uint64_t checkmark_errors;	   /* objects checkmark found reachable but unmarked */
	uint64_t finalizers_queued, finalizers_run;
	/* collected objects now (allocated minus swept), as in gh_memstats:
	 * objects, their bytes, and the bytes of pages their spans hold */
	uint64_t objects, bytes, inuse;
	uint64_t memory_limit; /* gh_set_memory_limit's; ~0 when none */
	int gc_percent;	       /* gh_set_gc_percent's; negative when off */
	bool marking;
};
void gh_gc_read_stats(struct gh_gc_stats *st);

/* For ports. Background marking for about budget_ns on this CPU, with
 * interrupts enabled (it turns them off in short pieces). Nonzero while a
 * cycle still has marking to do: GH_GC_BG_MORE after marking,
 * GH_GC_BG_DEFER when it left a small mark to the CPUs that allocate (it
 * did nothing: call again in a while, a tick or 100 us, rather than at
 * once). With no mark under way it sweeps for its budget. */
enum gh_gc_background_result { GH_GC_BG_DONE, GH_GC_BG_MORE, GH_GC_BG_DEFER };
enum gh_gc_background_result gh_gc_background(uint64_t budget_ns);
/* Run the finalizers queued so far on this CPU; returns how many ran. */
unsigned gh_run_finalizers(void);
/* Zero bytes of stack below the caller's frame, and the scratch
 * registers: where a port's finalizers or marking just ran, before the
 * CPU (or thread) idles, so that the conservative scan of its stack at
 * the next stop finds no stale pointer there. No deeper than that work
 * went. */
void gh_clear_stack(size_t bytes);

/* GH_TYPE's helpers: GH_T_FOLD_(m, T, k, f1, f2, ...) is m(T, k, f1) m(T, k, f2) ... */
#define GH_T_WORD_(T, f) (__builtin_offsetof(T, f) / 8)
#define GH_T_BIT_(T, k, f) | (GH_T_WORD_(T, f) / 8 == (k) ? 1u << (GH_T_WORD_(T, f) % 8) : 0u)
#define GH_T_END_(T, k, f) char f[__builtin_offsetof(T, f) + 8];
#define GH_T_OK_(T, k, f)                                                                   \
	(__builtin_offsetof(T, f) % 8 == 0 && sizeof(((T *)0)->f) == 8 &&                  \
	 __builtin_offsetof(T, f) < 4096) &&
#define GH_T_N_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, n, ...) n
#define GH_T_CAT_(a, b) a##b
#define GH_T_CAT2_(a, b) GH_T_CAT_(a, b)
#define GH_T_FOLD_(m, T, k, ...)                                                                \
	GH_T_CAT2_(GH_T_F, GH_T_N_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, \
				   2, 1, 0))(m, T, k, __VA_ARGS__)
#define GH_T_F1(m, T, k, a) m(T, k, a)
#define GH_T_F2(m, T, k, a, ...) m(T, k, a) GH_T_F1(m, T, k, __VA_ARGS__)
#define GH_T_F3(m, T, k, a, ...) m(T, k, a) GH_T_F2(m, T, k, __VA_ARGS__)
#define GH_T_F4(m, T, k, a, ...) m(T, k, a) GH_T_F3(m, T, k, __VA_ARGS__)
#define GH_T_F5(m, T, k, a, ...) m(T, k, a) GH_T_F4(m, T, k, __VA_ARGS__)
#define GH_T_F6(m, T, k, a, ...) m(T, k, a) GH_T_F5(m, T, k, __VA_ARGS__)
#define GH_T_F7(m, T, k, a, ...) m(T, k, a) GH_T_F6(m, T, k, __VA_ARGS__)
#define GH_T_F8(m, T, k, a, ...) m(T, k, a) GH_T_F7(m, T, k, __VA_ARGS__)
#define GH_T_F9(m, T, k, a, ...) m(T, k, a) GH_T_F8(m, T, k, __VA_ARGS__)
#define GH_T_F10(m, T, k, a, ...) m(T, k, a) GH_T_F9(m, T, k, __VA_ARGS__)
#define GH_T_F11(m, T, k, a, ...) m(T, k, a) GH_T_F10(m, T, k, __VA_ARGS__)
#define GH_T_F12(m, T, k, a, ...) m(T, k, a) GH_T_F11(m, T, k, __VA_ARGS__)
#define GH_T_F13(m, T, k, a, ...) m(T, k, a) GH_T_F12(m, T, k, __VA_ARGS__)
#define GH_T_F14(m, T, k, a, ...) m(T, k, a) GH_T_F13(m, T, k, __VA_ARGS__)
#define GH_T_F15(m, T, k, a, ...) m(T, k, a) GH_T_F14(m, T, k, __VA_ARGS__)
#define GH_T_F16(m, T, k, a, ...) m(T, k, a) GH_T_F15(m, T, k, __VA_ARGS__)
#define GH_T_B_(T, k, ...) 0 GH_T_FOLD_(GH_T_BIT_, T, k, __VA_ARGS__)
#define GH_T_B8_(T, k, ...)                                                                 \
	GH_T_B_(T, k, __VA_ARGS__), GH_T_B_(T, k + 1, __VA_ARGS__),                         \
	    GH_T_B_(T, k + 2, __VA_ARGS__), GH_T_B_(T, k + 3, __VA_ARGS__),                 \
	    GH_T_B_(T, k + 4, __VA_ARGS__), GH_T_B_(T, k + 5, __VA_ARGS__),                 \
	    GH_T_B_(T, k + 6, __VA_ARGS__), GH_T_B_(T, k + 7, __VA_ARGS__)
#define GH_T_BYTES_(T, ...)                                                                 \
	GH_T_B8_(T, 0, __VA_ARGS__), GH_T_B8_(T, 8, __VA_ARGS__), GH_T_B8_(T, 16, __VA_ARGS__), \
	    GH_T_B8_(T, 24, __VA_ARGS__), GH_T_B8_(T, 32, __VA_ARGS__),                     \
	    GH_T_B8_(T, 40, __VA_ARGS__), GH_T_B8_(T, 48, __VA_ARGS__),                     \
	    GH_T_B8_(T, 56, __VA_ARGS__)

#endif
