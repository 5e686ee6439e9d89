"""VEX files are untrusted input: a bad one is one line and exit 2 naming the file and the
field, before any report is read or Trivy runs; statement text is escaped in every output
channel; package URLs match as OpenVEX and Trivy match them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scangate.findings import Finding, Kind, Severity
from scangate.vex.document import MAX_BYTES, VexStatement
from scangate.vex.match import Index
from tests.support import hostile, rendered, scanning, trivydb
from tests.test_cli_outputs import assert_log_safe
from tests.test_sarif import check as check_sarif
from tests.test_vex import openvex, run_check, statement

GOOD = statement(trivydb.REQUESTS_CVE, "pkg:pypi/requests", "fixed")


def doc_with(**changes: Any) -> dict[str, Any]:
    one = dict(GOOD, **changes)
    return openvex(one)


BAD_FILES: dict[str, tuple[bytes | None, str]] = {
    "not-json": (b"{not json", "not JSON"),
    "array": (b"[]", "not a JSON object: give an OpenVEX, CycloneDX VEX or CSAF file"),
    "unknown-format": (b'{"statements": []}', "neither OpenVEX"),
    "no-statements": (json.dumps(openvex()).encode(), "statements: missing or empty"),
    "bad-status": (
        json.dumps(doc_with(status="maybe")).encode(),
        "statements[0].status: 'maybe' is not a VEX status: use not_affected, affected, "
        "fixed, under_investigation",
    ),
    "not-affected-without-why": (
        json.dumps(doc_with(status="not_affected")).encode(),
        "statements[0]: not_affected without a justification or an impact_statement",
    ),
    "no-vulnerability": (
        json.dumps(doc_with(vulnerability=None)).encode(),
        "statements[0].vulnerability: missing or not an object",
    ),
    "empty-name": (
        json.dumps(doc_with(vulnerability={"name": " "})).encode(),
        "statements[0].vulnerability.name:",
    ),
    "products-not-a-list": (
        json.dumps(doc_with(products="pkg:pypi/requests")).encode(),
        "statements[0].products: 'pkg:pypi/requests' is not a list",
    ),
    "purl-not-a-string": (
        json.dumps(doc_with(products=[{"identifiers": {"purl": 7}}])).encode(),
        "statements[0].products[0].identifiers.purl: 7 is not a non-empty string",
    ),
    "cyclonedx-without-vulnerabilities": (
        b'{"bomFormat": "CycloneDX", "specVersion": "1.5"}',
        "vulnerabilities: missing or empty",
    ),
    "too-large": (b" " * (MAX_BYTES + 1), "larger than 16 MiB"),
    "missing": (None, "no such file"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_vex_file_is_one_line_and_exit_2(
    name: str, tmp_path: Path, vuln_project_report: Path
) -> None:
    data, message = BAD_FILES[name]
    if data is not None:
        (tmp_path / "bad.json").write_bytes(data)
    code, out, err = run_check(tmp_path, str(vuln_project_report), "--vex", "bad.json")
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("scangate: error: --vex bad.json: "), line
    assert message in line, line


def test_a_directory_or_fifo_is_refused(tmp_path: Path, vuln_project_report: Path) -> None:
    import os

    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "fifo.json")
    for name in ("dir.json", "fifo.json"):
        code, _, err = run_check(tmp_path, str(vuln_project_report), "--vex", name)
        assert code == 2
        assert err.strip() == f"scangate: error: --vex {name}: not a regular file"


def test_a_bad_vex_file_stops_a_scan_before_trivy_runs(tmp_path: Path) -> None:
    trivydb.write_vulnerable_project(tmp_path / "repo")
    (tmp_path / "bad.json").write_text(json.dumps(doc_with(status="maybe")), encoding="utf-8")
    # No DB and --offline: Trivy would fail with exit 3; the VEX is refused first.
    proc = scanning.run_scangate(
        ["scan", "fs", "repo", "--cache-dir", "cache", "--offline", "--vex", "bad.json"],
        cwd=tmp_path, env=scanning.clean_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--vex bad.json: statements[0].status" in proc.stderr
    assert "running trivy" not in proc.stderr


def test_hostile_statement_text_is_escaped_in_every_output(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    """Hostile impact and action statements (terminal escapes, `::` commands, Markdown) on an
    allowed finding, a failing one (annotated under GitHub Actions) and an unused statement."""
    text = hostile.TEXT
    doc = openvex(
        statement(trivydb.REQUESTS_CVE, "pkg:pypi/requests", "not_affected", impact_statement=text),
        statement(trivydb.PYYAML_CVE, "pkg:pypi/pyyaml", "affected", action_statement=text),
        {"vulnerability": {"name": f"CVE-2099-0001{text}"}, "status": "not_affected",
         "products": [{"@id": "pkg:pypi/requests"}], "impact_statement": text},
    )  # fmt: skip
    (tmp_path / "vex.json").write_text(json.dumps(doc), encoding="utf-8")
    summary = tmp_path / "summary.md"
    env = scanning.clean_env(
        tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    )
    code, out, err = run_check(
        tmp_path, str(vuln_project_report), "--vex", "vex.json", "--github-summary",
        "--json", "out.json", "--sarif", "out.sarif", "--markdown", "out.md", "--all",
        "--sarif-include-allowed", env=env,
    )  # fmt: skip
    assert code == 1, err
    assert_log_safe(out, err, actions=True)
    assert "x\\n::add-mask::leaked" in out  # shown, as visible escapes
    for md in (summary.read_text("utf-8"), (tmp_path / "out.md").read_text("utf-8")):
        page = rendered.assert_summary_safe(md)
        assert "x\\n::add-mask::leaked" in page.plain_text()
    check_sarif((tmp_path / "out.sarif").read_text("utf-8"))
    # JSON carries the text as it is: the serializer escapes it.
    result = json.loads((tmp_path / "out.json").read_text("utf-8"))
    reasons = {f["id"]: f["reason"] for f in result["findings"]}
    assert reasons[trivydb.REQUESTS_CVE] == f"VEX vex.json: not_affected: {text}"
    assert reasons[trivydb.PYYAML_CVE].endswith(f"; VEX vex.json: affected: {text}")
    assert [e["id"] for e in result["allowlist"]["unused"]] == [f"CVE-2099-0001{text}"]


# --- matching --------------------------------------------------------------------------------


def vuln(cve: str, purl: str | None) -> Finding:
    return Finding(Kind.VULNERABILITY, cve, Severity.HIGH, "requirements.txt", purl=purl)


def stmt(products: tuple[str, ...], *, subs: tuple[str, ...] = (), stamp: str = "") -> VexStatement:
    return VexStatement(
        "v.json", 0, "CVE-2024-1", ("GHSA-aaaa-bbbb-cccc",), products, subs, "fixed",
        timestamp=stamp,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("product", "purl", "matches"),
    [
        ("pkg:pypi/requests", "pkg:pypi/requests@2.19.0", True),
        ("pkg:pypi/requests@2.19.0", "pkg:pypi/requests@2.19.0", True),
        ("pkg:pypi/requests@2.20.0", "pkg:pypi/requests@2.19.0", False),
        ("pkg:pypi/Requests", "pkg:pypi/requests@2.19.0", True),  # PyPI names are case-blind
        ("pkg:npm/requests", "pkg:pypi/requests@2.19.0", False),
        ("pkg:deb/debian/openssl?arch=amd64", "pkg:deb/debian/openssl@3?arch=amd64&distro=d", True),
        ("pkg:deb/debian/openssl?arch=arm64", "pkg:deb/debian/openssl@3.0?arch=amd64", False),
        ("pkg:deb/debian/openssl?arch=amd64", "pkg:deb/debian/openssl@3.0", False),
        ("pkg:npm/%40babel/core", "pkg:npm/%40babel/core@7.0.0", True),
    ],
)  # fmt: skip
def test_products_match_by_package_url(product: str, purl: str, matches: bool) -> None:
    index = Index([stmt((product,))])
    assert bool(index.find(vuln("CVE-2024-1", purl), "")) is matches


def test_vulnerabilities_match_by_id_or_alias_and_the_latest_statement_wins() -> None:
    old, new = stmt(("pkg:pypi/x",), stamp="2025-01-01"), stmt(("pkg:pypi/x",), stamp="2026-01-01")
    index = Index([new, old])
    assert index.find(vuln("ghsa-AAAA-bbbb-cccc", "pkg:pypi/x@1"), "") == [old, new]
    assert index.find(vuln("CVE-2024-2", "pkg:pypi/x@1"), "") == []
    assert index.find(vuln("CVE-2024-1", None), "") == []  # no purl: nothing matches


def test_a_subcomponent_matches_only_under_the_scanned_image() -> None:
    index = Index([stmt(("pkg:oci/app@sha256%3Aabc",), subs=("pkg:deb/debian/zlib",))])
    finding = vuln("CVE-2024-1", "pkg:deb/debian/zlib@1.2")
    assert index.find(finding, "registry.example/team/app:1.0")
    assert not index.find(finding, "registry.example/team/other:1.0")
    assert not index.find(finding, ".")
