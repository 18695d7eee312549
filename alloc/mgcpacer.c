/*
 * mgcpacer.c — when to collect, and how much marking an allocation owes
 * (Go's mgcpacer.go, in the form of Go 1.5's pacer: proposal "Go 1.5
 * concurrent garbage collector pacing").
 *
 *   goal     = marked + marked * GOGC / 100, at least 4 MiB * GOGC / 100,
 *              and under the memory limit when there is one (softly: never
 *              below what is live);
 *   trigger  = marked + (goal - marked) * ratio, where ratio (0.6 to 0.95
 *              of the way) is corrected after each cycle by how far the
 *              heap actually grew while marking and how much CPU marking
 *              took against its 25% target;
 *   assists  while marking, each byte allocated owes the scan work still
 *              expected divided by the bytes left before the goal; work
 *              done by background workers pays first.
 *
 * No floating point (kernels build without it): ratios are in 1/1024ths.
 */
#include "mgc.h"

#define ONE 1024
#define UTIL_GOAL 256 /* 25% of CPU, in 1/1024ths */

static uint64_t goal_for(uint64_t marked)
{
	struct gcstate *g = &gh_gcs;
	int percent = __atomic_load_n(&g->percent, __ATOMIC_RELAXED);
	uint64_t p = percent < 0 ? 100 : (uint64_t)percent;
	uint64_t goal = marked + marked * p / 100, min = HEAP_MINIMUM * p / 100;
	if (goal < min)
		goal = min;
	uint64_t limit = __atomic_load_n(&g->memory_limit, __ATOMIC_RELAXED);
	if (limit != ~(uint64_t)0) {
		/* what goheap holds beyond collected objects counts against it */
		struct gh_page_stats st;
		gh_page_stats(&st);
		uint64_t other = st.in_use + st.metadata > g->heap_live
				     ? st.in_use + st.metadata - g->heap_live
				     : 0;
		uint64_t room = limit > other ? limit - other : 0;
		if (goal > room)
			goal = room > marked + (64u << 10) ? room : marked + (64u << 10);
	}
	return goal;
}

static void set_trigger(void)
{
	struct gcstate *g = &gh_gcs;
	if (!g->trigger_ratio)
		g->trigger_ratio = 7 * ONE / 8; /* Go's first guess */
	g->heap_goal = goal_for(g->heap_marked);
	uint64_t span = g->heap_goal - g->heap_marked;
	__atomic_store_n(&g->trigger, g->heap_marked + span * g->trigger_ratio / ONE,
			 __ATOMIC_RELAXED);
}

void gc_pacer_start(void)
{
	struct gcstate *g = &gh_gcs;
	g->heap_live_start = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED);
	if (!g->heap_goal || g->heap_goal <= g->heap_live_start)
		g->heap_goal = g->heap_live_start + g->heap_live_start / 8 + (1u << 20);
	/* Go assumes the live heap needs scanning again */
	g->scan_expected = g->heap_marked ? g->heap_marked : g->heap_live_start;
	gc_pacer_revise();
}

/* Go's revise: the scan work still expected over the bytes left before the
 * goal (at least 1 MiB of them: past the goal, assists pay in proportion
 * without stopping allocation). */
void gc_pacer_revise(void)
{
	struct gcstate *g = &gh_gcs;
	uint64_t live = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED);
	uint64_t goal = __atomic_load_n(&g->heap_goal, __ATOMIC_RELAXED);
	uint64_t done = __atomic_load_n(&g->scan_done, __ATOMIC_RELAXED);
	uint64_t left_heap = goal > live ? goal - live : 0;
	uint64_t left_work = g->scan_expected > done ? g->scan_expected - done : 0;
	if (left_heap < (1u << 20))
		left_heap = 1u << 20;
	__atomic_store_n(&g->assist_per_byte, left_work * ONE / left_heap + 1, __ATOMIC_RELAXED);
}

