"""VEX (`--vex`) through the real Trivy and the real console script: OpenVEX documents made
here (checked against the OpenVEX 0.2.0 JSON schema, tests/data/openvex), given to `scan fs`
(Trivy applies them) and to `check` (scangate applies them to a saved report), with the
policy's `vex: honor | report`, and statements that match nothing listed as unused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.support import scanning, trivydb

DATA = Path(__file__).parent / "data" / "openvex"
TODAY = "2026-03-10"
# The GHSA ID of the lodash advisory; the report says CVE-2019-10744 (an alias).
LODASH_GHSA = "GHSA-jf85-cpcp-j695"


def statement(vuln: str, purl: str, status: str, **extra: Any) -> dict[str, Any]:
    name, _, alias = vuln.partition("|")
    vulnerability: dict[str, Any] = {"name": name}
    if alias:
        vulnerability["aliases"] = [alias]
    return {"vulnerability": vulnerability, "products": [{"@id": purl}], "status": status, **extra}


def openvex(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/scangate-test-1",
        "author": "scangate tests",
        "timestamp": "2026-03-01T12:00:00Z",
        "version": 1,
        "statements": list(statements),
    }


def check_schema(doc: dict[str, Any]) -> None:
    schema = json.loads((DATA / "openvex_json_schema_0.2.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)


# The vulnerable project's findings (`trivydb.EXPECTED_FS_FINDINGS`), one statement each kind:
VEX = openvex(
    # not_affected, by the package URL with its version
    statement(
        trivydb.REQUESTS_CVE, "pkg:pypi/requests@2.19.0", "not_affected",
        justification="vulnerable_code_not_in_execute_path",
    ),
    # fixed, named by its GHSA ID with the CVE as an alias, by a purl without a version
    statement(f"{LODASH_GHSA}|{trivydb.LODASH_CVE}", "pkg:npm/lodash", "fixed"),
    # not_affected with an impact statement
    statement(
        trivydb.FLASK_CORS_CVE, "pkg:pypi/flask-cors", "not_affected",
        impact_statement="CORS is configured by the proxy, not by Flask-Cors",
    ),
    statement(trivydb.PYYAML_CVE, "pkg:pypi/pyyaml", "affected", action_statement="Upgrade it"),
    statement(trivydb.SMALLVEC_CVE, "pkg:cargo/smallvec@1.6.0", "under_investigation"),
    # a CVE the project does not have, and one for another version: both match nothing
    statement("CVE-2099-0001", "pkg:pypi/requests", "not_affected",
              justification="component_not_present"),
    statement(trivydb.URLLIB3_CRITICAL_CVE, "pkg:pypi/urllib3@9.9", "not_affected",
              justification="vulnerable_code_not_present"),
)  # fmt: skip


def findings(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in result["findings"]}


def unused(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["id"], e["origin"]) for e in result["allowlist"]["unused"]}


def test_the_test_document_is_valid_openvex() -> None:
    check_schema(VEX)
    with pytest.raises(jsonschema.ValidationError):
        check_schema(openvex(statement("CVE-1", "pkg:pypi/x", "not_affected")))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    trivydb.write_vulnerable_project(tmp_path / "repo")
    scanning.write_db(tmp_path / "cache")
    (tmp_path / "vex.json").write_text(json.dumps(VEX), encoding="utf-8")
    return tmp_path


def scan(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict[str, Any]]:
    proc = scanning.run_scangate(
        ["scan", "fs", "repo", "--cache-dir", "cache", "--offline", "--scanners", "vuln",
         "--today", TODAY, "--json", "out.json", *args],
        cwd=tmp, env=env or scanning.clean_env(tmp),
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stdout, json.loads((tmp / "out.json").read_text("utf-8"))


EXPECTED_UNUSED = {
    ("CVE-2099-0001", "VEX vex.json statements[5]"),
    (trivydb.URLLIB3_CRITICAL_CVE, "VEX vex.json statements[6]"),
}


def assert_vex_honored(
    result: dict[str, Any], stdout: str, unused_too: frozenset[tuple[str, str]] = frozenset()
) -> None:
    found = findings(result)
    requests = found[trivydb.REQUESTS_CVE]
    assert requests["decision"] == "allowed"
    assert requests["reason"] == ("VEX vex.json: not_affected: vulnerable_code_not_in_execute_path")
    assert requests["vex"] == {
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "impact": "",
        "source": "vex.json",
        "statement": 0,
    }
    assert found[trivydb.LODASH_CVE]["decision"] == "allowed"
    assert found[trivydb.LODASH_CVE]["reason"] == "VEX vex.json: fixed"
    assert found[trivydb.TIME_CVE]["vex"] is None
    assert found[trivydb.FLASK_CORS_CVE]["reason"] == (
        "VEX vex.json: not_affected: CORS is configured by the proxy, not by Flask-Cors"
    )
    # affected and under_investigation decide nothing: shown beside the failing reason
    pyyaml = found[trivydb.PYYAML_CVE]
    assert pyyaml["decision"] == "fail"
    assert pyyaml["reason"].endswith("; VEX vex.json: affected: Upgrade it")
    smallvec = found[trivydb.SMALLVEC_CVE]
    assert smallvec["decision"] == "fail"
    assert smallvec["reason"].endswith("; VEX vex.json: under_investigation")
    assert found[trivydb.URLLIB3_CRITICAL_CVE]["decision"] == "fail"
    assert unused(result) == EXPECTED_UNUSED | unused_too
    assert "allowed (1): CVE-2018-18074: VEX vex.json: not_affected" in stdout
    assert "allow entry matched nothing: CVE-2099-0001 (VEX vex.json statements[5])" in stdout


def test_scan_fs_passes_the_vex_to_trivy_and_gates_what_it_suppressed(project: Path) -> None:
    code, out, result = scan(project, "--vex", "vex.json", "--raw-report", "raw.json")
    assert code == 1
    assert_vex_honored(result, out)
    # Trivy itself suppressed them (scangate asked it to show them: --show-suppressed).
    raw = json.loads((project / "raw.json").read_text("utf-8"))
    suppressed = {
        m["Finding"]["VulnerabilityID"]: m["Status"]
        for r in raw["Results"]
        for m in r.get("ExperimentalModifiedFindings") or ()
    }
    assert suppressed == {
        trivydb.REQUESTS_CVE: "not_affected",
        trivydb.LODASH_CVE: "fixed",
        trivydb.FLASK_CORS_CVE: "not_affected",
    }


def test_scangate_vex_takes_a_path_list(project: Path) -> None:
    # Two files through the environment: the second's statements match nothing new.
    other = openvex(statement("CVE-2099-0002", "pkg:npm/x", "fixed"))
    (project / "other.json").write_text(json.dumps(other), encoding="utf-8")
    env = scanning.clean_env(project, {"SCANGATE_VEX": "vex.json:other.json"})
    _, out, result = scan(project, env=env)
    assert_vex_honored(result, out, frozenset({("CVE-2099-0002", "VEX other.json statements[0]")}))


def test_vex_report_shows_the_statement_and_decides_without_it(project: Path) -> None:
    (project / "policy.yaml").write_text("extends: default\nvex: report\n", encoding="utf-8")
    code, _, result = scan(project, "--vex", "vex.json", "--policy", "policy.yaml")
    assert code == 1
    found = findings(result)
    for cve in (trivydb.REQUESTS_CVE, trivydb.LODASH_CVE, trivydb.FLASK_CORS_CVE):
        assert found[cve]["decision"] == "fail", found[cve]
        assert "(vex: report)" in found[cve]["reason"]
    assert found[trivydb.REQUESTS_CVE]["reason"] == (
        "HIGH vulnerability at or above fail-on HIGH; VEX vex.json: not_affected: "
        "vulnerable_code_not_in_execute_path (vex: report)"
    )
    assert result["summary"]["by_decision"]["allowed"] == 0


def test_require_expiry_does_not_apply_to_vex(project: Path) -> None:
    """An ignore-file suppression without expiry fails under require-expiry; a VEX
    statement has no expiry, and the allow-rules are not for it."""
    (project / "policy.yaml").write_text(
        "extends: default\nallow-rules:\n  require-expiry: true\n", encoding="utf-8"
    )
    _, out, result = scan(project, "--vex", "vex.json", "--policy", "policy.yaml")
    assert_vex_honored(result, out)


def test_policy_check_shows_vex_and_refuses_a_bad_value(tmp_path: Path) -> None:
    env = scanning.clean_env(tmp_path)
    (tmp_path / "p.yaml").write_text("vex: report\n", encoding="utf-8")
    proc = scanning.run_scangate(["policy", "check", "p.yaml"], cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "\nvex: report\n" in proc.stdout
    proc = scanning.run_scangate(["policy", "check", "default"], cwd=tmp_path, env=env)
    assert "\nvex: honor\n" in proc.stdout
    (tmp_path / "p.yaml").write_text("vex: ignore\n", encoding="utf-8")
    proc = scanning.run_scangate(["policy", "check", "p.yaml"], cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "scangate: error: p.yaml: 'vex': vex 'ignore' is not one of honor, report"
    )


# --- check: scangate applies OpenVEX to a report made elsewhere ----------------------------


def run_check(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = scanning.run_scangate(
        ["check", "--today", TODAY, *args], cwd=tmp, env=env or scanning.clean_env(tmp)
    )
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def test_check_applies_openvex_by_purl_and_alias(tmp_path: Path, vuln_project_report: Path) -> None:
    (tmp_path / "vex.json").write_text(json.dumps(VEX), encoding="utf-8")
    code, out, err = run_check(
        tmp_path, str(vuln_project_report), "--vex", "vex.json", "--json", "out.json"
    )
    assert code == 1, err
    result = json.loads((tmp_path / "out.json").read_text("utf-8"))
    assert_vex_honored(result, out)


def test_check_keeps_the_vex_trivy_applied_apart_from_ignore_files(
    project: Path, trivy_bin: Path
) -> None:
    """A report Trivy made with --vex --show-suppressed: its VEX suppressions are VEX to the
    gate (the policy's `vex` decides; require-expiry does not fail them)."""
    import subprocess

    subprocess.run(
        [str(trivy_bin), "fs", "--cache-dir", "cache", "--skip-db-update",
         "--skip-java-db-update", "--offline-scan", "--scanners", "vuln", "--format", "json",
         "--output", "report.json", "--list-all-pkgs", "--vex", "vex.json",
         "--show-suppressed", "-q", "--", "repo"],
        cwd=project, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (project / "strict.yaml").write_text(
        "extends: default\nallow-rules:\n  require-expiry: true\n", encoding="utf-8"
    )
    (project / "report.yaml").write_text("extends: default\nvex: report\n", encoding="utf-8")
    _, _, err = run_check(project, "report.json", "-p", "strict.yaml", "--json", "a.json")
    found = findings(json.loads((project / "a.json").read_text("utf-8")))
    assert found[trivydb.REQUESTS_CVE]["decision"] == "allowed", err
    assert found[trivydb.REQUESTS_CVE]["reason"] == (
        "VEX vex.json: not_affected: vulnerable_code_not_in_execute_path"
    )
    run_check(project, "report.json", "-p", "report.yaml", "--json", "b.json")
    found = findings(json.loads((project / "b.json").read_text("utf-8")))
    assert found[trivydb.REQUESTS_CVE]["decision"] == "fail"


def test_check_refuses_cyclonedx_vex(tmp_path: Path, vuln_project_report: Path) -> None:
    cdx = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "vulnerabilities": [
            {"id": trivydb.REQUESTS_CVE, "analysis": {"state": "not_affected"},
             "affects": [{"ref": "urn:cdx:x/1#pkg:pypi/requests@2.19.0"}]}
        ],
    }  # fmt: skip
    (tmp_path / "cdx.json").write_text(json.dumps(cdx), encoding="utf-8")
    code, out, err = run_check(tmp_path, str(vuln_project_report), "--vex", "cdx.json")
    assert code == 2 and out == ""
    assert err.strip() == (
        "scangate: error: --vex cdx.json: scangate check applies OpenVEX only, and this is "
        "CycloneDX VEX: give it to the scan (scan ... --vex), where Trivy applies it, or "
        "convert it to OpenVEX"
    )
