"""scangate.trivy_report: Trivy's JSON (0.50 to 0.76 shapes) to `Finding`s.

Reports from the real Trivy 0.76 on real files (the session fixtures in conftest) check the
current shape; hand-written reports in tests/data/reports check older shapes; malformed input
is written inline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scangate.errors import ExitCode, ReportError
from scangate.findings import Finding, Kind, Location, Severity, canonical_id, match_key
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report, parse_report
from tests.conftest import K8S_DEPLOYMENT, TrivyScanner, make_fake_github_token
from tests.support import images, trivydb

DATA = Path(__file__).parent / "data" / "reports"


def findings_of(path: Path) -> list[Finding]:
    return to_scan_run(load_report(path)).findings


def one(findings: list[Finding], **attrs: object) -> Finding:
    """The single finding with these attribute values."""
    found = [f for f in findings if all(getattr(f, k) == v for k, v in attrs.items())]
    assert len(found) == 1, (attrs, found)
    return found[0]


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of `text` containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


# --- real Trivy: vulnerabilities --------------------------------------------------------------


def test_real_vulnerability_report_gives_exactly_the_expected_findings(
    vuln_project_report: Path,
) -> None:
    run = to_scan_run(load_report(vuln_project_report))
    got = {
        (f.id, f.package, f.installed_version, f.fixed_version or "", f.severity.value, f.status)
        for f in run.findings
    }
    expected = {
        (e.vulnerability_id, e.pkg_name, e.installed_version, e.fixed_version, e.severity, e.status)
        for found in trivydb.EXPECTED_FS_FINDINGS.values()
        for e in found
    }
    assert got == expected
    assert {f.kind for f in run.findings} == {Kind.VULNERABILITY}
    assert run.artifact.name == "project"
    assert run.artifact.type == "filesystem"
    assert run.artifact.trivy_version == "0.76.0"


def test_vulnerability_fields_from_a_real_report(vuln_project_report: Path) -> None:
    findings = findings_of(vuln_project_report)
    requests = one(findings, id=trivydb.REQUESTS_CVE)
    assert requests.target == "requirements.txt"
    assert requests.purl == "pkg:pypi/requests@2.19.0"
    assert requests.primary_url == "https://avd.aquasec.com/nvd/cve-2018-18074"
    assert requests.title.startswith("python-requests:")
    assert not requests.unfixed

    smallvec = one(findings, id=trivydb.SMALLVEC_CVE)
    assert smallvec.target == "Cargo.lock"
    assert smallvec.fixed_version == "0.6.14, 1.6.1"
    assert smallvec.cvss_score == 9.8  # the NVD score: NVD set the severity
    # ghsa set lodash's severity, and only NVD has a CVSS entry: NVD's score is the fallback.
    # ghsa set the severity and gave no CVSS: no score (NVD's 9.1 is not the gate's rating)
    assert one(findings, id=trivydb.LODASH_CVE).cvss_score is None


def test_unfixed_vulnerability_has_no_fixed_version(vuln_project_report: Path) -> None:
    ecdsa = one(findings_of(vuln_project_report), id=trivydb.ECDSA_CVE)
    assert ecdsa.fixed_version is None
    assert ecdsa.status == "affected"
    assert ecdsa.unfixed


def test_vulnerability_location_is_the_lockfile_line_from_list_all_pkgs(
    vuln_project_report: Path,
) -> None:
    findings = findings_of(vuln_project_report)
    requests = one(findings, id=trivydb.REQUESTS_CVE)
    line = line_of(trivydb.REQUIREMENTS_TXT, "requests==")
    assert requests.location == Location("requirements.txt", line, line)

    lodash = one(findings, id=trivydb.LODASH_CVE).location
    assert lodash is not None
    assert (lodash.path, lodash.start_line) == (
        "package-lock.json",
        line_of(trivydb.PACKAGE_LOCK_JSON, '"node_modules/lodash"'),
    )
    smallvec = one(findings, id=trivydb.SMALLVEC_CVE).location
    assert smallvec is not None
    first = line_of(trivydb.CARGO_LOCK, 'name = "smallvec"') - 1  # its [[package]] line
    assert (smallvec.start_line, smallvec.end_line) == (first, first + 4)


def test_without_packages_the_location_is_the_file_alone(vuln_project_report: Path) -> None:
    # The line comes from Packages[].Locations; a report without Packages (Trivy before
    # --list-all-pkgs became the JSON default, or with it off) still names the file.
    report = json.loads(vuln_project_report.read_text())
    for result in report["Results"]:
        assert result["Packages"]
        del result["Packages"]
    findings = to_scan_run(parse_report(json.dumps(report).encode(), "r.json")).findings
    assert one(findings, id=trivydb.REQUESTS_CVE).location == Location("requirements.txt")
    assert {f.location.start_line for f in findings if f.location} == {None}


def test_image_os_packages_have_no_file_location(trivy_scan: TrivyScanner, tmp_path: Path) -> None:
    archive = images.write_docker_archive(tmp_path / "image.tar")
    run = to_scan_run(load_report(trivy_scan.image(archive, tmp_path / "r.json")))
    assert {(f.id, f.package) for f in run.findings} == {
        (trivydb.OPENSSL_CVE, "openssl"),
        (trivydb.OPENSSL_CVE, "libssl3"),
        (trivydb.ZLIB_CVE, "zlib1g"),
    }
    # Trivy names the OS result after the input: here the archive path.
    assert {f.target for f in run.findings} == {f"{archive} (debian {images.DEBIAN_VERSION})"}
    assert all(f.location is None for f in run.findings)
    libssl = one(run.findings, package="libssl3")
    assert libssl.purl is not None
    assert libssl.purl.startswith("pkg:deb/debian/libssl3@3.0.11-1~deb12u1")
    assert run.artifact.image_id == images.image_id()
    assert run.artifact.os == f"debian {images.DEBIAN_VERSION}"
    assert run.artifact.eosl is False
    assert run.artifact.repo_tags == (images.DEFAULT_REPO_TAG,)


def test_findings_trivy_suppressed_itself_are_kept_and_marked(
    trivy_scan: TrivyScanner, vuln_project: Path, tmp_path: Path
) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        f"vulnerabilities:\n  - id: {trivydb.REQUESTS_CVE}\n    statement: not reachable\n"
    )
    report = trivy_scan.fs(
        vuln_project,
        tmp_path / "r.json",
        extra=["--ignorefile", str(ignore), "--show-suppressed"],
    )
    findings = findings_of(report)
    requests = one(findings, id=trivydb.REQUESTS_CVE)
    assert requests.suppressed_by_trivy is not None
    assert "not reachable" in requests.suppressed_by_trivy
    assert str(ignore) in requests.suppressed_by_trivy
    assert requests.package == "requests"
    assert requests.fixed_version == "2.20.0"
    assert one(findings, id=trivydb.PYYAML_CVE).suppressed_by_trivy is None


# --- real Trivy: misconfigurations and secrets ------------------------------------------------


def test_misconfigurations_from_a_real_report(config_repo_report: Path) -> None:
    findings = findings_of(config_repo_report)
    ds002 = one(findings, id="DS-0002")
    assert ds002.kind is Kind.MISCONFIGURATION
    assert ds002.severity is Severity.HIGH
    assert ds002.target == "Dockerfile"
    assert ds002.title == "Image user should not be 'root'"
    assert ds002.primary_url == "https://avd.aquasec.com/misconfig/ds-0002"
    assert "USER" in ds002.message
    assert ds002.location == Location("Dockerfile")  # the rule is about a missing line

    privileged = one(findings, id="KSV-0017")
    assert privileged.target == "deploy/k8s/deployment.yaml"
    assert privileged.location is not None
    assert privileged.location.start_line is not None
    lines = K8S_DEPLOYMENT.splitlines()
    assert lines[privileged.location.start_line - 1].strip() == "- name: web"
    assert "privileged: true" in lines[(privileged.location.end_line or 0) - 1]


def test_secrets_from_a_real_report_stay_masked(config_repo_report: Path) -> None:
    token = make_fake_github_token()
    raw = config_repo_report.read_text()
    assert token not in raw  # Trivy masked it; scangate only ever sees the masked form
    secrets = [f for f in findings_of(config_repo_report) if f.kind is Kind.SECRET]
    assert {(f.target, f.location and f.location.start_line) for f in secrets} == {
        ("app/settings.py", 3),
        ("app/settings.py", 5),
        ("scripts/release.py", 3),
    }
    for secret in secrets:
        assert secret.id == "github-pat"
        assert secret.severity is Severity.CRITICAL
        assert secret.title == "GitHub Personal Access Token"
        assert secret.message == 'GITHUB_TOKEN = "' + "*" * len(token) + '"'
        assert token not in repr(secret)


@pytest.fixture(scope="module")
def rescanned_after_edits(
    trivy_scan: TrivyScanner, config_repo_report: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The config repo's report, and a rescan of a copy with lines inserted above every finding.

    The rescan also passes --include-non-failures, so its report holds PASS checks too.
    """
    after = tmp_path_factory.mktemp("moved") / "repo"
    shutil.copytree(config_repo_report.parent / "repo", after)
    for name, prefix in {
        "Dockerfile": "# syntax=docker/dockerfile:1\n# build stage\n",
        "deploy/k8s/deployment.yaml": "# managed by hand\n---\n",
        "app/settings.py": "import os\n\nHOME = os.environ['HOME']\n",
        "scripts/release.py": "#!/usr/bin/env python3\n",
    }.items():
        path = after / name
        path.write_text(prefix + path.read_text())
    rescan = trivy_scan.fs(
        after,
        after.parent / "after.json",
        scanners="misconfig,secret",
        extra=["--include-non-failures"],
    )
    return config_repo_report, rescan


