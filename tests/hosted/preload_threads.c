/*
 * preload_threads.c — threads and fork under LD_PRELOAD=build/hosted/libgoheap.so.
 *
 * A standalone program against the ordinary C library headers: it only calls
 * malloc and friends, so whatever malloc the process has is what it tests.
 * scripts/preload-test.sh builds it with "gcc -O2 -pthread" and runs it with
 * the preload and GOHEAP_HOSTED_CPUS=16, so that the wave of 80 threads below
 * outnumbers goheap's CPU slots and most threads use the shared slot.
 *
 *   1. 100 threads in waves of 8, then 80 threads at once. Each allocates and
 *      frees random sizes (1..100000 bytes, mostly small) through malloc,
 *      calloc, realloc, posix_memalign and aligned_alloc, fills every object
 *      with a pattern and checks it before freeing, and passes objects to
 *      other threads through a mutex-protected queue (one thread frees what
 *      another allocated, also after the allocating thread has exited).
 *   2. fork() with no other threads: the child checks and frees objects the
 *      parent allocated, allocates its own, starts threads, exits 0.
 *   3. fork() repeatedly while 8 threads are busy allocating: each child
 *      checks the main thread's objects and allocates and frees on its own.
 *
 * A forked child that does not exit within CHILD_SECONDS is killed by its
 * alarm and reported as hung. Prints "ok" and exits 0; on any corruption,
 * failed allocation or failed child, prints what and where and exits 1.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SIZE 100000
#define LIVE 64		  /* objects a thread holds at once */
#define QUEUE_MAX 2000	  /* objects in flight between threads */
#define WAVE 8		  /* threads per wave */
#define WAVE_THREADS 100  /* threads started in waves */
#define BURST_THREADS 80  /* threads started at once */
#define OPS 1200	  /* operations per thread */
#define BUSY_THREADS 8	  /* threads allocating while the main thread forks */
#define BUSY_FORKS 24	  /* forks while they do */

/* Any failure: say what, then exit 1 from whichever thread or process. */
__attribute__((noreturn)) static void die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	/* write(2), not stdio: this may run in a forked child of a threaded parent */
	ssize_t w = write(2, buf, (size_t)n);
	(void)w;
	_exit(1);
}

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* An object and what it must contain. */
struct obj {
	unsigned char *p;
	size_t size;
	uint64_t seed;
};

/* The pattern: 64-bit words seed, seed + K, seed + 2K, ... (cheap to write
 * and to check, different for every object), and the same bytes in the tail. */
#define PATTERN_STEP 0x9e3779b97f4a7c15ull

static uint64_t pattern_word(uint64_t seed, size_t w)
{
	return seed + w * PATTERN_STEP;
}

static unsigned char pattern(uint64_t seed, size_t i)
{
	uint64_t x = pattern_word(seed, i / 8);
	return (unsigned char)(x >> (i % 8 * 8)); /* little-endian: byte i of the words */
}

static void fill(struct obj *o)
{
	size_t words = o->size / 8;
	uint64_t x = o->seed;
	for (size_t w = 0; w < words; w++, x += PATTERN_STEP)
		memcpy(o->p + w * 8, &x, 8);
	for (size_t i = words * 8; i < o->size; i++)
		o->p[i] = pattern(o->seed, i);
}

/* The first byte that breaks the pattern, or size. */
static size_t first_bad(const unsigned char *p, size_t size, uint64_t seed)
{
	size_t words = size / 8, from = 0;
	uint64_t x = seed, bad = 0;
	/* a branch-free pass first, so that it vectorises; then find where */
	for (size_t w = 0; w < words; w++, x += PATTERN_STEP) {
		uint64_t y;
		memcpy(&y, p + w * 8, 8);
		bad |= y ^ x;
	}
	if (!bad)
		from = words * 8;
	for (size_t i = from; i < size; i++)
		if (p[i] != pattern(seed, i))
			return i;
	return size;
}

