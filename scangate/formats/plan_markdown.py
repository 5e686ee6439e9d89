"""The short "Fix plan" section of the Markdown summary and of the pull request comment.

Written only when the gate fails: the upgrades that clear failing findings (at most
`MAX_ROWS`, the plan's first), then what would still fail after them. Every value from the
report goes through `escape.markdown`, capped at `MAX_CELL` characters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scangate.formats._common import kind_count, plural
from scangate.formats.escape import markdown
from scangate.formats.plan_table import change, dependency

if TYPE_CHECKING:
    from scangate.remediation.plan import Plan

MAX_ROWS = 10
MAX_CELL = 200
_HEAD = (
    "| Package | Upgrade | Clears (failing) | Dependency | Target |",
    "|---|---|---|---|---|",
)


def _cell(text: str) -> str:
    return markdown(text, MAX_CELL)


def plan_section(plan: Plan, *, heading: str = "###") -> list[str]:
    """The section's lines (Markdown), ending with a blank line."""
    helping = [u for u in plan.upgrades if u.clears_failing]
    lines = [f"{heading} Fix plan", ""]
    if helping:
        failing = sum(u.clears_failing for u in helping)
        lines += [
            f"{plural(len(helping), 'upgrade')} clear {failing} failing "
            f"{'finding' if failing == 1 else 'findings'}"
            + (f"; the {MAX_ROWS} that clear the most:" if len(helping) > MAX_ROWS else ":"),
            "",
            *_HEAD,
        ]
        for u in helping[:MAX_ROWS]:
            values = (
                u.package,
                change(u),
                f"{u.clears} ({u.clears_failing})",
                dependency(u),
                u.target,
            )
            lines.append("| " + " | ".join(_cell(v) for v in values) + " |")
        lines.append("")
    else:
        lines += ["No upgrade clears a failing finding.", ""]
    if plan.passes_after:
        lines.append("After these upgrades the gate would pass.")
    else:
        still = ", ".join(kind_count(n, kind) for kind, n in plan.still_failing.items())
        lines.append(f"Still failing after them: {still}.")
    return [*lines, ""]
