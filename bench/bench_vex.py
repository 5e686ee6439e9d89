"""Benchmark: what `--vex` costs `scangate check` on the 100k-vulnerability synthetic report.

Times `check REPORT --json OUT` without and with an OpenVEX file of 1,000 not_affected
statements, each for one of the report's vulnerabilities by package URL (and 1,000 that
match nothing), medians of --repeat runs measured in the same process, and prints the ratio.
Target: --vex adds at most 10% to the run. Asserts nothing.

    python bench/bench_vex.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import ensure

SCANGATE = Path(sys.executable).parent / "scangate"
STATEMENTS = 1000
TARGET_RATIO = 1.10


def vex_for(report: Path, out: Path) -> None:
    raw = json.loads(report.read_text(encoding="utf-8"))
    vulns = (v for r in raw["Results"] for v in r.get("Vulnerabilities") or ())
    statements = []
    for n, vuln in zip(range(STATEMENTS), vulns, strict=False):
        statements.append({
            "vulnerability": {"name": vuln["VulnerabilityID"]},
            "products": [{"@id": vuln["PkgIdentifier"]["PURL"]}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        })  # fmt: skip
        statements.append({
            "vulnerability": {"name": f"CVE-2099-{n:05d}"},
            "products": [{"@id": "pkg:pypi/absent"}],
            "status": "fixed",
        })  # fmt: skip
    doc = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex",
           "author": "bench", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
           "statements": statements}  # fmt: skip
    out.write_text(json.dumps(doc), encoding="utf-8")


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr.decode(errors="replace")[-2000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = ensure(Path("/tmp/sg-bench/r100k.json"), 100)
    with tempfile.TemporaryDirectory() as work:
        tmp = Path(work)
        vex = tmp / "vex.json"
        vex_for(report, vex)
        (tmp / "policy.yaml").write_text("extends: default\nkev: off\n", encoding="utf-8")
        base = [str(SCANGATE), "check", str(report), "--json", str(tmp / "out.json"),
                "--policy", str(tmp / "policy.yaml"), "--today", "2026-03-10"]  # fmt: skip
        plain, with_vex = [], []
        for _ in range(args.repeat):  # interleaved: both see the same machine load
            plain.append(run(base))
            with_vex.append(run([*base, "--vex", str(vex)]))
    a, b = statistics.median(plain), statistics.median(with_vex)
    print(f"check r100k: {a:.2f} s; with --vex ({2 * STATEMENTS} statements): {b:.2f} s")
    verdict = "met" if b / a <= TARGET_RATIO else "NOT met"
    print(f"ratio {b / a:.3f} (target <= {TARGET_RATIO}): {verdict}")


if __name__ == "__main__":
    main()
