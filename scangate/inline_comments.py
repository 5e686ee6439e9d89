"""Trivy's inline ignore comments (`#trivy:ignore:ID`) as text: read them, neutralise them,
and tell which comment a finding belongs to (see `scangate.inline_ignores` for their use).

Trivy's syntax, as in 0.76 (aquasecurity/trivy pkg/iac/ignore/parse.go and rule.go): each
line is split into words; a word that, after leading `#`, `/` and `*`, starts with `trivy:`
or `tfsec:` is a rule of `key:value` sections: `ignore:<ID>` (required; `*` and globs like
`AWS-*` allowed; a `[...]` suffix restricts it to some values), `exp:YYYY-MM-DD` (an
unreadable date makes the rule ignore nothing) and `ws:` (a Terraform workspace). A rule
applies to the block starting on the line after it, or on its own line; consecutive comment
lines form one stack that applies to the block after the last of them. IDs are Trivy's
(`AWS-0092`, `AVD-AWS-0092`) or the long form (`aws-s3-no-public-access-with-acl`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from fnmatch import fnmatchcase

from scangate.findings import Finding, InlineIgnore, match_key

# What the cheap search and the neutraliser look for: `trivy:` / `tfsec:` at the start of a
# word, followed in that word by an `ignore:` section. Case-blind and not bound to Trivy's
# exact word split (spaces only): neutralising more than Trivy honours costs nothing.
MARKER = re.compile(rb"(?i)(?<![A-Za-z0-9_])(trivy|tfsec):(?=\S*?ignore:)")
_PREFIXES = ("trivy:", "tfsec:")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHORT_ID = re.compile(r"(?i)^(?:AVD-)?[A-Z]+-?\d+$")
_MAX_COMMENT = 200
_MODULE_BLOCK = re.compile(r'module\s+"([^"]+)"')
# Trivy's cause of a finding inside a module call: `module.<name>[.module.<name>...].<resource>`
_MODULE_PATH = re.compile(r"module\.([^.\s\[]+)")


@dataclass(frozen=True)
class Rule:
    """One `trivy:ignore` rule of a comment line."""

    path: str  # relative to the scanned root, "/"-separated
    line: int
    id: str
    expires: date | None
    bad_expiry: str | None
    comment: str
    ids: tuple[str, ...]  # every rule ID on the line
    applies_to: int = 0  # the line after the comment stack it ends (Trivy's `shift`)
    module: str | None = None  # the Terraform module whose `module "name" {` block that is

    def ignore(self, *, suppressed: bool) -> InlineIgnore:
        return InlineIgnore(
            path=self.path,
            line=self.line,
            ids=self.ids,
            expires=self.expires,
            bad_expiry=self.bad_expiry,
            comment=self.comment,
            suppressed=suppressed,
        )


def parse_rules(text: str, path: str) -> list[Rule]:
    """Every rule in a file's text, as Trivy reads them; lines are split on "\\n" as Trivy does."""
    rules: list[Rule] = []
    lines = text.split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        found, start = _parse_line(line)
        if not found:
            continue
        comment = _comment(line, start)
        ids = tuple(rule_id for rule_id, _, _ in found)
        for rule_id, expires, bad in found:
            rules.append(Rule(path, number, rule_id, expires, bad, comment, ids))
    # A stack of comment lines applies to the line after its last line.
    out: list[Rule] = []
    end = 0
    for rule in reversed(rules):
        if not out or rule.line not in (out[-1].line, out[-1].line - 1):
            end = rule.line
        block = _MODULE_BLOCK.match(lines[end].strip()) if end < len(lines) else None
        out.append(replace(rule, applies_to=end + 1, module=block and block.group(1)))
    out.reverse()
    return out


def _comment(line: str, start: int) -> str:
    """The comment from its opener (`#`, `//`, `/*`) before the first rule, cut short: code
    before a same-line comment is not part of it."""
    before = line[:start].rstrip()
    for opener in ("#", "//", "/*"):
        if before.endswith(opener):
            start = len(before) - len(opener)
            break
    text = line[start:]
    return text if len(text) <= _MAX_COMMENT else text[: _MAX_COMMENT - 3] + "..."


