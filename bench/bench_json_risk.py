"""Benchmark: the JSON result with issue 11's fields (`published`, `kev`, `epss`) against the
JSON result before them, on the 100,000-vulnerability report.

Two measurements, each before/after in one run:

* in one process, on the same `GateResult` (the report read and gated once), the module as
  it was (`--before DIR`, a copy of the package at the earlier revision:
  `git archive HEAD scangate policies | tar -x -C DIR`) and as it is, alternating, `-n`
  rounds, CPU time medians (steadier than wall time on a shared machine): the findings
  block (each finding's object built, then the list encoded one finding a line: where the
  new fields cost), and the whole `JsonFormat().render` (which also holds what else the
  result gained since, such as issue 12's fix plan); once with no KEV or EPSS data (what a
  run whose policy uses no feed writes) and once with every finding scored and every 50th
  CVE in KEV (the worst case of a policy with both feeds);
* as fresh processes, `check F --format json` (stdout to /dev/null) run by the package in
  `--before DIR` and by this tree, alternating (`python -m scangate` both, DIR or this tree
  first on the path), and a third: this tree's package with the three fields' lines
  taken out of the JSON result (`without_fields`); wall and CPU medians. This tree against
  `--before` holds every change between the two revisions; against the third, the fields
  alone: that CPU ratio is the one held to the target (within 5%, a few percent of the
  throughput).

Prints the figures and the ratios. Asserts nothing.

    .venv/bin/python bench/bench_json_risk.py --before DIR [-n 5] [--big F] [--no-cli]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_throughput import Runs  # noqa: E402
from synth_report import ensure  # noqa: E402

from scangate.findings import KevEntry  # noqa: E402
from scangate.formats import jsonresult  # noqa: E402
from scangate.gate import GateResult, evaluate  # noqa: E402
from scangate.policy import load_policy  # noqa: E402
from scangate.trivy_findings import to_scan_run  # noqa: E402
from scangate.trivy_report import load_report  # noqa: E402
from tests.support import feeds  # noqa: E402

BIG = Path("/tmp/sg-bench/r100k.json")
TODAY = date(2026, 6, 1)
TARGET = 1.05


def old_module(before: Path) -> ModuleType:
    """The earlier revision's `formats/jsonresult.py`, run against this tree's types (its
    own imports are of modules whose shapes it reads the same way)."""
    path = before / "scangate" / "formats" / "jsonresult.py"
    spec = importlib.util.spec_from_file_location("jsonresult_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gated(report: Path) -> GateResult:
    run = to_scan_run(load_report(report))
    return evaluate([run], load_policy("default", base_dir=Path.cwd(), today=TODAY), TODAY)


def with_feeds(result: GateResult) -> None:
    """Every finding scored, every 50th distinct CVE in KEV: as `feeds.enrich` sets them."""
    kev = KevEntry(date(2024, 1, 2), date(2024, 1, 23), ransomware=True)
    seen: dict[str, int] = {}
    for d in result.decided():
        f = d.finding
        n = seen.setdefault(f.id, len(seen))
        f.epss = (n % 1000) / 1000 + 0.00042
        f.kev = kev if n % 50 == 0 else None


def time_render(module: ModuleType, result: GateResult) -> float:
    gc.collect()
    start = time.process_time()
    module.JsonFormat().render(result)
    return time.process_time() - start


def time_findings(module: ModuleType, result: GateResult) -> float:
    """The findings block: the objects built (as `result_document` does), then encoded."""
    gc.collect()
    start = time.process_time()
    if module is jsonresult:
        findings = jsonresult._findings(result)
    else:
        findings = [module._finding(d, r.run.artifact.name) for r in result.runs for d in r.decided]
    module._one_per_line(findings)
    return time.process_time() - start


def rounds_of(
    timer: Callable[[ModuleType, GateResult], float],
    before: ModuleType,
    result: GateResult,
    rounds: int,
) -> tuple[float, float]:
    times: dict[str, list[float]] = {"before": [], "after": []}
    modules = {"before": before, "after": jsonresult}
    for name in modules:  # warm-up
        timer(modules[name], result)
    for i in range(rounds):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for name in order:
            times[name].append(timer(modules[name], result))
    return statistics.median(times["before"]), statistics.median(times["after"])


def report(label: str, old: float, new: float, *, target: bool) -> None:
    ratio = new / old
    verdict = f"<= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}" if target else "info"
    print(f"  {label:44}before {old:6.3f}s  after {new:6.3f}s  {ratio:5.3f}x  ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier package's dir")
    parser.add_argument("-n", "--runs", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--big", type=Path, default=BIG, help="the 100k report")
    parser.add_argument("--no-cli", action="store_true", help="skip the fresh-process runs")
    args = parser.parse_args()
    big = ensure(args.big.resolve(), 100)
    before = old_module(args.before.resolve())

    result = gated(big)
    # The gated report's objects out of the collector's way: otherwise when a full
    # collection falls (walking the 100,000 findings) decides more of a timing than the
    # format does.
    gc.collect()
    gc.freeze()
    n = len(result.decided())
    dated = sum(1 for d in result.decided() if d.finding.published is not None)
    print(f"JSON result, {n} findings ({dated} with a published date), in one process, "
          f"{args.runs} rounds alternating, CPU time medians:")  # fmt: skip
    old, new = rounds_of(time_findings, before, result, args.runs)
    report("findings block, no KEV/EPSS data", old, new, target=False)
    old, new = rounds_of(time_render, before, result, args.runs)
    report("whole render, no KEV/EPSS data", old, new, target=False)
    with_feeds(result)
    old, new = rounds_of(time_findings, before, result, args.runs)
    report("findings block, every finding scored", old, new, target=False)
    del result
    gc.collect()
    if args.no_cli:
        return

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as work:
        cwd = Path(work)
        argv = [python, "-m", "scangate", "check", str(big), "-f", "json"]
        # The default policy reads the KEV feed (`kev: report`): from a file here (the test
        # suite's, none of whose CVEs the report has), never from the network.
        kev, epss = feeds.dated_copies(cwd / "feeds")
        env = {**os.environ, "SCANGATE_KEV_FILE": str(kev), "SCANGATE_EPSS_FILE": str(epss)}
        without = without_fields(cwd / "without")
        runs = {
            "before": Runs("before (--before DIR)", argv,
                           {**env, "PYTHONPATH": str(args.before.resolve())}),
            "without": Runs("this tree, without the fields", argv,
                            {**env, "PYTHONPATH": str(without)}),
            "after": Runs("this tree", argv, {**env, "PYTHONPATH": str(ROOT)}),
        }  # fmt: skip
        for r in runs.values():
            r.run(cwd)
            r.wall.clear()
            r.cpu.clear()
        names = list(runs)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                runs[name].run(cwd)
    print(f"{big.name}: check --format json, fresh processes, {args.runs} rounds alternating, "
          "medians:")  # fmt: skip
    for r in runs.values():
        print(f"  {r.label:32}{r.median_wall:7.2f}s wall{r.median_cpu:7.2f}s cpu"
              f"{r.peak_mb:7.0f}MB")  # fmt: skip
    b, w, a = runs["before"], runs["without"], runs["after"]
    cpu_x = a.median_cpu / w.median_cpu
    verdict = "met" if cpu_x <= TARGET else "NOT met"
    print(f"  the fields' cost (this tree / without them): {a.median_wall / w.median_wall:.3f}x "
          f"wall, {cpu_x:.3f}x cpu (<= {TARGET}x: {verdict})")  # fmt: skip
    print(
        f"  this tree / before: {a.median_wall / b.median_wall:.3f}x wall, "
        f"{a.median_cpu / b.median_cpu:.3f}x cpu (every change between the two revisions)"
    )


def without_fields(directory: Path) -> Path:
    """A copy of this tree's package whose JSON result leaves out `published`, `kev` and
    `epss`: everything else as in this tree, so a run of it against this tree times the
    fields alone."""
    shutil.copytree(ROOT / "scangate", directory / "scangate",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copytree(ROOT / "policies", directory / "policies")
    module = directory / "scangate" / "formats" / "jsonresult.py"
    lines = module.read_text(encoding="utf-8").split("\n")
    fields = ('        "published": ', '        "kev": ', '        "epss": ')
    kept = [line for line in lines if not line.startswith(fields)]
    if len(lines) - len(kept) != len(fields):
        raise SystemExit(f"{module}: the three fields' lines are not where this bench expects")
    module.write_text("\n".join(kept), encoding="utf-8")
    return directory


if __name__ == "__main__":
    main()
