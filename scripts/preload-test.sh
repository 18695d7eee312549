#!/usr/bin/env bash
# Real programs doing their normal work with goheap as their malloc:
# LD_PRELOAD=build/hosted/libgoheap.so (make hosted builds it).
#
#   scripts/preload-test.sh
#
# Each case runs a program under the preload and checks what it did against
# the same work done without the preload, or against values known
# independently: python3 (threads, json, fork, subprocess), gcc compiling and
# running a C program, sqlite3, git, and tests/hosted/preload_threads.c
# (threads, slots shared past GOHEAP_HOSTED_CPUS, fork). A case also fails
# when the preload did not load or goheap wrote to stderr. Output is KTAP, one
# case per program; exits non-zero when a case failed. Needs python3, gcc,
# sqlite3 and git (scripts/deps.sh installs them). All files live in a
# temporary directory, removed at exit.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lib=$root/build/hosted/libgoheap.so
# Seconds one command may take before it counts as hung.
limit=${PRELOAD_TIMEOUT:-20}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/goheap-preload.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# ---- helpers ----------------------------------------------------------------

# Run a command with goheap as malloc (and without), both with a time limit.
pre() { timeout -k 2 "$limit" env LD_PRELOAD="$lib" "$@"; }
ref() { timeout -k 2 "$limit" env -u LD_PRELOAD "$@"; }

# Say why a case fails; the case then returns 1.
fail() {
  echo "$*"
  return 1
}

# A preloaded program's stderr must not show the preload failing to load or
# goheap complaining (its panics and log lines start with "goheap:").
clean_stderr() {
  local f=$1
  if grep -q -E 'cannot be preloaded|goheap:' "$f"; then
    echo "stderr of the preloaded run:"
    head -n 20 "$f"
    return 1
  fi
}

# Compare an output with what it should be; show the first differences.
same() {
  local want=$1 got=$2 what=$3 label=${4:-without preload}
  cmp -s "$want" "$got" && return 0
  echo "$what differs:"
  diff -u --label "$label" --label "with preload" "$want" "$got" | head -n 20
  return 1
}

# Print a command's status when it failed.
status() {
  local st=$1 what=$2
  [ "$st" -eq 0 ] && return 0
  if [ "$st" -eq 124 ]; then
    echo "$what: hung (no exit within $limit s)"
  elif [ "$st" -eq 137 ]; then
    echo "$what: killed by SIGKILL (hung past the time limit, or out of memory)"
  elif [ "$st" -gt 128 ]; then
    echo "$what: killed by signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null))"
  else
    echo "$what: exit status $st"
  fi
  return 1
}

py=$(python3 -c 'import sys; print(sys.executable)') || py=python3

# ---- the cases ----------------------------------------------------------------

# The preload is in effect: goheap's answer to malloc_usable_size is its size
# class (from the table in alloc/sizeclasses.h), glibc's is something else,
# and the library is mapped.
case_preload_in_effect() {
  local d=$tmp/usable
  mkdir -p "$d"
  cat >"$d/usable.c" <<'EOF'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
	static const size_t sizes[] = {1, 100, 1000, 20000};
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = malloc(sizes[i]);
		printf("%zu %zu\n", sizes[i], malloc_usable_size(p));
		free(p);
	}
	char line[512];
	int mapped = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		mapped |= strstr(line, "libgoheap") != NULL;
	printf("libgoheap mapped: %s\n", mapped ? "yes" : "no");
	return 0;
}
EOF
  gcc -O2 -o "$d/usable" "$d/usable.c" || fail "cannot compile usable.c" || return 1
  # goheap: the smallest size class that holds each size.
  awk '/^ \*  +[0-9]+ +[0-9]+ +[0-9]+ /{print $3}' alloc/sizeclasses.h >"$d/classes"
  [ -s "$d/classes" ] || fail "no size classes found in alloc/sizeclasses.h" || return 1
  for n in 1 100 1000 20000; do
    echo "$n $(awk -v n=$n '$1 >= n {print $1; exit}' "$d/classes")"
  done >"$d/want"
  echo "libgoheap mapped: yes" >>"$d/want"
  ref "$d/usable" >"$d/glibc" || { status $? "without preload"; return 1; }
  pre "$d/usable" >"$d/got" 2>"$d/err" || { status $? "with preload"; return 1; }
  clean_stderr "$d/err" || return 1
  echo "glibc: $(head -n 4 "$d/glibc" | tr '\n' ' ')"
  echo "goheap: $(head -n 4 "$d/got" | tr '\n' ' ')"
  same "$d/want" "$d/got" "malloc_usable_size" "expected (alloc/sizeclasses.h)" || return 1
  # Without the preload the answers must differ, or this case proves nothing.
  if cmp -s <(head -n 4 "$d/glibc") <(head -n 4 "$d/want"); then
    fail "the C library gives the same usable sizes as goheap: cannot tell them apart"
    return 1
  fi
  grep -q '^libgoheap mapped: no$' "$d/glibc" || fail "libgoheap mapped without the preload?"
}

