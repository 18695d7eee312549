/*
 * pallocbits_test.c — alloc/pallocbits.c: a chunk's page bitmap and the packed summaries.
 *
 * The *_go cases run Go's own test tables: their inputs and expected outputs are
 * transcribed from Go's src/runtime/mpallocbits_test.go (TestPallocBitsAllocRange,
 * TestMallocBitsPopcntRange, TestPallocBitsSummarize, TestPallocBitsAlloc,
 * TestPallocBitsFree, TestFindBitRange64, and the patterns of BenchmarkPallocBitsSummarize),
 * with PallocChunkPages = 512. Go's tables do not check the search index, so
 * find_search_idx has a table of ours. The random_* cases compare every function with a
 * slow bit-by-bit version on bitmaps drawn from a fixed-seed xorshift generator: a failure
 * names the iteration and shows the bitmap, and happens again on every run.
 */
#include "../../alloc/pallocbits.h"
#include "../ghtest.h"

#define PAGES GH_PALLOC_CHUNK_PAGES
#define WORDS (PAGES / 64)
#define NONE (~0u)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A run of pages [i, i + n); lists of them end at the first with n == 0. */
struct range {
	unsigned i, n;
};

/* Go's makePallocBits: the listed ranges in use, every other page free. */
static void make_bits(gh_pallocbits *b, const struct range *r)
{
	__builtin_memset(b, 0, sizeof(*b));
	for (; r->n; r++)
		gh_pallocbits_alloc_range(b, r->i, r->n);
}

static void invert_bits(gh_pallocbits *b)
{
	for (unsigned k = 0; k < WORDS; k++)
		b->w[k] = ~b->w[k];
}

static void log_bits(struct ght *t, const char *what, const gh_pallocbits *b)
{
	ght_log(t, "%s: %016llx %016llx %016llx %016llx %016llx %016llx %016llx %016llx", what,
		(unsigned long long)b->w[0], (unsigned long long)b->w[1],
		(unsigned long long)b->w[2], (unsigned long long)b->w[3],
		(unsigned long long)b->w[4], (unsigned long long)b->w[5],
		(unsigned long long)b->w[6], (unsigned long long)b->w[7]);
}

/* Go's checkPallocBits: names the first differing word and shows both bitmaps. */
static bool bits_equal(struct ght *t, int line, const char *name, const gh_pallocbits *got,
		       const gh_pallocbits *want)
{
	for (unsigned k = 0; k < WORDS; k++) {
		if (got->w[k] != want->w[k]) {
			ght_fail(t, __FILE__, line, "%s: word %u is %016llx, want %016llx", name, k,
				 (unsigned long long)got->w[k], (unsigned long long)want->w[k]);
			log_bits(t, " got", got);
			log_bits(t, "want", want);
			return false;
		}
	}
	return true;
}

static bool sum_equal(struct ght *t, int line, const char *name, gh_pallocsum got, unsigned start,
		      unsigned max, unsigned end)
{
	if (gh_pallocsum_start(got) == start && gh_pallocsum_max(got) == max &&
	    gh_pallocsum_end(got) == end)
		return true;
	ght_fail(t, __FILE__, line, "%s: summary (start %u, max %u, end %u), want (%u, %u, %u)",
		 name, gh_pallocsum_start(got), gh_pallocsum_max(got), gh_pallocsum_end(got), start,
		 max, end);
	return false;
}

/* --- Go's tables -------------------------------------------------------------------- */

GH_TEST(pallocbits, alloc_range_go)
{
	static const struct {
		const char *name;
		unsigned i, n;
		uint64_t want[WORDS];
	} cases[] = {
	    {"OneLow", 0, 1, {[0] = 0x1}},
	    {"OneHigh", PAGES - 1, 1, {[WORDS - 1] = 1ull << 63}},
	    {"Inner", 129, 5, {[2] = 0x3e}},
	    {"Aligned", 128, 128, {[2] = ~0ull, [3] = ~0ull}},
	    {"Begin", 0, 321, {~0ull, ~0ull, ~0ull, ~0ull, ~0ull, 0x1}},
	    {"End",
	     PAGES - (64 * 3 + 1),
	     64 * 3 + 1,
	     {[WORDS - 4] = 1ull << 63,
	      [WORDS - 3] = ~0ull,
	      [WORDS - 2] = ~0ull,
	      [WORDS - 1] = ~0ull}},
	    {"All", 0, PAGES, {~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull}},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits got, want;
		const struct range r[] = {{cases[c].i, cases[c].n}, {0, 0}};

		__builtin_memcpy(want.w, cases[c].want, sizeof(want.w));
		make_bits(&got, r);
		bits_equal(t, __LINE__, cases[c].name, &got, &want);
		/* The same range cleared from a full bitmap leaves the complement. */
		gh_pallocbits_alloc_all(&got);
		gh_pallocbits_clear_range(&got, cases[c].i, cases[c].n);
		invert_bits(&want);
		bits_equal(t, __LINE__, cases[c].name, &got, &want);
	}
}

