"""What a SARIF rule says about a finding, beside its id: the SARIF level and GitHub's
`security-severity` for a severity, the precision of each kind, and the help text and URI.

The finding's text is untrusted: help text is escaped per channel (`escape.plain` for text,
`escape.markdown` and a link only to a vetted URL for Markdown) and shortened to GitHub's
1024 characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scangate.findings import Finding, Kind, Severity
from scangate.formats.escape import clip, markdown, markdown_link, plain, safe_url

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
WHY = {
    Kind.SECRET: (
        "A credential committed to a repository can be used by anyone who can read the "
        "repository, its forks or its history."
    ),
    Kind.LICENSE: "The license's terms may conflict with how this project is distributed.",
}


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


def clip_text(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def help_uri(f: Finding) -> str:
    """The first http(s) URL fit for a link (`escape.safe_url`): the primary URL, a
    reference, the advisory page for the ID, else Trivy's docs for the kind."""
    candidates = [f.primary_url or "", *f.references]
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
    what = _what(f, title)
    fix = _HOW_TO_FIX[f.kind]
    why = " ".join(why.split())
    text_tail = f"How to fix: {fix}\n\nMore: {plain(url)}"
    text_what = _fitted(what, MAX_HELP_HEADLINE, plain)
    text_why = _fitted(why, MAX_DESCRIPTION - len(text_what) - len(text_tail) - 6, plain)
    md_tail = f"**How to fix:** {fix}\n\n{markdown_link(f.id, url, MAX_HELP_LINK_TEXT)}"
    md_what = f"**{_fitted(what, MAX_HELP_HEADLINE, markdown)}**"
    md_why = _fitted(why, MAX_DESCRIPTION - len(md_what) - len(md_tail) - 6, markdown)
    text = "\n\n".join(part for part in (text_what, text_why, text_tail) if part)
    help_markdown = "\n\n".join(part for part in (md_what, md_why, md_tail) if part)
    return clip_text(text), clip_text(help_markdown)


def _fitted(text: str, room: int, escape: Callable[[str], str]) -> str:
    """`escape(text)`, the text shortened ("...") until the escaped form fits in `room`
    characters; "" when less than 40 would be left of it."""
    if room < 40:
        return ""
    limit = len(text)
    while True:
        escaped = escape(clip(text, limit))
        if len(escaped) <= room:
            return escaped
        if limit <= 40:
            return ""
        limit = max(40, min(limit - 1, limit * room // len(escaped)))
