/*
 * gc_test.c — the collector, in both runners: what is reachable survives
 * (lists, trees, cycles, an interior pointer held only on a stack, a
 * pointer held only in a register, gh_malloc_scanned memory, large
 * objects scanned in pieces), what is not comes back, finalizers run once
 * and never early, the write barrier under pointer mutation on every CPU
 * with checkmark verifying every cycle, collection while other CPUs use
 * gh_malloc, exhaustion, and bad input.
 *
 * Objects carry a check word derived from their address and a tag, so an
 * object freed and reused while still reachable is caught when it is
 * walked.
 */
#include "../../alloc/mgc.h"
#include "../ghtest.h"
#include "collector_off.h"

struct node {
	uint64_t check;
	struct node *next, *left, *right;
	uint64_t val;
};
GH_TYPE(node_type, struct node, next, left, right);

static uint64_t check_of(const struct node *n, uint64_t val)
{
	return ((uintptr_t)n * 0x9e3779b97f4a7c15ull) ^ val;
}

static struct node *new_node(uint64_t val)
{
	struct node *n = gh_new(&node_type);
	if (n) {
		n->val = val;
		n->check = check_of(n, val);
	}
	return n;
}

static bool node_ok(const struct node *n)
{
	return n && n->check == check_of(n, n->val);
}

static uint64_t heap_alloc(void)
{
	struct gh_memstats m;
	gh_read_memstats(&m);
	return m.HeapAlloc;
}

/* Collect until the heap stops shrinking: a cycle's finalizers free
 * objects only in the next one. */
static uint64_t collect(void)
{
	ght_clobber_stack();
	gh_gc();
	gh_gc();
	return heap_alloc();
}

/* Run the finalizers queued so far, and wait for those another CPU took
 * to return: an idle CPU of the kernel runs them too, and one that was
 * not given the host's processor for a while (QEMU's emulation) may hold
 * one it took for several cycles. */
static void finish_finalizers(void)
{
	gh_run_finalizers();
	for (unsigned spins = 0; __atomic_load_n(&gh_gcs.finalizers_run, __ATOMIC_ACQUIRE) !=
				 __atomic_load_n(&gh_gcs.finalizers_queued, __ATOMIC_ACQUIRE);)
		gh_port_relax(++spins);
}

/* gh_heap_check with the world stopped: it is exact only while no other
 * CPU allocates or frees, and after a collection an idle CPU of the
 * kernel gives its cached spans back (goheap_idle) whenever it likes. */
static int heap_check(void)
{
	gh_port_stop_world();
	int r = gh_heap_check();
	gh_port_start_world();
	return r;
}

static struct node *root_list, *root_tree, *root_ring;

__attribute__((noinline)) static struct node *make_list(unsigned n)
{
	struct node *head = NULL;
	for (unsigned i = 0; i < n; i++) {
		struct node *x = new_node(i);
		if (!x)
			return NULL;
		GH_STORE_PTR(&x->next, head);
		head = x;
	}
	return head;
}

__attribute__((noinline)) static struct node *make_tree(unsigned depth, uint64_t val)
{
	struct node *n = new_node(val);
	if (n && depth) {
		GH_STORE_PTR(&n->left, make_tree(depth - 1, 2 * val));
		GH_STORE_PTR(&n->right, make_tree(depth - 1, 2 * val + 1));
	}
	return n;
}

static unsigned walk_tree(const struct node *n, unsigned depth, uint64_t val)
{
	if (!node_ok(n) || n->val != val)
		return 1u << 30;
	if (!depth)
		return 1;
	return 1 + walk_tree(n->left, depth - 1, 2 * val) +
	       walk_tree(n->right, depth - 1, 2 * val + 1);
}

__attribute__((noinline)) static void churn(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		(void)make_tree(4, i); /* garbage at once */
}

/*
 * For a failure message: where the roots the collector scans conservatively
 * (stacks with their saved registers, the registered ranges, queued
 * finalizers; not gh_malloc_scanned memory or the heap) still hold an
 * address in [lo, hi), or, with lo 0, of any collected object. Found with
 * the world stopped, logged after it starts.
 */
struct refs {
	uintptr_t lo, hi;
	unsigned n;
	struct ref {
		uintptr_t at, top, value; /* top: of the stack, 0 outside the stacks */
	} hit[8];
};

static void refs_in(struct refs *r, uintptr_t top, uintptr_t lo, uintptr_t hi)
{
	struct mspan *s;
	uint32_t idx;
	for (uintptr_t p = gh_align_up(lo, 8); p + 8 <= hi && r->n < 8; p += 8) {
		uintptr_t v = *(const uintptr_t *)p;
		if (!(r->lo ? v >= r->lo && v < r->hi : gh_find_object(v, &s, &idx) != 0))
			continue;
		unsigned i = 0;
		while (i < r->n && r->hit[i].value != v)
			i++;
		if (i == r->n) /* the first copy of each */
			r->hit[r->n++] = (struct ref){p, top, v};
	}
}

static void refs_in_stack(void *ctx, uintptr_t lo, uintptr_t hi)
{
	refs_in(ctx, hi, lo, hi);
}

static void report_refs(struct ght *t, uintptr_t lo, uintptr_t hi)
{
	struct refs r = {lo, hi, 0, {{0}}};
	gh_port_stop_world();
	gh_port_scan_stacks(refs_in_stack, &r);
	for (struct gc_root *g = gh_gcs.roots; g; g = g->next)
		refs_in(&r, 0, g->base, g->base + g->len);
	for (struct special *q = gh_gcs.finq; q; q = q->next)
		refs_in(&r, 0, (uintptr_t)&q->obj, (uintptr_t)(&q->obj + 1));
	gh_port_start_world();
	if (!r.n)
		ght_log(t, "no root holds an address of it");
	for (unsigned i = 0; i < r.n; i++)
		if (r.hit[i].top)
			ght_log(t, "%p held at %p, %lu bytes below the top of the stack at %p",
				(void *)r.hit[i].value, (void *)r.hit[i].at,
				(unsigned long)(r.hit[i].top - r.hit[i].at), (void *)r.hit[i].top);
		else
			ght_log(t, "%p held at %p, outside the stacks", (void *)r.hit[i].value,
				(void *)r.hit[i].at);
}

/* The walks are out of line: a node they stop at, left in a callee-saved
 * register of the test, would keep the rest of the list or the whole ring
 * past the roots' removal. */
__attribute__((noinline)) static unsigned list_length(void)
{
	unsigned n = 0;
	for (const struct node *x = root_list; x; x = x->next, n++)
		if (!node_ok(x) || x->val != 19999 - n)
			break;
	return n;
}

/* The nodes in order up to the first again; 0 when it is not a ring. */
__attribute__((noinline)) static unsigned ring_length(void)
{
	const struct node *x = root_ring;
	unsigned n = 0;
	for (; n < 1000 && node_ok(x) && x->val == n; n++)
		x = x->next;
	return x == root_ring ? n : 0;
}