# python3: 4 threads build dicts, lists and strings, pass them to one another
# through queues (objects freed by another thread), round-trip them through
# json, and print checksums that do not depend on the scheduling.
case_python_threads() {
  local d=$tmp/python
  mkdir -p "$d"
  cat >"$d/threads.py" <<'EOF'
import hashlib, json, os, queue, sys, threading

expect = os.environ["GH_EXPECT_PRELOAD"] == "1"
with open("/proc/self/maps") as f:
    mapped = any("libgoheap" in line for line in f)
if mapped != expect:
    sys.exit("libgoheap mapped: %s, expected %s" % (mapped, expect))

N, ROUNDS = 4, 300
queues = [queue.Queue(maxsize=64) for _ in range(N)]
results = [None] * N
errors = []

def build(t, r):
    d = {}
    for i in range(60):
        k = "t%d-r%d-i%d" % (t, r, i)
        d[k] = {"n": i * r + t, "s": k * (i % 5 + 1), "l": list(range(i % 17)),
                "f": (i + 0.5) / (r + 1), "u": "\u00e9\u4e2d" * (i % 3)}
    d["list"] = [str(x) * (x % 7) for x in range(r % 50)]
    return d

def worker(t):
    try:
        h = hashlib.sha256()
        for r in range(ROUNDS):
            d = build(t, r)
            s = json.dumps(d, sort_keys=True)
            back = json.loads(s)
            if back != d:
                raise AssertionError("json round trip changed the data (thread %d)" % t)
            queues[(t + 1) % N].put(back)       # the next thread frees it
            got = queues[t].get()               # built by the previous thread
            h.update(json.dumps(got, sort_keys=True, separators=(",", ":")).encode())
            h.update(str(len(got)).encode())
        results[t] = h.hexdigest()
    except BaseException as e:
        errors.append(repr(e))
        raise

threads = [threading.Thread(target=worker, args=(t,)) for t in range(N)]
for th in threads:
    th.start()
for th in threads:
    th.join()
if errors or None in results:
    sys.exit("thread failed: %s" % errors)
for t, r in enumerate(results):
    print("thread %d %s" % (t, r))
total = hashlib.sha256("".join(results).encode()).hexdigest()
big = {str(i): [i] * (i % 13) for i in range(20000)}
print("dict", len(big), sum(map(len, big.values())), len(json.dumps(big)))
print("total", total)
EOF
  GH_EXPECT_PRELOAD=0 ref "$py" "$d/threads.py" >"$d/want" 2>"$d/want.err" ||
    { status $? "without preload"; cat "$d/want.err"; return 1; }
  GH_EXPECT_PRELOAD=1 pre "$py" "$d/threads.py" >"$d/got" 2>"$d/err" ||
    { status $? "with preload"; head -n 20 "$d/err"; return 1; }
  clean_stderr "$d/err" || return 1
  same "$d/want" "$d/got" "python output" || return 1
  [ "$(grep -c '^thread ' "$d/got")" -eq 4 ] || fail "expected 4 thread checksums"
}

