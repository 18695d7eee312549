/*
 * gcbench.c — make bench-kernel-gc: the collector's pauses in the reference
 * kernel, per CPU count ("gcbench" on the command line, instead of the
 * tests; main.c).
 *
 * Every CPU keeps its share of a table of binary trees of collected
 * objects (the live heap, registered with gh_gc_add_root) and, round after
 * round, replaces a whole tree or a subtree inside one with a fresh copy,
 * so that old objects point to new ones and the dropped ones become
 * garbage. The collector runs concurrent cycles on its own pacing (GOGC
 * 100). A tree with root value v holds v at its root and 2x and 2x + 1
 * under a node holding x, and a replacement is rebuilt with the same
 * values, so every tree can be checked node by node: the dropped part
 * before it is dropped, and all of them at the end.
 *
 * Kernel command line (scripts/bench-kernel-gc.sh writes it):
 *   gcbench             run it
 *   gcbench_live=MIB    live heap, all CPUs together (default 64)
 *   gcbench_rounds=N    replacements, all CPUs together (default 200000)
 *   gcbench_trace       Go's gctrace line for every cycle
 *
 * The cycles that end while the table is being built, and the one under
 * way when it is done, are the warm-up; the figures are those of the later
 * ones (the steady state). Lines without the time stamp prefix, for the
 * script (the second is one line):
 *   gcbench cycle n=N steady=0|1 pause_ns=X pause_cycles=Y end_ms=Z
 *   gcbench: cpus=N cycles=K warmup=W pause_cycles p50=.. p90=.. p99=..
 *     max=.. pause_us p50=.. p90=.. p99=.. max=.. stop_max_cycles=..
 *     stop_max_us=.. stop_max_steady=0|1 mark_ms=.. gc_cpu_permille=..
 *     ops=.. mutator_ms=.. kept_nodes=.. bad_trees=.. lost=..
 * A cycle's pause is the sum of its stop-the-world pauses (Go's PauseNs),
 * p50..max over the steady cycles. stop_max is the longest single stop of
 * the whole run (goheap keeps only the maximum); stop_max_steady=1 when it
 * happened in the steady state. mark_ms is the mean concurrent mark phase
 * (wall), gc_cpu_permille the collector's share of all CPUs' time as Go's
 * GCCPUFraction counts it. ops counts the mutators' gh_new calls in the
 * steady state, mutator_ms its wall time.
 *
 * The run ends with gh_gc, gh_heap_check and "gcbench done: ok"
 * (QEMU_EXIT_PASS), or "gcbench done: FAILED (why)" (QEMU_EXIT_FAIL): no
 * steady cycle, a damaged tree, an allocation that failed, pause figures
 * that do not add up, or a failed heap check.
 */
#include "bench_alloc.h"
#include "cpu.h"
#include "fmt.h"
#include "kernel.h"

#define GCBENCH_LIVE_MIB 64
#define GCBENCH_ROUNDS 200000
/* Kept trees have 2^11 - 1 nodes: 64 KiB each in 32-byte slots. */
#define TREE_DEPTH 10
#define TREE_NODES ((2u << TREE_DEPTH) - 1)
/* Cycles whose pauses are kept; more are counted but not recorded. */
#define MAX_CYCLES 4096


/* Each CPU's mutator: its slots of the table and what it did. */
struct worker {
	size_t first, n; /* slots [first, first + n) */
	unsigned rounds;
	uint64_t seed;
	uint64_t nodes;	    /* gh_new calls in the steady state */
	uint64_t bad_trees; /* trees or subtrees found damaged before being dropped */
	bool oom;	    /* a gh_new returned NULL */
} __attribute__((aligned(64)));

/* The collector's counters at one moment. */
struct snapshot {
	uint64_t tsc, cycles, pause_total_ns, stop_max_ns, mark_ns, mark_cpu_ns;
	bool marking;
};

static struct worker workers[MAX_CPUS];
static struct tree **kept; /* the live heap: a root */
static uint64_t *kept_val; /* each kept tree's root value */
static unsigned built;	   /* CPUs done building their share */
static unsigned steady;	   /* 1: CPU 0 saw every share built and took the snapshot */
static struct snapshot at_steady, at_end;

