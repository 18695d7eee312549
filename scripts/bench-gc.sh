#!/usr/bin/env bash
# bench-gc.sh — goheap's collector (gh_new, build/hosted/libgoheap.a)
# against the Boehm-Demers-Weiser collector (Debian's libgc-dev) with
# tests/bench/gcbench.c: binary-trees on 1 and 2 threads, an allocation
# churn, and the pauses and mutator utilization with a 1 GiB live heap on 2
# threads. Writes build/bench/gc.md and prints it; plots the pauses into
# build/bench/gc-pauses.png and the mutators' progress in the first round's
# pauses runs into build/bench/gc-mutator.png (python3-matplotlib).
#
#   scripts/bench-gc.sh               (make bench runs it after bench-malloc.sh)
#   ROUNDS=3 scripts/bench-gc.sh      fewer rounds
#   QUICK=1 scripts/bench-gc.sh       small sizes, 3 rounds: a look in 20 seconds
#   BT_DEPTH=21 BT2_DEPTH=21 CHURN_N=50000000 PAUSE_MIB=1024 PAUSE_OPS=2000000
#                                     the sizes (defaults below)
#   PAUSE_GCS="goheap goheap-stw boehm"  also goheap marking with the world
#                                     stopped (GH_GC_STW), in the pauses workload
#   GCBENCH=path scripts/bench-gc.sh  a gcbench built elsewhere (not rebuilt)
#
# The machine is small and shared, so no single time means much: every
# workload runs in ROUNDS (default 5) rounds, and within a round every
# collector runs once, back to back, in an order that rotates from round to
# round; the tables give the median, the spread (min–max) and the ratio
# Boehm ÷ goheap of the medians, all measured in the same run. About 5
# minutes on a shared 2-CPU machine.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
cd "$(dirname "$0")/.."

if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-3}
  BT_DEPTH=${BT_DEPTH:-16} BT2_DEPTH=${BT2_DEPTH:-16}
  CHURN_N=${CHURN_N:-2000000} PAUSE_MIB=${PAUSE_MIB:-128} PAUSE_OPS=${PAUSE_OPS:-300000}
  PAUSE_WORK_OPS=${PAUSE_WORK_OPS:-30000}
fi
ROUNDS=${ROUNDS:-5}
BT_DEPTH=${BT_DEPTH:-21}       # the Benchmarks Game's
BT2_DEPTH=${BT2_DEPTH:-19}     # a quarter of the work, to stay within the time
CHURN_N=${CHURN_N:-20000000}   # allocations
CHURN_RING=${CHURN_RING:-32768}
PAUSE_MIB=${PAUSE_MIB:-1024}   # live heap
PAUSE_OPS=${PAUSE_OPS:-1000000}
# the same with a mutator that computes between allocations (WORK rounds of
# hashing per operation): an allocation rate a collector can keep up with
PAUSE_WORK=${PAUSE_WORK:-64}
PAUSE_WORK_OPS=${PAUSE_WORK_OPS:-200000}
read -r -a PAUSE_GCS <<<"${PAUSE_GCS:-goheap boehm}"
GCS=(goheap boehm)
# goheap's reservation standing in for physical memory (as make bench gives
# pageheap): room for the pauses workload's heap without growing it.
export GOHEAP_HOSTED_MEM=${GOHEAP_HOSTED_MEM:-4G}
OUT=build/bench
BIN=${GCBENCH:-$OUT/gcbench} # GCBENCH: a gcbench built elsewhere, used as it is

die() { echo "bench-gc.sh: $*" >&2; exit 1; }

[ -f /usr/include/gc/gc.h ] || die "Boehm's collector is missing: install Debian's libgc-dev (scripts/deps.sh does)"
[ -n "${GCBENCH:-}" ] || make -s "$BIN" || die "cannot build $BIN"

