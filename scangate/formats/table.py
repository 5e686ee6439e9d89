"""The terminal table: findings that matter first, grouped under a heading per target, then
allowlist warnings and the verdict line.

It goes to a terminal or a CI job log, so every value from the report, the scanned tree or
an ignore file is escaped (`escape.plain`: one line, no escape sequence, no workflow
command) and each cell is capped at `MAX_CELL` characters. Given a `width` (a terminal's),
cells are shortened with an ellipsis so that no row is wider, and other lines are wrapped
(never cut); without one (a pipe or a file) everything is written in full. Colour, when
asked for, is scangate's own codes, added around cells and lines already escaped and fitted.
"""

from __future__ import annotations

from collections import Counter

from scangate.findings import Finding, Kind, Severity
from scangate.formats._common import (
    DECISION_ORDER,
    artifact_labels,
    kind_count,
    plural,
    versions,
)
from scangate.formats.escape import plain
from scangate.formats.table_layout import (
    ELLIPSIS,
    Column,
    Style,
    display_width,
    fit,
    shorten,
    wrap,
)
from scangate.formats.table_risk import grace_lines, risk_columns, risk_lines
from scangate.gate import Decided, Decision, EntryStatus, GateResult, Verdict

# A 1 MB package name or title stays one readable row; the JSON result has the full text.
MAX_CELL = 200
MAX_LINE = 500

# SGR codes, as Trivy colours severities; UNKNOWN stays in the default colour. These maps
# and the sort key go by `_value_`: an enum member's hash is computed in Python, a cost per
# finding that shows in a 100k-finding report.
SEVERITY_COLOURS = {
    Severity.CRITICAL.value: "1;31",
    Severity.HIGH.value: "31",
    Severity.MEDIUM.value: "33",
    Severity.LOW.value: "34",
}
DECISION_COLOURS = {
    Decision.FAIL.value: "31",
    Decision.UNFIXED.value: "33",
    Decision.GRACE.value: "33",  # not failing yet, like unfixed: a warning
    Decision.ALLOWED.value: "32",
    Decision.KNOWN.value: "2",
    Decision.PRE_EXISTING.value: "2",
    Decision.BELOW_THRESHOLD.value: "2",
}
FIXED_COLOUR = "32"
VERDICT_COLOURS = {Verdict.PASS: "1;32", Verdict.FAIL: "1;31"}
HEADING_COLOUR = "1"

_DECISION_ORDER = {d.value: order for d, order in DECISION_ORDER.items()}
_SEVERITY_ORDER = {s.value: -rank for rank, s in enumerate(Severity)}


def _order(d: Decided) -> tuple[bool, int, int, float, str, str, str]:
    """`_common.sort_key`, the same order."""
    f = d.finding
    return (
        f.kev is None,
        _DECISION_ORDER[d.decision._value_],
        _SEVERITY_ORDER[f.severity._value_],
        -(f.epss or 0.0),
        f.kind._value_,
        f.target,
        f.id,
    )


