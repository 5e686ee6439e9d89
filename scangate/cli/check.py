"""`scangate check` (gate existing Trivy reports) and `scangate policy check`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from scangate import secret_values
from scangate.cli._app import app, policy_app
from scangate.cli._common import GateArgs, report
from scangate.cli._options import GATE_OPTIONS, IgnorefileOpt, PolicyOpt, TodayOpt, with_options
from scangate.errors import ReportError
from scangate.findings import ScanRun
from scangate.gate import evaluate
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report, parse_report


def read_runs(reports: Sequence[str]) -> list[ScanRun]:
    runs = []
    for name in reports:
        parsed = parse_report(_read_stdin(), "<stdin>") if name == "-" else load_report(Path(name))
        run = to_scan_run(parsed)
        # Secret values are read from the files where they are, if they are here.
        secret_values.fill_for_report(run, Path.cwd())
        runs.append(run)
    return runs


def _read_stdin() -> bytes:
    # Python sets sys.stdin to None when descriptor 0 is closed (`scangate check - <&-`).
    if sys.stdin is None:
        raise ReportError(
            "<stdin>: '-' reads the report from stdin, but stdin is closed: pipe the report "
            "in (trivy ... --format json | scangate check -) or name the report file"
        )
    try:
        return sys.stdin.buffer.read()
    except OSError as exc:
        raise ReportError(f"<stdin>: cannot read the report: {exc.strerror or exc}") from None


@app.command()
@with_options(GATE_OPTIONS)
def check(
    ctx: typer.Context,
    reports: Annotated[
        list[str],
        typer.Argument(
            metavar="REPORT...",
            help="Trivy JSON report(s) (`trivy ... --format json`); '-' reads stdin.",
        ),
    ],
    **options: Any,
) -> None:
    """Gate existing Trivy JSON reports with a policy: one verdict for all of them.

    Exit codes: 0 pass, 1 the gate failed, 2 usage or policy error, 3 a report could not be
    used, 130 interrupted.
    """
    args = GateArgs.from_params(ctx.params)
    day = args.day()
    gate_policy = args.load_policy(Path.cwd(), day)
    known = args.load_baseline()
    args.check_outputs()
    runs = read_runs(reports)
    report(evaluate(runs, gate_policy, day, known), args)


@policy_app.command("check")
def policy_check(
    path: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME|PATH]",
            help="Policy file or built-in name. Default: the policy a scan would use.",
        ),
    ] = None,
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    today: TodayOpt = None,
) -> None:
    """Validate a policy and print the effective policy after `extends` and ignore files."""
    args = GateArgs(policy=path or policy, ignorefile=ignorefile, today=today)
    effective = args.load_policy(Path.cwd(), args.day())
    typer.echo(f"# effective policy from: {', '.join(effective.sources)}")
    typer.echo(yaml.safe_dump(effective.to_dict(), sort_keys=False, allow_unicode=True), nl=False)
    typer.echo(f"policy OK: {effective.name}", err=True)
