/*
 * port_inline.h — the hosted port's fast-path functions, inline (see
 * port.h). A thread with a slot of its own finds it in a thread-local
 * variable. "Interrupts off" defers a stop of the world: irq_save counts up
 * a thread-local depth, irq_restore counts it down, each with one
 * instruction that a signal on the same thread cannot split, and a stop
 * that arrived meanwhile (port.c) parks the thread at the outermost
 * restore.
 */
#ifndef GOHEAP_HOSTED_PORT_INLINE_H
#define GOHEAP_HOSTED_PORT_INLINE_H

/*
 * irq is the depth of irq_save nesting plus GH_HOSTED_NOSTOP. The stop
 * signal's handler clears that bit when it finds the depth above zero (a
 * stop is pending), so the decrement of the outermost restore reaches zero
 * exactly when the thread must park: "decl; jz" tests both at once.
 */
#define GH_HOSTED_NOSTOP 0x80000000u
struct gh_hosted_tls {
	int slot;     /* this thread's CPU slot; negative: the shared one (port.c) */
	unsigned irq; /* irq_save depth | GH_HOSTED_NOSTOP unless a stop is pending */
};
extern __thread struct gh_hosted_tls gh_hosted_tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern unsigned gh_hosted_shared_slot __attribute__((visibility("hidden")));
/* GH_PORT_STACK_BELOW (port.h): a signal frame, set when the stop signal's
 * handler is installed (port.c). */
extern unsigned gh_hosted_stack_below __attribute__((visibility("hidden")));
#define GH_PORT_STACK_BELOW __atomic_load_n(&gh_hosted_stack_below, __ATOMIC_RELAXED)
/* The slow paths keep every register, so that the callers' fast paths need
 * not save any around them. */
#define GH_HOSTED_SLOW                                                                 \
	__attribute__((visibility("hidden"), used, no_caller_saved_registers,            \
		       target("general-regs-only")))
unsigned long gh_hosted_save_slow(void) GH_HOSTED_SLOW;
void gh_hosted_restore_slow(void) GH_HOSTED_SLOW;
/* The outermost restore with a stop pending: park until the world restarts. */
void gh_hosted_stop_slow(void) GH_HOSTED_SLOW;

/*
 * Call a slow path that keeps every register, hidden from the compiler so
 * that the fast path around it saves none either. Below the red zone, on a
 * 16-byte aligned stack, as the callee's own calls into libc expect.
 */
#define GH_HOSTED_CALL(fn, out)                                                          \
	__asm__ volatile("lea -128(%%rsp), %%rax\n\t"                                      \
			 "and $-16, %%rax\n\t"                                               \
			 "xchg %%rax, %%rsp\n\t"                                             \
			 "push %%rax\n\t"                                                    \
			 "push %%rax\n\t"                                                    \
			 "call " #fn "\n\t"                                                  \
			 "mov 8(%%rsp), %%rsp"                                               \
			 : "=a"(out)                                                         \
			 :                                                                   \
			 : "memory", "cc")

/* Odd while a stop is under way (port.c). The outermost restore looks at
 * it: a thread busy in goheap parks there before the stop's signal reaches
 * it, which saves the signal (a system call, and an interrupt of the CPU
 * the thread runs on) for the threads that do not come by. ThreadSanitizer
 * delivers asynchronous signals only when a thread next calls into libc,
 * so under it this is how threads busy in goheap stop at all. */
extern unsigned gh_hosted_world __attribute__((visibility("hidden")));
/* Stop number n (gh_hosted_world >> 1 while it is under way) polls for
 * every thread when n % GH_HOSTED_RELEARN is 0, even those the last stops
 * had to signal, which the others signal early (port.c). */
#define GH_HOSTED_RELEARN 16u
/* A stop signals a thread early (after a short poll, not the whole one)
 * once the signal had to park it in this many stops in a row: one that
 * computes outside goheap. gh_hosted_early_signals counts the signals sent
 * so. */
#define GH_HOSTED_SIGNAL_STREAK 2u
extern unsigned gh_hosted_early_signals __attribute__((visibility("hidden")));
#if defined(__SANITIZE_THREAD__)
#define GH_HOSTED_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GH_HOSTED_TSAN 1
#endif
#endif

/* A stop is under way and this thread is outside goheap (depth 0): where
 * it leaves goheap, it parks. */
static inline bool gh_hosted_stop_due(void)
{
	return __builtin_expect(__atomic_load_n(&gh_hosted_world, __ATOMIC_RELAXED) & 1, 0) &&
	       gh_hosted_tls.irq == GH_HOSTED_NOSTOP;
}

static inline unsigned long gh_port_irq_save(void)
{
	unsigned long cookie = 0;
	/* The "memory" clobbers keep goheap's accesses between save and restore. */
	__asm__ volatile("incl %0" : "+m"(gh_hosted_tls.irq) : : "memory", "cc");
	if (__builtin_expect(gh_hosted_tls.slot < 0, 0))
		GH_HOSTED_CALL(gh_hosted_save_slow, cookie);
	return cookie;
}

static inline void gh_port_irq_restore(unsigned long cookie)
{
	unsigned long unused;
	if (__builtin_expect(cookie != 0, 0))
		GH_HOSTED_CALL(gh_hosted_restore_slow, unused);
	__asm__ goto("decl %0\n\t"
		     "jz %l[stop]"
		     :
		     : "m"(gh_hosted_tls.irq)
		     : "memory", "cc"
		     : stop);
	if (gh_hosted_stop_due())
		goto stop;
	return;
stop:
	GH_HOSTED_CALL(gh_hosted_stop_slow, unused);
	(void)unused;
}

static inline unsigned gh_port_cpu(void)
{
	int slot = gh_hosted_tls.slot;
	return slot >= 0 ? (unsigned)slot : gh_hosted_shared_slot;
}

#endif
