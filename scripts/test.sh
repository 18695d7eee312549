#!/usr/bin/env bash
# make test: every test case, in user space and inside the kernel, then one
# summary ending with "N passed, N failed".
#
#   scripts/test.sh [--demo fail|hang]
#
# Runs: the hosted runner (plain, then AddressSanitizer + UBSan), the KTAP
# summary script's own tests, and the kernel in QEMU with -smp 4 -m 1G,
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

# A hosted runner: its exit status goes to the status file.
hosted() {
  local label=$1 bin=$2
  local log=$out/$label.log st
  GOHEAP_TEST_OPTS=$opts timeout -k 5 "$timeout" "$bin" >"$log" 2>&1
  st=$?
  if [ $st -eq 124 ] || [ $st -eq 137 ]; then echo "timeout $timeout"; else echo "exit $st"; fi \
    >"$out/$label.status"
  runs+=("$label=$log")
}

echo "test: hosted runners"
hosted hosted build/hosted/ghtest
hosted hosted-asan build/hosted/ghtest-asan

# The summary script's own unit tests, reported as one KTAP case.
log=$out/ktap-summary-selftest.log
if python3 scripts/ktap_summary_test.py >"$out/selftest.out" 2>&1; then
  printf 'KTAP version 1\n1..1\nok 1 ktap_summary_selftest\n' >"$log"
  echo "exit 0" >"${log%.log}.status"
else
  { printf 'KTAP version 1\n1..1\n'; sed 's/^/# /' "$out/selftest.out"
    printf 'not ok 1 ktap_summary_selftest\n'; } >"$log"
  echo "exit 1" >"${log%.log}.status"
fi
runs+=("ktap-summary-selftest=$log")

# The committed size-class table must be what its generator makes.
log=$out/sizeclasses-uptodate.log
if python3 scripts/mksizeclasses.py --check alloc/sizeclasses.h 2>"$out/sizeclasses.err"; then
  printf 'KTAP version 1\n1..1\nok 1 sizeclasses_header_up_to_date\n' >"$log"
  echo "exit 0" >"${log%.log}.status"
else
  { printf 'KTAP version 1\n1..1\n'; sed 's/^/# /' "$out/sizeclasses.err"
    printf 'not ok 1 sizeclasses_header_up_to_date\n'; } >"$log"
  echo "exit 1" >"${log%.log}.status"
fi
runs+=("sizeclasses-uptodate=$log")

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