GH_TEST(pallocbits, popcnt_range_go)
{
	static const struct {
		const char *name;
		struct range init[32];
		struct {
			unsigned i, n, want;
		} tests[12];
	} cases[] = {
	    {"None",
	     {{0, 0}},
	     {{0, 1, 0}, {5, 3, 0}, {2, 11, 0}, {PAGES / 4 + 1, PAGES / 2, 0}, {0, PAGES, 0}}},
	    {"All",
	     {{0, PAGES}},
	     {{0, 1, 1},
	      {5, 3, 3},
	      {2, 11, 11},
	      {PAGES / 4 + 1, PAGES / 2, PAGES / 2},
	      {0, PAGES, PAGES}}},
	    {"Half",
	     {{PAGES / 2, PAGES / 2}},
	     {{0, 1, 0},
	      {5, 3, 0},
	      {2, 11, 0},
	      {PAGES / 2 - 1, 1, 0},
	      {PAGES / 2, 1, 1},
	      {PAGES / 2 + 10, 1, 1},
	      {PAGES / 2 - 1, 2, 1},
	      {PAGES / 4, PAGES / 4, 0},
	      {PAGES / 4, PAGES / 4 + 1, 1},
	      {PAGES / 4 + 1, PAGES / 2, PAGES / 4 + 1},
	      {0, PAGES, PAGES / 2}}},
	    {"OddBound",
	     {{0, 111}},
	     {{0, 1, 1},
	      {5, 3, 3},
	      {2, 11, 11},
	      {110, 2, 1},
	      {99, 50, 12},
	      {110, 1, 1},
	      {111, 1, 0},
	      {99, 1, 1},
	      {120, 1, 0},
	      {PAGES / 2, PAGES / 2, 0},
	      {0, PAGES, 111}}},
	    {"Scattered",
	     {{1, 3},	{5, 1},	  {7, 1},   {10, 2},  {13, 1},	{15, 4}, {21, 1},  {23, 1},
	      {26, 2},	{30, 5},  {36, 2},  {40, 3},  {44, 6},	{51, 1}, {53, 2},  {58, 3},
	      {63, 1},	{67, 2},  {71, 10}, {84, 1},  {89, 7},	{99, 2}, {103, 1}, {107, 2},
	      {111, 1}, {113, 1}, {115, 1}, {118, 1}, {120, 2}, {125, 5}},
	     {{0, 11, 6},
	      {0, 64, 39},
	      {13, 64, 40},
	      {64, 64, 34},
	      {0, 128, 73},
	      {1, 128, 74},
	      {0, PAGES, 75}}},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits b;

		make_bits(&b, cases[c].init);
		for (size_t k = 0; k < ARRAY_SIZE(cases[c].tests) && cases[c].tests[k].n; k++) {
			unsigned i = cases[c].tests[k].i, n = cases[c].tests[k].n;
			unsigned got = gh_pallocbits_popcnt_range(&b, i, n);

			if (got != cases[c].tests[k].want)
				ght_fail(t, __FILE__, __LINE__,
					 "%s: popcnt_range(%u, %u) = %u, want %u", cases[c].name, i,
					 n, got, cases[c].tests[k].want);
		}
	}
}

GH_TEST(pallocbits, summarize_go)
{
	static const struct {
		const char *name;
		struct range free[4]; /* free pages; everything else in use */
		unsigned start, max, end;
	} cases[] = {
	    {"NoneFree", {{0, 0}}, 0, 0, 0},
	    {"OnlyStart", {{0, 10}}, 10, 10, 0},
	    {"OnlyEnd", {{PAGES - 40, 40}}, 0, 40, 40},
	    {"StartAndEnd", {{0, 11}, {PAGES - 23, 23}}, 11, 23, 23},
	    {"StartMaxEnd", {{0, 4}, {50, 100}, {PAGES - 4, 4}}, 4, 100, 4},
	    {"OnlyMax", {{1, 20}, {35, 241}, {PAGES - 50, 30}}, 0, 241, 0},
	    {"MultiMax", {{35, 2}, {40, 5}, {100, 5}}, 0, 5, 0},
	    {"One", {{2, 1}}, 0, 1, 0},
	    {"AllFree", {{0, PAGES}}, PAGES, PAGES, PAGES},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits b;

		make_bits(&b, cases[c].free);
		invert_bits(&b);
		sum_equal(t, __LINE__, cases[c].name, gh_pallocbits_summarize(&b), cases[c].start,
			  cases[c].max, cases[c].end);
	}
}

