#!/usr/bin/env bash
# bench-malloc.sh — goheap's malloc (build/hosted/libgoheap.so, LD_PRELOAD)
# against glibc malloc, jemalloc, gperftools' tcmalloc and mimalloc, with
# tests/bench/malloc.c (micro workloads) and build/bench/workloads (the
# workloads of tests/bench/workloads.c, after mimalloc-bench's, on 1 and 2
# threads). Writes build/bench/malloc.md and prints it; plots the workloads
# into build/bench/workloads-*.png (python3-matplotlib).
#
#   scripts/bench-malloc.sh            (make bench runs it after make hosted)
#   ROUNDS=3 scripts/bench-malloc.sh   fewer rounds, for a quick look
#   WL_SCALE=10 scripts/bench-malloc.sh  smaller mimalloc-bench workloads
#
# The machine is small and shared, so no single time means much: every
# workload runs in ROUNDS (default 7) rounds, and within a round every
# allocator runs once, back to back, in an order that rotates from round to
# round; the tables give the median, the spread (min–max) and the ratio to
# goheap's median. The micro workloads run ROUNDS (default 7) rounds, the
# mimalloc-bench ones WL_ROUNDS (default ROUNDS, else 5) at WL_SCALE
# (default 100, workload.h's WL_SCALE_BENCH). With valgrind present,
# callgrind counts the instructions of a malloc+free pair (the difference
# between two run lengths, so start-up cancels): that number does not depend
# on the load. About 8 minutes on a busy 2-CPU machine.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
cd "$(dirname "$0")/.."

WL_ROUNDS=${WL_ROUNDS:-${ROUNDS:-5}}
ROUNDS=${ROUNDS:-7}
WL_SCALE=${WL_SCALE:-100}
WL_THREADS=(1 2)
OUT=build/bench
BIN=$OUT/malloc
WLBIN=$OUT/workloads
LIBDIR=/usr/lib/$(gcc -print-multiarch)

# The peers' libraries, from Debian's packages (scripts/deps.sh installs them).
ALLOCS=(goheap glibc jemalloc tcmalloc mimalloc)
declare -A LIB=(
  [goheap]=$PWD/build/hosted/libgoheap.so
  [glibc]=""
  [jemalloc]=$LIBDIR/libjemalloc.so.2          # libjemalloc2
  [tcmalloc]=$LIBDIR/libtcmalloc_minimal.so.4  # libtcmalloc-minimal4
  [mimalloc]=$LIBDIR/libmimalloc.so.2          # libmimalloc2.0
)
declare -A PKG=([jemalloc]=libjemalloc2 [tcmalloc]=libtcmalloc-minimal4 [mimalloc]=libmimalloc2.0)

die() { echo "bench-malloc.sh: $*" >&2; exit 1; }

[ -f "${LIB[goheap]}" ] || die "${LIB[goheap]} is missing: run 'make hosted' first"
[ -x "$WLBIN" ] || die "$WLBIN is missing: run 'make $WLBIN' first"
for a in jemalloc tcmalloc mimalloc; do
  [ -f "${LIB[$a]}" ] ||
    die "${LIB[$a]} ($a) is missing: install Debian's ${PKG[$a]} (scripts/deps.sh does)"
done

# The workloads: arguments to build/bench/malloc, each run once per allocator
# per round. Each run takes about 0.1-0.3 s.
WORKLOADS=(
  "pair 16 5000000"
  "pair 64 5000000"
  "pair 256 5000000"
  "batch 64 5000000 100"
  "batch 64 5000000 10000"
  "batch 1024 2000000 1000"
  "random 300000 10000"
  "threads 2 2000000"
)
CG_N1=100000 CG_N2=200000   # callgrind: pair 64 with these two N

