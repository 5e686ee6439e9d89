"""scangate.formats.sarif: SARIF that GitHub code scanning ingests and keeps stable.

Reports come from the real Trivy, offline (conftest's `trivy_scan`): a repository with lock
files, a Dockerfile without USER, a Kubernetes Deployment and a fake GitHub token scanned for
vulnerabilities, misconfigurations and secrets; and a Debian image archive, with and without
a Dockerfile. Every SARIF text a test renders is validated against the official SARIF 2.1.0
schema (tests/data, see SARIF-SCHEMA-LICENSE.md) and checked against GitHub's limits, beside
targeted assertions.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

# No stubs for jsonschema in the lint extra (types-jsonschema); pyproject is not ours to change.
import jsonschema  # type: ignore[import-untyped]
import pytest

from scangate import secret_values
from scangate.cli._outputs import Output, write_outputs
from scangate.findings import Artifact, Severity
from scangate.formats import START_OVER, StartOver, escape, joined
from scangate.formats.annotations import github_annotations
from scangate.formats.sarif import limits as sarif_plan
from scangate.formats.sarif import locations as sarif_locations
from scangate.formats.sarif import rules as sarif_rules
from scangate.formats.sarif import writer as sarif
from scangate.formats.sarif.encoding import GzipSize, gzip_bound
from scangate.formats.sarif.limits import MAX_RESULTS_PER_RUN
from scangate.formats.sarif.locations import DockerfileRef, final_from_line, image_repository
from scangate.formats.sarif.rules import DEFAULT_SECURITY_SEVERITY, security_severity
from scangate.formats.sarif.writer import FINGERPRINT_KEY, SarifFormat, SarifOptions
from scangate.gate import GateResult, evaluate
from scangate.policy import load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import parse_report
from tests.conftest import (
    K8S_DEPLOYMENT,
    TrivyScanner,
    make_fake_github_token,
    write_config_repo,
)
from tests.support import hostile, images, rendered, servers, trivydb

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
TODAY = date(2026, 3, 10)
LEVELS = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}


# --- helpers --------------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def check(text: str) -> dict[str, Any]:
    """Parse, validate against the SARIF 2.1.0 schema, and check GitHub's upload limits."""
    doc: dict[str, Any] = json.loads(text)
    _validator().validate(doc)
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) <= 20
    for run in doc["runs"]:
        assert len(run["results"]) <= MAX_RESULTS_PER_RUN
        for rule in run["tool"]["driver"]["rules"]:
            assert len(rule["properties"]["tags"]) <= 20
        for result in run["results"]:
            assert 1 <= len(result["locations"]) <= 1000
            assert result["partialFingerprints"][FINGERPRINT_KEY]
    return doc


def render(result: GateResult, **options: Any) -> tuple[dict[str, Any], str, SarifFormat]:
    fmt = SarifFormat(SarifOptions(**options))
    text = fmt.render(result)
    return check(text), text, fmt


def gate(*reports: Path, policy: str = "default", base_dir: Path | None = None) -> GateResult:
    runs = [to_scan_run(parse_report(p.read_bytes(), str(p))) for p in reports]
    pol = load_policy(policy, base_dir=base_dir or Path.cwd(), today=TODAY)
    return evaluate(runs, pol, TODAY)


def results_by(doc: dict[str, Any], run: int = 0) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Results of a run by (rule id, uri)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in doc["runs"][run]["results"]:
        out.setdefault((r["ruleId"], uri_of(r)), []).append(r)
    return out


def uri_of(result: dict[str, Any]) -> str:
    uri: str = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    return uri


def uris_of(run: dict[str, Any]) -> set[str]:
    return {uri_of(r) for r in run["results"]}


def region(result: dict[str, Any]) -> tuple[int, int]:
    reg = result["locations"][0]["physicalLocation"]["region"]
    return reg["startLine"], reg.get("endLine", reg["startLine"])


def rules_by_id(doc: dict[str, Any], run: int = 0) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["runs"][run]["tool"]["driver"]["rules"]}


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def no_unstable_parts(text: str, tmp: Path) -> None:
    """No temp dir, tag, digest or date in a category, URI or rule id."""
    assert str(tmp) not in text
    assert "/tmp" not in text and "pytest-" not in text
    assert not re.search(r"sha256|@|:1\.0|\.tar|\d{4}-\d{2}-\d{2}", text), text


# --- fixtures: real Trivy reports ------------------------------------------------------------


@pytest.fixture(scope="module")
def fs_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`trivy fs --scanners vuln,misconfig,secret repo`, run in repo's parent."""
    base = tmp_path_factory.mktemp("sarif-fs")
    repo = write_config_repo(base / "repo", make_fake_github_token())
    trivydb.write_vulnerable_project(repo)
    return trivy_scan.fs(repo, base / "fs.json", scanners="vuln,misconfig,secret")


@pytest.fixture(scope="module")
def image_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sarif-image")
    archive = images.write_docker_archive(base / "app.tar")
    return trivy_scan.image(archive, base / "image.json")


