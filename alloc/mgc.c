/*
 * mgc.c — the collector's cycle (Go's mgc.go): starting it, stopping the
 * world for the two short pauses, finding that marking is done, and what a
 * kernel calls: gh_gc, gh_gc_background, roots, switches and figures. The
 * write barrier (Go's mbarrier.go and mwbbuf.go) is here too. mgc.h has
 * the overview of a cycle.
 */
#include "mgc.h"

struct gcstate gh_gcs = {.percent = 100, .memory_limit = ~(uint64_t)0};
bool gh_wb_enabled;

static uint64_t now(void)
{
	return gh_port_nanotime();
}

static struct gh_cpu *cur_cpu(void)
{
	return &gh_mheap.cpus[gh_port_cpu()];
}

bool gc_trylock(void)
{
	return gh_trylock_raw(&gh_gcs.lock);
}
void gc_lock(void)
{
	for (unsigned spins = 0; !gc_trylock();)
		gh_port_relax(++spins);
}
void gc_unlock(void)
{
	__atomic_store_n(&gh_gcs.lock.locked, 0, __ATOMIC_RELEASE);
}

void gc_init(void)
{
	for (unsigned spc = 0; spc < NUM_SPANCLASSES; spc++)
		for (unsigned i = 0; i < 2; i++) {
			gh_gcs.central[spc].partial[i].link_offset =
			    __builtin_offsetof(struct mspan, next);
			gh_gcs.central[spc].full[i].link_offset =
			    __builtin_offsetof(struct mspan, next);
		}
}

/* ---- the write barrier ---- */

/* Shade what c's buffer holds, answering the collector's ask asked (see
 * gc_mark_done). What that greyed goes where marking CPUs find it: a CPU
 * that only mutates never drains its own buffers, and the mark would look
 * done without that work (a stop to end it would find it and start the
 * world again). This CPU, interrupts off. */
static void wbbuf_flush_shared(struct gh_cpu *c, struct wbbuf *b, uint32_t asked)
{
	__atomic_store_n(&b->flushed, asked, __ATOMIC_RELAXED);
	gc_wbbuf_flush(c, b);
	if (!gh_gcwork_empty(&c->gc.gcw))
		gh_gcwork_dispose(&c->gc.gcw);
}

void gh_wb_store(void **slot, void *value)
{
	unsigned long irq = gh_port_irq_save();
	if (gc_marking()) {
		struct gh_cpu *c = cur_cpu();
		struct wbbuf *b = &c->gc.wb;
		uint32_t asked = __atomic_load_n(&gh_gcs.flush_asked, __ATOMIC_RELAXED);
		if (b->n == WBBUF_ENTRIES || GH_UNLIKELY(b->flushed != asked))
			wbbuf_flush_shared(c, b, asked);
		/* Yuasa: the pointer this store deletes. Not the one it
		 * installs (Dijkstra's half of Go's hybrid barrier), which
		 * the hybrid barrier shades only while the storing stack is
		 * grey: every stack here is scanned in the pause that starts
		 * the mark, so none ever is. */
		uintptr_t old = (uintptr_t)__atomic_load_n(slot, __ATOMIC_RELAXED);
		if (old) { /* n atomic: buffers_flushed reads it from other CPUs */
			b->ptr[b->n] = old;
			__atomic_store_n(&b->n, b->n + 1, __ATOMIC_RELAXED);
		}
	}
	__atomic_store_n(slot, value, __ATOMIC_RELAXED);
	gh_port_irq_restore(irq);
}

void gc_wbbuf_flush(struct gh_cpu *c, struct wbbuf *b)
{
	gc_grey_words(&c->gc.gcw, b->ptr, b->n);
	__atomic_store_n(&b->n, 0, __ATOMIC_RELAXED);
}

/* ---- pauses ---- */

/* While the world stops, marking elsewhere ends its piece early (see
 * gc_drain): a CPU stops only with interrupts on, between pieces. */
