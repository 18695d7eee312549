#!/usr/bin/env bash
# The workloads of tests/bench/workloads.c (after mimalloc-bench's) at the
# smoke scale, on 2 threads, under every allocator make bench compares:
# goheap (LD_PRELOAD=build/hosted/libgoheap.so), glibc, and jemalloc,
# tcmalloc and mimalloc when their libraries are installed. Output is KTAP,
# one case per workload; a case fails when a run under any allocator fails
# (an object's tags changed, a crash, a hang, a non-zero exit), prints no
# result, or the preload complains on stderr. Exits non-zero when a case
# failed. make test runs it (scripts/test.sh); needs build/bench/workloads
# and build/hosted/libgoheap.so (make builds both).
#
#   scripts/bench-smoke.sh [THREADS [SCALE]]     (defaults: 2 1)
set -uo pipefail
cd "$(dirname "$0")/.."

threads=${1:-2}
scale=${2:-1}
bin=build/bench/workloads
limit=${BENCH_SMOKE_TIMEOUT:-20} # seconds one run may take before it counts as hung
libdir=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

allocs=(goheap glibc)
declare -A lib=([goheap]=$PWD/build/hosted/libgoheap.so [glibc]="")
for p in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
  if [ -f "$libdir/${p#*:}" ]; then
    allocs+=("${p%%:*}")
    lib[${p%%:*}]=$libdir/${p#*:}
  fi
done

echo "KTAP version 1"
if [ ! -x "$bin" ] || [ ! -f "${lib[goheap]}" ]; then
  echo "1..1"
  echo "# $bin or ${lib[goheap]} is missing: run make first"
  echo "not ok 1 bench_smoke_binaries"
  exit 1
fi
mapfile -t names < <("$bin" list | cut -f1)
echo "1..${#names[@]}"
echo "# $bin NAME $threads $scale under: ${allocs[*]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/goheap-bench-smoke.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

failed=0 i=0
for w in "${names[@]}"; do
  i=$((i + 1))
  diag=() bad=0
  for a in "${allocs[@]}"; do
    st=0
    LD_PRELOAD=${lib[$a]} timeout -k 2 "$limit" "$bin" "$w" "$threads" "$scale" \
      >"$tmp/out" 2>"$tmp/err" || st=$?
    why=""
    if [ $st -eq 124 ] || [ $st -eq 137 ]; then
      why="hung (no exit within $limit s)"
    elif [ $st -gt 128 ]; then
      why="killed by signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null))"
    elif [ $st -ne 0 ]; then
      why="exit status $st"
    elif ! grep -q "^wl $w $threads ns_per_op [0-9]" "$tmp/out"; then
      why="no result printed"
    elif grep -q -E 'cannot be preloaded|goheap:' "$tmp/err"; then
      why="the preload complained on stderr"
    fi
    if [ -n "$why" ]; then
      bad=1
      cmd="$bin $w $threads $scale"
      [ -n "${lib[$a]}" ] && cmd="LD_PRELOAD=${lib[$a]} $cmd"
      diag+=("$a: $why: $cmd")
      while IFS= read -r line; do diag+=("    $line"); done < <(cat "$tmp/out" "$tmp/err" | tail -n 10)
    else
      diag+=("$a: $(sed -n "s/^wl $w $threads ns_per_op //p" "$tmp/out") ns/op")
    fi
  done
  if [ $bad -ne 0 ]; then
    printf '# %s\n' "${diag[@]}"
    echo "not ok $i $w"
    failed=1
  else
    echo "# $w: $(printf '%s, ' "${diag[@]}" | sed 's/, $//')"
    echo "ok $i $w"
  fi
done
exit $failed
