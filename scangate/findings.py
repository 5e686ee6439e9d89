"""scangate's own vocabulary: severities, finding kinds and the `Finding` every later step uses.

Nothing here knows Trivy's JSON shape; `trivy_findings` converts into these types.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scangate.remediation.graph import PackageGraph
    from scangate.vex.document import VexStatement


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
        """Trivy's severity text: one of its five names, upper case as Trivy writes it or lower
        case (`high` is as unambiguous); missing or empty is UNKNOWN, as in Trivy.

        Anything else is a ValueError: unknown is not a severity to guess, since UNKNOWN sits
        below every threshold but one. `trivy_report` refuses such a report before this runs.
        """
        # One dict lookup per finding: this runs for every finding of a 100k-finding report.
        found = _SEVERITY_BY_TEXT.get(value)
        if found is None:
            raise ValueError(f"{value!r} is not a Trivy severity")
        return found


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
_SEVERITY_BY_TEXT: dict[str | None, Severity] = {
    None: Severity.UNKNOWN,
    "": Severity.UNKNOWN,
    **{s.value: s for s in Severity},
    **{s.value.lower(): s for s in Severity},
}
SEVERITIES_DESCENDING: tuple[Severity, ...] = tuple(reversed(Severity))


class Kind(StrEnum):
    VULNERABILITY = "vulnerability"
    MISCONFIGURATION = "misconfiguration"
    SECRET = "secret"  # noqa: S105 - a finding kind, not a password
    LICENSE = "license"


_MISCONFIG_ID = re.compile(r"^(?:AVD-)?([A-Z]+)-?(\d+)$")


def canonical_id(kind: Kind | None, raw: str) -> str:
    """The ID a finding is shown with: the report's, trimmed, except that the misconfig IDs
    `DS002`, `AVD-DS-0002` and `DS-0002` are one check, shown as `DS-0002`.

    Trivy renamed its checks from `DS002`/`AVD-DS-0002` to `DS-0002` in 0.6x; one spelling
    keeps a check's SARIF rule and alerts across that upgrade. Every other ID keeps its case:
    a GHSA ID's body is lower case (`GHSA-g98v-hv3f-hcfr`), as in its advisory URL. Allow
    entries and baselines are compared case-blind (`match_key`).
    """
    text = raw.strip()
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


@dataclass(frozen=True, slots=True)
class SecretSite:
    """Where Trivy saw a secret, to read its value back from the scanned file (see
    `scangate.secret_values`): Trivy's masked text only, never the value."""

    match: str  # Trivy's `Match`: the line (or a window of it) with the secret as `*`
    # Trivy's `Code.Lines` marked IsCause: (line number, masked content).
    lines: tuple[tuple[int, str], ...] = ()
    layer: str | None = None  # the image layer (DiffID) the file is in


@dataclass(frozen=True, slots=True)
class InlineIgnore:
    """A `trivy:ignore` comment in the scanned tree (see `scangate.inline_ignores`), attached
    to the misconfiguration it applies to. Its text is untrusted, like every tree content."""

    path: str  # of the file holding the comment, relative to the scanned root
    line: int
    ids: tuple[str, ...]  # every check ID the comment line names
    expires: date | None = None  # Trivy's `exp:`
    # An `exp:` Trivy cannot read (it then ignores nothing with it), or several `exp:`.
    bad_expiry: str | None = None
    comment: str = ""  # the comment line, trimmed and cut short
    # True: Trivy dropped the finding because of the comment. False: Trivy reported it anyway
    # (the comment expired or its date is unreadable); scangate only names the comment then.
    suppressed: bool = True
    # Other comments that may have hidden the finding (Trivy does not say which one did):
    # the gate refuses the finding if it refuses any of them.
    others: tuple[InlineIgnore, ...] = ()

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class KevEntry:
    """The CVE's entry in CISA's Known Exploited Vulnerabilities catalog (`scangate.feeds`)."""

    date_added: date
    due_date: date | None
    ransomware: bool  # the catalog's knownRansomwareCampaignUse is "Known"


# The VEX statuses that clear a finding (`VexNote.suppresses`).
VEX_CLEARING = frozenset({"not_affected", "fixed"})


