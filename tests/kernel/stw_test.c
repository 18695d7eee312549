/*
 * stw_test.c — stopping the world (kernel/stw.c) and the collector's other
 * port hooks in the reference kernel: stopped CPUs stand still until the
 * world starts again; the stacks reported hold each CPU's locals and the
 * registers it was interrupted with; a CPU with interrupts disabled stops
 * only once it enables them; a CPU waiting for a cross-CPU call stops in
 * its wait loop; background marking and finalizers reach a CPU.
 *
 * In the per-CPU cases CPU 0 stops the world while the others do what the
 * case needs; each case runs once per boot, so its state starts zeroed.
 */
#include "../../alloc/port.h"
#include "../../kernel/cpu.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

/* Generous: under software emulation a vCPU may wait for a host core. */
#define WAIT_NS 3000000000ull

/* CPUs other than 0 count while CPU 0 stops and starts them. */
struct spinners {
	uint64_t count[MAX_CPUS];
	uint64_t phase; /* they count until CPU 0 changes it */
};

/* A value that exists only in r12 of the CPU that holds it. */
static uint64_t marker(uint64_t kind, unsigned cpu)
{
	return 0x5e9d000000000000ull | kind << 40 | (uint64_t)cpu << 24 | 0xc0de5au;
}

/* Count until the phase changes, with value held in r12 all along (the
 * loop is one asm statement, so the compiler cannot move it). */
static __attribute__((noinline)) void spin_holding(struct spinners *s, unsigned cpu, uint64_t value)
{
	uint64_t p = __atomic_load_n(&s->phase, __ATOMIC_ACQUIRE);
	register uint64_t v __asm__("r12") = value;
	__asm__ volatile("1:\tincq (%[count])\n\t"
			 "pause\n\t"
			 "cmpq %[p], (%[phase])\n\t"
			 "je 1b"
			 :
			 : [count] "r"(&s->count[cpu]), [phase] "r"(&s->phase), [p] "r"(p), "r"(v)
			 : "memory", "cc");
}

static void snapshot(struct spinners *s, unsigned ncpu, uint64_t *out)
{
	for (unsigned i = 0; i < ncpu; i++)
		out[i] = __atomic_load_n(&s->count[i], __ATOMIC_ACQUIRE);
}

/* Every CPU but 0 counts past since[] within WAIT_NS; else the first that
 * does not, or 0. */
static unsigned all_move(struct spinners *s, unsigned ncpu, const uint64_t *since)
{
	uint64_t end = time_ns() + WAIT_NS;
	for (unsigned i = 1; i < ncpu; i++)
		while (__atomic_load_n(&s->count[i], __ATOMIC_ACQUIRE) == since[i])
			if (time_ns() > end)
				return i;
			else
				cpu_relax();
	return 0;
}

static void end_phase(struct spinners *s)
{
	__atomic_fetch_add(&s->phase, 1, __ATOMIC_RELEASE);
}

/* (a) While the world is stopped no other CPU's counter moves, over 2 ms;
 * once started again, every one moves. 200 times. */
/* Every other CPU's counter moves (snapshot in a); else fail the case,
 * end the phase and return false. */
static bool all_counting(struct ght *t, struct spinners *s, uint64_t *a)
{
	snapshot(s, t->ncpu, a);
	unsigned late = all_move(s, t->ncpu, a);
	if (late) {
		ght_fail(t, __FILE__, __LINE__, "cpu %u never started counting", late);
		end_phase(s);
	}
	return !late;
}

GH_TEST_PERCPU(stw, stopped_cpus_stand_still)
{
	static struct spinners s;
	if (t->cpu != 0) {
		spin_holding(&s, t->cpu, 0);
		return;
	}
	uint64_t a[MAX_CPUS], b[MAX_CPUS], worst_ns = 0;
	unsigned late;
	if (!all_counting(t, &s, a))
		return;
	for (unsigned round = 0; round < 200; round++) {
		uint64_t t0 = time_ns();
		gh_port_stop_world();
		uint64_t t1 = time_ns();
		snapshot(&s, t->ncpu, a);
		udelay(2000);
		snapshot(&s, t->ncpu, b);
		gh_port_start_world();
		if (t1 - t0 > worst_ns)
			worst_ns = t1 - t0;
		for (unsigned i = 1; i < t->ncpu; i++)
			if (a[i] != b[i])
				ght_fail(t, __FILE__, __LINE__,
					 "round %u: cpu %u counted %llu while stopped", round, i,
					 (unsigned long long)(b[i] - a[i]));
		if ((late = all_move(&s, t->ncpu, b)) != 0) {
			ght_fail(t, __FILE__, __LINE__, "round %u: cpu %u did not go on", round,
				 late);
			break;
		}
		if (t->failures)
			break;
	}
	end_phase(&s);
	ght_log(t, "200 stops of %u other CPUs, the slowest took %llu us", t->ncpu - 1,
		(unsigned long long)(worst_ns / 1000));
}

