"""What the gate returns: the decisions per finding and run, the verdict, and the reports made
from them (the allowlist's expired, expiring and unused entries; the summary counts).
`gate.evaluate` makes them; every output format reads them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from scangate.findings import Finding, Kind, ScanRun, Severity
from scangate.policy import AllowEntry, Policy

if TYPE_CHECKING:  # the baseline module is imported only by runs given a baseline
    from scangate.baseline import Baseline, BaselineEntry
    from scangate.remediation.plan import Plan
    from scangate.suppression_review import Review


class Decision(StrEnum):
    FAIL = "fail"
    ALLOWED = "allowed"
    BELOW_THRESHOLD = "below-threshold"
    UNFIXED = "unfixed"
    KNOWN = "known"
    # At the `--diff-base` commit too: reported, never failing (`evaluate`'s `pre_existing`).
    PRE_EXISTING = "pre-existing"
    # Published fewer than the policy's grace-days ago: reported, failing from a named day.
    GRACE = "grace"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"


@dataclass(slots=True)
class Decided:
    finding: Finding
    decision: Decision
    reason: str
    entry: AllowEntry | None = None
    # Failed by `kev: fail` or `epss.fail-at`: a baseline or the diff base does not excuse
    # it, only an allow entry does (`scangate.gate_risk`).
    sticky: bool = False


@dataclass(slots=True)
class RunResult:
    run: ScanRun
    decided: list[Decided]


@dataclass(frozen=True, slots=True)
class EntryStatus:
    entry: AllowEntry
    matched: int
    days_left: int | None


@dataclass(slots=True)
class AllowlistReport:
    expired: list[EntryStatus] = field(default_factory=list)
    expiring: list[EntryStatus] = field(default_factory=list)
    unused: list[EntryStatus] = field(default_factory=list)


@dataclass(slots=True)
class Summary:
    total: int
    by_kind_severity: dict[str, dict[str, int]]
    by_decision: dict[str, int]
    failing_by_kind: dict[str, int]

    @property
    def failing(self) -> int:
        return self.by_decision.get(Decision.FAIL.value, 0)

    @property
    def allowed(self) -> int:
        return self.by_decision.get(Decision.ALLOWED.value, 0)


@dataclass(slots=True)
class DiffResult:
    """What `--diff-base` found: the head compared with the merge base's scan."""

    base: str  # full sha of merge-base(REF, HEAD)
    short: str  # short sha shown to people
    ref: str  # REF as the user gave it
    new: int  # head findings whose fingerprint is not in the base scan
    pre_existing: int  # head findings decided PRE_EXISTING
    fixed: list[Decided]  # base findings gone at head, decided with the same policy
    review: Review | None = None  # the suppression review (None: not computed)


@dataclass(slots=True)
class GateResult:
    verdict: Verdict
    policy: Policy
    today: date
    runs: list[RunResult]
    allowlist: AllowlistReport
    summary: Summary
    baseline: Baseline | None = None
    # Baseline entries no finding matched this time: fixed, or gone.
    baseline_fixed: list[BaselineEntry] = field(default_factory=list)
    diff: DiffResult | None = None  # set by `--diff-base`
    # The remediation plan, made at its first use (`scangate.remediation.plan_of`).
    remediation: Plan | None = None

    def decided(self) -> list[Decided]:
        return [d for run in self.runs for d in run.decided]


def allowlist_report(
    policy: Policy, today: date, matched: Counter[int], results: Sequence[RunResult] = ()
) -> AllowlistReport:
    report = AllowlistReport()
    for entry in policy.allow:
        days_left = (entry.expires - today).days if entry.expires else None
        status = EntryStatus(entry, matched[id(entry)], days_left)
        if entry.expired(today):
            report.expired.append(status)
        elif days_left is not None and days_left <= policy.warn_days:
            report.expiring.append(status)
        if not status.matched:
            report.unused.append(status)
    if policy.vex_statements:  # the --vex statements no finding has, with the unused entries
        from scangate.vex.match import unused

        findings = (d.finding for run in results for d in run.decided)
        report.unused += [EntryStatus(s.entry(), 0, None) for s in unused(policy, findings)]
    return report


def summarize(results: list[RunResult], *, diff: bool = False, grace: bool = False) -> Summary:
    # One count per (kind, severity, decision) in C (`Counter` over tuples), then the few
    # totals from those: no enum `.value` per finding.
    counts = Counter(
        (d.finding.kind, d.finding.severity, d.decision) for run in results for d in run.decided
    )
    by_kind_severity: dict[str, dict[str, int]] = {
        kind.value: {sev.value: 0 for sev in reversed(Severity)} for kind in Kind
    }
    by_decision: Counter[str] = Counter()
    failing_by_kind: Counter[str] = Counter()
    total = 0
    for (kind, severity, decision), n in counts.items():
        by_kind_severity[kind.value][severity.value] += n
        by_decision[decision.value] += n
        if decision is Decision.FAIL:
            failing_by_kind[kind.value] += n
        total += n
    return Summary(
        total=total,
        by_kind_severity=by_kind_severity,
        by_decision={
            d.value: by_decision[d.value]
            for d in Decision
            # Unchanged without --diff-base, and without grace-days.
            if (diff or d is not Decision.PRE_EXISTING) and (grace or d is not Decision.GRACE)
        },
        failing_by_kind={k.value: failing_by_kind[k.value] for k in Kind},
    )
