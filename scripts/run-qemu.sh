#!/usr/bin/env bash
# Boot goheap's kernel in QEMU (OVMF firmware, software emulation).
#
#   scripts/run-qemu.sh [--smp N] [--mem SIZE] [--cmdline "opts"] [--gdb]
#                       [--log FILE --timeout SECONDS]
#
# Without --log the serial console is this terminal. With --log the serial
# output goes to FILE and a status file next to it (FILE with .log replaced by
# .status) records how the run ended, for scripts/ktap-summary.py:
#   "qemu N"     QEMU's exit status: 33 the kernel passed its tests, 35 a test
#                failed, 37 kernel panic, 0 the VM reset (triple fault) or
#                powered off without reporting
#   "timeout S"  killed after S seconds: a hang
# The exit status of this script is QEMU's (124 on a timeout).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
smp=4 mem=1G cmdline="" gdb=0 log="" timeout=0
while [ $# -gt 0 ]; do
  case $1 in
    --smp) smp=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --cmdline) cmdline=$2; shift 2 ;;
    --gdb) gdb=1; shift ;;
    --log) log=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    *) echo "run-qemu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

ovmf=/usr/share/ovmf/OVMF.fd
[ -f "$ovmf" ] || { echo "run-qemu.sh: $ovmf missing (scripts/deps.sh installs ovmf)" >&2; exit 2; }
base=$here/build/esp.img
[ -f "$base" ] || { echo "run-qemu.sh: $base missing: run make first" >&2; exit 2; }

# Each run boots its own copy of the ESP, with its command line in it.
run_dir=$here/build/run.$$
rm -rf "$run_dir"
mkdir -p "$run_dir"
trap 'rm -rf "$run_dir"' EXIT
cp "$base" "$run_dir/esp.img"
printf '%s\n' "$cmdline" >"$run_dir/cmdline.txt"
mcopy -o -i "$run_dir/esp.img" "$run_dir/cmdline.txt" ::/goheap/cmdline.txt

qemu=(qemu-system-x86_64 -machine q35 -cpu qemu64,+popcnt -smp "$smp" -m "$mem" -bios "$ovmf"
  -drive "format=raw,file=$run_dir/esp.img"
  -device isa-debug-exit,iobase=0xf4,iosize=0x04
  -net none -display none -no-reboot)
[ $gdb -eq 1 ] && qemu+=(-s -S)

if [ -z "$log" ]; then
  qemu+=(-serial mon:stdio)
  set +e
  "${qemu[@]}"
  st=$?
  set -e
  case $st in
    33) echo "run-qemu.sh: kernel reported success" ;;
    35) echo "run-qemu.sh: kernel reported failures" ;;
    37) echo "run-qemu.sh: kernel panic" ;;
  esac
  exit $st
fi

status=${log%.log}.status
rm -f "$status"
qemu+=(-serial "file:$log")
[ "$timeout" -gt 0 ] || timeout=600
start=$(date +%s%N)
set +e
timeout -k 5 "$timeout" "${qemu[@]}" </dev/null
st=$?
set -e
secs=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $st -eq 124 ] || [ $st -eq 137 ]; then
  echo "timeout $timeout" >"$status"
else
  echo "qemu $st" >"$status"
fi
# Name the functions in any backtrace the kernel printed.
elf=$here/build/kernel/kernel.elf
addrs=$(grep -ao '\[<0x[0-9a-f]*>\]' "$log" | tr -d '[]<>' | awk '!seen[$0]++' || true)
if [ -n "$addrs" ] && [ -f "$elf" ]; then
  echo "# backtrace symbols:" >>"$log"
  for a in $addrs; do
    printf '#   %s %s\n' "$a" "$(addr2line -f -p -e "$elf" "$a")" >>"$log"
  done
fi
printf '# run-qemu.sh: smp=%s mem=%s wall %d.%03d s, %s\n' "$smp" "$mem" $((secs / 1000)) \
  $((secs % 1000)) "$(cat "$status")" >>"$log"
exit $st