static uint64_t stop_world(void)
{
	uint64_t t = now();
	__atomic_store_n(&gh_gcs.stop_wanted, 1, __ATOMIC_RELAXED);
	gh_port_stop_world();
	__atomic_store_n(&gh_gcs.stop_wanted, 0, __ATOMIC_RELAXED);
	return t;
}

/* The pause ends as the world is let go: what the stopping CPU waits
 * for after that (it may lose its CPU to the ones it woke) is not one. */
static uint64_t start_world(uint64_t t0)
{
	uint64_t t = now(), d = t - t0;
	gh_port_start_world();
	struct gcstate *g = &gh_gcs;
	g->cycle_pause_ns += d;
	g->pause_total += d;
	if (d > g->pause_max)
		g->pause_max = d;
	return d;
}

/* World stopped: what the CPUs marked this cycle, and allocated black. */
static void sum_marked(struct gcstate *g)
{
	g->heap_marked = g->heap_black = 0;
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		g->heap_marked += gh_mheap.cpus[i].gc.gcw.bytes_marked;
		g->heap_black += gh_mheap.cpus[i].gc.gcw.bytes_black;
	}
}

/* ---- the cycle ---- */

/* fn(arg, o, spc) for each class spc of which CPU o has a collected span
 * to allocate from (o->gc.alloc[spc]). Another CPU reads the set as o
 * changes it unless the world is stopped. */
static void each_cached_span(struct gh_cpu *o,
			     void (*fn)(void *arg, struct gh_cpu *o, unsigned spc), void *arg)
{
	for (unsigned w = 0; w < sizeof(o->gc.cached) / 8; w++)
		for (uint64_t b = __atomic_load_n(&o->gc.cached[w], __ATOMIC_RELAXED); b;
		     b &= b - 1)
			fn(arg, o, w * 64 + (unsigned)__builtin_ctzll(b));
}

/* World stopped: the same on every CPU. */
static void all_cached_spans(void (*fn)(void *arg, struct gh_cpu *o, unsigned spc), void *arg)
{
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++)
		each_cached_span(&gh_mheap.cpus[i], fn, arg);
}

/* Marking starts: what a CPU allocates from now on is black. */
static void black_from_now(void *arg, struct gh_cpu *o, unsigned spc)
{
	(void)arg;
	struct mspan *s = o->gc.alloc[spc];
	__atomic_store_n(&s->blackfrom, s->freeindex, __ATOMIC_RELAXED);
}

/* arg: the stopping CPU */
static void blacken_cached(void *arg, struct gh_cpu *o, unsigned spc)
{
	gc_blacken(&((struct gh_cpu *)arg)->gc.gcw, o->gc.alloc[spc]);
}

/* Marking ended: every CPU gives its spans up, to be swept (arg: the
 * stopping CPU). */
static void uncache(void *arg, struct gh_cpu *o, unsigned spc)
{
	struct mspan *s = o->gc.alloc[spc];
	o->gc.alloc[spc] = &gh_empty_span;
	gc_uncache(arg, s);
}

/* World stopped, marking done: end the mark phase and set up the sweep. */
static void mark_termination(struct gh_cpu *c)
{
	struct gcstate *g = &gh_gcs;
	/* what CPUs allocated black, marked before anything reads marks */
	all_cached_spans(blacken_cached, c);
	if (__atomic_load_n(&g->flags, __ATOMIC_RELAXED) & GH_GC_CHECKMARK)
		gc_checkmark(c);
	g->heap_at_term = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED);
	__atomic_store_n(&gh_wb_enabled, false, __ATOMIC_RELAXED);
	__atomic_store_n(&g->phase, GC_OFF, __ATOMIC_RELEASE);
	/* Every span now needs sweeping: the swept sets become the unswept
	 * ones, and the spans CPUs hold join them. */
	__atomic_store_n(&gh_mheap.sweepgen, gh_mheap.sweepgen + 2, __ATOMIC_RELEASE);
	all_cached_spans(uncache, c);
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		struct gh_cpu *o = &gh_mheap.cpus[i];
		__builtin_memset(o->gc.cached, 0, sizeof(o->gc.cached));
		o->gc.tiny = 0;
		o->gc.tinyoffset = 0;
	}
	sum_marked(g);
	__atomic_store_n(&g->heap_live, g->heap_marked, __ATOMIC_RELAXED);
	/* the cycle's marking CPU time, final now: for the pacer and figures */
	g->cycle_assist_ns = g->cycle_background_ns = 0;
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		g->cycle_assist_ns += __atomic_load_n(&gh_mheap.cpus[i].gc.assist_ns, __ATOMIC_RELAXED);
		g->cycle_background_ns +=
		    __atomic_load_n(&gh_mheap.cpus[i].gc.background_ns, __ATOMIC_RELAXED);
	}
	gc_pacer_end();
}

