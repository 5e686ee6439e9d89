"""Benchmark: what issue 11's policy work costs a large report, in one process.

1. Reading: `load_report` + `to_scan_run` of the report as it is (with PublishedDate, which
   scangate now keeps and turns into dates) against the same report with that key renamed
   to one scangate ignores (the same bytes). Target: the dates add at most 5 %.
2. Deciding: `evaluate` with the built-in default (kev: report, grace-days: 0: no rule set,
   the gate's old path) against a policy setting kev: fail, epss, grace-days and
   unfixed-max-days, with 10 % of the findings in KEV and scored by EPSS. Target: at most
   1.5x.

Rounds alternate which side goes first, after a collection; medians of CPU time. Asserts nothing.

    python bench/bench_policy_risk.py [--report /tmp/sg-bench/r100k.json] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from synth_report import ensure

from scangate.findings import KevEntry, ScanRun
from scangate.gate import evaluate
from scangate.policy import load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report

TODAY = date(2026, 3, 10)
RISK_POLICY = """\
kev: fail
epss: {fail-at: 0.5}
grace-days: {CRITICAL: 0, HIGH: 3, MEDIUM: 7}
unfixed-max-days: {CRITICAL: 30, HIGH: 90}
"""


def without_dates(report: Path, out: Path) -> Path:
    """The report with PublishedDate renamed to a key no model reads, of the same length:
    the same bytes to parse, so the difference is what scangate does with the dates."""
    doc = json.loads(report.read_text())
    for result in doc.get("Results") or ():
        for vuln in result.get("Vulnerabilities") or ():
            if "PublishedDate" in vuln:
                vuln["XublishedDate"] = vuln.pop("PublishedDate")
    out.write_text(json.dumps(doc))
    return out


def read(path: Path) -> ScanRun:
    return to_scan_run(load_report(path))


def timed(fn: Callable[[], object]) -> float:
    # CPU seconds of this process: the machine's other load moves wall time far more than
    # the few percent measured here.
    start = time.process_time()
    fn()
    return time.process_time() - start


def verdict(ratio: float, target: float) -> str:
    return "met" if ratio <= target else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = args.report or ensure(Path("/tmp/sg-bench/r100k.json"), 100)
    with tempfile.TemporaryDirectory() as tmp:
        bare = without_dates(report, Path(tmp) / "nodates.json")
        read_with: list[float] = []
        read_without: list[float] = []
        for i in range(args.repeat):
            # Each side first in every other round: the one after pays the other's garbage.
            sides = [(report, read_with), (bare, read_without)]
            for path, times in sides if i % 2 == 0 else reversed(sides):
                gc.collect()
                times.append(timed(functools.partial(read, path)))
        run = to_scan_run(load_report(report))
        n = len(run.findings)
        kev = KevEntry(date(2024, 1, 10), date(2024, 1, 31), ransomware=False)
        marked = ScanRun(
            run.artifact,
            [
                replace(f, kev=kev, epss=0.9) if i % 10 == 0 else f
                for i, f in enumerate(run.findings)
            ],
        )
        (Path(tmp) / "risk.yaml").write_text(RISK_POLICY)
        default = load_policy("default", base_dir=Path(tmp), today=TODAY)
        risky = load_policy(str(Path(tmp) / "risk.yaml"), base_dir=Path(tmp), today=TODAY)
        gate_default: list[float] = []
        gate_risk: list[float] = []
        for i in range(args.repeat):
            rounds = [(default, gate_default), (risky, gate_risk)]
            for gate, times in rounds if i % 2 == 0 else reversed(rounds):
                gc.collect()
                times.append(timed(functools.partial(evaluate, [marked], gate, TODAY)))
    rw, ro = statistics.median(read_with), statistics.median(read_without)
    gd, gr = statistics.median(gate_default), statistics.median(gate_risk)
    print(f"policy risk: {report.name}, {n} findings, {args.repeat} rounds, median CPU seconds")
    ratio = rw / ro
    print(
        f"  read+convert  with dates {rw:6.2f}s  without {ro:6.2f}s  ratio {ratio:.3f}"
        f"  (target <= 1.05: {verdict(ratio, 1.05)})"
    )
    ratio = gr / gd
    print(
        f"  evaluate      risk rules {gr:6.2f}s  default {gd:6.2f}s  ratio {ratio:.3f}"
        f"  (target <= 1.5: {verdict(ratio, 1.5)})"
    )


if __name__ == "__main__":
    main()
