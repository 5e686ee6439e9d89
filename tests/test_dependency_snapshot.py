"""--dependency-snapshot: GitHub's dependency submission format from the real Trivy's package
inventory (an npm lock file and a Cargo lock file with direct and transitive dependencies,
an image), checked against the request body schema of "Create a snapshot of dependencies
for a repository" (tests/data/github/dependency-snapshot.schema.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import responses

from tests.support import github_api, gitrepo, plan_fixtures
from tests.support.plan_fixtures import npm_entry
from tests.support.scanning import clean_env, run_scangate

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "github" / "dependency-snapshot.schema.json").read_text()
)
BIDI = "\u202e"
WEB = f"we{BIDI}b"


def validate(snapshot: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(snapshot)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", snapshot["scanned"])


def write_npm(directory: Path) -> Path:
    """Two versions of lodash (the direct 4.17.11 and 3.0.0 nested under `a`), a transitive
    minimist, a dev dependency, and a package whose name holds a bidi control."""
    directory.mkdir(parents=True, exist_ok=True)
    deps = {"a": "^1.0.0", "lodash": "4.17.11", f"ev{BIDI}il": "1.0.0"}
    manifest = {"name": "app", "version": "1.0.0", "dependencies": deps}
    manifest["devDependencies"] = {"jest": "1.0.0"}
    lock = {
        "name": "app",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {
            "": {**manifest},
            "node_modules/a": npm_entry("1.0.0", {"lodash": "^3.0.0", "minimist": "^1.2.0"}),
            "node_modules/a/node_modules/lodash": npm_entry("3.0.0"),
            "node_modules/lodash": npm_entry("4.17.11"),
            "node_modules/minimist": npm_entry("1.2.0"),
            f"node_modules/ev{BIDI}il": npm_entry("1.0.0"),
            "node_modules/jest": npm_entry("1.0.0", dev=True),
        },
    }
    (directory / "package.json").write_text(json.dumps(manifest))
    (directory / "package-lock.json").write_text(json.dumps(lock, indent=2))
    return directory


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plan_fixtures.write_scan_cache(tmp_path_factory.mktemp("snapshot-cache"))


def scan(
    args: list[str | Path], cwd: Path, cache: Path, tmp: Path, env: dict[str, str] | None = None
) -> Any:
    argv: list[str | Path] = [
        "scan",
        *args,
        "--scanners",
        "vuln",
        "--offline",
        "--cache-dir",
        cache,
        "-q",
    ]
    return run_scangate(argv, cwd=cwd, env={**clean_env(tmp), **(env or {})})


def checkout(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A git repository holding services/we<U+202E>b (npm: a hostile directory name) and
    services/rust (Cargo), committed."""
    env = gitrepo.git_env(tmp)
    repo = tmp / "repo"
    repo.mkdir()
    gitrepo.git(["init", "-q"], cwd=repo, env=env)
    write_npm(repo / "services" / WEB)
    plan_fixtures.write_cargo(repo / "services" / "rust")
    gitrepo.git(["add", "-A"], cwd=repo, env=env)
    gitrepo.git(["commit", "-q", "-m", "lock files"], cwd=repo, env=env)
    return repo, env