GH_TEST(gc, reachable_survives_unreachable_comes_back)
{
	uint64_t base = collect();
	gh_gc_add_root(&root_list, sizeof(root_list));
	gh_gc_add_root(&root_tree, sizeof(root_tree));
	gh_gc_add_root(&root_ring, sizeof(root_ring));
	root_list = make_list(20000);
	root_tree = make_tree(12, 1);
	/* a ring: a cycle that only a root reaches */
	struct node *first = new_node(0), *prev = first;
	for (unsigned i = 1; i < 1000; i++) {
		struct node *x = new_node(i);
		GH_STORE_PTR(&prev->next, x);
		prev = x;
	}
	GH_STORE_PTR(&prev->next, first);
	root_ring = first;
	first = prev = NULL;
	for (int round = 0; round < 3; round++) {
		churn(2000);
		ght_clobber_stack();
		gh_gc();
		GH_EXPECT_EQ(list_length(), 20000);
		GH_EXPECT_EQ(walk_tree(root_tree, 12, 1), (1u << 13) - 1);
		GH_EXPECT_EQ(ring_length(), 1000);
	}
	GH_EXPECT_EQ(heap_check(), 0);
	root_list = root_tree = root_ring = NULL;
	gh_gc_remove_root(&root_list);
	gh_gc_remove_root(&root_tree);
	gh_gc_remove_root(&root_ring);
	uint64_t after = collect();
	/* back to the baseline, give or take what stale words hold */
	GH_EXPECT_LE(after, base + 64 * 1024);
	if (after > base + 64 * 1024)
		report_refs(t, 0, 0);
	GH_EXPECT_EQ(heap_check(), 0);
}

/* Only an interior pointer on the stack keeps these. */
__attribute__((noinline)) static unsigned interior_only(void)
{
	enum { N = 64 };
	volatile uintptr_t inner[N];
	for (unsigned i = 0; i < N; i++) {
		struct node *n = make_tree(3, i);
		inner[i] = (uintptr_t)n + 8 + i % 24; /* inside, never the start */
	}
	churn(3000);
	ght_clobber_stack();
	gh_gc();
	churn(3000);
	unsigned bad = 0;
	for (unsigned i = 0; i < N; i++) {
		const struct node *n = (const struct node *)((inner[i] - 8 - i % 24));
		bad += walk_tree(n, 3, i) != 15;
	}
	return bad;
}

GH_TEST(gc, interior_pointer_on_the_stack)
{
	GH_EXPECT_EQ(interior_only(), 0);
}

/* Only a callee-saved register holds the tree across a collection. */
__attribute__((noinline)) static unsigned in_register_only(void)
{
	register uintptr_t r __asm__("r12") = (uintptr_t)make_tree(6, 7);
	__asm__ volatile("" : "+r"(r));
	ght_clobber_stack();
	churn(2000);
	gh_gc();
	churn(2000);
	__asm__ volatile("" : "+r"(r));
	return walk_tree((const struct node *)r, 6, 7);
}

GH_TEST(gc, pointer_in_a_register)
{
	GH_EXPECT_EQ(in_register_only(), 127);
}

/* GH_STORE_PTR's test of the barrier flag and its store are one sequence:
 * a stop that interrupts it anywhere before the store sends it back to the
 * test (gh_store_restart, which the ports' interrupt and signal entries
 * call); one after the store, or outside, leaves it be. And the store
 * stores, with the barrier off and on. */
GH_TEST(gc, store_sequence_restarts_before_its_store)
{
	uintptr_t start = (uintptr_t)gh_store_ptr, done = (uintptr_t)gh_store_ptr_done;
	GH_EXPECT_GT(done, start);
	GH_EXPECT_LE(done - start, 32);
	unsigned rewound = 0;
	for (uintptr_t pc = start; pc < done; pc++) {
		uintptr_t at = pc;
		gh_store_restart(&at);
		rewound += at == start;
	}
	GH_EXPECT_EQ(rewound, done - start);
	uintptr_t after = done, before = start - 1;
	gh_store_restart(&after);
	gh_store_restart(&before);
	GH_EXPECT_EQ(after, done);
	GH_EXPECT_EQ(before, start - 1);

	struct node *a = new_node(1), *b = new_node(2);
	GH_EXPECT(a && b);
	if (!a || !b)
		return;
	GH_STORE_PTR(&a->next, b);
	GH_EXPECT(a->next == b);
	bool was = __atomic_exchange_n(&gh_wb_enabled, true, __ATOMIC_RELAXED);
	GH_STORE_PTR(&a->next, a); /* through gh_wb_store, not marking: a plain store */
	__atomic_store_n(&gh_wb_enabled, was, __ATOMIC_RELAXED);
	GH_EXPECT(a->next == a);
}

/* gh_malloc_scanned memory is a root; gh_malloc memory is not. */
GH_TEST(gc, scanned_memory_is_a_root)
{
	struct node **holder = gh_malloc_scanned(64 * sizeof(void *));
	GH_ASSERT(holder != NULL);
	for (unsigned i = 0; i < 64; i++)
		GH_STORE_PTR(&holder[i], make_tree(2, i));
	churn(2000);
	ght_clobber_stack();
	gh_gc();
	churn(2000);
	gh_gc();
	for (unsigned i = 0; i < 64; i++)
		GH_EXPECT_EQ(walk_tree(holder[i], 2, i), 7);
	gh_free(holder);
}

/* A large array of pointers, scanned in 128 KiB oblets: pointers near its
 * end keep their objects. */
static const gh_type ptr_type = {8, 8, NULL, "pointer"};

GH_TEST(gc, large_object_in_pieces)
{
	enum { N = 100000 }; /* 800 KiB: seven oblets */
	static struct node **arr;
	gh_gc_add_root(&arr, sizeof(arr));
	arr = gh_new_array(&ptr_type, N);
	GH_ASSERT(arr != NULL);
	for (unsigned i = 0; i < N; i += 997)
		GH_STORE_PTR(&arr[i], new_node(i));
	GH_STORE_PTR(&arr[N - 1], new_node(N - 1));
	churn(2000);
	ght_clobber_stack();
	gh_gc();
	churn(2000);
	unsigned bad = 0;
	for (unsigned i = 0; i < N; i += 997)
		bad += !node_ok(arr[i]) || arr[i]->val != i;
	bad += !node_ok(arr[N - 1]);
	GH_EXPECT_EQ(bad, 0);
	arr = NULL;
	gh_gc_remove_root(&arr);
}

/* ---- finalizers ---- */

static unsigned fin_runs[8];
static void fin(void *obj, void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	__atomic_fetch_add(&fin_runs[i], 1, __ATOMIC_RELAXED);
	(void)obj;
}

static struct node *fin_keep;
/* its address, where the collector does not see it */
static volatile uintptr_t fin_hidden;
#define HIDE 0x5a5a5a5a5a5a5a5aull

__attribute__((noinline)) static void set_finalizers(void)
{
	for (unsigned i = 0; i < 8; i++) {
		struct node *n = new_node(i);
		gh_set_finalizer(n, fin, (void *)(uintptr_t)i);
		if (i == 0) {
			fin_keep = n;
			fin_hidden = (uintptr_t)n ^ HIDE;
		}
	}
}

GH_TEST(gc, finalizers_run_once_never_early)
{
	__builtin_memset(fin_runs, 0, sizeof(fin_runs));
	gh_gc_add_root(&fin_keep, sizeof(fin_keep));
	set_finalizers();
	for (int round = 0; round < 4; round++) {
		ght_clobber_stack();
		gh_gc();
		finish_finalizers();
	}
	GH_EXPECT_EQ(fin_runs[0], 0); /* still reachable: never early */
	for (unsigned i = 1; i < 8; i++)
		GH_EXPECT_EQ(fin_runs[i], 1);
	GH_EXPECT(node_ok(fin_keep));
	fin_keep = NULL;
	collect();
	finish_finalizers();
	collect();
	finish_finalizers();
	GH_EXPECT_EQ(fin_runs[0], 1);
	if (fin_runs[0] != 1)
		report_refs(t, fin_hidden ^ HIDE, (fin_hidden ^ HIDE) + sizeof(struct node));
	for (unsigned i = 1; i < 8; i++)
		GH_EXPECT_EQ(fin_runs[i], 1); /* exactly once */
	gh_gc_remove_root(&fin_keep);
	/* cleared finalizers do not run */
	struct node *n = new_node(99);
	gh_set_finalizer(n, fin, (void *)(uintptr_t)0);
	gh_set_finalizer(n, NULL, NULL);
	n = NULL;
	collect();
	finish_finalizers();
	GH_EXPECT_EQ(fin_runs[0], 1);
}

