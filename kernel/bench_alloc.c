/*
 * bench_alloc.c — two baseline kernel allocators for make bench-kernel, in
 * the styles hobby kernels commonly use, and the glue that runs a workload
 * (tests/bench/workload.h) on every CPU.
 *
 * Both baselines are deliberately plain: one global spinlock (interrupts
 * off while held, so they may be called with interrupts on or off; see
 * bl_lock), no per-CPU caches, no checks beyond the one a hobby kernel would
 * have. Each manages a region the caller took from goheap (gh_page_alloc)
 * and starts afresh over it before every run, so they run on the same kind
 * of memory as goheap.
 */
#include "bench_alloc.h"

#include "cpu.h"
#include "kernel.h"
#include "spinlock.h"

/*
 * The baselines' global lock. By default a test-and-set spinlock, the lock
 * most hobby kernels have (xv6's is one); with bench_ticket_lock set
 * (bench_lock=ticket on the command line) the kernel's own ticket spinlock
 * (spinlock.h). Both disable interrupts while held, like the _irqsave forms.
 *
 * Why not always the ticket lock: under QEMU with more vCPUs than host
 * cores, a ticket lock hands the lock to the next CPU in line, whose vCPU is
 * often not running; every handoff then waits for the host to schedule it
 * (milliseconds). With -smp 4 on 2 host cores a firstfit malloc/free took
 * ~150 us this way, with -smp 8 ~1.3 ms, and the benchmark could not finish.
 * A test-and-set lock goes to whichever CPU is running. goheap's own heap
 * lock (alloc/internal.h) is a ticket lock: its slow paths pay that price
 * under overcommit, the baselines do not.
 */
bool bench_ticket_lock;

struct bl_lock {
	struct spinlock ticket;
	uint32_t taken; /* test-and-set */
};

static bool bl_lock(struct bl_lock *l)
{
	if (bench_ticket_lock)
		return spin_lock_irqsave(&l->ticket);
	bool was = irq_save();
	while (__atomic_exchange_n(&l->taken, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->taken, __ATOMIC_RELAXED))
			cpu_relax();
	return was;
}

static void bl_unlock(struct bl_lock *l, bool was)
{
	if (bench_ticket_lock) {
		spin_unlock_irqrestore(&l->ticket, was);
		return;
	}
	__atomic_store_n(&l->taken, 0, __ATOMIC_RELEASE);
	irq_restore(was);
}

static void bl_init(struct bl_lock *l)
{
	l->ticket = (struct spinlock)SPINLOCK_INIT;
	l->taken = 0;
}

/*
 * firstfit — one global free list, first fit, coalescing on free.
 *
 * It stands for the kmalloc of a typical hobby kernel grown from the OSDev
 * wiki or a tutorial (JamesM's kernel heap, and the many K&R-malloc
 * descendants such as xv6's umalloc): every block carries a header, the
 * free blocks form one list that malloc walks from the head taking the
 * first block that is big enough and splitting it, and free merges a block
 * with its free neighbours. Here the neighbours are found in O(1) through
 * boundary tags (Knuth): each block's size is written both in its header
 * and in its last 8 bytes, the footer. The list is doubly linked, LIFO.
 *
 *   [size|used, pad][payload ............................][size|used]
 *    header 16 B     16-aligned, a free block keeps        footer 8 B
 *                    its next/prev links here
 */
#define FF_USED 1ull
#define FF_HDR 16u
#define FF_FTR 8u
#define FF_MIN 48u /* header, two links, footer, rounded up to 16 */

struct ff_block {
	uint64_t size; /* the whole block's bytes, a multiple of 16, | FF_USED */
	uint64_t pad;
	struct ff_block *next, *prev; /* free blocks only */
};

static struct {
	struct bl_lock lock;
	struct ff_block *head;
} ff;

static void ff_mark(struct ff_block *b, uint64_t size, uint64_t used)
{
	b->size = size | used;
	*(uint64_t *)((char *)b + size - FF_FTR) = size | used;
}

static void ff_unlink(struct ff_block *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		ff.head = b->next;
	if (b->next)
		b->next->prev = b->prev;
}

