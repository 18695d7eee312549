/*
 * stw_test.c — hosted only: the port's collector hooks (alloc/hosted/port.c).
 * Stopping the world stops every thread that has called goheap (their
 * counters stand still until the restart), waits for a thread with
 * "interrupts off" to restore them, survives threads that come and go,
 * and gh_port_scan_stacks reports each stopped thread's stack with its
 * registers in it. The helper threads for marking and finalizers start
 * on request.
 *
 * While the world is stopped these cases call nothing that may take a
 * lock a stopped thread holds (no malloc, no stdio): results are checked
 * after the restart.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../alloc/hosted/port_hosted.h"
#include "../../alloc/include/goheap.h"
#include "../../alloc/port.h"
#include "../ghtest.h"

#define NWORKERS 3
#define MS 1000000ull

/* Under ThreadSanitizer a signal waits for the thread's next call into
 * libc or goheap: spinning workers call in (the outermost restore stops
 * them). Elsewhere they spin without a call. */
static inline void poll_stop(void)
{
#ifdef GH_HOSTED_TSAN
	gh_port_irq_restore(gh_port_irq_save());
#endif
}

/* Registers the calling thread with the port, as any call into goheap does. */
static void join_goheap(void)
{
	gh_free(gh_malloc(16));
}

/* Wait (with the world running) until cond() holds, at most ms. */
static bool wait_for(bool (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t end = gh_port_nanotime() + ms * MS;
	while (!cond(arg)) {
		if (gh_port_nanotime() > end)
			return false;
		sched_yield();
	}
	return true;
}

struct worker {
	pthread_t thread;
	unsigned idx;
	uint64_t nonce;	      /* makes the register value of this run unique */
	unsigned ready;	      /* set once registered and spinning */
	uint64_t count;	      /* spins so far, written by the worker alone */
	uintptr_t local;      /* address of a local in the worker's frame */
	unsigned errno_bad;   /* errno changed under the worker */
	unsigned hold_ms;     /* irq worker: how long to keep interrupts off */
	uint64_t stop_at;     /* irq worker: when the stop began */
	uint64_t restored_at; /* irq worker: just before its irq_restore */
	unsigned after;	      /* irq worker: past its irq_restore */
	unsigned slot;	      /* gh_port_cpu() inside irq_save */
};
static unsigned quit;

static bool all_ready(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < NWORKERS; i++)
		if (!__atomic_load_n(&w[i].ready, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static void stop_workers(struct worker *w, unsigned n)
{
	__atomic_store_n(&quit, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
	__atomic_store_n(&quit, 0, __ATOMIC_RELEASE);
}

/* ---- (a) counters stand still while the world is stopped ---- */

static void *spin_main(void *arg)
{
	struct worker *w = arg;
	join_goheap();
	int mine = 1000 + (int)w->idx;
	errno = mine;
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&quit, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&w->count, w->count + 1, __ATOMIC_RELAXED);
		if (errno != mine) {
			w->errno_bad++;
			errno = mine;
		}
		poll_stop();
	}
	return NULL;
}

struct moved_arg {
	struct worker *w;
	uint64_t *since;
};

static bool all_moved(void *arg)
{
	struct moved_arg *m = arg;
	for (unsigned i = 0; i < NWORKERS; i++)
		if (__atomic_load_n(&m->w[i].count, __ATOMIC_RELAXED) <= m->since[i])
			return false;
	return true;
}

GH_TEST(stw, counters_stand_still_while_stopped)
{
	static struct worker w[NWORKERS];
	join_goheap(); /* goheap starts here, not in the workers at once */
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < NWORKERS; i++) {
		w[i].idx = i;
		GH_ASSERT_EQ(pthread_create(&w[i].thread, NULL, spin_main, &w[i]), 0);
	}
	GH_ASSERT(wait_for(all_ready, w, 10000));

	uint64_t before[NWORKERS], after[NWORKERS];
	unsigned moved_while_stopped = 0, stuck_after_start = 0, rounds = 0;
	uint64_t worst_stop = 0;
	for (; rounds < 200; rounds++) {
		uint64_t t0 = gh_port_nanotime();
		gh_port_stop_world();
		uint64_t t1 = gh_port_nanotime();
		for (unsigned i = 0; i < NWORKERS; i++)
			before[i] = __atomic_load_n(&w[i].count, __ATOMIC_RELAXED);
		usleep(rounds % 20 == 0 ? 2000 : 200);
		for (unsigned i = 0; i < NWORKERS; i++)
			after[i] = __atomic_load_n(&w[i].count, __ATOMIC_RELAXED);
		gh_port_start_world();
		worst_stop = t1 - t0 > worst_stop ? t1 - t0 : worst_stop;
		for (unsigned i = 0; i < NWORKERS; i++)
			moved_while_stopped += before[i] != after[i];
		struct moved_arg m = {w, after};
		if (!wait_for(all_moved, &m, 5000)) {
			stuck_after_start++;
			break;
		}
	}
	/* A stop right after a start, many times over: the workers still go. */
	for (unsigned i = 0; i < 200; i++) {
		gh_port_stop_world();
		gh_port_start_world();
	}
	for (unsigned i = 0; i < NWORKERS; i++)
		before[i] = __atomic_load_n(&w[i].count, __ATOMIC_RELAXED);
	struct moved_arg m = {w, before};
	bool moved_at_end = wait_for(all_moved, &m, 5000);
	stop_workers(w, NWORKERS);

	ght_log(t, "%u stops, the longest took %llu us", rounds,
		(unsigned long long)(worst_stop / 1000));
	GH_EXPECT_EQ(rounds, 200);
	GH_EXPECT_EQ(moved_while_stopped, 0);
	GH_EXPECT_EQ(stuck_after_start, 0);
	GH_EXPECT(moved_at_end);
	for (unsigned i = 0; i < NWORKERS; i++)
		GH_EXPECT_EQ(w[i].errno_bad, 0);
}

/* ---- (b) the stacks, with the registers in them ---- */

/* The value a worker keeps only in r12: computed there, never stored. */
static inline uintptr_t secret_of(uint64_t nonce, unsigned idx)
{
	return (uintptr_t)(0x5ec2e70000000000ull ^ (nonce * 0x9e3779b97f4a7c15ull) ^ idx);
}

static void *reg_main(void *arg)
{
	struct worker *w = arg;
	join_goheap();
	volatile uintptr_t local = 0x10ca1;
	w->local = (uintptr_t)&local;
	register uintptr_t v __asm__("r12") = secret_of(w->nonce, w->idx);
	__asm__ volatile("" : "+r"(v));
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&quit, __ATOMIC_ACQUIRE)) {
		__asm__ volatile("" : "+r"(v));
		__atomic_store_n(&w->count, w->count + 1, __ATOMIC_RELAXED);
		poll_stop();
	}
	__asm__ volatile("" : : "r"(v));
	(void)local;
	return NULL;
}