static void check(const struct obj *o, const char *who)
{
	size_t i = first_bad(o->p, o->size, o->seed);
	if (i < o->size)
		die("corruption (%s): object %p of %zu bytes, byte %zu is %#x, expected %#x",
		    who, (void *)o->p, o->size, i, o->p[i], pattern(o->seed, i));
	size_t usable = malloc_usable_size(o->p);
	if (usable < o->size)
		die("malloc_usable_size(%p) = %zu for an object of %zu bytes (%s)", (void *)o->p,
		    usable, o->size, who);
}

static void release(struct obj *o, const char *who)
{
	check(o, who);
	free(o->p);
	o->p = NULL;
}

/* Random sizes 1..MAX_SIZE, most of them small as in real programs. */
static size_t random_size(uint64_t *s)
{
	static const size_t limit[] = {16, 128, 1024, 8192, 32768, MAX_SIZE};
	return 1 + next_rand(s) % limit[next_rand(s) % (sizeof limit / sizeof limit[0])];
}

/* A new object by one of the allocation functions, filled with its pattern. */
static void allocate(struct obj *o, uint64_t *s)
{
	size_t size = random_size(s);
	unsigned char *p;
	switch (next_rand(s) % 8) {
	case 0: {
		p = calloc(1, size);
		if (!p)
			die("calloc(1, %zu) failed", size);
		for (size_t i = 0; i < size; i++)
			if (p[i])
				die("calloc(1, %zu) = %p: byte %zu is %#x, not 0", size, (void *)p, i,
				    p[i]);
		break;
	}
	case 1: {
		size_t align = (size_t)16 << next_rand(s) % 9; /* 16 .. 4096 */
		void *q = NULL;
		int err = posix_memalign(&q, align, size);
		if (err || !q)
			die("posix_memalign(%zu, %zu) failed: %d", align, size, err);
		if ((uintptr_t)q % align)
			die("posix_memalign(%zu, %zu) = %p: misaligned", align, size, q);
		p = q;
		break;
	}
	case 2: {
		size_t align = (size_t)8 << next_rand(s) % 8; /* 8 .. 1024 */
		size_t n = (size + align - 1) / align * align;
		p = aligned_alloc(align, n);
		if (!p)
			die("aligned_alloc(%zu, %zu) failed", align, n);
		if ((uintptr_t)p % align)
			die("aligned_alloc(%zu, %zu) = %p: misaligned", align, n, (void *)p);
		break;
	}
	default:
		p = malloc(size);
		if (!p)
			die("malloc(%zu) failed", size);
		if ((uintptr_t)p % (size >= 16 ? 16 : 8))
			die("malloc(%zu) = %p: misaligned", size, (void *)p);
	}
	o->p = p;
	o->size = size;
	o->seed = next_rand(s);
	fill(o);
}

/* Grow or shrink an object; the common prefix must survive. */
static void resize(struct obj *o, uint64_t *s, const char *who)
{
	check(o, who);
	size_t n = random_size(s);
	unsigned char *p = realloc(o->p, n);
	if (!p)
		die("realloc(%p, %zu) failed", (void *)o->p, n);
	size_t keep = n < o->size ? n : o->size;
	size_t i = first_bad(p, keep, o->seed);
	if (i < keep)
		die("realloc(%p, %zu -> %zu) = %p: byte %zu is %#x, expected %#x", (void *)o->p,
		    o->size, n, (void *)p, i, p[i], pattern(o->seed, i));
	o->p = p;
	o->size = n;
	o->seed = next_rand(s);
	fill(o);
}

/* ---- the queue: objects from one thread to another ---- */

struct node {
	struct node *next;
	struct obj o;
};

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *queue_head, *queue_tail;
static size_t queue_len;

