"""`scan image --diff-base-image REF` / `--diff-base-input TAR|OCI-DIR`: scan the previous
release after the image, with the same Trivy, options and pinned DB, and gate the image
against it (`diff_image`: findings matched across images; `gate.evaluate`'s `pre_existing`).

The DB is pinned as for `scan fs --diff-base`, and the base's scan is cached as a base tree's
is (`diff_image_base`): under the archive's or layout's content digest or the digest a
reference pins, never a tag alone (a base named by tag is scanned on every run).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from scangate.errors import UsageError

if TYPE_CHECKING:
    from scangate.baseline import Baseline
    from scangate.cli._scan_options import ScanArgs
    from scangate.diff_cache import BaseScan
    from scangate.findings import ScanRun
    from scangate.gate import GateResult
    from scangate.policy import Policy
    from scangate.trivy_run import ScanOptions, Target


def base_target(image: str | None, archive: Path | None, heads: int) -> Target | None:
    """The previous release to compare with, or None; every mistake is exit 2."""
    from scangate.trivy_run import Target

    if image is None and archive is None:
        return None
    if image is not None and archive is not None:
        raise UsageError("--diff-base-image and --diff-base-input: give one base image, not both")
    if heads != 1:
        raise UsageError(
            "--diff-base-image/--diff-base-input compare one image: name one REF or one --input"
        )
    if archive is not None:
        if not archive.exists():
            raise UsageError(f"--diff-base-input {archive}: no such image archive or OCI directory")
        return Target("image", str(archive.resolve()), archive=True, name=str(archive))
    assert image is not None
    if not image.strip():
        raise UsageError("--diff-base-image is empty: name the previous release (app:1.2)")
    if image.startswith("-"):
        raise UsageError(
            f"--diff-base-image {image[:80]!r} starts with '-' and would read as an option to "
            "trivy: an image reference never starts with '-'"
        )
    return Target("image", image, name=image)


def gate(
    base: Target,
    runs: list[ScanRun],
    scan_args: ScanArgs,
    options: ScanOptions,
    policy: Policy,
    day: date,
    known: Baseline | None,
    *,
    quiet: bool,
) -> GateResult:
    """The head image's runs gated against `base`'s scan (cached, or run); `result.diff`
    says what changed."""
    from scangate import diff_image_base
    from scangate.gate import Decision, DiffResult, decide, evaluate

    scanned = _base_scan(base, scan_args, options, quiet=quiet)
    cmp = diff_image_base.compare(runs, scanned.findings)
    short = base.display  # what the user named: "present at app:1.2"
    result = evaluate(runs, policy, day, known, pre_existing=cmp.pre_existing, base_short=short)
    result.diff = DiffResult(
        base=scanned.commit or base.display,  # the image ID
        short=short,
        ref=base.display,
        new=len(cmp.new),
        pre_existing=result.summary.by_decision.get(Decision.PRE_EXISTING.value, 0),
        fixed=decide([b.to_finding() for b in cmp.fixed], policy, day),
        review=None,
    )
    return result


def _base_scan(base: Target, scan_args: ScanArgs, options: ScanOptions, *, quiet: bool) -> BaseScan:
    """The base image's scan: from the cache when it holds it under the image's exact
    identity, else scanned (and kept)."""
    from scangate import diff_cache, diff_image_base
    from scangate.cli import _scan_run
    from scangate.cli._trivy_binary import find_trivy

    binary = find_trivy(scan_args.trivy, options.cache_dir, no_install=scan_args.no_install)
    # A Trivy server holds its own DB, which the cache cannot see: always scan then.
    ident = None if options.server else diff_image_base.identity(base)
    key = None
    if ident is not None:
        # Taken after the head scan, which may have updated the DB: the base is judged by it.
        stamps = diff_cache.trivy_stamps(options.cache_dir)
        key = diff_cache.cache_key(
            tree=ident,
            trivy_version=binary.version,
            db_updated_at=stamps.get("db"),
            scanners=options.scanners,
            skip_dirs=options.skip_dirs,
            skip_files=options.skip_files,
            trivy_secret_allow_rules=options.trivy_secret_allow_rules,
            extra={
                **stamps,
                **diff_cache.vex_stamps(options.vex_files),
                "offline": str(options.offline),
                "target": "image",
            },
        )
        cached = diff_cache.load(options.cache_dir, key)
        if cached is not None:
            return cached
    pinned = dataclasses.replace(options, pinned_db=True)
    outcome = _scan_run.scan_with_progress(binary.path, base, pinned, quiet=quiet)
    _scan_run.warn_once(outcome.warnings)
    scanned = diff_image_base.base_scan(outcome.run, ident or "")
    if key is not None:
        diff_cache.store(options.cache_dir, key, scanned)
    return scanned
