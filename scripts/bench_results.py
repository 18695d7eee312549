"""bench_results.py: reading scripts/bench-malloc.sh's result files, shared
by its report and its plots, and what the benchmark reports share
(bench-malloc.sh, bench-gc.sh).

meta.tsv holds "key<TAB>value" lines, with "workload" (a micro workload run)
and "wl" (a mimalloc-bench workload: name<TAB>summary) repeated; the results
file holds "allocator<TAB>round<TAB>key ... value" lines.
"""
import statistics
from collections import defaultdict


def load(meta_f, res_f):
    """(meta, micro workloads, [(wl name, summary)], vals) where
    vals[(allocator, key)] is the list of that key's values over the rounds."""
    meta, workloads, wls = {}, [], []
    for line in open(meta_f):
        k, v = line.rstrip("\n").split("\t", 1)
        if k == "workload":
            workloads.append(v)
        elif k == "wl":
            wls.append(tuple(v.split("\t", 1)))
        else:
            meta[k] = v
    vals = defaultdict(list)
    for line in open(res_f):
        a, _, rest = line.rstrip("\n").split("\t", 2)
        *key, v = rest.split()
        vals[(a, " ".join(key))].append(float(v))
    return meta, workloads, wls, vals


def ratio(x, base):
    """x / base as "1.23×", or "—" when either is missing."""
    return "—" if x is None or not base else f"{x / base:.2f}×"


def failures_section(fail_f):
    """The report's closing section: the failed runs, or that there were none."""
    fails = open(fail_f).read().strip()
    return "## Failures\n\n" + ("```\n" + fails + "\n```" if fails else
                                 "None: every run finished and printed its results.")


def median(vals, a, key):
    v = vals.get((a, key))
    return statistics.median(v) if v else None
