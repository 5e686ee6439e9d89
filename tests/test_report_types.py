"""`scangate check` on files that are not a Trivy scan report: each is refused with exit 3 and
one stderr line naming what it is; a clean scan still passes.

Trivy's other output formats are written by the real Trivy 0.76 on a real project; the
Kubernetes and compliance reports (which need a cluster) are small hand-written JSON with the
field names of Trivy's `pkg/k8s/report` and `pkg/compliance/report`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TrivyScanner
from tests.support import trivydb
from tests.test_cli_check import scangate_process

# The format Trivy writes, and what scangate must call it.
TRIVY_FORMATS = {
    "sarif": "a SARIF log",
    "cyclonedx": "a CycloneDX SBOM",
    "spdx-json": "an SPDX SBOM (JSON)",
    "spdx": "an SPDX SBOM in tag-value form",
    "github": "a GitHub dependency snapshot",
    "cosign-vuln": "a cosign vulnerability attestation",
    "table": "Trivy's table output",
}


@pytest.fixture(scope="module")
def trivy_outputs(
    trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The same real project scanned once in each of Trivy's non-JSON formats."""
    base = tmp_path_factory.mktemp("formats")
    project = trivydb.write_vulnerable_project(base / "project")
    return {fmt: trivy_scan.fs(project, base / f"out.{fmt}", fmt=fmt) for fmt in TRIVY_FORMATS}


def refused(path: Path, cwd: Path) -> str:
    """Check `path`: exit 3, nothing on stdout, and the one stderr line."""
    result = scangate_process("check", path, cwd=cwd)
    assert result.code == 3, (result.out, result.err)
    assert result.out == ""
    line = result.error_line
    assert line.startswith(f"scangate: error: {path}: ")
    return line