#define MAX_RANGES 128
struct ranges {
	unsigned n;
	uintptr_t lo[MAX_RANGES], hi[MAX_RANGES];
};

static void record_range(void *ctx, uintptr_t lo, uintptr_t hi)
{
	struct ranges *r = ctx;
	if (r->n < MAX_RANGES) {
		r->lo[r->n] = lo;
		r->hi[r->n] = hi;
	}
	r->n++;
}

/* Whether range k holds the registers of the thread whose stack is range
 * stack: a port may report them apart, right after the stack (the hosted
 * port does for a thread parked from the stop's signal). */
static bool regs_of(const struct ranges *r, int stack, unsigned k)
{
	return stack >= 0 && k == (unsigned)stack + 1 && k < r->n && k < MAX_RANGES &&
	       r->hi[k] - r->lo[k] <= 1024;
}

static int range_of(const struct ranges *r, uintptr_t addr)
{
	for (unsigned i = 0; i < r->n && i < MAX_RANGES; i++)
		if (addr >= r->lo[i] && addr < r->hi[i])
			return (int)i;
	return -1;
}

/* Reads other threads' stacks (redzones and all) while they are stopped. */
__attribute__((no_sanitize("address", "thread"), noinline)) static bool
range_holds(uintptr_t lo, uintptr_t hi, uintptr_t value)
{
	for (uintptr_t p = (lo + 7) & ~(uintptr_t)7; p + 8 <= hi; p += 8)
		if (*(volatile uintptr_t *)p == value)
			return true;
	return false;
}

