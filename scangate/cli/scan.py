"""`scangate scan fs|image|sbom|rootfs`: run Trivy once per target, then gate.

The run options and `ScanArgs` live in `_scan_options`, running Trivy in `_scan_run`; both
are named here too, as the other commands import them from here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scangate.cli import _snapshot_step, _vex_step
from scangate.cli._app import scan_app
from scangate.cli._options import (
    GATE_OPTIONS,
    PR_COMMENT_OPTIONS,
    DiffBaseImageOpt,
    DiffBaseInputOpt,
    DiffBaseOpt,
    with_options,
)
from scangate.cli._scan_options import (
    RUN_OPTIONS,
    SBOM_SCAN_OPTIONS,
    SCAN_OPTIONS,
    DbRepoOpt,
    InsecureOpt,
    MaxDbAgeOpt,
    OfflineOpt,
    RawReportOpt,
    ScanArgs,
    ScannersOpt,
    ServerOpt,
    SkipDirsOpt,
    SkipFilesOpt,
    TimeoutOpt,
    sbom_scanners,
)
from scangate.cli._scan_run import Progress, raw_reports, run_scans
from scangate.errors import UsageError

if TYPE_CHECKING:
    from scangate.diff_base import DiffBase
    from scangate.trivy_run import Target

__all__ = [
    "RUN_OPTIONS",
    "SCAN_OPTIONS",
    "DbRepoOpt",
    "InsecureOpt",
    "MaxDbAgeOpt",
    "OfflineOpt",
    "Progress",
    "RawReportOpt",
    "ScanArgs",
    "ScannersOpt",
    "ServerOpt",
    "SkipDirsOpt",
    "SkipFilesOpt",
    "TimeoutOpt",
    "raw_reports",
    "run_scans",
    "scan_and_gate",
    "scan_fs",
    "scan_image",
    "scan_rootfs",
    "scan_sbom",
]


def scan_and_gate(
    targets: list[Target],
    root: Path,
    params: dict[str, Any],
    *,
    diff_base: str | None = None,
    base_image: Target | None = None,
) -> None:
    from scangate.cli._gate_step import GateArgs, report
    from scangate.gate import evaluate

    gate = GateArgs.from_params(params)
    day = gate.day()
    # Everything the user can get wrong is checked before Trivy runs for minutes.
    policy = gate.load_policy(root, day)
    known = gate.load_baseline()
    # --diff-base: the base commit is resolved before Trivy runs (a bad REF or a shallow
    # clone lacking it is exit 2 at once, never a silent full gate).
    base = _diff_base(targets[0], diff_base) if diff_base is not None else None
    scan_args = ScanArgs.from_params(params)
    scan_args.check_raw_report(len(targets))
    raw = scan_args.raw_report
    # --dependency-snapshot: its sha and ref too (exit 2 when neither GitHub nor git has them).
    snapshot = _snapshot_step.prepare(scan_args.dependency_snapshot, targets, root)
    gate.check_outputs(
        *([("--raw-report", raw)] if raw is not None and len(targets) == 1 else []),
        *([(_snapshot_step.OPTION, snapshot.path)] if snapshot is not None else []),
        root=root,
    )
    options = scan_args.options(trivy_secret_allow_rules=policy.trivy_secret_allow_rules)
    # --vex: validated now (exit 2 before Trivy runs); Trivy applies the files.
    policy, options = _vex_step.for_scan(params, policy, options)
    if base is None and base_image is None:
        outcomes = run_scans(targets, scan_args, options, quiet=gate.quiet)
        gate.apply_feeds([o.run for o in outcomes], policy)
        result = evaluate([o.run for o in outcomes], policy, day, known)
    else:
        from scangate.cli import _diff_step

        # The suppression review is shown only in the PR comment.
        review = str(params.get("pr_comment") or "off") != "off"
        args = (scan_args, options, gate, policy, day, known)
        outcomes, result = _diff_step.scan_and_decide(targets, *args, base, base_image, review)
    extra = raw_reports(scan_args.raw_report, outcomes) + _snapshot_step.outputs(snapshot, outcomes)
    report(result, gate, root=root, extra=extra)


def _diff_base(target: Target, ref: str) -> DiffBase:
    from scangate.cli import _diff_step

    return _diff_step.resolve(target, ref)


def _refuse_dash(what: str, value: str, fix: str) -> None:
    """A target that starts with `-` reads as an option to Trivy (`--config=evil.yaml`
    would reconfigure the scan). Trivy gets `--` before targets anyway; refusing them too
    keeps the mistake visible."""
    if value.startswith("-"):
        raise UsageError(
            f"{what} {value!r} starts with '-' and would read as an option to trivy: {fix}"
        )


@scan_app.command("fs")
@with_options(GATE_OPTIONS, SCAN_OPTIONS, PR_COMMENT_OPTIONS)
def scan_fs(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(path_type=str, help="The directory (or one file) to scan.")
    ] = Path(),
    diff_base: DiffBaseOpt = None,
    **options: Any,
) -> None:
    """Scan a directory or a file for vulnerabilities, misconfigurations and secrets in one
    Trivy run, then gate the findings with the policy."""
    from scangate.trivy_run import Target

    # `path_type=str` hands over the text as typed: Path("./-name") is Path("-name"), which
    # would lose the `./` that makes such a name safe.
    typed = str(path)
    _refuse_dash("PATH", typed, f"write ./{typed}")
    path = Path(typed)
    if not path.is_dir() and not path.is_file():
        raise UsageError(f"{path}: no such directory or file to scan")
    target = Target("fs", str(path.resolve()), name=str(path))
    # A file is scanned as Trivy scans it (its results' Target is its base name); the policy
    # and ignore files are those of its directory, as for a scan of that directory.
    root = path if path.is_dir() else path.parent
    scan_and_gate([target], root, ctx.params, diff_base=diff_base)


@scan_app.command("image")
@with_options(GATE_OPTIONS, SCAN_OPTIONS, PR_COMMENT_OPTIONS)
def scan_image(
    ctx: typer.Context,
    refs: Annotated[
        list[str] | None,
        typer.Argument(metavar="[REF]...", help="Image references (registry/repo:tag)."),
    ] = None,
    input_: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            envvar="SCANGATE_INPUT",
            metavar="PATH",
            help="An image tarball (docker save) or OCI layout directory (repeatable).",
        ),
    ] = None,
    diff_base_image: DiffBaseImageOpt = None,
    diff_base_input: DiffBaseInputOpt = None,
    **options: Any,
) -> None:
    """Scan container images, by reference or from archives, each in its own Trivy run, and
    gate them together: one verdict."""
    from scangate.trivy_run import Target

    for ref in refs or ():
        _refuse_dash("REF", ref, "an image reference never starts with '-'; put options before --")
    targets = [Target("image", ref, name=ref) for ref in refs or ()]
    for archive in input_ or ():
        if not archive.exists():
            raise UsageError(f"--input {archive}: no such image archive or OCI directory")
        targets.append(Target("image", str(archive.resolve()), archive=True, name=str(archive)))
    if not targets:
        raise UsageError("scan image: name an image reference or give --input PATH")
    from scangate.cli._diff_image import base_target

    base = base_target(diff_base_image, diff_base_input, len(targets))
    scan_and_gate(targets, Path(), ctx.params, base_image=base)


@scan_app.command("sbom")
@with_options(GATE_OPTIONS, SBOM_SCAN_OPTIONS, PR_COMMENT_OPTIONS)
def scan_sbom(
    ctx: typer.Context,
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILE", help="CycloneDX or SPDX JSON files.", show_default=False),
    ],
    **options: Any,
) -> None:
    """Scan SBOMs (CycloneDX or SPDX JSON) for vulnerabilities, each file in its own Trivy
    run, and gate them together: one verdict; findings are located at their SBOM file."""
    from scangate.trivy_run import Target
    from scangate.trivy_targets import check_sbom

    targets = []
    for typed in files:
        _refuse_dash("FILE", typed, f"write ./{typed}")
        check_sbom(Path(typed))
        targets.append(Target("sbom", str(Path(typed).resolve()), name=str(Path(typed))))
    params = {**ctx.params, "scanners": sbom_scanners(ctx.params.get("scanners"))}
    # The policy and ignore files are those of the current directory, as for images.
    scan_and_gate(targets, Path(), params)


@scan_app.command("rootfs")
@with_options(GATE_OPTIONS, SCAN_OPTIONS, PR_COMMENT_OPTIONS)
def scan_rootfs(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            metavar="DIR", help="An unpacked root filesystem (docker export, a VM image)."
        ),
    ],
    **options: Any,
) -> None:
    """Scan an unpacked root filesystem for OS and language packages, secrets and
    misconfigurations in one Trivy run, then gate the findings with the policy."""
    from scangate.trivy_run import Target

    _refuse_dash("DIR", path, f"write ./{path}")
    if not Path(path).is_dir():
        raise UsageError(
            f"{path}: no such directory: scan rootfs takes an unpacked root filesystem"
        )
    target = Target("rootfs", str(Path(path).resolve()), name=str(Path(path)))
    # The policy and ignore files are those of the current directory, never the scanned
    # tree's: a root filesystem is not the repository that decides about it.
    scan_and_gate([target], Path(), ctx.params)