# python3 -c: subprocess (a preloaded child interpreter), os.fork while a
# thread allocates, children that build data and report it through a pipe.
case_python_fork() {
  local d=$tmp/pyfork
  mkdir -p "$d"
  local prog='
import json, os, subprocess, sys, threading
child = """if 1:
    import json, os
    mapped = any("libgoheap" in l for l in open("/proc/self/maps"))
    print(mapped == (os.environ["GH_EXPECT_PRELOAD"] == "1"),
          sum(len(json.dumps(list(range(i)))) for i in range(1500)))"""
r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
print("subprocess:", r.stdout.strip())
stop = False
def churn():
    n = 0
    while not stop:
        n += len(json.loads(json.dumps({str(i): [i] * 9 for i in range(300)})))
busy = threading.Thread(target=churn)
busy.start()
rfd, wfd = os.pipe()
pids = []
for k in range(6):
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        d = {i: str(i) * (k + 1) for i in range(40000)}
        s = json.dumps(d)
        os.write(wfd, ("child %d %d %d\n" % (k, sum(map(len, d.values())), len(s))).encode())
        os._exit(0 if json.loads(s) == {str(i): v for i, v in d.items()} else 7)
    pids.append(pid)
os.close(wfd)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
stop = True
busy.join()
out = b""
while True:
    b = os.read(rfd, 65536)
    if not b:
        break
    out += b
print("exit codes:", codes)
print("".join(sorted(out.decode().splitlines(True))), end="")
'
  GH_EXPECT_PRELOAD=0 ref "$py" -c "$prog" >"$d/want" 2>"$d/want.err" ||
    { status $? "without preload"; cat "$d/want.err"; return 1; }
  GH_EXPECT_PRELOAD=1 pre "$py" -c "$prog" >"$d/got" 2>"$d/err" ||
    { status $? "with preload"; head -n 20 "$d/err"; return 1; }
  clean_stderr "$d/err" || return 1
  same "$d/want" "$d/got" "python fork output" || return 1
  grep -q '^subprocess: True ' "$d/got" || fail "the subprocess did not see the preload as expected"
}

