/*
 * pagealloc_test.c — alloc/pagealloc.c: the page allocator's sparse radix tree of summaries
 * and the page cache (Go's mpagealloc.go and mpagecache.go).
 *
 * Every case builds its own struct pagealloc over fake addresses (16 TiB up, the upper
 * canonical half, address 0): the pagealloc never touches the pages it manages, only its
 * metadata, which comes from goheap's heap (gh_page_alloc) through a bump allocator that
 * the case frees when it ends. The go_* cases run Go's tables from mpagealloc_test.go and
 * mpagecache_test.go (scavenged counts are pages here, bytes in Go). model_random,
 * discontiguous and high_addresses compare thousands of operations drawn from a fixed-seed
 * xorshift generator with a page-state array searched first fit the slow way, and
 * scavenge_candidate does the same for the scavenger's search; a failure names the
 * operation and happens again on every run.
 */
#include "../../alloc/include/goheap.h"
#include "../../alloc/pagealloc.h"
#include "../ghtest.h"

#define BASE ((uintptr_t)0x100000000000) /* 16 TiB: a fake heap, chunk aligned */
#define TIB ((uintptr_t)1 << 40)
#define PAGES(n) ((uintptr_t)(n)*PAGE_SIZE)
#define CHUNKS(n) ((uintptr_t)(n)*CHUNK_BYTES)
#define NONE (~0u)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- metadata from goheap's heap ------------------------------------------------------ */

#define META_BLOCK_PAGES 8 /* 64 KiB */
#define META_BLOCK_BYTES PAGES(META_BLOCK_PAGES)
#define META_MAX_BLOCKS 48

/* A bump allocator over 64 KiB blocks of zeroed pages; requests over half a block (the
 * root level) get blocks of their own. */
struct meta {
	void *block[META_MAX_BLOCKS];
	size_t npages[META_MAX_BLOCKS];
	unsigned nblocks;
	uintptr_t cur, end; /* the free part of the current block */
	uint64_t taken;	    /* bytes handed out */
	uint64_t limit;	    /* refuse a request that would take more; 0 = no limit */
	unsigned calls;	    /* requests so far */
	unsigned fail_call; /* refuse request number fail_call (from 1); 0 = none */
	bool out;	    /* goheap or the block table ran out */
};

static void *meta_block(struct meta *m, size_t npages)
{
	void *b = m->nblocks < META_MAX_BLOCKS ? gh_page_alloc(npages, GH_PAGE_ZERO) : NULL;

	if (!b) {
		m->out = true;
		return NULL;
	}
	m->block[m->nblocks] = b;
	m->npages[m->nblocks++] = npages;
	return b;
}

static void *meta_alloc(void *ctx, size_t bytes)
{
	struct meta *m = ctx;
	uintptr_t n = (bytes + 63) & ~(uintptr_t)63;
	void *r;

	if (++m->calls == m->fail_call || (m->limit && m->taken + n > m->limit))
		return NULL;
	if (n > META_BLOCK_BYTES / 2) {
		r = meta_block(m, (n + PAGE_SIZE - 1) / PAGE_SIZE);
	} else {
		if (m->end - m->cur < n) {
			uintptr_t b = (uintptr_t)meta_block(m, META_BLOCK_PAGES);

			if (!b)
				return NULL;
			m->cur = b;
			m->end = b + META_BLOCK_BYTES;
		}
		r = (void *)m->cur;
		m->cur += n;
	}
	if (r)
		m->taken += n;
	return r;
}

static void meta_free_all(struct meta *m)
{
	for (unsigned i = 0; i < m->nblocks; i++)
		gh_page_free(m->block[i], m->npages[i]);
	__builtin_memset(m, 0, sizeof(*m));
}

/*
 * PAGEALLOC_TEST(name) { ... } runs its body with p, a new pagealloc whose metadata comes
 * from m, and gives the metadata back afterwards, also when a GH_ASSERT returned early.
 */
#define PAGEALLOC_TEST(name)                                                         \
	static void body_##name(struct ght *t, struct pagealloc *p, struct meta *m); \
	GH_TEST(pagealloc, name)                                                     \
	{                                                                            \
		struct meta m;                                                       \
		struct pagealloc p;                                                  \
		__builtin_memset(&m, 0, sizeof(m));                                  \
		gh_pagealloc_init(&p, meta_alloc, &m);                               \
		body_##name(t, &p, &m);                                              \
		GH_EXPECT(!m.out);                                                   \
		meta_free_all(&m);                                                   \
	}                                                                            \
	static void body_##name(struct ght *t, struct pagealloc *p, struct meta *m)

/* Allocate npages, expecting the run at want (0: no run) with want_scav pages scavenged. */
static bool expect_alloc(struct ght *t, int line, struct pagealloc *p, uintptr_t npages,
			 uintptr_t want, uintptr_t want_scav)
{
	uintptr_t scav = 0x5ca7;
	uintptr_t got = gh_pagealloc_alloc(p, npages, &scav);

	if (got == want && scav == want_scav)
		return true;
	ght_fail(t, __FILE__, line, "alloc(%lu) = 0x%lx with %lu scavenged, want 0x%lx with %lu",
		 (unsigned long)npages, (unsigned long)got, (unsigned long)scav,
		 (unsigned long)want, (unsigned long)want_scav);
	return false;
}

#define EXPECT_ALLOC(p, npages, want) expect_alloc(t, __LINE__, p, npages, want, 0)
#define EXPECT_ALLOC_SCAV(p, npages, want, scav) expect_alloc(t, __LINE__, p, npages, want, scav)

static bool expect_check(struct ght *t, int line, const struct pagealloc *p)
{
	if (gh_pagealloc_check(p))
		return true;
	ght_fail(t, __FILE__, line, "gh_pagealloc_check failed (the log says where)");
	return false;
}

#define EXPECT_CHECK(p) expect_check(t, __LINE__, p)

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static unsigned rnd_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) % n);
}

/* --- growth and first fit ------------------------------------------------------------- */

/* One 64 MiB range: counts, the exact metadata, first fit, and freed runs coming back
 * lowest first. */
PAGEALLOC_TEST(grow_first_fit)
{
	GH_ASSERT(gh_pagealloc_grow(p, BASE, 64 << 20));
	GH_EXPECT_EQ(p->managed_pages, 8192);
	GH_EXPECT_EQ(p->free_pages, 8192);
	/* The root, one block at each of levels 1-3, two leaf blocks of 8 chunks, 16 chunks. */
	GH_EXPECT_EQ(p->metadata_bytes, GH_PAGEALLOC_ROOT_BYTES + 5 * sizeof(struct sum_node) +
					    16 * sizeof(struct palloc_data));
	GH_EXPECT_EQ(p->metadata_bytes, m->taken);
	GH_EXPECT(gh_pagealloc_all_free(p, BASE, 8192));
	GH_EXPECT(gh_pagealloc_manages(p, BASE));
	GH_EXPECT(gh_pagealloc_manages(p, BASE + (64 << 20) - PAGE_SIZE));
	GH_EXPECT(!gh_pagealloc_manages(p, BASE + (64 << 20)));
	GH_EXPECT(!gh_pagealloc_manages(p, BASE - PAGE_SIZE));
	EXPECT_CHECK(p);

	static const struct {
		uintptr_t npages, page;
	} seq[] = {{1, 0}, {3, 1}, {512, 4}, {7, 516}, {600, 523}, {1, 1123}};
	for (size_t i = 0; i < ARRAY_SIZE(seq); i++)
		EXPECT_ALLOC(p, seq[i].npages, BASE + PAGES(seq[i].page));
	GH_EXPECT_EQ(p->free_pages, 8192 - 1124);
	GH_EXPECT(gh_pagealloc_all_in_use(p, BASE, 1124));
	GH_EXPECT(gh_pagealloc_all_free(p, BASE + PAGES(1124), 8192 - 1124));

	/* Free [1, 4) and [516, 523): the holes fill from the lowest address. */
	gh_pagealloc_free(p, BASE + PAGES(516), 7);
	gh_pagealloc_free(p, BASE + PAGES(1), 3);
	GH_EXPECT_EQ(p->free_pages, 8192 - 1124 + 10);
	GH_EXPECT(gh_pagealloc_all_free(p, BASE + PAGES(1), 3));
	GH_EXPECT(!gh_pagealloc_all_free(p, BASE, 4));
	GH_EXPECT(!gh_pagealloc_all_in_use(p, BASE, 4));
	EXPECT_ALLOC(p, 2, BASE + PAGES(1));
	EXPECT_ALLOC(p, 1, BASE + PAGES(3));
	EXPECT_ALLOC(p, 5, BASE + PAGES(516));
	EXPECT_ALLOC(p, 3, BASE + PAGES(1124)); /* [521, 523) is too short */
	EXPECT_ALLOC(p, 2, BASE + PAGES(521));
	EXPECT_ALLOC(p, 8192 - 1127 + 1, 0);
	EXPECT_ALLOC(p, 8192 - 1127, BASE + PAGES(1127));
	EXPECT_ALLOC(p, 1, 0);
	GH_EXPECT_EQ(p->free_pages, 0);
	EXPECT_CHECK(p);

	/* Everything back as one run. */
	gh_pagealloc_free(p, BASE, 8192);
	GH_EXPECT_EQ(p->free_pages, 8192);
	EXPECT_ALLOC(p, 8192, BASE);
	gh_pagealloc_free(p, BASE, 8192);
	EXPECT_CHECK(p);
}

