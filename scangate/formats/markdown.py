"""The Markdown summary for humans on GitHub: a job's step summary or a PR comment.

Verdict first, then counts per kind and severity, the failing findings and allowlist
warnings. Every value from the report, the scanned tree or an ignore file goes through
`escape.markdown` (no link, image, emphasis, HTML, entity, mention or table break can come
from it) and is capped at `MAX_CELL` characters; the whole summary stays under `MAX_BYTES`
(GitHub drops a step summary over 1 MiB), and says what it left out. Secrets appear only
as their file and line.
"""

from __future__ import annotations

from scangate.findings import Kind, Severity
from scangate.formats._common import kind_count, plural, sort_key, versions
from scangate.formats.escape import markdown
from scangate.gate import Decided, Decision, EntryStatus, GateResult, Verdict

MAX_ROWS = 50
MAX_DIFF_ROWS = 20  # --diff-base: pre-existing and fixed findings listed (the rest counted)
# GitHub drops a step summary over 1 MiB: the whole summary stays under this, whole rows
# and list items cut from the end, and each cell under MAX_CELL characters of its text.
MAX_BYTES = 900 * 1024
MAX_CELL = 250
_SEVERITIES = tuple(s.value for s in reversed(Severity))
_CUT = "cut to keep this summary under 900 KiB: GitHub drops a step summary over 1 MiB"


class MarkdownFormat:
    def __init__(self, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes

    def render(self, result: GateResult) -> str:
        lines: list[str] = [*_verdict(result), "", *_counts(result), ""]
        failing = sorted((d for d in result.decided() if d.decision is Decision.FAIL), key=sort_key)
        rows = _failing_rows(failing[: self.max_rows])
        warnings = _allowlist(result)
        # What is always written (headings, notes) is counted first; rows and list items
        # then fill the rest of the budget in order.
        budget = _Budget(self.max_bytes - _size(lines) - 2048)
        kept_rows = budget.take(rows)
        kept_warnings = budget.take(warnings)
        if failing:
            title = "New failing findings" if result.diff is not None else "Failing findings"
            lines += [f"### {title} ({len(failing)})", "", *_TABLE_HEAD, *kept_rows]
            more = len(failing) - len(kept_rows)
            if more:
                why = f" ({_CUT})" if len(kept_rows) < len(rows) else ""
                noun = "finding" if more == 1 else "findings"
                lines += ["", f"... and {more} more failing {noun}{why}."]
            lines.append("")
        if result.diff is not None:
            lines += _diff_groups(result, budget)
        if warnings:
            lines += ["### Allow-list warnings", "", *kept_warnings]
            if len(kept_warnings) < len(warnings):
                lines.append(f"- ... and {len(warnings) - len(kept_warnings)} more ({_CUT})")
            lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"


def _diff_groups(result: GateResult, budget: _Budget) -> list[str]:
    """`--diff-base`: the pre-existing findings (counted, the most severe listed) and the
    findings fixed since the base."""
    diff = result.diff
    assert diff is not None
    lines: list[str] = []
    base = cell(diff.short)
    pre = sorted((d for d in result.decided() if d.decision is Decision.PRE_EXISTING), key=sort_key)
    fixed = sorted(
        (d for d in diff.fixed if d.decision is not Decision.BELOW_THRESHOLD), key=sort_key
    )
    groups = (
        (f"Pre-existing findings ({len(pre)}, present at {base})", pre, "pre-existing"),
        (f"Fixed since {base} ({len(fixed)})", fixed, "fixed"),
    )
    for title, group, noun in groups:
        if not group:
            continue
        rows = budget.take(_failing_rows(group[:MAX_DIFF_ROWS]))
        lines += [f"### {title}", "", *_DIFF_HEAD, *rows]
        if len(group) > len(rows):
            lines += ["", f"... and {len(group) - len(rows)} more {noun}."]
        lines.append("")
    return lines


class _Budget:
    """Bytes left for rows and list items (UTF-8, one newline each)."""

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, lines: list[str]) -> list[str]:
        kept = []
        for line in lines:
            size = len(line.encode()) + 1
            if size > self.left:
                # Later, smaller lines do not jump the queue: the cut is at one place.
                self.left = 0
                break
            self.left -= size
            kept.append(line)
        return kept


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell (`escape.markdown`), capped at `MAX_CELL`."""
    return markdown(str(text), MAX_CELL)


def _verdict(result: GateResult) -> list[str]:
    s = result.summary
    passed = result.verdict is Verdict.PASS
    head = "## scangate: PASS :white_check_mark:" if passed else "## scangate: FAIL :x:"
    detail = ", ".join(kind_count(n, k) for k, n in sorted(s.failing_by_kind.items()) if n)
    others = ", ".join(
        f"{n} {decision}"
        for decision, n in s.by_decision.items()
        if n and decision != Decision.FAIL.value
    )
    line = f"**{s.failing} failing**" + (f" ({detail})" if detail else "")
    line += f" of {plural(s.total, 'finding')}" + (f"; {others}" if others else "")
    return [head, "", f"{line}. Policy: {cell(result.policy.name)}."]


def _counts(result: GateResult) -> list[str]:
    by_kind = result.summary.by_kind_severity
    rows = [
        "| Kind | " + " | ".join(_SEVERITIES) + " | Total | Failing |",
        "|---|" + "---:|" * (len(_SEVERITIES) + 2),
    ]
    for kind in Kind:
        counts = by_kind.get(kind.value, {})
        total = sum(counts.values())
        failing = result.summary.failing_by_kind.get(kind.value, 0)
        row = " | ".join(str(counts.get(s, 0)) for s in _SEVERITIES)
        rows.append(f"| {kind.value} | {row} | {total} | {failing} |")
    return rows


_TABLE_HEAD = (
    "| Severity | Kind | ID | Where | Installed -> fixed | Why it fails |",
    "|---|---|---|---|---|---|",
)


_DIFF_HEAD = (
    "| Severity | Kind | ID | Where | Installed -> fixed | Reason |",
    _TABLE_HEAD[1],
)


def _failing_rows(failing: list[Decided]) -> list[str]:
    rows = []
    for d in failing:
        f = d.finding
        values = (f.severity.value, f.kind.value, f.id, _where(d), versions(f), d.reason)
        rows.append("| " + " | ".join(cell(v) for v in values) + " |")
    return rows


def _where(d: Decided) -> str:
    """Package and file for dependencies, file and line for the rest (never a secret's text)."""
    f = d.finding
    place = str(f.location) if f.location else f.target
    if f.package:
        return f"{f.package} ({place})"
    return place


def _allowlist(result: GateResult) -> list[str]:
    report = result.allowlist
    out = [f"- :warning: expired: {_entry(s)}" for s in report.expired]
    out += [
        f"- :hourglass: expires in {plural(s.days_left or 0, 'day')}: {_entry(s)}"
        for s in report.expiring
    ]
    out += [f"- unused (matched nothing): {_entry(s)}" for s in report.unused]
    return out


def _entry(status: EntryStatus) -> str:
    return f"{cell(status.entry.describe())}: {cell(status.entry.reason)}"
