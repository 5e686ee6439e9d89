"""Helpers the formats share: ordering, short descriptions of findings, repository paths."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePath

from scangate.findings import Artifact, Finding, Kind, Location
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


# --- repository paths (SARIF locations and workflow annotations share these) ---------------

# Trivy's ArtifactType for images: "container_image" today; "docker_archive" and
# "oci_archive" in reports of older releases; "vm" for VM images.
IMAGE_ARTIFACT_TYPES = frozenset({"container_image", "docker_archive", "oci_archive", "vm"})


def is_image_artifact(artifact: Artifact) -> bool:
    return artifact.type in IMAGE_ARTIFACT_TYPES


def scanned_dir(artifact: Artifact, source_root: Path, cwd: Path | None = None) -> str:
    """The scanned directory of a filesystem/repository artifact, relative to `source_root`.

    A posix path, "." for the root itself. A relative artifact name is taken relative to `cwd`
    (default: the current directory). A directory outside the root (a temp checkout, a report
    from another machine), a remote repository URL or an empty name also give ".": the scanned
    directory then stands for the repository root, and its findings' paths are kept as Trivy
    wrote them, relative to it.
    """
    name = artifact.name.strip()
    if not name or "://" in name or name.startswith("git@"):
        return "."
    base = cwd if cwd is not None else Path.cwd()
    # realpath on both sides: /tmp -> /private/tmp style links must not make a path "outside".
    scanned = os.path.realpath(base / name)
    root = os.path.realpath(base / source_root)
    if scanned != root and not scanned.startswith(root.rstrip(os.sep) + os.sep):
        return "."
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


def repository_location(finding: Finding, scanned: str) -> Location | None:
    """The finding's place in the repository (for a filesystem artifact scanned at `scanned`),
    or None when Trivy gave no file (OS packages)."""
    loc = finding.location
    if loc is None or not loc.path:
        return None
    return Location(repository_path(scanned, loc.path), loc.start_line, loc.end_line)