/* Ranges that round inwards, share chunks, and are smaller than a page. */
PAGEALLOC_TEST(grow_edges)
{
	/* Less than a page after rounding: refused, nothing taken. */
	GH_EXPECT(!gh_pagealloc_grow(p, BASE + 100, PAGE_SIZE));
	GH_EXPECT_EQ(p->metadata_bytes, 0);
	GH_EXPECT_EQ(p->managed_pages, 0);
	EXPECT_ALLOC(p, 1, 0);

	/* [page 3 + 1 byte, page 10 - 1 byte) holds pages 4..8. */
	GH_ASSERT(gh_pagealloc_grow(p, BASE + PAGES(3) + 1, PAGES(7) - 2));
	GH_EXPECT_EQ(p->managed_pages, 5);
	/* A second range in the same chunk, and one in the next chunk right after it. */
	GH_ASSERT(gh_pagealloc_grow(p, BASE + PAGES(20), PAGES(10)));
	GH_ASSERT(gh_pagealloc_grow(p, BASE + PAGES(30), CHUNK_BYTES));
	GH_EXPECT_EQ(p->managed_pages, 5 + 10 + 512);
	GH_EXPECT_EQ(p->free_pages, 5 + 10 + 512);
	EXPECT_CHECK(p);
	GH_EXPECT(!gh_pagealloc_all_free(p, BASE + PAGES(3), 1));
	GH_EXPECT(gh_pagealloc_all_in_use(p, BASE + PAGES(9), 11)); /* not memory */

	EXPECT_ALLOC(p, 6, BASE + PAGES(20)); /* the first range is too short */
	EXPECT_ALLOC(p, 5, BASE + PAGES(4));
	EXPECT_ALLOC(p, 516, BASE + PAGES(26)); /* across the chunk boundary */
	EXPECT_ALLOC(p, 1, 0);
	GH_EXPECT_EQ(p->free_pages, 0);
	EXPECT_CHECK(p);
}

/* --- a reference model ----------------------------------------------------------------- */

#define MODEL_CHUNKS 26
#define MODEL_PAGES (MODEL_CHUNKS * CHUNK_PAGES)
#define MAX_LIVE 1024

enum { HOLE, FREE, USED };

struct run {
	uintptr_t addr;
	unsigned idx, npages;
};

/*
 * The pagealloc as a page-state array: model chunk k is the 4 MiB at chunk_base[k] (0 for
 * a chunk that is never memory). Bases increase in linear order, so index order is address
 * order; chunks not adjacent in memory need a hole chunk between them, or the model would
 * join their runs. One model at a time: the cases run one after another.
 */
static struct model {
	uintptr_t chunk_base[MODEL_CHUNKS];
	uint8_t page[MODEL_PAGES];
	uintptr_t nfree;
	unsigned lo; /* no FREE page below it */
	struct run live[MAX_LIVE];
	unsigned nlive;
	uint64_t rng;
} model;

static void model_init(const uintptr_t *bases, unsigned n, uint64_t seed)
{
	__builtin_memset(&model, 0, sizeof(model));
	__builtin_memcpy(model.chunk_base, bases, n * sizeof(*bases));
	model.rng = seed;
}

static uintptr_t model_addr(unsigned idx)
{
	return model.chunk_base[idx / CHUNK_PAGES] + PAGES(idx % CHUNK_PAGES);
}

static unsigned model_index(uintptr_t addr)
{
	for (unsigned k = 0; k < MODEL_CHUNKS; k++)
		if (model.chunk_base[k] && addr - model.chunk_base[k] < CHUNK_BYTES)
			return k * CHUNK_PAGES +
			       (unsigned)((addr - model.chunk_base[k]) / PAGE_SIZE);
	return NONE;
}

static void model_set(unsigned idx, unsigned n, uint8_t state)
{
	for (unsigned i = idx; i < idx + n; i++) {
		model.nfree -= model.page[i] == FREE;
		model.nfree += state == FREE;
		model.page[i] = state;
	}
	if (state == FREE && idx < model.lo)
		model.lo = idx;
}

/* The slow first fit: the lowest index starting npages FREE pages, or NONE. */
static unsigned model_first_fit(unsigned npages)
{
	unsigned run = 0;

	while (model.lo < MODEL_PAGES && model.page[model.lo] != FREE)
		model.lo++;
	for (unsigned i = model.lo; i < MODEL_PAGES; i++) {
		run = model.page[i] == FREE ? run + 1 : 0;
		if (run == npages)
			return i + 1 - npages;
	}
	return NONE;
}

/* Bit k: page block + k has the given state. */
static uint64_t model_mask64(unsigned block, uint8_t state)
{
	uint64_t mask = 0;

	for (unsigned k = 0; k < 64; k++)
		if (model.page[block + k] == state)
			mask |= 1ull << k;
	return mask;
}

