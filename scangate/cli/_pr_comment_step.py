"""The pull request comment step of the gate (`--pr-comment`): after the outputs are written,
turn the `GateResult` into the comment's input (`pr_comment_body.CommentInput`) and publish
it (`pr_comment.publish_from_env`). Imported only by runs that comment.

Which findings: with a diff against the base (`--diff-base`), the failing decisions are the
new ones (a finding already failing at the base is decided pre-existing); without one, every
failing finding. Fixed: the base's findings gone at head that would have failed.

A comment that cannot be posted is one warning line on stderr (a `::warning` under GitHub
Actions); it never changes the exit code, and the token is never printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from scangate.cli import _console
from scangate.formats._common import artifact_labels
from scangate.formats.escape import plain
from scangate.gate import Decided, Decision, Verdict
from scangate.pr_comment import Action, Mode, publish_from_env
from scangate.pr_comment_body import CommentInput, FindingRow, SuppressionRow
from scangate.remediation import plan_of

if TYPE_CHECKING:
    from scangate.cli._gate_step import GateArgs
    from scangate.gate import GateResult
    from scangate.suppression_review import ReviewRow

DEFAULT_CATEGORY = "scangate"
_SAID = {
    Action.CREATED: "created",
    Action.UPDATED: "updated",
    Action.RESOLVED: "edited into the resolved state",
    Action.UNCHANGED: "unchanged",
}


def comment_on_pull_request(result: GateResult, args: GateArgs) -> None:
    """Publish the comment as `args.pr_comment` says; print one line about it."""
    environ = os.environ
    outcome = publish_from_env(
        comment_input(result),
        category=category(result, args),
        mode=Mode(str(args.pr_comment)),
        environ=environ,
        author=args.pr_comment_author or None,
    )
    if outcome.warning:
        _console.warning(_without_token(outcome.warning, environ), annotate=True)
    elif outcome.action in _SAID and not args.quiet:
        where = f": {plain(outcome.url, 500)}" if outcome.url else ""
        _console.human(f"scangate: pull request comment {_SAID[outcome.action]}{where}", err=True)


def _without_token(text: str, environ: Mapping[str, str]) -> str:
    # `pr_comment` never quotes the token; this makes sure of it.
    token = environ.get("GITHUB_TOKEN", "").strip()
    return text.replace(token, "***") if len(token) >= 4 else text


def category(result: GateResult, args: GateArgs) -> str:
    """The analysis category, one comment per pull request and category: --sarif-category,
    else the SARIF default of the scanned targets (`scangate/fs/<path>`,
    `scangate/image/<repository>`), joined with "+" when several."""
    if args.sarif_category:
        return args.sarif_category
    from scangate.formats._common import is_image_artifact, scanned_file
    from scangate.formats.sarif.locations import default_category

    source_root = Path.cwd()
    found: list[str] = []
    for run_result in result.runs:
        artifact = run_result.run.artifact
        file = None
        if not is_image_artifact(artifact):
            targets = (f.target for f in run_result.run.findings)
            file = scanned_file(artifact, targets, source_root)
        name = default_category(artifact, source_root, file)
        if name not in found:
            found.append(name)
    return "+".join(found) or DEFAULT_CATEGORY


def comment_input(result: GateResult) -> CommentInput:
    diff = result.diff
    decided = result.decided()
    labels = artifact_labels(result)
    counts: dict[str, int] = {}
    for d in decided:
        if d.decision not in (Decision.FAIL, Decision.PRE_EXISTING):
            counts[d.decision.value] = counts.get(d.decision.value, 0) + 1
    review = diff.review if diff is not None else None
    return CommentInput(
        verdict=result.verdict.value,
        new_failing=[finding_row(d, labels) for d in _failing(decided)],
        fixed=[finding_row(d, {}) for d in _failing(diff.fixed)] if diff is not None else [],
        pre_existing=diff.pre_existing if diff is not None else 0,
        total=result.summary.total,
        counts=counts,
        suppressions=[suppression_row(r) for r in review.rows] if review else [],
        review_notes=list(review.notes) if review else [],
        base=diff.short if diff is not None else "",
        fix_plan=plan_of(result) if result.verdict is Verdict.FAIL else None,
    )


def _failing(decided: Iterable[Decided]) -> list[Decided]:
    return [d for d in decided if d.decision is Decision.FAIL]


def finding_row(d: Decided, labels: dict[int, str]) -> FindingRow:
    """Never the finding's `message`: for a secret it holds the masked match. `labels`:
    `artifact_labels` of the result."""
    f = d.finding
    loc = f.location
    return FindingRow(
        kind=f.kind.value,
        id=f.id,
        severity=f.severity.value,
        target=f.target,
        package=f.package or "",
        installed_version=f.installed_version or "",
        fixed_version=f.fixed_version or "",
        path=loc.path if loc else "",
        line=loc.start_line if loc else None,
        title=f.title,
        reason=d.reason,
        kev=f.kev is not None,
        epss=f.epss,
        artifact=labels.get(id(d), ""),
    )


def suppression_row(row: ReviewRow) -> SuppressionRow:
    was = row.previous_scope or ""
    if row.previous_expires is not None:
        was = (was + "; " if was else "") + f"expires {row.previous_expires.isoformat()}"
    return SuppressionRow(
        change=", ".join(str(c.value) for c in row.changes),
        source=str(row.kind.value),
        path=row.file,
        line=row.line,
        id=row.id,
        scope=row.scope,
        reason=row.reason or row.note,
        owner=row.owner or "",
        expires=row.expires.isoformat() if row.expires else "",
        was=was,
    )