GH_TEST(stw, scan_stacks_reports_locals_and_registers)
{
	static struct worker w[NWORKERS];
	static struct ranges r;
	join_goheap();
	memset(w, 0, sizeof(w));
	uint64_t nonce = gh_port_nanotime();
	for (unsigned i = 0; i < NWORKERS; i++) {
		w[i].idx = i;
		w[i].nonce = nonce;
		GH_ASSERT_EQ(pthread_create(&w[i].thread, NULL, reg_main, &w[i]), 0);
	}
	GH_ASSERT(wait_for(all_ready, w, 10000));
	volatile uintptr_t mine = 1;

	/* Outside a stop, scanning is refused. */
	r.n = 0;
	GH_EXPECT_PANIC(gh_port_scan_stacks(record_range, &r), "has not stopped the world");

	int in_range[NWORKERS], caller_range;
	bool reg_found[NWORKERS], reg_elsewhere[NWORKERS];
	for (unsigned round = 0; round < 20; round++) {
		r.n = 0;
		gh_port_stop_world();
		gh_port_scan_stacks(record_range, &r);
		caller_range = range_of(&r, (uintptr_t)&mine);
		for (unsigned i = 0; i < NWORKERS; i++) {
			uintptr_t secret = secret_of(nonce, i);
			in_range[i] = range_of(&r, w[i].local);
			unsigned regs = (unsigned)in_range[i] + 1;
			reg_found[i] =
			    in_range[i] >= 0 &&
			    (range_holds(r.lo[in_range[i]], r.hi[in_range[i]], secret) ||
			     (regs_of(&r, in_range[i], regs) &&
			      range_holds(r.lo[regs], r.hi[regs], secret)));
			/* nowhere but in its own stack or registers */
			reg_elsewhere[i] = false;
			for (unsigned k = 0; k < r.n && k < MAX_RANGES; k++)
				if ((int)k != in_range[i] && !regs_of(&r, in_range[i], k) &&
				    (int)k != caller_range && range_holds(r.lo[k], r.hi[k], secret))
					reg_elsewhere[i] = true;
		}
		gh_port_start_world();

		GH_EXPECT_LE(r.n, MAX_RANGES);
		GH_EXPECT_GE(r.n, NWORKERS + 1);
		GH_EXPECT_EQ(caller_range, 0); /* the caller comes first */
		GH_EXPECT_LE(r.lo[0], (uintptr_t)&mine);
		for (unsigned k = 0; k < r.n && k < MAX_RANGES; k++) {
			GH_EXPECT_LT(r.lo[k], r.hi[k]);
			GH_EXPECT_LT(r.hi[k] - r.lo[k], 1ull << 30);
		}
		for (unsigned i = 0; i < NWORKERS; i++) {
			GH_EXPECT(in_range[i] >= 0);
			GH_EXPECT_NE(in_range[i], caller_range);
			GH_EXPECT(reg_found[i]);
			GH_EXPECT(!reg_elsewhere[i]);
			for (unsigned j = 0; j < i; j++)
				GH_EXPECT_NE(in_range[i], in_range[j]);
		}
		if (t->failures)
			break;
	}
	stop_workers(w, NWORKERS);
}

/* ---- (c) interrupts off defer a stop ---- */

static unsigned irq_go;

static void hold_irq(struct worker *w)
{
	unsigned long irq = gh_port_irq_save(), inner = gh_port_irq_save(); /* nested */
	w->slot = gh_port_cpu();
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	/* hold_ms, and 20 ms at least after the stop began however late; the
	 * stop's signal cuts the sleeps short (EINTR) */
	uint64_t end = gh_port_nanotime() + w->hold_ms * MS, stop;
	while (gh_port_nanotime() < end ||
	       !(stop = __atomic_load_n(&w->stop_at, __ATOMIC_ACQUIRE)) ||
	       gh_port_nanotime() < stop + 20 * MS)
		usleep(1000);
	gh_port_irq_restore(inner); /* not the outermost: no stop here */
	__atomic_store_n(&w->restored_at, gh_port_nanotime(), __ATOMIC_RELEASE);
	gh_port_irq_restore(irq);
	__atomic_store_n(&w->after, 1, __ATOMIC_RELEASE);
}

static void *irq_main(void *arg)
{
	struct worker *w = arg;
	join_goheap();
	while (!__atomic_load_n(&irq_go, __ATOMIC_ACQUIRE))
		usleep(100);
	hold_irq(w);
	while (!__atomic_load_n(&quit, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&w->count, w->count + 1, __ATOMIC_RELAXED);
		poll_stop();
	}
	return NULL;
}

static bool is_ready(void *arg)
{
	return __atomic_load_n(&((struct worker *)arg)->ready, __ATOMIC_ACQUIRE);
}

static bool is_after(void *arg)
{
	return __atomic_load_n(&((struct worker *)arg)->after, __ATOMIC_ACQUIRE);
}

