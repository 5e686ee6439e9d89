"""The baseline file: fingerprints of findings a team has accepted as already there.

With a baseline, only findings a change introduces fail. The file is versioned, sorted and
one entry per line so that it diffs well in review; it holds IDs, targets and fingerprints,
never secret text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scangate.errors import UsageError
from scangate.findings import ScanRun

SCHEMA = "scangate/baseline/v1"
DEFAULT_PATH = Path(".scangate-baseline.json")


@dataclass(frozen=True, slots=True, order=True)
class BaselineEntry:
    kind: str
    target: str
    id: str
    package: str
    fingerprint: str


@dataclass(frozen=True)
class Baseline:
    path: str
    entries: tuple[BaselineEntry, ...]

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(e.fingerprint for e in self.entries)


def from_runs(runs: list[ScanRun], path: str = str(DEFAULT_PATH)) -> Baseline:
    entries = {
        BaselineEntry(f.kind.value, f.target, f.id, f.package or "", f.fingerprint)
        for run in runs
        for f in run.findings
    }
    return Baseline(path, tuple(sorted(entries)))


def render(baseline: Baseline) -> str:
    lines = ",\n".join(
        "    "
        + json.dumps(
            {
                "fingerprint": e.fingerprint,
                "kind": e.kind,
                "id": e.id,
                "target": e.target,
                **({"package": e.package} if e.package else {}),
            },
            ensure_ascii=False,
        )
        for e in baseline.entries
    )
    body = f"[\n{lines}\n  ]" if baseline.entries else "[]"
    return f'{{\n  "schema": "{SCHEMA}",\n  "findings": {body}\n}}\n'


def load(path: Path) -> Baseline:
    fix = "recreate it with `scangate baseline create`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"--baseline {path}: no such file: create it with `scangate baseline create`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--baseline {path}: cannot read it: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"--baseline {path}: not valid JSON ({exc}): {fix}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise UsageError(f"--baseline {path}: schema is {found!r}, expected {SCHEMA!r}: {fix}")
    items = data.get("findings")
    if not isinstance(items, list):
        raise UsageError(f"--baseline {path}: 'findings' must be a list: {fix}")
    entries = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise UsageError(f"--baseline {path}: findings[{i}] has no 'fingerprint': {fix}")
        entries.append(
            BaselineEntry(
                str(item.get("kind", "")),
                str(item.get("target", "")),
                str(item.get("id", "")),
                str(item.get("package", "")),
                item["fingerprint"],
            )
        )
    return Baseline(str(path), tuple(entries))