/* The cycles seen so far (CPU 0 records them as they end). */
static struct {
	uint64_t first;	   /* cycles before the benchmark */
	uint64_t seen;	   /* cycles recorded or lost */
	uint64_t lost;	   /* more than MAX_CYCLES, or 256 cycles ended between looks */
	uint64_t pause_ns[MAX_CYCLES], end_ns[MAX_CYCLES];
} cyc;
static struct gh_memstats ms; /* 6 KiB: not on a stack; CPU 0's */
static uint64_t sorted[MAX_CYCLES];

bool gcbench_requested(void)
{
	char buf[4];
	return cmdline_option("gcbench", buf, sizeof(buf)) != NULL;
}

static uint64_t next(struct worker *w)
{
	w->seed = w->seed * 6364136223846793005ull + 1442695040888963407ull;
	return w->seed >> 11;
}

static uint64_t ns_to_cycles(uint64_t ns)
{
	return ns / 1000000000ull * tsc_hz + ns % 1000000000ull * tsc_hz / 1000000000ull;
}

static struct tree *build(struct worker *w, unsigned depth, uint64_t val)
{
	struct tree *t = gh_new(&tree_type);
	w->nodes++;
	if (!t) {
		w->oom = true;
		return NULL;
	}
	t->val = val;
	if (depth) {
		GH_STORE_PTR(&t->left, build(w, depth - 1, 2 * val));
		GH_STORE_PTR(&t->right, build(w, depth - 1, 2 * val + 1));
	}
	return t;
}

/* Where t first differs from the tree that build(depth, val) made, in
 * preorder: the node (NULL where one is missing), and the value it should
 * hold. False when t is intact. */
static bool first_damage(const struct tree *t, unsigned depth, uint64_t val,
			 const struct tree **node, uint64_t *want)
{
	if (!t || t->val != val || (!depth && (t->left || t->right))) {
		*node = t;
		*want = val;
		return true;
	}
	return depth && (first_damage(t->left, depth - 1, 2 * val, node, want) ||
			 first_damage(t->right, depth - 1, 2 * val + 1, node, want));
}

/* Is t the tree that build(depth, val) made? */
static bool intact(const struct tree *t, unsigned depth, uint64_t val)
{
	const struct tree *node;
	uint64_t want;
	return !first_damage(t, depth, val, &node, &want);
}

/* A tree or subtree found damaged: count it, and describe the first few. */
static void damaged(struct worker *w, size_t slot, unsigned level, const struct tree *t,
		    uint64_t val)
{
	const struct tree *node = NULL;
	uint64_t want = 0;
	struct gh_gc_stats st;
	if (w->bad_trees++ >= 4 || !first_damage(t, TREE_DEPTH - level, val, &node, &want))
		return;
	gh_gc_read_stats(&st);
	printk("gcbench: tree %zu damaged %u levels down: node %p holds %llx (left %p, right %p), "
	       "%llx expected; %llu cycles done, marking %d\n",
	       slot, level, (const void *)node, node ? (unsigned long long)node->val : 0ull,
	       node ? (void *)node->left : NULL, node ? (void *)node->right : NULL,
	       (unsigned long long)want, (unsigned long long)st.cycles, st.marking);
}

/* Record the cycles that ended since the last look (CPU 0, between rounds,
 * and at the end). goheap writes a cycle's PauseNs before it counts the
 * cycle, so every slot up to NumGC is there. */
static void record_cycles(void)
{
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	if (st.cycles == cyc.seen)
		return;
	gh_read_memstats(&ms);
	for (uint64_t n = cyc.seen + 1; n <= ms.NumGC; n++) {
		if (ms.NumGC - n >= 256) {
			cyc.lost++;
			cyc.seen = n;
			continue;
		}
		unsigned slot = (unsigned)((n + 255) % 256);
		uint64_t i = n - cyc.first - 1;
		if (i < MAX_CYCLES) {
			cyc.pause_ns[i] = ms.PauseNs[slot];
			cyc.end_ns[i] = ms.PauseEnd[slot];
		} else {
			cyc.lost++;
		}
		cyc.seen = n;
	}
}

/* Replace a random subtree of one of this CPU's trees (the whole tree one
 * time in TREE_DEPTH) with a fresh copy, after checking the old one. */
