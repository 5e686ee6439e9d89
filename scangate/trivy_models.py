"""Trivy's JSON report (SchemaVersion 2) as pydantic models: the one place that maps Trivy's
field names to attributes.

Models ignore fields newer Trivy versions add and accept `null` wherever Trivy writes it, so
reports from Trivy 0.50 to 0.76 all load. `trivy_report` reads a report into them;
`trivy_findings` converts them into `Finding`s.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic.dataclasses import dataclass

from scangate.findings import Kind

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
class Header:
    """Only the schema version: read when a report fails validation, to say why."""

    schema_version: int | None = Field(None, alias="SchemaVersion")


# The finding types Trivy writes in `ExperimentalModifiedFindings`, and the model of each.
MODIFIED_KINDS = {
    "vulnerability": Kind.VULNERABILITY,
    "misconfiguration": Kind.MISCONFIGURATION,
    "secret": Kind.SECRET,
    "license": Kind.LICENSE,
}
FINDING_MODELS: dict[Kind, type[Any]] = {
    Kind.VULNERABILITY: Vulnerability,
    Kind.MISCONFIGURATION: Misconfiguration,
    Kind.SECRET: Secret,
    Kind.LICENSE: License,
}


def validate(cls: type[_T], raw: dict[str, Any]) -> _T:
    """One finding Trivy suppressed, read from its plain JSON with the model `cls`."""
    return TypeAdapter(cls).validate_python(raw)