static void ff_push(struct ff_block *b)
{
	b->prev = NULL;
	b->next = ff.head;
	if (ff.head)
		ff.head->prev = b;
	ff.head = b;
}

void firstfit_reset(void *base, size_t bytes)
{
	uint64_t lo = ALIGN_UP((uint64_t)base, 16), hi = ALIGN_DOWN((uint64_t)base + bytes, 16);
	/* A used footer before the first block and a used, empty header after
	 * the last: coalescing stops at both ends without checks. */
	*(uint64_t *)(lo + 8) = 16 | FF_USED;
	((struct ff_block *)(hi - 16))->size = FF_USED;
	struct ff_block *b = (struct ff_block *)(lo + 16);
	ff_mark(b, hi - 16 - (lo + 16), 0);
	bl_init(&ff.lock);
	ff.head = NULL;
	ff_push(b);
}

void *firstfit_malloc(size_t n)
{
	if (n > (1ull << 40))
		return NULL;
	uint64_t need = ALIGN_UP(n + FF_HDR + FF_FTR, 16);
	if (need < FF_MIN)
		need = FF_MIN;
	bool was = bl_lock(&ff.lock);
	struct ff_block *b = ff.head;
	while (b && b->size < need) /* a free block's size has FF_USED clear */
		b = b->next;
	if (!b) {
		bl_unlock(&ff.lock, was);
		return NULL;
	}
	uint64_t size = b->size;
	if (size - need >= FF_MIN) { /* split: the rest takes b's place in the list */
		struct ff_block *rest = (struct ff_block *)((char *)b + need);
		ff_mark(rest, size - need, 0);
		rest->next = b->next;
		rest->prev = b->prev;
		if (rest->prev)
			rest->prev->next = rest;
		else
			ff.head = rest;
		if (rest->next)
			rest->next->prev = rest;
		size = need;
	} else {
		ff_unlink(b);
	}
	ff_mark(b, size, FF_USED);
	bl_unlock(&ff.lock, was);
	return (char *)b + FF_HDR;
}

void firstfit_free(void *p)
{
	if (!p)
		return;
	struct ff_block *b = (struct ff_block *)((char *)p - FF_HDR);
	bool was = bl_lock(&ff.lock);
	uint64_t size = b->size;
	if (!(size & FF_USED))
		panic("firstfit_free(%p): the block is not in use", p);
	size &= ~FF_USED;
	struct ff_block *right = (struct ff_block *)((char *)b + size);
	if (!(right->size & FF_USED)) {
		ff_unlink(right);
		size += right->size;
	}
	uint64_t left_size = ((uint64_t *)b)[-1]; /* the left neighbour's footer */
	if (!(left_size & FF_USED)) {
		b = (struct ff_block *)((char *)b - left_size);
		ff_unlink(b);
		size += left_size;
	}
	ff_mark(b, size, 0);
	ff_push(b);
	bl_unlock(&ff.lock, was);
}

/* In place while the block holds the new size, else move it. */
void *firstfit_realloc(void *p, size_t n)
{
	if (!p)
		return firstfit_malloc(n);
	struct ff_block *b = (struct ff_block *)((char *)p - FF_HDR);
	uint64_t room = (b->size & ~FF_USED) - FF_HDR - FF_FTR;
	if (n <= room)
		return p;
	void *q = firstfit_malloc(n);
	if (q) {
		__builtin_memcpy(q, p, room);
		firstfit_free(p);
	}
	return q;
}

/*
 * pow2 — power-of-two buckets over a page allocator.
 *
 * It stands for the other common hobby-kernel kmalloc: size classes in
 * powers of two, each bucket a singly linked free list, refilled a page at
 * a time, blocks never merged nor given back; requests above the largest
 * class are whole pages. This one follows the 4.4BSD kernel malloc
 * (McKusick and Karels, 1988) in keeping no header in the blocks: a table
 * with an entry per 4 KiB page records the bucket its blocks belong to, or
 * the length of a large run, so a 16-byte request takes 16 bytes. Pages
 * come from a bitmap, first fit from the lowest free page.
 */