@pytest.fixture
def in_base(fs_report: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory is the scan's (the report names the artifact "repo")."""
    monkeypatch.chdir(fs_report.parent)
    yield fs_report.parent / "repo"


# --- filesystem ------------------------------------------------------------------------------


def test_fs_run_has_stable_category_relative_uris_and_real_regions(
    fs_report: Path, in_base: Path
) -> None:
    doc, _, _ = render(gate(fs_report), source_root=in_base)
    (run,) = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/fs/./"
    driver = run["tool"]["driver"]
    assert driver["name"] == "scangate" and driver["version"] and driver["informationUri"]
    assert run["tool"]["extensions"][0]["name"] == "Trivy"
    assert run["tool"]["extensions"][0]["version"] == run["properties"]["trivyVersion"]
    assert run["properties"]["trivyVersion"].startswith("0.")

    found = results_by(doc)
    # Vulnerabilities at the lock file line of their package.
    requirements = trivydb.REQUIREMENTS_TXT
    for rule_id, package in ((trivydb.REQUESTS_CVE, "requests=="), (trivydb.PYYAML_CVE, "PyYAML")):
        (result,) = found[(rule_id, "requirements.txt")]
        assert region(result)[0] == line_of(requirements, package)
    (lodash,) = found[(trivydb.LODASH_CVE, "package-lock.json")]
    start, end = region(lodash)
    assert start == line_of(trivydb.PACKAGE_LOCK_JSON, '"node_modules/lodash"') and end > start
    (smallvec,) = found[(trivydb.SMALLVEC_CVE, "Cargo.lock")]
    start, end = region(smallvec)
    assert start <= line_of(trivydb.CARGO_LOCK, 'name = "smallvec"') <= end
    # The two copies of the token in settings.py, and the one in release.py, at their lines.
    secrets = found[("github-pat", "app/settings.py")]
    assert sorted(region(r) for r in secrets) == [(3, 3), (5, 5)]
    assert len({r["partialFingerprints"][FINGERPRINT_KEY] for r in secrets}) == 2
    assert [region(r) for r in found[("github-pat", "scripts/release.py")]] == [(3, 3)]
    # A misconfiguration at its cause lines; DS-0002 (no USER) at line 1 of the Dockerfile.
    (privileged,) = found[("KSV-0017", "deploy/k8s/deployment.yaml")]
    start, end = region(privileged)
    assert start <= line_of(K8S_DEPLOYMENT, "privileged: true") <= end
    assert region(found[("DS-0002", "Dockerfile")][0])[0] == 1

    rule_ids = list(rules_by_id(doc))
    for (rule_id, _), results in found.items():
        for r in results:
            assert r["ruleIndex"] == rule_ids.index(rule_id)
            assert r["message"]["text"]
    no_unstable_parts(json.dumps([run["automationDetails"], list(found)]), in_base.parent)


def test_levels_and_security_severity_follow_the_gate_severity(
    fs_report: Path, in_base: Path
) -> None:
    result = gate(fs_report)
    doc, _, _ = render(result, source_root=in_base)
    severities = {d.finding.id: d.finding.severity.value for d in result.decided()}
    rules = rules_by_id(doc)
    for r in doc["runs"][0]["results"]:
        assert r["level"] == LEVELS.get(severities[r["ruleId"]], "note")
    # CVSS v3 of the severity source when it agrees with the severity, else the default.
    assert rules[trivydb.SMALLVEC_CVE]["properties"]["security-severity"] == "9.8"
    assert rules[trivydb.FLASK_CORS_CVE]["properties"]["security-severity"] == "8.0"
    assert rules["github-pat"]["properties"]["security-severity"] == "9.5"
    assert rules["DS-0002"]["properties"]["security-severity"] == "8.0"
    for rule in rules.values():
        score = rule["properties"]["security-severity"]
        assert re.fullmatch(r"\d+\.\d", score) and score != "9.0"
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
        assert rule["properties"]["precision"] in {"very-high", "high"}
        tags = rule["properties"]["tags"]
        assert tags[0] == "security" and len(tags) == 3
        assert tags[2] in {s.value for s in Severity}
        assert rule["helpUri"].startswith("https://")
        for text_field in (
            rule["shortDescription"]["text"],
            rule["fullDescription"]["text"],
            rule["help"]["text"],
            rule["help"]["markdown"],
        ):
            assert 0 < len(text_field) <= 1024
        assert rule["helpUri"] in rule["help"]["text"]
        assert "How to fix" in rule["help"]["text"]
    # A MEDIUM result keeps its explicit level (SARIF's default is the rule's level).
    assert any(r["level"] == "warning" for r in doc["runs"][0]["results"])


@pytest.mark.parametrize(
    ("severity", "cvss", "expected"),
    [
        (Severity.CRITICAL, 9.8, "9.8"),
        (Severity.CRITICAL, 9.0, "9.5"),  # GitHub's boundary: never exactly 9.0
        (Severity.CRITICAL, 7.5, "9.5"),  # disagrees with the severity the gate used
        (Severity.HIGH, 9.0, "8.0"),
        (Severity.HIGH, 7.0, "7.0"),
        (Severity.HIGH, None, "8.0"),
        (Severity.MEDIUM, 6.9, "6.9"),
        (Severity.MEDIUM, 7.0, "5.5"),
        (Severity.LOW, 3.1, "3.1"),
        (Severity.LOW, None, "2.0"),
        (Severity.UNKNOWN, 9.8, "0.0"),
    ],
)
def test_security_severity(severity: Severity, cvss: float | None, expected: str) -> None:
    assert security_severity(severity, cvss) == expected
    assert "9.0" not in {f"{v:.1f}" for v in DEFAULT_SECURITY_SEVERITY.values()}


def test_subdirectory_scan_is_relative_to_the_repository_root(
    fs_report: Path, in_base: Path
) -> None:
    doc, _, _ = render(gate(fs_report), source_root=in_base.parent)
    (run,) = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/fs/repo/"
    uris = uris_of(run)
    assert "repo/app/settings.py" in uris and "repo/requirements.txt" in uris
    assert all(uri.startswith("repo/") for uri in uris)


def test_a_scan_outside_the_root_stands_for_the_root(
    fs_report: Path, in_base: Path, tmp_path: Path
) -> None:
    doc, _, _ = render(gate(fs_report), source_root=tmp_path)
    (run,) = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/fs/./"
    uris = uris_of(run)
    assert "app/settings.py" in uris and not any(uri.startswith(("/", "..")) for uri in uris)


def test_no_unmasked_secret_anywhere(fs_report: Path, in_base: Path) -> None:
    token = make_fake_github_token()
    result = gate(fs_report)
    for options in ({}, {"include_allowed": True}, {"only_failing": True}):
        _, text, _ = render(result, source_root=in_base, **options)
        assert token not in text
        assert token[4:20] not in text  # not even a part of it
        assert 'GITHUB_TOKEN = \\"****' in text  # Trivy's masked line is the message


def test_same_scan_twice_gives_identical_sarif(
    fs_report: Path, in_base: Path, trivy_scan: TrivyScanner
) -> None:
    again = trivy_scan.fs(
        in_base, fs_report.parent / "again.json", scanners="vuln,misconfig,secret"
    )
    first = render(gate(fs_report), source_root=in_base)[1]
    second = render(gate(again), source_root=in_base)[1]
    assert first == second


def test_fingerprints_survive_lines_inserted_above(
    trivy_scan: TrivyScanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = write_config_repo(tmp_path / "repo", make_fake_github_token())
    monkeypatch.chdir(tmp_path)
    before = check(
        SarifFormat(SarifOptions(source_root=repo)).render(
            gate(trivy_scan.fs(repo, tmp_path / "before.json", scanners="misconfig,secret"))
        )
    )
    for name, comment in (
        ("app/settings.py", "# moved\n"),
        ("deploy/k8s/deployment.yaml", "# moved\n"),
        ("Dockerfile", "# moved\n"),
    ):
        path = repo / name
        path.write_text(comment * 3 + path.read_text())
    after = check(
        SarifFormat(SarifOptions(source_root=repo)).render(
            gate(trivy_scan.fs(repo, tmp_path / "after.json", scanners="misconfig,secret"))
        )
    )

    def by_fingerprint(doc: dict[str, Any]) -> dict[str, tuple[str, str, int]]:
        return {
            r["partialFingerprints"][FINGERPRINT_KEY]: (
                r["ruleId"],
                uri_of(r),
                region(r)[0],
            )
            for r in doc["runs"][0]["results"]
        }

    old, new = by_fingerprint(before), by_fingerprint(after)
    assert old.keys() == new.keys()
    moved = [fp for fp in old if old[fp][1] in ("app/settings.py", "deploy/k8s/deployment.yaml")]
    assert any(old[fp][0] == "github-pat" for fp in moved)
    assert any(old[fp][0] == "KSV-0017" for fp in moved)
    for fp in moved:
        assert new[fp][:2] == old[fp][:2]
        assert new[fp][2] == old[fp][2] + 3


# --- which results ----------------------------------------------------------------------------


def allow_policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        "extends: default\n"
        "allow:\n"
        f"  - id: {trivydb.LODASH_CVE}\n"
        "    reason: 'not reachable: only used in the build'\n"
        "  - id: DS-0002\n"
        "    reason: the base image sets USER\n"
    )
    return str(path)


def test_allowed_findings_only_with_include_allowed_and_then_suppressed(
    fs_report: Path, in_base: Path, tmp_path: Path
) -> None:
    result = gate(fs_report, policy=allow_policy(tmp_path), base_dir=tmp_path)
    default, _, _ = render(result, source_root=in_base)
    rule_ids = {r["ruleId"] for r in default["runs"][0]["results"]}
    assert trivydb.LODASH_CVE not in rule_ids and "DS-0002" not in rule_ids
    assert not any("suppressions" in r for r in default["runs"][0]["results"])

    included, _, _ = render(result, source_root=in_base, include_allowed=True)
    suppressed = {
        r["ruleId"]: r["suppressions"]
        for r in included["runs"][0]["results"]
        if "suppressions" in r
    }
    assert suppressed.keys() == {trivydb.LODASH_CVE, "DS-0002"}
    assert suppressed[trivydb.LODASH_CVE] == [
        {"kind": "external", "justification": "not reachable: only used in the build"}
    ]
    assert len(included["runs"][0]["results"]) == len(default["runs"][0]["results"]) + 2


def test_only_failing(fs_report: Path, in_base: Path, tmp_path: Path) -> None:
    result = gate(fs_report, policy=allow_policy(tmp_path), base_dir=tmp_path)
    failing = {d.finding.fingerprint for d in result.decided() if d.decision.value == "fail"}
    doc, _, _ = render(result, source_root=in_base, only_failing=True)
    got = {r["partialFingerprints"][FINGERPRINT_KEY] for r in doc["runs"][0]["results"]}
    assert got == failing
    assert {r["properties"]["decision"] for r in doc["runs"][0]["results"]} == {"fail"}
    # With allowed ones too: failing plus the two allowed, suppressed.
    doc, _, _ = render(result, source_root=in_base, only_failing=True, include_allowed=True)
    decisions = [r["properties"]["decision"] for r in doc["runs"][0]["results"]]
    assert decisions.count("allowed") == 2 and len(decisions) == len(failing) + 2


# --- images ----------------------------------------------------------------------------------


def test_image_without_dockerfile_uses_a_path_named_after_the_repository(
    image_report: Path, tmp_path: Path
) -> None:
    doc, text, fmt = render(gate(image_report), source_root=tmp_path)
    (run,) = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/image/example.test/app/"
    assert run["properties"]["target"] == "example.test/app"
    assert run["properties"]["imageId"].startswith("sha256:")
    uris = uris_of(run)
    assert uris == {"image/example.test/app"}
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels[trivydb.OPENSSL_CVE] == "error"
    for r in run["results"]:
        assert "example.test/app (debian 12.7)" in r["message"]["text"]
    stable_parts = json.dumps(
        [run["automationDetails"], sorted(uris), sorted(levels), run["results"][0]["ruleId"]]
    )
    no_unstable_parts(stable_parts, image_report.parent)
    assert str(image_report.parent) not in text and "app.tar" not in text
    assert fmt.notes == []


DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM golang:1.22 AS build
RUN go build -o /app .

# the runtime image
FROM --platform=linux/amd64 \\
    debian:12 AS runtime
COPY --from=build /app /app
"""


def test_image_with_dockerfile_locates_packages_at_the_final_from(
    image_report: Path, tmp_path: Path
) -> None:
    assert final_from_line(DOCKERFILE) == 6
    dockerfile = DockerfileRef.from_text("docker/Dockerfile", DOCKERFILE)
    assert dockerfile == DockerfileRef("docker/Dockerfile", 6)
    assert DockerfileRef.from_text("Dockerfile", "# no stage\n") is None
    doc, _, _ = render(gate(image_report), source_root=tmp_path, dockerfile=dockerfile)
    (run,) = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/image/example.test/app/"
    assert run["results"]
    for r in run["results"]:
        location = r["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "docker/Dockerfile"
        assert location["region"] == {"startLine": 6}
    # Rules are shared: openssl and libssl3 (one source package) are one rule, two results.
    assert [r["ruleId"] for r in run["results"]].count(trivydb.OPENSSL_CVE) == 2
    assert len(run["tool"]["driver"]["rules"]) == len({r["ruleId"] for r in run["results"]})


IMAGE_REFERENCE = "registry.example:5000/team/api:2.1@sha256:" + "d" * 64


def image_report_with_app_packages(path: Path) -> Path:
    """An image report (as `trivy image` writes it) with OS and Python packages."""
    vulnerability = {
        "InstalledVersion": "1.0",
        "FixedVersion": "1.1",
        "Severity": "HIGH",
        "Title": "a flaw",
    }
    metadata = "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA"
    report = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "ArtifactName": IMAGE_REFERENCE,
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": "12.7"}, "ImageID": "sha256:" + "e" * 64},
        "Results": [
            {
                "Target": f"{IMAGE_REFERENCE} (debian 12.7)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [
                    {**vulnerability, "VulnerabilityID": "CVE-2024-0001", "PkgName": "libc6"}
                ],
            },
            {
                "Target": "Python",
                "Class": "lang-pkgs",
                "Type": "python-pkg",
                "Vulnerabilities": [
                    {
                        **vulnerability,
                        "VulnerabilityID": "CVE-2024-0002",
                        "PkgName": "requests",
                        "PkgPath": metadata,
                    }
                ],
            },
        ],
    }
    path.write_text(json.dumps(report))
    return path


def test_image_reference_with_registry_port_tag_and_digest(tmp_path: Path) -> None:
    report = image_report_with_app_packages(tmp_path / "r.json")
    doc, _, _ = render(gate(report, base_dir=tmp_path), source_root=tmp_path)
    (run,) = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/image/registry.example:5000/team/api/"
    found = {r["ruleId"]: r for r in run["results"]}
    # An OS package at the image's path; an application package at its file in the image.
    # The port's ":" is not in the first segment: RFC 3986 leaves it as it is.
    assert uri_of(found["CVE-2024-0001"]) == "image/registry.example:5000/team/api"
    assert uri_of(found["CVE-2024-0002"]) == (
        "image/registry.example:5000/team/api/"
        "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA"
    )
    assert "2.1" not in json.dumps(run["automationDetails"]) and "sha256" not in uris_of(run)

    dockerfile = DockerfileRef("Dockerfile", 3)
    doc, _, _ = render(gate(report, base_dir=tmp_path), source_root=tmp_path, dockerfile=dockerfile)
    found = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert {uri_of(r) for r in found.values()} == {"Dockerfile"}
    # At the FROM line, the message says where in the image the package is.
    assert "in usr/lib/python3/dist-packages/" in found["CVE-2024-0002"]["message"]["text"]
    os_message = found["CVE-2024-0001"]["message"]["text"]
    assert "dist-packages" not in os_message
    assert "[image registry.example:5000/team/api (debian 12.7)]" in os_message


def gzipped_size(text: str) -> int:
    return len(gzip.compress(text.encode(), compresslevel=6))


def test_a_log_over_githubs_gzip_limit_is_written_again_smaller(
    fs_report: Path, in_base: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = gate(fs_report)
    full, full_text, fmt = render(result, source_root=in_base)
    assert fmt.notes == []
    limit = gzipped_size(full_text) * 2 // 3
    monkeypatch.setattr(sarif, "MAX_GZIPPED_BYTES", limit)

    # It is written again with fewer results, the most severe kept.
    smaller, text, fmt = render(result, source_root=in_base)
    assert gzipped_size(text) <= limit
    kept = smaller["runs"][0]["results"]
    assert 0 < len(kept) < len(full["runs"][0]["results"])
    assert kept == full["runs"][0]["results"][: len(kept)]
    assert "written again with at most" in fmt.notes[0]
    assert smaller["runs"][0]["properties"]["resultLimit"] == len(kept)
    # Streamed (the CLI's --sarif), the first log is followed by START_OVER and the same
    # smaller log: the file ends up holding what `render` returns.
    streamed = SarifFormat(SarifOptions(source_root=in_base))
    pieces = list(streamed.stream(result))
    assert START_OVER in pieces
    assert joined(pieces) == text.encode()
    assert b"".join(p for p in pieces if isinstance(p, bytes)).startswith(full_text.encode())
    assert streamed.notes == fmt.notes
    out = tmp_path / "out.sarif"
    write_outputs([Output("--sarif", out, streamed.stream(result))])
    assert out.read_text(encoding="utf-8") == text
    # With the cap off, nothing is dropped: the note says the upload will be refused.
    _, _, fmt = render(result, source_root=in_base, max_results=0)
    assert len(fmt.notes) == 1 and "will be rejected" in fmt.notes[0]


def gzipped_size_at(text: str, level: int) -> int:
    return len(gzip.compress(text.encode(), compresslevel=level))


def test_a_log_within_the_limit_at_level_1_is_not_compressed_again(
    fs_report: Path, in_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = gate(fs_report)
    _, text, _ = render(result, source_root=in_base)
    fast, exact = gzipped_size_at(text, 1), gzipped_size_at(text, 6)
    assert exact < fast  # what the fast path relies on
    levels: list[int] = []
    real = GzipSize

    def counted(limit: int | None = None, level: int = 6) -> GzipSize:
        levels.append(level)
        return real(limit, level)

    monkeypatch.setattr(sarif, "GzipSize", counted)
    # Within the limit at level 1: one rendering, compressed once, fast.
    monkeypatch.setattr(sarif, "MAX_GZIPPED_BYTES", fast * 2)
    fmt = SarifFormat(SarifOptions(source_root=in_base))
    pieces = list(fmt.stream(result))
    assert START_OVER not in pieces and joined(pieces) == text.encode()
    assert levels == [1] and fmt.notes == []
    # Over it at level 1 but within it at level 6: the same log again, measured exactly,
    # and nothing is left out.
    levels.clear()
    monkeypatch.setattr(sarif, "MAX_GZIPPED_BYTES", (fast + exact) // 2)
    fmt = SarifFormat(SarifOptions(source_root=in_base))
    pieces = list(fmt.stream(result))
    assert pieces.count(START_OVER) == 1 and joined(pieces) == text.encode()
    assert levels == [1, 6] and fmt.notes == []
    # Within the limit by its raw size alone (`gzip_bound`), however close: a bound at any
    # level, so one rendering.
    levels.clear()
    monkeypatch.setattr(sarif, "MAX_GZIPPED_BYTES", gzip_bound(len(text.encode())))
    fmt = SarifFormat(SarifOptions(source_root=in_base))
    pieces = list(fmt.stream(result))
    assert START_OVER not in pieces and joined(pieces) == text.encode()
    assert levels == [1] and fmt.notes == []


def test_fs_and_image_runs_in_one_log_and_category_override(
    fs_report: Path, image_report: Path, in_base: Path
) -> None:
    result = gate(fs_report, image_report)
    doc, _, _ = render(result, source_root=in_base)
    assert [r["automationDetails"]["id"] for r in doc["runs"]] == [
        "scangate/fs/./",
        "scangate/image/example.test/app/",
    ]
    doc, _, _ = render(result, source_root=in_base, category="ci/scan")
    assert [r["automationDetails"]["id"] for r in doc["runs"]] == [
        "ci/scan/fs/./",
        "ci/scan/image/example.test/app/",
    ]
    doc, _, _ = render(gate(image_report), source_root=in_base, category="container")
    assert doc["runs"][0]["automationDetails"]["id"] == "container/"


def test_two_reports_of_one_target_are_one_run(fs_report: Path, in_base: Path) -> None:
    once, _, _ = render(gate(fs_report), source_root=in_base)
    twice, _, _ = render(gate(fs_report, fs_report), source_root=in_base)
    assert len(twice["runs"]) == 1
    assert twice["runs"][0]["results"] == once["runs"][0]["results"]


# --- limits ----------------------------------------------------------------------------------


def synthetic_report(path: Path, severities: list[str], *, name: str = ".") -> Path:
    """A Trivy JSON report: one pip vulnerability (with a fix) per entry of `severities`."""
    vulnerabilities = [
        {
            "VulnerabilityID": f"CVE-2024-{10000 + i % 250}",
            "PkgName": f"pkg{i}",
            "InstalledVersion": "1.0",
            "FixedVersion": "1.1",
            "Severity": severity,
            "Title": f"pkg{i}: a flaw",
        }
        for i, severity in enumerate(severities)
    ]
    report = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "ArtifactName": name,
        "ArtifactType": "filesystem",
        "Results": [
            {
                "Target": "requirements.txt",
                "Class": "lang-pkgs",
                "Type": "pip",
                "Vulnerabilities": vulnerabilities,
            }
        ],
    }
    path.write_text(json.dumps(report))
    return path


def test_30000_failing_findings_give_25000_results_most_severe_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy.yaml").write_text("version: 1\nfail-on:\n  vulnerability: LOW\n")
    # Least severe first, so that keeping report order would keep the wrong ones.
    severities = ["LOW"] * 6000 + ["MEDIUM"] * 8000 + ["HIGH"] * 8000 + ["CRITICAL"] * 8000
    report = synthetic_report(tmp_path / "big.json", severities)
    result = gate(report, policy="policy.yaml", base_dir=tmp_path)
    assert result.summary.failing == 30_000

    doc, _, fmt = render(result, source_root=tmp_path)
    (run,) = doc["runs"]
    assert len(run["results"]) == 25_000
    kept = [r["level"] for r in run["results"]]
    assert kept.count("error") == 16_000  # every CRITICAL and HIGH
    assert kept.count("warning") == 8_000  # every MEDIUM
    assert kept.count("note") == 1_000  # and the first LOWs
    assert run["properties"]["resultsDropped"] == 5_000
    assert run["properties"]["resultsDroppedBySeverity"] == {"LOW": 5_000}
    assert run["properties"]["resultsConsidered"] == 30_000
    (note,) = fmt.notes
    assert "5000 of 30000 results left out" in note and "5000 LOW" in note


def test_no_cap_writes_everything_and_says_github_will_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub's limit lowered to 100 so that the log stays small enough to validate quickly.
    monkeypatch.setattr(sarif_plan, "MAX_RESULTS_PER_RUN", 100)
    report = synthetic_report(tmp_path / "r.json", ["HIGH"] * 101)
    fmt = SarifFormat(SarifOptions(max_results=0, source_root=tmp_path))
    doc = json.loads(fmt.render(gate(report, base_dir=tmp_path)))
    _validator().validate(doc)
    assert len(doc["runs"][0]["results"]) == 101
    assert "resultsDropped" not in doc["runs"][0]["properties"]
    (note,) = fmt.notes
    assert "101 results" in note and "will reject" in note


def test_more_than_20_targets_keep_20_runs_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reports = [
        synthetic_report(tmp_path / f"r{i}.json", ["HIGH"], name=f"services/svc-{i:02d}")
        for i in range(22)
    ]
    doc, _, fmt = render(gate(*reports, base_dir=tmp_path), source_root=tmp_path)
    ids = [r["automationDetails"]["id"] for r in doc["runs"]]
    assert ids == [f"scangate/fs/services/svc-{i:02d}/" for i in range(20)]
    assert (
        doc["runs"][3]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "services/svc-03/requirements.txt"
    )
    (note,) = fmt.notes
    assert "22 targets" in note and "svc-20" in note and "svc-21" in note


def test_stream_is_render_in_pieces(fs_report: Path, in_base: Path) -> None:
    result = gate(fs_report)
    fmt = SarifFormat(SarifOptions(source_root=in_base))
    pieces = list(fmt.stream(result))
    assert START_OVER not in pieces  # within GitHub's limit: one rendering
    assert b"".join(p for p in pieces if isinstance(p, bytes)) == fmt.render(result).encode()


def test_the_vendored_schema_is_sarif_2_1_0_draft_07() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert "2.1.0" in schema["$id"] and "2.1.0" in schema["title"]
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft7Validator
    assert (SCHEMA_PATH.parent / "SARIF-SCHEMA-LICENSE.md").is_file()


# --- units: the Dockerfile's final FROM, image repositories -----------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("FROM alpine:3.19\nRUN true\n", 1),
        ("# comment\n\nfrom alpine AS base\nFROM base\nCMD x\n", 4),
        ("FROM a AS one\nFROM --platform=$BUILDPLATFORM b AS two\nRUN x\n", 2),
        # A continued FROM counts at its first line; comments inside a continuation are skipped.
        ("FROM a\nRUN echo \\\n# not an instruction\n  FROM-looking text\nFROM \\\n  b\n", 5),
        # The escape directive makes ` the continuation character.
        ("# escape=`\nFROM a\nRUN dir `\n  FROM x\nFROM b\n", 5),
        ("# escape=`\nFROM a\nRUN echo \\\nFROM b\n", 4),
        # A heredoc body is not instructions.
        ("FROM a\nRUN <<EOF\nFROM b\nEOF\nCOPY x y\n", 1),
        ("FROM a\nCOPY <<-'END' /etc/conf\n\tFROM b\n\tEND\nFROM c\n", 5),
        ("\ufeff# syntax=docker/dockerfile:1\nFROM a\n", 2),
        ("# only comments\n", None),
        ("", None),
        ("RUN true\n", None),
    ],
)
def test_final_from_line(text: str, line: int | None) -> None:
    assert final_from_line(text) == line


@pytest.mark.parametrize(
    ("name", "tags", "digests", "expected"),
    [
        ("alpine:3.19", (), (), "alpine"),
        ("alpine", (), (), "alpine"),
        ("docker.io/library/nginx:1.25@sha256:" + "a" * 64, (), (), "docker.io/library/nginx"),
        ("localhost:5000/team/app:1.2", (), (), "localhost:5000/team/app"),
        ("ghcr.io/org/app@sha256:" + "b" * 64, (), (), "ghcr.io/org/app"),
        ("/tmp/pytest-1/app.tar", ("example.test/app:1.0",), (), "example.test/app"),
        ("app.tar", (), ("registry:5000/x/app@sha256:" + "c" * 64,), "registry:5000/x/app"),
        ("/tmp/tmpab12/my-image.tar.gz", (), (), "my-image"),
        ("./build/oci", (), (), "oci"),
        # An OCI layout directory typed without "./": its tag names it.
        ("build/oci", ("example.test/app:1.0",), (), "example.test/app"),
        # A name the image's tags know stays as typed, whatever other tags the image has.
        ("alpine", ("docker.io/library/alpine:3.19", "mirror.test/alpine:3"), (), "alpine"),
        ("app", ("other.test/x:1", "app:latest"), (), "app"),
    ],
)
def test_image_repository(
    name: str, tags: tuple[str, ...], digests: tuple[str, ...], expected: str
) -> None:
    artifact = Artifact(name=name, type="container_image", repo_tags=tags, repo_digests=digests)
    assert image_repository(artifact) == expected


# --- untrusted text ------------------------------------------------------------------------------


def test_help_links_only_a_vetted_url_and_escapes_the_rest(
    fs_report: Path, in_base: Path, tmp_path: Path
) -> None:
    """A crafted PrimaryURL (`...)[click here](https://evil...`) and hostile text in every
    field, as a hostile advisory DB would give them: help.markdown shows the text, links
    only a safe http(s) URL, and help.text shows no raw control or format character."""
    edited = hostile.edit_report(fs_report, tmp_path / "fs.json")
    doc, _, _ = render(gate(edited), source_root=in_base)
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert len(rules) > 5
    for rule in rules:
        assert escape.safe_url(rule["helpUri"]) and "evil" not in rule["helpUri"]
        page = rendered.render(rule["help"]["markdown"])
        assert page.links == [rule["helpUri"]] and page.images == []
        assert set(page.tags) <= {"p", "strong", "a"}
        assert page.tags.count("strong") == 2  # the headline and "How to fix:"
        rendered.gfm_safe(rule["help"]["markdown"].split("](")[0])
        for marker in hostile.LOG_MARKERS:
            assert marker not in rule["help"]["text"]
        assert len(rule["help"]["markdown"]) <= 1024 and len(rule["help"]["text"]) <= 1024
    vuln = next(r for r in rules if r["id"].startswith("CVE-"))
    assert "::add-mask::leaked" in rendered.render(vuln["help"]["markdown"]).plain_text()


def test_report_text_never_passes_for_the_rules_or_results_placeholder(
    fs_report: Path, in_base: Path, tmp_path: Path
) -> None:
    """The log is assembled from JSON pieces; a report's string that looks like the marker
    where rules or results go must stay a string."""
    report = json.loads(fs_report.read_text())
    for marker in ("@@scangate:results:0@@", "@@scangate:rules:7@@"):
        report["Trivy"]["Version"] = marker
        path = tmp_path / "marker.json"
        path.write_text(json.dumps(report))
        doc, _, _ = render(gate(path), source_root=in_base)
        (trivy,) = doc["runs"][0]["tool"]["extensions"]
        assert trivy["version"] == marker
        assert doc["runs"][0]["properties"]["trivyVersion"] == marker
        assert doc["runs"][0]["results"]


# --- one scanned file, SBOM input, helm archives: locations at files that exist -------------


def _run_trivy(scanner: TrivyScanner, command: str, cwd: Path, output: Path, *args: str,
               scanners: str = "vuln", fmt: str = "json") -> Path:  # fmt: skip
    argv = scanner.argv(command, scanners=scanners, fmt=fmt, output=output)
    if command == "sbom":
        argv.remove("--skip-check-update")  # `trivy sbom` has no such flag
    servers.run([*argv, *args], timeout=120.0, cwd=cwd)
    return output


def _annotated_files(result: GateResult, source_root: Path) -> set[str]:
    lines = github_annotations(result, source_root=source_root)
    return {m.group(1) for m in map(re.compile(r"^::error file=([^,]*)").match, lines) if m}


@pytest.fixture(scope="module")
def single_file(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`trivy fs config/creds.txt` (one file holding a fake token), run in its base."""
    base = tmp_path_factory.mktemp("sarif-file")
    (base / "config").mkdir()
    (base / "config" / "creds.txt").write_text(f'GITHUB_TOKEN = "{make_fake_github_token()}"\n')
    _run_trivy(trivy_scan, "fs", base, base / "file.json", "config/creds.txt", scanners="secret")
    _run_trivy(trivy_scan, "fs", base, base / "dir.json", "config", scanners="secret")
    return base


def test_a_scanned_file_is_located_at_itself_as_the_same_scan_of_its_directory(
    single_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    report = json.loads((single_file / "file.json").read_text())
    # What Trivy writes for one file: the Target is the file's base name.
    assert report["ArtifactName"] == "config/creds.txt"
    assert [r["Target"] for r in report["Results"]] == ["creds.txt"]

    monkeypatch.chdir(single_file)
    by_dir, _, _ = render(gate(single_file / "dir.json"), source_root=single_file)
    by_file, _, _ = render(gate(single_file / "file.json"), source_root=single_file)
    assert uris_of(by_dir["runs"][0]) == {"config/creds.txt"}
    (result,) = by_file["runs"][0]["results"]
    assert uri_of(result) == "config/creds.txt"
    assert region(result) == region(by_dir["runs"][0]["results"][0]) == (1, 1)
    assert by_file["runs"][0]["automationDetails"]["id"] == "scangate/fs/config/creds.txt/"
    assert _annotated_files(gate(single_file / "file.json"), single_file) == {"config/creds.txt"}

    # The secret's value is read back from the file (its fingerprint digests the value).
    run = to_scan_run(parse_report((single_file / "file.json").read_bytes(), "file.json"))
    assert secret_values.fill_for_report(run, single_file) == 1

    # The same report where the file does not exist: told by its Target, the same location.
    monkeypatch.chdir(tmp_path)
    elsewhere, _, _ = render(gate(single_file / "file.json"), source_root=tmp_path)
    assert uris_of(elsewhere["runs"][0]) == {"config/creds.txt"}
    assert _annotated_files(gate(single_file / "file.json"), tmp_path) == {"config/creds.txt"}
    # ... while a directory report whose Targets are other names stays a directory.
    dir_elsewhere, _, _ = render(gate(single_file / "dir.json"), source_root=tmp_path)
    assert uris_of(dir_elsewhere["runs"][0]) == {"config/creds.txt"}


@pytest.fixture(scope="module")
def sbom_reports(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real CycloneDX SBOMs (`trivy fs` of a project, `trivy image` of a Debian image) in
    sboms/, and `trivy sbom` reports of each: sbom-fs.json, sbom-image.json."""
    base = tmp_path_factory.mktemp("sarif-sbom")
    trivydb.write_vulnerable_project(base / "project")
    archive = images.write_docker_archive(base / "app.tar")
    (base / "sboms").mkdir()
    _run_trivy(trivy_scan, "fs", base, base / "sboms" / "x.cdx.json", "project", fmt="cyclonedx")
    _run_trivy(trivy_scan, "image", base, base / "sboms" / "img.cdx.json", "--input",
               str(archive), fmt="cyclonedx")  # fmt: skip
    _run_trivy(trivy_scan, "sbom", base, base / "sbom-fs.json", "sboms/x.cdx.json")
    _run_trivy(trivy_scan, "sbom", base, base / "sbom-image.json", "sboms/img.cdx.json")
    return base


@pytest.mark.parametrize("here", [True, False], ids=["sbom-here", "sbom-elsewhere"])
def test_sbom_findings_are_located_at_the_sbom_file(
    sbom_reports: Path, here: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fs_report = json.loads((sbom_reports / "sbom-fs.json").read_text())
    image_report = json.loads((sbom_reports / "sbom-image.json").read_text())
    assert {fs_report["ArtifactType"], image_report["ArtifactType"]} == {"cyclonedx"}
    assert {r["Target"] for r in fs_report["Results"]} >= {"requirements.txt", "Cargo.lock"}
    assert image_report["Results"][0]["Target"].startswith("sboms/img.cdx.json (debian ")

    root = sbom_reports if here else tmp_path
    monkeypatch.chdir(root)
    result = gate(sbom_reports / "sbom-fs.json", sbom_reports / "sbom-image.json")
    doc, text, _ = render(result, source_root=root)
    by_category = {run["automationDetails"]["id"]: run for run in doc["runs"]}
    assert set(by_category) == {"scangate/fs/sboms/x.cdx.json/", "scangate/fs/sboms/img.cdx.json/"}
    assert uris_of(by_category["scangate/fs/sboms/x.cdx.json/"]) == {"sboms/x.cdx.json"}
    assert uris_of(by_category["scangate/fs/sboms/img.cdx.json/"]) == {"sboms/img.cdx.json"}
    assert all(r["results"] for r in doc["runs"])
    assert "%20%28debian" not in text
    assert _annotated_files(result, root) == {"sboms/x.cdx.json", "sboms/img.cdx.json"}


def _helm_chart_archive(path: Path) -> Path:
    """A packaged chart (`helm package` layout) whose pod template runs privileged."""
    files = {
        "testchart/Chart.yaml": "apiVersion: v2\nname: testchart\nversion: 0.1.0\n",
        "testchart/templates/pod.yaml": (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n"
            '    - name: app\n      image: "nginx:1.25"\n'
            "      securityContext:\n        privileged: true\n"
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_helm_archive_keeps_the_colon_of_its_inner_path(
    trivy_scan: TrivyScanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _helm_chart_archive(tmp_path / "repo" / "charts" / "testchart.tgz")
    _run_trivy(trivy_scan, "fs", tmp_path, tmp_path / "helm.json", "repo", scanners="misconfig")
    targets = {r["Target"] for r in json.loads((tmp_path / "helm.json").read_text())["Results"]}
    assert targets == {"charts/testchart.tgz:templates/pod.yaml"}
    monkeypatch.chdir(tmp_path)
    doc, _, _ = render(gate(tmp_path / "helm.json"), source_root=tmp_path / "repo")
    assert uris_of(doc["runs"][0]) == {"charts/testchart.tgz:templates/pod.yaml"}
    assert len(doc["runs"][0]["results"]) > 1


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("charts/testchart.tgz:templates/pod.yaml", "charts/testchart.tgz:templates/pod.yaml"),
        # A ":" in the first segment would read as a scheme (RFC 3986 section 4.2).
        ("testchart.tgz:templates/pod.yaml", "testchart.tgz%3Atemplates/pod.yaml"),
        ("a:b:c", "a%3Ab%3Ac"),
        ("dir/it's (1) a+b=c;d,e!$&*@x.txt", "dir/it's%20(1)%20a+b=c;d,e!$&*@x.txt"),
        ("100%/a#b?c[d]", "100%25/a%23b%3Fc%5Bd%5D"),
        ("café/ü.txt", "caf%C3%A9/%C3%BC.txt"),
    ],
)
def test_uris_encode_only_what_rfc_3986_requires(path: str, uri: str) -> None:
    assert sarif_locations.uri_of(path) == uri


# --- the writer's fast paths: the same text as the encoder, the same fitting ------------------

RULE_KEYS = [
    "id",
    "defaultConfiguration",
    "fullDescription",
    "help",
    "helpUri",
    "properties",
    "shortDescription",
]
RESULT_KEYS = [
    "message",
    "level",
    "locations",
    "partialFingerprints",
    "properties",
    "ruleId",
    "ruleIndex",
]


def _item_lines(text: str) -> list[str]:
    """The rules and results of a log: one JSON object a line inside the indented skeleton."""
    return [s.removesuffix(",") for s in map(str.strip, text.splitlines()) if s.startswith('{"')]


def test_rule_and_result_lines_are_the_json_encoders_own_text(
    fs_report: Path, in_base: Path, tmp_path: Path
) -> None:
    """Rules and results are written from templates, each value through the encoder's
    string escaper: every line is what `json.dumps` writes for the same object, in
    sarif-om's property order, for hostile text (controls, bidi, 5,000-character fields,
    characters beyond the BMP) and for suppressed results."""
    edited = hostile.edit_report(fs_report, tmp_path / "fs.json", size=5000)
    report = json.loads(edited.read_text())
    for result in report["Results"]:
        for vuln in result.get("Vulnerabilities") or ():
            vuln["Title"] += " caf\u00e9 \U0001f600 \u2028 \ufeff"
    edited.write_text(json.dumps(report))
    logs = [
        render(gate(edited), source_root=in_base)[1],
        render(gate(fs_report, policy=allow_policy(tmp_path)), source_root=in_base,
               include_allowed=True)[1],
    ]  # fmt: skip
    seen: set[str] = set()
    for text in logs:
        lines = _item_lines(text)
        assert len(lines) > 10
        for line in lines:
            item = json.loads(line)
            assert json.dumps(item, separators=(",", ":")) == line
            if "ruleId" in item:
                suppressed = ["suppressions"] if "suppressions" in item else []
                assert list(item) == RESULT_KEYS + suppressed
                region = item["locations"][0]["physicalLocation"]["region"]
                assert list(region) in (["startLine"], ["endLine", "startLine"])
                seen.update(suppressed, [f"region:{len(region)}"])
            else:
                assert list(item) == RULE_KEYS
                seen.add("rule")
    assert seen >= {"rule", "suppressions", "region:1", "region:2"}


def _fitted_by_the_loop(text: str, room: int, escape_: Any) -> str:
    # `rules._fitted` as first written: its shortcuts must give the same text.
    if room < 40:
        return ""
    limit = len(text)
    while True:
        escaped: str = escape_(escape.clip(text, limit))
        if len(escaped) <= room:
            return escaped
        if limit <= 40:
            return ""
        limit = max(40, min(limit - 1, limit * room // len(escaped)))


def _the_longest_start_that_fits(text: str, room: int) -> str:
    # A clean text in Markdown: the longest cut (`clip`, at least 40) that fits, tried in turn.
    if room < 40:
        return ""
    if len(escape.markdown(text)) <= room:
        return escape.markdown(text)
    for limit in range(len(text) - 1, 39, -1):
        escaped = escape.markdown(escape.clip(text, limit))
        if len(escaped) <= room:
            return escaped
    return ""


@pytest.mark.parametrize(
    "text",
    [
        "A flaw was found in the handling of crafted input. " * 20,
        "x" * 39,
        "a.b@c " * 8,
        "." * 45,
        "@" * 44,
        "y" * 41,
        hostile.TEXT * 3,
        "back\\slash " * 100,
        "##[ " * 200,
        "caf\u00e9 \U0001f600 " * 150,
        "nbsp\u00a0and\u2028line " * 80,
        "@user a@b.example " * 60,
        "\x1b[1m*bold*\x7f " * 80,
        "a\\b [x](y) <i> `c` | " * 60,
    ],
)
def test_fitting_help_text_and_folding_whitespace_keep_their_meaning(text: str) -> None:
    for room in (0, 39, 40, 41, 42, 43, 44, 45, 46, 47, 100, 650, 5000):
        for escape_ in (escape.plain, escape.markdown):
            fitted = sarif_rules._fitted(text, room, escape_)
            if escape_ is escape.markdown and escape.clean_ascii(text):
                assert fitted == _the_longest_start_that_fits(text, room)
            else:
                assert fitted == _fitted_by_the_loop(text, room, escape_)
    for variant in (text, f" {text} ", text.replace(" ", "  "), text.replace(" ", "\t\n"), ""):
        assert sarif_rules.one_line(variant) == " ".join(variant.split())


def test_the_help_json_is_the_json_string_of_the_help(tmp_path: Path) -> None:
    """The rule's help is encoded from its parts (the description's string reused): the
    same JSON as encoding the help text whole, for every kind, length and hostile text."""
    from scangate.findings import Finding, Kind
    from scangate.formats.sarif.encoding import json_string

    texts = ["", "short", "A flaw. " * 40, "A flaw. " * 200, "line\nbreak  twice ", hostile.TEXT]
    texts += ["##[x] \\ \u202e\u00e9 \U0001f600", "y" * 5000, "@a " * 400]
    urls = ["https://avd.aquasec.com/nvd/cve-2024-1", "https://x.example/" + "p" * 900, ""]
    for kind in Kind:
        for text in texts:
            for url in urls:
                for ident in ("CVE-2024-1", "I" * 600):
                    f = Finding(kind, ident, Severity.HIGH, "t", title=text[:300], description=text)
                    title = sarif_rules.clip_text(sarif_rules.one_line(f.title or f.id))
                    why = sarif_rules.clip_text(text.strip())
                    url = url or sarif_rules.help_uri(f)
                    expected = tuple(map(json_string, sarif_rules.rule_help(f, title, why, url)))
                    got = sarif_rules.rule_help_json(f, title, why, url, json_string(why))
                    assert got == expected, (kind, ascii(text[:80]), url[:40])
    # Around the 1024 characters where the help text is cut: one URL length at a time.
    f = Finding(Kind.VULNERABILITY, "CVE-2024-1", Severity.LOW, "t", title="t", description="d")
    for size in range(700, 1000):
        url = "https://x.example/" + "p" * size
        for why in ("", "d" * 50):
            expected = tuple(map(json_string, sarif_rules.rule_help(f, "t", why, url)))
            got = sarif_rules.rule_help_json(f, "t", why, url, json_string(why))
            assert got == expected, size


def test_gzip_size_is_the_uploads_gzip_level_6_however_the_log_is_cut() -> None:
    rng = random.Random(7)
    # About 12 MB, half of it incompressible: more chunks than the worker's queue holds.
    pieces = [rng.randbytes(rng.randrange(1, 4000)).hex() + "{}" * 1500 for _ in range(2500)]
    size = GzipSize()
    for piece in pieces:
        size.feed(piece.encode())
    assert size.total() == gzipped_size("".join(pieces))
    assert GzipSize().total() == gzipped_size("")

    # Abandoned half-way (a log iterated only in part): the worker thread stops.
    abandoned = GzipSize()
    for piece in pieces[:800]:
        abandoned.feed(piece.encode())
    assert any(t.name == "sarif-gzip" for t in threading.enumerate())
    abandoned.close()
    abandoned.close()
    assert not any(t.name == "sarif-gzip" for t in threading.enumerate())


def test_a_log_whose_size_bounds_its_gzip_size_within_the_limit_is_not_compressed() -> None:
    rng = random.Random(11)
    # The bound holds for what compresses worst: random bytes (non-ASCII text, as UTF-8), and
    # for nothing at all; it is within 5% of the raw size plus a constant.
    for text in ("", "{}", rng.randbytes(300_000).decode("latin-1"), "x" * 70_000):
        size = len(text.encode())
        assert gzipped_size(text) <= gzip_bound(size) <= size * 1.05 + 25
    # Under the limit: the bound, and no compression (no worker thread, however small the
    # chunk); the log fed in pieces counts every byte.
    pieces = [rng.randbytes(rng.randrange(1, 3000)).decode("latin-1") for _ in range(400)]
    raw = sum(len(p.encode()) for p in pieces)
    within = GzipSize(limit=gzip_bound(raw))
    for piece in pieces:
        within.feed(piece.encode())
    assert not any(t.name == "sarif-gzip" for t in threading.enumerate())
    assert gzipped_size("".join(pieces)) <= within.total() == gzip_bound(raw)
    # One byte less of limit: the bound no longer proves the log fits, so the size is exact,
    # the pieces fed before the bound passed the limit included.
    over = GzipSize(limit=gzip_bound(raw) - 1)
    for piece in pieces:
        over.feed(piece.encode())
    assert over.total() == gzipped_size("".join(pieces))


def test_a_log_iterated_in_part_stops_its_compression(
    fs_report: Path, in_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GzipSize, "_CHUNK", 1)  # a worker from the first piece on
    # No log's size bounds its gzipped size within a limit of 0: it is compressed.
    monkeypatch.setattr(sarif, "MAX_GZIPPED_BYTES", 0)
    pieces = SarifFormat(SarifOptions(source_root=in_base)).stream(gate(fs_report))
    next(pieces)
    next(pieces)
    assert any(t.name == "sarif-gzip" for t in threading.enumerate())
    pieces.close()  # type: ignore[attr-defined]
    assert not any(t.name == "sarif-gzip" for t in threading.enumerate())


def test_the_cli_writes_a_large_log_byte_for_byte_as_rendered(tmp_path: Path) -> None:
    """A log of several MB is written to its file in parts (never held twice as bytes)
    and is the rendered text exactly."""
    severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW"] * 3500
    report = synthetic_report(tmp_path / "big.json", severities)
    out = tmp_path / "out.sarif"
    argv = [sys.executable, "-m", "scangate", "check", str(report), "--sarif", str(out), "-q"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    text = SarifFormat(SarifOptions(source_root=tmp_path)).render(gate(report, base_dir=tmp_path))
    assert len(text) > 5 * 2**20
    assert out.read_bytes() == text.encode()


# Runs scangate with writes past 1 MiB failing with EFBIG, the OSError a full disk gives
# (set in the child that execs scangate: no tiny filesystem without root).
_FILE_SIZE_LIMITED = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
os.execv(sys.executable, [sys.executable, "-m", "scangate", *sys.argv[1:]])
"""


def test_a_log_that_cannot_be_written_half_way_leaves_the_old_file(tmp_path: Path) -> None:
    """Streamed into its temp file, a log whose write fails after its first MB: exit 3, one
    line, the file as it was and no temp file; the rendering stops (no thread left)."""
    report = synthetic_report(tmp_path / "big.json", ["CRITICAL", "HIGH", "LOW"] * 4000)
    out = tmp_path / "out.sarif"
    out.write_text("the log of an earlier run\n", encoding="utf-8")
    argv = [sys.executable, "-c", _FILE_SIZE_LIMITED, "check", str(report), "--sarif", str(out)]
    done = subprocess.run([*argv, "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        f"scangate: error: cannot write {out}: File too large; no output of this run was kept"
    ]
    assert out.read_text(encoding="utf-8") == "the log of an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json", "out.sarif"]


def test_an_output_written_in_parts_is_its_payload(tmp_path: Path) -> None:
    text = ("caf\u00e9 \U0001f600 \ud800 " + "x" * 1000) * 50
    output = Output("--sarif", tmp_path / "out.sarif", text)
    for size in (1, 7, 1000, 1 << 22):
        assert joined(output.chunks(size)) == output.payload()
    assert joined(Output("--json", tmp_path / "b", b"bytes").chunks()) == b"bytes"


def test_a_streamed_output_is_written_from_its_last_start_over(tmp_path: Path) -> None:
    def pieces() -> Iterator[bytes | StartOver]:
        yield from (b"x" * 5000, "caf\u00e9 ".encode(), b"first")
        yield START_OVER
        yield from ("\U0001f600 ".encode(), b"y" * 3000, b" second\n")

    want = "\U0001f600 " + "y" * 3000 + " second\n"
    for size in (1, 7, 4096, 1 << 22):
        chunks = list(Output("--sarif", tmp_path / "o", pieces()).chunks(size))
        last = len(chunks) - chunks[::-1].index(START_OVER)
        assert b"".join(c for c in chunks[last:] if isinstance(c, bytes)) == want.encode()
    assert Output("--sarif", tmp_path / "o", pieces()).payload() == want.encode()
    # A file is truncated at the start-over; an earlier, longer log leaves no tail behind.
    out = tmp_path / "out.sarif"
    out.write_text("z" * 20_000, encoding="utf-8")
    write_outputs([Output("--sarif", out, pieces())])
    assert out.read_text(encoding="utf-8") == want
    # A FIFO cannot be rewound: it gets the last rendering only.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_outputs([Output("--sarif", fifo, pieces())])
    reader.join(timeout=30)
    assert got == [want.encode()]


def test_the_cli_says_what_githubs_result_limit_left_out(tmp_path: Path) -> None:
    """The notes of the SARIF log (results dropped for GitHub's limits) reach stderr."""
    report = synthetic_report(tmp_path / "r.json", ["CRITICAL"] * 10 + ["LOW"] * 20)
    (tmp_path / "policy.yaml").write_text("version: 1\nfail-on:\n  vulnerability: LOW\n")
    out = tmp_path / "out.sarif"
    argv = [sys.executable, "-m", "scangate", "check", str(report), "-p", "policy.yaml"]
    argv += ["--sarif", str(out), "--sarif-max-results", "12", "-q"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "18 of 30 results left out" in done.stderr and "18 LOW" in done.stderr
    assert len(json.loads(out.read_text())["runs"][0]["results"]) == 12
