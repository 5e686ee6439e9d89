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

import functools
import re

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


# Printable ASCII: deleting these bytes from an ASCII text leaves its control characters.
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_PLAIN_ASCII = _PRINTABLE_ASCII.replace(b"\\", b"")
# Shorter ASCII text: `str.isprintable` is faster than the encode and delete.
_SHORT_TEXT = 80


def printable(text: str) -> bool:
    """`text.isprintable()`: the same answer, 3x faster on long ASCII text (a C-level delete
    of the printable bytes instead of a Unicode lookup for each character)."""
    if len(text) > _SHORT_TEXT and text.isascii():
        return not text.encode().translate(None, _PRINTABLE_ASCII)
    return text.isprintable()


def plain(text: str, limit: int | None = None, *, tabs: bool = False) -> str:
    """Text safe for a terminal or a job log: one line, no escape sequence, no workflow
    command. `limit` caps the length of the text before escaping; `tabs` keeps TAB as is
    (text meant to keep its columns, such as Trivy's log lines)."""
    text = clip(text, limit)
    # The common case skips the regex scan: no character `_PLAIN` escapes (all are Unicode
    # "Other" or separators, so unprintable, or the backslash) and no "##[".
    if len(text) > _SHORT_TEXT and text.isascii():
        clean = not text.encode().translate(None, _PLAIN_ASCII)
    else:
        clean = text.isprintable() and "\\" not in text
    if clean and ("#" not in text or "##[" not in text):
        return text
    if _PLAIN.search(text) is None:
        return text
    if tabs:
        return _PLAIN.sub(lambda m: "\t" if m[0] == "\t" else _visible(m[0]), text)
    return _PLAIN.sub(lambda m: _visible(m[0]), text)


# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and an
# escaped one is always literal. "@" is handled apart (see `markdown`).
_MARKDOWN_PUNCTUATION = """!"#$%&'()*+,-./:;<=>?[]^_`{|}~"""  # and the backslash, first
NO_LINK = "@&#8203;"


# Bytes that are never markup: deleting them from a text's UTF-8 leaves its ASCII
# punctuation, backslashes, "@" and controls, in one C-level pass.
_INERT = bytes(b for b in range(256) if b >= 0x80 or chr(b).isalnum() or b == 0x20)
_ESCAPED = {ord(c): "\\" + c for c in _MARKDOWN_PUNCTUATION}
_AT = ord("@")
_BACKSLASH = ord("\\")
_HASH = ord("#")


def markdown(text: str, limit: int | None = None) -> str:
    """Text safe anywhere in a Markdown line (a paragraph, a table cell, a list item, a
    heading): shown as written, never markup. `limit` caps it before escaping."""
    text = clip(text, limit)
    if text.isascii():
        marks = set(text.encode().translate(None, _INERT))
        if not marks:
            return text
        if min(marks) < 0x20 or 0x7F in marks:
            text = _VISIBLE.sub(lambda m: _visible(m[0]), text)  # ASCII escapes: "\x1b"
            marks = set(text.encode().translate(None, _INERT))
    else:
        if not text.isprintable():  # every character `_VISIBLE` matches is unprintable
            text = _VISIBLE.sub(lambda m: _visible(m[0]), text)
        # No surrogate is left to encode: `_VISIBLE` escapes them.
        marks = set(text.encode().translate(None, _INERT))
    return _escape_punctuation(text, marks)


def _escape_punctuation(text: str, marks: set[int]) -> str:
    """`markdown`'s second half: `text`, its controls already shown as escapes, with its
    ASCII punctuation, backslashes and "@" escaped; `marks` holds the codes of those in it
    (any other code in it is ignored)."""
    # One str.replace for each kind of punctuation present (a C-level pass each; a regex
    # substitution calls back into Python for every match). The backslash first: the
    # others only add backslashes, so their order does not matter.
    if _BACKSLASH in marks:
        text = text.replace("\\", "\\\\")
    for code in marks:
        escaped = _ESCAPED.get(code)
        if escaped is not None:
            text = text.replace(escaped[1], escaped)
    # A zero-width space after "@": `@user` mentions nobody and `a@b.example` is no mailto
    # link (both are found in the rendered text, where backslash escapes are gone).
    return text.replace("@", NO_LINK) if _AT in marks else text