@dataclass(frozen=True, slots=True)
class VexNote:
    """What a VEX statement (`--vex`, or the VEX Trivy was given for a report) says of a
    vulnerability finding. Its texts come from the VEX file: untrusted, like a report's."""

    status: str  # not_affected, affected, fixed, under_investigation
    source: str  # the VEX file, as the user named it (or as the report names it)
    justification: str = ""
    impact: str = ""  # the impact statement (not_affected) or action statement (affected)
    # The statement scangate read it from (`scangate.vex`), and the others that speak of the
    # same finding (superseded, or in another file): the statements no finding has are listed.
    statement: VexStatement | None = None
    others: tuple[VexStatement, ...] = ()

    @property
    def suppresses(self) -> bool:
        return self.status in VEX_CLEARING

    def describe(self) -> str:
        said = ": ".join(t for t in (self.justification, self.impact) if t)
        return f"VEX {self.source}: {self.status}" + (f": {said}" if said else "")


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
    # Set by Trivy itself (an ignore file it was given); scangate reports these as allowed.
    suppressed_by_trivy: str | None = None
    # A VEX statement about this vulnerability (the policy's `vex` decides what it does).
    vex: VexNote | None = None
    # Material for the fingerprint that does not move with line numbers (see `assign_fingerprints`).
    identity: str = ""
    fingerprint: str = field(default="")
    # Secrets: where the value can be read back, and `secret_values.digest` of the value once
    # read. Without a digest a secret is never matched against a baseline (fail closed).
    secret_site: SecretSite | None = None
    secret_digest: str | None = None
    # Misconfigurations: the inline ignore comment that hid it from Trivy (the policy's
    # `inline-ignores` decides what that means), or that names it but has expired.
    inline_ignore: InlineIgnore | None = None
    # Vulnerabilities: Trivy's PublishedDate, and what the KEV and EPSS feeds say of the CVE
    # (set only when the policy uses that feed; None: not in the feed, or not looked up).
    published: date | None = None
    kev: KevEntry | None = None
    epss: float | None = None

    @property
    def unfixed(self) -> bool:
        return self.kind is Kind.VULNERABILITY and not self.fixed_version

    @property
    def baselinable(self) -> bool:
        """A baseline may vouch for it: every finding but a secret whose value was not read."""
        return self.kind is not Kind.SECRET or self.secret_digest is not None


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
    # Per target with vulnerabilities: its ecosystem and dependency graph, for the
    # remediation plan (`scangate.remediation`).
    graphs: dict[str, PackageGraph] = field(default_factory=dict)


def assign_fingerprints(findings: list[Finding]) -> None:
    """Give every finding a stable fingerprint.

    The fingerprint hashes kind, id (a vulnerability's upper-cased), target and the finding's
    identity (package, misconfig message; for a secret, the digest of its value): never a
    line number, so inserting lines above a finding keeps it. A secret whose value could not
    be read hashes Trivy's masked line under another tag, so it never equals a value-based
    fingerprint.
    Identical keys within one run are numbered in report order so that two copies of one
    secret in one file stay distinct.
    """
    # Runs once per finding of a report (100,000 and more): names bound locally, and the
    # kind joined as the str it is (a StrEnum) rather than through `.value`.
    secret, vulnerability, sha256 = Kind.SECRET, Kind.VULNERABILITY, hashlib.sha256
    seen: dict[str, int] = {}
    for finding in findings:
        kind = finding.kind
        identity = finding.identity
        if kind is secret:
            digest = finding.secret_digest
            identity = f"value\x1f{digest}" if digest else f"masked\x1f{identity}"
        # A vulnerability ID is hashed upper-cased, as scangate showed it until it kept the
        # report's case (issue 10), so baselines and GitHub alerts (partialFingerprints) made
        # before keep matching. Not `match_key`: that would change every other kind's hash
        # too (secret rule IDs such as `github-pat` are hashed as Trivy writes them).
        hashed_id = finding.id.upper() if kind is vulnerability else finding.id
        key = "\x1f".join((kind, hashed_id, finding.target, identity))
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        if occurrence:
            key = f"{key}\x1f#{occurrence}"
        finding.fingerprint = sha256(key.encode()).hexdigest()[:32]
