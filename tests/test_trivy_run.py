"""scangate.trivy_run: the argv Trivy gets, the environment it sees, and the vulnerability DB.

The argv and environment are checked with a fake `trivy` that logs what it received. The DB
behaviour is checked with the real Trivy and no network (`scanning.clean_env` routes every
non-loopback connection to a dead proxy), through the real console script.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

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
    assert argv[-2:] == ["--", str(tmp_path / "repo")]
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
    # scangate's own secret config sits beside that dir, in the same private temp dir.
    [config] = flag_values(argv, "--secret-config")
    assert Path(config).parent == Path(call["cwd"]).parent
    assert Path(call["cwd"]).parent.parent == tmp_path / "tmp"
    assert not Path(call["cwd"]).parent.exists()


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
    # One argv element: an archive named `-x.tar` can never read as an option.
    assert argv[-1] == f"--input={tmp_path / 'img.tar'}"
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
    assert argv[-2:] == ["--", "registry.test/app:1"]
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


# --- the environment: only allowlisted TRIVY_* variables ------------------------------------

# Every flag of `trivy fs --help` and `trivy image --help` (0.76.0) as Trivy reads it from
# the environment (`TRIVY_` + the name), plus names Trivy may add later.
TRIVY_FLAGS = """
ansible-extra-vars ansible-inventory ansible-playbook cacert cache-backend cache-dir cache-ttl
cf-params check-namespaces checks-bundle-repository compliance config config-check
config-data config-file-schemas custom-headers db-repository debug dependency-tree
detection-priority disable-telemetry distro docker-host download-db-only
download-java-db-only enable-modules exit-code exit-on-eol file-patterns format
generate-default-config helm-api-versions helm-kube-version helm-set helm-set-file
helm-set-string helm-values ignore-policy ignore-status ignore-unfixed ignored-licenses
ignorefile image-config-scanners image-src include-deprecated-checks include-dev-deps
include-non-failures input insecure java-db-repository license-confidence-level
license-full list-all-pkgs max-image-size misconfig-scanners module-dir no-progress
offline-scan output output-plugin-arg parallel password password-stdin pkg-relationships
pkg-types platform podman-host quiet raw-config-scanners redis-ca redis-cert redis-key
redis-tls registry-token rego-error-limit rekor-url removed-pkgs render-cause report
sbom-sources scanners secret-config server severity show-suppressed skip-check-update
skip-db-update skip-dirs skip-files skip-java-db-update skip-version-check
skip-vex-repo-update table-mode template tf-exclude-downloaded-modules tf-vars timeout token
token-header trace-rego username version vex vuln-severity-source
security-checks vuln-type non-ssl auth-url some-flag-of-trivy-0-99
""".split()  # noqa: SIM905 - a list of 110 flags reads better as words
ALLOWED = {
    "TRIVY_USERNAME", "TRIVY_PASSWORD", "TRIVY_REGISTRY_TOKEN", "TRIVY_CACERT",
    "TRIVY_DB_REPOSITORY", "TRIVY_JAVA_DB_REPOSITORY", "TRIVY_CHECKS_BUNDLE_REPOSITORY",
    "TRIVY_TOKEN", "TRIVY_TOKEN_HEADER", "TRIVY_CUSTOM_HEADERS",
    "TRIVY_DISABLE_TELEMETRY", "TRIVY_SKIP_VERSION_CHECK",
}  # fmt: skip


def test_only_allowlisted_trivy_variables_reach_trivy(tmp_path: Path, env: dict[str, str]) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    every = {"TRIVY_" + flag.upper().replace("-", "_"): "x" for flag in TRIVY_FLAGS}
    assert every.keys() > ALLOWED
    every["trivy_server"] = "http://127.0.0.1:1"  # any spelling
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", tmp_path / "cache", "-q"],
        cwd=tmp_path,
        env={**env, **every},
    )
    assert proc.returncode == 0, proc.stderr
    [call] = fake.calls()
    assert call["env"] == dict.fromkeys(ALLOWED, "x")
    # Not TRIVY_ names: proxies pass unchanged.
    assert trivy_env({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "x"}) == {
        "HTTPS_PROXY": "http://p:3128",
        "NO_PROXY": "x",
    }


class _NothingFound(http.server.BaseHTTPRequestHandler):
    """A Trivy server that answers every Twirp call with an empty message: no findings."""

    calls: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.calls.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type") or "")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        return


def test_trivy_server_in_the_environment_cannot_pass_a_failing_scan(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # Before: `TRIVY_SERVER` reached Trivy, which sent the scan to this server and
    # reported what it answered: nothing, so a token in the tree passed the gate.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "settings.py").write_text(f'TOKEN = "{scanning.fake_token()}"\n')
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NothingFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        proc = run_scangate(
            ["scan", "fs", "repo", "--scanners", "secret", "--cache-dir", tmp_path / "cache"],
            cwd=tmp_path,
            env={**env, "TRIVY_SERVER": url, "TRIVY_TOKEN": "t"},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 1, proc.stderr
    assert "FAIL: 1 finding:" in proc.stdout
    assert _NothingFound.calls == []


# --- targets that look like options -----------------------------------------------------------


def test_an_image_reference_that_is_an_option_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The Action passes references after `--`; this one named a config file that scans
    # another image and keeps only LOW findings. Before: Trivy read it as an option and
    # the gate passed an image holding a token.
    image = images.write_docker_archive(
        tmp_path / "img.tar",
        extra_files={"app/settings.py": f'TOKEN = "{scanning.fake_token()}"\n'.encode()},
    )
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"severity: [LOW]\nimage:\n  input: {image}\n")
    proc = run_scangate(
        ["scan", "image", "--scanners", "secret", "--cache-dir", tmp_path / "cache",
         "--", f"--config={evil}"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert error_line(proc.stderr) == (
        f"scangate: error: REF '--config={evil}' starts with '-' and would read as an option "
        "to trivy: an image reference never starts with '-'; put options before --"
    )
    # The same image, named as a target, fails the gate.
    proc = run_scangate(
        ["scan", "image", "--scanners", "secret", "--cache-dir", tmp_path / "cache",
         "--input", image],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr


def test_a_path_that_starts_with_a_dash_is_refused_with_the_fix(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "-name").mkdir()
    proc = run_scangate(
        ["scan", "fs", "--trivy", fake.path, "--cache-dir", "cache", "--", "-name"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2
    assert error_line(proc.stderr) == (
        "scangate: error: PATH '-name' starts with '-' and would read as an option to trivy: "
        "write ./-name"
    )
    assert fake.calls() == []
    proc = run_scangate(
        ["scan", "fs", "--trivy", fake.path, "--cache-dir", "cache", "-q", "./-name"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert fake.argv()[-2:] == ["--", str(tmp_path / "-name")]


# --- what Trivy leaves at the output path ---------------------------------------------------

_ODD_OUTPUT_TRIVY = """#!{python} -IS
import json, os, sys
argv = sys.argv[1:]
if argv[:1] == ["version"]:
    print(json.dumps({{"Version": "0.76.0"}}))
    sys.exit(0)
output = argv[argv.index("--output") + 1]
kind = {kind!r}
if kind == "fifo":
    os.mkfifo(output)
elif kind == "symlink":
    os.symlink({report!r}, output)
elif kind == "directory":
    os.mkdir(output)
"""


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("fifo", "not a regular file"),
        ("symlink", "Too many levels of symbolic links"),
        ("directory", "not a regular file"),
    ],
)
def test_an_output_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, env: dict[str, str], kind: str, why: str
) -> None:
    # Before: a FIFO hung scangate for good; a symlink to a clean report elsewhere passed.
    report = tmp_path / "clean.json"
    report.write_text(json.dumps(scanning.minimal_report()))
    fake = tmp_path / "trivy"
    fake.write_text(_ODD_OUTPUT_TRIVY.format(python=sys.executable, kind=kind, report=str(report)))
    fake.chmod(0o755)
    (tmp_path / "repo").mkdir()
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake, "--cache-dir", tmp_path / "cache"],
        cwd=tmp_path,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = error_line(proc.stderr)
    assert line.startswith("scangate: error: trivy fs repo left something other than a report")
    assert f"({why})" in line