/* Grow p by [base, base + len) and mark the whole pages inside free in the model. */
static bool model_grow(struct ght *t, struct pagealloc *p, uintptr_t base, uintptr_t len)
{
	uintptr_t a = (base + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	uintptr_t end = (base + len) & ~(PAGE_SIZE - 1);

	if (!gh_pagealloc_grow(p, base, len)) {
		ght_fail(t, __FILE__, __LINE__, "grow(0x%lx, 0x%lx) failed", (unsigned long)base,
			 (unsigned long)len);
		return false;
	}
	for (; a < end; a += PAGE_SIZE) {
		unsigned idx = model_index(a);

		if (idx == NONE || model.page[idx] != HOLE) {
			ght_fail(t, __FILE__, __LINE__, "the model has no hole at 0x%lx",
				 (unsigned long)a);
			return false;
		}
		model_set(idx, 1, FREE);
	}
	return true;
}

static void model_add_live(uintptr_t addr, unsigned idx, unsigned npages)
{
	model.live[model.nlive++] = (struct run){addr, idx, npages};
}

/* Runs are mostly small, sometimes up to max_run pages (across chunks when over 512). */
static unsigned model_npages(unsigned max_run)
{
	unsigned r = rnd_below(&model.rng, 100);

	if (r < 60)
		return 1 + rnd_below(&model.rng, 16);
	if (r < 85)
		return 1 + rnd_below(&model.rng, 200);
	return 1 + rnd_below(&model.rng, max_run);
}

static bool op_alloc(struct ght *t, struct pagealloc *p, unsigned npages)
{
	unsigned want = model_first_fit(npages);
	uintptr_t want_addr = want == NONE ? 0 : model_addr(want);

	if (!expect_alloc(t, __LINE__, p, npages, want_addr, 0))
		return false;
	if (want != NONE) {
		model_set(want, npages, USED);
		model_add_live(want_addr, want, npages);
	}
	return true;
}

/* alloc_range on part of a run the model has free, from a random page. */
static bool op_alloc_range(struct ght *t, struct pagealloc *p)
{
	unsigned idx = rnd_below(&model.rng, MODEL_PAGES), n = 0;

	while (idx + n < MODEL_PAGES && model.page[idx + n] == FREE && n < 600)
		n++;
	if (n == 0)
		return true;
	n = 1 + rnd_below(&model.rng, n);
	uintptr_t a = model_addr(idx);
	if (!gh_pagealloc_all_free(p, a, n)) {
		ght_fail(t, __FILE__, __LINE__, "[0x%lx, +%u pages) should be free",
			 (unsigned long)a, n);
		return false;
	}
	gh_pagealloc_alloc_range(p, a, n);
	model_set(idx, n, USED);
	model_add_live(a, idx, n);
	return true;
}

static bool op_free(struct ght *t, struct pagealloc *p)
{
	if (model.nlive == 0)
		return true;
	unsigned k = rnd_below(&model.rng, model.nlive);
	struct run r = model.live[k];
	if (!gh_pagealloc_all_in_use(p, r.addr, r.npages)) {
		ght_fail(t, __FILE__, __LINE__, "live run [0x%lx, +%u pages) is not in use",
			 (unsigned long)r.addr, r.npages);
		return false;
	}
	gh_pagealloc_free(p, r.addr, r.npages);
	model_set(r.idx, r.npages, FREE);
	model.live[k] = model.live[--model.nlive];
	return true;
}

/* Fill a page cache (its block holds the first free page), serve a few runs from it as a
 * CPU would, and flush the rest back. */
static bool op_cache(struct ght *t, struct pagealloc *p)
{
	unsigned first = model_first_fit(1);
	struct pagecache c = gh_pagealloc_alloc_to_cache(p);

	if (first == NONE) {
		if (c.base == 0 && c.cache == 0)
			return true;
		ght_fail(t, __FILE__, __LINE__, "cache 0x%lx/%016llx from a full heap",
			 (unsigned long)c.base, (unsigned long long)c.cache);
		return false;
	}
	unsigned block = first & ~63u;
	uint64_t want = model_mask64(block, FREE);
	if (c.base != model_addr(block) || c.cache != want || c.scav != 0) {
		ght_fail(t, __FILE__, __LINE__,
			 "cache 0x%lx %016llx scav %016llx, want 0x%lx %016llx scav 0",
			 (unsigned long)c.base, (unsigned long long)c.cache,
			 (unsigned long long)c.scav, (unsigned long)model_addr(block),
			 (unsigned long long)want);
		return false;
	}
	for (unsigned k = 0; k < 64; k++)
		if (want >> k & 1)
			model_set(block + k, 1, USED);
	for (unsigned k = rnd_below(&model.rng, 4); k > 0 && model.nlive < MAX_LIVE; k--) {
		unsigned n = 1 + rnd_below(&model.rng, 16);
		uintptr_t scav, a = gh_pagecache_alloc(&c, n, &scav);

		if (a)
			model_add_live(a, block + (unsigned)((a - c.base) / PAGE_SIZE), n);
	}
	for (unsigned k = 0; k < 64; k++)
		if (c.cache >> k & 1)
			model_set(block + k, 1, FREE);
	gh_pagecache_flush(&c, p);
	return true;
}

/* ops random operations, each compared with the model; stops at the first difference. */
static bool model_ops(struct ght *t, struct pagealloc *p, unsigned ops, unsigned max_run)
{
	for (unsigned op = 0; op < ops; op++) {
		unsigned r = rnd_below(&model.rng, 100);
		bool ok;

		if (r < 52 && model.nlive < MAX_LIVE)
			ok = op_alloc(t, p, model_npages(max_run));
		else if (r < 57 && model.nlive < MAX_LIVE)
			ok = op_alloc_range(t, p);
		else if (r < 60)
			ok = op_cache(t, p);
		else
			ok = op_free(t, p);
		if (ok && p->free_pages != model.nfree) {
			ght_fail(t, __FILE__, __LINE__, "free_pages %llu, the model has %lu",
				 (unsigned long long)p->free_pages, (unsigned long)model.nfree);
			ok = false;
		}
		if (ok && op % 128 == 127)
			ok = EXPECT_CHECK(p);
		if (!ok) {
			ght_log(t, "at operation %u of %u, %u runs live", op, ops, model.nlive);
			return false;
		}
	}
	return EXPECT_CHECK(p);
}

static bool model_free_all(struct ght *t, struct pagealloc *p)
{
	while (model.nlive)
		if (!op_free(t, p))
			return false;
	GH_EXPECT_EQ(p->free_pages, model.nfree);
	return EXPECT_CHECK(p) && p->free_pages == p->managed_pages;
}

/*
 * Three ranges, grown out of order over chunks 0-21 of BASE: A from chunk 0 page 101 to
 * chunk 3 page 200 (both ends unaligned, rounded inwards), B from chunk 3 page 300 (the
 * same chunk, after a hole) to chunk 9, C from chunk 20 page 7 to chunk 21 page 480.
 */
PAGEALLOC_TEST(model_random)
{
	uintptr_t bases[22];
	uintptr_t a = BASE + PAGES(101) - 8000, a_end = BASE + CHUNKS(3) + PAGES(200) + 4000;
	uintptr_t b = BASE + CHUNKS(3) + PAGES(300), b_end = BASE + CHUNKS(9);
	uintptr_t c = BASE + CHUNKS(20) + PAGES(7) - 1, c_end = BASE + CHUNKS(21) + PAGES(480) + 1;

	for (unsigned k = 0; k < ARRAY_SIZE(bases); k++)
		bases[k] = BASE + CHUNKS(k);
	model_init(bases, ARRAY_SIZE(bases), 0x9e3779b97f4a7c15ull);
	GH_ASSERT(model_grow(t, p, c, c_end - c));
	GH_ASSERT(model_grow(t, p, a, a_end - a));
	GH_ASSERT(model_grow(t, p, b, b_end - b));
	GH_EXPECT_EQ(p->managed_pages, 1635 + 2772 + 985);
	GH_EXPECT_EQ(p->free_pages, model.nfree);
	GH_EXPECT_EQ(p->metadata_bytes, m->taken);
	GH_ASSERT(EXPECT_CHECK(p));

	GH_ASSERT(model_ops(t, p, 4000, 700));
	GH_ASSERT(model_free_all(t, p));

	/* All free again: each range is one run, found by size. */
	EXPECT_ALLOC(p, 2773, 0);
	EXPECT_ALLOC(p, 2772, BASE + CHUNKS(3) + PAGES(300));
	EXPECT_ALLOC(p, 1635, BASE + PAGES(101));
	EXPECT_ALLOC(p, 986, 0);
	EXPECT_ALLOC(p, 985, BASE + CHUNKS(20) + PAGES(7));
	EXPECT_ALLOC(p, 1, 0);
	GH_EXPECT_EQ(p->free_pages, 0);
	EXPECT_CHECK(p);
}

/* --- discontiguous growth ----------------------------------------------------------------- */

/* Two 8 MiB ranges 1 TiB apart: the hole costs no metadata, and no run joins them. */
PAGEALLOC_TEST(discontiguous)
{
	const uintptr_t a = BASE, b = BASE + TIB;
	const uintptr_t bases[] = {a, a + CHUNK_BYTES, 0, b, b + CHUNK_BYTES};
	const uint64_t per_range = 4 * sizeof(struct sum_node) + 2 * sizeof(struct palloc_data);

	model_init(bases, ARRAY_SIZE(bases), 0x2545f4914f6cdd1dull);
	GH_ASSERT(model_grow(t, p, a, 8 << 20));
	GH_EXPECT_EQ(p->metadata_bytes, GH_PAGEALLOC_ROOT_BYTES + per_range);
	GH_ASSERT(model_grow(t, p, b, 8 << 20));
	GH_EXPECT_EQ(p->metadata_bytes, GH_PAGEALLOC_ROOT_BYTES + 2 * per_range);
	GH_EXPECT_EQ(p->metadata_bytes, m->taken);
	ght_log(t, "two 8 MiB ranges 1 TiB apart: %llu bytes of metadata (root %lu + %llu)",
		(unsigned long long)p->metadata_bytes, (unsigned long)GH_PAGEALLOC_ROOT_BYTES,
		(unsigned long long)(p->metadata_bytes - GH_PAGEALLOC_ROOT_BYTES));
	GH_EXPECT_EQ(p->managed_pages, 2048);
	GH_EXPECT(!gh_pagealloc_manages(p, a + TIB / 2));
	EXPECT_CHECK(p);

	EXPECT_ALLOC(p, 600, a);
	EXPECT_ALLOC(p, 600, b);
	EXPECT_ALLOC(p, 424, a + PAGES(600));
	EXPECT_ALLOC(p, 425, 0);
	EXPECT_ALLOC(p, 424, b + PAGES(600));
	EXPECT_ALLOC(p, 1, 0);
	gh_pagealloc_free(p, a, 600);
	EXPECT_ALLOC(p, 601, 0);
	EXPECT_ALLOC(p, 600, a);
	gh_pagealloc_free(p, a, 1024);
	gh_pagealloc_free(p, b, 1024);
	GH_EXPECT_EQ(p->free_pages, 2048);
	EXPECT_ALLOC(p, 2048, 0);
	EXPECT_ALLOC(p, 1025, 0);
	EXPECT_ALLOC(p, 1024, a);
	EXPECT_ALLOC(p, 1024, b);
	EXPECT_ALLOC(p, 1, 0);
	gh_pagealloc_free(p, a, 1024);
	gh_pagealloc_free(p, b, 1024);
	GH_ASSERT(EXPECT_CHECK(p));

	/* Random runs up to 1100 pages: the model says exactly when none fits. */
	GH_ASSERT(model_ops(t, p, 1500, 1100));
	GH_ASSERT(model_free_all(t, p));
}

/* --- exhaustion --------------------------------------------------------------------------- */

/* One page at a time until nothing is left, then single holes come back exactly. */
PAGEALLOC_TEST(exhaust)
{
	const uintptr_t base = BASE + PAGES(123) + 100, end = BASE + CHUNKS(2) + PAGES(377) + 5;
	const uintptr_t first = BASE + PAGES(124);
	uintptr_t n = 0, a, scav;

	GH_ASSERT(gh_pagealloc_grow(p, base, end - base));
	GH_EXPECT_EQ(p->managed_pages, 388 + 512 + 377);
	while ((a = gh_pagealloc_alloc(p, 1, &scav)) != 0 && n <= p->managed_pages) {
		if (a != first + PAGES(n) || scav != 0) {
			ght_fail(t, __FILE__, __LINE__, "page %lu at 0x%lx (%lu scavenged)",
				 (unsigned long)n, (unsigned long)a, (unsigned long)scav);
			return;
		}
		n++;
	}
	GH_EXPECT_EQ(n, p->managed_pages);
	GH_EXPECT_EQ(p->free_pages, 0);
	EXPECT_ALLOC(p, 1, 0);
	EXPECT_ALLOC(p, 2, 0);
	EXPECT_CHECK(p);

	gh_pagealloc_free(p, first + PAGES(700), 1);
	EXPECT_ALLOC(p, 2, 0);
	EXPECT_ALLOC(p, 1, first + PAGES(700));
	gh_pagealloc_free(p, first + PAGES(1000), 1);
	gh_pagealloc_free(p, first + PAGES(3), 1);
	EXPECT_ALLOC(p, 1, first + PAGES(3));
	EXPECT_ALLOC(p, 1, first + PAGES(1000));
	EXPECT_ALLOC(p, 1, 0);

	/* Growing an exhausted heap makes the new range the place to look. */
	GH_ASSERT(gh_pagealloc_grow(p, BASE + CHUNKS(40), PAGES(10)));
	EXPECT_ALLOC(p, 1, BASE + CHUNKS(40));
	gh_pagealloc_free(p, first + PAGES(5), 1);
	EXPECT_ALLOC(p, 1, first + PAGES(5));
	EXPECT_ALLOC(p, 9, BASE + CHUNKS(40) + PAGES(1));
	EXPECT_ALLOC(p, 1, 0);
	EXPECT_CHECK(p);
}

/* Go's TestPageAllocExhaust: four free chunks, runs of npages until none fits. */
GH_TEST(pagealloc, exhaust_go)
{
	static const uintptr_t sizes[] = {1, 2, 3, 4, 5, 8, 16, 64, 1024, 1025, 2048, 2049};

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		struct meta m;
		struct pagealloc p;
		uintptr_t npages = sizes[s], nalloc = 4 * CHUNK_PAGES / npages, i;

		__builtin_memset(&m, 0, sizeof(m));
		gh_pagealloc_init(&p, meta_alloc, &m);
		if (gh_pagealloc_grow(&p, BASE, CHUNKS(4))) {
			for (i = 0; i < nalloc; i++)
				if (!expect_alloc(t, __LINE__, &p, npages, BASE + PAGES(i * npages),
						  0))
					break;
			if (i == nalloc)
				expect_alloc(t, __LINE__, &p, npages, 0, 0);
			GH_EXPECT_EQ(p.free_pages, 4 * CHUNK_PAGES - nalloc * npages);
			GH_EXPECT(gh_pagealloc_all_in_use(&p, BASE, nalloc * npages));
			expect_check(t, __LINE__, &p);
		} else {
			ght_fail(t, __FILE__, __LINE__, "grow failed");
		}
		GH_EXPECT(!m.out);
		meta_free_all(&m);
	}
}