/* Whether any marking work is left in the shared lists (all of it with
 * the world stopped and the buffers flushed). */
static bool work_left(void)
{
	return __atomic_load_n(&gh_gcs.roots_done, __ATOMIC_ACQUIRE) < GC_ROOT_JOBS ||
	       gh_lfstack_first(&gh_work.full) ||
	       __atomic_load_n(&gh_work.overflow, __ATOMIC_ACQUIRE);
}

bool gc_work_to_share(void)
{
	struct gcstate *g = &gh_gcs;
	return !__atomic_load_n(&g->ranges_done, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&g->roots_next, __ATOMIC_RELAXED) < GC_ROOT_JOBS ||
	       gh_lfstack_first(&gh_work.full) || __atomic_load_n(&gh_work.overflow, __ATOMIC_ACQUIRE);
}

/* Whether marking may be done: no CPU is draining (and may produce work),
 * and none is left in the shared lists. What CPUs hold in their buffers
 * is found by gc_mark_done's flush. */
static bool may_be_done(void)
{
	return gc_marking() && !__atomic_load_n(&gh_gcs.nbusy, __ATOMIC_ACQUIRE) && !work_left();
}

/* World stopped: gather every CPU's buffered work into the shared lists. */
static void flush_all(struct gh_cpu *c)
{
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++)
		gc_wbbuf_flush(c, &gh_mheap.cpus[i].gc.wb);
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++)
		gh_gcwork_dispose(&gh_mheap.cpus[i].gc.gcw);
}

static void trace_line(void);

/* The cycle's pauses and CPU time into the figures, once it ended, and
 * then the cycle counted as completed, so that a reader who sees the count
 * sees the figures (Go's PauseNs: one entry per cycle, the sum of its
 * stops). With the collector's lock held. */
static void cycle_end(void)
{
	struct gcstate *g = &gh_gcs;
	__atomic_store_n(&g->pause_ns[g->completed % 256], g->cycle_pause_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&g->pause_end[g->completed % 256], g->t_end, __ATOMIC_RELAXED);
	g->assist_ns += g->cycle_assist_ns;
	g->background_ns += g->cycle_background_ns;
	g->cpu_ns_gc += (g->stw1_ns + g->stw2_ns) * gh_port_nprocs() + g->cycle_assist_ns +
			g->cycle_background_ns;
	__atomic_store_n(&g->completed, g->completed + 1, __ATOMIC_RELEASE);
}

/*
 * The stop that ends the mark shades what every CPU's write-barrier buffer
 * holds, up to WBBUF_ENTRIES pointers each into a heap that may be cold
 * (at 1 GiB live: up to 70 us of the pause). Before it, CPUs are asked to
 * shade their own at their next barrier store, while the world runs (Go's
 * ragged flush in gcMarkDone). The stop waits until no buffer holds more
 * than FLUSH_SMALL pointers it has not answered with, or for FLUSH_WAIT_NS,
 * after which it shades what a CPU that stores no pointers left (a thread
 * blocked outside goheap holds its CPU's buffer as it was). What the CPUs
 * greyed meanwhile is marked first, and the mark looks done again before
 * the stop.
 */
#define FLUSH_WAIT_NS 50000u
#define FLUSH_SMALL (WBBUF_ENTRIES / 8)

