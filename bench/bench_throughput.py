"""Benchmark: scangate's throughput against `json.load` of the same report (issue 10, item 6).

On the 100,000-vulnerability report (`synth_report.py --targets 100 --per-target 1000`,
about 200 MB) it times, as fresh processes run alternately (one warm-up round, then `-n`
rounds, medians), each child's wall time, CPU time (user + system) and peak RSS:

* the floor: `python -c 'import json; json.load(open(F))'`;
* `scangate check F --format json` (stdout to /dev/null);
* `scangate check F`, the table, to a pipe (stdout to /dev/null: full width, no colour);
* `scangate check F --sarif OUT --sarif-max-results 0 -q` (SARIF with the cap off);

and on the 20,000-vulnerability report, `scangate check --sarif` against
`trivy convert --format sarif` (Trivy's own converter, this environment's binary).

Every command runs in an empty temp directory (the default policy, today's KEV catalog
cached as after an earlier run: `synth_report.use_feed_cache`) and writes its own output
file, removed before each run. Each ratio of item 6
is printed with its target and whether it is met, by wall time (what a user waits) and by
CPU time (steadier on a shared machine). Asserts nothing.

    .venv/bin/python bench/bench_throughput.py [-n 3] [--big F] [--small F]

`--source DIR` runs the scangate package in DIR (`python -m scangate`, DIR first on the path)
instead of the installed one: another revision, for a before/after comparison
(`git archive REV scangate policies | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import ensure, use_feed_cache

BIN = Path(sys.executable).parent
SCANGATE = BIN / "scangate"
TRIVY = BIN / "trivy"
BIG = Path("/tmp/sg-bench/r100k.json")
SMALL = Path("/tmp/sg-bench/r20k.json")
GB = 1024.0  # MB


@dataclass
class Runs:
    label: str
    argv: list[str]
    env: dict[str, str] | None = None
    # The file the command writes: removed before each run (untimed), so that each run
    # writes a new file, as in CI, and no run pays for freeing another's output.
    output: Path | None = None
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_mb: float = 0.0

    def run(self, cwd: Path) -> None:
        if self.output is not None:
            self.output.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        err = proc.stderr.read()
        # wait4: this child's own resource usage, peak RSS included.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            tail = err.decode(errors="replace")[-1500:]
            raise SystemExit(f"{self.label}: exited {code}\n{tail}")
        self.wall.append(wall)
        self.cpu.append(usage.ru_utime + usage.ru_stime)
        self.peak_mb = max(self.peak_mb, usage.ru_maxrss / 1024)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def sarif_args(path: Path) -> list[str]:
    return ["--sarif", str(path), "--sarif-max-results", "0", "-q"]


def verdict(ratio: float, target: float) -> str:
    return "met" if ratio <= target else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--big", type=Path, default=BIG, help="the 100k report")
    parser.add_argument("--small", type=Path, default=SMALL, help="the 20k report")
    parser.add_argument("--no-trivy", action="store_true", help="skip `trivy convert`")
    parser.add_argument("--source", type=Path, help="run the scangate package in this directory")
    args = parser.parse_args()
    use_feed_cache()
    sg = [str(SCANGATE)]
    env = None
    if args.source is not None:
        sg = [sys.executable, "-m", "scangate"]
        env = {**os.environ, "PYTHONPATH": str(args.source.resolve())}
    big = ensure(args.big.resolve(), 100)
    small = ensure(args.small.resolve(), 20)

    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as work:
        cwd = Path(work)
        out = {name: cwd / f"{name}.sarif" for name in ("sarif", "sarif20k", "trivy20k")}
        load = "import json, sys; json.load(open(sys.argv[1]))"  # as the issue measured it
        runs = {
            "floor": Runs("json.load", [sys.executable, "-c", load, str(big)]),
            "json": Runs("check --format json", [*sg, "check", str(big), "-f", "json"], env),
            "table": Runs("check (table, pipe)", [*sg, "check", str(big)], env),
            "sarif": Runs(
                "check --sarif (cap off)",
                [*sg, "check", str(big), *sarif_args(out["sarif"])],
                env,
                out["sarif"],
            ),
            "sarif20k": Runs(
                "check --sarif (cap off)",
                [*sg, "check", str(small), *sarif_args(out["sarif20k"])],
                env,
                out["sarif20k"],
            ),
        }
        if not args.no_trivy and TRIVY.exists():
            convert = [str(TRIVY), "convert", "--format", "sarif", "--quiet"]
            runs["trivy20k"] = Runs(
                "trivy convert --format sarif",
                [*convert, "--output", str(out["trivy20k"]), str(small)],
                output=out["trivy20k"],
            )
        for r in runs.values():  # warm-up: the page cache, .pyc files
            r.run(cwd)
            r.wall.clear()
            r.cpu.clear()
        names = list(runs)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                runs[name].run(cwd)

    floor = runs["floor"]
    print(f"throughput: {args.runs} rounds, commands alternating, medians")
    print(f"{big.name} ({big.stat().st_size / 1e6:.0f} MB):")
    header = f"  {'':28}{'wall':>8}{'cpu':>8}{'peak':>9}{'wall x':>8}{'cpu x':>7}  target"
    print(header)
    targets = {"json": 1.3, "table": 1.6, "sarif": 2.0}
    for name in ("floor", "json", "table", "sarif"):
        r = runs[name]
        wall_x = r.median_wall / floor.median_wall
        cpu_x = r.median_cpu / floor.median_cpu
        line = (
            f"  {r.label:28}{r.median_wall:7.2f}s{r.median_cpu:7.2f}s{r.peak_mb:7.0f}MB"
            f"{wall_x:7.2f}x{cpu_x:6.2f}x"
        )
        if name in targets:
            t = targets[name]
            line += f"  <= {t}x json.load: {verdict(wall_x, t)} (wall), {verdict(cpu_x, t)} (cpu)"
        if name == "sarif":
            line += f"; <= 1.0 GB peak: {verdict(r.peak_mb, GB)}"
        print(line)

    r = runs["sarif20k"]
    print(f"{small.name} ({small.stat().st_size / 1e6:.0f} MB):")
    print(f"  {r.label:28}{r.median_wall:7.2f}s{r.median_cpu:7.2f}s{r.peak_mb:7.0f}MB")
    trivy = runs.get("trivy20k")
    if trivy is None:
        print("  trivy convert: not run (no trivy in this environment, or --no-trivy)")
        return
    wall_x = r.median_wall / trivy.median_wall
    cpu_x = r.median_cpu / trivy.median_cpu
    print(
        f"  {trivy.label:28}{trivy.median_wall:7.2f}s{trivy.median_cpu:7.2f}s{trivy.peak_mb:7.0f}MB"
    )
    print(
        f"  check --sarif / trivy convert: {wall_x:.2f}x wall, {cpu_x:.2f}x cpu  "
        f"<= 0.35x: {verdict(wall_x, 0.35)} (wall), {verdict(cpu_x, 0.35)} (cpu)"
    )


if __name__ == "__main__":
    main()
