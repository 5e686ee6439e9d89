"""A validated Trivy report (`trivy_models`) converted into scangate's `Finding`s: one per
vulnerability, failed misconfiguration, secret and license, and those Trivy suppressed itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from scangate.findings import (
    _SEVERITY_BY_TEXT,
    VEX_CLEARING,
    Artifact,
    Finding,
    Kind,
    Location,
    ScanRun,
    SecretSite,
    Severity,
    VexNote,
    assign_fingerprints,
    canonical_id,
)
from scangate.remediation.graph import PackageGraph
from scangate.trivy_models import (
    MODIFIED_KINDS,
    License,
    Misconfiguration,
    ModifiedFinding,
    Package,
    Report,
    Result,
    Secret,
    Vulnerability,
    validate,
)


def artifact_of(report: Report) -> Artifact:
    meta = report.metadata
    os_info = meta.os if meta else None
    os_text = " ".join(p for p in (os_info.family, os_info.name) if p) if os_info else None
    return Artifact(
        name=report.artifact_name or "",
        type=report.artifact_type or "",
        trivy_version=report.trivy.version if report.trivy else None,
        image_id=meta.image_id if meta else None,
        repo_tags=tuple(meta.repo_tags or ()) if meta else (),
        repo_digests=tuple(meta.repo_digests or ()) if meta else (),
        os=os_text or None,
        eosl=bool(os_info and os_info.eosl),
    )


def to_scan_run(report: Report) -> ScanRun:
    """Convert a report: one `Finding` per vulnerability, failed misconfiguration, secret and
    license, plus those Trivy suppressed itself, each with a stable fingerprint."""
    findings: list[Finding] = []
    graphs: dict[str, PackageGraph] = {}
    for result in report.results or ():
        _convert_result(result, findings)
        if result.vulnerabilities:
            graphs[result.target] = _graph(result)
    assign_fingerprints(findings)
    return ScanRun(artifact=artifact_of(report), findings=findings, graphs=graphs)


def _graph(result: Result) -> PackageGraph:
    """The target's ecosystem, and its dependency graph when Trivy gave one (a lock file
    with `Relationship`); without one, every package is `unknown` to the plan."""
    graph = PackageGraph(type=result.type or "")
    packages = result.packages or ()
    if not any(pkg.relationship for pkg in packages):
        return graph
    for pkg in packages:
        if not pkg.id:
            continue
        graph.relationship[pkg.id] = pkg.relationship or ""
        graph.names[pkg.id] = pkg.name or pkg.id
        if pkg.depends_on:
            graph.depends_on[pkg.id] = tuple(pkg.depends_on)
    return graph


def _is_file_target(result: Result) -> bool:
    # OS package results are named after the image ("app:1 (debian 12.5)"), not a file.
    return result.class_ not in ("os-pkgs",)


def _convert_result(result: Result, out: list[Finding]) -> None:
    packages = _package_index(result.packages or []) if result.vulnerabilities else {}
    file_target = _is_file_target(result)
    for vuln in result.vulnerabilities or ():
        out.append(_vulnerability(result.target, vuln, packages, file_target))
    for misconf in result.misconfigurations or ():
        if (misconf.status or "FAIL").upper() in ("PASS", "EXCEPTION"):
            continue
        out.append(_misconfiguration(result.target, misconf))
    for secret in result.secrets or ():
        out.append(_secret(result.target, secret))
    for lic in result.licenses or ():
        out.append(_license(result.target, lic))
    for modified in result.modified_findings or ():
        finding = _modified(result, modified)
        if finding is not None:
            out.append(finding)


def _package_index(packages: list[Package]) -> dict[str, Package]:
    index: dict[str, Package] = {}
    for pkg in packages:
        if pkg.id:
            index[pkg.id] = pkg
        if pkg.name and pkg.version:
            index.setdefault(f"{pkg.name}@{pkg.version}", pkg)
    return index


# Bound once: read for every vulnerability of a report (100,000 and more).
_VULNERABILITY = Kind.VULNERABILITY

# Trivy's dates as written ("2018-10-09T17:29:00Z") to their day: many vulnerabilities of a
# report share an advisory, so each distinct string is parsed once.
_DAYS: dict[str, date | None] = {}


def _day(text: str | None) -> date | None:
    """The UTC day of one of Trivy's RFC 3339 timestamps; None when absent, unreadable or
    Go's zero time (then no date rule gives the finding time: `scangate.gate_risk`)."""
    if not text:
        return None
    if text in _DAYS:
        return _DAYS[text]
    try:
        found: date | None = date.fromisoformat(text[:10])
    except ValueError:
        found = None
    if found is not None and found.year < 1970:
        found = None
    if len(_DAYS) < 100_000:  # bounded: a hostile report cannot grow it without end
        _DAYS[text] = found
    return found


