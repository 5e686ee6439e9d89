"""`scan image --diff-base-image` / `--diff-base-input`: an image against its previous release,
both written as real image archives and scanned by the real Trivy with the offline test DB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import images, scanning, trivydb
from tests.support.images import DpkgPackage
from tests.support.scanning import run_scangate

POLICY = "fail-on: {vulnerability: LOW}\nignore-unfixed: false\n"
WITHOUT_ZLIB = tuple(p for p in images.DEBIAN_PACKAGES if p.name != "zlib1g")
OPENSSL_FIXED = tuple(
    DpkgPackage(p.name, "3.0.11-1~deb12u2", source=p.source)
    if p.name in ("openssl", "libssl3")
    else p
    for p in images.DEBIAN_PACKAGES
)


def image_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment with the offline DB, and POLICY as the directory's policy."""
    env = scanning.clean_env(tmp_path)
    env["SCANGATE_CACHE_DIR"] = str(scanning.write_db(tmp_path / "cache"))
    (tmp_path / ".scangate.yaml").write_text(POLICY)
    return env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return image_env(tmp_path)


def scan(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    done = run_scangate(
        ["scan", "image", "--offline", "--scanners", "vuln", "--json", "result.json", *args],
        cwd=tmp_path,
        env=env,
    )
    out = tmp_path / "result.json"
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, result, done.stdout + done.stderr


def decisions(result: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["id"], f["package"]): f["decision"] for f in result["findings"]}


def test_an_image_fails_only_on_what_it_adds_over_the_previous_release(
    tmp_path: Path, env: dict[str, str]
) -> None:
    images.write_docker_archive(tmp_path / "v1.tar", WITHOUT_ZLIB, repo_tag="example.test/a:1")
    images.write_docker_archive(tmp_path / "v2.tar", repo_tag="example.test/a:2")
    code, result, output = scan(tmp_path, env, "--input", "v2.tar", "--diff-base-input", "v1.tar")
    assert code == 1, output
    got = decisions(result)
    # Named after each archive ("v2.tar (debian 12.7)"), matched all the same.
    assert got[(trivydb.OPENSSL_CVE, "openssl")] == "pre-existing"
    assert got[(trivydb.OPENSSL_CVE, "libssl3")] == "pre-existing"
    assert got[(trivydb.ZLIB_CVE, "zlib1g")] == "fail"
    diff = result["diff"]
    assert diff["base"] == images.image_id(WITHOUT_ZLIB)
    assert diff["ref"] == "v1.tar"
    assert (diff["new"], diff["pre_existing"], diff["fixed"]) == (1, 2, [])
    reasons = {f["package"]: f["reason"] for f in result["findings"]}
    assert reasons["openssl"] == "present at v1.tar"
    assert "vs v1.tar: 1 new, 2 pre-existing, 0 fixed" in output


def test_an_image_upgrading_a_package_lists_it_as_fixed_against_an_oci_layout(
    tmp_path: Path, env: dict[str, str]
) -> None:
    images.write_oci_layout(tmp_path / "v1")
    images.write_docker_archive(tmp_path / "v2.tar", OPENSSL_FIXED)
    code, result, output = scan(tmp_path, env, "--input", "v2.tar", "--diff-base-input", "v1")
    assert code == 0, output
    assert decisions(result) == {(trivydb.ZLIB_CVE, "zlib1g"): "pre-existing"}
    fixed = sorted((f["id"], f["package"]) for f in result["diff"]["fixed"])
    assert fixed == [(trivydb.OPENSSL_CVE, "libssl3"), (trivydb.OPENSSL_CVE, "openssl")]
    # The same image without a base fails on zlib.
    code, _, _ = scan(tmp_path, env, "--input", "v2.tar")
    assert code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "v2.tar", "--diff-base-input", "nope.tar"], "no such image archive"),
        (["--input", "v2.tar", "--input", "v2.tar", "--diff-base-input", "v2.tar"], "one image"),
        (
            ["--input", "v2.tar", "--diff-base-image", "--x", "--diff-base-input", "v2.tar"],
            "not both",
        ),
        (["--input", "v2.tar", "--diff-base-image=-evil"], "starts with '-'"),
    ],
    ids=["missing", "several", "both", "dash"],
)
def test_a_bad_base_image_is_exit_2_before_trivy_runs(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    images.write_docker_archive(tmp_path / "v2.tar")
    code, result, output = scan(tmp_path, env, *args)
    assert code == 2, output
    assert message in output
    assert "running trivy" not in output
    assert result == {}