struct ranges {
	unsigned n;
	struct {
		uintptr_t lo, hi;
	} r[MAX_CPUS + 1];
};

static void collect(void *ctx, uintptr_t lo, uintptr_t hi)
{
	struct ranges *rs = ctx;
	if (rs->n < MAX_CPUS + 1)
		rs->r[rs->n].lo = lo, rs->r[rs->n].hi = hi;
	rs->n++;
}

/* Find the range reported for CPU cpu's stack; false (and a failure) when
 * there is not exactly one, inside that stack. */
static bool range_of(struct ght *t, const struct ranges *rs, unsigned cpu, uintptr_t *lo,
		     uintptr_t *hi)
{
	unsigned found = 0;
	for (unsigned k = 0; k < rs->n && k <= MAX_CPUS; k++)
		if (rs->r[k].hi == cpus[cpu]->stack_top) {
			*lo = rs->r[k].lo, *hi = rs->r[k].hi;
			found++;
		}
	if (found != 1) {
		ght_fail(t, __FILE__, __LINE__, "cpu %u's stack reported %u times", cpu, found);
		return false;
	}
	if (*lo < cpus[cpu]->stack_top - KSTACK_SIZE || *lo >= *hi) {
		ght_fail(t, __FILE__, __LINE__, "cpu %u: range [%p, %p) is not in its stack", cpu,
			 (void *)*lo, (void *)*hi);
		return false;
	}
	return true;
}

static bool holds_word(uintptr_t lo, uintptr_t hi, uint64_t value)
{
	for (uintptr_t p = ALIGN_UP(lo, 8); p + 8 <= hi; p += 8)
		if (*(const volatile uint64_t *)p == value)
			return true;
	return false;
}

/* (b) Each stopped CPU's range holds a local of its test frame and a value
 * it had only in r12; the caller's range holds a local of the caller. */
GH_TEST_PERCPU(stw, stacks_hold_locals_and_registers)
{
	static struct spinners s;
	static uintptr_t local_at[MAX_CPUS];
	static struct ranges rs;
	if (t->cpu != 0) {
		volatile uint64_t local = t->cpu;
		local_at[t->cpu] = (uintptr_t)&local;
		spin_holding(&s, t->cpu, marker(1, t->cpu));
		(void)local;
		return;
	}
	uint64_t a[MAX_CPUS];
	if (!all_counting(t, &s, a))
		return;
	volatile uint64_t mine = 0;
	gh_port_stop_world();
	gh_port_scan_stacks(collect, &rs);
	/* Checked while stopped: the stacks change once the CPUs go on. */
	bool in_reg[MAX_CPUS] = {0}, above[MAX_CPUS] = {0}, has_local[MAX_CPUS] = {0};
	bool present[MAX_CPUS] = {0};
	for (unsigned i = 1; i < t->ncpu; i++) {
		uintptr_t lo, hi;
		present[i] = range_of(t, &rs, i, &lo, &hi);
		if (!present[i])
			continue;
		has_local[i] = local_at[i] >= lo && local_at[i] < hi;
		in_reg[i] = holds_word(lo, hi, marker(1, i));
		above[i] = holds_word(local_at[i], hi, marker(1, i));
	}
	uintptr_t lo0 = 0, hi0 = 0;
	bool mine_ok =
	    range_of(t, &rs, 0, &lo0, &hi0) && (uintptr_t)&mine >= lo0 && (uintptr_t)&mine < hi0;
	gh_port_start_world();
	end_phase(&s);
	(void)mine;

	GH_EXPECT_EQ(rs.n, t->ncpu);
	GH_EXPECT(mine_ok);
	for (unsigned i = 1; i < t->ncpu; i++) {
		if (!present[i])
			continue;
		if (!has_local[i])
			ght_fail(t, __FILE__, __LINE__, "cpu %u: local at %p not in its range", i,
				 (void *)local_at[i]);
		if (!in_reg[i])
			ght_fail(t, __FILE__, __LINE__,
				 "cpu %u: the value in its r12 is not in its range", i);
		if (above[i]) /* else the case proves nothing about registers */
			ght_fail(t, __FILE__, __LINE__, "cpu %u: the r12 value is in its frame too",
				 i);
	}
	ght_log(t, "%u stacks reported; cpu 0 from %p, %llu bytes in use", rs.n, (void *)lo0,
		(unsigned long long)(hi0 - lo0));
}