def _key(f: Finding) -> tuple[str, str, str, str]:
    return (f.kind.value, f.id, f.target, f.message)


def test_fingerprints_survive_lines_inserted_above(
    rescanned_after_edits: tuple[Path, Path],
) -> None:
    before, after = (findings_of(p) for p in rescanned_after_edits)
    assert sorted(map(_key, before)) == sorted(map(_key, after))
    moved = [
        (b, a)
        for b, a in zip(sorted(before, key=_key), sorted(after, key=_key), strict=True)
        if b.location and a.location and b.location.start_line != a.location.start_line
    ]
    # The edits really moved the secrets and the k8s findings...
    assert {b.kind for b, _ in moved} == {Kind.SECRET, Kind.MISCONFIGURATION}
    # ...and no fingerprint changed.
    assert {f.fingerprint for f in before} == {f.fingerprint for f in after}
    for b, a in moved:
        assert b.fingerprint == a.fingerprint


def test_passed_checks_are_not_findings(rescanned_after_edits: tuple[Path, Path]) -> None:
    before, after = rescanned_after_edits
    statuses = {
        m["Status"]
        for r in json.loads(after.read_text())["Results"]
        for m in r.get("Misconfigurations") or []
    }
    assert statuses == {"PASS", "FAIL"}
    assert len(findings_of(after)) == len(findings_of(before))
    assert all(f.status != "PASS" for f in findings_of(after))