static void replace(struct worker *w)
{
	size_t slot = w->first + next(w) % w->n;
	unsigned level = (unsigned)(next(w) % TREE_DEPTH);
	uint64_t bits = next(w);
	if (level == 0) {
		if (!intact(kept[slot], TREE_DEPTH, kept_val[slot]))
			damaged(w, slot, 0, kept[slot], kept_val[slot]);
		uint64_t v = next(w);
		struct tree *t = build(w, TREE_DEPTH, v);
		kept_val[slot] = v;
		GH_STORE_PTR(&kept[slot], t);
		return;
	}
	struct tree *parent = kept[slot];
	uint64_t val = kept_val[slot];
	for (unsigned i = 1; i < level && parent; i++, bits >>= 1) {
		val = 2 * val + (bits & 1);
		parent = bits & 1 ? parent->right : parent->left;
	}
	if (!parent) {
		damaged(w, slot, 0, kept[slot], kept_val[slot]);
		return;
	}
	struct tree **slotp = bits & 1 ? &parent->right : &parent->left;
	val = 2 * val + (bits & 1);
	if (!intact(*slotp, TREE_DEPTH - level, val))
		damaged(w, slot, level, *slotp, val);
	GH_STORE_PTR(slotp, build(w, TREE_DEPTH - level, val));
}

/* Spin until *counter reaches value, recording cycles on CPU 0 meanwhile. */
static void wait_for(const unsigned *counter, unsigned value, unsigned cpu)
{
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < value) {
		if (cpu == 0)
			record_cycles();
		stw_safe_point();
		cpu_relax();
	}
}

static void take(struct snapshot *s)
{
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	gh_read_memstats(&ms);
	*s = (struct snapshot){
	    .tsc = rdtsc(),
	    .cycles = st.cycles,
	    .pause_total_ns = ms.PauseTotalNs,
	    .stop_max_ns = st.pause_max_ns,
	    .mark_ns = st.mark_ns,
	    .mark_cpu_ns = st.assist_ns + st.background_ns,
	    .marking = st.marking,
	};
}

/* On every CPU: build this CPU's share of the table, wait for the others
 * (CPU 0 takes the snapshot that starts the steady state), then replace. */
static void work(void *arg, unsigned cpu)
{
	struct worker *w = &workers[cpu];
	for (size_t i = w->first; i < w->first + w->n && !w->oom; i++) {
		uint64_t v = next(w);
		kept_val[i] = v;
		GH_STORE_PTR(&kept[i], build(w, TREE_DEPTH, v));
		if (cpu == 0)
			record_cycles();
	}
	__atomic_add_fetch(&built, 1, __ATOMIC_ACQ_REL);
	if (cpu == 0) {
		wait_for(&built, ncpus, cpu);
		take(&at_steady);
		__atomic_store_n(&steady, 1, __ATOMIC_RELEASE);
	}
	wait_for(&steady, 1, cpu);
	w->nodes = 0;
	for (unsigned r = 0; r < w->rounds && !w->oom; r++) {
		replace(w);
		if (cpu == 0)
			record_cycles();
	}
}

/* Sort a[0..n) (insertion: n is at most MAX_CYCLES, and usually a few
 * dozen). */
static void sort_u64(uint64_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t x = a[i];
		size_t j = i;
		for (; j > 0 && a[j - 1] > x; j--)
			a[j] = a[j - 1];
		a[j] = x;
	}
}

/* The nearest-rank percentile p of sorted a[0..n), n > 0. */
static uint64_t percentile(const uint64_t *a, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;
	return a[rank ? rank - 1 : 0];
}

/* x / unit with one decimal, into buf (ns as µs: unit 1000). */
static const char *decimal(char *buf, size_t n, uint64_t x, uint64_t unit)
{
	fmt_snprintf(buf, n, "%llu.%llu", (unsigned long long)(x / unit),
		     (unsigned long long)(x % unit * 10 / unit));
	return buf;
}

/* Append a reason for failing to why. */
static void fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *why, size_t n, const char *fmt, ...)
{
	size_t len = 0;
	while (len < n && why[len])
		len++;
	if (len + 3 >= n)
		return;
	if (len) {
		why[len++] = ';';
		why[len++] = ' ';
	}
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(why + len, n - len, fmt, ap);
	va_end(ap);
}

