"""The body of scangate's pull request comment: what the gate found that this PR changes.

Layout (see the README's "Pull requests"): a hidden marker on the first line
(`<!-- scangate:<category> -->`, how the comment is found again), the verdict, the new
failing findings grouped by target, the findings this PR fixes, the number of pre-existing
ones, and the suppression review (allow entries, ignore lines, inline ignores and baseline
entries this PR adds, removes, widens or extends). A clean PR whose comment existed gets a
short "resolved" body instead.

Every text from a report, a policy or an ignore file goes through `escape.markdown` (capped
at `pr_comment_table.MAX_CELL` characters first): no HTML, link, image, mention, heading,
table break or comment end can come from it, and a newline shows as `\\n`. The body stays
within GitHub's 65,536-character limit, counted in UTF-16 units (never fewer than
characters): whole rows are cut, never a cell (`pr_comment_table.Budget`), and a note says
how many and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# The tables and their budget live in `pr_comment_table`; callers import these from here.
from scangate.findings import Kind
from scangate.formats._common import kind_count
from scangate.pr_comment_table import (
    FIXED_HEAD,
    MAX_FAILING_ROWS,
    REVIEW_HEAD,
    Budget,
    cell,
    failing_groups,
    fixed_row,
    review_row,
    size,
    sorted_rows,
)

if TYPE_CHECKING:
    from scangate.remediation.plan import Plan

__all__ = [
    "MAX_CHARS",
    "MAX_FAILING_ROWS",
    "CommentInput",
    "FindingRow",
    "SuppressionRow",
    "cell",
    "marker",
    "render",
    "render_resolved",
    "size",
]

MAX_CHARS = 65_536
MAX_FIXED_ROWS = 50
MAX_REVIEW_ROWS = 100
MAX_NOTES = 5
MAX_NOTE = 300
# Room kept for the notes and headings written around the rows.
_RESERVE = 2_048
_CATEGORY_UNSAFE = re.compile(r"[^A-Za-z0-9._/:+=@-]")
_CUT = "cut to keep this comment under GitHub's 65,536-character limit"
_SEE_SUMMARY = "the job's step summary has the full results"


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding in the comment. `package`/`installed_version`/`fixed_version` for a
    dependency; `path`/`line` for a file (a secret is shown only by its file and line)."""

    kind: str
    id: str
    severity: str
    target: str
    package: str = ""
    installed_version: str = ""
    fixed_version: str = ""
    path: str = ""
    line: int | None = None
    title: str = ""
    reason: str = ""  # why it fails (the gate's decision reason)
    kev: bool = False  # in CISA's Known Exploited Vulnerabilities catalog: listed first
    epss: float | None = None  # FIRST's EPSS probability, 0..1
    # The scanned artifact, when several were gated together (`_common.artifact_labels`).
    artifact: str = ""


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    """One suppression this PR changes. `change`: added, removed, widened (new targets or
    packages globs) or extended (a later expiry); `was`: the old scope or expiry, if any.
    `source`: allow entry, .trivyignore, .trivyignore.yaml, inline comment, baseline entry."""

    change: str
    source: str
    path: str
    line: int | None
    id: str
    scope: str = ""
    reason: str = ""
    owner: str = ""
    expires: str = ""  # ISO date, "" for never
    was: str = ""


@dataclass(frozen=True, slots=True)
class CommentInput:
    """What the comment says. `verdict`: "pass" or "fail". `counts`: findings per decision
    besides the new failing ones (e.g. {"allowed": 2, "known": 1}), shown after them."""

    verdict: str
    new_failing: Sequence[FindingRow] = ()
    fixed: Sequence[FindingRow] = ()
    pre_existing: int = 0
    total: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    suppressions: Sequence[SuppressionRow] = ()
    review_notes: Sequence[str] = ()  # what the review could not compare, and why
    base: str = ""  # the base commit, short
    # A failing gate's remediation plan: the comment gets a short "Fix plan" section.
    fix_plan: Plan | None = None

    @property
    def needs_comment(self) -> bool:
        """Whether there is something for reviewers: a failing gate or a changed suppression
        (a PR that passes because it allows its findings is what the review is for)."""
        return self.verdict == "fail" or bool(self.new_failing) or bool(self.suppressions)


def marker(category: str) -> str:
    """The hidden first line that finds the comment again: one per PR and category. The
    category keeps a safe charset (no ">" to end the comment, no "--", which GitHub's
    CommonMark does not allow inside one)."""
    safe = _CATEGORY_UNSAFE.sub("_", category.strip())[:200] or "default"
    safe = re.sub("-{2,}", "-", safe)
    return f"<!-- scangate:{safe} -->"


