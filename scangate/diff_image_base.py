"""The base image of `scan image --diff-base-image/--diff-base-input` in the base-scan cache.

The base's scan is kept as `diff_cache.BaseScan`, each finding with its key for matching
across images (`diff_image.matching_keys`), and cached like a `--diff-base` tree's: under
`diff_cache.cache_key` with what identifies the base image exactly in place of the tree.
That is the content digest of an archive (sha256 of the file) or of an OCI layout (sha256
of every file's path and digest), or the manifest digest a reference pins
(`app@sha256:...`). A tag can move to another image, so a base named by tag alone is
scanned on every run: pin it by digest to have it cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scangate.diff_cache import BaseFinding, BaseScan, Comparison
from scangate.diff_image import matching_keys

if TYPE_CHECKING:
    from scangate.findings import ScanRun
    from scangate.trivy_run import Target

# A reference pinned by digest: `[registry/]repository@sha256:<64 hex>` (OCI image spec).
_PINNED = re.compile(r"@(sha256:[0-9a-f]{64})$")


def identity(target: Target) -> str | None:
    """What identifies the base image exactly, or None (a tag: not cached). Reads the whole
    archive or layout."""
    if target.archive:
        path = Path(target.ref)
        if path.is_dir():
            return f"oci-layout:sha256:{_layout_digest(path)}"
        if not path.is_file():
            return None  # a device or a FIFO: nothing to read to its end, so never cached
        with path.open("rb") as archive:
            return f"archive:sha256:{hashlib.file_digest(archive, 'sha256').hexdigest()}"
    pinned = _PINNED.search(target.ref)
    return f"manifest:{pinned.group(1)}" if pinned else None


def _layout_digest(root: Path) -> str:
    """sha256 over each file's relative path and content digest, in sorted order: any change
    to the layout changes it. A link to a file counts as that file's content (Trivy reads
    through it); any other link, as its target's name."""
    total = hashlib.sha256()
    for top, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if Path(top, d).is_symlink()]):
            path = Path(top, name)
            rel = path.relative_to(root).as_posix()
            if path.is_file():
                with path.open("rb") as handle:
                    part = f"file:{hashlib.file_digest(handle, 'sha256').hexdigest()}"
            elif path.is_symlink():
                part = f"link:{path.readlink()}"
            else:
                part = "other"  # a socket or a FIFO: nothing Trivy reads
            total.update(f"{len(rel)}:{rel}\0{part}\0".encode())
    return total.hexdigest()


def base_scan(run: ScanRun, ident: str) -> BaseScan:
    """What the cache keeps of the base image's run: the image ID, its identity, and its
    findings with their matching keys."""
    findings = tuple(
        dataclasses.replace(BaseFinding.of(f), match=key)
        for f, key in zip(run.findings, matching_keys(run), strict=True)
    )
    return BaseScan(run.artifact.image_id or "", ident, findings)


def compare(head: Sequence[ScanRun], base: Sequence[BaseFinding]) -> Comparison:
    """Head findings (of one or more runs) against the base image's, by matching key: the
    pre-existing, the new, and the base findings the head lacks (of those that can be matched
    at all: a secret whose value was not read cannot be told from another)."""
    at_base = {b.match for b in base if b.match is not None}
    pre: set[str] = set()
    new: list[str] = []
    at_head: set[str] = set()
    for run in head:
        for finding, key in zip(run.findings, matching_keys(run), strict=True):
            if key is not None:
                at_head.add(key)
            if key is not None and key in at_base:
                pre.add(finding.fingerprint)
            else:
                new.append(finding.fingerprint)
    fixed = tuple(b for b in base if b.match is not None and b.match not in at_head)
    return Comparison(frozenset(pre), tuple(new), fixed)
