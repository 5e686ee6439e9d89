"""The body of scangate's pull request comment: what the gate found that this PR changes.

Layout (see the README's "Pull requests"): a hidden marker on the first line
(`<!-- scangate:<category> -->`, how the comment is found again), the verdict, the new
failing findings grouped by target, the findings this PR fixes, the number of pre-existing
ones, and the suppression review (allow entries, ignore lines, inline ignores and baseline
entries this PR adds, removes, widens or extends). A clean PR whose comment existed gets a
short "resolved" body instead.

Every text from a report, a policy or an ignore file goes through `escape.markdown`
(capped at `MAX_CELL` characters first): no HTML, link, image, mention, heading, table break
or comment end can come from it, and a newline shows as `\\n`. The body stays within
GitHub's 65,536-character limit, counted in UTF-16 units (never fewer than characters):
whole rows are cut, never a cell, and a note says how many and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scangate.formats.escape import markdown

if TYPE_CHECKING:
    from scangate.remediation.plan import Plan

MAX_CHARS = 65_536
MAX_CELL = 250
MAX_TITLE = 120
MAX_FAILING_ROWS = 100
MAX_FIXED_ROWS = 50
MAX_REVIEW_ROWS = 100
MAX_NOTES = 5
MAX_NOTE = 300
# Room kept for the notes and headings written around the rows.
_RESERVE = 2_048
_SEVERITY_RANK = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "UNKNOWN": 4}
_CATEGORY_UNSAFE = re.compile(r"[^A-Za-z0-9._/:+=@-]")
_CUT = "cut to keep this comment under GitHub's 65,536-character limit"
_SEE_SUMMARY = "the job's step summary has the full results"
_NO_REFERENCE = "\\#&#8203;"


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


def size(text: str) -> int:
    """The length GitHub's limit is checked against, never less than it: UTF-16 units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def cell(text: object, limit: int = MAX_CELL) -> str:
    # GitHub links `#12` and `owner/repo#12` in a comment to that issue and notes the
    # reference in its timeline, as it notifies a mention: a zero-width space after "#"
    # (escaped by `markdown` as "\#") keeps it text.
    return markdown(str(text), limit).replace("\\#", _NO_REFERENCE)


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
    failing = _failing_groups(comment.new_failing)
    review = [_review_row(r) for r in comment.suppressions[:MAX_REVIEW_ROWS]]
    fixed = [_fixed_row(f) for f in _sorted(comment.fixed)[:MAX_FIXED_ROWS]]
    notes = _notes(comment.review_notes)
    fix_plan = _fix_plan(comment)
    budget = _Budget(max_chars - size("\n".join([*head, *notes, *fix_plan])) - _RESERVE)
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
            lines += [*_FIXED_HEAD, *kept_fixed, ""]
        lines += _more(len(comment.fixed), len(kept_fixed), MAX_FIXED_ROWS, "fixed findings")
    if comment.pre_existing:
        lines += ["### Pre-existing", "", _pre_existing(comment), ""]
    if comment.suppressions:
        lines += [f"### Suppression review ({len(comment.suppressions)})", ""]
        lines += [_REVIEW_NOTE, ""]
        if kept_review:
            lines += [*_REVIEW_HEAD, *kept_review, ""]
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


def _summary(comment: CommentInput) -> str:
    by_kind: dict[str, int] = {}
    for f in comment.new_failing:
        by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
    detail = ", ".join(f"{n} {cell(kind, 40)}" for kind, n in sorted(by_kind.items()))
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


_FAILING_HEAD = (
    "| Severity | ID | Kind | Where | Title | Why it fails |",
    "|---|---|---|---|---|---|",
)
_FIXED_HEAD = ("| Severity | ID | Kind | Target | Where |", "|---|---|---|---|---|")
_REVIEW_HEAD = (
    "| Change | Suppression | File | ID | Scope | Reason | Owner | Expires |",
    "|---|---|---|---|---|---|---|---|",
)
_REVIEW_NOTE = (
    "Allow entries, ignore lines, inline ignores and baseline entries this pull request "
    "adds, removes, widens or extends: they decide what the gate lets through."
)


def _sorted(rows: Sequence[FindingRow]) -> list[FindingRow]:
    return sorted(rows, key=lambda f: (not f.kev, _rank(f), f.target, f.kind, f.id))


def _rank(f: FindingRow) -> int:
    return _SEVERITY_RANK.get(f.severity.upper(), len(_SEVERITY_RANK))


