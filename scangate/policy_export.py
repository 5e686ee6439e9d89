"""The effective allowlist as documents other tools read (`scangate policy export`): an
OpenVEX v0.2.0 document, or Trivy's `.trivyignore.yaml`. Returns data; never prints or writes.

What each format can hold, so that the exported file never suppresses more than scangate does:
- OpenVEX names a vulnerability and products by package URL. An entry scoped to packages
  becomes one `not_affected` statement (its justification read from the reason, which is the
  impact statement, or the status notes beside a justification); an entry without a
  package, scoped to paths (`targets`), or only for other kinds cannot be expressed and is
  listed as skipped.
- `.trivyignore.yaml` has `id`, `paths`, `purls`, `statement`, `expired_at` per section. An
  entry without a kind goes into every section (as Trivy reads a plain `.trivyignore`), but
  a package-scoped one into `vulnerabilities` only: Trivy matches `purls` there alone.
- A package-name glob (`packages:` of a policy entry) names no ecosystem, so it is no package
  URL: it is resolved against Trivy reports (`resolve_packages`) into the version-less URLs of
  the packages it matches there; without a match the entry is skipped, never widened.
- Expired entries (as of `today`) are skipped: they no longer suppress anything in scangate.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from scangate.allow import AllowEntry
from scangate.findings import Kind, ScanRun, canonical_id, match_key
from scangate.policy import Policy

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
# `.trivyignore.yaml`'s sections, in Trivy's order (pkg/result/ignore.go).
SECTIONS = {
    Kind.VULNERABILITY: "vulnerabilities",
    Kind.MISCONFIGURATION: "misconfigurations",
    Kind.SECRET: "secrets",
    Kind.LICENSE: "licenses",
}

# OpenVEX's justifications are a fixed set; a reason that says none of these gets no
# justification (its text is the impact statement, which OpenVEX accepts instead) rather
# than a claim the reason never made. The first list that matches wins.
_JUSTIFICATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "inline_mitigations_already_exist",
        ("mitigat", "workaround", "compensating control", "waf", "sandbox", "backport"),
    ),
    (
        "vulnerable_code_cannot_be_controlled_by_adversary",
        (
            "not exploitable",
            "cannot be exploited",
            "can't be exploited",
            "no untrusted input",
            "trusted input",
            "not controll",
            "not user-controlled",
            "not exposed",
            "internal only",
            "not reachable from",
        ),
    ),
    (
        "vulnerable_code_not_in_execute_path",
        (
            "not used",
            "unused",
            "never used",
            "not called",
            "never called",
            "not invoked",
            "never invoked",
            "unreachable",
            "not reachable",
            "not loaded",
            "not imported",
            "dead code",
            "execute path",
            "execution path",
            "test only",
            "tests only",
            "only in tests",
            "dev dependency",
            "build-time",
            "build time",
        ),
    ),
    (
        "vulnerable_code_not_present",
        ("code not present", "code is not present", "not compiled", "not built", "compiled out"),
    ),
    (
        "component_not_present",
        ("not present", "not installed", "not shipped", "not included", "removed", "not in the"),
    ),
)


# Vulnerability ID schemes whose prefix Trivy reports in upper case. scangate matches IDs
# case-blind, Trivy exactly: `cve-2024-1` in a policy must reach Trivy as `CVE-2024-1`.
_VULN_PREFIX = re.compile(r"(cve|ghsa|go|pysec|rustsec|osv|gsd)-", re.IGNORECASE)


def trivy_id(kind: Kind, ident: str) -> str:
    """`ident` spelled as Trivy reports it for `kind` (Trivy compares IDs exactly)."""
    text = canonical_id(kind, ident)  # a check: DS-0002, which Trivy 0.76 reports
    match = _VULN_PREFIX.match(text) if kind is Kind.VULNERABILITY else None
    if match is None:
        return text
    if match.group(1).lower() == "cve":
        return text.upper()
    # A GHSA ID's body stays as written: Trivy reports it lower case, as GitHub does.
    return match.group(1).upper() + text[match.end(1) :]


def justification(reason: str) -> str | None:
    """The OpenVEX justification the reason states, or None when it states none."""
    text = re.sub(r"\s+", " ", reason.lower())
    for name, phrases in _JUSTIFICATIONS:
        if any(phrase in text for phrase in phrases):
            return name
    return None


@dataclass(frozen=True)
class Skipped:
    """An entry left out of the export, and why (the CLI lists these on stderr)."""

    entry: AllowEntry
    why: str


@dataclass
class Export:
    document: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)
    # Exported, with a caveat (an expiry OpenVEX cannot carry).
    notes: list[Skipped] = field(default_factory=list)


def resolve_packages(policy: Policy, runs: Iterable[ScanRun]) -> dict[int, tuple[str, ...]]:
    """For each entry with package-name globs (by position in `policy.allow`): the package
    URLs, without version, qualifiers or subpath, of the findings in `runs` it allows by ID
    and scope. A name glob means every version of the packages it names, as such a URL does."""
    wanted = {i: e for i, e in enumerate(policy.allow) if e.packages and not e.purls}
    by_key: dict[str, list[int]] = {}
    for i, entry in wanted.items():
        by_key.setdefault(entry.key, []).append(i)
    found: dict[int, dict[str, None]] = {i: {} for i in wanted}
    for run in runs:
        for finding in run.findings:
            if not finding.purl:
                continue
            for i in by_key.get(match_key(finding.id), ()):
                if wanted[i].matches_scope(finding):
                    found[i][_versionless(finding.purl)] = None
    return {i: tuple(sorted(purls)) for i, purls in found.items() if purls}


def _versionless(purl: str) -> str:
    body = purl.partition("#")[0].partition("?")[0]
    name_at = body.rfind("/")
    at = body.find("@", name_at + 1)
    return body[:at] if at != -1 else body


def _package_scope(
    index: int, entry: AllowEntry, resolved: Mapping[int, tuple[str, ...]], reports: bool
) -> tuple[tuple[str, ...], str | None]:
    """(package URLs, why the entry cannot be scoped to packages) for an entry with a
    package scope; ((), None) for one without."""
    if entry.purls:
        return entry.purls, None
    if not entry.packages:
        return (), None
    purls = resolved.get(index, ())
    if purls:
        return purls, None
    if reports:
        return (), "its package globs matched no package in the --report files: not exported"
    return (), (
        "package-name globs name no package type, so they are no package URL: pass the "
        "target's Trivy report with --report to resolve them"
    )


def _expired(entry: AllowEntry, today: date) -> str | None:
    if entry.expires is not None and entry.expired(today):
        return f"expired on {entry.expires.isoformat()}"
    return None


def to_openvex(
    policy: Policy,
    *,
    now: datetime,
    author: str,
    resolved: Mapping[int, tuple[str, ...]] | None = None,
    reports: bool = False,
) -> Export:
    """One `not_affected` statement per live entry with a package scope."""
    export = Export(document={})
    statements: list[dict[str, Any]] = []
    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    for index, entry in enumerate(policy.allow):
        why = _expired(entry, now.date())
        if why is None and entry.kinds and Kind.VULNERABILITY not in entry.kinds:
            kinds = ", ".join(k.value for k in Kind if k in entry.kinds)
            why = f"an entry for {kinds} findings: OpenVEX covers vulnerabilities only"
        if why is None and entry.targets:
            why = (
                "scoped to paths, which OpenVEX cannot express: a statement would suppress "
                "it in every file"
            )
        purls, no_scope = _package_scope(index, entry, resolved or {}, reports)
        if why is None:
            why = no_scope
        if why is None and not purls:
            why = "no package: an OpenVEX statement names its products by package URL"
        if why is not None:
            export.skipped.append(Skipped(entry, why))
            continue
        statement: dict[str, Any] = {
            "vulnerability": {"name": trivy_id(Kind.VULNERABILITY, entry.id)},
            "timestamp": stamp,
            "products": [{"@id": p, "identifiers": {"purl": p}} for p in purls],
            "status": "not_affected",
        }
        # OpenVEX 0.2.0's schema takes a justification or an impact statement, never both:
        # the reason is the impact statement, or, beside a justification, the status notes.
        reason = justification(entry.reason)
        if reason is not None:
            statement["justification"] = reason
            notes = [entry.reason, "a scangate allow entry"]
        else:
            statement["impact_statement"] = entry.reason
            notes = ["a scangate allow entry"]
        # Not the entry's origin: a local path has no place in a document that is shared.
        if entry.owner:
            notes.append(f"owner {entry.owner}")
        if entry.expires is not None:
            notes.append(f"expires {entry.expires.isoformat()}")
            export.notes.append(
                Skipped(
                    entry,
                    f"exported without its expiry {entry.expires.isoformat()} (OpenVEX has "
                    "none; it is in status_notes): export again before then",
                )
            )
        statement["status_notes"] = "; ".join(notes)
        statements.append(statement)
    # A content address: the same allowlist exported at the same time gets the same @id.
    digest = hashlib.sha256(
        json.dumps([stamp, author, statements], sort_keys=True).encode()
    ).hexdigest()
    export.document = {
        "@context": OPENVEX_CONTEXT,
        "@id": f"https://openvex.dev/docs/public/vex-{digest}",
        "author": author,
        "timestamp": stamp,
        "version": 1,
        "tooling": "scangate policy export",
        "statements": statements,
    }
    return export


def to_trivyignore(
    policy: Policy,
    *,
    today: date,
    resolved: Mapping[int, tuple[str, ...]] | None = None,
    reports: bool = False,
) -> Export:
    """Trivy's `.trivyignore.yaml` sections, each entry as Trivy matches it."""
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS.values()}
    export = Export(document={})
    for index, entry in enumerate(policy.allow):
        purls, no_scope = _package_scope(index, entry, resolved or {}, reports)
        why = _expired(entry, today) or no_scope
        if why is not None:
            export.skipped.append(Skipped(entry, why))
            continue
        if entry.kinds:
            kinds = [k for k in Kind if k in entry.kinds]
        elif purls:
            # A package scope holds only for findings with a package: in Trivy's other
            # sections `purls` is not matched, and the entry would apply to every package.
            kinds = [Kind.VULNERABILITY]
        else:
            kinds = list(Kind)
        for kind in kinds:
            item: dict[str, Any] = {"id": trivy_id(kind, entry.id)}
            if entry.targets:
                item["paths"] = list(entry.targets)
            if purls:
                item["purls"] = list(purls)
            item["statement"] = entry.reason
            if entry.expires is not None:
                item["expired_at"] = entry.expires  # a YAML date, unquoted, as Trivy needs
            sections[SECTIONS[kind]].append(item)
    export.document = {name: items for name, items in sections.items() if items}
    return export
