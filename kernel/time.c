/*
 * time.c — the TSC as the kernel's clock, calibrated against the ACPI PM
 * timer (3.579545 MHz, fixed by the ACPI spec), or the HPET when there is no
 * PM timer. Each reading of the reference clock is bracketed by two TSC
 * reads; a bracket that took too long (the vCPU was descheduled in between)
 * is read again. The median of five 50 ms calibrations is kept.
 */
#include "cpu.h"
#include "kernel.h"
#include "spinlock.h"

#define CALIBRATION_ROUNDS 5
#define CALIBRATION_NS 50000000ull

uint64_t tsc_hz;
const char *tsc_reference = "none";

static uint64_t hpet_base, hpet_freq;
static struct spinlock pm_lock = SPINLOCK_INIT;
static uint64_t pm_last; /* extended (64-bit) value of the last read */

bool pmtimer_available(void)
{
	return acpi.pm_timer_port != 0;
}

uint64_t pmtimer_read(void)
{
	uint64_t mask = acpi.pm_timer_32bit ? 0xffffffffull : 0xffffffull;
	bool was = spin_lock_irqsave(&pm_lock);
	uint64_t raw = inl(acpi.pm_timer_port) & mask;
	pm_last += (raw - pm_last) & mask; /* the timer wraps at its width */
	uint64_t v = pm_last;
	spin_unlock_irqrestore(&pm_lock, was);
	return v;
}

bool hpet_available(void)
{
	return hpet_base != 0;
}
uint64_t hpet_read(void)
{
	return mmio_read64(hpet_base + 0xf0);
}
uint64_t hpet_hz(void)
{
	return hpet_freq;
}

static void hpet_init(void)
{
	if (!acpi.hpet_phys)
		return;
	mm_map_mmio(acpi.hpet_phys, 4096);
	uint64_t cap = mmio_read64(acpi.hpet_phys);
	uint32_t period_fs = (uint32_t)(cap >> 32);
	if (period_fs == 0 || period_fs > 100000000) /* the spec's bound: 100 ns */
		return;
	hpet_base = acpi.hpet_phys;
	hpet_freq = 1000000000000000ull / period_fs;
	mmio_write64(hpet_base + 0x10, mmio_read64(hpet_base + 0x10) | 1); /* enable */
}

/* Read a reference clock together with the TSC at the same moment. */
static void read_pair(uint64_t (*ref)(void), uint64_t *tsc, uint64_t *r)
{
	uint64_t best = ~0ull;
	for (int i = 0; i < 16; i++) {
		uint64_t a = rdtsc(), v = ref(), b = rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*r = v;
		}
	}
}

static uint64_t calibrate_once(uint64_t (*ref)(void), uint64_t ref_hz)
{
	uint64_t t0, r0, t1, r1;
	read_pair(ref, &t0, &r0);
	uint64_t want = ref_hz * CALIBRATION_NS / 1000000000ull;
	while (ref() - r0 < want)
		cpu_relax();
	read_pair(ref, &t1, &r1);
	return (t1 - t0) * ref_hz / (r1 - r0);
}

void time_init(void)
{
	hpet_init();
	uint64_t (*ref)(void) = pmtimer_read;
	uint64_t ref_hz = PMTIMER_HZ;
	tsc_reference = "ACPI PM timer";
	if (!pmtimer_available()) {
		if (!hpet_available())
			panic("no clock to calibrate the TSC against (no PM timer, no HPET)");
		ref = hpet_read;
		ref_hz = hpet_freq;
		tsc_reference = "HPET";
	}
	uint64_t v[CALIBRATION_ROUNDS];
	for (int i = 0; i < CALIBRATION_ROUNDS; i++) {
		v[i] = calibrate_once(ref, ref_hz);
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	}
	tsc_hz = v[CALIBRATION_ROUNDS / 2];
	printk("time: TSC %llu.%03llu MHz against the %s (rounds from %llu to %llu kHz)\n",
	       (unsigned long long)(tsc_hz / 1000000), (unsigned long long)(tsc_hz / 1000 % 1000),
	       tsc_reference, (unsigned long long)(v[0] / 1000),
	       (unsigned long long)(v[CALIBRATION_ROUNDS - 1] / 1000));
}

uint64_t tsc_to_ns(uint64_t t)
{
	return t / tsc_hz * 1000000000ull + t % tsc_hz * 1000000000ull / tsc_hz;
}

uint64_t time_ns(void)
{
	return tsc_to_ns(rdtsc() - bootinfo->tsc_loader_start);
}

void udelay(uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_hz / 1000000;
	while ((int64_t)(rdtsc() - end) < 0)
		cpu_relax();
}
