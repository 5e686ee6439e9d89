"""The command line: parses flags and environment, calls the flow, writes outputs, exits.

The only module that prints, reads the environment, writes output files and chooses the exit
code. Every `ScangateError` is caught once, in `run`, and mapped to its documented exit code.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import yaml

from scangate import __version__
from scangate.errors import ExitCode, ScangateError, UsageError
from scangate.findings import ScanRun
from scangate.formats import Format
from scangate.formats.jsonresult import JsonFormat
from scangate.formats.table import TableFormat
from scangate.gate import GateResult, Verdict, evaluate
from scangate.policy import Policy, find_ignore_files, load_ignore_file, resolve_policy
from scangate.trivy_report import load_report, parse_report, to_scan_run

EXIT_CODES_HELP = (
    "Exit codes: 0 the gate passed; 1 the gate failed; 2 usage or policy error; "
    "3 the scan or the report could not be used; 130 interrupted."
)

app = typer.Typer(
    name="scangate",
    help=f"A policy gate in front of Trivy.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
policy_app = typer.Typer(help="Validate and show policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"scangate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """A policy gate in front of Trivy."""


# Options shared by every command that gates (check, scan): one definition each.
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        "-p",
        envvar="SCANGATE_POLICY",
        help="Built-in policy name (default, strict, pre-push) or a policy file. "
        "Default: .scangate.yaml in the scanned root or the current directory, else 'default'.",
    ),
]
IgnorefileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ignorefile",
        envvar="SCANGATE_IGNOREFILE",
        help="A .trivyignore or .trivyignore.yaml to read as allow entries (repeatable). "
        "Default: those found in the scanned root.",
    ),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", envvar="SCANGATE_FORMAT", help="What to print on stdout."),
]
JsonOpt = Annotated[
    Path | None,
    typer.Option("--json", envvar="SCANGATE_JSON", help="Also write the JSON result to this file."),
]
AllOpt = Annotated[
    bool,
    typer.Option("--all", envvar="SCANGATE_ALL", help="List findings below the threshold too."),
]
TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today",
        envvar="SCANGATE_TODAY",
        help="Judge allow-entry expiry as of this date (YYYY-MM-DD). Default: today.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", envvar="SCANGATE_QUIET", help="Print only the verdict line."),
]


def _today(value: str | None) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--today {value!r} is not a date: write it as YYYY-MM-DD") from None


def _policy_for(spec: str | None, root: Path, ignorefiles: list[Path] | None, today: date) -> Policy:
    roots = [root] if root.resolve() == Path.cwd().resolve() else [root, Path.cwd()]
    policy = resolve_policy(spec, roots=roots, today=today)
    for path in ignorefiles if ignorefiles else find_ignore_files(root):
        if ignorefiles and not path.is_file():
            raise UsageError(f"--ignorefile {path}: no such file")
        policy = policy.with_allow(load_ignore_file(path), str(path))
    # Ignore-file entries obey the same allow-rules as the policy's own entries.
    from scangate.policy import check_allow_rules

    check_allow_rules(policy, today)
    return policy


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(
    result: GateResult,
    *,
    fmt: OutputFormat,
    json_path: Path | None,
    show_all: bool,
    quiet: bool,
) -> int:
    """Render every output in memory first, then write files, then print: all or nothing."""
    files: list[tuple[Path, Format]] = []
    if json_path is not None:
        files.append((json_path, JsonFormat()))
    rendered = [(path, f.render(result)) for path, f in files]
    stdout_format: Format = JsonFormat() if fmt is OutputFormat.json else TableFormat(show_all=show_all)
    text = stdout_format.render(result)
    for path, content in rendered:
        write_atomic(path, content)
    if quiet and fmt is OutputFormat.table:
        from scangate.formats.table import verdict_line

        typer.echo(verdict_line(result))
    else:
        sys.stdout.write(text)
    return ExitCode.PASS if result.verdict is Verdict.PASS else ExitCode.GATE_FAILED


def _exit(code: int) -> NoReturn:
    raise typer.Exit(int(code))


def _read_runs(reports: Sequence[str]) -> list[ScanRun]:
    runs = []
    for name in reports:
        if name == "-":
            report = parse_report(sys.stdin.buffer.read(), "<stdin>")
        else:
            report = load_report(Path(name))
        runs.append(to_scan_run(report))
    return runs


@app.command()
def check(
    reports: Annotated[
        list[str],
        typer.Argument(help="Trivy JSON report(s) (`trivy ... --format json`); '-' reads stdin."),
    ],
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    json_path: JsonOpt = None,
    show_all: AllOpt = False,
    today: TodayOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Gate existing Trivy JSON reports with a policy.

    Exit codes: 0 pass, 1 the gate failed, 2 usage or policy error, 3 a report could not be
    used, 130 interrupted.
    """
    day = _today(today)
    gate_policy = _policy_for(policy, Path.cwd(), ignorefile, day)
    runs = _read_runs(reports)
    result = evaluate(runs, gate_policy, day)
    _exit(_report(result, fmt=fmt, json_path=json_path, show_all=show_all, quiet=quiet))


@policy_app.command("check")
def policy_check(
    path: Annotated[
        str | None,
        typer.Argument(help="Policy file or built-in name. Default: the policy a scan would use."),
    ] = None,
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    today: TodayOpt = None,
) -> None:
    """Validate a policy and print the effective policy after `extends` and ignore files."""
    day = _today(today)
    effective = _policy_for(path or policy, Path.cwd(), ignorefile, day)
    typer.echo(f"# effective policy from: {', '.join(effective.sources)}")
    typer.echo(yaml.safe_dump(effective.to_dict(), sort_keys=False, allow_unicode=True), nl=False)
    typer.echo(f"policy OK: {effective.name}", err=True)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code; errors become one line on stderr."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="scangate")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    except ScangateError as exc:
        typer.echo(f"scangate: error: {exc.diagnostics()}", err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("scangate: interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - fail closed with one line, never a traceback
        if os.environ.get("SCANGATE_DEBUG"):
            raise
        typer.echo(
            f"scangate: internal error: {type(exc).__name__}: {exc} "
            "(set SCANGATE_DEBUG=1 for a traceback)",
            err=True,
        )
        return int(ExitCode.SCANNER)
    return int(ExitCode.PASS)


def main() -> NoReturn:
    # A short-lived process that allocates a few million acyclic objects for a large report:
    # the cyclic collector only costs time here (about 15% of a 100,000-finding check).
    gc.disable()
    sys.exit(run())
