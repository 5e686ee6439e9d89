"""The Markdown summary for humans on GitHub: a job's step summary or a PR comment.

Verdict first, then counts per kind and severity, the known exploited vulnerabilities (in
CISA's KEV catalog, whatever their decision), the failing findings (with their KEV mark and
EPSS score when a feed gave them) and allowlist warnings. Every value from the report, the
scanned tree or an ignore file goes through `escape.markdown` (no link, image, emphasis,
HTML, entity, mention or table break can come from it) and is capped at `MAX_CELL`
characters; the whole summary stays under `MAX_BYTES` (GitHub drops a step summary over
1 MiB), and says what it left out. Secrets appear only as their file and line.
"""

from __future__ import annotations

from scangate.findings import Kind, Severity
from scangate.formats._common import (
    artifact_labels,
    epss_text,
    kind_count,
    plural,
    sort_key,
    versions,
)
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
        decided = result.decided()
        exploited = sorted((d for d in decided if d.finding.kev is not None), key=sort_key)
        failing = sorted((d for d in decided if d.decision is Decision.FAIL), key=sort_key)
        # The KEV / EPSS column only when a failing finding has either: unchanged without.
        risk = any(d.finding.kev is not None or d.finding.epss is not None for d in failing)
        labels = artifact_labels(result)
        kev_rows = _kev_rows(exploited[: self.max_rows], labels)
        rows = _failing_rows(failing[: self.max_rows], labels, risk=risk)
        warnings = _allowlist(result)
        # A failing gate: which upgrades clear it (a few rows), after its failing findings.
        fix_plan = _fix_plan(result)
        # What is always written (headings, notes) is counted first; rows and list items
        # then fill the rest of the budget in order.
        budget = _Budget(self.max_bytes - _size(lines) - _size(fix_plan) - 2048)
        kept_kev = budget.take(kev_rows)
        kept_rows = budget.take(rows)
        kept_warnings = budget.take(warnings)
        if exploited:  # first: CISA's catalog says these are being exploited now
            lines += [f"### Known exploited ({len(exploited)})", "", _KEV_NOTE, ""]
            lines += [*_KEV_HEAD, *kept_kev]
            more = len(exploited) - len(kept_kev)
            if more:
                why = f" ({_CUT})" if len(kept_kev) < len(kev_rows) else ""
                lines += ["", f"... and {more} more known exploited{why}."]
            lines.append("")
        if failing:
            title = "New failing findings" if result.diff is not None else "Failing findings"
            head = _RISK_TABLE_HEAD if risk else _TABLE_HEAD
            lines += [f"### {title} ({len(failing)})", "", *head, *kept_rows]
            more = len(failing) - len(kept_rows)
            if more:
                why = f" ({_CUT})" if len(kept_rows) < len(rows) else ""
                noun = "finding" if more == 1 else "findings"
                lines += ["", f"... and {more} more failing {noun}{why}."]
            lines.append("")
        lines += fix_plan
        if result.diff is not None:
            lines += _diff_groups(result, budget, labels)
        if warnings:
            lines += ["### Allow-list warnings", "", *kept_warnings]
            if len(kept_warnings) < len(warnings):
                lines.append(f"- ... and {len(warnings) - len(kept_warnings)} more ({_CUT})")
            lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"


def _fix_plan(result: GateResult) -> list[str]:
    if result.verdict is not Verdict.FAIL:
        return []
    from scangate.formats.plan_markdown import plan_section
    from scangate.remediation import plan_of

    return plan_section(plan_of(result))


def _diff_groups(result: GateResult, budget: _Budget, labels: dict[int, str]) -> list[str]:
    """`--diff-base`: the pre-existing findings (counted, the most severe listed) and the
    findings fixed since the base (base findings have no artifact label)."""
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
        risk = any(d.finding.kev is not None or d.finding.epss is not None for d in group)
        rows = budget.take(_failing_rows(group[:MAX_DIFF_ROWS], labels, risk=risk))
        lines += [f"### {title}", "", *(_RISK_DIFF_HEAD if risk else _DIFF_HEAD), *rows]
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


_RISK_TABLE_HEAD = (
    "| Severity | Kind | ID | Where | Installed -> fixed | KEV / EPSS | Why it fails |",
    "|---|---|---|---|---|---|---|",
)
_KEV_HEAD = (
    "| Severity | ID | Where | Added to KEV | Due | Ransomware | EPSS | Decision |",
    "|---|---|---|---|---|---|---:|---|",
)
# No link: a summary holds none (none can come from a report, and a reader checks that).
_KEV_NOTE = (
    "In CISA's Known Exploited Vulnerabilities catalog (KEV): exploited in the wild. US "
    "federal agencies must fix them by the due date (BOD 22-01)."
)


_DIFF_HEAD = (
    "| Severity | Kind | ID | Where | Installed -> fixed | Reason |",
    _TABLE_HEAD[1],
)
_RISK_DIFF_HEAD = (
    "| Severity | Kind | ID | Where | Installed -> fixed | KEV / EPSS | Reason |",
    _RISK_TABLE_HEAD[1],
)


def _failing_rows(
    failing: list[Decided], labels: dict[int, str], *, risk: bool = False
) -> list[str]:
    rows = []
    for d in failing:
        f = d.finding
        values = [f.severity.value, f.kind.value, f.id, _where(d, labels), versions(f), d.reason]
        if risk:
            values.insert(5, _risk(d))
        rows.append("| " + " | ".join(cell(v) for v in values) + " |")
    return rows


def _risk(d: Decided) -> str:
    """`KEV, EPSS 0.944`, `EPSS 0.012`, `KEV` or nothing."""
    f = d.finding
    parts = ["KEV"] if f.kev is not None else []
    parts += [f"EPSS {epss_text(f.epss)}"] if f.epss is not None else []
    return ", ".join(parts)


def _kev_rows(exploited: list[Decided], labels: dict[int, str]) -> list[str]:
    """The known exploited findings, whatever their decision, with their KEV entry's dates."""
    rows = []
    for d in exploited:
        f = d.finding
        kev = f.kev
        assert kev is not None
        values = (
            f.severity.value,
            f.id,
            _where(d, labels),
            kev.date_added.isoformat(),
            kev.due_date.isoformat() if kev.due_date else "",
            "Known" if kev.ransomware else "Unknown",  # as the catalog writes it
            epss_text(f.epss) if f.epss is not None else "",
            d.decision.value,
        )
        rows.append("| " + " | ".join(cell(v) for v in values) + " |")
    return rows


def _where(d: Decided, labels: dict[int, str]) -> str:
    """Package and file for dependencies, file and line for the rest (never a secret's
    text); the artifact too when the result has several (`artifact_labels`)."""
    f = d.finding
    place = str(f.location) if f.location else f.target
    artifact = labels.get(id(d))
    if artifact:
        place = f"{place} [{artifact}]"
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