void gcbench_main(void)
{
	uint64_t live = (uint64_t)cmdline_uint("gcbench_live", GCBENCH_LIVE_MIB) * MiB;
	unsigned rounds = cmdline_uint("gcbench_rounds", GCBENCH_ROUNDS);
	char flag[4];
	bool trace = cmdline_option("gcbench_trace", flag, sizeof(flag)) != NULL;
	/* A node's slot in the heap: its size class, which gh_new and
	 * gh_malloc share (24 bytes take 32). */
	void *probe = gh_malloc(sizeof(struct tree));
	size_t tree_bytes = TREE_NODES * gh_usable_size(probe);
	gh_free(probe);
	size_t ntrees = live / tree_bytes > ncpus ? live / tree_bytes : ncpus;
	kept = gh_calloc(ntrees, sizeof(*kept));
	kept_val = gh_calloc(ntrees, sizeof(*kept_val));
	if (!kept || !kept_val)
		panic("gcbench: no room for a table of %zu trees", ntrees);
	gh_gc_add_root(kept, ntrees * sizeof(*kept));
	for (unsigned c = 0; c < ncpus; c++)
		workers[c] = (struct worker){
		    .first = ntrees * c / ncpus,
		    .n = ntrees * (c + 1) / ncpus - ntrees * c / ncpus,
		    .rounds = rounds / ncpus + (c < rounds % ncpus),
		    .seed = c + 1,
		};
	printk("gcbench: %u CPUs keep %zu trees of %u nodes, %zu bytes each in the heap (%llu MiB "
	       "live), and replace parts of them %u times, TSC %llu kHz%s\n",
	       ncpus, ntrees, TREE_NODES, tree_bytes, (unsigned long long)(live / MiB), rounds,
	       (unsigned long long)(tsc_hz / 1000), trace ? ", gctrace on" : "");
	struct snapshot at_start;
	take(&at_start);
	cyc.first = cyc.seen = at_start.cycles;
	unsigned old_flags = gh_gc_set_flags(trace ? GH_GC_TRACE : 0);
	smp_call_all(work, NULL);
	take(&at_end);

	/* A full cycle, and every CPU's caches back for the heap check. Then
	 * every cycle's pauses are final. */
	gh_gc();
	bench_flush_all_cpus();
	int heap_bad = gh_heap_check();
	gh_gc_set_flags(old_flags);
	struct gh_gc_stats st;
	gh_gc_read_stats(&st);
	uint64_t deadline = rdtsc() + tsc_hz;
	while (cyc.seen < st.cycles && rdtsc() < deadline)
		record_cycles();
	gh_read_memstats(&ms);

	char why[256] = "";
	uint64_t ncyc = cyc.seen - cyc.first, recorded = ncyc < MAX_CYCLES ? ncyc : MAX_CYCLES;
	uint64_t sum = 0, max = 0;
	unsigned zero = 0;
	for (uint64_t i = 0; i < recorded; i++) {
		sum += cyc.pause_ns[i];
		max = cyc.pause_ns[i] > max ? cyc.pause_ns[i] : max;
		zero += cyc.pause_ns[i] == 0;
	}
	if (cyc.seen < st.cycles)
		fail(why, sizeof(why), "cycles %llu to %llu never showed their pauses",
		     (unsigned long long)(cyc.seen + 1), (unsigned long long)st.cycles);
	if (zero)
		fail(why, sizeof(why), "%u cycles paused for 0 ns", zero);
	if (!cyc.lost && sum != ms.PauseTotalNs - at_start.pause_total_ns)
		fail(why, sizeof(why),
		     "the cycles' pauses add up to %llu ns, PauseTotalNs grew by %llu",
		     (unsigned long long)sum,
		     (unsigned long long)(ms.PauseTotalNs - at_start.pause_total_ns));
	if (!at_start.stop_max_ns && !cyc.lost && st.pause_max_ns > max)
		fail(why, sizeof(why), "one stop took %llu ns, more than any cycle's pauses (%llu)",
		     (unsigned long long)st.pause_max_ns, (unsigned long long)max);

	/* The steady state's cycles: those that started after the snapshot
	 * and ended before the mutators were done. */
	uint64_t from = at_steady.cycles + at_steady.marking - cyc.first;
	uint64_t to = at_end.cycles - cyc.first;
	size_t n = 0;
	for (uint64_t i = 0; i < recorded; i++) {
		bool in = i >= from && i < to;
		console_printf("gcbench cycle n=%llu steady=%d pause_ns=%llu pause_cycles=%llu end_ms=%llu\n",
		    (unsigned long long)(i + 1), in, (unsigned long long)cyc.pause_ns[i],
		    (unsigned long long)ns_to_cycles(cyc.pause_ns[i]),
		    (unsigned long long)((cyc.end_ns[i] - tsc_to_ns(at_start.tsc)) / 1000000));
		if (in)
			sorted[n++] = cyc.pause_ns[i];
	}
	sort_u64(sorted, n);
	if (!n)
		fail(why, sizeof(why), "no cycle in the steady state");

	/* Every tree, node by node, after the full cycle. */
	uint64_t ops = 0, bad = 0, nodes = 0;
	bool oom = false;
	for (unsigned c = 0; c < ncpus; c++) {
		ops += workers[c].nodes;
		bad += workers[c].bad_trees;
		oom |= workers[c].oom;
	}
	for (size_t i = 0; i < ntrees; i++) {
		if (intact(kept[i], TREE_DEPTH, kept_val[i]))
			nodes += TREE_NODES;
		else
			bad++;
	}
	if (bad)
		fail(why, sizeof(why), "%llu damaged trees", (unsigned long long)bad);
	if (oom)
		fail(why, sizeof(why), "gh_new returned NULL");
	if (heap_bad)
		fail(why, sizeof(why), "gh_heap_check failed");

	/* GC CPU share of the steady state, as Go's GCCPUFraction counts it:
	 * every CPU during the pauses, plus the marking CPU time. */
	uint64_t wall_ns = tsc_to_ns(at_end.tsc - at_steady.tsc);
	uint64_t window_cycles = at_end.cycles - at_steady.cycles;
	uint64_t gc_ns = (at_end.pause_total_ns - at_steady.pause_total_ns) * ncpus +
			 at_end.mark_cpu_ns - at_steady.mark_cpu_ns;
	uint64_t mark_ns = window_cycles ? (at_end.mark_ns - at_steady.mark_ns) / window_cycles : 0;
	uint64_t p[4] = {0, 0, 0, 0};
	if (n) {
		p[0] = percentile(sorted, n, 50);
		p[1] = percentile(sorted, n, 90);
		p[2] = percentile(sorted, n, 99);
		p[3] = sorted[n - 1];
	}
	char u[4][24], stop[24], mark[24];
	for (unsigned k = 0; k < 4; k++)
		decimal(u[k], sizeof(u[k]), p[k], 1000);
	console_printf("gcbench: cpus=%u cycles=%zu warmup=%llu pause_cycles p50=%llu p90=%llu p99=%llu "
	    "max=%llu pause_us p50=%s p90=%s p99=%s max=%s stop_max_cycles=%llu stop_max_us=%s "
	    "stop_max_steady=%d mark_ms=%s gc_cpu_permille=%llu ops=%llu mutator_ms=%llu "
	    "kept_nodes=%llu "
	    "bad_trees=%llu lost=%llu\n",
	    ncpus, n, (unsigned long long)from, (unsigned long long)ns_to_cycles(p[0]),
	    (unsigned long long)ns_to_cycles(p[1]), (unsigned long long)ns_to_cycles(p[2]),
	    (unsigned long long)ns_to_cycles(p[3]), u[0], u[1], u[2], u[3],
	    (unsigned long long)ns_to_cycles(at_end.stop_max_ns),
	    decimal(stop, sizeof(stop), at_end.stop_max_ns, 1000),
	    at_end.stop_max_ns > at_steady.stop_max_ns,
	    decimal(mark, sizeof(mark), mark_ns, 1000000),
	    (unsigned long long)(wall_ns ? gc_ns * 1000 / (wall_ns * ncpus) : 0),
	    (unsigned long long)ops, (unsigned long long)(wall_ns / 1000000),
	    (unsigned long long)nodes, (unsigned long long)bad, (unsigned long long)cyc.lost);
	printk("gcbench: memstats: HeapAlloc %llu KiB, HeapInuse %llu KiB, NextGC %llu KiB, "
	       "NumGC %u (%u forced), PauseTotalNs %llu, GC CPU %u.%u%% since the first cycle\n",
	       (unsigned long long)(ms.HeapAlloc / KiB), (unsigned long long)(ms.HeapInuse / KiB),
	       (unsigned long long)(ms.NextGC / KiB), ms.NumGC, ms.NumForcedGC,
	       (unsigned long long)ms.PauseTotalNs, ms.GCCPUPermille / 10, ms.GCCPUPermille % 10);
	if (why[0]) {
		printk("gcbench done: FAILED (%s)\n", why);
		qemu_exit(QEMU_EXIT_FAIL);
	}
	printk("gcbench done: ok\n");
	qemu_exit(QEMU_EXIT_PASS);
}