/* gh_pagealloc_grow_cost bounds what each growth takes; holes between ranges cost nothing. */
PAGEALLOC_TEST(grow_cost)
{
	const uintptr_t root2 = BASE + ((uintptr_t)32 << 30); /* a root entry (16 GiB) boundary */
	const uintptr_t upper = 0xffff888000000000;
	const struct {
		uintptr_t base, len;
	} grows[] = {
	    {BASE + CHUNKS(8), CHUNK_BYTES},		/* the first: with the root */
	    {BASE + CHUNKS(9), CHUNK_BYTES},		/* next to it */
	    {BASE + CHUNKS(7) + PAGES(500), PAGES(12)}, /* just below, another leaf block */
	    {BASE + 2 * TIB, (uintptr_t)1 << 30},	/* 1 GiB far away */
	    {root2 - PAGES(600), PAGES(1200)},		/* across two root entries */
	    {BASE + 3 * TIB + 12345, 1},		/* no whole page: refused */
	    {upper, (uintptr_t)300 << 20},		/* the upper half */
	};
	uint64_t managed = 0;

	for (size_t i = 0; i < ARRAY_SIZE(grows); i++) {
		uintptr_t cost = gh_pagealloc_grow_cost(p, grows[i].base, grows[i].len);
		uint64_t before = p->metadata_bytes;
		bool ok = gh_pagealloc_grow(p, grows[i].base, grows[i].len);

		GH_EXPECT_EQ(ok, i != 5);
		GH_EXPECT_LE(p->metadata_bytes - before, cost);
		if (i == 1) /* one more chunk in an existing leaf block */
			GH_EXPECT_EQ(p->metadata_bytes - before, sizeof(struct palloc_data));
		if (i == 2) /* a leaf block beside the first: one block, one chunk */
			GH_EXPECT_EQ(p->metadata_bytes - before,
				     sizeof(struct sum_node) + sizeof(struct palloc_data));
		managed += ok ? grows[i].len / PAGE_SIZE : 0;
	}
	GH_EXPECT_EQ(p->managed_pages, managed);
	GH_EXPECT_EQ(p->free_pages, managed);
	GH_EXPECT_EQ(p->metadata_bytes, m->taken);
	EXPECT_CHECK(p);
	/* First fit in linear order: the upper half, then BASE + 28 MiB, + 32 GiB, + 2 TiB. */
	EXPECT_ALLOC(p, 1, upper);
	EXPECT_ALLOC(p, 38399, upper + PAGE_SIZE);
	EXPECT_ALLOC(p, 1036, BASE + CHUNKS(7) + PAGES(500));
	EXPECT_ALLOC(p, 1200, root2 - PAGES(600));
	EXPECT_ALLOC(p, 1201, BASE + 2 * TIB);
	EXPECT_CHECK(p);
}

/*
 * sysalloc running out: grow returns false, no pages are added, and the pagealloc works
 * once metadata is available again. The root level is two requests (summaries, then
 * children); either may fail alone, and a later growth makes the missing one.
 */
PAGEALLOC_TEST(grow_failure)
{
	uint64_t taken0;

	for (unsigned call = 1; call <= 2; call++) {
		struct pagealloc q;
		uintptr_t cost;

		gh_pagealloc_init(&q, meta_alloc, m);
		taken0 = m->taken;
		m->calls = 0;
		m->fail_call = call;
		GH_EXPECT(!gh_pagealloc_grow(&q, BASE, CHUNKS(2)));
		m->fail_call = 0;
		GH_EXPECT_EQ(q.managed_pages, 0);
		GH_EXPECT_EQ(q.free_pages, 0);
		GH_EXPECT(expect_alloc(t, __LINE__, &q, 1, 0, 0));
		GH_EXPECT(!gh_pagealloc_manages(&q, BASE));
		GH_EXPECT(expect_check(t, __LINE__, &q));
		cost = gh_pagealloc_grow_cost(&q, BASE, CHUNKS(2));
		GH_EXPECT(gh_pagealloc_grow(&q, BASE, CHUNKS(2)));
		GH_EXPECT_LE(m->taken - taken0, cost + GH_PAGEALLOC_ROOT_BYTES / 2);
		GH_EXPECT_EQ(q.metadata_bytes, m->taken - taken0);
		GH_EXPECT_EQ(q.managed_pages, 2 * CHUNK_PAGES);
		GH_EXPECT(gh_pagealloc_manages(&q, BASE));
		GH_EXPECT(expect_check(t, __LINE__, &q));
		GH_EXPECT(expect_alloc(t, __LINE__, &q, 2 * CHUNK_PAGES, BASE, 0));
	}

	/* Room for the root and part of the tree: fails in the middle of it. */
	taken0 = m->taken;
	m->limit = m->taken + GH_PAGEALLOC_ROOT_BYTES + 2 * sizeof(struct sum_node);
	GH_EXPECT(!gh_pagealloc_grow(p, BASE, CHUNKS(2)));
	GH_EXPECT_EQ(p->managed_pages, 0);
	EXPECT_ALLOC(p, 1, 0);
	EXPECT_CHECK(p);

	/* Room for some of the chunks of an 8-chunk range. */
	m->limit = m->taken + 2 * sizeof(struct sum_node) + 3 * sizeof(struct palloc_data);
	GH_EXPECT(!gh_pagealloc_grow(p, BASE, CHUNKS(8)));
	GH_EXPECT_EQ(p->managed_pages, 0);
	EXPECT_ALLOC(p, 1, 0);
	EXPECT_CHECK(p);

	m->limit = 0;
	GH_ASSERT(gh_pagealloc_grow(p, BASE, CHUNKS(8)));
	GH_EXPECT_EQ(p->managed_pages, 8 * CHUNK_PAGES);
	GH_EXPECT_EQ(p->free_pages, 8 * CHUNK_PAGES);
	GH_EXPECT_EQ(p->metadata_bytes, m->taken - taken0);
	EXPECT_CHECK(p);
	EXPECT_ALLOC(p, 8 * CHUNK_PAGES, BASE);
	EXPECT_CHECK(p);
}

/* --- Go's tables ------------------------------------------------------------------------- */

/* Pages [i, i + n) of a chunk; lists end at the first with n == 0. */
struct brange {
	unsigned i, n;
};

/* A whole chunk at BASE + CHUNKS(c): the pages in use and scavenged at the start, and the
 * pages in use at the end. */
struct go_chunk {
	uintptr_t c;
	struct brange before[4], scav[4], after[4]; /* room for a terminator */
};

#define P CHUNK_PAGES
#define GONE ((uintptr_t)-1) /* in a hit: no run, address 0 */
#define FULL                 \
	{                    \
		{            \
			0, P \
		}            \
	}

static uint64_t range_mask64(const struct brange *r, unsigned block)
{
	uint64_t mask = 0;

	for (; r->n; r++)
		for (unsigned i = r->i; i < r->i + r->n; i++)
			if (i / 64 == block)
				mask |= 1ull << (i % 64);
	return mask;
}

static bool in_ranges(const struct brange *r, unsigned i)
{
	for (; r->n; r++)
		if (i >= r->i && i < r->i + r->n)
			return true;
	return false;
}

/*
 * Go's NewPageAlloc: grow each chunk, mark the scavenged pages, then allocate the pages in
 * use. The interface sets scavenged bits only through a page cache's flush, so every free
 * page goes into page caches (8 per chunk, in address order) and each cache is flushed
 * with its scavenged mask.
 */
static bool go_setup(struct ght *t, struct pagealloc *p, const struct go_chunk *ch, unsigned n)
{
	static struct pagecache c[64];
	unsigned nc = 0;

	for (unsigned k = 0; k < n; k++)
		if (!gh_pagealloc_grow(p, BASE + CHUNKS(ch[k].c), CHUNK_BYTES))
			return false;
	while (nc < ARRAY_SIZE(c) && (c[nc] = gh_pagealloc_alloc_to_cache(p)).base)
		nc++;
	if (nc != 8 * n || p->free_pages != 0) {
		ght_fail(t, __FILE__, __LINE__, "%u page caches from %u free chunks", nc, n);
		return false;
	}
	for (unsigned k = 0; k < nc; k++) {
		uintptr_t off = c[k].base - BASE;
		unsigned j = 0;

		while (j < n && ch[j].c != off / CHUNK_BYTES)
			j++;
		if (j == n || c[k].cache != ~0ull) {
			ght_fail(t, __FILE__, __LINE__, "cache %u: 0x%lx %016llx", k,
				 (unsigned long)c[k].base, (unsigned long long)c[k].cache);
			return false;
		}
		c[k].scav = range_mask64(ch[j].scav, (unsigned)(off % CHUNK_BYTES / PAGES(64)));
		gh_pagecache_flush(&c[k], p);
	}
	for (unsigned k = 0; k < n; k++)
		for (const struct brange *r = ch[k].before; r->n; r++)
			gh_pagealloc_alloc_range(p, BASE + CHUNKS(ch[k].c) + PAGES(r->i), r->n);
	return expect_check(t, __LINE__, p);
}