/* Stop the world while w holds interrupts off (for w->hold_ms, and for
 * 20 ms after the stop began): the stop returns only after w's restore,
 * and w is stopped inside it. */
static void expect_stop_waits(struct ght *t, struct worker *w)
{
	GH_ASSERT(wait_for(is_ready, w, 10000));
	uint64_t t0 = gh_port_nanotime();
	__atomic_store_n(&w->stop_at, t0, __ATOMIC_RELEASE);
	gh_port_stop_world();
	uint64_t t1 = gh_port_nanotime();
	uint64_t restored = __atomic_load_n(&w->restored_at, __ATOMIC_ACQUIRE);
	unsigned after = __atomic_load_n(&w->after, __ATOMIC_ACQUIRE);
	usleep(5000);
	unsigned after_later = __atomic_load_n(&w->after, __ATOMIC_ACQUIRE);
	gh_port_start_world();
	ght_log(t, "stop_world took %llu ms with interrupts off for %u ms (slot %u)",
		(unsigned long long)((t1 - t0) / MS), w->hold_ms, w->slot);
	GH_EXPECT_GE(restored, t0 + 20 * MS); /* 0: the stop did not wait */
	GH_EXPECT_LE(restored, t1);
	GH_EXPECT_EQ(after, 0); /* stopped inside its restore */
	GH_EXPECT_EQ(after_later, 0);
	GH_EXPECT(wait_for(is_after, w, 5000));
}

GH_TEST(stw, interrupts_off_defer_the_stop)
{
	static struct worker w;
	join_goheap();
	memset(&w, 0, sizeof(w));
	w.hold_ms = 50;
	__atomic_store_n(&irq_go, 1, __ATOMIC_RELEASE);
	GH_ASSERT_EQ(pthread_create(&w.thread, NULL, irq_main, &w), 0);
	expect_stop_waits(t, &w);
	GH_EXPECT_NE(w.slot, gh_hosted_shared_slot); /* a slot of its own */
	stop_workers(&w, 1);
	__atomic_store_n(&irq_go, 0, __ATOMIC_RELEASE);
}

/* ---- a spin with interrupts on is a place to stop ---- */

/* Spins as goheap does waiting for the collector's lock (gh_port_relax,
 * interrupts on) with the stop's signal blocked, so that only the spin can
 * park it, for up to 5 s; then takes the signal again. */