def plain_and_markdown(text: str) -> tuple[str, str]:
    """`(plain(text), markdown(text))`, from one pass over an ASCII text without controls
    (the help of a SARIF rule holds its description in both)."""
    if text.isascii():
        marks = set(text.encode().translate(None, _INERT))
        if not marks:
            return text, text
        if min(marks) >= 0x20 and 0x7F not in marks:
            clean = _BACKSLASH not in marks and (_HASH not in marks or "##[" not in text)
            return text if clean else plain(text), _escape_punctuation(text, marks)
    return plain(text), markdown(text)


def clean_ascii(text: str) -> bool:
    """True when `text` is ASCII that `plain` leaves as it is (no control character, no
    backslash, no "##["): `markdown` then only escapes its punctuation (`markdown_clean`).
    One C-level check of the whole text (a SARIF rule asks it once for all its texts)."""
    return (
        text.isascii()
        and not text.encode().translate(None, _PLAIN_ASCII)
        and ("#" not in text or "##[" not in text)
    )


def markdown_clean(text: str) -> str:
    """`markdown(text)` for a text `clean_ascii` accepts: its punctuation escaped."""
    marks = set(text.encode().translate(None, _INERT))
    return _escape_punctuation(text, marks) if marks else text


def markdown_clean_size(text: str) -> int:
    """`len(markdown(text))` for a `clean_ascii` text, without building it."""
    marks = text.encode().translate(None, _INERT)
    return len(text) + len(marks) + 6 * marks.count(b"@")


def markdown_size(text: str) -> int:
    """`len(markdown(text))`, counted without building the text when it is ASCII without
    control characters (each punctuation character adds its backslash, each "@" 7)."""
    if text.isascii():
        marks = text.encode().translate(None, _INERT)
        if not marks:
            return len(text)
        if min(marks) >= 0x20 and 0x7F not in marks:
            return len(text) + len(marks) + 6 * marks.count(b"@")
    return len(markdown(text))


MAX_URL = 2048
# Characters a link destination may hold: printable ASCII without space, quotes, angle
# brackets, parentheses, backslash, backtick, braces, "|" (a table cell) and "^".
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]+")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
# Most advisory URLs: http(s)://, a `_HOST` name and a path of `_URL_CHARS` without "@". The
# netloc (up to the first "/") is then the host name itself: no user info, no port, no
# brackets, so `safe_url`'s urlsplit checks all pass. Anything else takes those checks.
_PLAIN_URL = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
    r"(?:/[A-Za-z0-9\-._~:/?#\[\]!$&*+,;=%]*)?"
)


# Small: a SARIF rule vets its help URL, then links it (`markdown_link`) right after.
@functools.lru_cache(maxsize=16)
def safe_url(url: str) -> bool:
    """True for an absolute http(s) URL that can be a Markdown link destination as it is:
    printable ASCII with no space, quote, parenthesis or angle bracket, a host name (or an
    IP address) and no user info (`https://good.example@evil.example/`)."""
    if not url or len(url) > MAX_URL or _URL_CHARS.fullmatch(url) is None:
        return False
    if _PLAIN_URL.fullmatch(url) is not None:
        return True  # what urlsplit would accept (see `_PLAIN_URL`), at a tenth of its cost
    from urllib.parse import urlsplit  # imported at first use: every command imports this module

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


def markdown_link_clean(text: str, url: str, limit: int | None = None) -> str:
    """`markdown_link(text, url, limit)` for a `clean_ascii` text and a `safe_url`."""
    return f"[{markdown_clean(clip(text, limit))}]({url.replace('&', _ESCAPED_AMPERSAND)})"


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
    import secrets  # at first use: most runs print no guarded block

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