/* Go's checkPageAlloc, for the allocation bitmaps: every page as after says. */
static void go_check_after(struct ght *t, const char *name, const struct pagealloc *p,
			   const struct go_chunk *ch, unsigned n)
{
	uint64_t free = 0;

	for (unsigned k = 0; k < n; k++) {
		for (unsigned i = 0; i < P; i++) {
			bool want = in_ranges(ch[k].after, i);
			uintptr_t a = BASE + CHUNKS(ch[k].c) + PAGES(i);

			free += !want;
			if (gh_pagealloc_all_in_use(p, a, 1) != want) {
				ght_fail(t, __FILE__, __LINE__, "%s: chunk 0x%lx page %u %s", name,
					 (unsigned long)ch[k].c, i, want ? "free" : "in use");
				return;
			}
		}
	}
	GH_EXPECT_EQ(p->free_pages, free);
	expect_check(t, __LINE__, p);
}

/* Go's TestPageAllocAlloc: where each allocation lands and how many of its pages were
 * scavenged. */
GH_TEST(pagealloc, alloc_go)
{
	static const struct {
		const char *name;
		unsigned nchunk;
		struct go_chunk ch[8];
		struct {
			uintptr_t npages, c;
			unsigned i;
			uintptr_t scav;
		} hit[6]; /* ends at npages == 0 */
	} cases[] = {
	    {"AllFree1",
	     1,
	     {{0, {{0}}, {{0, 1}, {2, 2}}, {{0, 5}}}},
	     {{1, 0, 0, 1}, {1, 0, 1, 0}, {1, 0, 2, 1}, {1, 0, 3, 1}, {1, 0, 4, 0}}},
	    {"ManyArena1",
	     3,
	     {{0, FULL, FULL, FULL}, {1, FULL, FULL, FULL}, {2, {{0, P - 1}}, FULL, FULL}},
	     {{1, 2, P - 1, 1}}},
	    {"NotContiguous1",
	     2,
	     {{0, FULL, FULL, FULL}, {0xff, {{0}}, FULL, {{0, 1}}}},
	     {{1, 0xff, 0, 1}}},
	    {"AllFree2",
	     1,
	     {{0, {{0}}, {{0, 3}, {7, 1}}, {{0, 10}}}},
	     {{2, 0, 0, 2}, {2, 0, 2, 1}, {2, 0, 4, 0}, {2, 0, 6, 1}, {2, 0, 8, 0}}},
	    {"Straddle2",
	     2,
	     {{0, {{0, P - 1}}, {{P - 1, 1}}, FULL}, {1, {{1, P - 1}}, {{0}}, FULL}},
	     {{2, 0, P - 1, 1}}},
	    {"AllFree5",
	     1,
	     {{0, {{0}}, {{0, 8}, {9, 1}, {17, 5}}, {{0, 25}}}},
	     {{5, 0, 0, 5}, {5, 0, 5, 4}, {5, 0, 10, 0}, {5, 0, 15, 3}, {5, 0, 20, 2}}},
	    {"ExhaustPallocChunkPages-3",
	     1,
	     {{0, {{0}}, {{10, 1}}, FULL}},
	     {{P - 3, 0, 0, 1},
	      {P - 3, GONE, 0, 0},
	      {1, 0, P - 3, 0},
	      {2, 0, P - 2, 0},
	      {1, GONE, 0, 0},
	      {P - 3, GONE, 0, 0}}},
	    {"AllFreePallocChunkPages",
	     1,
	     {{0, {{0}}, {{0, 1}, {P - 1, 1}}, FULL}},
	     {{P, 0, 0, 2}, {P, GONE, 0, 0}, {1, GONE, 0, 0}}},
	    {"StraddlePallocChunkPages+1",
	     2,
	     {{0, {{0, P / 2}}, FULL, FULL}, {1, {{0}}, FULL, {{0, P / 2 + 2}}}},
	     {{P + 1, 0, P / 2, P + 1}, {P, GONE, 0, 0}, {1, 1, P / 2 + 1, 1}}},
	    {"AllFreePallocChunkPages*2",
	     2,
	     {{0, {{0}}, {{0}}, FULL}, {1, {{0}}, {{0}}, FULL}},
	     {{2 * P, 0, 0, 0}, {2 * P, GONE, 0, 0}, {1, GONE, 0, 0}}},
	    {"NotContiguousPallocChunkPages*2",
	     3,
	     {{0, {{0}}, FULL, {{0, 22}}}, {0x40, {{0}}, {{0}}, FULL}, {0x41, {{0}}, {{0}}, FULL}},
	     {{2 * P, 0x40, 0, 0}, {21, 0, 0, 21}, {1, 0, 21, 1}}},
	    {"StraddlePallocChunkPages*5/4",
	     4,
	     {{0, FULL, FULL, FULL},
	      {1, {{0, P * 3 / 4}}, {{P / 2, P / 4 + 1}}, {{0, P * 3 / 4 + 1}}},
	      {2, {{0, P * 3 / 4}}, {{P / 3, 1}}, FULL},
	      {3, {{0}}, {{P * 2 / 3, 1}}, FULL}},
	     {{P * 5 / 4, 2, P * 3 / 4, 1}, {P * 5 / 4, GONE, 0, 0}, {1, 1, P * 3 / 4, 1}}},
	    {"AllFree64",
	     1,
	     {{0, {{0}}, {{21, 1}, {63, 65}}, {{0, 192}}}},
	     {{64, 0, 0, 2}, {64, 0, 64, 64}, {64, 0, 128, 0}}},
	    {"AllFree65",
	     1,
	     {{0, {{0}}, {{129, 1}}, {{0, 195}}}},
	     {{65, 0, 0, 0}, {65, 0, 65, 1}, {65, 0, 130, 0}}},
	    {"StraddlePallocChunkPages",
	     2,
	     {{0, {{0, P / 2}}, {{0}}, FULL}, {1, {{P / 2, P / 2}}, {{3, 100}}, FULL}},
	     {{P, 0, P / 2, 100}, {P, GONE, 0, 0}, {1, GONE, 0, 0}}},
	    {"AllFreePallocChunkPages*7+5",
	     8,
	     {{0, {{0}}, {{50, 1}}, FULL},
	      {1, {{0}}, {{31, 1}}, FULL},
	      {2, {{0}}, {{7, 1}}, FULL},
	      {3, {{0}}, {{200, 1}}, FULL},
	      {4, {{0}}, {{3, 1}}, FULL},
	      {5, {{0}}, {{51, 1}}, FULL},
	      {6, {{0}}, {{20, 1}}, FULL},
	      {7, {{0}}, {{1, 1}}, {{0, 6}}}},
	     {{P * 7 + 5, 0, 0, 8}, {P * 7 + 5, GONE, 0, 0}, {1, 7, 5, 0}}},
	    {"StraddlePallocChunkPages*2",
	     3,
	     {{0, {{0, P / 2}}, {{0, 7}}, FULL},
	      {1, {{0}}, {{3, 5}, {121, 10}}, FULL},
	      {2, {{P / 2, P / 2}}, {{P / 2 + 12, 2}}, FULL}},
	     {{2 * P, 0, P / 2, 15}, {2 * P, GONE, 0, 0}, {1, GONE, 0, 0}}},
	    {"DiscontiguousMappedSumBoundary",
	     2,
	     {{511, {{0}}, {{0}}, FULL}, {0x100000, {{0}}, {{0}}, FULL}},
	     {{P - 1, 511, 0, 0},
	      {1, 511, P - 1, 0},
	      {1, 0x100000, 0, 0},
	      {P - 1, 0x100000, 1, 0},
	      {1, GONE, 0, 0}}},
	    {"DiscontiguousBadSearchAddr",
	     3,
	     {{0, {{0, P - 1}}, {{0}}, FULL},
	      {0x100503, {{0, P - 10}, {P - 1, 1}}, {{0}}, FULL},
	      {0x200000, {{0}}, {{0}}, {{0, 100}}}},
	     {{1, 0, P - 1, 0}, {100, 0x200000, 0, 0}, {9, 0x100503, P - 10, 0}}},
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		struct meta m;
		struct pagealloc p;
		bool ok;

		__builtin_memset(&m, 0, sizeof(m));
		gh_pagealloc_init(&p, meta_alloc, &m);
		ok = go_setup(t, &p, cases[k].ch, cases[k].nchunk);
		for (size_t h = 0; ok && h < ARRAY_SIZE(cases[k].hit) && cases[k].hit[h].npages;
		     h++) {
			uintptr_t c = cases[k].hit[h].c;
			uintptr_t want =
			    c == GONE ? 0 : BASE + CHUNKS(c) + PAGES(cases[k].hit[h].i);

			ok = expect_alloc(t, __LINE__, &p, cases[k].hit[h].npages, want,
					  cases[k].hit[h].scav);
		}
		if (ok)
			go_check_after(t, cases[k].name, &p, cases[k].ch, cases[k].nchunk);
		else
			ght_log(t, "in %s", cases[k].name);
		GH_EXPECT(!m.out);
		meta_free_all(&m);
	}
}

/* Go's TestPageAllocAllocToCache: the block each refill takes, its free pages and their
 * scavenged bits. */
