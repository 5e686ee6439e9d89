"""Reading scangate's table back from a command's output (which may hold other lines: git's,
pre-commit's, the stop-commands block): its rows under each target heading."""

from __future__ import annotations

import re

# "<target>: 2 secrets, 1 misconfiguration" above a header line starting with "Severity".
_HEADING = re.compile(
    r"(?P<target>.*): (?P<what>\d+ (?:vulnerabilit|misconfiguration|secret|license)[a-z]*"
    r"(?:, \d+ [a-z]+)*)"
)
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def groups(text: str) -> list[tuple[str, str, list[list[str]]]]:
    """(target, what the heading counts, rows) for each target's table; a row is its cells."""
    lines = _SGR.sub("", text).replace("\r\n", "\n").split("\n")
    found: list[tuple[str, str, list[list[str]]]] = []
    for i, line in enumerate(lines[:-1]):
        heading = _HEADING.fullmatch(line)
        if heading is None or not lines[i + 1].startswith("Severity  "):
            continue
        rows = []
        for row in lines[i + 3 :]:
            if not row.strip():
                break
            rows.append(re.split(r" {2,}", row.strip()))
        found.append((heading["target"], heading["what"], rows))
    return found


def shows(text: str, target: str | None, *cells: str, kind: str | None = None) -> bool:
    """Whether a row under `target` (any target for None) holds every one of `cells`, and
    its target holds findings of `kind` ("secret", "misconfiguration"...)."""
    for name, what, rows in groups(text):
        if target is not None and name != target:
            continue
        # "1 vulnerability" and "2 vulnerabilities"; other nouns just add "s".
        if kind is not None and not re.search(rf"\d+ {kind.removesuffix('y')}", what):
            continue
        if any(all(cell in row for cell in cells) for row in rows):
            return True
    return False
