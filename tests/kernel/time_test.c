/*
 * time_test.c — the calibrated TSC agrees with the other clocks, and every
 * CPU's timer ticks.
 */
#include "../../kernel/cpu.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

#define INTERVAL_NS 100000000ull /* 100 ms per measurement */
#define ROUNDS 5

/* Measure INTERVAL_NS of the reference clock with the TSC too, ROUNDS times;
 * return the median error in parts per million. */
static uint64_t median_error_ppm(uint64_t (*ref)(void), uint64_t ref_hz)
{
	uint64_t err[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t r0 = ref(), t0 = rdtsc(), want = ref_hz * INTERVAL_NS / 1000000000ull, r1;
		while ((r1 = ref()) - r0 < want)
			cpu_relax();
		uint64_t t1 = rdtsc();
		uint64_t ref_ns = (r1 - r0) * 1000000000ull / ref_hz, tsc_ns = tsc_to_ns(t1 - t0);
		uint64_t diff = ref_ns > tsc_ns ? ref_ns - tsc_ns : tsc_ns - ref_ns;
		err[i] = diff * 1000000 / ref_ns;
		for (int j = i; j > 0 && err[j - 1] > err[j]; j--) {
			uint64_t x = err[j];
			err[j] = err[j - 1];
			err[j - 1] = x;
		}
	}
	return err[ROUNDS / 2];
}

static uint64_t pmtimer_hz(void)
{
	return PMTIMER_HZ;
}

GH_TEST(time, tsc_agrees_with_pm_timer)
{
	if (!pmtimer_available())
		GH_SKIP("no ACPI PM timer");
	uint64_t ppm = median_error_ppm(pmtimer_read, pmtimer_hz());
	ght_log(t, "TSC %llu kHz vs PM timer: median error %llu ppm",
		(unsigned long long)(tsc_hz / 1000), (unsigned long long)ppm);
	GH_EXPECT_LT(ppm, 10000); /* 1% */
}

GH_TEST(time, tsc_agrees_with_hpet)
{
	if (!hpet_available())
		GH_SKIP("no HPET");
	uint64_t ppm = median_error_ppm(hpet_read, hpet_hz());
	ght_log(t, "TSC vs HPET (%llu Hz): median error %llu ppm", (unsigned long long)hpet_hz(),
		(unsigned long long)ppm);
	GH_EXPECT_LT(ppm, 10000);
}

GH_TEST(time, udelay_lasts)
{
	uint64_t r0 = hpet_available() ? hpet_read() : pmtimer_read();
	udelay(20000);
	uint64_t r1 = hpet_available() ? hpet_read() : pmtimer_read();
	uint64_t hz = hpet_available() ? hpet_hz() : PMTIMER_HZ;
	GH_EXPECT_GE((r1 - r0) * 1000000 / hz, 20000);
}

/* Each CPU's LAPIC timer ticks at about lapic_timer_hz: over 200 ms expect
 * at least a quarter of the nominal count (vCPUs may be descheduled). */
GH_TEST_PERCPU(time, timer_ticks_every_cpu)
{
	struct percpu *c = this_cpu();
	uint64_t before = c->ticks;
	udelay(200000);
	uint64_t ticks = c->ticks - before, nominal = lapic_timer_hz / 5;
	GH_EXPECT_GE(ticks * 4, nominal);
	GH_EXPECT_LE(ticks, nominal * 2);
}