GH_TEST(pagealloc, alloc_to_cache_go)
{
	static const struct {
		const char *name;
		unsigned nchunk, nhit;
		struct go_chunk ch[3];
		struct {
			uintptr_t c; /* GONE: an empty cache */
			unsigned i;
			uint64_t cache, scav;
		} hit[4];
	} cases[] = {
	    {"ManyArena",
	     3,
	     1,
	     {{0, FULL, FULL, FULL}, {1, FULL, FULL, FULL}, {2, {{0, P - 64}}, {{0}}, FULL}},
	     {{2, P - 64, ~0ull, 0}}},
	    {"Fail",
	     1,
	     3,
	     {{0, FULL, {{0}}, FULL}},
	     {{GONE, 0, 0, 0}, {GONE, 0, 0, 0}, {GONE, 0, 0, 0}}},
	    {"RetainScavBits",
	     1,
	     1,
	     {{0, {{0, 1}, {10, 2}}, {{0, 4}, {11, 1}}, {{0, 64}}}},
	     {{0, 0, ~(0x1ull | 0x3ull << 10), 0x7ull << 1}}},
	    {"AllFree",
	     1,
	     4,
	     {{0, {{0}}, {{1, 1}, {64, 64}}, {{0, 256}}}},
	     {{0, 0, ~0ull, 0x2}, {0, 64, ~0ull, ~0ull}, {0, 128, ~0ull, 0}, {0, 192, ~0ull, 0}}},
	    {"NotContiguous",
	     2,
	     1,
	     {{0, FULL, FULL, FULL}, {0xff, {{0}}, {{31, 67}}, {{0, 64}}}},
	     {{0xff, 0, ~0ull, ((1ull << 33) - 1) << 31}}},
	    {"First",
	     1,
	     2,
	     {{0, {{0, 32}, {33, 31}, {96, 32}}, {{1, 4}, {31, 5}, {66, 2}}, {{0, 128}}}},
	     {{0, 0, 1ull << 32, 1ull << 32}, {0, 64, (1ull << 32) - 1, 0x3 << 2}}},
	    {"DiscontiguousMappedSumBoundary",
	     2,
	     3,
	     {{511, {{0, P - 1}}, {{0}}, FULL}, {0x100000, {{1, P - 1}}, {{0}}, FULL}},
	     {{511, P - 64, 1ull << 63, 0}, {0x100000, 0, 1, 0}, {GONE, 0, 0, 0}}},
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		struct meta m;
		struct pagealloc p;
		bool ok;

		__builtin_memset(&m, 0, sizeof(m));
		gh_pagealloc_init(&p, meta_alloc, &m);
		ok = go_setup(t, &p, cases[k].ch, cases[k].nchunk);
		for (unsigned h = 0; ok && h < cases[k].nhit; h++) {
			struct pagecache c = gh_pagealloc_alloc_to_cache(&p);
			uintptr_t wc = cases[k].hit[h].c;
			uintptr_t want =
			    wc == GONE ? 0 : BASE + CHUNKS(wc) + PAGES(cases[k].hit[h].i);

			if (c.base != want || c.cache != cases[k].hit[h].cache ||
			    c.scav != cases[k].hit[h].scav) {
				ght_fail(t, __FILE__, __LINE__,
					 "%s #%u: cache 0x%lx %016llx scav %016llx, want 0x%lx "
					 "%016llx scav %016llx",
					 cases[k].name, h, (unsigned long)c.base,
					 (unsigned long long)c.cache, (unsigned long long)c.scav,
					 (unsigned long)want,
					 (unsigned long long)cases[k].hit[h].cache,
					 (unsigned long long)cases[k].hit[h].scav);
				ok = false;
			}
		}
		if (ok)
			go_check_after(t, cases[k].name, &p, cases[k].ch, cases[k].nchunk);
		GH_EXPECT(!m.out);
		meta_free_all(&m);
	}
}

/* Go's TestPageCacheAlloc: runs served from a cache on its own, no pagealloc involved. */
GH_TEST(pagealloc, cache_alloc_go)
{
	static const struct {
		const char *name;
		uint64_t cache, scav;
		struct {
			uintptr_t npages;
			unsigned i; /* NONE: no run */
			uintptr_t scav;
		} hit[22]; /* ends at npages == 0 */
	} cases[] = {
	    {"Empty",
	     0,
	     0,
	     {{1, NONE, 0},
	      {2, NONE, 0},
	      {3, NONE, 0},
	      {4, NONE, 0},
	      {5, NONE, 0},
	      {11, NONE, 0},
	      {12, NONE, 0},
	      {16, NONE, 0},
	      {27, NONE, 0},
	      {32, NONE, 0},
	      {43, NONE, 0},
	      {57, NONE, 0},
	      {64, NONE, 0},
	      {121, NONE, 0}}},
	    {"Lo1", 0x1, 0x1, {{1, 0, 1}, {1, NONE, 0}, {10, NONE, 0}}},
	    {"Hi1", 1ull << 63, 0x1, {{1, 63, 0}, {1, NONE, 0}, {10, NONE, 0}}},
	    {"Swiss1",
	     0x20005555,
	     0x5505,
	     {{2, NONE, 0},
	      {1, 0, 1},
	      {1, 2, 1},
	      {1, 4, 0},
	      {1, 6, 0},
	      {1, 8, 1},
	      {1, 10, 1},
	      {1, 12, 1},
	      {1, 14, 1},
	      {1, 29, 0},
	      {1, NONE, 0},
	      {10, NONE, 0}}},
	    {"Lo2", 0x3, 0x2ull << 62, {{2, 0, 0}, {2, NONE, 0}, {1, NONE, 0}}},
	    {"Hi2", 0x3ull << 62, 0x3ull << 62, {{2, 62, 2}, {2, NONE, 0}, {1, NONE, 0}}},
	    {"Swiss2",
	     0x3333ull << 31,
	     0x3030ull << 31,
	     {{2, 31, 0}, {2, 35, 2}, {2, 39, 0}, {2, 43, 2}, {2, NONE, 0}}},
	    {"Hi53",
	     ((1ull << 53) - 1) << 10,
	     ((1ull << 16) - 1) << 10,
	     {{53, 10, 16}, {53, NONE, 0}, {1, NONE, 0}}},
	    {"Full53", ~0ull, ((1ull << 16) - 1) << 10, {{53, 0, 16}, {53, NONE, 0}, {1, 53, 0}}},
	    {"Full64", ~0ull, ~0ull, {{64, 0, 64}, {64, NONE, 0}, {1, NONE, 0}}},
	    {"FullMixed", ~0ull, ~0ull, {{5, 0, 5},	{7, 5, 7},     {1, 12, 1},   {23, 13, 23},
					 {63, NONE, 0}, {3, 36, 3},    {3, 39, 3},   {3, 42, 3},
					 {12, 45, 12},	{11, NONE, 0}, {4, 57, 4},   {4, NONE, 0},
					 {6, NONE, 0},	{36, NONE, 0}, {2, 61, 2},   {3, NONE, 0},
					 {1, 63, 1},	{4, NONE, 0},  {2, NONE, 0}, {62, NONE, 0},
					 {1, NONE, 0}}},
	};
	const uintptr_t base = BASE + CHUNKS(5) + PAGES(128);

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		struct pagecache c = {base, cases[k].cache, cases[k].scav};

		for (size_t h = 0; h < ARRAY_SIZE(cases[k].hit) && cases[k].hit[h].npages; h++) {
			unsigned i = cases[k].hit[h].i;
			uintptr_t want = i == NONE ? 0 : base + PAGES(i), scav = 0;
			uintptr_t got = gh_pagecache_alloc(&c, cases[k].hit[h].npages, &scav);

			if (got != want || (want && scav != cases[k].hit[h].scav)) {
				ght_fail(t, __FILE__, __LINE__,
					 "%s #%u: alloc(%lu) = 0x%lx with %lu scavenged, want "
					 "0x%lx with %lu",
					 cases[k].name, (unsigned)h,
					 (unsigned long)cases[k].hit[h].npages, (unsigned long)got,
					 (unsigned long)scav, (unsigned long)want,
					 (unsigned long)cases[k].hit[h].scav);
				break;
			}
		}
	}
}

/* --- the page cache ------------------------------------------------------------------------ */

/* A refill takes the block of the first free page; runs come from it first fit; a flush
 * gives the rest back. */
