/*
 * apic.c — the local APIC in xAPIC mode (memory-mapped registers; QEMU's
 * software emulation has no x2APIC): enabling it on each CPU, interprocessor
 * interrupts, and a periodic timer tick per CPU. The legacy 8259 PICs are
 * masked; nothing here uses the I/O APIC.
 */
#include "cpu.h"
#include "kernel.h"

enum {
	LAPIC_ID = 0x20,
	LAPIC_TPR = 0x80,
	LAPIC_EOI = 0xb0,
	LAPIC_SVR = 0xf0,
	LAPIC_ICR_LO = 0x300,
	LAPIC_ICR_HI = 0x310,
	LAPIC_LVT_TIMER = 0x320,
	LAPIC_LVT_LINT0 = 0x350,
	LAPIC_TIMER_INIT = 0x380,
	LAPIC_TIMER_CUR = 0x390,
	LAPIC_TIMER_DIV = 0x3e0,
};
#define ICR_PENDING (1u << 12)
#define ICR_NMI (4u << 8)
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define SVR_ENABLE (1u << 8)
#define APIC_BASE_ENABLE (1u << 11)

unsigned lapic_timer_hz;
static uint64_t lapic_base;
static uint32_t timer_ticks_per_sec; /* at divide-by-16 */

static uint32_t rd(uint32_t reg)
{
	return mmio_read32(lapic_base + reg);
}
static void wr(uint32_t reg, uint32_t v)
{
	mmio_write32(lapic_base + reg, v);
}

static void timer_tick(struct trap_frame *f)
{
	(void)f;
	this_cpu()->ticks++;
	goheap_tick();
}

void lapic_init(void)
{
	if (!lapic_base) { /* first CPU: map the registers, silence the PICs */
		lapic_base = acpi.lapic_phys;
		mm_map_mmio(lapic_base, 4096);
		outb(0x21, 0xff);
		outb(0xa1, 0xff);
		irq_register(VEC_TIMER, timer_tick);
	}
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE);
	wr(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	wr(LAPIC_TPR, 0);
	if (this_cpu()->index != 0)
		wr(LAPIC_LVT_LINT0, LVT_MASKED);
}

uint32_t lapic_id(void)
{
	return rd(LAPIC_ID) >> 24;
}
void lapic_eoi(void)
{
	wr(LAPIC_EOI, 0);
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
	bool was = irq_save();
	while (rd(LAPIC_ICR_LO) & ICR_PENDING)
		cpu_relax();
	wr(LAPIC_ICR_HI, apic_id << 24);
	wr(LAPIC_ICR_LO, icr_low);
	while (rd(LAPIC_ICR_LO) & ICR_PENDING)
		cpu_relax();
	irq_restore(was);
}

void lapic_send_nmi(uint32_t apic_id)
{
	lapic_send_ipi(apic_id, ICR_NMI);
}

void lapic_timer_start(unsigned hz)
{
	wr(LAPIC_TIMER_DIV, 0x3);   /* divide by 16 */
	if (!timer_ticks_per_sec) { /* measure the timer's rate against the TSC once */
		wr(LAPIC_LVT_TIMER, LVT_MASKED);
		wr(LAPIC_TIMER_INIT, 0xffffffffu);
		uint64_t t0 = rdtsc();
		udelay(20000);
		uint32_t left = rd(LAPIC_TIMER_CUR);
		uint64_t ns = tsc_to_ns(rdtsc() - t0);
		timer_ticks_per_sec = (uint32_t)((0xffffffffull - left) * 1000000000ull / ns);
		lapic_timer_hz = hz;
		printk("apic: timer %u kHz at divide-by-16, tick %u Hz\n",
		       timer_ticks_per_sec / 1000, hz);
	}
	wr(LAPIC_LVT_TIMER, VEC_TIMER | LVT_PERIODIC);
	wr(LAPIC_TIMER_INIT, timer_ticks_per_sec / hz);
}
