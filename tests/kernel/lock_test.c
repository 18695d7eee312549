/*
 * lock_test.c — ticket spinlocks exclude each other across CPUs and the
 * irqsave forms restore the interrupt state they found.
 */
#include "../../kernel/cpu.h"
#include "../../kernel/kernel.h"
#include "../../kernel/spinlock.h"
#include "../ghtest.h"

/* Each CPU takes the lock for this long. A fixed time rather than a fixed
 * count: with more vCPUs than host cores, every ticket handoff may wait for
 * the host to schedule one particular vCPU. */
#define HAMMER_NS 200000000ull

struct shared {
	struct spinlock lock;
	volatile uint64_t counter; /* updated non-atomically, under the lock */
	volatile unsigned inside;  /* CPUs inside the critical section */
	volatile unsigned overlap; /* times a CPU found another inside */
	uint64_t rounds[MAX_CPUS]; /* acquisitions per CPU */
};

static void hammer(void *arg, unsigned cpu)
{
	struct shared *s = arg;
	uint64_t end = time_ns() + HAMMER_NS, n = 0;
	while (time_ns() < end) {
		bool was = spin_lock_irqsave(&s->lock);
		if (s->inside++)
			s->overlap++;
		s->counter = s->counter + 1;
		s->inside--;
		spin_unlock_irqrestore(&s->lock, was);
		n++;
	}
	s->rounds[cpu] = n;
}

/* Increments under the lock from every CPU at once: none is lost, no two
 * CPUs are ever inside together, and every CPU gets the lock. */
GH_TEST(lock, ticket_excludes)
{
	static struct shared s;
	__builtin_memset(&s, 0, sizeof(s));
	smp_call_all(hammer, &s);
	uint64_t total = 0;
	for (unsigned i = 0; i < ncpus; i++) {
		GH_EXPECT_GT(s.rounds[i], 0);
		total += s.rounds[i];
	}
	GH_EXPECT_EQ(s.counter, total);
	GH_EXPECT_EQ(s.overlap, 0);
	GH_EXPECT(!spin_is_locked(&s.lock));
	ght_log(t, "%llu acquisitions on %u CPUs", (unsigned long long)total, ncpus);
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
