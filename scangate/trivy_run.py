"""Running Trivy: one process per target, JSON to a temp file, failures turned into errors.

Builds the argv (all scanners in one run, never `--severity` or `--exit-code`: scangate
gates), keeps the scanned repository's own Trivy settings out of the run, handles the
vulnerability DB (offline use, a stale cache when the download fails, `--max-db-age`) and
returns the parsed report. Reads no environment itself: the CLI passes it in.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scangate import _subprocess
from scangate.errors import ScannerError, TrivyRunError, UsageError
from scangate.findings import ScanRun
from scangate.trivy_report import parse_report, to_scan_run

SCANNERS = ("vuln", "misconfig", "secret", "license")
DEFAULT_SCANNERS = ("vuln", "misconfig", "secret")
# `--security-checks` (Trivy < 0.37) called the misconfiguration scanner "config".
_SCANNER_ALIASES = {"config": "misconfig", "vulnerability": "vuln", "secrets": "secret"}
DEFAULT_DB_REPOSITORIES = ("mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2")

# Trivy settings that would change which findings reach the gate: a user's shell or a CI
# variable must not be able to hide findings (TRIVY_SEVERITY=CRITICAL) or change the output.
_GATE_AFFECTING_ENV = frozenset(
    f"TRIVY_{name}"
    for name in (
        "SEVERITY", "IGNORE_UNFIXED", "IGNORE_STATUS", "IGNOREFILE", "IGNORE_POLICY",
        "EXIT_CODE", "EXIT_ON_EOL", "FORMAT", "OUTPUT", "TEMPLATE", "SCANNERS",
        "SECURITY_CHECKS", "CONFIG", "VEX", "SHOW_SUPPRESSED", "LIST_ALL_PKGS", "QUIET",
        "DEPENDENCY_TREE", "REPORT", "COMPLIANCE", "SKIP_DB_UPDATE", "OFFLINE_SCAN",
        # These hide findings or change their severity: with 0.76.0, TRIVY_PKG_TYPES=os,
        # TRIVY_PKG_RELATIONSHIPS=root or TRIVY_SKIP_DIRS=** alone empty a failing fs scan.
        "SKIP_DIRS", "SKIP_FILES", "PKG_TYPES", "VULN_TYPE", "PKG_RELATIONSHIPS",
        "SECRET_CONFIG", "MISCONFIG_SCANNERS", "IGNORED_LICENSES", "VULN_SEVERITY_SOURCE",
        "DISTRO", "TF_EXCLUDE_DOWNLOADED_MODULES", "DOWNLOAD_DB_ONLY", "DOWNLOAD_JAVA_DB_ONLY",
    )
)  # fmt: skip

# Seconds past --timeout before scangate stops a Trivy that ignored its own time limit.
_BACKSTOP_GRACE_MIN = 2.0
_BACKSTOP_GRACE_MAX = 30.0

_DB_DOWNLOAD_FAILED = re.compile(r"failed to download (?:vulnerability|java) DB", re.IGNORECASE)
_REPO_TRIED = re.compile(r'repo="([^"]+)"|download artifact from (\S+?):? ')


@dataclass(frozen=True)
class Target:
    """One thing to scan: a directory, an image reference, or an image archive/OCI layout."""

    kind: str  # "fs" | "image"
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
    server: str | None = None
    insecure: bool = False
    offline: bool = False
    max_db_age: timedelta = timedelta(days=7)


@dataclass
class ScanOutcome:
    target: Target
    run: ScanRun
    raw: bytes
    duration: float
    warnings: list[str] = field(default_factory=list)


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


def trivy_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in _GATE_AFFECTING_ENV}


@dataclass(frozen=True)
class CachedDB:
    path: Path
    downloaded_at: datetime | None

    def age(self, now: datetime) -> timedelta | None:
        return now - self.downloaded_at if self.downloaded_at else None

    def too_old(self, now: datetime, max_age: timedelta) -> bool:
        """Older than `max_age`, or of unknown age (which counts as too old: fail closed)."""
        age = self.age(now)
        return age is None or age > max_age

    def describe_age(self, now: datetime) -> str:
        age = self.age(now)
        return f"{age.days} days old" if age is not None else "of unknown age"


def cached_db(cache_dir: Path) -> CachedDB | None:
    """The vulnerability DB in Trivy's cache, if there is a usable one."""
    db_dir = cache_dir / "db"
    meta = db_dir / "metadata.json"
    if not (db_dir / "trivy.db").is_file() or not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stamp = data.get("DownloadedAt") or data.get("UpdatedAt") if isinstance(data, dict) else None
    return CachedDB(db_dir, _parse_time(stamp) if isinstance(stamp, str) else None)


