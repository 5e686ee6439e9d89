"""`scan image --diff-base-image REF` / `--diff-base-input TAR|OCI-DIR`: scan the previous
release after the image, with the same Trivy, options and pinned DB, and gate the image
against it (`diff_image`: findings matched across images; `gate.evaluate`'s `pre_existing`).

The base image is scanned on every run: a tag can move, and an archive's identity would
cost a read of the whole file; the DB is pinned as for `scan fs --diff-base`.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from scangate.cli._console import warning as warn
from scangate.errors import UsageError

if TYPE_CHECKING:
    from scangate.baseline import Baseline
    from scangate.cli.scan import ScanArgs
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
    """The head image's runs gated against `base`'s scan; `result.diff` says what changed."""
    from scangate import diff_image
    from scangate.cli import scan
    from scangate.cli._trivy_binary import find_trivy
    from scangate.gate import Decision, DiffResult, decide, evaluate

    binary = find_trivy(scan_args.trivy, options.cache_dir, no_install=scan_args.no_install)
    # After the head scan, which may have updated the DB: the base is judged by that DB.
    pinned = dataclasses.replace(options, pinned_db=True)
    outcome = scan._scan_with_progress(binary.path, base, pinned, quiet=quiet)
    for message in outcome.warnings:
        warn(message)
    base_run = outcome.run
    cmp = diff_image.compare(runs, base_run)
    image_id = base_run.artifact.image_id or ""
    short = base.display  # what the user named: "present at app:1.2"
    result = evaluate(runs, policy, day, known, pre_existing=cmp.pre_existing, base_short=short)
    result.diff = DiffResult(
        base=image_id or base.display,
        short=short,
        ref=base.display,
        new=len(cmp.new),
        pre_existing=result.summary.by_decision.get(Decision.PRE_EXISTING.value, 0),
        fixed=decide(list(cmp.fixed), policy, day),
        review=None,
    )
    return result
