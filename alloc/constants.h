/*
 * constants.h — every sizing constant of goheap, with why it has its value.
 * They follow Go's runtime on amd64 (malloc.go, mpagealloc.go, mheap.go)
 * unless a comment says otherwise.
 */
#ifndef GOHEAP_CONSTANTS_H
#define GOHEAP_CONSTANTS_H

#include "include/goheap.h"
#include "pallocbits.h"
#include "sizeclasses.h"

/* Pages are 8 KiB, as in Go: twice the hardware's 4 KiB frame halves the
 * page heap's metadata and its bitmap searches, while small objects come
 * from spans anyway. */
#define PAGE_SHIFT 13
#define PAGE_SIZE ((uintptr_t)1 << PAGE_SHIFT)
_Static_assert(PAGE_SIZE == GH_PAGE_SIZE, "goheap.h and constants.h disagree");

/* A chunk is the unit of the page allocator's bitmap: 512 pages = 4 MiB.
 * 512 bits make a 64-byte bitmap (one cache line), and a chunk's largest
 * free run (512) fits the summaries' 21-bit fields with room for the levels
 * above. */
#define CHUNK_PAGES GH_PALLOC_CHUNK_PAGES
#define LOG_CHUNK_PAGES 9
#define CHUNK_SHIFT (LOG_CHUNK_PAGES + PAGE_SHIFT)
#define CHUNK_BYTES ((uintptr_t)1 << CHUNK_SHIFT)

/* Addresses are 48 bits after linearization: adding 2^47 (mod 2^64) maps
 * x86-64's upper canonical half [2^64 - 2^47, 2^64) to [0, 2^47) and the
 * lower half [0, 2^47) to [2^47, 2^48), one run in address order, so a
 * higher-half direct map and a hosted user-space reservation are handled
 * alike (Go's arenaBaseOffset). */
#define ADDR_BITS 48
#define ARENA_BASE_OFFSET ((uintptr_t)1 << 47)
#define LINEAR(a) ((uintptr_t)(a) + ARENA_BASE_OFFSET)
#define UNLINEAR(l) ((uintptr_t)(l)-ARENA_BASE_OFFSET)

/* The summary radix tree: 5 levels of fan-out 8 above the chunks. Eight
 * 8-byte summaries are one 64-byte block scanned at a time; four levels of
 * 3 bits plus 9 bits of a chunk make the root's largest run 2^21 pages,
 * exactly what a summary field holds. The root level takes what is left of
 * the 48 address bits: 48 - 22 - 4*3 = 14 bits, 16384 entries of 16 GiB. */
#define SUMMARY_LEVELS 5
#define SUMMARY_LEVEL_BITS 3
#define SUMMARY_FANOUT (1u << SUMMARY_LEVEL_BITS)
#define SUMMARY_L0_BITS (ADDR_BITS - CHUNK_SHIFT - (SUMMARY_LEVELS - 1) * SUMMARY_LEVEL_BITS)
/* Address bits below an entry of level l; log2 of the pages it covers. */
#define LEVEL_SHIFT(l) (CHUNK_SHIFT + (SUMMARY_LEVELS - 1 - (l)) * SUMMARY_LEVEL_BITS)
#define LEVEL_LOG_PAGES(l) (LEVEL_SHIFT(l) - PAGE_SHIFT)
_Static_assert(LEVEL_LOG_PAGES(0) == 21, "the root's runs must fit a summary field");

/* Per-CPU page caches hold one 64-page aligned block (a 64-bit bitmap) and
 * serve runs under a quarter of it, so that a cache refill is not wasted on
 * one request. */
#define PAGECACHE_PAGES 64
#define PAGECACHE_MAX_RUN (PAGECACHE_PAGES / 4)

/* Arenas: the arena index maps every page of an arena to its span in O(1).
 * 64 MiB arenas as in Go: 8192 pages, a 64 KiB span array (0.1% of the
 * arena). The index has two levels over the 48-bit linear space, 22 bits of
 * arena number split 10/12, so only arenas with memory cost anything: a
 * 1 TiB hole costs nothing. */
#define ARENA_SHIFT 26
#define ARENA_BYTES ((uintptr_t)1 << ARENA_SHIFT)
#define PAGES_PER_ARENA (ARENA_BYTES / PAGE_SIZE)
#define ARENA_L1_BITS 10
#define ARENA_L2_BITS (ADDR_BITS - ARENA_SHIFT - ARENA_L1_BITS)
/* The index's fast lane: a flat table over the arenas from the lowest to the
 * highest that hold memory, while that is at most 64K arenas (4 TiB, a
 * 512 KiB table); one load fewer on every free. */
#define ARENA_WINDOW_MAX ((uintptr_t)1 << 16)

/* persistentalloc hands out never-freed metadata in 256 KiB chunks (Go's
 * persistentChunkSize); fixalloc carves fixed-size records from 16 KiB
 * chunks (Go's _FixAllocChunk). Per-CPU caches of span records hold 16. */
#define PERSISTENT_CHUNK ((uintptr_t)256 << 10)
#define FIXALLOC_CHUNK ((uintptr_t)16 << 10)
#define MSPAN_CACHE 16

/* Span classes: size class << 1 | noscan, as in Go. gh_malloc memory is
 * never scanned, so it uses the noscan classes; the collector's typed
 * objects will use both. */
#define NUM_SPANCLASSES (GH_NUM_SIZE_CLASSES << 1)
#define SPANCLASS(sizeclass, noscan) ((uint16_t)((sizeclass) << 1 | (noscan)))
#define SPANCLASS_SIZECLASS(spc) ((spc) >> 1)

/* A small span's three bitmaps (alloc, free, mark) take 3 << i words for
 * the smallest i with 64 << i bits per bitmap >= the span's objects (the
 * most is 1024 objects, 8-byte class: 16 words), in whole cache lines. */
#define BITS_POOLS 5

/* Refilling: the current span is rewound and reused in place while at least
 * an eighth of its objects are free; below that, the CPU trades it for a
 * span with more room. */
#define REWIND_FRACTION 8

/* Debug poisoning (gh_set_debug): free small objects are filled with this. */
#define POISON_BYTE 0xdb

#endif