# gcc -O2 compiles and links a program of several files; the program prints
# values known independently (below), and the binary is the one gcc makes
# without the preload.
case_gcc_compile_and_run() {
  local d=$tmp/gcc
  mkdir -p "$d/pre" "$d/ref"
  cat >"$d/util.h" <<'EOF'
#include <stddef.h>
#include <stdint.h>
unsigned count_primes(unsigned below);
uint64_t fib(unsigned n);
unsigned collatz_longest(unsigned below, unsigned *length);
uint64_t sum_list(unsigned n);
unsigned count_residues(unsigned p);
int sort_check(unsigned n);
size_t grow_string(const char *piece, unsigned times);
EOF
  cat >"$d/main.c" <<'EOF'
#include <stdio.h>
#include "util.h"
int main(void)
{
	unsigned len;
	printf("primes below 1000000: %u\n", count_primes(1000000));
	printf("fib(90): %llu\n", (unsigned long long)fib(90));
	unsigned start = collatz_longest(1000000, &len);
	printf("longest collatz chain below 1000000: %u (%u terms)\n", start, len);
	printf("sum of a list 1..100000: %llu\n", (unsigned long long)sum_list(100000));
	printf("quadratic residues mod 100003: %u\n", count_residues(100003));
	printf("qsort of 200000: %s\n", sort_check(200000) ? "sorted" : "NOT SORTED");
	printf("pangram x1000: %zu\n",
	       grow_string("the quick brown fox jumps over the lazy dog", 1000));
	return 0;
}
EOF
  cat >"$d/numbers.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
#include "util.h"
unsigned count_primes(unsigned below)
{
	char *composite = calloc(below, 1);
	unsigned n = 0;
	for (unsigned i = 2; i < below; i++) {
		if (composite[i])
			continue;
		n++;
		for (unsigned long j = (unsigned long)i * i; j < below; j += i)
			composite[j] = 1;
	}
	free(composite);
	return n;
}
uint64_t fib(unsigned n)
{
	uint64_t a = 0, b = 1;
	while (n--) {
		uint64_t c = a + b;
		a = b;
		b = c;
	}
	return a;
}
unsigned collatz_longest(unsigned below, unsigned *length)
{
	unsigned *memo = calloc(below, sizeof *memo), best = 1;
	memo[1] = 1;
	for (unsigned i = 2; i < below; i++) {
		uint64_t x = i;
		unsigned steps = 0;
		while (x >= below || !memo[x]) {
			x = x % 2 ? 3 * x + 1 : x / 2;
			steps++;
		}
		memo[i] = steps + memo[x];
		if (memo[i] > memo[best])
			best = i;
	}
	*length = memo[best];
	free(memo);
	return best;
}
struct cell { struct cell *next; unsigned long v; };
uint64_t sum_list(unsigned n)
{
	struct cell *head = NULL;
	for (unsigned i = 1; i <= n; i++) {
		struct cell *c = malloc(sizeof *c);
		c->v = i;
		c->next = head;
		head = c;
	}
	uint64_t s = 0;
	while (head) {
		struct cell *c = head;
		s += c->v;
		head = c->next;
		free(c);
	}
	return s;
}
EOF
  cat >"$d/tables.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
#include "util.h"
struct entry { struct entry *next; unsigned key; };
unsigned count_residues(unsigned p)
{
	unsigned nb = 1024, n = 0;
	struct entry **b = calloc(nb, sizeof *b);
	for (unsigned long i = 1; i < p; i++) {
		unsigned k = (unsigned)(i * i % p);
		struct entry *e;
		for (e = b[k % nb]; e && e->key != k; e = e->next)
			;
		if (e)
			continue;
		e = malloc(sizeof *e);
		e->key = k;
		e->next = b[k % nb];
		b[k % nb] = e;
		if (++n > nb * 2) { /* rehash into twice the buckets */
			struct entry **nbk = calloc(nb * 2, sizeof *nbk);
			for (unsigned j = 0; j < nb; j++)
				while (b[j]) {
					struct entry *m = b[j];
					b[j] = m->next;
					m->next = nbk[m->key % (nb * 2)];
					nbk[m->key % (nb * 2)] = m;
				}
			free(b);
			b = nbk;
			nb *= 2;
		}
	}
	for (unsigned j = 0; j < nb; j++)
		while (b[j]) {
			struct entry *m = b[j];
			b[j] = m->next;
			free(m);
		}
	free(b);
	return n;
}
static int cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return (x > y) - (x < y);
}
int sort_check(unsigned n)
{
	unsigned *v = malloc(n * sizeof *v), x = 12345;
	for (unsigned i = 0; i < n; i++)
		v[i] = x = x * 1103515245u + 12345u;
	qsort(v, n, sizeof *v, cmp);
	int ok = 1;
	for (unsigned i = 1; i < n; i++)
		ok &= v[i - 1] <= v[i];
	free(v);
	return ok;
}
size_t grow_string(const char *piece, unsigned times)
{
	size_t len = 0, cap = 1;
	char *s = malloc(cap);
	s[0] = 0;
	for (unsigned i = 0; i < times; i++) {
		size_t k = strlen(piece);
		if (len + k + 1 > cap) {
			cap = cap * 3 / 2 + k + 1;
			s = realloc(s, cap);
		}
		memcpy(s + len, piece, k + 1);
		len += k;
	}
	len = strlen(s);
	free(s);
	return len;
}
EOF
  # Known values: pi(10^6) = 78498; F(90); Project Euler 14 (837799, a chain
  # of 525 terms); n(n+1)/2; (p-1)/2 quadratic residues for an odd prime p;
  # the pangram has 43 characters.
  cat >"$d/want" <<'EOF'
