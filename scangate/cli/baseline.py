"""`scangate baseline create|update`: record today's findings so only new ones fail."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scangate.cli import _console
from scangate.cli._app import baseline_app
from scangate.cli._console import warning as warn
from scangate.cli._options import TRIVY_OPTIONS, with_options
from scangate.cli.check import read_runs
from scangate.cli.scan import RUN_OPTIONS, ScanArgs, run_scans
from scangate.errors import UsageError
from scangate.formats.escape import plain

if TYPE_CHECKING:
    from scangate import baseline as baseline_file
    from scangate.findings import ScanRun

# `baseline.DEFAULT_PATH`, without importing the baseline module to build the command line.
DEFAULT_PATH = Path(".scangate-baseline.json")

OutputOpt = Annotated[
    Path,
    typer.Option(
        "--output", "-o", envvar="SCANGATE_BASELINE", metavar="PATH", help="The baseline file."
    ),
]
ReportOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--report",
        envvar="SCANGATE_BASELINE_REPORT",
        metavar="REPORT",
        help="Build the baseline from Trivy JSON report(s) instead of scanning (repeatable).",
    ),
]
PathArg = Annotated[Path, typer.Argument(help="The directory to scan.")]


def _current_runs(ctx: typer.Context, path: Path, reports: list[str] | None) -> list[ScanRun]:
    if reports:
        return read_runs(reports)
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory to scan")
    from scangate.trivy_run import Target

    args = ScanArgs.from_params(ctx.params)
    target = Target("fs", str(path.resolve()), name=str(path))
    return [o.run for o in run_scans([target], args, args.options(), quiet=False)]


def _record(runs: list[ScanRun], output: Path) -> baseline_file.Baseline:
    from scangate import baseline as baseline_file
    from scangate.cli._outputs import write_atomic
    from scangate.formats._common import plural

    recorded = baseline_file.from_runs(runs, str(output))
    unread = baseline_file.unrecordable(runs)
    if unread:
        warn(
            f"{plural(len(unread), 'secret')} not recorded (first: {unread[0].target}): their "
            "values could not be read from the scanned files, so no baseline entry could tell them "
            "from another secret; they keep failing until removed or allowed in the policy"
        )
    write_atomic(output, baseline_file.render(recorded), "--output", follow_links=False)
    return recorded


def _check_output(output: Path) -> None:
    """The baseline lives in the scanned tree, whose author may have made it a symbolic link
    to any file the user can write (`~/.bashrc`): never write through one."""
    if output.is_symlink():
        raise UsageError(
            f"--output {output}: is a symbolic link, and scangate never writes a baseline "
            "through one (it may lead out of the repository): delete the link if it is the "
            "repository's and run this again, or give --output a regular file's path"
        )
    from scangate.cli._outputs import check_writable

    check_writable(output, follow_links=False)  # before minutes of scanning


@baseline_app.command("create")
@with_options(TRIVY_OPTIONS, RUN_OPTIONS)
def baseline_create(
    ctx: typer.Context,
    path: PathArg = Path(),
    output: OutputOpt = DEFAULT_PATH,
    report: ReportOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing baseline file.")
    ] = False,
    **options: Any,
) -> None:
    """Scan PATH (or read --report files) and record every finding's fingerprint."""
    from scangate.formats._common import plural

    _check_output(output)
    if output.exists() and not force:
        raise UsageError(
            f"{output} exists: use `scangate baseline update` to rewrite it, or --force"
        )
    runs = _current_runs(ctx, path, report)
    recorded = _record(runs, output)
    _console.human(f"{plain(str(output))}: recorded {plural(len(recorded.entries), 'finding')}")


@baseline_app.command("update")
@with_options(TRIVY_OPTIONS, RUN_OPTIONS)
def baseline_update(
    ctx: typer.Context,
    path: PathArg = Path(),
    output: OutputOpt = DEFAULT_PATH,
    report: ReportOpt = None,
    **options: Any,
) -> None:
    """Rescan and rewrite the baseline: fixed findings leave it, new ones join it."""
    from scangate import baseline as baseline_file
    from scangate.formats._common import plural

    _check_output(output)
    # An old schema is read too: update is how a v1 baseline becomes v2.
    old = baseline_file.load_previous(output).keys if output.exists() else frozenset()
    runs = _current_runs(ctx, path, report)
    recorded = _record(runs, output)
    added = len(recorded.keys - old)
    removed = len(old - recorded.keys)
    _console.human(
        f"{plain(str(output))}: {plural(len(recorded.entries), 'finding')} "
        f"({added} added, {removed} no longer found)"
    )
