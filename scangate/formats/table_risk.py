"""The table's issue 11 parts: the KEV and EPSS columns (shown only when a finding of the
target has them, so a table without either is as before) and the notes under the tables
naming each KEV entry's dates and each finding in its grace period.

Report text is escaped (`escape.plain`) and capped as in the rest of the table; the KEV
dates and the EPSS score are typed values, formatted here.
"""

from __future__ import annotations

from scangate.formats._common import epss_text, kev_text
from scangate.formats.escape import plain
from scangate.formats.table_layout import Column
from scangate.gate import Decided, Decision

MAX_CELL = 200  # as the table's cells and lines
MAX_LINE = 500
KEV_COLOUR = "1;31"  # known exploited: as loud as CRITICAL, whatever the finding's severity
EPSS_FAIL_COLOUR = "31"  # at or above the policy's epss fail-at
KEV_MARK = "KEV"
# Notes naming KEV entries and grace findings: a few, then a count (the JSON lists them all).
MAX_NOTES = 10


def risk_columns(group: list[Decided], fail_at: float | None) -> list[Column]:
    """KEV (a mark for a CVE in CISA's catalog) and EPSS (the score), each only when a
    finding of the group has it: a table without either is the table before issue 11. They
    are short and never shortened before the rest (rank 4, as the decision)."""
    columns = []
    if any(d.finding.kev is not None for d in group):
        marks = [KEV_MARK if d.finding.kev is not None else "" for d in group]
        kev = Column("KEV", marks, rank=4)
        kev.colours = [KEV_COLOUR if mark else None for mark in marks]
        columns.append(kev)
    scores = [d.finding.epss for d in group]
    if any(score is not None for score in scores):
        texts = [plain(epss_text(s), MAX_CELL) if s is not None else "" for s in scores]
        epss = Column("EPSS", texts, rank=4)
        epss.colours = [
            EPSS_FAIL_COLOUR if s is not None and fail_at is not None and s >= fail_at else None
            for s in scores
        ]
        columns.append(epss)
    return columns


def risk_lines(shown: list[Decided]) -> list[str]:
    """Under the tables: each known exploited vulnerability's KEV entry (its dates, and
    ransomware use), and what the EPSS column is, when one is shown."""
    entries: dict[str, str] = {}
    for d in shown:  # KEV first: the first `MAX_NOTES` are the ones shown
        f = d.finding
        if f.kev is None:
            break
        # Typed dates and a flag, but escaped as any text is on this channel.
        entries.setdefault(plain(f.id, MAX_CELL), plain(kev_text(f.kev), MAX_LINE))
    lines = [
        f"known exploited (CISA KEV): {ident}: {text}"
        for ident, text in list(entries.items())[:MAX_NOTES]
    ]
    if len(entries) > MAX_NOTES:
        lines.append(
            f"known exploited (CISA KEV): {len(entries) - MAX_NOTES} more "
            "(--format json lists them)"
        )
    if any(d.finding.epss is not None for d in shown):
        lines.append("EPSS: FIRST's probability that the CVE is exploited in the next 30 days")
    return lines


def grace_lines(shown: list[Decided]) -> list[str]:
    """A finding in its grace period and the reason, which names the day it starts failing."""
    grace = [d for d in shown if d.decision is Decision.GRACE]
    lines = [
        f"grace: {plain(d.finding.id, MAX_CELL)} in {plain(d.finding.target, MAX_CELL)}: "
        f"{plain(d.reason, MAX_LINE)}"
        for d in grace[:MAX_NOTES]
    ]
    if len(grace) > MAX_NOTES:
        lines.append(f"grace: {len(grace) - MAX_NOTES} more (--format json lists them)")
    return lines
