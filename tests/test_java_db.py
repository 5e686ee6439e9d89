"""--java-db-repository and the Java DB fallback: the same rules and messages as the
vulnerability DB (`--db-repository`), with the real Trivy, an image holding a jar, and no
network (`scanning.clean_env` routes every non-loopback connection to a dead proxy)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from scangate.trivy_db import JAVA_DB, VULN_DB, cached_db, mirrors
from tests.support import images, scanning
from tests.support.javadb import bare_jar, pom_jar, write_java_db
from tests.support.scanning import run_scangate


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scanning.clean_env(tmp_path)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """An image with a jar (Trivy wants the Java DB for it) and a fresh vulnerability DB."""
    scanning.write_db(tmp_path / "cache")
    return images.write_docker_archive(tmp_path / "img.tar", extra_files={"app/app.jar": pom_jar()})


def _scan(tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[int, str]:
    proc = run_scangate(
        ["scan", "image", "--input", "img.tar", "--cache-dir", "cache", "--scanners", "vuln",
         "--raw-report", "raw.json", "-q", *extra],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    return proc.returncode, proc.stderr


def _error_line(stderr: str) -> str:
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("scangate: error:")]
    return line


def test_java_db_repositories_reach_trivy_in_order(tmp_path: Path, env: dict[str, str]) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    base = ["scan", "fs", "repo", "--trivy", str(fake.path), "--cache-dir", "cache", "-q"]
    proc = run_scangate(
        [*base, "--java-db-repository", "127.0.0.1:5000/java-db",
         "--java-db-repository", "mirror.test/java"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    argv = fake.argv()
    repos = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--java-db-repository"]
    assert repos == ["127.0.0.1:5000/java-db", "mirror.test/java"]
    assert "--skip-java-db-update" not in argv
    # The environment variable, split on whitespace like SCANGATE_DB_REPOSITORY.
    variable = {**env, "SCANGATE_JAVA_DB_REPOSITORY": "a.test/java b.test/java"}
    proc = run_scangate(base, cwd=tmp_path, env=variable)
    assert proc.returncode == 0, proc.stderr
    argv = fake.calls()[-1]["argv"]
    repos = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--java-db-repository"]
    assert repos == ["a.test/java", "b.test/java"]


def test_no_java_db_and_no_network_names_the_mirror_and_the_ways_out(
    tmp_path: Path, env: dict[str, str], image: Path
) -> None:
    code, stderr = _scan(tmp_path, env)
    assert code == 3, stderr
    line = _error_line(stderr)
    assert (
        "trivy could not download the Java DB (tried mirror.gcr.io/aquasec/trivy-java-db:1) "
        f"and there is no cached Java DB in {tmp_path / 'cache' / 'java-db'}"
    ) in line
    for way_out in ("--java-db-repository", "--offline", "--scanners misconfig,secret"):
        assert way_out in line
    assert not (tmp_path / "raw.json").exists()


def test_a_java_db_repository_that_fails_is_named(
    tmp_path: Path, env: dict[str, str], image: Path
) -> None:
    code, stderr = _scan(tmp_path, env, "--java-db-repository", "127.0.0.1:1/nothing")
    assert code == 3, stderr
    line = _error_line(stderr)
    assert "Java DB (tried 127.0.0.1:1/nothing" in line
    assert "mirror.gcr.io" not in line


def test_stale_java_db_is_used_with_a_warning_when_the_update_fails(
    tmp_path: Path, env: dict[str, str], image: Path
) -> None:
    write_java_db(tmp_path / "cache", age=timedelta(days=2))
    code, stderr = _scan(tmp_path, env)
    assert code == 1, stderr  # the image's Debian findings
    assert (
        "scangate: warning: the Java DB download failed (tried "
        "mirror.gcr.io/aquasec/trivy-java-db:1); using the cached Java DB, 2 days old"
    ) in stderr
    report = json.loads((tmp_path / "raw.json").read_text())
    jars = [r for r in report["Results"] if r.get("Type") == "jar"]
    assert [p["Name"] for r in jars for p in r.get("Packages") or []] == ["org.example:app"]


def test_stale_java_db_older_than_max_db_age_is_refused(
    tmp_path: Path, env: dict[str, str], image: Path
) -> None:
    write_java_db(tmp_path / "cache", age=timedelta(days=10))
    code, stderr = _scan(tmp_path, env)
    assert code == 3, stderr
    line = _error_line(stderr)
    assert "the DB download failed (tried mirror.gcr.io/aquasec/trivy-java-db:1)" in line
    assert f"the cached Java DB in {tmp_path / 'cache' / 'java-db'} is 10 days old" in line
    assert "more than --max-db-age 7 days" in line and "--java-db-repository" in line
    accepted, stderr = _scan(tmp_path, env, "--max-db-age", "11")
    assert accepted == 1, stderr


def test_each_db_names_only_its_own_mirrors(tmp_path: Path) -> None:
    stderr = (
        'INFO\t[vulndb] Downloading artifact...\trepo="vuln.test/db:2"\n'
        'INFO\t[javadb] Downloading artifact...\trepo="java.test/db:1"\n'
        "FATAL\tfailed to download Java DB: failed to download artifact from java.test/db:1: x\n"
    )
    assert mirrors(stderr, (), JAVA_DB) == "java.test/db:1"
    assert mirrors(stderr, (), VULN_DB) == "vuln.test/db:2"
    assert mirrors("", (), JAVA_DB) == "mirror.gcr.io/aquasec/trivy-java-db:1, " + (
        "ghcr.io/aquasecurity/trivy-java-db:1"
    )
    assert cached_db(tmp_path, JAVA_DB) is None
    write_java_db(tmp_path, age=timedelta(days=3))
    found = cached_db(tmp_path, JAVA_DB)
    assert found is not None and found.path == tmp_path / "java-db"


def test_offline_without_a_java_db_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    scanning.write_db(tmp_path / "cache")
    images.write_docker_archive(tmp_path / "img.tar", extra_files={"app/blob.jar": bare_jar()})
    code, stderr = _scan(tmp_path, env, "--offline")
    assert code == 3, stderr
    assert _error_line(stderr) == (
        f"scangate: error: --offline: no Java DB in {tmp_path / 'cache' / 'java-db'}, which "
        "Trivy needs for the jar files it found: copy one there (trivy-java.db and "
        "metadata.json), drop --offline, or use --scanners misconfig,secret"
    )
    # With one there, the jar is named by it.
    write_java_db(tmp_path / "cache", jars={bare_jar(): ("org.example", "lookedup", "2.0")})
    code, stderr = _scan(tmp_path, env, "--offline")
    assert code == 1, stderr
    report = json.loads((tmp_path / "raw.json").read_text())
    jars = [r for r in report["Results"] if r.get("Type") == "jar"]
    packages = [(p["Name"], p["Version"]) for r in jars for p in r.get("Packages") or []]
    assert packages == [("org.example:lookedup", "2.0")]
