"""Helpers the formats share: ordering and short descriptions of findings."""

from __future__ import annotations

from scangate.findings import Finding, Kind
from scangate.gate import Decided, Decision

DECISION_ORDER = {
    Decision.FAIL: 0,
    Decision.ALLOWED: 1,
    Decision.UNFIXED: 2,
    Decision.KNOWN: 3,
    Decision.BELOW_THRESHOLD: 4,
}


def sort_key(d: Decided) -> tuple[int, int, str, str, str]:
    f = d.finding
    return (DECISION_ORDER[d.decision], -f.severity.rank, f.kind.value, f.target, f.id)


def where(f: Finding) -> str:
    """The package for dependency findings, else the file location."""
    if f.kind is Kind.VULNERABILITY or (f.kind is Kind.LICENSE and f.package):
        return f.package or ""
    return str(f.location) if f.location else f.target


def versions(f: Finding) -> str:
    if f.kind is not Kind.VULNERABILITY:
        return ""
    return f"{f.installed_version or '?'} -> {f.fixed_version or '(no fix)'}"