/* (c) A CPU that keeps interrupts disabled for 20 ms stops only after it
 * enables them again. */
GH_TEST_PERCPU(stw, irq_off_cpu_stops_after_enabling)
{
	static struct {
		bool entered, irq_was_on, restoring;
		uint64_t restore_ns;
	} x;
	if (t->ncpu < 2) {
		if (t->cpu == 0)
			GH_SKIP("needs 2 CPUs");
		return;
	}
	if (t->cpu == 1) {
		bool was = irq_save();
		x.irq_was_on = was;
		__atomic_store_n(&x.entered, true, __ATOMIC_RELEASE);
		udelay(20000);
		__atomic_store_n(&x.restore_ns, time_ns(), __ATOMIC_RELAXED);
		__atomic_store_n(&x.restoring, true, __ATOMIC_RELEASE);
		irq_restore(was);
		return;
	}
	if (t->cpu != 0)
		return;
	uint64_t end = time_ns() + WAIT_NS;
	while (!__atomic_load_n(&x.entered, __ATOMIC_ACQUIRE) && time_ns() < end)
		cpu_relax();
	GH_ASSERT(__atomic_load_n(&x.entered, __ATOMIC_ACQUIRE));
	uint64_t t0 = time_ns();
	gh_port_stop_world();
	uint64_t t1 = time_ns();
	bool restoring = __atomic_load_n(&x.restoring, __ATOMIC_ACQUIRE);
	gh_port_start_world();
	GH_EXPECT(x.irq_was_on);
	GH_EXPECT(restoring);
	GH_EXPECT_GE(t1, x.restore_ns);
	ght_log(t, "stop_world waited %llu us for cpu 1 to enable interrupts",
		(unsigned long long)((t1 - t0) / 1000));
}

struct waiting {
	bool held, release, returned, timed_out, call_irq_on, no_idle_cpu;
	uintptr_t local_at;
};

/* CPU 2, from its idle loop: hold the call until released. */
static void hold(void *arg)
{
	struct waiting *w = arg;
	w->call_irq_on = read_rflags() & RFLAGS_IF;
	__atomic_store_n(&w->held, true, __ATOMIC_RELEASE);
	uint64_t end = time_ns() + 2 * WAIT_NS;
	while (!__atomic_load_n(&w->release, __ATOMIC_ACQUIRE))
		if (time_ns() > end) {
			w->timed_out = true;
			break;
		} else {
			cpu_relax();
		}
}

/* CPU 1: call CPU 2 with interrupts disabled and a value only in r12. */
static __attribute__((noinline)) void call_holding(struct waiting *w, uint64_t value)
{
	register uint64_t v __asm__("r12") = value;
	__asm__ volatile("" : "+r"(v));
	bool was = irq_save();
	smp_call(2, hold, w);
	__atomic_store_n(&w->returned, true, __ATOMIC_RELEASE);
	irq_restore(was);
	__asm__ volatile("" ::"r"(v));
}

/* (d) CPU 1 waits, interrupts disabled, for a call that CPU 2 runs with
 * interrupts enabled: the world stops with CPU 2 in the call and CPU 1
 * parked in its wait loop, its registers on its stack. */