/* The patterns of Go's BenchmarkPallocBitsSummarize, each repeated in every word; Go
 * checks each against its slow summarize; the lengths here were counted bit by bit. */
GH_TEST(pallocbits, summarize_patterns_go)
{
	static const struct {
		uint64_t word;
		unsigned start, max, end;
	} cases[] = {
	    {0, PAGES, PAGES, PAGES},
	    {~0ull, 0, 0, 0},
	    {0xaa, 1, 57, 56},
	    {0xaaaaaaaaaaaaaaaa, 1, 1, 0},
	    {0x80000000aaaaaaaa, 1, 31, 0},
	    {0xaaaaaaaa00000001, 0, 32, 0},
	    {0xbbbbbbbbbbbbbbbb, 0, 1, 0},
	    {0x80000000bbbbbbbb, 0, 31, 0},
	    {0xbbbbbbbb00000001, 0, 31, 0},
	    {0xcccccccccccccccc, 2, 2, 0},
	    {0x4444444444444444, 2, 3, 1},
	    {0x4040404040404040, 6, 7, 1},
	    {0x4000400040004000, 14, 15, 1},
	    {0x1000404044ccaaff, 0, 13, 3},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits b;

		for (unsigned k = 0; k < WORDS; k++)
			b.w[k] = cases[c].word;
		if (!sum_equal(t, __LINE__, "pattern", gh_pallocbits_summarize(&b), cases[c].start,
			       cases[c].max, cases[c].end))
			ght_log(t, "pattern %016llx", (unsigned long long)cases[c].word);
	}
}

/* Go's TestPallocBitsAlloc: repeated first-fit finds from index 0, each hit allocated. */
GH_TEST(pallocbits, find_go)
{
	static const struct {
		const char *name;
		struct range before[4];
		unsigned npages;
		unsigned nhits, hits[6];
		struct range after[4];
	} cases[] = {
	    {"AllFree1", {{0, 0}}, 1, 6, {0, 1, 2, 3, 4, 5}, {{0, 6}}},
	    {"AllFree2", {{0, 0}}, 2, 6, {0, 2, 4, 6, 8, 10}, {{0, 12}}},
	    {"AllFree5", {{0, 0}}, 5, 5, {0, 5, 10, 15, 20}, {{0, 25}}},
	    {"AllFree64", {{0, 0}}, 64, 3, {0, 64, 128}, {{0, 192}}},
	    {"AllFree65", {{0, 0}}, 65, 3, {0, 65, 130}, {{0, 195}}},
	    {"SomeFree64",
	     {{0, 32}, {64, 32}, {100, PAGES - 100}},
	     64,
	     1,
	     {NONE},
	     {{0, 32}, {64, 32}, {100, PAGES - 100}}},
	    {"NoneFree1", {{0, PAGES}}, 1, 2, {NONE, NONE}, {{0, PAGES}}},
	    {"NoneFree2", {{0, PAGES}}, 2, 2, {NONE, NONE}, {{0, PAGES}}},
	    {"NoneFree5", {{0, PAGES}}, 5, 2, {NONE, NONE}, {{0, PAGES}}},
	    {"NoneFree65", {{0, PAGES}}, 65, 2, {NONE, NONE}, {{0, PAGES}}},
	    {"ExactFit1",
	     {{0, PAGES / 2 - 3}, {PAGES / 2 - 2, PAGES / 2 + 2}},
	     1,
	     2,
	     {PAGES / 2 - 3, NONE},
	     {{0, PAGES}}},
	    {"ExactFit2",
	     {{0, PAGES / 2 - 3}, {PAGES / 2 - 1, PAGES / 2 + 1}},
	     2,
	     2,
	     {PAGES / 2 - 3, NONE},
	     {{0, PAGES}}},
	    {"ExactFit5",
	     {{0, PAGES / 2 - 3}, {PAGES / 2 + 2, PAGES / 2 - 2}},
	     5,
	     2,
	     {PAGES / 2 - 3, NONE},
	     {{0, PAGES}}},
	    {"ExactFit65",
	     {{0, PAGES / 2 - 31}, {PAGES / 2 + 34, PAGES / 2 - 34}},
	     65,
	     2,
	     {PAGES / 2 - 31, NONE},
	     {{0, PAGES}}},
	    {"SomeFree161", {{0, 185}, {331, 1}}, 161, 1, {332}, {{0, 185}, {331, 162}}},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits b, want;

		make_bits(&b, cases[c].before);
		for (unsigned h = 0; h < cases[c].nhits; h++) {
			unsigned got = gh_pallocbits_find(&b, cases[c].npages, 0, NULL);

			if (got != cases[c].hits[h]) {
				ght_fail(t, __FILE__, __LINE__, "%s: find #%u = %u, want %u",
					 cases[c].name, h + 1, got, cases[c].hits[h]);
				break;
			}
			if (got != NONE)
				gh_pallocbits_alloc_range(&b, got, cases[c].npages);
		}
		make_bits(&want, cases[c].after);
		bits_equal(t, __LINE__, cases[c].name, &b, &want);
	}
}

