"""--dependency-snapshot on the scans: the commit is resolved before Trivy runs (a missing
sha or ref is exit 2 at once), the snapshot is built from the same runs after it and
written with the other outputs, as one set (`_outputs`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scangate.cli._outputs import Output
    from scangate.dependency_snapshot import Commit, Job
    from scangate.trivy_run import ScanOutcome, Target

OPTION = "--dependency-snapshot"


@dataclass(frozen=True)
class SnapshotPlan:
    path: Path
    commit: Commit
    job: Job


def prepare(path: Path | None, targets: list[Target], root: Path) -> SnapshotPlan | None:
    """The snapshot's commit and job, or None without --dependency-snapshot. A directory
    scan takes them from the checkout holding it; other scans from the current directory's."""
    if path is None:
        return None
    from scangate.dependency_snapshot import job_from_env, resolve_commit

    where = root if targets and targets[0].kind == "fs" and not targets[0].archive else Path()
    commit = resolve_commit(os.environ, where.resolve())
    command = targets[0].kind if targets else "scan"
    job = job_from_env(os.environ, command, [t.display for t in targets])
    return SnapshotPlan(path, commit, job)


def outputs(plan: SnapshotPlan | None, outcomes: list[ScanOutcome]) -> list[Output]:
    if plan is None:
        return []
    from scangate import __version__
    from scangate.cli._outputs import Output
    from scangate.dependency_snapshot import build, render

    snapshot = build(
        outcomes, commit=plan.commit, job=plan.job, scanned=datetime.now(UTC), version=__version__
    )
    return [Output(OPTION, plan.path, render(snapshot))]