def purls(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resolved: dict[str, dict[str, Any]] = manifest["resolved"]
    assert all(key == dep["package_url"] for key, dep in resolved.items())
    return resolved


def test_snapshot_of_a_checkout_from_the_same_trivy_run(tmp_path: Path, cache: Path) -> None:
    repo, env = checkout(tmp_path)
    out = tmp_path / "snapshot.json"
    out.write_text("an older snapshot")
    done = scan(["fs", "services", "--dependency-snapshot", out], repo, cache, tmp_path, env)
    # lodash 4.17.11 has an advisory: the gate fails, and the snapshot is written all the same.
    assert done.returncode == 1, done.stderr
    raw = out.read_bytes()
    # JSON with the bidi control of a directory name escaped, never written raw.
    assert raw.isascii() and b"services/we\\u202eb/package-lock.json" in raw
    snapshot = json.loads(raw)
    validate(snapshot)

    head = gitrepo.git(["rev-parse", "HEAD"], cwd=repo, env=env).stdout.strip()
    assert (snapshot["sha"], snapshot["ref"]) == (head, "refs/heads/main")
    assert snapshot["version"] == 0
    assert snapshot["job"] == {"correlator": "scangate fs services", "id": "local"}
    assert snapshot["detector"]["name"] == "scangate"
    assert snapshot["metadata"] == {"trivy-version": "0.76.0"}
    # Manifests are the lock files, by their paths in the repository (not the scanned dir).
    web = snapshot["manifests"][f"services/{WEB}/package-lock.json"]
    assert web["file"] == {"source_location": f"services/{WEB}/package-lock.json"}
    rust = snapshot["manifests"]["services/rust/Cargo.lock"]
    assert rust["file"] == {"source_location": "services/rust/Cargo.lock"}
    assert set(snapshot["manifests"]) == {web["name"], rust["name"]}

    npm = purls(web)
    # Both lodash versions: keyed by package URL, the nested one does not hide the direct one.
    assert npm["pkg:npm/lodash@4.17.11"] == {
        "package_url": "pkg:npm/lodash@4.17.11",
        "relationship": "direct",
        "scope": "runtime",
    }
    assert npm["pkg:npm/lodash@3.0.0"]["relationship"] == "indirect"
    assert npm["pkg:npm/minimist@1.2.0"]["relationship"] == "indirect"
    assert npm["pkg:npm/a@1.0.0"]["dependencies"] == [
        "pkg:npm/lodash@3.0.0",
        "pkg:npm/minimist@1.2.0",
    ]
    evil = "pkg:npm/ev%E2%80%AEil@1.0.0"
    assert npm[evil]["relationship"] == "direct"
    # scangate does not ask Trivy for dev dependencies: none is submitted as runtime.
    assert not any("jest" in purl for purl in npm)
    assert set(npm) == {
        "pkg:npm/a@1.0.0",
        "pkg:npm/lodash@4.17.11",
        "pkg:npm/lodash@3.0.0",
        "pkg:npm/minimist@1.2.0",
        evil,
    }

    cargo = purls(rust)
    # The project's own root package is no dependency of itself.
    assert "pkg:cargo/app@0.1.0" not in cargo
    assert cargo["pkg:cargo/chrono@0.4.0"]["relationship"] == "direct"
    assert cargo["pkg:cargo/chrono@0.4.0"]["dependencies"] == ["pkg:cargo/time@0.2.20"]
    assert cargo["pkg:cargo/smallvec@1.6.0"]["relationship"] == "direct"
    assert cargo["pkg:cargo/time@0.2.20"]["relationship"] == "indirect"
    assert {d["scope"] for d in cargo.values()} == {"runtime"}


def test_github_variables_and_the_pull_requests_head(tmp_path: Path, cache: Path) -> None:
    project = write_npm(tmp_path / "project")  # not a git checkout: GitHub's variables serve
    out = tmp_path / "snapshot.json"
    github = {
        "GITHUB_SHA": "c" * 40,
        "GITHUB_REF": "refs/heads/release",
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_JOB": "scan",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": f"{github_api.OWNER}/{github_api.REPO}",
    }
    done = scan(["fs", ".", "--dependency-snapshot", out], project, cache, tmp_path, github)
    assert done.returncode == 1, done.stderr
    snapshot = json.loads(out.read_text())
    validate(snapshot)
    assert (snapshot["sha"], snapshot["ref"]) == ("c" * 40, "refs/heads/release")
    assert snapshot["job"] == {
        "correlator": "CI / scan / scangate fs .",
        "id": "4242",
        "html_url": f"https://github.com/{github_api.OWNER}/{github_api.REPO}/actions/runs/4242",
    }
    assert set(snapshot["manifests"]) == {"package-lock.json"}

    # A pull request: GITHUB_SHA is GitHub's merge commit; the snapshot is for the head.
    event = github_api.event(tmp_path / "event.json")
    pull = {**github, **github_api.env(event), "GITHUB_REF": "refs/pull/42/merge"}
    done = scan(["fs", ".", "--dependency-snapshot", out], project, cache, tmp_path, pull)
    assert done.returncode == 1, done.stderr
    snapshot = json.loads(out.read_text())
    assert (snapshot["sha"], snapshot["ref"]) == ("b" * 40, "refs/pull/42/merge")


def test_an_image_has_its_packages_and_no_file_in_the_repository(
    tmp_path: Path, cache: Path
) -> None:
    plan_fixtures.write_image(tmp_path / "img.tar")
    out = tmp_path / "snapshot.json"
    github = {"GITHUB_SHA": "d" * 40, "GITHUB_REF": "refs/tags/v1"}
    args: list[str | Path] = ["image", "--input", "img.tar", "--dependency-snapshot", out]
    done = scan(args, tmp_path, cache, tmp_path, github)
    assert done.returncode == 1, done.stderr
    snapshot = json.loads(out.read_text())
    validate(snapshot)
    assert snapshot["job"]["correlator"] == "scangate image img.tar"
    (name,) = snapshot["manifests"]
    assert name == "img.tar (debian 12.7)"  # the image as named, not the runner's path
    manifest = snapshot["manifests"][name]
    assert "file" not in manifest
    debs = purls(manifest)
    assert {p.split("?")[0] for p in debs} == {
        "pkg:deb/debian/base-files@12.4%2Bdeb12u7",
        "pkg:deb/debian/libfoo2@2.0-1",
        "pkg:deb/debian/bar@1.0-1",
    }
    # OS packages carry no relationship in Trivy's report: none is made up.
    assert all("relationship" not in d and d["scope"] == "runtime" for d in debs.values())


@pytest.mark.parametrize(
    ("setup", "env", "expected"),
    [
        ("plain", {}, "no commit SHA for the snapshot: set GITHUB_SHA and GITHUB_REF"),
        ("detached", {}, "no commit ref for the snapshot: set GITHUB_REF"),
        ("plain", {"GITHUB_SHA": "e" * 64, "GITHUB_REF": "refs/heads/main"}, "40-character"),
        ("plain", {"GITHUB_SHA": "e" * 40, "GITHUB_REF": "main"}, "not a full ref name"),
    ],
    ids=["no-git-no-env", "detached-head", "sha256-commit", "short-ref"],
)
def test_no_usable_commit_is_exit_2_before_trivy_runs(
    tmp_path: Path, cache: Path, setup: str, env: dict[str, str], expected: str
) -> None:
    project = write_npm(tmp_path / "project")
    if setup == "detached":
        genv = gitrepo.git_env(tmp_path)
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
            gitrepo.git(args, cwd=project, env=genv)
        gitrepo.git(["checkout", "-q", "--detach"], cwd=project, env=genv)
        env = {**genv, **env}
    out = tmp_path / "snapshot.json"
    out.write_text("kept")
    argv: list[str | Path] = ["fs", ".", "--dependency-snapshot", out]
    argv += ["--trivy", tmp_path / "no-such-trivy"]
    done = scan(argv, project, cache, tmp_path, env)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("scangate: error: --dependency-snapshot: ") and expected in line
    if setup == "detached":
        assert "HEAD is detached" in line
    assert out.read_text() == "kept"


# --- scangate snapshot submit: GitHub's REST API through `responses` ------------------------

SUBMIT_URL = github_api.snapshots_url()


@pytest.fixture(scope="module")
def snapshot_file(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot the real scan wrote (npm, with a bidi control in a package name)."""
    tmp = tmp_path_factory.mktemp("snapshot-file")
    project = write_npm(tmp / "project")
    out = tmp / "snapshot.json"
    github = {"GITHUB_SHA": "f" * 40, "GITHUB_REF": "refs/heads/main"}
    done = scan(["fs", ".", "--dependency-snapshot", out], project, cache, tmp, github)
    assert done.returncode == 1, done.stderr
    return out


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", github_api.token())
    monkeypatch.setenv("GITHUB_REPOSITORY", f"{github_api.OWNER}/{github_api.REPO}")
    monkeypatch.setenv("GITHUB_API_URL", github_api.API)


def submit(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from scangate.cli import run

    code = run(["snapshot", "submit", str(path)])
    out, err = capsys.readouterr()
    assert github_api.token() not in out + err
    return code, out, err


def answer(status: int, body: dict[str, Any]) -> responses.Response:
    return responses.Response(
        responses.POST, SUBMIT_URL, json=body, status=status, headers=github_api.headers()
    )


@pytest.mark.usefixtures("github")
def test_submit_posts_the_file_as_written_and_prints_the_result(
    hermetic: responses.RequestsMock, snapshot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hermetic.add(answer(201, github_api.snapshot_created()))
    code, out, err = submit(snapshot_file, capsys)
    assert code == 0, err
    assert out.strip() == (
        f"scangate: dependency snapshot 12345 submitted: SUCCESS: {github_api.SNAPSHOT_MESSAGE}"
    )
    (call,) = hermetic.calls
    request = call.request
    assert request.method == "POST" and request.url == SUBMIT_URL
    assert request.body == snapshot_file.read_bytes()  # the bytes reviewed are those sent
    validate(json.loads(request.body))
    assert request.headers["Authorization"] == f"Bearer {github_api.token()}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"


@pytest.mark.usefixtures("github")
def test_a_502_is_retried(
    hermetic: responses.RequestsMock, snapshot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hermetic.add(answer(502, github_api.error("Server Error", 502)))
    hermetic.add(answer(201, github_api.snapshot_created(777)))
    code, out, err = submit(snapshot_file, capsys)
    assert code == 0, err
    assert "dependency snapshot 777 submitted" in out
    assert [getattr(c.response, "status_code", None) for c in hermetic.calls] == [502, 201]


@pytest.mark.usefixtures("github")
@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (403, github_api.FORK_403, "permissions contents: write"),
        (404, "Not Found", "check GITHUB_REPOSITORY"),
    ],
)
def test_403_and_404_are_warnings_never_failures(
    hermetic: responses.RequestsMock,
    snapshot_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    message: str,
    hint: str,
) -> None:
    hermetic.add(answer(status, github_api.error(message, status)))
    code, out, err = submit(snapshot_file, capsys)
    assert code == 0 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("scangate: warning: dependency snapshot not submitted: POST ")
    assert f"HTTP {status} ({message})" in line and hint in line
    # In GitHub Actions: an annotation on the run's page.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    hermetic.add(answer(status, github_api.error(message, status)))
    code, out, err = submit(snapshot_file, capsys)
    assert code == 0
    assert err.startswith("::warning title=scangate::dependency snapshot not submitted")


@pytest.mark.usefixtures("github")
def test_a_refused_snapshot_or_a_failing_github_is_exit_3(
    hermetic: responses.RequestsMock, snapshot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hermetic.add(answer(422, github_api.error("Invalid request", 422)))
    code, _, err = submit(snapshot_file, capsys)
    assert code == 3
    assert "HTTP 422 (Invalid request): GitHub refused the snapshot" in err


@pytest.mark.usefixtures("github")
def test_githubs_words_are_escaped(
    hermetic: responses.RequestsMock, snapshot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = f"ok\n::error::pwned \x1b[31mred{BIDI} {github_api.token()}"
    hermetic.add(answer(201, github_api.snapshot_created(1, hostile)))
    code, out, _ = submit(snapshot_file, capsys)
    assert code == 0
    (line,) = out.splitlines()
    assert "\x1b" not in line and BIDI not in line and "\\n::error::pwned" in line


def test_what_is_not_a_snapshot_or_no_token_is_exit_2(
    tmp_path: Path,
    snapshot_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    not_one = tmp_path / "result.json"
    not_one.write_text('{"verdict": "pass"}')
    code, _, err = submit(not_one, capsys)
    assert code == 2 and "not a dependency snapshot (no version, sha, ref" in err
    code, _, err = submit(tmp_path / "missing.json", capsys)
    assert code == 2 and "no such file" in err
    # The file is fine; GitHub's variables are missing: nothing is sent.
    code, _, err = submit(snapshot_file, capsys)
    assert code == 2 and "no GITHUB_TOKEN" in err