GH_TEST_PERCPU(stw, cpu_waiting_for_a_call_stops)
{
	static struct waiting w;
	static struct ranges rs;
	if (t->ncpu < 3) {
		if (t->cpu == 0)
			GH_SKIP("needs 3 CPUs");
		return;
	}
	if (t->cpu == 1) {
		volatile uint64_t local = 1;
		w.local_at = (uintptr_t)&local;
		uint64_t end = time_ns() + WAIT_NS; /* CPU 2 runs the call from its idle loop */
		while (!__atomic_load_n(&cpus[2]->idle, __ATOMIC_RELAXED) && time_ns() < end)
			cpu_relax();
		if (!__atomic_load_n(&cpus[2]->idle, __ATOMIC_RELAXED))
			__atomic_store_n(&w.no_idle_cpu, true, __ATOMIC_RELEASE);
		else
			call_holding(&w, marker(2, 1));
		(void)local;
		return;
	}
	if (t->cpu != 0)
		return;
	/* Longer than CPU 1's wait for an idle CPU 2, so that a CPU 2 which goes
	 * idle late still has time to run the call (8 vCPUs on 2 host cores). */
	uint64_t end = time_ns() + 2 * WAIT_NS;
	while (!__atomic_load_n(&w.held, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&w.no_idle_cpu, __ATOMIC_ACQUIRE) && time_ns() < end)
		cpu_relax();
	if (!__atomic_load_n(&w.held, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&w.release, true, __ATOMIC_RELEASE);
		ght_fail(t, __FILE__, __LINE__, "cpu 2 never ran the call (cpu 2 idle: %d)",
			 !w.no_idle_cpu);
		return;
	}
	udelay(1000); /* cpu 1 posted the call before cpu 2 ran it: it waits */
	gh_port_stop_world();
	bool returned = __atomic_load_n(&w.returned, __ATOMIC_ACQUIRE);
	uint64_t sp1 = cpus[1]->stop_sp;
	gh_port_scan_stacks(collect, &rs);
	uintptr_t lo = 0, hi = 0;
	bool found = range_of(t, &rs, 1, &lo, &hi);
	bool has_local = found && w.local_at >= lo && w.local_at < hi;
	bool in_reg = found && holds_word(lo, hi, marker(2, 1));
	gh_port_start_world();
	__atomic_store_n(&w.release, true, __ATOMIC_RELEASE);

	GH_EXPECT(!returned); /* stopped while waiting, not after */
	GH_EXPECT(w.call_irq_on);
	GH_EXPECT_LT(sp1, w.local_at);
	GH_EXPECT(has_local);
	GH_EXPECT(in_reg);
	end = time_ns() + WAIT_NS;
	while (!__atomic_load_n(&w.returned, __ATOMIC_ACQUIRE) && time_ns() < end)
		cpu_relax();
	GH_EXPECT(__atomic_load_n(&w.returned, __ATOMIC_ACQUIRE));
	GH_EXPECT(!w.timed_out);
}

/* A request for background marking reaches a CPU (an idle one's loop, or
 * this busy one's timer tick at -smp 1) and ends when gh_gc_background has
 * nothing left to mark. */
GH_TEST(stw, background_marking_runs_and_ends)
{
	uint64_t before = goheap_idle_slices + goheap_tick_slices;
	gh_port_gc_started();
	uint64_t end = time_ns() + WAIT_NS;
	while (goheap_idle_slices + goheap_tick_slices == before && time_ns() < end)
		cpu_relax();
	uint64_t ran = goheap_idle_slices + goheap_tick_slices - before;
	GH_EXPECT_GT(ran, 0);
	end = time_ns() + WAIT_NS;
	uint64_t last;
	do { /* ended: no new slice for 100 ms */
		last = goheap_idle_slices + goheap_tick_slices;
		udelay(100000);
	} while (goheap_idle_slices + goheap_tick_slices != last && time_ns() < end);
	GH_EXPECT_EQ(goheap_idle_slices + goheap_tick_slices, last);
	ght_log(t, "%llu slices from idle loops, %llu from ticks so far",
		(unsigned long long)goheap_idle_slices, (unsigned long long)goheap_tick_slices);
}

/* gh_port_finalizers_queued, called with interrupts disabled as goheap may,
 * gets gh_run_finalizers run by an idle CPU. */
GH_TEST(stw, finalizers_run_on_an_idle_cpu)
{
	if (ncpus < 2)
		GH_SKIP("needs an idle CPU");
	uint64_t before = __atomic_load_n(&goheap_finalizer_runs, __ATOMIC_ACQUIRE);
	bool was = irq_save();
	gh_port_finalizers_queued();
	irq_restore(was);
	uint64_t end = time_ns() + WAIT_NS;
	while (__atomic_load_n(&goheap_finalizer_runs, __ATOMIC_ACQUIRE) == before &&
	       time_ns() < end)
		cpu_relax();
	GH_EXPECT_GT(__atomic_load_n(&goheap_finalizer_runs, __ATOMIC_ACQUIRE), before);
}
