"""scangate's own vocabulary: severities, finding kinds and the `Finding` every later step uses.

Nothing here knows Trivy's JSON shape; `trivy_report` converts into these types.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    UNKNOWN = "UNKNOWN"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, value: str | None) -> Severity:
        """Trivy's severity text; anything unrecognised is UNKNOWN rather than an error."""
        if not value:
            return cls.UNKNOWN
        try:
            return cls(value.strip().upper())
        except ValueError:
            return cls.UNKNOWN


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
SEVERITIES_DESCENDING: tuple[Severity, ...] = tuple(reversed(Severity))


class Kind(StrEnum):
    VULNERABILITY = "vulnerability"
    MISCONFIGURATION = "misconfiguration"
    SECRET = "secret"  # noqa: S105 - a finding kind, not a password
    LICENSE = "license"


_MISCONFIG_ID = re.compile(r"^(?:AVD-)?([A-Z]+)-?(\d+)$")


def canonical_id(kind: Kind | None, raw: str) -> str:
    """One spelling per check: misconfig IDs `DS002`, `AVD-DS-0002` and `DS-0002` are one check.

    Trivy renamed its checks from `DS002`/`AVD-DS-0002` to `DS-0002` in 0.6x; allowlists and
    baselines written against either spelling must keep matching.
    """
    text = raw.strip()
    if kind is Kind.VULNERABILITY:
        return text.upper()
    if kind in (None, Kind.MISCONFIGURATION):
        match = _MISCONFIG_ID.match(text.upper())
        if match:
            return f"{match.group(1)}-{int(match.group(2)):04d}"
    return text


def match_key(raw: str) -> str:
    """The form allow entries and findings are compared in: canonical and case-blind."""
    return canonical_id(None, raw).upper()


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file of the scanned tree, lines 1-based and inclusive."""

    path: str
    start_line: int | None = None
    end_line: int | None = None

    def __str__(self) -> str:
        if self.start_line is None:
            return self.path
        if self.end_line is None or self.end_line == self.start_line:
            return f"{self.path}:{self.start_line}"
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass(slots=True)
class Finding:
    """One thing Trivy found, in scangate's terms. Secret text is only ever Trivy's masked form."""

    kind: Kind
    id: str
    severity: Severity
    target: str
    title: str = ""
    description: str = ""
    message: str = ""
    primary_url: str | None = None
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    purl: str | None = None
    status: str | None = None
    location: Location | None = None
    cvss_score: float | None = None
    references: tuple[str, ...] = ()
    # Set by Trivy itself (an ignore file or VEX it was given); scangate reports these as allowed.
    suppressed_by_trivy: str | None = None
    # Material for the fingerprint that does not move with line numbers (see `assign_fingerprints`).
    identity: str = ""
    fingerprint: str = field(default="")

    @property
    def unfixed(self) -> bool:
        return self.kind is Kind.VULNERABILITY and not self.fixed_version


@dataclass(frozen=True, slots=True)
class Artifact:
    """What one Trivy run scanned: a directory, an image reference or an image archive."""

    name: str
    type: str
    trivy_version: str | None = None
    image_id: str | None = None
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    os: str | None = None
    eosl: bool = False


@dataclass(slots=True)
class ScanRun:
    """One Trivy report converted: the artifact and its findings, fingerprints assigned."""

    artifact: Artifact
    findings: list[Finding]


def assign_fingerprints(findings: list[Finding]) -> None:
    """Give every finding a stable fingerprint.

    The fingerprint hashes kind, canonical id, target and the finding's identity (package,
    masked secret line, misconfig message): never a line number, so inserting lines above a
    finding keeps it. Identical keys within one run are numbered in report order so that two
    copies of one secret in one file stay distinct.
    """
    seen: Counter[str] = Counter()
    for finding in findings:
        key = "\x1f".join((finding.kind.value, finding.id, finding.target, finding.identity))
        occurrence = seen[key]
        seen[key] += 1
        if occurrence:
            key = f"{key}\x1f#{occurrence}"
        finding.fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