/* Hand an object to whichever thread takes it next; false when full. */
static bool queue_put(const struct obj *o)
{
	struct node *n = malloc(sizeof *n); /* the node, too, is freed by the taker */
	if (!n)
		die("malloc(node) failed");
	n->next = NULL;
	n->o = *o;
	pthread_mutex_lock(&queue_lock);
	if (queue_len >= QUEUE_MAX) {
		pthread_mutex_unlock(&queue_lock);
		free(n);
		return false;
	}
	if (queue_tail)
		queue_tail->next = n;
	else
		queue_head = n;
	queue_tail = n;
	queue_len++;
	pthread_mutex_unlock(&queue_lock);
	return true;
}

static bool queue_take(struct obj *o)
{
	pthread_mutex_lock(&queue_lock);
	struct node *n = queue_head;
	if (n) {
		queue_head = n->next;
		if (!queue_head)
			queue_tail = NULL;
		queue_len--;
	}
	pthread_mutex_unlock(&queue_lock);
	if (!n)
		return false;
	*o = n->o;
	free(n);
	return true;
}

/* ---- the workers ---- */

struct worker {
	pthread_t tid;
	unsigned id;
	unsigned ops;		     /* 0: until stop is set */
	volatile int *stop;
	unsigned long done;	     /* operations, for the busy threads */
};

