"""scangate.remediation: version order per ecosystem, the upgrade chosen for a package, the
dependency graph walk, the plan of a gate result, and how the plan is written (table
section, Markdown section, PR comment, JSON block), hostile text included.

Reports the real Trivy writes are in tests/test_remediation_trivy.py; these build the
`GateResult` from scangate's own types, to reach cases a fixture DB cannot (unreadable
versions, constraint-style fixed versions, cycles, hostile package names).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from scangate.findings import Artifact, Finding, Kind, Location, ScanRun, Severity
from scangate.formats.jsonresult import JsonFormat
from scangate.formats.markdown import MarkdownFormat
from scangate.formats.plan_table import plan_lines
from scangate.formats.table import TableFormat
from scangate.gate import GateResult, evaluate
from scangate.policy import resolve_policy
from scangate.pr_comment_body import CommentInput, render
from scangate.remediation import plan_of
from scangate.remediation import versions as v
from scangate.remediation.graph import PackageGraph
from tests.support.hostile import LOG_MARKERS, TEXT
from tests.support.rendered import assert_summary_safe, gfm_safe

TODAY = date(2026, 12, 1)


# --- version order ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "lower", "higher"),
    [
        ("npm", "1.9.0", "1.10.0"),
        ("cargo", "1.9.2", "1.10.0"),
        ("poetry", "2.0.0rc1", "2.0.0"),
        ("pip", "1.9.1", "1.10.0"),
        ("uv", "2.0.0a1", "2.0.0rc1"),
        ("debian", "3.0-1", "1:2.0-1"),  # an epoch beats any version without one
        ("debian", "1:2.9-1", "1:2.10-1"),
        ("debian", "3.0.11-1~deb12u1", "3.0.11-1"),  # ~ sorts before everything
        ("gomod", "v1.9.0", "1.10.0"),  # Go: with or without the v
        ("gomod", "v0.0.0-20230101000000-abcdef123456", "v0.1.0"),
        ("jar", "1.0-SNAPSHOT", "1.0"),
        ("redhat", "1.2.9-1.el9", "1.2.10-1.el9"),
        ("alpine", "1.2.9-r0", "1.2.10-r0"),
        ("composer", "1.9.0", "1.10.0"),
        ("bundler", "1.9.0", "1.10.0"),
    ],
)
def test_versions_are_ordered_by_their_ecosystem(kind: str, lower: str, higher: str) -> None:
    """Most of these pairs sort the other way round as strings."""
    scheme = v.scheme_for(kind, None)
    low, high = v.parse(scheme, lower), v.parse(scheme, higher)
    assert low is not None and high is not None
    assert low < high


def test_scheme_from_the_package_url_when_the_target_has_no_type() -> None:
    assert v.scheme_for("", "pkg:pypi/requests@2.19.0") is v.scheme_for("poetry", None)
    assert v.scheme_for("", "pkg:deb/debian/openssl@3.0") is v.scheme_for("debian", None)
    assert v.scheme_for("", "pkg:golang/golang.org/x/text@v0.3.7") is v.scheme_for("gomod", None)


def test_release_lines() -> None:
    assert v.release_line("1.6.0") == v.release_line("1.99") == ("0", "1")
    assert v.release_line("0.6.14") == ("0", "0", "6")  # 0.x: each minor is a line
    assert v.release_line("0.6.14") != v.release_line("0.7.0")
    assert v.release_line("v2.3.4") == ("0", "2")
    assert v.release_line("1:2.0-1") == ("1", "2")  # the epoch is part of the line
    assert v.release_line("latest") is None


@pytest.mark.parametrize(
    ("fixed", "texts"),
    [
        ("0.6.14, 1.6.1", ["0.6.14", "1.6.1"]),
        # Constraints (ruby-advisory-db, the Node.js working group): their lower bounds.
        (">= 6.0.3.1, ~> 5.2.4.3", ["6.0.3.1", "5.2.4.3"]),
        ("^1.2.3 || >= 2.1.0", ["1.2.3", "2.1.0"]),
        ("< 2.0.0", []),  # an upper bound names no fixed version
        ("> 1.0", []),
        ("not a version, 2.0.0", ["2.0.0"]),
        ("", []),
    ],
)
def test_fix_candidates(fixed: str, texts: list[str]) -> None:
    scheme = v.scheme_for("bundler", None)
    assert [c.text for c in v.fix_candidates(scheme, fixed)] == texts


def _choose(kind: str, installed: str, *fixed: str) -> tuple[str | None, bool]:
    choice = v.choose(v.scheme_for(kind, None), installed, frozenset(fixed))
    return choice.upgrade_to, choice.major


def test_choose_prefers_the_installed_release_line() -> None:
    assert _choose("cargo", "1.6.0", "0.6.14, 1.6.1") == ("1.6.1", False)
    assert _choose("cargo", "0.6.10", "0.6.14, 1.6.1") == ("0.6.14", False)
    # Several advisories: the lowest version fixing all of them.
    assert _choose("pip", "2.19.0", "2.20.0", "2.31.0", "2.32.0") == ("2.32.0", False)
    # Not as strings: 1.10.0 is the later fix.
    assert _choose("npm", "1.9.0", "1.9.2", "1.10.0") == ("1.10.0", False)


def test_choose_leaves_the_line_only_when_it_must() -> None:
    # The 1.x line has no fix for the second advisory: 2.0.0 fixes both, and is major.
    assert _choose("npm", "1.4.0", "1.5.0", "2.0.0") == ("2.0.0", True)
    # 0.x: 0.3.0 is another line.
    assert _choose("cargo", "0.2.20", "0.2.23", "0.3.0") == ("0.3.0", True)
    # A line with no fix of its own that is below the highest fix stays vulnerable: 1.0.0
    # is not a fix for "0.6.14, 1.6.1"; the lowest on 1.x that is, is 1.6.1.
    assert _choose("cargo", "0.9.0", "0.6.14, 1.6.1") == ("1.6.1", True)


def test_choose_names_no_upgrade_it_cannot_read() -> None:
    assert _choose("npm", "1.0.0", "< 2.0.0") == (None, False)
    assert _choose("npm", "1.0.0", "not-a-version") == (None, False)
    # Every fix is at or below the installed version: nothing to upgrade to.
    assert _choose("npm", "3.0.0", "2.0.0") == (None, False)


# --- the dependency graph --------------------------------------------------------------------


def test_via_walks_every_path_stops_at_direct_packages_and_survives_cycles() -> None:
    graph = PackageGraph(
        type="npm",
        relationship={
            "a@1": "direct", "b@1": "direct", "c@1": "indirect", "d@1": "indirect",
            "e@1": "indirect", "x@1": "indirect", "y@1": "indirect",
        },
        names={"a@1": "a", "b@1": "b"},
        depends_on={
            "a@1": ("c@1",), "b@1": ("a@1", "d@1"), "c@1": ("e@1",), "d@1": ("e@1",),
            "e@1": ("c@1",),  # a cycle: c -> e -> c
            "x@1": ("y@1",), "y@1": ("x@1",),  # a cycle no direct package reaches
        },
    )  # fmt: skip
    assert graph.via("e@1") == ["a", "b"]
    assert graph.via("c@1") == ["a", "b"]  # through the cycle too: b -> d -> e -> c
    assert graph.via("y@1") == []
    assert graph.relationship_of("a@1") == "direct"
    assert graph.relationship_of("nope@1") == "unknown"


# --- the plan of a gate result ----------------------------------------------------------------


def _vuln(
    vid: str,
    package: str,
    installed: str,
    fixed: str | None,
    *,
    target: str = "package-lock.json",
    severity: Severity = Severity.HIGH,
) -> Finding:
    return Finding(
        kind=Kind.VULNERABILITY,
        id=vid,
        severity=severity,
        target=target,
        package=package,
        installed_version=installed,
        fixed_version=fixed,
        location=Location(target),
        identity=f"{package}\x1f",
    )


def _result(findings: list[Finding], graphs: dict[str, PackageGraph] | None = None) -> GateResult:
    run = ScanRun(Artifact(".", "filesystem"), findings, graphs or {})
    return evaluate([run], resolve_policy(None, roots=[Path.cwd()], today=TODAY), TODAY)


def test_plan_counts_orders_and_says_what_still_fails() -> None:
    secret = Finding(
        kind=Kind.SECRET, id="github-pat", severity=Severity.CRITICAL, target="app/settings.py"
    )
    findings = [
        _vuln("CVE-1", "qs", "1.9.0", "1.9.2"),
        _vuln("CVE-2", "qs", "1.9.0", "1.10.0"),
        _vuln("CVE-3", "lodash", "4.17.11", "4.17.12", severity=Severity.LOW),
        _vuln("CVE-4", "ip", "2.0.0", None),
        secret,
    ]
    graph = PackageGraph(type="npm", relationship={"qs@1.9.0": "direct"})
    plan = plan_of(_result(findings, {"package-lock.json": graph}))
    assert [(u.package, u.upgrade_to, u.clears, u.clears_failing) for u in plan.upgrades] == [
        ("qs", "1.10.0", 2, 2),
        ("lodash", "4.17.12", 1, 0),  # below the threshold: cleared, but not failing
    ]
    assert [(u.package, u.relationship) for u in plan.upgrades] == [
        ("qs", "direct"),
        ("lodash", "unknown"),  # not in the graph: not guessed
    ]
    assert [(u.package, u.ids) for u in plan.unfixable] == [("ip", ("CVE-4",))]
    # ip is `unfixed` (ignore-unfixed); the secret still fails.
    assert plan.still_failing == {"secret": 1}
    assert plan.passes_after is False


def test_plan_is_computed_once_per_result() -> None:
    result = _result([_vuln("CVE-1", "qs", "1.9.0", "1.9.2")])
    assert plan_of(result) is plan_of(result)


def test_a_package_with_fixed_and_unfixed_advisories_is_in_both_lists() -> None:
    findings = [
        _vuln("CVE-1", "qs", "1.9.0", "1.9.2"),
        _vuln("CVE-2", "qs", "1.9.0", None),
        _vuln("CVE-3", "qs", "1.9.0", "< 2.0"),  # unreadable: listed as without a fix
    ]
    plan = plan_of(_result(findings))
    assert [(u.package, u.ids) for u in plan.upgrades] == [("qs", ("CVE-1",))]
    assert [(u.package, u.ids) for u in plan.unfixable] == [("qs", ("CVE-2", "CVE-3"))]


# --- hostile text in every output --------------------------------------------------------------


def _hostile_result() -> GateResult:
    # Maven's order reads any text as a version: the hostile text reaches `upgrade_to`.
    finding = _vuln("CVE-9", TEXT, "1.0", f"1.1{TEXT}", target=f"pom.xml {TEXT}")
    unfixed = _vuln("CVE-8", TEXT, "1.0", None, target=f"pom.xml {TEXT}")
    graph = PackageGraph(
        type="pom",
        relationship={f"{TEXT}@1.0": "indirect", f"{TEXT}@root": "direct"},
        names={f"{TEXT}@root": TEXT},
        depends_on={f"{TEXT}@root": (f"{TEXT}@1.0",)},
    )
    result = _result([finding, unfixed], {f"pom.xml {TEXT}": graph})
    assert plan_of(result).upgrades[0].via == (TEXT,)
    return result


def test_hostile_text_in_the_table_section_is_escaped_and_fits() -> None:
    result = _hostile_result()
    for width in (None, 80):
        lines = plan_lines(plan_of(result), width=width)
        text = "\n".join(lines)
        assert not any(marker in text for marker in LOG_MARKERS), text
        assert not any("\n" in line or "\r" in line for line in lines)  # one line each
        if width is not None:
            assert all(len(line) <= width for line in lines)
    table = TableFormat(plan=True, width=80).render(result)
    assert "Fix plan: 1 upgrade clear 1 vulnerability (1 failing)" in table
    assert not any(marker in table for marker in LOG_MARKERS)


def test_hostile_text_in_markdown_and_the_pr_comment_is_inert() -> None:
    result = _hostile_result()
    summary = MarkdownFormat().render(result)
    assert "### Fix plan" in summary
    assert_summary_safe(summary)
    body = render(CommentInput(verdict="fail", total=2, fix_plan=plan_of(result)), "scangate/fs/.")
    assert "### Fix plan" in body and "1 upgrade clear 1 failing finding:" in body
    gfm_safe(body)
    assert "<img" not in body and "](http" not in body


def test_hostile_text_in_json_round_trips() -> None:
    result = _hostile_result()
    text = JsonFormat().render(result)
    assert not any(marker in text for marker in ("\x1b", "\u202e", "##["))
    block = json.loads(text)["remediation"]
    (upgrade,) = block["upgrades"]
    assert upgrade["package"] == TEXT
    assert upgrade["upgrade_to"] == "1.1x"  # a version is one word of the FixedVersion
    assert upgrade["via"] == [TEXT]
    assert block["unfixable"] == [
        {"target": f"pom.xml {TEXT}", "package": TEXT, "installed_version": "1.0", "ids": ["CVE-8"]}
    ]
    assert block["passes_after"] is True


def test_passing_gate_has_no_fix_plan_in_markdown_or_the_comment() -> None:
    result = _result([_vuln("CVE-3", "lodash", "4.17.11", "4.17.12", severity=Severity.LOW)])
    assert "Fix plan" not in MarkdownFormat().render(result)
    body = render(CommentInput(verdict="pass", total=1, fix_plan=plan_of(result)), "x")
    assert "Fix plan" not in body
