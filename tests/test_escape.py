"""scangate.formats.escape: one escaper per output channel, fed hostile text.

Markdown is checked by rendering it with a real CommonMark parser (markdown-it-py, with
GFM tables) and reading the HTML back; workflow commands with a model of the Actions
runner's parser (tests.support.workflow_commands).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata

import pytest

from scangate.formats import escape
from tests.support import workflow_commands
from tests.support.rendered import gfm_safe, render

MB = 1_000_000
OSC8_LINK = "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
HOSTILE = [
    "name\n::add-mask::x",
    "name\r::stop-commands::x",
    "  \n  ::add-mask::secret-value",
    "a ##[error]fake error",
    "##[add-mask]x",
    "::error file=x::forged",
    "\x1b[2J\x1b[H",
    "\x1b]0;window title\x07",
    OSC8_LINK,
    "\x1b[8mconcealed\x1b[0m",
    "\u202eexe.txt",
    "\u2066isolate\u2069 \u200e\u200f \u061c \u200b\u200d \ufeff",
    "nul\x00here",
    "c1 \x85 \x9b31m \x9d",
    "del\x7f",
    "sep\u2028line\u2029para",
    "lone \udcff surrogate",
    "tags \U000e0041\U000e007f",
    "](http://evil.example)",
    "![x](http://evil.example/img)",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "&lt;b&gt; &amp; &#x3C;",
    "@user and @org/team",
    "mail a@b.example",
    "www.evil.example http://evil.example <http://evil.example>",
    "*emph* _emph_ **strong** ~~strike~~ `code` $x^2$",
    "# heading",
    "| a | b |",
    "back\\slash \\` \\*",
]


def plain_is_safe(text: str) -> None:
    """One line, no raw control or format character, no legacy workflow command."""
    assert escape._VISIBLE.search(text) is None, ascii(text)
    assert "##[" not in text


# --- plain: terminals and job logs -----------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_leaves_no_control_format_or_command_character(text: str) -> None:
    out = escape.plain(text)
    plain_is_safe(out)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    # Behind a fixed prefix (as every scangate line has), nothing acts as a command.
    assert workflow_commands.commands(f"scangate: warning: {out}") == []


def test_plain_shows_escapes_like_ls_and_keeps_ordinary_unicode() -> None:
    assert escape.plain("\x1b[2J\x1b]0;t\x07") == "\\x1b[2J\\x1b]0;t\\x07"
    assert escape.plain("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert escape.plain("\u202eabc\u2066") == "\\u202eabc\\u2066"
    assert escape.plain("\x00\x7f\x85\x9b") == "\\x00\\x7f\\x85\\x9b"
    assert escape.plain("\U000e0041 \udcff") == "\\U000e0041 \\udcff"
    assert escape.plain("##[error]x") == "#\\x23[error]x"
    # A backslash is doubled, so an escape is never ambiguous with the text "\x1b".
    assert escape.plain("C:\\x1b") == "C:\\\\x1b"
    for ordinary in ("café naïve Ærø", "日本語のテキスト", "Ελληνικά", "emoji 🙂", "a -> b", ""):
        assert escape.plain(ordinary) == ordinary
    assert escape.plain("a\tb", tabs=True) == "a\tb"


def test_every_format_and_separator_character_is_escaped() -> None:
    """Unicode's Cf, Zl and Zp (this Python's Unicode version) and every control."""
    missing = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if (unicodedata.category(chr(code)) in {"Cf", "Zl", "Zp", "Cc", "Cs"})
        and escape.plain(chr(code)) == chr(code)
    ]
    assert missing == []


def test_plain_caps_a_megabyte_before_escaping() -> None:
    out = escape.plain("\x1b" * MB, 200)
    assert len(out) <= 200 * 4 + 3 and out.endswith("...")
    assert escape.plain("x" * MB, 200) == "x" * 197 + "..."
    assert escape.plain("x" * MB) == "x" * MB


# --- Markdown ----------------------------------------------------------------------------------


def no_markup(markdown: str) -> str:
    """The text a reader sees; fails if any element other than a paragraph was made."""
    html = render(markdown)
    assert set(html.tags) <= {"p"}, (markdown, html.tags)
    return "".join(html.text).strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_is_shown_as_written_never_as_markup(text: str) -> None:
    out = escape.markdown(text)
    assert "\n" not in out and "\r" not in out
    gfm_safe(out)
    shown = no_markup(f"before {out} after").replace("\u200b", "")
    # Exactly the text, with control and format characters as visible escapes.
    visible = escape._VISIBLE.sub(lambda m: escape._visible(m[0]), text)
    assert shown == f"before {visible} after"


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_keeps_a_table_row_whole(text: str) -> None:
    table = f"| a | b |\n|---|---|\n| {escape.markdown(text)} | x |\n"
    html = render(table)
    assert html.tags.count("tr") == 2 and html.tags.count("td") == 2
    assert set(html.tags) <= {"table", "thead", "tbody", "tr", "th", "td"}


def test_markdown_caps_a_megabyte() -> None:
    out = escape.markdown("](x) " * MB, 250)
    assert len(out) < 250 * 3
    assert no_markup(out).endswith("...")


SAFE_URLS = [
    "https://avd.aquasec.com/nvd/cve-2020-1747",
    "https://github.com/advisories/GHSA-xxxx-yyyy-zzzz",
    "http://example.com:8080/a/b?x=1&y=2#frag",
    "https://[::1]/x",
]
HOSTILE_URLS = [
    "https://x.example)[click](https://evil.example",
    "https://x.example/a b",
    "https://x.example/<img>",
    'https://x.example/"title"',
    "https://x.example/'x'",
    "https://x.example/(x)",
    "https://good.example@evil.example/",
    "https://good.example&#64;evil.example/",
    "https://x.example/\\",
    "https://x.example/|cell",
    "https://x.example/\u202eexe",
    "https://bücher.example/",
    "https://x.example/\nnext",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://x.example/",
    "//evil.example/",
    "https:evil.example",
    "https://",
    "https://x.example:99999999/",
    "https://x.example/" + "a" * 3000,
    "",
]


@pytest.mark.parametrize("url", SAFE_URLS)
def test_a_vetted_url_is_the_only_link(url: str) -> None:
    assert escape.safe_url(url)
    html = render(escape.markdown_link("CVE-1 [x](y) *z*", url))
    assert html.links == [url]
    assert "".join(html.text).strip() == "CVE-1 [x](y) *z*"


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_any_other_url_is_text(url: str) -> None:
    assert not escape.safe_url(url)
    out = escape.markdown_link("CVE-1", url)
    gfm_safe(out)
    html = render(out)
    assert html.links == [] and set(html.tags) <= {"p"}


# --- workflow commands, JSON, stop-commands ------------------------------------------------------


def test_workflow_escaping_follows_the_actions_toolkit() -> None:
    # packages/core/src/command.ts: % CR LF in data; also : and , in properties. Control
    # characters are already visible escapes (`plain`), so CR and LF never reach the runner.
    assert escape.workflow_data("100% done: a, b") == "100%25 done: a, b"
    assert escape.workflow_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert escape.workflow_data("x\r\n::add-mask::y") == "x\\r\\n::add-mask::y"
    for text in HOSTILE:
        line = f"::error title={escape.workflow_property(text)}::{escape.workflow_data(text)}"
        (command,) = workflow_commands.commands(line)
        assert command.name == "error"


@pytest.mark.parametrize("text", HOSTILE)
def test_json_text_means_the_same_and_shows_nothing_raw(text: str) -> None:
    encoded = json.dumps({"title": text, "n": [1, "##["]}, ensure_ascii=False, indent=2)
    safe = escape.json_text(encoded)
    assert json.loads(safe) == {"title": text, "n": [1, "##["]}
    assert len(safe.split("\n")) == len(encoded.split("\n"))  # the layout is kept
    assert "##[" not in safe and escape._VISIBLE.search(safe.replace("\n", "")) is None
    assert safe.encode("utf-8")  # no lone surrogate left to fail on


def test_stop_commands_wraps_with_an_unpredictable_token() -> None:
    text = "a\n::add-mask::x\n##[error]y\n"
    block = escape.stop_commands(text)
    first, *_, last = block.splitlines()
    token = first.removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert last == f"::{token}::"
    assert [c.name for c in workflow_commands.commands(block)] == ["stop-commands", token]
    assert len({escape.new_token() for _ in range(100)}) == 100


# --- the fast escapers give the same text as the straightforward ones ----------------------
# The reference implementations below are the escapers as they were before they were made
# faster (issue 10): one Unicode check and one str.replace per punctuation character, and
# urlsplit for every URL. Every output must stay exactly the same.


def reference_plain(text: str, limit: int | None = None, *, tabs: bool = False) -> str:
    text = escape.clip(text, limit)
    if text.isprintable() and "\\" not in text and "##[" not in text:
        return text
    if tabs:
        return escape._PLAIN.sub(lambda m: "\t" if m[0] == "\t" else escape._visible(m[0]), text)
    return escape._PLAIN.sub(lambda m: escape._visible(m[0]), text)


def reference_markdown(text: str, limit: int | None = None) -> str:
    text = escape.clip(text, limit)
    if not text.isprintable():
        text = escape._VISIBLE.sub(lambda m: escape._visible(m[0]), text)
    text = text.replace("\\", "\\\\")
    for char in """!"#$%&'()*+,-./:;<=>?[]^_`{|}~""":
        text = text.replace(char, "\\" + char)
    return text.replace("@", "@&#8203;")


