"""FIRST's daily EPSS scores, read strictly.

The file is a gzip CSV: a `#model_version:...,score_date:...` comment line, the header
`cve,epss,percentile`, then one row per CVE. Every row is checked (a CVE ID, two
probabilities 0..1); a plain (not gzip) copy must end with a newline, so a file cut short
is caught as gzip's own check catches a cut gzip.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime

from scangate.feeds import FeedError

_CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")
_META = re.compile(r"#model_version:([^,\s]+),score_date:(\S+)")
HEADER = "cve,epss,percentile"
# The file inflates to about 10 MB today: a cap well above it.
MAX_TEXT = 128 << 20
FIX = "give --epss-file PATH (a copy of FIRST's daily file) or point --epss-url at a good mirror"


@dataclass(frozen=True, slots=True)
class EpssScores:
    model_version: str
    day: date  # score_date
    scores: dict[str, float]


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(data: bytes, source: str) -> str:
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, source)
    elif not data.endswith(b"\n"):
        raise FeedError(f"EPSS feed {source}: truncated (the last line has no newline): {FIX}")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FeedError(
            f"EPSS feed {source}: a byte that is not ASCII at offset {exc.start}: "
            f"not FIRST's CSV: {FIX}"
        ) from None


def _gunzip(data: bytes, source: str) -> bytes:
    # Bounded: a small file that inflates to gigabytes is refused, not expanded.
    stream = zlib.decompressobj(wbits=31)
    try:
        out = stream.decompress(data, MAX_TEXT)
    except zlib.error as exc:
        raise FeedError(f"EPSS feed {source}: corrupt gzip ({exc}): {FIX}") from None
    if stream.unconsumed_tail:
        raise FeedError(f"EPSS feed {source}: inflates past {MAX_TEXT >> 20} MB: not FIRST's file")
    if not stream.eof:
        raise FeedError(f"EPSS feed {source}: truncated (the gzip stream ends early): {FIX}")
    return out


def parse(data: bytes, source: str) -> EpssScores:
    """The scores in `data` (gzip or plain CSV from `source`, named in errors), or a
    `FeedError`."""
    lines = _text(data, source).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    meta = _META.fullmatch(lines[0].rstrip("\r")) if lines else None
    if meta is None:
        first = lines[0] if lines else ""
        raise FeedError(
            f"EPSS feed {source}: the first line is {_show(first)}, not "
            f"#model_version:...,score_date:...: {FIX}"
        )
    try:
        day = datetime.fromisoformat(meta.group(2)).date()
    except ValueError:
        raise FeedError(
            f"EPSS feed {source}: score_date {_show(meta.group(2))} is not a date: {FIX}"
        ) from None
    if len(lines) < 2 or lines[1].rstrip("\r") != HEADER:
        header = lines[1] if len(lines) > 1 else ""
        raise FeedError(f"EPSS feed {source}: the header is {_show(header)}, not {HEADER}: {FIX}")
    scores = _rows(lines, source)
    if not scores:
        raise FeedError(f"EPSS feed {source}: no scores in it: {FIX}")
    return EpssScores(model_version=meta.group(1), day=day, scores=scores)


def _rows(lines: list[str], source: str) -> dict[str, float]:
    # About 300,000 rows a day: one split, one match and two float() calls a row.
    scores: dict[str, float] = {}
    match = _CVE_ID.fullmatch
    for n in range(2, len(lines)):
        line = lines[n]
        try:
            cve, score_text, pct_text = line.rstrip("\r").split(",")
            score, pct = float(score_text), float(pct_text)
        except ValueError:
            raise FeedError(
                f"EPSS feed {source}: line {n + 1} is {_show(line)}, not cve,epss,percentile: {FIX}"
            ) from None
        # `not (0 <= x <= 1)` also refuses NaN.
        if match(cve) is None or not (0.0 <= score <= 1.0) or not (0.0 <= pct <= 1.0):
            raise FeedError(
                f"EPSS feed {source}: line {n + 1} is {_show(line)}: a CVE ID and two "
                f"probabilities 0..1 expected: {FIX}"
            )
        scores[cve] = score
    return scores
