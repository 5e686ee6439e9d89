"""What a SARIF rule says about a finding, beside its id: the SARIF level and GitHub's
`security-severity` for a severity, the precision of each kind, and the help text and URI.

The finding's text is untrusted: help text is escaped per channel (`escape.plain` for text,
`escape.markdown` and a link only to a vetted URL for Markdown) and shortened to GitHub's
1024 characters.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

from scangate.findings import Finding, Kind, Severity
from scangate.formats.escape import (
    ELLIPSIS,
    NO_LINK,
    clean_ascii,
    clip,
    markdown,
    markdown_clean,
    markdown_link,
    markdown_link_clean,
    markdown_size,
    plain,
    plain_and_markdown,
    printable,
    safe_url,
)
from scangate.formats.sarif.encoding import json_string

# "...", escaped for Markdown: where a help text is cut.
_CUT = markdown_clean(ELLIPSIS)
# GitHub's limit for a rule's descriptions and help (docs: "SARIF support for code scanning").
MAX_DESCRIPTION = 1024
MAX_HELP_HEADLINE = 400
MAX_HELP_LINK_TEXT = 200

LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
# GitHub maps security-severity to critical above 9.0, high 7.0-8.9, medium 4.0-6.9, low
# below 4.0. The defaults sit inside each band, never on a boundary.
DEFAULT_SECURITY_SEVERITY: dict[Severity, float] = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 0.0,
}
_BANDS: dict[Severity, tuple[float, float]] = {
    Severity.CRITICAL: (9.0, 10.0),
    Severity.HIGH: (7.0, 9.0),
    Severity.MEDIUM: (4.0, 7.0),
    Severity.LOW: (0.1, 4.0),
}
PRECISION: dict[Kind, str] = {
    Kind.VULNERABILITY: "very-high",
    Kind.MISCONFIGURATION: "very-high",
    # Pattern matches: a test fixture or an example key is sometimes reported.
    Kind.SECRET: "high",
    Kind.LICENSE: "very-high",
}
_KIND_DOCS = {
    Kind.VULNERABILITY: "https://trivy.dev/latest/docs/scanner/vulnerability/",
    Kind.MISCONFIGURATION: "https://trivy.dev/latest/docs/scanner/misconfiguration/",
    Kind.SECRET: "https://trivy.dev/latest/docs/scanner/secret/",
    Kind.LICENSE: "https://trivy.dev/latest/docs/scanner/license/",
}
_HOW_TO_FIX = {
    Kind.VULNERABILITY: (
        "Upgrade the package to the fixed version the alert names, or remove it. To accept "
        "the risk, allow it in the scangate policy with a reason and an expiry date."
    ),
    Kind.MISCONFIGURATION: (
        "Change the configuration as the check describes. To accept it, allow it in the "
        "scangate policy with a reason and an expiry date."
    ),
    Kind.SECRET: (
        "Revoke and rotate the credential now: it is in the repository and its history. "
        "Then remove it from the file and load it from a secret store or the environment."
    ),
    Kind.LICENSE: (
        "Check the license terms against how this project is distributed; replace the "
        "dependency or record the approval as an allow entry in the scangate policy."
    ),
}
_FIX_TEXT = {kind: f"How to fix: {fix}\n\nMore: " for kind, fix in _HOW_TO_FIX.items()}
_FIX_JSON = {kind: json_string(text)[1:-1] for kind, text in _FIX_TEXT.items()}
_FIX_MARKDOWN = {kind: f"**How to fix:** {fix}\n\n" for kind, fix in _HOW_TO_FIX.items()}
WHY = {
    Kind.SECRET: (
        "A credential committed to a repository can be used by anyone who can read the "
        "repository, its forks or its history."
    ),
    Kind.LICENSE: "The license's terms may conflict with how this project is distributed.",
}


# The tag of a rule whose vulnerability is in CISA's Known Exploited Vulnerabilities catalog:
# code scanning filters alerts by tag (`tag:kev`).
KEV_TAG = "kev"


def rule_tags(kind: Kind, severity: Severity, *, kev: bool = False) -> list[str]:
    """A rule's `properties.tags`: "security" (GitHub's security alerts), the kind, the
    severity, and `kev` for a known exploited vulnerability."""
    return ["security", kind.value, severity.value, *([KEV_TAG] if kev else [])]


def epss_property_json(epss: float | None) -> str:
    """`,"epss":0.94441` for a rule's property bag (after its other properties), or "" (a
    rule without a score is as before issue 11). The probability as the feed gave it, encoded
    as the JSON encoder writes a float; a value JSON cannot hold (NaN) is left out."""
    if epss is None or not math.isfinite(epss):
        return ""
    return f',"epss":{float.__repr__(epss)}'


# Few distinct pairs in a report: every finding of 100,000 asks.
@functools.lru_cache(maxsize=1024)
def security_severity(severity: Severity, cvss_score: float | None) -> str:
    """GitHub's `security-severity`: the CVSS v3 score when it agrees with the severity the
    gate used (it lies in that severity's band and is not GitHub's 9.0 boundary), else the
    severity's default score, so GitHub and the gate never disagree on how bad it is."""
    band = _BANDS.get(severity)
    if cvss_score is not None and band is not None:
        low, high = band
        text = f"{cvss_score:.1f}"
        inside = (
            low < cvss_score <= high if severity is Severity.CRITICAL else low <= cvss_score < high
        )
        if inside and text != "9.0":
            return text
    return f"{DEFAULT_SECURITY_SEVERITY[severity]:.1f}"


