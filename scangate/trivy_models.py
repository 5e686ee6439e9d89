"""Trivy's JSON report (SchemaVersion 2) as pydantic models: the one place that maps Trivy's
field names to attributes.

Models ignore fields newer Trivy versions add and accept `null` wherever Trivy writes it, so
reports from Trivy 0.50 to 0.76 all load. They declare only the fields scangate reads: every
other field is ignored like a new one, so it costs neither start-up (each declared field is
schema to build in every process) nor parse time. `trivy_report` reads a report into them;
`trivy_findings` converts them into `Finding`s.

Defining these classes builds their validators (pydantic's schema generation): import this
module only where a report is read.

Unlike the other modules, this one keeps its annotations as objects (no `from __future__
import annotations`): pydantic would otherwise evaluate each field's annotation string again,
a tenth of the models' build.
"""

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
# Read-only by convention, without `frozen`, `eq` or `repr`: each generated method is code
# compiled at every start-up (a fifth of this module's import time), and nothing uses them.
# Every class has a docstring: for one without, `dataclasses` writes one from the class's
# signature, the repr of every `Field` default, a tenth of this module's import time.

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


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Line:
    """One line of a secret's or a misconfiguration's code excerpt."""

    number: int | None = Field(None, alias="Number")
    content: str | None = Field(None, alias="Content")
    is_cause: bool | None = Field(None, alias="IsCause")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Code:
    """The code excerpt around a finding."""

    lines: list[Line] | None = Field(None, alias="Lines")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class CVSS:
    """One source's CVSS scores of a vulnerability."""

    v3_score: float | None = Field(None, alias="V3Score")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class PkgIdentifier:
    """A package's identifiers: its package URL."""

    purl: str | None = Field(None, alias="PURL")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class PkgLocation:
    """Where in a lock file a package is declared."""

    start_line: int | None = Field(None, alias="StartLine")
    end_line: int | None = Field(None, alias="EndLine")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Package:
    """One package Trivy found (`--list-all-pkgs`)."""

    id: str | None = Field(None, alias="ID")
    name: str | None = Field(None, alias="Name")
    version: str | None = Field(None, alias="Version")
    identifier: PkgIdentifier | None = Field(None, alias="Identifier")
    locations: list[PkgLocation] | None = Field(None, alias="Locations")
    # The dependency graph of a lock file (`root`, `direct`, `indirect`; package IDs), for
    # the remediation plan's direct/indirect and `via`.
    relationship: str | None = Field(None, alias="Relationship")
    depends_on: list[str] | None = Field(None, alias="DependsOn")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Vulnerability:
    """One vulnerability of one installed package."""

    # References, DataSource, CweIDs, VendorSeverity and layer details are left out on
    # purpose: a gate does not read them, and at 100,000 vulnerabilities they would double
    # parse time and memory. PublishedDate is kept as the string Trivy writes (a string field
    # costs pydantic-core next to nothing); `trivy_findings` turns it into a date.
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
    cvss: dict[str, CVSS] | None = Field(None, alias="CVSS")
    published_date: str | None = Field(None, alias="PublishedDate")

    @property
    def purl(self) -> str | None:
        if self.pkg_identifier and self.pkg_identifier.purl:
            return self.pkg_identifier.purl
        for legacy in (self.pkg_ref, self.ref):
            if legacy and legacy.startswith("pkg:"):
                return legacy
        return None


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class CauseMetadata:
    """Where in the file a misconfiguration is."""

    resource: str | None = Field(None, alias="Resource")
    start_line: int | None = Field(None, alias="StartLine")
    end_line: int | None = Field(None, alias="EndLine")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Misconfiguration:
    """One failed check of a configuration file."""

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


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Layer:
    """The image layer a finding is in."""

    diff_id: str | None = Field(None, alias="DiffID")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Secret:
    """One secret found in a file."""

    rule_id: str = Field(alias="RuleID")
    severity: SeverityText | None = Field(None, alias="Severity")
    title: str | None = Field(None, alias="Title")
    start_line: int | None = Field(None, alias="StartLine")
    end_line: int | None = Field(None, alias="EndLine")
    # Trivy masks the secret in Match and Code; scangate passes on only this masked text.
    match: str | None = Field(None, alias="Match")
    code: Code | None = Field(None, alias="Code")
    # Image scans: the layer holding the file, where `secret_values` reads the value back.
    layer: Layer | None = Field(None, alias="Layer")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class License:
    """One license finding, of a package or a file."""

    name: str = Field(alias="Name")
    severity: SeverityText | None = Field(None, alias="Severity")
    category: str | None = Field(None, alias="Category")
    pkg_name: str | None = Field(None, alias="PkgName")
    file_path: str | None = Field(None, alias="FilePath")
    link: str | None = Field(None, alias="Link")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class ModifiedFinding:
    """A finding Trivy itself suppressed (ignore file, VEX) and reported with --show-suppressed."""

    type: str | None = Field(None, alias="Type")
    status: str | None = Field(None, alias="Status")
    statement: str | None = Field(None, alias="Statement")
    source: str | None = Field(None, alias="Source")
    finding: dict[str, Any] | None = Field(None, alias="Finding")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Result:
    """One target (a lock file, an OS, a file) and its findings."""

    target: str = Field(alias="Target")
    class_: str | None = Field(None, alias="Class")
    # The ecosystem (npm, cargo, poetry, gomod, debian, ...): how its versions are ordered.
    type: str | None = Field(None, alias="Type")
    packages: list[Package] | None = Field(None, alias="Packages")
    vulnerabilities: list[Vulnerability] | None = Field(None, alias="Vulnerabilities")
    misconfigurations: list[Misconfiguration] | None = Field(None, alias="Misconfigurations")
    secrets: list[Secret] | None = Field(None, alias="Secrets")
    licenses: list[License] | None = Field(None, alias="Licenses")
    modified_findings: list[ModifiedFinding] | None = Field(
        None, alias="ExperimentalModifiedFindings"
    )


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class OS:
    """The scanned image's or root file system's OS."""

    family: str | None = Field(None, alias="Family")
    name: str | None = Field(None, alias="Name")
    eosl: bool = Field(False, alias="EOSL")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Metadata:
    """The scanned artifact: its OS and, for an image, its ID, tags and digests."""

    os: OS | None = Field(None, alias="OS")
    image_id: str | None = Field(None, alias="ImageID")
    repo_tags: list[str] | None = Field(None, alias="RepoTags")
    repo_digests: list[str] | None = Field(None, alias="RepoDigests")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class TrivyInfo:
    """The Trivy that wrote the report."""

    version: str | None = Field(None, alias="Version")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
class Report:
    """A Trivy scan report (`--format json`)."""

    schema_version: int = Field(alias="SchemaVersion")
    artifact_name: str | None = Field(None, alias="ArtifactName")
    artifact_type: str | None = Field(None, alias="ArtifactType")
    metadata: Metadata | None = Field(None, alias="Metadata")
    trivy: TrivyInfo | None = Field(None, alias="Trivy")
    results: list[Result] | None = Field(None, alias="Results")


@dataclass(slots=True, repr=False, eq=False, config=_CONFIG)
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
    return adapter(cls).validate_python(raw)


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def adapter(cls: type[_T]) -> TypeAdapter[_T]:
    """The validator of a model, made once per process, at first use."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found
