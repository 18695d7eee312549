/*
 * lock_test.c — ticket spinlocks exclude each other across CPUs and the
 * irqsave forms restore the interrupt state they found.
 */
#include "../../kernel/cpu.h"
#include "../../kernel/kernel.h"
#include "../../kernel/spinlock.h"
#include "../ghtest.h"

#define ROUNDS 20000

struct shared {
	struct spinlock lock;
	volatile uint64_t counter; /* updated non-atomically, under the lock */
	volatile unsigned inside;  /* CPUs inside the critical section */
	volatile unsigned overlap; /* times a CPU found another inside */
};

static void hammer(void *arg, unsigned cpu)
{
	struct shared *s = arg;
	for (int i = 0; i < ROUNDS; i++) {
		bool was = spin_lock_irqsave(&s->lock);
		if (s->inside++)
			s->overlap++;
		s->counter = s->counter + 1;
		s->inside--;
		spin_unlock_irqrestore(&s->lock, was);
	}
}

GH_TEST(lock, ticket_excludes)
{
	static struct shared s;
	__builtin_memset(&s, 0, sizeof(s));
	smp_call_all(hammer, &s);
	GH_EXPECT_EQ(s.counter, (uint64_t)ROUNDS * ncpus);
	GH_EXPECT_EQ(s.overlap, 0);
	GH_EXPECT(!spin_is_locked(&s.lock));
}

GH_TEST(lock, irqsave_restores)
{
	struct spinlock l = SPINLOCK_INIT;
	irq_enable();
	bool was = spin_lock_irqsave(&l);
	GH_EXPECT(was);
	GH_EXPECT(!(read_rflags() & RFLAGS_IF));
	GH_EXPECT(spin_is_locked(&l));
	GH_EXPECT(!spin_trylock(&l));
	spin_unlock_irqrestore(&l, was);
	GH_EXPECT(read_rflags() & RFLAGS_IF);
	irq_disable();
	was = spin_lock_irqsave(&l);
	spin_unlock_irqrestore(&l, was);
	GH_EXPECT(!(read_rflags() & RFLAGS_IF));
	irq_enable();
	GH_EXPECT(spin_trylock(&l));
	spin_unlock(&l);
}
