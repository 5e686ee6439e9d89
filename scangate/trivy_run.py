"""Running Trivy: one process per target, JSON to a temp file, failures turned into errors.

Builds the argv (all scanners in one run, never `--severity` or `--exit-code`: scangate
gates), keeps the scanned repository's own Trivy settings and the environment's `TRIVY_*`
out of the run (`trivy_env`), runs it with scangate's secret config (`trivy_secrets`),
handles the vulnerability DB (offline use, a stale cache when the download fails,
`--max-db-age`; `trivy_db`) and returns the parsed report. Reads no environment itself: the
CLI passes it in.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from scangate import _subprocess, secret_values, trivy_secrets
from scangate.errors import ScannerError, TrivyRunError, UsageError
from scangate.findings import ScanRun
from scangate.trivy_db import (
    DEFAULT_DB_REPOSITORIES,
    JAVA_DB,
    VULN_DB,
    CachedDB,
    cached_db,
    check_db_age,
    mirrors,
    no_cached_db,
)
from scangate.trivy_env import trivy_env
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import parse_report

if TYPE_CHECKING:
    from scangate.vex.document import VexFile
from scangate.trivy_targets import name_os_results

# Re-exported: callers and tests import these from here.
__all__ = [
    "DEFAULT_DB_REPOSITORIES",
    "CachedDB",
    "ScanOptions",
    "ScanOutcome",
    "Target",
    "build_argv",
    "cached_db",
    "scan",
    "trivy_env",
]

SCANNERS = ("vuln", "misconfig", "secret", "license")
DEFAULT_SCANNERS = ("vuln", "misconfig", "secret")
# `--security-checks` (Trivy < 0.37) called the misconfiguration scanner "config".
_SCANNER_ALIASES = {"config": "misconfig", "vulnerability": "vuln", "secrets": "secret"}
_SUBCOMMANDS = ("fs", "image", "rootfs", "sbom")

# Seconds past --timeout before scangate stops a Trivy that ignored its own time limit.
_BACKSTOP_GRACE_MIN = 2.0
_BACKSTOP_GRACE_MAX = 30.0


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
        check_db_age(db, options.max_db_age, now, warnings)

    with tempfile.TemporaryDirectory(prefix="scangate-") as work:
        # Trivy runs in an empty directory: a trivy.yaml, .trivyignore or trivy-secret.yaml
        # committed to the scanned repository must not reconfigure the gate's scan.
        # scangate's secret config sits beside that directory, not in it.
        config = trivy_secrets.write_secret_config(
            Path(work), trivy_allow_rules=options.trivy_secret_allow_rules
        )
        workdir = Path(work) / "run"
        workdir.mkdir()
        output = workdir / "report.json"
        env = trivy_env(environ)
        vex = _vex_copies(Path(work), options.vex_files)
        argv = build_argv(
            trivy, target, options, output, use_cached_db=False, secret_config=config,
            vex=tuple(vex),
        )  # fmt: skip
        completed = _run(argv, options, env, workdir, heartbeat)
        # The Java DB (fetched by the client even in server mode) falls back like the DB.
        dbs = ((VULN_DB, needs_db), (JAVA_DB, "vuln" in options.scanners))
        failed = [
            kind
            for kind, wanted in dbs
            if wanted and completed.returncode != 0 and kind.failed.search(completed.stderr)
        ]
        if failed and not options.offline:
            for kind in failed:
                repos = options.db_repositories if kind is VULN_DB else options.java_db_repositories
                tried = mirrors(completed.stderr, repos, kind)
                cached = db if kind is VULN_DB else cached_db(options.cache_dir, kind)
                if cached is None:
                    raise TrivyRunError(
                        no_cached_db(kind, tried, options.cache_dir),
                        argv,
                        completed.returncode,
                        _subprocess.stderr_tail(completed.stderr, 5),
                    )
                check_db_age(
                    cached, options.max_db_age, now, warnings, download_failed=tried, kind=kind
                )
            argv = build_argv(
                trivy, target, options, output, use_cached_db=True, secret_config=config,
                vex=tuple(vex),
            )  # fmt: skip
            completed = _run(argv, options, env, workdir, heartbeat)
        _check_completed(completed, target)
        raw = _read_output(output, completed, target)
        duration = completed.duration
        if target.kind == "fs" and "secret" in options.scanners:
            beat = _offset(heartbeat, duration)
            extra, seconds = _scan_node_modules(trivy, target, options, env, config, beat)
            raw = trivy_secrets.merge_reports(raw, extra)
            duration += seconds
    report = parse_report(raw, f"trivy {target.label} output")
    run = to_scan_run(report)
    if options.vex_files:
        from scangate.vex.match import attribute

        attribute(run, options.vex_files, {str(path): label for path, label in vex.items()})
    if target.kind in ("rootfs", "sbom"):
        name_os_results(run, target.ref, target.display)
    # Secrets are fingerprinted by their value, read back from what Trivy just scanned.
    if target.kind != "sbom":
        secret_values.fill(run, target.ref, image=target.kind == "image", archive=target.archive)
    run.artifact = replace(run.artifact, name=target.display)
    if run.artifact.eosl:
        warnings.append(
            f"{target.display}: the OS {run.artifact.os} is end-of-life: "
            "it gets no more security fixes, so findings may be missing"
        )
    return ScanOutcome(target, run, raw, duration, warnings)


def _vex_copies(work: Path, files: tuple[VexFile, ...]) -> dict[Path, str]:
    """The VEX files as Trivy reads them: copies of the validated bytes (the originals may
    change after validation), by path, with the name the user gave each."""
    if not files:
        return {}
    folder = work / "vex"
    folder.mkdir()
    copies = {}
    for n, vex_file in enumerate(files, start=1):
        path = folder / f"{n:02d}.json"
        path.write_bytes(vex_file.data)
        copies[path] = vex_file.label
    return copies


def _offset(
    heartbeat: Callable[[float], None] | None, base: float
) -> Callable[[float], None] | None:
    return None if heartbeat is None else (lambda elapsed: heartbeat(base + elapsed))


def _scan_node_modules(
    trivy: Path,
    target: Target,
    options: ScanOptions,
    env: Mapping[str, str],
    config: Path,
    heartbeat: Callable[[float], None] | None,
) -> tuple[list[tuple[str, bytes]], float]:
    """Trivy never reads `node_modules/` for secrets: one `--scanners secret` run rooted at
    each such directory (about 0.1 s each here) reads it; none when there is none."""
    root = Path(target.ref)
    runs = trivy_secrets.node_modules_runs(root, options.skip_dirs, options.skip_files)
    reports: list[tuple[str, bytes]] = []
    spent = 0.0
    for nm in runs:
        rel = nm.rel
        sub = replace(
            options,
            scanners=("secret",),
            server=None,
            skip_dirs=tuple(nm.skip_dirs),
            skip_files=tuple(nm.skip_files),
            # One time limit for all of them: a tree of many node_modules dirs must not
            # multiply --timeout.
            timeout=max(1.0, options.timeout - spent),
        )
        part = Target("fs", str(root / rel), name=f"{target.display}/{rel}")
        with tempfile.TemporaryDirectory(prefix="scangate-nm-") as work:
            output = Path(work) / "report.json"
            argv = build_argv(trivy, part, sub, output, use_cached_db=False, secret_config=config)
            completed = _run(argv, sub, env, Path(work), heartbeat)
            _check_completed(completed, part)
            reports.append((rel, _read_output(output, completed, part)))
        spent += completed.duration
        if spent > options.timeout:
            raise TrivyRunError(
                f"trivy secret scans of the node_modules folders in {target.display} took "
                f"over {options.timeout:g} s: raise --timeout, or skip some with --skip-dirs",
                completed.argv,
                None,
                "",
            )
    return reports, spent


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
    # Trivy (or whatever runs as trivy) may leave anything at the output path: a FIFO would
    # block a plain open forever, a symlink could point at any file. Open without following
    # links and without blocking, then accept only a regular file.
    try:
        fd = os.open(output, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        raise _odd_output(output, completed, target, exc.strerror or str(exc)) from None
    raw = b""
    if fd is not None:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise _odd_output(output, completed, target, "not a regular file")
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read()
    if not raw.strip():
        raise TrivyRunError(
            f"trivy {target.label} exited 0 but wrote no report",
            completed.argv,
            completed.returncode,
            _subprocess.stderr_tail(completed.stderr),
        )
    return raw


def _odd_output(
    output: Path, completed: _subprocess.Completed, target: Target, why: str
) -> TrivyRunError:
    return TrivyRunError(
        f"trivy {target.label} left something other than a report file at {output} ({why}): "
        "refusing to read it; run a Trivy release binary",
        completed.argv,
        completed.returncode,
        _subprocess.stderr_tail(completed.stderr),
    )
