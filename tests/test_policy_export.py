"""`scangate policy export`: the effective allowlist as OpenVEX and as `.trivyignore.yaml`,
round-tripped through the real Trivy (offline DB) on the fixture repository: what Trivy
suppresses with the exported file is exactly what scangate allows with the policy."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from scangate.findings import Kind
from scangate.policy_export import justification, trivy_id
from tests.conftest import TrivyScanner
from tests.support import trivydb
from tests.support.scanning import clean_env, minimal_report, run_scangate, write_fixture_repo

TODAY = "2026-06-01"
# OpenVEX's JSON schema (openvex/spec, v0.2.0), vendored as test data.
OPENVEX_SCHEMA = Path(__file__).parent / "data" / "openvex" / "openvex_json_schema_0.2.0.json"
HOSTILE = "Not used: only called from tests\n::error::pwned \u202e\x1b[31m ##[group] `x`"

POLICY = f"""\
version: 1
allow:
  - id: {trivydb.REQUESTS_CVE}
    reason: {json.dumps(HOSTILE)}
    packages: [requests]
    expires: 2099-01-01
    owner: "team\\nx"
  - id: {trivydb.PYYAML_CVE}
    reason: mitigated by a WAF rule
    packages: ["Py*"]
  - id: {trivydb.LODASH_CVE.lower()}
    reason: accepted risk
  - id: {trivydb.SMALLVEC_CVE}
    reason: not reachable
    targets: [Cargo.lock]
  - id: {trivydb.TIME_CVE}
    reason: long gone
    expires: 2020-01-01
  - id: AVD-DS-0002
    reason: the image runs as root by design
  - id: github-pat
    reason: a test token
    targets: ["app/*.py"]
"""
IGNORE_YAML = f"""\
vulnerabilities:
  - id: {trivydb.URLLIB3_MEDIUM_CVE}
    purls: ["pkg:pypi/urllib3"]
    statement: vulnerable code not present
misconfigurations:
  - id: KSV-0001
    paths: ["deploy/*.yaml"]
"""

Key = tuple[str, str, str]  # kind, ID, target


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = write_fixture_repo(tmp_path / "repo")
    (repo / ".scangate.yaml").write_text(POLICY)
    (repo / ".trivyignore.yaml").write_text(IGNORE_YAML)
    return repo


def _trivy(
    scanner: TrivyScanner, repo: Path, out: Path, scanners: str, *extra: str | Path
) -> dict[str, Any]:
    # Run from the repo's parent, so no .trivyignore in the working directory applies.
    scanner.fs(repo, out, scanners=scanners, list_all_pkgs=True, extra=[str(e) for e in extra])
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def _keys(report: dict[str, Any]) -> set[Key]:
    found: set[Key] = set()
    for result in report.get("Results") or []:
        target = result["Target"]
        for v in result.get("Vulnerabilities") or []:
            found.add(("vulnerability", v["VulnerabilityID"], target))
        for m in result.get("Misconfigurations") or []:
            found.add(("misconfiguration", m["ID"], target))
        for s in result.get("Secrets") or []:
            found.add(("secret", s["RuleID"], target))
    return found


def _allowed(repo: Path, report: Path, tmp: Path) -> set[Key]:
    """What scangate allows in `report` with the repo's policy and ignore file."""
    proc = run_scangate(
        ["check", report, "--format", "json", "--today", TODAY], cwd=repo, env=clean_env(tmp)
    )
    assert proc.returncode in (0, 1), proc.stderr
    return {
        (f["kind"], f["id"], f["target"])
        for f in json.loads(proc.stdout)["findings"]
        if f["decision"] == "allowed"
    }


