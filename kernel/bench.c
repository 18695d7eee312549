/*
 * bench.c — make bench-kernel: the allocation workloads of
 * tests/bench/workload.h on every CPU of the reference kernel, for goheap
 * and the two baselines of bench_alloc.c, instead of the tests.
 *
 * Kernel command line (scripts/bench-kernel.sh writes it):
 *   bench[=NAME,...]   benchmark (only the workloads named)
 *   bench_scale=N      workload scale (default BENCH_SCALE; make test's
 *                      smoke case uses WL_SCALE_SMOKE = 1)
 *   bench_rounds=N     rounds (default 3); each round runs every workload
 *                      with every allocator, the allocators' order rotating
 *   bench_mem=MIB      the baselines' region (default 256 MiB)
 *   bench_lock=ticket  the baselines take the kernel's ticket spinlock
 *                      instead of a test-and-set lock (see bench_alloc.c)
 *
 * One line per run on the serial port, without the time stamp prefix:
 *   bench ALLOC WORKLOAD CPUS cycles_per_op X ops N
 * X is TSC cycles per operation (mallocs, frees and reallocs of all CPUs
 * together, over the run's wall time), two decimals. At the end every CPU
 * gives back its goheap caches, gh_heap_check runs, and the kernel leaves
 * QEMU with QEMU_EXIT_PASS ("bench done ..."), or QEMU_EXIT_FAIL if the
 * heap check failed.
 */
#include "bench_alloc.h"
#include "cpu.h"
#include "fmt.h"
#include "kernel.h"

#define BENCH_SCALE 1
#define BENCH_ROUNDS 3
#define BENCH_MEM_MIB 256

const char *cmdline_option(const char *name, char *buf, size_t n)
{
	const char *p = (const char *)bootinfo->cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *q = name;
		while (*q && *p == *q)
			p++, q++;
		if (!*q && (*p == '\0' || *p == ' ' || *p == '=')) {
			size_t i = 0;
			if (*p == '=')
				for (p++; *p && *p != ' ' && i + 1 < n; p++)
					buf[i++] = *p;
			buf[i] = '\0';
			return buf;
		}
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

unsigned cmdline_uint(const char *name, unsigned def)
{
	char buf[16];
	const char *v = cmdline_option(name, buf, sizeof(buf));
	if (!v || !*v)
		return def;
	unsigned x = 0;
	for (; *v >= '0' && *v <= '9'; v++)
		x = x * 10 + (unsigned)(*v - '0');
	return x ? x : def;
}

bool bench_requested(void)
{
	char buf[4];
	return cmdline_option("bench", buf, sizeof(buf)) != NULL;
}

/* Is name in the comma-separated list (all when the list is empty)? */
static bool listed(const char *list, const char *name)
{
	if (!*list)
		return true;
	for (const char *p = list; *p;) {
		const char *q = name;
		while (*q && *p == *q)
			p++, q++;
		if (!*q && (*p == ',' || *p == '\0'))
			return true;
		while (*p && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
	return false;
}

/*
 * QEMU backs guest RAM lazily: the first write to a guest page costs a host
 * page fault, tens of microseconds. Without this, whichever allocator first
 * hands out never-written memory pays for it (goheap's malloc-large did,
 * 5-10x). Write every 4 KiB page of free RAM once, before timing anything:
 * an atomic add of zero, which changes nothing, so goheap's pages and
 * metadata stay as they are even if another CPU uses them meanwhile.
 */
static void prefault_ram(void)
{
	uint64_t t0 = rdtsc(), pages = 0;
	unsigned n;
	const struct mem_range *r = mm_free_ranges(&n);
	for (unsigned i = 0; i < n; i++)
		for (uint64_t a = r[i].base; a < r[i].end; a += 4096, pages++)
			__asm__ volatile("lock addq $0, (%0)" ::"r"(a) : "memory");
	printk("bench: wrote %llu MiB of free RAM once (QEMU backs it lazily) in %llu ms\n",
	       (unsigned long long)(pages * 4096 / MiB),
	       (unsigned long long)(tsc_to_ns(rdtsc() - t0) / 1000000));
}

void bench_main(void)
{
	char list[256];
	cmdline_option("bench", list, sizeof(list));
	unsigned scale = cmdline_uint("bench_scale", BENCH_SCALE);
	unsigned rounds = cmdline_uint("bench_rounds", BENCH_ROUNDS);
	size_t region_bytes = (size_t)cmdline_uint("bench_mem", BENCH_MEM_MIB) * MiB;
	char lock[16];
	const char *l = cmdline_option("bench_lock", lock, sizeof(lock));
	bench_ticket_lock = l && l[0] == 't';
	prefault_ram();
	void *region = gh_page_alloc(region_bytes / GH_PAGE_SIZE, 0);
	if (!region)
		panic("bench: no %zu MiB region for the baselines", (size_t)(region_bytes / MiB));
	unsigned nworkloads = 0;
	for (const struct workload *w = wl_all; w->name; w++)
		nworkloads += listed(list, w->name);
	if (!nworkloads)
		panic("bench: no workload matches \"%s\"", list);
	printk("bench: %u workloads x %u allocators x %u rounds on %u CPUs, scale %u, "
	       "baselines over %zu MiB with a %s lock, TSC %llu kHz\n",
	       nworkloads, BENCH_NALLOC, rounds, ncpus, scale, (size_t)(region_bytes / MiB),
	       bench_ticket_lock ? "ticket" : "test-and-set", (unsigned long long)(tsc_hz / 1000));
	uint64_t t0 = rdtsc();
	for (unsigned round = 0; round < rounds; round++) {
		uint64_t t_round = rdtsc();
		for (const struct workload *w = wl_all; w->name; w++) {
			if (!listed(list, w->name))
				continue;
			for (unsigned k = 0; k < BENCH_NALLOC; k++) {
				const struct bench_allocator *ba =
				    &bench_allocators[(k + round) % BENCH_NALLOC];
				struct wl_result r;
				bench_run(ba, w, scale, 0, region, region_bytes, &r);
				if (!r.ops)
					panic("bench: %s under %s did no operations", w->name,
					      ba->a.name);
				uint64_t x100 = r.ticks * 100 / r.ops;
				console_printf("bench %s %s %u cycles_per_op %llu.%02llu ops %llu\n",
				    ba->a.name, w->name, ncpus, (unsigned long long)(x100 / 100),
				    (unsigned long long)(x100 % 100), (unsigned long long)r.ops);
			}
		}
		printk("bench: round %u of %u took %llu ms\n", round + 1, rounds,
		       (unsigned long long)(tsc_to_ns(rdtsc() - t_round) / 1000000));
	}
	gh_page_free(region, region_bytes / GH_PAGE_SIZE);
	bench_flush_all_cpus();
	int bad = gh_heap_check();
	printk("bench done: %u runs in %llu ms, gh_heap_check %s\n",
	       rounds * nworkloads * BENCH_NALLOC,
	       (unsigned long long)(tsc_to_ns(rdtsc() - t0) / 1000000), bad ? "FAILED" : "ok");
	qemu_exit(bad ? QEMU_EXIT_FAIL : QEMU_EXIT_PASS);
}
