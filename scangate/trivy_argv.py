"""What Trivy is told: the scan target, scangate's scan options and the argv built from them.

All scanners in one run, never `--severity` or `--exit-code` (scangate gates); the DB flags
that `trivy_run` flips when it falls back to a cached DB; `--vex` with `--show-suppressed`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from scangate.errors import UsageError

if TYPE_CHECKING:
    from scangate.vex.document import VexFile

SCANNERS = ("vuln", "misconfig", "secret", "license")
DEFAULT_SCANNERS = ("vuln", "misconfig", "secret")
# `--security-checks` (Trivy < 0.37) called the misconfiguration scanner "config".
_SCANNER_ALIASES = {"config": "misconfig", "vulnerability": "vuln", "secrets": "secret"}
_SUBCOMMANDS = ("fs", "image", "rootfs", "sbom")


@dataclass(frozen=True)
class Target:
    """One thing to scan: a directory, an image reference, an image archive/OCI layout, an
    unpacked root filesystem or an SBOM file."""

    kind: str  # "fs" | "image" | "rootfs" | "sbom": Trivy's subcommand
    ref: str  # what Trivy is given: an absolute path for fs and archives (it runs elsewhere)
    archive: bool = False
    name: str = ""  # what the user typed, shown in every output

    @property
    def display(self) -> str:
        return self.name or self.ref

    @property
    def label(self) -> str:
        return f"{'image --input' if self.archive else self.kind} {self.display}"


@dataclass(frozen=True)
class ScanOptions:
    cache_dir: Path
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    skip_dirs: tuple[str, ...] = ()
    skip_files: tuple[str, ...] = ()
    timeout: float = 600.0
    db_repositories: tuple[str, ...] = ()
    java_db_repositories: tuple[str, ...] = ()
    server: str | None = None
    insecure: bool = False
    offline: bool = False
    max_db_age: timedelta = timedelta(days=7)
    # The policy's `trivy-secret-allow-rules`: True lets Trivy's built-in secret allow rules
    # (tests/, examples/, *.md, ...) drop secrets again; False (the default) reports them.
    trivy_secret_allow_rules: bool = False
    # Use the cached DBs and checks bundle as they are (`--diff-base`'s base scan: the head
    # scan just updated them, and both sides must be judged by the same advisories).
    pinned_db: bool = False
    # --vex: the validated VEX files; Trivy gets copies of the bytes scangate checked.
    vex_files: tuple[VexFile, ...] = ()


def parse_scanners(values: list[str]) -> tuple[str, ...]:
    """`vuln,misconfig` or repeated flags; the old `--security-checks` names are accepted."""
    out: list[str] = []
    for value in values:
        for name in value.split(","):
            scanner = _SCANNER_ALIASES.get(name.strip().lower(), name.strip().lower())
            if not scanner:
                continue
            if scanner not in SCANNERS:
                raise UsageError(
                    f"--scanners: unknown scanner '{name.strip()}': use {', '.join(SCANNERS)}"
                )
            if scanner not in out:
                out.append(scanner)
    if not out:
        raise UsageError("--scanners: name at least one scanner (vuln, misconfig, secret)")
    return tuple(out)


def build_argv(
    trivy: Path,
    target: Target,
    options: ScanOptions,
    output: Path,
    *,
    use_cached_db: bool,
    secret_config: Path | None = None,
    vex: tuple[Path, ...] = (),
) -> list[str]:
    argv = [str(trivy), target.kind if target.kind in _SUBCOMMANDS else "fs"]
    # `trivy sbom` has no misconfig or secret scanner, and refuses their flags.
    checks = target.kind != "sbom"
    argv += ["--format", "json", "--output", str(output), "--list-all-pkgs"]
    argv += ["--scanners", ",".join(options.scanners)]
    # Whole seconds, rounded up: `int(0.5)` would hand Trivy `--timeout 0s`.
    timeout = f"{max(1, math.ceil(options.timeout))}s"
    argv += ["--cache-dir", str(options.cache_dir), "--timeout", timeout]
    for repo in options.db_repositories:
        argv += ["--db-repository", repo]
    for repo in options.java_db_repositories:
        argv += ["--java-db-repository", repo]
    for skip in options.skip_dirs if checks else ():
        argv += ["--skip-dirs", skip]
    for skip in options.skip_files if checks else ():
        argv += ["--skip-files", skip]
    if options.server:
        argv += ["--server", options.server]
    if options.insecure:
        argv.append("--insecure")
    if options.offline or use_cached_db or options.pinned_db:
        argv += ["--skip-db-update", "--skip-java-db-update"]
    if options.offline:
        skip_checks = ["--skip-check-update"] if checks else []
        argv += ["--offline-scan", *skip_checks, "--skip-version-check"]
    elif options.pinned_db and checks:
        argv += ["--skip-check-update"]
    if secret_config is not None and checks:
        argv += ["--secret-config", str(secret_config)]
    for path in vex:
        argv += ["--vex", str(path)]
    if vex:
        # What the VEX suppressed comes back in ExperimentalModifiedFindings, to be gated.
        argv.append("--show-suppressed")
    # `--input=PATH` and `-- REF`: a target that starts with `-` is never read as an option
    # (`--config=evil.yaml` would reconfigure the scan). The CLI refuses such targets too.
    if target.archive:
        argv.append(f"--input={target.ref}")
    else:
        argv += ["--", target.ref]
    return argv