static bool buffers_flushed(uint32_t asked)
{
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		const struct wbbuf *b = &gh_mheap.cpus[i].gc.wb;
		if (__atomic_load_n(&b->n, __ATOMIC_RELAXED) > FLUSH_SMALL &&
		    __atomic_load_n(&b->flushed, __ATOMIC_RELAXED) != asked)
			return false;
	}
	return true;
}

/* Whether the stop should wait for CPUs to flush; the collector's lock
 * held. The first call asks them, and flushes this CPU's buffer. */
static bool flush_pending(void)
{
	struct gcstate *g = &gh_gcs;
	uint64_t t = now();
	if (!g->flush_since) {
		uint32_t asked = __atomic_add_fetch(&g->flush_asked, 1, __ATOMIC_RELAXED);
		g->flush_since = t;
		unsigned long irq = gh_port_irq_save();
		struct gh_cpu *c = cur_cpu();
		wbbuf_flush_shared(c, &c->gc.wb, asked);
		gh_port_irq_restore(irq);
	}
	if (t - g->flush_since < FLUSH_WAIT_NS && !buffers_flushed(g->flush_asked))
		return true;
	g->flush_since = 0;
	return false;
}

void gc_mark_done(void)
{
	struct gcstate *g = &gh_gcs;
	if (!may_be_done() || !gc_trylock())
		return;
	if (!may_be_done() || flush_pending() || !may_be_done()) {
		gc_unlock();
		return;
	}
	uint64_t t0 = stop_world();
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = cur_cpu();
	flush_all(c);
	bool more = work_left();
	if (!more) {
		g->t_markterm = t0;
		mark_termination(c);
	}
	gh_port_irq_restore(irq);
	uint64_t d = start_world(t0);
	if (!more) {
		g->stw2_ns = d;
		g->t_end = now();
		g->mark_ns += t0 - g->t_mark;
		cycle_end();
		if (__atomic_load_n(&g->flags, __ATOMIC_RELAXED) & GH_GC_TRACE)
			trace_line();
	}
	gc_unlock();
}

/* With the world stopped (GH_GC_STW): all of the marking. */
static void mark_stopped(struct gh_cpu *c)
{
	do {
		while (gc_drain(c, ~(uint64_t)0))
			;
		flush_all(c);
	} while (work_left());
}

void gc_start(bool forced)
{
	struct gcstate *g = &gh_gcs;
	if (!gh_mheap.ready) /* GOGC off: gc_should_start asks the memory limit */
		return;
	if (forced)
		gc_lock();
	else if (!gc_trylock()) {
		/* Another CPU is starting a cycle, or ending one: the start
		 * waits for it (Go's gcStart, on work.startSema) rather than
		 * let the heap run on past the trigger until an allocation
		 * finds the lock free, which is as late as the holder's
		 * thread is kept off its processor. */
		if (gc_marking())
			return;
		gc_lock();
	}
	if (gc_marking() || (!forced && !gc_should_start())) {
		gc_unlock();
		return;
	}
	uint64_t t_start = now();
	gc_finish_sweep(); /* sweep termination: the last cycle's spans */
	g->heap_at_start = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED);
	g->cycle_pause_ns = 0;
	g->flush_since = 0;
	uint64_t t0 = stop_world();
	gc_finish_sweep(); /* what CPUs were sweeping when asked to stop */
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = cur_cpu();
	g->t_start = t_start;
	if (!g->first_start)
		g->first_start = t_start;
	g->cycle++;
	g->forced = forced;
	g->num_forced += forced;
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++) {
		struct gh_cpu *o = &gh_mheap.cpus[i];
		o->gc.gcw.bytes_marked = o->gc.gcw.bytes_black = o->gc.gcw.scan_work = 0;
		o->gc.assist_credit = 0;
		__atomic_store_n(&o->gc.assist_ns, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&o->gc.background_ns, 0, __ATOMIC_RELAXED);
	}
	g->roots_next = 1; /* job 0 goes by blocks */
	g->roots_done = 0;
	g->root_next = g->roots;
	g->root_offset = 0;
	g->ranges_done = false;
	g->bg_credit = g->scan_done = 0;
	gc_pacer_start();
	all_cached_spans(black_from_now, NULL);
	__atomic_store_n(&gh_wb_enabled, true, __ATOMIC_RELAXED);
	__atomic_store_n(&g->phase, GC_MARK, __ATOMIC_RELEASE);
	/* The tiny blocks CPUs allocate from are black, like new objects. */
	for (unsigned i = 0, end = gh_ncpu_used(); i < end; i++)
		if (gh_mheap.cpus[i].gc.tiny)
			gh_greyobject(&c->gc.gcw, gh_mheap.cpus[i].gc.tiny);
	gc_mark_stacks(c);
	bool stw = __atomic_load_n(&g->flags, __ATOMIC_RELAXED) & GH_GC_STW;
	if (stw) {
		mark_stopped(c);
		g->t_mark = g->t_markterm = now();
		mark_termination(c);
	} else {
		/* what the stacks hold, where every CPU finds it: a CPU that
		 * found none would take the mark for done and stop again */
		gh_gcwork_dispose(&c->gc.gcw);
	}
	gh_port_irq_restore(irq);
	uint64_t d = start_world(t0);
	g->t_mark = t0 + d;
	if (stw) {
		g->stw1_ns = d;
		g->stw2_ns = 0;
		g->t_end = now();
		cycle_end();
		if (__atomic_load_n(&g->flags, __ATOMIC_RELAXED) & GH_GC_TRACE)
			trace_line();
		gc_unlock();
		return;
	}
	g->stw1_ns = d;
	gc_unlock();
	gh_port_gc_started();
}

