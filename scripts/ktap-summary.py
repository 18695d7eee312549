#!/usr/bin/env python3
"""Summarise goheap's test runs from their KTAP logs and exit statuses.

Usage: scripts/ktap-summary.py LABEL=LOGFILE [LABEL=LOGFILE ...]

Each LOGFILE may have a status file beside it (".log" -> ".status") holding
"exit N" (hosted runner), "qemu N" (kernel in QEMU) or "timeout S". Prints a
FAIL block per failed case or broken run, one count line per run, and the
totals as the last line; exits 0 only when nothing failed and something passed.
"""
import re
import signal
import sys

ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                     r"|\x1b[()][0-9A-Za-z]|\x1b[@-Z\\-_=>]")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
VERSION_RE = re.compile(r"(?:K?TAP) version \d+$")
PLAN_RE = re.compile(r"1\.\.(\d+)\s*(?:#.*)?$")
RESULT_RE = re.compile(r"(not ok|ok)\s+(\d+)\b\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$")
SUBTEST_RE = re.compile(r"#\s*Subtest:\s*(.*?)\s*$")
SKIP_RE = re.compile(r"skip\b", re.IGNORECASE)
TAIL_LINES = 30
INDENT = "    "


def clean_lines(text):
    """Split a log into lines without ANSI escapes, control characters or \\r."""
    return [CONTROL_RE.sub("", ANSI_RE.sub("", line)).rstrip()
            for line in text.splitlines()]


def classify(line):
    """Return (level, kind, match) for a KTAP line, or None for other output."""
    body = line.lstrip(" \t")
    level = len(line[:len(line) - len(body)].expandtabs(4)) // 4
    for kind, regex in (("version", VERSION_RE), ("plan", PLAN_RE),
                        ("result", RESULT_RE), ("subtest", SUBTEST_RE)):
        m = regex.match(body)
        if m:
            return level, kind, m
    if body.startswith("#"):
        return level, "diag", body[1:].strip()
    return None


class Frame:
    """One KTAP (sub)document: its plan, its results in order, pending diags."""

    def __init__(self, level):
        self.level, self.name, self.plan = level, None, None
        self.entries = []     # dicts: status, name, diags, child (Frame|None)
        self.diags = []       # "#" lines since the last plan or result
        self.pending = None   # a closed-off subtest awaiting its result line

    def flush_pending(self):
        """Record a subtest that never got its result line (the run stopped)."""
        if self.pending is not None:
            self.entries.append({"status": None, "name": self.pending.name,
                                 "diags": [], "child": self.pending})
            self.pending = None


def parse_ktap(lines):
    """Parse the KTAP in a log into a Frame tree; None if there is none."""
    start = next((i for i, l in enumerate(lines)
                  if (c := classify(l)) and c[0] == 0 and c[1] in ("version", "plan", "result")),
                 None)
    if start is None:
        return None
    stack = [Frame(0)]
    for line in lines[start:]:
        c = classify(line)
        if c is None:
            continue  # boot messages, printk, firmware noise
        level, kind, m = c
        while level < stack[-1].level:
            close_frame(stack)
        while level > stack[-1].level:
            stack.append(Frame(stack[-1].level + 1))
        add_line(stack[-1], kind, m)
    while len(stack) > 1:
        close_frame(stack)
    stack[0].flush_pending()
    return stack[0]


def close_frame(stack):
    """Pop the innermost subtest; its parent's next result line names it."""
    child = stack.pop()
    child.flush_pending()
    parent = stack[-1]
    parent.flush_pending()
    parent.pending = child


def add_line(frame, kind, m):
    """Apply one KTAP line to the frame at its nesting level."""
    if kind == "subtest":
        frame.name = m.group(1)
    elif kind == "diag":
        frame.diags.append(m)
    elif kind == "plan":
        frame.plan, frame.diags = int(m.group(1)), []
    elif kind == "result":
        ok, _, name, directive = m.groups()
        if ok == "not ok":
            status = "fail"
        else:
            status = "skip" if directive and SKIP_RE.match(directive) else "pass"
        child, frame.pending = frame.pending, None
        if child is not None and not child.name:
            child.name = name
        frame.entries.append({"status": status, "name": name,
                              "diags": frame.diags if status == "fail" else [],
                              "child": child})
        frame.diags = []


