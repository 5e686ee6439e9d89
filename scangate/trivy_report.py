"""Trivy's JSON report (SchemaVersion 2): its pydantic models and the conversion to `Finding`s.

The only module that knows Trivy's field names. Models ignore fields newer Trivy versions add
and accept `null` wherever Trivy writes it, so reports from Trivy 0.50 to 0.76 all load.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from scangate.errors import ReportError
from scangate.findings import (
    Artifact,
    Finding,
    Kind,
    Location,
    ScanRun,
    SecretSite,
    Severity,
    assign_fingerprints,
    canonical_id,
)

SUPPORTED_SCHEMA_VERSION = 2
_T = TypeVar("_T")


# Slotted pydantic dataclasses rather than BaseModel: a 200 MB report holds 100,000
# vulnerabilities, and these validate about 3x faster in half the memory. Lists Trivy may
# write as `null` are `X | None` and read with `or ()`: a before-validator would make pydantic
# build the whole JSON as Python objects first.
_CONFIG = ConfigDict(extra="ignore", populate_by_name=True)

# One of Trivy's five severities, upper case as Trivy writes it or lower case, or empty
# (UNKNOWN, as in Trivy): exactly what `Severity.parse` reads. Anything else (`SEVERE`) means
# the report is not as Trivy wrote it: refused in validation, which pydantic-core does in Rust
# at no measurable cost per finding. (Not `(?i)`: Unicode case folding would let the Kelvin
# sign stand for K.)
SeverityText = Annotated[
    str,
    StringConstraints(
        pattern=r"^(?:UNKNOWN|LOW|MEDIUM|HIGH|CRITICAL|unknown|low|medium|high|critical)?$"
    ),
]


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Line:
    number: int | None = Field(None, alias="Number")
    content: str | None = Field(None, alias="Content")
    is_cause: bool | None = Field(None, alias="IsCause")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Code:
    lines: list[Line] | None = Field(None, alias="Lines")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class CVSS:
    v3_score: float | None = Field(None, alias="V3Score")
    v3_vector: str | None = Field(None, alias="V3Vector")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class PkgIdentifier:
    purl: str | None = Field(None, alias="PURL")
    uid: str | None = Field(None, alias="UID")
    bom_ref: str | None = Field(None, alias="BOMRef")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class PkgLocation:
    start_line: int | None = Field(None, alias="StartLine")
    end_line: int | None = Field(None, alias="EndLine")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Package:
    id: str | None = Field(None, alias="ID")
    name: str | None = Field(None, alias="Name")
    version: str | None = Field(None, alias="Version")
    file_path: str | None = Field(None, alias="FilePath")
    identifier: PkgIdentifier | None = Field(None, alias="Identifier")
    locations: list[PkgLocation] | None = Field(None, alias="Locations")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Vulnerability:
    # References, DataSource, dates and layer details are left out on purpose: a gate does
    # not need them, and at 100,000 vulnerabilities they would double parse time and memory.
    vulnerability_id: str = Field(alias="VulnerabilityID")
    pkg_id: str | None = Field(None, alias="PkgID")
    pkg_name: str | None = Field(None, alias="PkgName")
    pkg_path: str | None = Field(None, alias="PkgPath")
    pkg_identifier: PkgIdentifier | None = Field(None, alias="PkgIdentifier")
    # Before 0.49 Trivy wrote the package URL/BOM reference here.
    pkg_ref: str | None = Field(None, alias="PkgRef")
    ref: str | None = Field(None, alias="Ref")
    installed_version: str | None = Field(None, alias="InstalledVersion")
    fixed_version: str | None = Field(None, alias="FixedVersion")
    status: str | None = Field(None, alias="Status")
    severity_source: str | None = Field(None, alias="SeveritySource")
    primary_url: str | None = Field(None, alias="PrimaryURL")
    title: str | None = Field(None, alias="Title")
    description: str | None = Field(None, alias="Description")
    severity: SeverityText | None = Field(None, alias="Severity")
    cwe_ids: list[str] | None = Field(None, alias="CweIDs")
    # Integers 0 (UNKNOWN) to 4 (CRITICAL) per vendor.
    vendor_severity: dict[str, int] | None = Field(None, alias="VendorSeverity")
    cvss: dict[str, CVSS] | None = Field(None, alias="CVSS")

    @property
    def purl(self) -> str | None:
        if self.pkg_identifier and self.pkg_identifier.purl:
            return self.pkg_identifier.purl
        for legacy in (self.pkg_ref, self.ref):
            if legacy and legacy.startswith("pkg:"):
                return legacy
        return None


@dataclass(slots=True, frozen=True, config=_CONFIG)
class CauseMetadata:
    resource: str | None = Field(None, alias="Resource")
    provider: str | None = Field(None, alias="Provider")
    service: str | None = Field(None, alias="Service")
    start_line: int | None = Field(None, alias="StartLine")
    end_line: int | None = Field(None, alias="EndLine")
    code: Code | None = Field(None, alias="Code")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Misconfiguration:
    type: str | None = Field(None, alias="Type")
    id: str | None = Field(None, alias="ID")
    avd_id: str | None = Field(None, alias="AVDID")
    title: str | None = Field(None, alias="Title")
    description: str | None = Field(None, alias="Description")
    message: str | None = Field(None, alias="Message")
    resolution: str | None = Field(None, alias="Resolution")
    severity: SeverityText | None = Field(None, alias="Severity")
    primary_url: str | None = Field(None, alias="PrimaryURL")
    references: list[str] | None = Field(None, alias="References")
    status: str | None = Field(None, alias="Status")
    cause_metadata: CauseMetadata | None = Field(None, alias="CauseMetadata")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Layer:
    diff_id: str | None = Field(None, alias="DiffID")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Secret:
    rule_id: str = Field(alias="RuleID")
    category: str | None = Field(None, alias="Category")
    severity: SeverityText | None = Field(None, alias="Severity")
    title: str | None = Field(None, alias="Title")
    start_line: int | None = Field(None, alias="StartLine")
    end_line: int | None = Field(None, alias="EndLine")
    # Trivy masks the secret in Match and Code; scangate passes on only this masked text.
    match: str | None = Field(None, alias="Match")
    code: Code | None = Field(None, alias="Code")
    # Image scans: the layer holding the file, where `secret_values` reads the value back.
    layer: Layer | None = Field(None, alias="Layer")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class License:
    name: str = Field(alias="Name")
    severity: SeverityText | None = Field(None, alias="Severity")
    category: str | None = Field(None, alias="Category")
    pkg_name: str | None = Field(None, alias="PkgName")
    file_path: str | None = Field(None, alias="FilePath")
    link: str | None = Field(None, alias="Link")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class ModifiedFinding:
    """A finding Trivy itself suppressed (ignore file, VEX) and reported with --show-suppressed."""

    type: str | None = Field(None, alias="Type")
    status: str | None = Field(None, alias="Status")
    statement: str | None = Field(None, alias="Statement")
    source: str | None = Field(None, alias="Source")
    finding: dict[str, Any] | None = Field(None, alias="Finding")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Result:
    target: str = Field(alias="Target")
    class_: str | None = Field(None, alias="Class")
    type: str | None = Field(None, alias="Type")
    packages: list[Package] | None = Field(None, alias="Packages")
    vulnerabilities: list[Vulnerability] | None = Field(None, alias="Vulnerabilities")
    misconfigurations: list[Misconfiguration] | None = Field(None, alias="Misconfigurations")
    secrets: list[Secret] | None = Field(None, alias="Secrets")
    licenses: list[License] | None = Field(None, alias="Licenses")
    modified_findings: list[ModifiedFinding] | None = Field(
        None, alias="ExperimentalModifiedFindings"
    )


@dataclass(slots=True, frozen=True, config=_CONFIG)
class OS:
    family: str | None = Field(None, alias="Family")
    name: str | None = Field(None, alias="Name")
    eosl: bool = Field(False, alias="EOSL")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Metadata:
    os: OS | None = Field(None, alias="OS")
    image_id: str | None = Field(None, alias="ImageID")
    repo_tags: list[str] | None = Field(None, alias="RepoTags")
    repo_digests: list[str] | None = Field(None, alias="RepoDigests")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class TrivyInfo:
    version: str | None = Field(None, alias="Version")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class Report:
    schema_version: int = Field(alias="SchemaVersion")
    artifact_name: str | None = Field(None, alias="ArtifactName")
    artifact_type: str | None = Field(None, alias="ArtifactType")
    metadata: Metadata | None = Field(None, alias="Metadata")
    trivy: TrivyInfo | None = Field(None, alias="Trivy")
    results: list[Result] | None = Field(None, alias="Results")


@dataclass(slots=True, frozen=True, config=_CONFIG)
class _Header:
    schema_version: int | None = Field(None, alias="SchemaVersion")


_REPORT = TypeAdapter(Report)


def parse_report(data: bytes, source: str) -> Report:
    """Validate Trivy JSON straight from bytes (no intermediate dict: a 200 MB report fits).

    Every failure is a `ReportError` naming `source`, what is wrong and what to do.
    """
    # The parse allocates millions of acyclic objects; pausing the cyclic collector meanwhile
    # saves it from rescanning them all again and again (about 40% of parse time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        report = _REPORT.validate_json(data)
    except ValidationError as exc:
        raise ReportError(_describe(exc, data, source)) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    # A report that validates can still be another schema's (1, or a future 3): its fields
    # may mean something else, so refuse it rather than gate on a misreading.
    if report.schema_version != SUPPORTED_SCHEMA_VERSION:
        raise ReportError(_wrong_schema(source, report.schema_version))
    _check_modified(report, source)
    return report


def _check_modified(report: Report, source: str) -> None:
    """Findings Trivy suppressed are gated too (under the policy's allow-rules): one it could
    not have written is refused like any other, never dropped."""
    for i, result in enumerate(report.results or ()):
        for j, modified in enumerate(result.modified_findings or ()):
            kind = _MODIFIED_KINDS.get((modified.type or "").lower())
            if kind is None or not modified.finding:
                continue
            try:
                _validate(_MODELS[kind], modified.finding)
            except ValidationError as exc:
                where = f"Results[{i}].ExperimentalModifiedFindings[{j}].Finding"
                err = exc.errors(include_url=False)[0]
                if err["loc"] == ("Severity",):
                    raise ReportError(
                        _bad_severity(source, where, kind, modified.finding, result.target)
                    ) from None
                raise ReportError(
                    f"{source}: field {where}.{_json_path(err['loc'])}: {err['msg']}; "
                    "is this an unmodified Trivy JSON report?"
                ) from None


_SEVERITY_FIELDS = {
    "Vulnerabilities": Kind.VULNERABILITY,
    "Misconfigurations": Kind.MISCONFIGURATION,
    "Secrets": Kind.SECRET,
    "Licenses": Kind.LICENSE,
}


def _short(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"{text[:limit]}..." if len(text) > limit else text


def _bad_severity(source: str, where: str, kind: Kind, raw: object, target: object) -> str:
    """Name the report, the finding and the value: a severity outside Trivy's five."""
    fields = raw if isinstance(raw, dict) else {}
    ident = next(
        (fields[k] for k in ("VulnerabilityID", "ID", "AVDID", "RuleID", "Name") if fields.get(k)),
        "(no ID)",
    )
    value = _short(fields.get("Severity"))
    return (
        f"{source}: {where}: {kind.value} {_short(ident)} in {_short(target)} has severity "
        f"'{value}', not one of Trivy's UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL: this is not "
        "an unmodified Trivy report; gate the report as Trivy wrote it"
    )


def _severity_error(source: str, loc: tuple[int | str, ...], data: bytes) -> str | None:
    """`Results[i].<Kind>[j].Severity` invalid: read the finding back to name it."""
    if len(loc) != 5 or loc[0] != "Results" or loc[-1] != "Severity":
        return None
    kind = _SEVERITY_FIELDS.get(str(loc[2]))
    if kind is None or not isinstance(loc[1], int) or not isinstance(loc[3], int):
        return None
    try:  # only on this error path: the whole report again, as plain JSON
        result = json.loads(data)["Results"][loc[1]]
        raw = result[loc[2]][loc[3]]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    target = result.get("Target") if isinstance(result, dict) else None
    return _bad_severity(source, _json_path(loc[:-1]), kind, raw, target)


def _wrong_schema(source: str, version: object) -> str:
    return (
        f"{source}: SchemaVersion is {version}, scangate reads "
        f"{SUPPORTED_SCHEMA_VERSION}: use Trivy 0.20 or newer with --format json"
    )


def _describe(exc: ValidationError, data: bytes, source: str) -> str:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        detail = str(first["ctx"].get("error", "invalid JSON")) if first.get("ctx") else "invalid"
        hint = "the file is empty" if not data.strip() else "the file is truncated or not JSON"
        return (
            f"{source}: not a readable Trivy JSON report ({detail}): {hint}; "
            "re-run trivy with --format json"
        )
    # Pydantic dataclasses report a non-object as `dataclass_type` (not `model_type`); at the
    # top level (empty loc) that is a JSON array, string, number or null.
    if not first["loc"] and first["type"] in ("model_type", "dataclass_type"):
        return f"{source}: not a Trivy JSON report (the top level is not an object)"
    try:
        header = TypeAdapter(_Header).validate_json(data)
    except ValidationError:
        where = _json_path(first["loc"]) or "top level"
        return f"{source}: field {where}: {first['msg']}; is this an unmodified Trivy JSON report?"
    if header.schema_version is None:
        return (
            f"{source}: not a Trivy JSON report: SchemaVersion is missing "
            "(SARIF, CycloneDX or table output?); re-run trivy with --format json"
        )
    if header.schema_version != SUPPORTED_SCHEMA_VERSION:
        return _wrong_schema(source, header.schema_version)
    severity = _severity_error(source, first["loc"], data)
    if severity is not None:
        return severity
    where = _json_path(first["loc"])
    return f"{source}: field {where}: {first['msg']}; is this an unmodified Trivy JSON report?"


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_report(path: Path) -> Report:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, not a Trivy JSON report") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read the report: {exc.strerror}") from None
    return parse_report(data, str(path))


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
    for result in report.results or ():
        _convert_result(result, findings)
    assign_fingerprints(findings)
    return ScanRun(artifact=artifact_of(report), findings=findings)


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


