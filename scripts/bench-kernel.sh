#!/usr/bin/env bash
# bench-kernel.sh — the allocation workloads of tests/bench/workloads.c inside
# the reference kernel under QEMU (kernel/bench.c), for goheap and two
# hobby-kernel-style baselines (kernel/bench_alloc.c: a first-fit free list
# and power-of-two buckets, each under one global lock), with -smp 1, 2, 4
# and 8. Writes build/bench/kernel.md (and prints it) and the plot
# build/bench/kernel.png; the serial logs stay in build/bench/kernel-smpN.log.
#
#   scripts/bench-kernel.sh           (make bench-kernel builds the image first)
#   CPUS="1 2" ROUNDS=1 scripts/bench-kernel.sh     a quick look
#   WORKLOADS=larson,rptest scripts/bench-kernel.sh  some workloads only
#   WL_SCALE=10 scripts/bench-kernel.sh              more work per run
#   BASELINE_LOCK=ticket scripts/bench-kernel.sh     the baselines under the
#                     kernel's ticket spinlock instead of test-and-set (for
#                     KVM or real cores: under QEMU here -smp 4 and 8 crawl)
#
# Builds nothing. Each CPU count is one boot with "bench" on the kernel
# command line: ROUNDS (default 3) rounds, every workload with every
# allocator in each, the allocators' order rotating; the tables give the
# median over the rounds. WL_SCALE defaults to 1 (workload.h's smoke size):
# QEMU emulates the CPU in software here, and with more vCPUs than host cores
# lock handoffs wait for host time slices, so -smp 8 at scale 1 already takes
# minutes. A run that fails, panics or times out (TIMEOUT seconds, default
# 1800) is reported, and the script exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

CPUS=${CPUS:-"1 2 4 8"}
ROUNDS=${ROUNDS:-3}
WL_SCALE=${WL_SCALE:-1}
TIMEOUT=${TIMEOUT:-1800}
MEM=${MEM:-1G}
WORKLOADS=${WORKLOADS:-}
BASELINE_LOCK=${BASELINE_LOCK:-}
OUT=build/bench

kernel_bench_start kernel "$OUT/kernel.png"

cmdline="bench${WORKLOADS:+=$WORKLOADS} bench_scale=$WL_SCALE bench_rounds=$ROUNDS"
[ -n "$BASELINE_LOCK" ] && cmdline+=" bench_lock=$BASELINE_LOCK"
boot_each_cpu_count kernel "$cmdline"

host="$(host_desc)"
qemu="$(qemu_desc)"

# The tables; exits 1 when a run failed.
medians=$(mktemp)
trap 'rm -f "$medians"' EXIT
python3 - "$medians" "$host" "$qemu" "$MEM" "$WL_SCALE" "$ROUNDS" "${logs[@]}" >"$OUT/kernel.md" <<'EOF'
import datetime, json, math, os, re, statistics, sys

results, host, qemu, mem, scale, rounds, *runs = sys.argv[1:]
ALLOCS = ["goheap", "firstfit", "pow2"]
line_re = re.compile(r"^bench (\S+) (\S+) (\d+) cycles_per_op ([0-9.]+) ops (\d+)")
data = {}  # cpus -> {(alloc, workload): [cycles/op, ...]}
order = {}  # cpus -> workloads in the kernel's order
info = {}  # cpus -> {"wall", "status", "tsc", "lock", "problems"}
failed = []
for run in runs:
    cpus, log = run.split("=", 1)
    cpus = int(cpus)
    vals, names, problems = {}, [], []
    text = open(log, "rb").read().decode("utf-8", "replace").replace("\r", "")
    status_f = log[: -len(".log")] + ".status"
    status = open(status_f).read().strip() if os.path.exists(status_f) else "no status"
    expected = None
    wall = tsc = lock = None
    done = None
    for line in text.split("\n"):
        m = line_re.match(line)
        if m:
            a, w, n, x, ops = m.groups()
            vals.setdefault((a, w), []).append(float(x))
            if w not in names:
                names.append(w)
            if int(n) != cpus:
                problems.append(f"a line reports {n} CPUs: {line}")
            continue
        m = re.search(r"bench: (\d+) workloads x (\d+) allocators x (\d+) rounds on (\d+) CPUs.*"
                      r"with a (\S+) lock, TSC (\d+) kHz", line)
        if m:
            expected = int(m.group(1)) * int(m.group(2)) * int(m.group(3))
            lock, tsc = m.group(5), int(m.group(6))
            if int(m.group(4)) != cpus:
                problems.append(f"the kernel saw {m.group(4)} CPUs")
        if "bench done:" in line:
            done = line
        if "PANIC on cpu" in line:
            problems.append(line.strip())
        m = re.search(r"# run-qemu.sh: .* wall ([0-9.]+) s", line)
        if m:
            wall = float(m.group(1))
    if status != "qemu 33":
        problems.insert(0, f"QEMU ended with \"{status}\" (33 is success; 37 a panic; "
                           f"\"timeout\" a hang or a run longer than TIMEOUT)")
    if done is None:
        problems.append("no \"bench done\" line")
    elif "gh_heap_check ok" not in done:
        problems.append(done.strip())
    got = sum(len(v) for v in vals.values())
    if expected is not None and got != expected:
        problems.append(f"{got} result lines, expected {expected}")
    data[cpus], order[cpus] = vals, names
    info[cpus] = {"wall": wall, "tsc": tsc, "lock": lock, "problems": problems, "log": log}
    if problems:
        failed.append(cpus)

