"""Benchmark: `scangate check REPORT` printing the table to a file, against a plain
`json.load` of the same report (issue 10: table <= 1.6x json.load).

Prints the median of `--repeat` runs of each, measured interleaved in one run, and the ratio;
then the table's own share: in one process, reading the report (parse), gating it and
rendering the table, each timed. Asserts nothing.

    python bench/bench_table.py [REPORT] [--repeat 3]

REPORT defaults to /tmp/sg-bench/r100k.json (`bench/synth_report.py --targets 100
--per-target 1000`), generated there if missing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import ensure, use_feed_cache

SCANGATE = Path(sys.executable).parent / "scangate"
DEFAULT_REPORT = Path("/tmp/sg-bench/r100k.json")
TARGET = 1.6

PHASES = """
import sys, time
from datetime import date
from pathlib import Path
start = time.perf_counter()
from scangate.cli.check import read_runs
from scangate.formats.table import TableFormat
from scangate.gate import evaluate
from scangate.policy import resolve_policy
imported = time.perf_counter()
runs = read_runs([sys.argv[1]])
parsed = time.perf_counter()
policy = resolve_policy(None, roots=[Path.cwd()], today=date.today())
result = evaluate(runs, policy, date.today(), None)
gated = time.perf_counter()
text = TableFormat().render(result)
rendered = time.perf_counter()
narrow = TableFormat(width=80, color=True).render(result)
fitted = time.perf_counter()
print(imported - start, parsed - imported, gated - parsed, rendered - gated, fitted - rendered,
      text.count(chr(10)))
"""


def timed(argv: list[str], stdout: Path) -> float:
    with stdout.open("wb") as out:
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, nargs="?", default=DEFAULT_REPORT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    use_feed_cache()
    report = str(ensure(args.report, 100))
    load = [sys.executable, "-c", "import json, sys; json.load(open(sys.argv[1]))", report]
    check = [str(SCANGATE), "check", report]
    loads, checks, phases = [], [], []
    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as tmp:
        sink = Path(tmp) / "out.txt"
        for _ in range(args.repeat):
            loads.append(timed(load, sink))
            checks.append(timed(check, sink))
            lines = sink.read_text(encoding="utf-8").count("\n")
            done = subprocess.run(
                [sys.executable, "-c", PHASES, report], capture_output=True, text=True, check=True
            )
            phases.append([float(x) for x in done.stdout.split()])
    json_load, table = statistics.median(loads), statistics.median(checks)
    ratio = table / json_load
    size = args.report.stat().st_size / 1e6
    print(f"report: {report} ({size:.0f} MB), median of {args.repeat}")
    print(f"json.load            {json_load:6.2f} s")
    print(f"check (table, file)  {table:6.2f} s   {lines} lines")
    met = "met" if ratio <= TARGET else "NOT met"
    print(f"table                {ratio:6.2f}x json.load (target <= {TARGET}x: {met})")
    med = [statistics.median(p[i] for p in phases) for i in range(5)]
    print(
        f"in one process: import {med[0]:.2f} s, parse {med[1]:.2f} s, gate {med[2]:.2f} s, "
        f"render {med[3]:.2f} s full width ({med[3] / table:.0%} of check), "
        f"{med[4]:.2f} s at 80 columns with colour"
    )


if __name__ == "__main__":
    main()
