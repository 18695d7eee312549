/*
 * stw.c — stopping the world for goheap's collector: the port functions
 * gh_port_stop_world, gh_port_start_world and gh_port_scan_stacks
 * (alloc/port.h). Go's stopTheWorld preempts goroutines at safe points;
 * here every other CPU parks, either in the VEC_STOP interrupt handler or
 * at one of the kernel's own safe points.
 *
 * stw_seq is even while the world runs and odd while a stop is requested
 * or in force; stw_owner is the CPU that made it odd (NO_OWNER otherwise).
 *   stop:  take stw_owner (one stopper at a time; a CPU waiting for it is
 *          at a safe point), stw_seq++ (odd: s), send VEC_STOP to every
 *          other CPU, wait until each has set its stop_ack to s.
 *   park:  a CPU other than the owner that finds stw_seq odd and different
 *          from its stop_ack disables interrupts, records where its state
 *          lies in stop_sp, sets stop_ack = s and spins until stw_seq != s.
 *   start: stw_seq++ (even), release stw_owner. A CPU still leaving an old
 *          stop when the next one begins sees s + 2 and parks again.
 * Everything the parked CPU's interrupted code holds lies between stop_sp
 * and its stack top: in the handler, stop_sp is the trap frame (isr.S)
 * with all its registers; at a safe point, the stack pointer below the
 * callee-saved registers that park()'s prologue pushes (the caller-saved
 * ones are dead across the call).
 *
 * VEC_STOP is taken only where interrupts are enabled, so a CPU parked in
 * the handler is in none of goheap's irq-off sections and holds no lock
 * that the kernel takes with interrupts disabled. The safe points are the
 * wait loops of cross-CPU calls (smp_poll_calls, which smp_call's wait
 * runs): a CPU waiting there, interrupts disabled or not, for a CPU that
 * has parked would otherwise never stop. A VEC_STOP that arrives after its
 * CPU parked at a safe point finds that stop acknowledged and returns.
 * Every CPU's kernel stack is [stack_top - KSTACK_SIZE, stack_top) and
 * VEC_STOP runs on it (only NMI, #DF and #MC have IST stacks, trap.c).
 */
#include "../alloc/port.h"
#include "cpu.h"
#include "kernel.h"

#define NO_OWNER (~0u)
/* A CPU that has not parked after this long keeps its interrupts disabled
 * (or spins on something the stopper holds): the kernel has a bug. */
#define STOP_TIMEOUT_NS 20000000000ull

static uint64_t stw_seq;
static unsigned stw_owner = NO_OWNER;

bool stw_in_progress(void)
{
	return __atomic_load_n(&stw_seq, __ATOMIC_ACQUIRE) & 1;
}

bool stw_stopped_here(void)
{
	return __atomic_load_n(&stw_owner, __ATOMIC_RELAXED) == this_cpu()->index;
}

/* The stack pointer, below a copy of every callee-saved register that the
 * enclosing (noinline) function's caller had: the clobbers make its
 * prologue save them all. */
static inline __attribute__((always_inline)) uint64_t sp_below_saved_registers(void)
{
	uint64_t sp;
	__asm__ volatile("mov %%rsp, %0"
			 : "=r"(sp)
			 :
			 : "rbx", "r12", "r13", "r14", "r15", "memory");
	return sp;
}

/* Record where this CPU's state lies (f: the trap frame of VEC_STOP, NULL
 * at a safe point) and wait for stop s to end. Interrupts are disabled. */
static __attribute__((noinline)) void park(struct percpu *c, uint64_t s, const struct trap_frame *f)
{
	c->stop_sp = f ? (uint64_t)f : sp_below_saved_registers();
	__atomic_store_n(&c->stop_ack, s, __ATOMIC_RELEASE);
	while (__atomic_load_n(&stw_seq, __ATOMIC_ACQUIRE) == s)
		cpu_relax();
}

static void park_while_stopped(const struct trap_frame *f)
{
	struct percpu *c = this_cpu();
	bool was = irq_save();
	for (;;) {
		uint64_t s = __atomic_load_n(&stw_seq, __ATOMIC_ACQUIRE);
		if (!(s & 1) || c->stop_ack == s ||
		    __atomic_load_n(&stw_owner, __ATOMIC_RELAXED) == c->index)
			break;
		park(c, s, f);
	}
	irq_restore(was);
}

void stw_safe_point(void)
{
	if (__builtin_expect(stw_in_progress(), 0))
		park_while_stopped(NULL);
}

