/*
 * mgc.h — the collector's shared state and the calls between its files
 * (Go's mgc.go, mgcmark.go, mgcsweep.go, mgcpacer.go, mwbbuf.go,
 * mfinal.go, mcheckmark.go).
 *
 * A cycle, as in Go:
 *   sweep termination  every span of the last cycle is swept;
 *   mark start         world stopped: stacks and registers are scanned,
 *                      the write barrier turns on, new objects are black;
 *   concurrent mark    roots, then the grey objects, by background workers
 *                      (the port schedules gh_gc_background), allocation
 *                      assists, and gh_gc;
 *   mark termination   world stopped: write-barrier buffers and work are
 *                      flushed; with no grey object left the barrier turns
 *                      off, sweepgen advances, CPUs give their spans up;
 *   sweep              concurrent: allocBits <- gcmarkBits, lazily when a
 *                      CPU needs a span, in the background, and by gh_gc.
 *
 * Collected spans (MSPAN_GC, MSPAN_GC_LARGE) are never freed object by
 * object, so they need none of gh_malloc's ownership protocol: a CPU's
 * gccache holds its current span of each class, and every other collected
 * span is in one of its class's four lock-free sets (partial or full,
 * swept or unswept: Go's mcentral), being swept by one CPU, or free.
 * Go's sweepgen says which: with the heap's sweepgen sg, a span whose
 * sweepgen is sg - 2 needs sweeping, sg - 1 is being swept, sg is swept.
 * Which of the two set pairs is "swept" flips with sg, so a cycle's end
 * makes every swept set unswept at once.
 *
 * Lock order: gc.lock (a CPU running a cycle's transitions; held with
 * interrupts enabled) → gc.roots_lock, gc.scanned_lock, gc.special_lock →
 * mheap.lock.
 */
#ifndef GOHEAP_MGC_H
#define GOHEAP_MGC_H

#include "include/goheap.h"
#include "mgcmark.h"
#include "mspan.h"

/* Scan work a CPU does with interrupts off at a time (assists, background
 * workers, gh_gc). A stop of the world cuts it short: it waits for the
 * object being scanned, and for at most SCAN_CHUNK bytes of a large one. */
#define DRAIN_PIECE (16u << 10)
#define SCAN_CHUNK 2048u
/* Go's maxObletBytes: large objects are scanned this much at a time. */
#define OBLET_BYTES (128u << 10)
/* Objects up to this size have heap bits; larger ones a type header. */
#define MAX_HEAPBITS_OBJ 512u
#define MALLOC_HEADER 8u
/* A span's heap bits: a bit per word of its one page, at its end. */
#define HEAPBITS_BYTES (PAGE_SIZE / 8 / 8)
/* Go's tiny allocator: pointer-free objects under 16 bytes share blocks. */
#define TINY_SIZE 16u
/* Go's heapMinimum: the smallest heap goal, at GOGC 100. */
#define HEAP_MINIMUM (4ull << 20)
/* Scan work a cycle may expect and still be left to assists, not to
 * background workers on other CPUs (gh_gc_background). */
#define LOCAL_MARK_MAX (8ull << 20)

enum gc_phase { GC_OFF, GC_MARK };

/* A registered root range. */
struct gc_root {
	uintptr_t base, len;
	struct gc_root *next;
};

/* A finalizer on an object (Go's specialfinalizer), in its span's list
 * sorted by offset, or, once its object was found unreachable, in the
 * queue of finalizers to run. */
struct special {
	struct special *next;
	uint32_t offset; /* of the object's slot from its span's base */
	uintptr_t obj;	 /* what gh_set_finalizer was given */
	void (*fn)(void *obj, void *arg);
	void *arg;
};

#define GC_CONS_MARK_HISTORY 4

