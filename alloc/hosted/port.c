/*
 * port.c — goheap's hosted port: Linux user space, for tests, benchmarks and
 * LD_PRELOAD. This file is the one part of alloc/ that uses libc.
 *
 * "Physical memory" is one large anonymous reservation (MAP_NORESERVE: the
 * kernel backs pages only when touched), GOHEAP_HOSTED_MEM bytes (a number
 * with an optional K, M, G or T suffix; default 1G). goheap starts itself on
 * first use. When it runs out, the port reserves more (gh_port_grow), each
 * time at least as much as goheap has, up to GOHEAP_HOSTED_MAX bytes in all
 * (default 1T); gh_hosted_grow = false turns that off. Threads stand in for
 * CPUs: each thread takes a CPU slot the first time it calls goheap, and
 * when it exits gives back what the slot caches (gh_cache_flush) and then
 * the slot. There are GOHEAP_HOSTED_CPUS slots (default 64). Slot 0 is
 * shared: threads that find no free slot, and threads past their exit, use
 * it under a mutex taken by gh_port_irq_save. Threads take the lowest free
 * slot, so the slots ever used are a prefix, which the collector's pauses
 * visit alone (gh_port_ncpu_used).
 *
 * Stopping the world (the collector's gh_port_stop_world): every thread
 * that has called goheap is registered, from its first call to its exit,
 * and only registered threads are stopped and have their stacks scanned.
 * A thread that holds pointers to collected objects must therefore have
 * called goheap at least once (any call: gh_malloc, gh_new, gh_cache_flush).
 * The stopping thread marks the world stopping; a thread that leaves
 * goheap's per-CPU code meanwhile (its outermost gh_port_irq_restore, which
 * a thread that allocates reaches soon) parks there, as does one that
 * spins with interrupts on (gh_port_relax: waiting for the collector's
 * lock, or an assist for marking work). After as long as a signal costs
 * it (measured; between POLL_MIN_NS and POLL_MAX_NS), the
 * stopping thread sends STOP_SIGNAL to every registered thread that has
 * not parked, and after POLL_MIN_NS to those the signal had to park in
 * each of the last GH_HOSTED_SIGNAL_STREAK stops (every
 * GH_HOSTED_RELEARN-th stop polls for them again). The signal's handler
 * parks the thread: it spills the registers onto the
 * thread's own stack, records the stack pointer, acknowledges, and waits
 * on a futex until the world restarts. A thread with "interrupts off"
 * (inside gh_port_irq_save/restore, port_inline.h) is in goheap's
 * per-CPU code or holds a goheap lock: the handler only marks the stop
 * pending, and the outermost restore parks the thread
 * (gh_hosted_stop_slow). The registry
 * lock is held from stop to start, so that threads neither join nor leave
 * meanwhile: a new thread's first call into goheap waits for the restart,
 * and an exiting thread parks as it would anywhere. The port's own locks
 * are held only with "interrupts off", so no parked thread holds one.
 *
 * Parked threads are inside a signal handler, possibly inside libc: from
 * stop to start the stopping thread must not take locks that libc or other
 * code may hold (malloc's, stdio's); goheap does not. Blocking system calls
 * of the stopped threads that SA_RESTART does not restart (nanosleep,
 * poll, sem_wait...) return EINTR. A thread must not block STOP_SIGNAL;
 * under ThreadSanitizer, which delivers signals only when a thread calls
 * into libc, threads also stop where they spin in goheap.
 *
 * The collector's helpers: a background mark thread, woken by
 * gh_port_gc_started, marks (gh_gc_background) for a quarter of the
 * machine's CPU time on up to 4 CPUs and for one CPU on more (Go's 25%
 * rounds to whole workers the same way), or all the time while the
 * program has fewer threads than CPUs, and between cycles gives free
 * memory beyond the retained goal back to the host (Go's background
 * scavenger, scavenge_slice), and a finalizer thread, woken by
 * gh_port_finalizers_queued, runs gh_run_finalizers. Both are created on
 * first need, where creating a thread is safe (interrupts on, the world
 * running): the finalizer thread at the first stop of the world, since
 * finalizers may be queued with interrupts off.
 *
 * Lock order: reg_lock, shared_lock, grow_lock, slot_lock, then goheap's.
 *
 * fork: the heap lock and the port's locks are taken around it, so the
 * child starts with goheap consistent. Slots of threads that do not exist
 * in the child stay taken there: what they cache is lost to the child, a
 * bounded amount, rather than reused half-updated. The child's registry
 * holds the forking thread alone, and its helper threads are made anew.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "../include/goheap.h"
#include "../port.h"
#include "port_hosted.h"

#define DEFAULT_MEM (1ull << 30)
#define DEFAULT_CPUS 64
#define MAX_CPUS 1024
/* Unlikely to be used by the program: SIGPWR goes to init on power loss. */
#define STOP_SIGNAL SIGPWR
#define MARK_SLICE_NS 1000000u /* the mark thread works in 1 ms slices */
#define MARK_DEFER_NS 100000u  /* and looks again this soon at a mark it left to assists */
/* How long a stop waits for threads to park on their way out of goheap
 * before it signals the others: as long as a signal costs the stopping
 * thread (signal_ns), within these bounds. A thread that allocates comes
 * by within microseconds; a signal costs a system call and an interrupt of
 * the CPU the thread runs on, a few microseconds on bare metal, 20-120 us
 * in a virtual machine that traps the interrupt. Waiting that long before
 * paying for it keeps a stop within twice what the better of the two
 * choices would have cost. */
#define POLL_MIN_NS 8000u
#define POLL_MAX_NS 200000u
unsigned gh_hosted_early_signals;
/* The poll spins this long, then gives its CPU away (give_way) when a
 * thread inside goheap the stop waits for may be waiting for that CPU
 * (more threads than CPUs): it cannot park before it runs. */
#define POLL_SPIN_NS 2000u
/* How long the stopping thread sleeps at a time to leave its CPU to one it
 * waits for (give_way), unless that one wakes it. */
#define GIVE_WAY_NS 50000u
/* A sched_yield that took longer gave the CPU to another thread. */
#define YIELDED_NS 5000u
/* How long a stop yields its CPU, awake, waiting for the rest to park
 * (wait_for_acks), before it sleeps. */
#define SPIN_NS 1000000u
/* and how long without a thread parking before it naps (wait_for_acks) */
#define STUCK_NS 100000u

void (*gh_hosted_panic_hook)(const char *msg);

#define TLS __thread __attribute__((tls_model("initial-exec")))
#define HIDDEN __attribute__((visibility("hidden")))
#define NO_SLOT (-1)
#define EXITED (-2)

static unsigned ncpu;
static pthread_once_t configured = PTHREAD_ONCE_INIT, started = PTHREAD_ONCE_INIT;
/* Processors online, read once (configure): sysconf reads a file in /sys,
 * three system calls, which mark termination cannot afford with the world
 * stopped. */
