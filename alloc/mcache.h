/*
 * mcache.h — per-CPU object caches (Go's mcache.go) and the central span
 * sets they refill from (mcentral.go, mspanset.go).
 *
 * A CPU owns the spans its mcache holds: the current span of every span
 * class, and at most one more per class that it took over to free into.
 * It allocates from and frees into spans it owns with plain loads and
 * stores, interrupts off. mspan.c has the ownership protocol.
 */
#ifndef GOHEAP_MCACHE_H
#define GOHEAP_MCACHE_H

#include "mgcwork.h"

struct mspan;

/*
 * The spans of one span class that no CPU owns and that have free objects
 * (Go's mcentral), in a lock-free stack linked through mspan.next.
 *
 * Go's spanSet is an array of blocks indexed by head and tail counters, reset
 * while the world is stopped for the collector. gh_malloc's spans move
 * between CPUs without the world ever stopping, so the set is a stack of the
 * span records themselves (lfstack.h).
 */
struct mcentral {
	struct lfstack partial;
} __attribute__((aligned(64)));

struct mcache {
	/* The span each class allocates from; gh_empty_span when none, so that
	 * the fast path needs no NULL check. */
	struct mspan *alloc[NUM_SPANCLASSES];
	/* A full span this CPU took over to free into (NULL when none). */
	struct mspan *freeing[NUM_SPANCLASSES];
	/* Objects allocated and freed on this CPU, by span class (class 0:
	 * large objects), and the bytes of large ones. */
	uint64_t nmalloc[NUM_SPANCLASSES], nfree[NUM_SPANCLASSES];
	uint64_t large_alloc_bytes, large_free_bytes;
};

/* A CPU's write-barrier buffer (Go's wbBuf): pointers to shade, taken
 * from GH_STORE_PTR while marking, shaded in batches. The stop that ends
 * the mark shades what every CPU's buffer still holds (most are flushed
 * when asked just before: gc_mark_done), up to WBBUF_ENTRIES each, at
 * tens of ns a pointer into a cold heap: 128 (Go's 512 hold 256 stores of
 * its two pointers, this barrier's one) halved that part of the pause, at
 * no cost measured to a program that stores while marking. */
#define WBBUF_ENTRIES 128
struct wbbuf {
	uint32_t n;
	uint32_t flushed; /* the last gh_gcs.flush_asked this CPU answered */
	uintptr_t ptr[WBBUF_ENTRIES];
};

/*
 * A CPU's share of the collector (Go's mcache for the collected heap, and
 * the collector's fields of p): the current span of every collected span
 * class, the tiny block, its mark work and write-barrier buffers, and its
 * counts for the pacer. Used by its CPU with interrupts off, and by the
 * collector with the world stopped.
 */
/* What gh_new worked out for a type this CPU allocated, so that the next
 * object of that type skips the type's checks (mallocgc.c): NEWTYPES of
 * them, by the type's address. */
#define NEWTYPES 32
struct gh_type;
struct newtype {
	const struct gh_type *type; /* NULL: none yet */
	uint64_t mask;		    /* the object's heap bits (NT_HEAPBITS) */
	uint16_t spc;		    /* span class */
	uint8_t kind;		    /* NT_* */
};

struct gccache {
	/* First, together, what a stopped world reads and resets on every CPU. */
	uintptr_t tiny; /* Go's tiny allocator: the current 16-byte block */
	uint32_t tinyoffset;
	uint32_t stress; /* allocations since the last stress collection */
	/* the classes with a current span in alloc (a bit each) */
	uint64_t cached[(NUM_SPANCLASSES + 63) / 64];
	int64_t assist_credit; /* bytes this CPU may allocate before it assists (Go's gcAssistBytes) */
	uint64_t assist_ns, background_ns;
	/* the cycle, and its scan work done by then, when this CPU's
	 * background marking last left a small mark to assists */
	uint32_t bg_cycle;
	uint64_t bg_seen;
	struct gcwork gcw;
	struct newtype types[NEWTYPES];
	struct wbbuf wb;
	struct mspan *alloc[NUM_SPANCLASSES]; /* gh_empty_span when none */
	/* collected objects allocated here and freed by sweeps on this CPU
	 * (also in mcache's counters, which do not tell them apart) */
	uint64_t nmalloc, nfree, alloc_bytes, free_bytes;
};

extern struct mspan gh_empty_span;

#endif
