"""The gate: a pure function of findings, a policy and today's date to a `GateResult`.

It decides each finding (fail, allowed, below-threshold, unfixed, grace) and reports on the
allowlist (expired, expiring, unused entries). It never prints, reads files or looks at the
clock. The policy's time and risk rules (KEV, EPSS, grace, unfixed limits, licenses) and their
precedence are `gate_risk`'s; inline ignore comments are `gate_inline`'s; the result types,
the allowlist report and the summary counts are `gate_result`'s.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from scangate.findings import Finding, Kind, ScanRun, Severity, match_key
from scangate.gate_inline import inline_refusal

# The result types live in `gate_result`; callers import them from here.
from scangate.gate_result import (
    AllowlistReport,
    Decided,
    Decision,
    DiffResult,
    EntryStatus,
    GateResult,
    RunResult,
    Summary,
    Verdict,
    allowlist_report,
    summarize,
)
from scangate.gate_risk import Risk
from scangate.policy import AllowEntry, Policy, VexMode

if TYPE_CHECKING:  # the baseline module is imported only by runs given a baseline
    from scangate.baseline import Baseline, Key

__all__ = [
    "AllowlistReport",
    "Decided",
    "Decision",
    "DiffResult",
    "EntryStatus",
    "GateResult",
    "RunResult",
    "Summary",
    "Verdict",
    "decide",
    "evaluate",
]


def evaluate(
    runs: list[ScanRun],
    policy: Policy,
    today: date,
    baseline: Baseline | None = None,
    *,
    pre_existing: frozenset[str] | None = None,
    base_short: str = "",
) -> GateResult:
    """Decide every finding of every run with one policy; the verdict fails if any finding does.

    With a baseline, a finding it holds an entry for (same kind, ID, target, package and
    fingerprint) is `known`: reported, never failing. A secret whose value could not be read
    is never known (`baseline.finding_key`).

    With `pre_existing` (the fingerprints the `--diff-base` scan found too), a finding that
    still fails after the baseline is `pre-existing`: reported, never failing, its reason
    `present at <base_short>`. The summary counts that decision only when it is given.
    """
    by_key: dict[str, list[AllowEntry]] = defaultdict(list)
    for entry in policy.allow:
        by_key[entry.key].append(entry)
    matched: Counter[int] = Counter()
    seen: set[Key] = set()

    risk = Risk.of(policy)
    results = []
    for run in runs:
        decided = [
            _decide(finding, policy, today, by_key, matched, risk) for finding in run.findings
        ]
        if baseline is not None:
            decided = _against_baseline(decided, baseline, seen)
        if pre_existing:
            decided = _against_base(decided, pre_existing, f"present at {base_short}")
        results.append(RunResult(run=run, decided=decided))

    summary = summarize(results, diff=pre_existing is not None, grace=bool(risk and risk.grace))
    return GateResult(
        verdict=Verdict.FAIL if summary.failing else Verdict.PASS,
        policy=policy,
        today=today,
        runs=results,
        allowlist=allowlist_report(policy, today, matched, results),
        summary=summary,
        baseline=baseline,
        baseline_fixed=[e for e in baseline.entries if e.key not in seen] if baseline else [],
    )


def _against_base(decided: list[Decided], at_base: frozenset[str], reason: str) -> list[Decided]:
    return [
        (
            replace(d, reason=f"{d.reason}; {reason} too, which does not excuse it")
            if d.sticky
            else replace(d, decision=Decision.PRE_EXISTING, reason=reason, entry=None)
        )
        if d.decision is Decision.FAIL and d.finding.fingerprint in at_base
        else d
        for d in decided
    ]


def decide(findings: list[Finding], policy: Policy, today: date) -> list[Decided]:
    """Each finding decided as `evaluate` would, without a baseline, a base or the allowlist
    report (the `--diff-base` findings that are gone at head)."""
    by_key: dict[str, list[AllowEntry]] = defaultdict(list)
    for entry in policy.allow:
        by_key[entry.key].append(entry)
    matched: Counter[int] = Counter()
    risk = Risk.of(policy)
    return [_decide(finding, policy, today, by_key, matched, risk) for finding in findings]


def _against_baseline(decided: list[Decided], baseline: Baseline, seen: set[Key]) -> list[Decided]:
    from scangate.baseline import finding_key

    known = baseline.keys
    return [
        _one_against_baseline(d, finding_key(d.finding), baseline, known, seen) for d in decided
    ]


def _one_against_baseline(
    d: Decided, key: Key | None, baseline: Baseline, known: frozenset[Key], seen: set[Key]
) -> Decided:
    if key is None:
        if d.decision is not Decision.FAIL:
            return d
        # Fail closed, and say why the baseline did not apply.
        why = (
            "its value could not be read from the scanned files, so the baseline "
            f"{baseline.path} cannot vouch for it"
        )
        return replace(d, reason=f"{d.reason}; {why}")
    if key in known:
        seen.add(key)
        if d.sticky:
            why = f"in the baseline {baseline.path}, which does not excuse it"
            return replace(d, reason=f"{d.reason}; {why}: fix it or add an allow entry")
        if d.decision is Decision.FAIL:
            return replace(
                d, decision=Decision.KNOWN, reason=f"in the baseline {baseline.path}", entry=None
            )
    return d


def _decide(
    finding: Finding,
    policy: Policy,
    today: date,
    by_key: dict[str, list[AllowEntry]],
    matched: Counter[int],
    risk: Risk | None = None,
    *,
    vex_done: bool = False,
) -> Decided:
    if finding.vex is not None and not vex_done:
        return _with_vex(finding, policy, today, by_key, matched, risk)
    expired: AllowEntry | None = None
    for entry in by_key.get(match_key(finding.id), ()) if by_key else ():
        if not entry.matches_scope(finding):
            continue
        matched[id(entry)] += 1
        if entry.expired(today):
            expired = expired or entry
            continue
        return Decided(finding, Decision.ALLOWED, entry.reason, entry)
    # Trivy's own suppressions (an ignore file or VEX given to whoever made the report) are
    # allow entries without an expiry: they pass only where the allow-rules let such an entry
    # pass. (max-days cannot apply to them: there is no date to measure.)
    suppressed = finding.suppressed_by_trivy
    if suppressed and not policy.require_expiry:
        return Decided(finding, Decision.ALLOWED, f"suppressed by Trivy: {suppressed}")
    # A `#trivy:ignore` comment in the scanned tree that hid the finding from Trivy
    # (`scangate.inline_ignores`): an allow entry under the allow-rules, or, with
    # `inline-ignores: report`, nothing but a note.
    inline = finding.inline_ignore
    refusal = inline_refusal(inline, policy, today) if inline is not None else None
    if inline is not None and inline.suppressed and refusal is None:
        reason = f"inline ignore comment {inline.origin}: {inline.comment}"
        return Decided(finding, Decision.ALLOWED, reason)
    # The policy's time and risk rules, in the precedence `scangate.gate_risk` documents.
    if risk is not None:
        override = risk.override(finding)
        if override is not None:
            return Decided(finding, Decision.FAIL, override, sticky=True)
        listed = risk.license(finding)
        if listed is not None:
            fails, why = listed
            return Decided(finding, Decision.FAIL if fails else Decision.BELOW_THRESHOLD, why)

    below, failing = _threshold_reasons(
        finding.kind, finding.severity, policy.fail_on[finding.kind]
    )
    if below is not None:
        return Decided(finding, Decision.BELOW_THRESHOLD, below)
    if policy.ignore_unfixed and finding.unfixed:
        over = risk.unfixed_over_limit(finding, today) if risk is not None else None
        if over is None:
            return Decided(finding, Decision.UNFIXED, "no fixed version yet (ignore-unfixed)")
        failing = over
    elif risk is not None:
        grace = risk.in_grace(finding, today)
        if grace is not None:
            return Decided(finding, Decision.GRACE, grace)
    if expired is not None:
        assert expired.expires is not None
        return Decided(
            finding,
            Decision.FAIL,
            f"allow entry expired {expired.expires.isoformat()} ({expired.origin}): "
            f"{expired.reason}",
            expired,
        )
    if suppressed:
        return Decided(
            finding,
            Decision.FAIL,
            f"suppressed by Trivy without an expiry ({suppressed}), and the policy sets "
            "require-expiry: add a policy allow entry with 'expires' for it, or drop "
            "require-expiry",
        )
    if refusal is not None:
        return Decided(finding, Decision.FAIL, f"{failing}; {refusal}")
    return Decided(finding, Decision.FAIL, failing)


def _with_vex(
    finding: Finding,
    policy: Policy,
    today: date,
    by_key: dict[str, list[AllowEntry]],
    matched: Counter[int],
    risk: Risk | None,
) -> Decided:
    """A policy allow entry applies first; then, with `vex: honor`, a not_affected or fixed
    statement allows the finding (no expiry: the allow-rules are for allow entries). Else
    it is decided as if the statement were not there, the statement shown beside it."""
    note = finding.vex
    assert note is not None
    decided = _decide(finding, policy, today, by_key, matched, risk, vex_done=True)
    if decided.entry is not None and decided.decision is Decision.ALLOWED:
        return decided
    if note.suppresses and policy.vex is VexMode.HONOR:
        return Decided(finding, Decision.ALLOWED, note.describe())
    shown = f"{note.describe()} (vex: report)" if note.suppresses else note.describe()
    return replace(decided, reason=f"{decided.reason}; {shown}")


@functools.cache
def _threshold_reasons(
    kind: Kind, severity: Severity, threshold: Severity | None
) -> tuple[str | None, str]:
    """(why a finding is below the threshold, or None; why it fails): made once per
    combination, so 100,000 findings share a few strings instead of formatting their own."""
    if threshold is None:
        return f"{kind.value}: fail-on none", ""
    if severity.rank < threshold.rank:
        return f"{severity.value} is below fail-on {threshold.value}", ""
    return None, f"{severity.value} {kind.value} at or above fail-on {threshold.value}"