def _parse_time(text: str) -> datetime | None:
    # Go writes up to nanoseconds; Python's fromisoformat takes up to microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(trimmed)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_argv(
    trivy: Path, target: Target, options: ScanOptions, output: Path, *, use_cached_db: bool
) -> list[str]:
    argv = [str(trivy), "image" if target.kind == "image" else "fs"]
    argv += ["--format", "json", "--output", str(output), "--list-all-pkgs"]
    argv += ["--scanners", ",".join(options.scanners)]
    # Whole seconds, rounded up: `int(0.5)` would hand Trivy `--timeout 0s`.
    timeout = f"{max(1, math.ceil(options.timeout))}s"
    argv += ["--cache-dir", str(options.cache_dir), "--timeout", timeout]
    for repo in options.db_repositories:
        argv += ["--db-repository", repo]
    for skip in options.skip_dirs:
        argv += ["--skip-dirs", skip]
    for skip in options.skip_files:
        argv += ["--skip-files", skip]
    if options.server:
        argv += ["--server", options.server]
    if options.insecure:
        argv.append("--insecure")
    if options.offline or use_cached_db:
        argv += ["--skip-db-update", "--skip-java-db-update"]
    if options.offline:
        argv += ["--offline-scan", "--skip-check-update", "--skip-version-check"]
    if target.archive:
        argv += ["--input", target.ref]
    else:
        argv.append(target.ref)
    return argv


def scan(
    trivy: Path,
    target: Target,
    options: ScanOptions,
    *,
    environ: Mapping[str, str],
    now: datetime,
    heartbeat: Callable[[float], None] | None = None,
) -> ScanOutcome:
    """Run Trivy once on `target` and return its parsed report. Fails closed: any doubt
    about the result is a `ScannerError`, never an empty report."""
    warnings: list[str] = []
    # Trivy runs in an empty temp dir: a relative --trivy or --cache-dir would point into it.
    trivy = trivy.absolute()
    options = replace(options, cache_dir=options.cache_dir.absolute())
    needs_db = "vuln" in options.scanners and not options.server
    db = cached_db(options.cache_dir) if needs_db else None
    if needs_db and options.offline:
        if db is None:
            raise ScannerError(
                f"--offline: no vulnerability DB in {options.cache_dir / 'db'}: copy one there "
                "(trivy.db and metadata.json), drop --offline, or use --scanners misconfig,secret"
            )
        _check_db_age(db, options, now, warnings)

    with tempfile.TemporaryDirectory(prefix="scangate-") as work:
        # Trivy runs in an empty directory: a trivy.yaml, .trivyignore or trivy-secret.yaml
        # committed to the scanned repository must not reconfigure the gate's scan.
        workdir = Path(work)
        output = workdir / "report.json"
        env = trivy_env(environ)
        argv = build_argv(trivy, target, options, output, use_cached_db=False)
        completed = _run(argv, options, env, workdir, heartbeat)
        db_failed = completed.returncode != 0 and _DB_DOWNLOAD_FAILED.search(completed.stderr)
        if db_failed and needs_db and not options.offline:
            tried = _mirrors(completed.stderr, options)
            if db is None:
                raise TrivyRunError(
                    f"trivy could not download the vulnerability DB (tried {tried}) and "
                    f"there is no cached DB in {options.cache_dir / 'db'}: set "
                    "--db-repository to a reachable mirror, copy a DB there and use "
                    "--offline, or scan with --scanners misconfig,secret",
                    argv,
                    completed.returncode,
                    _subprocess.stderr_tail(completed.stderr, 5),
                )
            _check_db_age(db, options, now, warnings, download_failed=tried)
            argv = build_argv(trivy, target, options, output, use_cached_db=True)
            completed = _run(argv, options, env, workdir, heartbeat)
        _check_completed(completed, target)
        raw = _read_output(output, completed, target)
    report = parse_report(raw, f"trivy {target.label} output")
    run = to_scan_run(report)
    run.artifact = replace(run.artifact, name=target.display)
    if run.artifact.eosl:
        warnings.append(
            f"{target.display}: the OS {run.artifact.os} is end-of-life: "
            "it gets no more security fixes, so findings may be missing"
        )
    return ScanOutcome(target, run, raw, completed.duration, warnings)


