"""Glob patterns as scangate and Trivy read them: allow-entry targets and packages, and the
`--skip-dirs` / `--skip-files` globs scangate maps onto its extra secret runs."""

from __future__ import annotations

import re


def glob_to_regex(pattern: str, *, path: bool = True) -> re.Pattern[str]:
    """A regex for the whole of `pattern`: `**` spans path segments, `*`, `?` and `[...]`
    stay within one (anywhere, with `path=False`, for names that are not paths)."""
    one = "[^/]" if path else "."
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(one + "*")
            i += 1
        elif pattern[i] == "?":
            out.append(one)
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            chars = re.sub(r"([\\^\[\]])", r"\\\1", body[negate:])  # ranges (a-z) stay
            out.append("[" + (("^/" if path else "^") if negate else "") + chars + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")
