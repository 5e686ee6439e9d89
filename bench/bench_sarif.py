"""Benchmark: SARIF for synthetic Trivy reports, against `trivy convert --format sarif`.

For 10,000 and 20,000 vulnerabilities (`--full` adds 100,000: 100 targets x 1,000, about
200 MB), with the result cap off so every finding is written, as Trivy does:

* in-process: parse + gate, then `SarifFormat.render` (one string) and `iter_render`
  (pieces streamed to a file), each in a fresh child process, with its peak RSS;
* the CLI: `scangate check REPORT --sarif OUT --sarif-max-results 0 -q` (when the CLI has
  the flags), wall time and peak RSS;
* `trivy convert --format sarif --output OUT REPORT` at 10,000 and 20,000 (`--trivy-full`
  adds 100,000, which takes minutes: Trivy's converter grows quadratically), and the ratio.

Target on 2 cores: the 100,000 CLI run in <= 8 s and <= 1.5 GB. Prints figures; asserts
nothing.

    python bench/bench_sarif.py [--full] [--trivy-full] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import generate

BIN = Path(sys.executable).parent
SCANGATE = BIN / "scangate"

# Runs in a child: `python bench_sarif.py --in-process MODE REPORT OUT`.
IN_PROCESS = """
import gc, json, sys, time
from datetime import date
from pathlib import Path
gc.disable()  # as the CLI does
from scangate.formats.sarif.writer import SarifFormat, SarifOptions
from scangate.gate import evaluate
from scangate.policy import load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
mode, report, out = sys.argv[1:4]
today = date(2026, 1, 1)
start, start_cpu = time.perf_counter(), time.process_time()
runs = [to_scan_run(load_report(Path(report)))]
result = evaluate(runs, load_policy("default", base_dir=Path.cwd(), today=today), today)
gated, gated_cpu = time.perf_counter(), time.process_time()
fmt = SarifFormat(SarifOptions(max_results=0, source_root=Path.cwd()))
if mode == "render":
    text = fmt.render(result)
    size = len(text)
    rendered, rendered_cpu = time.perf_counter(), time.process_time()
    Path(out).write_text(text)
else:
    size = 0
    with open(out, "w", encoding="utf-8") as handle:
        for piece in fmt.iter_render(result):
            size += len(piece)
            handle.write(piece)
    rendered, rendered_cpu = time.perf_counter(), time.process_time()
results = sum(len(r.decided) for r in result.runs)
print(json.dumps({"gate_s": gated - start, "render_s": rendered - gated,
                  "gate_cpu_s": gated_cpu - start_cpu, "render_cpu_s": rendered_cpu - gated_cpu,
                  "bytes": size, "results": results, "notes": fmt.notes}))
"""


Measured = tuple[float, float, float, subprocess.CompletedProcess[str]]


def measure(argv: list[str]) -> Measured:
    """Wall seconds, CPU seconds (user + system), peak RSS in MB of this one child (wait4),
    and its output. CPU time is the figure to compare on a busy machine."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(argv, code, out.read(), err.read())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, done


def in_process(mode: str, report: Path, out: Path) -> str:
    wall, cpu, rss, proc = measure([sys.executable, "-c", IN_PROCESS, mode, str(report), str(out)])
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip()[-300:]}"
    figures = json.loads(proc.stdout)
    per = figures["render_cpu_s"] / max(1, figures["results"]) * 1e6
    return (
        f"gate {figures['gate_s']:5.2f} s ({figures['gate_cpu_s']:5.2f} cpu), "
        f"render {figures['render_s']:5.2f} s ({figures['render_cpu_s']:5.2f} cpu, "
        f"{per:4.1f} us/result), {figures['bytes'] / 1e6:6.1f} MB, peak {rss:6.0f} MB, "
        f"total {wall:5.2f} s wall, {cpu:5.2f} s cpu"
    )


def cli(report: Path, out: Path) -> tuple[str, float | None]:
    argv = [str(SCANGATE), "check", str(report), "--sarif", str(out)]
    argv += ["--sarif-max-results", "0", "-q"]
    wall, cpu, rss, proc = measure(argv)
    if proc.returncode not in (0, 1):
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
        return f"not available ({proc.returncode}: {reason[:120]})", None
    size = out.stat().st_size / 1e6 if out.exists() else 0.0
    return f"wall {wall:5.2f} s, cpu {cpu:5.2f} s, peak {rss:6.0f} MB, {size:6.1f} MB", cpu


def trivy_convert(report: Path, out: Path) -> tuple[str, float | None]:
    trivy = BIN / "trivy"
    if not trivy.exists():
        return "trivy not installed", None
    argv = [str(trivy), "convert", "--format", "sarif", "--output", str(out), str(report)]
    argv += ["--quiet"]
    wall, cpu, rss, proc = measure(argv)
    if proc.returncode != 0:
        return f"failed ({proc.returncode}): {proc.stderr.strip()[-200:]}", None
    size = out.stat().st_size / 1e6
    return f"wall {wall:6.2f} s, cpu {cpu:6.2f} s, peak {rss:6.0f} MB, {size:6.1f} MB", cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 100,000 findings (scangate)")
    parser.add_argument(
        "--trivy-full", action="store_true", help="also `trivy convert` at 100,000 (minutes)"
    )
    parser.add_argument("--keep", type=Path, help="write the reports here and keep them")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="scangate-bench-sarif-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [(10, 1000), (20, 1000)]
    if args.full or args.trivy_full:
        sizes.append((100, 1000))
    for targets, per_target in sizes:
        count = targets * per_target
        report = workdir / f"report-{count}.json"
        if not report.exists():
            generate(report, targets, per_target)
        print(f"\n{count:,} findings ({report.stat().st_size / 1e6:.0f} MB report)")
        out = workdir / "out.sarif"
        print(f"  in-process render      {in_process('render', report, out)}")
        print(f"  in-process iter_render {in_process('stream', report, out)}")
        line, ours = cli(report, out)
        print(f"  scangate check --sarif {line}")
        if count >= 100_000 and not args.trivy_full:
            print("  trivy convert          skipped (--trivy-full runs it: minutes)")
            continue
        line, theirs = trivy_convert(report, workdir / "trivy.sarif")
        print(f"  trivy convert          {line}")
        if ours and theirs:
            print(f"  trivy convert / scangate check (cpu): {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
