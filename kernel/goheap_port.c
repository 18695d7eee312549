/*
 * goheap_port.c — the reference kernel's implementation of alloc/port.h, and
 * where the kernel hands goheap the memory the UEFI map left free.
 *
 * The collector's hooks: the clock is the TSC; stopping the world and the
 * stacks are stw.c's. Background marking (gh_port_gc_started) runs on idle
 * CPUs, in 1 ms slices from their idle loops, and on busy ones for a
 * quarter of each timer tick; finalizers run on one idle CPU at a time.
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

uint64_t gh_port_nanotime(void)
{
	return tsc_to_ns(rdtsc());
}

#define IDLE_MARK_NS 1000000ull
/* The cycle (numbered from 1) whose background marking is wanted, 0 when
 * none: a CPU that finds nothing left ends only the cycle it worked for. */
static uint64_t gc_marking, gc_cycles;
static bool finalizers_pending, finalizers_running;
uint64_t goheap_idle_slices, goheap_tick_slices, goheap_finalizer_runs;

void gh_port_gc_started(void)
{
	uint64_t cycle = __atomic_add_fetch(&gc_cycles, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&gc_marking, cycle, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < ncpus; i++)
		smp_wake(i);
}

/* Possibly with interrupts disabled, inside goheap: a flag and an IPI. */
void gh_port_finalizers_queued(void)
{
	__atomic_store_n(&finalizers_pending, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < ncpus; i++)
		if (i != this_cpu()->index && __atomic_load_n(&cpus[i]->idle, __ATOMIC_RELAXED)) {
			smp_wake(i);
			break;
		}
}

/* A slice of background marking; interrupts enabled, this CPU not in one
 * already (c->gc_marking). */
static void mark_slice(struct percpu *c, uint64_t budget_ns, uint64_t *slices)
{
	uint64_t cycle = __atomic_load_n(&gc_marking, __ATOMIC_ACQUIRE);
	if (!cycle)
		return;
	c->gc_marking = true;
	enum gh_gc_background_result r = gh_gc_background(budget_ns);
	bool more = r != GH_GC_BG_DONE;
	gh_clear_stack(2048);
	c->gc_deferred = r == GH_GC_BG_DEFER;
	c->gc_marking = false;
	__atomic_fetch_add(slices, 1, __ATOMIC_RELAXED);
	if (!more)
		__atomic_compare_exchange_n(&gc_marking, &cycle, 0, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
}

/* Nested in the tick (after its EOI), so a CPU in the middle of a stop, or
 * already marking, skips it; so does an idle one, whose loop marks. */
void goheap_tick(void)
{
	struct percpu *c = this_cpu();
	if (!__atomic_load_n(&gc_marking, __ATOMIC_RELAXED) || c->idle || c->gc_marking ||
	    stw_in_progress())
		return;
	irq_enable();
	mark_slice(c, 1000000000ull / lapic_timer_hz / 4, &goheap_tick_slices);
	irq_disable();
}

/* An idle CPU whose slice left a small mark to the allocating CPUs'
 * assists halts until its next tick, and looks again then. */
bool goheap_idle_work(void)
{
	return (__atomic_load_n(&gc_marking, __ATOMIC_RELAXED) && !this_cpu()->gc_deferred) ||
	       __atomic_load_n(&finalizers_pending, __ATOMIC_RELAXED);
}

/* One CPU at a time; finalizers queued while it runs them are its too. */
static void run_finalizers(void)
{
	bool idle = false;
	if (!__atomic_load_n(&finalizers_pending, __ATOMIC_RELAXED) ||
	    !__atomic_compare_exchange_n(&finalizers_running, &idle, true, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return;
	while (__atomic_exchange_n(&finalizers_pending, false, __ATOMIC_ACQUIRE)) {
		gh_run_finalizers();
		__atomic_fetch_add(&goheap_finalizer_runs, 1, __ATOMIC_RELAXED);
	}
	/* idle, it caches nothing: the spans it freed records into go back */
	gh_cache_flush();
	gh_clear_stack(2048);
	__atomic_store_n(&finalizers_running, false, __ATOMIC_RELEASE);
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
	run_finalizers();
	if (!c->gc_marking)
		mark_slice(c, IDLE_MARK_NS, &goheap_idle_slices);
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
	unsigned n, used = 0;
	const struct mem_range *r = mm_free_ranges(&n);
	struct gh_range ranges[256];
	uint64_t total = 0;
	for (unsigned i = 0; i < n && used < 256; i++) {
		uint64_t base = r[i].base > GOHEAP_LOW_LIMIT ? r[i].base : GOHEAP_LOW_LIMIT;
		if (base >= r[i].end)
			continue;
		ranges[used++] = (struct gh_range){HEAP_MAP + base, r[i].end - base};
		total += r[i].end - base;
	}
	n = used;
	uint64_t t0 = rdtsc();
	if (gh_init(ranges, n) != 0)
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