static void stop_interrupt(struct trap_frame *f)
{
	/* The word the CPU skipped to align the trap frame, if it did, lies
	 * in the scanned range: dead (no red zone), so zeroed. */
	if (f->rsp - (uint64_t)(f + 1) == 8)
		*(uint64_t *)(f + 1) = 0;
	park_while_stopped(f);
}

void stw_init(void)
{
	irq_register(VEC_STOP, stop_interrupt);
}

/* A CPU that does not stop: an NMI shows where it is, then panic. */
static void report_stuck(unsigned cpu)
{
	struct percpu *c = cpus[cpu];
	uint64_t n = c->nmis, t0 = rdtsc();
	lapic_send_ipi(c->apic_id, 0x400); /* delivery mode NMI */
	while (c->nmis == n && tsc_to_ns(rdtsc() - t0) < 1000000000ull)
		cpu_relax();
	if (c->nmis != n) {
		const struct trap_frame *f = (const struct trap_frame *)c->nmi_rsp;
		printk("stw: cpu %u is at:\n", cpu);
		backtrace_frame(f->rip);
		backtrace(f->rbp);
	}
}

static void wait_parked(unsigned cpu, uint64_t s)
{
	uint64_t t0 = rdtsc();
	while (__atomic_load_n(&cpus[cpu]->stop_ack, __ATOMIC_ACQUIRE) != s) {
		if (tsc_to_ns(rdtsc() - t0) > STOP_TIMEOUT_NS) {
			report_stuck(cpu);
			panic("gh_port_stop_world: cpu %u has not stopped in %llu s (interrupts "
			      "disabled?)",
			      cpu, STOP_TIMEOUT_NS / 1000000000ull);
		}
		cpu_relax();
	}
}

/* Owner and sequence change together with interrupts disabled, so that an
 * interrupt handler on this CPU never finds one changed without the other. */
void gh_port_stop_world(void)
{
	struct percpu *me = this_cpu();
	if (stw_stopped_here())
		panic("gh_port_stop_world: cpu %u has already stopped the world", me->index);
	for (;;) {
		unsigned owner = NO_OWNER;
		bool was = irq_save();
		if (__atomic_compare_exchange_n(&stw_owner, &owner, me->index, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			__atomic_store_n(&stw_seq, stw_seq + 1, __ATOMIC_SEQ_CST);
			irq_restore(was);
			break;
		}
		irq_restore(was);
		stw_safe_point(); /* the other stopper waits for this CPU */
		cpu_relax();
	}
	uint64_t s = stw_seq;
	for (unsigned i = 0; i < ncpus; i++)
		if (i != me->index)
			lapic_send_ipi(cpus[i]->apic_id, VEC_STOP);
	for (unsigned i = 0; i < ncpus; i++)
		if (i != me->index)
			wait_parked(i, s);
}

void gh_port_start_world(void)
{
	if (!stw_stopped_here())
		panic("gh_port_start_world: cpu %u has not stopped the world", this_cpu()->index);
	bool was = irq_save();
	__atomic_store_n(&stw_seq, stw_seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&stw_owner, NO_OWNER, __ATOMIC_RELEASE);
	irq_restore(was);
}

static uint64_t checked_sp(struct percpu *c, uint64_t sp)
{
	if (sp < c->stack_top - KSTACK_SIZE || sp >= c->stack_top)
		panic("gh_port_scan_stacks: cpu %u stopped at sp %p, outside its stack [%p, %p)",
		      c->index, (void *)sp, (void *)(c->stack_top - KSTACK_SIZE),
		      (void *)c->stack_top);
	return sp;
}

/*
 * The stopped CPUs' stacks from where they parked, then this one's from
 * here, with its caller's callee-saved registers. A CPU parked in the
 * VEC_STOP handler has everything its interrupted code holds in the trap
 * frame and above it, where its scan starts; the handler's own frames
 * below are skipped: slots they do not write keep what earlier, deeper
 * calls left there (marking, finalizers, cache flushes), which the
 * conservative scan would take for roots.
 */
__attribute__((noinline)) void gh_port_scan_stacks(void (*scan)(void *, uintptr_t, uintptr_t),
						   void *ctx)
{
	struct percpu *me = this_cpu();
	if (!stw_stopped_here())
		panic("gh_port_scan_stacks: cpu %u has not stopped the world", me->index);
	for (unsigned i = 0; i < ncpus; i++) {
		struct percpu *c = cpus[i];
		if (i != me->index)
			scan(ctx, checked_sp(c, c->stop_sp), c->stack_top);
	}
	scan(ctx, checked_sp(me, sp_below_saved_registers()), me->stack_top);
}
