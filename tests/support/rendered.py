"""Markdown as a reader sees it: rendered by a real CommonMark parser (markdown-it-py, with
GFM tables) and read back from the HTML: the elements made, the links, the text, the
tables' cells."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark").enable("table")


class Rendered(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        # Every table: its rows (header row included), each a list of cell texts.
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        elif tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).replace("\u200b", "").strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def plain_text(self) -> str:
        return "".join(self.text).replace("\u200b", "")


def render(markdown: str) -> Rendered:
    parsed = Rendered()
    parsed.feed(_MD.render(markdown))
    parsed.close()
    return parsed


# Elements an untrusted value may never make (scangate's own Markdown makes the rest; its
# only bold text is the count of failing findings).
FORBIDDEN_TAGS = frozenset(
    {"a", "img", "em", "code", "del", "s", "h1", "h4", "h5", "h6", "script", "blockquote", "hr"}
)


def assert_summary_safe(markdown: str) -> Rendered:
    """A summary scangate wrote: no element, link or image from untrusted text."""
    page = render(markdown)
    assert page.links == [] and page.images == []
    assert not set(page.tags) & FORBIDDEN_TAGS, sorted(set(page.tags))
    assert page.tags.count("strong") == 1
    gfm_safe(markdown)
    return page


def gfm_safe(markdown: str) -> None:
    """GitHub's extensions, which CommonMark lacks: URL and www autolinks are found in the
    source (an escaped ":" or "." stops them), mentions and e-mail autolinks in the rendered
    text (a zero-width space after "@" stops them); `$` starts math."""
    assert "://" not in markdown, markdown
    assert not re.search(r"(?<![\\\w])www\.", markdown), markdown
    assert markdown.count("@") == markdown.count("@&#8203;"), markdown
    assert "$" not in markdown.replace("\\$", ""), markdown