static unsigned online_cpus;
static pthread_once_t handler_installed = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t reserved_total, reserve_max;
bool gh_hosted_grow = true;
static unsigned char slot_used[MAX_CPUS];
/* This thread's slot and "interrupts off" depth (port_inline.h). */
TLS struct gh_hosted_tls gh_hosted_tls = {NO_SLOT, GH_HOSTED_NOSTOP};
unsigned gh_hosted_shared_slot; /* 0: the slots taken are a prefix */
static unsigned slots_taken = 1; /* slots [0, slots_taken) were ever used */
/* Nesting of irq_save on the shared slot. This thread holds shared_lock
 * while it is above zero, and while it has the world stopped. */
static TLS unsigned shared_depth;
#define my_slot gh_hosted_tls.slot
#define shared_slot gh_hosted_shared_slot
static void *reservation;
static size_t reservation_len;

/* A thread_rec's copy of an interrupted thread's registers: the general
 * ones as the signal context has them, then xmm0-15 as 32 words. */
#define SIGREGS (NGREG + 32)

/*
 * The registry: one record per thread that has called goheap, in the
 * thread's own TLS, on a list under reg_lock. sp and acked are written by
 * the thread as it parks and read by the stopping thread.
 */
struct thread_rec {
	struct thread_rec *next, **pprev;
	pthread_t id;
	uintptr_t lo, top; /* its stack; found as it registers */
	uintptr_t sp;	   /* where it parked: its registers lie above, or in sigregs */
	/* Parked from the stop's signal (by_signal, where SIGNAL_FRAME_EXACT):
	 * the registers of the code it interrupted (the general ones, then
	 * xmm0-15), scanned apart from its stack, which is scanned from that
	 * code's stack pointer (see park). */
	uintptr_t sigregs[SIGREGS];
	unsigned acked;	   /* the stop (value of gh_hosted_world) it parked for */
	bool listed;	   /* on the list */
	bool stopping;	   /* it has the world stopped */
	bool no_roots;	   /* it holds no pointer to a collected object when stopped */
	bool main;	   /* the process's first thread */
	bool registering;  /* in register_thread, finding its stack */
	bool signalled;	   /* the stop under way sent it STOP_SIGNAL */
	bool by_signal;	   /* it last parked in the signal's handler, not by itself */
	/* the stops in a row that had to signal it (up to GH_HOSTED_SIGNAL_STREAK) */
	unsigned char signal_streak;
	/* its gh_hosted_tls.irq: above GH_HOSTED_NOSTOP while it is inside
	 * goheap, from where it parks by itself */
	const unsigned *irq;
	/* The CPU it last ran on, as the kernel keeps it in its rseq area
	 * (glibc registers one for every thread); NULL if it has none. */
	const uint32_t *cpu;
	/* In gh_hosted_do_blocking: its stack from here up holds its roots,
	 * registers included (outside is set meanwhile); 0 otherwise. */
	uintptr_t blocked_sp;
	bool helper;	   /* goheap's own (mark, finalizers), not the program's */
	bool waited_for;   /* the stop under way counts on it (the stopping thread's) */
	/* Waiting outside goheap (helper_block): a helper waiting for work (or
	 * between slices), holding nothing, or a thread in
	 * gh_hosted_do_blocking. OUTSIDE; OUTSIDE_SKIPPED | stop << 2 once a
	 * stop (the world's count, its low 30 bits) went on without it;
	 * OUTSIDE_PARKING while a stop's signal parks it; 0 otherwise. */
	unsigned outside;
};
#define OUTSIDE 1u
#define OUTSIDE_SKIPPED 2u
#define OUTSIDE_PARKING 3u /* signalled while outside: parks for the stop */
static TLS struct thread_rec self;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_rec *threads;
static unsigned nprogram; /* threads on the list that are the program's */
/* Futex words: gh_hosted_world counts stops and restarts, odd while the
 * world is stopped; acks_left counts the threads yet to park. */
HIDDEN unsigned gh_hosted_world;
static unsigned acks_left;
/* The stopping thread sleeps on acks_left (give_way): each thread that
 * parks wakes it, not only the last. */
static unsigned stopper_asleep;
/* What pthread_kill of STOP_SIGNAL costs the stopping thread, ns: a moving
 * average over the signals sent (reg_lock held). */
static uint64_t signal_ns = POLL_MIN_NS;

static unsigned long long env_size(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	unsigned long long n = strtoull(v, &end, 0);
	switch (*end) {
	case 'T':
	case 't':
		n <<= 10; /* fall through */
	case 'G':
	case 'g':
		n <<= 10; /* fall through */
	case 'M':
	case 'm':
		n <<= 10; /* fall through */
	case 'K':
	case 'k':
		n <<= 10;
	}
	return n;
}

/* ---- futexes, by system call: no errno, no libc in the signal handler ---- */

static long futex(unsigned *word, int op, unsigned val, const struct timespec *timeout)
{
	register const struct timespec *r10 __asm__("r10") = timeout;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_futex), "D"(word), "S"((long)op), "d"((long)val), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static void futex_wait(unsigned *word, unsigned val)
{
	futex(word, FUTEX_WAIT_PRIVATE, val, NULL);
}

static void futex_wake(unsigned *word, unsigned n)
{
	futex(word, FUTEX_WAKE_PRIVATE, n, NULL);
}

/* ---- parking ---- */

/* Interrupts off for the port's own purposes (its locks): a stop that
 * arrives meanwhile waits for stops_allow. */
static void stops_defer(void)
{
	__asm__ volatile("incl %0" : "+m"(gh_hosted_tls.irq) : : "memory", "cc");
}

static void stops_allow(void)
{
	bool park_now;
	__asm__ volatile("decl %0" : "+m"(gh_hosted_tls.irq), "=@ccz"(park_now) : : "memory");
	if (park_now || gh_hosted_stop_due())
		gh_hosted_stop_slow();
}

/*
 * Park for the stop under way, once, if this thread is one it waits for.
 * Called with stops deferred (irq depth above zero) or from the signal's
 * handler, so never twice at once. Every register goes onto this stack
 * first: the general ones (the signal frame has them too, but not when
 * the thread parks from gh_hosted_stop_slow or ThreadSanitizer delays the
 * handler) and xmm0-15.
 */
/* Whether the stop w (odd while under way) waits for this thread. */
static bool waits_for_me(unsigned w)
{
	return (w & 1) && self.listed && !self.stopping &&
	       __atomic_load_n(&self.acked, __ATOMIC_RELAXED) != w;
}

/*
 * Parked from the stop's signal, a thread's stack is scanned from where the
 * code it interrupted had its stack pointer (less the 128-byte red zone,
 * which is that code's), and the registers that code had, which the
 * signal frame holds, from a copy in its record. Not the handler's frames
 * and the signal frame between: the kernel lays them over stack that
 * deeper calls used before, and the slots they do not write keep what
 * those calls left, which the scan would take for roots. Under
 * ThreadSanitizer, which runs the handler later than the signal came,
 * the frame's stack pointer may be stale: the thread is scanned from where
 * it parked, as when it parks by itself.
 */
