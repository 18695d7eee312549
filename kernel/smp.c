/*
 * smp.c — per-CPU areas, starting the application processors, and
 * cross-CPU calls.
 *
 * APs are started one at a time with INIT-SIPI-SIPI through the trampoline
 * (trampoline.S); each gets its own stack, IST stacks, GDT/TSS, IDT and
 * per-CPU area, enables its local APIC and timer, and idles in hlt.
 *
 * A cross-CPU call is a request on the caller's stack, pushed onto the
 * target's call list with one compare-and-swap and announced with an IPI on
 * VEC_CALL. The target takes the whole list with one exchange, so each
 * request runs exactly once, and sets "done". An idle CPU runs its calls
 * from the idle loop with interrupts enabled, like ordinary kernel code; a
 * busy one runs them in the IPI handler, also with interrupts enabled, so
 * calls nest (a CPU running a long call still serves short ones) and a
 * running call can be stopped for the collector. Every wait loop also runs calls queued on
 * its own CPU, so CPUs calling each other cannot deadlock, even with
 * interrupts disabled. For the same reason every wait loop is a safe point
 * where the CPU parks while another stops the world (stw.c): a CPU waiting
 * for a parked one must park too.
 *
 * The idle loop also runs goheap's background work (goheap_idle): while it
 * has more, the CPU does not halt; smp_wake gets a halted CPU to look.
 */
#include "../alloc/port.h"
#include "cpu.h"
#include "kernel.h"

#define AP_START_TIMEOUT_US 2000000
#define TICK_HZ 100

unsigned ncpus;
struct percpu *cpus[MAX_CPUS];

extern const char trampoline_start[], trampoline_end[];
extern char tr_gdtr_base[], tr_pm_ptr[], tr_lm_ptr[], tr_cr3[], tr_stack[], tr_percpu[], tr_entry[];
extern const char tr_off_gdt[], tr_off_pm[], tr_off_lm[];

static volatile unsigned ap_alive;

static struct percpu *percpu_alloc(unsigned index)
{
	struct percpu *c = early_alloc(sizeof(*c));
	c->self = c;
	c->index = index;
	c->stack_top = mm_map_stack(KSTACK_SIZE);
	for (int i = IST_DF; i <= IST_COUNT; i++)
		c->ist_top[i] = mm_map_stack(IST_STACK_SIZE);
	cpus[index] = c;
	return c;
}

static void call_interrupt(struct trap_frame *f)
{
	(void)f;
	if (this_cpu()->idle) /* the idle loop runs them once the IPI wakes it */
		return;
	/* With interrupts enabled, as the interrupted code had them (the EOI
	 * went first): a call may run long, allocate and collect, and must be
	 * stoppable by a CPU that stops the world. */
	irq_enable();
	smp_poll_calls();
	irq_disable();
}

void smp_poll_calls(void)
{
	stw_safe_point();
	struct smp_call *list = __atomic_exchange_n(&this_cpu()->calls, NULL, __ATOMIC_ACQUIRE);
	struct smp_call *fifo = NULL;
	while (list) { /* the list is newest first: reverse it */
		struct smp_call *next = list->next;
		list->next = fifo;
		fifo = list;
		list = next;
	}
	if (fifo) {
		this_cpu()->last_call_tick = this_cpu()->ticks;
		this_cpu()->goheap_flushed = false;
	}
	while (fifo) {
		struct smp_call *next = fifo->next; /* fifo is gone once done is set */
		fifo->fn(fifo->arg);
		__atomic_store_n(&fifo->done, 1, __ATOMIC_RELEASE);
		fifo = next;
	}
}

static void post(unsigned cpu, struct smp_call *req)
{
	struct percpu *c = cpus[cpu];
	if (cpu != this_cpu()->index && stw_stopped_here())
		panic("smp_call to cpu %u while this CPU has stopped the world", cpu);
	req->done = 0;
	req->next = __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&c->calls, &req->next, req, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED))
		;
	if (cpu != this_cpu()->index)
		lapic_send_ipi(c->apic_id, VEC_CALL);
}

/* Runs this CPU's calls, and parks at each turn while the world is stopped
 * (smp_poll_calls). */
static void wait_done(struct smp_call *req)
{
	while (!__atomic_load_n(&req->done, __ATOMIC_ACQUIRE)) {
		smp_poll_calls();
		cpu_relax();
	}
}

void smp_wake(unsigned cpu)
{
	struct percpu *c = cpus[cpu];
	if (cpu != this_cpu()->index && __atomic_load_n(&c->idle, __ATOMIC_RELAXED))
		lapic_send_ipi(c->apic_id, VEC_CALL); /* call_interrupt leaves it to the loop */
}

void smp_call(unsigned cpu, void (*fn)(void *), void *arg)
{
	struct smp_call req = {.fn = fn, .arg = arg};
	post(cpu, &req);
	wait_done(&req);
}

struct all_call {
	void (*fn)(void *arg, unsigned cpu);
	void *arg;
};

static void run_all_call(void *p)
{
	struct all_call *a = p;
	a->fn(a->arg, this_cpu()->index);
}

