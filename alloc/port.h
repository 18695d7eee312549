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

#endif