struct gcstate {
	struct gh_lock lock;   /* transitions of the cycle (see above) */
	uint32_t phase;	       /* enum gc_phase; changes with the world stopped */
	uint32_t cycle;	       /* cycles started */
	uint32_t completed;    /* cycles whose mark finished */
	uint32_t flags;	       /* GH_GC_* */
	uint32_t stop_wanted;  /* a CPU is stopping the world: drains end early */
	uint32_t flush_asked;  /* asks of CPUs to flush their barrier buffers, counted */
	uint64_t flush_since;  /* when the one outstanding was made; 0 none */
	int32_t percent;       /* GOGC */
	uint32_t stress_every; /* collect every n collected allocations */
	uint64_t memory_limit; /* GOMEMLIMIT; ~0 none */
	uint32_t roots_next;   /* next root job to claim, after job 0 */
	uint32_t roots_done;   /* root jobs finished */
	uint32_t forced;       /* the cycle was asked for by gh_gc */
	/* pacer (mgcpacer.c) */
	uint64_t heap_live;   /* bytes of collected objects allocated, as counted by span */
	uint64_t heap_marked; /* live at the end of the last mark */
	uint64_t heap_black;  /* of which allocated black while it marked */
	uint64_t heap_goal, trigger;
	uint64_t cons_mark; /* x1024: allocation against scanning, per CPU time */
	uint64_t last_cons_mark[GC_CONS_MARK_HISTORY];
	uint64_t runway;    /* bytes allocated while the next mark runs, expected */
	uint64_t last_scan; /* scan work of the last cycle */
	uint64_t assist_per_byte; /* x1024: scan work owed per allocated byte */
	/* scan work done by background workers, for assists (signed: see
	 * gc_assist); on a line of its own, since both sides write it */
	uint64_t bg_credit __attribute__((aligned(64)));
	uint8_t bg_credit_pad[56];
	uint64_t scan_expected;	  /* scan work the cycle is expected to need */
	uint64_t scan_done;	  /* scan work done so far in the cycle */
	uint32_t nbusy;		  /* CPUs in gc_drain: the mark is not done while any is */
	uint64_t heap_live_start; /* heap_live when the cycle started */
	/* timings of the current cycle, for gctrace and stats */
	uint64_t t_start, t_mark, t_markterm, t_end;
	uint64_t stw1_ns, stw2_ns, cycle_assist_ns, cycle_background_ns;
	uint64_t heap_at_start, heap_at_term;
	/* figures (gh_gc_read_stats, gh_read_memstats) */
	uint64_t cycle_pause_ns; /* the current cycle's stops, summed */
	uint64_t pause_total, pause_max, pause_ns[256], pause_end[256]; /* by cycle */
	uint64_t num_forced, mark_ns, assist_ns, background_ns, cpu_ns_gc, first_start;
	uint64_t checkmark_errors, finalizers_queued, finalizers_run;
	/* roots */
	struct gh_lock roots_lock, scanned_lock, special_lock;
	struct gc_root *roots;
	/* Job 0, the registered ranges, a block at a time (under roots_lock):
	 * the range and the offset in it of the next block, NULL when none is
	 * left; ranges_done once a CPU found none left. */
	struct gc_root *root_next;
	uintptr_t root_offset;
	bool ranges_done;
	struct mspan *scanned; /* spans of gh_malloc_scanned memory */
	struct special *finq;  /* finalizers to run */
	/* mcentral for collected spans: [spc][which], which = 2 * swept + partial */
	struct gccentral {
		struct lfstack partial[2], full[2]; /* indexed by sweepgen / 2 % 2 */
	} central[NUM_SPANCLASSES];
	uint32_t in_checkmark; /* the checkmark re-mark is running */
	uint32_t sweep_done;   /* the sweepgen at which no span was left unswept */
};
extern struct gcstate gh_gcs;

/*
 * Zero a local array of pointers before its frame dies. The frames laid
 * over that stack later, an interrupt's or a call's, need not write every
 * slot, and the conservative scan at the next cycle's start would take a
 * stale copy for a root and keep what it reaches: a whole list from one
 * node. The empty asm keeps the stores, which the compiler would drop as
 * dead.
 */
#define GC_WIPE(array)                                          \
	do {                                                    \
		__builtin_memset(array, 0, sizeof(array));      \
		__asm__ volatile("" : : "r"(array) : "memory"); \
	} while (0)

/* A CPU is stopping the world (stop_world): work that keeps interrupts
 * off ends early, since the stop waits for it. */
static inline bool gc_stop_wanted(void)
{
	return __atomic_load_n(&gh_gcs.stop_wanted, __ATOMIC_RELAXED);
}

static inline bool gc_marking(void)
{
	return __atomic_load_n(&gh_gcs.phase, __ATOMIC_ACQUIRE) == GC_MARK;
}

/* ---- collected spans' objects ---- */
/*
 * Allocation from a collected span moves freeindex and sets no bit (Go's
 * freeIndexForScan): allocation never skips a free object, so every object
 * below freeindex is allocated, and allocBits say which are above it. The
 * bits are brought up to date when the span is given up (gc_uncache); new
 * objects are marked black then, or when marking ends, rather than one by
 * one (gc_blacken).
 */
/* Of word `word` of a bitmap, the bits of indices below n. */
static inline uint64_t bits_below(uint32_t n, uint32_t word)
{
	if (n >= word * 64 + 64)
		return ~(uint64_t)0;
	return n <= word * 64 ? 0 : ((uint64_t)1 << (n % 64)) - 1;
}

