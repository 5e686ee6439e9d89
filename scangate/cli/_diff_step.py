"""`scan fs --diff-base REF`: scan the merge base as the head was scanned, or take that scan
from the cache, and gate the head against it (`gate.evaluate`'s `pre_existing`).

The base is resolved before Trivy runs (`diff_base.resolve`: every mistake is exit 2 at
once). It is scanned with the same Trivy, options and inline-ignore run as the head, and with
the DBs and checks bundle pinned (`pinned_db`) as the head scan left them: an advisory
published between the two scans cannot make an old finding look new (`BaseSide` scans it
alongside the head and checks that). The result is cached under a key of everything that
changes what Trivy finds (`diff_cache.cache_key`); a cached base is not written out again,
except for the few files the suppression review reads (policy, ignore and baseline files,
files holding an inline ignore comment).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

from scangate.cli import _console, _diff_review
from scangate.cli._console import warning as warn
from scangate.errors import ScangateError
from scangate.formats.escape import plain

if TYPE_CHECKING:
    from scangate.baseline import Baseline
    from scangate.cli._gate_step import GateArgs
    from scangate.cli._scan_options import ScanArgs
    from scangate.diff_base import DiffBase, WrittenBase
    from scangate.diff_cache import BaseScan
    from scangate.diff_tmp import BaseDir
    from scangate.findings import ScanRun
    from scangate.gate import GateResult
    from scangate.policy import Policy
    from scangate.suppression_review import Review
    from scangate.trivy_locate import TrivyBinary
    from scangate.trivy_run import ScanOptions, ScanOutcome, Target


def resolve(target: Target, ref: str) -> DiffBase:
    """The merge base of REF and HEAD for the scanned path (exit 2 on any doubt)."""
    from scangate import diff_base

    return diff_base.resolve(Path(target.ref), ref, env=os.environ)


def scan_and_decide(
    targets: list[Target],
    scan_args: ScanArgs,
    options: ScanOptions,
    args: GateArgs,
    policy: Policy,
    day: date,
    known: Baseline | None,
    base: DiffBase | None,
    base_image: Target | None,
    review: bool,
) -> tuple[list[ScanOutcome], GateResult]:
    """`scan fs --diff-base` (`base`) or `scan image --diff-base-image/-input` (`base_image`):
    the head's scans, the base's, and the head gated against it."""
    from scangate.cli import _diff_image
    from scangate.cli._scan_run import run_scans

    if base is None:
        assert base_image is not None
        outcomes = run_scans(targets, scan_args, options, quiet=args.quiet)
        runs = [o.run for o in outcomes]
        args.apply_feeds(runs, policy)
        rest = (scan_args, options, policy, day, known)
        return outcomes, _diff_image.gate(base_image, runs, *rest, quiet=args.quiet)
    # The base's files are written out while Trivy scans the head (`BaseSide`).
    with BaseSide(base, targets[0], scan_args, options, quiet=args.quiet) as side:
        outcomes = run_scans(targets, scan_args, options, quiet=args.quiet)
        runs = [o.run for o in outcomes]
        args.apply_feeds(runs, policy)
        return outcomes, gate(side, runs, args, policy, day, known, review=review)


class _Stopped(Exception):
    """Raised from the base scan's heartbeat: the run is over, stop Trivy."""


@dataclass
class _Early:
    """What the thread did before the head scan ended: the base written out, and its scan
    (or why it failed) with the Trivy cache as it was when the thread started."""

    written: WrittenBase
    stamps: dict[str, str]
    outcome: ScanOutcome | None = None
    error: ScangateError | None = None


