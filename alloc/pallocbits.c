/*
 * pallocbits.c — searching, summarizing and updating one chunk's page bitmap.
 *
 * Follows Go's src/runtime/mpallocbits.go. Everything works a 64-bit word at a time: a
 * range masks its first and last words and fills the words between; searches skip full
 * words with one compare, measure runs that cross words with trailing/leading zero counts,
 * and find runs inside a word with shift-and-combine tricks instead of visiting bits.
 *
 * Invariants: GH_PALLOC_CHUNK_PAGES is a multiple of 64, so every bit of every word is a
 * page; callers keep ranges inside the chunk. Shift counts stay below 64 throughout.
 */
#include "pallocbits.h"

#define WORDS (GH_PALLOC_CHUNK_PAGES / 64)
#define NONE (~0u)

_Static_assert(GH_PALLOC_CHUNK_PAGES % 64 == 0, "a chunk is whole 64-bit words");
_Static_assert(GH_PALLOC_CHUNK_PAGES < GH_PALLOCSUM_MAX_PACKED, "a chunk summary fits");

/* Trailing and leading zero counts, 64 for 0 (the builtins leave 0 undefined). */
static inline unsigned tz64(uint64_t x)
{
	return x ? (unsigned)__builtin_ctzll(x) : 64;
}

static inline unsigned lz64(uint64_t x)
{
	return x ? (unsigned)__builtin_clzll(x) : 64;
}

/* Bits i % 64 and up, and bits up to and including j % 64. */
static inline uint64_t mask_from(unsigned i)
{
	return ~0ull << (i % 64);
}

static inline uint64_t mask_through(unsigned j)
{
	return ~0ull >> (63 - j % 64);
}

void gh_pallocbits_set_range(gh_pallocbits *b, unsigned i, unsigned n)
{
	unsigned j = i + n - 1, k;

	if (n == 0)
		return;
	if (i / 64 == j / 64) {
		b->w[i / 64] |= mask_from(i) & mask_through(j);
		return;
	}
	b->w[i / 64] |= mask_from(i);
	for (k = i / 64 + 1; k < j / 64; k++)
		b->w[k] = ~0ull;
	b->w[j / 64] |= mask_through(j);
}

void gh_pallocbits_clear_range(gh_pallocbits *b, unsigned i, unsigned n)
{
	unsigned j = i + n - 1, k;

	if (n == 0)
		return;
	if (i / 64 == j / 64) {
		b->w[i / 64] &= ~(mask_from(i) & mask_through(j));
		return;
	}
	b->w[i / 64] &= ~mask_from(i);
	for (k = i / 64 + 1; k < j / 64; k++)
		b->w[k] = 0;
	b->w[j / 64] &= ~mask_through(j);
}

void gh_pallocbits_alloc_range(gh_pallocbits *b, unsigned i, unsigned n)
{
	gh_pallocbits_set_range(b, i, n);
}

void gh_pallocbits_free(gh_pallocbits *b, unsigned i, unsigned n)
{
	gh_pallocbits_clear_range(b, i, n);
}

void gh_pallocbits_alloc_all(gh_pallocbits *b)
{
	for (unsigned k = 0; k < WORDS; k++)
		b->w[k] = ~0ull;
}

void gh_pallocbits_free_all(gh_pallocbits *b)
{
	for (unsigned k = 0; k < WORDS; k++)
		b->w[k] = 0;
}

unsigned gh_pallocbits_popcnt_range(const gh_pallocbits *b, unsigned i, unsigned n)
{
	unsigned j = i + n - 1, k, count;

	if (n == 0)
		return 0;
	if (i / 64 == j / 64)
		return gh_popcount64(b->w[i / 64] & mask_from(i) & mask_through(j));
	count = gh_popcount64(b->w[i / 64] & mask_from(i));
	for (k = i / 64 + 1; k < j / 64; k++)
		count += gh_popcount64(b->w[k]);
	return count + gh_popcount64(b->w[j / 64] & mask_through(j));
}

/*
 * Shrinking runs: c & (c >> s) keeps a one at bit q only where bits q and q + s were both
 * ones. If every run of zeros in c is at least s long, that removes exactly the top s
 * bits of every run of ones and leaves the zero runs at least 2s long; so shifting by
 * 1, 2, 4, ... and finally by what remains removes the top n - 1 bits of every run in
 * about log2(n) steps. A one survives exactly where n ones start, at its original place.
 */
unsigned gh_find_bit_range64(uint64_t c, unsigned n)
{
	unsigned left, zeros = 1; /* left: bits still to remove; zeros: shortest zero run */

	if (n == 0)
		return 0;
	if (n > 64)
		return 64;
	for (left = n - 1; left > zeros; zeros *= 2) {
		c &= c >> zeros;
		if (c == 0)
			return 64;
		left -= zeros;
	}
	c &= c >> left;
	return tz64(c);
}