/* One random operation on a thread's live set or the queue. */
static void step(struct obj *live, uint64_t *s, const char *who)
{
	struct obj *o = &live[next_rand(s) % LIVE];
	unsigned r = (unsigned)(next_rand(s) % 16);
	if (!o->p) {
		allocate(o, s);
	} else if (r < 7) {
		release(o, who);
	} else if (r < 10) {
		resize(o, s, who);
	} else if (r < 13) {
		check(o, who);
		if (queue_put(o))
			o->p = NULL;
	} else {
		struct obj other;
		if (queue_take(&other))
			release(&other, "object from another thread");
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t s = 0x243f6a8885a308d3ull * (w->id + 1) ^ (uint64_t)(uintptr_t)w;
	char who[32];
	snprintf(who, sizeof who, "thread %u", w->id);
	/* The live set itself is allocated, too. */
	struct obj *live = calloc(LIVE, sizeof *live);
	if (!live)
		die("calloc(live set) failed");
	for (unsigned long i = 0; w->ops ? i < w->ops : !*w->stop; i++) {
		step(live, &s, who);
		w->done++;
	}
	/* Leave some objects to the others, free the rest. */
	for (unsigned i = 0; i < LIVE; i++)
		if (live[i].p && !(i % 4 == 0 && queue_put(&live[i])))
			release(&live[i], who);
	free(live);
	return NULL;
}

static void start(struct worker *w, unsigned id, unsigned ops, volatile int *stop)
{
	w->id = id;
	w->ops = ops;
	w->stop = stop;
	w->done = 0;
	int err = pthread_create(&w->tid, NULL, worker_main, w);
	if (err)
		die("pthread_create (thread %u): error %d", id, err);
}

static void join(struct worker *w)
{
	int err = pthread_join(w->tid, NULL);
	if (err)
		die("pthread_join (thread %u): error %d", w->id, err);
}

static void drain_queue(const char *who)
{
	struct obj o;
	while (queue_take(&o))
		release(&o, who);
}

/* ---- fork ---- */

/* The main thread's own objects, which forked children check. */
#define MINE 256
static struct obj mine[MINE];

static void child_work(uint64_t seed, const char *who)
{
	/* Everything the parent's main thread had must be there, intact. */
	for (unsigned i = 0; i < MINE; i++)
		if (mine[i].p)
			release(&mine[i], who);
	struct obj live[LIVE];
	memset(live, 0, sizeof live);
	uint64_t s = seed;
	for (unsigned i = 0; i < 3000; i++) {
		struct obj *o = &live[next_rand(&s) % LIVE];
		if (o->p && next_rand(&s) % 4 == 0)
			resize(o, &s, who);
		else if (o->p)
			release(o, who);
		else
			allocate(o, &s);
	}
	for (unsigned i = 0; i < LIVE; i++)
		if (live[i].p)
			release(&live[i], who);
}

/* A child that has not exited within this time is taken as hung. */
#define CHILD_SECONDS 10

static void wait_child(pid_t pid, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid(%d) failed (%s)", (int)pid, what);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
		die("%s: child %d hung (killed by its %d s alarm)", what, (int)pid, CHILD_SECONDS);
	if (WIFSIGNALED(st))
		die("%s: child %d killed by signal %d (%s)", what, (int)pid, WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s: child %d exited with status %d", what, (int)pid, WEXITSTATUS(st));
}

static void make_mine(uint64_t *s)
{
	for (unsigned i = 0; i < MINE; i++) {
		if (mine[i].p)
			release(&mine[i], "main thread");
		allocate(&mine[i], s);
	}
}

int main(void)
{
	static struct worker w[BURST_THREADS > WAVE ? BURST_THREADS : WAVE];
	static volatile int stop;
	uint64_t s = 0x5851f42d4c957f2dull;
	unsigned id = 0;

	make_mine(&s);

	/* 1. Waves of 8 threads, then 80 at once. */
	for (unsigned started = 0; started < WAVE_THREADS;) {
		unsigned n = WAVE_THREADS - started < WAVE ? WAVE_THREADS - started : WAVE;
		for (unsigned i = 0; i < n; i++)
			start(&w[i], id++, OPS, NULL);
		for (unsigned i = 0; i < n; i++)
			join(&w[i]);
		started += n;
	}
	for (unsigned i = 0; i < BURST_THREADS; i++)
		start(&w[i], id++, OPS, NULL);
	for (unsigned i = 0; i < BURST_THREADS; i++)
		join(&w[i]);

	/* 2. fork with no other threads; the queue still holds objects from
	 * threads that have exited. The child takes half of them, checks them
	 * and frees them, works on its own and with threads of its own. */
	pid_t pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		alarm(CHILD_SECONDS);
		struct obj o;
		for (size_t n = queue_len / 2; n > 0 && queue_take(&o); n--)
			release(&o, "child after fork: parent's queued object");
		child_work(0x1234567ull, "child after fork");
		struct worker cw[4];
		for (unsigned i = 0; i < 4; i++)
			start(&cw[i], 1000 + i, OPS, NULL);
		for (unsigned i = 0; i < 4; i++)
			join(&cw[i]);
		drain_queue("child after fork: queue at exit");
		_exit(0);
	}
	wait_child(pid, "fork without threads");
	/* The parent's objects are unaffected by what the child did. */
	for (unsigned i = 0; i < MINE; i++)
		check(&mine[i], "main thread after fork");
	drain_queue("main thread: queue after fork");

	/* 3. fork while other threads allocate and free. The children must not
	 * touch the queue: its lock may have been held at the fork. */
	make_mine(&s);
	stop = 0;
	for (unsigned i = 0; i < BUSY_THREADS; i++)
		start(&w[i], id++, 0, &stop);
	for (unsigned f = 0; f < BUSY_FORKS; f++) {
		pid = fork();
		if (pid < 0)
			die("fork failed");
		if (pid == 0) {
			alarm(CHILD_SECONDS);
			child_work(0xabcdefull + f, "child of a busy parent");
			_exit(0);
		}
		/* the main thread allocates meanwhile, too */
		for (unsigned i = 0; i < MINE / 8; i++) {
			unsigned k = (unsigned)(next_rand(&s) % MINE);
			release(&mine[k], "main thread");
			allocate(&mine[k], &s);
		}
		wait_child(pid, "fork with busy threads");
	}
	stop = 1;
	unsigned long busy_ops = 0;
	for (unsigned i = 0; i < BUSY_THREADS; i++) {
		join(&w[i]);
		busy_ops += w[i].done;
	}
	drain_queue("main thread: queue at the end");
	for (unsigned i = 0; i < MINE; i++)
		release(&mine[i], "main thread at the end");
	if (busy_ops == 0)
		die("the busy threads did nothing while the main thread forked");
	printf("ok\n");
	return 0;
}
