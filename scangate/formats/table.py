"""The terminal table: findings that matter first, allowlist warnings, then the verdict line.

It goes to a terminal or a CI job log, so every value from the report, the scanned tree or
an ignore file is escaped (`escape.plain`: one line, no escape sequence, no workflow
command) and each cell is capped at `MAX_CELL` characters.
"""

from __future__ import annotations

from tabulate import tabulate

from scangate.formats._common import sort_key, versions, where
from scangate.formats.escape import plain
from scangate.gate import Decided, Decision, EntryStatus, GateResult, Verdict

HEADERS = (
    "Severity",
    "Kind",
    "ID",
    "Target",
    "Package / location",
    "Installed -> fixed",
    "Decision",
)
# A 1 MB package name or title stays one readable row; the JSON result has the full text.
MAX_CELL = 200
MAX_LINE = 500


class TableFormat:
    def __init__(self, *, show_all: bool = False) -> None:
        self.show_all = show_all

    def render(self, result: GateResult) -> str:
        decided = result.decided()
        shown = [d for d in decided if self.show_all or d.decision is not Decision.BELOW_THRESHOLD]
        shown.sort(key=sort_key)
        lines: list[str] = []
        if shown:
            rows = [
                tuple(
                    plain(value, MAX_CELL)
                    for value in (
                        d.finding.severity.value,
                        d.finding.kind.value,
                        d.finding.id,
                        d.finding.target,
                        where(d.finding),
                        versions(d.finding),
                        d.decision.value if d.decision is not Decision.ALLOWED else "allowed",
                    )
                )
                for d in shown
            ]
            lines.append(tabulate(rows, headers=HEADERS, tablefmt="simple", disable_numparse=True))
            lines.append("")
        hidden = len(decided) - len(shown)
        if hidden:
            lines.append(
                f"{hidden} findings below their fail-on threshold not shown (--all lists them)"
            )
        lines.extend(_allowed_lines(decided))
        for d in shown:
            if d.decision is Decision.FAIL and d.entry is not None:
                lines.append(
                    f"expired: {plain(d.finding.id, MAX_CELL)} in "
                    f"{plain(d.finding.target, MAX_CELL)}: {plain(d.reason, MAX_LINE)}"
                )
        lines.extend(allowlist_lines(result))
        lines.append(verdict_line(result))
        return "\n".join(lines) + "\n"


def _allowed_lines(decided: list[Decided]) -> list[str]:
    """One line per allow entry that suppressed something: its reason, owner and expiry."""
    counts: dict[str, int] = {}
    for d in decided:
        if d.decision is Decision.ALLOWED:
            what = d.entry.describe() if d.entry is not None else d.finding.id
            line = f"{plain(what, MAX_LINE)}: {plain(d.reason, MAX_LINE)}"
            counts[line] = counts.get(line, 0) + 1
    return [f"allowed ({count}): {line}" for line, count in counts.items()]


def allowlist_lines(result: GateResult) -> list[str]:
    out = []
    for status in result.allowlist.expired:
        out.append(f"warning: allow entry expired: {_entry(status)}")
    for status in result.allowlist.expiring:
        out.append(f"warning: allow entry expires in {status.days_left} days: {_entry(status)}")
    for status in result.allowlist.unused:
        out.append(f"warning: allow entry matched nothing: {_entry(status)}")
    return out


def _entry(status: EntryStatus) -> str:
    return plain(status.entry.describe(), MAX_LINE)


def verdict_line(result: GateResult) -> str:
    s = result.summary
    detail = ", ".join(f"{n} {k}" for k, n in sorted(s.failing_by_kind.items()) if n)
    head = "PASS" if result.verdict is Verdict.PASS else "FAIL"
    counts = [
        f"{s.failing} failing" + (f" ({detail})" if detail else ""),
        f"{s.allowed} allowed",
        f"{s.by_decision.get(Decision.UNFIXED.value, 0)} unfixed",
        f"{s.by_decision.get(Decision.BELOW_THRESHOLD.value, 0)} below threshold",
    ]
    if result.baseline is not None:
        counts.insert(1, f"{s.by_decision.get(Decision.KNOWN.value, 0)} known")
        if result.baseline_fixed:
            counts.append(f"{len(result.baseline_fixed)} baseline entries no longer found")
    policy = plain(result.policy.name, MAX_CELL)
    return f"{head}: {s.total} findings: {', '.join(counts)} (policy: {policy})"