class BaseSide:
    """The base's side of one `--diff-base` run, entered before the head scan.

    Unless the cache already holds the base's scan (under the key as it stands before the
    head scan), a thread writes the base's files out and scans them while Trivy scans the
    head, the DB pinned as the cache holds it. Both sides must be judged by the same DB:
    if the head scan changed the DBs or the checks bundle meanwhile (`trivy_stamps`), that
    scan is dropped and the base is scanned again after the head. `scan` decides, after the
    head scan, whether the cache holds the base after all. Leaving stops the thread's Trivy
    and removes what was written.
    """

    def __init__(
        self,
        base: DiffBase,
        target: Target,
        scan_args: ScanArgs,
        options: ScanOptions,
        *,
        quiet: bool,
    ) -> None:
        self.base = base
        self.target = target
        self.scan_args = scan_args
        self.options = options
        self.quiet = quiet
        self._stack = contextlib.ExitStack()
        self._future: Future[_Early] | None = None
        self._stop = threading.Event()

    def __enter__(self) -> Self:
        from scangate import diff_cache

        if self.options.server or diff_cache.load(self.options.cache_dir, self.key()) is None:
            self._start(scan=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        future = self._future
        if future is not None and not future.cancel():
            # The thread writes into the directory about to be removed: let it stop first.
            with contextlib.suppress(BaseException):
                future.result()
        self._stack.close()

    def _start(self, *, scan: bool) -> None:
        from scangate.diff_tmp import BaseDir

        where = BaseDir()
        # Removed once the thread has stopped: the stack unwinds the pool first.
        self._stack.callback(where.remove)
        pool = self._stack.enter_context(ThreadPoolExecutor(max_workers=1))
        self._future = pool.submit(self._prepare, where, dict(os.environ), scan=scan)

    def _prepare(self, where: BaseDir, env: dict[str, str], *, scan: bool) -> _Early:
        """In the thread: write the base out (in memory when there is room) and (`scan`)
        scan it, quietly."""
        from scangate import diff_cache
        from scangate.cli import _scan_run
        from scangate.trivy_run import scan as trivy_scan

        stamps = diff_cache.trivy_stamps(self.options.cache_dir)
        early = _Early(where.write(self.base, env), stamps)
        if not scan or self._stop.is_set():
            return early
        trivy, at_base, pinned = self._scan_args(early.written.path)
        try:
            now = datetime.now(UTC)
            early.outcome = trivy_scan(
                trivy, at_base, pinned, environ=env, now=now, heartbeat=self._heartbeat
            )
            _scan_run.inline_ignores(trivy, at_base, pinned, early.outcome, quiet=True)
        except ScangateError as exc:
            early.error = exc
        return early

    def _heartbeat(self, elapsed: float) -> None:
        if self._stop.is_set():
            raise _Stopped

    def _scan_args(self, path: Path) -> tuple[Path, Target, ScanOptions]:
        from scangate.skip_paths import for_copy
        from scangate.trivy_run import Target

        at_base = Target("fs", str(path), name=f"{self.target.display} at {self.base.short}")
        # An absolute --skip-dirs/--skip-files under the head's root skips the same place in
        # the base's copy (`skip_paths`).
        pinned = dataclasses.replace(
            self.options,
            pinned_db=True,
            skip_dirs=for_copy(self.options.skip_dirs, self.target.ref),
            skip_files=for_copy(self.options.skip_files, self.target.ref),
        )
        return self.binary().path, at_base, pinned

    def key(self) -> str:
        """The cache key of the base scan, from the Trivy cache as it is now."""
        from scangate import diff_cache

        binary = self.binary()
        stamps = diff_cache.trivy_stamps(self.options.cache_dir)
        return diff_cache.cache_key(
            tree=self.base.identity,
            trivy_version=binary.version,
            db_updated_at=stamps.get("db"),
            scanners=self.options.scanners,
            skip_dirs=self.options.skip_dirs,
            skip_files=self.options.skip_files,
            trivy_secret_allow_rules=self.options.trivy_secret_allow_rules,
            extra={
                **stamps,
                **diff_cache.vex_stamps(self.options.vex_files),
                "offline": str(self.options.offline),
            },
        )

    def binary(self) -> TrivyBinary:
        from scangate.cli._trivy_binary import find_trivy

        args = self.scan_args
        return find_trivy(args.trivy, self.options.cache_dir, no_install=args.no_install)

    def _run(self) -> tuple[WrittenBase, ScanRun]:
        """The base written out and scanned: by the thread when the Trivy cache is as the
        thread found it, else (or when nothing was started) now."""
        from scangate import diff_cache
        from scangate.cli import _scan_run

        if self._future is None:
            self._start(scan=False)
        assert self._future is not None
        early = self._future.result()
        for note in early.written.notes:
            warn(f"--diff-base {self.base.short}: {note}")
        same = early.stamps == diff_cache.trivy_stamps(self.options.cache_dir)
        if same and early.error is not None:
            raise early.error
        trivy, at_base, pinned = self._scan_args(early.written.path)
        if same and early.outcome is not None:
            outcome = early.outcome
            if not self.quiet:
                label = f"trivy {at_base.label} finished in {outcome.duration:.1f}s"
                _console.human(f"scangate: {plain(label)}", err=True)
        else:
            outcome = _scan_run.scan_with_progress(trivy, at_base, pinned, quiet=self.quiet)
            _scan_run.inline_ignores(trivy, at_base, pinned, outcome, quiet=self.quiet)
        _scan_run.warn_once(outcome.warnings)
        return early.written, outcome.run

    def scan(self, args: GateArgs, day: date, *, review: bool) -> tuple[BaseScan, Review | None]:
        """The base's scan (cached, or run) and, with `review`, the suppression review."""
        from scangate import diff_cache

        # The key is taken after the head scan, which may have updated the DB: the base is
        # judged by that DB, and a cached scan made with another is not used.
        key = self.key()
        # A Trivy server holds its own DB, which this cache cannot see: always scan then.
        cached = None if self.options.server else diff_cache.load(self.options.cache_dir, key)
        if cached is not None:
            if not review:
                return cached, None
            return cached, _diff_review.review_cached(self.base, self.target, args, day)
        written, run = self._run()
        reviewed = _diff_review.review(written.path, self.target, args, day) if review else None
        findings = tuple(diff_cache.BaseFinding.of(f) for f in run.findings)
        scanned = diff_cache.BaseScan(self.base.commit, self.base.identity, findings)
        if not self.options.server:
            diff_cache.store(self.options.cache_dir, key, scanned)
        return scanned, reviewed


def gate(
    side: BaseSide,
    runs: list[ScanRun],
    args: GateArgs,
    policy: Policy,
    day: date,
    known: Baseline | None,
    *,
    review: bool = True,
) -> GateResult:
    """The head's runs gated against the base's scan; `result.diff` says what changed.
    `review`: compute the suppression review (the PR comment shows it) when the target is a
    directory; it reads both trees, so a run that shows it nowhere skips it."""
    from scangate import diff_cache
    from scangate.gate import Decision, DiffResult, decide, evaluate

    base = side.base
    scanned, reviewed = side.scan(args, day, review=review and Path(side.target.ref).is_dir())
    head = [f for run in runs for f in run.findings]
    cmp = diff_cache.compare(head, scanned.findings)
    result = evaluate(
        runs, policy, day, known, pre_existing=cmp.pre_existing, base_short=base.short
    )
    fixed = decide([b.to_finding() for b in cmp.fixed], policy, day)
    result.diff = DiffResult(
        base=base.commit,
        short=base.short,
        ref=base.ref,
        new=len(cmp.new),
        pre_existing=result.summary.by_decision.get(Decision.PRE_EXISTING.value, 0),
        fixed=fixed,
        review=reviewed,
    )
    return result
