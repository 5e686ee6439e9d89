"""`scan fs --diff-base REF` end to end: real git repositories, the real Trivy, an offline DB.

Each test builds a repository whose `main` holds the base, branches off it and changes what
the pull request would change, then runs the `scangate` console script in the work tree. The
Trivy binary is a small wrapper that logs every call before running the real one, so a test
can count the scans (a cached base is not scanned again) and read their arguments (the base
scan never updates the DB).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepo, scanning, trivydb
from tests.support.gitrepo import Clone

REAL_TRIVY = scanning.VENV_BIN / "trivy"
DOCKERFILE = scanning.DOCKERFILE  # no USER: DS-0002 (HIGH) fails, DS-0026 (LOW) does not
SCANNERS = "vuln,misconfig,secret"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = gitrepo.git_env(tmp_path)
    scanning.write_db(Path(env["SCANGATE_CACHE_DIR"]))
    scanning.logging_trivy(tmp_path, env)
    return env


def repo(tmp_path: Path, env: dict[str, str], files: dict[str, str]) -> Clone:
    """A work tree whose `main` holds `files`, checked out on a new branch `pr`."""
    clone = gitrepo.make_clone(tmp_path, env)
    clone.commit("base", files)
    clone.git("checkout", "-q", "-b", "pr")
    return clone


def scans(tmp_path: Path) -> list[str]:
    """The `trivy fs` calls logged so far (not `version`)."""
    return scanning.trivy_calls(tmp_path, "fs")


def gate(
    clone: Clone, *args: str, ref: str | None = "main"
) -> tuple[int, dict[str, Any] | None, str, str]:
    """`scangate scan fs . --diff-base REF ARGS --json out`: exit code, JSON, stdout, stderr."""
    out = clone.path.parent / "result.json"
    out.unlink(missing_ok=True)
    diff = ["--diff-base", ref] if ref is not None else []
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", *diff, "--scanners", SCANNERS, "--json", out, *args],
        cwd=clone.path,
        env=clone.env,
    )
    result = json.loads(out.read_text()) if out.exists() else None
    return done.returncode, result, done.stdout, done.stderr


def decisions(result: dict[str, Any]) -> dict[str, str]:
    """Finding ID (with the file for secrets) -> decision."""
    out = {}
    for f in result["findings"]:
        key = f"{f['id']}@{f['target']}" if f["kind"] == "secret" else f["id"]
        out[key] = f["decision"]
    return out


def test_pr_adding_a_package_and_a_dockerfile_fails_only_on_what_it_adds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    base = clone.head("main")
    clone.commit(
        "add yaml and a Dockerfile",
        {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n", "Dockerfile": DOCKERFILE},
    )
    code, result, stdout, stderr = gate(clone)
    assert code == 1, stderr
    assert result is not None
    got = decisions(result)
    assert got[trivydb.REQUESTS_CVE] == "pre-existing"
    assert got[trivydb.PYYAML_CVE] == "fail"
    assert got["DS-0002"] == "fail"
    assert got["DS-0026"] == "below-threshold"
    reasons = {f["id"]: f["reason"] for f in result["findings"]}
    assert reasons[trivydb.REQUESTS_CVE] == f"present at {base[:12]}"
    assert result["diff"] == {
        "base": base,
        "ref": "main",
        "new": 3,  # PyYAML's CVE, DS-0002, DS-0026
        "pre_existing": 1,
        "fixed": [],
    }
    assert result["summary"]["by_decision"]["pre-existing"] == 1
    assert result["summary"]["failing"] == 2
    verdict = stdout.strip().splitlines()[-1]
    assert verdict.startswith("FAIL: 4 findings: 2 failing")
    assert f"vs {base[:12]}: 3 new, 1 pre-existing, 0 fixed" in verdict
    # The user's work tree is untouched: still on the branch, nothing left behind.
    assert clone.git("status", "--porcelain") == ""
    assert clone.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "pr"
    assert not list((tmp_path / "tmp").iterdir())


def test_pr_rebased_onto_the_same_vulnerable_base_passes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    clone.commit("docs", {"NOTES.md": "Nothing to see.\n"})
    code, result, _, stderr = gate(clone)
    assert code == 0, stderr
    assert result is not None
    assert decisions(result)[trivydb.REQUESTS_CVE] == "pre-existing"
    assert result["diff"]["new"] == 0
    assert result["diff"]["pre_existing"] == 1
    assert result["verdict"] == "pass"
    # The same tree without --diff-base fails: the pass comes from the base alone.
    code, _, _, _ = gate(clone, ref=None)
    assert code == 1


def test_pr_upgrading_the_package_lists_it_as_fixed(tmp_path: Path, env: dict[str, str]) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    clone.commit("upgrade", {"requirements.txt": "requests==2.20.0\n"})
    code, result, stdout, stderr = gate(clone)
    assert code == 0, stderr
    assert result is not None
    (fixed,) = result["diff"]["fixed"]
    assert fixed["id"] == trivydb.REQUESTS_CVE
    assert fixed["kind"] == "vulnerability"
    assert fixed["severity"] == "HIGH"
    assert fixed["target"] == "requirements.txt"
    assert fixed["package"] == "requests"
    assert len(fixed["fingerprint"]) == 32
    assert set(fixed) == {"kind", "id", "severity", "target", "package", "fingerprint"}
    # The table lists it after the rest, in its own group.
    assert "fixed since " in stdout
    assert trivydb.REQUESTS_CVE in stdout.split("fixed since ", 1)[1]
    assert "0 new, 0 pre-existing, 1 fixed" in stdout


def test_a_rotated_token_is_new_and_an_unchanged_one_pre_existing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    old = scanning.fake_token()
    rotated = "ghp" + "_" + "Z9y8" * 9
    settings = '"""Settings."""\n\nGITHUB_TOKEN = "{}"\n'
    clone = repo(
        tmp_path,
        env,
        {"app/settings.py": settings.format(old), "app/other.py": settings.format(old)},
    )
    clone.commit("rotate", {"app/settings.py": settings.format(rotated)})
    code, result, _, stderr = gate(clone)
    assert code == 1, stderr
    assert result is not None
    got = decisions(result)
    assert got["github-pat@app/settings.py"] == "fail"
    assert got["github-pat@app/other.py"] == "pre-existing"
    assert result["diff"]["new"] == 1
    # The old token is gone from settings.py: fixed, by its own fingerprint.
    assert [f["target"] for f in result["diff"]["fixed"]] == ["app/settings.py"]
    assert old not in json.dumps(result) and rotated not in json.dumps(result)


def test_a_shallow_clone_without_the_base_commit_is_exit_2_with_the_fetch_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    base = clone.head("main")
    clone.commit("one", {"a.txt": "1\n"})
    clone.commit("two", {"b.txt": "2\n"})
    clone.git("push", "-q", "origin", "main", "pr")
    shallow = tmp_path / "shallow"
    gitrepo.git(
        ["clone", "-q", "--depth=1", "--branch", "pr", f"file://{clone.remote}", shallow],
        cwd=tmp_path,
        env=env,
    )
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--diff-base", base, "--scanners", SCANNERS], cwd=shallow, env=env
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"git fetch --depth=1 origin {base}" in lines[0]
    assert "fetch-depth: 0" in lines[0]
    assert not scans(tmp_path)  # refused before Trivy ran
    assert done.stdout == ""


def test_the_base_is_scanned_with_the_db_the_head_used(tmp_path: Path, env: dict[str, str]) -> None:
    """An advisory added to the DB between two runs, for a package at the base and at head:
    pre-existing (the base scan ran again, with that DB), not new."""
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\ncertifi==2024.2.2\n"})
    clone.commit("add yaml", {"requirements.txt": "requests==2.19.0\ncertifi==2024.2.2\n"
                              "PyYAML==5.3\n"})  # fmt: skip
    code, result, _, stderr = gate(clone)
    assert code == 1, stderr
    assert result is not None
    assert "CVE-2099-0001" not in decisions(result)
    assert len(scans(tmp_path)) == 2

    _db_with_overnight_advisory(Path(env["SCANGATE_CACHE_DIR"]))
    code, result, _, stderr = gate(clone)
    assert code == 1, stderr
    assert result is not None
    got = decisions(result)
    assert got["CVE-2099-0001"] == "pre-existing"
    assert got[trivydb.PYYAML_CVE] == "fail"
    assert result["diff"]["new"] == 1
    # A new DB is a new cache key: the base was scanned again (4 scans in all), and never
    # with a DB update of its own.
    logged = scans(tmp_path)
    assert len(logged) == 4
    base_scans = [line for line in logged if "scangate-base-" in line]
    assert len(base_scans) == 2
    assert all("--skip-db-update" in line and "--skip-check-update" in line for line in base_scans)


def test_a_db_the_head_scan_updates_is_the_one_the_base_is_judged_by(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The base is scanned alongside the head, from the DB as it was before the head scan:
    when the head scan replaces the DB (here the Trivy wrapper does, as a download would), that
    base scan is dropped and the base scanned again with the head's DB."""
    clone = repo(tmp_path, env, {"requirements.txt": "certifi==2024.2.2\n"})
    clone.commit("add yaml", {"requirements.txt": "certifi==2024.2.2\nPyYAML==5.3\n"})
    cache = Path(env["SCANGATE_CACHE_DIR"])
    newer = tmp_path / "newer"
    _db_with_overnight_advisory(newer)
    wrapper = Path(env["SCANGATE_TRIVY"])
    log = tmp_path / "trivy.log"
    # The first scan that is not of the base (the head's) swaps the newer DB in first.
    wrapper.write_text(
        f"""#!/bin/sh
printf "%s\\n" "$*" >> "{log}"
case "$*" in
  *scangate-base-*) ;;
  "fs "*) if [ -d "{newer}" ]; then
      cp "{newer}/db/trivy.db" "{cache}/db/.new" && mv "{cache}/db/.new" "{cache}/db/trivy.db"
      cp "{newer}/db/metadata.json" "{cache}/db/metadata.json" && rm -r "{newer}"
    fi ;;
esac
exec "{REAL_TRIVY}" "$@"
"""
    )
    code, result, _, stderr = gate(clone)
    assert code == 1, stderr
    assert result is not None
    got = decisions(result)
    assert got["CVE-2099-0001"] == "pre-existing"
    assert got[trivydb.PYYAML_CVE] == "fail"
    # The head, the base alongside it (dropped), the base again.
    logged = scans(tmp_path)
    assert len(logged) == 3
    assert sum("scangate-base-" in line for line in logged) == 2


