"""Running Trivy: one process per target, JSON to a temp file, failures turned into errors.

Builds the argv (`trivy_argv`), keeps the scanned repository's own Trivy settings and the
environment's `TRIVY_*` out of the run (`trivy_env`), runs it (`trivy_process`) with
scangate's secret config (`trivy_secrets`), handles the vulnerability DB (offline use, a
stale cache when the download fails, `--max-db-age`; `trivy_db`) and returns the parsed
report. Reads no environment itself: the CLI passes it in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scangate import _subprocess, secret_values, trivy_process, trivy_secrets
from scangate.errors import ScannerError, TrivyRunError
from scangate.findings import ScanRun
from scangate.trivy_argv import (
    DEFAULT_SCANNERS,
    SCANNERS,
    ScanOptions,
    Target,
    build_argv,
    parse_scanners,
)
from scangate.trivy_db import (
    DEFAULT_DB_REPOSITORIES,
    JAVA_DB,
    VULN_DB,
    CachedDB,
    cached_db,
    check_db_age,
    mirrors,
    no_cached_db,
    offline_java_db_missing,
)
from scangate.trivy_env import trivy_env
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import parse_report
from scangate.trivy_targets import locate_os_packages, name_os_results

if TYPE_CHECKING:
    from scangate.vex.document import VexFile

# Re-exported: callers and tests import these from here (argv and options live in
# `trivy_argv`, the process itself in `trivy_process`).
__all__ = [
    "DEFAULT_DB_REPOSITORIES",
    "DEFAULT_SCANNERS",
    "SCANNERS",
    "CachedDB",
    "ScanOptions",
    "ScanOutcome",
    "Target",
    "build_argv",
    "cached_db",
    "parse_scanners",
    "scan",
    "trivy_env",
]


@dataclass
class ScanOutcome:
    target: Target
    run: ScanRun
    raw: bytes
    duration: float
    warnings: list[str] = field(default_factory=list)


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
        completed = trivy_process.run(argv, options, env, workdir, heartbeat)
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
            completed = trivy_process.run(argv, options, env, workdir, heartbeat)
        missing = offline_java_db_missing(completed.stderr, options.cache_dir)
        if options.offline and completed.returncode != 0 and missing:
            raise ScannerError(missing)
        trivy_process.check_completed(completed, target)
        raw = trivy_process.read_output(output, completed, target)
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
    if target.kind == "rootfs":
        locate_os_packages(run, Path(target.ref), target.display)
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
            completed = trivy_process.run(argv, sub, env, Path(work), heartbeat)
            trivy_process.check_completed(completed, part)
            reports.append((rel, trivy_process.read_output(output, completed, part)))
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