def med(cpus, a, w):
    v = data[cpus].get((a, w))
    return statistics.median(v) if v else None

def fmt(x):
    if x is None:
        return "—"
    if x >= 100000:
        return f"{x / 1000:.0f}k"
    if x >= 10000:
        return f"{x / 1000:.1f}k"
    return f"{x:.0f}"

today = datetime.date.today().isoformat()
tscs = sorted({round(i["tsc"] / 1000) for i in info.values() if i["tsc"]})
locks = sorted({i["lock"] for i in info.values() if i["lock"]})
o = []
o.append("# make bench-kernel: allocation workloads inside the reference kernel\n")
o.append(f"Measured {today} on {host}, {qemu} (TCG: the CPU is emulated in software, "
         f"no KVM), `-m {mem}`, TSC {' / '.join(f'{t} MHz' for t in tscs)}. "
         f"Workloads: `tests/bench/workloads.c` (after mimalloc-bench) at scale {scale}, "
         f"{rounds} round{'s' if rounds != '1' else ''} per CPU count; every round runs each workload with each allocator, "
         f"in an order that rotates from round to round. Logs: `build/bench/kernel-smpN.log`.\n")
o.append("- **goheap**: `gh_malloc`, `gh_free`, `gh_realloc`.\n"
         "- **firstfit**: one global free list of blocks with boundary tags, first fit, "
         "coalescing on free (the OSDev-tutorial / K&R-style kmalloc).\n"
         "- **pow2**: power-of-two buckets 16 B–1 MiB, each a free list refilled a page at a "
         "time, larger requests as whole pages (the 4.4BSD-style bucket kmalloc).\n")
o.append(f"Both baselines are in `kernel/bench_alloc.c`, each under one global "
         f"{' / '.join(locks) or 'test-and-set'} spinlock with interrupts off, over a 256 MiB "
         f"region taken from goheap and started afresh for every run. Before timing, the "
         f"kernel writes every page of free RAM once, so that no allocator pays for QEMU "
         f"backing guest memory on first touch.\n")
o.append("Each cell is the median TSC cycles per operation (mallocs, frees and reallocs of all "
         "CPUs together, over the run's wall time: lower is better), and in parentheses that "
         "allocator's median ÷ goheap's (above 1: goheap is faster). **Only the ratios within "
         "one table mean something.** Each CPU count is a separate boot on an emulated CPU "
         "sharing a small host, so absolute cycles differ from real hardware and from one "
         "table to the next.\n")
ncores = os.cpu_count() or 0
if any(c > ncores for c in data):
    over = ", ".join(f"`-smp {c}`" for c in sorted(data) if c > ncores)
    if locks == ["ticket"]:
        who = ("the baselines' ticket lock hands the lock to the next CPU in line, which may "
               "be descheduled, while goheap's heap lock (`alloc/internal.h`, "
               "test-and-test-and-set) goes to whichever CPU is running.")
    else:
        who = ("the baselines' test-and-set lock and goheap's heap lock (`alloc/internal.h`, "
               "test-and-test-and-set) both go to whichever CPU is running, but a CPU "
               "descheduled while it holds one still stalls the others.")
    o.append(f"With more vCPUs than the host's {ncores} cores, QEMU's vCPU threads take turns: "
             f"a CPU holding a lock, or next in line for a ticket lock, is often not running, "
             f"and every CPU waiting for it spins through a host time slice (milliseconds). So "
             f"the {over} tables measure lock behaviour under overcommit as much as "
             f"allocation: {who}\n")

