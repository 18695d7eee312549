#!/usr/bin/env bash
# make test: every test case, in user space and inside the kernel, then one
# summary ending with "N passed, N failed".
#
#   scripts/test.sh [--demo fail|hang]
#
# Runs: the hosted runner (plain, with AddressSanitizer + UBSan, and with
# ThreadSanitizer), the KTAP summary script's own tests, a check that the
# object fast paths hold no atomic instruction, real programs with goheap as their malloc
# (scripts/preload-test.sh), the mimalloc-bench workloads under goheap and
# its peers (scripts/bench-smoke.sh), and the kernel in QEMU with -smp 4 -m 1G,
# -smp 1, 2 and 8, and -m 4G and 8G. Logs and status files go to build/test/.
# KERNEL_CONFIGS overrides the QEMU runs ("label:smp:mem ..."), TIMEOUT the
# seconds a run may take before it counts as hung.
set -uo pipefail
cd "$(dirname "$0")/.."

demo=""
[ "${1:-}" = "--demo" ] && demo=$2
opts=${demo:+demo=$demo}
out=build/test
rm -rf "$out"
mkdir -p "$out"
timeout=${TIMEOUT:-$([ "$demo" = hang ] && echo 30 || echo 180)}
configs=${KERNEL_CONFIGS:-"smp4:4:1G smp1:1:1G smp2:2:1G smp8:8:1G smp4-4G:4:4G smp4-8G:4:8G"}
runs=()

# A program that prints KTAP (a hosted runner, a test script): its exit
# status, or the timeout, goes to the status file.
ktap_run() {
  local label=$1
  shift
  local log=$out/$label.log st
  GOHEAP_TEST_OPTS=$opts timeout -k 5 "$timeout" "$@" >"$log" 2>&1
  st=$?
  if [ $st -eq 124 ] || [ $st -eq 137 ]; then echo "timeout $timeout"; else echo "exit $st"; fi \
    >"$out/$label.status"
  runs+=("$label=$log")
}

echo "test: hosted runners"
ktap_run hosted build/hosted/ghtest
ktap_run hosted-asan build/hosted/ghtest-asan
# ThreadSanitizer with 8 threads as CPUs: more sharing than the machine's cores
TSAN_OPTIONS="suppressions=$PWD/tests/hosted/tsan.supp" GOHEAP_TEST_CPUS=8 ktap_run hosted-tsan build/hosted/ghtest-tsan

# A check that is not a KTAP runner, reported as one KTAP case.
single_case() {
  local label=$1 name=$2 st=0
  shift 2
  local log=$out/$label.log
  "$@" >"$out/$label.out" 2>&1 || st=1
  { printf 'KTAP version 1\n1..1\n'
    [ $st -eq 0 ] || sed 's/^/# /' "$out/$label.out"
    printf '%s 1 %s\n' "$([ $st -eq 0 ] && echo ok || echo 'not ok')" "$name"; } >"$log"
  echo "exit $st" >"$out/$label.status"
  runs+=("$label=$log")
}

single_case ktap-summary-selftest ktap_summary_selftest python3 scripts/ktap_summary_test.py
# The committed size-class table must be what its generator makes.
single_case sizeclasses-uptodate sizeclasses_header_up_to_date \
  python3 scripts/mksizeclasses.py --check alloc/sizeclasses.h
# No LOCK prefix on gh_malloc/gh_free (disassembly in build/test/fastpaths.txt).
single_case fastpaths no_atomics_on_malloc_free_fast_paths \
  scripts/check-fastpaths.sh "$out/fastpaths.txt"

# Real programs (python3, gcc, sqlite3, git, tests/hosted/preload_threads.c)
# with goheap as their malloc through LD_PRELOAD; the script writes KTAP.
echo "test: programs under LD_PRELOAD=build/hosted/libgoheap.so"
ktap_run preload bash scripts/preload-test.sh

# The mimalloc-bench workloads (tests/bench/workloads.c) at the smoke scale on
# 2 threads, under goheap and its peers; the script writes KTAP.
echo "test: workloads under goheap, glibc, jemalloc, tcmalloc and mimalloc"
ktap_run bench-smoke bash scripts/bench-smoke.sh

for c in $configs; do
  IFS=: read -r label smp mem <<<"$c"
  echo "test: kernel in QEMU, -smp $smp -m $mem"
  scripts/run-qemu.sh --smp "$smp" --mem "$mem" --cmdline "$opts" --timeout "$timeout" \
    --log "$out/kernel-$label.log" >/dev/null 2>&1
  grep -a 'boot: firmware' "$out/kernel-$label.log" | tr -d '\r' | sed 's/^.*boot: /  boot: /'
  tail -n 1 "$out/kernel-$label.log" | sed 's/^# run-qemu.sh: /  /'
  runs+=("kernel-$label=$out/kernel-$label.log")
done

scripts/ktap-summary.py "${runs[@]}"
