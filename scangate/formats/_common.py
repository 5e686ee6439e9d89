"""Helpers the formats share: ordering, short descriptions of findings, repository paths."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from pathlib import Path, PurePath, PurePosixPath

from scangate.findings import Artifact, Finding, KevEntry, Kind, Location
from scangate.gate import Decided, Decision, GateResult

DECISION_ORDER = {
    Decision.FAIL: 0,
    Decision.GRACE: 1,  # fails from a named day: next to the failing ones
    Decision.ALLOWED: 2,
    Decision.UNFIXED: 3,
    Decision.KNOWN: 4,
    Decision.PRE_EXISTING: 5,
    Decision.BELOW_THRESHOLD: 6,
}


def sort_key(d: Decided) -> tuple[bool, int, int, float, str, str, str]:
    """Known exploited (KEV) first, then by decision, severity, EPSS (highest first), kind,
    target and ID. Without KEV or EPSS data, the order is the one before issue 11."""
    f = d.finding
    return (
        f.kev is None,
        DECISION_ORDER[d.decision],
        -f.severity.rank,
        -(f.epss or 0.0),
        f.kind.value,
        f.target,
        f.id,
    )


def epss_text(epss: float) -> str:
    """An EPSS probability as shown to people: three decimals, as the policy's `fail-at` is
    written (`0.944`); a score too small for that is `<0.001`, never a misleading `0.000`."""
    if 0 < epss < 0.0005:
        return "<0.001"
    return f"{epss:.3f}"


def kev_text(kev: KevEntry) -> str:
    """The KEV entry in words: `added 2021-12-10, due 2021-12-24, known ransomware use`."""
    due = f", due {kev.due_date.isoformat()}" if kev.due_date else ""
    ransomware = ", known ransomware use" if kev.ransomware else ""
    return f"added {kev.date_added.isoformat()}{due}{ransomware}"


def where(f: Finding) -> str:
    """The package for dependency findings, else the file location."""
    if f.kind is Kind.VULNERABILITY or (f.kind is Kind.LICENSE and f.package):
        return f.package or ""
    return str(f.location) if f.location else f.target


def artifact_labels(result: GateResult) -> dict[int, str]:
    """The scanned artifact's name of each finding (`id` of its `Decided`), for a result of
    several artifacts (`check a.json b.json`, two images): their targets' names
    (`package-lock.json`, `debian 12.7`) repeat from one to the next. Empty for one artifact,
    as the names then tell findings apart alone. Raw text: each channel escapes it."""
    names = {run.run.artifact.name for run in result.runs}
    if len(names) < 2:
        return {}
    return {id(d): run.run.artifact.name for run in result.runs for d in run.decided}


def versions(f: Finding) -> str:
    if f.kind is not Kind.VULNERABILITY:
        return ""
    return f"{f.installed_version or '?'} -> {f.fixed_version or '(no fix)'}"


# --- repository paths (SARIF locations and workflow annotations share these) ---------------

# Trivy's ArtifactType for images: "container_image" today; "docker_archive" and
# "oci_archive" in reports of older releases; "vm" for VM images.
IMAGE_ARTIFACT_TYPES = frozenset({"container_image", "docker_archive", "oci_archive", "vm"})


def is_image_artifact(artifact: Artifact) -> bool:
    return artifact.type in IMAGE_ARTIFACT_TYPES


# Trivy's ArtifactType for an SBOM given to `trivy sbom`: its findings are located at the
# SBOM file, as Trivy's own SARIF does; their Targets ("Java", "x.cdx.json (debian 10.2)")
# name no file.
SBOM_ARTIFACT_TYPES = frozenset({"cyclonedx", "spdx"})


def scanned_dir(artifact: Artifact, source_root: Path, cwd: Path | None = None) -> str:
    """The scanned directory of a filesystem/repository artifact, relative to `source_root`.

    A posix path, "." for the root itself. A relative artifact name is taken relative to `cwd`
    (default: the current directory). A directory outside the root (a temp checkout, a report
    from another machine), a remote repository URL or an empty name also give ".": the scanned
    directory then stands for the repository root, and its findings' paths are kept as Trivy
    wrote them, relative to it. (For a scanned file, see `scanned_file`.)
    """
    inside = _inside_root(artifact.name, source_root, cwd)
    return inside if inside is not None else "."


def scanned_file(
    artifact: Artifact, targets: Iterable[str], source_root: Path, cwd: Path | None = None
) -> str | None:
    """The repository path of the one file a run scanned, or None for a directory.

    A file is an SBOM (`trivy sbom`) or a file given to `trivy fs`: a name that is a file here,
    or, for a report from elsewhere (the name does not exist here), a report whose every
    Target is the name's base name, which is how Trivy names the results of a single file
    (`trivy fs config/creds.txt` gives Target `creds.txt`). A file outside the root is named
    by its base name, as Trivy wrote it.
    """
    name = artifact.name.strip()
    if not name or "://" in name or name.startswith("git@") or is_image_artifact(artifact):
        return None
    base_name = PurePosixPath(name.replace("\\", "/").rstrip("/")).name
    if not base_name or base_name in (".", ".."):
        return None
    if artifact.type not in SBOM_ARTIFACT_TYPES:
        local = (cwd if cwd is not None else Path.cwd()) / name
        try:
            exists, is_file = local.exists(), local.is_file()
        except (OSError, ValueError):  # a name the OS cannot take: not a file here
            exists = is_file = False
        if exists and not is_file:
            return None
        if not exists:
            seen = set(targets)
            if seen != {base_name}:
                return None
    inside = _inside_root(name, source_root, cwd)
    return inside if inside is not None and inside != "." else base_name


def _inside_root(name: str, source_root: Path, cwd: Path | None) -> str | None:
    """`name` relative to `source_root` (posix, "." for the root), or None when it is not
    a local path inside the root."""
    name = name.strip()
    if not name or "://" in name or name.startswith("git@") or "\x00" in name:
        return None
    base = cwd if cwd is not None else Path.cwd()
    # realpath on both sides: /tmp -> /private/tmp style links must not make a path "outside".
    scanned = os.path.realpath(base / name)
    root = os.path.realpath(base / source_root)
    if scanned != root and not scanned.startswith(root.rstrip(os.sep) + os.sep):
        return None
    relative = os.path.relpath(scanned, root)
    return PurePath(relative).as_posix() if relative != "." else "."


def repository_path(scanned: str, path: str) -> str:
    """`path` (as Trivy wrote it, relative to the scanned directory) relative to the repository
    root: posix, normalized, never absolute and never climbing out with "..".
    """
    clean = path.replace("\\", "/").lstrip("/")
    joined = posixpath.normpath(posixpath.join(scanned, clean) if clean else scanned)
    while joined == ".." or joined.startswith("../"):
        joined = joined[3:] or "."
    return joined


def repository_location(finding: Finding, scanned: str, file: str | None = None) -> Location | None:
    """The finding's place in the repository (for a filesystem artifact scanned at `scanned`),
    or None when Trivy gave no file (OS packages). With `file` (the run scanned one file, see
    `scanned_file`), every finding is in that file: at its lines for a scanned file, at none
    for an SBOM (whose lines say nothing about the SBOM file)."""
    loc = finding.location
    if file is not None:
        if loc is None or finding.target != PurePosixPath(file).name:
            return Location(file)
        return Location(file, loc.start_line, loc.end_line)
    if loc is None or not loc.path:
        return None
    return Location(repository_path(scanned, loc.path), loc.start_line, loc.end_line)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and its noun: "1 finding", "2 findings" (`nouns` for an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


KIND_NOUNS = {
    Kind.VULNERABILITY: ("vulnerability", "vulnerabilities"),
    Kind.MISCONFIGURATION: ("misconfiguration", "misconfigurations"),
    Kind.SECRET: ("secret", "secrets"),
    Kind.LICENSE: ("license", "licenses"),
}


def kind_count(count: int, kind: Kind | str) -> str:
    """A count of findings of one kind: "1 secret", "2 vulnerabilities"."""
    return plural(count, *KIND_NOUNS[Kind(kind)])
