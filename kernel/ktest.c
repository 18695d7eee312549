/*
 * ktest.c — the kernel test runner: runs goheap's test cases on the booted
 * kernel, prints KTAP on the serial console and ends the run through QEMU's
 * isa-debug-exit device: QEMU exits with 33 when every case passed, 35 when
 * one failed (37 is a panic, from panic() or a fatal exception).
 *
 * Options come from the kernel command line (\goheap\cmdline.txt on the
 * ESP; scripts/run-qemu.sh writes it): "test=suite[.case],..." selects
 * cases, "demo" adds the cases that fail on purpose, "gcdemo" runs the
 * collector's demonstration after the tests (kernel/gcdemo.c; make run). With "bench" the kernel
 * runs the allocation benchmark instead (kernel/bench.c, main.c).
 */
#include "../tests/ghtest.h"
#include "kernel.h"

static void write_out(const char *s, size_t n)
{
	console_write(s, n);
}
static unsigned ncpu(void)
{
	return ncpus;
}

static unsigned cpu_index(void)
{
	return this_cpu()->index;
}

extern void (*kernel_panic_hook)(const char *msg);

void ktest_main(void)
{
	struct ght_runner r = {
	    .name = "kernel",
	    .write = write_out,
	    .ncpu = ncpu,
	    .this_cpu = cpu_index,
	    .run_on_all = smp_call_all,
	    .options = (const char *)bootinfo->cmdline,
	};
	kernel_panic_hook = ght_panic_catch;
	uint64_t t0 = time_ns();
	unsigned failed = ght_run_all(&r);
	printk("tests: %u failed, ran in %llu ms\n", failed,
	       (unsigned long long)((time_ns() - t0) / 1000000));
	if (ght_option("gcdemo"))
		gcdemo_main();
	qemu_exit(failed ? QEMU_EXIT_FAIL : QEMU_EXIT_PASS);
}