void gc_pacer_end(void)
{
	struct gcstate *g = &gh_gcs;
	if (g->completed && !g->forced && g->heap_marked && g->t_markterm > g->t_mark) {
		/* Go 1.5: e = h_g - h_T - u_a / u_g * (h_a - h_T) */
		int64_t h_t = (int64_t)g->trigger_ratio;
		int64_t h_a = (int64_t)((g->heap_at_term - g->heap_at_start) * ONE /
					(g->heap_goal - g->heap_at_start + 1));
		uint64_t wall = (g->t_markterm - g->t_mark) * gh_port_nprocs();
		uint64_t cpu = g->cycle_assist_ns + g->cycle_background_ns;
		int64_t u_a = (int64_t)(cpu * ONE / (wall + 1));
		int64_t e = ONE - h_t - u_a * (h_a - h_t) / UTIL_GOAL;
		int64_t r = h_t + e / 2;
		if (r < 6 * ONE / 10)
			r = 6 * ONE / 10;
		if (r > 95 * ONE / 100)
			r = 95 * ONE / 100;
		g->trigger_ratio = (uint64_t)r;
	}
	set_trigger();
}

void gc_pacer_retarget(void)
{
	set_trigger();
}

bool gc_should_start(void)
{
	struct gcstate *g = &gh_gcs;
	if (__atomic_load_n(&g->percent, __ATOMIC_RELAXED) < 0 &&
	    __atomic_load_n(&g->memory_limit, __ATOMIC_RELAXED) == ~(uint64_t)0)
		return false;
	if (!g->trigger)
		set_trigger();
	return __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED) >=
	       __atomic_load_n(&g->trigger, __ATOMIC_RELAXED);
}

void gc_heap_live_add(int64_t delta)
{
	__atomic_fetch_add(&gh_gcs.heap_live, (uint64_t)delta, __ATOMIC_RELAXED);
	if (delta <= 0)
		return;
	if (gc_marking())
		gc_pacer_revise();
	else if (gc_should_start())
		gc_start(false);
}

/* Work an assist does at least, as Go's gcOverAssistWork: fewer, longer
 * assists; and the allocation a CPU may make on credit when it found no
 * work to do. */
#define OVER_ASSIST (64u << 10)
#define NO_WORK_CREDIT (256u << 10)

void gc_assist(uint64_t bytes)
{
	struct gcstate *g = &gh_gcs;
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	c->gc.assist_credit -= (int64_t)bytes;
	if (c->gc.assist_credit >= 0 || !gc_marking()) {
		gh_port_irq_restore(irq);
		return;
	}
	uint64_t per_byte = __atomic_load_n(&g->assist_per_byte, __ATOMIC_RELAXED);
	uint64_t owed = (uint64_t)(-c->gc.assist_credit) * per_byte / ONE + 1;
	/* background work pays first */
	uint64_t have = __atomic_load_n(&g->bg_credit, __ATOMIC_RELAXED), take = 0;
	while (have && !__atomic_compare_exchange_n(&g->bg_credit, &have,
						    have - (take = have < owed ? have : owed),
						    false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	owed -= take;
	c->gc.assist_credit += (int64_t)(take * ONE / per_byte);
	/* in pieces, interrupts on between them: a CPU that is asked to stop
	 * for the collector stops soon */
	uint64_t did = 0, got = 1;
	if (owed && owed < OVER_ASSIST)
		owed = OVER_ASSIST;
	while (did < owed && got && gc_marking()) {
		uint64_t t = gh_port_nanotime();
		got = gc_drain(c, OVER_ASSIST);
		gh_stat_add(&c->gc.assist_ns, gh_port_nanotime() - t);
		c->gc.assist_credit += (int64_t)(got * ONE / per_byte);
		did += got;
		gh_port_irq_restore(irq);
		irq = gh_port_irq_save();
		c = &gh_mheap.cpus[gh_port_cpu()];
	}
	/* What is left goes where idle CPUs find it (Go 1.5's assists did
	 * the same). */
	if (did)
		gh_gcwork_dispose(&c->gc.gcw);
	bool none = owed && !got;
	if (none) /* no work to be had: the mark is nearly done */
		c->gc.assist_credit = NO_WORK_CREDIT;
	gh_port_irq_restore(irq);
	if (none)
		gc_mark_done();
}
