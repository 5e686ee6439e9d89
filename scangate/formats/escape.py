"""One escaping function per output channel, for every string scangate does not control.

File names, comments and ignore files come from the scanned tree; titles, descriptions,
package names, versions, URLs, IDs and messages come from a report (an advisory database, a
package registry). All of it is data, never markup or a command. Each channel has one
function here, and every writer of that channel uses it:

* `plain`: text for a terminal, a CI job log or a plain-text UI (the table, the verdict,
  allowed and warning lines, error messages, SARIF `help.text`). Control characters (C0,
  DEL, C1), Unicode format characters (bidi controls, zero-width characters, tags), line
  and paragraph separators and lone surrogates become visible escapes (`\\x1b`, `\\u202e`), as
  `ls -b` shows odd names; a backslash becomes `\\\\`, so an escape is never ambiguous; and
  `##[` (a workflow command wherever it appears in a job-log line) becomes `#\\x23[`.
  Everything else, accents and CJK included, is kept.
* `markdown`: text inside Markdown (the step summary, `--markdown`, SARIF `help.markdown`):
  `plain`'s visible escapes (a backslash stays one), then every ASCII punctuation
  character backslash-escaped
  (CommonMark makes any of them literal: no link, image, emphasis, heading, table cell
  break, HTML tag, entity, math or autolink can start), and `@` followed by a zero-width
  space entity (GitHub's mentions and e-mail autolinks are found after escapes are undone).
* `markdown_link`: a link only to a vetted http(s) URL (`safe_url`), else escaped text.
* `workflow_data`, `workflow_property`: the message and the properties of a workflow
  command (`::error file=...::message`), escaped as the Actions toolkit does
  (actions/toolkit packages/core/src/command.ts: `%`, CR and LF; also `:` and `,` in
  properties), after `plain`.
* `json_text`: JSON text for a job log or a terminal, unchanged in meaning: `##[` and the
  characters `plain` escapes become `\\uXXXX` escapes inside their strings.
* `stop_commands`: a block of output the Actions runner reads as text only, ended by an
  unpredictable token (`::stop-commands::<token>` ... `::<token>::`).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

# Characters never shown raw: C0 controls, DEL, C1 controls, lone surrogates (a non-UTF-8
# name decoded with surrogateescape; unprintable in UTF-8), and Unicode's format (Cf),
# line (Zl) and paragraph (Zp) separators as of Unicode 15: soft hyphen, Arabic number
# signs, the Mongolian vowel separator, zero-width space/joiners and LRM/RLM, the bidi
# embeddings, overrides and isolates (U+202A-202E, U+2066-2069), word joiner and invisible
# operators, the BOM, interlinear annotations, Egyptian hieroglyph format controls and the
# tag characters (U+E0000 block, "ASCII smuggling").
_C0 = "\x00-\x1f"
_UNSAFE_BEYOND_C0 = (
    "\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE_CLASS = _C0 + _UNSAFE_BEYOND_C0
_PLAIN = re.compile(rf"##\[|[\\{_UNSAFE_CLASS}]")
_VISIBLE = re.compile(f"[{_UNSAFE_CLASS}]")
# JSON encoders escape C0 controls inside strings; outside them, CR, LF and TAB are layout.
_JSON = re.compile(rf"##\[|[{_UNSAFE_BEYOND_C0}]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", "##[": "#\\x23["}

ELLIPSIS = "..."


def _visible(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def clip(text: str, limit: int | None) -> str:
    """`text` cut to at most `limit` characters, the cut marked with "..." (None: no cap)."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def plain(text: str, limit: int | None = None, *, tabs: bool = False) -> str:
    """Text safe for a terminal or a job log: one line, no escape sequence, no workflow
    command. `limit` caps the length of the text before escaping; `tabs` keeps TAB as is
    (text meant to keep its columns, such as Trivy's log lines)."""
    text = clip(text, limit)
    # isprintable() is False for every character `_PLAIN` escapes (all are Unicode "Other" or
    # separators): the common case skips the regex scan.
    if text.isprintable() and "\\" not in text and "##[" not in text:
        return text
    if _PLAIN.search(text) is None:
        return text
    if tabs:
        return _PLAIN.sub(lambda m: "\t" if m[0] == "\t" else _visible(m[0]), text)
    return _PLAIN.sub(lambda m: _visible(m[0]), text)


# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and an
# escaped one is always literal. "@" is handled apart (see `markdown`).
_MARKDOWN_PUNCTUATION = """!"#$%&'()*+,-./:;<=>?[]^_`{|}~"""  # and the backslash, first
_NO_LINK = "@&#8203;"


def markdown(text: str, limit: int | None = None) -> str:
    """Text safe anywhere in a Markdown line (a paragraph, a table cell, a list item, a
    heading): shown as written, never markup. `limit` caps it before escaping."""
    text = clip(text, limit)
    if not text.isprintable():  # every character `_VISIBLE` matches is unprintable
        text = _VISIBLE.sub(lambda m: _visible(m[0]), text)
    # One str.replace per character present: SARIF escapes the help of every rule, and this
    # is 8x faster than a regex substitution (and 4x faster than str.translate) on 3.11.
    text = text.replace("\\", "\\\\")
    for char in _MARKDOWN_PUNCTUATION:
        if char in text:
            text = text.replace(char, "\\" + char)
    # A zero-width space after "@": `@user` mentions nobody and `a@b.example` is no mailto
    # link (both are found in the rendered text, where backslash escapes are gone).
    return text.replace("@", _NO_LINK)


MAX_URL = 2048
# Characters a link destination may hold: printable ASCII without space, quotes, angle
# brackets, parentheses, backslash, backtick, braces, "|" (a table cell) and "^".
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]+")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


def safe_url(url: str) -> bool:
    """True for an absolute http(s) URL that can be a Markdown link destination as it is:
    printable ASCII with no space, quote, parenthesis or angle bracket, a host name (or an
    IP address) and no user info (`https://good.example@evil.example/`)."""
    if not url or len(url) > MAX_URL or _URL_CHARS.fullmatch(url) is None:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # a malformed port raises
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme.lower() in ("http", "https")
        and url.lower().startswith(("http://", "https://"))
        and "@" not in parts.netloc
        and (_HOST.fullmatch(host) is not None or _IPV6.fullmatch(host) is not None)
    )


_ESCAPED_AMPERSAND = "\\&"


def markdown_link(text: str, url: str, limit: int | None = None) -> str:
    """`[text](url)` for a `safe_url`; otherwise the text and the URL as escaped text."""
    label = markdown(text, limit)
    if safe_url(url):
        # An entity in a destination is decoded; an escaped "&" is a literal "&".
        return f"[{label}]({url.replace('&', _ESCAPED_AMPERSAND)})"
    return f"{label} ({markdown(url, limit)})" if url else label


def workflow_data(text: str, limit: int | None = None) -> str:
    """The message of a workflow command (`::error ...::<message>`)."""
    return plain(text, limit).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str, limit: int | None = None) -> str:
    """A property value of a workflow command (`file=`, `title=`)."""
    return workflow_data(text, limit).replace(":", "%3A").replace(",", "%2C")


def _json_escape(char: str) -> str:
    if char == "##[":
        return "#\\u0023["
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(text: str) -> str:
    """JSON text safe for a job log or a terminal, meaning the same to a JSON reader.

    "#" and the characters `plain` escapes occur only inside JSON strings, where a
    `\\uXXXX` escape stands for the same character; the encoder already escapes C0 controls.
    """
    # isascii() and `in` run at memory speed; the regex scan costs ~3 ns a character (0.2 s
    # for the 64 MB result of 100,000 findings), so plain ASCII skips it.
    if text.isascii():
        if "##[" not in text and "\x7f" not in text:
            return text
    elif _JSON.search(text) is None:
        return text
    return _JSON.sub(lambda m: _json_escape(m[0]), text)


def new_token() -> str:
    """An unpredictable token to end a `stop_commands` block: 128 random bits."""
    return secrets.token_hex(16)


def stop_commands(text: str, token: str | None = None) -> str:
    """`text` (lines, ending in a newline) inside a block the Actions runner does not read
    commands from: `::stop-commands::<token>` ... `::<token>::`.

    The runner resumes only at its token (actions/runner ActionCommandManager), so
    untrusted text in between cannot run `::add-mask::`, `::stop-commands::` or `##[...]`.
    """
    token = token or new_token()
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"::stop-commands::{token}\n{body}::{token}::\n"
