"""The Markdown summary for humans on GitHub: a job's step summary or a PR comment.

Verdict first, then counts per kind and severity, the failing findings (capped: a step
summary is at most 1 MiB), and allowlist warnings. Every cell is escaped, so a `|` or a
backtick in a title cannot break the table; secrets appear only as their file and line.
"""

from __future__ import annotations

from scangate.findings import Kind, Severity
from scangate.formats._common import sort_key, versions
from scangate.gate import Decided, Decision, EntryStatus, GateResult, Verdict

MAX_ROWS = 50
_SEVERITIES = tuple(s.value for s in reversed(Severity))


class MarkdownFormat:
    def __init__(self, *, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows

    def render(self, result: GateResult) -> str:
        lines: list[str] = [*_verdict(result), "", *_counts(result), ""]
        failing = sorted((d for d in result.decided() if d.decision is Decision.FAIL), key=sort_key)
        if failing:
            lines += [f"### Failing findings ({len(failing)})", ""]
            lines += _failing_table(failing[: self.max_rows])
            if len(failing) > self.max_rows:
                lines += ["", f"... and {len(failing) - self.max_rows} more failing findings."]
            lines.append("")
        warnings = _allowlist(result)
        if warnings:
            lines += ["### Allow-list warnings", "", *warnings, ""]
        return "\n".join(lines).rstrip("\n") + "\n"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell: one line, `|` and backticks escaped, no HTML."""
    value = " ".join(str(text).split())
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("`", "\\`")):
        value = value.replace(char, escaped)
    # Only "<" can open an HTML tag; "->" stays readable.
    return value.replace("<", "&lt;")


def _verdict(result: GateResult) -> list[str]:
    s = result.summary
    passed = result.verdict is Verdict.PASS
    head = "## scangate: PASS :white_check_mark:" if passed else "## scangate: FAIL :x:"
    detail = ", ".join(f"{n} {k}" for k, n in sorted(s.failing_by_kind.items()) if n)
    others = ", ".join(
        f"{n} {decision}"
        for decision, n in s.by_decision.items()
        if n and decision != Decision.FAIL.value
    )
    line = f"**{s.failing} failing**" + (f" ({detail})" if detail else "")
    line += f" of {s.total} findings" + (f"; {others}" if others else "")
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


def _failing_table(failing: list[Decided]) -> list[str]:
    rows = [
        "| Severity | Kind | ID | Where | Installed -> fixed | Why it fails |",
        "|---|---|---|---|---|---|",
    ]
    for d in failing:
        f = d.finding
        rows.append(
            "| "
            + " | ".join(
                cell(v)
                for v in (
                    f.severity.value,
                    f.kind.value,
                    f.id,
                    _where(d),
                    versions(f),
                    d.reason,
                )
            )
            + " |"
        )
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
    out += [f"- :hourglass: expires in {s.days_left} days: {_entry(s)}" for s in report.expiring]
    out += [f"- unused (matched nothing): {_entry(s)}" for s in report.unused]
    return out


def _entry(status: EntryStatus) -> str:
    described = status.entry.describe().replace("`", "'")
    return f"`{described}`: {cell(status.entry.reason)}"
