/*
 * port.h — what a kernel provides to goheap.
 *
 * goheap is freestanding: everything it needs from its host goes through the
 * functions below. Two ports implement them: the reference kernel
 * (kernel/goheap_port.c) and the hosted port for Linux user space
 * (alloc/hosted/port.c). A new port starts from either.
 *
 * Porting, in order:
 *   1. gh_port_panic and gh_port_log: output first, so the rest can complain.
 *   2. gh_port_ncpu, gh_port_cpu, gh_port_irq_save/restore: the per-CPU
 *      caches rely on "this CPU" staying the same while interrupts (or
 *      preemption) are off.
 *   3. gh_port_relax: what a spinning CPU does.
 *   4. Call gh_init() with the free physical ranges, reachable at the
 *      addresses given (a direct map, or identity mapping).
 *   5. Optionally gh_port_release, for the scavenger, and gh_port_grow,
 *      to find more memory when goheap runs out.
 *   6. For the collector (gh_new), the hooks at the end of this file:
 *      a clock, stopping the world, the stacks to scan, and scheduling
 *      background marking and finalizers. goheap has defaults for them
 *      (weak symbols) that serve a port which never calls gh_new.
 *
 * Unless a comment says otherwise, each function may be called with
 * interrupts disabled and from interrupt context, and must not call back
 * into goheap.
 */
#ifndef GOHEAP_PORT_H
#define GOHEAP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Number of CPUs goheap keeps per-CPU state for: gh_port_cpu() is always
 * below it. Constant after gh_init(). */
unsigned gh_port_ncpu(void);

/*
 * The three functions on every allocation's fast path. A port may define
 * them as static inline functions in a header of its own, named by the
 * macro GH_PORT_INLINE_H when goheap is compiled (for example
 * -DGH_PORT_INLINE_H='"hosted/port_inline.h"', relative to alloc/); the
 * reference kernel and the hosted port both do, so that gh_malloc and
 * gh_free make no call at all.
 */
#ifdef GH_PORT_INLINE_H
#include GH_PORT_INLINE_H
#else
/* Index of the calling CPU. Only meaningful between gh_port_irq_save() and
 * the matching restore: goheap never uses it with interrupts enabled. */
unsigned gh_port_cpu(void);

/* Disable interrupts (or preemption) on this CPU and return a cookie with
 * the previous state; restore puts that state back. Nests. */
unsigned long gh_port_irq_save(void);
void gh_port_irq_restore(unsigned long cookie);
#endif

/* Called in every spin-wait loop with the number of spins so far. A kernel
 * executes "pause"; a hosted port may also yield to the scheduler. */
void gh_port_relax(unsigned spins);

/* Bad input or a broken invariant: msg names the address and what was
 * wrong ("gh_page_free(0x...): not the start of a page allocation"). Must
 * not return into goheap. A test harness may catch it and unwind. */
__attribute__((noreturn)) void gh_port_panic(const char *msg);

/* One line of diagnostic output (no trailing newline in msg). */
void gh_port_log(const char *msg);

/* goheap was used before gh_init(). A port that starts goheap lazily (the
 * hosted one) calls gh_init() here, at most once even when several CPUs
 * arrive together; a kernel that calls gh_init() at boot panics. */
void gh_port_first_use(void);

/* goheap has no free run for a request of bytes (its size plus its
 * alignment). A port that can find more memory gives it to goheap with
 * gh_add_memory and returns true, and goheap tries once more; one that
 * cannot returns false, and the request fails. Called with no goheap lock
 * held, possibly with interrupts off. Optional: return false. */
bool gh_port_grow(size_t bytes);

/* The scavenger no longer needs [addr, addr+len) (page aligned): the port
 * may give the frames back to the hypervisor or the host. Returns true when
 * the range reads as zeros afterwards (madvise(MADV_DONTNEED) on anonymous
 * memory), false when its contents are kept or unknown. Optional: a port
 * with nothing to do returns false. */
bool gh_port_release(void *addr, size_t len);

/* Whether the memory given to gh_init and gh_add_memory reads as zeros and
 * is not yet backed (fresh anonymous mmap): goheap then counts it as
 * released, as if gh_port_release had given it back, and zeroes none of it
 * before its first use. Optional (a weak default says false): a kernel's
 * free frames hold whatever the firmware left. */
bool gh_port_memory_zeroed(void);

/* ---- the collector ---- */

/* Nanoseconds since any fixed point, never going back: for the pacer and
 * gctrace. Default: 0 (no timings). */
uint64_t gh_port_nanotime(void);

/*
 * Stop every other CPU that may hold pointers to collected objects, each at
 * a point where its interrupts are enabled (so it holds no goheap lock and
 * is in none of goheap's per-CPU code), with its registers saved on its own
 * stack; return when all have stopped. start_world lets them go on.
 * goheap calls stop_world with interrupts enabled, holding no lock, one
 * CPU at a time. A CPU spinning with interrupts disabled on something the
 * stopping CPU holds would deadlock it: such waits must not wait for a CPU
 * that collects. Default: panics (a port without gh_new never stops).
 */
