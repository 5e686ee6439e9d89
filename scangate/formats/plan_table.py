"""The table's "Fix plan" section (`--plan`): the remediation plan (`scangate.remediation`)
for a terminal or a job log.

One row per upgrade, in the plan's order (those clearing the most failing findings first),
then the packages with no fix, then what the gate would say after the upgrades. Every value
from the report is escaped (`escape.plain`) and capped; given a width, rows are fitted to
it as the findings table's are (`table_layout.fit`), other lines wrapped. The section lists
at most `MAX_ROWS` upgrades and `MAX_UNFIXABLE` packages; the JSON result has them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scangate.formats._common import kind_count, plural
from scangate.formats.escape import plain
from scangate.formats.table_layout import (
    ELLIPSIS,
    GAP,
    Column,
    Style,
    display_width,
    fit,
    pad,
    shorten,
    wrap,
)
from scangate.remediation.graph import DIRECT, INDIRECT

if TYPE_CHECKING:
    from scangate.remediation.plan import Plan, Upgrade

MAX_ROWS = 50
MAX_UNFIXABLE = 20
MAX_CELL = 200
MAX_IDS = 5  # IDs named per package with no fix; the rest counted
HEADING_COLOUR = "1"
MAJOR_COLOUR = "33"


def plan_lines(
    plan: Plan, *, width: int | None = None, style: Style | None = None, ellipsis: str = ELLIPSIS
) -> list[str]:
    """The section's lines (empty when there is nothing to upgrade and nothing unfixable)."""
    style = style or Style()
    if not plan.upgrades and not plan.unfixable:
        return []

    def fitted(line: str) -> list[str]:
        return [line] if width is None else wrap(line, width)

    lines = [style.paint(line, HEADING_COLOUR) for line in fitted(_heading(plan))]
    shown = plan.upgrades[:MAX_ROWS]
    if shown:
        lines += _rows(shown, width, style, ellipsis)
        more = len(plan.upgrades) - len(shown)
        if more:
            lines += fitted(
                f"... and {plural(more, 'more upgrade')} (--format json lists them all)"
            )
    for item in plan.unfixable[:MAX_UNFIXABLE]:
        ids = ", ".join(plain(i, MAX_CELL) for i in item.ids[:MAX_IDS])
        if len(item.ids) > MAX_IDS:
            ids += f" and {len(item.ids) - MAX_IDS} more"
        lines += fitted(
            f"no fix yet: {plain(item.package, MAX_CELL)} {plain(item.installed_version, MAX_CELL)}"
            f" in {plain(item.target, MAX_CELL)}: {ids}"
        )
    more = len(plan.unfixable) - MAX_UNFIXABLE
    if more > 0:
        lines += fitted(f"... and {plural(more, 'more package')} with no fix")
    lines += fitted(outcome(plan))
    return [*lines, ""]


def _heading(plan: Plan) -> str:
    clears = sum(u.clears for u in plan.upgrades)
    return (
        f"Fix plan: {plural(len(plan.upgrades), 'upgrade')} clear "
        f"{plural(clears, 'vulnerability', 'vulnerabilities')} "
        f"({plan.clears_failing} failing)"
    )


def outcome(plan: Plan) -> str:
    """What the gate would say after the upgrades: `... the gate would pass`, or what would
    still fail (`still failing: 3 secrets, 5 misconfigurations`)."""
    if plan.passes_after:
        return "After these upgrades the gate would pass."
    still = ", ".join(kind_count(n, kind) for kind, n in plan.still_failing.items())
    return f"After these upgrades the gate would still fail: still failing: {still}."


def dependency(upgrade: Upgrade) -> str:
    """`direct`; `via a, b` for an indirect dependency (`indirect` when the graph names no
    direct parent); `unknown` when the report has no dependency graph for it."""
    if upgrade.relationship == INDIRECT and upgrade.via:
        return "via " + ", ".join(upgrade.via)
    return upgrade.relationship if upgrade.relationship in (DIRECT, INDIRECT) else "unknown"


def change(upgrade: Upgrade) -> str:
    major = " (major)" if upgrade.major else ""
    return f"{upgrade.installed_version} -> {upgrade.upgrade_to}{major}"


def clears(upgrade: Upgrade) -> str:
    return f"{upgrade.clears} ({upgrade.clears_failing} fail)"


def _rows(shown: list[Upgrade], width: int | None, style: Style, ellipsis: str) -> list[str]:
    columns = [
        Column("Package", [plain(u.package, MAX_CELL) for u in shown], soft=12, rank=2),
        Column("Upgrade", [plain(change(u), MAX_CELL) for u in shown], soft=16, rank=3),
        Column("Clears", [clears(u) for u in shown], rank=5),
        Column(
            "Dependency", [plain(dependency(u), MAX_CELL) for u in shown], soft=16, rank=1, drop=2
        ),
        Column(
            "Target",
            [plain(u.target, MAX_CELL) for u in shown],
            soft=10,
            rank=0,
            drop=1,
            keep_end=True,
        ),
    ]
    columns = fit(columns, width)
    majors = [u.major for u in shown]
    out = []
    for row in range(-2, len(shown)):
        cells = []
        for col in columns:
            if row == -2:
                text = col.header
            elif row == -1:
                text = "-" * col.width
            else:
                text = col.cells[row]
            if display_width(text) > col.width:
                text = shorten(text, col.width, keep_end=col.keep_end, ellipsis=ellipsis)
            cell = pad(text, col.width)
            if row >= 0 and col.header == "Upgrade" and majors[row]:
                cell = style.paint(text, MAJOR_COLOUR) + cell[len(text) :]
            cells.append(cell)
        out.append(GAP.join(cells).rstrip())
    return out
