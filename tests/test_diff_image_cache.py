"""The base image of `scan image --diff-base-input/--diff-base-image` in the base-scan cache.

Real image archives, OCI layouts and a loopback registry, scanned by the real Trivy with the
offline test DB. Trivy is a wrapper that logs each call before running the real one, so a test
sees which images were scanned: a cached base is not scanned again.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scangate import diff_cache, diff_image_base
from scangate.diff_cache import BaseFinding, BaseScan
from scangate.findings import Kind, Severity
from scangate.trivy_run import Target
from tests.support import images, scanning, servers, trivydb
from tests.support.scanning import run_scangate
from tests.test_diff_image import OPENSSL_FIXED, WITHOUT_ZLIB, image_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = image_env(tmp_path)
    scanning.logging_trivy(tmp_path, env)
    return env


def scanned(tmp_path: Path) -> list[str]:
    """The image each `trivy image` call logged so far scanned (its last argument: a
    reference, or `--input=PATH`)."""
    last = [line.rsplit(" ", 1)[-1] for line in scanning.trivy_calls(tmp_path, "image")]
    return [arg.removeprefix("--input=") for arg in last]


def scan(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "result.json"
    out.unlink(missing_ok=True)
    done = run_scangate(
        ["scan", "image", "--offline", "--scanners", "vuln", "--json", out, *args],
        cwd=tmp_path,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, result, done.stdout + done.stderr


def decisions(result: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["id"], f["package"]): f["decision"] for f in result["findings"]}


def cache_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["SCANGATE_CACHE_DIR"]) / diff_cache.CACHE_SUBDIR).glob("*.json"))


def test_a_second_run_against_the_same_base_archive_does_not_scan_it_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    images.write_docker_archive(tmp_path / "v1.tar", WITHOUT_ZLIB, repo_tag="example.test/a:1")
    images.write_docker_archive(tmp_path / "v2.tar", repo_tag="example.test/a:2")
    args = ("--input", "v2.tar", "--diff-base-input", "v1.tar")
    v1, v2 = str(tmp_path / "v1.tar"), str(tmp_path / "v2.tar")

    code, first, output = scan(tmp_path, env, *args)
    assert code == 1, output
    assert scanned(tmp_path) == [v2, v1]
    assert len(cache_files(env)) == 1

    code, second, output = scan(tmp_path, env, *args)
    assert code == 1, output
    assert scanned(tmp_path) == [v2, v1, v2]  # the head only
    assert decisions(second) == decisions(first)
    assert decisions(second)[(trivydb.OPENSSL_CVE, "openssl")] == "pre-existing"
    assert decisions(second)[(trivydb.ZLIB_CVE, "zlib1g")] == "fail"
    # The same diff, down to the base's image ID kept in the cache.
    assert second["diff"] == first["diff"]
    assert second["diff"]["base"] == images.image_id(WITHOUT_ZLIB)
    assert "vs v1.tar: 1 new, 2 pre-existing, 0 fixed" in output

    # The same name, other contents (the tag says nothing): a miss, and the new base decides.
    images.write_docker_archive(tmp_path / "v1.tar", OPENSSL_FIXED, repo_tag="example.test/a:1")
    code, third, output = scan(tmp_path, env, *args)
    assert code == 1, output
    assert scanned(tmp_path) == [v2, v1, v2, v2, v1]
    assert len(cache_files(env)) == 2
    got = decisions(third)
    assert got[(trivydb.OPENSSL_CVE, "openssl")] == "fail"  # not in this base
    assert got[(trivydb.ZLIB_CVE, "zlib1g")] == "pre-existing"


def test_a_base_image_cached_with_other_vex_documents_is_scanned_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from tests.test_vex import openvex, statement

    images.write_docker_archive(tmp_path / "v1.tar", WITHOUT_ZLIB, repo_tag="example.test/a:1")
    images.write_docker_archive(tmp_path / "v2.tar", repo_tag="example.test/a:2")
    vex = tmp_path / "vex.json"
    args = ("--input", "v2.tar", "--diff-base-input", "v1.tar", "--vex", "vex.json")
    v1, v2 = str(tmp_path / "v1.tar"), str(tmp_path / "v2.tar")
    for status in ("under_investigation", "under_investigation", "affected"):
        doc = openvex(statement(trivydb.ZLIB_CVE, "pkg:deb/debian/zlib1g", status))
        vex.write_text(json.dumps(doc))
        code, _, output = scan(tmp_path, env, *args)
        assert code == 1, output
    # The same VEX bytes: the base from the cache; other bytes at the same path: scanned.
    assert scanned(tmp_path) == [v2, v1, v2, v2, v1]
    assert len(cache_files(env)) == 2


def test_a_cached_base_lists_the_same_fixed_findings_as_a_scanned_one(
    tmp_path: Path, env: dict[str, str]
) -> None:
    images.write_oci_layout(tmp_path / "v1")
    images.write_docker_archive(tmp_path / "v2.tar", OPENSSL_FIXED)
    args = ("--input", "v2.tar", "--diff-base-input", "v1")
    runs = []
    for _ in range(2):
        code, result, output = scan(tmp_path, env, *args)
        assert code == 0, output
        assert decisions(result) == {(trivydb.ZLIB_CVE, "zlib1g"): "pre-existing"}
        fixed = sorted((f["id"], f["package"]) for f in result["diff"]["fixed"])
        assert fixed == [(trivydb.OPENSSL_CVE, "libssl3"), (trivydb.OPENSSL_CVE, "openssl")]
        runs.append(result["diff"])
    assert runs[0] == runs[1]
    assert scanned(tmp_path).count(str(tmp_path / "v1")) == 1

    # One changed file in the layout (a byte of white space in its index): scanned again.
    index = tmp_path / "v1" / "index.json"
    index.write_text(index.read_text() + "\n")
    code, _, output = scan(tmp_path, env, *args)
    assert code == 0, output
    assert scanned(tmp_path).count(str(tmp_path / "v1")) == 2


def test_a_key_tells_every_byte_of_an_archive_or_a_layout_apart(tmp_path: Path) -> None:
    images.write_docker_archive(tmp_path / "a.tar")
    images.write_docker_archive(tmp_path / "b.tar")
    images.write_oci_layout(tmp_path / "layout")

    def ident(path: Path) -> str | None:
        return diff_image_base.identity(Target("image", str(path), archive=True))

    same = ident(tmp_path / "a.tar")
    assert same is not None and same.startswith("archive:sha256:")
    assert ident(tmp_path / "b.tar") == same  # written deterministically: the same bytes
    data = bytearray((tmp_path / "b.tar").read_bytes())
    data[-1] ^= 1
    (tmp_path / "b.tar").write_bytes(bytes(data))
    assert ident(tmp_path / "b.tar") != same

    layout = ident(tmp_path / "layout")
    assert layout is not None and layout.startswith("oci-layout:sha256:")
    blob = next(p for p in (tmp_path / "layout" / "blobs" / "sha256").iterdir() if p.is_file())
    blob.write_bytes(blob.read_bytes() + b" ")
    assert ident(tmp_path / "layout") != layout
    # A reference is identified only by a digest it pins; a tag alone is not cached.
    digest = "sha256:" + "ab" * 32
    assert diff_image_base.identity(Target("image", f"r.test/app@{digest}")) == f"manifest:{digest}"
    assert diff_image_base.identity(Target("image", "r.test/app:1.2")) is None


def _manifest_digest(registry: str, repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        digest: str = response.headers["Docker-Content-Digest"]
    return digest


@pytest.mark.skipif(
    servers.find_registry() is None or servers.find_skopeo() is None,
    reason="docker-registry and skopeo are needed (.ci/setup-system.sh)",
)
def test_a_base_pinned_by_digest_is_cached_and_a_tag_is_scanned_every_run(
    tmp_path: Path, env: dict[str, str]
) -> None:
    images.write_docker_archive(tmp_path / "v1.tar", WITHOUT_ZLIB)
    images.write_docker_archive(tmp_path / "v2.tar")
    with servers.registry(tmp_path / "registry") as registry:
        servers.push_archive(tmp_path / "v1.tar", f"{registry}/app:1")
        pinned = f"{registry}/app@{_manifest_digest(registry, 'app', '1')}"
        tagged = f"{registry}/app:1"
        for base in (pinned, pinned, tagged, tagged):
            code, result, output = scan(
                tmp_path, env, "--input", "v2.tar", "--diff-base-image", base, "--insecure"
            )
            assert code == 1, output
            assert decisions(result)[(trivydb.OPENSSL_CVE, "openssl")] == "pre-existing"
            assert decisions(result)[(trivydb.ZLIB_CVE, "zlib1g")] == "fail"
    bases = [image for image in scanned(tmp_path) if image != str(tmp_path / "v2.tar")]
    # The pinned base once (then from the cache), the tag on each run.
    assert bases == [pinned, tagged, tagged]
    assert len(cache_files(env)) == 1


def test_a_warning_both_scans_give_is_printed_once(tmp_path: Path, env: dict[str, str]) -> None:
    # Debian 11 is past its end of life by this machine's clock: Trivy marks the OS EOSL in
    # the report of each scan, head and base, and scangate warns. The same image as its own
    # base (a rebuild that changed nothing): the same warning from both scans, said once.
    bullseye = {"etc/debian_version": b"11.9\n"}
    images.write_docker_archive(tmp_path / "app.tar", extra_files=bullseye)
    for _ in range(2):  # the base scanned, then taken from the cache
        code, result, output = scan(
            tmp_path, env, "--input", "app.tar", "--diff-base-input", "app.tar"
        )
        assert code == 0, output
        assert result["diff"]["ref"] == "app.tar"
        warnings = [line for line in output.splitlines() if line.startswith("scangate: warning:")]
        eosl = [line for line in warnings if "end-of-life" in line]
        assert len(eosl) == 1, output
        assert len(warnings) == len(set(warnings)), output
    assert scanned(tmp_path).count(str(tmp_path / "app.tar")) == 3


def test_matching_keys_round_trip_through_the_cache_and_a_bad_one_is_a_miss(
    tmp_path: Path,
) -> None:
    key = diff_cache.cache_key(
        tree="archive:sha256:" + "0" * 64, trivy_version="0.76.0", db_updated_at=None,
        scanners=("vuln",),
    )  # fmt: skip
    finding = BaseFinding("ab" * 16, Kind.VULNERABILITY, "CVE-1", Severity.HIGH, "t", "openssl")
    kept = BaseScan("sha256:" + "1" * 64, "archive:x", (replace(finding, match="cd" * 32),))
    assert diff_cache.store(tmp_path, key, kept)
    assert diff_cache.load(tmp_path, key) == kept
    path = tmp_path / diff_cache.CACHE_SUBDIR / f"{key}.json"
    for bad in ("CD" * 32, "cd" * 31, 7):
        data = json.loads(path.read_text())
        data["findings"][0]["match"] = bad
        path.write_text(json.dumps(data))
        assert diff_cache.load(tmp_path, key) is None
