# bench-lib.sh — what the benchmark scripts share (sourced, not run).

# A Debian package's version, or "?".
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }

# The machine and run lines every results meta file starts with: needs
# load_before, load_after, timed_secs and ROUNDS set.
machine_meta() {
  echo "cpu	$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "ncpu	$(nproc)"
  echo "load_before	$load_before"
  echo "load_after	$load_after"
  echo "timed_secs	$timed_secs"
  echo "rounds	$ROUNDS"
}

# Before a kernel benchmark: build/esp.img must exist (exit 2 otherwise);
# $OUT gets made, and the last run's $OUT/$1-smp*.log, .status, $1.md and
# any further files named go.
kernel_bench_start() {
  local name=$1
  shift
  [ -f build/esp.img ] || { echo "$(basename "$0"): build/esp.img missing: run make image" >&2; exit 2; }
  mkdir -p "$OUT"
  rm -f "$OUT/$name"-smp*.log "$OUT/$name"-smp*.status "$OUT/$name.md" "$@"
}

# Boot build/esp.img once per CPU count in $CPUS with the kernel command
# line $2, each log in $OUT/$1-smpN.log; sets logs=(N=LOG ...). Needs MEM,
# TIMEOUT and OUT.
boot_each_cpu_count() {
  local name=$1 cmdline=$2 n log
  logs=()
  for n in $CPUS; do
    log=$OUT/$name-smp$n.log
    echo "$(basename "$0"): -smp $n -m $MEM, \"$cmdline\"" >&2
    scripts/run-qemu.sh --smp "$n" --mem "$MEM" --cmdline "$cmdline" --timeout "$TIMEOUT" \
      --log "$log" >/dev/null 2>&1
    tail -n 1 "$log" | tr -d '\r' | sed 's/^# run-qemu.sh: /  /' >&2
    logs+=("$n=$log")
  done
}

# The host and QEMU, for the reports' headers.
host_desc() { echo "$(nproc) host cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"; }
qemu_desc() { qemu-system-x86_64 --version | head -n 1 | sed 's/QEMU emulator version /QEMU /'; }

# A scratch directory $work, removed at exit, with empty files $results
# (one line per run: who, round, result line) and $failures.
results_workdir() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  results=$work/results.tsv
  failures=$work/failures.txt
  : >"$results"
  : >"$failures"
}