/* Mark work on this CPU, up to budget bytes, counted as background time;
 * share what is left when share. Returns the bytes scanned: 0 once the
 * mark is over. That is seen with interrupts off: a mark another CPU ends
 * between two pieces (the world stopped, this CPU parked) leaves the work
 * lists to whatever uses them next, which need not be marking. */
static uint64_t drain_timed(uint64_t budget, bool share)
{
	unsigned long irq = gh_port_irq_save();
	if (!gc_marking()) {
		gh_port_irq_restore(irq);
		return 0;
	}
	struct gh_cpu *c = cur_cpu();
	uint64_t t = now(), did = gc_drain_piece(c, budget);
	gh_stat_add(&c->gc.background_ns, now() - t);
	if (share)
		gh_gcwork_dispose(&c->gc.gcw);
	gh_port_irq_restore(irq);
	return did;
}

/* Mark on this CPU until the current cycle's mark is over. */
static void help_mark(void)
{
	for (unsigned spins = 0; gc_marking();) {
		if (!drain_timed(DRAIN_PIECE, false)) {
			gc_mark_done();
			gh_port_relax(++spins); /* another CPU holds the last work */
		}
	}
}

/*
 * Stale pointers below the stack pointer: marking, finalizers and other
 * work leave pointers to objects in the stack they used and in the
 * scratch registers. Frames laid over that stack later (a stop's own, or
 * an interrupt's, which saves the registers too) do not write every slot,
 * and the conservative scan of the stack would take what is left for
 * roots and keep those objects another cycle. This zeroes them: bytes of
 * stack below the caller's frame (no deeper than the work just went, which
 * had the room), what the port says code beneath goheap may have written
 * further down (GH_PORT_STACK_BELOW), and the scratch registers. The
 * stores cover everything below the stack pointer down to that depth, so
 * that no slot of a frame of this function's own (padding the compiler
 * leaves unwritten) is passed over; they rise towards the stack pointer,
 * just below which an interrupt or signal meanwhile pushes its frame, and
 * reach it last.
 */
__attribute__((noinline)) void gh_clear_stack(size_t bytes)
{
	size_t words = (bytes + GH_PORT_STACK_BELOW) / sizeof(uintptr_t) + 1;
	__asm__ volatile("lea (,%%rcx,8), %%rdi\n\t"
			 "neg %%rdi\n\t"
			 "add %%rsp, %%rdi\n\t"
			 "xor %%eax, %%eax\n\t"
			 "rep stosq"
			 : "+c"(words)
			 :
			 : "rax", "rdi", "memory");
	GH_ZERO_SCRATCH_THEN("");
}

