"""Time the pre-push hook through real `git push`es to a bare remote.

Builds a repository of about 2,000 files (Python modules, Markdown, YAML, JSON, a Dockerfile,
a requirements.txt) in a few commits, installs the hook with `scangate hook install`, and
times `git push` (wall clock) for:

  a. the first push of the branch: every file is new;
  b. a push of one commit touching 3 files;
  c. a push of 5 commits that each edit the same file (5 versions: one secret-scanner run
     per version; no misconfiguration run, since no pushed file is one Trivy's
     misconfiguration analyzers read).

Each case also runs with `--no-verify` against a second remote, right after the hooked push,
so the hook's own cost is the difference; the figure per case is the median of those paired
differences. The target (issue 10) is case b at most +0.5 s; the script prints whether it is
met and asserts nothing. The hook runs offline with an empty Trivy cache of its own (no
vulnerability DB: misconfigurations and secrets), as on a machine that never ran
`scangate scan fs`. Timings on a shared machine are noisy: run it twice and compare medians.
`--compare DIR` also times, interleaved in the same rounds, the hook of the scangate package
in DIR (say the last commit's) and prints the ratio of the two added times for case b, which
holds up under load better than either figure.

    python bench/bench_prepush.py [--files 2000] [--repeat 3] [--keep DIR] [--compare DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GITCONFIG = """\
[user]
    name = bench
    email = bench@scangate.invalid
[init]
    defaultBranch = main
"""

DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER 10001
HEALTHCHECK CMD python -c "import app"
CMD ["python", "-m", "app"]
"""
REQUIREMENTS = "requests==2.32.3\nurllib3==2.2.2\nPyYAML==6.0.2\nclick==8.1.7\n"
TARGET_B = 0.5  # seconds the hook may add to a one-commit, three-file push (issue 10)


def _python(rng: random.Random, n: int) -> str:
    funcs = "\n\n".join(
        f"def handler_{n}_{i}(value: int) -> int:\n"
        f'    """Handle case {i} of module {n}."""\n'
        f"    total = value * {rng.randint(2, 99)}\n"
        f"    for step in range({rng.randint(3, 30)}):\n"
        f"        total += step % {rng.randint(2, 7)}\n"
        "    return total\n"
        for i in range(rng.randint(3, 12))
    )
    return f'"""Module {n}."""\n\nfrom __future__ import annotations\n\nimport os\n\n\n{funcs}'


def _markdown(rng: random.Random, n: int) -> str:
    paragraphs = "\n\n".join(
        " ".join(rng.choice(("gate", "scan", "policy", "trivy", "push")) for _ in range(60))
        for _ in range(rng.randint(2, 8))
    )
    return f"# Document {n}\n\n{paragraphs}\n"


def _yaml(rng: random.Random, n: int) -> str:
    return "".join(
        f"setting_{i}:\n  name: value-{n}-{i}\n  enabled: {str(rng.random() > 0.5).lower()}\n"
        for i in range(rng.randint(5, 40))
    )


def _json(rng: random.Random, n: int) -> str:
    items = ", ".join(f'"key{i}": {rng.randint(0, 10_000)}' for i in range(rng.randint(5, 50)))
    return f'{{"id": {n}, {items}}}\n'


def write_tree(root: Path, count: int, seed: int = 7) -> list[Path]:
    """About `count` files in a realistic mix; returns them in creation order."""
    rng = random.Random(seed)
    files: list[Path] = []

    def add(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(path)

    add("Dockerfile", DOCKERFILE)
    add("requirements.txt", REQUIREMENTS)
    add("README.md", "# bench\n")
    kinds: list[tuple[str, str, Callable[[random.Random, int], str]]] = [
        ("src/pkg{d}/mod_{n}.py", "py", _python),
        ("docs/section{d}/page_{n}.md", "md", _markdown),
        ("config/env{d}/settings_{n}.yaml", "yaml", _yaml),
        ("data/set{d}/record_{n}.json", "json", _json),
    ]
    weights = [0.6, 0.15, 0.15, 0.1]
    for n in range(count - len(files)):
        pattern, _, make = rng.choices(kinds, weights)[0]
        add(pattern.format(d=n % 25, n=n), make(rng, n))
    return files


class Bench:
    def __init__(self, base: Path) -> None:
        self.base = base
        config = base / "gitconfig"
        config.write_text(GITCONFIG)
        home = base / "home"
        home.mkdir()
        self.env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": str(home),
            "XDG_CACHE_HOME": str(base / "xdg-cache"),
            "TMPDIR": tempfile.gettempdir(),
            "LANG": "C.UTF-8",
            "GIT_CONFIG_GLOBAL": str(config),
            "GIT_CONFIG_NOSYSTEM": "1",
            "SCANGATE_CACHE_DIR": str(base / "scangate-cache"),
            "SCANGATE_NO_INSTALL": "1",
        }
        self.work = base / "work"

    def run(self, *argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv],
            cwd=cwd or self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )

    def git(self, *argv: str | Path) -> str:
        return self.run("git", *argv).stdout

    def remote(self, name: str) -> Path:
        path = self.base / f"{name}.git"
        self.run("git", "init", "-q", "--bare", path, cwd=self.base)
        self.git("remote", "add", name, path)
        return path

    def push(
        self, remote: str, *extra: str, env: dict[str, str] | None = None
    ) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run(
            ["git", "push", "-q", *extra, remote, "main"],
            cwd=self.work,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"git push {remote} failed:\n{done.stdout}{done.stderr}")
        return elapsed, done.stderr