def one_line(text: str) -> str:
    """`" ".join(text.split())`: whitespace runs as one space, none at either end."""
    # Printable text holds no whitespace but " " (str.isprintable): most titles and
    # descriptions are one line already and skip the split.
    if printable(text) and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def clip_text(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def help_uri(f: Finding) -> str:
    """The first http(s) URL fit for a link (`escape.safe_url`): the primary URL, a
    reference, the advisory page for the ID, else Trivy's docs for the kind."""
    if f.primary_url and safe_url(f.primary_url):
        return f.primary_url  # most often: the rest is not built
    candidates = list(f.references)
    if f.kind is Kind.VULNERABILITY:
        upper = f.id.upper()  # f.id is as reported: `GHSA-g98v-hv3f-hcfr`, the URL's spelling
        if upper.startswith("CVE-"):
            candidates.append(f"https://avd.aquasec.com/nvd/{f.id.lower()}")
        if upper.startswith("GHSA-"):
            candidates.append(f"https://github.com/advisories/{f.id}")
    if f.kind is Kind.MISCONFIGURATION and re.fullmatch(r"[A-Z]+-\d+", f.id):
        candidates.append(f"https://avd.aquasec.com/misconfig/{f.id.lower()}")
    return next((url for url in candidates if safe_url(url)), _KIND_DOCS[f.kind])


def _what(f: Finding, title: str) -> str:
    if f.kind is Kind.VULNERABILITY:
        return f"Vulnerability {f.id}: {title}"
    if f.kind is Kind.MISCONFIGURATION:
        return f"Misconfiguration {f.id}: {title}"
    if f.kind is Kind.SECRET:
        return f"Secret ({f.id}): {title}"
    return f"License {f.id}: {title}"


def rule_help(f: Finding, title: str, why: str, url: str) -> tuple[str, str]:
    """help.text and help.markdown: what, why, how to fix and the primary URL, each at most
    1024 characters (the description is shortened to fit).

    The finding's text is untrusted: `escape.plain` in the text, `escape.markdown` and a
    link only to a vetted URL (`escape.markdown_link`) in the Markdown."""
    text_what, text_why, url_text, help_markdown = _help(f, title, why, url)
    text_tail = f"{_FIX_TEXT[f.kind]}{url_text}"
    text = "\n\n".join(part for part in (text_what, text_why, text_tail) if part)
    return clip_text(text), help_markdown


def rule_help_json(f: Finding, title: str, why: str, url: str, why_json: str) -> tuple[str, str]:
    """`rule_help`'s texts as JSON strings (`encoding.json_string`), given `why_json`, the
    JSON string of `why`: a description in the help text as it is is not encoded again."""
    text_what, text_why, url_text, help_markdown = _help(f, title, why, url)
    size = len(text_what) + len(text_why) + len(_FIX_TEXT[f.kind]) + len(url_text)
    size += 2 * (bool(text_what) + bool(text_why))
    if size > MAX_DESCRIPTION:  # cut by `clip_text`: encoded as a whole
        text_tail = f"{_FIX_TEXT[f.kind]}{url_text}"
        text = "\n\n".join(part for part in (text_what, text_why, text_tail) if part)
        return json_string(clip_text(text)), json_string(help_markdown)
    # JSON escapes one character at a time: the string of a text joined from parts is the
    # parts' strings joined, "\n\n" as `\\n\\n`.
    pieces = ['"']
    if text_what:
        pieces += (json_string(text_what)[1:-1], "\\n\\n")
    if text_why:
        pieces += (why_json[1:-1] if text_why is why else json_string(text_why)[1:-1], "\\n\\n")
    pieces += (_FIX_JSON[f.kind], json_string(url_text)[1:])
    return "".join(pieces), json_string(help_markdown)


def rule_help_clean_json(f: Finding, title: str, why: str, url: str) -> tuple[str, str]:
    """`rule_help_json`, when `title`, `why` (not empty), `f.id` and `url` are one line of
    `escape.clean_ascii` text without a double quote, and `url` is from `help_uri`.

    `plain` then leaves each as it is and `markdown` only escapes punctuation
    (`markdown_clean`), and the JSON string of a text is the text quoted: each text is
    escaped once and the help text is not encoded at all (most rules, 2-3x faster)."""
    fix_text = _FIX_TEXT[f.kind]
    what = _what(f, title)
    text_what = clip(what, MAX_HELP_HEADLINE)  # `_fitted(what, ..., plain)` of clean text
    what_markdown = markdown_clean(what)
    if len(what_markdown) > MAX_HELP_HEADLINE:
        what_markdown = _fitted_clean(what, MAX_HELP_HEADLINE)
    md_what = f"**{what_markdown}**"
    # `help_uri` gives only a `safe_url`.
    md_tail = f"{_FIX_MARKDOWN[f.kind]}{markdown_link_clean(f.id, url, MAX_HELP_LINK_TEXT)}"
    text_room = MAX_DESCRIPTION - len(text_what) - len(fix_text) - len(url) - 6
    md_room = MAX_DESCRIPTION - len(md_what) - len(md_tail) - 6
    # `_fit` and `_fitted` of clean text: `plain` cuts at the room, `markdown` as usual.
    text_why = "" if text_room < 40 else why if len(why) <= text_room else clip(why, text_room)
    md_why = markdown_clean(why) if md_room >= 40 and len(why) <= md_room else ""
    if len(md_why) > md_room or not md_why:
        md_why = _fitted_clean(why, md_room)
    md = f"{md_what}\n\n{md_why}\n\n{md_tail}" if md_why else f"{md_what}\n\n{md_tail}"
    # No double quote and no control but "\n" in it: its JSON string doubles the backslashes
    # and writes "\n" as an escape (two C-level passes; the encoder's is slower).
    md_json = '"' + clip_text(md).replace("\\", "\\\\").replace("\n", "\\n") + '"'
    size = len(text_what) + len(text_why) + len(fix_text) + len(url) + 2 + 2 * bool(text_why)
    if size > MAX_DESCRIPTION:  # cut by `clip_text`: encoded as a whole
        text = f"{text_what}\n\n{text_why}\n\n{fix_text}{url}" if text_why else ""
        text = text or f"{text_what}\n\n{fix_text}{url}"
        return json_string(clip_text(text)), md_json
    fix_json = _FIX_JSON[f.kind]
    if text_why:
        return f'"{text_what}\\n\\n{text_why}\\n\\n{fix_json}{url}"', md_json
    return f'"{text_what}\\n\\n{fix_json}{url}"', md_json


def _help(f: Finding, title: str, why: str, url: str) -> tuple[str, str, str, str]:
    """The parts of help.text (what, why, the URL) and help.markdown, clipped."""
    what = _what(f, title)
    fix = _HOW_TO_FIX[f.kind]
    why = one_line(why)
    url_text = plain(url)
    # Each text escaped for both channels at once; `_fitted` only for one that is too long.
    what_plain, what_markdown = plain_and_markdown(what)
    text_what = _fit(what, what_plain, MAX_HELP_HEADLINE, plain)
    md_what = f"**{_fit(what, what_markdown, MAX_HELP_HEADLINE, markdown)}**"
    md_tail = f"**How to fix:** {fix}\n\n{markdown_link(f.id, url, MAX_HELP_LINK_TEXT)}"
    text_room = MAX_DESCRIPTION - len(text_what) - len(_FIX_TEXT[f.kind]) - len(url_text) - 6
    md_room = MAX_DESCRIPTION - len(md_what) - len(md_tail) - 6
    if len(why) <= md_room:
        why_plain, why_markdown = plain_and_markdown(why)
        text_why = _fit(why, why_plain, text_room, plain)
        md_why = _fit(why, why_markdown, md_room, markdown)
    else:  # the Markdown is cut: `_fitted` escapes only the cut text
        text_why = _fitted(why, text_room, plain)
        md_why = _fitted(why, md_room, markdown)
    help_markdown = "\n\n".join(part for part in (md_what, md_why, md_tail) if part)
    return text_what, text_why, url_text, clip_text(help_markdown)


def _fit(text: str, escaped: str, room: int, escape: Callable[[str], str]) -> str:
    """`_fitted(text, room, escape)`, given `escaped`, `escape(text)`."""
    return escaped if room >= 40 and len(escaped) <= room else _fitted(text, room, escape)


def _fitted(text: str, room: int, escape: Callable[[str], str]) -> str:
    """`escape(text)`, the text shortened ("...") until the escaped form fits in `room`
    characters; "" when less than 40 would be left of it."""
    if room < 40:
        return ""
    limit = len(text)
    if escape is markdown and clean_ascii(text):
        return _fitted_clean(text, room)
    if escape is markdown and limit > room:
        # Too long whatever its escapes (they never shorten a text): the same steps on the
        # sizes alone (`markdown_size`, a third of the cost), then one escape of the cut.
        size = markdown_size(text)
        while size > room:
            if limit <= 40:
                return ""
            limit = max(40, min(limit - 1, limit * room // size))
            size = markdown_size(clip(text, limit))
        return markdown(clip(text, limit))
    escaped = escape(text)
    while len(escaped) > room:
        if limit <= 40:
            return ""
        if escaped == text and escape is plain:
            # Nothing to escape (most descriptions), nor in any part of it: the loop
            # would end at `clip(text, room)`, after escaping it once more.
            return clip(text, room)
        limit = max(40, min(limit - 1, limit * room // len(escaped)))
        escaped = escape(clip(text, limit))
    return escaped


def _fitted_clean(text: str, room: int) -> str:
    """`_fitted(text, room, markdown)` for a `clean_ascii` text: the longest start of it
    whose escaped form, with the escaped "...", fits in `room`; "" when less than 40
    characters would be left.

    Escaping a clean text is one character at a time (a backslash before punctuation, an
    entity after "@"), so the escaped start of the text is a start of the escaped text: one
    escape of at most `room` characters, cut where no escape is split."""
    if room < 40:
        return ""
    if len(text) <= room:
        escaped = markdown_clean(text)
        if len(escaped) <= room:
            return escaped
    else:
        escaped = markdown_clean(text[: room - len(_CUT)])
    end = room - len(_CUT)
    if escaped[end - 1] == "\\":  # the text has no backslash: each is an escape's
        end -= 1
    at = escaped.rfind("@", max(0, end - len(NO_LINK) + 1), end)
    if at != -1:  # the entity after an "@" would be cut
        end = at
    head = escaped[:end]
    kept = end - head.count("\\") - (len(NO_LINK) - 1) * head.count("@")
    if kept > len(text) - 4:  # as `clip` cuts: at least one character gives way to "..."
        kept = len(text) - 4
        head = markdown_clean(text[:kept])
    return head + _CUT if kept + len(ELLIPSIS) >= 40 else ""