def _run(
    argv: list[str],
    options: ScanOptions,
    env: Mapping[str, str],
    cwd: Path,
    heartbeat: Callable[[float], None] | None,
) -> _subprocess.Completed:
    # Trivy enforces --timeout itself; ours is the backstop for a hung process. The grace
    # scales with the timeout: a flat 30 s would let `--timeout 1s` hang for 31 s.
    grace = min(_BACKSTOP_GRACE_MAX, max(_BACKSTOP_GRACE_MIN, options.timeout / 10))
    try:
        return _subprocess.run(
            argv, timeout=options.timeout + grace, env=env, cwd=cwd, heartbeat=heartbeat
        )
    except TrivyRunError as exc:
        raise TrivyRunError(
            f"trivy did not finish within {options.timeout:g} s and was stopped: "
            "raise --timeout, or skip large folders with --skip-dirs",
            exc.argv,
            exc.returncode,
            exc.stderr_tail,
        ) from None


def _check_db_age(
    db: CachedDB,
    options: ScanOptions,
    now: datetime,
    warnings: list[str],
    download_failed: str | None = None,
) -> None:
    days = db.describe_age(now)
    if db.too_old(now, options.max_db_age):
        why = f"the DB download failed (tried {download_failed}) and " if download_failed else ""
        raise ScannerError(
            f"{why}the cached vulnerability DB in {db.path} is {days}, more than "
            f"--max-db-age {options.max_db_age.days} days: update it (run once with network "
            "access or a reachable --db-repository) or raise --max-db-age"
        )
    if download_failed:
        warnings.append(
            f"the vulnerability DB download failed (tried {download_failed}); "
            f"using the cached DB, {days}"
        )


def _mirrors(stderr: str, options: ScanOptions) -> str:
    tried: list[str] = []
    for match in _REPO_TRIED.finditer(stderr):
        repo = match.group(1) or match.group(2)
        if repo and repo not in tried:
            tried.append(repo)
    if not tried:
        tried = list(options.db_repositories or DEFAULT_DB_REPOSITORIES)
    return ", ".join(tried)


def _check_completed(completed: _subprocess.Completed, target: Target) -> None:
    tail = _subprocess.stderr_tail(completed.stderr)
    if completed.returncode < 0:
        raise TrivyRunError(
            f"trivy {target.label} was killed by signal {-completed.returncode}",
            completed.argv,
            completed.returncode,
            tail,
        )
    if completed.returncode != 0:
        raise TrivyRunError(
            f"trivy {target.label} failed with exit code {completed.returncode}",
            completed.argv,
            completed.returncode,
            tail,
        )


def _read_output(output: Path, completed: _subprocess.Completed, target: Target) -> bytes:
    try:
        raw = output.read_bytes()
    except FileNotFoundError:
        raw = b""
    if not raw.strip():
        raise TrivyRunError(
            f"trivy {target.label} exited 0 but wrote no report",
            completed.argv,
            completed.returncode,
            _subprocess.stderr_tail(completed.stderr),
        )
    return raw