GH_TEST(pallocbits, free_go)
{
	static const struct {
		const char *name;
		struct range before_inv[4]; /* free pages before; everything else in use */
		unsigned npages;
		unsigned nfrees, frees[6];
		struct range after_inv[4];
	} cases[] = {
	    {"SomeFree", {{0, 32}, {64, 32}, {100, 1}}, 1, 1, {32}, {{0, 33}, {64, 32}, {100, 1}}},
	    {"NoneFree1", {{0, 0}}, 1, 6, {0, 1, 2, 3, 4, 5}, {{0, 6}}},
	    {"NoneFree2", {{0, 0}}, 2, 6, {0, 2, 4, 6, 8, 10}, {{0, 12}}},
	    {"NoneFree5", {{0, 0}}, 5, 5, {0, 5, 10, 15, 20}, {{0, 25}}},
	    {"NoneFree64", {{0, 0}}, 64, 3, {0, 64, 128}, {{0, 192}}},
	    {"NoneFree65", {{0, 0}}, 65, 3, {0, 65, 130}, {{0, 195}}},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits b, want;

		make_bits(&b, cases[c].before_inv);
		invert_bits(&b);
		for (unsigned f = 0; f < cases[c].nfrees; f++)
			gh_pallocbits_free(&b, cases[c].frees[f], cases[c].npages);
		make_bits(&want, cases[c].after_inv);
		invert_bits(&want);
		bits_equal(t, __LINE__, cases[c].name, &b, &want);
	}
}

/* Checks one find_bit_range64 result; want NONE means "no run": any result >= 64. */
static void check_range64(struct ght *t, int line, uint64_t x, unsigned n, unsigned want)
{
	unsigned got = gh_find_bit_range64(x, n);

	if (want == NONE ? got < 64 : got != want)
		ght_fail(t, __FILE__, line, "find_bit_range64(%016llx, %u) = %u, want %s%u",
			 (unsigned long long)x, n, got, want == NONE ? ">= " : "",
			 want == NONE ? 64 : want);
}

GH_TEST(pallocbits, find_bit_range64_go)
{
	static const struct {
		uint64_t x;
		unsigned n, want;
	} cases[] = {
	    {0x8000000000000000, 1, 63}, {0xc000010001010000, 2, 62},
	    {0xc000010001030000, 2, 16}, {0xe000030001030000, 3, 61},
	    {0xe000030001070000, 3, 16}, {0xffff03ff01070000, 16, 48},
	    {0xffff03ff0107ffff, 16, 0}, {0x0fff03ff01079fff, 16, NONE},
	};

	for (unsigned n = 1; n <= 64; n++) {
		check_range64(t, __LINE__, ~0ull, n, 0);
		check_range64(t, __LINE__, 0, n, NONE);
	}
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++)
		check_range64(t, __LINE__, cases[c].x, cases[c].n, cases[c].want);
	/* Ours, beyond Go's contract: n == 0 fits at 0, n > 64 never fits. */
	check_range64(t, __LINE__, 0, 0, 0);
	check_range64(t, __LINE__, ~0ull, 0, 0);
	check_range64(t, __LINE__, ~0ull, 65, NONE);
}

/* --- our tables --------------------------------------------------------------------- */

