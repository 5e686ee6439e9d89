"""Benchmark: `check --sarif` against issue 10's targets, measured in one run.

* 100,000 vulnerabilities (100 targets x 1,000, about 200 MB): `scangate check REPORT --sarif
  OUT --sarif-max-results 0 -q` (the cap off, every finding written) against
  `python -c 'import json; json.load(open(F))'` on the same file.
  Targets: <= 2.0x its time and <= 1.0 GB (10^9 bytes) peak RSS.
* 20,000 vulnerabilities: the same `check` against `trivy convert --format sarif --output OUT
  REPORT`. Target: <= 0.35x.
* The split of `check --sarif`, in a child process: start-up and imports, parse + gate (the
  report models and the policy), SARIF render, write.

Each command runs `--repeat` times, interleaved, in a fresh child; the ratios use medians.
On a shared machine wall times are noisy: CPU time (user + system) is printed beside them.
Prints figures and whether each target is met; asserts nothing.

    python bench/bench_sarif.py [--repeat 3] [--reports DIR] [--keep DIR] [--unique-descriptions]

`--reports DIR` uses DIR/r100k.json and DIR/r20k.json when they exist (default
/tmp/sg-bench), else they are generated with `synth_report.py`. The synthetic reports hold
four descriptions; `--unique-descriptions` runs on variants where each description ends
with its vulnerability ID (as in real reports, every rule's help is then different), made
from them as u100k.json and u20k.json beside the outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import generate, use_feed_cache

BIN = Path(sys.executable).parent
SCANGATE = BIN / "scangate"
TRIVY = BIN / "trivy"
JSON_LOAD = "import json, sys; json.load(open(sys.argv[1]))"
GB = 10**9

# Runs in a child: the split of `check --sarif` as the CLI does it (gc off, the cap off).
SPLIT = """
import gc, json, sys, time
start = time.perf_counter()
gc.disable()
from datetime import date
from pathlib import Path
from scangate.formats.sarif.writer import SarifFormat, SarifOptions
from scangate.gate import evaluate
from scangate.policy import load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from scangate.cli._outputs import Output, write_outputs
report, out = sys.argv[1:3]
imported = time.perf_counter()
today = date.today()
runs = [to_scan_run(load_report(Path(report)))]
result = evaluate(runs, load_policy("default", base_dir=Path.cwd(), today=today), today)
gated = time.perf_counter()
text = SarifFormat(SarifOptions(max_results=0, source_root=Path.cwd())).render(result)
rendered = time.perf_counter()
write_outputs([Output("--sarif", Path(out), text)])
written = time.perf_counter()
print(json.dumps({"import": imported - start, "parse_gate": gated - imported,
                  "render": rendered - gated, "write": written - rendered}))
"""


@dataclass
class Run:
    wall: float
    cpu: float
    rss_bytes: int
    proc: subprocess.CompletedProcess[str]


def measure(argv: list[str]) -> Run:
    """Wall seconds, CPU seconds (user + system), peak RSS of this one child (wait4), and
    its output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(argv, code, out.read(), err.read())
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, done)


@dataclass
class Figures:
    runs: list[Run]

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def rss(self) -> int:
        return max(r.rss_bytes for r in self.runs)

    def line(self) -> str:
        walls = ", ".join(f"{r.wall:.2f}" for r in self.runs)
        return (
            f"wall {self.wall:6.2f} s (median of {walls}), cpu {self.cpu:6.2f} s, "
            f"peak {self.rss / 1e6:6.0f} MB"
        )


def repeated(
    commands: dict[str, list[str]], repeat: int, ok: tuple[int, ...]
) -> dict[str, Figures]:
    """Each command `repeat` times, interleaved so that they share the machine's noise."""
    figures: dict[str, Figures] = {name: Figures([]) for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            run = measure(argv)
            if run.proc.returncode not in ok:
                tail = run.proc.stderr.strip().splitlines()[-1:] or ["?"]
                sys.exit(f"{name} failed ({run.proc.returncode}): {tail[0][:300]}")
            figures[name].runs.append(run)
    return figures


def check_argv(report: Path, out: Path) -> list[str]:
    return [str(SCANGATE), "check", str(report), "--sarif", str(out), "--sarif-max-results", "0",
            "-q"]  # fmt: skip


def split(report: Path, out: Path) -> str:
    run = measure([sys.executable, "-c", SPLIT, str(report), str(out)])
    if run.proc.returncode != 0:
        return f"failed: {run.proc.stderr.strip()[-300:]}"
    f = json.loads(run.proc.stdout)
    return (
        f"imports {f['import']:.2f} s, parse + gate {f['parse_gate']:.2f} s, "
        f"SARIF render {f['render']:.2f} s + write {f['write']:.2f} s "
        f"(SARIF share {(f['render'] + f['write']) / run.wall:.0%} of {run.wall:.2f} s wall)"
    )


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target <= {target}x: {'met' if ratio <= target else 'NOT met'})"


