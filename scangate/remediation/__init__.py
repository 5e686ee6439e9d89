"""The remediation plan: which upgrades clear which findings, and whether the gate would
pass after them.

- `graph`: a target's ecosystem and dependency graph, carried from the report (light: the
  report reader builds it);
- `versions`: each ecosystem's version order (univers, imported only when a plan is made);
- `plan`: the plan of a `GateResult`, computed once and kept on it (`plan_of`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scangate.gate import GateResult
    from scangate.remediation.plan import Plan


def plan_of(result: GateResult) -> Plan:
    """The result's remediation plan, computed at the first call and kept on the result."""
    if result.remediation is None:
        from scangate.remediation.plan import compute

        result.remediation = compute(result)
    return result.remediation
