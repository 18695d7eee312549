/*
 * mgcpacer.c — when to collect, and how much marking an allocation owes
 * (Go's mgcpacer.go, in the form of Go 1.21's pacer: proposal 44167,
 * "GC pacer redesign").
 *
 *   goal      = marked + traced * GOGC / 100, at least 4 MiB * GOGC / 100,
 *               and under the memory limit when there is one (softly: never
 *               below what is live); marked is traced plus the objects
 *               allocated black while the mark ran. Go grows the heap by
 *               GOGC% of marked: black objects, garbage for the most part,
 *               then earn room for more, and the faster a program
 *               allocates, the larger its heap. Here they are carried to
 *               the next cycle but earn nothing: between two cycles the
 *               program allocates GOGC% of what the mark found reachable,
 *               as GOGC is defined;
 *   cons/mark how fast the program allocates against how fast the
 *               collector scans, each per CPU-second it had, measured over
 *               each mark; the largest of the last five is used, which
 *               errs towards starting early rather than assisting;
 *   runway    the bytes the program allocates while the last cycle's scan
 *               work is done at 25% of the CPU: cons/mark * 3 * that work;
 *   trigger   = goal - runway, kept between 0.7 and 0.95 of the way from
 *               marked to the goal (or 4 MiB short of the goal, when that
 *               is later);
 *   assists   while marking, each byte allocated owes the scan work still
 *               expected divided by the bytes left before the goal; work
 *               done by background workers pays first. Once the expected
 *               work is exceeded the heap is taken to be growing, and the
 *               goal is stretched (at most by GOGC%) in proportion to the
 *               largest possible scan work; past that, by 10%. An
 *               assist that finds no work at the goal waits for some.
 *
 * Background marking past the 25% a port aims at counts as idle time, as
 * Go's idle mark workers: free to the program, so it makes scanning look
 * fast but allocation no slower.
 *
 * No floating point (kernels build without it): ratios are in 1/1024ths.
 */
#include "mgc.h"

#define ONE 1024
#define UTIL_GOAL 256 /* 25% of CPU, in 1/1024ths */
/* Go's minTriggerRatioNum and maxTriggerRatioNum, in 64ths */
#define MIN_TRIGGER 45
#define MAX_TRIGGER 61

/* a * b / c, or the largest value when that does not fit (x86-64's
 * 128-by-64-bit division, not a call to libgcc's). */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 p = (unsigned __int128)a * b;
	uint64_t hi = (uint64_t)(p >> 64), lo = (uint64_t)p, q, r;
	if (!c || hi >= c)
		return ~(uint64_t)0;
	__asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(c));
	return q;
}

uint64_t gc_pacer_goal(uint64_t marked, uint64_t black, uint64_t percent)
{
	uint64_t traced = marked > black ? marked - black : 0;
	uint64_t goal = marked + traced * percent / 100, min = HEAP_MINIMUM * percent / 100;
	return goal < min ? min : goal;
}

/* The goal after the last mark, GOGC and the memory limit as they are now. */
static uint64_t goal_for(void)
{
	struct gcstate *g = &gh_gcs;
	uint64_t marked = g->heap_marked;
	int percent = __atomic_load_n(&g->percent, __ATOMIC_RELAXED);
	uint64_t goal = gc_pacer_goal(marked, g->heap_black, percent < 0 ? 100 : (uint64_t)percent);
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

uint64_t gc_pacer_trigger(uint64_t marked, uint64_t goal, uint64_t runway)
{
	if (marked >= goal)
		return goal;
	uint64_t span = goal - marked;
	uint64_t min = marked + span / 64 * MIN_TRIGGER, max = marked + span / 64 * MAX_TRIGGER;
	if (goal > HEAP_MINIMUM && goal - HEAP_MINIMUM > max)
		max = goal - HEAP_MINIMUM;
	uint64_t t = runway >= goal ? min : goal - runway;
	return t < min ? min : t > max ? max : t;
}

uint64_t gc_pacer_cons_mark(uint64_t allocated, uint64_t scanned, uint64_t dur_cpu_ns,
			    uint64_t assist_ns, uint64_t background_ns)
{
	if (!dur_cpu_ns || !scanned)
		return 0;
	/* background marking is taken to have met its goal; past it, idle */
	uint64_t u = UTIL_GOAL + assist_ns * ONE / dur_cpu_ns;
	uint64_t bg = background_ns * ONE / dur_cpu_ns;
	uint64_t idle = bg > UTIL_GOAL ? bg - UTIL_GOAL : 0;
	uint64_t mutator = u < ONE - ONE / 16 ? ONE - u : ONE / 16;
	/* allocated per mutator CPU time over scanned per collector CPU time:
	 * the mark's duration cancels out */
	return muldiv(muldiv(allocated, u + idle, mutator), ONE, scanned);
}

static void set_trigger(void)
{
	struct gcstate *g = &gh_gcs;
	g->heap_goal = goal_for();
	__atomic_store_n(&g->trigger, gc_pacer_trigger(g->heap_marked, g->heap_goal, g->runway),
			 __ATOMIC_RELAXED);
}

void gc_pacer_start(void)
{
	struct gcstate *g = &gh_gcs;
	g->heap_live_start = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED);
	if (!g->heap_goal || g->heap_goal <= g->heap_live_start)
		g->heap_goal = g->heap_live_start + g->heap_live_start / 8 + (1u << 20);
	/* Go assumes the last cycle's scan work again (everything, first) */
	g->scan_expected = g->last_scan ? g->last_scan : g->heap_live_start;
	gc_pacer_revise();
}

/* Go's revise: the scan work still expected over the bytes left before the
 * goal. */
