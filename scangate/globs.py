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
            # Ranges (a-z) stay; "&", "~", "|" and "--" are literal, escaped as the set
            # operations Python warns it may read them as one day (a FutureWarning on stderr).
            chars = re.sub(r"([\\^\[\]&~|])", r"\\\1", body[negate:]).replace("--", "-\\-")
            cls = "[" + (("^/" if path else "^") if negate else "") + chars + "]"
            try:
                re.compile(cls)
            except re.error:  # `[z-a]`: as for Go's filepath.Match, a bad class matches nothing
                cls = "(?!)"
            out.append(cls)
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")
