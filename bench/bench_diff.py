"""Time `scangate scan fs --diff-base` against a plain `scan fs` of the same tree.

Builds the repository of `bench/bench_prepush.py` (about 2,000 files, its `write_tree`) on
`main`, branches off it and changes three files, then times, in interleaved rounds (wall
clock, the console script in a subprocess):

  plain:  `scan fs .`
  first:  `scan fs . --diff-base main` with no cached base (the base is written out and
          scanned: two Trivy runs)
  cached: `scan fs . --diff-base main` with the base scan cached (one Trivy run, and only
          the files the suppression review reads are written out)

Every run is offline against the tests' small vulnerability DB (`tests/support/trivydb`), so
all three scanners run and nothing is downloaded. The targets (issue 9) are first <= 2.2x and
cached <= 1.2x plain; the script prints the medians, both ratios and whether each target is
met, and asserts nothing. Timings on a shared machine are noisy: compare ratios of one run.
Writing the base's 2,000 files was most of what the first run added on a disk where creating
a file is slow (0.5-0.9 ms each on this machine's ext4, 0.01 ms on tmpfs): scangate now writes
the base into $XDG_RUNTIME_DIR or /dev/shm when it has room (`scangate.diff_tmp`).
`--source DIR` runs the scangate package found in DIR instead (say, the last commit's, from
`git archive HEAD scangate policies | tar -x -C DIR`), for a before/after figure.

    python bench/bench_diff.py [--files 2000] [--repeat 5] [--keep DIR] [--source DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_prepush import Bench, write_tree  # noqa: E402

from tests.support import scanning  # noqa: E402

TARGET_FIRST = 2.2
TARGET_CACHED = 1.2
SCANGATE = Path(sys.executable).parent / "scangate"


def _scan(bench: Bench, *extra: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [str(SCANGATE), "scan", "fs", ".", "--offline", "--quiet", *extra],
        cwd=bench.work,
        env=bench.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"scangate scan fs {' '.join(extra)} failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    parser.add_argument("--source", type=Path, help="run the scangate package in this directory")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="scangate-bench-diff-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        bench = Bench(base)
        if args.source is not None:
            bench.env["PYTHONPATH"] = str(args.source.resolve())
        cache = Path(bench.env["SCANGATE_CACHE_DIR"])
        scanning.write_db(cache)
        bench.run("git", "init", "-q", bench.work, cwd=base)
        files = write_tree(bench.work, args.files)
        bench.git("add", "-A")
        bench.git("commit", "-q", "-m", "base")
        bench.git("checkout", "-q", "-b", "pr")
        for path in files[3:6]:
            path.write_text(path.read_text() + "\n# changed by the pull request\n")
        bench.git("commit", "-q", "-am", "pr")
        print(f"repository: {len(files)} files, {base}")
        if args.source is not None:
            print(f"scangate from {args.source}")

        _scan(bench)  # warm-up: Trivy's checks, the OS page cache
        plain: list[float] = []
        first: list[float] = []
        cached: list[float] = []
        for _ in range(args.repeat):
            plain.append(_scan(bench))
            shutil.rmtree(cache / "diff-base", ignore_errors=True)
            first.append(_scan(bench, "--diff-base", "main"))
            cached.append(_scan(bench, "--diff-base", "main"))
        p, f, c = (statistics.median(x) for x in (plain, first, cached))
        for label, values, median in (
            ("plain scan fs:", plain, p),
            ("--diff-base, first run:", first, f),
            ("--diff-base, base cached:", cached, c),
        ):
            each = ", ".join(f"{x:.2f}" for x in values)
            print(f"{label:<27} median {median:.2f} s  ({each})")
        # Each round's ratio too: the three runs of a round share the machine's load.
        paired = {
            "first": statistics.median(x / y for x, y in zip(first, plain, strict=True)),
            "cached": statistics.median(x / y for x, y in zip(cached, plain, strict=True)),
        }
        for name, ratio, target in (
            ("first", f / p, TARGET_FIRST),
            ("cached", c / p, TARGET_CACHED),
        ):
            met = "met" if ratio <= target else "NOT met"
            print(
                f"ratio {name}: {ratio:.2f}x plain, median of rounds {paired[name]:.2f}x "
                f"(target <= {target}x: {met})"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
