"""scangate.trivy_run: the argv Trivy gets, the environment it sees, and the vulnerability DB.

The argv and environment are checked with a fake `trivy` that logs what it received. The DB
behaviour is checked with the real Trivy and no network (`scanning.clean_env` routes every
non-loopback connection to a dead proxy), through the real console script.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scangate.errors import UsageError
from scangate.trivy_run import (
    DEFAULT_SCANNERS,
    ScanOptions,
    Target,
    build_argv,
    cached_db,
    parse_scanners,
    trivy_env,
)
from tests.support import images, scanning
from tests.support.scanning import run_scangate

DB_FAILED_STDERR = (
    "2026-01-01T00:00:00Z\tINFO\t[vulndb] Downloading artifact...\t"
    'repo="mirror.example.test/trivy-db:2"\n'
    "2026-01-01T00:00:00Z\tFATAL\tFatal error\trun error: init error: DB error: failed to "
    "download vulnerability DB: OCI artifact error\n"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scanning.clean_env(tmp_path)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def error_line(stderr: str) -> str:
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("scangate: error:")]
    return line


# --- the argv ------------------------------------------------------------------------------


def test_default_argv_runs_every_scanner_once_in_an_empty_dir(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", "cache"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    [call] = fake.calls()
    argv = call["argv"]
    assert argv[0] == "fs"
    assert argv[-1] == str(tmp_path / "repo")
    assert flag_values(argv, "--scanners") == ["vuln,misconfig,secret"]
    assert flag_values(argv, "--format") == ["json"]
    assert "--list-all-pkgs" in argv
    # A relative --cache-dir means the user's directory, not Trivy's temp working dir.
    assert flag_values(argv, "--cache-dir") == [str(tmp_path / "cache")]
    assert flag_values(argv, "--timeout") == ["600s"]
    for gate_flag in ("--severity", "--exit-code", "--ignore-unfixed", "--ignorefile"):
        assert gate_flag not in argv
    # Trivy runs in an empty temp dir (no trivy.yaml / .trivyignore to pick up) and writes
    # its report there; both are gone afterwards.
    assert call["cwd_entries"] == []
    [output] = flag_values(argv, "--output")
    assert Path(output).parent == Path(call["cwd"])
    assert Path(call["cwd"]).parent == tmp_path / "tmp"
    assert not Path(call["cwd"]).exists()


def test_pass_through_flags_reach_trivy(tmp_path: Path, env: dict[str, str]) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", tmp_path / "cache",
         "--security-checks", "config,secret", "--skip-dirs", "vendor", "--skip-dirs",
         "**/testdata", "--skip-files", "*.min.js", "--timeout", "2m",
         "--db-repository", "127.0.0.1:5000/trivy-db", "--db-repository", "mirror.test/db",
         "--server", "http://127.0.0.1:4954", "--insecure"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    argv = fake.argv()
    assert flag_values(argv, "--scanners") == ["misconfig,secret"]
    assert flag_values(argv, "--skip-dirs") == ["vendor", "**/testdata"]
    assert flag_values(argv, "--skip-files") == ["*.min.js"]
    assert flag_values(argv, "--timeout") == ["120s"]
    assert flag_values(argv, "--db-repository") == ["127.0.0.1:5000/trivy-db", "mirror.test/db"]
    assert flag_values(argv, "--server") == ["http://127.0.0.1:4954"]
    assert "--insecure" in argv
    assert "--skip-db-update" not in argv
    assert "--severity" not in argv
    assert "--exit-code" not in argv


def test_offline_argv_skips_every_download(tmp_path: Path, env: dict[str, str]) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    cache = scanning.write_db(tmp_path / "cache")
    images.write_docker_archive(tmp_path / "img.tar")
    proc = run_scangate(
        ["scan", "image", "--input", "img.tar", "--trivy", fake.path, "--cache-dir", cache,
         "--offline", "--timeout", "0.5"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    argv = fake.argv()
    assert argv[0] == "image"
    assert argv[-2:] == ["--input", str(tmp_path / "img.tar")]
    for flag in (
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
        "--skip-check-update",
        "--skip-version-check",
    ):
        assert flag in argv
    # Whole seconds for Trivy, never `0s`.
    assert flag_values(argv, "--timeout") == ["1s"]


def test_relative_trivy_path_is_run_from_the_users_directory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", "bin/trivy", "--cache-dir", "cache", "-q"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr


def test_trivy_env_that_changes_findings_never_reaches_trivy(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    hiding = {
        "TRIVY_SEVERITY": "CRITICAL",
        "TRIVY_IGNORE_UNFIXED": "true",
        "TRIVY_IGNOREFILE": "/dev/null",
        "TRIVY_EXIT_CODE": "0",
        "TRIVY_SCANNERS": "secret",
        "TRIVY_FORMAT": "table",
        "TRIVY_OUTPUT": "/tmp/elsewhere.json",
        "TRIVY_SKIP_DIRS": "**",
        "TRIVY_SKIP_FILES": "**/*",
        "TRIVY_PKG_TYPES": "os",
        "TRIVY_PKG_RELATIONSHIPS": "root",
        "TRIVY_SECRET_CONFIG": "/dev/null",
        "TRIVY_CONFIG": "/elsewhere/trivy.yaml",
    }
    kept = {"TRIVY_USERNAME": "ci", "TRIVY_PASSWORD": "from-the-ci-secret-store"}
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", tmp_path / "cache"],
        cwd=tmp_path,
        env={**env, **hiding, **kept},
    )
    assert proc.returncode == 0, proc.stderr
    assert fake.calls()[0]["env"] == kept


def test_build_argv_never_asks_trivy_to_gate(tmp_path: Path) -> None:
    options = ScanOptions(cache_dir=tmp_path / "c", offline=True, timeout=90.2)
    target = Target("image", "registry.test/app:1", name="registry.test/app:1")
    argv = build_argv(Path("/t/trivy"), target, options, tmp_path / "o.json", use_cached_db=False)
    assert argv[:2] == ["/t/trivy", "image"]
    assert argv[-1] == "registry.test/app:1"
    assert flag_values(argv, "--timeout") == ["91s"]
    assert not {"--severity", "--exit-code", "--ignore-unfixed"} & set(argv)
    cached = build_argv(
        Path("/t/trivy"),
        target,
        ScanOptions(cache_dir=tmp_path / "c"),
        tmp_path / "o.json",
        use_cached_db=True,
    )
    assert "--skip-db-update" in cached
    assert "--offline-scan" not in cached


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["vuln,misconfig,secret"], DEFAULT_SCANNERS),
        (["config,secret"], ("misconfig", "secret")),
        (["vuln", "license", "vuln"], ("vuln", "license")),
        (["Secrets, vulnerability"], ("secret", "vuln")),
    ],
)
def test_parse_scanners(values: list[str], expected: tuple[str, ...]) -> None:
    assert parse_scanners(values) == expected


@pytest.mark.parametrize("values", [["vuln,sbom"], [","]])
def test_parse_scanners_refuses_unknown_or_empty(values: list[str]) -> None:
    with pytest.raises(UsageError, match="--scanners"):
        parse_scanners(values)


def test_trivy_env_keeps_credentials_and_proxies() -> None:
    environ = {
        "TRIVY_SEVERITY": "LOW",
        "TRIVY_TOKEN": "t",
        "HTTPS_PROXY": "http://proxy:3128",
        "PATH": "/bin",
    }
    assert trivy_env(environ) == {
        "TRIVY_TOKEN": "t",
        "HTTPS_PROXY": "http://proxy:3128",
        "PATH": "/bin",
    }


def test_cached_db_reads_go_timestamps(tmp_path: Path) -> None:
    assert cached_db(tmp_path) is None
    scanning.write_db(tmp_path, age=timedelta(days=3))
    db = cached_db(tmp_path)
    assert db is not None
    age = db.age(datetime.now(UTC))
    assert age is not None
    assert timedelta(days=3) <= age < timedelta(days=3, minutes=5)
    (tmp_path / "db" / "metadata.json").write_text("{not json")
    assert cached_db(tmp_path) is None


# --- the vulnerability DB, with the real Trivy and no network --------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return scanning.write_fixture_repo(tmp_path / "repo")


def test_no_db_and_no_network_names_the_mirror_and_the_ways_out(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    proc = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", tmp_path / "cache", "--json", "result.json"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 3, proc.stderr
    line = error_line(proc.stderr)
    assert "could not download the vulnerability DB (tried mirror.gcr.io/aquasec/trivy-db:2" in line
    for way_out in ("--db-repository", "--offline", "--scanners misconfig,secret"):
        assert way_out in line
    assert str(tmp_path / "cache" / "db") in line
    assert proc.stdout == ""
    assert not (tmp_path / "result.json").exists()


def test_a_db_repository_that_fails_is_named(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    proc = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", tmp_path / "cache",
         "--db-repository", "127.0.0.1:1/nothing"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    line = error_line(proc.stderr)
    assert "(tried 127.0.0.1:1/nothing" in line
    assert "mirror.gcr.io" not in line


def test_misconfig_and_secret_scans_need_no_db(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    proc = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", tmp_path / "cache",
         "--scanners", "misconfig,secret", "--json", "result.json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    kinds = {f["kind"] for f in load(tmp_path / "result.json")["findings"]}
    assert kinds == {"misconfiguration", "secret"}


def test_stale_db_is_used_with_a_warning_when_the_update_fails(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    # NextUpdate has passed and the download is older than an hour: Trivy tries to update.
    cache = scanning.write_db(tmp_path / "cache", age=timedelta(days=2), next_update_passed=True)
    proc = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", cache, "--scanners", "vuln", "--json", "result.json"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert (
        "scangate: warning: the vulnerability DB download failed (tried "
        "mirror.gcr.io/aquasec/trivy-db:2); using the cached DB, 2 days old"
    ) in proc.stderr
    result = load(tmp_path / "result.json")
    assert {f["id"] for f in result["findings"] if f["kind"] == "vulnerability"} == set(
        scanning.FS_VULNERABILITIES
    )


def test_stale_db_older_than_max_db_age_is_refused(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    cache = scanning.write_db(tmp_path / "cache", age=timedelta(days=10), next_update_passed=True)
    proc = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", cache, "--scanners", "vuln", "--json", "result.json"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 3, proc.stderr
    line = error_line(proc.stderr)
    assert "the DB download failed (tried mirror.gcr.io/aquasec/trivy-db:2)" in line
    assert "is 10 days old, more than --max-db-age 7 days" in line
    assert not (tmp_path / "result.json").exists()


def test_offline_without_a_db_fails_before_running_trivy(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    for trivy in ([], ["--trivy", str(fake.path)]):
        proc = run_scangate(
            ["scan", "fs", "repo", "--cache-dir", tmp_path / "cache", "--offline", *trivy],
            cwd=tmp_path,
            env=env,
        )
        assert proc.returncode == 3, proc.stderr
        assert error_line(proc.stderr).startswith(
            f"scangate: error: --offline: no vulnerability DB in {tmp_path / 'cache' / 'db'}"
        )
    assert fake.calls() == []


def test_offline_db_obeys_max_db_age(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    # --offline never updates the DB, so --max-db-age is all that keeps it from going stale.
    scanning.write_db(tmp_path / "cache", age=timedelta(days=30))
    base = ["scan", "fs", "repo", "--cache-dir", "cache", "--offline", "--scanners", "vuln"]
    refused = run_scangate(base, cwd=tmp_path, env=env)
    assert refused.returncode == 3, refused.stderr
    assert "is 30 days old, more than --max-db-age 7 days" in error_line(refused.stderr)
    accepted = run_scangate([*base, "--max-db-age", "31", "-q"], cwd=tmp_path, env=env)
    assert accepted.returncode == 1, accepted.stderr
    assert "warning" not in accepted.stderr


def test_retry_with_the_cached_db_after_a_failed_download(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(
        tmp_path / "bin",
        {"stderr": DB_FAILED_STDERR, "exit": 1},
        scanning.report_step(),
    )
    cache = scanning.write_db(tmp_path / "cache", age=timedelta(days=2))
    (tmp_path / "repo").mkdir()
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", cache],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = (call["argv"] for call in fake.calls())
    assert "--skip-db-update" not in first
    assert {"--skip-db-update", "--skip-java-db-update"} <= set(second)
    assert "--offline-scan" not in second
    assert (
        "download failed (tried mirror.example.test/trivy-db:2); using the cached DB, 2 days old"
    ) in proc.stderr
