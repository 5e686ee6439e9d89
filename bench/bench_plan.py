"""Benchmark: what the remediation plan adds to `scangate check REPORT --format json`.

The JSON result always carries the plan, so it is on the default path. In one run, this
measures (CPU seconds, user + system, medians of `--repeat`):

- `check`: the whole `scangate check /tmp/sg-bench/r100k.json --format json` in a child
  process, plan included, as it ships;
- `plan`: in a fresh child process that has read and gated the same report, the plan alone:
  importing univers, grouping, ordering versions, the `remediation` JSON block.

and prints plan / (check - plan): the share the plan adds to a check without it. Target:
at most 15 %. Asserts nothing.

    python bench/bench_plan.py [--repeat 5] [--report /tmp/sg-bench/r100k.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import ensure, use_feed_cache

SCANGATE = Path(sys.executable).parent / "scangate"
TARGET = 0.15

# Run in a child: read and gate the report (not timed), then time the plan as the JSON
# format makes it (`plan_of`, `remediation_json`) from a cold start.
_PLAN_CHILD = """
import gc, json, sys, time
gc.disable()  # as `scangate.cli.main` does
from datetime import date
from pathlib import Path
from scangate.gate import evaluate
from scangate.policy import resolve_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report

run = to_scan_run(load_report(Path(sys.argv[1])))
day = date.today()
result = evaluate([run], resolve_policy(None, roots=[Path.cwd()], today=day), day)
start = time.process_time()
from scangate.formats.plan_json import remediation_json
from scangate.remediation import plan_of

plan = plan_of(result)
text = remediation_json(plan)
cpu = time.process_time() - start
print(json.dumps({"cpu": cpu, "upgrades": len(plan.upgrades), "unfixable": len(plan.unfixable)}))
"""


def _child_cpu(argv: list[str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, proc.stdout.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--report", type=Path, default=Path("/tmp/sg-bench/r100k.json"))
    args = parser.parse_args()
    use_feed_cache()
    report = ensure(args.report, 100) if args.report.name == "r100k.json" else args.report
    checks: list[float] = []
    plans: list[float] = []
    info: dict[str, int] = {}
    for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both
        cpu, _out = _child_cpu([str(SCANGATE), "check", str(report), "--format", "json"])
        checks.append(cpu)
        _cpu, out = _child_cpu([sys.executable, "-c", _PLAN_CHILD, str(report)])
        measured = json.loads(out)
        plans.append(measured["cpu"])
        info = {"upgrades": measured["upgrades"], "unfixable": measured["unfixable"]}
    check = statistics.median(checks)
    plan = statistics.median(plans)
    ratio = plan / (check - plan)
    print(f"report: {report} ({info['upgrades']} upgrades, {info['unfixable']} unfixable)")
    print(f"check --format json (plan included): median {check:.2f} s CPU of {args.repeat}")
    print(f"plan alone (import, compute, JSON block): median {plan:.3f} s CPU")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"plan adds {ratio * 100:.1f} % to check without it (target <= 15 %: {verdict})")


if __name__ == "__main__":
    main()