def test_identical_secrets_get_distinct_fingerprints(config_repo_report: Path) -> None:
    findings = findings_of(config_repo_report)
    secrets = [f for f in findings if f.kind is Kind.SECRET]
    # Lines 3 and 5 of settings.py are identical, and line 3 of release.py is the same line
    # in another file: three findings, three fingerprints.
    assert len({f.message for f in secrets}) == 1
    assert len({f.fingerprint for f in secrets}) == 3
    assert len({f.fingerprint for f in findings}) == len(findings)
    assert all(len(f.fingerprint) == 32 for f in findings)


# --- older report shapes (hand-written) ------------------------------------------------------


def test_legacy_image_report_with_pkgref_and_eosl() -> None:
    run = to_scan_run(load_report(DATA / "legacy-image-pkgref.json"))
    assert run.artifact.eosl is True
    assert run.artifact.os == "debian 10.13"
    assert run.artifact.repo_digests == ()
    assert run.artifact.trivy_version is None
    openssl = one(run.findings, id="CVE-2023-0464")
    assert openssl.purl == (
        "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb10u3?arch=amd64&distro=debian-10.13"
    )
    assert openssl.location is None  # an OS package: the target is the image, not a file
    assert openssl.cvss_score == 7.5  # severity source nvd
    glibc = one(run.findings, id="CVE-2019-1010022")
    assert (glibc.status, glibc.fixed_version, glibc.severity) == (
        "will_not_fix",
        None,
        Severity.LOW,
    )
    assert glibc.cvss_score is None
    zlib = one(run.findings, id="CVE-2022-37434")
    assert (zlib.status, zlib.fixed_version, zlib.unfixed) == ("end_of_life", None, True)
    requests = one(run.findings, id="CVE-2018-18074")
    assert requests.purl == "pkg:pypi/requests@2.19.0"
    path = "usr/local/lib/python3.9/site-packages/requests-2.19.0.dist-info/METADATA"
    assert requests.location == Location(path)


