"""Which runs a SARIF log holds and which results each keeps, within GitHub's limits.

* Runs: one per scanned target (its category, `locations`); reports of the same target
  (say, one per scanner) merge into one run, since GitHub refuses two runs of one tool with
  one category. `SarifOptions.category` replaces the category of a single run and prefixes
  each category (`<category>/fs/<path>`) when there are several. At most 20 runs per file.
* Results: allowed findings only with `include_allowed` (as suppressed), only failing ones
  with `only_failing`, each fingerprint once per run; at most `max_results` per run, the most
  severe kept (GitHub keeps 25,000 per run).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scangate.findings import Artifact, Severity
from scangate.formats._common import is_image_artifact, scanned_dir, scanned_file
from scangate.formats.sarif.locations import CATEGORY_PREFIX, default_category, image_repository
from scangate.gate import Decided, Decision, GateResult

if TYPE_CHECKING:
    from scangate.formats.sarif.writer import SarifOptions

# GitHub's limits for one uploaded SARIF file (docs: "SARIF support for code scanning").
MAX_RESULTS_PER_RUN = 25_000
MAX_RUNS = 20


@dataclass(slots=True)
class PlannedRun:
    """One run of the log: a scanned target, the results it keeps and what was left out."""

    category: str
    target: str
    artifact: Artifact
    image: bool
    scanned: str
    # The one file the run scanned (a file given to `trivy fs`, an SBOM): every result's URI.
    file: str | None
    # Its base name: the Target of a scanned file's results (an SBOM's name none).
    file_name: str | None = None
    decided: list[Decided] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    considered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    # Per-run caches: a path's URI, a place's encoded `locations` array.
    uris: dict[str, str] = field(default_factory=dict)
    locations: dict[tuple[str, int, int], str] = field(default_factory=dict)


def plan(result: GateResult, opts: SarifOptions, limit: int, notes: list[str]) -> list[PlannedRun]:
    """The runs of the log, one per category, each with the results it keeps (see the module
    docstring); `notes` gets what GitHub's limits left out."""
    by_category: dict[str, PlannedRun] = {}
    for run_result in result.runs:
        artifact = run_result.run.artifact
        image = is_image_artifact(artifact)
        targets = (f.target for f in run_result.run.findings)
        file = None if image else scanned_file(artifact, targets, opts.source_root)
        category = default_category(artifact, opts.source_root, file)
        run = by_category.get(category)
        if run is None:
            scanned = "." if image else scanned_dir(artifact, opts.source_root)
            target = image_repository(artifact) if image else file or scanned
            run = by_category[category] = PlannedRun(
                category, target, artifact, image, scanned, file, file and file.rsplit("/", 1)[-1]
            )
        # Two reports of one target (say, one per scanner) are one run: GitHub rejects
        # two runs of one tool with the same category in one upload.
        for d in run_result.decided:
            if not _wanted(d, opts):
                continue
            fingerprint = d.finding.fingerprint
            if fingerprint:
                if fingerprint in run.fingerprints:
                    continue
                run.fingerprints.add(fingerprint)
            run.decided.append(d)
    runs = list(by_category.values())
    if opts.category:
        for run in runs:
            suffix = run.category.removeprefix(f"{CATEGORY_PREFIX}/")
            run.category = opts.category if len(runs) == 1 else f"{opts.category}/{suffix}"
    if len(runs) > MAX_RUNS:
        left_out = runs[MAX_RUNS:]
        runs = runs[:MAX_RUNS]
        notes.append(
            f"SARIF: {len(left_out) + MAX_RUNS} targets, GitHub accepts {MAX_RUNS} runs per "
            f"file: left out {', '.join(r.category for r in left_out)}; "
            "write the others to a second --sarif file"
        )
    for run in runs:
        _cap(run, limit, notes)
    return runs


def _wanted(d: Decided, opts: SarifOptions) -> bool:
    # GitHub ignores SARIF suppressions when opening alerts, so an allowed finding
    # would show as an open alert: left out unless asked for.
    if d.decision is Decision.ALLOWED:
        return opts.include_allowed
    if opts.only_failing:
        return d.decision is Decision.FAIL
    return True


def _cap(run: PlannedRun, limit: int, notes: list[str]) -> None:
    """Most severe first, failing before reported-only, then report order; keep the first
    `max_results` and record what was left out."""
    # A stable sort: report order is kept within a severity.
    run.decided.sort(key=lambda d: (-d.finding.severity.rank, d.decision is not Decision.FAIL))
    run.considered = len(run.decided)
    if limit and len(run.decided) > limit:
        for d in run.decided[limit:]:
            run.dropped[d.finding.severity.value] += 1
        del run.decided[limit:]
        counts = ", ".join(f"{n} {s}" for s, n in by_severity(run.dropped).items())
        notes.append(
            f"SARIF: {run.category}: {sum(run.dropped.values())} of {run.considered} results "
            f"left out (GitHub keeps at most {MAX_RESULTS_PER_RUN} per run; the most severe "
            f"{limit} are written): {counts}"
        )
    elif len(run.decided) > MAX_RESULTS_PER_RUN:
        notes.append(
            f"SARIF: {run.category}: {len(run.decided)} results, GitHub accepts at most "
            f"{MAX_RESULTS_PER_RUN} per run and will reject the upload; drop "
            "--sarif-max-results or set it to at most that"
        )
    run.fingerprints = set()


def over_result_limit(runs: list[PlannedRun]) -> bool:
    """Whether a run holds more results than GitHub accepts (the upload will be refused)."""
    return any(len(r.decided) > MAX_RESULTS_PER_RUN for r in runs)


def by_severity(counts: Counter[str]) -> dict[str, int]:
    return {s.value: counts[s.value] for s in reversed(Severity) if counts[s.value]}