primes below 1000000: 78498
fib(90): 2880067194370816120
longest collatz chain below 1000000: 837799 (525 terms)
sum of a list 1..100000: 5000050000
quadratic residues mod 100003: 50001
qsort of 200000: sorted
pangram x1000: 43000
EOF
  local srcs=("$d/main.c" "$d/numbers.c" "$d/tables.c")
  (cd "$d/pre" && pre gcc -O2 -Wall -o prog "${srcs[@]}") 2>"$d/err" ||
    { status $? "gcc with preload"; head -n 20 "$d/err"; return 1; }
  clean_stderr "$d/err" || return 1
  pre "$d/pre/prog" >"$d/got" 2>"$d/err" || { status $? "the program"; return 1; }
  clean_stderr "$d/err" || return 1
  same "$d/want" "$d/got" "the program's output" "expected (known values)" || return 1
  (cd "$d/ref" && ref gcc -O2 -Wall -o prog "${srcs[@]}") ||
    { status $? "gcc without preload"; return 1; }
  cmp "$d/ref/prog" "$d/pre/prog" ||
    fail "gcc made a different binary with the preload than without"
}

# sqlite3: a table of 50000 rows from a recursive CTE, an index, aggregates.
case_sqlite3_queries() {
  local d=$tmp/sqlite
  mkdir -p "$d"
  cat >"$d/q.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, s TEXT, r REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
INSERT INTO t(k, s, r) SELECT (x * 7919) % 1000, printf('row-%d-%s', x, hex(x * x)), x / 7.0 FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_s ON t(s);
SELECT count(*), sum(k), sum(length(s)), max(s), printf('%.3f', sum(r)) FROM t;
SELECT k % 10, count(*), sum(id), printf('%.4f', avg(length(s))) FROM t GROUP BY k % 10 ORDER BY 1;
SELECT count(*), min(id), max(id) FROM t WHERE k BETWEEN 100 AND 199;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE k = 42 ORDER BY id LIMIT 20);
SELECT s FROM t ORDER BY s DESC LIMIT 3;
SELECT count(DISTINCT k), count(DISTINCT substr(s, 1, 6)) FROM t;
UPDATE t SET s = s || '-x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(s)) FROM t;
PRAGMA integrity_check;
EOF
  ref sqlite3 "$d/ref.db" <"$d/q.sql" >"$d/want" 2>"$d/want.err" ||
    { status $? "without preload"; head -n 20 "$d/want.err"; return 1; }
  pre sqlite3 "$d/pre.db" <"$d/q.sql" >"$d/got" 2>"$d/err" ||
    { status $? "with preload"; head -n 20 "$d/err"; return 1; }
  clean_stderr "$d/err" || return 1
  same "$d/want" "$d/got" "sqlite3 output" || return 1
  grep -q '^50000|' "$d/got" || fail "expected 50000 rows"
}

# git: init, add 200 files, commit twice, log, status, gc, fsck. With fixed
# names and dates the commits are the same objects as without the preload.
case_git_repository() {
  local d=$tmp/git
  mkdir -p "$d/src" "$d/home"
  local i
  for i in $(seq 1 200); do
    mkdir -p "$d/src/dir$((i % 10))"
    {
      printf 'file %d\n' "$i"
      seq "$i" $((i * 3 + 20)) | sed "s/^/line $i: /"
    } >"$d/src/dir$((i % 10))/file$i.txt"
  done
  local steps='
set -e
git init -q -b main
git add -A
git commit -q -m "200 files"
for f in dir1/file1.txt dir2/file2.txt dir3/file13.txt; do echo changed >>"$f"; done
git rm -q dir4/file4.txt
git add -A
git commit -q -m "change three files, remove one"
git log --stat
git status
git gc --quiet
git fsck --strict
git count-objects -v | grep -E "^(count|in-pack|garbage):"
git rev-parse HEAD HEAD^{tree}
git ls-tree -r HEAD | wc -l
'
  local side st
  for side in ref pre; do
    cp -r "$d/src" "$d/$side"
    (cd "$d/$side" &&
      HOME=$d/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
      GIT_AUTHOR_NAME="goheap test" GIT_AUTHOR_EMAIL=test@goheap.invalid \
      GIT_COMMITTER_NAME="goheap test" GIT_COMMITTER_EMAIL=test@goheap.invalid \
      GIT_AUTHOR_DATE="2026-01-02T03:04:05 +0000" GIT_COMMITTER_DATE="2026-01-02T03:04:05 +0000" \
      LC_ALL=C $side bash -c "$steps") >"$d/$side.out" 2>"$d/$side.err"
    st=$?
    if [ $st -ne 0 ]; then
      status $st "git steps $([ $side = pre ] && echo with || echo without) preload"
      head -n 20 "$d/$side.err"
      return 1
    fi
  done
  clean_stderr "$d/pre.err" || return 1
  echo "HEAD and tree: $(tail -n 3 "$d/pre.out" | head -n 2 | tr '\n' ' ')"
  same "$d/ref.out" "$d/pre.out" "git output (log, status, objects, HEAD and tree)" || return 1
  [ "$(tail -n 1 "$d/pre.out" | tr -d ' ')" = 199 ] || fail "expected 199 files in HEAD"
}