def _export(repo: Path, tmp: Path, fmt: str, out: Path, *extra: str | Path) -> str:
    proc = run_scangate(
        ["policy", "export", "--format", fmt, "--output", out, "--today", TODAY, *extra],
        cwd=repo,
        env=clean_env(tmp),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return proc.stderr


def _stderr_lines(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    for line in lines:  # escaped: every line is scangate's own, no raw control or bidi
        assert line.startswith("scangate: "), line
        assert "\x1b" not in line and "\u202e" not in line
    return lines


def _mentions(lines: Iterable[str], ident: str, words: str) -> bool:
    return any(ident in line and words in line for line in lines)


def test_openvex_round_trip_through_trivy(
    repo: Path, tmp_path: Path, trivy_scan: TrivyScanner
) -> None:
    raw = tmp_path / "raw.json"
    before = _keys(_trivy(trivy_scan, repo, raw, "vuln"))
    vex = tmp_path / "exported.vex.json"
    stderr = _export(repo, tmp_path, "openvex", vex, "--report", raw)

    document = json.loads(vex.read_text())
    jsonschema.Draft202012Validator(json.loads(OPENVEX_SCHEMA.read_text())).validate(document)
    assert vex.read_bytes().isascii()  # every reason \u-escaped: inert wherever it is shown
    assert document["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert document["timestamp"] == f"{TODAY}T00:00:00Z"
    assert document["version"] == 1 and document["author"] == "scangate"
    assert document["@id"].startswith("https://openvex.dev/docs/public/vex-")
    by_id = {s["vulnerability"]["name"]: s for s in document["statements"]}
    assert set(by_id) == {trivydb.REQUESTS_CVE, trivydb.PYYAML_CVE, trivydb.URLLIB3_MEDIUM_CVE}
    requests = by_id[trivydb.REQUESTS_CVE]
    assert requests["products"] == [
        {"@id": "pkg:pypi/requests", "identifiers": {"purl": "pkg:pypi/requests"}}
    ]
    assert requests["status"] == "not_affected"
    assert requests["justification"] == "vulnerable_code_not_in_execute_path"
    # The reason, whole, as data: beside a justification, in the status notes.
    assert "impact_statement" not in requests
    assert requests["status_notes"] == f"{HOSTILE}; a scangate allow entry; owner team\nx; " + (
        "expires 2099-01-01"
    )
    assert by_id[trivydb.PYYAML_CVE]["products"][0]["@id"] == "pkg:pypi/pyyaml"
    assert by_id[trivydb.PYYAML_CVE]["justification"] == "inline_mitigations_already_exist"
    assert by_id[trivydb.URLLIB3_MEDIUM_CVE]["justification"] == "vulnerable_code_not_present"

    lines = _stderr_lines(stderr)
    assert _mentions(lines, trivydb.LODASH_CVE.lower(), "no package")
    assert _mentions(lines, trivydb.SMALLVEC_CVE, "scoped to paths")
    assert _mentions(lines, trivydb.TIME_CVE, "expired on 2020-01-01")
    assert _mentions(lines, "KSV-0001", "OpenVEX covers vulnerabilities only")
    assert _mentions(lines, trivydb.REQUESTS_CVE, "without its expiry 2099-01-01")
    assert lines[-1].endswith(f"exported 3 of 9 allow entries to {vex}")

    after = _keys(_trivy(trivy_scan, repo, tmp_path / "vex.json", "vuln", "--vex", vex))
    suppressed = before - after
    assert after <= before
    allowed = {k for k in _allowed(repo, raw, tmp_path) if k[0] == "vulnerability"}
    # Exactly the allowed vulnerabilities whose entries name packages; the others (no
    # package, scoped to paths) were named on stderr instead.
    not_expressible = {
        ("vulnerability", trivydb.LODASH_CVE, "package-lock.json"),
        ("vulnerability", trivydb.SMALLVEC_CVE, "Cargo.lock"),
    }
    assert suppressed == allowed - not_expressible
    assert {k[1] for k in suppressed} == set(by_id)


def test_trivyignore_round_trip_through_trivy(
    repo: Path, tmp_path: Path, trivy_scan: TrivyScanner
) -> None:
    scanners = "vuln,misconfig,secret"
    raw = tmp_path / "raw.json"
    before = _keys(_trivy(trivy_scan, repo, raw, scanners))
    exported = tmp_path / "exported.trivyignore.yaml"
    stderr = _export(repo, tmp_path, "trivyignore-yaml", exported, "--report", raw)

    document = yaml.safe_load(exported.read_text())
    assert list(document) == ["vulnerabilities", "misconfigurations", "secrets", "licenses"]
    vulns = {item["id"]: item for item in document["vulnerabilities"]}
    assert vulns[trivydb.REQUESTS_CVE]["purls"] == ["pkg:pypi/requests"]
    assert vulns[trivydb.REQUESTS_CVE]["statement"] == HOSTILE
    assert "expired_at: 2099-01-01\n" in exported.read_text()  # a YAML date, unquoted
    assert vulns[trivydb.SMALLVEC_CVE]["paths"] == ["Cargo.lock"]
    assert trivydb.TIME_CVE not in vulns
    # The old spelling AVD-DS-0002 is written as Trivy 0.76 reports the check.
    assert {i["id"] for i in document["misconfigurations"]} >= {"DS-0002", "KSV-0001"}
    # Written case-blind in the policy, as Trivy reports it where Trivy compares exactly.
    assert trivydb.LODASH_CVE in vulns
    assert {i["id"] for i in document["licenses"]} == {
        trivydb.LODASH_CVE.lower(),
        trivydb.SMALLVEC_CVE,
        "AVD-DS-0002",  # canonical only where scangate reads it as a check
        "github-pat",
    }
    # Nothing of the hostile reason is raw in the file: YAML escapes, one line each.
    text = exported.read_text()
    assert "\x1b" not in text and "\u202e" not in text and "\n::error::" not in text
    lines = _stderr_lines(stderr)
    assert _mentions(lines, trivydb.TIME_CVE, "expired on 2020-01-01")
    assert lines[-1].endswith(f"exported 8 of 9 allow entries to {exported}")

    after = _keys(
        _trivy(trivy_scan, repo, tmp_path / "ignored.json", scanners, "--ignorefile", exported)
    )
    assert after <= before
    allowed = _allowed(repo, raw, tmp_path)
    assert before - after == allowed
    assert {k[0] for k in allowed} == {"vulnerability", "misconfiguration", "secret"}


def test_package_globs_without_a_report_are_named_not_widened(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    lines = _stderr_lines(_export(repo, tmp_path, "trivyignore-yaml", out))
    document = yaml.safe_load(out.read_text())
    ids = {i["id"] for i in document["vulnerabilities"]}
    assert trivydb.REQUESTS_CVE not in ids and trivydb.PYYAML_CVE not in ids
    assert _mentions(lines, trivydb.REQUESTS_CVE, "pass the target's Trivy report with --report")
    assert _mentions(lines, trivydb.PYYAML_CVE, "name no package type")


def test_stdout_and_refusals(repo: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    proc = run_scangate(["policy", "export", "-f", "openvex", "--today", TODAY], cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["statements"][0]["vulnerability"]["name"] == (
        trivydb.URLLIB3_MEDIUM_CVE
    )
    # Replacing the ignore file it reads would lose the entries: refused before any work.
    before = (repo / ".trivyignore.yaml").read_text()
    proc = run_scangate(
        ["policy", "export", "-f", "trivyignore-yaml", "-o", ".trivyignore.yaml"], cwd=repo, env=env
    )
    assert proc.returncode == 2
    assert "which this run reads" in proc.stderr
    assert (repo / ".trivyignore.yaml").read_text() == before
    proc = run_scangate(["policy", "export", "-f", "sbom"], cwd=repo, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # A broken policy: exit 2, one line, no file written.
    (repo / ".scangate.yaml").write_text("allow:\n  - id: X\n")
    out = tmp_path / "never.json"
    proc = run_scangate(["policy", "export", "-f", "openvex", "-o", out], cwd=repo, env=env)
    assert proc.returncode == 2 and "'reason' is required" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Not used in production", "vulnerable_code_not_in_execute_path"),
        ("dev dependency, build time only", "vulnerable_code_not_in_execute_path"),
        ("Mitigated by the proxy", "inline_mitigations_already_exist"),
        (
            "Not exploitable: no untrusted input reaches it",
            "vulnerable_code_cannot_be_controlled_by_adversary",
        ),
        ("The component is not installed in the image", "component_not_present"),
        ("vulnerable code is not present in our build", "vulnerable_code_not_present"),
        ("accepted risk until Q3", None),
    ],
)
def test_justification_from_reason(reason: str, expected: str | None) -> None:
    assert justification(reason) == expected


def test_a_reason_without_a_justification_is_the_impact_statement(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(
        "allow:\n  - id: CVE-2024-0001\n    reason: risk accepted by security\n"
        "    packages: [left-pad]\n"
    )
    report = tmp_path / "report.json"
    vuln = {
        "VulnerabilityID": "CVE-2024-0001",
        "PkgName": "left-pad",
        "PkgIdentifier": {"PURL": "pkg:npm/left-pad@1.0.0"},
        "InstalledVersion": "1.0.0",
        "FixedVersion": "1.0.1",
        "Severity": "HIGH",
    }
    result = {"Target": "package-lock.json", "Class": "lang-pkgs", "Type": "npm"}
    report.write_text(json.dumps(minimal_report(results=[{**result, "Vulnerabilities": [vuln]}])))
    proc = run_scangate(
        ["policy", "export", "-f", "openvex", "-p", "policy.yaml", "--report", report,
         "--today", TODAY, "--author", "Sec Team <sec@example.test>"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(json.loads(OPENVEX_SCHEMA.read_text())).validate(document)
    assert document["author"] == "Sec Team <sec@example.test>"
    [statement] = document["statements"]
    assert "justification" not in statement
    assert statement["impact_statement"] == "risk accepted by security"
    assert statement["products"][0]["@id"] == "pkg:npm/left-pad"
    assert statement["status_notes"] == "a scangate allow entry"


@pytest.mark.parametrize(
    ("kind", "written", "trivy"),
    [
        (Kind.VULNERABILITY, "cve-2018-18074", "CVE-2018-18074"),
        (Kind.VULNERABILITY, "ghsa-g98v-hv3f-hcfr", "GHSA-g98v-hv3f-hcfr"),
        (Kind.VULNERABILITY, " GHSA-g98v-hv3f-hcfr ", "GHSA-g98v-hv3f-hcfr"),
        (Kind.MISCONFIGURATION, "AVD-DS-0002", "DS-0002"),
        (Kind.MISCONFIGURATION, "ds002", "DS-0002"),
        (Kind.SECRET, "github-pat", "github-pat"),
        (Kind.VULNERABILITY, "github-pat", "github-pat"),
    ],
)
def test_ids_are_written_as_trivy_reports_them(kind: Kind, written: str, trivy: str) -> None:
    assert trivy_id(kind, written) == trivy