def reference_safe_url(url: str) -> bool:
    from urllib.parse import urlsplit

    if not url or len(url) > escape.MAX_URL or escape._URL_CHARS.fullmatch(url) is None:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme.lower() in ("http", "https")
        and url.lower().startswith(("http://", "https://"))
        and "@" not in parts.netloc
        and (escape._HOST.fullmatch(host) is not None or escape._IPV6.fullmatch(host) is not None)
    )


_ASCII = "".join(map(chr, range(128)))
# Pieces hostile text is made of: every ASCII character, C1 controls, bidi and zero-width
# characters, separators, tags, lone surrogates, accents, CJK, emoji, and the sequences
# the escapers look for.
_PIECES = [
    *_ASCII,
    *"\x85\x9b\x9d\xa0\xad\u0600\u061c\u180e\u200b\u200d\u200e\u202e\u2028\u2029\u2066",
    *"\u2069\ufeff\ufff9\U000e0001\U000e0041\U000110bd\U0001d173\udcff\ud800",
    *"éßŁ漢字テスト한국어😀\u0301\U0001f600",
    "##[", "@user", "a@b.example", "\\\\", "\r\n", "](http://x)", "<b>", "&amp;", "  ",
]  # fmt: skip


def _random_texts(seed: int, count: int) -> list[str]:
    import random

    rng = random.Random(seed)
    texts = ["", " ", "#", "##", "##[", "@", "\\", "A" * 81, "." * 200]
    for _ in range(count):
        size = rng.choice((1, 3, 10, 60, 79, 80, 81, 82, 300, 2000))
        if rng.random() < 0.3:  # prose: where the fast paths are taken
            words = rng.choices(["flaw", "in", "the", "(CVE-1)", "a.b", "x-y", "Ünïcode"], k=size)
            text = " ".join(words)[:size]
        elif rng.random() < 0.5:  # any code point but surrogates
            text = "".join(
                chr(rng.choice((rng.randrange(0xD800), rng.randrange(0xE000, 0x110000))))
                for _ in range(size)
            )
        else:
            text = "".join(rng.choices(_PIECES, k=size))
        texts.append(text)
        texts.append(text.encode("ascii", "ignore").decode())  # its ASCII part
    return texts


