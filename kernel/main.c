/*
 * main.c — the reference kernel's entry: bring the machine up in order,
 * print how long each phase took, then run the test suite (or, with "bench"
 * on the command line, the allocation benchmark; with "gcbench", the
 * collector's pause benchmark).
 *
 *   serial → memory map and page tables → boot CPU's GDT/TSS/IDT and
 *   per-CPU area → ACPI → TSC calibration → local APIC and timer → APs
 */
#include "cpu.h"
#include "kernel.h"

struct gh_bootinfo *bootinfo;
static uint64_t t_entry;

static uint64_t ms(uint64_t tsc_delta)
{
	return tsc_to_ns(tsc_delta) / 1000000;
}

/* The rest of the bring-up, on the boot CPU's own stack. */
/* Out of line: what it works out (times in ns, small numbers that would
 * pass for addresses in goheap) dies with its frame. */
static __attribute__((noinline)) void boot_report(void)
{
	struct gh_bootinfo *bi = bootinfo;
	uint64_t t_ready = rdtsc();
	printk("boot: firmware %llu ms, loader %llu ms (kernel read in %llu ms), "
	       "kernel init %llu ms (TSC calibration included), boot to tests %llu ms\n",
	       (unsigned long long)ms(bi->tsc_loader_start),
	       (unsigned long long)ms(bi->tsc_handoff - bi->tsc_loader_start),
	       (unsigned long long)ms(bi->tsc_kernel_loaded - bi->tsc_loader_start),
	       (unsigned long long)ms(t_ready - t_entry), (unsigned long long)ms(t_ready));
}

static __attribute__((noreturn)) void kmain2(void)
{
	acpi_init();
	time_init();
	smp_init();
	goheap_start();
	boot_report();
	gh_clear_stack(4096); /* boot's dead frames: no roots for the tests */
	if (bench_requested())
		bench_main();
	if (gcbench_requested())
		gcbench_main();
	ktest_main();
}

void kmain(struct gh_bootinfo *bi);
void kmain(struct gh_bootinfo *bi)
{
	t_entry = rdtsc();
	serial_init();
	if (!bi || bi->magic != GH_BOOTINFO_MAGIC || bi->version != GH_BOOTINFO_VERSION)
		panic("bad boot info at %p: the loader and kernel do not match", (void *)bi);
	bootinfo = bi;
	uint32_t id[4];
	cpuid(1, 0, id);
	if (!(id[2] & (1u << 23)))
		panic("this CPU has no POPCNT instruction, which the kernel is built for");
	printk("goheap reference kernel, command line \"%s\"\n", (const char *)bi->cmdline);
	mm_init();
	smp_init_bsp(kmain2);
}