geo_rows = {}
for cpus in sorted(data):
    names = order[cpus]
    i = info[cpus]
    wall = f", wall {i['wall']:.0f} s" if i["wall"] is not None else ""
    o.append(f"## -smp {cpus}{wall}\n")
    if i["problems"]:
        o.append("**This run failed:** " + "; ".join(i["problems"][:5]) +
                 f" (see `{i['log']}`).\n")
    if not names:
        continue
    o.append("| workload | " + " | ".join(ALLOCS) + " |")
    o.append("| --- |" + " ---: |" * len(ALLOCS))
    logs = {a: [] for a in ALLOCS}
    for w in names:
        g = med(cpus, "goheap", w)
        cells = []
        for a in ALLOCS:
            m = med(cpus, a, w)
            if a == "goheap" or m is None or not g:
                cells.append(fmt(m))
            else:
                r = m / g
                cells.append(f"{fmt(m)} ({r:.2f}×)" if r >= 0.1 else f"{fmt(m)} ({r:.2g}×)")
                logs[a].append(math.log(m / g))
        o.append(f"| {w} | " + " | ".join(cells) + " |")
    geo = ["" if a == "goheap" or not logs[a] else
           f"{math.exp(sum(logs[a]) / len(logs[a])):.2f}×" for a in ALLOCS]
    o.append("| *geometric mean of the ratios* | " + " | ".join(geo) + " |")
    o.append("")
o.append("Plot: `kernel.png` (median cycles per operation, log scale, one panel per CPU "
         "count).\n")
if failed:
    o.append("**Failed runs: " + ", ".join(f"-smp {c}" for c in failed) + ".**\n")
print("\n".join(o))
json.dump({"data": {str(c): {f"{a}\t{w}": v for (a, w), v in d.items()} for c, d in data.items()},
           "order": {str(c): n for c, n in order.items()}},
          open(results, "w"))
for c in failed:
    print(f"bench-kernel.sh: -smp {c} failed: " + "; ".join(info[c]["problems"][:5]),
          file=sys.stderr)
sys.exit(1 if failed else 0)
EOF
st=$?
cat "$OUT/kernel.md"

# The plot (scripts/bench_plot.py).
plot_py=$(scripts/plot-python.sh)
PYTHONPATH=scripts "$plot_py" - "$medians" "$OUT" "$WL_SCALE" "$ROUNDS" <<'PLOT'
import json, statistics, sys
from bench_plot import pyplot
plt = pyplot("bench-kernel.sh")
results, out, scale, rounds = sys.argv[1:]
j = json.load(open(results))
cpus = sorted(j["data"], key=int)
cpus = [c for c in cpus if j["order"][c]]
if not cpus:
    sys.exit(0)
allocs = ["goheap", "firstfit", "pow2"]
colors = {"goheap": "#2a7ab9", "firstfit": "#e07b39", "pow2": "#3b9d5d"}
fig, axs = plt.subplots(len(cpus), 1, figsize=(11, 3.6 * len(cpus)), squeeze=False)
width = 0.8 / len(allocs)
for ax, c in zip(axs[:, 0], cpus):
    names = j["order"][c]
    for k, a in enumerate(allocs):
        ys = [statistics.median(j["data"][c][f"{a}\t{w}"]) if f"{a}\t{w}" in j["data"][c]
              else 0 for w in names]
        ax.bar([x + (k - (len(allocs) - 1) / 2) * width for x in range(len(names))], ys,
               width, label=a, color=colors[a])
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right")
    ax.set_ylabel("TSC cycles / op (log)")
    ax.set_title(f"in the reference kernel under QEMU, -smp {c}: median of {rounds} round"
                 f"{'s' if rounds != '1' else ''}, "
                 f"scale {scale} (lower is better; compare within a panel only)", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(ncol=len(allocs), fontsize="small")
fig.tight_layout()
fig.savefig(f"{out}/kernel.png", dpi=100)
print(f"bench-kernel.sh: plot {out}/kernel.png", file=sys.stderr)
PLOT
exit $st