GH_TEST(pallocbits, pallocsum_pack)
{
	static const struct {
		unsigned start, max, end;
	} cases[] = {
	    {0, 0, 0},
	    {1, 2, 3},
	    {PAGES, PAGES, PAGES},
	    {GH_PALLOCSUM_MAX_PACKED - 1, GH_PALLOCSUM_MAX_PACKED - 1, GH_PALLOCSUM_MAX_PACKED - 1},
	    {GH_PALLOCSUM_MAX_PACKED - 1, 0, 0},
	    {0, GH_PALLOCSUM_MAX_PACKED - 1, 0},
	    {0, 0, GH_PALLOCSUM_MAX_PACKED - 1},
	    {12345, 1048576, 777777},
	    {GH_PALLOCSUM_MAX_PACKED, GH_PALLOCSUM_MAX_PACKED, GH_PALLOCSUM_MAX_PACKED},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocsum s = gh_pallocsum_pack(cases[c].start, cases[c].max, cases[c].end);
		unsigned start, max, end;

		sum_equal(t, __LINE__, "pack", s, cases[c].start, cases[c].max, cases[c].end);
		gh_pallocsum_unpack(s, &start, &max, &end);
		GH_EXPECT_EQ(start, cases[c].start);
		GH_EXPECT_EQ(max, cases[c].max);
		GH_EXPECT_EQ(end, cases[c].end);
	}
	/* The layout is Go's: start in bits 0-20, max in 21-41, end in 42-62, and the
	 * all-maximum summary is bit 63 alone. */
	GH_EXPECT_EQ(gh_pallocsum_pack(1, 2, 3), 1ull | 2ull << 21 | 3ull << 42);
	GH_EXPECT_EQ(gh_pallocsum_pack(GH_PALLOCSUM_MAX_PACKED, GH_PALLOCSUM_MAX_PACKED,
				       GH_PALLOCSUM_MAX_PACKED),
		     1ull << 63);
	GH_EXPECT_EQ(GH_PALLOCSUM_MAX_PACKED, 1u << 21);
}

GH_TEST(pallocbits, find_search_idx)
{
	static const struct {
		const char *name;
		struct range used[4];
		unsigned npages, search_idx;
		unsigned want, want_next;
	} cases[] = {
	    {"Empty1", {{0, 0}}, 1, 0, 0, 0},
	    {"EmptySmall", {{0, 0}}, 3, 70, 70, 70},
	    {"BelowIgnored", {{0, 0}}, 4, 130, 130, 130},
	    {"BelowIgnoredLarge", {{0, 0}}, 100, 130, 130, 130},
	    {"InsideRun", {{0, 10}}, 10, 5, 10, 10},
	    {"After1", {{0, 100}}, 1, 0, 100, 100},
	    {"After5", {{0, 100}}, 5, 0, 100, 100},
	    {"SkipHole", {{0, 100}, {101, 9}}, 5, 0, 110, 100},
	    {"SkipHoleLarge", {{0, 64}, {100, 1}}, 65, 0, 101, 64},
	    {"AcrossWord", {{0, 60}, {68, PAGES - 68}}, 8, 0, 60, 60},
	    {"AcrossWordTooSmall", {{0, 60}, {68, PAGES - 68}}, 9, 0, NONE, 60},
	    {"LargeExact", {{0, 10}, {210, PAGES - 210}}, 200, 0, 10, 10},
	    {"LargeTooSmall", {{0, 10}, {210, PAGES - 210}}, 201, 0, NONE, 10},
	    {"OneFree1", {{0, 300}, {301, PAGES - 301}}, 1, 0, 300, 300},
	    {"OneFree2", {{0, 300}, {301, PAGES - 301}}, 2, 0, NONE, 300},
	    {"OneFree65", {{0, 300}, {301, PAGES - 301}}, 65, 0, NONE, 300},
	    {"OneFreePassed", {{0, 300}, {301, PAGES - 301}}, 1, 301, NONE, NONE},
	    {"Full1", {{0, PAGES}}, 1, 0, NONE, NONE},
	    {"Full2", {{0, PAGES}}, 2, 0, NONE, NONE},
	    {"Full65", {{0, PAGES}}, 65, 0, NONE, NONE},
	    {"Last1", {{0, 0}}, 1, PAGES - 1, PAGES - 1, PAGES - 1},
	    {"Last2", {{0, 0}}, 2, PAGES - 1, NONE, PAGES - 1},
	    {"PastEnd", {{0, 0}}, 1, PAGES, NONE, NONE},
	    {"PastEndSmall", {{0, 0}}, 2, PAGES, NONE, NONE},
	    {"Whole", {{0, 0}}, PAGES, 0, 0, 0},
	    {"WholeFrom1", {{0, 0}}, PAGES, 1, NONE, 1},
	    {"TooLarge", {{0, 0}}, PAGES + 1, 0, NONE, 0},
	    {"Zero", {{0, 0}}, 0, 0, NONE, NONE},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		gh_pallocbits b;
		unsigned next = 12345;
		unsigned got;

		make_bits(&b, cases[c].used);
		got = gh_pallocbits_find(&b, cases[c].npages, cases[c].search_idx, &next);
		if (got != cases[c].want || next != cases[c].want_next)
			ght_fail(t, __FILE__, __LINE__,
				 "%s: find(%u, %u) = %u, next %u; want %u, next %u", cases[c].name,
				 cases[c].npages, cases[c].search_idx, got, next, cases[c].want,
				 cases[c].want_next);
		/* A NULL next_search_idx gives the same answer. */
		got = gh_pallocbits_find(&b, cases[c].npages, cases[c].search_idx, NULL);
		if (got != cases[c].want)
			ght_fail(t, __FILE__, __LINE__, "%s: find(%u, %u, NULL) = %u, want %u",
				 cases[c].name, cases[c].npages, cases[c].search_idx, got,
				 cases[c].want);
	}
}

