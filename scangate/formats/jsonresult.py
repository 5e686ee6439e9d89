"""The versioned JSON result (`scangate/result/v1`) for machines: CI steps, dashboards."""

from __future__ import annotations

import json
from datetime import date
from json.encoder import encode_basestring
from typing import Any

from scangate import __version__
from scangate.findings import Finding, KevEntry, Location, VexNote
from scangate.formats.escape import json_text
from scangate.formats.plan_json import remediation_json
from scangate.gate import Decided, Decision, DiffResult, EntryStatus, GateResult
from scangate.remediation import plan_of

SCHEMA = "scangate/result/v1"


class JsonFormat:
    def render(self, result: GateResult) -> str:
        """Indented at the top, one finding per line below: readable, diffable, and fast
        (each finding line written from a template: `_finding_lines`)."""
        document = result_document(result, findings=False)
        del document["findings"]
        # The fix plan, always (`scangate.remediation`): upgrades, unfixable packages,
        # whether the gate would then pass.
        remediation = remediation_json(plan_of(result))
        head = json.dumps(document, indent=2, ensure_ascii=False)
        lines = _finding_lines(result)
        body = f'"findings": [\n    {_BETWEEN.join(lines)}\n  ]' if lines else '"findings": []'
        # Same JSON to a reader; nothing a terminal or a job log would act on (`##[`, bidi
        # and C1 controls as \u escapes), and no lone surrogate to fail on writing.
        return json_text(f"{head[:-2]},\n  {remediation},\n  {body}\n}}\n")


_BETWEEN = ",\n    "
# Every finding object opens with this key (`_finding`), and nothing else in the list does.
_FINDING_START = '{"kind": '


def _one_per_line(findings: list[dict[str, Any]]) -> str:
    """The findings as JSON objects separated by ",\\n    ", encoded in one call (one call
    per finding cost more than the encoding itself).

    The list is encoded as `[{...}, {...}]`; `, {"kind": ` occurs in it only between two
    findings: `{"` is structure wherever it occurs (inside a string a quote is escaped, and
    a closing quote is never followed by `kind`), and only a finding opens with "kind"."""
    text = json.dumps(findings, ensure_ascii=False, check_circular=False)
    return text[1:-1].replace(f", {_FINDING_START}", f",\n    {_FINDING_START}")


def result_document(result: GateResult, *, findings: bool = True) -> dict[str, Any]:
    """The result as data; without `findings`, its "findings" list is left empty."""
    s = result.summary
    return {
        "schema": SCHEMA,
        "scangate_version": __version__,
        "verdict": result.verdict.value,
        "evaluated_on": result.today.isoformat(),
        "policy": {"name": result.policy.name, "sources": list(result.policy.sources)},
        "artifacts": [
            {
                "name": r.run.artifact.name,
                "type": r.run.artifact.type,
                "trivy_version": r.run.artifact.trivy_version,
                "image_id": r.run.artifact.image_id,
                "os": r.run.artifact.os,
                "eosl": r.run.artifact.eosl,
            }
            for r in result.runs
        ],
        "summary": {
            "total": s.total,
            "failing": s.failing,
            "allowed": s.allowed,
            "by_decision": s.by_decision,
            "by_kind": s.by_kind_severity,
            # With a baseline: failing findings it does not hold, and those it does.
            **(
                {"new": s.failing, "known": s.by_decision.get(Decision.KNOWN.value, 0)}
                if result.baseline
                else {}
            ),
        },
        "baseline": (
            {
                "path": result.baseline.path,
                "known": s.by_decision.get(Decision.KNOWN.value, 0),
                "new": s.failing,
                "fixed": [
                    {"fingerprint": e.fingerprint, "kind": e.kind, "id": e.id, "target": e.target}
                    for e in result.baseline_fixed
                ],
            }
            if result.baseline
            else None
        ),
        # Only with --diff-base: the document is unchanged without it.
        **({"diff": _diff(result.diff)} if result.diff is not None else {}),
        "findings": _findings(result) if findings else [],
        "allowlist": {
            "expired": [_entry(e) for e in result.allowlist.expired],
            "expiring": [_entry(e) for e in result.allowlist.expiring],
            "unused": [_entry(e) for e in result.allowlist.unused],
        },
    }


def _diff(diff: DiffResult) -> dict[str, Any]:
    return {
        "base": diff.base,
        "ref": diff.ref,
        "new": diff.new,
        "pre_existing": diff.pre_existing,
        "fixed": [
            {
                "kind": f.kind,
                "id": f.id,
                "severity": f.severity,
                "target": f.target,
                "package": f.package,
                "fingerprint": f.fingerprint,
            }
            for f in (d.finding for d in diff.fixed)
        ],
    }


def _findings(result: GateResult) -> list[dict[str, Any]]:
    # Dates as ISO text, each distinct date formatted once: a report's 100,000 findings
    # share a few thousand published dates.
    dates: dict[date, str] = {}
    return [_finding(d, r.run.artifact.name, dates) for r in result.runs for d in r.decided]