def _failing_groups(rows: Sequence[FindingRow]) -> list[tuple[list[str], list[str]]]:
    """(heading lines, row lines) per target, the worst target first; at most
    MAX_FAILING_ROWS rows in all."""
    groups: dict[str, list[FindingRow]] = {}
    for f in _sorted(rows)[:MAX_FAILING_ROWS]:
        groups.setdefault(f.target, []).append(f)
    out = []
    for target, members in groups.items():
        head = [f"#### {cell(target)} ({len(members)})", "", *_FAILING_HEAD]
        out.append((head, [_failing_row(f) for f in members]))
    return out


def _where(f: FindingRow, *, fix: bool = True) -> str:
    """Escaped Markdown: each part capped on its own, so a long name never hides the line
    number or the fixed version."""
    if f.package:
        text = f"{cell(f.package, 120)} {cell(f.installed_version or '?', 60)}"
        if not fix:
            return text
        return text + (
            f" \\-\\> {cell(f.fixed_version, 60)}" if f.fixed_version else " \\(no fix\\)"
        )
    return _place(f.path, f.line)


def _place(path: str, line: int | None) -> str:
    return f"{cell(path, 200)}\\:{line}" if path and line else cell(path, 200)


def _failing_row(f: FindingRow) -> str:
    values = [cell(f.severity, 20), cell(f.id) + _risk(f), cell(f.kind, 40), _where(f)]
    values += [cell(f.title, MAX_TITLE), cell(f.reason)]
    return "| " + " | ".join(values) + " |"


def _risk(f: FindingRow) -> str:
    """` (KEV, EPSS 0.944)` after the ID: scangate's own text, a typed score."""
    parts = ["KEV"] if f.kev else []
    if f.epss is not None:
        score = "<0.001" if 0 < f.epss < 0.0005 else f"{f.epss:.3f}"
        parts.append(f"EPSS {cell(score, 10)}")
    return f" ({', '.join(parts)})" if parts else ""


def _fixed_row(f: FindingRow) -> str:
    values = (
        cell(f.severity, 20),
        cell(f.id),
        cell(f.kind, 40),
        cell(f.target),
        _where(f, fix=False),
    )
    return "| " + " | ".join(values) + " |"


def _review_row(r: SuppressionRow) -> str:
    change = cell(r.change, 40) + (f" (was {cell(r.was)})" if r.was else "")
    place = _place(r.path, r.line)
    values = [change, cell(r.source, 40), place, cell(r.id), cell(r.scope or "everywhere")]
    values += [cell(r.reason or "(none)"), cell(r.owner or "(none)"), cell(r.expires or "never")]
    return "| " + " | ".join(values) + " |"


def _more(total: int, shown: int, cap: int, what: str) -> list[str]:
    left = total - shown
    if left <= 0:
        return []
    why = _CUT if shown < min(total, cap) else f"the comment shows at most {cap}"
    lead = f"... and {left} more {what}" if shown else f"{left} {what} not shown"
    return [f"{lead} ({why}; {_SEE_SUMMARY}).", ""]


class _Budget:
    """UTF-16 units left for rows (one newline each); the first row that does not fit ends
    the taking, so what is cut is one run from the end."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.full = False

    def _fits(self, lines: Sequence[str]) -> bool:
        need = sum(size(line) + 1 for line in lines)
        if self.full or need > self.left:
            self.full = True
            return False
        self.left -= need
        return True

    def take(self, lines: list[str], share: float = 1.0) -> list[str]:
        """Whole lines from the start, spending at most `share` of what is left."""
        kept: list[str] = []
        spare = self.left - int(self.left * share)
        self.left -= spare
        for line in lines:
            if not self._fits([line]):
                break
            kept.append(line)
        self.left += spare
        self.full = False  # another section may still fit its first rows
        return kept

    def take_grouped(
        self, groups: list[tuple[list[str], list[str]]]
    ) -> list[tuple[list[str], list[str]]]:
        kept: list[tuple[list[str], list[str]]] = []
        for head, rows in groups:
            # A group's heading and table head are paid with its first row.
            if not rows or not self._fits([*head, rows[0], ""]):
                break
            taken = [rows[0]]
            for row in rows[1:]:
                if not self._fits([row]):
                    break
                taken.append(row)
            kept.append((head, taken))
            if self.full:
                break
        self.full = False
        return kept


def _finish(lines: list[str], max_chars: int) -> str:
    body = "\n".join(lines).rstrip("\n") + "\n"
    if size(body) > max_chars:
        # Only a tiny max_chars (tests) gets here: the reserve covers headings and notes.
        keep = [*lines[:5], "", f"... the rest was {_CUT}; {_SEE_SUMMARY}."]
        body = "\n".join(keep) + "\n"
    return body