GH_TEST(pallocbits, get_pages64_all)
{
	gh_pallocbits b;

	gh_pallocbits_free_all(&b);
	GH_EXPECT_EQ(gh_pallocbits_popcnt_range(&b, 0, PAGES), 0);
	gh_pallocbits_alloc_all(&b);
	GH_EXPECT_EQ(gh_pallocbits_popcnt_range(&b, 0, PAGES), PAGES);
	gh_pallocbits_free_all(&b);
	gh_pallocbits_alloc_range(&b, 130, 3);
	GH_EXPECT(!gh_pallocbits_get(&b, 129));
	GH_EXPECT(gh_pallocbits_get(&b, 130));
	GH_EXPECT(gh_pallocbits_get(&b, 132));
	GH_EXPECT(!gh_pallocbits_get(&b, 133));
	GH_EXPECT_EQ(gh_pallocbits_pages64(&b, 128), 0x1cull);
	GH_EXPECT_EQ(gh_pallocbits_pages64(&b, 191), 0x1cull);
	GH_EXPECT_EQ(gh_pallocbits_pages64(&b, 192), 0);
	/* n == 0 touches nothing. */
	gh_pallocbits_clear_range(&b, 130, 0);
	gh_pallocbits_set_range(&b, 0, 0);
	GH_EXPECT_EQ(gh_pallocbits_popcnt_range(&b, 0, PAGES), 3);
	GH_EXPECT_EQ(gh_pallocbits_popcnt_range(&b, 130, 0), 0);
	GH_EXPECT_EQ(gh_popcount64(0), 0);
	GH_EXPECT_EQ(gh_popcount64(~0ull), 64);
	GH_EXPECT_EQ(gh_popcount64(0x8000000000000001ull), 2);
	GH_EXPECT_EQ(gh_popcount64(0x1000404044ccaaffull), 21);
}

/* --- randomized cross-checks against bit-by-bit references -------------------------- */

struct rng {
	uint64_t s;
	unsigned iter; /* what a failure reports */
};

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

/* Uniform enough in [0, n), n > 0. */
static unsigned rnd_below(struct rng *r, unsigned n)
{
	return (unsigned)((rnd(r) >> 11) % n);
}

static bool ref_get(const gh_pallocbits *b, unsigned i)
{
	return (b->w[i / 64] >> (i % 64)) & 1;
}

static void ref_put(gh_pallocbits *b, unsigned i, bool v)
{
	if (v)
		b->w[i / 64] |= 1ull << (i % 64);
	else
		b->w[i / 64] &= ~(1ull << (i % 64));
}

/*
 * A random bitmap in one of several shapes: random words (Go's summarize test), sparse
 * and dense words, alternating runs of free and used pages of random scales (so that
 * searches for hundreds of pages sometimes succeed), all free and all used.
 */
static void random_bits(struct rng *r, gh_pallocbits *b)
{
	static const unsigned scales[] = {1, 2, 4, 8, 24, 64, 160, 512};
	unsigned shape = rnd_below(r, 16), i = 0, free_scale, used_scale;
	bool used = rnd(r) & 1;

	for (unsigned k = 0; k < WORDS; k++) {
		uint64_t x = rnd(r), y = rnd(r), z = rnd(r);

		b->w[k] = shape < 3   ? x
			  : shape < 5 ? x & y & z
			  : shape < 7 ? x | y | z
			  : shape < 8 ? ~0ull
				      : 0;
	}
	if (shape < 9)
		return;
	free_scale = scales[rnd_below(r, ARRAY_SIZE(scales))];
	used_scale = scales[rnd_below(r, ARRAY_SIZE(scales))];
	while (i < PAGES) {
		unsigned n = 1 + rnd_below(r, used ? used_scale : free_scale);

		for (; n && i < PAGES; n--, i++)
			ref_put(b, i, used);
		used = !used;
	}
}

/*
 * A bitmap whose words are mostly fenced by a used page at each end, with short runs of
 * used pages and longer free runs between: the longest free run then usually lies inside
 * a word, which is where summarize has to look inside words.
 */
static void random_fenced_bits(struct rng *r, gh_pallocbits *b)
{
	unsigned used_scale = 1 + rnd_below(r, 8), free_scale = 1 + rnd_below(r, 40);

	for (unsigned k = 0; k < WORDS; k++) {
		uint64_t x = rnd(r) & (1ull | 1ull << 63);
		bool used = rnd(r) & 1;

		for (unsigned i = 0; i < 64; used = !used) {
			unsigned n = 1 + rnd_below(r, used ? used_scale : free_scale);

			for (; n && i < 64; n--, i++)
				x |= (uint64_t)used << i;
		}
		b->w[k] = x;
	}
}