#define P2_PAGE 4096u
#define P2_MIN_SHIFT 4	/* 16 B */
#define P2_MAX_SHIFT 20 /* 1 MiB */
#define P2_LARGE 0x80000000u

struct p2_free {
	struct p2_free *next;
};

static struct {
	struct bl_lock lock;
	char *base;	 /* the first managed page */
	size_t npages;	 /* managed pages */
	uint64_t *used;	 /* a bit per page, 1 = taken (also past npages) */
	uint32_t *usage; /* per page: its bucket's shift, or P2_LARGE | pages */
	size_t hint;	 /* every page below it is taken */
	struct p2_free *bucket[P2_MAX_SHIFT + 1];
} p2;

void pow2_reset(void *base, size_t bytes)
{
	uint64_t lo = ALIGN_UP((uint64_t)base, P2_PAGE);
	uint64_t hi = ALIGN_DOWN((uint64_t)base + bytes, P2_PAGE);
	size_t n = (hi - lo) / P2_PAGE;
	size_t words = (n + 63) / 64;
	/* The bitmap and the usage table go first, sized for all n pages. */
	size_t meta = ALIGN_UP(words * 8 + n * 4, P2_PAGE);
	p2.used = (uint64_t *)lo;
	p2.usage = (uint32_t *)(lo + words * 8);
	p2.base = (char *)(lo + meta);
	p2.npages = n - meta / P2_PAGE;
	__builtin_memset(p2.used, 0, words * 8);
	for (size_t i = p2.npages; i < words * 64; i++)
		p2.used[i / 64] |= 1ull << (i % 64);
	p2.hint = 0;
	for (int s = 0; s <= P2_MAX_SHIFT; s++)
		p2.bucket[s] = NULL;
	bl_init(&p2.lock);
}

/* The first run of n free pages at or above the hint; SIZE_MAX if none. */
static size_t p2_find_run(size_t n)
{
	size_t run = 0, start = 0;
	for (size_t i = p2.hint; i < p2.npages;) {
		uint64_t w = p2.used[i / 64];
		if (i % 64 == 0 && w == ~0ull) {
			run = 0;
			i += 64;
		} else if (i % 64 == 0 && w == 0) {
			if (!run)
				start = i;
			run += 64;
			i += 64;
			if (run >= n)
				return start;
		} else if (w >> (i % 64) & 1) {
			run = 0;
			i++;
		} else {
			if (!run)
				start = i;
			if (++run >= n)
				return start;
			i++;
		}
	}
	return SIZE_MAX;
}

static char *p2_pages(size_t n)
{
	size_t start = p2_find_run(n);
	if (start == SIZE_MAX)
		return NULL;
	for (size_t i = start; i < start + n; i++)
		p2.used[i / 64] |= 1ull << (i % 64);
	if (start == p2.hint)
		p2.hint = start + n;
	return p2.base + start * P2_PAGE;
}

static void p2_pages_free(size_t start, size_t n)
{
	for (size_t i = start; i < start + n; i++)
		p2.used[i / 64] &= ~(1ull << (i % 64));
	if (start < p2.hint)
		p2.hint = start;
}

void *pow2_malloc(size_t n)
{
	unsigned s = P2_MIN_SHIFT;
	while (s <= P2_MAX_SHIFT && (1ull << s) < n)
		s++;
	void *p = NULL;
	bool was = bl_lock(&p2.lock);
	if (s > P2_MAX_SHIFT) { /* whole pages */
		if (n <= (uint64_t)p2.npages * P2_PAGE) {
			size_t np = (n + P2_PAGE - 1) / P2_PAGE;
			char *run = p2_pages(np);
			if (run) {
				p2.usage[(run - p2.base) / P2_PAGE] = P2_LARGE | (uint32_t)np;
				p = run;
			}
		}
	} else {
		if (!p2.bucket[s]) { /* refill: a page of blocks, or one block of pages */
			size_t bsize = 1ull << s, np = bsize < P2_PAGE ? 1 : bsize / P2_PAGE;
			char *run = p2_pages(np);
			if (run) {
				p2.usage[(run - p2.base) / P2_PAGE] = s;
				for (size_t off = np * P2_PAGE; off >= bsize; off -= bsize) {
					struct p2_free *f = (struct p2_free *)(run + off - bsize);
					f->next = p2.bucket[s];
					p2.bucket[s] = f;
				}
			}
		}
		struct p2_free *f = p2.bucket[s];
		if (f)
			p2.bucket[s] = f->next;
		p = f;
	}
	bl_unlock(&p2.lock, was);
	return p;
}

