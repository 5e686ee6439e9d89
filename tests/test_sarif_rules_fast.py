"""The short way of writing a SARIF rule (`rule_help_clean_json`, for clean ASCII text) gives
the same line as the long way, on random texts of every size and punctuation."""

from __future__ import annotations

import random

import pytest

from scangate.findings import Finding, Kind, Severity
from scangate.formats import escape
from scangate.formats.sarif import results, rules
from scangate.formats.sarif.encoding import json_string

_WORDS = ["flaw", "in", "the", "(CVE-1)", "a.b", "x-y", "@user", "a@b.example", "*x*", "[y]",
          "<b>", "&amp;", "#", "##", "_", "`", "|", "~", "!", "?", " ", "a" * 50]  # fmt: skip


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        size = rng.choice((1, 3, 10, 40, 100, 300, 380, 420, 700, 1000, 1100, 3000))
        texts.append("".join(rng.choices(_WORDS, k=size))[:size])
    return texts


def _slow_rule_help_json(f: Finding, title: str, why: str, url: str) -> tuple[str, str]:
    text, markdown = rules.rule_help(f, title, why, url)
    return json_string(text), json_string(markdown)


@pytest.mark.parametrize("kind", list(Kind))
def test_rule_help_clean_json_is_rule_help_json(kind: Kind) -> None:
    titles = _texts(1, 300)
    whys = _texts(2, 300)
    ids = ["CVE-2024-1234", "GHSA-g98v-hv3f-hcfr", "AVD-1", "a&b*" * 60, "x"]
    urls = ["https://avd.aquasec.com/nvd/cve-2024-1234", "https://a.example/?a=1&b=2" + "c" * 300]
    checked = 0
    for i, (title, why) in enumerate(zip(titles, whys, strict=True)):
        f = Finding(kind, ids[i % len(ids)], Severity.HIGH, target=".", title=title)
        url = urls[i % len(urls)]
        title, why = " ".join(title.split()), " ".join(why.split())
        if not (why and escape.clean_ascii(title + why + f.id)):
            continue
        title, why = rules.clip_text(title), rules.clip_text(why)
        expected = rules.rule_help_json(f, title, why, url, json_string(why))
        assert expected == _slow_rule_help_json(f, title, why, url)
        assert rules.rule_help_clean_json(f, title, why, url) == expected, (title, why)
        checked += 1
    assert checked > 150


def test_rule_line_takes_the_short_way_only_when_it_gives_the_same_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    lines = []
    pieces = [*_WORDS, "\\", '"', "\n", "\t", "  ", "\x1b", "é", "\u202e", "##["]
    for i in range(2000):
        if i % 2:  # clean words, one space apart: the short way
            title = " ".join(rng.choices(_WORDS[:-2], k=rng.choice((1, 5, 60))))
            description = " ".join(rng.choices(_WORDS[:-2], k=rng.choice((3, 40, 200, 600))))
        else:  # anything: mostly the long way
            title = "".join(rng.choices(pieces, k=rng.choice((0, 2, 30, 300))))
            description = "".join(rng.choices(pieces, k=rng.choice((0, 5, 100, 400, 1500))))
        f = Finding(
            kind=Kind.VULNERABILITY,
            id=f"CVE-2024-{i}",
            title=title,
            description=description,
            severity=Severity.HIGH,
            target=".",
            primary_url=f"https://avd.aquasec.com/nvd/cve-2024-{i}",
        )
        rule = results.Rule(0, f.kind, f, f.severity, "8.0", f.id, json_string(f.id))
        lines.append((rule, results.rule_line(rule)))
    # The long way: the same rules, their text never taken for clean.
    monkeypatch.setattr(results, "clean_ascii", lambda text: False)
    for rule, line in lines:
        assert results.rule_line(rule) == line, rule.finding