/* The first npages free pages at or after search_idx, and the first free page there. */
static unsigned ref_find(const gh_pallocbits *b, unsigned npages, unsigned search_idx,
			 unsigned *next)
{
	unsigned run = 0;

	*next = NONE;
	if (npages == 0)
		return NONE;
	for (unsigned i = search_idx; i < PAGES; i++) {
		if (ref_get(b, i)) {
			run = 0;
			continue;
		}
		if (*next == NONE)
			*next = i;
		if (++run == npages)
			return i + 1 - npages;
	}
	return NONE;
}

static void ref_summarize(const gh_pallocbits *b, unsigned *start, unsigned *max, unsigned *end)
{
	unsigned run = 0;

	*start = *max = *end = 0;
	while (*start < PAGES && !ref_get(b, *start))
		++*start;
	while (*end < PAGES && !ref_get(b, PAGES - 1 - *end))
		++*end;
	for (unsigned i = 0; i < PAGES; i++) {
		run = ref_get(b, i) ? 0 : run + 1;
		if (run > *max)
			*max = run;
	}
}

static unsigned ref_popcnt(const gh_pallocbits *b, unsigned i, unsigned n)
{
	unsigned count = 0;

	for (; n; n--, i++)
		count += ref_get(b, i);
	return count;
}

static unsigned ref_bit_range64(uint64_t c, unsigned n)
{
	unsigned run = 0;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < 64; i++) {
		run = (c >> i) & 1 ? run + 1 : 0;
		if (run == n)
			return i + 1 - n;
	}
	return NONE;
}

/* A random range inside the chunk, n >= 1, often short, sometimes within one word. */
static struct range random_range(struct rng *r)
{
	static const unsigned scales[] = {1, 3, 64, 130, PAGES};
	struct range g;
	unsigned max = scales[rnd_below(r, ARRAY_SIZE(scales))];

	g.i = rnd_below(r, PAGES);
	g.n = 1 + rnd_below(r, max);
	if (g.n > PAGES - g.i)
		g.n = PAGES - g.i;
	return g;
}

#define SEED 0x9e3779b97f4a7c15ull

GH_TEST(pallocbits, random_summarize)
{
	struct rng r = {SEED, 0};
	gh_pallocbits b;
	unsigned start, max, end;

	for (r.iter = 0; r.iter < 1500; r.iter++) {
		if (r.iter % 3)
			random_fenced_bits(&r, &b);
		else
			random_bits(&r, &b);
		ref_summarize(&b, &start, &max, &end);
		if (!sum_equal(t, __LINE__, "summarize", gh_pallocbits_summarize(&b), start, max,
			       end)) {
			ght_log(t, "iteration %u", r.iter);
			log_bits(t, "bitmap", &b);
			return;
		}
	}
}

GH_TEST(pallocbits, random_find)
{
	struct rng r = {SEED ^ 1, 0};
	gh_pallocbits b;

	for (r.iter = 0; r.iter < 250; r.iter++) {
		random_bits(&r, &b);
		for (unsigned q = 0; q < 16; q++) {
			/* Half small (word-at-a-time path), half large (across words), these
			 * skewed towards fewer pages so that more of them fit. */
			unsigned npages = q & 1 ? 65 + rnd_below(&r, 1 + rnd_below(&r, PAGES - 64))
						: 1 + rnd_below(&r, 64);
			unsigned search_idx = q < 4 ? 0 : rnd_below(&r, PAGES);
			unsigned next, want_next;
			unsigned got = gh_pallocbits_find(&b, npages, search_idx, &next);
			unsigned want = ref_find(&b, npages, search_idx, &want_next);

			if (got != want || next != want_next) {
				ght_fail(
				    t, __FILE__, __LINE__,
				    "iteration %u: find(%u, %u) = %u, next %u; want %u, next %u",
				    r.iter, npages, search_idx, got, next, want, want_next);
				log_bits(t, "bitmap", &b);
				return;
			}
		}
	}
}

GH_TEST(pallocbits, random_popcnt_range)
{
	struct rng r = {SEED ^ 2, 0};
	gh_pallocbits b;

	for (r.iter = 0; r.iter < 250; r.iter++) {
		random_bits(&r, &b);
		for (unsigned q = 0; q < 8; q++) {
			struct range g = random_range(&r);
			unsigned got = gh_pallocbits_popcnt_range(&b, g.i, g.n);
			unsigned want = ref_popcnt(&b, g.i, g.n);

			if (got != want) {
				ght_fail(t, __FILE__, __LINE__,
					 "iteration %u: popcnt_range(%u, %u) = %u, want %u", r.iter,
					 g.i, g.n, got, want);
				log_bits(t, "bitmap", &b);
				return;
			}
		}
	}
}