def _parse_line(line: str) -> tuple[list[tuple[str, date | None, str | None]], int]:
    """The rules of one line, and where the first one starts."""
    found: list[tuple[str, date | None, str | None]] = []
    start = 0
    for match in re.finditer(r"\S+", line):
        word = match.group().lstrip("#/*")
        prefix = next((p for p in _PREFIXES if word.startswith(p)), None)
        if prefix is None:
            continue
        sections = word[len(prefix) :].split(":")
        rule_id = None
        dates: list[str] = []
        for i in range(0, len(sections) - 1, 2):
            key, value = sections[i], sections[i + 1]
            if key == "ignore":
                rule_id = value.split("[", 1)[0] or rule_id
            elif key == "exp":
                dates.append(value)
        if not rule_id:
            continue  # Trivy drops a rule without an ID
        expires, bad = _expiry(dates)
        if not found:
            start = match.start()
        found.append((rule_id, expires, bad))
    return found, start


def _expiry(values: list[str]) -> tuple[date | None, str | None]:
    """The rule's `exp:`; fail closed on doubt: an unreadable date, or several dates (Trivy
    takes the last), is `bad`, and the earliest readable date is kept."""
    parsed = []
    bad = None
    for value in values:
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            parsed.append(date.fromisoformat(value))
        except ValueError:
            bad = value
    if len(values) > 1 and bad is None:
        bad = " and ".join(values)
    return (min(parsed) if parsed else None), bad


def neutralise(data: bytes) -> bytes:
    """The text with every rule made unreadable to Trivy (`trivy:` -> `trivy_`): same length,
    same lines."""
    return MARKER.sub(lambda m: m.group(1) + b"_", data)


# --- which comment a finding belongs to -----------------------------------------------------


def _id_match(rule_id: str, finding: Finding) -> bool | None:
    """True: the rule names the check; False: it names another; None: cannot tell (a long
    ID such as `aws-s3-enable-versioning`, which Trivy's report does not carry)."""
    if rule_id == "*" or match_key(rule_id) == match_key(finding.id):
        return True
    if "*" in rule_id:
        forms = (finding.id, f"AVD-{finding.id}")
        if any(fnmatchcase(form.upper(), rule_id.upper()) for form in forms):
            return True
        return None
    if _SHORT_ID.match(rule_id):
        return False
    return None


def attribute(finding: Finding, rules: list[Rule], *, strict: bool = False) -> Rule | None:
    """The rule that hid `finding`: Trivy's rule first (the comment stack right above the
    line, or on it, naming the check or `*`), then the nearest one above it in its file, then
    one in another file (above a `module` block), then one whose ID cannot be told apart.
    `strict`: only the first two, naming the check."""
    path = finding.location.path if finding.location else finding.target
    line = finding.location.start_line if finding.location else None
    named = [r for r in rules if _id_match(r.id, finding)]
    here = [r for r in named if r.path == path]
    if line is not None:
        exact = [r for r in here if line in (r.applies_to, r.line)]
        if exact:
            return exact[0]
        above = [r for r in here if r.line <= line]
        if above:
            return max(above, key=lambda r: r.line)
    if strict:
        return None
    if here:
        return here[0]
    # Above the `module` block that brought the finding's resource in (Trivy's cause names
    # the module path; scangate keeps it as the end of the finding's identity).
    modules = set(_MODULE_PATH.findall(finding.identity.rpartition("\x1f")[2]))
    called = [r for r in named if r.module in modules]
    if called or named:
        return (called or named)[0]
    unsure = [r for r in rules if _id_match(r.id, finding) is None]
    mine = [r for r in unsure if r.path == path and (line is None or r.line <= line)]
    if mine:
        return max(mine, key=lambda r: r.line)
    return unsure[0] if unsure else None
