#!/usr/bin/env bash
# The object fast paths take no lock and execute no atomic read-modify-write:
# disassemble gh_malloc and gh_free (and the C library's malloc and free in
# libgoheap.so, which inline them) and fail on any LOCK-prefixed instruction
# or xchg with memory (implicitly locked). Everything these functions do
# besides the fast path is a tail call out of line.
#
#   scripts/check-fastpaths.sh [OUT]   the disassembly goes to OUT
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/test/fastpaths.txt}
mkdir -p "$(dirname "$out")"
: >"$out"
bad=0
check() {
  local bin=$1 fn=$2 text
  text=$(objdump -d --no-show-raw-insn "$bin" | awk -v f="<$fn>:" '$2 == f {p = 1} p && /^$/ {exit} p')
  if [ -z "$text" ]; then
    echo "check-fastpaths: $fn not found in $bin"
    bad=1
    return
  fi
  { echo "== $bin: $fn"; echo "$text"; echo; } >>"$out"
  local locked
  locked=$(grep -E '\block\b|cmpxchg|xadd|xchg[^,]*\(|xchg.*,.*\(' <<<"$text")
  if [ -n "$locked" ]; then
    echo "check-fastpaths: $fn in $bin has atomic instructions:"
    echo "$locked"
    bad=1
  else
    echo "check-fastpaths: $fn in $bin: $(grep -c '^ ' <<<"$text") instructions, no LOCK prefix"
  fi
}
check build/kernel/kernel.elf gh_malloc
check build/kernel/kernel.elf gh_free
for fn in malloc free gh_malloc gh_free; do
  check build/hosted/libgoheap.so "$fn"
done
exit $bad
