"""`--skip-dirs` / `--skip-files` for a scan of a copy of the scanned tree (the `--diff-base`
base written out, the shadow tree of `inline_ignores`).

Trivy reads an absolute pattern relative to the directory it scans: `--skip-dirs
/repo/vendor` on a scan of `/repo` skips `vendor`, and one outside it is used as it is,
so it matches nothing. On a scan of a copy that pattern points back into the original, so the
copy's `vendor` would be scanned: the base would report findings the head skipped (shown as
fixed). So an absolute pattern is given to the copy's scan the way Trivy takes it for the
original: relative to the scanned root when it is under it, dropped when it is not. Relative
patterns are already read relative to any scanned root (Trivy runs in an empty directory).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence


def for_copy(patterns: Sequence[str], root: str) -> tuple[str, ...]:
    """`patterns` as a scan of `root` applies them, for a scan of a copy of `root`."""
    out = []
    for pattern in patterns:
        if not posixpath.isabs(pattern):
            out.append(pattern)
            continue
        # Trivy: filepath.Rel(Abs(root), Clean(pattern)), no symbolic link resolved.
        rel = posixpath.relpath(posixpath.normpath(pattern), posixpath.normpath(root))
        if rel != ".." and not rel.startswith("../"):
            out.append(rel)
    return tuple(out)