def _trivy_lines(log: str) -> str:
    return "; ".join(
        line.removeprefix("scangate: ")
        for line in log.splitlines()
        if "finished in" in line or "pushed commit(s)" in line
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    parser.add_argument(
        "--compare",
        type=Path,
        help="also time the hook with the scangate package found in this directory (on "
        "PYTHONPATH), interleaved: e.g. `git archive HEAD scangate | tar -x -C DIR` for the last "
        "commit, plus the installed scangate/_policies copied into DIR/scangate",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        bench = Bench(base)
        bench.run("git", "init", "-q", bench.work, cwd=base)
        files = write_tree(bench.work, args.files)
        # The history: four commits of about 500 files each.
        for n, chunk in enumerate(range(0, len(files), 500)):
            names = [str(p.relative_to(bench.work)) for p in files[chunk : chunk + 500]]
            bench.git("add", "--", *names)
            bench.git("commit", "-q", "-m", f"part {n}")
        initial = bench.git("rev-parse", "HEAD").strip()
        bench.run(sys.executable, "-m", "scangate", "hook", "install")
        tracked = len(bench.git("ls-files").splitlines())
        commits = len(bench.git("rev-list", "HEAD").split())
        print(f"repository: {tracked} files in {commits} commits")
        print(
            f"git {bench.git('--version').split()[-1]}, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start"
        )

        results: dict[str, list[tuple[float, float]]] = {"a": [], "b": [], "c": []}
        others: dict[str, list[float]] = {"a": [], "b": [], "c": []}  # --compare's hook
        logs: dict[str, str] = {}
        other_env = {**bench.env, "PYTHONPATH": str(args.compare)} if args.compare else None
        rng = random.Random(11)
        py_files = [p for p in files if p.suffix == ".py"]

        def push_case(key: str, round_: int) -> None:
            """The same commits to the hooked remote, --compare's, and the plain one."""
            t_hook, logs[key] = bench.push(f"hooked{round_}")
            if other_env is not None:
                t_other, _ = bench.push(f"other{round_}", env=other_env)
            t_plain, _ = bench.push(f"plain{round_}", "--no-verify")
            results[key].append((t_hook, t_plain))
            if other_env is not None:
                others[key].append(t_other - t_plain)

        for round_ in range(args.repeat):
            # Every round pushes the same history to new remotes.
            bench.git("reset", "-q", "--hard", initial)
            for name in ("hooked", "plain", *(("other",) if other_env else ())):
                bench.remote(f"{name}{round_}")
            push_case("a", round_)
            for path in rng.sample(py_files, 3):
                path.write_text(path.read_text() + f"\nEXTRA_{round_} = {round_}\n")
            bench.git("commit", "-q", "-am", f"touch 3 files ({round_})")
            push_case("b", round_)
            target = py_files[round_]
            for edit in range(5):
                target.write_text(target.read_text() + f"\nSTEP_{round_}_{edit} = {edit}\n")
                bench.git("commit", "-q", "-am", f"edit {edit} ({round_})")
            push_case("c", round_)

        titles = {
            "a": f"a. first push, {tracked} new files",
            "b": "b. one commit touching 3 files",
            "c": "c. 5 commits editing one file",
        }
        compared = f" {'--compare':>10}" if other_env else ""
        print(f"\n{'case':40} {'git push (hook)':>16} {'--no-verify':>12} {'added':>8}{compared}")
        for key, title in titles.items():
            hooked_times = [h for h, _ in results[key]]
            added = statistics.median(h - p for h, p in results[key])
            other = f" {statistics.median(others[key]):+9.2f}s" if other_env else ""
            print(
                f"{title:40} {statistics.median(hooked_times):15.2f}s "
                f"{statistics.median(p for _, p in results[key]):11.2f}s {added:+7.2f}s{other}"
                f"   (hook runs: {', '.join(f'{t:.2f}' for t in hooked_times)})"
            )
        added_b = statistics.median(h - p for h, p in results["b"])
        verdict = "met" if added_b <= TARGET_B else "NOT met"
        print(
            f"\ntarget: case b adds <= +{TARGET_B:.2f}s over `git push --no-verify`: "
            f"{added_b:+.2f}s = {added_b / TARGET_B:.2f}x the target: {verdict}"
        )
        if other_env:
            ratio = added_b / statistics.median(others["b"])
            print(f"case b, this tree's hook vs --compare's: {ratio:.2f}x the added time")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
        print("\nhook output, last round:")
        for key in titles:
            print(f"  {key}. {_trivy_lines(logs[key])}")


if __name__ == "__main__":
    main()
