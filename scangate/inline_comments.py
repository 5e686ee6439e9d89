"""Trivy's inline ignore comments (`#trivy:ignore:ID`) as text: read them, neutralise them,
and tell which comment a finding belongs to (see `scangate.inline_ignores` for their use).

Trivy's syntax, as in 0.76 (aquasecurity/trivy pkg/iac/ignore/parse.go and rule.go): each
line (split on "\n", trimmed of Go's Unicode spaces) is split into words on " " only; each
word is trimmed of spaces, then of leading `#`, `/` and `*`; a word then starting with
`trivy:` or `tfsec:` (case-sensitive) is a rule of `key:value` sections: `ignore:<ID>`
(required, non-empty; `*` and globs like `AWS-*` allowed; a `[...]` suffix restricts it to
some values), `exp:YYYY-MM-DD` (the last one counts; an unreadable date makes the rule ignore
nothing) and `ws:` (a Terraform workspace). A tab inside a word does not split it:
`trivy:a<TAB>b:c:ignore:*` is one word whose `ignore:*` section counts. A rule applies to
the block (or any enclosing block) starting on the line after it, or on its own line;
consecutive rule lines form one stack that applies to the block after the last of them.
IDs are Trivy's (`AWS-0092`, `AVD-AWS-0092`) or the long form (`aws-s3-no-public-access-with-acl`).
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fnmatch import fnmatchcase

from scangate.findings import Finding, InlineIgnore, match_key

Buffer = bytes | mmap.mmap

# Go's unicode.IsSpace, which strings.TrimSpace trims.
_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
# The same as UTF-8 bytes, but " " and "\n" (a file is searched before it is decoded).
_SPACE_BYTES = (
    rb"[\t\v\f\r]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    rb"|\xe2\x81\x9f|\xe3\x80\x80"
)
# Where Trivy sees a word start: a line's start or a " ", then spaces, then `#`, `/`, `*`
# (no space after those). Every pattern here runs in linear time, whatever the text.
_CONTEXT = rb"(?:^|(?<= ))(?:" + _SPACE_BYTES + rb")*[#/*]*"
# The neutraliser rewrites every `trivy:` / `tfsec:` there, in any case and whatever follows,
# so that no rule survives however its sections read. `aquasec/trivy:0.76` is left alone.
_RULE_START = re.compile(rb"(?im)(" + _CONTEXT + rb")(trivy|tfsec):")
# The same at the start of one word (the text between two " " or line ends).
_WORD_RULE = re.compile(rb"(?i)(?:" + _SPACE_BYTES + rb")*[#/*]*(?:trivy|tfsec):")
# The cheap search: `trivy:` / `tfsec:` in any case anywhere in a word holding `ignore:` in
# any case, not glued to a printable ASCII character other than `#`, `/`, `*`. Wider than
# Trivy (which is case-sensitive and wants it at the word's start): a file it misses holds
# no rule.
_WIDE = re.compile(rb"(?i)(?<![\x21\x22\x24-\x29\x2b-\x2e\x30-\x7e])(?:trivy|tfsec):")
_IGNORE = re.compile(rb"(?i)ignore:")
_PREFIXES = ("trivy:", "tfsec:")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # Go's "2006-01-02": ASCII digits only
_SHORT_ID = re.compile(r"(?i)^(?:AVD-)?[A-Z]+-\d+$")  # not legacy `AWS018`: unsure
_MAX_COMMENT = 200
_MODULE_BLOCK = re.compile(r'module\s+(?:"([^"]+)"|([A-Za-z_][\w-]*))')
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
    last_exp: str | None = None  # the `exp:` value Trivy uses (the last one)
    opens_block: bool = False  # the line it applies to looks like a block's first line

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

    def live(self, today: date) -> bool:
        """Whether Trivy may still apply the rule: its last `exp:` is readable to Go and not
        clearly past (a day of slack for time zones)."""
        if self.last_exp is None:
            return True
        if not _DATE.fullmatch(self.last_exp):
            return False
        try:
            return date.fromisoformat(self.last_exp) >= today - timedelta(days=1)
        except ValueError:
            return False


def parse_rules(text: str, path: str) -> list[Rule]:
    """Every rule in a file's text, as Trivy reads them; lines are split on "\\n" as Trivy does."""
    rules: list[Rule] = []
    lines = text.split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.strip(_SPACES)
        found, start = _parse_line(line)
        if not found:
            continue
        comment = _comment(line, start)
        ids = tuple(rule_id for rule_id, _, _, _ in found)
        for rule_id, expires, bad, last in found:
            rules.append(Rule(path, number, rule_id, expires, bad, comment, ids, last_exp=last))
    # A stack of rule lines applies to the line after its last line.
    out: list[Rule] = []
    end = 0
    for rule in reversed(rules):
        if not out or rule.line not in (out[-1].line, out[-1].line - 1):
            end = rule.line
        # Trivy matches a block starting on the stack's last line or on the next one.
        # Trivy matches a block starting on the line it moved the rule to, or the next one:
        # somewhere from the rule's own line to the line after its stack.
        module = None
        for text in lines[rule.line - 1 : end + 1]:
            block = _MODULE_BLOCK.match(text.strip(_SPACES))
            module = module or (block and (block.group(1) or block.group(2)))
        opens = end < len(lines) and lines[end].rstrip(_SPACES).endswith(("{", "[", "(", ":"))
        out.append(replace(rule, applies_to=end + 1, module=module, opens_block=opens))
    out.reverse()
    return out


