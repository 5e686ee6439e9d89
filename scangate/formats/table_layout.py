"""Laying out text for a terminal: display width, shortening with an ellipsis, fitting table
columns into a width, wrapping a line without cutting it, and scangate's own colour codes.

Everything here works on text that is already escaped (`escape.plain`): no control or
format character is left, so a character's width is 0 (a combining mark), 2 (East Asian
wide or fullwidth) or 1. Colour codes are added last, around whole cells or lines, so
they are never counted, shortened or split.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

ELLIPSIS = "…"
GAP = "  "  # between two columns, as tabulate's "plain" format puts them


def char_width(char: str) -> int:
    if unicodedata.combining(char) or "\u1160" <= char <= "\u11ff":  # Hangul medial jamo
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def display_width(text: str) -> int:
    """The columns `text` takes on a terminal (what wcwidth's `wcswidth` counts)."""
    if text.isascii():
        return len(text)
    return sum(map(char_width, text))


def _prefix(text: str, width: int) -> str:
    """The longest start of `text` that takes at most `width` columns."""
    if text.isascii():
        return text[: max(0, width)]
    used = 0
    for i, char in enumerate(text):
        used += char_width(char)
        if used > width:
            return text[:i]
    return text


def _suffix(text: str, width: int) -> str:
    """The longest end of `text` that takes at most `width` columns."""
    if text.isascii():
        return text[len(text) - max(0, width) :]
    used = 0
    for i in range(len(text) - 1, -1, -1):
        used += char_width(text[i])
        if used > width:
            return text[i + 1 :]
    return text


def shorten(text: str, width: int, *, keep_end: bool = False, ellipsis: str = ELLIPSIS) -> str:
    """`text` in at most `width` columns, the cut marked with `ellipsis`: its start kept, or
    with `keep_end` its end (a path's file name and line)."""
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    if room < 1:
        return _prefix(ellipsis, width)
    return ellipsis + _suffix(text, room) if keep_end else _prefix(text, room) + ellipsis


def pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def wrap(line: str, width: int, indent: str = "  ") -> list[str]:
    """`line` as lines of at most `width` columns, broken at spaces (a word wider than a
    line is split), the later ones indented: nothing is cut."""
    if display_width(line) <= width:
        return [line]
    width = max(width, len(indent) + 8)  # each line then takes at least one more character
    lines: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if display_width(candidate) <= width:
            current = candidate
            continue
        if current.strip():
            lines.append(current)
            current = indent
        candidate = current + word
        while display_width(candidate) > width:
            head = _prefix(candidate, width)
            lines.append(head)
            candidate = indent + candidate[len(head) :]
        current = candidate
    if current.strip():
        lines.append(current)
    return lines


@dataclass(slots=True, eq=False)
class Column:
    header: str
    cells: list[str]
    widths: list[int] = field(init=False)  # each cell's display width
    # How the column gives way when the row is too wide: first down to `soft` columns (in
    # the order of `rank`, lowest first; None: it stays whole); then columns with a `drop`
    # are left out, lowest first (a column of ellipses says nothing); then the rest down to
    # one column each.
    soft: int | None = None
    rank: int = 0
    drop: int | None = None
    keep_end: bool = False
    width: int = 0
    # Each cell's own colour, when the column has colours of its own (KEV, EPSS).
    colours: list[str | None] | None = None

    def __post_init__(self) -> None:
        self.widths = [display_width(cell) for cell in self.cells]


def fit(columns: Sequence[Column], width: int | None) -> list[Column]:
    """The columns to show, each with its width: its widest cell (header included), then,
    when the columns and their gaps take more than `width`, narrower by rank."""
    for col in columns:
        col.width = max(display_width(col.header), max(col.widths, default=0))
    natural = {id(col): col.width for col in columns}
    if width is None:
        return list(columns)
    shown = list(columns)
    excess = sum(c.width for c in shown) + len(GAP) * (len(shown) - 1) - width
    ordered = sorted(shown, key=lambda c: c.rank)
    for col in ordered:
        floor = col.width if col.soft is None else min(col.width, col.soft)
        give = min(max(excess, 0), col.width - floor)
        col.width -= give
        excess -= give
    for col in sorted((c for c in columns if c.drop is not None), key=lambda c: c.drop or 0):
        if excess > 0:
            shown.remove(col)
            excess -= col.width + len(GAP)
    for col in reversed(ordered):  # room a left-out column freed goes back to the others
        if col in shown and excess < 0:
            grow = min(-excess, natural[id(col)] - col.width)
            col.width += grow
            excess += grow
    for col in ordered:
        if col in shown and excess > 0:
            give = min(excess, col.width - 1)
            col.width -= give
            excess -= give
    return shown


@dataclass(frozen=True, slots=True)
class Style:
    """scangate's own SGR colour codes, or none."""

    enabled: bool = False

    def paint(self, text: str, code: str | None) -> str:
        if not self.enabled or not code or not text:
            return text
        return f"\x1b[{code}m{text}\x1b[0m"
