/*
 * pallocbits.h — one chunk's page bitmap, and the packed summary of a run of pages.
 *
 * Go: pallocBits, pageBits and findBitRange64 in src/runtime/mpallocbits.go; pallocSum in
 * src/runtime/mpagealloc.go. The page allocator keeps one bitmap per chunk and a radix tree
 * of summaries above the bitmaps; these are the primitives both are built from.
 *
 * Bitmap: page i of the chunk is bit i % 64 of w[i / 64]; 1 = in use, 0 = free. There is
 * no padding: every bit of every word is a page.
 *
 * Nothing here locks, allocates or blocks: the caller holds whatever protects the bitmap
 * (the heap lock, in goheap), and any function may run with interrupts disabled.
 */
#ifndef GOHEAP_ALLOC_PALLOCBITS_H
#define GOHEAP_ALLOC_PALLOCBITS_H

#include <stdbool.h>
#include <stdint.h>

/* Pages per chunk, Go's pallocChunkPages: 512 pages of 8 KiB = 4 MiB of heap per bitmap,
 * and the bitmap itself is 64 bytes, one cache line. A multiple of 64 (whole words). */
#define GH_PALLOC_CHUNK_PAGES 512

typedef struct {
	uint64_t w[GH_PALLOC_CHUNK_PAGES / 64];
} gh_pallocbits; /* bit i = page i, 1 = in use */

/*
 * A summary of a run of pages: start (free pages at its beginning), max (the longest free
 * run anywhere in it) and end (free pages at its end), 21 bits each: start in bits 0-20,
 * max in 21-41, end in 42-62. 21 bits because the largest region one summary describes is
 * a root entry of the radix tree: a chunk (2^9 pages) times four levels of 8-way fan-out
 * (2^12) = 2^21 pages, 16 GiB. A count of exactly 2^21 only occurs when the whole region
 * is free, so all three equal it; that summary is bit 63 alone.
 */
typedef uint64_t gh_pallocsum;

#define GH_PALLOCSUM_LOG_MAX_PACKED 21
#define GH_PALLOCSUM_MAX_PACKED (1u << GH_PALLOCSUM_LOG_MAX_PACKED)
#define GH_PALLOCSUM_ALL_MAX ((gh_pallocsum)1 << 63) /* start = max = end = MAX_PACKED */

/* Packs a summary. Each value is at most GH_PALLOCSUM_MAX_PACKED; when max equals it, start
 * and end must too (only an all-free region has such a max) and the result is ALL_MAX. */
static inline gh_pallocsum gh_pallocsum_pack(unsigned start, unsigned max, unsigned end)
{
	const uint64_t mask = GH_PALLOCSUM_MAX_PACKED - 1;

	if (max == GH_PALLOCSUM_MAX_PACKED)
		return GH_PALLOCSUM_ALL_MAX;
	return (start & mask) | ((max & mask) << GH_PALLOCSUM_LOG_MAX_PACKED) |
	       ((end & mask) << (2 * GH_PALLOCSUM_LOG_MAX_PACKED));
}

/* The field at bit shift (0, 21 or 42), in 0..GH_PALLOCSUM_MAX_PACKED; for the accessors
 * below, which give start, max and end. */
static inline unsigned gh_pallocsum_field(gh_pallocsum s, unsigned shift)
{
	if (s & GH_PALLOCSUM_ALL_MAX)
		return GH_PALLOCSUM_MAX_PACKED;
	return (unsigned)(s >> shift) & (GH_PALLOCSUM_MAX_PACKED - 1);
}

static inline unsigned gh_pallocsum_start(gh_pallocsum s)
{
	return gh_pallocsum_field(s, 0);
}

static inline unsigned gh_pallocsum_max(gh_pallocsum s)
{
	return gh_pallocsum_field(s, GH_PALLOCSUM_LOG_MAX_PACKED);
}

static inline unsigned gh_pallocsum_end(gh_pallocsum s)
{
	return gh_pallocsum_field(s, 2 * GH_PALLOCSUM_LOG_MAX_PACKED);
}

static inline void gh_pallocsum_unpack(gh_pallocsum s, unsigned *start, unsigned *max,
				       unsigned *end)
{
	*start = gh_pallocsum_start(s);
	*max = gh_pallocsum_max(s);
	*end = gh_pallocsum_end(s);
}

/* The summary of the whole chunk: start, max and end in pages, 0..GH_PALLOC_CHUNK_PAGES. */
gh_pallocsum gh_pallocbits_summarize(const gh_pallocbits *b);

/*
 * The first run of npages free pages that begins at or after search_idx: its first page,
 * or ~0u when there is none (always so for npages > GH_PALLOC_CHUNK_PAGES, and for
 * search_idx past the chunk). Unless next_search_idx is NULL, *next_search_idx is set to
 * the first free page at or after search_idx, ~0u when there is none: Go's searchIdx,
 * where the next search may start (on success it is at most the result). npages == 0
 * finds nothing: ~0u for both.
 * Go starts at search_idx's word and relies on the pages below search_idx being in use;
 * here they are ignored whatever their state, so the result never lies below search_idx.
 */
unsigned gh_pallocbits_find(const gh_pallocbits *b, unsigned npages, unsigned search_idx,
			    unsigned *next_search_idx);

/*
 * Ranges: [i, i + n) with i + n <= GH_PALLOC_CHUNK_PAGES; n == 0 does nothing (popcnt 0).
 * set/clear are the plain bit operations (the page allocator also uses them on the
 * scavenged bitmap); alloc_range/free are the same on the allocation bitmap, named for
 * what they mean there. None of them checks the previous state of the bits.
 */
void gh_pallocbits_set_range(gh_pallocbits *b, unsigned i, unsigned n);
void gh_pallocbits_clear_range(gh_pallocbits *b, unsigned i, unsigned n);
void gh_pallocbits_alloc_range(gh_pallocbits *b, unsigned i, unsigned n);
void gh_pallocbits_free(gh_pallocbits *b, unsigned i, unsigned n);
void gh_pallocbits_alloc_all(gh_pallocbits *b);
void gh_pallocbits_free_all(gh_pallocbits *b);

/* How many pages of [i, i + n) are in use (bits set). */
unsigned gh_pallocbits_popcnt_range(const gh_pallocbits *b, unsigned i, unsigned n);

/* Whether page i (< GH_PALLOC_CHUNK_PAGES) is in use. */
static inline bool gh_pallocbits_get(const gh_pallocbits *b, unsigned i)
{
	return (b->w[i / 64] >> (i % 64)) & 1;
}

/* The 64-page aligned block holding page i: bit k is page (i & ~63) + k. For the page
 * cache, which takes a block's free pages at once. */
static inline uint64_t gh_pallocbits_pages64(const gh_pallocbits *b, unsigned i)
{
	return b->w[i / 64];
}

/* The number of set bits in x. Not __builtin_popcountll: without the popcnt instruction
 * (-mpopcnt; QEMU's default CPU lacks it) gcc turns that into a call to libgcc's
 * __popcountdi2, which a kernel need not link. This counts in parallel within the word. */
static inline unsigned gh_popcount64(uint64_t x)
{
#ifdef __POPCNT__
	return (unsigned)__builtin_popcountll(x);
#else
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
#endif
}

/* The lowest bit index where n consecutive bits of c are set; >= 64 when there is none
 * (n > 64 included). 0 for n == 0. */
unsigned gh_find_bit_range64(uint64_t c, unsigned n);

#endif
