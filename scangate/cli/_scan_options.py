"""The options that say how Trivy runs (`scan fs`, `scan image`, `baseline`, the hooks) and
`ScanArgs`, their values as given, turned into `trivy_run.ScanOptions` when a command runs."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

import typer

from scangate.cli._options import TRIVY_OPTIONS, VEX_OPTIONS, option_group
from scangate.errors import UsageError

if TYPE_CHECKING:
    from scangate.trivy_run import ScanOptions

ScannersOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scanners",
        "--security-checks",
        envvar="SCANGATE_SCANNERS",
        metavar="LIST",
        help="Comma-separated: vuln, misconfig, secret, license. Default: vuln,misconfig,secret.",
    ),
]
SkipDirsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-dirs",
        envvar="SCANGATE_SKIP_DIRS",
        metavar="GLOB",
        help="Passed to Trivy (repeatable).",
    ),
]
SkipFilesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-files",
        envvar="SCANGATE_SKIP_FILES",
        metavar="GLOB",
        help="Passed to Trivy (repeatable).",
    ),
]
TimeoutOpt = Annotated[
    str,
    typer.Option(
        "--timeout",
        envvar="SCANGATE_TIMEOUT",
        metavar="DURATION",
        help="Trivy's time limit: 300, 300s, 10m, 1h.",
    ),
]
DbRepoOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--db-repository",
        envvar="SCANGATE_DB_REPOSITORY",
        metavar="REPO",
        help="OCI repository of the vulnerability DB (repeatable; a mirror).",
    ),
]
JavaDbRepoOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--java-db-repository",
        envvar="SCANGATE_JAVA_DB_REPOSITORY",
        metavar="REPO",
        help="OCI repository of Trivy's Java DB, for jar files in images (repeatable; a mirror).",
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="SCANGATE_SERVER",
        metavar="URL",
        help="Use a Trivy server (client/server mode).",
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option("--insecure", envvar="SCANGATE_INSECURE", help="Allow a plain-HTTP registry."),
]
OfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar="SCANGATE_OFFLINE",
        help="No downloads at all: the cached DB and KEV/EPSS feeds, Trivy's built-in checks, "
        "no version check.",
    ),
]
MaxDbAgeOpt = Annotated[
    int,
    typer.Option(
        "--max-db-age",
        envvar="SCANGATE_MAX_DB_AGE",
        min=0,
        metavar="DAYS",
        help="Refuse a cached vulnerability DB older than this when it is not updated.",
    ),
]
RawReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--raw-report",
        envvar="SCANGATE_RAW_REPORT",
        metavar="PATH",
        help="Keep Trivy's own JSON report here (a directory when scanning several targets).",
    ),
]
DependencySnapshotOpt = Annotated[
    Path | None,
    typer.Option(
        "--dependency-snapshot",
        envvar="SCANGATE_DEPENDENCY_SNAPSHOT",
        metavar="PATH",
        help="Write the scanned packages here in GitHub's dependency submission format "
        "(sha and ref from GITHUB_SHA and GITHUB_REF, else the git checkout).",
    ),
]


# How Trivy runs; `scan fs`, `scan image`, `baseline` and the hooks share them.
RUN_OPTIONS = option_group(
    scanners=(ScannersOpt, None),
    skip_dirs=(SkipDirsOpt, None),
    skip_files=(SkipFilesOpt, None),
    timeout=(TimeoutOpt, "600s"),
    db_repository=(DbRepoOpt, None),
    java_db_repository=(JavaDbRepoOpt, None),
    server=(ServerOpt, None),
    offline=(OfflineOpt, False),
    max_db_age=(MaxDbAgeOpt, 7),
)
SCAN_OPTIONS = (
    *TRIVY_OPTIONS,
    *RUN_OPTIONS,
    *option_group(insecure=(InsecureOpt, False), raw_report=(RawReportOpt, None)),
    *VEX_OPTIONS,
    *option_group(dependency_snapshot=(DependencySnapshotOpt, None)),
)


# `scan sbom`: an SBOM has no files to skip (`trivy sbom` has no --skip-dirs/--skip-files).
SBOM_SCAN_OPTIONS = tuple(p for p in SCAN_OPTIONS if p.name not in ("skip_dirs", "skip_files"))
SBOM_SCANNERS = ("vuln", "license")


def sbom_scanners(values: list[str] | None) -> list[str]:
    """The scanners of `scan sbom`: `vuln` unless asked; `trivy sbom` has only vuln and license."""
    from scangate.trivy_run import parse_scanners

    chosen = parse_scanners(values) if values else ("vuln",)
    other = [s for s in chosen if s not in SBOM_SCANNERS]
    if other:
        raise UsageError(
            f"--scanners {','.join(other)}: an SBOM lists packages, so scan sbom checks only "
            f"{' and '.join(SBOM_SCANNERS)}: drop {', '.join(other)}"
        )
    return list(chosen)


@dataclasses.dataclass(frozen=True)
class ScanArgs:
    """How to find and run Trivy, as given on the command line."""

    trivy: Path | None = None
    cache_dir: Path | None = None
    no_install: bool = False
    scanners: list[str] | None = None
    skip_dirs: list[str] | None = None
    skip_files: list[str] | None = None
    timeout: str = "600s"
    db_repository: list[str] | None = None
    java_db_repository: list[str] | None = None
    server: str | None = None
    insecure: bool = False
    offline: bool = False
    max_db_age: int = 7
    raw_report: Path | None = None
    dependency_snapshot: Path | None = None  # an output, written with the others

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    def check_raw_report(self, targets: int) -> None:
        if self.raw_report is None:
            return
        if targets == 1:
            from scangate.cli._outputs import check_writable

            check_writable(self.raw_report)
        elif not self.raw_report.is_dir():
            raise UsageError(
                f"--raw-report {self.raw_report}: with several targets, give an existing directory"
            )

    def options(self, *, trivy_secret_allow_rules: bool = False) -> ScanOptions:
        """The run options; `trivy_secret_allow_rules` is the policy's
        `trivy-secret-allow-rules` (the policy is loaded before the scan)."""
        from scangate.cli._trivy_binary import cache_dir
        from scangate.trivy_run import ScanOptions, parse_scanners

        return ScanOptions(
            cache_dir=cache_dir(self.cache_dir),
            scanners=parse_scanners(self.scanners) if self.scanners else ScanOptions.scanners,
            skip_dirs=tuple(self.skip_dirs or ()),
            skip_files=tuple(self.skip_files or ()),
            timeout=_seconds(self.timeout),
            db_repositories=tuple(self.db_repository or ()),
            java_db_repositories=tuple(self.java_db_repository or ()),
            server=self.server,
            insecure=self.insecure,
            offline=self.offline,
            max_db_age=timedelta(days=self.max_db_age),
            trivy_secret_allow_rules=trivy_secret_allow_rules,
        )


def _seconds(value: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--timeout {value!r}: write seconds or a duration like 300s, 10m, 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