PAGEALLOC_TEST(cache)
{
	const uint64_t used0 = 0x7ull | 1ull << 5 | 0xfull << 60; /* pages 0-2, 5, 60-63 */
	struct pagecache c;
	uintptr_t scav = 0;

	GH_ASSERT(gh_pagealloc_grow(p, BASE, CHUNKS(2)));
	EXPECT_ALLOC(p, 3, BASE);
	gh_pagealloc_alloc_range(p, BASE + PAGES(5), 1);
	gh_pagealloc_alloc_range(p, BASE + PAGES(60), 10); /* into the next block */
	GH_EXPECT_EQ(p->free_pages, 1024 - 14);

	c = gh_pagealloc_alloc_to_cache(p);
	GH_EXPECT_EQ(c.base, BASE);
	GH_EXPECT_EQ(c.cache, ~used0);
	GH_EXPECT_EQ(c.scav, 0);
	GH_EXPECT_EQ(p->free_pages, 1024 - 14 - 56);
	GH_EXPECT(gh_pagealloc_all_in_use(p, BASE, 64));
	EXPECT_CHECK(p);

	static const struct {
		uintptr_t npages;
		unsigned i; /* NONE: no run */
	} runs[] = {{1, 3}, {2, 6}, {1, 4}, {50, 8}, {3, NONE}, {2, 58}, {1, NONE}, {63, NONE}};
	for (size_t k = 0; k < ARRAY_SIZE(runs); k++) {
		uintptr_t want = runs[k].i == NONE ? 0 : BASE + PAGES(runs[k].i);

		scav = 1;
		GH_EXPECT_EQ(gh_pagecache_alloc(&c, runs[k].npages, &scav), want);
		GH_EXPECT_EQ(scav, want ? 0 : 1);
	}
	GH_EXPECT_EQ(c.cache, 0);
	/* An empty cache flushes to nothing. */
	gh_pagecache_flush(&c, p);
	GH_EXPECT_EQ(c.base, 0);
	GH_EXPECT_EQ(p->free_pages, 1024 - 14 - 56);

	/* The next refill: the following block, pages 64-69 in use. */
	c = gh_pagealloc_alloc_to_cache(p);
	GH_EXPECT_EQ(c.base, BASE + PAGES(64));
	GH_EXPECT_EQ(c.cache, ~0x3full);
	GH_EXPECT_EQ(p->free_pages, 1024 - 128);
	GH_EXPECT_EQ(gh_pagecache_alloc(&c, 1, &scav), BASE + PAGES(70));
	EXPECT_CHECK(p);
	gh_pagecache_flush(&c, p);
	GH_EXPECT_EQ(c.base, 0);
	GH_EXPECT_EQ(c.cache, 0);
	GH_EXPECT_EQ(p->free_pages, 1024 - 128 + 57);
	GH_EXPECT(gh_pagealloc_all_free(p, BASE + PAGES(71), 57));
	EXPECT_CHECK(p);

	/* Flushed pages are ordinary free pages again; served pages are ordinary runs. */
	EXPECT_ALLOC(p, 1, BASE + PAGES(71));
	gh_pagealloc_free(p, BASE + PAGES(4), 1);
	EXPECT_ALLOC(p, 2, BASE + PAGES(72));
	EXPECT_ALLOC(p, 1, BASE + PAGES(4));
	gh_pagealloc_free(p, BASE + PAGES(8), 50);
	EXPECT_ALLOC(p, 51, BASE + PAGES(74)); /* [8, 58) is one page short */
	EXPECT_ALLOC(p, 50, BASE + PAGES(8));
	EXPECT_ALLOC(p, 1, BASE + PAGES(125));
	EXPECT_CHECK(p);
}

/*
 * Scattered pages in one block, everything else in use: the refill holds exactly the free
 * pages of the block, and flushing it with a scavenged mask and refilling gives back the
 * same cache (Go's TestPageCacheFlush). Then single pages come out in order, each
 * reporting whether it was scavenged.
 */
PAGEALLOC_TEST(cache_scattered)
{
	uint64_t rng = 0x853c49e6748fea9bull;

	GH_ASSERT(gh_pagealloc_grow(p, BASE + CHUNKS(3), CHUNK_BYTES));
	gh_pagealloc_alloc_range(p, BASE + CHUNKS(3), CHUNK_PAGES);
	for (unsigned iter = 0; iter < 200; iter++) {
		unsigned block = rnd_below(&rng, CHUNK_PAGES / 64);
		uint64_t mask = rnd(&rng), scav = rnd(&rng) & mask;
		uintptr_t base = BASE + CHUNKS(3) + PAGES(64 * block), n = 0, a, s;
		struct pagecache c;

		if (iter % 4 == 0) /* a few full and empty blocks */
			mask = iter % 8 ? ~0ull : 0;
		scav &= mask;
		for (unsigned k = 0; k < 64; k++)
			if (mask >> k & 1)
				gh_pagealloc_free(p, base + PAGES(k), 1);
		c = gh_pagealloc_alloc_to_cache(p);
		if (c.base != (mask ? base : 0) || c.cache != mask || c.scav != 0 ||
		    p->free_pages != 0) {
			ght_fail(t, __FILE__, __LINE__,
				 "#%u: cache 0x%lx %016llx, want 0x%lx %016llx", iter,
				 (unsigned long)c.base, (unsigned long long)c.cache,
				 (unsigned long)base, (unsigned long long)mask);
			return;
		}
		c.scav = scav;
		gh_pagecache_flush(&c, p);
		GH_EXPECT_EQ(p->free_pages, (uint64_t)__builtin_popcountll(mask));
		c = gh_pagealloc_alloc_to_cache(p);
		if (c.base != (mask ? base : 0) || c.cache != mask || c.scav != scav) {
			ght_fail(t, __FILE__, __LINE__,
				 "#%u: round trip gave 0x%lx %016llx scav %016llx, want "
				 "0x%lx %016llx scav %016llx",
				 iter, (unsigned long)c.base, (unsigned long long)c.cache,
				 (unsigned long long)c.scav, (unsigned long)base,
				 (unsigned long long)mask, (unsigned long long)scav);
			return;
		}
		if (!EXPECT_CHECK(p))
			return;
		gh_pagecache_flush(&c, p);
		while (n < 64 && (a = gh_pagealloc_alloc(p, 1, &s)) != 0) {
			unsigned k = (unsigned)((a - base) / PAGE_SIZE);

			if (a < base || k >= 64 || !(mask >> k & 1) || s != (scav >> k & 1)) {
				ght_fail(t, __FILE__, __LINE__, "#%u: page 0x%lx, %lu scavenged",
					 iter, (unsigned long)a, (unsigned long)s);
				return;
			}
			mask &= ~(1ull << k);
			if (mask & ((1ull << k) - 1)) {
				ght_fail(t, __FILE__, __LINE__, "#%u: page %u before a lower one",
					 iter, k);
				return;
			}
			n++;
		}
		GH_EXPECT_EQ(mask, 0);
		GH_EXPECT_EQ(p->free_pages, 0);
	}
	EXPECT_CHECK(p);
}

/* --- scavenged pages ---------------------------------------------------------------------- */

/*
 * Fresh memory is not scavenged. A flushed cache's scav mask marks its pages scavenged;
 * allocations report them, and clear them.
 */
PAGEALLOC_TEST(scavenged)
{
	struct pagecache c;
	uintptr_t scav = 0x5ca7;

	GH_ASSERT(gh_pagealloc_grow(p, BASE, CHUNK_BYTES));
	EXPECT_ALLOC(p, 7, BASE);
	c = gh_pagealloc_alloc_to_cache(p);
	GH_EXPECT_EQ(c.base, BASE);
	GH_EXPECT_EQ(c.cache, ~0x7full);
	GH_EXPECT_EQ(c.scav, 0);
	c.scav = (0xfull << 8 | 0xfull << 52) & c.cache; /* pages 8-11 and 52-55 */
	gh_pagecache_flush(&c, p);
	GH_EXPECT_EQ(p->free_pages, 512 - 7);

	EXPECT_ALLOC_SCAV(p, 4, BASE + PAGES(7), 3);
	EXPECT_ALLOC_SCAV(p, 1, BASE + PAGES(11), 1);
	EXPECT_ALLOC_SCAV(p, 40, BASE + PAGES(12), 0);
	EXPECT_ALLOC_SCAV(p, 8, BASE + PAGES(52), 4);
	EXPECT_ALLOC_SCAV(p, 4, BASE + PAGES(60), 0);
	/* Allocation cleared the bits: freed and taken again, nothing is scavenged. */
	gh_pagealloc_free(p, BASE + PAGES(50), 10);
	EXPECT_ALLOC_SCAV(p, 10, BASE + PAGES(50), 0);

	/* A run across blocks counts the scavenged pages of both. */
	c = gh_pagealloc_alloc_to_cache(p);
	GH_EXPECT_EQ(c.base, BASE + PAGES(64));
	GH_EXPECT_EQ(c.cache, ~0ull);
	c.scav = 0xc000000000000001ull; /* pages 64, 126, 127 */
	gh_pagecache_flush(&c, p);
	c = gh_pagealloc_alloc_to_cache(p);
	GH_EXPECT_EQ(c.base, BASE + PAGES(64));
	GH_EXPECT_EQ(c.cache, ~0ull);
	GH_EXPECT_EQ(c.scav, 0xc000000000000001ull);
	GH_EXPECT_EQ(gh_pagecache_alloc(&c, 1, &scav), BASE + PAGES(64));
	GH_EXPECT_EQ(scav, 1);
	gh_pagecache_flush(&c, p);
	EXPECT_ALLOC_SCAV(p, 100, BASE + PAGES(65), 2);
	EXPECT_ALLOC_SCAV(p, 1, BASE + PAGES(165), 0);
	EXPECT_CHECK(p);
}

/* The scavenged state of each model page (the model's pages are BASE + PAGES(index)). */
static uint8_t scavenged[MODEL_PAGES];

/* The slow scavenger search: the highest free, unscavenged page below hi and the run of
 * such pages below it, at most max, not below lo nor across a chunk boundary. */
static unsigned slow_candidate(unsigned lo, unsigned hi, unsigned max, unsigned *n)
{
	for (unsigned i = hi; i-- > lo;) {
		unsigned k = 0;

		if (model.page[i] != FREE || scavenged[i])
			continue;
		while (k < max && k <= i - lo && (i - k) / CHUNK_PAGES == i / CHUNK_PAGES &&
		       model.page[i - k] == FREE && !scavenged[i - k])
			k++;
		*n = k;
		return i + 1 - k;
	}
	return NONE;
}

/* Compare the scavenger's search over pages [lo, hi) with the slow one; the run found. */
static bool expect_candidate(struct ght *t, struct pagealloc *p, unsigned lo, unsigned hi,
			     unsigned max, unsigned *idx, unsigned *npages)
{
	unsigned want_n = 0, want = slow_candidate(lo, hi, max, &want_n);
	uintptr_t want_addr = want == NONE ? 0 : BASE + PAGES(want), n = 0;
	uintptr_t got =
	    gh_pagealloc_scavenge_candidate(p, BASE + PAGES(lo), BASE + PAGES(hi), max, &n);

	*idx = want;
	*npages = want_n;
	if (got == want_addr && (got == 0 || n == want_n))
		return true;
	ght_fail(t, __FILE__, __LINE__,
		 "scavenge_candidate(pages [%u, %u), max %u) = 0x%lx +%lu, want 0x%lx +%u", lo, hi,
		 max, (unsigned long)got, (unsigned long)n, (unsigned long)want_addr, want_n);
	return false;
}

