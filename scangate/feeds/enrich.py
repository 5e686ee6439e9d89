"""Put what the feeds say on the findings: `Finding.kev` and `Finding.epss` for each
vulnerability whose ID is a CVE, or holds one (`DEBIAN-CVE-2024-1234`, `cve-2024-1234`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from scangate.findings import KevEntry, Kind, ScanRun

_CVE_IN = re.compile(r"CVE-\d{4}-\d{4,}")


def cve_of(finding_id: str) -> str | None:
    """The CVE a vulnerability ID names, upper-cased as the feeds write it; None for an ID
    with no CVE in it (a GHSA, a distribution's own advisory)."""
    upper = finding_id.upper()
    if upper.startswith("CVE-"):
        # Looked up as it is: a malformed one is simply in no feed.
        return upper
    if "CVE-" not in upper:
        return None
    found = _CVE_IN.search(upper)
    return found.group() if found else None


def any_cve(runs: Iterable[ScanRun]) -> bool:
    """Whether any vulnerability finding names a CVE: else no feed need be read."""
    vulnerability = Kind.VULNERABILITY
    return any(
        f.kind is vulnerability and cve_of(f.id) is not None for run in runs for f in run.findings
    )


def apply(
    runs: Iterable[ScanRun],
    kev: Mapping[str, KevEntry] | None,
    epss: Mapping[str, float] | None,
) -> tuple[int, int]:
    """Set `kev` and `epss` on the vulnerability findings the feeds name (a feed that is
    None is not applied); returns how many findings were marked and scored."""
    # Runs over every finding of a report (100,000 and more): Trivy writes CVE IDs as the
    # feeds do, so a direct look-up serves nearly all, and only the rest are rewritten.
    kev_get = (kev or {}).get
    epss_get = (epss or {}).get
    vulnerability = Kind.VULNERABILITY
    marked = scored = 0
    for run in runs:
        for finding in run.findings:
            if finding.kind is not vulnerability:
                continue
            key = finding.id
            entry, score = kev_get(key), epss_get(key)
            if entry is None and score is None and not key.startswith("CVE-"):
                cve = cve_of(key)
                if cve is None:
                    continue
                entry, score = kev_get(cve), epss_get(cve)
            if entry is not None:
                finding.kev = entry
                marked += 1
            if score is not None:
                finding.epss = score
                scored += 1
    return marked, scored
