"""CISA's Known Exploited Vulnerabilities catalog, read strictly.

The catalog is one JSON object: `catalogVersion`, `dateReleased`, `count` and
`vulnerabilities[]`, each with `cveID`, `dateAdded`, `dueDate`,
`knownRansomwareCampaignUse` and descriptive text. Only the typed facts are kept (the CVE
ID, checked against the CVE pattern, two dates and a flag): none of the catalog's free text
reaches an output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from scangate.feeds import FeedError
from scangate.findings import KevEntry

CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# `knownRansomwareCampaignUse` takes these two values in CISA's schema.
_RANSOMWARE = {"Known": True, "Unknown": False}
FIX = "give --kev-file PATH (a copy of CISA's catalog) or point --kev-url at a good mirror"


@dataclass(frozen=True, slots=True)
class KevCatalog:
    version: str
    day: date  # dateReleased
    entries: dict[str, KevEntry]


def _show(value: object) -> str:
    # A value quoted in an error message: short, and escaped again where it is printed.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _date(value: object, where: str, source: str) -> date:
    # Only CISA's YYYY-MM-DD: Python also reads 20240110 and 2024-W02-3 as dates.
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise FeedError(f"KEV feed {source}: {where} is {_show(value)}, not a YYYY-MM-DD date: {FIX}")


def parse(data: bytes, source: str) -> KevCatalog:
    """The catalog in `data` (from `source`, named in errors), or a `FeedError`."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting thousands deep
        # A catalog cut short no longer ends with its closing brace.
        cut = not isinstance(exc, UnicodeDecodeError) and not data.rstrip().endswith(b"}")
        problem = "truncated" if cut else "not JSON"
        raise FeedError(f"KEV feed {source}: {problem} ({exc.__class__.__name__}): {FIX}") from None
    if not isinstance(doc, dict):
        raise FeedError(f"KEV feed {source}: not a JSON object: {FIX}")
    version = doc.get("catalogVersion")
    if not isinstance(version, str) or not version:
        raise FeedError(f"KEV feed {source}: no catalogVersion: {FIX}")
    released = doc.get("dateReleased")
    try:
        day = datetime.fromisoformat(released).date() if isinstance(released, str) else None
    except ValueError:
        day = None
    if day is None:
        raise FeedError(
            f"KEV feed {source}: dateReleased is {_show(released)}, not a date and time: {FIX}"
        )
    vulns = doc.get("vulnerabilities")
    count = doc.get("count")
    if not isinstance(vulns, list):
        raise FeedError(f"KEV feed {source}: no vulnerabilities list: {FIX}")
    if not isinstance(count, int) or isinstance(count, bool) or count != len(vulns):
        raise FeedError(
            f"KEV feed {source}: count is {_show(count)} but the catalog lists "
            f"{len(vulns)} vulnerabilities (cut short or altered): {FIX}"
        )
    if not vulns:
        # No real catalog is empty: reading one would quietly mark nothing as exploited.
        raise FeedError(f"KEV feed {source}: lists no vulnerabilities: {FIX}")
    entries: dict[str, KevEntry] = {}
    for n, vuln in enumerate(vulns):
        entries.update([_entry(vuln, n, source)])
    return KevCatalog(version=version, day=day, entries=entries)


def _entry(vuln: object, n: int, source: str) -> tuple[str, KevEntry]:
    where = f"vulnerabilities[{n}]"
    if not isinstance(vuln, dict):
        raise FeedError(f"KEV feed {source}: {where} is not an object: {FIX}")
    cve = vuln.get("cveID")
    if not isinstance(cve, str) or not CVE_ID.fullmatch(cve):
        raise FeedError(f"KEV feed {source}: {where}.cveID is {_show(cve)}, not a CVE ID: {FIX}")
    added = _date(vuln.get("dateAdded"), f"{where}.dateAdded", source)
    due_value = vuln.get("dueDate")
    due = None if due_value in (None, "") else _date(due_value, f"{where}.dueDate", source)
    use = vuln.get("knownRansomwareCampaignUse")
    ransomware = _RANSOMWARE.get(use) if isinstance(use, str) else None
    if ransomware is None:
        raise FeedError(
            f"KEV feed {source}: {where}.knownRansomwareCampaignUse is "
            f"{_show(use)}, not Known or Unknown: {FIX}"
        )
    return cve, KevEntry(date_added=added, due_date=due, ransomware=ransomware)
