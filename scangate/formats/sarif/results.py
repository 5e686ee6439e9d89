"""The rules and results of one SARIF run, each written as one line of JSON.

A rule per kind and case-blind finding id; a result per decided finding, with its level,
location (relative to the repository root, or placed for an image), `partialFingerprints`,
decision and, with --diff-base, `baselineState`. Lines are built from templates in
sarif-om's property order, each value through the JSON encoder's own string escaper
(`encoding.json_string`), so they are the encoder's text without building an object.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from scangate.findings import Finding, Kind, Severity
from scangate.formats._common import repository_path
from scangate.formats.escape import clean_ascii
from scangate.formats.sarif.encoding import json_string
from scangate.formats.sarif.limits import PlannedRun
from scangate.formats.sarif.locations import DockerfileRef, line_of, uri_of
from scangate.formats.sarif.rules import (
    LEVELS,
    PRECISION,
    WHY,
    clip_text,
    epss_property_json,
    help_uri,
    one_line,
    rule_help_clean_json,
    rule_help_json,
    rule_tags,
    security_severity,
)
from scangate.gate import Decided, Decision

FINGERPRINT_KEY = "scangate/v1"
# GitHub's limit for one uploaded SARIF file (docs: "SARIF support for code scanning").
MAX_TAGS_PER_RULE = 20


@dataclass(slots=True)
class Rule:
    index: int
    kind: Kind
    finding: Finding  # the first of the rule's results: its ID spelling names the rule
    severity: Severity
    score: str
    id: str = ""  # set once every rule of the run is known (see `_rule_id`)
    id_json: str = ""  # `id` encoded, for each of the rule's results
    kev: bool = False  # a result's CVE is in CISA's KEV catalog: tagged `kev`
    epss: float | None = None  # the highest EPSS score of its results


# Rules are keyed by kind and case-blind ID.
RuleKey = tuple[Kind, str]


def rules_of(run: PlannedRun) -> dict[RuleKey, Rule]:
    """One rule per kind and case-blind id, indexed in first-use order; the most severe
    finding (results come most severe first) gives its severity, security-severity and
    the id's spelling.

    Case-blind because `GHSA-abc` and `GHSA-ABC` (reports of two tools or Trivy versions)
    are one advisory: two rules whose ids differ only in case would be two alerts on
    GitHub for one thing, and a rule id repeated within a run is a conflict there.
    """
    rules: dict[RuleKey, Rule] = {}
    for d in run.decided:
        f = d.finding
        key = _rule_key(f)
        rule = rules.get(key)
        score = security_severity(f.severity, f.cvss_score)
        if rule is None:
            rules[key] = Rule(len(rules), f.kind, f, f.severity, score)
        elif f.severity is rule.severity and float(score) > float(rule.score):
            rule.score = score
        if f.kev is not None or f.epss is not None:  # only with a feed: one test otherwise
            _add_risk(rules[key], f)
    for (kind, ident), rule in rules.items():
        rule.id = _rule_id(kind, ident, rule.finding.id, rules)
        rule.id_json = json_string(rule.id)
    return rules


def rule_line(rule: Rule) -> str:
    """The rule as one line of JSON, in sarif-om's ReportingDescriptor order."""
    f = rule.finding
    url = help_uri(f)
    title = f.title or f.id
    description = f.description.strip()
    # Most rules: all their text is clean ASCII on one line without a double quote
    # (`escape.clean_ascii`), so its JSON string is the text quoted. One check of it all:
    # a match across two texts only sends a rule the long way.
    if (
        description
        and clean_ascii(text := f"{title}{description}{f.id}{url}")
        and '"' not in text
        and "  " not in text
        and title[0] != " "
        and title[-1] != " "
    ):
        title = clip_text(title)
        why = clip_text(description)
        why_json, title_json, url_json = f'"{why}"', f'"{title}"', f'"{url}"'
        help_text, help_markdown = rule_help_clean_json(f, title, why, url)
    else:
        title = clip_text(one_line(title))
        why = clip_text(description) or WHY.get(f.kind, "")
        why_json = json_string(why) if why else ""
        title_json, url_json = json_string(title), json_string(url)
        help_text, help_markdown = rule_help_json(f, title, why, url, why_json)
    tags = _tags(f.kind, rule.severity, rule.kev)
    return (
        f'{{"id":{rule.id_json},"defaultConfiguration":{{"level":"{LEVELS[rule.severity]}"}},'
        f'"fullDescription":{{"text":{why_json or title_json}}},'
        f'"help":{{"text":{help_text},"markdown":{help_markdown}}},'
        f'"helpUri":{url_json},'
        f'"properties":{{"tags":{tags},"precision":"{PRECISION[f.kind]}",'
        f'"security-severity":{json_string(rule.score)}{epss_property_json(rule.epss)}}},'
        f'"shortDescription":{{"text":{title_json}}}}}'
    )


def _add_risk(rule: Rule, f: Finding) -> None:
    # One CVE, one KEV entry and score; a rule's results may still differ if their
    # IDs' spellings do (the rule is case-blind): the rule says the worst.
    rule.kev = rule.kev or f.kev is not None
    if f.epss is not None and (rule.epss is None or f.epss > rule.epss):
        rule.epss = f.epss


def result_line(
    d: Decided,
    run: PlannedRun,
    rules: dict[RuleKey, Rule],
    *,
    diff: bool,
    dockerfile: DockerfileRef | None,
) -> str:
    """The result as one line of JSON; `diff` when the result was gated with --diff-base."""
    f = d.finding
    rule = rules[f.kind, f.id.upper()]
    uri, start, end, elsewhere = _where(f, run, dockerfile)
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
    if diff and d.decision in _BASELINE_STATES:
        state = f'"baselineState":"{_BASELINE_STATES[d.decision]}",'
    # sarif-om's Result order, each value through the encoder's escaper.
    return (
        f'{{{state}"message":{{"text":{json_string(_message(d, run, elsewhere))}}},'
        f'"level":"{LEVELS[f.severity]}","locations":{locations},'
        f'"partialFingerprints":{{"{FINGERPRINT_KEY}":{json_string(fingerprint)}}},'
        f'"properties":{_decision_properties(d.decision)},'
        f'"ruleId":{rule.id_json},"ruleIndex":{rule.index}{suppressions}}}'
    )


def _where(
    f: Finding, run: PlannedRun, dockerfile: DockerfileRef | None
) -> tuple[str, int, int, str | None]:
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


@cache
def _tags(kind: Kind, severity: Severity, kev: bool) -> str:
    tags = rule_tags(kind, severity, kev=kev)[:MAX_TAGS_PER_RULE]
    return f"[{','.join(map(json_string, tags))}]"


@cache
def _decision_properties(decision: Decision) -> str:
    return f'{{"decision":{json_string(decision.value)}}}'


def _rule_key(f: Finding) -> RuleKey:
    return (f.kind, f.id.upper())


def _rule_id(kind: Kind, key: str, spelling: str, rules: dict[RuleKey, Rule]) -> str:
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