/*
 * The longer of max and the longest run of zeros strictly inside x, between two ones.
 * The same shrinking with ones and zeros swapped: x | (x >> s) fills the top s bits of
 * every zero run that has a one above it. After filling max bits, any zero run still
 * there was longer than max; the lowest one's remaining length is the new excess, so
 * add it to max, drop that run, and shrink the others by the excess, until none is left.
 */
static unsigned longest_inner_run(uint64_t x, unsigned max)
{
	unsigned left = max; /* bits still to fill in every zero run */
	unsigned ones = 1;   /* the shortest run of ones with zeros below it */
	unsigned s;

	/* The low zeros have no one below them: drop them, making bit 0 a one. */
	x >>= tz64(x) & 63;
	while (x & (x + 1)) { /* a zero lies below a one */
		if (left > 0) {
			s = left < ones ? left : ones;
			x |= x >> s;
			left -= s;
			ones += s;
			continue;
		}
		/* Drop the lowest ones (fewer than 64, bit 0 being a one), then measure
		 * the zero run above them (fewer than 64, a one lies above it). */
		x >>= tz64(~x);
		s = tz64(x);
		x >>= s;
		max += s;
		left = s;
	}
	return max;
}

/*
 * First the runs that cross words or touch the chunk's ends, from each word's trailing
 * and leading zeros; they give start and end and a first max. A run inside one word
 * lies between two ones and so is at most 62 long: look inside words only when max is
 * shorter than that (and then no word is all zeros, or max would be 64 or more).
 */
gh_pallocsum gh_pallocbits_summarize(const gh_pallocbits *b)
{
	unsigned start = NONE, max = 0, run = 0, k;

	for (k = 0; k < WORDS; k++) {
		uint64_t x = b->w[k];

		if (x == 0) {
			run += 64;
			continue;
		}
		run += tz64(x);
		if (start == NONE)
			start = run;
		if (run > max)
			max = run;
		run = lz64(x);
	}
	if (start == NONE)
		return gh_pallocsum_pack(GH_PALLOC_CHUNK_PAGES, GH_PALLOC_CHUNK_PAGES,
					 GH_PALLOC_CHUNK_PAGES);
	if (run > max)
		max = run;
	if (max < 64 - 2)
		for (k = 0; k < WORDS; k++)
			max = longest_inner_run(b->w[k], max);
	return gh_pallocsum_pack(start, max, run);
}

/*
 * The searches. Each reads the words from search_idx's onwards, with the pages below
 * search_idx in its first word read as in use; `below` holds them and is cleared after
 * the first word. The first word that is not full gives the next search index.
 */
static inline uint64_t pages_below(unsigned search_idx)
{
	return ~mask_from(search_idx);
}

static unsigned find1(const gh_pallocbits *b, unsigned search_idx)
{
	uint64_t below = pages_below(search_idx);

	for (unsigned k = search_idx / 64; k < WORDS; k++, below = 0) {
		uint64_t x = b->w[k] | below;

		if (x != ~0ull)
			return k * 64 + tz64(~x);
	}
	return NONE;
}

/*
 * A fit either crosses word boundaries (free pages at the top of the words
 * below, whole free words, then this word's trailing zeros) or, when npages
 * <= 64, may also lie inside one word. A run reaching a boundary grows by
 * whole free words and restarts at a word's leading zeros.
 */
static unsigned find_run(const gh_pallocbits *b, unsigned npages, unsigned search_idx,
			 unsigned *next)
{
	uint64_t below = pages_below(search_idx);
	unsigned run = 0; /* free pages just below word k */

	*next = NONE;
	for (unsigned k = search_idx / 64; k < WORDS; k++, below = 0) {
		uint64_t x = b->w[k] | below;

		if (x == ~0ull) {
			run = 0;
			continue;
		}
		if (*next == NONE)
			*next = k * 64 + tz64(~x);
		if (run + tz64(x) >= npages)
			return k * 64 - run;
		if (npages <= 64) {
			unsigned j = gh_find_bit_range64(~x, npages);
			if (j < 64)
				return k * 64 + j;
		}
		run = x == 0 ? run + 64 : lz64(x);
	}
	return NONE;
}

unsigned gh_pallocbits_find(const gh_pallocbits *b, unsigned npages, unsigned search_idx,
			    unsigned *next_search_idx)
{
	unsigned next, i;

	if (npages == 1)
		i = next = find1(b, search_idx);
	else if (npages == 0)
		i = next = NONE;
	else
		i = find_run(b, npages, search_idx, &next);
	if (next_search_idx)
		*next_search_idx = next;
	return i;
}
