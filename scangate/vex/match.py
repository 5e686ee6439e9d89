"""Which OpenVEX statement speaks of a finding, and putting that on the findings.

A statement speaks of a vulnerability finding when its vulnerability name or one of its
aliases is the finding's ID (case-blind, as allow entries) and one of its products is the
finding's package by package URL, matched as Trivy and OpenVEX match them: type, namespace and
name equal; the version, subpath and each qualifier only when the statement's purl has them
(`pkg:pypi/requests` is every version). A subcomponent is matched the same way when its
product is the scanned image (`pkg:oci/NAME...` with the report's image name). When several
statements speak of one finding, the latest (by timestamp, then by order) wins, as in
OpenVEX. A finding without a package URL matches nothing: the gate fails closed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from scangate.allow import _purl_matches
from scangate.findings import Finding, Kind, ScanRun, VexNote, match_key
from scangate.vex.document import VexFile, VexStatement

if TYPE_CHECKING:
    from scangate.policy import Policy


class Index:
    """The statements by vulnerability key, in the order they were given."""

    def __init__(self, statements: Iterable[VexStatement]) -> None:
        self.by_key: dict[str, list[VexStatement]] = defaultdict(list)
        for statement in statements:
            for key in statement.keys:
                self.by_key[key].append(statement)

    def find(
        self, finding: Finding, artifact: str, *, source: str | None = None,
        status: str | None = None, subcomponents_anywhere: bool = False,
    ) -> list[VexStatement]:  # fmt: skip
        """The statements that speak of `finding`, the one that wins last (of `source` and
        `status` when given)."""
        purl = finding.purl
        if finding.kind is not Kind.VULNERABILITY or not purl or not self.by_key:
            return []
        found = [
            statement
            for statement in self.by_key.get(match_key(finding.id), ())
            if (source is None or statement.source == source)
            and (status is None or statement.status == status)
            and _speaks_of(statement, purl, artifact, subcomponents_anywhere)
        ]
        # Stable: among equal timestamps the later statement stays later.
        found.sort(key=lambda statement: statement.timestamp)
        return found


def _speaks_of(statement: VexStatement, purl: str, artifact: str, anywhere: bool) -> bool:
    if any(_purl_matches(p, purl) for p in statement.products):
        return True
    if not statement.subcomponents:
        return False
    if not anywhere and not any(_is_image(p, artifact) for p in statement.products):
        return False
    return any(_purl_matches(s, purl) for s in statement.subcomponents)


def _is_image(product: str, artifact: str) -> bool:
    """`pkg:oci/app@sha256:...` names the image `registry/team/app:1` (the purl spec puts
    only the last path segment in an OCI purl's name)."""
    if not product.startswith("pkg:oci/") or not artifact:
        return False
    name = product.removeprefix("pkg:oci/").split("@", 1)[0].split("?", 1)[0].lower()
    image = artifact.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0].lower()
    return bool(name) and name == image


def unused(policy: Policy, findings: Iterable[Finding]) -> list[VexStatement]:
    """The policy's --vex statements that no finding has (`VexNote.statement`, `others`)."""
    used = {
        id(statement)
        for finding in findings
        if finding.vex is not None
        for statement in (finding.vex.statement, *finding.vex.others)
    }
    return [s for s in policy.vex_statements if id(s) not in used]


def _note(found: list[VexStatement], others: list[VexStatement]) -> VexNote:
    winner = found[-1]
    return winner.note(tuple(s for s in (*found, *others) if s is not winner))


def apply(runs: Sequence[ScanRun], files: Sequence[VexFile]) -> None:
    """`check`: put on each vulnerability the OpenVEX statement that speaks of it (reports
    made elsewhere: Trivy is not run). A statement the report's own Trivy applied stays."""
    index = Index(s for f in files for s in f.statements)
    for run in runs:
        for finding in run.findings:
            if finding.vex is None:
                found = index.find(finding, run.artifact.name)
                if found:
                    finding.vex = _note(found, [])


def attribute(run: ScanRun, files: Sequence[VexFile], copies: dict[str, str]) -> None:
    """A scan: Trivy applied the VEX files (given as the copies in `copies`, path -> label)
    and listed what it suppressed; name the file as the user did, and the statement Trivy
    used where scangate can tell (OpenVEX), for its impact statement and the unused list.
    Statements Trivy does not suppress with (affected, under_investigation) are shown too."""
    index = Index(s for f in files for s in f.statements)
    artifact = run.artifact.name
    for finding in run.findings:
        if finding.kind is not Kind.VULNERABILITY:
            continue
        note = finding.vex
        every = index.find(finding, artifact, subcomponents_anywhere=note is not None)
        if note is not None:
            label = copies.get(note.source, note.source)
            used = [s for s in every if s.source == label and s.status == note.status]
            finding.vex = (
                _note(used, every) if used else replace(note, source=label, others=tuple(every))
            )
        elif every and not every[-1].note().suppresses:
            finding.vex = _note(every, [])