void gc_pacer_revise(void)
{
	struct gcstate *g = &gh_gcs;
	int percent = __atomic_load_n(&g->percent, __ATOMIC_RELAXED);
	uint64_t p = percent < 0 ? 1000 : (uint64_t)percent; /* a forced cycle with GOGC off */
	uint64_t live = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED);
	uint64_t goal = __atomic_load_n(&g->heap_goal, __ATOMIC_RELAXED);
	uint64_t done = __atomic_load_n(&g->scan_done, __ATOMIC_RELAXED);
	uint64_t expected = __atomic_load_n(&g->scan_expected, __ATOMIC_RELAXED);
	uint64_t start = g->heap_live_start;
	/* the most there can be to scan: all of the heap */
	uint64_t most = live > expected ? live : expected;
	if (done > expected && expected && goal > start) {
		/* the heap grows: stretch the runway in proportion, up to the
		 * goal of the next cycle */
		uint64_t ext = muldiv(goal - start, most, expected);
		uint64_t hard = goal + goal / 100 * p;
		goal = ext > hard - start ? hard : start + ext;
		expected = most;
	}
	if (live > goal) { /* past even that: finish within 10% more */
		goal += goal / 10;
		expected = most;
	}
	uint64_t left_work = expected > done + 1000 ? expected - done : 1000;
	uint64_t left_heap = goal > live ? goal - live : 1;
	__atomic_store_n(&g->assist_per_byte, left_work * ONE / left_heap + 1, __ATOMIC_RELAXED);
}

void gc_pacer_end(void)
{
	struct gcstate *g = &gh_gcs;
	uint64_t scanned = __atomic_load_n(&g->scan_done, __ATOMIC_RELAXED);
	if (!g->forced && g->t_markterm > g->t_mark && g->heap_at_term > g->heap_live_start) {
		uint64_t cm = gc_pacer_cons_mark(
		    g->heap_at_term - g->heap_live_start, scanned,
		    (g->t_markterm - g->t_mark) * gh_port_nprocs(), g->cycle_assist_ns,
		    g->cycle_background_ns);
		/* Go 1.21: the largest of this one and the last four */
		uint64_t use = cm;
		for (unsigned i = 0; i < GC_CONS_MARK_HISTORY; i++) {
			if (g->last_cons_mark[i] > use)
				use = g->last_cons_mark[i];
			g->last_cons_mark[i] =
			    i + 1 < GC_CONS_MARK_HISTORY ? g->last_cons_mark[i + 1] : cm;
		}
		g->cons_mark = use;
	}
	if (scanned)
		g->last_scan = scanned;
	/* Go's commit: the runway for this scan work at 25% of the CPU */
	g->runway = muldiv(g->cons_mark * (ONE - UTIL_GOAL) / UTIL_GOAL, g->last_scan, ONE);
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

void gc_heap_live_add(uint64_t bytes)
{
	__atomic_fetch_add(&gh_gcs.heap_live, bytes, __ATOMIC_RELAXED);
	if (gc_marking()) {
		gc_pacer_revise();
	} else if (gc_should_start()) {
		/* The stack the start's frames go on, below the allocation's,
		 * holds what deeper calls left there, which the scan of this
		 * CPU's stack in the stop would take for roots (as gh_gc). */
		gh_clear_stack(2048);
		gc_start(false);
	}
}

/* Work an assist does at least, as Go's gcOverAssistWork: fewer, longer
 * assists; and the allocation a CPU may make on credit when it found no
 * work to do. */
#define OVER_ASSIST (64u << 10)
#define NO_WORK_CREDIT (256u << 10)

/*
 * Go's gcParkAssist: an assist that found no work with the heap at its
 * goal waits, interrupts on, for work to share, for background credit, or
 * for the mark to end, rather than allocate past the goal on the credit
 * of none: what is left to mark is in the buffers of a CPU that is
 * marking, one the host (or the port's scheduler) may have taken off its
 * processor for a while. The allocation then goes on in debt, and the
 * next one assists again.
 */
static void assist_wait(void)
{
	for (unsigned spins = 1; gc_marking(); spins++) {
		if ((int64_t)__atomic_load_n(&gh_gcs.bg_credit, __ATOMIC_RELAXED) > 0 ||
		    gc_work_to_share())
			return;
		gh_port_relax(spins);
		if (spins % 64 == 0)
			gc_mark_done();
	}
}

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
	/* at least OVER_ASSIST, which leaves credit for the allocations
	 * that follow */
	if (owed < OVER_ASSIST)
		owed = OVER_ASSIST;
	/* Background work pays first. As in Go, the credit is read and then
	 * taken: two CPUs taking it at once may leave it negative for a
	 * while, which only makes the next ones find none. */
	int64_t have = (int64_t)__atomic_load_n(&g->bg_credit, __ATOMIC_RELAXED);
	if (have > 0) {
		uint64_t take = (uint64_t)have < owed ? (uint64_t)have : owed;
		__atomic_fetch_sub(&g->bg_credit, take, __ATOMIC_RELAXED);
		owed -= take;
		c->gc.assist_credit += (int64_t)(take * ONE / per_byte);
	}
	/* in pieces, interrupts on between them: a CPU that is asked to stop
	 * for the collector stops soon */
	uint64_t did = 0, got = 1;
	while (did < owed && got && gc_marking()) {
		uint64_t t = gh_port_nanotime();
		got = gc_drain_piece(c, DRAIN_PIECE);
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
	bool at_goal = none && __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED) >=
				   __atomic_load_n(&g->heap_goal, __ATOMIC_RELAXED);
	if (none && !at_goal) /* no work to be had: the mark is nearly done */
		c->gc.assist_credit = NO_WORK_CREDIT;
	gh_port_irq_restore(irq);
	if (none)
		gc_mark_done();
	if (at_goal)
		assist_wait();
}
