"""The targets of `scan sbom` and `scan rootfs` beyond what Trivy does with them: an SBOM file
is checked before Trivy reads it (one clear line instead of Trivy's stack of errors); the OS
results of both are named after the target as the user typed it, not the absolute path Trivy
was given (so names and fingerprints do not depend on where the checkout lies); and a root
filesystem's OS package findings are located at its package database, a file that exists,
rather than at their result's name."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import NoReturn

from scangate.errors import UsageError
from scangate.findings import Kind, Location, ScanRun, assign_fingerprints

# Where the OS package managers Trivy reads keep their database, relative to the root.
PACKAGE_DATABASES = (
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages.db",
    "var/lib/rpm/Packages",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/Packages.db",
)
_SBOM_FIX = "write it with `trivy fs|image --format cyclonedx` or `--format spdx-json`"


def check_sbom(path: Path) -> str:
    """`cyclonedx` or `spdx` for a CycloneDX or SPDX JSON file at `path`; a `UsageError`
    naming the file and the fix for anything else."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UsageError(f"{path}: no such SBOM file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the SBOM: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(
            f"{path}: a directory, not an SBOM file: scan a directory with `scangate scan fs` "
            "or an unpacked root filesystem with `scangate scan rootfs`"
        )
    if not stat.S_ISREG(mode):
        raise UsageError(f"{path}: not a regular file: give the SBOM file itself")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the SBOM: {exc.strerror or exc}") from None
    try:
        top = json.loads(data)
    except (ValueError, RecursionError) as exc:
        _not_json(path, data, exc)
    if isinstance(top, dict):
        if top.get("bomFormat") == "CycloneDX":
            return "cyclonedx"
        if "spdxVersion" in top:
            return "spdx"
        if "SchemaVersion" in top and ("ArtifactName" in top or "Results" in top):
            raise UsageError(
                f"{path}: a Trivy JSON report, not an SBOM: gate it with `scangate check {path}`"
            )
    raise UsageError(
        f"{path}: JSON but not a CycloneDX or SPDX SBOM (no `bomFormat: CycloneDX`, no "
        f"`spdxVersion`): {_SBOM_FIX}"
    )


def _not_json(path: Path, data: bytes, exc: Exception) -> NoReturn:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:64]
    if head.startswith(b"<"):
        what = "XML (CycloneDX XML?)"
    elif head.startswith((b"SPDXVersion:", b"##")):
        what = "SPDX tag-value"
    else:
        reason = exc.args[0] if isinstance(exc, ValueError) and exc.args else "nesting too deep"
        what = f"not JSON ({str(reason).splitlines()[0][:120]})"
    raise UsageError(f"{path}: {what}: scan sbom reads CycloneDX or SPDX JSON: {_SBOM_FIX}")


def name_os_results(run: ScanRun, ref: str, name: str) -> None:
    """Trivy names OS package results after its artifact (`/abs/rootfs (debian 12.7)`):
    rename them after `name` (`rootfs (debian 12.7)`), and fingerprint the run again."""
    prefix = f"{ref} ("
    if name == ref or not any(f.target.startswith(prefix) for f in run.findings):
        return
    renamed = f"{name} ("
    for finding in run.findings:
        if finding.target.startswith(prefix):
            finding.target = renamed + finding.target[len(prefix) :]
    run.graphs = {
        renamed + key[len(prefix) :] if key.startswith(prefix) else key: graph
        for key, graph in run.graphs.items()
    }
    assign_fingerprints(run.findings)


def locate_os_packages(run: ScanRun, root: Path, name: str) -> None:
    """Give the OS package vulnerabilities of a root filesystem (results named `name (os)`,
    no file) the package database found under `root`; none when there is none."""
    prefix = f"{name} ("
    found = [
        f
        for f in run.findings
        if f.kind is Kind.VULNERABILITY and f.location is None and f.target.startswith(prefix)
    ]
    if not found:
        return
    for relative in PACKAGE_DATABASES:
        try:
            exists = (root / relative).is_file()
        except OSError:
            exists = False
        if exists:
            for finding in found:
                finding.location = Location(relative)
            return