static void model_scavenge(struct pagealloc *p, unsigned idx, unsigned npages)
{
	gh_pagealloc_mark_scavenged(p, BASE + PAGES(idx), npages);
	__builtin_memset(&scavenged[idx], 1, npages);
}

/*
 * The scavenger's search and marking (gh_pagealloc_scavenge_candidate,
 * gh_pagealloc_mark_scavenged) against the model, over a random heap: chunk 0 page 50 to
 * chunk 3 page 400, and chunks 7-8. Walking the candidates down visits every free,
 * unscavenged page once; allocation then reports the scavenged pages it takes.
 */
PAGEALLOC_TEST(scavenge_candidate)
{
	const unsigned span = 12 * CHUNK_PAGES; /* queries go past the last chunk */
	uintptr_t bases[12];
	unsigned idx, n, total = 0, unscav = 0;

	for (unsigned k = 0; k < ARRAY_SIZE(bases); k++)
		bases[k] = BASE + CHUNKS(k);
	model_init(bases, ARRAY_SIZE(bases), 0x14057b7ef767814full);
	__builtin_memset(scavenged, 0, sizeof(scavenged));
	GH_ASSERT(model_grow(t, p, BASE + PAGES(50), CHUNKS(3) + PAGES(350)));
	GH_ASSERT(model_grow(t, p, BASE + CHUNKS(7), CHUNKS(2)));
	GH_ASSERT(expect_candidate(t, p, 0, span, 1000, &idx, &n));
	GH_EXPECT_EQ(idx, 8 * CHUNK_PAGES); /* the top chunk, all of it */
	GH_ASSERT(expect_candidate(t, p, 0, 3 * CHUNK_PAGES + 10, 20, &idx, &n));
	GH_EXPECT_EQ(idx, 3 * CHUNK_PAGES); /* stops at the chunk boundary */
	GH_EXPECT_EQ(n, 10);
	GH_ASSERT(expect_candidate(t, p, 4 * CHUNK_PAGES, 7 * CHUNK_PAGES, 20, &idx, &n));
	GH_EXPECT_EQ(idx, NONE);

	/* A random heap, and random free runs scavenged. */
	GH_ASSERT(model_ops(t, p, 800, 300));
	for (unsigned k = 0; k < 100; k++) {
		unsigned i = rnd_below(&model.rng, span), len = 0;

		while (model.page[i + len] == FREE && !scavenged[i + len] && len < 40)
			len++;
		if (len)
			model_scavenge(p, i, 1 + rnd_below(&model.rng, len));
	}
	for (unsigned k = 0; k < 1000; k++) {
		unsigned lo = rnd_below(&model.rng, span);
		unsigned hi = lo + 1 + rnd_below(&model.rng, span - lo);

		if (!expect_candidate(t, p, lo, hi, 1 + rnd_below(&model.rng, 600), &idx, &n)) {
			ght_log(t, "at query %u", k);
			return;
		}
	}

	/* Walk down from the top, marking each candidate: every page exactly once. */
	for (unsigned i = 0; i < span; i++)
		unscav += model.page[i] == FREE && !scavenged[i];
	for (;;) {
		GH_ASSERT(
		    expect_candidate(t, p, 0, span, 1 + rnd_below(&model.rng, 100), &idx, &n));
		if (idx == NONE)
			break;
		model_scavenge(p, idx, n);
		total += n;
	}
	GH_EXPECT_EQ(total, unscav);
	GH_EXPECT_EQ(p->free_pages, model.nfree);
	EXPECT_CHECK(p);

	/* A scavenged run allocated and freed is no longer scavenged. */
	idx = model_first_fit(3);
	GH_ASSERT(idx != NONE);
	gh_pagealloc_alloc_range(p, BASE + PAGES(idx), 3);
	gh_pagealloc_free(p, BASE + PAGES(idx), 3);
	__builtin_memset(&scavenged[idx], 0, 3);
	GH_ASSERT(expect_candidate(t, p, 0, span, 1000, &idx, &n));
	GH_EXPECT_EQ(n, 3);
	model_scavenge(p, idx, n);

	/* Every free page is scavenged now: first fit reports each one. */
	idx = model_first_fit(20);
	GH_ASSERT(idx != NONE);
	EXPECT_ALLOC_SCAV(p, 20, BASE + PAGES(idx), 20);
	model_set(idx, 20, USED);
	while (model.nfree) {
		idx = model_first_fit(1);
		if (!EXPECT_ALLOC_SCAV(p, 1, BASE + PAGES(idx), 1))
			return;
		model_set(idx, 1, USED);
	}
	EXPECT_ALLOC(p, 1, 0);
	EXPECT_CHECK(p);
}

/* --- the upper canonical half ---------------------------------------------------------------- */

/*
 * Ranges in both canonical halves, grown out of order: the bottom of the upper half, a
 * Linux-style direct map at 0xffff888000000000, 16 TiB, and the top of the lower half.
 * First fit follows the linear order, upper half first.
 */
PAGEALLOC_TEST(high_addresses)
{
	const uintptr_t u0 = 0xffff800000000000, u1 = 0xffff888000000000;
	const uintptr_t l0 = BASE, l1 = 0x00007fffff800000;
	uintptr_t bases[25] = {u0, u0 + CHUNK_BYTES, 0};

	for (unsigned k = 0; k < 16; k++)
		bases[3 + k] = u1 + CHUNKS(k);
	bases[20] = l0;
	bases[21] = l0 + CHUNK_BYTES;
	bases[23] = l1;
	bases[24] = l1 + CHUNK_BYTES;
	model_init(bases, ARRAY_SIZE(bases), 0xd1b54a32d192ed03ull);
	GH_ASSERT(model_grow(t, p, l1, 8 << 20));
	GH_ASSERT(model_grow(t, p, u1, 64 << 20));
	GH_ASSERT(model_grow(t, p, l0, 8 << 20));
	GH_ASSERT(model_grow(t, p, u0, 8 << 20));
	GH_EXPECT_EQ(p->managed_pages, 3 * 1024 + 8192);
	EXPECT_CHECK(p);
	GH_EXPECT(gh_pagealloc_manages(p, u0));
	GH_EXPECT(gh_pagealloc_manages(p, u1 + (64 << 20) - PAGE_SIZE));
	GH_EXPECT(!gh_pagealloc_manages(p, u1 + (64 << 20)));
	GH_EXPECT(!gh_pagealloc_manages(p, u1 - PAGE_SIZE));
	GH_EXPECT(gh_pagealloc_manages(p, l1 + (8 << 20) - PAGE_SIZE));
	GH_EXPECT(!gh_pagealloc_manages(p, 0));

	EXPECT_ALLOC(p, 1024, u0);
	for (unsigned k = 0; k < 8; k++)
		EXPECT_ALLOC(p, 1024, u1 + PAGES(1024 * k));
	EXPECT_ALLOC(p, 1024, l0);
	EXPECT_ALLOC(p, 1024, l1);
	EXPECT_ALLOC(p, 1, 0);
	gh_pagealloc_free(p, l1, 1024);
	gh_pagealloc_free(p, u1 + PAGES(2048), 1024);
	EXPECT_ALLOC(p, 1, u1 + PAGES(2048));
	EXPECT_ALLOC(p, 1024, l1);
	gh_pagealloc_free(p, u0, 1024);
	gh_pagealloc_free(p, u1, 2048);
	gh_pagealloc_free(p, u1 + PAGES(2048), 1);
	gh_pagealloc_free(p, u1 + PAGES(3072), 5120);
	gh_pagealloc_free(p, l0, 1024);
	gh_pagealloc_free(p, l1, 1024);
	GH_EXPECT_EQ(p->free_pages, p->managed_pages);
	EXPECT_ALLOC(p, 8193, 0);
	EXPECT_ALLOC(p, 8192, u1);
	EXPECT_ALLOC(p, 2, u0);
	gh_pagealloc_free(p, u1, 8192);
	gh_pagealloc_free(p, u0, 2);
	GH_ASSERT(EXPECT_CHECK(p));

	GH_ASSERT(model_ops(t, p, 1500, 1100));
	GH_ASSERT(model_free_all(t, p));
}

/*
 * The two ends of the linear space meet where the halves do: 2^64 - 1 and 0. Address 0 is
 * never a page ("no run"), so a run never crosses from the top of the upper half to the
 * bottom of the lower one.
 */
PAGEALLOC_TEST(address_zero)
{
	const uintptr_t top = 0xffffffffffc00000; /* the last chunk */

	GH_ASSERT(gh_pagealloc_grow(p, 0, CHUNK_BYTES));
	GH_EXPECT_EQ(p->managed_pages, CHUNK_PAGES - 1);
	GH_ASSERT(gh_pagealloc_grow(p, top, CHUNK_BYTES - PAGE_SIZE));
	GH_EXPECT_EQ(p->managed_pages, 2 * CHUNK_PAGES - 2);
	EXPECT_CHECK(p);
	EXPECT_ALLOC(p, CHUNK_PAGES, 0);
	EXPECT_ALLOC(p, CHUNK_PAGES - 1, top);
	EXPECT_ALLOC(p, CHUNK_PAGES - 1, PAGE_SIZE);
	EXPECT_ALLOC(p, 1, 0);
	gh_pagealloc_free(p, PAGE_SIZE, CHUNK_PAGES - 1);
	gh_pagealloc_free(p, top, CHUNK_PAGES - 1);
	EXPECT_CHECK(p);
}
