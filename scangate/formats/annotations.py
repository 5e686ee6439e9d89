"""GitHub Actions workflow annotations (`::error file=...,line=...::message`) for failing findings.

GitHub shows at most 10 error annotations per step, so the most severe failing findings that
have a file in the repository are annotated, and one `::notice::` line says how many more
failing findings there are; findings in their grace period get `::warning` lines. A known
exploited vulnerability (KEV) says so in its title, and its message starts with its KEV
dates and EPSS score. Paths follow the SARIF locations (`_common.repository_location`).
Values from the report or the scanned tree go through `escape.workflow_data` and
`escape.workflow_property`: visible escapes for control and format characters, then the
Actions toolkit's escaping (`%`, CR and LF in the message, also `:` and `,` in properties),
each capped in length. A secret is named by its rule, never by its (even masked) text.
"""

from __future__ import annotations

from pathlib import Path

from scangate.findings import Finding, Kind, Location
from scangate.formats._common import (
    epss_text,
    is_image_artifact,
    kev_text,
    repository_location,
    scanned_dir,
    scanned_file,
    sort_key,
)
from scangate.formats.escape import workflow_data, workflow_property
from scangate.gate import Decided, Decision, GateResult

MAX_ERRORS = 10
# GitHub shows an annotation's first lines; a 1 MB title must not make a 1 MB log line.
MAX_MESSAGE = 1000
MAX_PROPERTY = 300
MAX_PATH = 4096  # PATH_MAX: a longer "path" is no file in the repository

# The channel's escapers, under the names the toolkit gives them.
escape_data = workflow_data
escape_property = workflow_property


def github_annotations(
    result: GateResult, *, source_root: Path, max_errors: int = MAX_ERRORS
) -> list[str]:
    """`::error` lines for up to `max_errors` failing findings with a repository file, most
    severe first, then a `::notice::` line if any failing finding was not annotated, then
    `::warning` lines for up to `max_errors` findings in their grace period (GitHub's limit
    per step is per type): they fail from the day their reason names."""
    located: list[tuple[Decided, Location]] = []
    grace: list[tuple[Decided, Location]] = []
    failing = 0
    for run in result.runs:
        if is_image_artifact(run.run.artifact):
            failing += sum(1 for d in run.decided if d.decision is Decision.FAIL)
            continue
        scanned = scanned_dir(run.run.artifact, source_root)
        targets = (f.target for f in run.run.findings)
        file = scanned_file(run.run.artifact, targets, source_root)
        for d in run.decided:
            if d.decision is Decision.GRACE:
                loc = repository_location(d.finding, scanned, file)
                if loc is not None:
                    grace.append((d, loc))
            if d.decision is not Decision.FAIL:
                continue
            failing += 1
            loc = repository_location(d.finding, scanned, file)
            if loc is not None:
                located.append((d, loc))
    located.sort(key=lambda pair: sort_key(pair[0]))
    limit = max(0, max_errors)
    lines = [_error(d, loc) for d, loc in located[:limit]]
    beyond = len(located) - len(lines)
    no_file = failing - len(located)
    if beyond or no_file:
        why = []
        if beyond:
            why.append(f"{beyond} over the limit of {limit} error annotations per step")
        if no_file:
            why.append(f"{no_file} without a file in the repository")
        more = "more " if lines else ""
        left = beyond + no_file
        are = "failing finding is" if left == 1 else "failing findings are"
        lines.append(
            f"::notice title=scangate::{left} {more}{are} not "
            f"annotated ({'; '.join(why)}): see the step summary or code scanning"
        )
    grace.sort(key=lambda pair: sort_key(pair[0]))
    lines += [_error(d, loc, command="warning") for d, loc in grace[:limit]]
    return lines


def _error(d: Decided, loc: Location, command: str = "error") -> str:
    f = d.finding
    # A path is kept exact (the annotation must name the real file) unless it holds
    # characters `plain` escapes; such a file is not placed, but nothing raw reaches the log.
    props = [f"file={escape_property(loc.path, MAX_PATH)}"]
    if loc.start_line:
        props.append(f"line={loc.start_line}")
        if loc.end_line and loc.end_line > loc.start_line:
            props.append(f"endLine={loc.end_line}")
    props.append(f"title={escape_property(_title(f), MAX_PROPERTY)}")
    message = _message(d)
    if d.decision is Decision.GRACE:  # the reason names the day it starts failing
        message = f"In its grace period: {d.reason}. {message}"
    return f"::{command} {','.join(props)}::{escape_data(message, MAX_MESSAGE)}"


def _title(f: Finding) -> str:
    kev = " (known exploited, KEV)" if f.kev is not None else ""
    return f"{f.severity.value} {f.kind.value} {f.id}{kev}"


def _message(d: Decided) -> str:
    f = d.finding
    if f.kind is Kind.VULNERABILITY:
        fix = f"fixed in {f.fixed_version}" if f.fixed_version else "no fixed version yet"
        head = f"{f.package or '?'} {f.installed_version or '?'}: {fix}"
        # What makes it urgent goes first: the message shows its first lines only.
        risk = [f"Known exploited (CISA KEV: {kev_text(f.kev)})"] if f.kev is not None else []
        risk += [f"EPSS {epss_text(f.epss)}"] if f.epss is not None else []
        if risk:
            head = f"{'; '.join(risk)}. {head}"
        return f"{head}. {f.title}" if f.title else head
    if f.kind is Kind.SECRET:
        return f"{f.title or f.id}: revoke and rotate it, then remove it from the repository"
    return f.message or f.title or f.id
