"""The base scan of `--diff-base`: what is kept of it, its cache, and the comparison with head.

A base scan's findings are kept as `BaseFinding`s: the fingerprint, and what the gate and the
outputs show of a fixed finding (kind, ID, severity, target, package, location), never a
secret's text (Trivy's masked line included): a secret is matched by its fingerprint, which
hashes a digest of its value (`secret_values`), so a rotated token is new.

The cache holds one JSON file per key (`cache_key`: the base tree, or the base image's exact
identity (`diff_image_base`), the Trivy version, the DB's `UpdatedAt`, the `--vex` documents'
digests and everything else that changes what Trivy finds, none of the policy), in
`<cache dir>/diff-base/`. Files are written whole or not at all (a temporary file renamed
into place), at most `MAX_FILES` are kept, and a file that is unreadable, too large, of
another version or key, or malformed in any way is ignored: the base is scanned again. The
cache is trusted as much as the Trivy DB beside it in the same directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scangate.errors import ScangateError
from scangate.findings import Finding, Kind, Location, Severity
from scangate.safe_read import read_bytes

if TYPE_CHECKING:
    from scangate.vex.document import VexFile

SCHEMA = "scangate/diff-base-cache/v1"
CACHE_SUBDIR = "diff-base"
MAX_FILE_BYTES = 64 * 1024 * 1024  # some 250,000 findings
MAX_FILES = 32  # cached bases kept; the oldest go first
_TEXT_MAX = 4096  # characters kept of any text field
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")
_KEY = re.compile(r"^[0-9a-f]{64}$")  # a cache key, and an image finding's matching key
# Trivy's cache files whose contents change what it finds: the vulnerability DBs and the
# misconfiguration checks bundle.
_STAMPS = (
    ("db", "db/metadata.json", "UpdatedAt"),
    ("java-db", "java-db/metadata.json", "UpdatedAt"),
    ("checks", "policy/metadata.json", "Digest"),
)


@dataclass(frozen=True, slots=True)
class BaseFinding:
    """One finding of the base scan, as cached: no secret text, no description."""

    fingerprint: str
    kind: Kind
    id: str
    severity: Severity
    target: str
    package: str | None = None
    title: str = ""
    installed_version: str | None = None
    fixed_version: str | None = None
    purl: str | None = None
    location: Location | None = None
    # A secret whose value was read (its fingerprint hashes the value): only such a secret
    # can make a head secret pre-existing, as only such a secret can be in a baseline.
    value_read: bool = True
    # An image's finding: its key for matching across images (`diff_image.matching_keys`;
    # None: never matches).
    match: str | None = None

    @classmethod
    def of(cls, finding: Finding) -> BaseFinding:
        secret = finding.kind is Kind.SECRET
        return cls(
            fingerprint=finding.fingerprint,
            kind=finding.kind,
            id=finding.id,
            severity=finding.severity,
            target=finding.target,
            package=finding.package,
            title=finding.title,
            installed_version=finding.installed_version,
            fixed_version=finding.fixed_version,
            purl=finding.purl,
            location=finding.location,
            value_read=not secret or finding.secret_digest is not None,
        )

    def to_finding(self) -> Finding:
        """A `Finding` for the gate to decide (would this base finding have failed?): no
        secret text; never to be fingerprinted again."""
        return Finding(
            kind=self.kind,
            id=self.id,
            severity=self.severity,
            target=self.target,
            title=self.title,
            package=self.package,
            installed_version=self.installed_version,
            fixed_version=self.fixed_version,
            purl=self.purl,
            location=self.location,
            fingerprint=self.fingerprint,
            # Only `baselinable` reads it: marks a secret whose value was read.
            secret_digest="" if self.kind is Kind.SECRET and self.value_read else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The `diff.fixed` entry of the JSON result, and the cached form (with `more`)."""
        return {
            "kind": self.kind.value,
            "id": self.id,
            "severity": self.severity.value,
            "target": self.target,
            "package": self.package,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class BaseScan:
    """What the cache keeps of one base scan."""

    commit: str
    tree: str
    findings: tuple[BaseFinding, ...]


# --- the key --------------------------------------------------------------------------------


def cache_key(
    *,
    tree: str,
    trivy_version: str,
    db_updated_at: str | None,
    scanners: Iterable[str],
    skip_dirs: Iterable[str] = (),
    skip_files: Iterable[str] = (),
    trivy_secret_allow_rules: bool = False,
    extra: Mapping[str, str] | None = None,
) -> str:
    """A stable hex key for a base scan: every input that changes what Trivy finds.

    `extra`: anything else that does (`trivy_stamps` gives the DBs' and checks bundle's
    stamps; the scan's other Trivy options). Order of scanners and skip patterns does not
    matter; the schema and the fingerprint scheme are part of the key.
    """
    material = {
        "schema": SCHEMA,
        "tree": tree,
        "trivy": trivy_version,
        "db": db_updated_at or "",
        "scanners": sorted(set(scanners)),
        "skip_dirs": sorted(set(skip_dirs)),
        "skip_files": sorted(set(skip_files)),
        "secret_allow_rules": trivy_secret_allow_rules,
        "extra": sorted((extra or {}).items()),
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def trivy_stamps(cache_dir: Path) -> dict[str, str]:
    """`UpdatedAt` of the vulnerability and Java DBs and the checks bundle's digest in
    Trivy's cache (what is there of them), for `cache_key`'s `extra`."""
    stamps = {}
    for name, rel, field in _STAMPS:
        try:
            data = json.loads(
                read_bytes(
                    cache_dir / rel, label=rel, cap=1 << 20, root=None, option="", what="metadata"
                )
            )
        except (FileNotFoundError, ScangateError, ValueError, RecursionError):
            continue
        value = data.get(field) if isinstance(data, dict) else None
        if isinstance(value, str):
            stamps[name] = value[:200]
    return stamps


def vex_stamps(files: Sequence[VexFile]) -> dict[str, str]:
    """The `--vex` files' SHA-256 digests in the order given, for `cache_key`'s `extra`: the
    base is scanned with them (Trivy moves what they suppress to its modified findings), so
    a cached base scanned with other VEX documents is not used. Nothing without --vex: keys
    stay as they were."""
    if not files:
        return {}
    return {"vex": ",".join(hashlib.sha256(f.data).hexdigest() for f in files)}


# --- load and store -----------------------------------------------------------------------


def _path(cache_dir: Path, key: str) -> Path:
    if not _KEY.match(key):
        raise ValueError(f"not a cache key: {key[:80]!r}")
    return cache_dir / CACHE_SUBDIR / f"{key}.json"


def load(cache_dir: Path, key: str) -> BaseScan | None:
    """The cached base scan for `key`, or None (missing or unusable: scan again)."""
    path = _path(cache_dir, key)
    try:
        data = read_bytes(
            path, label=str(path), cap=MAX_FILE_BYTES, root=path.parent, option="", what="a cache"
        )
        raw = json.loads(data)
        return _parse(raw, key)
    except (FileNotFoundError, ScangateError, ValueError, RecursionError, TypeError, KeyError):
        return None


def _text(value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > _TEXT_MAX:
        raise ValueError("not a short text")
    return value


def _parse(raw: object, key: str) -> BaseScan:
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA or raw.get("key") != key:
        raise ValueError("another schema or key")
    items = raw["findings"]
    if not isinstance(items, list):
        raise ValueError("findings is not a list")
    findings = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a finding is not an object")
        fingerprint = _text(item["fingerprint"]) or ""
        if not _FINGERPRINT.match(fingerprint):
            raise ValueError("not a fingerprint")
        location = item.get("location")
        if location is not None:
            path, start, end = location  # [path, start, end]
            if not all(n is None or (isinstance(n, int) and n >= 0) for n in (start, end)):
                raise ValueError("not a line number")
            location = Location(_text(path) or "", start, end)
        value_read = item.get("value_read", True)
        if not isinstance(value_read, bool):
            raise ValueError("value_read is not a boolean")
        match = _text(item.get("match"), optional=True)
        if match is not None and not _KEY.match(match):
            raise ValueError("not a matching key")
        findings.append(
            BaseFinding(
                fingerprint=fingerprint,
                kind=Kind(item["kind"]),
                id=_text(item["id"]) or "",
                severity=Severity(item["severity"]),
                target=_text(item["target"]) or "",
                package=_text(item.get("package"), optional=True),
                title=_text(item.get("title", "")) or "",
                installed_version=_text(item.get("installed_version"), optional=True),
                fixed_version=_text(item.get("fixed_version"), optional=True),
                purl=_text(item.get("purl"), optional=True),
                location=location,
                value_read=value_read,
                match=match,
            )
        )
    commit, tree = _text(raw["commit"]) or "", _text(raw["tree"]) or ""
    return BaseScan(commit, tree, tuple(findings))


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= _TEXT_MAX else value[:_TEXT_MAX]


def _dump(scan: BaseScan, key: str) -> bytes:
    items = []
    for f in scan.findings:
        item = f.to_json()
        item.update(
            title=_clip(f.title) or "",
            installed_version=_clip(f.installed_version),
            fixed_version=_clip(f.fixed_version),
            purl=_clip(f.purl),
            location=(
                [_clip(f.location.path), f.location.start_line, f.location.end_line]
                if f.location is not None
                else None
            ),
            value_read=f.value_read,
        )
        if f.match is not None:
            item["match"] = f.match
        for name in ("id", "target", "package"):
            item[name] = _clip(item[name])
        items.append(item)
    data = {
        "schema": SCHEMA,
        "key": key,
        "commit": scan.commit,
        "tree": scan.tree,
        "findings": items,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def store(cache_dir: Path, key: str, scan: BaseScan) -> bool:
    """Keep `scan` under `key`; False when it was not kept (too large, or the cache dir is
    not writable: the next run scans the base again). Never raises for an OSError."""
    path = _path(cache_dir, key)
    data = _dump(scan, key)
    if len(data) > MAX_FILE_BYTES:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError:
        return False
    _prune(path.parent, keep=path)
    return True


def _prune(directory: Path, *, keep: Path) -> None:
    """Remove the oldest cached bases beyond MAX_FILES (and stale temporary files)."""
    try:
        entries = [
            (e.stat(follow_symlinks=False).st_mtime, Path(e.path)) for e in os.scandir(directory)
        ]
    except OSError:
        return
    files = sorted((e for e in entries if e[1].suffix == ".json" and e[1] != keep), reverse=True)
    for _, old in files[MAX_FILES - 1 :]:
        with contextlib.suppress(OSError):
            old.unlink()


# --- the comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Head findings against the base: by fingerprint."""

    pre_existing: frozenset[str]  # head fingerprints the base has too
    new: tuple[str, ...]  # head fingerprints the base lacks, in head order
    fixed: tuple[BaseFinding, ...]  # base findings head lacks, in base order


def compare(head: Sequence[Finding], base: Sequence[BaseFinding]) -> Comparison:
    """Which head findings were at the base, which are new, which base findings are gone.

    A secret counts as pre-existing only when both sides read its value (a fingerprint of
    Trivy's masked line is the same for every token at that place): otherwise it is new,
    as it is never in a baseline either.
    """
    matchable = {b.fingerprint for b in base if b.value_read}
    pre: set[str] = set()
    new: list[str] = []
    for finding in head:
        if finding.baselinable and finding.fingerprint in matchable:
            pre.add(finding.fingerprint)
        else:
            new.append(finding.fingerprint)
    at_head = {f.fingerprint for f in head}
    fixed = tuple(b for b in base if b.fingerprint not in at_head)
    return Comparison(frozenset(pre), tuple(new), fixed)
