"""Hostile text, and real Trivy reports carrying it where a hostile advisory database, a
hostile package or a hostile file name would put it.

`TEXT` holds one of each: a newline followed by workflow commands, a legacy `##[` command,
terminal escapes (clear screen, window title, an OSC 8 hyperlink, concealed text), NUL,
C1, bidi overrides and isolates, Markdown links and images, HTML and entities, mentions,
autolinks, emphasis and math.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEXT = (
    "x\n::add-mask::leaked\r\n  ::stop-commands::evil\n##[error]forged ##[add-mask]y "
    "\x1b[2J\x1b[H\x1b]0;pwned title\x07\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\"
    "\x1b[8mhidden\x1b[0m \x00nul \x85\x9b31m \u202eexe.txt \u2066iso\u2069 "
    "](http://evil.example) ![img](http://evil.example/i.png) <img src=x onerror=alert(1)> "
    "&lt;b&gt; @octocat a@b.example www.evil.example *em* `code` $x$ | cell"
)
# Where the runner, a terminal or a Markdown renderer must never see raw text of `TEXT`.
RAW_MARKERS = ("\x1b", "\u202e", "\u2066", "\x00", "\x85", "##[", "<img", "](http")
# Raw in a terminal or a job log, any of these acts (an escape sequence, a bidi override, a
# legacy workflow command).
LOG_MARKERS = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\x00", "\x85", "\r", "##[")
# A crafted PrimaryURL: a link that closes early and opens the attacker's.
CRAFTED_URL = "https://avd.aquasec.com/x)[click here](https://evil.example/phish"


def _hostile(value: str, n: int, size: int) -> str:
    text = f"{value} {n} {TEXT}"
    return text + "A" * max(0, size - len(text))


def edit_report(source: Path, dest: Path, *, size: int = 0, primary_url: str = CRAFTED_URL) -> Path:
    """`source` (a real Trivy JSON report) with every text field of every finding made
    hostile (each at least `size` characters): targets, IDs, titles, descriptions,
    messages, package names, versions, URLs, references; severities are kept."""
    report: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    n = 0
    for result in report.get("Results") or ():
        result["Target"] = _hostile(result["Target"], n, 0)
        for vuln in result.get("Vulnerabilities") or ():
            n += 1
            vuln["VulnerabilityID"] = _hostile(vuln["VulnerabilityID"], n, size)
            vuln["PkgName"] = _hostile(vuln["PkgName"], n, size)
            vuln.pop("PkgID", None)
            vuln["InstalledVersion"] = _hostile(vuln["InstalledVersion"], n, size)
            vuln["FixedVersion"] = _hostile(vuln.get("FixedVersion") or "1.0", n, size)
            vuln["Title"] = _hostile("title", n, size)
            vuln["Description"] = _hostile("description", n, size)
            vuln["PrimaryURL"] = primary_url
            vuln["References"] = [primary_url, "javascript:alert(1)"]
        for misconf in result.get("Misconfigurations") or ():
            n += 1
            misconf["ID"] = _hostile(misconf["ID"], n, size)
            misconf.pop("AVDID", None)
            for key in ("Title", "Description", "Message", "Resolution"):
                misconf[key] = _hostile(key, n, size)
            misconf["PrimaryURL"] = primary_url
            misconf["References"] = [primary_url]
        for secret in result.get("Secrets") or ():
            n += 1
            secret["RuleID"] = _hostile(secret["RuleID"], n, size)
            secret["Title"] = _hostile("title", n, size)
            secret["Match"] = _hostile("match", n, size)
    dest.write_text(json.dumps(report), encoding="utf-8")
    return dest