#if defined(__SANITIZE_THREAD__)
#define SIGNAL_FRAME_EXACT 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIGNAL_FRAME_EXACT 0
#endif
#endif
#ifndef SIGNAL_FRAME_EXACT
#define SIGNAL_FRAME_EXACT 1
#endif
#define RED_ZONE 128

static __attribute__((target("general-regs-only"))) uintptr_t from_signal(const ucontext_t *uc)
{
	const mcontext_t *m = &uc->uc_mcontext;
	for (unsigned i = 0; i < NGREG; i++)
		self.sigregs[i] = (uintptr_t)m->gregs[i];
	uintptr_t *xmm = &self.sigregs[NGREG];
	size_t len = (SIGREGS - NGREG) * sizeof(uintptr_t);
	_Static_assert(sizeof(m->fpregs->_xmm) == (SIGREGS - NGREG) * sizeof(uintptr_t),
		       "sigregs holds xmm0-15");
	if (m->fpregs)
		memcpy(xmm, m->fpregs->_xmm, len);
	else
		memset(xmm, 0, len);
	return (uintptr_t)m->gregs[REG_RSP] - RED_ZONE;
}

/* uc: the signal's context when called from its handler, else NULL. */
static __attribute__((noinline, target("general-regs-only"))) void park(const ucontext_t *uc)
{
	unsigned w = __atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE);
	if (!waits_for_me(w))
		return;
	/* Signalled while waiting outside goheap (helper_block): park only if
	 * the stop has not gone on without this thread (skip_outside), and
	 * keep it from doing so meanwhile. */
	unsigned outside = __atomic_load_n(&self.outside, __ATOMIC_ACQUIRE);
	if (outside && (outside != OUTSIDE ||
			!__atomic_compare_exchange_n(&self.outside, &outside, OUTSIDE_PARKING, false,
						     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)))
		return;
	uintptr_t regs[15 + 32], sp;
	__asm__ volatile("mov %%rax, 0(%1)\n\tmov %%rbx, 8(%1)\n\tmov %%rcx, 16(%1)\n\t"
			 "mov %%rdx, 24(%1)\n\tmov %%rsi, 32(%1)\n\tmov %%rdi, 40(%1)\n\t"
			 "mov %%rbp, 48(%1)\n\tmov %%r8, 56(%1)\n\tmov %%r9, 64(%1)\n\t"
			 "mov %%r10, 72(%1)\n\tmov %%r11, 80(%1)\n\tmov %%r12, 88(%1)\n\t"
			 "mov %%r13, 96(%1)\n\tmov %%r14, 104(%1)\n\tmov %%r15, 112(%1)\n\t"
			 "movdqu %%xmm0, 120(%1)\n\tmovdqu %%xmm1, 136(%1)\n\t"
			 "movdqu %%xmm2, 152(%1)\n\tmovdqu %%xmm3, 168(%1)\n\t"
			 "movdqu %%xmm4, 184(%1)\n\tmovdqu %%xmm5, 200(%1)\n\t"
			 "movdqu %%xmm6, 216(%1)\n\tmovdqu %%xmm7, 232(%1)\n\t"
			 "movdqu %%xmm8, 248(%1)\n\tmovdqu %%xmm9, 264(%1)\n\t"
			 "movdqu %%xmm10, 280(%1)\n\tmovdqu %%xmm11, 296(%1)\n\t"
			 "movdqu %%xmm12, 312(%1)\n\tmovdqu %%xmm13, 328(%1)\n\t"
			 "movdqu %%xmm14, 344(%1)\n\tmovdqu %%xmm15, 360(%1)\n\t"
			 "mov %%rsp, %0"
			 : "=r"(sp)
			 : "r"(regs)
			 : "memory");
	self.by_signal = uc != NULL;
	if (SIGNAL_FRAME_EXACT && uc)
		sp = from_signal(uc);
	__atomic_store_n(&self.sp, sp, __ATOMIC_RELAXED);
	__atomic_store_n(&self.acked, w, __ATOMIC_RELEASE);
	if (__atomic_sub_fetch(&acks_left, 1, __ATOMIC_SEQ_CST) == 0 ||
	    __atomic_load_n(&stopper_asleep, __ATOMIC_SEQ_CST))
		futex_wake(&acks_left, 1);
	while (__atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE) == w)
		futex_wait(&gh_hosted_world, w);
	if (outside)
		__atomic_store_n(&self.outside, OUTSIDE, __ATOMIC_RELEASE);
	__asm__ volatile("" : : "r"(regs) : "memory");
}

/* The outermost irq_restore found a stop pending (or, under
 * ThreadSanitizer, under way): park with stops deferred, and again if
 * another stop came meanwhile. */
void GH_HOSTED_SLOW gh_hosted_stop_slow(void)
{
	bool again = false; /* set by the asm; cppcheck cannot tell */
	do {
		__atomic_store_n(&gh_hosted_tls.irq, GH_HOSTED_NOSTOP + 1, __ATOMIC_RELAXED);
		park(NULL);
		__asm__ volatile("decl %0" : "+m"(gh_hosted_tls.irq), "=@ccz"(again) : : "memory");
		/* a stop that began as this one ended saw this thread inside
		 * goheap, and sent no signal */
		again |= gh_hosted_stop_due() && !__atomic_load_n(&self.outside, __ATOMIC_RELAXED) &&
			 waits_for_me(__atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE));
	} while (again);
}

/* Park here, where this thread holds nothing, if a stop waits for it. */
static void park_here(void)
{
	stops_defer();
	park(NULL);
	stops_allow();
}

/* STOP_SIGNAL's handler: async-signal-safe, errno kept. */
static void stop_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si;
	int saved = errno;
	/* in GH_STORE_PTR's test-and-store: test again after the stop */
	gh_store_restart((uintptr_t *)&((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP]);
	if (__atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE) & 1) {
		unsigned irq = gh_hosted_tls.irq;
		if (irq & ~GH_HOSTED_NOSTOP) /* pending */
			__atomic_store_n(&gh_hosted_tls.irq, irq & ~GH_HOSTED_NOSTOP, __ATOMIC_RELAXED);
		else
			park(uc);
	}
	errno = saved;
}

/* Room a signal frame takes below the interrupted code's stack pointer:
 * the red zone, the frame the kernel says it needs (AT_MINSIGSTKSZ; 2 KiB
 * before AVX-512 state), and what the handler takes on it. A stop's signal
 * that finds the thread in goheap returns at once, and leaves in that
 * frame every register of the code it interrupted. */
#define STACK_BELOW(signal_frame) (128u + (signal_frame) + 1024u)
unsigned gh_hosted_stack_below = STACK_BELOW(2048u);

static void install_handler(void)
{
	unsigned long frame = getauxval(AT_MINSIGSTKSZ);
	if (frame > 2048 && frame < (64u << 10))
		__atomic_store_n(&gh_hosted_stack_below, STACK_BELOW((unsigned)frame), __ATOMIC_RELAXED);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = stop_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(STOP_SIGNAL, &sa, NULL) != 0)
		gh_port_panic("gh_port_stop_world: cannot install the stop signal's handler");
}