WORKLOADS=(
  "binarytrees $BT_DEPTH 1"
  "binarytrees $BT2_DEPTH 2"
  "churn $CHURN_N $CHURN_RING"
  "pauses $PAUSE_MIB $PAUSE_OPS 2"
  "pauses $PAUSE_MIB $PAUSE_WORK_OPS 2 $PAUSE_WORK"
)

results_workdir

# run GC ROUND ARGS...: one run of $BIN, its result line into $results; a
# failure (exit status, timeout, no result line) is recorded with its
# command and output.
run() {
  local g=$1 r=$2
  shift 2
  local opt=(--gc "$g")
  [ "$g" = goheap-stw ] && opt=(--gc goheap --stw)
  local cmd="$BIN ${opt[*]} $*" rc=0 series=""
  [ "$1" = pauses ] && [ $# = 4 ] && [ "$r" = 1 ] && series=$work/series-$g.txt
  GCBENCH_SERIES=$series timeout 600 "$BIN" "${opt[@]}" "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [ $rc -ne 0 ] || ! grep -q '^gcbench ' "$work/out"; then
    {
      echo "$g (round $r): \`$cmd\` exited with status $rc$([ $rc -eq 124 ] && echo ' (timeout)')"
      sed 's/^/    /' "$work/out" "$work/err" | tail -n 20
    } >>"$failures"
    echo "bench-gc.sh: FAILED: $cmd (status $rc)" >&2
    return 0
  fi
  grep '^gcbench ' "$work/out" | sed "s/^/$g\t$r\t/" >>"$results"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
sharing=$work/sharing.txt
: >"$sharing"
for ((r = 1; r <= ROUNDS; r++)); do
  echo "bench-gc.sh: round $r of $ROUNDS" >&2
  # the machine's cost of a second CPU reading what a thread writes, now
  "$BIN" sharing 2>/dev/null | grep '^gcbench ' >>"$sharing" || true
  for w in "${WORKLOADS[@]}"; do
    gcs=("${GCS[@]}")
    [ "${w%% *}" = pauses ] && gcs=("${PAUSE_GCS[@]}")
    n=${#gcs[@]}
    for ((i = 0; i < n; i++)); do
      # shellcheck disable=SC2086
      run "${gcs[$(((i + r - 1) % n))]}" "$r" $w
    done
  done
done
timed_secs=$((SECONDS - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  machine_meta
  echo "ver_libgc	$(version libgc1)"
  echo "ver_gcc	$(gcc -dumpfullversion)"
  echo "gcs	${GCS[*]}"
  echo "sizes	BT_DEPTH=$BT_DEPTH BT2_DEPTH=$BT2_DEPTH CHURN_N=$CHURN_N CHURN_RING=$CHURN_RING PAUSE_MIB=$PAUSE_MIB PAUSE_OPS=$PAUSE_OPS PAUSE_WORK=$PAUSE_WORK PAUSE_WORK_OPS=$PAUSE_WORK_OPS"
  echo "hosted_mem	$GOHEAP_HOSTED_MEM"
  echo "quick	${QUICK:-0}"
  echo "pause_gcs	${PAUSE_GCS[*]}"
} >"$work/meta.tsv"

PYTHONPATH=scripts python3 - "$work/meta.tsv" "$results" "$failures" "$sharing" >"$OUT/gc.md" <<'EOF'
import statistics, sys
from collections import defaultdict
from bench_results import failures_section, ratio

meta_f, res_f, fail_f, sharing_f = sys.argv[1:]
sharing = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sharing_f)]
meta = dict(line.rstrip("\n").split("\t", 1) for line in open(meta_f))
gcs = meta["gcs"].split()
pause_gcs = meta["pause_gcs"].split()

# runs[(workload key, gc)] = [dict of one result line's fields, ...]
PARAMS = {"binarytrees": ("depth", "threads"), "churn": ("n", "ring"),
          "pauses": ("live_mib", "ops", "threads", "work")}
runs = defaultdict(list)
order = []
for line in open(res_f):
    g, _, rest = line.rstrip("\n").split("\t", 2)
    f = dict(kv.split("=", 1) for kv in rest.split()[1:])
    key = (f["workload"],) + tuple(f[p] for p in PARAMS[f["workload"]])
    if key not in order:
        order.append(key)
    runs[(key, g)].append(f)

def vals(key, g, field):
    out = []
    for f in runs.get((key, g), []):
        try:
            v = float(f[field])
        except (KeyError, ValueError):
            continue
        if v == v:  # not nan
            out.append(v)
    return out

def med(key, g, field):
    v = vals(key, g, field)
    return statistics.median(v) if v else None

def fmt(x, d=2):
    return "—" if x is None else f"{x:.{d}f}"

def spread(key, g, field, d=2, scale=1):
    v = vals(key, g, field)
    return f"{min(v) * scale:.{d}f}–{max(v) * scale:.{d}f}" if v else "—"

def mib(kib):
    return None if kib is None else kib / 1024

def pct(v, p):
    v = sorted(v)
    if not v:
        return None
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]

def title(key):
    w = key[0]
    if w == "binarytrees":
        return (f"binary-trees, depth {key[1]}, {key[2]} thread{'s' if key[2] != '1' else ''}",
                f"`gcbench binarytrees {key[1]} {key[2]}`: the Benchmarks Game's program: "
                f"a stretch tree of depth {int(key[1]) + 1}, a long-lived tree of depth "
                f"{key[1]}, then 2^({key[1]}−d+4) trees of each depth d = 4, 6, … {key[1]}, "
                f"built bottom-up and checked (nodes of two pointers, 16 B)"
                + (f"; each depth's trees shared among {key[2]} threads" if key[2] != "1"
                   else "") + ". goheap: `gh_new` of a `GH_TYPE` node, children stored "
                "through `GH_STORE_PTR`; Boehm: `GC_MALLOC`.")
    if w == "churn":
        return (f"allocation churn, {int(key[1]) / 1e6:g}M allocations",
                f"`gcbench churn {key[1]} {key[2]}`: {int(key[1]) / 1e6:g}M allocations of "
                f"16–256 B (uniform in steps of 16), half with a pointer and half "
                f"pointer-free (Boehm: `GC_MALLOC_ATOMIC`, whose memory is not cleared), "
                f"each replacing a random one of a ring of {key[2]} live objects (a root); "
                f"one new pointerful object in two is linked from a random older one "
                f"(through the write barrier). One thread.")
    computing = key[4] != "0"
    return (f"pauses, {key[1]} MiB live on {key[3]} threads"
            + (f", {key[4]} rounds of computing per operation" if computing else ""),
            f"`gcbench pauses {key[1]} {key[2]} {key[3]}"
            + (f" {key[4]}" if computing else "") + f"`: {key[3]} threads build {key[1]} MiB "
            f"of live objects (an array of pointers to lists of 16 nodes of 64 B), then "
            f"make {int(key[2]) / 1e6:g}M operations in all, each replacing a random node "
            f"of a random list of their own (a walk of 0–15 nodes, two pointer stores) and "
            f"allocating four 1 KiB pointer-free temporaries, which it fills"
            + (f", then hashes them {key[4]} times (the mutator computes between its "
               f"allocations)" if computing else "")
            + ". *time* is the mutating phase; the build is apart.")

out = []
p = out.append
p("# Collector benchmark: goheap against the Boehm collector\n")
p(f"`scripts/bench-gc.sh` with `tests/bench/gcbench.c`: goheap's collector "
  f"(`gh_new`, `build/hosted/libgoheap.a`) against Debian's Boehm-Demers-Weiser "
  f"collector (libgc {meta['ver_libgc']}: conservative, not incremental, so every "
  f"collection marks with the world stopped, on as many marker threads as CPUs). "
  f"Both with their defaults (goheap: `gh_set_gc_percent(100)`, concurrent marking). "
  f"With more than one thread, the main thread waits for the others inside "
  f"`GC_do_blocking` (Boehm) or `gh_hosted_do_blocking` (goheap), so that neither "
  f"collector stops it. "
  f"{meta['rounds']} rounds, interleaved (each round runs every collector once per "
  f"workload, in an order that rotates); **median** over the rounds, **spread** "
  f"min–max, **Boehm ÷ goheap** = Boehm's median ÷ goheap's, from the same run "
  f"(above 1×: goheap is faster, or smaller). Peak RSS is the process's VmHWM.\n")
p(f"Sizes: `{meta['sizes']}` (scripts/bench-gc.sh's variables), "
  + ("small ones (`QUICK=1`), for a quick look; " if meta["quick"] == "1" else
     "chosen to keep `make bench`'s collector part within about 8 minutes on this "
     "machine; ")
  + f"the "
  f"Benchmarks Game's binary-trees depth is 21 (`BT_DEPTH=21 BT2_DEPTH=21`). "
  f"goheap's hosted reservation: `GOHEAP_HOSTED_MEM={meta['hosted_mem']}`.\n")
p(f"Machine: {meta['cpu']}, {meta['ncpu']} CPUs, shared: load average "
  f"{meta['load_before']} before, {meta['load_after']} after "
  f"({meta['timed_secs']} s of timed runs); gcc {meta['ver_gcc']}. Timings on it are "
  f"noisy: compare within a table.\n")
if sharing:
    p("Sharing probe (`gcbench sharing`, before each round; no collector): a thread "
      "that writes 9 MiB at random ran "
      + ", ".join(f"{float(x['penalty']):.2f}×" for x in sharing)
      + " as long (round by round) while another CPU read the same memory as it did "
      "alone. Concurrent marking is such a reader: goheap's mark thread reads the "
      "heap the program writes, and every store into a line it holds costs a round "
      "trip between the two CPUs' caches. Near 1× the CPUs share a cache. Well above "
      "it they do not (a virtual machine's CPUs may be placed on different chiplets, "
      "and placed anew later), and goheap's program threads run slower while its "
      "mark thread marks, which Boehm's stop-the-world marking does not cause. (A mark "
      "of at most 8 MiB of scan work, as churn's, stays on the program's CPUs.)\n")

# --- summary --------------------------------------------------------------------
p("## Summary\n")
p("| workload | goheap s | Boehm s | Boehm ÷ goheap | goheap peak RSS MiB | "
  "Boehm peak RSS MiB | Boehm ÷ goheap | runs |")
p("|---|---|---|---|---|---|---|---|")
for key in order:
    tg, tb = med(key, "goheap", "secs"), med(key, "boehm", "secs")
    rg, rb = mib(med(key, "goheap", "peak_rss_kib")), mib(med(key, "boehm", "peak_rss_kib"))
    n = min(len(runs.get((key, g), [])) for g in gcs)
    p(f"| {title(key)[0]} | {fmt(tg)} | {fmt(tb)} | {ratio(tb, tg)} | {fmt(rg, 0)} | "
      f"{fmt(rb, 0)} | {ratio(rb, rg)} | {n} |")
p("")

# --- one table per workload ------------------------------------------------------
p("## Workloads\n")
for key in order:
    t, desc = title(key)
    p(f"### {t}\n\n{desc}\n")
    these = pause_gcs if key[0] == "pauses" else gcs
    extra = []
    if key[0] == "churn":
        extra = [("ns/alloc", "ns_per_alloc", 1, 1)]
    if key[0] == "pauses":
        extra = [("ops/s", "ops_per_sec", 0, 1), ("build s", "build_secs", 2, 1)]
    p("| collector | time s | spread | Boehm ÷ this | peak RSS MiB | "
      + "".join(f"{h} | " for h, *_ in extra)
      + "collections | pauses, total ms | longest pause ms | runs |")
    p("|---" * (9 + len(extra)) + "|")
    tb = med(key, "boehm", "secs")
    for g in these:
        m = med(key, g, "secs")
        row = [g, fmt(m), spread(key, g, "secs"), ratio(tb, m),
               fmt(mib(med(key, g, "peak_rss_kib")), 0)]
        row += [fmt(med(key, g, f), d) for _, f, d, _ in extra]
        row += [fmt(med(key, g, "gc_cycles"), 0), fmt(med(key, g, "pause_total_ms"), 1),
                fmt(med(key, g, "pause_max_ms"), 2), str(len(runs.get((key, g), [])))]
        p("| " + " | ".join(row) + " |")
    p("")
    if key[0] != "pauses":
        continue
    p("#### Stop-the-world pauses and mutator utilization\n")
    p(f"The pauses of the collections that ran while the threads mutated the "
      f"{key[1]} MiB heap (not during its build), pooled over all rounds: goheap's from "
      f"`gh_read_memstats` (`PauseNs`: one entry per cycle, its two pauses added up), "
      f"Boehm's from its collection events (`GC_EVENT_PRE_STOP_WORLD` to "
      f"`GC_EVENT_POST_START_WORLD`, one per collection); p99 is the nearest rank.\n")
    p("Utilization: the mutator threads count each operation in the 1-ms bucket it ends "
      "in, and note after each whether a collection is under way (goheap: the write "
      "barrier is on, i.e. marking; Boehm: between `GC_EVENT_START` and `GC_EVENT_END`), "
      "as does a thread outside both collectors every 0.5 ms, for the time no mutator "
      "runs; Boehm's collections are also taken from its events. **Undisturbed rate**: the 99th "
      "percentile of the mutators' operations per ms over all 10-ms windows of the "
      "mutating phase. **Utilization while collecting / otherwise**: their mean rate in "
      "the milliseconds with / without a collection under way ÷ the undisturbed rate "
      "(otherwise includes sweeping, which both collectors do lazily as they allocate, "
      "and page faults). **MMU** (minimum mutator "
      "utilization) over 10 ms and 100 ms: the fewest operations in any window of that "
      "length ÷ what the undisturbed rate does in it, at most 1 (a pause longer than the "
      "window gives 0). This is a rate, not the time the mutators ran: an operation "
      "that helps the collector (a goheap mark assist) counts as slow mutator work. The "
      "VM takes the CPUs away now and then, which lowers the MMU without any "
      "collection. **CPU share while collecting / otherwise**: the mutators' thread CPU "
      "time in those milliseconds ÷ the CPUs they could use (one each, up to the "
      "machine's): the time they ran, Go's measure, which leaves out how much slower "
      "each operation is meanwhile; collector work on a mutator's thread counts as the "
      "mutator's (goheap's assists, and the whole of a Boehm collection, which the "
      "allocating thread runs: for Boehm this column says nothing).\n")
    p("| collector | pauses | min ms | median ms | p99 ms | max ms | GC time | "
      "undisturbed ops/ms | utilization while collecting | otherwise | CPU share while "
      "collecting | otherwise | MMU 10 ms | MMU 100 ms |")
    p("|---" * 14 + "|")
    for g in these:
        pooled = []
        for f in runs.get((key, g), []):
            if f.get("pauses_ms"):
                pooled += [float(x) for x in f["pauses_ms"].split(",")]
        row = [g, str(len(pooled))] + [fmt(pct(pooled, q), 2) for q in (0, 50, 99, 100)]
        gt = med(key, g, "gc_time_frac")
        row += ["—" if gt is None else f"{100 * gt:.0f}%", fmt(med(key, g, "base_ops_per_ms"), 0)]
        row += [fmt(med(key, g, f)) for f in ("util_collecting", "util_otherwise",
                                               "cpu_collecting", "cpu_otherwise", "mmu_10ms",
                                               "mmu_100ms")]
        p("| " + " | ".join(row) + " |")
    p("")

p(failures_section(fail_f))
print("\n".join(out))
EOF

# The pause histogram, as PNG (scripts/bench_plot.py).
rm -f "$OUT/gc-pauses.png"
plot_py=$(scripts/plot-python.sh)
PYTHONPATH=scripts "$plot_py" - "$results" "$OUT/gc-pauses.png" <<'PLOT'
import math, sys
from bench_plot import pyplot
plt = pyplot("bench-gc.sh")
import matplotlib.ticker

res_f, png = sys.argv[1:]
pooled, what = {}, None
for line in open(res_f):
    g, _, rest = line.rstrip("\n").split("\t", 2)
    f = dict(kv.split("=", 1) for kv in rest.split()[1:])
    if f["workload"] != "pauses":
        continue
    what = f"{f['live_mib']} MiB live, {f['threads']} mutator threads"
    if f.get("pauses_ms"):
        pooled.setdefault(g, []).extend(float(x) for x in f["pauses_ms"].split(","))
if not pooled:
    sys.exit(0)
colors = {"goheap": "#2a7ab9", "goheap-stw": "#8fb7d9", "boehm": "#e07b39"}
lo = max(min(min(v) for v in pooled.values()), 1e-3)
hi = max(max(v) for v in pooled.values())
edges = [lo * (hi * 1.01 / lo) ** (i / 40) for i in range(41)]
fig, ax = plt.subplots(figsize=(10, 4.5))
for g, v in pooled.items():
    ax.hist(v, bins=edges, alpha=0.7, label=f"{g} ({len(v)} pauses)", color=colors.get(g))
ax.set_xscale("log")
ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
ax.set_xlabel("stop-the-world pause, ms (log)")
ax.set_ylabel("pauses")
ax.set_title(f"GC pauses while mutating ({what}), all rounds")
ax.grid(axis="both", which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(png, dpi=100)
PLOT
# The mutators' operations per 10 ms in the first round's pauses runs, the
# milliseconds with a collection under way shaded.
rm -f "$OUT/gc-mutator.png"
PYTHONPATH=scripts "$plot_py" - "$OUT/gc-mutator.png" "$work"/series-*.txt <<'PLOT'
import os, sys
from bench_plot import pyplot
plt = pyplot("bench-gc.sh")

png, *files = sys.argv[1:]
files = [f for f in files if os.path.getsize(f)]
if not files:
    sys.exit(0)
fig, axs = plt.subplots(len(files), 1, figsize=(11, 2.6 * len(files)), squeeze=False,
                        sharex=True)
for ax, f in zip(axs[:, 0], sorted(files)):
    g = os.path.basename(f)[len("series-"):-len(".txt")]
    rows = [tuple(map(int, line.split())) for line in open(f)]
    t0 = rows[0][0]
    ops = {}
    for ms, o, _ in rows:
        ops[(ms - t0) // 10] = ops.get((ms - t0) // 10, 0) + o
    xs = sorted(ops)
    ax.plot([x / 100 for x in xs], [ops[x] for x in xs], linewidth=0.8, color="black")
    start = None
    for ms, _, c in rows + [(rows[-1][0] + 1, 0, 0)]:
        if c and start is None:
            start = ms
        elif not c and start is not None:
            ax.axvspan((start - t0) / 1000, (ms - t0) / 1000, color="#e07b39", alpha=0.3,
                       linewidth=0)
            start = None
    ax.set_ylabel("operations / 10 ms")
    ax.set_title(f"{g}: the mutators' operations per 10 ms (shaded: a collection under way)",
                 fontsize="medium")
    ax.grid(alpha=0.3)
axs[-1, 0].set_xlabel("seconds into the mutating phase (round 1)")
fig.tight_layout()
fig.savefig(png, dpi=100)
PLOT
for f in "$OUT"/gc-pauses.png "$OUT"/gc-mutator.png; do
  [ -f "$f" ] && echo "bench-gc.sh: plot $f" >&2
done

cat "$OUT/gc.md"
if [ -s "$failures" ]; then
  echo "bench-gc.sh: some runs failed; see $OUT/gc.md" >&2
  exit 1
fi
