"""Benchmark: scangate's start-up against its dependency floor (issue 10, item 5).

Times, as fresh processes run alternately (one warm-up each, then `-n` rounds, medians):

* the floor: `python -c "import typer, pydantic, yaml"`, with this environment's Python;
* `scangate --version`;
* `scangate check REPORT` of a 30-finding report, the table printed to a pipe;
* `scangate check REPORT --format json`, the same report;
* the Typer floor for check, run with each check's argv: the floor's imports, then a Typer app
  like scangate's whose one command, `check`, has exactly `scangate check`'s parameters (the
  same option declarations, read from scangate/cli/_options.py; the bench refuses to run if
  they differ from the installed command's) and an empty body. Typer (0.2x) converts every
  non-flag parameter's value with a pydantic TypeAdapter it builds at parse time, so this is
  what Typer alone costs for that command line; what scangate check takes beyond it is
  scangate's own work;
* for reference, a one-command Typer app run with one option, and the floor's imports plus
  one pydantic dataclass built and validated (what reading anything with pydantic costs).

Every command runs in an empty temp directory (no `.scangate.yaml` or ignore file to read).
Prints each median and its ratio to the floor's median in the same run, whether the 1.4x
target is met, and for each check its ratio to, and time over, the Typer floor for check;
with `--importtime`, also the slowest of `scangate check`'s imports. Asserts nothing.

    .venv/bin/python bench/bench_startup.py [-n 20] [--report /tmp/sg-bench/r30.json]

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
from enum import Enum
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_report import ensure, use_feed_cache

BIN = Path(sys.executable).parent
SCANGATE = BIN / "scangate"
TARGET = 1.4
REFERENCE = """
import typer, pydantic, yaml
app = typer.Typer()
@app.command()
def command(name: str | None = None) -> None:
    pass
app(["--name", "x"], standalone_mode=False)
"""
# The Typer floor for check: argv[1] is scangate/cli/_options.py, loaded as a file so that no
# scangate module runs, argv[2] the option groups of it that check takes (`option_groups`);
# the rest is check's command line. `build` is also run by the bench itself to compare the
# command with the installed `scangate check` (`same_parameters`).
TYPER_FLOOR = """
import importlib.util, sys
from typing import Annotated, Any
import typer, pydantic, yaml

def build(options_file, groups):
    spec = importlib.util.spec_from_file_location("_typer_floor_options", options_file)
    options = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(options)
    # The settings of scangate's app (scangate/cli/_app.py), the root's --version flag included.
    app = typer.Typer(
        name="scangate",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(version: Annotated[bool, typer.Option("--version", is_eager=True)] = False):
        pass

    @app.command()
    @options.with_options(*(getattr(options, name) for name in groups.split(",")))
    def check(
        ctx: typer.Context,
        reports: Annotated[list[str], typer.Argument(metavar="REPORT...")],
        **params: Any,
    ) -> None:
        pass

    return app

if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2])(args=sys.argv[3:], prog_name="scangate")
"""
# What reading anything with pydantic costs beyond the floor: `import pydantic` defers its
# validation machinery (pydantic-core's schemas, `pydantic.types`, plugin discovery) to the
# first model or TypeAdapter, which every report scangate reads needs.
PYDANTIC_REFERENCE = """
import typer, pydantic, yaml
from pydantic.dataclasses import dataclass
@dataclass
class Finding:
    id: str