EQUIVALENCE_TEXTS = _random_texts(seed=20261201, count=3000) + HOSTILE


def test_plain_is_unchanged_on_random_hostile_text() -> None:
    for text in EQUIVALENCE_TEXTS:
        assert escape.plain(text) == reference_plain(text), ascii(text)
        assert escape.plain(text, tabs=True) == reference_plain(text, tabs=True), ascii(text)
        assert escape.plain(text, 50) == reference_plain(text, 50), ascii(text)
        assert escape.printable(text) is text.isprintable(), ascii(text)


def test_markdown_is_unchanged_on_random_hostile_text() -> None:
    for text in EQUIVALENCE_TEXTS:
        expected = reference_markdown(text)
        assert escape.markdown(text) == expected, ascii(text)
        assert escape.markdown_size(text) == len(expected), ascii(text)
        assert escape.plain_and_markdown(text) == (reference_plain(text), expected), ascii(text)
        assert escape.markdown(text, 50) == reference_markdown(text, 50), ascii(text)


def _random_urls(seed: int, count: int) -> list[str]:
    import random

    rng = random.Random(seed)
    parts = [
        "http", "https", "HTTPS", "hTtP", "ftp", "javascript", "://", ":", "//", "/", "?", "#",
        "@", "[", "]", "[::1]", "[v1.x]", ":80", ":0", ":65535", ":65536", ":x", ":-1", "a",
        "good.example", "-bad", "x-", "1.2.3.4", "xn--p1ai", "ſ", "\u212a", "%41", "&", "=",
        ";", ",", "*", "!", "$", "+", "~", "_", ".", "..", " ", "\t", "\n", "\x00", "<", ">",
        '"', "'", "(", ")", "\\", "`", "{", "}", "|", "^", "é", "CVE-2024-1234", "a" * 300,
    ]  # fmt: skip
    urls = ["https://a." + "b" * 2040, "https://a." + "b" * 2039, "http://a", "https://a/"]
    for _ in range(count):
        scheme = rng.choice(["https://", "http://", "HTTP://", "https:/", "https:", ""])
        urls.append(scheme + "".join(rng.choices(parts, k=rng.randrange(1, 12))))
    return urls