class TableFormat:
    """`width`: the terminal's columns (None: full width, for a pipe or a file); `color`:
    colour severities, decisions, headings and the verdict; `ellipsis`: what marks a cut
    ("..." for a terminal whose encoding lacks "…")."""

    def __init__(
        self,
        *,
        show_all: bool = False,
        width: int | None = None,
        color: bool = False,
        ellipsis: str = ELLIPSIS,
        plan: bool = False,
    ) -> None:
        self.show_all = show_all
        self.plan = plan  # --plan: a "Fix plan" section before the verdict (`plan_table`)
        self.width = width
        self.style = Style(color)
        self.ellipsis = ellipsis

    def render(self, result: GateResult) -> str:
        decided = result.decided()
        # A known exploited vulnerability is shown below the threshold too (`kev: report`).
        shown = [
            d
            for d in decided
            if self.show_all
            or d.decision is not Decision.BELOW_THRESHOLD
            or d.finding.kev is not None
        ]
        shown.sort(key=_order)
        # A target per artifact: two images or reports may each hold a `package-lock.json`.
        labels = artifact_labels(result)
        groups: dict[tuple[str, str], list[Decided]] = {}
        for d in shown:  # in order of each target's most important finding
            groups.setdefault((labels.get(id(d), ""), d.finding.target), []).append(d)
        lines: list[str] = []
        fail_at = result.policy.epss_fail_at
        for (artifact, target), group in groups.items():
            lines += self._group(target, group, epss_fail_at=fail_at, artifact=artifact)
            lines.append("")
        if result.diff is not None:
            lines += self._fixed(result.diff.short, result.diff.fixed, fail_at)
        notes = risk_lines(shown)
        hidden = len(decided) - len(shown)
        if hidden:
            notes.append(
                f"{hidden} findings below their fail-on threshold not shown (--all lists them)"
                if hidden != 1
                else "1 finding below its fail-on threshold not shown (--all lists it)"
            )
        notes += _allowed_lines(decided)
        for d in shown:
            if d.decision is Decision.FAIL and d.entry is not None:
                notes.append(
                    f"expired: {plain(d.finding.id, MAX_CELL)} in "
                    f"{plain(d.finding.target, MAX_CELL)}: {plain(d.reason, MAX_LINE)}"
                )
        notes += grace_lines(shown)
        notes += allowlist_lines(result)
        for note in notes:
            lines += self._fit_line(note)
        if self.plan:
            lines += self._plan(result)
        lines += self.verdict(result)
        return "\n".join(lines) + "\n"

    def _plan(self, result: GateResult) -> list[str]:
        from scangate.formats.plan_table import plan_lines
        from scangate.remediation import plan_of

        plan = plan_of(result)
        return plan_lines(plan, width=self.width, style=self.style, ellipsis=self.ellipsis)

    def verdict(self, result: GateResult) -> list[str]:
        """The verdict line, whole: wrapped at spaces to the width, never shortened."""
        colour = VERDICT_COLOURS[result.verdict]
        return [self.style.paint(line, colour) for line in self._fit_line(verdict_line(result))]

    def _fixed(self, short: str, fixed: list[Decided], fail_at: float | None) -> list[str]:
        """`--diff-base`: the base's findings gone at head, after the rest, as one group
        whose Decision column says `fixed` (each row names its target)."""
        shown = [d for d in fixed if self.show_all or d.decision is not Decision.BELOW_THRESHOLD]
        if not shown:
            return []
        shown.sort(key=_order)
        heading = f"fixed since {plain(short, MAX_CELL)}"
        lines = self._group(heading, shown, fixed=True, epss_fail_at=fail_at)
        return [*lines, ""]

    def _fit_line(self, line: str) -> list[str]:
        return [line] if self.width is None else wrap(line, self.width)

    def _group(
        self,
        target: str,
        group: list[Decided],
        *,
        fixed: bool = False,
        epss_fail_at: float | None = None,
        artifact: str = "",
    ) -> list[str]:
        """A heading naming the target (and its artifact, when the result has several) and
        what it holds, then the table of its findings, without the columns that would only
        repeat the target or say nothing."""
        counts = Counter(d.finding.kind._value_ for d in group)
        what = ", ".join(kind_count(counts[k.value], k) for k in Kind if counts[k.value])
        name = plain(target, MAX_CELL) or "(no target)"
        if artifact:
            name = f"{name} [{plain(artifact, MAX_CELL)}]"
        heading = f"{self.style.paint(name, HEADING_COLOUR)}: {what}"
        if self.width is not None:
            room = self.width - display_width(what) - 2
            if room >= 12:  # the path's end (its file name) is what tells targets apart
                name = shorten(name, room, keep_end=True, ellipsis=self.ellipsis)
                heading = f"{self.style.paint(name, HEADING_COLOUR)}: {what}"
            else:
                short = shorten(f"{name}: {what}", self.width, ellipsis=self.ellipsis)
                heading = self.style.paint(short, HEADING_COLOUR)
        columns = _columns(target, group, len(counts) > 1, fixed=fixed, fail_at=epss_fail_at)
        columns = fit(columns, self.width)
        return [heading, *self._rows(columns, group, fixed=fixed)]

    def _rows(
        self, columns: list[Column], group: list[Decided], *, fixed: bool = False
    ) -> list[str]:
        """The header, its rule and one row per finding, laid out by tabulate. The cells are
        fitted first (tabulate wraps, it cannot shorten with an ellipsis), then passed as
        plain rows, header and rule included, so tabulate adds no padding of its own."""
        header = [self._cells(c, [c.header], [display_width(c.header)])[0] for c in columns]
        rule = ["-" * c.width for c in columns]
        colours: dict[int, list[str | None]] = {}
        if self.style.enabled:
            colours = {i: c.colours for i, c in enumerate(columns) if c.colours is not None}
            colours[0] = [SEVERITY_COLOURS.get(d.finding.severity._value_) for d in group]
            colours[len(columns) - 1] = [
                FIXED_COLOUR if fixed else DECISION_COLOURS[d.decision._value_] for d in group
            ]
        texts = [self._cells(c, c.cells, c.widths, colours.get(i)) for i, c in enumerate(columns)]
        # Imported here: tabulate and wcwidth are a tenth of a check's start-up, and the
        # verdict alone (--quiet, a result without findings to list) does not need them.
        from tabulate import tabulate

        table = tabulate(
            [header, rule, *zip(*texts, strict=True)],
            tablefmt="plain",
            disable_numparse=True,
            colalign=("left",) * len(columns),
        )
        return [line.rstrip() for line in table.split("\n")]

    def _cells(
        self,
        col: Column,
        cells: list[str],
        widths: list[int],
        colours: list[str | None] | None = None,
    ) -> list[str]:
        """`cells` (`widths` columns wide) in `col`: shortened to fit, coloured."""
        size = col.width
        if max(widths) > size:
            cells = [
                shorten(c, size, keep_end=col.keep_end, ellipsis=self.ellipsis) if w > size else c
                for c, w in zip(cells, widths, strict=True)
            ]
        if colours is not None:
            paint = self.style.paint
            cells = [paint(c, k) for c, k in zip(cells, colours, strict=True)]
        return cells