static void *relax_main(void *arg)
{
	struct worker *w = arg;
	join_goheap();
	sigset_t pwr;
	sigemptyset(&pwr);
	sigaddset(&pwr, SIGPWR);
	pthread_sigmask(SIG_BLOCK, &pwr, NULL);
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	uint64_t end = gh_port_nanotime() + 5000 * MS;
	for (unsigned spins = 1; !__atomic_load_n(&quit, __ATOMIC_ACQUIRE) && gh_port_nanotime() < end;
	     spins++) {
		gh_port_relax(spins);
		__atomic_store_n(&w->count, w->count + 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&w->restored_at, gh_port_nanotime(), __ATOMIC_RELEASE);
	pthread_sigmask(SIG_UNBLOCK, &pwr, NULL);
	return NULL;
}

/* A thread that waits in goheap with interrupts on (for the collector's
 * lock, or an assist for work) parks where it spins: the stop needs no
 * signal for it, which costs the stop 10-50 us on a virtual machine. */
GH_TEST(stw, spin_with_interrupts_on_is_a_place_to_stop)
{
	static struct worker w;
	join_goheap();
	memset(&w, 0, sizeof(w));
	GH_ASSERT_EQ(pthread_create(&w.thread, NULL, relax_main, &w), 0);
	GH_ASSERT(wait_for(is_ready, &w, 10000));
	uint64_t t0 = gh_port_nanotime();
	gh_port_stop_world();
	uint64_t t1 = gh_port_nanotime();
	uint64_t c1 = __atomic_load_n(&w.count, __ATOMIC_RELAXED);
	usleep(5000);
	uint64_t c2 = __atomic_load_n(&w.count, __ATOMIC_RELAXED);
	gh_port_start_world();
	stop_workers(&w, 1);
	ght_log(t, "stop_world took %llu us", (unsigned long long)((t1 - t0) / 1000));
	GH_EXPECT_EQ(c1, c2); /* parked */
	GH_EXPECT_LT(t1, w.restored_at); /* before its signal was let in */
}

/* ---- a thread is signalled early only if it computes ---- */

/* Computes outside goheap while comer_mode is COMER_COMPUTE, so that a
 * stop must signal it; otherwise comes by goheap's restore every
 * COMER_EVERY_NS with the signal blocked, and at each request (ask) takes
 * the signal a stop sent meanwhile, if any, with the world running, where
 * it does nothing. comer_in: the mode it is in. */
enum { COMER_COMPUTE = 1, COMER_COME_BY };
/* Longer than a stop's first poll (8 us): a stop that signalled the
 * worker early would signal it before it came by. */
#define COMER_EVERY_NS 20000u
static unsigned comer_mode, comer_in, comer_ask, comer_answer;

static void *comer_main(void *arg)
{
	struct worker *w = arg;
	sigset_t pwr;
	sigemptyset(&pwr);
	sigaddset(&pwr, SIGPWR);
	join_goheap();
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	for (unsigned asked = 0; !__atomic_load_n(&quit, __ATOMIC_ACQUIRE);) {
		unsigned mode = __atomic_load_n(&comer_mode, __ATOMIC_ACQUIRE);
		if (mode != __atomic_load_n(&comer_in, __ATOMIC_RELAXED)) {
			pthread_sigmask(mode == COMER_COMPUTE ? SIG_UNBLOCK : SIG_BLOCK, &pwr,
					NULL);
			__atomic_store_n(&comer_in, mode, __ATOMIC_RELEASE);
		}
		if (mode == COMER_COMPUTE) /* outside goheap */
			continue;
		/* mostly outside goheap, as a program between allocations */
		for (uint64_t t0 = gh_port_nanotime(); gh_port_nanotime() - t0 < COMER_EVERY_NS;)
			;
		gh_port_irq_restore(gh_port_irq_save());
		if (__atomic_load_n(&comer_ask, __ATOMIC_ACQUIRE) == asked)
			continue;
		pthread_sigmask(SIG_UNBLOCK, &pwr, NULL);
		pthread_sigmask(SIG_BLOCK, &pwr, NULL);
		__atomic_store_n(&comer_answer, ++asked, __ATOMIC_RELEASE);
	}
	pthread_sigmask(SIG_UNBLOCK, &pwr, NULL);
	return NULL;
}

static bool comer_answered(void *arg)
{
	(void)arg;
	return __atomic_load_n(&comer_answer, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&comer_ask, __ATOMIC_RELAXED);
}

static bool comer_switched(void *arg)
{
	(void)arg;
	return __atomic_load_n(&comer_in, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&comer_mode, __ATOMIC_RELAXED);
}

/* Stop until none of the next n stops polls for every thread: the next
 * one's number is gh_hosted_world / 2. */
static void clear_of_relearn(unsigned n)
{
	for (;;) {
		unsigned next =
		    __atomic_load_n(&gh_hosted_world, __ATOMIC_RELAXED) / 2 % GH_HOSTED_RELEARN;
		if (next != 0 && next + n <= GH_HOSTED_RELEARN)
			return;
		gh_port_stop_world();
		gh_port_start_world();
	}
}

/* The worker in mode, for n stops: the early signals they sent (the test
 * runs alone), or -1 if it did not answer. */
static int comer_stops(unsigned mode, unsigned n)
{
	__atomic_store_n(&comer_mode, mode, __ATOMIC_RELEASE);
	if (!wait_for(comer_switched, NULL, 10000))
		return -1;
	unsigned early = __atomic_load_n(&gh_hosted_early_signals, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		gh_port_stop_world();
		gh_port_start_world();
		if (mode == COMER_COMPUTE)
			continue;
		__atomic_add_fetch(&comer_ask, 1, __ATOMIC_RELEASE);
		if (!wait_for(comer_answered, NULL, 10000))
			return -1;
	}
	return (int)(__atomic_load_n(&gh_hosted_early_signals, __ATOMIC_RELAXED) - early);
}

/*
 * A stop signals a thread after a short poll (early) only once the signal
 * had to park it in GH_HOSTED_SIGNAL_STREAK stops in a row: one that
 * computes outside goheap. A thread that allocates, which needed the
 * signal in one stop (a page fault or another task held it), is polled
 * for as long as any: it comes by meanwhile, and an early signal would
 * have cost the stop 25-95 us of pthread_kill on a virtual machine all the
 * same. The main thread stops from one CPU, the worker runs on another.
 */
GH_TEST(stw, only_a_thread_that_computes_is_signalled_early)
{
#ifdef GH_HOSTED_TSAN
	GH_SKIP("ThreadSanitizer holds signals back until a call into libc");
#endif
	static struct worker w;
	cpu_set_t was, one;
	GH_ASSERT_EQ(sched_getaffinity(0, sizeof(was), &was), 0);
	int cpu[2], n = 0;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &was))
			cpu[n++] = i;
	if (n < 2)
		GH_SKIP("one CPU");
	/* no collection's stops among the test's own */
	gh_gc();
	int percent = gh_set_gc_percent(-1);
	join_goheap();
	memset(&w, 0, sizeof(w));
	comer_mode = COMER_COME_BY;
	comer_in = comer_ask = comer_answer = 0;
	GH_ASSERT_EQ(pthread_create(&w.thread, NULL, comer_main, &w), 0);
	CPU_ZERO(&one);
	CPU_SET(cpu[0], &one);
	sched_setaffinity(0, sizeof(one), &one);
	CPU_ZERO(&one);
	CPU_SET(cpu[1], &one);
	pthread_setaffinity_np(w.thread, sizeof(one), &one);
	const unsigned rounds = 3, computing = GH_HOSTED_SIGNAL_STREAK + 2;
	int after_one = 0, computed = 0;
	bool answered = wait_for(is_ready, &w, 10000);
	/* needs the signal in one stop, then comes by */
	for (unsigned r = 0; answered && r < rounds; r++) {
		clear_of_relearn(4);
		int a = comer_stops(COMER_COMPUTE, 1), b = comer_stops(COMER_COME_BY, 3);
		answered = a >= 0 && b >= 0;
		after_one += a + b;
	}
	/* computes stop after stop */
	if (answered) {
		clear_of_relearn(computing);
		computed = comer_stops(COMER_COMPUTE, computing);
		answered = computed >= 0 && comer_stops(COMER_COME_BY, 1) >= 0;
	}
	stop_workers(&w, 1);
	sched_setaffinity(0, sizeof(was), &was);
	gh_set_gc_percent(percent);
	GH_ASSERT(answered);
	ght_log(t,
		"early signals: %d in %u rounds of one stop computing and 3 coming by; "
		"%d in %u stops computing",
		after_one, rounds, computed, computing);
	GH_EXPECT_EQ(after_one, 0);
	GH_EXPECT_EQ(computed, (int)(computing - GH_HOSTED_SIGNAL_STREAK));
}

