#!/usr/bin/env bash
# Install what goheap's build, tests and benchmarks need from Debian's packages.
# Idempotent and silent when everything is already present; prints what it
# installs otherwise. Runs as root, or through sudo when that is available.
set -euo pipefail

need=(
  gcc make binutils python3          # toolchain and scripts
  gnu-efi                             # boot/: the UEFI loader
  ovmf                                # UEFI firmware for QEMU
  qemu-system-x86                     # runs the reference kernel
  mtools                              # the FAT ESP image, without root or loop devices
  libjemalloc2                        # make bench: peer allocators for LD_PRELOAD
  libtcmalloc-minimal4                #   (gperftools' tcmalloc, the malloc alone)
  libmimalloc2.0
  libgc-dev                           # make bench: the Boehm collector, gcbench's peer
  valgrind                            # make bench: callgrind instruction counts
  python3-matplotlib                  # make bench: the workloads' plots (build/bench/*.png)
  sqlite3 git                         # programs run on goheap by scripts/preload-test.sh
)
[ "${GOHEAP_DEPS_EXTRA:-}" ] && read -r -a extra <<<"$GOHEAP_DEPS_EXTRA" && need+=("${extra[@]}")

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
