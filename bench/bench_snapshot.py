"""Benchmark: `--dependency-snapshot` as scangate writes it, against `trivy convert --format
github` on the same report (what the snapshot could have been made with instead).

In one run, medians of `--repeat` (wall seconds):

- `scangate`: `dependency_snapshot.build` + `render` on the report bytes a scan keeps
  (parsing only the package inventory), in this process;
- `trivy convert`: `trivy convert --format github --output /dev/null REPORT`, a child
  process, as the Action would have to run it after the scan;

on two reports: a package-heavy one written here (50 lock files x 1,000 npm packages with
relationships and 3 dependencies each: 50,000 packages) and /tmp/sg-bench/r100k.json
(100,000 vulnerabilities, 40,000 packages). Prints the ratio; the target is "no slower than
trivy convert". Asserts nothing.

    python bench/bench_snapshot.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import ensure

TRIVY = Path(sys.executable).parent / "trivy"
PACKAGES = Path("/tmp/sg-bench/snapshot-50k-pkgs.json")


def package_report(path: Path, manifests: int = 50, per: int = 1000) -> Path:
    if path.exists():
        return path
    results = []
    for m in range(manifests):
        packages = []
        for n in range(per):
            name = f"pkg-{m}-{n}"
            deps = [f"pkg-{m}-{(n * 7 + k) % per}@1.{k}.0" for k in range(1, 4)]
            packages.append(
                {
                    "ID": f"{name}@1.{n % 4}.0",
                    "Name": name,
                    "Version": f"1.{n % 4}.0",
                    "Identifier": {"PURL": f"pkg:npm/{name}@1.{n % 4}.0"},
                    "Relationship": "direct" if n < 50 else "indirect",
                    "DependsOn": deps,
                    "Locations": [{"StartLine": n, "EndLine": n}],
                }
            )
        results.append(
            {
                "Target": f"app{m}/package-lock.json",
                "Class": "lang-pkgs",
                "Type": "npm",
                "Packages": packages,
            }
        )
    report = {
        "SchemaVersion": 2,
        "ArtifactName": ".",
        "ArtifactType": "filesystem",
        "Trivy": {"Version": "0.76.0"},
        "Results": results,
    }
    path.write_text(json.dumps(report))
    return path


def scangate_seconds(report: Path, repeat: int) -> float:
    from scangate.dependency_snapshot import Commit, Job, build, render
    from scangate.trivy_run import ScanOutcome, Target

    raw = report.read_bytes()
    target = Target("fs", str(report.parent), name=".")
    outcome = cast(ScanOutcome, _Outcome(target, raw))
    commit = Commit("a" * 40, "refs/heads/main", None)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        render(build([outcome], commit=commit, job=Job("c", "1"), scanned=_now(), version="0"))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _Outcome:
    """What `build` reads of a scan's outcome: its target and the report bytes."""

    def __init__(self, target: Any, raw: bytes) -> None:
        self.target = target
        self.raw = raw


def _now() -> datetime:
    return datetime.now(UTC)


def trivy_seconds(report: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [str(TRIVY), "convert", "--format", "github", "--output", "/dev/null", str(report)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    reports = [package_report(PACKAGES), ensure(Path("/tmp/sg-bench/r100k.json"), 100)]
    for report in reports:
        ours = scangate_seconds(report, args.repeat)
        theirs = trivy_seconds(report, args.repeat)
        verdict = "met" if ours <= theirs else "NOT met"
        print(
            f"{report.name}: scangate {ours:.3f} s, trivy convert {theirs:.3f} s, "
            f"ratio {ours / theirs:.2f} (target <= 1.00: {verdict})"
        )


if __name__ == "__main__":
    main()