/* The same on the shared slot: threads take every other slot first. */
static pthread_mutex_t hog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hog_cond = PTHREAD_COND_INITIALIZER;
static unsigned hogs_quit;

static void *hog_main(void *arg)
{
	struct worker *w = arg;
	unsigned long irq = gh_port_irq_save(); /* takes a slot, if one is free */
	w->slot = gh_port_cpu();
	gh_port_irq_restore(irq);
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&hog_lock);
	while (!hogs_quit)
		pthread_cond_wait(&hog_cond, &hog_lock);
	pthread_mutex_unlock(&hog_lock);
	return NULL;
}

GH_TEST(stw, interrupts_off_defer_the_stop_on_the_shared_slot)
{
	static struct worker hogs[1024], w;
	unsigned shared = gh_hosted_shared_slot, n = 0;
	join_goheap();
	hogs_quit = 0;
	/* Take slots until a thread gets the shared one. */
	for (; n < 1024; n++) {
		memset(&hogs[n], 0, sizeof(hogs[n]));
		GH_ASSERT_EQ(pthread_create(&hogs[n].thread, NULL, hog_main, &hogs[n]), 0);
		if (!wait_for(is_ready, &hogs[n], 10000) || hogs[n].slot == shared) {
			n++;
			break;
		}
	}
	memset(&w, 0, sizeof(w));
	w.hold_ms = 50;
	__atomic_store_n(&irq_go, 1, __ATOMIC_RELEASE);
	GH_ASSERT_EQ(pthread_create(&w.thread, NULL, irq_main, &w), 0);
	expect_stop_waits(t, &w);
	ght_log(t, "%u threads took the other slots", n);
	GH_EXPECT_EQ(w.slot, shared);
	stop_workers(&w, 1);
	__atomic_store_n(&irq_go, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&hog_lock);
	hogs_quit = 1;
	pthread_cond_broadcast(&hog_cond);
	pthread_mutex_unlock(&hog_lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(hogs[i].thread, NULL);
}

/* ---- (d) threads come and go while the world stops and starts ---- */

static unsigned churn_quit, churn_threads;

static void *short_main(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 4; i++) {
		void *p = gh_malloc(32 + 16 * i);
		gh_free(p);
	}
	__atomic_fetch_add(&churn_threads, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *creator_main(void *arg)
{
	(void)arg;
	join_goheap();
	while (!__atomic_load_n(&churn_quit, __ATOMIC_ACQUIRE)) {
		pthread_t th[4];
		unsigned n = 0;
		for (; n < 4; n++)
			if (pthread_create(&th[n], NULL, short_main, NULL) != 0)
				break;
		for (unsigned i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	}
	return NULL;
}

/* Ends the process if a case hangs, so that the run reports it. */
static pthread_mutex_t dog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dog_cond = PTHREAD_COND_INITIALIZER;
static unsigned dog_fed;

static void *watchdog_main(void *arg)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += (time_t)(uintptr_t)arg;
	pthread_mutex_lock(&dog_lock);
	while (!dog_fed)
		if (pthread_cond_timedwait(&dog_cond, &dog_lock, &end) == ETIMEDOUT) {
			static const char msg[] = "stw_test: threads_come_and_go hangs\n";
			(void)!write(2, msg, sizeof(msg) - 1);
			abort();
		}
	pthread_mutex_unlock(&dog_lock);
	return NULL;
}

/*
 * Two threads create and join threads. Under ThreadSanitizer only one: it
 * runs a stopped thread's handler inside pthread_join, where glibc holds
 * its lock on cached thread stacks, and holds back the signal of a thread
 * that waits for that lock in pthread_create: the stop would never end.
 * (Without it, a thread waiting for a lock takes the signal and stops.)
 */
#ifdef GH_HOSTED_TSAN
#define CREATORS 1
#else
#define CREATORS 2
#endif

GH_TEST(stw, threads_come_and_go_while_stopping)
{
	pthread_t dog, creators[CREATORS];
	join_goheap();
	dog_fed = 0;
	GH_ASSERT_EQ(pthread_create(&dog, NULL, watchdog_main, (void *)(uintptr_t)120), 0);
	churn_quit = 0;
	churn_threads = 0;
	for (unsigned i = 0; i < CREATORS; i++)
		GH_ASSERT_EQ(pthread_create(&creators[i], NULL, creator_main, NULL), 0);
	unsigned before = 0, stops = 0;
	for (; stops < 300; stops++) {
		gh_port_stop_world();
		if (stops % 50 == 0)
			usleep(1000);
		gh_port_start_world();
		if (stops == 100)
			before = __atomic_load_n(&churn_threads, __ATOMIC_RELAXED);
		usleep(stops % 3 * 100);
	}
	unsigned during = __atomic_load_n(&churn_threads, __ATOMIC_RELAXED);
	__atomic_store_n(&churn_quit, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < CREATORS; i++)
		pthread_join(creators[i], NULL);
	pthread_mutex_lock(&dog_lock);
	dog_fed = 1;
	pthread_cond_signal(&dog_cond);
	pthread_mutex_unlock(&dog_lock);
	pthread_join(dog, NULL);
	ght_log(t, "%u stops, %u threads came and went", stops, during);
	GH_EXPECT_EQ(stops, 300);
	GH_EXPECT_GT(during, before); /* threads kept coming */
}

/* ---- fork: the child's world is the forking thread alone ---- */

static void count_range(void *ctx, uintptr_t lo, uintptr_t hi)
{
	(void)lo, (void)hi;
	(*(unsigned *)ctx)++;
}

GH_TEST(stw, fork_child_stops_alone)
{
#ifdef GH_HOSTED_TSAN
	GH_SKIP("ThreadSanitizer ends a child of a threaded process that makes threads");
#endif
	static struct worker w[NWORKERS];
	join_goheap();
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < NWORKERS; i++) {
		w[i].idx = i;
		GH_ASSERT_EQ(pthread_create(&w[i].thread, NULL, spin_main, &w[i]), 0);
	}
	GH_ASSERT(wait_for(all_ready, w, 10000));
	unsigned parent = 0;
	gh_port_stop_world();
	gh_port_scan_stacks(count_range, &parent);
	gh_port_start_world();
	pid_t pid = fork();
	if (pid == 0) {
		/* The workers do not exist here: no stacks but those of this
		 * thread and of the helper threads the child makes anew. */
		unsigned n = 0, tasks = 0;
		gh_port_stop_world();
		gh_port_scan_stacks(count_range, &n);
		gh_port_start_world();
		gh_free(gh_malloc(100));
		DIR *d = opendir("/proc/self/task");
		for (struct dirent *e; d && (e = readdir(d)) != NULL;)
			tasks += e->d_name[0] != '.';
		if (d)
			closedir(d);
		_exit(n >= 1 && n <= tasks ? 0 : 10 + (int)n);
	}
	GH_ASSERT(pid > 0);
	int status = 0;
	waitpid(pid, &status, 0);
	stop_workers(w, NWORKERS);
	GH_EXPECT_GE(parent, NWORKERS + 1);
	GH_EXPECT(WIFEXITED(status));
	GH_EXPECT_EQ(WEXITSTATUS(status), 0);
}

/* ---- the clock, and the helper threads ---- */

GH_TEST(stw, nanotime_is_monotonic)
{
	uint64_t a = gh_port_nanotime();
	usleep(2000);
	uint64_t b = gh_port_nanotime();
	GH_EXPECT_GE(b - a, 2 * MS);
	GH_EXPECT_LT(b - a, 2000 * MS);
}

/* Is a thread of this process named name? */
static bool thread_named(void *name)
{
	DIR *d = opendir("/proc/self/task");
	bool found = false;
	struct dirent *e;
	while (d && !found && (e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f))
			found = strncmp(comm, name, strlen(name)) == 0;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

GH_TEST(stw, helper_threads_start_on_request)
{
	/* Finalizers may be queued with interrupts off: no thread is made there. */
	unsigned long irq = gh_port_irq_save();
	gh_port_finalizers_queued();
	gh_port_irq_restore(irq);
	gh_port_gc_started();
	/* The finalizer thread starts at the first stop at the latest. */
	gh_port_stop_world();
	gh_port_start_world();
	GH_EXPECT(wait_for(thread_named, "goheap-final", 5000));
	GH_EXPECT(wait_for(thread_named, "goheap-mark", 5000));
	/* With nothing to do they wait, and stop with the world. */
	gh_port_gc_started();
	gh_port_finalizers_queued();
	gh_port_stop_world();
	gh_port_start_world();
	GH_EXPECT_PANIC(gh_port_start_world(), "has not stopped the world");
}

/* ---- (d) a thread in gh_hosted_do_blocking ---- */

struct blocker {
	pthread_t thread;
	sem_t go;
	uint64_t nonce;
	unsigned waiting, eintr;
};

static void *blocked_wait(void *arg)
{
	struct blocker *b = arg;
	__atomic_store_n(&b->waiting, 1, __ATOMIC_RELEASE);
	while (sem_wait(&b->go) != 0)
		if (errno == EINTR) /* a signal: a stop that waited for this thread */
			__atomic_fetch_add(&b->eintr, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;
	join_goheap();
	/* kept only in r12 across the call, which spills it */
	register uintptr_t v __asm__("r12") = secret_of(b->nonce, 99);
	__asm__ volatile("" : "+r"(v));
	gh_hosted_do_blocking(blocked_wait, b);
	__asm__ volatile("" : : "r"(v));
	return NULL;
}

static bool blocker_waiting(void *arg)
{
	return __atomic_load_n(&((struct blocker *)arg)->waiting, __ATOMIC_ACQUIRE);
}

/* Stops go on without a thread in gh_hosted_do_blocking (its sem_wait is
 * never interrupted) and scan its stack, the registers it had at the call
 * included. */
GH_TEST(stw, blocking_call_is_not_stopped_but_scanned)
{
	static struct blocker b;
	static struct ranges r;
	join_goheap();
	memset(&b, 0, sizeof(b));
	b.nonce = gh_port_nanotime();
	GH_ASSERT_EQ(sem_init(&b.go, 0, 0), 0);
	GH_ASSERT_EQ(pthread_create(&b.thread, NULL, blocker_main, &b), 0);
	GH_ASSERT(wait_for(blocker_waiting, &b, 10000));
	unsigned found = 0;
	for (unsigned round = 0; round < 20; round++) {
		r.n = 0;
		gh_port_stop_world();
		gh_port_scan_stacks(record_range, &r);
		bool seen = false;
		for (unsigned k = 0; k < r.n && k < MAX_RANGES; k++)
			seen |= range_holds(r.lo[k], r.hi[k], secret_of(b.nonce, 99));
		gh_port_start_world();
		found += seen;
	}
	sem_post(&b.go);
	pthread_join(b.thread, NULL);
	sem_destroy(&b.go);
	GH_EXPECT_EQ(found, 20);
	GH_EXPECT_EQ(__atomic_load_n(&b.eintr, __ATOMIC_RELAXED), 0);
}
