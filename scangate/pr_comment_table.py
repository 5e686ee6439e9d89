"""The tables of scangate's pull request comment: one escaped Markdown row per finding or
suppression change, grouped and ordered, and the UTF-16 budget that cuts whole rows so the
body stays within GitHub's limit (`pr_comment_body` lays them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scangate.formats.escape import markdown

if TYPE_CHECKING:
    from scangate.pr_comment_body import FindingRow, SuppressionRow

MAX_CELL = 250
MAX_TITLE = 120
MAX_FAILING_ROWS = 100
_SEVERITY_RANK = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "UNKNOWN": 4}
_NO_REFERENCE = "\\#&#8203;"


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


FAILING_HEAD = (
    "| Severity | ID | Kind | Where | Title | Why it fails |",
    "|---|---|---|---|---|---|",
)
FIXED_HEAD = ("| Severity | ID | Kind | Target | Where |", "|---|---|---|---|---|")
REVIEW_HEAD = (
    "| Change | Suppression | File | ID | Scope | Reason | Owner | Expires |",
    "|---|---|---|---|---|---|---|---|",
)


def sorted_rows(rows: Sequence[FindingRow]) -> list[FindingRow]:
    return sorted(rows, key=lambda f: (not f.kev, _rank(f), f.target, f.kind, f.id))


def _rank(f: FindingRow) -> int:
    return _SEVERITY_RANK.get(f.severity.upper(), len(_SEVERITY_RANK))


def failing_groups(rows: Sequence[FindingRow]) -> list[tuple[list[str], list[str]]]:
    """(heading lines, row lines) per target (per artifact and target when several artifacts
    were gated together), the worst first; at most MAX_FAILING_ROWS rows in all."""
    groups: dict[tuple[str, str], list[FindingRow]] = {}
    for f in sorted_rows(rows)[:MAX_FAILING_ROWS]:
        groups.setdefault((f.artifact, f.target), []).append(f)
    out = []
    for (artifact, target), members in groups.items():
        name = f"{cell(target)} \\[{cell(artifact)}\\]" if artifact else cell(target)
        head = [f"#### {name} ({len(members)})", "", *FAILING_HEAD]
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


def fixed_row(f: FindingRow) -> str:
    values = (
        cell(f.severity, 20),
        cell(f.id),
        cell(f.kind, 40),
        cell(f.target) + (f" \\[{cell(f.artifact)}\\]" if f.artifact else ""),
        _where(f, fix=False),
    )
    return "| " + " | ".join(values) + " |"


def review_row(r: SuppressionRow) -> str:
    change = cell(r.change, 40) + (f" (was {cell(r.was)})" if r.was else "")
    place = _place(r.path, r.line)
    values = [change, cell(r.source, 40), place, cell(r.id), cell(r.scope or "everywhere")]
    values += [cell(r.reason or "(none)"), cell(r.owner or "(none)"), cell(r.expires or "never")]
    return "| " + " | ".join(values) + " |"


class Budget:
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