/* ---- types and bad input ---- */

struct mixed {
	uint64_t a;
	void *p;
	uint32_t b[5];
	struct mixed *q;
};
GH_TYPE(mixed_type, struct mixed, p, q);
GH_TYPE_NOSCAN(bytes_type, uint8_t[100]);

GH_TEST(gc, types_and_bad_input)
{
	GH_EXPECT_EQ(mixed_type.size, sizeof(struct mixed));
	GH_EXPECT_EQ(mixed_type.ptrdata, 48);
	GH_EXPECT_EQ(mixed_type.ptrmask[0], 0x22); /* words 1 and 5 */
	GH_EXPECT_EQ(bytes_type.ptrdata, 0);
	uint8_t *b = gh_new(&bytes_type);
	GH_ASSERT(b != NULL);
	for (unsigned i = 0; i < 100; i++)
		GH_EXPECT_EQ(b[i], 0);
	GH_EXPECT(gh_new_array(&node_type, ~(size_t)0 / 8) == NULL); /* overflow */
	static const gh_type bad = {16, 24, NULL, "bad"};
	GH_EXPECT_PANIC(gh_new(&bad), "bad type");
	GH_EXPECT_PANIC(gh_free(b), "collected object");
	uint64_t local;
	GH_EXPECT_PANIC(gh_set_finalizer(&local, fin, NULL), "not the start of a collected object");
	GH_EXPECT_PANIC(gh_set_finalizer(b + 8, fin, NULL), "not the start of a collected object");
	GH_EXPECT_PANIC(gh_gc_remove_root(&local), "not a registered root");
}

/* ---- many CPUs ---- */

/* Every CPU mutates its own slice of a shared table with GH_STORE_PTR
 * (replacing trees, moving pointers between slots) while CPU 0 also
 * collects, with checkmark verifying every cycle's marks; nothing
 * reachable may be freed. */
#define SLOTS 256
static struct node *table[SLOTS];
static unsigned mut_ready, mut_done, mut_bad;

GH_TEST_PERCPU(gc, write_barrier_under_mutation_checkmark)
{
	if (t->cpu == 0) {
		gh_gc_add_root(table, sizeof(table));
		gh_gc_set_flags(GH_GC_CHECKMARK);
		__atomic_store_n(&mut_ready, 1, __ATOMIC_RELEASE);
	}
	ght_wait_until(&mut_ready, 1);
	unsigned per = SLOTS / t->ncpu, lo = t->cpu * per;
	uint64_t seed = 12345 + t->cpu;
	for (unsigned round = 0; round < 3000; round++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned i = lo + (unsigned)(seed >> 33) % per,
			 j = lo + (unsigned)(seed >> 45) % per;
		if (round % 3 == 0) {
			GH_STORE_PTR(&table[i], make_tree(3, i));
		} else if (table[j]) { /* move: the only reference goes from j to i */
			struct node *x = table[j];
			GH_STORE_PTR(&table[j], NULL);
			GH_STORE_PTR(&table[i], x);
			if (walk_tree(x, 3, i == j ? x->val : x->val) != 15)
				__atomic_fetch_add(&mut_bad, 1, __ATOMIC_RELAXED);
		}
		if (t->cpu == 0 && round % 300 == 0)
			gh_gc();
	}
	__atomic_fetch_add(&mut_done, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&mut_done, __ATOMIC_ACQUIRE) < t->ncpu)
		if (t->cpu == 0)
			gh_gc();
	if (t->cpu == 0) {
		gh_gc();
		for (unsigned i = 0; i < SLOTS; i++)
			if (table[i] && walk_tree(table[i], 3, table[i]->val) != 15)
				mut_bad++;
		struct gh_gc_stats st;
		gh_gc_read_stats(&st);
		GH_EXPECT_EQ(st.checkmark_errors, 0);
		GH_EXPECT_EQ(mut_bad, 0);
		gh_gc_set_flags(0);
		__builtin_memset(table, 0, sizeof(table));
		gh_gc_remove_root(table);
		collect();
	}
}

/* Stress: every CPU builds and drops graphs while a collection runs every
 * 500 collected allocations, each verified by checkmark. */
static unsigned stress_done;
GH_TEST_PERCPU(gc, stress_every_cpu_checkmark)
{
	if (t->cpu == 0) {
		gh_gc_set_flags(GH_GC_CHECKMARK);
		gh_gc_stress(500);
	}
	unsigned bad = 0;
	for (unsigned round = 0; round < 40; round++) {
		struct node *keep = make_tree(6, round);
		churn(20);
		bad += walk_tree(keep, 6, round) != 127;
	}
	GH_EXPECT_EQ(bad, 0);
	__atomic_fetch_add(&stress_done, 1, __ATOMIC_ACQ_REL);
	if (t->cpu == 0) {
		ght_wait_until(&stress_done, t->ncpu);
		gh_gc_stress(0);
		gh_gc_set_flags(0);
		struct gh_gc_stats st;
		gh_gc_read_stats(&st);
		GH_EXPECT_EQ(st.checkmark_errors, 0);
		collect();
	}
}

/* Collection while the other CPUs use gh_malloc and gh_free. */
static unsigned along_done;
GH_TEST_PERCPU(gc, collects_while_others_malloc)
{
	if (t->cpu == 0 || t->ncpu == 1) {
		uint64_t cycles0;
		struct gh_gc_stats st;
		gh_gc_read_stats(&st);
		cycles0 = st.cycles;
		for (unsigned i = 0; i < 20; i++) {
			struct node *keep = make_tree(5, i);
			churn(200);
			gh_gc();
			GH_EXPECT_EQ(walk_tree(keep, 5, i), 63);
		}
		gh_gc_read_stats(&st);
		GH_EXPECT_GE(st.cycles, cycles0 + 20);
	}
	if (t->cpu != 0 || t->ncpu == 1) {
		void *ring[64] = {0};
		for (unsigned i = 0; i < 20000; i++) {
			unsigned k = i % 64;
			gh_free(ring[k]);
			ring[k] = gh_malloc(16 + (i * 37) % 2000);
			if (ring[k])
				((uint8_t *)ring[k])[0] = (uint8_t)i;
		}
		for (unsigned k = 0; k < 64; k++)
			gh_free(ring[k]);
	}
	__atomic_fetch_add(&along_done, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&along_done, t->ncpu);
}

/* Exhaustion: gh_new returns NULL once even a full cycle frees nothing,
 * in every size down to small objects; what is dropped then serves again.
 * Beyond 256 MiB of free memory, page runs take the rest first (zeroing
 * gigabytes of objects is slow under emulation). */
static void **exhaust_hold;
static void *hog[4096];
static size_t hog_pages[4096];

static unsigned hog_memory(uint64_t leave)
{
	unsigned n = 0;
	struct gh_page_stats st;
	gh_page_stats(&st);
	uint64_t left = st.free + st.cached;
	for (size_t pages = 65536; pages >= 1 && n < 4096 && left > leave;) {
		size_t want = (left - leave) / GH_PAGE_SIZE;
		if (want < pages) {
			pages /= 2;
			continue;
		}
		hog[n] = gh_page_alloc(pages, 0);
		if (!hog[n]) {
			pages /= 2;
			continue;
		}
		hog_pages[n++] = pages;
		left -= pages * GH_PAGE_SIZE;
	}
	return n;
}

