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
