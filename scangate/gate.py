"""The gate: a pure function of findings, a policy and today's date to a `GateResult`.

It decides each finding (fail, allowed, below-threshold, unfixed) and reports on the allowlist
(expired, expiring, unused entries). It never prints, reads files or looks at the clock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from scangate.baseline import Baseline, BaselineEntry
from scangate.findings import Finding, Kind, ScanRun, Severity, match_key
from scangate.policy import AllowEntry, Policy


class Decision(StrEnum):
    FAIL = "fail"
    ALLOWED = "allowed"
    BELOW_THRESHOLD = "below-threshold"
    UNFIXED = "unfixed"
    KNOWN = "known"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"


@dataclass(slots=True)
class Decided:
    finding: Finding
    decision: Decision
    reason: str
    entry: AllowEntry | None = None


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

    def decided(self) -> list[Decided]:
        return [d for run in self.runs for d in run.decided]


def evaluate(
    runs: list[ScanRun], policy: Policy, today: date, baseline: Baseline | None = None
) -> GateResult:
    """Decide every finding of every run with one policy; the verdict fails if any finding does.

    With a baseline, a finding whose fingerprint it holds is `known`: reported, never failing.
    """
    by_key: dict[str, list[AllowEntry]] = defaultdict(list)
    for entry in policy.allow:
        by_key[entry.key].append(entry)
    matched: Counter[int] = Counter()
    known = baseline.fingerprints if baseline else frozenset()
    seen: set[str] = set()

    results = []
    for run in runs:
        decided = []
        for finding in run.findings:
            d = _decide(finding, policy, today, by_key, matched)
            if baseline is not None and finding.fingerprint in known:
                seen.add(finding.fingerprint)
                if d.decision is Decision.FAIL:
                    d = Decided(finding, Decision.KNOWN, f"in the baseline {baseline.path}")
            decided.append(d)
        results.append(RunResult(run=run, decided=decided))

    summary = _summarize(results)
    return GateResult(
        verdict=Verdict.FAIL if summary.failing else Verdict.PASS,
        policy=policy,
        today=today,
        runs=results,
        allowlist=_allowlist(policy, today, matched),
        summary=summary,
        baseline=baseline,
        baseline_fixed=[e for e in baseline.entries if e.fingerprint not in seen]
        if baseline
        else [],
    )


def _decide(
    finding: Finding,
    policy: Policy,
    today: date,
    by_key: dict[str, list[AllowEntry]],
    matched: Counter[int],
) -> Decided:
    expired: AllowEntry | None = None
    for entry in by_key.get(match_key(finding.id), ()) if by_key else ():
        if not entry.matches_scope(finding):
            continue
        matched[id(entry)] += 1
        if entry.expired(today):
            expired = expired or entry
            continue
        return Decided(finding, Decision.ALLOWED, entry.reason, entry)
    if finding.suppressed_by_trivy:
        return Decided(
            finding, Decision.ALLOWED, f"suppressed by Trivy: {finding.suppressed_by_trivy}"
        )

    threshold = policy.fail_on[finding.kind]
    if threshold is None:
        return Decided(finding, Decision.BELOW_THRESHOLD, f"{finding.kind.value}: fail-on none")
    if finding.severity.rank < threshold.rank:
        return Decided(
            finding,
            Decision.BELOW_THRESHOLD,
            f"{finding.severity.value} is below fail-on {threshold.value}",
        )
    if policy.ignore_unfixed and finding.unfixed:
        return Decided(finding, Decision.UNFIXED, "no fixed version yet (ignore-unfixed)")
    if expired is not None:
        assert expired.expires is not None
        return Decided(
            finding,
            Decision.FAIL,
            f"allow entry expired {expired.expires.isoformat()} ({expired.origin}): "
            f"{expired.reason}",
            expired,
        )
    return Decided(
        finding,
        Decision.FAIL,
        f"{finding.severity.value} {finding.kind.value} at or above fail-on {threshold.value}",
    )


def _allowlist(policy: Policy, today: date, matched: Counter[int]) -> AllowlistReport:
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
    return report


def _summarize(results: list[RunResult]) -> Summary:
    by_kind_severity: dict[str, dict[str, int]] = {
        kind.value: {sev.value: 0 for sev in reversed(Severity)} for kind in Kind
    }
    by_decision: Counter[str] = Counter()
    failing_by_kind: Counter[str] = Counter()
    total = 0
    for run in results:
        for d in run.decided:
            by_kind_severity[d.finding.kind.value][d.finding.severity.value] += 1
            by_decision[d.decision.value] += 1
            if d.decision is Decision.FAIL:
                failing_by_kind[d.finding.kind.value] += 1
            total += 1
    return Summary(
        total=total,
        by_kind_severity=by_kind_severity,
        by_decision={d.value: by_decision[d.value] for d in Decision},
        failing_by_kind={k.value: failing_by_kind[k.value] for k in Kind},
    )