def render(comment: CommentInput, category: str, *, max_chars: int = MAX_CHARS) -> str:
    """The full body: verdict, new failing findings, fixed, pre-existing, suppression review."""
    passed = comment.verdict != "fail"
    head = [
        marker(category),
        "",
        "## scangate: PASS :white_check_mark:" if passed else "## scangate: FAIL :x:",
        "",
        _summary(comment),
    ]
    failing = failing_groups(comment.new_failing)
    review = [review_row(r) for r in comment.suppressions[:MAX_REVIEW_ROWS]]
    fixed = [fixed_row(f) for f in sorted_rows(comment.fixed)[:MAX_FIXED_ROWS]]
    notes = _notes(comment.review_notes)
    fix_plan = _fix_plan(comment)
    budget = Budget(max_chars - size("\n".join([*head, *notes, *fix_plan])) - _RESERVE)
    # The suppression review first, within half the room: it is short, and it is what a
    # reviewer must see; the failing findings fill the rest, the fixed ones come last.
    kept_review = budget.take(review, share=0.5)
    kept_failing = budget.take_grouped(failing)
    kept_fixed = budget.take(fixed)

    lines = [*head, ""]
    if comment.new_failing:
        lines += [f"### New failing findings ({len(comment.new_failing)})", ""]
        for group_head, rows in kept_failing:
            lines += [*group_head, *rows, ""]
        shown = sum(len(rows) for _, rows in kept_failing)
        lines += _more(len(comment.new_failing), shown, MAX_FAILING_ROWS, "new failing findings")
    lines += fix_plan
    if comment.fixed:
        lines += [f"### Fixed by this pull request ({len(comment.fixed)})", ""]
        if kept_fixed:
            lines += [*FIXED_HEAD, *kept_fixed, ""]
        lines += _more(len(comment.fixed), len(kept_fixed), MAX_FIXED_ROWS, "fixed findings")
    if comment.pre_existing:
        lines += ["### Pre-existing", "", _pre_existing(comment), ""]
    if comment.suppressions:
        lines += [f"### Suppression review ({len(comment.suppressions)})", ""]
        lines += [_REVIEW_NOTE, ""]
        if kept_review:
            lines += [*REVIEW_HEAD, *kept_review, ""]
        lines += _more(
            len(comment.suppressions), len(kept_review), MAX_REVIEW_ROWS, "suppression changes"
        )
    if notes:
        lines += [] if comment.suppressions else ["### Suppression review", ""]
        lines += [*notes, ""]
    return _finish(lines, max_chars)


def render_resolved(comment: CommentInput, category: str, *, earlier: bool = True) -> str:
    """The short body of a clean PR: "resolved" when it edits an earlier comment, else a
    plain pass (`always` posts one every run)."""
    word = "resolved" if earlier else "PASS"
    lines = [
        marker(category),
        "",
        f"## scangate: {word} :white_check_mark:",
        "",
        "No new failing findings in this pull request"
        + (" any more" if earlier else "")
        + _clean_counts(comment)
        + ".",
    ]
    return _finish(lines, MAX_CHARS)


_REVIEW_NOTE = (
    "Allow entries, ignore lines, inline ignores and baseline entries this pull request "
    "adds, removes, widens or extends: they decide what the gate lets through."
)


# --- pieces ---------------------------------------------------------------------------------


def _fix_plan(comment: CommentInput) -> list[str]:
    if comment.fix_plan is None or comment.verdict != "fail":
        return []
    from scangate.formats.plan_markdown import plan_section

    return plan_section(comment.fix_plan)


def _notes(notes: Sequence[str]) -> list[str]:
    """What the suppression review could not compare: a few list items."""
    out = [f"- :warning: {cell(note, MAX_NOTE)}" for note in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        out.append(f"- ... and {len(notes) - MAX_NOTES} more notes")
    return out


_KINDS = frozenset(k.value for k in Kind)


def _summary(comment: CommentInput) -> str:
    by_kind: dict[str, int] = {}
    for f in comment.new_failing:
        by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
    detail = ", ".join(_kind_count(n, kind) for kind, n in sorted(by_kind.items()))
    n = len(comment.new_failing)
    line = f"**{n} new failing finding{'s' if n != 1 else ''}**" + (
        f" ({detail})" if detail else ""
    )
    if comment.total:
        line += f", of {comment.total} in all"
    others = [(n, "pre-existing") for n in (comment.pre_existing,) if n]
    others += [(n, cell(d, 40)) for d, n in sorted(comment.counts.items()) if n]
    if others:
        line += "; " + ", ".join(f"{n} {what}" for n, what in others)
    line += "."
    if comment.fixed:
        line += f" {len(comment.fixed)} fixed by this pull request."
    if comment.base:
        line += f" Compared with the base commit {cell(comment.base, 64)}."
    return line


def _kind_count(count: int, kind: str) -> str:
    """ "1 secret", "2 vulnerabilities"; a kind scangate does not know, escaped as it is."""
    if kind in _KINDS:
        return kind_count(count, kind)
    return f"{count} {cell(kind, 40)}"


def _clean_counts(comment: CommentInput) -> str:
    parts = [f"{comment.pre_existing} pre-existing"] if comment.pre_existing else []
    parts += [f"{len(comment.fixed)} fixed"] if comment.fixed else []
    return f" ({', '.join(parts)})" if parts else ""


def _pre_existing(comment: CommentInput) -> str:
    n = comment.pre_existing
    at = f" {cell(comment.base, 64)}" if comment.base else ""
    return (
        f"{n} finding{'s' if n != 1 else ''} already failed at the base commit{at}: "
        "reported in the step summary, they do not fail this pull request."
    )


def _more(total: int, shown: int, cap: int, what: str) -> list[str]:
    left = total - shown
    if left <= 0:
        return []
    why = _CUT if shown < min(total, cap) else f"the comment shows at most {cap}"
    lead = f"... and {left} more {what}" if shown else f"{left} {what} not shown"
    return [f"{lead} ({why}; {_SEE_SUMMARY}).", ""]


def _finish(lines: list[str], max_chars: int) -> str:
    body = "\n".join(lines).rstrip("\n") + "\n"
    if size(body) > max_chars:
        # Only a tiny max_chars (tests) gets here: the reserve covers headings and notes.
        keep = [*lines[:5], "", f"... the rest was {_CUT}; {_SEE_SUMMARY}."]
        body = "\n".join(keep) + "\n"
    return body