void gh_gc(void)
{
	if (!gh_mheap_ready())
		return;
	help_mark(); /* a cycle under way ends first */
	gh_clear_stack(2048); /* what it left, below the stop's frames */
	gc_start(true);
	help_mark();
	/* the CPU that ended the mark may still be writing the cycle's
	 * figures (pauses, gctrace), which it does holding the lock */
	gc_lock();
	gc_unlock();
	gc_finish_sweep();
}

/*
 * A small mark stays on the CPUs that allocate. Their assists do its scan
 * work in 64 KiB pieces, paid for by the allocation that calls for it, on
 * the CPUs whose caches hold that heap. A background worker on another CPU
 * would pull the heap into its own cache, and the program would then take
 * back every line it writes: churn over a 6 MB heap (gcbench churn) ran
 * 1.3x faster on 2 CPUs with its marking left to assists than with the
 * hosted port's mark thread on the other CPU.
 *
 * So while the cycle expects at most LOCAL_MARK_MAX (mgc.h) of scan work
 * (the last cycle's), background marking leaves the mark to assists for as
 * long as they move it: a CPU's first call in a cycle does no work, and
 * neither does a later one that finds scan work done since its last. One
 * that finds none (the program stopped allocating: it computes, sleeps or
 * waits in gh_gc) marks, as it would a large mark.
 */
static bool leave_to_assists(struct gh_cpu *c)
{
	struct gcstate *g = &gh_gcs;
	if (__atomic_load_n(&g->scan_expected, __ATOMIC_RELAXED) > LOCAL_MARK_MAX)
		return false;
	uint32_t cycle = __atomic_load_n(&g->cycle, __ATOMIC_RELAXED);
	uint64_t done = __atomic_load_n(&g->scan_done, __ATOMIC_RELAXED);
	bool moving = c->gc.bg_cycle != cycle || c->gc.bg_seen != done;
	c->gc.bg_cycle = cycle;
	c->gc.bg_seen = done;
	return moving;
}

enum gh_gc_background_result gh_gc_background(uint64_t budget_ns)
{
	if (!gh_mheap.ready)
		return GH_GC_BG_DONE;
	uint64_t t0 = now();
	if (!gc_marking()) {
		while (gc_sweep_one() && now() - t0 < budget_ns)
			;
		return GH_GC_BG_DONE;
	}
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = cur_cpu();
	bool leave = leave_to_assists(c);
	gh_port_irq_restore(irq);
	if (leave)
		return gc_marking() ? GH_GC_BG_DEFER : GH_GC_BG_DONE;
	do {
		uint64_t did = drain_timed(DRAIN_PIECE, true); /* what is left, others may take */
		__atomic_fetch_add(&gh_gcs.bg_credit, did, __ATOMIC_RELAXED);
		if (!did) {
			gc_mark_done();
			break;
		}
	} while (gc_marking() && now() - t0 < budget_ns);
	/* what others do from here on is what the next call looks for */
	irq = gh_port_irq_save();
	c = cur_cpu();
	c->gc.bg_seen = __atomic_load_n(&gh_gcs.scan_done, __ATOMIC_RELAXED);
	gh_port_irq_restore(irq);
	return gc_marking() ? GH_GC_BG_MORE : GH_GC_BG_DONE;
}

/* ---- roots, switches, figures ---- */

/* A root registered or removed while marking: what it holds is shaded, as
 * a store that deletes a pointer shades it. What the program stored there
 * before it was a root, or loaded from it before it goes, is then not lost
 * to a scan of the roots that came before (or never comes). */
static void shade_root(uintptr_t base, size_t len)
{
	if (!gc_marking())
		return;
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = cur_cpu();
	gh_scan_conservative(&c->gc.gcw, base, len);
	gh_gcwork_dispose(&c->gc.gcw);
	gh_port_irq_restore(irq);
}