# The mimalloc-bench workloads (build/bench/workloads list): each runs once
# per allocator per thread count per round, 0.2-1 s a run.
mapfile -t WL_NAMES < <("$WLBIN" list | cut -f1)
[ ${#WL_NAMES[@]} -gt 0 ] || die "$WLBIN list printed no workloads"

mkdir -p "$OUT"
gcc -std=gnu11 -O2 -g -Wall -Wextra -pthread tests/bench/malloc.c -o "$BIN" -lm

results_workdir

# run ALLOC ROUND ARGS...: one run of $BIN (run_bin: of BIN), its lines into
# $results; a failure (exit status, timeout, a line missing) is recorded with
# its command and output.
run() { run_bin "$BIN" "$@"; }
run_bin() {
  local bin=$1 a=$2 r=$3
  shift 3
  local cmd="LD_PRELOAD=${LIB[$a]} $bin $*"
  [ "$a" = glibc ] && cmd="$bin $*"
  local rc=0
  LD_PRELOAD=${LIB[$a]} timeout 120 "$bin" "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [ $rc -ne 0 ] || [ ! -s "$work/out" ]; then
    {
      echo "$a (round $r): \`$cmd\` exited with status $rc$([ $rc -eq 124 ] && echo ' (timeout)')"
      sed 's/^/    /' "$work/out" "$work/err" | tail -n 20
    } >>"$failures"
    echo "bench-malloc.sh: FAILED: $cmd (status $rc)" >&2
    return 0
  fi
  sed "s/^/$a\t$r\t/" "$work/out" >>"$results"
}

# LD_PRELOAD must have taken: malloc comes from the library we named.
for a in "${ALLOCS[@]}"; do
  got=$(LD_PRELOAD=${LIB[$a]} "$BIN" which | sed 's/^which //')
  want=${LIB[$a]:-libc.so}
  case "$got" in
  *"$(basename "$want")"*) ;;
  *) die "$a: malloc comes from '$got', not $want" ;;
  esac
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
n=${#ALLOCS[@]}
nr=$((ROUNDS > WL_ROUNDS ? ROUNDS : WL_ROUNDS))
for ((r = 1; r <= nr; r++)); do
  echo "bench-malloc.sh: round $r of $nr" >&2
  if [ "$r" -le "$ROUNDS" ]; then
    for w in "${WORKLOADS[@]}"; do
      for ((i = 0; i < n; i++)); do
        a=${ALLOCS[$(((i + r - 1) % n))]}
        # shellcheck disable=SC2086
        run "$a" "$r" $w
      done
    done
  fi
  if [ "$r" -le "$WL_ROUNDS" ]; then
    for w in "${WL_NAMES[@]}"; do
      for t in "${WL_THREADS[@]}"; do
        for ((i = 0; i < n; i++)); do
          a=${ALLOCS[$(((i + r - 1) % n))]}
          run_bin "$WLBIN" "$a" "$r" "$w" "$t" "$WL_SCALE"
        done
      done
    done
  fi
done
timed_secs=$((SECONDS - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Callgrind: instructions per malloc+free pair = (Ir(N2) - Ir(N1)) / (N2 - N1).
cg=$work/callgrind.tsv
: >"$cg"
if command -v valgrind >/dev/null; then
  echo "bench-malloc.sh: callgrind" >&2
  for a in "${ALLOCS[@]}"; do
    ir=()
    for N in $CG_N1 $CG_N2; do
      rc=0
      LD_PRELOAD=${LIB[$a]} timeout 300 valgrind --tool=callgrind \
        --callgrind-out-file="$work/cg.out" "$BIN" pair 64 "$N" >"$work/out" 2>"$work/err" || rc=$?
      v=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$work/err")
      if [ $rc -ne 0 ] || [ -z "$v" ]; then
        {
          echo "$a: \`LD_PRELOAD=${LIB[$a]} valgrind --tool=callgrind $BIN pair 64 $N\` exited with status $rc"
          sed 's/^/    /' "$work/out" "$work/err" | tail -n 20
        } >>"$failures"
        echo "bench-malloc.sh: FAILED: callgrind $a pair 64 $N" >&2
        v=""
      fi
      ir+=("$v")
    done
    printf '%s\t%s\t%s\n' "$a" "${ir[0]}" "${ir[1]}" >>"$cg"
  done
fi

{
  machine_meta
  echo "cg_n	$CG_N1 $CG_N2"
  echo "ver_glibc	$(version libc6)"
  echo "ver_jemalloc	$(version libjemalloc2)"
  echo "ver_tcmalloc	$(version libtcmalloc-minimal4)"
  echo "ver_mimalloc	$(version libmimalloc2.0)"
  echo "ver_valgrind	$(version valgrind)"
  for a in "${ALLOCS[@]}"; do echo "lib_$a	${LIB[$a]:-(none: the C library)}"; done
  for w in "${WORKLOADS[@]}"; do echo "workload	$w"; done
  echo "wl_rounds	$WL_ROUNDS"
  echo "wl_scale	$WL_SCALE"
  echo "wl_threads	${WL_THREADS[*]}"
  "$WLBIN" list | sed 's/^/wl	/'
} >"$work/meta.tsv"

PYTHONPATH=scripts python3 - "$work/meta.tsv" "$results" "$cg" "$failures" "${ALLOCS[@]}" \
  >"$OUT/malloc.md" <<'EOF'
import math, statistics, sys
from collections import defaultdict

meta_f, res_f, cg_f, fail_f, *allocs = sys.argv[1:]
from bench_results import failures_section, load, median, ratio
meta, workloads, wls, vals = load(meta_f, res_f)

def med(a, key):
    return median(vals, a, key)

def fmt(x, d=1):
    return "—" if x is None else f"{x:.{d}f}"

def spread(a, key, d=1):
    v = vals.get((a, key))
    return f"{min(v):.{d}f}–{max(v):.{d}f}" if v else "—"

def fmt_x(x):
    return "—" if x is None else f"{x:.2f}×"

def n_runs(a, key):
    return len(vals.get((a, key), []))

out = []
p = out.append
p("# malloc benchmark: goheap against glibc, jemalloc, tcmalloc and mimalloc\n")
p(f"`scripts/bench-malloc.sh` with `tests/bench/malloc.c` (micro workloads) and "
  f"`tests/bench/workloads.c` (after mimalloc-bench); every allocator but glibc "
  f"through `LD_PRELOAD`. {meta['rounds']} rounds of the micro workloads and "
  f"{meta['wl_rounds']} of mimalloc-bench's, interleaved (each round runs every "
  f"allocator once per workload, in an order that rotates); **median** over the rounds, "
  f"**spread** min–max, **vs goheap** = the allocator's median ÷ goheap's "
  f"(below 1× is faster or smaller than goheap).\n")
p(f"Machine: {meta['cpu']}, {meta['ncpu']} CPUs, shared: load average "
  f"{meta['load_before']} before, {meta['load_after']} after "
  f"({meta['timed_secs']} s of timed runs). Timings on it are noisy; the callgrind "
  f"instruction counts are not.\n")
p("| allocator | library | version |\n|---|---|---|")
vers = {"goheap": "this tree", "glibc": meta["ver_glibc"], "jemalloc": meta["ver_jemalloc"],
        "tcmalloc": meta["ver_tcmalloc"] + " (gperftools, tcmalloc_minimal)",
        "mimalloc": meta["ver_mimalloc"]}
for a in allocs:
    p(f"| {a} | `{meta['lib_' + a]}` | {vers.get(a, '?')} |")
p("")

# --- summary -----------------------------------------------------------------
pairs = [w.split()[1] for w in workloads if w.startswith("pair ")]
cg = {}
for line in open(cg_f):
    a, i1, i2 = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    n1, n2 = map(int, meta["cg_n"].split())
    cg[a] = (int(i1), int(i2), (int(i2) - int(i1)) / (n2 - n1)) if i1 and i2 else None

def headline(a):
    m = [med(a, f"pair {s}") for s in pairs]
    return statistics.median(m) if m and None not in m else None

def threads_key(kind):
    for w in workloads:
        if w.startswith("threads "):
            return f"threads {w.split()[1]} {kind}"
    return None

p("## Summary\n")
p(f"Headline: ns per malloc+free pair, the median over sizes {', '.join(pairs)} B of "
  f"each size's median. Ir/pair: instructions per `pair 64` malloc+free (callgrind), "
  f"loop included. RSS/live: peak RSS ÷ peak live bytes in `random`.\n")
hg = headline("goheap")
cgg = cg.get("goheap")
tk = threads_key("handoff")
p("| allocator | pair ns (headline) | vs goheap | Ir/pair | vs goheap | "
  "cross-thread handoff ns | vs goheap | random RSS/live | vs goheap |")
p("|---|---|---|---|---|---|---|---|---|")
for a in allocs:
    h = headline(a)
    c = cg.get(a)
    row = [a, fmt(h, 2), ratio(h, hg)]
    row += [fmt(c[2], 1) if c else "—", ratio(c[2], cgg[2]) if c and cgg else "—"]
    t = med(a, tk) if tk else None
    row += [fmt(t, 1), ratio(t, med("goheap", tk) if tk else None)]
    rr = med(a, "random rss_ratio")
    row += [fmt(rr, 3), ratio(rr, med("goheap", "random rss_ratio"))]
    p("| " + " | ".join(row) + " |")
p("")

# --- mimalloc-bench workloads ------------------------------------------------
def gmean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None

p("## Workloads after mimalloc-bench\n")
p(f"`build/bench/workloads NAME THREADS {meta['wl_scale']}`: the workloads of "
  f"`tests/bench/workloads.c`, re-implemented from the published descriptions of "
  f"mimalloc-bench's benchmarks (the same code runs inside the reference kernel: "
  f"`make bench-kernel`). The work is fixed and shared out among the threads, so "
  f"ns/op is wall time ÷ (mallocs + frees + reallocs of all threads): it halves when "
  f"an allocator scales perfectly to 2 threads on this 2-CPU machine. Peak RSS = "
  f"VmHWM of the process. Each cell: the median over the rounds, and in brackets the "
  f"ratio to goheap's median (below 1× is faster or smaller than goheap). The last "
  f"row is the geometric mean of the ratios. Plots: `workloads-t1.png`, "
  f"`workloads-t2.png` (time ratios) and `workloads-rss.png`.\n")
p("| workload | what it does |\n|---|---|")
for name, summ in wls:
    p(f"| {name} | {summ} |")
p("")
for t in meta["wl_threads"].split():
    p(f"### {t} thread{'s' if t != '1' else ''}\n")
    p("| workload | " + " | ".join(f"{a} ns/op" for a in allocs) + " | "
      + " | ".join(f"{a} RSS MiB" for a in allocs) + " | runs |")
    p("|---" * (2 * len(allocs) + 2) + "|")
    ratios = defaultdict(lambda: ([], []))
    for name, _ in wls:
        kt, kr = f"wl {name} {t} ns_per_op", f"wl {name} {t} peak_rss_kib"
        gt, gr = med("goheap", kt), med("goheap", kr)
        cells = []
        for a in allocs:
            m = med(a, kt)
            cells.append(fmt(m, 1) if a == "goheap" else f"{fmt(m, 1)} ({ratio(m, gt)})")
            if m and gt:
                ratios[a][0].append(m / gt)
        for a in allocs:
            m = med(a, kr)
            mib = m / 1024 if m else None
            cells.append(fmt(mib, 1) if a == "goheap" else f"{fmt(mib, 1)} ({ratio(m, gr)})")
            if m and gr:
                ratios[a][1].append(m / gr)
        runs = min(n_runs(a, kt) for a in allocs)
        p(f"| {name} | " + " | ".join(cells) + f" | {runs} |")
    gm = [("1.00×" if a == "goheap" else fmt_x(gmean(ratios[a][0]))) for a in allocs]
    gm += [("1.00×" if a == "goheap" else fmt_x(gmean(ratios[a][1]))) for a in allocs]
    p("| **geometric mean of the ratios** | " + " | ".join(gm) + " | |")
    p("")

# --- one table per workload ---------------------------------------------------
def table(title, key, unit, d=2, note=""):
    p(f"### {title}\n")
    if note:
        p(note + "\n")
    p(f"| allocator | median {unit} | spread | vs goheap | runs |\n|---|---|---|---|---|")
    g = med("goheap", key)
    for a in allocs:
        m = med(a, key)
        p(f"| {a} | {fmt(m, d)} | {spread(a, key, d)} | {ratio(m, g)} | {n_runs(a, key)} |")
    p("")

p("## Workloads\n")
for w in workloads:
    f = w.split()
    if f[0] == "pair":
        table(f"`pair {f[1]} {f[2]}`: malloc({f[1]}), touch a byte, free", f"pair {f[1]}",
              "ns/pair")
    elif f[0] == "batch":
        table(f"`batch {f[1]} {f[2]} {f[3]}`: {f[3]} × malloc({f[1]}), then free them all "
              "in order", f"batch {f[1]} {f[3]}", "ns/(malloc+free)")
    elif f[0] == "threads":
        t = f[1]
        table(f"`threads {t} {f[2]}`: {t} threads, each malloc(64)+free pairs",
              f"threads {t} pair", "ns/pair/thread",
              note="Wall time ÷ pairs per thread, all threads at once (equals one "
                   "thread's time when they scale perfectly).")
        table(f"`threads {t} {f[2]}`: cross-thread handoff", f"threads {t} handoff",
              "ns/pair/thread",
              note=f"Thread i allocates (16..256 B) into a queue, thread i+1 frees: every "
                   f"free is of another thread's object. Wall time ÷ objects per thread.")
    elif f[0] == "random":
        p(f"### `random {f[1]} {f[2]}`: random sizes, a window of {f[2]} live objects\n")
        p("Sizes log-uniform 8 B–64 KiB, 1 in 64 64 KiB–1 MiB; 1 in 8 replacements by "
          "realloc; every page of every object touched. Peak live = the largest sum of "
          "requested sizes; peak RSS = VmHWM. The ns/op includes the page faults.\n")
        p("| allocator | ns/op median | spread | vs goheap | peak RSS MiB | peak live MiB "
          "| RSS/live median | spread | vs goheap | runs |")
        p("|---|---|---|---|---|---|---|---|---|---|")
        g = med("goheap", "random ns_per_op")
        gr = med("goheap", "random rss_ratio")
        for a in allocs:
            m = med(a, "random ns_per_op")
            rss = med(a, "random peak_rss_kib")
            live = med(a, "random peak_live_kib")
            rr = med(a, "random rss_ratio")
            p(f"| {a} | {fmt(m, 1)} | {spread(a, 'random ns_per_op', 1)} | {ratio(m, g)} "
              f"| {fmt(rss and rss / 1024, 1)} | {fmt(live and live / 1024, 1)} "
              f"| {fmt(rr, 3)} | {spread(a, 'random rss_ratio', 3)} | {ratio(rr, gr)} "
              f"| {n_runs(a, 'random rss_ratio')} |")
        p("")

# --- callgrind ---------------------------------------------------------------
p("## Instructions per malloc+free (callgrind)\n")
if not cg:
    p("valgrind is not installed: no instruction counts.\n")
else:
    n1, n2 = meta["cg_n"].split()
    p(f"`valgrind --tool=callgrind build/bench/malloc pair 64 N` for N = {n1} and {n2}: "
      f"Ir per pair = (Ir({n2}) − Ir({n1})) ÷ {int(n2) - int(n1)}, so start-up cancels. "
      f"It includes the benchmark's loop (about 10 instructions: the call sites, the "
      f"touch, the counter) and the PLT hops. valgrind {meta['ver_valgrind']}.\n")
    p(f"| allocator | Ir, N={n1} | Ir, N={n2} | Ir/pair | vs goheap |\n|---|---|---|---|---|")
    for a in allocs:
        c = cg.get(a)
        if c:
            p(f"| {a} | {c[0]:,} | {c[1]:,} | {c[2]:.1f} | "
              f"{ratio(c[2], cgg[2]) if cgg else '—'} |")
        else:
            p(f"| {a} | failed | failed | — | — |")
    p("")

p(failures_section(fail_f))
print("\n".join(out))
EOF
# Plots of the mimalloc-bench workloads: time ratio to goheap per thread
# count, and peak RSS, as PNG (scripts/bench_plot.py).
rm -f "$OUT"/workloads-*.png
plot_py=$(scripts/plot-python.sh)
PYTHONPATH=scripts "$plot_py" - "$work/meta.tsv" "$results" "$OUT" "${ALLOCS[@]}" <<'PLOT'
import sys
from bench_plot import pyplot
plt = pyplot("bench-malloc.sh")

meta_f, res_f, out, *allocs = sys.argv[1:]
from bench_results import load, median
meta, _, wls, vals = load(meta_f, res_f)
names = [name for name, _ in wls]

def med(a, key):
    return median(vals, a, key)

colors = {"goheap": "#2a7ab9", "glibc": "#7f7f7f", "jemalloc": "#e07b39",
          "tcmalloc": "#3b9d5d", "mimalloc": "#b04a9a"}
threads = meta["wl_threads"].split()
width = 0.8 / len(allocs)
xs = range(len(names))

def bars(ax, value, ylabel, title, ref_line):
    for j, a in enumerate(allocs):
        ys = [value(a, w) for w in names]
        ax.bar([x + (j - (len(allocs) - 1) / 2) * width for x in xs],
               [y if y else 0 for y in ys], width, label=a, color=colors.get(a))
    ax.set_yscale("log")
    if ref_line:
        ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(ncol=len(allocs), fontsize="small")

def ratio(a, w, t):
    m, g = med(a, f"wl {w} {t} ns_per_op"), med("goheap", f"wl {w} {t} ns_per_op")
    return m / g if m and g else None

for t in threads:
    fig, ax = plt.subplots(figsize=(11, 5))
    bars(ax, lambda a, w: ratio(a, w, t), "time ÷ goheap's (log; below 1 is faster)",
         f"mimalloc-bench workloads, {t} thread{'s' if t != '1' else ''}: "
         f"median time per operation relative to goheap "
         f"({meta['wl_rounds']} rounds, scale {meta['wl_scale']})", True)
    fig.tight_layout()
    fig.savefig(f"{out}/workloads-t{t}.png", dpi=100)
    plt.close(fig)

fig, axs = plt.subplots(len(threads), 1, figsize=(11, 4.5 * len(threads)), squeeze=False)
for ax, t in zip(axs[:, 0], threads):
    bars(ax, lambda a, w: (med(a, f"wl {w} {t} peak_rss_kib") or 0) / 1024,
         "peak RSS, MiB (log)",
         f"mimalloc-bench workloads, {t} thread{'s' if t != '1' else ''}: peak RSS (VmHWM)",
         False)
fig.tight_layout()
fig.savefig(f"{out}/workloads-rss.png", dpi=100)
plt.close(fig)
PLOT
for f in "$OUT"/workloads-*.png; do [ -f "$f" ] && echo "bench-malloc.sh: plot $f" >&2; done

cat "$OUT/malloc.md"
if [ -s "$failures" ]; then
  echo "bench-malloc.sh: some runs failed; see $OUT/malloc.md" >&2
  exit 1
fi
