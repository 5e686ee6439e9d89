"""`scangate check` (gate existing Trivy reports) and `scangate policy check`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from scangate.cli import _console, _vex_step
from scangate.cli._app import app, policy_app
from scangate.cli._options import (
    FEED_CACHE_OPTIONS,
    GATE_OPTIONS,
    PR_COMMENT_OPTIONS,
    VEX_OPTIONS,
    IgnorefileOpt,
    PolicyOpt,
    PolicyPathArg,
    TodayOpt,
    with_options,
)
from scangate.errors import ReportError
from scangate.formats.escape import plain

if TYPE_CHECKING:
    from scangate.findings import ScanRun


def read_runs(reports: Sequence[str]) -> list[ScanRun]:
    from scangate.findings import Kind
    from scangate.trivy_findings import to_scan_run
    from scangate.trivy_report import load_report, parse_report

    runs = []
    for name in reports:
        parsed = parse_report(_read_stdin(), "<stdin>") if name == "-" else load_report(Path(name))
        run = to_scan_run(parsed)
        # Secret values are read from the files where they are, if they are here; the reader
        # (tarfile, image layers) is imported only for a report with secrets.
        if any(finding.kind is Kind.SECRET for finding in run.findings):
            from scangate import secret_values

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
@with_options(GATE_OPTIONS, PR_COMMENT_OPTIONS, FEED_CACHE_OPTIONS, VEX_OPTIONS)
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
    from scangate.cli._gate_step import GateArgs, report
    from scangate.gate import evaluate

    args = GateArgs.from_params(ctx.params)
    day = args.day()
    gate_policy = args.load_policy(Path.cwd(), day)
    known = args.load_baseline()
    # An output naming a report would replace it with the result.
    args.check_outputs(reports=reports)
    vex_files = _vex_step.for_check(ctx.params)  # exit 2 for a bad file, before the reports
    runs = read_runs(reports)
    gate_policy = _vex_step.apply_to_reports(vex_files, runs, gate_policy)
    args.apply_feeds(runs, gate_policy)
    report(evaluate(runs, gate_policy, day, known), args)


@policy_app.command("check")
def policy_check(
    path: PolicyPathArg = None,
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    today: TodayOpt = None,
) -> None:
    """Validate a policy and print the effective policy after `extends` and ignore files."""
    from scangate.cli._gate_step import GateArgs

    args = GateArgs(policy=path or policy, ignorefile=ignorefile, today=today)
    effective = args.load_policy(Path.cwd(), args.day())
    sources = ", ".join(plain(source) for source in effective.sources)
    _console.human(f"# effective policy from: {sources}\n{safe_yaml(effective.to_dict())}")
    _console.human(f"policy OK: {plain(effective.name)}", err=True)


def _unsafe(text: str) -> bool:
    """Whether `plain` would show `text` otherwise than as it is (a backslash aside)."""
    return plain(text) != text.replace("\\", "\\\\")


class _SafeDumper(yaml.SafeDumper):
    """YAML whose strings are safe to print (`safe_yaml`)."""

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        # Non-ASCII in a string that holds an unsafe character is written as \u escapes: PyYAML
        # would write U+202E and other format characters raw under allow_unicode.
        saved = self.allow_unicode
        self.allow_unicode = saved and not _unsafe(text)
        try:
            super().write_double_quoted(text, split)
        finally:
            self.allow_unicode = saved


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # A string `plain` would change (a control, format or line-break character, `##[`) is
    # double-quoted, where YAML's own escapes show it on one line, meaning the same.
    style = '"' if _unsafe(text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_SafeDumper.add_representer(str, _represent_str)


def safe_yaml(data: object) -> str:
    """`data` as YAML meaning the same, printable on a terminal or in a job log: every line
    is one line of the document (no folded or multi-line scalar), no control or bidi
    character is raw, and `##[` (a workflow command anywhere in a log line) is `#\\x23[`.
    Strings come from the scanned tree (policy and ignore files)."""
    text = yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, width=1 << 30)
    # Only a double-quoted scalar can hold "##[" (`_represent_str`), and there "\x23" is "#".
    return text.replace("##[", "#\\x23[")
