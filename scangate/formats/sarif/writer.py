"""SARIF 2.1.0 for GitHub code scanning: `SarifFormat` and `SarifOptions`, and the only module
that imports sarif-om. It builds what GitHub needs from a SARIF log to ingest it without a
warning and keep its alerts stable from run to run.

Here: the log and its runs as sarif-om objects; its rules and results. A result has a
level from the severity the gate used, `partialFingerprints` from the finding's
line-independent fingerprint, and a location relative to the repository root with a real
region: the lock file line of a package, a misconfiguration's cause lines, a secret's lines.
Image findings are placed at the final FROM of `SarifOptions.dockerfile`, else at
`image/<repository>` (plus the file's path inside the image for application packages). A
log over GitHub's 10 MiB gzipped is rendered again with fewer results.
Rules and results, 100,000 of each in a large log, are written one a line from templates in
sarif-om's property order, each value through the JSON encoder's own string escaper
(`encoding.json_string`): the encoder's text for the same object without building one (a
test compares them). Each is built and dropped in turn, so memory stays at the size of the
text and time is linear in the number of findings.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import sarif_om as om

from scangate import __version__
from scangate.findings import Finding, Kind, Severity
from scangate.formats._common import repository_path
from scangate.formats.sarif.encoding import GzipSize, array_lines, json_fields, json_string
from scangate.formats.sarif.limits import (
    MAX_RESULTS_PER_RUN,
    PlannedRun,
    by_severity,
    over_result_limit,
    plan,
)
from scangate.formats.sarif.locations import DockerfileRef, automation_id, line_of, uri_of
from scangate.formats.sarif.rules import (
    LEVELS,
    PRECISION,
    WHY,
    clip_text,
    help_uri,
    one_line,
    rule_help_json,
    security_severity,
)
from scangate.gate import Decided, Decision, GateResult

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/scangate/"
TRIVY_INFORMATION_URI = "https://trivy.dev/"
FINGERPRINT_KEY = "scangate/v1"

# GitHub's limits for one uploaded SARIF file (docs: "SARIF support for code scanning");
# results per run and runs per file are `limits`'s.
MAX_LOCATIONS_PER_RESULT = 1_000
MAX_TAGS_PER_RULE = 20
MAX_GZIPPED_BYTES = 10 * 1024 * 1024


@dataclass
class SarifOptions:
    # Overrides the derived category (one run), or prefixes it (several runs).
    category: str | None = None
    # Add allowed findings, marked as suppressed (GitHub shows them as closed alerts).
    include_allowed: bool = False
    # Only findings that fail the gate (plus allowed ones with include_allowed).
    only_failing: bool = False
    # Results per run, the most severe kept; 0 writes them all (beyond GitHub's limit).
    max_results: int = MAX_RESULTS_PER_RUN
    # The repository root: filesystem artifacts and URIs are made relative to it.
    source_root: Path = field(default_factory=Path.cwd)
    # Where image findings are located; None places them at a path named after the image.
    dockerfile: DockerfileRef | None = None


# Where the rules and results arrays go in the skeleton. The nonce, random for each
# formatter, keeps a report's text (a Trivy version, an artifact name) from ever passing for one.
_PLACEHOLDER = '"@@scangate:{nonce}:(rules|results):(\\d+)@@"'


@dataclass(slots=True)
class _Rule:
    index: int
    kind: Kind
    finding: Finding  # the first of the rule's results: its ID spelling names the rule
    severity: Severity
    score: str
    id: str = ""  # set once every rule of the run is known (see `_rule_id`)
    id_json: str = ""  # `id` encoded, for each of the rule's results


# Rules are keyed by kind and case-blind ID.
_RuleKey = tuple[Kind, str]


class SarifFormat:
    """Renders a `GateResult` as one SARIF 2.1.0 log; `notes` then holds what the CLI should
    tell the user on stderr (results or runs left out for GitHub's limits, size warnings)."""

    def __init__(self, options: SarifOptions | None = None) -> None:
        self.options = options or SarifOptions()
        self.notes: list[str] = []
        # Of the last pass: the results per run in effect, the gzipped size, the largest run.
        self._limit = self.options.max_results
        self._gzipped = 0
        self._largest = 0
        self._nonce = secrets.token_hex(16)
        self._diff = False  # the result was gated with --diff-base (`baselineState`)

    def render(self, result: GateResult) -> str:
        """The log; one over GitHub's 10 MiB gzipped is rendered again with fewer results
        per run (the most severe kept) until it fits, unless the cap is off (0)."""
        self._limit = self.options.max_results
        shrunk: list[str] = []
        for _ in range(4):
            text = "".join(self._pieces_of(result))
            if self._gzipped <= MAX_GZIPPED_BYTES or not self._limit or self._largest <= 1:
                break
            limit = max(1, int(self._largest * MAX_GZIPPED_BYTES / self._gzipped * 0.9))
            shrunk.append(
                f"SARIF: {self._gzipped / 2**20:.1f} MiB gzipped is over GitHub's limit of "
                f"{MAX_GZIPPED_BYTES / 2**20:.0f} MiB: written again with at most {limit} "
                "results per run"
            )
            self._limit = limit
        self.notes = shrunk + self.notes
        return text

    def iter_render(self, result: GateResult) -> Iterator[str]:
        """The log in pieces, for writing a large log without holding it twice in memory.

        `notes` is complete once the iterator is exhausted. Unlike `render`, a log over
        GitHub's gzipped size limit is only reported in `notes`: its pieces are gone.
        """
        self._limit = self.options.max_results
        return self._pieces_of(result)

    def _pieces_of(self, result: GateResult) -> Iterator[str]:
        self.notes = []
        self._diff = result.diff is not None
        runs = plan(result, self.options, self._limit, self.notes)
        self._largest = max((len(r.decided) for r in runs), default=0)
        log = json_fields(self._log(result, runs))
        # "$schema" and "version" first, as readers expect them (attrs orders them last).
        head = {"$schema": log.pop("$schema"), "version": log.pop("version")}
        skeleton = json.dumps(head | log, indent=2, default=json_fields)
        # A run over GitHub's result limit is refused whatever its size (and `notes` says
        # so): the compression, seconds for a log of 100,000 results, would be wasted.
        gzip = None if over_result_limit(runs) else GzipSize()
        try:
            for piece in self._pieces(skeleton, runs):
                if gzip is not None:
                    gzip.feed(piece)
                yield piece
            yield "\n"
            gzipped = self._gzipped = gzip.total() if gzip is not None else 0
        finally:
            if gzip is not None:
                gzip.close()  # a log abandoned half-way stops the compression too
        if gzipped > MAX_GZIPPED_BYTES:
            self.notes.append(
                f"SARIF: the log is {gzipped / 2**20:.1f} MiB gzipped, over GitHub's limit "
                f"of {MAX_GZIPPED_BYTES / 2**20:.0f} MiB: the upload will be rejected; use "
                "--sarif-only-failing or a lower --sarif-max-results"
            )

    # -- the log skeleton --

    def _log(self, result: GateResult, runs: list[PlannedRun]) -> Any:
        return om.SarifLog(
            version=SARIF_VERSION,
            schema_uri=SARIF_SCHEMA_URI,
            runs=[self._run(i, run) for i, run in enumerate(runs)],
            properties={"verdict": result.verdict.value},
        )

    def _run(self, index: int, run: PlannedRun) -> Any:
        trivy_version = run.artifact.trivy_version
        properties: dict[str, Any] = {
            "target": run.target,
            "artifactType": run.artifact.type,
            "trivyVersion": trivy_version or "unknown",
        }
        if run.image and run.artifact.image_id:
            properties["imageId"] = run.artifact.image_id
        if run.dropped:
            properties["resultLimit"] = self._limit
            properties["resultsConsidered"] = run.considered
            properties["resultsDropped"] = sum(run.dropped.values())
            properties["resultsDroppedBySeverity"] = by_severity(run.dropped)
        trivy = om.ToolComponent(
            name="Trivy", version=trivy_version, information_uri=TRIVY_INFORMATION_URI
        )
        return om.Run(
            tool=om.Tool(
                driver=om.ToolComponent(
                    name="scangate",
                    version=__version__,
                    semantic_version=__version__,
                    information_uri=INFORMATION_URI,
                    rules=f"@@scangate:{self._nonce}:rules:{index}@@",
                ),
                extensions=[trivy],
            ),
            automation_details=om.RunAutomationDetails(id=automation_id(run.category)),
            # Line numbers only; no column is ever written.
            column_kind="utf16CodeUnits",
            results=f"@@scangate:{self._nonce}:results:{index}@@",
            properties=properties,
        )

    def _pieces(self, skeleton: str, runs: list[PlannedRun]) -> Iterator[str]:
        position = 0
        rules: dict[_RuleKey, _Rule] = {}
        placeholder = re.compile(_PLACEHOLDER.format(nonce=self._nonce))
        for match in placeholder.finditer(skeleton):
            yield skeleton[position : match.start()]
            line_start = skeleton.rfind("\n", 0, match.start()) + 1
            head = skeleton[line_start : match.start()]
            indent = head[: len(head) - len(head.lstrip())]
            run = runs[int(match.group(2))]
            if match.group(1) == "rules":
                rules = self._rules(run)
                lines: Iterator[str] = map(_rule_line, rules.values())
            else:
                lines = (self._result_line(d, run, rules) for d in run.decided)
            yield from array_lines(lines, indent)
            position = match.end()
        yield skeleton[position:]

    # -- rules --

    def _rules(self, run: PlannedRun) -> dict[_RuleKey, _Rule]:
        """One rule per kind and case-blind id, indexed in first-use order; the most severe
        finding (results come most severe first) gives its severity, security-severity and
        the id's spelling.

        Case-blind because `GHSA-abc` and `GHSA-ABC` (reports of two tools or Trivy versions)
        are one advisory: two rules whose ids differ only in case would be two alerts on
        GitHub for one thing, and a rule id repeated within a run is a conflict there.
        """
        rules: dict[_RuleKey, _Rule] = {}
        for d in run.decided:
            f = d.finding
            key = _rule_key(f)
            rule = rules.get(key)
            score = security_severity(f.severity, f.cvss_score)
            if rule is None:
                rules[key] = _Rule(len(rules), f.kind, f, f.severity, score)
            elif f.severity is rule.severity and float(score) > float(rule.score):
                rule.score = score
        for (kind, ident), rule in rules.items():
            rule.id = _rule_id(kind, ident, rule.finding.id, rules)
            rule.id_json = json_string(rule.id)
        return rules

    # -- results --

    def _result_line(self, d: Decided, run: PlannedRun, rules: dict[_RuleKey, _Rule]) -> str:
        f = d.finding
        rule = rules[f.kind, f.id.upper()]
        uri, start, end, elsewhere = self._where(f, run)
        key = (uri, start, end)
        locations = run.locations.get(key)
        if locations is None:
            # Encoded once and shared by every result at this place (a package's line holds
            # many CVEs). sarif-om's Region order: endLine before startLine.
            region = f'"startLine":{start}'
            if end > start:
                region = f'"endLine":{end},{region}'
            locations = run.locations[key] = (
                f'[{{"physicalLocation":{{"artifactLocation":{{"uri":{json_string(uri)}}},'
                f'"region":{{{region}}}}}}}]'
            )
        suppressions = ""
        if d.decision is Decision.ALLOWED:
            suppressions = (
                f',"suppressions":[{{"kind":"external","justification":{json_string(d.reason)}}}]'
            )
        fingerprint = f.fingerprint or _fallback_fingerprint(f)
        # --diff-base: a failing finding is new at head, a pre-existing one unchanged.
        state = ""
        if self._diff and d.decision in _BASELINE_STATES:
            state = f'"baselineState":"{_BASELINE_STATES[d.decision]}",'
        # sarif-om's Result order, each value through the encoder's escaper.
        return (
            f'{{{state}"message":{{"text":{json_string(_message(d, run, elsewhere))}}},'
            f'"level":"{LEVELS[f.severity]}","locations":{locations},'
            f'"partialFingerprints":{{"{FINGERPRINT_KEY}":{json_string(fingerprint)}}},'
            f'"properties":{_decision_properties(d.decision)},'
            f'"ruleId":{rule.id_json},"ruleIndex":{rule.index}{suppressions}}}'
        )

    def _where(self, f: Finding, run: PlannedRun) -> tuple[str, int, int, str | None]:
        """URI, first and last line, and the in-image path when the URI is not that file."""
        loc = f.location
        inner = loc.path if loc is not None and loc.path else None
        if not run.image:
            path = inner or f.target
            uri = run.uris.get(path)
            if uri is None:
                where = run.file or repository_path(run.scanned, path)
                uri = run.uris[path] = uri_of(where)
            if loc is None or (run.file is not None and f.target != run.file_name):
                return uri, 1, 0, None
            return uri, line_of(loc.start_line), line_of(loc.end_line), None
        dockerfile = self.options.dockerfile
        if dockerfile is not None:
            return uri_of(dockerfile.uri), max(1, dockerfile.from_line), 0, inner
        base = f"image/{run.target}"
        if loc is None or inner is None:
            return uri_of(base), 1, 0, None
        return (
            uri_of(repository_path(base, inner)),
            line_of(loc.start_line),
            line_of(loc.end_line),
            None,
        )


_BASELINE_STATES = {Decision.FAIL: "new", Decision.PRE_EXISTING: "unchanged"}


def _rule_line(rule: _Rule) -> str:
    """The rule as one line of JSON, in sarif-om's ReportingDescriptor order."""
    f = rule.finding
    title = clip_text(one_line(f.title or f.id))
    description = clip_text(f.description.strip())
    why = description or WHY.get(f.kind, "")
    url = help_uri(f)
    why_json = json_string(why) if why else ""
    help_text, help_markdown = rule_help_json(f, title, why, url, why_json)
    tags = _tags(f.kind, rule.severity)
    return (
        f'{{"id":{rule.id_json},"defaultConfiguration":{{"level":"{LEVELS[rule.severity]}"}},'
        f'"fullDescription":{{"text":{why_json or json_string(title)}}},'
        f'"help":{{"text":{help_text},"markdown":{help_markdown}}},'
        f'"helpUri":{json_string(url)},'
        f'"properties":{{"tags":{tags},"precision":"{PRECISION[f.kind]}",'
        f'"security-severity":{json_string(rule.score)}}},'
        f'"shortDescription":{{"text":{json_string(title)}}}}}'
    )


@cache
def _tags(kind: Kind, severity: Severity) -> str:
    tags = ["security", kind.value, severity.value][:MAX_TAGS_PER_RULE]
    return f"[{','.join(map(json_string, tags))}]"


@cache
def _decision_properties(decision: Decision) -> str:
    return f'{{"decision":{json_string(decision.value)}}}'


def _rule_key(f: Finding) -> _RuleKey:
    return (f.kind, f.id.upper())


def _rule_id(kind: Kind, key: str, spelling: str, rules: dict[_RuleKey, _Rule]) -> str:
    # The plain id as its first result spells it (CVE-..., GHSA-g98v-hv3f-hcfr, DS-0002,
    # github-pat, MIT); a license is prefixed only when a finding of another kind has the
    # same id in the run, which no real id does.
    if kind is Kind.LICENSE and any((k, key) in rules for k in Kind if k is not kind):
        return f"license/{spelling}"
    return spelling


def _fallback_fingerprint(f: Finding) -> str:
    # Findings from `trivy_findings` always carry a fingerprint; one built by hand may not.
    key = "\x1f".join((f.kind.value, f.id, f.target, f.identity or f.package or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _message(d: Decided, run: PlannedRun, inner_path: str | None) -> str:
    f = d.finding
    if f.kind is Kind.VULNERABILITY:
        fix = f"fixed in {f.fixed_version}" if f.fixed_version else "no fixed version yet"
        text = (
            f"{f.package or '?'} {f.installed_version or '?'} is affected by {f.id} "
            f"({f.severity.value}): {fix}"
        )
    elif f.kind is Kind.SECRET:
        # Finding.message for a secret is Trivy's masked Match: the only text of the
        # matched line that may leave scangate.
        text = f"{f.title or f.id}: {f.message}" if f.message else (f.title or f.id)
    else:
        text = f.message or f.title or f.id
    if run.image:
        where = f" in {inner_path}" if inner_path else ""
        os_name = f" ({run.artifact.os})" if run.artifact.os else ""
        text = f"{text}{where} [image {run.target}{os_name}]"
    if d.decision is not Decision.ALLOWED:
        text = f"{text}\nscangate: {d.decision.value}: {d.reason}"
    return text