def test_legacy_config_report_with_old_check_ids() -> None:
    run = to_scan_run(load_report(DATA / "legacy-fs-config.json"))
    by_id = {f.id: f for f in run.findings}
    # DS002 (with AVDID AVD-DS-0002), a check with only an AVDID, a PASS that is no finding,
    # a FAIL with a line, a suppressed one, a secret and a license.
    assert set(by_id) == {
        "DS-0002",
        "DS-0026",
        "DS-0017",
        "DS-0005",
        "aws-access-key-id",
        "LGPL-2.1",
    }
    assert by_id["DS-0002"].location == Location("build/Dockerfile")
    assert by_id["DS-0026"].location == Location("build/Dockerfile")
    assert by_id["DS-0017"].location == Location("build/Dockerfile", 2, 2)
    suppressed = by_id["DS-0005"]
    assert suppressed.suppressed_by_trivy == "base image runs a health endpoint (.trivyignore.yaml)"
    assert suppressed.location == Location("build/Dockerfile", 3, 3)
    secret = by_id["aws-access-key-id"]
    assert secret.message == 'AWS_ACCESS_KEY_ID = "********************"'
    assert secret.location == Location("config/settings.py", 4, 4)
    lic = by_id["LGPL-2.1"]
    assert (lic.kind, lic.severity, lic.package) == (Kind.LICENSE, Severity.HIGH, "chardet")
    assert lic.primary_url is None


def test_current_report_with_locations_and_cvss() -> None:
    findings = findings_of(DATA / "current-fs-vuln.json")
    requests = one(findings, id="CVE-2018-18074")
    assert requests.location == Location("services/api/requirements.txt", 7, 7)
    assert requests.cvss_score == 7.4  # ghsa set the severity: ghsa's score, not NVD's 7.5
    assert requests.purl == "pkg:pypi/requests@2.19.0"
    flask = one(findings, id="CVE-2020-25032")
    assert flask.location == Location("services/api/requirements.txt", 3, 3)
    assert flask.cvss_score is None  # ghsa set the severity but gave no CVSS; NVD's is not used


def test_unknown_fields_and_nulls_are_tolerated() -> None:
    report = {
        "SchemaVersion": 2,
        "SomethingNew": {"nested": [1, 2]},
        "Metadata": None,
        "Trivy": None,
        "Results": [
            {
                "Target": "a.txt",
                "NewResultField": True,
                "Packages": None,
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2000-0001",
                        "PkgIdentifier": None,
                        "VendorSeverity": {"nvd": 0, "ghsa": 4},
                        "CVSS": {},
                        "Status": "under_investigation",
                        "Severity": "",  # empty is UNKNOWN, as in Trivy
                        "FutureField": 1,
                    }
                ],
                "Misconfigurations": [{"ID": "KSV001", "CauseMetadata": {"Code": None}}],
                "Secrets": [{"RuleID": "generic", "Match": None}],
                "ExperimentalModifiedFindings": [
                    {"Type": "sbom", "Finding": {}},
                ],
            },
            {"Target": "b.txt", "Vulnerabilities": None, "Misconfigurations": None},
        ],
    }
    findings = to_scan_run(parse_report(json.dumps(report).encode(), "r.json")).findings
    assert [(f.kind, f.id, f.severity, f.status) for f in findings] == [
        (Kind.VULNERABILITY, "CVE-2000-0001", Severity.UNKNOWN, "under_investigation"),
        (Kind.MISCONFIGURATION, "KSV-0001", Severity.UNKNOWN, None),
        (Kind.SECRET, "generic", Severity.UNKNOWN, None),
    ]


@pytest.mark.parametrize("spelling", ["DS002", "AVD-DS-0002", "DS-0002", "ds002", "DS-002"])
def test_misconfig_id_spellings_are_one_check(spelling: str) -> None:
    assert canonical_id(Kind.MISCONFIGURATION, spelling) == "DS-0002"
    assert canonical_id(None, spelling) == "DS-0002"


