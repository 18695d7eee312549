/*
 * runner_test.c — the test framework itself, in both runners: per-CPU cases
 * run once on every CPU at the same time; checks record failures; and the
 * cases that fail on purpose (make test DEMO=fail / DEMO=hang).
 */
#include "../ghtest.h"

/* Set by the instances of percpu_concurrent, which runs once per run. */
static struct {
	unsigned arrived;
	uint64_t seen;
} meet;

/* Every instance waits until all have arrived: this only finishes if the
 * instances really run at the same time, one per CPU. */
GH_TEST_PERCPU(runner, percpu_concurrent)
{
	GH_ASSERT(t->cpu < t->ncpu);
	__atomic_fetch_or(&meet.seen, 1ull << t->cpu, __ATOMIC_RELAXED);
	__atomic_fetch_add(&meet.arrived, 1, __ATOMIC_ACQ_REL);
	for (uint64_t spins = 0; spins < 4000000000ull; spins++)
		if (__atomic_load_n(&meet.arrived, __ATOMIC_ACQUIRE) >= t->ncpu)
			break;
	GH_EXPECT_EQ(__atomic_load_n(&meet.arrived, __ATOMIC_ACQUIRE), t->ncpu);
	uint64_t all = t->ncpu >= 64 ? ~0ull : (1ull << t->ncpu) - 1;
	GH_EXPECT_EQ(__atomic_load_n(&meet.seen, __ATOMIC_RELAXED), all);
}

/* A failing check counts as a failure and says where and what it saw; a
 * passing one leaves no trace. Run against a scratch case state. */
GH_TEST(runner, failure_is_recorded)
{
	struct ght *outer = t;
	static struct ght inner;
	{
		struct ght *t = &inner;
		GH_EXPECT(1 == 1);
		GH_EXPECT_EQ(2 + 2, 5);
	}
	t = outer;
	GH_EXPECT_EQ(inner.failures, 1);
	GH_EXPECT(ght_contains(inner.diag, "runner_test.c:"));
	GH_EXPECT(ght_contains(inner.diag, "expected 2 + 2 == 5 (0x4 vs 0x5, 4 vs 5)"));
}

/* The cases that misbehave on purpose, run only with demo=WHAT. */
static bool demo_is(const char *what)
{
	const char *d = ght_option("demo");
	if (!d)
		return false;
	while (*d && *d == *what)
		d++, what++;
	return *d == *what;
}

GH_TEST_DEMO(demo, deliberate_failure)
{
	if (!demo_is("fail"))
		GH_SKIP("only with demo=fail");
	GH_EXPECT_EQ(1 + 1, 3);
}

GH_TEST_DEMO(demo, deliberate_hang)
{
	if (!demo_is("hang"))
		GH_SKIP("only with demo=hang");
	for (;;)
		__asm__ volatile("" ::: "memory");
}

/* A wild write: the kernel reports the page fault and panics; the hosted
 * runner dies of SIGSEGV. Either way the run counts as failed. */
GH_TEST_DEMO(demo, deliberate_crash)
{
	if (!demo_is("crash"))
		GH_SKIP("only with demo=crash");
	*(volatile uint64_t *)(uintptr_t)ght_option("demo")[0] = 0; /* 'c' = 0x63 */
}

static volatile unsigned recursion_limit = ~0u; /* never reached */

static unsigned recurse(unsigned depth)
{
	volatile char frame[256];
	frame[0] = (char)depth;
	if (depth == recursion_limit)
		return 0;
	return recurse(depth + 1) + frame[0]; /* not a tail call */
}

/* Unbounded recursion: the kernel's guard page turns it into a reported
 * stack overflow; the hosted runner dies of SIGSEGV (ASan names it). */
GH_TEST_DEMO(demo, deliberate_stack_overflow)
{
	if (!demo_is("overflow"))
		GH_SKIP("only with demo=overflow");
	GH_EXPECT_EQ(recurse(0), 0);
}