GH_TEST(gc, exhaustion_returns_null_then_recovers)
{
	enum { MAX = 1 << 18 };
	static const gh_type sizes[] = {{1 << 20, 8, NULL, "1M"},
					{64 << 10, 8, NULL, "64K"},
					{4 << 10, 8, NULL, "4K"},
					{256, 8, NULL, "256"},
					{48, 8, NULL, "48"}};
	collect();
	unsigned nhog = hog_memory(256u << 20);
	gh_gc_add_root(&exhaust_hold, sizeof(exhaust_hold));
	exhaust_hold = gh_malloc_scanned(MAX * sizeof(void *));
	GH_ASSERT(exhaust_hold != NULL);
	unsigned n = 0, first = 0;
	for (unsigned k = 0; k < 5; k++) {
		while (n < MAX) {
			void *p = gh_new(&sizes[k]);
			if (!p)
				break;
			GH_STORE_PTR(&exhaust_hold[n], p);
			n++;
		}
		if (k == 0)
			first = n;
		GH_EXPECT_LT(n, MAX); /* every size runs out, down to the smallest */
	}
	GH_EXPECT_GT(first, 16);
	for (unsigned i = 0; i < n; i++)
		GH_STORE_PTR(&exhaust_hold[i], NULL);
	collect();
	unsigned again = 0;
	while (again < first / 2 && gh_new(&sizes[0]))
		again++;
	GH_EXPECT_EQ(again, first / 2);
	gh_free(exhaust_hold);
	exhaust_hold = NULL;
	gh_gc_remove_root(&exhaust_hold);
	for (unsigned i = 0; i < nhog; i++)
		gh_page_free(hog[i], hog_pages[i]);
	collect();
	GH_EXPECT_EQ(heap_check(), 0);
}

/* A large object whose allocation starts a cycle survives it: the cycle
 * must find it through the allocating CPU's stack. */
static void **big_root;
GH_TEST(gc, large_object_that_starts_a_cycle)
{
	gh_gc_add_root(&big_root, sizeof(big_root));
	for (unsigned i = 0; i < 4; i++) {
		GH_STORE_PTR(&big_root,
			     gh_new_array(&ptr_type, 1u << 20)); /* 8 MiB: past the trigger */
		GH_ASSERT(big_root != NULL);
		ght_clobber_stack();
		gh_gc();
		struct mspan *s;
		uint32_t idx;
		GH_EXPECT_EQ(gh_find_object((uintptr_t)big_root, &s, &idx), (uintptr_t)big_root);
	}
	big_root = NULL;
	gh_gc_remove_root(&big_root);
	collect();
}

/* gctrace's line (GH_GC_TRACE prints it after each cycle) in Go's format,
 * with the collector's own figures in it. */
GH_TEST(gc, trace_line_in_go_format)
{
	gh_gc();
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	char line[256], want[96];
	size_t len = gc_trace_format(line, sizeof(line));
	GH_EXPECT_GT(len, 0);
	GH_EXPECT_LT(len, sizeof(line) - 1);
	size_t n = gh_format(want, sizeof(want), "gc %lu @", (unsigned long)st.cycles);
	GH_EXPECT(len >= n && __builtin_memcmp(line, want, n) == 0); /* starts so */
	n = gh_format(want, sizeof(want), "->%lu MB, %lu MB goal, %u P (forced)",
		      (unsigned long)(st.heap_marked >> 20), (unsigned long)(st.heap_goal >> 20),
		      gh_port_nprocs());
	GH_EXPECT(len >= n && __builtin_memcmp(line + len - n, want, n) == 0); /* ends so */
	GH_EXPECT(ght_contains(line, "%: "));
	GH_EXPECT(ght_contains(line, " ms clock, "));
	GH_EXPECT(ght_contains(line, " ms cpu, "));
	if (t->failures)
		ght_log(t, "%s", line);
}

/* Go's PauseNs: one entry per cycle, the sum of its stops, so that the
 * entries of n cycles add up to what PauseTotalNs grew by. */
GH_TEST(gc, pauses_by_cycle)
{
	int old = collector_off(); /* only gh_gc's cycles */
	static struct gh_memstats a, b;
	gh_read_memstats(&a);
	for (int i = 0; i < 3; i++)
		gh_gc();
	gh_read_memstats(&b);
	gh_set_gc_percent(old);
	GH_EXPECT_EQ(b.NumGC, a.NumGC + 3);
	uint64_t sum = 0;
	for (uint32_t n = a.NumGC + 1; n <= b.NumGC; n++) {
		uint64_t p = b.PauseNs[(n + 255) % 256];
		GH_EXPECT_GT(p, 0);
		GH_EXPECT_GT(b.PauseEnd[(n + 255) % 256], b.PauseEnd[(n + 254) % 256]);
		sum += p;
	}
	GH_EXPECT_EQ(sum, b.PauseTotalNs - a.PauseTotalNs);
	GH_EXPECT_EQ(b.PauseEnd[(b.NumGC + 255) % 256], b.LastGC);
	GH_EXPECT_EQ(b.PauseNs[(a.NumGC + 255) % 256], a.PauseNs[(a.NumGC + 255) % 256]);
}

/* Each kind of type gh_new handles, allocated in runs (its fast path
 * keeps the last type) and interleaved: objects with heap bits whose
 * type has a word that is not a pointer, objects with a type header,
 * and pointer-free ones. What the pointer words reach survives; what
 * only the non-pointer word holds is collected (its finalizer runs). */
struct holey {
	struct holey *next;
	uintptr_t hidden; /* looks like a pointer, is not one */
	struct node *keep;
};
GH_TYPE(holey_type, struct holey, next, keep);
struct wide {
	struct wide *next;
	uint64_t data[70];
	struct node *tail;
};
GH_TYPE(wide_type, struct wide, next, tail);

static struct holey *holey_list;
static struct wide *wide_list;
static uint32_t hidden_freed;

