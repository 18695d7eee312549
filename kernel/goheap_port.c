/*
 * goheap_port.c — the reference kernel's implementation of alloc/port.h, and
 * where the kernel hands goheap the memory the UEFI map left free.
 */
#include "../alloc/include/goheap.h"
#include "../alloc/port.h"
#include "cpu.h"
#include "kernel.h"

void (*kernel_panic_hook)(const char *msg);

unsigned gh_port_ncpu(void)
{
	return ncpus;
}
void gh_port_relax(unsigned spins)
{
	(void)spins;
	cpu_relax();
}

void gh_port_panic(const char *msg)
{
	if (kernel_panic_hook)
		kernel_panic_hook(msg);
	panic("goheap: %s", msg);
}

void gh_port_log(const char *msg)
{
	printk("goheap: %s\n", msg);
}
void gh_port_first_use(void)
{
	panic("goheap used before gh_init");
}
/* The UEFI map gave goheap all the memory there is. */
bool gh_port_grow(size_t bytes)
{
	(void)bytes;
	return false;
}

/* Frames stay with the kernel: there is no hypervisor to give them to. */
bool gh_port_release(void *addr, size_t len)
{
	(void)addr, (void)len;
	return false;
}

/* One idle CPU (the first AP) runs a bounded slice of the scavenger once a
 * second: at most SCAVENGE_BATCH pages (4 MiB) per slice. A CPU that has
 * run no work for a second gives its cached spans and pages back. */
#define SCAVENGE_BATCH 512
static volatile bool goheap_ready;
struct gh_page_stats goheap_boot_stats;

void goheap_idle(void)
{
	static uint64_t next_tick;
	struct percpu *c = this_cpu();
	if (!goheap_ready)
		return;
	if (!c->goheap_flushed && c->ticks >= c->last_call_tick + lapic_timer_hz) {
		gh_cache_flush();
		c->goheap_flushed = true;
	}
	if (c->index != 1 || c->ticks < next_tick)
		return;
	next_tick = c->ticks + lapic_timer_hz;
	gh_scavenge_work(SCAVENGE_BATCH);
}

void goheap_start(void)
{
	unsigned n;
	const struct mem_range *r = mm_free_ranges(&n);
	struct gh_range ranges[256];
	uint64_t total = 0;
	for (unsigned i = 0; i < n && i < 256; i++) {
		ranges[i] = (struct gh_range){r[i].base, r[i].end - r[i].base};
		total += r[i].end - r[i].base;
	}
	uint64_t t0 = rdtsc();
	if (gh_init(ranges, n < 256 ? n : 256) != 0)
		panic("gh_init failed on %u ranges, %llu MiB", n,
		      (unsigned long long)(total / MiB));
	goheap_ready = true;
	struct gh_page_stats st;
	gh_page_stats(&st);
	goheap_boot_stats = st;
	printk("goheap: %llu MiB in %u ranges, metadata %llu KiB (%llu.%02llu%%), started in %llu "
	       "us\n",
	       (unsigned long long)(st.managed / MiB), n, (unsigned long long)(st.metadata / KiB),
	       (unsigned long long)(st.metadata * 100 / st.managed),
	       (unsigned long long)(st.metadata * 10000 / st.managed % 100),
	       (unsigned long long)(tsc_to_ns(rdtsc() - t0) / 1000));
}