# tests/hosted/preload_threads.c: waves of threads, 80 threads on 16 slots,
# objects freed by other threads, fork with and without busy threads.
case_preload_threads() {
  local d=$tmp/threads
  mkdir -p "$d"
  gcc -O2 -pthread -o "$d/preload_threads" tests/hosted/preload_threads.c ||
    fail "cannot compile tests/hosted/preload_threads.c" || return 1
  GOHEAP_HOSTED_CPUS=16 pre "$d/preload_threads" >"$d/got" 2>"$d/err"
  local st=$?
  head -n 20 "$d/err"
  status $st "preload_threads under the preload (GOHEAP_HOSTED_CPUS=16)" || return 1
  clean_stderr "$d/err" || return 1
  [ "$(cat "$d/got")" = ok ] || fail "expected \"ok\", got: $(head -c 200 "$d/got")"
}

# tests/hosted/preload_grow.c: from a 256 MiB reservation the heap grows to
# serve 3 GiB of objects and one of 5 GiB; capped by GOHEAP_HOSTED_MAX,
# malloc fails with ENOMEM instead.
case_heap_grows() {
  local d=$tmp/grow st
  mkdir -p "$d"
  gcc -O2 -o "$d/preload_grow" tests/hosted/preload_grow.c ||
    fail "cannot compile tests/hosted/preload_grow.c" || return 1
  GOHEAP_HOSTED_MEM=256M pre "$d/preload_grow" >"$d/got" 2>"$d/err"
  st=$?
  head -n 20 "$d/err"
  status $st "preload_grow" || return 1
  clean_stderr "$d/err" || return 1
  [ "$(cat "$d/got")" = ok ] || fail "growing: $(head -c 200 "$d/got")" || return 1
  GOHEAP_HOSTED_MEM=256M GOHEAP_HOSTED_MAX=512M pre "$d/preload_grow" capped >"$d/got" 2>"$d/err"
  st=$?
  status $st "preload_grow capped" || return 1
  [ "$(cat "$d/got")" = ok ] || fail "capped: $(head -c 200 "$d/got")"
}

# ---- KTAP ---------------------------------------------------------------------

cases=(preload_in_effect python_threads python_fork gcc_compile_and_run sqlite3_queries
  git_repository preload_threads heap_grows)

echo "KTAP version 1"
echo "1..${#cases[@]}"
if [ ! -f "$lib" ]; then
  echo "# $lib is missing: run make hosted"
  for i in "${!cases[@]}"; do echo "not ok $((i + 1)) ${cases[$i]}"; done
  exit 1
fi
failed=0
for i in "${!cases[@]}"; do
  c=${cases[$i]}
  start=$(date +%s.%N)
  "case_$c" >"$tmp/$c.diag" 2>&1
  st=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ $st -eq 0 ]; then
    echo "# $c: ${secs} s"
    echo "ok $((i + 1)) $c"
  else
    failed=$((failed + 1))
    head -n 40 "$tmp/$c.diag" | sed 's/^/# /'
    echo "# $c: failed after ${secs} s"
    echo "not ok $((i + 1)) $c"
  fi
done
[ $failed -eq 0 ]
