/*
 * trap.c — the IDT, exception reports and interrupt dispatch.
 *
 * An exception is fatal unless its instruction has an extable entry (the
 * probes in isr.S): then the fault is recorded in this CPU's fault record and
 * execution resumes at the fixup. A fatal one prints the vector, error code,
 * RIP, CR2, every register and a frame-pointer backtrace, then ends the run
 * with QEMU_EXIT_PANIC. NMIs are counted; they run on their own IST stack.
 * Interrupt handlers start with interrupts disabled, after the EOI.
 */
#include "cpu.h"
#include "kernel.h"

#define SEL_CODE 0x08
#define GATE_INTERRUPT 0x8e /* present, ring 0, 64-bit interrupt gate */

struct extable_entry {
	uint64_t insn, fixup;
};
extern const struct extable_entry __start_extable[], __stop_extable[];
extern const uint64_t isr_vectors[256];

static irq_handler handlers[256];

static const char *const exception_names[32] = {
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 FP error",
    "alignment check",
    "machine check",
    "SIMD FP error",
    "virtualization",
    "control protection",
};

void idt_init(struct percpu *c)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = isr_vectors[v];
		struct idt_gate *g = &c->idt[v];
		g->offset_lo = (uint16_t)a;
		g->selector = SEL_CODE;
		g->ist = v == 8 ? IST_DF : v == 2 ? IST_NMI : v == 18 ? IST_MC : 0;
		g->type_attr = GATE_INTERRUPT;
		g->offset_mid = (uint16_t)(a >> 16);
		g->offset_hi = (uint32_t)(a >> 32);
		g->zero = 0;
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {sizeof(c->idt) - 1, (uint64_t)c->idt};
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

void irq_register(unsigned vector, irq_handler h)
{
	handlers[vector] = h;
}

static bool fixup(struct trap_frame *f)
{
	size_t n =
	    ((uintptr_t)__stop_extable - (uintptr_t)__start_extable) / sizeof(*__start_extable);
	for (const struct extable_entry *e = __start_extable; e < __start_extable + n; e++) {
		if (e->insn != f->rip)
			continue;
		struct fault_record *r = &this_cpu()->fault;
		r->vector = f->vector;
		r->error = f->error;
		r->cr2 = f->vector == 14 ? read_cr2() : 0;
		r->rip = f->rip;
		r->count++;
		f->rip = e->fixup;
		return true;
	}
	return false;
}

/* Does addr lie in the guard page below one of this CPU's stacks? */
static bool in_stack_guard(uint64_t addr)
{
	struct percpu *c = this_cpu();
	uint64_t guard = c->stack_top - KSTACK_SIZE - 4096;
	if (addr >= guard && addr < guard + 4096)
		return true;
	for (int i = IST_DF; i <= IST_COUNT; i++) {
		guard = c->ist_top[i] - IST_STACK_SIZE - 4096;
		if (addr >= guard && addr < guard + 4096)
			return true;
	}
	return false;
}

static __attribute__((noreturn)) void fatal(struct trap_frame *f)
{
	const char *name = f->vector < 32 && exception_names[f->vector] ? exception_names[f->vector]
									: "unexpected interrupt";
	printk("EXCEPTION %llu (%s), error code 0x%llx\n", (unsigned long long)f->vector, name,
	       (unsigned long long)f->error);
	/* An overflow faults on the guard page; the CPU cannot push the page
	 * fault's frame there either, so it arrives as a double fault. */
	if ((f->vector == 8 || f->vector == 14) &&
	    (in_stack_guard(read_cr2()) || in_stack_guard(f->rsp)))
		printk("kernel stack overflow (stack top %p)\n", (void *)this_cpu()->stack_top);
	printk("  rip %p  cs %llx  rflags %llx  cr2 %p\n", (void *)f->rip,
	       (unsigned long long)f->cs, (unsigned long long)f->rflags, (void *)read_cr2());
	printk("  rax %p rbx %p rcx %p rdx %p\n", (void *)f->rax, (void *)f->rbx, (void *)f->rcx,
	       (void *)f->rdx);
	printk("  rsi %p rdi %p rbp %p rsp %p\n", (void *)f->rsi, (void *)f->rdi, (void *)f->rbp,
	       (void *)f->rsp);
	printk("  r8  %p r9  %p r10 %p r11 %p\n", (void *)f->r8, (void *)f->r9, (void *)f->r10,
	       (void *)f->r11);
	printk("  r12 %p r13 %p r14 %p r15 %p\n", (void *)f->r12, (void *)f->r13, (void *)f->r14,
	       (void *)f->r15);
	printk("backtrace:\n");
	backtrace_frame(f->rip);
	backtrace(f->rbp);
	qemu_exit(QEMU_EXIT_PANIC);
}

void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == 2) {
		struct percpu *c = this_cpu();
		c->nmi_rsp = (uint64_t)f;
		c->nmis++;
		return;
	}
	if (f->vector < 32) {
		if (fixup(f))
			return;
		fatal(f);
	}
	if (f->vector == VEC_SPURIOUS)
		return; /* no EOI for spurious interrupts */
	if (!handlers[f->vector])
		fatal(f);
	/* Interrupted in GH_STORE_PTR's test-and-store: back to the test, so
	 * that a stop of the world under this interrupt, or nested in it,
	 * cannot fall between the two (alloc/storeptr.S). */
	gh_store_restart(&f->rip);
	/* The EOI first: a handler that enables interrupts (the timer tick's
	 * background marking) lets every vector nest, VEC_STOP included. */
	lapic_eoi();
	handlers[f->vector](f);
}