def _comment(line: str, start: int) -> str:
    """The comment from its opener (`#`, `//`, `/*`) before the first rule, cut short: code
    before a same-line comment is not part of it."""
    before = line[:start].rstrip(_SPACES)
    for opener in ("#", "//", "/*"):
        if before.endswith(opener):
            start = len(before) - len(opener)
            break
    text = line[start:]
    return text if len(text) <= _MAX_COMMENT else text[: _MAX_COMMENT - 3] + "..."


Parsed = tuple[str, date | None, str | None, str | None]


def _parse_line(line: str) -> tuple[list[Parsed], int]:
    """The rules of one (trimmed) line, and where the first one starts: words are split on
    " " only, as Trivy does (a tab or \\v inside a word does not end it)."""
    found: list[Parsed] = []
    start = 0
    offset = 0
    for part in line.split(" "):
        at, offset = offset, offset + len(part) + 1
        word = part.strip(_SPACES).lstrip("#/*")
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
            start = at + len(part) - len(part.lstrip(_SPACES))
        found.append((rule_id, expires, bad, dates[-1] if dates else None))
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
    """The text with every rule made unreadable to Trivy (`trivy:` -> `trivy_` wherever Trivy
    could see a word start, whatever follows): same length, same lines."""
    return _RULE_START.sub(lambda m: m.group(1) + m.group(2) + b"_", data)


def _words_with_ignore(data: Buffer) -> Iterator[tuple[int, int]]:
    """Where each word (Trivy's: between " " and line ends) holding `ignore:` in any case
    starts and ends; linear in the text's length (each separator is looked for once)."""
    pos = 0
    nxt = {b" ": -2, b"\n": -2}  # the next separator at or after `at`; -1: none left
    while (found := _IGNORE.search(data, pos)) is not None:
        at = found.start()
        start = max(data.rfind(b" ", pos, at), data.rfind(b"\n", pos, at), pos - 1) + 1
        for sep, where in nxt.items():
            if where != -1 and where < at:
                nxt[sep] = data.find(sep, at)
        end = min((e for e in nxt.values() if e != -1), default=len(data))
        yield start, end
        pos = end


def marked(data: Buffer) -> bool:
    """Whether the text may hold a rule: the cheap, case-blind search, wider than Trivy."""
    return any(_WIDE.search(data, start, end) for start, end in _words_with_ignore(data))


def readable(data: bytes) -> bool:
    """Whether Trivy could read a rule in the text: one the parser reads, or a word starting
    as a rule (in any case) that holds `ignore:` (the safety net after neutralising)."""
    if any(_WORD_RULE.match(data, start, end) for start, end in _words_with_ignore(data)):
        return True
    return bool(parse_rules(data.decode("utf-8", errors="replace"), ""))


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


def _where(finding: Finding) -> tuple[str, int | None]:
    if finding.location is None:
        return finding.target, None
    return finding.location.path, finding.location.start_line


def candidates(finding: Finding, rules: list[Rule], today: date) -> list[Rule]:
    """Every rule that may have hidden `finding` (Trivy's report does not say which did), one
    per comment line, the likeliest first (as `attribute`). A rule may hide it if Trivy could
    still apply it, its ID does not name another check, and it sits where it reaches a block
    around the finding: in its file, at or above its line (the enclosing blocks start there;
    a same-line comment counts), or above a `module` block in the finding's module path.
    Over-counting only makes the gate stricter: it refuses if it refuses any of them."""
    path, line = _where(finding)
    modules = set(_MODULE_PATH.findall(finding.identity.rpartition("\x1f")[2]))
    live = [r for r in rules if r.live(today) and _id_match(r.id, finding) is not False]
    found = [
        r
        for r in live
        # Trivy moves a rule at most to its stack's last line (`shift`): never above its own.
        if (r.path == path and (line is None or r.line <= line))
        or (r.path != path and r.module is not None and (not modules or r.module in modules))
    ]
    first = attribute(finding, found)
    if first is not None and line is not None and line not in (first.applies_to, first.line):
        # Not right above: a block around the finding starts there, not an attribute.
        blocks = [r for r in found if r.path == path and r.opens_block and _id_match(r.id, finding)]
        first = max(blocks, key=lambda r: r.line) if blocks else first
    found.sort(key=lambda r: r is not first)  # stable: file order otherwise
    out: list[Rule] = []
    for rule in found:
        if all((rule.path, rule.line) != (o.path, o.line) for o in out):
            out.append(rule)
    return out


def attribute(finding: Finding, rules: list[Rule], *, strict: bool = False) -> Rule | None:
    """The rule that hid `finding`: Trivy's rule first (the comment stack right above the
    line, or on it, naming the check or `*`), then the nearest one above it in its file, then
    one in another file (above a `module` block), then one whose ID cannot be told apart.
    `strict`: only the first two, naming the check."""
    path, line = _where(finding)
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
