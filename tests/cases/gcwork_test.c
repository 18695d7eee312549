/*
 * gcwork_test.c — the collector's work buffers (alloc/mgcwork.h) in both
 * runners: what goes in comes out exactly once, a CPU's buffers spill to
 * and refill from the shared lists, balance() hands work to others, and
 * every CPU at once producing and draining loses and duplicates nothing.
 */
#include "../../alloc/mgcwork.h"
#include "../ghtest.h"
#include "collector_off.h"

/* What the shared lists hold now (nothing else may use them: these cases
 * turn the collector off). */
static void count_lists(uint64_t *full_bufs, uint64_t *full_objs, uint64_t *empty_bufs)
{
	*full_bufs = *full_objs = *empty_bufs = 0;
	for (struct workbuf *b = gh_lfstack_first(&gh_work.full); b;
	     b = gh_lfstack_next(&gh_work.full, b)) {
		(*full_bufs)++;
		*full_objs += b->nobj;
	}
	for (struct workbuf *b = gh_lfstack_first(&gh_work.empty); b;
	     b = gh_lfstack_next(&gh_work.empty, b))
		(*empty_bufs)++;
}

GH_TEST(gcwork, everything_put_comes_back_once)
{
	enum { N = 5000 }; /* about 20 buffers: spills to the full list */
	static uint8_t seen[N];
	int old = collector_off();
	struct gcwork w = {0};
	unsigned long irq = gh_port_irq_save();
	for (uintptr_t i = 1; i <= N; i++)
		gh_gcwork_put(&w, i * 8);
	uint64_t fb, fo, eb;
	count_lists(&fb, &fo, &eb);
	GH_EXPECT_GE(fb, N / WORKBUF_OBJS - 2); /* all but the two in hand */
	__builtin_memset(seen, 0, sizeof(seen));
	unsigned got = 0, twice = 0;
	for (uintptr_t p; (p = gh_gcwork_tryget(&w)) != 0; got++) {
		GH_ASSERT(p % 8 == 0 && p / 8 >= 1 && p / 8 <= N);
		twice += seen[p / 8 - 1]++;
	}
	GH_EXPECT_EQ(got, N);
	GH_EXPECT_EQ(twice, 0);
	GH_EXPECT(gh_gcwork_empty(&w));
	gh_gcwork_dispose(&w);
	count_lists(&fb, &fo, &eb);
	gh_port_irq_restore(irq);
	GH_EXPECT_EQ(fb, 0);
	GH_EXPECT_EQ(eb, __atomic_load_n(&gh_work.nbufs, __ATOMIC_RELAXED)); /* all back */
	gh_set_gc_percent(old);
}

/* A CPU that looks for work and finds none takes no buffer: one that did
 * would hold two of the empty list until the next cycle's end. */
GH_TEST(gcwork, finding_no_work_holds_no_buffer)
{
	int old = collector_off();
	struct gcwork w = {0};
	unsigned long irq = gh_port_irq_save();
	GH_EXPECT_EQ(gh_gcwork_tryget(&w), 0);
	GH_EXPECT(w.wbuf1 == NULL && w.wbuf2 == NULL);
	gh_gcwork_put(&w, 8); /* one full buffer's worth on the shared list */
	gh_gcwork_dispose(&w);
	GH_EXPECT_EQ(gh_gcwork_tryget(&w), 8); /* taken with an empty one */
	GH_EXPECT(w.wbuf1 != NULL && w.wbuf2 != NULL);
	gh_gcwork_dispose(&w);
	uint64_t fb, fo, eb;
	count_lists(&fb, &fo, &eb);
	gh_port_irq_restore(irq);
	GH_EXPECT_EQ(fb, 0);
	GH_EXPECT_EQ(eb, __atomic_load_n(&gh_work.nbufs, __ATOMIC_RELAXED));
	gh_set_gc_percent(old);
}

GH_TEST(gcwork, balance_shares_work)
{
	int old = collector_off();
	struct gcwork a = {0}, b = {0};
	unsigned long irq = gh_port_irq_save();
	for (uintptr_t i = 1; i <= 10; i++)
		gh_gcwork_put(&a, i);
	gh_gcwork_balance(&a); /* half of the ten go to the full list */
	uint64_t fb, fo, eb;
	count_lists(&fb, &fo, &eb);
	GH_EXPECT_EQ(fb, 1);
	GH_EXPECT_EQ(fo, 5);
	gh_gcwork_balance(&a); /* the shared list has work: nothing more goes */
	count_lists(&fb, &fo, &eb);
	GH_EXPECT_EQ(fb, 1);
	GH_EXPECT_EQ(fo, 5);
	unsigned from_b = 0, from_a = 0;
	while (gh_gcwork_tryget(&b))
		from_b++;
	while (gh_gcwork_tryget(&a))
		from_a++;
	GH_EXPECT_EQ(from_b, 5);
	GH_EXPECT_EQ(from_a, 5);
	gh_gcwork_dispose(&a);
	gh_gcwork_dispose(&b);
	gh_port_irq_restore(irq);
	gh_set_gc_percent(old);
}

/*
 * Every CPU puts its own values, balancing as it goes, then all drain the
 * shared lists at once: every value comes out exactly once.
 */
#define STORM_CPUS 64
#define PER_CPU 20000
static uint8_t storm_seen[STORM_CPUS * PER_CPU];
static unsigned storm_ready, storm_in, storm_out, storm_bad;

GH_TEST_PERCPU(gcwork, all_cpus_produce_and_drain)
{
	static int old;
	GH_ASSERT(t->ncpu <= STORM_CPUS);
	if (t->cpu == 0) {
		old = collector_off();
		__atomic_store_n(&storm_ready, 1, __ATOMIC_RELEASE);
	}
	ght_wait_until(&storm_ready, 1);
	struct gcwork w = {0};
	unsigned long irq = gh_port_irq_save();
	for (uintptr_t i = 0; i < PER_CPU; i++) {
		gh_gcwork_put(&w, ((uintptr_t)t->cpu * PER_CPU + i + 1) * 8);
		if (i % 1000 == 0)
			gh_gcwork_balance(&w);
	}
	gh_gcwork_dispose(&w); /* everything to the full list */
	gh_port_irq_restore(irq);
	__atomic_fetch_add(&storm_in, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&storm_in, t->ncpu);
	irq = gh_port_irq_save();
	for (uintptr_t p; (p = gh_gcwork_tryget(&w)) != 0;) {
		uintptr_t v = p / 8 - 1;
		if (p % 8 || v >= (uintptr_t)t->ncpu * PER_CPU ||
		    __atomic_exchange_n(&storm_seen[v], 1, __ATOMIC_RELAXED))
			__atomic_fetch_add(&storm_bad, 1, __ATOMIC_RELAXED);
	}
	gh_gcwork_dispose(&w);
	gh_port_irq_restore(irq);
	__atomic_fetch_add(&storm_out, 1, __ATOMIC_ACQ_REL);
	ght_wait_until(&storm_out, t->ncpu);
	GH_EXPECT_EQ(__atomic_load_n(&storm_bad, __ATOMIC_RELAXED), 0);
	if (t->cpu == 0) {
		unsigned missing = 0;
		for (unsigned v = 0; v < t->ncpu * PER_CPU; v++)
			missing += !storm_seen[v];
		GH_EXPECT_EQ(missing, 0);
		gh_set_gc_percent(old);
	}
}
