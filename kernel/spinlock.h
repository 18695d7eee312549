/*
 * spinlock.h — ticket spinlocks. A CPU takes a ticket and waits until the
 * lock serves it, so waiters are served in arrival order. The _irqsave forms
 * also disable interrupts on this CPU (and give back the previous state), so
 * a lock taken in an interrupt handler cannot deadlock with its own CPU.
 */
#ifndef GOHEAP_KERNEL_SPINLOCK_H
#define GOHEAP_KERNEL_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu.h"

struct spinlock {
	uint32_t next;	/* next ticket to hand out */
	uint32_t owner; /* ticket being served */
};

#define SPINLOCK_INIT \
	{             \
		0, 0  \
	}

static inline void spin_lock(struct spinlock *l)
{
	uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != t)
		cpu_relax();
}

static inline bool spin_trylock(struct spinlock *l)
{
	uint32_t o = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
	uint32_t want = o;
	return __atomic_compare_exchange_n(&l->next, &want, o + 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

static inline bool spin_lock_irqsave(struct spinlock *l)
{
	bool was = irq_save();
	spin_lock(l);
	return was;
}

static inline void spin_unlock_irqrestore(struct spinlock *l, bool was)
{
	spin_unlock(l);
	irq_restore(was);
}

static inline bool spin_is_locked(const struct spinlock *l)
{
	return __atomic_load_n(&l->next, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
}

#endif