static void count_hidden(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	__atomic_fetch_add(&hidden_freed, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static bool build_kinds(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct holey *run[3];
		unsigned len = 1 + i % 3; /* runs of 1 to 3 of a type */
		for (unsigned k = 0; k < len; k++)
			if (!(run[k] = gh_new(&holey_type)))
				return false;
		for (unsigned k = 0; k < len; k++) {
			struct holey *h = run[k];
			struct node *hidden = new_node(i), *keep = new_node(i);
			if (!hidden || !keep)
				return false;
			gh_set_finalizer(hidden, count_hidden, NULL);
			h->hidden = (uintptr_t)hidden;
			GH_STORE_PTR(&h->keep, keep);
			GH_STORE_PTR(&h->next, holey_list);
			GH_STORE_PTR(&holey_list, h);
		}
		struct wide *w = gh_new(&wide_type);
		struct node *tail = new_node(i);
		if (!w || !tail || !gh_new(&bytes_type))
			return false;
		w->data[i % 70] = i;
		GH_STORE_PTR(&w->tail, tail);
		GH_STORE_PTR(&w->next, wide_list);
		GH_STORE_PTR(&wide_list, w);
	}
	return true;
}

GH_TEST(gc, every_kind_of_type_scanned_precisely)
{
	enum { N = 300 };
	gh_gc_add_root(&holey_list, sizeof(holey_list));
	gh_gc_add_root(&wide_list, sizeof(wide_list));
	__atomic_store_n(&hidden_freed, 0, __ATOMIC_RELAXED);
	GH_ASSERT(build_kinds(N));
	unsigned held = 0;
	for (const struct holey *h = holey_list; h; h = h->next)
		held++;
	for (int round = 0; round < 4; round++) {
		ght_clobber_stack();
		gh_gc();
		finish_finalizers();
	}
	unsigned holeys = 0, wides = 0;
	for (const struct holey *h = holey_list; h; h = h->next)
		holeys += node_ok(h->keep);
	for (unsigned i = N; wide_list && i-- > 0; wide_list = wide_list->next)
		wides += node_ok(wide_list->tail) && wide_list->tail->val == i &&
			 wide_list->data[i % 70] == i;
	GH_EXPECT_EQ(holeys, held);
	GH_EXPECT_EQ(wides, N);
	GH_EXPECT_EQ(__atomic_load_n(&hidden_freed, __ATOMIC_RELAXED), held);
	holey_list = NULL;
	wide_list = NULL;
	gh_gc_remove_root(&holey_list);
	gh_gc_remove_root(&wide_list);
	collect();
}

/* The pacer's trigger (Go 1.21's trigger()): the goal less the runway,
 * no earlier than 0.7 of the way from marked to the goal and no later than
 * 0.95 of it, or 4 MiB short of the goal when that is later. */
GH_TEST(gc, pacer_trigger_between_its_bounds)
{
	const uint64_t M = 1u << 20, G = 1u << 30;
	uint64_t min = 10 * M + 10 * M / 64 * 45, max = 10 * M + 10 * M / 64 * 61;
	GH_EXPECT_EQ(gc_pacer_trigger(10 * M, 20 * M, 0), max);
	GH_EXPECT_EQ(gc_pacer_trigger(10 * M, 20 * M, 2 * M), 18 * M);
	GH_EXPECT_EQ(gc_pacer_trigger(10 * M, 20 * M, 5 * M), min);
	GH_EXPECT_EQ(gc_pacer_trigger(10 * M, 20 * M, 30 * M), min);
	/* a large heap: up to 4 MiB short of the goal */
	GH_EXPECT_EQ(gc_pacer_trigger(G, 2 * G, M), 2 * G - 4 * M);
	GH_EXPECT_EQ(gc_pacer_trigger(G, 2 * G, 100 * M), 2 * G - 100 * M);
	/* nothing between marked and the goal: the goal */
	GH_EXPECT_EQ(gc_pacer_trigger(30 * M, 20 * M, M), 20 * M);
	GH_EXPECT_EQ(gc_pacer_trigger(20 * M, 20 * M, 0), 20 * M);
}

/* The cons/mark ratio of a mark: bytes allocated per mutator CPU time
 * against bytes scanned per collector CPU time, background marking past
 * 25% counting as idle. */
GH_TEST(gc, pacer_cons_mark_ratio)
{
	const uint64_t M = 1u << 20, ms = 1000000;
	/* 10 ms on 2 CPUs: assists took 5 ms (u = 0.25 + 0.25) and the
	 * background 10 ms (0.5, of which 0.25 idle); 4 MiB allocated, 12
	 * scanned: 4/12 * (0.5 + 0.25) / 0.5 = 0.5 */
	GH_EXPECT_EQ(gc_pacer_cons_mark(4 * M, 12 * M, 20 * ms, 5 * ms, 10 * ms), 512);
	/* no assists, background at its 25%: 4/12 * 0.25 / 0.75 */
	GH_EXPECT_EQ(gc_pacer_cons_mark(4 * M, 12 * M, 20 * ms, 0, 5 * ms), 113);
	/* twice the allocation, twice the ratio */
	GH_EXPECT_EQ(gc_pacer_cons_mark(8 * M, 12 * M, 20 * ms, 0, 5 * ms), 227);
	/* nothing scanned, or no time: no estimate */
	GH_EXPECT_EQ(gc_pacer_cons_mark(4 * M, 0, 20 * ms, 0, 5 * ms), 0);
	GH_EXPECT_EQ(gc_pacer_cons_mark(4 * M, 12 * M, 0, 0, 0), 0);
	/* the mutator kept at least 1/16 of the CPU: no division by zero */
	GH_EXPECT(gc_pacer_cons_mark(M, M, 20 * ms, 20 * ms, 0) > 0);
}

/* The goal: what the mark marked plus GOGC% of what it traced (the
 * objects allocated black are carried, not grown from), at least GOGC% of
 * 4 MiB (Go's heap minimum). */
GH_TEST(gc, pacer_goal_from_traced)
{
	const uint64_t M = 1u << 20;
	GH_EXPECT_EQ(gc_pacer_goal(10 * M, 0, 100), 20 * M);
	GH_EXPECT_EQ(gc_pacer_goal(10 * M, 0, 50), 15 * M);
	GH_EXPECT_EQ(gc_pacer_goal(10 * M, 0, 0), 10 * M);
	GH_EXPECT_EQ(gc_pacer_goal(M, 0, 100), 4 * M);
	GH_EXPECT_EQ(gc_pacer_goal(3 * M, 0, 200), 9 * M);
	GH_EXPECT_EQ(gc_pacer_goal(M, 0, 200), 8 * M);
	/* 4 MiB traced and 2 MiB allocated black: 6 + 4, not 6 + 6 */
	GH_EXPECT_EQ(gc_pacer_goal(6 * M, 2 * M, 100), 10 * M);
	GH_EXPECT_EQ(gc_pacer_goal(12 * M, 4 * M, 50), 16 * M);
	GH_EXPECT_EQ(gc_pacer_goal(12 * M, 4 * M, 0), 12 * M);
	/* all of it black: the minimum */
	GH_EXPECT_EQ(gc_pacer_goal(6 * M, 6 * M, 100), 6 * M);
	GH_EXPECT_EQ(gc_pacer_goal(3 * M, 3 * M, 100), 4 * M);
}

/* A concurrent mark held open: started while this CPU counts as one still
 * draining (gh_gcs.nbusy), which no mark ends under, however soon the
 * others have marked everything. False if it did not start. */
static bool mark_held_open(void)
{
	__atomic_fetch_add(&gh_gcs.nbusy, 1, __ATOMIC_ACQ_REL);
	gc_start(true);
	return gc_marking();
}

/* Let the held mark end, help it to, and wait for its figures (written
 * under the collector's lock). */
static void mark_let_end(void)
{
	__atomic_fetch_sub(&gh_gcs.nbusy, 1, __ATOMIC_ACQ_REL);
	while (gc_marking())
		gh_gc_background(1000000);
	gc_lock();
	gc_unlock();
}

/* This CPU's scan work so far. */
static uint64_t scan_work_here(void)
{
	unsigned long irq = gh_port_irq_save();
	uint64_t work = gh_mheap.cpus[gh_port_cpu()].gc.gcw.scan_work;
	gh_port_irq_restore(irq);
	return work;
}

/* Grey n objects by hand into this CPU's gcWork, where only this CPU's
 * marking finds them; returns its scan work before. */
static uint64_t grey_here(struct node **objs, unsigned n)
{
	uint64_t work = scan_work_here();
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	for (unsigned i = 0; i < n; i++)
		gh_greyobject(&c->gc.gcw, (uintptr_t)objs[i]);
	gh_port_irq_restore(irq);
	return work;
}

/*
 * A small mark is left to assists while they move it: background marking
 * on a CPU does nothing at its first call in the cycle, nor when scan work
 * was done since its last call; a call that finds none done marks. A
 * large mark it marks at once. Trees no root reaches are greyed by hand
 * into this CPU's gcWork, where only this CPU's marking can take them
 * (the test's calls, or a kernel tick's, which counts the same), in a
 * mark held open.
 */
GH_TEST(gc, background_leaves_a_small_mark_to_assists)
{
	enum { N = 16 };
	int old = collector_off();
	struct node **trees = gh_malloc(2 * N * sizeof(*trees));
	GH_ASSERT(trees != NULL);
	for (unsigned i = 0; i < 2 * N; i++)
		trees[i] = make_tree(4, i);
	bool held = mark_held_open();
	enum gh_gc_background_result first = GH_GC_BG_DONE, moved = GH_GC_BG_DONE,
				     stalled = GH_GC_BG_DEFER, large = GH_GC_BG_DEFER;
	uint64_t w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0;
	if (held) {
		__atomic_store_n(&gh_gcs.scan_expected, LOCAL_MARK_MAX, __ATOMIC_RELAXED);
		w0 = grey_here(trees, N);
		/* Interrupts off: this CPU's own background marking (a kernel
		 * tick's, one left pending by the stop that started the mark)
		 * does not call in between. Its first call in the cycle is
		 * made here, as if none had come before. */
		unsigned long irq = gh_port_irq_save();
		struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
		c->gc.bg_cycle = gh_gcs.cycle - 1;
		first = gh_gc_background(1000000000);
		__atomic_fetch_add(&gh_gcs.scan_done, 1, __ATOMIC_RELAXED); /* an assist's */
		moved = gh_gc_background(1000000000);
		gh_port_irq_restore(irq);
		w1 = scan_work_here();
		/* other CPUs' background marking may move it too, but soon
		 * finds nothing left to scan: a later call sees no progress */
		uint64_t t0 = gh_port_nanotime();
		do
			stalled = gh_gc_background(1000000000);
		while (stalled == GH_GC_BG_DEFER && gh_port_nanotime() - t0 < 2000000000u);
		w2 = scan_work_here();
		__atomic_store_n(&gh_gcs.scan_expected, LOCAL_MARK_MAX + 1, __ATOMIC_RELAXED);
		w3 = grey_here(trees + N, N);
		large = gh_gc_background(1000000000);
		w4 = scan_work_here();
	}
	mark_let_end();
	gh_free(trees);
	gh_set_gc_percent(old);
	collect();
	GH_ASSERT(held);
	GH_EXPECT_EQ(first, GH_GC_BG_DEFER);
	GH_EXPECT_EQ(moved, GH_GC_BG_DEFER);
	/* nothing scanned while it deferred */
	GH_EXPECT_EQ(w1, w0);
	GH_EXPECT_EQ(stalled, GH_GC_BG_MORE); /* the mark is held open */
	GH_EXPECT_GT(w2, w1);
	GH_EXPECT_EQ(large, GH_GC_BG_MORE);
	GH_EXPECT_GT(w4, w3);
}

/* What was left below the stack pointer: BELOW_SP words copied before any
 * call of the test's lays a frame over them. */
enum { BELOW_SP = 2048 };
static uintptr_t below_sp[BELOW_SP];

/* Copy n words (at most BELOW_SP) from below the caller's frame. */
__attribute__((noinline)) GH_NO_SANITIZE static void copy_below_sp(unsigned n)
{
	const volatile uintptr_t *fp = __builtin_frame_address(0);
	for (unsigned i = 0; i < n && i < BELOW_SP; i++)
		below_sp[i] = fp[-1 - (long)i];
}

/*
 * Background marking leaves no pointer to what it marked on the stack
 * below its caller: frames laid over that stack later (an interrupt's,
 * whose saved registers a stop scans, or a call's, with slots it does not
 * write) would hand it to the conservative scan at the next cycle's start,
 * which keeps what it reaches, a whole list from one of its nodes. Trees
 * no root reaches, listed in memory the collector does not scan, are
 * greyed by hand in a mark held open and marked by gh_gc_background on
 * this CPU; then the 4 KiB below the stack pointer are searched for their
 * nodes.
 */
GH_TEST(gc, marking_leaves_no_pointer_below_the_stack)
{
	enum { N = 64 };
	int old = collector_off();
	struct node **trees = gh_malloc(N * sizeof(*trees));
	GH_ASSERT(trees != NULL);
	for (unsigned i = 0; i < N; i++)
		trees[i] = make_tree(4, i);
	bool held = mark_held_open();
	uint64_t before = 0, after = 0;
	if (held) {
		before = grey_here(trees, N);
		ght_clobber_stack();
		/* the mark is small: the first call leaves it to assists, the
		 * next one finds none moved it */
		while (gh_gc_background(1000000000) == GH_GC_BG_DEFER)
			;
		copy_below_sp(512);
		after = scan_work_here();
	}
	mark_let_end();
	unsigned found = 0;
	for (unsigned i = 0; i < 512; i++) {
		struct mspan *s;
		uint32_t idx;
		uintptr_t base = gh_find_object(below_sp[i], &s, &idx);
		if (base && s->elemsize >= sizeof(struct node) &&
		    node_ok((const struct node *)base) && found++ < 4)
			ght_log(t, "%p, %u bytes below the stack pointer", (void *)below_sp[i],
				8 * (i + 1));
	}
	__builtin_memset(below_sp, 0, sizeof(below_sp));
	gh_free(trees);
	gh_set_gc_percent(old);
	collect();
	GH_ASSERT(held);
	GH_EXPECT_GT(after, before);
	GH_EXPECT_EQ(found, 0);
}

/* Fill the stack below the caller with a word, as deep as n words. */
__attribute__((noinline)) GH_NO_SANITIZE static void fill_below(uintptr_t v, unsigned n)
{
	volatile uintptr_t a[n];
	for (unsigned i = 0; i < n; i++)
		a[i] = v;
	__asm__ volatile("" : : "r"(a) : "memory");
}

/* Words of the first n copied from below the stack that hold v. */
static unsigned below_sp_holding(uintptr_t v, unsigned n)
{
	unsigned held = 0;
	for (unsigned i = 0; i < n; i++)
		held += below_sp[i] == v;
	return held;
}

/*
 * gh_clear_stack zeroes what the work before it left below its caller:
 * the bytes asked for and the room the port says code beneath goheap may
 * take (GH_PORT_STACK_BELOW: a signal frame, hosted), and the scratch
 * registers, xmm0-15 among them where the code may use SSE (a hosted stop
 * saves them for its scan, and the compiler and libc copy pointers
 * through them).
 */
GH_TEST(gc, clear_stack_zeroes_below_and_scratch_registers)
{
	const uintptr_t v = 0x5eed5eed5eed5eedull;
	unsigned words = (unsigned)((1024 + GH_PORT_STACK_BELOW) / sizeof(uintptr_t));
	GH_ASSERT(words <= BELOW_SP);
	fill_below(v, words + 64);
	copy_below_sp(words);
	unsigned before = below_sp_holding(v, words);
#ifdef __SSE2__
	uintptr_t in[2] = {v, v}, out[32];
	__asm__ volatile("movdqu (%0), %%xmm0\n\tmovdqa %%xmm0, %%xmm1\n\t"
			 "movdqa %%xmm0, %%xmm2\n\tmovdqa %%xmm0, %%xmm3\n\t"
			 "movdqa %%xmm0, %%xmm4\n\tmovdqa %%xmm0, %%xmm5\n\t"
			 "movdqa %%xmm0, %%xmm6\n\tmovdqa %%xmm0, %%xmm7\n\t"
			 "movdqa %%xmm0, %%xmm8\n\tmovdqa %%xmm0, %%xmm9\n\t"
			 "movdqa %%xmm0, %%xmm10\n\tmovdqa %%xmm0, %%xmm11\n\t"
			 "movdqa %%xmm0, %%xmm12\n\tmovdqa %%xmm0, %%xmm13\n\t"
			 "movdqa %%xmm0, %%xmm14\n\tmovdqa %%xmm0, %%xmm15"
			 :
			 : "r"(in)
			 : "memory");
#endif
	gh_clear_stack(1024);
#ifdef __SSE2__
	__asm__ volatile("movdqu %%xmm0, 0(%0)\n\tmovdqu %%xmm1, 16(%0)\n\t"
			 "movdqu %%xmm2, 32(%0)\n\tmovdqu %%xmm3, 48(%0)\n\t"
			 "movdqu %%xmm4, 64(%0)\n\tmovdqu %%xmm5, 80(%0)\n\t"
			 "movdqu %%xmm6, 96(%0)\n\tmovdqu %%xmm7, 112(%0)\n\t"
			 "movdqu %%xmm8, 128(%0)\n\tmovdqu %%xmm9, 144(%0)\n\t"
			 "movdqu %%xmm10, 160(%0)\n\tmovdqu %%xmm11, 176(%0)\n\t"
			 "movdqu %%xmm12, 192(%0)\n\tmovdqu %%xmm13, 208(%0)\n\t"
			 "movdqu %%xmm14, 224(%0)\n\tmovdqu %%xmm15, 240(%0)"
			 :
			 : "r"(out)
			 : "memory");
	unsigned in_vector = 0;
	for (unsigned i = 0; i < 32; i++)
		in_vector += out[i] == v;
	GH_EXPECT_EQ(in_vector, 0);
#endif
	copy_below_sp(words);
	unsigned after = below_sp_holding(v, words);
	__builtin_memset(below_sp, 0, sizeof(below_sp));
	GH_EXPECT_GT(before, words / 2); /* the filling reached below */
	GH_EXPECT_EQ(after, 0);
}

static const gh_type black_small = {256, 0, NULL, "black-small"},
		     black_big = {64 << 10, 0, NULL, "black-big"};

/* What is allocated while a mark runs is black (kept to the next cycle)
 * and counted apart (heap_black): 2 MiB dropped at once, small and large
 * objects, over 3 MiB that the mark traces. The goal carries the black
 * objects but grows from the traced ones only. */
GH_TEST(gc, allocated_while_marking_counted_black)
{
	enum { LIVE = 48, NSMALL = (1 << 20) / 256, NBIG = 16 };
	static void *live[LIVE];
	int old = collector_off();
	gh_gc_add_root(live, sizeof(live));
	for (unsigned i = 0; i < LIVE; i++)
		live[i] = gh_new(&black_big);
	gh_gc();
	bool held = mark_held_open();
	uint64_t made = 0;
	if (held) {
		for (unsigned i = 0; i < NSMALL; i++)
			made += gh_new(&black_small) ? black_small.size : 0;
		for (unsigned i = 0; i < NBIG; i++)
			made += gh_new(&black_big) ? black_big.size : 0;
	}
	mark_let_end();
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	__builtin_memset(live, 0, sizeof(live));
	gh_gc_remove_root(live);
	gh_set_gc_percent(old);
	collect();
	GH_ASSERT(held);
	GH_EXPECT_EQ(made, 2u << 20);
	GH_EXPECT_GE(st.heap_black, made);
	GH_EXPECT_GE(st.heap_marked - st.heap_black, LIVE * black_big.size);
	GH_EXPECT_EQ(st.heap_goal, 2 * st.heap_marked - st.heap_black);
}

/*
 * An assist that finds no work with the heap at its goal waits for the
 * mark to end (Go's gcParkAssist), rather than allocate on: CPU 0 holds a
 * mark open, as a marking CPU its host took off its processor would, and
 * CPU 1 allocates 16 MiB of garbage. The credit background marking earned
 * would pay for some of that on its own (as in Go): once the background
 * has nothing left to do, CPU 0 spends it. While the mark runs, the heap
 * may then pass the goal by no more than the credit of an assist that
 * found no work below it and a span. CPU 0 lets the mark end once CPU 1
 * has made no progress for 20 ms (or is done: the case then fails).
 */
static unsigned aw_phase;
static uint64_t aw_progress, aw_goal, aw_over;
static const gh_type aw_type = {1024, 0, NULL, "assist-wait"};

GH_TEST_PERCPU(gc, assist_at_the_goal_waits_for_the_mark)
{
	enum { N = 16 << 10, SLACK = 1 << 20 };
	if (t->ncpu < 2) {
		ght_skip(t, "needs two CPUs");
		return;
	}
	if (t->cpu == 0) {
		int old = collector_off();
		aw_over = aw_progress = 0;
		bool held = mark_held_open();
		for (unsigned spins = 1; held && (gc_work_to_share() ||
						  __atomic_load_n(&gh_gcs.nbusy, __ATOMIC_ACQUIRE) > 1);
		     spins++)
			gh_port_relax(spins);
		__atomic_store_n(&gh_gcs.bg_credit, 0, __ATOMIC_RELAXED);
		aw_goal = __atomic_load_n(&gh_gcs.heap_goal, __ATOMIC_RELAXED);
		__atomic_store_n(&aw_phase, held ? 1 : 2, __ATOMIC_RELEASE);
		uint64_t last = ~(uint64_t)0, since = gh_port_nanotime();
		while (held && __atomic_load_n(&aw_phase, __ATOMIC_ACQUIRE) == 1) {
			uint64_t p = __atomic_load_n(&aw_progress, __ATOMIC_RELAXED);
			if (p != last)
				last = p, since = gh_port_nanotime();
			else if (gh_port_nanotime() - since > 20000000)
				break;
		}
		mark_let_end();
		for (unsigned spins = 1; __atomic_load_n(&aw_phase, __ATOMIC_ACQUIRE) == 1; spins++)
			gh_port_relax(spins);
		gh_set_gc_percent(old);
		collect();
		__atomic_store_n(&aw_phase, 0, __ATOMIC_RELAXED);
		GH_ASSERT(held);
		GH_EXPECT_LE(aw_over, SLACK);
		if (t->failures)
			ght_log(t, "goal %llu KiB, passed by %llu KiB while marking",
				(unsigned long long)(aw_goal >> 10),
				(unsigned long long)(aw_over >> 10));
	} else if (t->cpu == 1) {
		unsigned ph;
		for (unsigned spins = 1; !(ph = __atomic_load_n(&aw_phase, __ATOMIC_ACQUIRE)); spins++)
			gh_port_relax(spins);
		for (unsigned i = 0; ph == 1 && i < N; i++) {
			gh_new(&aw_type);
			__atomic_fetch_add(&aw_progress, 1, __ATOMIC_RELAXED);
			if (!gc_marking())
				break;
			uint64_t live = __atomic_load_n(&gh_gcs.heap_live, __ATOMIC_RELAXED);
			if (live > aw_goal && live - aw_goal > aw_over)
				aw_over = live - aw_goal;
		}
		if (ph == 1)
			__atomic_store_n(&aw_phase, 3, __ATOMIC_RELEASE);
	}
}

/* Two types of one size class with their pointers in different words,
 * allocated in runs of each, so that spans filled with one type's heap
 * bits get objects of the other (and, in the second round, the other
 * way round): each object is scanned by its own type. What a pointer word
 * holds survives; what a non-pointer word holds is collected. */
struct left_holey {
	uintptr_t hidden;
	struct node *keep;
	struct left_holey *next;
};
GH_TYPE(left_holey_type, struct left_holey, keep, next);

static struct holey *mixed_right;
static struct left_holey *mixed_left;

/* A new object of t whose words at these offsets are hidden (not a
 * pointer), keep and next, pushed on the list at head. */
static bool push_holey(const gh_type *t, size_t hidden_at, size_t keep_at, size_t next_at,
		       void **head, struct node *hidden, struct node *keep)
{
	char *h = gh_new(t);
	if (!h)
		return false;
	*(uintptr_t *)(h + hidden_at) = (uintptr_t)hidden;
	GH_STORE_PTR((struct node **)(h + keep_at), keep);
	GH_STORE_PTR((void **)(h + next_at), *head);
	GH_STORE_PTR(head, (void *)h);
	return true;
}

__attribute__((noinline)) static unsigned build_mixed(unsigned n, bool left_first)
{
	unsigned made = 0;
	for (unsigned i = 0; i < n; i++, made++) {
		bool left = (i / 16) % 2 == left_first; /* runs of 16 */
		struct node *hidden = new_node(i), *keep = new_node(i);
		if (!hidden || !keep)
			return made;
		gh_set_finalizer(hidden, count_hidden, NULL);
		if (!(left ? push_holey(&left_holey_type, offsetof(struct left_holey, hidden),
					offsetof(struct left_holey, keep),
					offsetof(struct left_holey, next), (void **)&mixed_left,
					hidden, keep)
			   : push_holey(&holey_type, offsetof(struct holey, hidden),
					offsetof(struct holey, keep), offsetof(struct holey, next),
					(void **)&mixed_right, hidden, keep)))
			return made;
	}
	return made;
}

GH_TEST(gc, types_sharing_a_span_scanned_by_their_own)
{
	enum { N = 1024 };
	GH_ASSERT(sizeof(struct left_holey) == sizeof(struct holey));
	gh_gc_add_root(&mixed_right, sizeof(mixed_right));
	gh_gc_add_root(&mixed_left, sizeof(mixed_left));
	for (int order = 0; order < 2; order++) {
		__atomic_store_n(&hidden_freed, 0, __ATOMIC_RELAXED);
		GH_ASSERT_EQ(build_mixed(N, order == 0), N);
		for (int round = 0; round < 4; round++) {
			ght_clobber_stack();
			gh_gc();
			finish_finalizers();
		}
		unsigned kept = 0;
		for (const struct holey *h = mixed_right; h; h = h->next)
			kept += node_ok(h->keep);
		for (const struct left_holey *h = mixed_left; h; h = h->next)
			kept += node_ok(h->keep);
		GH_EXPECT_EQ(kept, N);
		GH_EXPECT_EQ(__atomic_load_n(&hidden_freed, __ATOMIC_RELAXED), N);
		mixed_right = NULL;
		mixed_left = NULL;
		collect();
	}
	gh_gc_remove_root(&mixed_right);
	gh_gc_remove_root(&mixed_left);
}

/* Go's mheap.reclaim: after a mark, a class that needs fresh pages sweeps
 * spans of any class first, as many pages as it takes, so that the
 * garbage still unswept in other classes is reused before the heap grows.
 * Here a mark leaves 4 MiB of one class's garbage unswept, and 4 MiB of
 * another class then takes no more pages than slack. The mark is done with
 * the world stopped, as allocation starts one (gc_start), so that no CPU
 * is woken to mark, and none then sweeps in the background meanwhile. */
static const gh_type reclaim_a = {64, 0, NULL, "reclaim-a"},
		     reclaim_b = {128, 0, NULL, "reclaim-b"};

/* A whole cycle inside its first stop (GH_GC_STW): no CPU is woken to
 * mark or sweep for it, so the spans it leaves unswept stay so until the
 * case sweeps them (a port's background slice owed to an earlier
 * concurrent cycle aside: see reclaim_bounded_and_gives_way_to_a_stop). */
static void cycle_with_the_world_stopped(void)
{
	unsigned flags = gh_gc_set_flags(gh_gc_set_flags(0) | GH_GC_STW);
	gc_start(true);
	gh_gc_set_flags(flags);
}

__attribute__((noinline)) static size_t reclaim_fill(const gh_type *t, size_t bytes)
{
	size_t made = 0;
	for (; made < bytes; made += t->size)
		if (!gh_new(t))
			break;
	return made;
}

GH_TEST(gc, unswept_garbage_reused_before_the_heap_grows)
{
	enum { BYTES = 4 << 20, SLACK = 1 << 20 };
	int old = collector_off();
	GH_ASSERT_EQ(reclaim_fill(&reclaim_a, BYTES), BYTES);
	ght_clobber_stack();
	cycle_with_the_world_stopped();
	struct gh_memstats a, b;
	gh_read_memstats(&a);
	size_t made = reclaim_fill(&reclaim_b, BYTES);
	gh_read_memstats(&b);
	gh_gc();
	gh_set_gc_percent(old);
	GH_ASSERT_EQ(made, BYTES);
	GH_EXPECT_LE(b.HeapInuse, a.HeapInuse + SLACK);
	if (t->failures)
		ght_log(t, "heap in use %llu KiB before 4 MiB of a second class, %llu KiB after",
			(unsigned long long)(a.HeapInuse >> 10),
			(unsigned long long)(b.HeapInuse >> 10));
}

/*
 * A reclaim is bounded, and gives way to a stop: in a heap whose unswept
 * spans free nothing it sweeps RECLAIM_BUDGET of them and leaves the rest
 * (the heap grows instead), and while a CPU is stopping the world it
 * sweeps none, since that CPU waits for this one. 4 MiB of 64-byte
 * objects, one in each span kept by a root and the rest garbage, are left
 * unswept by a cycle done with the world stopped (as above).
 */
GH_TEST(gc, reclaim_bounded_and_gives_way_to_a_stop)
{
	enum { BYTES = 4 << 20, KEPT = BYTES / GH_PAGE_SIZE + 16 };
	static void *kept[KEPT];
	int old = collector_off();
	gh_gc_add_root(kept, sizeof(kept));
	unsigned nkept = 0;
	for (size_t made = 0; made < BYTES && nkept < KEPT; made += reclaim_a.size) {
		void *p = gh_new(&reclaim_a);
		if (p && (uintptr_t)p % GH_PAGE_SIZE == 0)
			kept[nkept++] = p; /* the first of its span */
	}
	ght_clobber_stack();
	cycle_with_the_world_stopped();
	/* Counted with interrupts off: a kernel's timer tick sweeps in the
	 * background for a slice after a concurrent cycle (the one
	 * collector_off ran), which with one CPU may come only now. */
	unsigned long irq = gh_port_irq_save();
	__atomic_store_n(&gh_gcs.stop_wanted, 1, __ATOMIC_RELAXED);
	unsigned while_stopping = gc_reclaim(1);
	__atomic_store_n(&gh_gcs.stop_wanted, 0, __ATOMIC_RELAXED);
	unsigned swept = gc_reclaim(1), left = 0;
	while (gc_sweep_one())
		left++;
	gh_port_irq_restore(irq);
	__builtin_memset(kept, 0, sizeof(kept));
	gh_gc_remove_root(kept);
	gh_set_gc_percent(old);
	collect();
	GH_ASSERT(nkept >= BYTES / GH_PAGE_SIZE / 2);
	GH_EXPECT_EQ(while_stopping, 0);
	GH_EXPECT_LE(swept, RECLAIM_BUDGET);
	GH_EXPECT_GE(left, nkept - RECLAIM_BUDGET);
	if (t->failures)
		ght_log(t, "%u spans kept alive by one object; a reclaim swept %u, %u were left",
			nkept, swept, left);
}