def _iso(day: date, dates: dict[date, str]) -> str:
    text = dates.get(day)
    if text is None:
        text = dates[day] = day.isoformat()
    return text


def _kev(kev: KevEntry, dates: dict[date, str]) -> dict[str, Any]:
    """CISA's catalog entry: `dateAdded`, `dueDate` and whether `knownRansomwareCampaignUse`
    is `Known`, under the result's snake_case names."""
    return {
        "date_added": _iso(kev.date_added, dates),
        "due_date": _iso(kev.due_date, dates) if kev.due_date else None,
        "ransomware": kev.ransomware,
    }


def _finding(d: Decided, artifact: str, dates: dict[date, str]) -> dict[str, Any]:
    f: Finding = d.finding
    loc = f.location
    published = f.published
    kev = f.kev
    # The enums are given as they are: each is a str, encoded as its value.
    return {
        "kind": f.kind,
        "id": f.id,
        "severity": f.severity,
        "artifact": artifact,
        "target": f.target,
        "title": f.title,
        "message": f.message,
        "package": f.package,
        "installed_version": f.installed_version,
        "fixed_version": f.fixed_version,
        "purl": f.purl,
        "status": f.status,
        "primary_url": f.primary_url,
        # Issue 11: null when Trivy gave no date, or the feed does not hold (or was not
        # asked about) the CVE.
        "published": dates.get(published) or _iso(published, dates) if published else None,
        "kev": _kev(kev, dates) if kev is not None else None,
        "epss": f.epss,
        "location": (
            {"path": loc.path, "start_line": loc.start_line, "end_line": loc.end_line}
            if loc
            else None
        ),
        "fingerprint": f.fingerprint,
        "decision": d.decision,
        "reason": d.reason,
        # The VEX statement about it (`--vex`, or the VEX the report's Trivy was given).
        "vex": _vex(f.vex) if f.vex is not None else None,
    }


def _finding_lines(result: GateResult) -> list[str]:
    """Each finding as `json.dumps(_finding(...), ensure_ascii=False)` would write it, from a
    template: 100,000 findings in half the time of building each dict and encoding the list.
    Strings pass through the C encoder's own escaper; the rare nested values (KEV, EPSS,
    VEX) through `json.dumps` itself. tests/test_json_result.py compares the two."""
    dates: dict[date, str] = {}
    lines: list[str] = []
    add = lines.append
    enc = encode_basestring
    for r in result.runs:
        artifact = enc(r.run.artifact.name)
        for d in r.decided:
            f = d.finding
            loc = f.location
            published = f.published
            kev = f.kev
            epss = f.epss
            vex = f.vex
            add(
                f'{{"kind": {enc(f.kind)}, "id": {enc(f.id)}, "severity": {enc(f.severity)}, '
                f'"artifact": {artifact}, "target": {enc(f.target)}, '
                f'"title": {enc(f.title)}, "message": {enc(f.message)}, '
                f'"package": {_opt(f.package)}, '
                f'"installed_version": {_opt(f.installed_version)}, '
                f'"fixed_version": {_opt(f.fixed_version)}, "purl": {_opt(f.purl)}, '
                f'"status": {_opt(f.status)}, "primary_url": {_opt(f.primary_url)}, '
                f'"published": {enc(_iso(published, dates)) if published else "null"}, '
                f'"kev": {_dumps(_kev(kev, dates)) if kev is not None else "null"}, '
                f'"epss": {"null" if epss is None else _dumps(epss)}, '
                f'"location": {"null" if loc is None else _location(loc)}, '
                f'"fingerprint": {enc(f.fingerprint)}, "decision": {enc(d.decision)}, '
                f'"reason": {enc(d.reason)}, '
                f'"vex": {"null" if vex is None else _dumps(_vex(vex))}}}'
            )
    return lines


def _opt(text: str | None) -> str:
    return "null" if text is None else encode_basestring(text)


def _location(loc: Location) -> str:
    start, end = loc.start_line, loc.end_line
    return (
        f'{{"path": {encode_basestring(loc.path)}, '
        f'"start_line": {"null" if start is None else int.__repr__(start)}, '
        f'"end_line": {"null" if end is None else int.__repr__(end)}}}'
    )


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _vex(note: VexNote) -> dict[str, Any]:
    return {
        "status": note.status,
        "justification": note.justification,
        "impact": note.impact,
        "source": note.source,
        "statement": note.statement.index if note.statement is not None else None,
    }


def _entry(status: EntryStatus) -> dict[str, Any]:
    e = status.entry
    return {
        "id": e.id,
        "reason": e.reason,
        "expires": e.expires.isoformat() if e.expires else None,
        "days_left": status.days_left,
        "owner": e.owner,
        "origin": e.origin,
        "matched": status.matched,
    }