/* ---- the registry ---- */

/* Take reg_lock without blocking a stop: a registered thread that finds
 * the world stopping parks here, one not registered waits for the restart. */
static void lock_registry(void)
{
	while (pthread_mutex_trylock(&reg_lock) != 0) {
		unsigned w = __atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE);
		if (!(w & 1))
			sched_yield(); /* a thread joining or leaving, or a stop starting */
		else if (self.listed && !self.stopping &&
			 __atomic_load_n(&self.acked, __ATOMIC_RELAXED) != w)
			park_here();
		else
			futex_wait(&gh_hosted_world, w);
	}
}

static void find_stack(struct thread_rec *r);

/* glibc 2.35 and later register an rseq area for every thread, at this
 * offset from the thread pointer; the kernel stores the thread's CPU there
 * each time it returns to it. Weak: older libcs have none. */
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

/* The calling thread's rseq cpu_id, or NULL without one. */
static const uint32_t *rseq_cpu(void)
{
	if (!&__rseq_size || !&__rseq_offset || __rseq_size < 8)
		return NULL;
	/* struct rseq: cpu_id_start, then cpu_id */
	const uint32_t *cpu =
	    (const uint32_t *)((char *)__builtin_thread_pointer() + __rseq_offset + 4);
	return (int32_t)__atomic_load_n(cpu, __ATOMIC_RELAXED) < 0 ? NULL : cpu;
}

