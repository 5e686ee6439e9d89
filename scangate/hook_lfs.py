"""Git LFS content for the hooks: a file version that is an LFS pointer is scanned as the
object it points to.

git-lfs commits a small pointer (`version https://git-lfs.github.com/spec/v1`, `oid
sha256:<hex>`, `size <bytes>`) in place of a tracked file, keeps the content in its local
store, and its pre-push uploads the content of every pointer a push carries to the remote's
LFS storage. Scanning the pointer alone would let a token in an LFS-tracked file through, so
each materialized pointer is replaced by its object from the local store
(`<git common dir>/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>`, or under `lfs.storage`), after
checking the object's SHA-256 and size against the pointer. Spec:
https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scangate.errors import ScannerError
from scangate.hook import Repo, run_git

POINTER_MAX = 1024
"""A pointer is smaller than this (the spec); a larger blob is content."""
MAX_OBJECT = 256 * 1024 * 1024
"""Bytes of one LFS object the hooks scan; a larger one is skipped with a note."""
MAX_TOTAL = 1024 * 1024 * 1024
"""Bytes of LFS objects one hook run copies for scanning; the rest are skipped with a note."""

# The spec's version line, and the alias git-lfs still reads (its pre-1.0 name).
_VERSIONS = (
    b"version https://git-lfs.github.com/spec/v1\n",
    b"version https://hawser.github.com/spec/v1\n",
)
_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.MULTILINE)
_SIZE = re.compile(rb"^size (0|[1-9][0-9]{0,18})$", re.MULTILINE)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Pointer:
    oid: str  # SHA-256 of the content, lowercase hex
    size: int


def parse_pointer(data: bytes) -> Pointer | None:
    """The pointer `data` holds, or None when it is not one (git-lfs uploads nothing then)."""
    if len(data) >= POINTER_MAX or not data.startswith(_VERSIONS):
        return None
    oid, size = _OID.search(data), _SIZE.search(data)
    if oid is None or size is None:
        return None
    return Pointer(oid[1].decode(), int(size[1]))


@dataclass
class Swapped:
    """What `swap_in_objects` did: the pointer files that became their content, and notes on
    the ones that stayed pointers (no object here, or too large)."""

    files: set[Path] = field(default_factory=set)  # now holding their objects' content
    notes: list[str] = field(default_factory=list)


def lfs_objects_dir(repo: Repo, env: Mapping[str, str]) -> Path:
    """Where git-lfs keeps this repository's objects: `lfs.storage` (relative to the git
    common directory) when set, else `<git common dir>/lfs`, then `objects`."""
    common = Path(run_git(["rev-parse", "--git-common-dir"], repo.root, env).strip())
    common = common if common.is_absolute() else repo.root / common
    # `--default ""`: exit 0 when unset (a plain --get exits 1).
    storage = run_git(["config", "--default", "", "--get", "lfs.storage"], repo.root, env).strip()
    base = common / Path(storage).expanduser() if storage else common / "lfs"
    return base / "objects"


def swap_in_objects(
    repo: Repo, files: Sequence[tuple[str, Path]], *, env: Mapping[str, str]
) -> Swapped:
    """Replace each materialized file (repository path, file) that is an LFS pointer by its
    object's content. An object whose hash or size differs from its pointer is a
    ScannerError: the store is corrupt, and what would be uploaded cannot be known."""
    done = Swapped()
    notes = done.notes
    store: Path | None = None
    budget = MAX_TOTAL
    for name, file in files:
        try:
            if file.stat().st_size >= POINTER_MAX:
                continue
            pointer = parse_pointer(file.read_bytes())
        except OSError:
            continue
        if pointer is None:
            continue
        shown = name  # messages are escaped where they are printed
        store = store or lfs_objects_dir(repo, env)
        source = store / pointer.oid[:2] / pointer.oid[2:4] / pointer.oid
        if not source.is_file():
            notes.append(
                f"{shown}: a Git LFS pointer to sha256:{pointer.oid[:12]}, whose object is not in "
                f"{store}: only the pointer was scanned (git-lfs cannot upload it "
                "either; `git lfs fetch` brings it)"
            )
            continue
        if pointer.size > MAX_OBJECT or pointer.size > budget:
            cap = "the cap per object" if pointer.size > MAX_OBJECT else "the cap per run"
            notes.append(
                f"{shown}: its Git LFS object (sha256:{pointer.oid[:12]}, {pointer.size} bytes) "
                f"is above {cap} ({MAX_OBJECT if pointer.size > MAX_OBJECT else MAX_TOTAL} "
                "bytes) and was not scanned; only the pointer was"
            )
            continue
        _copy_verified(source, file, pointer, shown)
        budget -= pointer.size
        done.files.add(file)
    return done


def _copy_verified(source: Path, dest: Path, pointer: Pointer, shown: str) -> None:
    """Write the object over the pointer file, reading at most one byte past its size."""
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            while size <= pointer.size:
                chunk = src.read(min(_CHUNK, pointer.size + 1 - size))
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ScannerError(
            f"{shown}: cannot read its Git LFS object {source}: {exc.strerror or exc}"
        ) from None
    if size != pointer.size or digest.hexdigest() != pointer.oid:
        raise ScannerError(
            f"{shown}: the Git LFS object {source} does not match its pointer "
            f"(sha256:{pointer.oid[:12]}, {pointer.size} bytes): the local LFS store is "
            "damaged; `git lfs fsck` checks it"
        )