void gh_gc_add_root(void *base, size_t len)
{
	struct gc_root *r = gh_malloc(sizeof(*r));
	if (!r)
		gh_panicf("gh_gc_add_root(%p): out of memory for the record", base);
	*r = (struct gc_root){(uintptr_t)base, len, NULL};
	unsigned long cookie = gh_lock(&gh_gcs.roots_lock);
	r->next = gh_gcs.roots;
	gh_gcs.roots = r;
	gh_unlock(&gh_gcs.roots_lock, cookie);
	shade_root((uintptr_t)base, len);
}

void gh_gc_remove_root(void *base)
{
	struct gc_root *r = NULL;
	unsigned long cookie = gh_lock(&gh_gcs.roots_lock);
	for (struct gc_root **pp = &gh_gcs.roots; *pp; pp = &(*pp)->next)
		if ((*pp)->base == (uintptr_t)base) {
			r = *pp;
			*pp = r->next;
			if (gh_gcs.root_next == r) /* its rest is shaded below */
				gh_gcs.root_next = r->next, gh_gcs.root_offset = 0;
			break;
		}
	gh_unlock(&gh_gcs.roots_lock, cookie);
	if (!r)
		gh_panicf("gh_gc_remove_root(%p): not a registered root", base);
	shade_root(r->base, r->len);
	gh_free(r);
}

void *gh_malloc_scanned(size_t size)
{
	return gh_malloc_flags(size, GH_ZERO | GH_SCANNED);
}

int gh_set_gc_percent(int percent)
{
	int old = __atomic_exchange_n(&gh_gcs.percent, percent, __ATOMIC_RELAXED);
	gc_pacer_retarget();
	return old;
}

void gh_set_memory_limit(uint64_t bytes)
{
	__atomic_store_n(&gh_gcs.memory_limit, bytes ? bytes : ~(uint64_t)0, __ATOMIC_RELAXED);
	gc_pacer_retarget();
}

unsigned gh_gc_set_flags(unsigned flags)
{
	return __atomic_exchange_n(&gh_gcs.flags, flags, __ATOMIC_RELAXED);
}

void gh_gc_stress(unsigned n)
{
	__atomic_store_n(&gh_gcs.stress_every, n, __ATOMIC_RELAXED);
}

/* The objects o's span of class spc still offers were counted as
 * allocated when its cache was loaded: taken off again (arg: the stats). */
static void not_handed_out(void *arg, struct gh_cpu *o, unsigned spc)
{
	struct gh_gc_stats *st = arg;
	const struct mspan *s = __atomic_load_n(&o->gc.alloc[spc], __ATOMIC_RELAXED);
	uint64_t offered = span_offered(s);
	st->objects -= offered;
	st->bytes -= offered * __atomic_load_n(&s->elemsize, __ATOMIC_RELAXED);
}

GH_NO_SANITIZE void gh_gc_read_stats(struct gh_gc_stats *st)
{
	struct gcstate *g = &gh_gcs;
	*st = (struct gh_gc_stats){
	    .cycles = g->completed,
	    .heap_live = __atomic_load_n(&g->heap_live, __ATOMIC_RELAXED),
	    .heap_marked = g->heap_marked,
	    .heap_black = g->heap_black,
	    .heap_goal = g->heap_goal,
	    .trigger = g->trigger,
	    .pause_max_ns = g->pause_max,
	    .mark_ns = g->mark_ns,
	    .assist_ns = g->assist_ns,
	    .background_ns = g->background_ns,
	    .checkmark_errors = g->checkmark_errors,
	    .finalizers_queued = __atomic_load_n(&g->finalizers_queued, __ATOMIC_RELAXED),
	    .finalizers_run = __atomic_load_n(&g->finalizers_run, __ATOMIC_RELAXED),
	    .memory_limit = __atomic_load_n(&g->memory_limit, __ATOMIC_RELAXED),
	    .gc_percent = __atomic_load_n(&g->percent, __ATOMIC_RELAXED),
	    .marking = gc_marking(),
	};
	for (unsigned i = 0, end = gh_mheap.ready ? gh_ncpu_used() : 0; i < end; i++) {
		struct gh_cpu *c = &gh_mheap.cpus[i];
		st->objects += __atomic_load_n(&c->gc.nmalloc, __ATOMIC_RELAXED) -
			       __atomic_load_n(&c->gc.nfree, __ATOMIC_RELAXED);
		st->bytes += __atomic_load_n(&c->gc.alloc_bytes, __ATOMIC_RELAXED) -
			     __atomic_load_n(&c->gc.free_bytes, __ATOMIC_RELAXED);
		/* what the current spans' caches offer counts already */
		each_cached_span(c, not_handed_out, st);
		for (unsigned k = MSPAN_GC; k <= MSPAN_GC_LARGE; k++)
			st->inuse += (__atomic_load_n(&c->pages_alloc[k], __ATOMIC_RELAXED) -
				      __atomic_load_n(&c->pages_free[k], __ATOMIC_RELAXED)) *
				     PAGE_SIZE;
	}
}