def _vulnerability(
    target: str, vuln: Vulnerability, packages: dict[str, Package], file_target: bool
) -> Finding:
    pkg: Package | None = None
    if packages:  # none without --list-all-pkgs: no look-ups to make
        pkg = packages.get(vuln.pkg_id or "") or packages.get(
            f"{vuln.pkg_name}@{vuln.installed_version}"
        )
    location: Location | None = None
    path = vuln.pkg_path or (target if file_target else None)
    if path:
        line = pkg.locations[0] if pkg and pkg.locations else None
        location = Location(
            path, line.start_line if line else None, line.end_line if line else None
        )
    # `vuln.purl`, its common case without the property's call.
    ident = vuln.pkg_identifier
    purl = ident.purl if ident is not None and ident.purl else vuln.purl
    if not purl:
        purl = pkg.identifier.purl if pkg and pkg.identifier else None
    # The cache looked up here, not in a call: a call per finding is a tenth of this function.
    stamp = vuln.published_date
    published = _DAYS.get(stamp) if stamp else None
    if published is None and stamp:
        published = _day(stamp)
    # `Severity.parse`'s table read here (it raises for a text it does not hold) and
    # `canonical_id` of a vulnerability ID (trimmed): one call fewer each per finding.
    severity = _SEVERITY_BY_TEXT.get(vuln.severity) or Severity.parse(vuln.severity)
    cvss = vuln.cvss
    source = cvss.get(vuln.severity_source or "") if cvss else None
    return Finding(
        kind=_VULNERABILITY,
        id=vuln.vulnerability_id.strip(),
        severity=severity,
        target=target,
        title=vuln.title or "",
        description=vuln.description or "",
        primary_url=vuln.primary_url,
        package=vuln.pkg_name,
        installed_version=vuln.installed_version,
        fixed_version=vuln.fixed_version or None,
        purl=purl,
        status=vuln.status,
        location=location,
        # The CVSS v3 score of the vendor whose severity Trivy used, if it gave one. Not NVD's
        # as a fallback: when Debian rates a CVE LOW that NVD scores 9.8, the 9.8 would
        # contradict the severity the gate used.
        cvss_score=source.v3_score if source is not None and source.v3_score else None,
        identity=f"{vuln.pkg_name}\x1f{vuln.pkg_path or ''}",
        published=published,
    )


def _misconfiguration(target: str, misconf: Misconfiguration) -> Finding:
    raw_id = misconf.id or misconf.avd_id or "unknown-check"
    cause = misconf.cause_metadata
    location = Location(
        target,
        cause.start_line if cause and cause.start_line else None,
        cause.end_line if cause and cause.end_line else None,
    )
    message = misconf.message or misconf.title or ""
    return Finding(
        kind=Kind.MISCONFIGURATION,
        id=canonical_id(Kind.MISCONFIGURATION, raw_id),
        severity=Severity.parse(misconf.severity),
        target=target,
        title=misconf.title or "",
        description=" ".join(p for p in (misconf.description, misconf.resolution) if p),
        message=message,
        primary_url=misconf.primary_url,
        status=misconf.status,
        location=location,
        references=tuple(misconf.references or ()),
        identity=f"{message}\x1f{cause.resource if cause and cause.resource else ''}",
    )


def _secret(target: str, secret: Secret) -> Finding:
    cause = tuple(
        (line.number, line.content or "")
        for line in (secret.code.lines or () if secret.code else ())
        if line.is_cause and line.number is not None
    )
    return Finding(
        kind=Kind.SECRET,
        id=secret.rule_id,
        severity=Severity.parse(secret.severity),
        target=target,
        title=secret.title or secret.rule_id,
        message=secret.match or "",
        location=Location(target, secret.start_line, secret.end_line),
        # Only for a secret whose value cannot be read: the masked line, without line number.
        # `secret_values` reads the value (from `secret_site`) and fingerprints by its digest.
        identity=(secret.match or "").strip(),
        secret_site=SecretSite(
            match=secret.match or "",
            lines=cause,
            layer=secret.layer.diff_id if secret.layer and secret.layer.diff_id else None,
        ),
    )


def _license(target: str, lic: License) -> Finding:
    path = lic.file_path or target
    return Finding(
        kind=Kind.LICENSE,
        id=lic.name,
        severity=Severity.parse(lic.severity),
        target=target,
        title=f"{lic.name} ({lic.category})" if lic.category else lic.name,
        message=f"license {lic.name}" + (f" of {lic.pkg_name}" if lic.pkg_name else ""),
        primary_url=lic.link or None,
        package=lic.pkg_name,
        location=Location(path),
        identity=f"{lic.pkg_name or ''}\x1f{lic.file_path or ''}",
    )


def _modified(result: Result, modified: ModifiedFinding) -> Finding | None:
    kind = MODIFIED_KINDS.get((modified.type or "").lower())
    if kind is None or not modified.finding:
        return None
    try:
        finding = _convert_one(result, kind, modified.finding)
    except ValidationError:
        return None
    status = (modified.status or "").lower()
    if kind is Kind.VULNERABILITY and status in VEX_CLEARING:
        # A VEX statement's (an ignore file's are "ignored"): kept apart, so the policy's
        # `vex` decides it and the allow-rules (require-expiry) do not.
        finding.vex = VexNote(
            status, modified.source or "VEX", justification=modified.statement or ""
        )
        return finding
    why = modified.statement or modified.status or "suppressed"
    finding.suppressed_by_trivy = f"{why} ({modified.source})" if modified.source else why
    return finding


def _convert_one(result: Result, kind: Kind, raw: dict[str, Any]) -> Finding:
    target, file_target = result.target, _is_file_target(result)
    if kind is Kind.VULNERABILITY:
        return _vulnerability(target, validate(Vulnerability, raw), {}, file_target)
    if kind is Kind.MISCONFIGURATION:
        return _misconfiguration(target, validate(Misconfiguration, raw))
    if kind is Kind.SECRET:
        return _secret(target, validate(Secret, raw))
    return _license(target, validate(License, raw))