Finding(id="CVE-2024-0001")
"""
DEFAULT_REPORT = Path("/tmp/sg-bench/r30.json")


def describe(command: Any) -> list[tuple[object, ...]]:
    """What Typer builds each parameter from: kind, name, flags, arity, default, environment
    variable and the annotation its TypeAdapter is built for (enums by name and members)."""
    rows: list[tuple[object, ...]] = []
    for param in command.params:
        annotation = param.type_descriptor.annotation
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            annotation = (annotation.__name__, tuple(m.value for m in annotation))
        info = param.type_descriptor.parameter_info
        rows.append(
            (
                type(param).__name__,
                param.name,
                tuple(param.opts),
                param.multiple,
                param.nargs,
                param.required,
                str(param.default),
                param.envvar,
                str(annotation),
                getattr(param, "is_flag", None),
                info.min,
                info.max,
                info.parser,
            )
        )
    return rows


def option_groups() -> str:
    """The names of the `_options` groups `scangate check` takes, in its order."""
    import inspect

    from scangate.cli import _options, check

    names = []
    for param in inspect.signature(check.check).parameters.values():
        for name, value in vars(_options).items():
            if isinstance(value, tuple) and any(p is param for p in value) and name not in names:
                names.append(name)
    return ",".join(names)


def same_parameters(scangate_dir: Path, groups: str) -> None:
    """Refuse to time a Typer floor whose check differs from the installed `scangate check`."""
    import typer.main

    from scangate.cli import app

    namespace: dict[str, Any] = {"__name__": "typer_floor"}
    exec(TYPER_FLOOR, namespace)  # noqa: S102 - the bench's own script, to compare its command
    floor_app = namespace["build"](str(scangate_dir / "cli" / "_options.py"), groups)
    ours = typer.main.get_command(app).commands["check"]  # type: ignore[attr-defined]
    floor = typer.main.get_command(floor_app).commands["check"]  # type: ignore[attr-defined]
    if describe(ours) != describe(floor):
        raise SystemExit(
            "the Typer floor's check no longer has scangate check's parameters:\n"
            f"  scangate: {describe(ours)}\n  floor:    {describe(floor)}"
        )


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
    return elapsed


def slowest_imports(
    argv: list[str], cwd: Path, env: dict[str, str] | None, top: int
) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, module) of the `top` slowest imports, by cumulative time, of
    scangate's modules and the first-level modules of the others."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scangate", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        if module.startswith("scangate") or len(name) - len(name.lstrip()) <= 1:
            rows.append((int(self_us), int(cumulative_us), module))
    return sorted(rows, key=lambda row: row[1], reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="timed rounds (20)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--importtime", action="store_true", help="list the slowest imports")
    parser.add_argument("--source", type=Path, help="run the scangate package in this directory")
    args = parser.parse_args()
    use_feed_cache()
    scangate = [str(SCANGATE)]
    env = None
    if args.source is not None:
        scangate = [sys.executable, "-m", "scangate"]
        env = {**os.environ, "PYTHONPATH": str(args.source.resolve())}
        sys.path.insert(0, str(args.source.resolve()))
    import scangate as package

    scangate_dir = Path(package.__file__).resolve().parent
    groups = option_groups()
    same_parameters(scangate_dir, groups)
    report = ensure(args.report.resolve(), 3, 10)  # 30 findings

    check = ["check", str(report)]
    check_json = [*check, "--format", "json"]
    floor = [sys.executable, "-c", TYPER_FLOOR, str(scangate_dir / "cli" / "_options.py"), groups]
    commands = {
        "floor": [sys.executable, "-c", "import typer, pydantic, yaml"],
        "version": [*scangate, "--version"],
        "typer-check": [*floor, *check],
        "check": [*scangate, *check],
        "typer-check-json": [*floor, *check_json],
        "check-json": [*scangate, *check_json],
        "reference": [sys.executable, "-c", REFERENCE],
        "pydantic": [sys.executable, "-c", PYDANTIC_REFERENCE],
    }
    labels = {
        "floor": 'python -c "import typer, pydantic, yaml"',
        "version": "scangate --version",
        "typer-check": f"Typer floor for check: {report.name}",
        "check": f"scangate check {report.name} (table, pipe)",
        "typer-check-json": f"Typer floor for check: {report.name} --format json",
        "check-json": f"scangate check {report.name} --format json",
        "reference": "(reference) a Typer command, one option",
        "pydantic": "(reference) the floor, then one pydantic model used",
    }
    # Each scangate check and the Typer floor run with the same argv.
    over = {"check": "typer-check", "check-json": "typer-check-json"}
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as work:
        cwd = Path(work)
        for argv in commands.values():  # warm-up: page cache, .pyc files
            timed(argv, cwd, env)
        names = list(commands)
        for i in range(args.runs):
            # Rotate the order so no command always runs right after another.
            for name in names[i % len(names) :] + names[: i % len(names)]:
                times[name].append(timed(commands[name], cwd, env))
        imports = slowest_imports(check, cwd, env, 15) if args.importtime else []

    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["floor"]
    print(f"start-up: {args.runs} rounds, commands alternating, medians")
    print(f"{'':52}{'median':>9}{'min':>9}{'max':>9}{'ratio':>8}  target")
    for name, label in labels.items():
        t = times[name]
        ratio = medians[name] / base
        verdict = ""
        if name.startswith(("version", "check")):
            verdict = f"<= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}"
        print(
            f"{label:52}{medians[name] * 1000:7.1f}ms{min(t) * 1000:7.1f}ms"
            f"{max(t) * 1000:7.1f}ms{ratio:7.2f}x  {verdict}"
        )
    print("\nscangate's own share: each check against the Typer floor for its argv")
    for name, typer_name in over.items():
        extra = medians[name] - medians[typer_name]
        print(
            f"  {labels[name]:50}{medians[name] / medians[typer_name]:5.2f}x the Typer floor, "
            f"{extra * 1000:+6.1f} ms"
        )
    print(
        f"the {TARGET}x target is {TARGET * base * 1000:.1f} ms; the Typer floor for check alone "
        f"is {medians['typer-check'] / base:.2f}x the floor"
    )
    if imports:
        print(f"\nslowest imports of scangate check {report.name} (python -X importtime):")
        for self_us, cumulative_us, module in imports:
            print(f"  {cumulative_us / 1000:7.1f} ms  (self {self_us / 1000:5.1f} ms)  {module}")


if __name__ == "__main__":
    main()