/* ---- gctrace ---- */

/* ns as milliseconds with three decimals, as gctrace prints them. */
static const char *ms(char *buf, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned f = (unsigned)(us % 1000);
	gh_format(buf, 24, "%lu.%c%c%c", (unsigned long)(us / 1000), '0' + f / 100,
		  '0' + f / 10 % 10, '0' + f % 10);
	return buf;
}

size_t gc_trace_format(char *buf, size_t n)
{
	struct gcstate *g = &gh_gcs;
	uint64_t assist = g->cycle_assist_ns, bg = g->cycle_background_ns;
	unsigned ncpu = gh_port_nprocs();
	uint64_t since = g->t_end - g->first_start + 1;
	uint64_t pct = g->cpu_ns_gc * 100 / (since * ncpu);
	char a[24], b[24], c[24], d[24], e[24], f[24], h[24], k[24];
	return gh_format(
	    buf, n,
	    "gc %u @%ss %lu%%: %s+%s+%s ms clock, %s+%s/%s/0+%s ms cpu, %lu->%lu->%lu MB, "
	    "%lu MB goal, %u P%s",
	    g->completed, ms(a, (g->t_start - g->first_start) / 1000), (unsigned long)pct,
	    ms(b, g->stw1_ns), ms(c, g->t_markterm > g->t_mark ? g->t_markterm - g->t_mark : 0),
	    ms(d, g->stw2_ns), ms(e, g->stw1_ns * ncpu), ms(f, assist), ms(h, bg),
	    ms(k, g->stw2_ns * ncpu), (unsigned long)(g->heap_at_start >> 20),
	    (unsigned long)(g->heap_at_term >> 20), (unsigned long)(g->heap_marked >> 20),
	    (unsigned long)(g->heap_goal >> 20), ncpu, g->forced ? " (forced)" : "");
}

static void trace_line(void)
{
	char line[256];
	gc_trace_format(line, sizeof(line));
	gh_logf("%s", line);
}

/* ---- defaults for the collector's port hooks (port.h) ---- */

__attribute__((weak)) uint64_t gh_port_nanotime(void)
{
	return 0;
}
__attribute__((weak)) void gh_port_stop_world(void)
{
	gh_panicf("goheap: the port cannot stop the world (gh_port_stop_world)");
}
__attribute__((weak)) void gh_port_start_world(void) {}
__attribute__((weak)) void gh_port_scan_stacks(void (*scan)(void *, uintptr_t, uintptr_t),
					       void *ctx)
{
	(void)scan, (void)ctx;
	gh_panicf("goheap: the port cannot report its stacks (gh_port_scan_stacks)");
}
__attribute__((weak)) void gh_port_gc_started(void) {}
__attribute__((weak)) unsigned gh_port_ncpu_used(void)
{
	return gh_mheap.ncpu;
}
__attribute__((weak)) unsigned gh_port_nprocs(void)
{
	return gh_port_ncpu();
}
__attribute__((weak)) void gh_port_finalizers_queued(void) {}