/* Whether object idx of collected span s is allocated (any CPU). */
static inline bool gc_span_allocated(const struct mspan *s, uint32_t idx)
{
	return idx < __atomic_load_n(&s->freeindex, __ATOMIC_ACQUIRE) ||
	       span_bit(s->allocBits, idx);
}

/* How many objects of collected span s are allocated. */
static inline uint32_t gc_span_count_alloc(const struct mspan *s)
{
	uint32_t n = 0, below = __atomic_load_n(&s->freeindex, __ATOMIC_ACQUIRE);
	for (uint32_t w = 0; w < (s->nelems + 63u) / 64; w++)
		n += (uint32_t)__builtin_popcountll(
		    __atomic_load_n(&s->allocBits[w], __ATOMIC_RELAXED) | bits_below(below, w));
	return n;
}

/* Where the heap bits of the slot at b of s lie (objects up to 512 bytes:
 * a bit per word, 1 = may hold a pointer): from bit *sh of the returned
 * word, *nw of them, running into the next word when *sh + *nw > 64. */
static inline uint64_t *heap_bits_at(const struct mspan *s, uintptr_t b, unsigned *sh,
				     unsigned *nw)
{
	uint32_t off = (uint32_t)((b - s->base) / 8);
	*sh = off % 64;
	*nw = s->elemsize / 8;
	return &s->heapBits[off / 64];
}

/* The heap bits of the slot at b of s. */
static inline uint64_t heap_bits_of(const struct mspan *s, uintptr_t b)
{
	unsigned sh, nw;
	const uint64_t *hb = heap_bits_at(s, b, &sh, &nw);
	uint64_t bits = __atomic_load_n(hb, __ATOMIC_RELAXED) >> sh;
	if (sh + nw > 64)
		bits |= __atomic_load_n(hb + 1, __ATOMIC_RELAXED) << (64 - sh);
	return bits & bits_below(nw, 0);
}

/* Counting collected allocations as Go does: the objects the allocation
 * cache of c's span s offers count as allocated when it is loaded (n of
 * them), and those not handed out come off again (n negative) when the
 * span is given up; the fast path counts nothing. Readers take off what
 * the current spans still offer. */
static inline void gc_count_alloc(struct gh_cpu *c, const struct mspan *s, int64_t n)
{
	gh_stat_add(&c->mcache.nmalloc[s->spanclass], (uint64_t)n);
	gh_stat_add(&c->gc.nmalloc, (uint64_t)n);
	gh_stat_add(&c->gc.alloc_bytes, (uint64_t)(n * (int64_t)s->elemsize));
}

/* Mark the objects of s allocated since blackfrom (allocated black),
 * counting them in w; the owner, or any CPU with the world stopped. */
void gc_blacken(struct gcwork *w, struct mspan *s);

/* ---- the collected spans' sets (mgcsweep.c) ---- */
/* The set of class spc that holds swept (or unswept) partial (or full) spans. */
struct lfstack *gc_set(unsigned spc, bool swept, bool partial);
/* Give up a span c allocated from, to its class's sets: its allocBits
 * brought up to date, and what it allocated black marked while marking. */
void gc_uncache(struct gh_cpu *c, struct mspan *s);
/* Sweep s, which this CPU took from an unswept set (or holds otherwise
 * alone); returns false when its pages went back to the heap. */
bool gc_sweep_span(struct gh_cpu *c, struct mspan *s);
/* Sweep one unswept span of any class; false when none is left. */
bool gc_sweep_one(void);
/* Before the heap gives npages fresh pages to collected objects: sweep
 * until as many went back to it, none is left unswept, RECLAIM_BUDGET
 * spans were swept or a CPU stops the world (Go's mheap.reclaim), so that
 * the garbage of other classes' unswept spans is reused before the heap
 * grows. Returns how many spans it swept. */
#define RECLAIM_BUDGET 64
unsigned gc_reclaim(uintptr_t npages);
/* Sweep everything left (sweep termination). It does not wait for other
 * sweepers: with the world stopped none is inside a span, since a span is
 * swept with interrupts off, and that is when gc_start needs all swept. */
void gc_finish_sweep(void);
/* A span of class spc with a free object, swept, owned by this CPU for
 * allocation: from the sets, sweeping as needed, else NULL. */
struct mspan *gc_central_get(struct gh_cpu *c, unsigned spc);

/* ---- marking (mgcmark.c) ---- */
/* Scan the object (or oblet) at b precisely, greying what it points to. */
void gc_scan_object(struct gcwork *w, uintptr_t b, uint64_t *work);
/* Mark work on this CPU until about budget bytes were scanned or there is
 * no work; interrupts off. Returns the bytes scanned. */
