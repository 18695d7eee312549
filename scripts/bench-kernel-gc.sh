#!/usr/bin/env bash
# bench-kernel-gc.sh — the collector's pauses inside the reference kernel
# under QEMU (kernel/gcbench.c), per CPU count: every CPU keeps a share of a
# live heap of binary trees and replaces parts of it while the collector
# runs concurrent cycles on its own pacing. Writes build/bench/kernel-gc.md
# (and prints it); the serial logs stay in build/bench/kernel-gc-smpN.log.
#
#   scripts/bench-kernel-gc.sh        (make bench-kernel-gc builds the image first)
#   CPUS="1 2 4 8" scripts/bench-kernel-gc.sh    also -smp 8 (slow under TCG)
#   LIVE_MIB=128 ROUNDS=400000 scripts/bench-kernel-gc.sh   a bigger heap, more cycles
#
# Builds nothing. Each CPU count is one boot with "gcbench" on the kernel
# command line; LIVE_MIB (default 64) is the live heap and ROUNDS (default
# 200000) the replacements, both shared by all CPUs, so every CPU count
# collects about as often (some 30 cycles at the defaults; each boot takes
# about a minute here). A run that fails (a damaged tree, no cycle, pause
# figures that do not add up, a failed heap check), panics or times out
# (TIMEOUT seconds, default 600) is reported, and the script exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

CPUS=${CPUS:-"1 2 4"}
LIVE_MIB=${LIVE_MIB:-64}
ROUNDS=${ROUNDS:-200000}
TIMEOUT=${TIMEOUT:-600}
MEM=${MEM:-1G}
OUT=build/bench

kernel_bench_start kernel-gc

cmdline="gcbench gcbench_live=$LIVE_MIB gcbench_rounds=$ROUNDS"
boot_each_cpu_count kernel-gc "$cmdline"

host="$(host_desc)"
qemu="$(qemu_desc)"

# The tables; exits 1 when a run failed.
python3 - "$host" "$qemu" "$MEM" "$LIVE_MIB" "$ROUNDS" "${logs[@]}" >"$OUT/kernel-gc.md" <<'EOF'
import datetime, os, re, sys

host, qemu, mem, live, rounds, *runs = sys.argv[1:]
GROUPED = {"p50", "p90", "p99", "max"}


def summary(line):
    """The key=value pairs of a "gcbench: cpus=..." line; p50..max under
    the group word before them (pause_cycles, pause_us)."""
    d, group = {}, ""
    for tok in line.split()[1:]:
        if "=" not in tok:
            group = tok
            continue
        k, v = tok.split("=", 1)
        d[f"{group}.{k}" if k in GROUPED else k] = v
    return d


def rank(sorted_vals, p):
    """Nearest-rank percentile, as kernel/gcbench.c computes it."""
    r = (len(sorted_vals) * p + 99) // 100
    return sorted_vals[max(r, 1) - 1]


cycle_re = re.compile(r"^gcbench cycle n=(\d+) steady=(\d) pause_ns=(\d+) pause_cycles=(\d+) "
                      r"end_ms=(\d+)")
results, failed = {}, []
for run in runs:
    cpus, log = run.split("=", 1)
    cpus = int(cpus)
    text = open(log, "rb").read().decode("utf-8", "replace").replace("\r", "")
    status_f = log[: -len(".log")] + ".status"
    status = open(status_f).read().strip() if os.path.exists(status_f) else "no status"
    r = {"log": log, "problems": [], "steady": [], "all": 0, "wall": None, "tsc": None, "s": None,
         "trees": None}
    done = None
    for line in text.split("\n"):
        m = cycle_re.match(line)
        if m:
            r["all"] += 1
            if m.group(2) == "1":
                r["steady"].append((int(m.group(3)), int(m.group(4))))
            continue
        if line.startswith("gcbench: cpus="):
            r["s"] = summary(line)
        m = re.search(r"gcbench: .* keep (\d+) trees of (\d+) nodes, (\d+) bytes each.* "
                      r"TSC (\d+) kHz", line)
        if m:
            r["trees"] = tuple(int(x) for x in m.groups()[:3])
            r["tsc"] = int(m.group(4))
        if "gcbench done:" in line:
            done = line.split("gcbench done:", 1)[1].strip()
        if "gcbench: tree " in line or "PANIC on cpu" in line:
            r["problems"].append(line.split("] ", 1)[-1].strip())
        m = re.search(r"# run-qemu.sh: .* wall ([0-9.]+) s", line)
        if m:
            r["wall"] = float(m.group(1))
    if status != "qemu 33":
        r["problems"].insert(0, f"QEMU ended with \"{status}\" (33 is success, 35 a failed "
                                f"check, 37 a panic; \"timeout\" a hang or a run longer than "
                                f"TIMEOUT)")
    if done is None:
        r["problems"].append("no \"gcbench done\" line")
    elif done != "ok":
        r["problems"].append(f"gcbench done: {done}")
    s = r["s"]
    if s is None:
        r["problems"].append("no summary line")
    else:
        if int(s["cpus"]) != cpus:
            r["problems"].append(f"the kernel saw {s['cpus']} CPUs")
        ns = sorted(p for p, _ in r["steady"])
        if len(ns) != int(s["cycles"]):
            r["problems"].append(f"{len(ns)} steady cycle lines, the summary says {s['cycles']}")
        elif ns:
            mine = [rank(ns, 50), rank(ns, 90), rank(ns, 99), ns[-1]]
            theirs = [f"{mine[i] // 1000}.{mine[i] % 1000 // 100}" for i in range(4)]
            if theirs != [s[f"pause_us.{k}"] for k in ("p50", "p90", "p99", "max")]:
                r["problems"].append("the summary's percentiles differ from the cycle lines'")
        if int(s.get("lost", "0")):
            r["problems"].append(f"{s['lost']} cycles' pauses were not recorded")
    results[cpus] = r
    if r["problems"]:
        failed.append(cpus)


