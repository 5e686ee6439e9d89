"""The baseline file: fingerprints of findings a team has accepted as already there.

With a baseline, only findings a change introduces fail. The file is versioned, sorted and
one entry per line so that it diffs well in review; it holds kinds, IDs, targets and
fingerprints, never secret text. An entry vouches for a finding only when all of these
match: a fingerprint copied under a harmless-looking label vouches for nothing.

Schema v2 (`scangate/baseline/v2`): a secret's fingerprint hashes a digest of its value
(`scangate.secret_values`), so a different token at the same place is new. v1 hashed
Trivy's masked line, which is the same for every token: a v1 file is refused, and
`scangate baseline update` rewrites it.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from scangate.errors import UsageError
from scangate.findings import Finding, Kind, ScanRun, match_key
from scangate.safe_read import BASELINE_CAP, read_text

SCHEMA = "scangate/baseline/v2"
OLD_SCHEMAS = ("scangate/baseline/v1",)
DEFAULT_PATH = Path(".scangate-baseline.json")
_KINDS = frozenset(k.value for k in Kind)

# What an entry and a finding are compared by: kind, case-blind ID, target, package and
# fingerprint.
Key = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True, order=True)
class BaselineEntry:
    kind: str
    target: str
    id: str
    package: str
    fingerprint: str

    @property
    def key(self) -> Key:
        return (self.kind, match_key(self.id), self.target, self.package, self.fingerprint)


@dataclass(frozen=True)
class Baseline:
    path: str
    entries: tuple[BaselineEntry, ...]

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(e.fingerprint for e in self.entries)

    @property
    def keys(self) -> frozenset[Key]:
        return frozenset(e.key for e in self.entries)


def finding_key(finding: Finding) -> Key | None:
    """The key a baseline entry must have to vouch for `finding`; None when no entry can
    (a secret whose value could not be read: its fingerprint says nothing about the value)."""
    if not finding.baselinable:
        return None
    return (
        finding.kind.value,
        match_key(finding.id),
        finding.target,
        finding.package or "",
        finding.fingerprint,
    )


def from_runs(runs: list[ScanRun], path: str = str(DEFAULT_PATH)) -> Baseline:
    """The baseline of `runs`' findings; secrets whose value could not be read are left out
    (`unrecordable` lists them): no entry could ever match them."""
    entries = {
        BaselineEntry(f.kind.value, f.target, f.id, f.package or "", f.fingerprint)
        for run in runs
        for f in run.findings
        if f.baselinable
    }
    return Baseline(path, tuple(sorted(entries)))


def unrecordable(runs: list[ScanRun]) -> list[Finding]:
    return [f for run in runs for f in run.findings if not f.baselinable]


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


def load(path: Path, *, root: Path | None = None) -> Baseline:
    """Read a baseline; a missing, unreadable, old (v1) or malformed file is a UsageError
    that names the file, the entry and the fix. `root`: the hook found the file by itself
    in the repository at `root`, so a symbolic link there is refused (`safe_read`)."""
    baseline, schema = _read(path, root=root)
    if schema in OLD_SCHEMAS:
        label = str(path) if root is not None else f"--baseline {path}"
        raise UsageError(
            f"{label}: schema is {schema!r}, whose secret fingerprints do not depend "
            f"on the secret (any token at the same place matched): rewrite it with "
            f"`scangate baseline update --output {shlex.quote(str(path))}` (it rescans), and "
            "review the diff"
        )
    return baseline


def load_previous(path: Path) -> Baseline:
    """The baseline `baseline update` replaces: v1 is read too (only to count the change)."""
    return _read(path, option="--output")[0]


def _read(
    path: Path, *, root: Path | None = None, option: str = "--baseline"
) -> tuple[Baseline, str]:
    label = str(path) if root is not None else f"{option} {path}"
    # Only where the file is meant to be the baseline: `update` on a file that is not one
    # (a wrong --output) must not be answered with advice to overwrite it.
    fix = (
        "if it is meant to be the baseline, recreate it with "
        f"`scangate baseline create --force --output {shlex.quote(str(path))}`"
    )
    try:
        text = read_text(
            path, label=label, cap=BASELINE_CAP, root=root, option="--baseline", what="a baseline"
        )
    except FileNotFoundError:
        raise UsageError(
            f"{label}: no such file: create it with `scangate baseline create`"
        ) from None
    try:
        data = json.loads(text)
    except RecursionError:  # `[[[[...`: Python's JSON parser recurses per level
        raise UsageError(f"{label}: nested too deeply to be a baseline: {fix}") from None
    except ValueError as exc:
        raise UsageError(f"{label}: not valid JSON ({exc}): {fix}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(data, dict) or (schema != SCHEMA and schema not in OLD_SCHEMAS):
        found = schema if isinstance(data, dict) else type(data).__name__
        raise UsageError(f"{label}: schema is {str(found)[:80]!r}, expected {SCHEMA!r}: {fix}")
    items = data.get("findings")
    if not isinstance(items, list):
        raise UsageError(f"{label}: 'findings' must be a list: {fix}")
    entries = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise UsageError(f"{label}: findings[{i}] has no 'fingerprint': {fix}")
        for name in ("kind", "id", "target"):
            if not isinstance(item.get(name), str):
                raise UsageError(
                    f"{label}: findings[{i}] has no {name!r} (an entry matches "
                    f"only a finding of the same kind, id and target): {fix}"
                )
        if item["kind"] not in _KINDS:
            raise UsageError(
                f"{label}: findings[{i}].kind is {item['kind'][:40]!r}, not one "
                f"of {', '.join(sorted(_KINDS))}: {fix}"
            )
        package = item.get("package", "")
        if not isinstance(package, str):
            raise UsageError(f"{label}: findings[{i}].package must be a string: {fix}")
        entries.append(
            BaselineEntry(item["kind"], item["target"], item["id"], package, item["fingerprint"])
        )
    return Baseline(str(path), tuple(entries)), str(schema)