def collect_cases(frame, path, out):
    """Append (status, name, diags) for every leaf case under frame."""
    for e in frame.entries:
        child = e["child"]
        if child is not None:
            collect_cases(child, path + [child.name or e["name"] or "?"], out)
        else:
            out.append((e["status"], ".".join(path + [e["name"]]), e["diags"]))
    prefix = ".".join(path)
    reported = len(frame.entries)
    if frame.plan is not None:
        unit = "case" if path else "suite" if any(e["child"] for e in frame.entries) \
            else "case" if frame.entries else "test"
        for k in range(reported + 1, frame.plan + 1):
            where = f"{prefix}: " if prefix else ""
            out.append(("fail", f"{where}{unit} {k} of {frame.plan} did not report", []))
    elif reported == 0:
        what = f"{prefix}: no cases reported" if prefix else \
            "no test plan or results (run stopped before the first suite)"
        out.append(("fail", what, []))


def read_status(log_path):
    """Return (kind, value) from the status file, or None when it is missing."""
    path = log_path[:-4] + ".status" if log_path.endswith(".log") else log_path + ".status"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            words = f.readline().split()
    except OSError:
        return None
    if len(words) == 2 and words[0] in ("exit", "qemu", "timeout"):
        return words[0], words[1]
    return "bad", " ".join(words)


def describe_exit(code):
    """Name a hosted runner's abnormal exit status."""
    try:
        n = int(code)
    except ValueError:
        return f"crashed (exit {code})"
    sig = n - 128 if n > 128 else -n if n < 0 else 0
    try:
        return f"crashed (exit {n}, {signal.Signals(sig).name})" if sig else f"crashed (exit {n})"
    except ValueError:
        return f"crashed (exit {n})"


QEMU_REASONS = {"37": "kernel panic (qemu exit 37)",
                "0": "VM reset without reporting (triple fault?)"}
# Statuses with which a runner reports its own verdict: True = "all passed".
VERDICTS = {("exit", "0"): True, ("exit", "1"): False,
            ("qemu", "33"): True, ("qemu", "35"): False}


def status_problem(status, failed):
    """Return (reason, abnormal) if the run's status is a failure, else None."""
    if status is None:
        return "did not finish (no status file)", True
    kind, value = status
    if status in VERDICTS:
        if VERDICTS[status] == (failed > 0):
            return f"runner status disagrees with its results ({kind} {value})", False
        return None
    if kind == "timeout":
        return f"hung: no result within {value} s", True
    if kind == "qemu":
        return QEMU_REASONS.get(value, f"QEMU failed (exit {value})"), True
    if kind == "exit":
        return describe_exit(value), True
    return f"unreadable status file ({value!r})", True


def summarise_run(label, log_path):
    """Return (failures, passed, skipped); failures are (name, detail lines)."""
    try:
        with open(log_path, encoding="utf-8", errors="replace", newline="") as f:
            lines = clean_lines(f.read())
    except OSError as e:
        lines = [f"(cannot read {log_path}: {e.strerror})"]
    while lines and not lines[-1]:
        lines.pop()
    tail = [f"last {min(TAIL_LINES, len(lines))} lines of {log_path}:"] + \
        [INDENT + l for l in lines[-TAIL_LINES:]]
    root, cases = parse_ktap(lines), []
    if root is None:
        cases.append(("fail", "no KTAP output", []))
    else:
        collect_cases(root, [], cases)
    failures = [(f"{label} {name}", diags) for st, name, diags in cases if st == "fail"]
    problem = status_problem(read_status(log_path), len(failures))
    if problem:
        reason, abnormal = problem
        failures.append((f"{label}: {reason}", tail if abnormal else []))
    elif root is None:
        failures[0] = (failures[0][0], tail)
    passed = sum(st == "pass" for st, _, _ in cases)
    skipped = sum(st == "skip" for st, _, _ in cases)
    return failures, passed, skipped


def main(argv):
    runs = [a.split("=", 1) for a in argv]
    if not runs or any(len(r) != 2 or not r[0] or not r[1] for r in runs):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    total_p = total_f = total_s = 0
    counts = []
    for label, log_path in runs:
        failures, passed, skipped = summarise_run(label, log_path)
        for name, details in failures:
            print(f"FAIL {name}")
            for d in details:
                print(INDENT + d)
        counts.append(f"{label}: {passed} passed, {len(failures)} failed, {skipped} skipped")
        total_p, total_f, total_s = total_p + passed, total_f + len(failures), total_s + skipped
    for line in counts:
        print(line)
    print(f"{total_p} passed, {total_f} failed" + (f", {total_s} skipped" if total_s else ""))
    return 0 if total_f == 0 and total_p > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