void gh_port_stop_world(void);
void gh_port_start_world(void);

/*
 * With the world stopped: call scan(ctx, lo, hi) for each stack that may
 * hold pointers to collected objects, the part in use [lo, hi), with the
 * registers of its CPU (or thread) saved inside that range, or reported
 * as a range of their own right after it: every stopped CPU's, and the
 * calling CPU's from its current stack pointer up (goheap has spilled its
 * own registers onto its stack before the call). A kernel with threads
 * reports every thread's stack. Default: panics.
 */
void gh_port_scan_stacks(void (*scan)(void *ctx, uintptr_t lo, uintptr_t hi), void *ctx);

/*
 * How far below goheap's deepest frame code that goheap does not see may
 * write while goheap runs, in bytes: what it writes there (the registers
 * of an interrupted marking loop) is left for a later frame to hand to the
 * conservative scan, so gh_clear_stack zeroes this much more. An interrupt
 * frame pushed by the CPU, with the registers a handler saves, fits in
 * what gh_clear_stack's callers already ask for. Default: 0. The hosted
 * port says how large the kernel's signal frame is (3.4 KiB with AVX-512
 * state).
 */
#ifndef GH_PORT_STACK_BELOW
#define GH_PORT_STACK_BELOW 0
#endif

/* Zero the scratch registers (rax, rcx, rdx, rsi, rdi, r8-r11, and
 * xmm0-15 where the code may use SSE), then run the instructions in the
 * string then ("" for none). What they last held is dead, but a stop that
 * saves them would have its conservative scan take it for roots
 * (gh_clear_stack; the reference kernel's idle loop, before it halts):
 * the hosted port's stop saves xmm0-15 as well, which hold pairs of
 * pointers that the compiler or libc copied through them. */
#define GH_ZERO_GENERAL                                                \
	"xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t" \
	"xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t" \
	"xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\t"
#define GH_GENERAL_CLOBBERS "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory"
#ifdef __SSE2__
#define GH_ZERO_VECTOR                                       \
	"pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\t"     \
	"pxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"     \
	"pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"     \
	"pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"     \
	"pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"     \
	"pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t" \
	"pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t" \
	"pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15\n\t"
#define GH_SCRATCH_CLOBBERS                                                                  \
	GH_GENERAL_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
	    "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#else /* -mgeneral-regs-only, as the reference kernel */
#define GH_ZERO_VECTOR ""
#define GH_SCRATCH_CLOBBERS GH_GENERAL_CLOBBERS
#endif
#define GH_ZERO_SCRATCH_THEN(then) \
	__asm__ volatile(GH_ZERO_GENERAL GH_ZERO_VECTOR then : : : GH_SCRATCH_CLOBBERS)

/* Spill the callee-saved registers (rbx, rbp, r12-r15) into regs[6], on
 * the caller's stack: a conservative scan of that stack then sees what
 * they hold (gc_mark_stacks, the hosted gh_hosted_do_blocking). */
#define GH_SPILL_CALLEE_SAVED(regs)                                                            \
	__asm__ volatile("mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t"         \
			 "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"           \
			 :                                                                     \
			 : "r"(regs)                                                           \
			 : "memory")

/* How many CPUs run goheap code at once, for the collector's CPU figures
 * (gctrace's P, the pacer's utilization, GCCPUPermille): a hosted port
 * with more threads than processors says the processors. Default:
 * gh_port_ncpu(). */
unsigned gh_port_nprocs(void);

/* The CPUs that have run goheap code so far are among [0, n): the
 * collector's pauses visit only their per-CPU structures, and gh_init sets
 * up only theirs. A hosted port with many thread slots and few threads
 * says how many slots were taken, and calls gh_cpu_prepare for each slot
 * it adds; the count must be read and written sequentially consistent
 * (gh_cpu_prepare). Default: gh_port_ncpu(). */
unsigned gh_port_ncpu_used(void);

/* A concurrent mark phase has started: arrange for gh_gc_background to run
 * on CPUs (a share of timer ticks, idle time, a thread) until it returns
 * GH_GC_BG_DONE, aiming at a quarter of the CPUs' time (after a
 * GH_GC_BG_DEFER, again a little later: goheap.h). Called with interrupts
 * enabled. Default: nothing (marking then advances only through
 * allocation assists and gh_gc). */
void gh_port_gc_started(void);

/* Finalizers are queued: arrange for gh_run_finalizers() to run soon,
 * where it may allocate and take locks, not inside goheap (it may be
 * called with interrupts disabled). Default: nothing (the kernel calls
 * gh_run_finalizers itself). */
void gh_port_finalizers_queued(void);

#endif