/* set_range, clear_range, alloc_range and free against bit-by-bit updates. */
GH_TEST(pallocbits, random_ranges)
{
	struct rng r = {SEED ^ 3, 0};
	gh_pallocbits b, want;

	random_bits(&r, &b);
	want = b;
	for (r.iter = 0; r.iter < 2000; r.iter++) {
		struct range g = random_range(&r);
		unsigned op = rnd_below(&r, 4);

		if (op == 0)
			gh_pallocbits_set_range(&b, g.i, g.n);
		else if (op == 1)
			gh_pallocbits_clear_range(&b, g.i, g.n);
		else if (op == 2)
			gh_pallocbits_alloc_range(&b, g.i, g.n);
		else
			gh_pallocbits_free(&b, g.i, g.n);
		for (unsigned i = g.i; i < g.i + g.n; i++)
			ref_put(&want, i, op % 2 == 0);
		if (!bits_equal(t, __LINE__, "range", &b, &want)) {
			ght_log(t, "iteration %u: op %u on [%u, %u)", r.iter, op, g.i, g.i + g.n);
			return;
		}
		for (unsigned i = 0; i < PAGES; i += 1 + rnd_below(&r, 64)) {
			if (gh_pallocbits_get(&b, i) != ref_get(&want, i) ||
			    gh_pallocbits_pages64(&b, i) != want.w[i / 64]) {
				ght_fail(t, __FILE__, __LINE__,
					 "iteration %u: get/pages64(%u) wrong", r.iter, i);
				return;
			}
		}
	}
}

GH_TEST(pallocbits, random_find_bit_range64)
{
	struct rng r = {SEED ^ 4, 0};
	gh_pallocbits b;

	/* The words of random bitmaps: runs of every length, sparse and dense words. */
	for (r.iter = 0; r.iter < 500; r.iter++) {
		random_bits(&r, &b);
		for (unsigned k = 0; k < WORDS; k++) {
			uint64_t x = ~b.w[k]; /* ones = free pages, as find uses it */
			unsigned n = 1 + rnd_below(&r, 64);
			unsigned got = gh_find_bit_range64(x, n), want = ref_bit_range64(x, n);

			if (want == NONE ? got < 64 : got != want) {
				ght_fail(
				    t, __FILE__, __LINE__,
				    "iteration %u: find_bit_range64(%016llx, %u) = %u, want %u",
				    r.iter, (unsigned long long)x, n, got, want);
				return;
			}
		}
	}
}

/*
 * The page allocator's use: a stream of first-fit allocations, each starting from the
 * previous search index as Go's pageAlloc does, mixed with frees of runs (which move the
 * search index back), checked against the reference and a bit-by-bit shadow bitmap.
 */
GH_TEST(pallocbits, random_alloc_free)
{
	struct rng r = {SEED ^ 5, 0};
	gh_pallocbits b, shadow;
	unsigned search_idx = 0;

	gh_pallocbits_free_all(&b);
	shadow = b;
	for (r.iter = 0; r.iter < 1500; r.iter++) {
		if (rnd_below(&r, 3)) {
			unsigned npages =
			    rnd_below(&r, 4) ? 1 + rnd_below(&r, 16) : 1 + rnd_below(&r, 200);
			unsigned next, want_next;
			unsigned got = gh_pallocbits_find(&b, npages, search_idx, &next);
			unsigned want = ref_find(&shadow, npages, search_idx, &want_next);

			if (got != want || next != want_next) {
				ght_fail(
				    t, __FILE__, __LINE__,
				    "iteration %u: find(%u, %u) = %u, next %u; want %u, next %u",
				    r.iter, npages, search_idx, got, next, want, want_next);
				log_bits(t, "bitmap", &b);
				return;
			}
			if (got == NONE)
				continue;
			gh_pallocbits_alloc_range(&b, got, npages);
			for (unsigned i = got; i < got + npages; i++)
				ref_put(&shadow, i, true);
			/* Every page below next is in use, so next stays a valid start. */
			search_idx = next;
		} else {
			struct range g = random_range(&r);

			gh_pallocbits_free(&b, g.i, g.n);
			for (unsigned i = g.i; i < g.i + g.n; i++)
				ref_put(&shadow, i, false);
			if (g.i < search_idx)
				search_idx = g.i;
		}
		if (!bits_equal(t, __LINE__, "alloc/free", &b, &shadow)) {
			ght_log(t, "iteration %u", r.iter);
			return;
		}
	}
}
