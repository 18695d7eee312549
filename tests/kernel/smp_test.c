/*
 * smp_test.c — every CPU came up with its own identity, stack and per-CPU
 * area, and cross-CPU calls reach every CPU and come back.
 */
#include "../../kernel/cpu.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

GH_TEST(smp, cpu_count)
{
	GH_EXPECT_EQ(ncpus, acpi.ncpus);
	unsigned qemu_cpus = fwcfg_cpu_count();
	if (qemu_cpus)
		GH_EXPECT_EQ(ncpus, qemu_cpus);
	ght_log(t, "%u CPUs (ACPI says %u, QEMU says %u)", ncpus, acpi.ncpus, qemu_cpus);
}

struct identity {
	uint32_t apic_id;
	unsigned index;
	uint64_t gs_base, self, rsp;
	unsigned ran;
};

static void record_identity(void *arg, unsigned cpu)
{
	struct identity *id = &((struct identity *)arg)[cpu];
	uint64_t rsp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	id->apic_id = lapic_id();
	id->index = this_cpu()->index;
	id->gs_base = rdmsr(MSR_GS_BASE);
	id->self = (uint64_t)this_cpu()->self;
	id->rsp = rsp;
	id->ran++;
}

/* Each CPU reports a distinct APIC ID, its own per-CPU area through the GS
 * base, and runs on its own stack. */
GH_TEST(smp, distinct_identities)
{
	static struct identity ids[MAX_CPUS];
	__builtin_memset(ids, 0, sizeof(ids));
	smp_call_all(record_identity, ids);
	for (unsigned i = 0; i < ncpus; i++) {
		struct identity *id = &ids[i];
		GH_EXPECT_EQ(id->ran, 1);
		GH_EXPECT_EQ(id->index, i);
		GH_EXPECT_EQ(id->apic_id, cpus[i]->apic_id);
		GH_EXPECT_EQ(id->gs_base, (uint64_t)cpus[i]);
		GH_EXPECT_EQ(id->self, (uint64_t)cpus[i]);
		GH_EXPECT(id->rsp > cpus[i]->stack_top - KSTACK_SIZE &&
			  id->rsp < cpus[i]->stack_top);
		for (unsigned j = 0; j < i; j++) {
			GH_EXPECT_NE(ids[j].apic_id, id->apic_id);
			GH_EXPECT_NE(ids[j].gs_base, id->gs_base);
		}
		ght_log(t, "cpu %u: APIC ID %u, per-CPU area %p, stack near %p", i, id->apic_id,
			(void *)id->gs_base, (void *)id->rsp);
	}
}

/* Below every stack (kernel and IST) is an unmapped guard page that faults. */
GH_TEST(smp, stack_guard_pages)
{
	for (unsigned i = 0; i < ncpus; i++) {
		uint64_t tops[1 + IST_COUNT] = {cpus[i]->stack_top};
		uint64_t sizes[1 + IST_COUNT] = {KSTACK_SIZE};
		for (int k = IST_DF; k <= IST_COUNT; k++)
			tops[k] = cpus[i]->ist_top[k], sizes[k] = IST_STACK_SIZE;
		for (int k = 0; k <= IST_COUNT; k++) {
			uint64_t bottom = tops[k] - sizes[k], v;
			GH_EXPECT(mm_is_mapped(bottom));
			GH_EXPECT(mm_is_mapped(tops[k] - 8));
			GH_EXPECT(!mm_is_mapped(bottom - 8));
			GH_EXPECT(!probe_read64((void *)(bottom - 8), &v));
			GH_EXPECT_EQ(this_cpu()->fault.cr2, bottom - 8);
		}
	}
}

/* The same from inside a per-CPU case: the runner's own concurrency. */
GH_TEST_PERCPU(smp, percpu_area)
{
	struct percpu *c = this_cpu();
	GH_EXPECT_EQ(c->index, t->cpu);
	GH_EXPECT_EQ(c->self, c);
	GH_EXPECT_EQ(c->apic_id, lapic_id());
	GH_EXPECT_EQ(cpus[t->cpu], c);
	GH_EXPECT(read_rflags() & RFLAGS_IF); /* test bodies run with interrupts on */
}

struct where {
	unsigned cpu;
	bool irq_on;
};

static void note_cpu(void *arg)
{
	struct where *w = arg;
	w->cpu = this_cpu()->index;
	w->irq_on = read_rflags() & RFLAGS_IF;
}

/* An IPI call to each CPU in turn runs there and returns. */
GH_TEST(smp, ipi_call_each)
{
	for (unsigned i = 0; i < ncpus; i++) {
		struct where w = {~0u, false};
		smp_call(i, note_cpu, &w);
		GH_EXPECT_EQ(w.cpu, i);
	}
}

static void count_call(void *arg, unsigned cpu)
{
	uint64_t *mask = arg;
	__atomic_fetch_or(mask, 1ull << cpu, __ATOMIC_RELAXED);
}

/* A call to all CPUs reaches each exactly once, a hundred times over. */
GH_TEST(smp, ipi_call_all)
{
	uint64_t all = ncpus == 64 ? ~0ull : (1ull << ncpus) - 1;
	for (int round = 0; round < 100; round++) {
		uint64_t mask = 0;
		smp_call_all(count_call, &mask);
		GH_ASSERT_EQ(mask, all);
	}
}

static void bump(void *arg)
{
	__atomic_fetch_add((unsigned *)arg, 1, __ATOMIC_RELAXED);
}

struct crossed {
	unsigned hits[MAX_CPUS];
	unsigned rounds;
};

static void call_neighbour(void *arg, unsigned cpu)
{
	struct crossed *x = arg;
	unsigned next = (cpu + 1) % ncpus;
	for (unsigned i = 0; i < x->rounds; i++) {
		bool was = irq_save();
		if (i & 1) /* odd rounds wait with interrupts on, even ones off */
			irq_restore(was);
		smp_call(next, bump, &x->hits[next]);
		if (!(i & 1))
			irq_restore(was);
	}
}

/* Every CPU calls its neighbour at the same time: the wait loops must serve
 * each other's calls rather than deadlock, and no call may be lost. */
GH_TEST(smp, crossed_calls)
{
	static struct crossed x;
	__builtin_memset(&x, 0, sizeof(x));
	x.rounds = 200;
	smp_call_all(call_neighbour, &x);
	for (unsigned i = 0; i < ncpus; i++)
		GH_EXPECT_EQ(x.hits[i], x.rounds);
}

static void nmi_self(void *arg, unsigned cpu)
{
	uint64_t *before = arg;
	before[cpu] = this_cpu()->nmis;
	lapic_send_nmi(this_cpu()->apic_id);
}

/* An NMI reaches every CPU and runs on that CPU's own NMI stack (IST). */
GH_TEST(smp, nmi_on_ist_stack)
{
	static uint64_t before[MAX_CPUS];
	smp_call_all(nmi_self, before);
	for (unsigned i = 0; i < ncpus; i++) {
		struct percpu *c = cpus[i];
		for (int spin = 0; spin < 1000000 && c->nmis == before[i]; spin++)
			cpu_relax();
		GH_EXPECT_EQ(c->nmis, before[i] + 1);
		GH_EXPECT(c->nmi_rsp < c->ist_top[IST_NMI] &&
			  c->nmi_rsp >= c->ist_top[IST_NMI] - IST_STACK_SIZE);
	}
}
