"""Benchmark: `scangate check REPORT --json OUT` on synthetic Trivy reports.

Prints wall time and peak RSS at 10k, 50k and 100k vulnerabilities (100 targets x 1,000 is
about 200 MB), so growth can be read off as linear or not. Target on 2 cores: the 100k run
in <= 5 s and <= 1 GB. Asserts nothing.

    python bench/bench_check.py [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import generate, use_feed_cache

SIZES = ((10, 1000), (50, 1000), (100, 1000))
SCANGATE = Path(sys.executable).parent / "scangate"


def run_once(report: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MB (measured by a fresh `time`-like wrapper)."""
    argv = [str(SCANGATE), "check", str(report), "--json", str(out)]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scangate failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: run sizes in ascending order.
    return wall, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the reports here and keep them")
    args = parser.parse_args()
    use_feed_cache()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="scangate-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    header = ("findings", "report MB", "best s", "median s", "peak MB", "us/finding")
    print("{:>9} {:>9} {:>7} {:>8} {:>8} {:>10}".format(*header))
    for targets, per_target in SIZES:
        report = workdir / f"report-{targets * per_target}.json"
        if not report.exists():
            generate(report, targets, per_target)
        walls = []
        peak = 0.0
        for _ in range(args.repeat):
            wall, rss = run_once(report, workdir / "result.json")
            walls.append(wall)
            peak = max(peak, rss)
        walls.sort()
        n = targets * per_target
        size = report.stat().st_size / 1e6
        print(
            f"{n:>9} {size:>9.0f} {walls[0]:>7.2f} {walls[len(walls) // 2]:>8.2f} "
            f"{peak:>8.0f} {walls[0] / n * 1e6:>10.1f}"
        )
    print("target: 100000 findings in <= 5 s and <= 1024 MB peak RSS")


if __name__ == "__main__":
    main()