def _db_with_overnight_advisory(cache: Path) -> None:
    """The default DB plus CVE-2099-0001 (certifi, CRITICAL), with a newer UpdatedAt."""
    advisory = trivydb.Vulnerability("CVE-2099-0001", "CRITICAL", "certifi: published overnight")
    trivydb.write_trivy_db(
        cache,
        [*trivydb.DEFAULT_VULNERABILITIES, advisory],
        [
            *trivydb.DEFAULT_LANG_ADVISORIES,
            trivydb.LanguageAdvisory("CVE-2099-0001", "pip", "certifi", ("< 2099.1.1",)),
        ],
        trivydb.DEFAULT_OS_ADVISORIES,
    )
    now = datetime.now(UTC) + timedelta(seconds=1)
    (cache / "db" / "metadata.json").write_text(
        json.dumps(
            {
                "Version": trivydb.DB_SCHEMA_VERSION,
                "NextUpdate": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "UpdatedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "DownloadedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    )


def test_baseline_and_diff_base_are_separate_decisions(tmp_path: Path, env: dict[str, str]) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    baseline = tmp_path / "baseline.json"
    done = gitrepo.run_scangate(
        ["baseline", "create", ".", "--output", baseline, "--scanners", "vuln"],
        cwd=clone.path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    clone.git("checkout", "-q", "main")
    clone.commit("yaml on main", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    clone.git("checkout", "-q", "-B", "pr")
    clone.commit("cors", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\nFlask_Cors==3.0.8\n"})
    code, result, _, stderr = gate(clone, "--baseline", str(baseline))
    assert code == 1, stderr
    assert result is not None
    got = decisions(result)
    assert got[trivydb.REQUESTS_CVE] == "known"  # the baseline decides first
    assert got[trivydb.PYYAML_CVE] == "pre-existing"
    assert got[trivydb.FLASK_CORS_CVE] == "fail"
    assert result["summary"]["known"] == 1
    assert result["diff"]["pre_existing"] == 1
    assert result["diff"]["new"] == 1


def test_a_second_run_takes_the_base_from_the_cache(tmp_path: Path, env: dict[str, str]) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n", ".trivyignore": ""})
    clone.commit("add yaml", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    first = gate(clone)
    assert first[0] == 1, first[3]
    assert len(scans(tmp_path)) == 2
    second = gate(clone)
    assert second[0] == 1, second[3]
    assert len(scans(tmp_path)) == 3  # the head only
    assert first[1] is not None and second[1] is not None
    assert decisions(second[1]) == decisions(first[1])
    assert second[1]["diff"] == first[1]["diff"]
    assert not list((tmp_path / "tmp").iterdir())


def test_the_vex_documents_are_part_of_the_cache_key(tmp_path: Path, env: dict[str, str]) -> None:
    """The base is scanned with the --vex files (Trivy moves what they suppress to its
    modified findings): a base cached with other VEX contents, at the same path, is not used."""
    from tests.test_vex import openvex, statement

    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n", ".trivyignore": ""})
    clone.commit("add yaml", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    vex = tmp_path / "vex.json"

    def write_vex(status: str, **extra: str) -> None:
        doc = openvex(statement(trivydb.REQUESTS_CVE, "pkg:pypi/requests", status, **extra))
        vex.write_text(json.dumps(doc))

    write_vex("fixed")
    first = gate(clone, "--vex", str(vex))
    assert first[0] == 1, first[3]
    assert len(scans(tmp_path)) == 2
    assert first[1] is not None and decisions(first[1])[trivydb.REQUESTS_CVE] == "allowed"
    assert gate(clone, "--vex", str(vex))[0] == 1
    assert len(scans(tmp_path)) == 3  # the head only: the same VEX bytes, a cache hit
    write_vex("under_investigation")
    third = gate(clone, "--vex", str(vex))
    assert third[0] == 1, third[3]
    assert len(scans(tmp_path)) == 5  # other VEX bytes: the base scanned again
    assert third[1] is not None and decisions(third[1])[trivydb.REQUESTS_CVE] == "pre-existing"
    assert len(list((Path(env["SCANGATE_CACHE_DIR"]) / "diff-base").glob("*.json"))) == 2
    assert gate(clone)[0] == 1
    assert len(scans(tmp_path)) == 7  # no VEX: a key of its own


def test_a_corrupt_cache_file_is_scanned_again(tmp_path: Path, env: dict[str, str]) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    clone.commit("add yaml", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    first = gate(clone)
    assert first[0] == 1, first[3]
    cached = list((Path(env["SCANGATE_CACHE_DIR"]) / "diff-base").glob("*.json"))
    assert len(cached) == 1
    # Valid JSON claiming the base had PyYAML's CVE too: not of the cache's schema.
    cached[0].write_text('{"findings": [], "schema": "x"')
    second = gate(clone)
    assert second[0] == 1, second[3]
    assert len(scans(tmp_path)) == 4  # head and base, twice
    assert second[1] is not None and first[1] is not None
    assert decisions(second[1]) == decisions(first[1])
    assert json.loads(cached[0].read_text())["schema"] == "scangate/diff-base-cache/v1"


@pytest.mark.parametrize(
    "ref",
    ["--output=/tmp/x", "main\x1b[31m", "main\n::error::x", "", "nosuchbranch"],
    ids=["option", "escape", "newline", "empty", "unknown"],
)
def test_a_hostile_or_unknown_ref_is_refused_before_trivy_runs(
    tmp_path: Path, env: dict[str, str], ref: str
) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    code, result, stdout, stderr = gate(clone, ref=ref)
    assert code == 2
    assert result is None
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "--diff-base" in stderr
    assert "\x1b" not in stderr
    assert not any(line.startswith("::") for line in stderr.splitlines())
    assert not scans(tmp_path)


def test_diff_base_outside_a_git_work_tree_is_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    plain_dir = tmp_path / "plain"
    trivydb.write_vulnerable_project(plain_dir)
    done = gitrepo.run_scangate(["scan", "fs", ".", "--diff-base", "main"], cwd=plain_dir, env=env)
    assert done.returncode == 2
    assert "not inside a git work tree" in done.stderr
    assert not scans(tmp_path)


def test_env_var_sets_the_base_and_sarif_marks_baseline_state(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    clone.commit("add yaml", {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    sarif = tmp_path / "out.sarif"
    markdown = tmp_path / "out.md"
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--scanners", "vuln", "--sarif", sarif, "--markdown", markdown],
        cwd=clone.path,
        env={**env, "SCANGATE_DIFF_BASE": "main", "GITHUB_ACTIONS": "true"},
    )
    assert done.returncode == 1, done.stderr
    from tests.test_sarif import check  # the SARIF 2.1.0 schema and GitHub's limits

    results = check(sarif.read_text())["runs"][0]["results"]
    states = {r["ruleId"]: (r.get("baselineState"), r["properties"]["decision"]) for r in results}
    assert states[trivydb.REQUESTS_CVE] == ("unchanged", "pre-existing")
    assert states[trivydb.PYYAML_CVE] == ("new", "fail")
    text = markdown.read_text()
    assert "### New failing findings (1)" in text
    assert "### Pre-existing findings (1, present at " in text
    # Only the new finding is annotated as an error.
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and trivydb.PYYAML_CVE in errors[0]


def test_without_diff_base_the_json_result_has_no_diff_and_no_new_decision(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"requirements.txt": "requests==2.19.0\n"})
    code, result, _, stderr = gate(clone, ref=None)
    assert code == 1, stderr
    assert result is not None
    assert "diff" not in result
    assert "pre-existing" not in result["summary"]["by_decision"]


def test_the_review_of_a_cached_base_reads_the_same_files_as_a_full_one(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the base scan cached only the files the suppression review reads are written
    out (`_review_cached`): its rows are those of a review of the whole base tree."""
    from datetime import date

    from scangate import diff_base
    from scangate.cli import _diff_review
    from scangate.cli._gate_step import GateArgs
    from scangate.trivy_run import Target

    policy = "extends: policies/shared.yaml\nallow:\n  - id: CVE-2018-18074\n    reason: old\n"
    shared = "allow:\n  - id: CVE-2020-1747\n    reason: shared\n    expires: 2030-01-01\n"
    tf = 'resource "aws_s3_bucket" "b" {\n  #trivy:ignore:AVD-AWS-0086\n  bucket = "x"\n}\n'
    clone = repo(
        tmp_path,
        env,
        {
            ".scangate.yaml": policy,
            "policies/shared.yaml": shared,
            ".trivyignore": "CVE-2019-10744\n",
            "infra/main.tf": tf,
            "src/app.py": "print('hello')\n",
        },
    )
    clone.commit(
        "widen",
        {
            "policies/shared.yaml": shared.replace("2030-01-01", "2031-01-01"),
            ".trivyignore": "CVE-2019-10744\nCVE-2020-25032\n",
            "infra/main.tf": tf.replace("AVD-AWS-0086", "*"),
        },
    )
    for name in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.chdir(clone.path)
    target = Target("fs", str(clone.path), name=".")
    base = diff_base.resolve(clone.path, "main", env=os.environ)
    args = GateArgs()
    day = date(2026, 6, 1)
    with diff_base.written(base, env=os.environ) as written:
        full = _diff_review.review(written.path, target, args, day)
    cached = _diff_review.review_cached(base, target, args, day)
    assert cached == full
    changed = {(row.kind.value, row.id) for row in full.rows}
    assert changed == {
        (".trivyignore", "CVE-2020-25032"),  # added
        ("allow entry", "CVE-2020-1747"),  # extended, in the file the policy extends
        ("inline comment", "AVD-AWS-0086"),  # removed
        ("inline comment", "*"),  # added
    }


def test_one_file_is_compared_with_its_version_at_the_base(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"app/requirements.txt": "requests==2.19.0\n"})
    clone.commit("yaml", {"app/requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"})
    out = tmp_path / "one.json"
    done = gitrepo.run_scangate(
        ["scan", "fs", "app/requirements.txt", "--diff-base", "main", "--json", out],
        cwd=clone.path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(out.read_text())
    got = decisions(result)
    assert got == {trivydb.REQUESTS_CVE: "pre-existing", trivydb.PYYAML_CVE: "fail"}
    assert {f["target"] for f in result["findings"]} == {"requirements.txt"}


def test_a_directory_the_base_lacks_is_all_new_and_said_so(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"README.md": "base\n"})
    clone.commit("service", {"svc/requirements.txt": "requests==2.19.0\n"})
    out = tmp_path / "svc.json"
    done = gitrepo.run_scangate(
        ["scan", "fs", "svc", "--diff-base", "main", "--json", out], cwd=clone.path, env=env
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(out.read_text())
    assert decisions(result) == {trivydb.REQUESTS_CVE: "fail"}
    assert result["diff"]["new"] == 1
    assert "warning: --diff-base" in done.stderr and "svc is not in" in done.stderr
