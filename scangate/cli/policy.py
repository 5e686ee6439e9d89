"""`scangate policy export`: the effective allowlist as OpenVEX or `.trivyignore.yaml`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from scangate.cli._app import policy_app
from scangate.cli._options import IgnorefileOpt, PolicyOpt, PolicyPathArg, TodayOpt


class ExportFormat(StrEnum):
    openvex = "openvex"
    trivyignore_yaml = "trivyignore-yaml"


ExportFormatOpt = Annotated[
    ExportFormat,
    typer.Option(
        "--format",
        "-f",
        envvar="SCANGATE_EXPORT_FORMAT",
        help="openvex: an OpenVEX v0.2.0 document (trivy --vex, grype --vex); "
        "trivyignore-yaml: Trivy's .trivyignore.yaml (trivy --ignorefile).",
    ),
]
ExportOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        envvar="SCANGATE_EXPORT_OUTPUT",
        metavar="PATH",
        help="Write the document here (replaced whole, never half-written). Default: stdout.",
    ),
]
ExportReportOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--report",
        envvar="SCANGATE_EXPORT_REPORT",
        metavar="REPORT",
        help="Trivy JSON report(s) of the target: package-name globs become the package "
        "URLs they match there (repeatable).",
    ),
]
VexAuthorOpt = Annotated[
    str,
    typer.Option(
        "--author",
        envvar="SCANGATE_VEX_AUTHOR",
        metavar="TEXT",
        help="The OpenVEX document's author.",
    ),
]


@policy_app.command("export")
def policy_export(
    export_format: ExportFormatOpt,
    path: PolicyPathArg = None,
    output: ExportOutputOpt = None,
    report: ExportReportOpt = None,
    author: VexAuthorOpt = "scangate",
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    today: TodayOpt = None,
) -> None:
    """Export the effective allowlist (after `extends` and ignore files) for other tools.

    Entries a format cannot express (OpenVEX: no package, or scoped to paths) and expired
    entries are not exported: each is named on stderr. With --today the OpenVEX timestamp
    is that day at 00:00 UTC, else the export time.
    """
    import json
    from datetime import UTC, datetime, time

    from scangate import policy_export as export_
    from scangate.cli import _console
    from scangate.cli._gate_step import GateArgs
    from scangate.cli._outputs import check_not_inputs, check_writable, write_atomic
    from scangate.cli.check import read_runs, safe_yaml
    from scangate.formats.escape import plain

    args = GateArgs(policy=path or policy, ignorefile=ignorefile, today=today)
    day = args.day()
    if output is not None:
        check_writable(output)
        reports = [("the report", Path(name)) for name in report or () if name != "-"]
        check_not_inputs([("--output", output)], [*reports, *args.inputs(Path.cwd())])
    effective = args.load_policy(Path.cwd(), day)
    resolved = export_.resolve_packages(effective, read_runs(report)) if report else {}
    if export_format is ExportFormat.openvex:
        now = datetime.combine(day, time(), UTC) if today else datetime.now(UTC)
        result = export_.to_openvex(
            effective, now=now, author=author, resolved=resolved, reports=bool(report)
        )
        # ASCII only: every reason is the scanned tree's text, and \u escapes keep it inert
        # on a terminal as in the file.
        text = json.dumps(result.document, indent=2, ensure_ascii=True) + "\n"
    else:
        result = export_.to_trivyignore(
            effective, today=day, resolved=resolved, reports=bool(report)
        )
        text = safe_yaml(result.document) if result.document else "{}\n"
    lines = [
        f"scangate: not exported: {plain(s.entry.describe(), 300)}: {s.why}" for s in result.skipped
    ]
    lines += [f"scangate: note: {plain(s.entry.describe(), 300)}: {s.why}" for s in result.notes]
    if output is not None:
        write_atomic(output, text, "--output")
    else:
        _console.machine(text)
    exported = len(effective.allow) - len(result.skipped)
    where = f" to {plain(str(output))}" if output is not None else ""
    lines.append(f"scangate: exported {exported} of {len(effective.allow)} allow entries{where}")
    _console.human("\n".join(lines), err=True)
