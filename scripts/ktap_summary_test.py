#!/usr/bin/env python3
"""Tests for scripts/ktap-summary.py: python3 scripts/ktap_summary_test.py"""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ktap-summary.py")

ALL_PASS = """\
KTAP version 1
# goheap kernel runner: 4 CPUs
1..2
    KTAP version 1
    # Subtest: smp
    1..2
    ok 1 apic_ids
    ok 2 ipi_all
ok 1 smp
    KTAP version 1
    # Subtest: fmt
    1..1
    ok 1 basic
ok 2 fmt
"""

WITH_FAILURE = """\
KTAP version 1
# goheap kernel runner: 4 CPUs
1..2
    KTAP version 1
    # Subtest: smp
    1..3
    ok 1 apic_ids
    # tests/kernel/smp_test.c:10: expected a == b (0x1 vs 0x2, 1 vs 2)
    # cpu 3: another diagnostic
    not ok 2 ipi_all
    ok 3 nmi # SKIP no HPET
not ok 1 smp
    KTAP version 1
    # Subtest: fmt
    1..1
    ok 1 basic
ok 2 fmt
"""

# The kernel died in the middle of the smp suite.
TRUNCATED = """\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: smp
    1..4
    ok 1 apic_ids
    ok 2 ipi_all
"""


class SummaryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write_run(self, label, log, status=None, newline="\n"):
        """Write <label>.log (and .status) and return the LABEL=LOGFILE arg."""
        path = os.path.join(self.tmp.name, label + ".log")
        with open(path, "w", encoding="utf-8", newline=newline) as f:
            f.write(log)
        if status is not None:
            with open(path[:-4] + ".status", "w") as f:
                f.write(status + "\n")
        return f"{label}={path}"

    def summarise(self, *runs):
        """Run the script on (label, log, status) runs; return (rc, lines)."""
        args = [self.write_run(*run) for run in runs]
        p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True,
                           text=True, check=False)
        return p.returncode, p.stdout.splitlines()

    def fail_lines(self, lines):
        return [l for l in lines if l.startswith("FAIL ")]

    def test_all_pass(self):
        rc, lines = self.summarise(("kernel", ALL_PASS, "qemu 33"),
                                   ("hosted", ALL_PASS, "exit 0"))
        self.assertEqual(rc, 0)
        self.assertEqual(lines, ["kernel: 3 passed, 0 failed, 0 skipped",
                                 "hosted: 3 passed, 0 failed, 0 skipped",
                                 "6 passed, 0 failed"])

    def test_failure_with_diagnostics_and_skip(self):
        rc, lines = self.summarise(("kernel-smp4", WITH_FAILURE, "qemu 35"))
        self.assertEqual(rc, 1)
        self.assertEqual(lines, [
            "FAIL kernel-smp4 smp.ipi_all",
            "    tests/kernel/smp_test.c:10: expected a == b (0x1 vs 0x2, 1 vs 2)",
            "    cpu 3: another diagnostic",
            "kernel-smp4: 2 passed, 1 failed, 1 skipped",
            "2 passed, 1 failed, 1 skipped"])

    def test_diagnostics_of_passing_case_not_attached(self):
        log = WITH_FAILURE.replace("    ok 1 apic_ids\n",
                                   "    # note from apic_ids\n    ok 1 apic_ids\n")
        _, lines = self.summarise(("k", log, "qemu 35"))
        self.assertNotIn("    note from apic_ids", lines)

    def test_skip_is_case_insensitive_and_counted(self):
        log = "KTAP version 1\n1..2\nok 1 a # skip not here\nok 2 b # SKIP\n"
        rc, lines = self.summarise(("flat", log, "exit 0"))
        self.assertEqual(lines[-2:], ["flat: 0 passed, 0 failed, 2 skipped",
                                      "0 passed, 0 failed, 2 skipped"])
        self.assertEqual(rc, 1)  # nothing passed

    def test_flat_ktap_counts_top_level_results(self):
        log = "TAP version 14\n1..3\nok 1 a\n# a.c:3: expected x\nnot ok 2 b\nok 3 c\n"
        rc, lines = self.summarise(("flat", log, "exit 1"))
        self.assertEqual(rc, 1)
        self.assertEqual(lines, ["FAIL flat b", "    a.c:3: expected x",
                                 "flat: 2 passed, 1 failed, 0 skipped",
                                 "2 passed, 1 failed"])

    def test_truncated_suite(self):
        rc, lines = self.summarise(("kernel", TRUNCATED, "qemu 37"))
        self.assertEqual(rc, 1)
        self.assertEqual(self.fail_lines(lines), [
            "FAIL kernel smp: case 3 of 4 did not report",
            "FAIL kernel smp: case 4 of 4 did not report",
            "FAIL kernel suite 2 of 2 did not report",
            "FAIL kernel: kernel panic (qemu exit 37)"])
        self.assertEqual(lines[-1], "2 passed, 4 failed")

    def test_died_before_first_suite(self):
        log = "KTAP version 1\n# goheap kernel runner: 1 CPUs\n"
        _, lines = self.summarise(("kernel", log, "qemu 0"))
        self.assertIn("FAIL kernel no test plan or results "
                      "(run stopped before the first suite)", lines)
        self.assertIn("FAIL kernel: VM reset without reporting (triple fault?)", lines)
        self.assertEqual(lines[-1], "0 passed, 2 failed")

    def test_no_ktap_at_all(self):
        rc, lines = self.summarise(("kernel", "BdsDxe: failed to load Boot0001\n", "qemu 35"))
        self.assertEqual(rc, 1)
        self.assertEqual(lines, ["FAIL kernel no KTAP output",
                                 "    last 1 lines of " + os.path.join(self.tmp.name, "kernel.log") + ":",
                                 "        BdsDxe: failed to load Boot0001",
                                 "kernel: 0 passed, 1 failed, 0 skipped",
                                 "0 passed, 1 failed"])

    def test_timeout_prints_last_30_lines(self):
        log = ALL_PASS[:ALL_PASS.index("ok 1 smp")] + "".join(
            f"\x1b[31mspin {i}\x1b[0m\n" for i in range(40))
        rc, lines = self.summarise(("kernel", log, "timeout 60"))
        self.assertEqual(rc, 1)
        i = lines.index("FAIL kernel: hung: no result within 60 s")
        self.assertTrue(lines[i + 1].startswith("    last 30 lines of "))
        self.assertEqual(lines[i + 2:i + 32], [f"        spin {i}" for i in range(10, 40)])
        self.assertIn("FAIL kernel suite 2 of 2 did not report", lines)
        self.assertEqual(lines[-1], "2 passed, 2 failed")

    def test_missing_status_is_a_crash(self):
        _, lines = self.summarise(("hosted", ALL_PASS, None))
        self.assertIn("FAIL hosted: did not finish (no status file)", lines)

    def test_hosted_crash_names_signal(self):
        _, lines = self.summarise(("asan", ALL_PASS, "exit 134"))
        self.assertIn("FAIL asan: crashed (exit 134, SIGABRT)", lines)

    def test_qemu_failure(self):
        _, lines = self.summarise(("kernel", ALL_PASS, "qemu 1"))
        self.assertIn("FAIL kernel: QEMU failed (exit 1)", lines)

    def test_status_disagrees_with_results(self):
        for log, status in ((WITH_FAILURE, "qemu 33"), (WITH_FAILURE, "exit 0"),
                            (ALL_PASS, "qemu 35"), (ALL_PASS, "exit 1")):
            with self.subTest(status=status):
                rc, lines = self.summarise(("r", log, status))
                self.assertEqual(rc, 1)
                self.assertIn(f"FAIL r: runner status disagrees with its results ({status})",
                              lines)
                # no log tail for a disagreement
                self.assertFalse(any(l.startswith("    last ") for l in lines))

    def test_noise_ansi_and_crlf(self):
        log = ("\x1b[2J\x1b[01;01H\x1b[=3h\x1b[0m\x1b[37m\x1b[40mBdsDxe: loading Boot0001\n"
               "\x1b[0m\x1b[1mKTAP version 1\n" + WITH_FAILURE.split("\n", 1)[1])
        rc, lines = self.summarise(("kernel", log, "qemu 35", "\r\n"))
        self.assertEqual(rc, 1)
        self.assertEqual(lines[0], "FAIL kernel smp.ipi_all")
        self.assertEqual(lines[1], "    tests/kernel/smp_test.c:10: expected a == b "
                                   "(0x1 vs 0x2, 1 vs 2)")
        self.assertEqual(lines[-1], "2 passed, 1 failed, 1 skipped")

    def test_interleaved_printk(self):
        log = WITH_FAILURE.replace(
            "    # cpu 3", "[    0.812] cpu 2: online\n    # cpu 3").replace(
            "    ok 1 basic", "[    0.900] apic: timer calibrated\n    ok 1 basic")
        rc, lines = self.summarise(("kernel", log, "qemu 35"))
        self.assertEqual(rc, 1)
        self.assertEqual(lines[:3], [
            "FAIL kernel smp.ipi_all",
            "    tests/kernel/smp_test.c:10: expected a == b (0x1 vs 0x2, 1 vs 2)",
            "    cpu 3: another diagnostic"])
        self.assertEqual(lines[-1], "2 passed, 1 failed, 1 skipped")

    def test_totals_over_runs_and_final_line(self):
        rc, lines = self.summarise(("a", ALL_PASS, "exit 0"), ("b", WITH_FAILURE, "exit 1"))
        self.assertEqual(rc, 1)
        self.assertEqual(lines[-3:], ["a: 3 passed, 0 failed, 0 skipped",
                                      "b: 2 passed, 1 failed, 1 skipped",
                                      "5 passed, 1 failed, 1 skipped"])

    def test_usage_error(self):
        p = subprocess.run([sys.executable, SCRIPT, "nolabel"], capture_output=True,
                           text=True, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("LABEL=LOGFILE", p.stderr)


if __name__ == "__main__":
    unittest.main()