@pytest.mark.parametrize("fmt", list(TRIVY_FORMATS))
def test_each_other_trivy_format_is_named(
    trivy_outputs: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    line = refused(trivy_outputs[fmt], tmp_path)
    assert TRIVY_FORMATS[fmt] in line
    assert "SchemaVersion is missing" not in line
    # Each names the fix: a JSON report from trivy (for an SBOM: `trivy sbom`).
    fix = "trivy sbom FILE --format json" if fmt.startswith(("cyclonedx", "spdx")) else "json"
    assert fix in line


# --- Trivy's Kubernetes and compliance reports: SchemaVersion 2, no Results -------------------

K8S_RESOURCE = {
    "Namespace": "default",
    "Kind": "Deployment",
    "Name": "web",
    "Results": [
        {
            "Target": "Deployment/web",
            "Class": "config",
            "Type": "kubernetes",
            "Misconfigurations": [
                {"ID": "KSV001", "AVDID": "AVD-KSV-0001", "Severity": "MEDIUM", "Status": "FAIL"}
            ],
        }
    ],
}
CONTROL = {"ID": "1.0", "Name": "Non-root containers", "Severity": "MEDIUM"}

SILENT_PASSES = {
    # `trivy k8s --format json --report all` (pkg/k8s/report.Report)
    "k8s-all": (
        {"SchemaVersion": 2, "ClusterName": "kind-kind", "Resources": [K8S_RESOURCE]},
        "a Trivy Kubernetes report (ClusterName, Resources)",
    ),
    # `--report summary` (ConsolidatedReport)
    "k8s-summary": (
        {"SchemaVersion": 2, "ClusterName": "kind-kind", "Findings": [K8S_RESOURCE]},
        "a Trivy Kubernetes report (ClusterName, Findings)",
    ),
    # a clean cluster: Resources is omitempty, ClusterName is always written
    "k8s-clean": (
        {"SchemaVersion": 2, "ClusterName": "kind-kind"},
        "a Trivy Kubernetes report (ClusterName)",
    ),
    # before Trivy 0.38: Vulnerabilities and Misconfigurations lists of resources
    "k8s-legacy": (
        {"SchemaVersion": 2, "ClusterName": "prod", "Misconfigurations": [K8S_RESOURCE]},
        "a Trivy Kubernetes report (ClusterName, Misconfigurations)",
    ),
    "resources-only": (
        {"SchemaVersion": 2, "Resources": [K8S_RESOURCE]},
        "a Trivy Kubernetes report (Resources)",
    ),
    # `--compliance ... --report summary` (pkg/compliance/report.SummaryReport)
    "compliance-summary": (
        {
            "SchemaVersion": 2,
            "ID": "k8s-nsa-1.0",
            "Title": "National Security Agency - Kubernetes Hardening Guidance v1.0",
            "SummaryControls": [{**CONTROL, "TotalFail": 3}],
        },
        "a Trivy compliance report (ID, Title, SummaryControls)",
    ),
    # nothing a scan writes: no Results, no artifact
    "schema-only": ({"SchemaVersion": 2}, "no Results, ArtifactName or ArtifactType"),
    "results-null": (
        {"SchemaVersion": 2, "Results": None, "Trivy": {"Version": "0.76.0"}},
        "no Results, ArtifactName or ArtifactType",
    ),
    "results-empty": ({"SchemaVersion": 2, "Results": []}, "no Results, ArtifactName"),
}


@pytest.mark.parametrize("shape", list(SILENT_PASSES))
def test_schema_2_without_results_is_not_a_clean_scan(tmp_path: Path, shape: str) -> None:
    report, named = SILENT_PASSES[shape]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    line = refused(path, tmp_path)
    assert named in line
    assert "--format json" in line


@pytest.mark.parametrize(
    ("report", "named"),
    [
        pytest.param(
            {  # `--compliance ... --report all`: no SchemaVersion, Results of controls
                "ID": "k8s-nsa-1.0",
                "Title": "NSA",
                "Description": "Kubernetes Hardening Guidance",
                "Version": "1.0",
                "RelatedResources": ["https://example.org/nsa"],
                "Results": [{**CONTROL, "Results": K8S_RESOURCE["Results"]}],
            },
            "a Trivy compliance report (ID, Title, RelatedResources)",
            id="compliance-all",
        ),
        pytest.param(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.org/vex-1",
                "author": "security@example.org",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": [],
            },
            "an OpenVEX document",
            id="openvex",
        ),
        pytest.param(
            {  # what GitHub's dependency submission API takes, with its required fields
                "version": 0,
                "sha": "ce587453ced02b1526dfb4cb910479d431683101",
                "ref": "refs/heads/main",
                "job": {"correlator": "ci_build", "id": "1"},
                "detector": {"name": "trivy", "version": "0.76.0", "url": "https://x.test"},
                "scanned": "2026-01-01T00:00:00Z",
                "manifests": {},
            },
            "a GitHub dependency snapshot",
            id="github-snapshot",
        ),
    ],
)
def test_other_json_is_named(tmp_path: Path, report: dict[str, object], named: str) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert named in refused(path, tmp_path)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param(b"<!DOCTYPE html><html>502 Bad Gateway</html>", "an HTML page", id="html"),
        pytest.param(b'<?xml version="1.0"?><bom/>', "XML, not JSON", id="xml"),
        pytest.param(b'\xef\xbb\xbf{"SchemaVersion": 2}', "byte-order mark", id="utf8-bom"),
        pytest.param('{"SchemaVersion": 2}'.encode("utf-16"), "UTF-16", id="utf16"),
        pytest.param(b"\x1f\x8b\x08\x00rest", "gzip", id="gzip"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", "binary", id="binary"),
        pytest.param(b"Total: 2 (UNKNOWN: 0, LOW: 0)\n", "Trivy's table output", id="table-total"),
        pytest.param(b"scan finished, all good\n", "text, not JSON", id="text"),
        pytest.param(b'{"SchemaVersion": 2, "Res', "truncated", id="truncated"),
    ],
)
def test_text_and_binary_are_named(tmp_path: Path, content: bytes, named: str) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)
    line = refused(path, tmp_path)
    assert named in line
    assert ": not a readable Trivy JSON report (" in line


# --- a clean scan still passes ----------------------------------------------------------------


def test_a_real_clean_scan_without_results_passes(trivy_scan: TrivyScanner, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    report = trivy_scan.fs(empty, tmp_path / "clean.json", scanners="vuln,secret")
    assert "Results" not in json.loads(report.read_text())  # Trivy omits it: omitempty
    result = scangate_process("check", report, cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out.splitlines()[-1].startswith("PASS: 0 findings")


@pytest.mark.parametrize("results", [None, []], ids=["null", "empty"])
def test_a_clean_scan_with_null_or_empty_results_passes(
    tmp_path: Path, results: list[object] | None
) -> None:
    path = tmp_path / "clean.json"
    report = {"SchemaVersion": 2, "ArtifactName": "app", "ArtifactType": "filesystem"}
    path.write_text(json.dumps({**report, "Results": results}))
    result = scangate_process("check", path, cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1].startswith("PASS: 0 findings")


def test_a_report_with_findings_is_not_sniffed(vuln_project_report: Path, tmp_path: Path) -> None:
    # Foreign keys are looked for only without findings: a real report with Results gates.
    report = json.loads(vuln_project_report.read_text())
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**report, "ID": "x", "Title": "y"}))
    result = scangate_process("check", path, "--quiet", cwd=tmp_path)
    assert result.code == 1, result.err
    assert result.out.startswith("FAIL: 9 findings")
