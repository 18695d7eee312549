/*
 * kernel.h — what every part of the reference kernel shares: the console,
 * panics, boot parameters, the per-CPU area, and the interfaces of the
 * subsystems that main.c brings up in order.
 */
#ifndef GOHEAP_KERNEL_KERNEL_H
#define GOHEAP_KERNEL_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/include/goheap.h"
#include "../boot/bootinfo.h"
#include "percpu.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((uint64_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

/* serial.c: COM1 at 115200 8N1. */
void serial_init(void);
void serial_write(const char *s, size_t n);

/* printk.c: formatted console output, one line at a time under a lock so that
 * lines from several CPUs never interleave. Lines start with the time since
 * the loader started and the CPU number: "[   1.234567] cpu0: ...". */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The boot CPU's per-CPU area is up: prefixes may name the CPU. */
void printk_percpu_ready(void);
/* Raw output without the time stamp prefix (KTAP lines, benchmark lines). */
void console_write(const char *s, size_t n);
void console_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the message, a backtrace from here, and end the run (QEMU_EXIT_PANIC). */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);
/* Frame-pointer backtrace starting at rbp, one "    [<address>]" line per
 * frame (scripts/run-qemu.sh names the functions with addr2line). */
void backtrace(uint64_t rbp);
void backtrace_frame(uint64_t addr);

/* qemu.c: leave QEMU through isa-debug-exit (iobase 0xf4). QEMU's exit status
 * is (code << 1) | 1: 33 all tests passed, 35 a test failed, 37 panic. */
enum { QEMU_EXIT_PASS = 0x10, QEMU_EXIT_FAIL = 0x11, QEMU_EXIT_PANIC = 0x12 };
__attribute__((noreturn)) void qemu_exit(unsigned code);
/* fw_cfg: what QEMU itself says about the machine (0 when not under QEMU). */
uint64_t fwcfg_ram_size(void);
unsigned fwcfg_cpu_count(void);

/* main.c: boot parameters. */
extern struct gh_bootinfo *bootinfo;

/* mm.c: the memory map, early page frames, the kernel's page tables. */
struct mem_range {
	uint64_t base, end; /* [base, end), 4 KiB aligned */
};
void mm_init(void);
/* Usable RAM left after the kernel's own early allocations (for goheap). */
const struct mem_range *mm_free_ranges(unsigned *n);
/* Bytes of RAM in the firmware's map: usable plus what the loader set aside. */
uint64_t mm_ram_bytes(void);
/* Usable bytes the kernel saw before its own early allocations. */
uint64_t mm_usable_bytes(void);
/* Bytes the kernel took with early_alloc (page tables, per-CPU areas, stacks). */
uint64_t mm_early_bytes(void);
/* Zeroed, 4 KiB aligned, below 4 GiB; panics when memory is exhausted. */
void *early_alloc(uint64_t bytes);
/* A kernel stack of the given size with an unmapped guard page below it,
 * in STACK_REGION; returns its top. Boot CPU only (before SMP). */
#define STACK_REGION 0xffff800000000000ull
uint64_t mm_map_stack(uint64_t bytes);
/* Map device memory uncached (identity). */
void mm_map_mmio(uint64_t phys, uint64_t len);
/* Is virtual address va mapped (present)? */
bool mm_is_mapped(uint64_t va);
/*
 * goheap's view of RAM: physical address pa is also mapped at HEAP_MAP +
 * pa (as Linux's direct map), and goheap_start gives goheap its ranges
 * there. The collector scans stacks and saved registers conservatively: a
 * number there that falls in the heap passes for a pointer and keeps what
 * it points into alive. At its physical addresses, from 1 MiB up, the heap
 * is within reach of counts, sizes and times: the remainder that
 * converting the TSC to ns leaves in a register lies anywhere below the
 * TSC's frequency (about 3 * 10^9), in a 1 GiB heap one time in three,
 * and a stop that interrupts the CPU then finds it among the registers it
 * saved. No count, size or time reaches HEAP_MAP. Go puts its arenas at
 * 0xc000000000 partly for the same reason (gccgo scans stacks
 * conservatively).
 */
#define HEAP_MAP 0xffff888000000000ull

/* acpi.c */
struct acpi_info {
	unsigned ncpus;
	uint32_t apic_ids[MAX_CPUS];
	uint64_t lapic_phys;
	uint16_t pm_timer_port; /* 0 when absent */
	bool pm_timer_32bit;
	uint64_t hpet_phys; /* 0 when absent */
};
extern struct acpi_info acpi;
void acpi_init(void);

/* time.c: the TSC, calibrated against the ACPI PM timer (or the PIT). */
extern uint64_t tsc_hz;
extern const char *tsc_reference; /* which clock calibrated it */
void time_init(void);
uint64_t tsc_to_ns(uint64_t ticks);
uint64_t time_ns(void); /* since the loader started */
void udelay(uint64_t us);
/* Second clocks, for checking the TSC: ticks and their frequency. */
bool pmtimer_available(void);
uint64_t pmtimer_read(void); /* monotonic, extended past its 24/32-bit wrap */
#define PMTIMER_HZ 3579545ull
bool hpet_available(void);
uint64_t hpet_read(void);
uint64_t hpet_hz(void);