/* The calling thread joins the registry (once; not after its exit). */
static void register_thread(void)
{
	if (self.listed || my_slot == EXITED)
		return;
	self.id = pthread_self();
	self.main = getpid() == (pid_t)syscall(SYS_gettid);
	self.irq = &gh_hosted_tls.irq;
	self.cpu = rseq_cpu();
	/* Here rather than in the first stop that counts on this thread:
	 * pthread_getattr_np takes 2-60 us, and may allocate (in goheap
	 * itself when it is the program's malloc: a nested call, on the slot
	 * just taken or the shared one, which registers the thread without
	 * its stack: the first stop then finds it). */
	if (!self.registering) {
		self.registering = true;
		find_stack(&self);
		self.registering = false;
		if (self.listed) /* by the nested call */
			return;
	}
	lock_registry();
	self.next = threads;
	self.pprev = &threads;
	if (threads)
		threads->pprev = &self.next;
	threads = &self;
	self.listed = true;
	if (!self.helper)
		__atomic_add_fetch(&nprogram, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	pthread_setspecific(slot_key, &self); /* release_slot at exit */
}

static void unregister_thread(void)
{
	if (!self.listed)
		return;
	lock_registry();
	*self.pprev = self.next;
	if (self.next)
		self.next->pprev = self.pprev;
	self.listed = false;
	if (!self.helper)
		__atomic_sub_fetch(&nprogram, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
}

/* The main thread's stack ends where the kernel put argv and the
 * environment (glibc's __libc_stack_end); it may grow down to the stack
 * limit. pthread_getattr_np would read /proc/self/maps for it, 30-120 us
 * inside the first stop. */
extern void *__libc_stack_end;

/* The stack's bounds, from pthread_getattr_np (which may allocate). */
static void find_stack(struct thread_rec *r)
{
	pthread_attr_t a;
	void *lo;
	size_t len;
	if (r->top)
		return;
	if (r->main) {
		struct rlimit l;
		r->top = (uintptr_t)__libc_stack_end;
		r->lo = getrlimit(RLIMIT_STACK, &l) == 0 && l.rlim_cur < r->top ? r->top - l.rlim_cur
										: 0;
		return;
	}
	if (pthread_getattr_np(r->id, &a) != 0)
		gh_port_panic("gh_port_stop_world: pthread_getattr_np failed");
	pthread_attr_getstack(&a, &lo, &len);
	pthread_attr_destroy(&a);
	r->lo = (uintptr_t)lo;
	r->top = (uintptr_t)lo + len;
}

/* ---- CPU slots ---- */

/* A thread exits: what its slot caches goes back, then the slot, and it
 * leaves the registry. Later calls use the shared slot, unregistered. */
static void release_slot(void *p)
{
	(void)p;
	if (my_slot >= 0) {
		gh_cache_flush();
		stops_defer();
		pthread_mutex_lock(&slot_lock);
		slot_used[my_slot] = 0;
		my_slot = EXITED;
		pthread_mutex_unlock(&slot_lock);
		stops_allow();
	}
	my_slot = EXITED;
	unregister_thread();
}

/* ---- helper threads: background marking, finalizers ---- */

enum { HELPER_NONE, HELPER_STARTING, HELPER_RUNNING };

struct helper {
	void *(*main)(void *);
	sem_t wake;	/* posted for each request; sem_post never blocks */
	unsigned state; /* HELPER_* */
	bool wanted;	/* to be created at the next safe point */
};

static void *mark_main(void *arg);
static void *finalizer_main(void *arg);
static struct helper marker = {.main = mark_main}, finalizer = {.main = finalizer_main};

/* Creating a thread may allocate and take libc's locks: not with
 * interrupts off, nor with the world stopped. */
static void helper_start(struct helper *h)
{
	unsigned none = HELPER_NONE;
	if (!__atomic_load_n(&h->wanted, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&h->state, __ATOMIC_ACQUIRE) != HELPER_NONE ||
	    (gh_hosted_tls.irq & ~GH_HOSTED_NOSTOP) || self.stopping ||
	    !__atomic_compare_exchange_n(&h->state, &none, HELPER_STARTING, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return;
	/* The helper starts with every signal blocked, so that the program's
	 * go to its own threads; helper_enter lets STOP_SIGNAL in. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t a;
	pthread_t t;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &a, h->main, h) == 0;
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	__atomic_store_n(&h->state, ok ? HELPER_RUNNING : HELPER_NONE, __ATOMIC_RELEASE);
}

static void helper_wake(struct helper *h)
{
	sem_post(&h->wake);
	__atomic_store_n(&h->wanted, true, __ATOMIC_RELAXED);
	helper_start(h);
}

/* A helper's first call into goheap takes its CPU slot and registers it:
 * it holds pointers to collected objects, and the world stops it too. */
static void helper_enter(const char *name)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, STOP_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	pthread_setname_np(pthread_self(), name);
	self.helper = true;
	gh_cache_flush();
}

/*
 * A helper about to block, holding no collected object, says so: a stop
 * that finds it outside neither signals it nor waits for it (waking a
 * sleeping thread to park it costs the pause a trip through the
 * scheduler), and marks it skipped. Coming back, it waits out the stop
 * that skipped it, and parks for any other. Both sides change the word
 * with one atomic step, so exactly one of them decides.
 */
static void helper_block(void)
{
	__atomic_store_n(&self.outside, OUTSIDE, __ATOMIC_RELEASE);
}

static void helper_unblock(void)
{
	unsigned old = __atomic_exchange_n(&self.outside, 0, __ATOMIC_ACQ_REL);
	unsigned skipped = old & OUTSIDE_SKIPPED ? old >> 2 : 0; /* 0: none (stops are odd) */
	for (unsigned w; (w = __atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE)) & 1;) {
		if ((w & (~0u >> 2)) == skipped)
			futex_wait(&gh_hosted_world, w);
		else
			park_here(); /* the stop counts on this thread */
	}
}

/* Wait for a request, for at most ns (0: for as long as it takes); take
 * the ones that came meanwhile with it. False when none came. */
static bool helper_wait(struct helper *h, uint64_t ns)
{
	struct timespec end = {0, 0};
	if (ns) {
		clock_gettime(CLOCK_REALTIME, &end);
		uint64_t nsec = (uint64_t)end.tv_nsec + ns % 1000000000u;
		end.tv_sec += (time_t)(ns / 1000000000u + nsec / 1000000000u);
		end.tv_nsec = (long)(nsec % 1000000000u);
	}
	helper_block();
	int r;
	do /* EINTR: a stop of the world */
		r = ns ? sem_timedwait(&h->wake, &end) : sem_wait(&h->wake);
	while (r != 0 && errno == EINTR);
	while (r == 0 && sem_trywait(&h->wake) == 0)
		;
	helper_unblock();
	return r == 0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	helper_block();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	helper_unblock();
}

/*
 * The background scavenger (Go's bgscavenge), on the mark thread between
 * cycles: every SCAVENGE_PERIOD_NS it gives free memory beyond the retained
 * goal back to the host (gh_scavenge_work, gh_port_release: madvise), for
 * up to SCAVENGE_SLICE_NS at a time, about 1% of a CPU as Go's. It goes on
 * while there is any to give; then it sleeps until the next cycle, whose
 * sweeping frees pages again. True while it found some.
 */
#define SCAVENGE_PERIOD_NS 100000000u
#define SCAVENGE_SLICE_NS 1000000u
#define SCAVENGE_BATCH 64 /* pages per call (runs of at most 64: scavenge.c) */

static bool scavenge_slice(void)
{
	uint64_t t0 = gh_port_nanotime();
	unsigned total = 0, got;
	do
		total += got = gh_scavenge_work(SCAVENGE_BATCH);
	while (got && gh_port_nanotime() - t0 < SCAVENGE_SLICE_NS);
	return total != 0;
}

/*
 * Background marking, at about a quarter of the machine's CPU time: one
 * thread, busy min(1, ncpu/4) of the time, in 1 ms slices with a pause
 * after each in proportion (Go's dedicated mark workers, in one thread).
 * While the program has fewer threads than the machine has CPUs, a CPU is
 * idle (or soon will be), and the thread marks without pausing (Go's idle
 * mark workers, which run on processors that have nothing else to run).
 * A small mark it leaves to the program's assists, looking again every
 * MARK_DEFER_NS for one they stopped moving (GH_GC_BG_DEFER).
 */
static void *mark_main(void *arg)
{
	struct helper *h = arg;
	helper_enter("goheap-mark");
	/* Between its slices of marking (where it can stop) it holds no
	 * collected object, and what the slices left in its dead stack must
	 * not be taken for roots: a signal frame laid over it when the world
	 * stops leaves much of it in the range a scan would cover. */
	self.no_roots = true;
	uint64_t cpus = online_cpus ? online_cpus : 1;
	for (bool scavenging = true;;) {
		if (!helper_wait(h, scavenging ? SCAVENGE_PERIOD_NS : 0)) {
			scavenging = scavenge_slice();
			continue;
		}
		scavenging = true;
		for (;;) {
			uint64_t t0 = gh_port_nanotime();
			enum gh_gc_background_result r = gh_gc_background(MARK_SLICE_NS);
			if (r == GH_GC_BG_DONE) {
				gh_cache_flush(); /* idle, it caches nothing */
				break;
			}
			if (r == GH_GC_BG_DEFER) { /* assists carry a small mark */
				sleep_ns(MARK_DEFER_NS);
				continue;
			}
			bool idle_cpu = __atomic_load_n(&nprogram, __ATOMIC_RELAXED) < cpus;
			if (cpus < 4 && !idle_cpu) /* idle (4 - n) / n of the time worked */
				sleep_ns((gh_port_nanotime() - t0) * (4 - cpus) / cpus);
		}
	}
	return NULL;
}

static void *finalizer_main(void *arg)
{
	struct helper *h = arg;
	helper_enter("goheap-final");
	for (;;) {
		helper_wait(h, 0);
		gh_run_finalizers();
		/* idle, it caches nothing: the spans it freed records into go back */
		gh_cache_flush();
		gh_clear_stack(16384); /* the objects just finalized stay no longer */
	}
	return NULL;
}

/* ---- start-up, fork ---- */

static void stop_others(void);

/* A fork stops the other threads first, each outside goheap: one in the
 * middle of a lock-free step (a span it is freeing, say) would leave that
 * step half done in the child, which has no such thread to finish it. */
static bool fork_stopped;

static void fork_prepare(void)
{
	fork_stopped = !self.stopping && shared_depth == 0;
	if (fork_stopped) {
		pthread_once(&handler_installed, install_handler);
		stop_others(); /* holds reg_lock and shared_lock */
	} else {
		lock_registry();
		pthread_mutex_lock(&shared_lock);
	}
	pthread_mutex_lock(&grow_lock);
	pthread_mutex_lock(&slot_lock);
	gh_fork_prepare();
}

static void fork_parent(void)
{
	gh_fork_parent();
	pthread_mutex_unlock(&slot_lock);
	pthread_mutex_unlock(&grow_lock);
	if (fork_stopped) {
		gh_port_start_world();
		return;
	}
	pthread_mutex_unlock(&shared_lock);
	pthread_mutex_unlock(&reg_lock);
}

static void fork_child(void)
{
	gh_fork_child();
	threads = NULL;
	nprogram = self.listed && !self.helper;
	if (self.listed) {
		self.next = NULL;
		self.pprev = &threads;
		threads = &self;
		self.id = pthread_self();
	}
	acks_left = 0;
	if (fork_stopped) {
		gh_hosted_world++; /* even: running */
		self.stopping = false;
	}
	struct helper *hs[] = {&marker, &finalizer};
	for (unsigned i = 0; i < 2; i++) {
		sem_init(&hs[i]->wake, 0, 0);
		hs[i]->state = HELPER_NONE;
	}
	pthread_mutex_unlock(&slot_lock);
	pthread_mutex_unlock(&grow_lock);
	pthread_mutex_unlock(&shared_lock);
	pthread_mutex_unlock(&reg_lock);
}

/* The CPU slots: needed by gh_init itself, so set up apart from start(). */
static void configure(void)
{
	ncpu = (unsigned)env_size("GOHEAP_HOSTED_CPUS", DEFAULT_CPUS);
	if (ncpu < 2 || ncpu > MAX_CPUS)
		ncpu = DEFAULT_CPUS;
	shared_slot = 0;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	online_cpus = online > 0 ? (unsigned)online : 0;
	sem_init(&marker.wake, 0, 0);
	sem_init(&finalizer.wake, 0, 0);
	pthread_key_create(&slot_key, release_slot);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* GOHEAP_GOGC and GOHEAP_MEMLIMIT, as Go reads GOGC and GOMEMLIMIT: a
 * percentage or "off", and a size in bytes (with a K, M, G or T suffix) or
 * "off". A value that is neither is reported and left at the default. */
static void collector_settings(void)
{
	const char *v = getenv("GOHEAP_GOGC");
	if (v && *v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (!strcmp(v, "off"))
			gh_set_gc_percent(-1);
		else if (!*end && n >= 0 && n <= INT32_MAX)
			gh_set_gc_percent((int)n);
		else
			fprintf(stderr, "goheap: GOHEAP_GOGC=%s is neither a percentage nor off; "
					"keeping 100\n", v);
	}
	v = getenv("GOHEAP_MEMLIMIT");
	if (v && *v && strcmp(v, "off")) {
		unsigned long long limit = *v >= '0' && *v <= '9' ? env_size("GOHEAP_MEMLIMIT", 0) : 0;
		if (limit)
			gh_set_memory_limit(limit);
		else
			fprintf(stderr, "goheap: GOHEAP_MEMLIMIT=%s is neither a size nor off; "
					"keeping none\n", v);
	}
}

static void start(void)
{
	pthread_once(&configured, configure);
	reservation_len = env_size("GOHEAP_HOSTED_MEM", DEFAULT_MEM);
	reservation = mmap(NULL, reservation_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reservation == MAP_FAILED) {
		fprintf(stderr, "goheap: cannot reserve %zu bytes: %s\n", reservation_len,
			strerror(errno));
		abort();
	}
	reserved_total = reservation_len;
	reserve_max = env_size("GOHEAP_HOSTED_MAX", 1ull << 40);
	struct gh_range r = {(uintptr_t)reservation, reservation_len};
	if (gh_init(&r, 1) != 0) {
		fprintf(stderr, "goheap: gh_init failed on %zu bytes\n", reservation_len);
		abort();
	}
	collector_settings();
}

void gh_port_first_use(void)
{
	pthread_once(&started, start);
}

bool gh_port_grow(size_t bytes)
{
	bool ok = false;
	if (!gh_hosted_grow)
		return false;
	stops_defer();
	pthread_mutex_lock(&grow_lock);
	/* Double what goheap has, or more for a large request (plus room for
	 * the range's metadata). */
	size_t len = reserved_total > bytes ? reserved_total : bytes + bytes / 8 + (64 << 20);
	len = (len + (1 << 30) - 1) & ~(size_t)((1 << 30) - 1);
	if (reserved_total + len <= reserve_max) {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED && gh_add_memory((uintptr_t)p, len) == 0) {
			reserved_total += len;
			ok = true;
		} else if (p != MAP_FAILED) {
			munmap(p, len);
		}
	}
	pthread_mutex_unlock(&grow_lock);
	stops_allow();
	return ok;
}

void gh_hosted_reservation(void **base, size_t *len)
{
	gh_port_first_use();
	*base = reservation;
	*len = reservation_len;
}

unsigned gh_port_ncpu(void)
{
	pthread_once(&configured, configure);
	return ncpu;
}

unsigned gh_port_ncpu_used(void)
{
	return __atomic_load_n(&slots_taken, __ATOMIC_SEQ_CST);
}

unsigned gh_port_nprocs(void)
{
	pthread_once(&configured, configure);
	unsigned n = gh_port_ncpu();
	return online_cpus && online_cpus < n ? online_cpus : n;
}

/* A slot of this thread's own, if one is free. */
static bool claim_slot(void)
{
	pthread_once(&configured, configure);
	pthread_mutex_lock(&slot_lock);
	bool first = false;
	for (unsigned i = shared_slot + 1; i < ncpu; i++)
		if (!slot_used[i]) {
			slot_used[i] = 1;
			my_slot = (int)i;
			first = i >= slots_taken;
			if (first) /* then a look for gh_init's CPUs: gh_cpu_prepare */
				__atomic_store_n(&slots_taken, i + 1, __ATOMIC_SEQ_CST);
			break;
		}
	pthread_mutex_unlock(&slot_lock);
	if (first)
		gh_cpu_prepare((unsigned)my_slot);
	return my_slot >= 0;
}

/* The outermost irq_save of a thread without a slot of its own: it takes
 * one if it can, and joins the registry; otherwise it uses the shared
 * slot, under a mutex held from the outermost irq_save to the matching
 * restore. Stops are deferred already (the caller counted the depth up). */
unsigned long GH_HOSTED_SLOW gh_hosted_save_slow(void)
{
	if (my_slot == NO_SLOT && shared_depth == 0) {
		bool mine = claim_slot();
		register_thread();
		if (mine)
			return 0;
	}
	if (shared_depth++ == 0 && !self.stopping)
		pthread_mutex_lock(&shared_lock);
	return 1;
}

void GH_HOSTED_SLOW gh_hosted_restore_slow(void)
{
	if (--shared_depth == 0 && !self.stopping)
		pthread_mutex_unlock(&shared_lock);
	/* Not a tail call: clang restores the saved registers, the argument
	 * among them, before jumping to one. */
	__asm__ volatile("");
}

void gh_port_relax(unsigned spins)
{
	__builtin_ia32_pause();
	/* A spin with interrupts on (for the collector's lock, or an assist
	 * waiting for work) is a place to stop: the stop finds the thread
	 * here, as where it leaves goheap, and needs no signal for it (under
	 * ThreadSanitizer, none would reach it). */
	if (gh_hosted_stop_due())
		park_here();
	if (spins % 64 == 0) /* the holder may be a preempted thread */
		sched_yield();
}

void gh_port_panic(const char *msg)
{
	if (gh_hosted_panic_hook)
		gh_hosted_panic_hook(msg);
	fprintf(stderr, "goheap: panic: %s\n", msg);
	abort();
}

void gh_port_log(const char *msg)
{
	fprintf(stderr, "goheap: %s\n", msg);
}

bool gh_port_release(void *addr, size_t len)
{
	return madvise(addr, len, MADV_DONTNEED) == 0;
}

bool gh_port_memory_zeroed(void)
{
	return true; /* anonymous mmap */
}

/* ---- the collector's hooks ---- */

uint64_t gh_port_nanotime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The stop w goes on without r if r waits outside goheap (helper_block):
 * true when it did, and r is no longer counted. */
static bool skip_outside(struct thread_rec *r, unsigned w)
{
	unsigned outside = __atomic_load_n(&r->outside, __ATOMIC_ACQUIRE);
	if (!outside || outside == OUTSIDE_PARKING ||
	    !__atomic_compare_exchange_n(&r->outside, &outside, OUTSIDE_SKIPPED | w << 2,
						     false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;
	r->waited_for = false;
	__atomic_sub_fetch(&acks_left, 1, __ATOMIC_ACQ_REL);
	return true;
}

static void signal_to_stop(struct thread_rec *r)
{
	r->signalled = true;
	uint64_t t0 = gh_port_nanotime();
	int err = pthread_kill(r->id, STOP_SIGNAL);
	uint64_t d = gh_port_nanotime() - t0;
	signal_ns = signal_ns - signal_ns / 4 + (d < POLL_MAX_NS ? d : POLL_MAX_NS) / 4;
	if (err != 0)
		__atomic_sub_fetch(&acks_left, 1, __ATOMIC_ACQ_REL); /* gone */
}

/* The stop w still waits for r: it counts on r, which has not parked for
 * it nor been skipped outside goheap. */
static bool still_waited(const struct thread_rec *r, unsigned w)
{
	return r->waited_for && __atomic_load_n(&r->acked, __ATOMIC_ACQUIRE) != w &&
	       !__atomic_load_n(&r->outside, __ATOMIC_RELAXED);
}

/* Whether the stop w still waits for a thread it has not signalled. */
static bool one_unsignalled(unsigned w)
{
	for (struct thread_rec *r = threads; r; r = r->next)
		if (still_waited(r, w) && !r->signalled)
			return true;
	return false;
}

/* Whether stops signal r early: the signal had to park it in each of the
 * last GH_HOSTED_SIGNAL_STREAK stops (one that computes outside goheap). */
static bool signalled_early(const struct thread_rec *r)
{
	return r->signal_streak >= GH_HOSTED_SIGNAL_STREAK;
}

/* Whether a thread the stop w still waits for last ran on the CPU the
 * calling thread runs on: it is not running then, and waits for this CPU
 * (or sleeps). With ready, only one that parks as soon as it runs: one
 * inside goheap, or signalled, or one not signalled early (a thread that
 * allocates). */
static bool one_waits_here(unsigned w, bool ready)
{
	if (!self.cpu)
		return false;
	uint32_t here = __atomic_load_n(self.cpu, __ATOMIC_RELAXED);
	for (struct thread_rec *r = threads; r; r = r->next)
		if (still_waited(r, w) && r->cpu &&
		    __atomic_load_n(r->cpu, __ATOMIC_RELAXED) == here &&
		    (!ready || r->signalled || !signalled_early(r) ||
		     (__atomic_load_n(r->irq, __ATOMIC_RELAXED) & ~GH_HOSTED_NOSTOP)))
			return true;
	return false;
}

/* The stopping thread sleeps until a thread parks, or for GIVE_WAY_NS. */
static void nap(void)
{
	struct timespec t = {0, GIVE_WAY_NS};
	unsigned n = __atomic_load_n(&acks_left, __ATOMIC_SEQ_CST);
	__atomic_store_n(&stopper_asleep, 1, __ATOMIC_SEQ_CST);
	if (n && __atomic_load_n(&acks_left, __ATOMIC_SEQ_CST) == n)
		futex(&acks_left, FUTEX_WAIT_PRIVATE, n, &t);
	__atomic_store_n(&stopper_asleep, 0, __ATOMIC_RELAXED);
}

/*
 * The stopping thread, waiting for threads to park, leaves its CPU to
 * them (ready: to those that park as soon as they run; see
 * one_waits_here): it yields. A yield gives the CPU only to a thread the
 * scheduler owes it to (EEVDF picks one that has not had its share), so a
 * program thread that has had the CPU for long would wait behind the
 * stopping one, for milliseconds when that is the mark thread back from
 * its sleep. When the yield came straight back and such a thread last ran
 * on this CPU, the stopping thread sleeps until a thread parks or for
 * GIVE_WAY_NS. Not otherwise: a
 * sleep would leave its CPU idle, and in a virtual machine a halted CPU is
 * slow to wake (see wait_for_acks), and waking the stopping thread as each
 * one parks is slower than yielding to threads that do run when it yields.
 */
static void give_way(unsigned w, bool ready)
{
	uint64_t t0 = gh_port_nanotime();
	sched_yield();
	if (gh_port_nanotime() - t0 <= YIELDED_NS && one_waits_here(w, ready))
		nap();
}

/*
 * Wait until every thread the stop w counts on has parked. For the first
 * SPIN_NS it gives its CPU away (give_way), awake unless a thread still to
 * park waits for this CPU: a sleeping CPU, in a virtual machine, halts,
 * and waking it again for the last acknowledgement took up to 0.5 ms.
 * But when no thread has parked for STUCK_NS, it naps: one it waits for
 * may be runnable behind another task on its own CPU (a kernel thread
 * there took 4-12 ms at a time), and the scheduler moves a waiting thread
 * only to a CPU that goes idle, as this one does while it naps.
 * Then it sleeps, 1 ms at a time, and signals again. One that went to
 * wait outside goheap after it was signalled is skipped then (under
 * ThreadSanitizer, a signal does not reach a thread blocked in a system
 * call). Say so once if this takes long (a thread blocking STOP_SIGNAL).
 */
static void wait_for_acks(unsigned w)
{
	static const char msg[] = "goheap: gh_port_stop_world: threads have not stopped after "
				  "10 s (is the stop signal, SIGPWR, blocked in one?)\n";
	struct timespec ms = {0, 1000000};
	unsigned waited = 0, left = __atomic_load_n(&acks_left, __ATOMIC_ACQUIRE);
	for (uint64_t t0 = gh_port_nanotime(), t = t0, moved = t0; left && t - t0 < SPIN_NS;
	     t = gh_port_nanotime()) {
		unsigned n = __atomic_load_n(&acks_left, __ATOMIC_ACQUIRE);
		if (n != left)
			left = n, moved = t;
		if (t - moved >= STUCK_NS) {
			nap();
			moved = gh_port_nanotime();
		} else
			give_way(w, false);
	}
	for (unsigned n; (n = __atomic_load_n(&acks_left, __ATOMIC_ACQUIRE)) != 0;) {
		if (futex(&acks_left, FUTEX_WAIT_PRIVATE, n, &ms) != -ETIMEDOUT)
			continue;
		for (struct thread_rec *r = threads; r; r = r->next)
			if (r->waited_for && __atomic_load_n(&r->acked, __ATOMIC_ACQUIRE) != w &&
			    !skip_outside(r, w) && !r->signalled)
				signal_to_stop(r);
		if (++waited == 10000)
			(void)!write(2, msg, sizeof(msg) - 1);
	}
}

void gh_port_stop_world(void)
{
	if (self.stopping)
		gh_port_panic("gh_port_stop_world: this thread has the world stopped already");
	pthread_once(&configured, configure);
	pthread_once(&handler_installed, install_handler);
	/* Finalizers may be queued with interrupts off, where no thread can
	 * be created: their thread starts with the first collection, once
	 * the world runs again (gh_port_start_world). */
	__atomic_store_n(&finalizer.wanted, true, __ATOMIC_RELAXED);
	register_thread(); /* its stack is scanned too */
	stop_others();
}

/* Signal the threads stop w waits for (only those the last stop had to,
 * when first): not one inside goheap, where a signal only marks the stop
 * pending, and costs the stop 5-50 us in pthread_kill. (Should such a
 * thread have seen the world running as it left, the store of its irq
 * still in flight, wait_for_acks signals it later.) */
static void signal_outside(unsigned w, bool first)
{
	for (struct thread_rec *r = threads; r; r = r->next) {
		if (!r->waited_for || r->signalled || (first && !signalled_early(r)) ||
		    __atomic_load_n(&r->acked, __ATOMIC_ACQUIRE) == w || skip_outside(r, w) ||
		    (__atomic_load_n(r->irq, __ATOMIC_RELAXED) & ~GH_HOSTED_NOSTOP))
			continue;
		if (first)
			__atomic_add_fetch(&gh_hosted_early_signals, 1, __ATOMIC_RELAXED);
		signal_to_stop(r);
	}
}

/* Stop every registered thread but this one, each outside goheap; hold the
 * registry and the shared slot until gh_port_start_world. */
static void stop_others(void)
{
	self.id = pthread_self();
	lock_registry();
	unsigned n = 0;
	for (struct thread_rec *r = threads; r; r = r->next)
		if (r != &self) {
			find_stack(r);
			n++;
		}
	self.waited_for = false;
	find_stack(&self);
	__atomic_store_n(&self.stopping, true, __ATOMIC_RELAXED);
	__atomic_store_n(&acks_left, n, __ATOMIC_RELAXED);
	unsigned w = __atomic_add_fetch(&gh_hosted_world, 1, __ATOMIC_ACQ_REL); /* odd: stopping */
	for (struct thread_rec *r = threads; r; r = r->next) {
		r->signalled = false;
		if (r != &self) {
			r->waited_for = true;
			skip_outside(r, w);
		}
	}
	/* Threads on their way out of goheap park by themselves, while the
	 * others wait for the signal. A thread signalled early (one that
	 * computes outside goheap) is signalled after POLL_MIN_NS rather than
	 * the whole poll; every GH_HOSTED_RELEARN-th stop polls for it again.
	 * Not at once: one that allocates comes by sooner than that, and
	 * pthread_kill took the stopping thread 25-95 us in a virtual machine,
	 * even when the thread parked by itself meanwhile. Not after one stop
	 * that needed the signal either: a thread that allocates needs it now
	 * and then, when a page fault or another task keeps it from coming by.
	 * The poll gives way only to threads that park when they run (see
	 * one_waits_here): one that computes outside goheap, not signalled,
	 * would compute on the CPU given to it. Giving way to one that
	 * allocates, rather than signalling it after the poll, took the
	 * stops of over 100 us in gcbench pauses from 11% to 2%. */
	bool early = (w >> 1) % GH_HOSTED_RELEARN != 0;
	uint64_t poll = signal_ns < POLL_MIN_NS ? POLL_MIN_NS : signal_ns;
	for (uint64_t t0 = gh_port_nanotime(), t = t0;
	     __atomic_load_n(&acks_left, __ATOMIC_ACQUIRE) && t - t0 < poll && one_unsignalled(w);
	     t = gh_port_nanotime()) {
		if (early && t - t0 >= POLL_MIN_NS) {
			signal_outside(w, true);
			early = false;
		} else if (t - t0 >= POLL_SPIN_NS && one_waits_here(w, true))
			give_way(w, true);
		else
			__builtin_ia32_pause();
	}
	signal_outside(w, false);
	wait_for_acks(w);
	/* Signalled is not needed: a signalled thread that came by before
	 * the signal reached it did not need one. */
	for (struct thread_rec *r = threads; r; r = r->next) {
		if (!r->waited_for)
			continue;
		bool needed = r->signalled &&
			      (__atomic_load_n(&r->acked, __ATOMIC_ACQUIRE) != w || r->by_signal);
		if (!needed)
			r->signal_streak = 0;
		else if (r->signal_streak < GH_HOSTED_SIGNAL_STREAK)
			r->signal_streak++;
	}
	/* Threads past their exit use the shared slot unregistered: keep them out. */
	if (shared_depth == 0)
		pthread_mutex_lock(&shared_lock);
}

void gh_port_start_world(void)
{
	if (!self.stopping)
		gh_port_panic("gh_port_start_world: this thread has not stopped the world");
	if (shared_depth == 0) /* else the shared section under way keeps it */
		pthread_mutex_unlock(&shared_lock);
	__atomic_add_fetch(&gh_hosted_world, 1, __ATOMIC_ACQ_REL); /* even: running */
	futex_wake(&gh_hosted_world, INT32_MAX);
	__atomic_store_n(&self.stopping, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	helper_start(&marker); /* woken while the world was stopped */
	helper_start(&finalizer);
}

void gh_port_scan_stacks(void (*scan)(void *ctx, uintptr_t lo, uintptr_t hi), void *ctx)
{
	if (!self.stopping)
		gh_port_panic("gh_port_scan_stacks: this thread has not stopped the world");
	uintptr_t sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	scan(ctx, sp, self.top);
	unsigned w = __atomic_load_n(&gh_hosted_world, __ATOMIC_ACQUIRE);
	for (struct thread_rec *r = threads; r; r = r->next) {
		if (r == &self || r->no_roots)
			continue; /* the caller, or the mark thread */
		uintptr_t at;
		if (!r->waited_for) /* outside: in gh_hosted_do_blocking, or a helper waiting */
			at = __atomic_load_n(&r->blocked_sp, __ATOMIC_RELAXED);
		else if (__atomic_load_n(&r->acked, __ATOMIC_ACQUIRE) == w)
			at = __atomic_load_n(&r->sp, __ATOMIC_RELAXED);
		else
			continue; /* gone before the signal reached it */
		if (!at)
			continue;
		if (at < r->lo || at >= r->top)
			gh_port_panic("gh_port_scan_stacks: a thread parked off its stack "
				      "(on a sigaltstack)");
		scan(ctx, at, r->top);
		if (r->waited_for && SIGNAL_FRAME_EXACT && r->by_signal)
			scan(ctx, (uintptr_t)r->sigregs, (uintptr_t)(r->sigregs + SIGREGS));
	}
}

void *gh_hosted_do_blocking(void *(*fn)(void *), void *arg)
{
	if (!self.listed || self.helper || self.stopping)
		return fn(arg); /* no stop waits for it anyway */
	if (gh_hosted_tls.irq != GH_HOSTED_NOSTOP)
		gh_port_panic("gh_hosted_do_blocking: called with interrupts off (inside goheap)");
	/* the caller's callee-saved registers, onto this stack, above sp */
	uintptr_t regs[6], sp;
	GH_SPILL_CALLEE_SAVED(regs);
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	__atomic_store_n(&self.blocked_sp, sp, __ATOMIC_RELAXED);
	helper_block();
	void *ret = fn(arg);
	helper_unblock(); /* waits out a stop that went on without this thread */
	__atomic_store_n(&self.blocked_sp, 0, __ATOMIC_RELAXED);
	__asm__ volatile("" : : "r"(regs) : "memory");
	return ret;
}

void gh_port_gc_started(void)
{
	helper_wake(&marker);
}

void gh_port_finalizers_queued(void)
{
	helper_wake(&finalizer);
}