def report_path(directory: Path, workdir: Path, name: str, targets: int) -> Path:
    path = directory / name
    if path.exists():
        return path
    path = workdir / name
    if not path.exists():
        print(f"generating {path} ({targets} x 1,000 vulnerabilities)")
        generate(path, targets, 1000)
    return path


UNIQUE = """
import json, sys
from pathlib import Path
source, path = map(Path, sys.argv[1:3])
data = json.loads(source.read_bytes())
for result in data.get("Results") or []:
    for vuln in result.get("Vulnerabilities") or []:
        vuln["Description"] = f"{vuln.get('Description', '')}{vuln['VulnerabilityID']}"
path.write_text(json.dumps(data))
"""


def unique_variant(report: Path, workdir: Path) -> Path:
    """`report` with each description ending in its vulnerability ID."""
    path = workdir / f"u{report.name[1:]}"
    if not path.exists():
        print(f"writing {path} (each description ends with its ID)")
        # In a child: a child's peak RSS counts its parent's at fork (Linux keeps it
        # across exec), so this process stays small.
        subprocess.run([sys.executable, "-c", UNIQUE, str(report), str(path)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reports", type=Path, default=Path("/tmp/sg-bench"))
    parser.add_argument("--keep", type=Path, help="generate reports and outputs here")
    parser.add_argument("--unique-descriptions", action="store_true")
    args = parser.parse_args()
    use_feed_cache()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="scangate-bench-sarif-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "out.sarif"

    big = report_path(args.reports, workdir, "r100k.json", 100)
    if args.unique_descriptions:
        big = unique_variant(big, workdir)
    print(f"100,000 findings ({big}, {big.stat().st_size / 1e6:.0f} MB), {args.repeat} runs each")
    figures = repeated(
        {
            "json.load": [sys.executable, "-c", JSON_LOAD, str(big)],
            "check --sarif": check_argv(big, out),
        },
        args.repeat,
        ok=(0, 1),
    )
    floor, ours = figures["json.load"], figures["check --sarif"]
    print(f"  json.load              {floor.line()}")
    print(f"  check --sarif (cap 0)  {ours.line()}, {out.stat().st_size / 1e6:.0f} MB of SARIF")
    print(f"  split                  {split(big, out)}")
    cpu_ratio = ours.cpu / floor.cpu
    print(f"  time vs json.load: {verdict(ours.wall / floor.wall, 2.0)}; cpu {cpu_ratio:.2f}x")
    rss_ok = "met" if ours.rss <= GB else "NOT met"
    print(f"  peak RSS: {ours.rss / GB:.2f} GB (target <= 1.0 GB: {rss_ok})")

    small = report_path(args.reports, workdir, "r20k.json", 20)
    if args.unique_descriptions:
        small = unique_variant(small, workdir)
    print(f"\n20,000 findings ({small}), {args.repeat} runs each")
    if not TRIVY.exists():
        print(f"  trivy convert          not run: no {TRIVY}")
        return
    trivy_out = workdir / "trivy.sarif"
    figures = repeated(
        {
            "trivy convert": [str(TRIVY), "convert", "--format", "sarif", "--output",
                              str(trivy_out), "--quiet", str(small)],
            "check --sarif": check_argv(small, out),
        },
        args.repeat,
        ok=(0, 1),
    )  # fmt: skip
    theirs, ours = figures["trivy convert"], figures["check --sarif"]
    print(f"  trivy convert          {theirs.line()}")
    print(f"  check --sarif (cap 0)  {ours.line()}")
    print(f"  split                  {split(small, out)}")
    ratio = ours.wall / theirs.wall
    print(f"  vs trivy convert: {verdict(ratio, 0.35)}; cpu {ours.cpu / theirs.cpu:.2f}x")


if __name__ == "__main__":
    main()