def test_safe_url_and_markdown_link_are_unchanged_on_random_urls() -> None:
    for url in _random_urls(seed=20261201, count=20000) + SAFE_URLS + HOSTILE_URLS:
        assert escape.safe_url(url) is reference_safe_url(url), ascii(url)
        label = "CVE-2024-1234 [x]"
        destination = url.replace("&", "\\&")
        expected = (
            f"[{reference_markdown(label)}]({destination})"
            if reference_safe_url(url)
            else f"{reference_markdown(label)} ({reference_markdown(url)})"
            if url
            else reference_markdown(label)
        )
        assert escape.markdown_link(label, url) == expected, ascii(url)


def test_the_clean_ascii_fast_paths_are_unchanged_on_random_hostile_text() -> None:
    # `clean_ascii` text is what SARIF rules escape the short way (`markdown_clean`,
    # `markdown_clean_size`, `markdown_link_clean`): the same text as `plain`/`markdown`.
    cleans = 0
    for text in EQUIVALENCE_TEXTS:
        if not escape.clean_ascii(text):
            assert not text.isascii() or reference_plain(text) != text or "\n" in text, ascii(text)
            continue
        cleans += 1
        expected = reference_markdown(text)
        assert reference_plain(text) == text, ascii(text)
        assert escape.markdown_clean(text) == expected, ascii(text)
        assert escape.markdown_clean_size(text) == len(expected), ascii(text)
        for url in ("https://a.example/x?a=1&b=2", "http://b.example"):
            link = escape.markdown_link_clean(text, url, 50)
            assert link == escape.markdown_link(text, url, 50), ascii(text)
    assert cleans > 500