def us(ns):
    return f"{ns / 1000:.1f}" if ns < 10000000 else f"{ns / 1000:.0f}"


def kcycles(c):
    return f"{c / 1000:.0f}k" if c >= 100000 else f"{c / 1000:.1f}k"


today = datetime.date.today().isoformat()
tscs = sorted({round(r["tsc"] / 1000) for r in results.values() if r["tsc"]})
ok = {c: r for c, r in results.items() if r["s"] and r["steady"]}
trees = sorted({r["trees"] for r in results.values() if r["trees"]})
shape = "; ".join(f"{n} trees of {k} nodes, {b / 1024:.0f} KiB each in the heap" for n, k, b in trees)
o = []
o.append("# make bench-kernel-gc: the collector's pauses inside the reference kernel\n")
o.append(f"Measured {today} on {host}, {qemu} (TCG: the CPU is emulated in software, no KVM), "
         f"`-m {mem}`, TSC {' / '.join(f'{t} MHz' for t in tscs) or '?'}. Workload: "
         f"`kernel/gcbench.c`, {live} MiB of live binary trees ({shape or '?'}) "
         f"shared by all CPUs, {rounds} replacements of a tree or a subtree with a fresh copy, "
         f"GOGC 100. The cycles that ended while the trees were first built (the warm-up) are "
         f"left out. Logs: `build/bench/kernel-gc-smpN.log`.\n")
o.append("**These are QEMU TCG timings: the CPU and its TSC are emulated, so the figures are "
         "only meaningful as ratios within one run, not as what real hardware would show.** "
         "A cycle's pause is the sum of its stop-the-world pauses (Go's `PauseNs`: the start "
         "of marking and mark termination, and any extra stop mark termination needed); the "
         "longest single stop is goheap's `pause_max_ns`, over the whole boot, warm-up "
         "included unless marked *(steady)*.\n")
ncores = os.cpu_count() or 0
over = [c for c in sorted(results) if c >= ncores > 0]
if over:
    o.append(f"With as many vCPUs as the host's {ncores} cores or more ("
             + ", ".join(f"`-smp {c}`" for c in over) +
             "), QEMU's vCPU threads and its own threads take turns on the host, and stopping "
             "the world waits until every vCPU has run far enough to park: those pauses "
             "measure host scheduling (milliseconds) as much as the collector.\n")

if ok:
    few = min(len(r["steady"]) for r in ok.values())
    o.append("Pause per cycle, in TSC cycles" +
             (f" (with {few} cycles or so, p99 is the largest):\n" if few < 100 else ":\n"))
    o.append("| CPUs | cycles (warm-up) | p50 | p90 | p99 | max | longest single stop |")
    o.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c, r in sorted(ok.items()):
        s = r["s"]
        stop = kcycles(int(s["stop_max_cycles"])) + (" *(steady)*" if s["stop_max_steady"] == "1"
                                                      else "")
        o.append(f"| {c} | {s['cycles']} ({s['warmup']}) | " +
                 " | ".join(kcycles(int(s[f"pause_cycles.{k}"])) for k in
                            ("p50", "p90", "p99", "max")) + f" | {stop} |")
    o.append("")
    o.append("The same in µs (from the TSC's calibrated frequency):\n")
    o.append("| CPUs | p50 | p90 | p99 | max | longest single stop |")
    o.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for c, r in sorted(ok.items()):
        s = r["s"]
        ns = sorted(p for p, _ in r["steady"])
        row = [rank(ns, 50), rank(ns, 90), rank(ns, 99), ns[-1]]
        o.append(f"| {c} | " + " | ".join(us(x) for x in row) +
                 f" | {s['stop_max_us']} |")
    o.append("")
    o.append("The collector's share and the mutators' progress in the steady state. GC CPU is "
             "Go's GCCPUFraction over that time: every CPU during the pauses, plus the marking "
             "CPU time (assists and background); mark phase is the mean wall time from the "
             "start of marking to mark termination. Allocations are the mutators' `gh_new` "
             "calls per second of wall time, and their ratio to the first row's.\n")
    o.append("| CPUs | GC CPU | mark phase, ms | allocations, M/s | ratio | boot, s |")
    o.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
    base = None
    for c, r in sorted(ok.items()):
        s = r["s"]
        rate = int(s["ops"]) / max(int(s["mutator_ms"]), 1) / 1000
        base = base or rate
        wall = f"{r['wall']:.0f}" if r["wall"] is not None else "—"
        o.append(f"| {c} | {int(s['gc_cpu_permille']) / 10:.1f}% | {s['mark_ms']} | "
                 f"{rate:.2f} | {rate / base:.2f} | {wall} |")
    o.append("")
for c in failed:
    r = results[c]
    o.append(f"**-smp {c} failed:** " + "; ".join(r["problems"][:6]) + f" (see `{r['log']}`).\n")
print("\n".join(o))
for c in failed:
    print(f"bench-kernel-gc.sh: -smp {c} failed: " + "; ".join(results[c]["problems"][:6]),
          file=sys.stderr)
sys.exit(1 if failed else 0)
EOF
st=$?
cat "$OUT/kernel-gc.md"
exit $st