def _severity_cvss(vuln: Vulnerability) -> float | None:
    """The CVSS v3 score of the vendor whose severity Trivy used, if it gave one.

    Not NVD's as a fallback: when Debian rates a CVE LOW that NVD scores 9.8, the 9.8 would
    contradict the severity the gate used."""
    source = (vuln.cvss or {}).get(vuln.severity_source or "")
    return source.v3_score if source is not None and source.v3_score else None


def _vulnerability(
    target: str, vuln: Vulnerability, packages: dict[str, Package], file_target: bool
) -> Finding:
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
    purl = vuln.purl or (pkg.identifier.purl if pkg and pkg.identifier else None)
    return Finding(
        kind=Kind.VULNERABILITY,
        id=canonical_id(Kind.VULNERABILITY, vuln.vulnerability_id),
        severity=Severity.parse(vuln.severity),
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
        cvss_score=_severity_cvss(vuln),
        identity=f"{vuln.pkg_name}\x1f{vuln.pkg_path or ''}",
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


_MODIFIED_KINDS = {
    "vulnerability": Kind.VULNERABILITY,
    "misconfiguration": Kind.MISCONFIGURATION,
    "secret": Kind.SECRET,
    "license": Kind.LICENSE,
}
_MODELS: dict[Kind, type[Any]] = {
    Kind.VULNERABILITY: Vulnerability,
    Kind.MISCONFIGURATION: Misconfiguration,
    Kind.SECRET: Secret,
    Kind.LICENSE: License,
}


def _modified(result: Result, modified: ModifiedFinding) -> Finding | None:
    kind = _MODIFIED_KINDS.get((modified.type or "").lower())
    if kind is None or not modified.finding:
        return None
    try:
        finding = _convert_one(result, kind, modified.finding)
    except ValidationError:
        return None
    why = modified.statement or modified.status or "suppressed"
    finding.suppressed_by_trivy = f"{why} ({modified.source})" if modified.source else why
    return finding


def _convert_one(result: Result, kind: Kind, raw: dict[str, Any]) -> Finding:
    target, file_target = result.target, _is_file_target(result)
    if kind is Kind.VULNERABILITY:
        return _vulnerability(target, _validate(Vulnerability, raw), {}, file_target)
    if kind is Kind.MISCONFIGURATION:
        return _misconfiguration(target, _validate(Misconfiguration, raw))
    if kind is Kind.SECRET:
        return _secret(target, _validate(Secret, raw))
    return _license(target, _validate(License, raw))


def _validate(cls: type[_T], raw: dict[str, Any]) -> _T:
    return TypeAdapter(cls).validate_python(raw)
