/*
 * smp.c — per-CPU areas, starting the application processors, and
 * cross-CPU calls.
 *
 * APs are started one at a time with INIT-SIPI-SIPI through the trampoline
 * (trampoline.S); each gets its own stack, IST stacks, GDT/TSS, IDT and
 * per-CPU area, enables its local APIC and timer, and idles in hlt.
 *
 * A cross-CPU call is posted to the target's mailbox (one poster at a time)
 * and announced with an IPI on VEC_CALL; the target runs it in the interrupt
 * handler and clears "pending". Every wait loop also runs calls posted to
 * its own CPU, so two CPUs calling each other cannot deadlock, even with
 * interrupts disabled.
 */
#include "cpu.h"
#include "kernel.h"

#define AP_START_TIMEOUT_US 2000000
#define TICK_HZ 100

unsigned ncpus;
struct percpu *cpus[MAX_CPUS];

extern const char trampoline_start[], trampoline_end[];
extern char tr_gdtr_base[], tr_pm_ptr[], tr_lm_ptr[], tr_cr3[], tr_stack[], tr_percpu[],
	tr_entry[];
extern const char tr_off_gdt[], tr_off_pm[], tr_off_lm[];
void printk_percpu_ready(void);

static volatile unsigned ap_alive;

static struct percpu *percpu_alloc(unsigned index)
{
	struct percpu *c = early_alloc(sizeof(*c));
	c->self = c;
	c->index = index;
	c->stack_top = (uint64_t)early_alloc(KSTACK_SIZE) + KSTACK_SIZE;
	for (int i = IST_DF; i <= IST_COUNT; i++)
		c->ist_top[i] = (uint64_t)early_alloc(IST_STACK_SIZE) + IST_STACK_SIZE;
	cpus[index] = c;
	return c;
}

static void call_interrupt(struct trap_frame *f)
{
	(void)f;
	smp_poll_calls();
}

void smp_poll_calls(void)
{
	struct smp_mailbox *m = &this_cpu()->call;
	if (!__atomic_load_n(&m->pending, __ATOMIC_ACQUIRE))
		return;
	m->fn(m->arg);
	__atomic_store_n(&m->pending, 0, __ATOMIC_RELEASE);
}

static void post(unsigned cpu, void (*fn)(void *), void *arg)
{
	struct smp_mailbox *m = &cpus[cpu]->call;
	while (__atomic_exchange_n(&m->lock, 1, __ATOMIC_ACQUIRE))
		smp_poll_calls();
	m->fn = fn;
	m->arg = arg;
	__atomic_store_n(&m->pending, 1, __ATOMIC_RELEASE);
	if (cpu != this_cpu()->index)
		lapic_send_ipi(cpus[cpu]->apic_id, VEC_CALL);
}

static void finish(unsigned cpu)
{
	struct smp_mailbox *m = &cpus[cpu]->call;
	while (__atomic_load_n(&m->pending, __ATOMIC_ACQUIRE)) {
		smp_poll_calls();
		cpu_relax();
	}
	__atomic_store_n(&m->lock, 0, __ATOMIC_RELEASE);
}

void smp_call(unsigned cpu, void (*fn)(void *), void *arg)
{
	post(cpu, fn, arg);
	finish(cpu);
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
	for (unsigned i = 0; i < ncpus; i++)
		post(i, run_all_call, &a);
	for (unsigned i = 0; i < ncpus; i++)
		finish(i);
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
	for (;;) {
		irq_enable();
		cpu_halt();
	}
}

/* The boot CPU's area, set up before anything that prints a CPU number. */
void smp_init_bsp(void);
void smp_init_bsp(void)
{
	struct percpu *c = percpu_alloc(0);
	ncpus = 1;
	gdt_init(c);
	idt_init(c);
	printk_percpu_ready();
}

static void patch32(char *field, uint64_t tramp, uint64_t v)
{
	*(uint32_t *)(tramp + (uint64_t)(field - trampoline_start)) = (uint32_t)v;
}

static void patch64(char *field, uint64_t tramp, uint64_t v)
{
	*(uint64_t *)(tramp + (uint64_t)(field - trampoline_start)) = v;
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
		for (uint64_t waited = 0; waited < (sipi ? AP_START_TIMEOUT_US : 200); waited += 10) {
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
	lapic_timer_start(TICK_HZ);
	irq_enable();

	uint64_t tramp = bootinfo->trampoline;
	__builtin_memcpy((void *)tramp, trampoline_start, (size_t)(trampoline_end - trampoline_start));
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