/* apic.c: the local APIC in xAPIC mode. */
#define VEC_TIMER 0x40
#define VEC_CALL 0xf0
#define VEC_STOP 0xf1 /* stopping the world (stw.c): above the timer's priority class */
#define VEC_SPURIOUS 0xff
void lapic_init(void); /* on each CPU */
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
void lapic_send_nmi(uint32_t apic_id);
void lapic_timer_start(unsigned hz); /* periodic tick on this CPU */
extern unsigned lapic_timer_hz;

/* gdt.c / trap.c */
void gdt_init(struct percpu *c); /* load this CPU's GDT and TSS */
void idt_init(struct percpu *c); /* load this CPU's IDT */
typedef void (*irq_handler)(struct trap_frame *f);
void irq_register(unsigned vector, irq_handler h);
/* Read or write 8 bytes at addr; a page fault or #GP there is caught and
 * recorded in this CPU's fault record, and the call returns false. */
bool probe_read64(const volatile void *addr, uint64_t *val);
bool probe_write64(volatile void *addr, uint64_t val);

/* smp.c */
extern unsigned ncpus;
extern struct percpu *cpus[MAX_CPUS];
__attribute__((noreturn)) void smp_init_bsp(void (*next)(void));
void smp_init(void);
/* Run fn(arg) on CPU cpu and wait for it (runs inline when cpu is this one). */
void smp_call(unsigned cpu, void (*fn)(void *), void *arg);
/* Run fn(arg, cpu) on every CPU at once, this one included; wait for all. */
void smp_call_all(void (*fn)(void *arg, unsigned cpu), void *arg);
/* gcdemo.c: the collector at work, after the tests under make run. */
void gcdemo_main(void);
/* The binary trees of collected objects that gcdemo.c and gcbench.c build. */
struct tree {
	struct tree *left, *right;
	uint64_t val;
};
extern const gh_type tree_type;
/* Run any call posted to this CPU (wait loops call it to avoid deadlock).
 * Also a safe point: the CPU parks here while the world is stopped. */
void smp_poll_calls(void);
/* Wake CPU cpu if it halts in its idle loop, so that the loop looks for
 * work again. Any context. */
void smp_wake(unsigned cpu);

/* stw.c: stopping the world for goheap's collector (gh_port_stop_world,
 * gh_port_start_world, gh_port_scan_stacks in alloc/port.h). */
void stw_init(void); /* register the VEC_STOP handler (smp_init) */
/* Park here if another CPU stops the world: for the kernel's wait loops,
 * with interrupts enabled or not, never inside goheap. Returns once the
 * world runs again (at once when no stop is pending). */
void stw_safe_point(void);
/* A stop is requested or in force (by any CPU); by this CPU. */
bool stw_in_progress(void);
bool stw_stopped_here(void);

/* goheap_port.c: hand goheap the free memory (after smp_init); background
 * work from an idle CPU's loop (interrupts enabled, bounded);
 * goheap_idle_work says whether more is waiting, so that the loop does not
 * halt (any context). goheap_tick runs from the timer interrupt after its
 * EOI, with interrupts disabled: on a busy CPU it gives background marking
 * a quarter of the tick, with interrupts enabled. */
void goheap_start(void);
void goheap_idle(void);
bool goheap_idle_work(void);
void goheap_tick(void);
/* Counts for tests: background marking slices run from idle loops and from
 * timer ticks, and gh_run_finalizers calls from idle loops. */
extern uint64_t goheap_idle_slices, goheap_tick_slices, goheap_finalizer_runs;
/* goheap's figures right after gh_init, before anything allocated. */
extern struct gh_page_stats goheap_boot_stats;

/* ktest.c: run the test suite over the serial port and exit QEMU. */
__attribute__((noreturn)) void ktest_main(void);

/* bench.c: the command line asks for the allocation benchmark ("bench");
 * bench_main runs it instead of the tests and exits QEMU. */
/* goheap_port.c: goheap gets the free memory above this physical address;
 * the first MiB, where real-mode code must lie (the APs' trampoline), stays
 * the kernel's. */
#define GOHEAP_LOW_LIMIT MiB

bool bench_requested(void);
/* The value of "name" or "name=value" on the kernel command line, copied
 * into buf up to the next space ("" for a bare flag); NULL when absent. */
const char *cmdline_option(const char *name, char *buf, size_t n);
/* A number option; def when absent, empty or 0. */
unsigned cmdline_uint(const char *name, unsigned def);
__attribute__((noreturn)) void bench_main(void);

/* gcbench.c: the command line asks for the collector's pause benchmark
 * ("gcbench"); gcbench_main runs it instead of the tests and exits QEMU. */
bool gcbench_requested(void);
__attribute__((noreturn)) void gcbench_main(void);

#endif