def _columns(
    target: str,
    group: list[Decided],
    mixed: bool,
    *,
    fixed: bool = False,
    fail_at: float | None = None,
) -> list[Column]:
    """The columns of one target's table: Severity, Kind (only when the target holds
    findings of several kinds), ID, KEV and EPSS (only when a finding has them), the package
    or the place in the file (unless empty), Installed -> fixed (unless empty), Decision."""
    severity = Column("Severity", [d.finding.severity for d in group], rank=5)
    kind = Column("Kind", [d.finding.kind for d in group], soft=8, rank=2, drop=1)
    ident = Column("ID", [plain(d.finding.id, MAX_CELL) for d in group], soft=20, rank=3)
    places = [_place(d.finding, target) for d in group]
    packages = sum(1 for _, is_package in places if is_package)
    where = Column(
        "Package" if packages == len(places) else "Package / location" if packages else "Location",
        [plain(text, MAX_CELL) for text, _ in places],
        soft=12,
        rank=0,
        drop=2,
        keep_end=not packages,
    )
    fix = Column(
        "Installed -> fixed",
        [plain(versions(d.finding), MAX_CELL) for d in group],
        soft=12,
        rank=1,
        drop=0,
    )
    decision = Column("Decision", ["fixed" if fixed else d.decision for d in group], rank=4)
    columns = [severity, *([kind] if mixed else []), ident, *risk_columns(group, fail_at)]
    if fixed:  # the fixed group holds findings of several targets
        targets = [plain(d.finding.target, MAX_CELL) for d in group]
        columns.append(Column("Target", targets, soft=12, rank=0, drop=2, keep_end=True))
    columns += [c for c in (where, fix) if any(c.cells)]
    columns.append(decision)
    return columns


def _place(f: Finding, target: str) -> tuple[str, bool]:
    """(the package, True) for dependency findings; else (the place in the file, False),
    as lines only when the file is the target itself."""
    if f.kind is Kind.VULNERABILITY or (f.kind is Kind.LICENSE and f.package):
        return f.package or "", True
    loc = f.location
    if loc is None:
        return "", False
    if loc.path != target:
        return str(loc), False
    if loc.start_line is None:
        return "", False
    if loc.end_line is None or loc.end_line == loc.start_line:
        return f"line {loc.start_line}", False
    return f"lines {loc.start_line}-{loc.end_line}", False


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
        days = plural(status.days_left or 0, "day")  # set for every expiring entry
        out.append(f"warning: allow entry expires in {days}: {_entry(status)}")
    for status in result.allowlist.unused:
        out.append(f"warning: allow entry matched nothing: {_entry(status)}")
    return out


def _entry(status: EntryStatus) -> str:
    return plain(status.entry.describe(), MAX_LINE)


def verdict_line(result: GateResult) -> str:
    s = result.summary
    detail = ", ".join(kind_count(n, k) for k, n in sorted(s.failing_by_kind.items()) if n)
    head = "PASS" if result.verdict is Verdict.PASS else "FAIL"
    counts = [
        f"{s.failing} failing" + (f" ({detail})" if detail else ""),
        f"{s.allowed} allowed",
        f"{s.by_decision.get(Decision.UNFIXED.value, 0)} unfixed",
        # Only when there are some: the line is unchanged for a policy without grace-days.
        *([f"{grace} grace"] if (grace := s.by_decision.get(Decision.GRACE.value, 0)) else []),
        f"{s.by_decision.get(Decision.BELOW_THRESHOLD.value, 0)} below threshold",
    ]
    if result.baseline is not None:
        counts.insert(1, f"{s.by_decision.get(Decision.KNOWN.value, 0)} known")
        if result.baseline_fixed:
            gone = plural(len(result.baseline_fixed), "baseline entry", "baseline entries")
            counts.append(f"{gone} no longer found")
    policy = plain(result.policy.name, MAX_CELL)
    diff = f"; {diff_summary(result)}" if result.diff is not None else ""
    return f"{head}: {plural(s.total, 'finding')}: {', '.join(counts)}{diff} (policy: {policy})"


def diff_summary(result: GateResult) -> str:
    """`--diff-base`'s counts: `vs 1a2b3c4d5e6f: 2 new, 5 pre-existing, 1 fixed`."""
    diff = result.diff
    if diff is None:
        return ""
    return (
        f"vs {plain(diff.short, MAX_CELL)}: {diff.new} new, {diff.pre_existing} pre-existing, "
        f"{len(diff.fixed)} fixed"
    )