void smp_call_all(void (*fn)(void *arg, unsigned cpu), void *arg)
{
	struct all_call a = {fn, arg};
	struct smp_call req[MAX_CPUS];
	for (unsigned i = 0; i < ncpus; i++) {
		req[i] = (struct smp_call){.fn = run_all_call, .arg = &a};
		post(i, &req[i]);
	}
	for (unsigned i = 0; i < ncpus; i++)
		wait_done(&req[i]);
}

/* Common to every CPU once it runs on its own stack with its area. */
static void cpu_setup(struct percpu *c)
{
	gdt_init(c);
	idt_init(c);
	lapic_init();
	c->apic_id = lapic_id();
}

void ap_entry(struct percpu *c);
void ap_entry(struct percpu *c)
{
	cpu_setup(c);
	lapic_timer_start(TICK_HZ);
	__atomic_fetch_add(&ap_alive, 1, __ATOMIC_RELEASE);
	c->idle = true;
	for (;;) {
		goheap_idle();
		irq_disable();
		if (__atomic_load_n(&c->calls, __ATOMIC_RELAXED)) {
			c->idle = false;
			irq_enable();
			smp_poll_calls();
			c->idle = true;
			continue;
		}
		if (goheap_idle_work()) {
			irq_enable();
			continue;
		}
		/* sti takes effect after hlt starts: a wake-up IPI cannot slip in
		 * between the checks above and the halt. The scratch registers,
		 * dead here, are zeroed first: the interrupt that wakes the CPU
		 * saves them, and a stop scans what it saved conservatively. */
		GH_ZERO_SCRATCH_THEN("sti; hlt");
	}
}

/* The boot CPU's area, set up before anything that prints a CPU number;
 * then continue in next() on the boot CPU's own guarded stack. */
void smp_init_bsp(void (*next)(void))
{
	struct percpu *c = percpu_alloc(0);
	ncpus = 1;
	gdt_init(c);
	idt_init(c);
	printk_percpu_ready();
	/* next starts with no callee-saved register of the boot code, which
	 * held addresses of the loader's memory, goheap's now: its prologue
	 * would save them where the collector scans for roots. */
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "xor %%ebx, %%ebx\n\t"
			 "xor %%r12d, %%r12d\n\t"
			 "xor %%r13d, %%r13d\n\t"
			 "xor %%r14d, %%r14d\n\t"
			 "xor %%r15d, %%r15d\n\t"
			 "push $0\n\t" /* a zero return address ends backtraces */
			 "jmp *%1" ::"a"(c->stack_top),
			 "c"(next)
			 : "memory");
	__builtin_unreachable();
}

static void patch32(char *field, uint64_t tramp, uint64_t v)
{
	*(uint32_t *)(tramp + ((uintptr_t)field - (uintptr_t)trampoline_start)) = (uint32_t)v;
}

static void patch64(char *field, uint64_t tramp, uint64_t v)
{
	*(uint64_t *)(tramp + ((uintptr_t)field - (uintptr_t)trampoline_start)) = v;
}

static bool start_ap(uint32_t apic_id, struct percpu *c, uint64_t tramp)
{
	patch64(tr_stack, tramp, c->stack_top);
	patch64(tr_percpu, tramp, (uint64_t)c);
	unsigned before = ap_alive;
	uint32_t vector = (uint32_t)(tramp >> 12);
	lapic_send_ipi(apic_id, 0x4500); /* INIT, level assert */
	udelay(10000);
	for (int sipi = 0; sipi < 2; sipi++) {
		lapic_send_ipi(apic_id, 0x4600 | vector); /* STARTUP */
		for (uint64_t waited = 0; waited < (sipi ? AP_START_TIMEOUT_US : 200);
		     waited += 10) {
			if (ap_alive != before)
				return true;
			udelay(10);
		}
	}
	return false;
}

void smp_init(void)
{
	struct percpu *bsp = cpus[0];
	cpu_setup(bsp);
	irq_register(VEC_CALL, call_interrupt);
	stw_init();
	lapic_timer_start(TICK_HZ);
	irq_enable();

	uint64_t tramp = bootinfo->trampoline;
	__builtin_memcpy((void *)tramp, trampoline_start,
			 (uintptr_t)trampoline_end - (uintptr_t)trampoline_start);
	patch32(tr_gdtr_base, tramp, tramp + (uint64_t)tr_off_gdt);
	patch32(tr_pm_ptr, tramp, tramp + (uint64_t)tr_off_pm);
	patch32(tr_lm_ptr, tramp, tramp + (uint64_t)tr_off_lm);
	patch64(tr_cr3, tramp, read_cr3());
	patch64(tr_entry, tramp, (uint64_t)ap_entry);

	uint64_t t0 = rdtsc();
	for (unsigned i = 0; i < acpi.ncpus; i++) {
		uint32_t id = acpi.apic_ids[i];
		if (id == bsp->apic_id)
			continue;
		struct percpu *c = percpu_alloc(ncpus);
		if (!start_ap(id, c, tramp))
			panic("CPU with APIC ID %u did not start", id);
		ncpus++;
	}
	printk("smp: %u CPUs online (started the APs in %llu ms)\n", ncpus,
	       (unsigned long long)(tsc_to_ns(rdtsc() - t0) / 1000000));
}