@pytest.mark.parametrize("vuln_id", ["CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q", "RUSTSEC-2021-0001"])
def test_vulnerability_ids_are_not_rewritten(vuln_id: str) -> None:
    # As the report spells them, case included (issue 10); compared case-blind.
    assert canonical_id(Kind.VULNERABILITY, f" {vuln_id}\n") == vuln_id
    assert canonical_id(Kind.VULNERABILITY, vuln_id.lower()) == vuln_id.lower()
    assert canonical_id(None, vuln_id) == vuln_id
    assert match_key(vuln_id.lower()) == match_key(vuln_id.upper()) == vuln_id.upper()


# --- malformed input -------------------------------------------------------------------------

VALID = json.dumps({"SchemaVersion": 2, "ArtifactName": "x", "Results": []}).encode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", "the file is empty", id="empty"),
        pytest.param(b"  \n", "the file is empty", id="blank"),
        pytest.param(VALID[:-7], "truncated or not JSON", id="truncated"),
        pytest.param(b"Target: requirements.txt (pip)\n=====", "not JSON", id="table-output"),
        pytest.param(b"\x89PNG\r\n\x1a\n", "not JSON", id="binary"),
        pytest.param(b"[]", "top level is not an object", id="array"),
        pytest.param(b'[{"SchemaVersion": 2}]', "top level is not an object", id="array-of-report"),
        pytest.param(b"null", "top level is not an object", id="null"),
        pytest.param(b'"report"', "top level is not an object", id="string"),
        pytest.param(b'{"SchemaVersion": 1, "Results": []}', "SchemaVersion is 1", id="schema-1"),
        pytest.param(b'{"SchemaVersion": 3}', "SchemaVersion is 3", id="schema-3"),
        pytest.param(
            b'{"SchemaVersion": 1, "Results": [{"Target": 5}]}',
            "SchemaVersion is 1",
            id="schema-1-odd",
        ),
        pytest.param(b'{"SchemaVersion": 2.5}', "SchemaVersion", id="schema-float"),
        pytest.param(
            b'{"$schema": "https://json.schemastore.org/sarif-2.1.0.json", '
            b'"version": "2.1.0", "runs": []}',
            "a SARIF log, not a Trivy scan report",
            id="sarif",
        ),
        pytest.param(
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}',
            "a CycloneDX SBOM, not a Trivy scan report",
            id="cyclonedx",
        ),
        pytest.param(b'{"Target": "x"}', "SchemaVersion is missing", id="no-schema"),
        pytest.param(
            b'{"SchemaVersion": 2, "ClusterName": "kind"}',
            "a Trivy Kubernetes report (ClusterName)",
            id="k8s-clean-cluster",
        ),
        pytest.param(
            b'{"SchemaVersion": 2, "Results": {"Target": "x"}}',
            "field Results",
            id="results-object",
        ),
        pytest.param(
            b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": []}]}',
            "field Results[0].Target",
            id="no-target",
        ),
        pytest.param(
            b'{"SchemaVersion": 2, "Results": [{"Target": "a", '
            b'"Vulnerabilities": [{"VendorSeverity": {"nvd": "HIGH"}}]}]}',
            "Results[0].Vulnerabilities[0]",
            id="bad-nested",
        ),
    ],
)
def test_unreadable_reports_are_one_line_report_errors(data: bytes, expected: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_report(data, "scans/trivy.json")
    message = caught.value.message
    assert message.startswith("scans/trivy.json: ")
    assert expected in message
    assert "\n" not in message
    assert caught.value.exit_code is ExitCode.SCANNER


@pytest.mark.parametrize(
    ("fmt", "named"), [("sarif", "a SARIF log"), ("cyclonedx", "a CycloneDX SBOM")]
)
def test_real_sarif_and_cyclonedx_are_refused(
    trivy_scan: TrivyScanner, vuln_project: Path, tmp_path: Path, fmt: str, named: str
) -> None:
    output = trivy_scan.fs(vuln_project, tmp_path / f"r.{fmt}.json", fmt=fmt)
    with pytest.raises(ReportError, match=f"{named}, not a Trivy scan report"):
        load_report(output)


def test_missing_file_and_directory_are_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"nope\.json: no such report file"):
        load_report(tmp_path / "nope.json")
    with pytest.raises(ReportError, match="is a directory"):
        load_report(tmp_path)
