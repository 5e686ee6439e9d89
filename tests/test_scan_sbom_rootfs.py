"""`scangate scan sbom FILE...` and `scangate scan rootfs DIR` end to end: the real console
script running the real Trivy offline against a DB from `tests.support.trivydb`.

The SBOMs are made by the real Trivy (`trivy fs|image --format cyclonedx|spdx-json`) from the
test fixtures; the root filesystem is the Debian 12 tree of `tests.support.images`, written
as plain files. Faults, the environment allowlist and the argv use the fake Trivy of
`tests.support.scanning`, as the `scan fs` tests do.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from scangate.findings import Artifact, Finding, Kind, Location, ScanRun, Severity
from scangate.trivy_targets import locate_os_packages
from tests.conftest import TrivyScanner
from tests.support import feeds, images, scanning, servers, trivydb
from tests.support.scanning import run_scangate
from tests.test_scan_faults import FAULTS, NOT_OUTPUTS, error_text, snapshot
from tests.test_trivy_run import ALLOWED, TRIVY_FLAGS, flag_values

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
OFFLINE = ["--offline", "--max-db-age", "36500"]
SBOM_FORMATS = {"cyclonedx": "app.cdx.json", "spdx-json": "app.spdx.json"}
ARTIFACT_TYPES = {"cyclonedx": "cyclonedx", "spdx-json": "spdx"}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def vulnerabilities(result: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Each vulnerability as the gate decided it, without where it came from (the artifact)
    or its fingerprint: sorted, duplicates kept."""
    keys = ("target", "id", "package", "severity", "installed_version", "fixed_version",
            "status", "kev", "decision", "reason")  # fmt: skip
    return sorted(
        tuple(json.dumps(f[k]) for k in keys)
        for f in result["findings"]
        if f["kind"] == "vulnerability"
    )


