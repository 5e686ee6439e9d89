"""`scangate scan fs` and `scangate scan image`: run Trivy once per target, then gate."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

import typer

from scangate.cli import _console
from scangate.cli._app import scan_app
from scangate.cli._console import warning as warn
from scangate.cli._options import (
    GATE_OPTIONS,
    PR_COMMENT_OPTIONS,
    TRIVY_OPTIONS,
    DiffBaseImageOpt,
    DiffBaseInputOpt,
    DiffBaseOpt,
    option_group,
    with_options,
)
from scangate.errors import UsageError
from scangate.formats.escape import plain

if TYPE_CHECKING:
    from scangate.cli._outputs import Output
    from scangate.diff_base import DiffBase
    from scangate.findings import ScanRun
    from scangate.trivy_run import ScanOptions, ScanOutcome, Target

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
        help="No downloads at all: the cached DB, Trivy's built-in checks, no version check.",
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
        help="Keep Trivy's own JSON report here (a directory when scanning several images).",
    ),
]


# How Trivy runs; `scan fs`, `scan image`, `baseline` and the hooks share them.
RUN_OPTIONS = option_group(
    scanners=(ScannersOpt, None),
    skip_dirs=(SkipDirsOpt, None),
    skip_files=(SkipFilesOpt, None),
    timeout=(TimeoutOpt, "600s"),
    db_repository=(DbRepoOpt, None),
    server=(ServerOpt, None),
    offline=(OfflineOpt, False),
    max_db_age=(MaxDbAgeOpt, 7),
)
SCAN_OPTIONS = (
    *TRIVY_OPTIONS,
    *RUN_OPTIONS,
    *option_group(insecure=(InsecureOpt, False), raw_report=(RawReportOpt, None)),
)


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
    server: str | None = None
    insecure: bool = False
    offline: bool = False
    max_db_age: int = 7
    raw_report: Path | None = None

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


class Progress:
    """A spinner with elapsed time on a terminal, plain start/finish lines in CI logs."""

    FRAMES = "|/-\\"

    def __init__(self, label: str, *, quiet: bool) -> None:
        self.label = plain(label)  # a target's name: an argument, a directory, an image
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.frame = 0

    def __enter__(self) -> Self:
        if not self.quiet and not self.tty:
            _console.human(f"scangate: running trivy {self.label}", err=True)
        return self

    def tick(self, elapsed: float) -> None:
        if self.quiet or not self.tty:
            return
        self.frame = (self.frame + 1) % len(self.FRAMES)
        sys.stderr.write(f"\r{self.FRAMES[self.frame]} trivy {self.label}  {elapsed:5.1f}s")
        sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def done(self, seconds: float) -> None:
        if not self.quiet:
            _console.human(f"scangate: trivy {self.label} finished in {seconds:.1f}s", err=True)


def run_scans(
    targets: list[Target], args: ScanArgs, options: ScanOptions, *, quiet: bool
) -> list[ScanOutcome]:
    """Find (or install) Trivy and run it once per target, in order."""
    from scangate.cli._trivy_binary import find_trivy

    binary = find_trivy(args.trivy, options.cache_dir, no_install=args.no_install)
    outcomes = []
    for target in targets:
        outcome = _scan_with_progress(binary.path, target, options, quiet=quiet)
        for message in outcome.warnings:
            warn(message)
        _inline_ignores(binary.path, target, options, outcome, quiet=quiet)
        outcomes.append(outcome)
    return outcomes


def _scan_with_progress(
    trivy: Path, target: Target, options: ScanOptions, *, quiet: bool
) -> ScanOutcome:
    from scangate.trivy_run import scan

    with Progress(target.label, quiet=quiet) as progress:
        outcome = scan(
            trivy, target, options, environ=os.environ, now=datetime.now(UTC),
            heartbeat=progress.tick,
        )  # fmt: skip
    progress.done(outcome.duration)
    return outcome


def _inline_ignores(
    trivy: Path, target: Target, options: ScanOptions, outcome: ScanOutcome, *, quiet: bool
) -> None:
    """Put the misconfigurations that `#trivy:ignore` comments in a scanned directory hid
    from Trivy back into its run (`scangate.inline_ignores`): one more misconfig-only Trivy
    run over a copy with the comments neutralised, only when the tree holds such a comment.
    Image contents are not searched (a README limitation)."""
    if target.kind != "fs" or target.archive or "misconfig" not in options.scanners:
        return
    from scangate import inline_ignores
    from scangate.trivy_run import Target

    # Misconfigurations are always scanned on the client, so no server is needed.
    shadow_options = dataclasses.replace(options, scanners=("misconfig",), server=None)

    def scan_shadow(root: Path) -> ScanRun:
        shadow = Target("fs", str(root), name=f"{target.display} without its inline ignores")
        return _scan_with_progress(trivy, shadow, shadow_options, quiet=quiet).run

    with tempfile.TemporaryDirectory(prefix="scangate-inline-") as work:
        root = Path(target.ref)
        if root.is_file():
            # One file: its results are named by its base name, as in a scan of a directory
            # holding only it, so the comments are searched (and neutralised) in such a copy.
            alone = Path(work) / "file"
            alone.mkdir()
            shutil.copyfile(root, alone / root.name)
            root = alone
        inline_ignores.apply(outcome.run, root, scan_shadow, Path(work))


def raw_reports(raw_report: Path | None, outcomes: list[ScanOutcome]) -> list[Output]:
    """Trivy's own reports for --raw-report: written with the other outputs, as one set."""
    if raw_report is None:
        return []
    from scangate.cli._outputs import Output

    if len(outcomes) == 1:
        return [Output("--raw-report", raw_report, outcomes[0].raw)]
    outputs = []
    for n, outcome in enumerate(outcomes, start=1):
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", outcome.target.display).strip("_")
        outputs.append(Output("--raw-report", raw_report / f"{n:02d}-{name}.json", outcome.raw))
    return outputs


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
    gate.check_outputs(
        *([("--raw-report", raw)] if raw is not None and len(targets) == 1 else []), root=root
    )
    options = scan_args.options(trivy_secret_allow_rules=policy.trivy_secret_allow_rules)
    if base is None and base_image is None:
        outcomes = run_scans(targets, scan_args, options, quiet=gate.quiet)
        result = evaluate([o.run for o in outcomes], policy, day, known)
    else:
        from scangate.cli import _diff_step

        # The suppression review is shown only in the PR comment.
        review = str(params.get("pr_comment") or "off") != "off"
        args = (scan_args, options, gate, policy, day, known)
        outcomes, result = _diff_step.scan_and_decide(targets, *args, base, base_image, review)
    report(result, gate, root=root, extra=raw_reports(scan_args.raw_report, outcomes))


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