void pow2_free(void *p)
{
	if (!p)
		return;
	size_t page = (size_t)((char *)p - p2.base) / P2_PAGE;
	if ((char *)p < p2.base || page >= p2.npages)
		panic("pow2_free(%p): not in the region", p);
	bool was = bl_lock(&p2.lock);
	uint32_t u = p2.usage[page];
	if (u & P2_LARGE) {
		p2_pages_free(page, u & ~P2_LARGE);
	} else {
		struct p2_free *f = p;
		f->next = p2.bucket[u];
		p2.bucket[u] = f;
	}
	bl_unlock(&p2.lock, was);
}

/* In place while the bucket (or the run) holds the new size, else move. */
void *pow2_realloc(void *p, size_t n)
{
	if (!p)
		return pow2_malloc(n);
	uint32_t u = p2.usage[(size_t)((char *)p - p2.base) / P2_PAGE];
	size_t room = u & P2_LARGE ? (size_t)(u & ~P2_LARGE) * P2_PAGE : (size_t)1 << u;
	if (n <= room)
		return p;
	void *q = pow2_malloc(n);
	if (q) {
		__builtin_memcpy(q, p, room);
		pow2_free(p);
	}
	return q;
}

/* --- running a workload on every CPU --------------------------------------- */

const struct bench_allocator bench_allocators[BENCH_NALLOC] = {
    {{"goheap", gh_malloc, gh_free, gh_realloc}, NULL},
    {{"firstfit", firstfit_malloc, firstfit_free, firstfit_realloc}, firstfit_reset},
    {{"pow2", pow2_malloc, pow2_free, pow2_realloc}, pow2_reset},
};

static const char *running_alloc, *running_workload;
static unsigned running_workers;

static uint64_t now_tsc(void)
{
	return rdtsc();
}

static __attribute__((noreturn)) void fail(const char *msg)
{
	panic("bench: workload %s, allocator %s: %s", running_workload, running_alloc, msg);
}

/* env->run_on_all: every CPU takes the call, the first running_workers
 * run fn (each as worker number = its CPU number). */
struct workers_call {
	void (*fn)(void *arg, unsigned i);
	void *arg;
};

static void workers_call(void *arg, unsigned cpu)
{
	struct workers_call *c = arg;
	if (cpu < running_workers)
		c->fn(c->arg, cpu);
}

static void run_on_workers(void (*fn)(void *arg, unsigned i), void *arg)
{
	if (running_workers == ncpus) {
		smp_call_all(fn, arg);
		return;
	}
	struct workers_call c = {fn, arg};
	smp_call_all(workers_call, &c);
}

void bench_run(const struct bench_allocator *ba, const struct workload *w, unsigned scale,
	       unsigned workers, void *region, size_t region_bytes, struct wl_result *r)
{
	if (ba->reset)
		ba->reset(region, region_bytes);
	running_alloc = ba->a.name;
	running_workload = w->name;
	running_workers = workers && workers < ncpus ? workers : ncpus;
	struct wl_env env = {
	    .nthreads = running_workers,
	    .run_on_all = run_on_workers,
	    .now = now_tsc,
	    .fail = fail,
	};
	*r = (struct wl_result){0, 0};
	w->run(&ba->a, &env, scale, r);
}

static void flush_cpu(void *arg, unsigned cpu)
{
	(void)arg, (void)cpu;
	gh_cache_flush();
}

void bench_flush_all_cpus(void)
{
	smp_call_all(flush_cpu, NULL);
}