def upgrades(result: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("target", "package", "installed_version", "upgrade_to", "clears", "ids")
    return [tuple(json.dumps(u[k]) for k in keys) for u in result["remediation"]["upgrades"]]


def check_sarif(path: Path) -> dict[str, Any]:
    doc = load(path)
    jsonschema.Draft7Validator(load(SARIF_SCHEMA)).validate(doc)
    return doc


def uris(run: Mapping[str, Any]) -> set[str]:
    return {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in run["results"]
        for loc in result["locations"]
    }


@dataclass(frozen=True)
class Made:
    """SBOMs of the vulnerable project in base/sboms, the `scan fs` result they came from,
    a DB cache for scangate and a KEV file listing one of the project's CVEs."""

    base: Path
    cache: Path
    kev: Path
    fs_result: dict[str, Any]


@pytest.fixture(scope="module")
def made(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Made:
    base = tmp_path_factory.mktemp("sbom-rootfs")
    cache = scanning.write_db(base / "cache")
    kev = base / "kev.json"
    kev.write_bytes(feeds.kev_catalog([feeds.kev_vulnerability(trivydb.REQUESTS_CVE)]))
    project = trivydb.write_vulnerable_project(base / "project")
    (base / "sboms").mkdir()
    for fmt, name in SBOM_FORMATS.items():
        trivy_scan.fs(project, base / "sboms" / name, fmt=fmt)
    archive = images.write_docker_archive(base / "img.tar")
    argv = trivy_scan.argv(
        "image", scanners="vuln", fmt="cyclonedx", output=base / "sboms" / "img.cdx.json"
    )
    servers.run([*argv, "--input", str(archive)], timeout=120.0)
    proc = run_scangate(
        ["scan", "fs", "project", "--scanners", "vuln", "--cache-dir", cache, *OFFLINE,
         "--kev-file", kev, "--json", "fs.json"],
        cwd=base,
        env=scanning.clean_env(base / "env"),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    return Made(base, cache, kev, load(base / "fs.json"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scanning.clean_env(tmp_path)


# --- scan sbom ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(SBOM_FORMATS))
def test_an_sbom_gates_the_vulnerabilities_of_the_fs_scan_it_came_from(
    made: Made, env: dict[str, str], fmt: str, tmp_path: Path
) -> None:
    typed = f"sboms/{SBOM_FORMATS[fmt]}"
    proc = run_scangate(
        ["scan", "sbom", typed, "--cache-dir", made.cache, *OFFLINE, "--kev-file", made.kev,
         "--json", tmp_path / "result.json", "--sarif", tmp_path / "result.sarif", "--raw-report",
         tmp_path / "raw.json"],
        cwd=made.base,
        env={**env, "GITHUB_ACTIONS": "true"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count(f"scangate: running trivy sbom {typed}") == 1
    result = load(tmp_path / "result.json")
    assert result["verdict"] == "fail"
    assert [(a["name"], a["type"]) for a in result["artifacts"]] == [(typed, ARTIFACT_TYPES[fmt])]
    # The same vulnerabilities, packages, severities, KEV marks and decisions as `scan fs`.
    assert vulnerabilities(result) == vulnerabilities(made.fs_result)
    expected = {(f.vulnerability_id, f.pkg_name, f.severity)
                for found in trivydb.EXPECTED_FS_FINDINGS.values() for f in found}  # fmt: skip
    assert {(f["id"], f["package"], f["severity"]) for f in result["findings"]} == expected
    kev = {f["id"] for f in result["findings"] if f["kev"] is not None}
    assert kev == {trivydb.REQUESTS_CVE}
    # The same fix plan, but for the dependency graph: `trivy sbom` reports no Relationship.
    assert upgrades(result) == upgrades(made.fs_result)
    assert {u["relationship"] for u in result["remediation"]["upgrades"]} == {"unknown"}
    assert load(tmp_path / "raw.json")["ArtifactType"] == ARTIFACT_TYPES[fmt]

    # Located at the SBOM file: the SARIF run, its results and the annotations.
    doc = check_sarif(tmp_path / "result.sarif")
    [run] = doc["runs"]
    assert run["automationDetails"]["id"] == f"scangate/fs/{typed}/"
    assert run["results"] and uris(run) == {typed}
    annotated = [line for line in proc.stdout.splitlines() if line.startswith("::error file=")]
    assert annotated and all(line.startswith(f"::error file={typed},") for line in annotated)


def test_several_sboms_are_one_trivy_run_each_and_one_verdict(
    made: Made, env: dict[str, str], tmp_path: Path
) -> None:
    (made.base / "raw-several").mkdir(exist_ok=True)
    typed = [f"sboms/{name}" for name in SBOM_FORMATS.values()]
    proc = run_scangate(
        ["scan", "sbom", *typed, "--cache-dir", made.cache, *OFFLINE, "--kev-file", made.kev,
         "--json", tmp_path / "result.json", "--sarif", tmp_path / "result.sarif",
         "--raw-report", "raw-several", "--format", "json"],
        cwd=made.base,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    for name in typed:
        assert proc.stderr.count(f"scangate: running trivy sbom {name}") == 1
    result = load(tmp_path / "result.json")
    assert json.loads(proc.stdout) == result
    assert [a["name"] for a in result["artifacts"]] == typed
    once = vulnerabilities(made.fs_result)
    assert vulnerabilities(result) == sorted(once + once)
    by_artifact = {name: [f for f in result["findings"] if f["artifact"] == name] for name in typed}
    assert all(len(found) == len(once) for found in by_artifact.values())
    assert result["summary"]["total"] == 2 * made.fs_result["summary"]["total"]
    assert sorted(p.name for p in (made.base / "raw-several").iterdir()) == [
        "01-sboms_app.cdx.json.json",
        "02-sboms_app.spdx.json.json",
    ]
    doc = check_sarif(tmp_path / "result.sarif")
    assert {r["automationDetails"]["id"]: uris(r) for r in doc["runs"]} == {
        f"scangate/fs/{name}/": {name} for name in typed
    }


def test_an_image_sbom_names_its_os_results_after_the_file_as_typed(
    made: Made, env: dict[str, str], tmp_path: Path
) -> None:
    """Trivy is given the absolute path, and names OS results after it; scangate names them
    after the file as typed, so findings and fingerprints do not depend on the checkout's
    place."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(made.base / "sboms", elsewhere / "sboms")
    fingerprints = []
    for cwd in (made.base, elsewhere):
        proc = run_scangate(
            ["scan", "sbom", "sboms/img.cdx.json", "--cache-dir", made.cache, *OFFLINE,
             "--json", tmp_path / "result.json", "-q"],
            cwd=cwd,
            env=env,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        result = load(tmp_path / "result.json")
        target = f"sboms/img.cdx.json (debian {images.DEBIAN_VERSION})"
        assert {f["target"] for f in result["findings"]} == {target}
        found = {(f["id"], f["package"], f["severity"]) for f in result["findings"]}
        assert found == {
            (f.vulnerability_id, f.pkg_name, f.severity)
            for f in trivydb.EXPECTED_IMAGE_FINDINGS["debian"]
        }
        fingerprints.append(sorted(f["fingerprint"] for f in result["findings"]))
    assert fingerprints[0] == fingerprints[1]


def _write(path: Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path.name


TRIVY_REPORT = json.dumps(scanning.minimal_report())


@pytest.mark.parametrize(
    ("make", "typed", "message"),
    [
        (None, "missing.json", "missing.json: no such SBOM file"),
        ("dir", "sboms", "sboms: a directory, not an SBOM file: scan a directory with "
         "`scangate scan fs` or an unpacked root filesystem with `scangate scan rootfs`"),
        ("{\"bomFormat\": \"CycloneDX\"", "cut.json", "cut.json: not JSON (Expecting ',' "
         "delimiter: line 1 column 26 (char 25)): scan sbom reads CycloneDX or SPDX JSON: "
         "write it with `trivy fs|image --format cyclonedx` or `--format spdx-json`"),
        ("{\"packages\": []}", "other.json", "other.json: JSON but not a CycloneDX or SPDX SBOM "
         "(no `bomFormat: CycloneDX`, no `spdxVersion`): write it with `trivy fs|image --format "
         "cyclonedx` or `--format spdx-json`"),
        ("SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n", "app.spdx", "app.spdx: SPDX "
         "tag-value: scan sbom reads CycloneDX or SPDX JSON: write it with `trivy fs|image "
         "--format cyclonedx` or `--format spdx-json`"),
        ("<?xml version=\"1.0\"?>\n<bom/>", "app.cdx.xml", "app.cdx.xml: XML (CycloneDX XML?): "
         "scan sbom reads CycloneDX or SPDX JSON: write it with `trivy fs|image --format "
         "cyclonedx` or `--format spdx-json`"),
        (TRIVY_REPORT, "report.json", "report.json: a Trivy JSON report, not an SBOM: gate it "
         "with `scangate check report.json`"),
        ("{}", "-x.json", "FILE '-x.json' starts with '-' and would read as an option to "
         "trivy: write ./-x.json"),
    ],
    ids=["missing", "directory", "not-json", "not-an-sbom", "spdx-tag-value", "xml",
         "trivy-report", "dash"],
)  # fmt: skip
def test_what_is_not_an_sbom_file_is_refused_before_trivy_runs(
    tmp_path: Path, env: dict[str, str], make: str | None, typed: str, message: str
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    if make == "dir":
        (tmp_path / typed).mkdir()
    elif make is not None:
        _write(tmp_path / typed, make)
    good = _write(tmp_path / "good.cdx.json", '{"bomFormat": "CycloneDX", "specVersion": "1.6"}')
    proc = run_scangate(
        ["scan", "sbom", "--trivy", fake.path, "--cache-dir", "cache", "--", good, typed],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [f"scangate: error: {message}"]
    # Every file is checked before the first Trivy run.
    assert fake.calls() == []


def test_sbom_scanners_are_vuln_unless_license_is_asked(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    _write(tmp_path / "app.cdx.json", '{"bomFormat": "CycloneDX", "specVersion": "1.6"}')
    base: list[str | Path] = ["scan", "sbom", "--trivy", fake.path, "--cache-dir", "cache", "-q"]
    proc = run_scangate([*base, "--scanners", "vuln,secret", "app.cdx.json"], cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "scangate: error: --scanners secret: an SBOM lists packages, so scan sbom checks only "
        "vuln and license: drop secret"
    )
    assert fake.calls() == []
    proc = run_scangate(
        [*base, "--scanners", "license", "--scanners", "vuln", "app.cdx.json"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert flag_values(fake.argv(), "--scanners") == ["license,vuln"]
    # Not given (the Action's empty input): vuln only, never Trivy's misconfig/secret flags.
    proc = run_scangate([*base, "app.cdx.json"], cwd=tmp_path, env={**env, "SCANGATE_SCANNERS": ""})
    assert proc.returncode == 0, proc.stderr
    assert flag_values(fake.argv(), "--scanners") == ["vuln"]


def test_sbom_argv_is_trivy_sbom_with_only_the_flags_it_takes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    cache = scanning.write_db(tmp_path / "cache")
    _write(tmp_path / "-app.cdx.json", '{"bomFormat": "CycloneDX", "specVersion": "1.6"}')
    proc = run_scangate(
        ["scan", "sbom", "--trivy", fake.path, "--cache-dir", cache, "--offline",
         "--db-repository", "mirror.example/trivy-db:2", "--timeout", "90", "./-app.cdx.json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    argv = fake.argv()
    assert argv[0] == "sbom"
    assert argv[-2:] == ["--", str(tmp_path / "-app.cdx.json")]
    assert flag_values(argv, "--db-repository") == ["mirror.example/trivy-db:2"]
    for flag in ("--skip-db-update", "--skip-java-db-update", "--offline-scan",
                 "--skip-version-check", "--list-all-pkgs"):  # fmt: skip
        assert flag in argv
    # `trivy sbom` refuses these: it has no misconfig or secret scanner.
    for flag in ("--skip-check-update", "--secret-config", "--skip-dirs", "--skip-files"):
        assert flag not in argv
    # The options an SBOM has no use for are not offered at all.
    proc = run_scangate(["scan", "sbom", "--skip-dirs", "x", "a.json"], cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "No such option: --skip-dirs" in proc.stderr


# --- scan rootfs -------------------------------------------------------------------------------


def write_rootfs(root: Path) -> Path:
    """The Debian 12 tree of the test image, a token in /etc/app, and the tree's own policy
    and ignore file, which must decide nothing."""
    token = f'TOKEN = "{scanning.fake_token()}"\n'.encode()
    files = images.rootfs_files(images.DEBIAN_PACKAGES, {"etc/app/settings.py": token})
    for name, data in files.items():
        _write(root / name, data)
    _write(root / ".scangate.yaml", "fail-on: {vulnerability: none, secret: none}\n")
    _write(root / ".trivyignore", f"{trivydb.OPENSSL_CVE}\n")
    return root


def test_rootfs_gives_its_os_vulnerabilities_and_secrets(
    tmp_path: Path, env: dict[str, str]
) -> None:
    cache = scanning.write_db(tmp_path / "cache")
    write_rootfs(tmp_path / "rootfs")
    copy = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "rootfs", copy / "rootfs")
    (copy / "cache").symlink_to(cache, target_is_directory=True)
    results = []
    for cwd in (tmp_path, copy):
        proc = run_scangate(
            ["scan", "rootfs", "rootfs", "--cache-dir", "cache", "--offline", "--json",
             "result.json", "--sarif", "result.sarif", "--raw-report", "raw.json"],
            cwd=cwd,
            env=env,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert "scangate: running trivy rootfs rootfs" in proc.stderr
        results.append(load(cwd / "result.json"))
    result = results[0]
    [artifact] = result["artifacts"]
    assert (artifact["name"], artifact["type"], artifact["os"]) == (
        "rootfs", "filesystem", f"debian {images.DEBIAN_VERSION}"
    )  # fmt: skip
    found = {(f["id"], f["package"], f["installed_version"], f["fixed_version"] or "",
              f["severity"], f["target"]) for f in result["findings"]
             if f["kind"] == "vulnerability"}  # fmt: skip
    target = f"rootfs (debian {images.DEBIAN_VERSION})"
    assert found == {
        (f.vulnerability_id, f.pkg_name, f.installed_version, f.fixed_version, f.severity, target)
        for f in trivydb.EXPECTED_IMAGE_FINDINGS["debian"]
    }
    # The tree's own .scangate.yaml and .trivyignore decide nothing: the default policy does.
    assert result["policy"]["sources"] == ["built-in policy 'default'"]
    decisions = {(f["kind"], f["id"], f["decision"]) for f in result["findings"]}
    assert ("vulnerability", trivydb.OPENSSL_CVE, "fail") in decisions
    assert ("secret", "github-pat", "fail") in decisions
    [secret] = [f for f in result["findings"] if f["kind"] == "secret"]
    assert secret["location"]["path"] == "etc/app/settings.py"
    assert load(tmp_path / "raw.json")["ArtifactType"] == "filesystem"
    # Named as typed, the same findings wherever the tree lies.
    assert sorted(f["fingerprint"] for f in results[1]["findings"]) == sorted(
        f["fingerprint"] for f in result["findings"]
    )
    # Located at files that exist: the secret's, and for OS packages their database.
    paths = {f["location"]["path"] for f in result["findings"] if f["kind"] == "vulnerability"}
    assert paths == {"var/lib/dpkg/status"}
    doc = check_sarif(tmp_path / "result.sarif")
    [run] = doc["runs"]
    assert run["automationDetails"]["id"] == "scangate/fs/rootfs/"
    assert uris(run) == {"rootfs/etc/app/settings.py", "rootfs/var/lib/dpkg/status"}


@pytest.mark.parametrize(
    ("make", "typed", "message"),
    [
        (None, "nope", "nope: no such directory: scan rootfs takes an unpacked root filesystem"),
        ("file", "app.tar", "app.tar: no such directory: scan rootfs takes an unpacked root "
         "filesystem"),
        ("dir", "-root", "DIR '-root' starts with '-' and would read as an option to trivy: "
         "write ./-root"),
    ],
    ids=["missing", "file", "dash"],
)  # fmt: skip
def test_rootfs_needs_a_directory(
    tmp_path: Path, env: dict[str, str], make: str | None, typed: str, message: str
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    if make == "file":
        _write(tmp_path / typed, b"")
    elif make == "dir":
        (tmp_path / typed).mkdir()
    proc = run_scangate(
        ["scan", "rootfs", "--trivy", fake.path, "--cache-dir", "cache", "--", typed],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"scangate: error: {message}"
    assert fake.calls() == []


def test_rootfs_argv_is_trivy_rootfs_like_fs(tmp_path: Path, env: dict[str, str]) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    cache = scanning.write_db(tmp_path / "cache")
    (tmp_path / "-root").mkdir()
    proc = run_scangate(
        ["scan", "rootfs", "--trivy", fake.path, "--cache-dir", cache, "--offline",
         "--skip-dirs", "proc", "--skip-files", "etc/shadow", "./-root"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    argv = fake.argv()
    assert argv[0] == "rootfs"
    assert argv[-2:] == ["--", str(tmp_path / "-root")]
    assert flag_values(argv, "--scanners") == ["vuln,misconfig,secret"]
    assert flag_values(argv, "--skip-dirs") == ["proc"]
    assert flag_values(argv, "--skip-files") == ["etc/shadow"]
    for flag in ("--offline-scan", "--skip-check-update", "--skip-version-check",
                 "--secret-config"):  # fmt: skip
        assert flag in argv
    # One Trivy run: no inline-ignore or node_modules run over a root filesystem.
    assert len(fake.calls()) == 1


# --- what both share with fs and image ---------------------------------------------------------


def _target(tmp_path: Path, kind: str) -> list[str]:
    if kind == "sbom":
        _write(tmp_path / "app.cdx.json", '{"bomFormat": "CycloneDX", "specVersion": "1.6"}')
        return ["sbom", "app.cdx.json"]
    (tmp_path / "root").mkdir(exist_ok=True)
    return ["rootfs", "root"]


LABELS = {"sbom": "sbom app.cdx.json", "rootfs": "rootfs root"}


@pytest.mark.parametrize("kind", ["sbom", "rootfs"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_trivy_run_fails_closed(
    tmp_path: Path, env: dict[str, str], kind: str, fault: str
) -> None:
    step, messages = FAULTS[fault]
    fake = scanning.fake_trivy(tmp_path / "bin", step)
    command, typed = _target(tmp_path, kind)
    before = snapshot(tmp_path)
    proc = run_scangate(
        ["scan", command, typed, "--trivy", fake.path, "--cache-dir", tmp_path / "cache",
         "--json", "result.json", "--raw-report", "raw.json"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    text = error_text(proc.stderr)
    for message in messages:
        assert message.replace("fs repo", LABELS[kind]) in text
    assert proc.stdout == ""
    assert [p for p in snapshot(tmp_path) if p not in NOT_OUTPUTS] == before
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("kind", ["sbom", "rootfs"])
def test_only_allowlisted_trivy_variables_reach_trivy(
    tmp_path: Path, env: dict[str, str], kind: str
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    every = {"TRIVY_" + flag.upper().replace("-", "_"): "x" for flag in TRIVY_FLAGS}
    every["trivy_server"] = "http://127.0.0.1:1"
    proc = run_scangate(
        ["scan", *_target(tmp_path, kind), "--trivy", fake.path, "--cache-dir", "cache", "-q"],
        cwd=tmp_path,
        env={**env, **every},
    )
    assert proc.returncode == 0, proc.stderr
    [call] = fake.calls()
    assert call["env"] == dict.fromkeys(ALLOWED, "x")
    # Trivy runs in an empty directory: no trivy.yaml or .trivyignore beside it.
    assert call["cwd_entries"] == []


@pytest.mark.parametrize("kind", ["sbom", "rootfs"])
def test_offline_without_a_db_fails_before_trivy_runs(
    tmp_path: Path, env: dict[str, str], kind: str
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    proc = run_scangate(
        ["scan", *_target(tmp_path, kind), "--trivy", fake.path, "--cache-dir", "cache",
         "--offline", "--scanners", "vuln"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 3
    assert error_text(proc.stderr).startswith(
        f"scangate: error: --offline: no vulnerability DB in {tmp_path / 'cache' / 'db'}"
    )
    assert fake.calls() == []


@pytest.mark.parametrize("kind", ["sbom", "rootfs"])
def test_offline_db_obeys_max_db_age(tmp_path: Path, env: dict[str, str], kind: str) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    cache = scanning.write_db(tmp_path / "cache", age=timedelta(days=9))
    proc = run_scangate(
        ["scan", *_target(tmp_path, kind), "--trivy", fake.path, "--cache-dir", cache,
         "--offline", "--scanners", "vuln", "--max-db-age", "7"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "is 9 days old, more than --max-db-age 7 days" in error_text(proc.stderr)
    assert fake.calls() == []


@pytest.mark.parametrize(
    ("database", "expected"),
    [("lib/apk/db/installed", "lib/apk/db/installed"), ("var/lib/rpm/rpmdb.sqlite", None),
     (None, None)],
    ids=["alpine", "rpm-in-a-directory", "none"],
)  # fmt: skip
def test_os_packages_are_located_at_the_database_the_tree_has(
    tmp_path: Path, database: str | None, expected: str | None
) -> None:
    if database == "var/lib/rpm/rpmdb.sqlite":
        (tmp_path / database).mkdir(parents=True)  # not a file: not a database
    elif database is not None:
        _write(tmp_path / database, "P:musl\nV:1.2.4-r2\n")
    os_finding = Finding(Kind.VULNERABILITY, "CVE-1", Severity.HIGH, "root (alpine 3.19.1)")
    lang = Finding(Kind.VULNERABILITY, "CVE-2", Severity.HIGH, "usr/lib/app/package.json")
    run = ScanRun(Artifact(name="root", type="filesystem"), [os_finding, lang])
    locate_os_packages(run, tmp_path, "root")
    assert os_finding.location == (None if expected is None else Location(expected))
    assert lang.location is None
