"""Running Trivy for a command: once per target with a progress display, plus the run that
puts back what inline `#trivy:ignore` comments hid, and Trivy's own reports for --raw-report."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

from scangate.cli import _console
from scangate.cli._console import warning as warn
from scangate.formats.escape import plain

if TYPE_CHECKING:
    from scangate.cli._outputs import Output
    from scangate.cli._scan_options import ScanArgs
    from scangate.findings import ScanRun
    from scangate.trivy_run import ScanOptions, ScanOutcome, Target


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
        outcome = scan_with_progress(binary.path, target, options, quiet=quiet)
        warn_once(outcome.warnings)
        inline_ignores(binary.path, target, options, outcome, quiet=quiet)
        outcomes.append(outcome)
    return outcomes


# The scans' warnings printed so far in this process (one command).
_WARNED: set[str] = set()


def warn_once(messages: list[str]) -> None:
    """Print a scan's warnings, each only once per command: the base scan of a diff run
    says what the head scan already said when both read the same DB or image."""
    for message in messages:
        if message not in _WARNED:
            _WARNED.add(message)
            warn(message)


def scan_with_progress(
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


def inline_ignores(
    trivy: Path, target: Target, options: ScanOptions, outcome: ScanOutcome, *, quiet: bool
) -> None:
    """Put the misconfigurations that `#trivy:ignore` comments in a scanned directory hid
    from Trivy back into its run (`scangate.inline_ignores`): one more misconfig-only Trivy
    run over a copy with the comments neutralised, only when the tree holds such a comment.
    Image contents are not searched (a README limitation)."""
    if target.kind != "fs" or target.archive or "misconfig" not in options.scanners:
        return
    from scangate import inline_ignores
    from scangate.skip_paths import for_copy
    from scangate.trivy_run import Target

    # Misconfigurations are always scanned on the client, so no server is needed. The shadow
    # is a copy: an absolute skip pattern must name the same place in it (`skip_paths`).
    shadow_options = dataclasses.replace(
        options,
        scanners=("misconfig",),
        server=None,
        skip_dirs=for_copy(options.skip_dirs, target.ref),
        skip_files=for_copy(options.skip_files, target.ref),
    )

    def scan_shadow(root: Path) -> ScanRun:
        shadow = Target("fs", str(root), name=f"{target.display} without its inline ignores")
        return scan_with_progress(trivy, shadow, shadow_options, quiet=quiet).run

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