uint64_t gc_drain(struct gh_cpu *c, uint64_t budget);
/* gc_drain for a CPU that turns interrupts back on afterwards (background
 * marking, help, assists): then it zeroes the stack the drain used and the
 * scratch registers (gh_clear_stack). An interrupt there, or a call whose
 * frame does not write every slot, would otherwise leave pointers to what
 * the piece marked where a stop's conservative scan finds them, and the
 * next cycle would keep what they reach: a whole list from one node. */
uint64_t gc_drain_piece(struct gh_cpu *c, uint64_t budget);
/* Claim and run one root job, or one block of job 0; false when every
 * job is claimed. */
bool gc_mark_root(struct gh_cpu *c);
/* How many root jobs a cycle has: the registered ranges (in blocks of
 * ROOT_BLOCK bytes, which CPUs take one at a time, as Go's
 * rootBlockBytes), gh_malloc_scanned memory, finalizers. */
#define GC_ROOT_JOBS 3u
#define ROOT_BLOCK DRAIN_PIECE
/* Mark the stacks and registers (world stopped). */
void gc_mark_stacks(struct gh_cpu *c);
/* Allocate black: mark the new large object of s. */
void gc_mark_new(struct gh_cpu *c, struct mspan *s);
/* Set the mark of slot idx of s; true when this call set it. */
bool gc_mark_slot(struct mspan *s, uint32_t idx);
/* Grey what the n words at v point to (words that may be no pointers),
 * through the pipeline: the misses of many are waited on at once (word by
 * word in the checkmark pass). */
void gc_grey_words(struct gcwork *w, const uintptr_t *v, unsigned n);
/* GH_STORE_PTR while marking (gh_store_ptr's other path, storeptr.S):
 * the store, with the pointer it overwrites buffered for shading. */
void gh_wb_store(void **slot, void *value);
/* Shade every pointer in a CPU's write-barrier buffer into c's work. */
void gc_wbbuf_flush(struct gh_cpu *c, struct wbbuf *b);
/* Verify the marks (checkmark): re-mark from the roots with the world
 * stopped; returns how many reachable objects were unmarked. */
uint64_t gc_checkmark(struct gh_cpu *c);

/* ---- finalizers (mfinal.c) ---- */
/* Mark what finalizer-bearing objects point to, and the finalizer queue. */
void gc_mark_finalizers(struct gcwork *w, uint64_t *work);
/* During sweep: queue the finalizers of unmarked objects of s, and mark
 * those objects so that they live until the finalizer has run. */
void gc_sweep_specials(struct mspan *s);

/* ---- the pacer (mgcpacer.c) ---- */
void gc_pacer_start(void); /* a cycle's mark starts */
void gc_pacer_end(void);   /* a cycle's mark ended: new goal and trigger */
void gc_pacer_retarget(void); /* GOGC or the limit changed: the same, without the correction */
void gc_pacer_revise(void); /* the assist ratio, from the work and heap left */
/* The goal after a mark that marked bytes, black of them allocated black:
 * marked + (marked - black) * percent / 100, at least the minimum's share
 * (before the memory limit). */
uint64_t gc_pacer_goal(uint64_t marked, uint64_t black, uint64_t percent);
/* The trigger for a goal and a runway: goal - runway, bounded. */
uint64_t gc_pacer_trigger(uint64_t marked, uint64_t goal, uint64_t runway);
/* A mark's cons/mark ratio (x1024): the bytes allocated while it ran per
 * mutator CPU time, against the bytes scanned per collector CPU time;
 * dur_cpu_ns is its duration times the CPUs. */
uint64_t gc_pacer_cons_mark(uint64_t allocated, uint64_t scanned, uint64_t dur_cpu_ns,
			    uint64_t assist_ns, uint64_t background_ns);
/* The last completed cycle's gctrace line (Go's format, without a newline)
 * into buf; returns its length as gh_format does. */
size_t gc_trace_format(char *buf, size_t n);
/* This CPU allocated bytes while marking: pay with mark work (interrupts
 * on). */
void gc_assist(uint64_t bytes);
/* heap_live grew by bytes: may start a cycle (called with interrupts on). */
void gc_heap_live_add(uint64_t bytes);
bool gc_should_start(void);
/* Marking work another CPU could take now: root jobs not claimed, or grey
 * objects in the shared list. */
bool gc_work_to_share(void);

/* ---- the cycle (mgc.c) ---- */
/* The collector's lock (gh_gcs.lock), held to start or end a cycle. Taken
 * with interrupts enabled: its holder stops the world, and a CPU waiting
 * for it must be stoppable meanwhile. */
bool gc_trylock(void);
void gc_lock(void);
void gc_unlock(void);
/* Start a cycle unless one runs (interrupts on, no lock held). */
void gc_start(bool forced);
/* A worker found no work: finish the mark if it is done. */
void gc_mark_done(void);

#endif
