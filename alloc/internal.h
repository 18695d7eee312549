/*
 * internal.h — what goheap's files share and kernels never see: the lock,
 * panics and assertions, and small helpers.
 *
 * Lock order (outermost first): mheap.lock → persistentalloc's global lock.
 * Per-CPU structures take no lock: they are used with interrupts off
 * (gh_port_irq_save) on their own CPU only.
 */
#ifndef GOHEAP_INTERNAL_H
#define GOHEAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constants.h"
#include "port.h"

/* Code that reads memory it does not own on purpose: a stopped CPU's
 * stack below the sanitizers' view, or figures other CPUs write (a racy
 * snapshot, as documented). Sanitizers leave it alone. */
#define GH_NO_SANITIZE __attribute__((no_sanitize("address", "thread")))

#define GH_LIKELY(x) __builtin_expect(!!(x), 1)
#define GH_UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline uintptr_t gh_align_up(uintptr_t x, uintptr_t a)
{
	return (x + a - 1) & ~(a - 1);
}
static inline uintptr_t gh_align_down(uintptr_t x, uintptr_t a)
{
	return x & ~(a - 1);
}

/* Format into buf like snprintf, for %s %c %d %u %x %p with l/ll/z
 * modifiers; always NUL-terminates. Returns the length written. */
size_t gh_format(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Format a message and hand it to gh_port_panic. */
__attribute__((noreturn, format(printf, 1, 2))) void gh_panicf(const char *fmt, ...);
/* Format a line and hand it to gh_port_log. */
__attribute__((format(printf, 1, 2))) void gh_logf(const char *fmt, ...);

/* Internal invariants: cheap ones stay on in every build. */
#define GH_ENSURE(cond)                                                                  \
	do {                                                                             \
		if (GH_UNLIKELY(!(cond)))                                                \
			gh_panicf("goheap: internal error: %s (%s:%d)", #cond, __FILE__, \
				  __LINE__);                                             \
	} while (0)

/* Per-CPU counters: only their CPU writes them, others may read them. A
 * relaxed store compiles to a plain one (no LOCK prefix). */
static inline void gh_stat_add(uint64_t *x, uint64_t n)
{
	__atomic_store_n(x, __atomic_load_n(x, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/*
 * A spinlock that disables interrupts while held: test and test-and-set, not
 * a ticket lock. A ticket lock hands the lock to the next waiter in line,
 * and stalls everyone while that waiter's CPU is not running (a vCPU the
 * hypervisor descheduled, a preempted thread in a hosted port); here any
 * waiter that is running takes it.
 */
struct gh_lock {
	uint32_t locked;
};

static inline bool gh_trylock_raw(struct gh_lock *l)
{
	return !__atomic_load_n(&l->locked, __ATOMIC_RELAXED) &&
	       !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline unsigned long gh_lock(struct gh_lock *l)
{
	unsigned long cookie = gh_port_irq_save();
	for (unsigned spins = 0; !gh_trylock_raw(l);)
		gh_port_relax(++spins);
	return cookie;
}

static inline void gh_unlock(struct gh_lock *l, unsigned long cookie)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	gh_port_irq_restore(cookie);
}

static inline bool gh_lock_held(const struct gh_lock *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0;
}

#endif
