"""`scangate hook` end to end: `scangate hook install`, then real `git push`es to a bare
remote run the hook, which runs the real Trivy (offline, the test's own cache dir).

The decisions under test: a push is judged by what it introduces (every file version the
commits the remote lacks add or change), never by the working tree, and a finding of a hook
run is the finding `scangate scan fs` gives for the same file (same fingerprint).
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DOCKERFILE_WITHOUT_USER, settings_with_token
from tests.support import gitrepo, scanning, table
from tests.support.gitrepo import Clone

README = "# demo\n\nA small project.\n"
APP = 'def main() -> None:\n    print("hello")\n'
DOCKERFILE_WITH_USER = """\
FROM alpine:3.19
RUN apk add --no-cache curl
USER 10001
HEALTHCHECK CMD true
CMD ["sh"]
"""
ZERO = "0" * 40


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    """A work tree whose `origin` is an empty bare repo, with scangate's hook installed."""
    return gitrepo.hooked_clone(tmp_path, gitrepo.git_env(tmp_path))


def rejected(push: subprocess.CompletedProcess[str]) -> bool:
    return push.returncode != 0 and "failed to push some refs" in push.stderr


def output(push: subprocess.CompletedProcess[str]) -> str:
    """What the user sees: git passes the hook's stdout (the report) through on stdout and
    its stderr (progress, notes) on stderr."""
    return push.stdout + push.stderr


def pushed_main(clone: Clone) -> Clone:
    """`main` with README and app.py on the remote (pushed past the hook, to save time)."""
    clone.commit("initial", {"README.md": README, "app/main.py": APP})
    push = clone.push("--no-verify", "origin", "main")
    assert push.returncode == 0, output(push)
    return clone


def test_a_token_in_a_pushed_commit_is_rejected_and_the_remote_unchanged(
    clone: Clone, fake_github_token: str
) -> None:
    pushed_main(clone)
    before = clone.remote_refs()
    commit = clone.commit("settings", {"app/settings.py": settings_with_token(fake_github_token)})
    push = clone.push("origin", "main")
    assert rejected(push), output(push)
    assert clone.remote_refs() == before
    assert table.shows(
        output(push), "app/settings.py", "CRITICAL", "github-pat", "line 3", kind="secret"
    )
    assert "FAIL: 2 findings: 2 failing (2 secrets)" in output(push)
    assert "policy: built-in policy 'pre-push'" in output(push)
    assert f"app/settings.py as of pushed commit {commit[:12]}" in output(push)
    assert fake_github_token not in output(push)  # Trivy masks it


def test_a_clean_push_goes_through(clone: Clone) -> None:
    clone.commit("initial", {"README.md": README, "app/main.py": APP})
    push = clone.push("origin", "main")
    assert push.returncode == 0, output(push)
    assert "scangate: 1 pushed commit adds or changes 2 file versions" in output(push)
    assert "PASS: 0 findings" in output(push)
    assert clone.remote_refs()["refs/heads/main"] == clone.head()


def test_a_token_only_in_uncommitted_files_does_not_block(
    clone: Clone, fake_github_token: str
) -> None:
    pushed_main(clone)
    clone.commit("more", {"app/util.py": "X = 1\n"})
    clone.write(
        {
            "app/main.py": APP + f'TOKEN = "{fake_github_token}"\n',  # modified, not staged
            "local/secrets.py": f'TOKEN = "{fake_github_token}"\n',  # untracked
            "staged.py": f'TOKEN = "{fake_github_token}"\n',
        }
    )
    clone.git("add", "staged.py")  # staged but not committed
    push = clone.push("origin", "main")
    assert push.returncode == 0, output(push)
    assert "1 pushed commit adds or changes 1 file version" in output(push)


def test_a_token_committed_then_removed_is_still_caught(
    clone: Clone, fake_github_token: str
) -> None:
    pushed_main(clone)
    before = clone.remote_refs()
    added = clone.commit("oops", {"app/config.py": f'TOKEN = "{fake_github_token}"\n'})
    clone.git("rm", "-q", "app/config.py")
    clone.commit("remove the token")
    assert not (clone.path / "app" / "config.py").exists()
    push = clone.push("origin", "main")
    assert rejected(push), output(push)
    assert clone.remote_refs() == before
    assert table.shows(output(push), "app/config.py", "github-pat")
    assert f"app/config.py as of pushed commit {added[:12]}" in output(push)


def test_every_version_of_a_file_is_scanned(clone: Clone, fake_github_token: str) -> None:
    pushed_main(clone)
    clone.commit("v1", {"app/main.py": APP + "X = 1\n"})
    middle = clone.commit("v2", {"app/main.py": APP + f'TOKEN = "{fake_github_token}"\n'})
    clone.commit("v3", {"app/main.py": APP + "X = 3\n", "Dockerfile": DOCKERFILE_WITH_USER})
    push = clone.push("origin", "main")
    assert rejected(push), output(push)
    # Three versions of app/main.py: three sets, the secret scanner once per set.
    assert "3 pushed commits add or change 4 file versions" in output(push)
    assert "[3/3] finished" in output(push)
    assert f"app/main.py as of pushed commit {middle[:12]}" in output(push)
    assert "FAIL: 1 finding: 1 failing (1 secret)" in output(push)


def test_deleting_a_remote_branch_scans_nothing_and_passes(
    clone: Clone, fake_github_token: str
) -> None:
    pushed_main(clone)
    clone.git("checkout", "-q", "-b", "old")
    clone.commit("old work", {"notes.txt": "n\n"})
    assert clone.push("origin", "old").returncode == 0
    # A token on the local branch must not matter: a deletion sends no commit.
    clone.commit("token", {"t.py": f'T = "{fake_github_token}"\n'})
    push = clone.push("origin", "--delete", "old")
    assert push.returncode == 0, output(push)
    assert "scangate: nothing to scan: the push only deletes remote refs" in output(push)
    assert "refs/heads/old" not in clone.remote_refs()


def test_a_new_branch_brings_only_the_commits_the_remote_lacks(
    clone: Clone, fake_github_token: str
) -> None:
    # A token already on the remote's main (pushed past the hook) is not what a new branch
    # off main introduces: the push of the branch passes. Documented: "what the push
    # introduces", not "what the branch holds".
    clone.commit("initial", {"README.md": README})
    clone.commit("token", {"old.py": f'T = "{fake_github_token}"\n'})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    clone.git("checkout", "-q", "-b", "feature")
    clone.commit("feature", {"feature.py": "F = 1\n"})
    push = clone.push("origin", "feature")
    assert push.returncode == 0, output(push)
    assert "1 pushed commit adds or changes 1 file version" in output(push)


def test_a_new_branch_with_unpushed_commits_of_its_base_brings_them_too(
    clone: Clone, fake_github_token: str
) -> None:
    pushed_main(clone)
    clone.commit("token on main, not pushed", {"old.py": f'T = "{fake_github_token}"\n'})
    clone.git("checkout", "-q", "-b", "feature")
    clone.commit("feature", {"feature.py": "F = 1\n"})
    push = clone.push("origin", "feature")
    assert rejected(push), output(push)
    assert table.shows(output(push), "old.py", "github-pat")


def test_one_push_of_several_refs_checks_every_ref(clone: Clone, fake_github_token: str) -> None:
    pushed_main(clone)
    before = clone.remote_refs()
    clone.commit("clean main work", {"app/util.py": "X = 1\n"})
    clone.git("checkout", "-q", "-b", "feature", "HEAD~1")
    clone.commit("token", {"app/token.py": f'T = "{fake_github_token}"\n'})
    push = clone.push("origin", "main", "feature")
    assert rejected(push), output(push)
    assert table.shows(output(push), "app/token.py", "github-pat")
    assert clone.remote_refs() == before


def test_a_dockerfile_without_user_fails_as_a_misconfiguration(clone: Clone) -> None:
    pushed_main(clone)
    clone.commit("container", {"Dockerfile": DOCKERFILE_WITHOUT_USER})
    push = clone.push("origin", "main")
    assert rejected(push), output(push)
    assert table.shows(output(push), None, "HIGH", "DS-0002", kind="misconfiguration")
    assert "FAIL: 2 findings: 1 failing (1 misconfiguration)" in output(push)  # DS-0026 is LOW


def test_vulnerabilities_are_scanned_only_with_a_fresh_cached_db(clone: Clone) -> None:
    pushed_main(clone)
    clone.commit("deps", {"requirements.txt": "urllib3==1.22\n"})
    cache = Path(clone.env["SCANGATE_CACHE_DIR"])
    # No DB: misconfigurations and secrets only; the push goes through.
    no_db = gitrepo.run_scangate(
        ["hook", "pre-push"], cwd=clone.path, env=clone.env
    )  # by hand: HEAD's commits no remote-tracking ref reaches
    assert no_db.returncode == 0, no_db.stderr
    assert "PASS: 0 findings" in no_db.stdout
    # A stale DB is not used: a warning, and still no vulnerability scan.
    scanning.write_db(cache, age=timedelta(days=30))
    stale = gitrepo.run_scangate(["hook", "pre-push"], cwd=clone.path, env=clone.env)
    assert stale.returncode == 0, stale.stderr
    assert "is 30 days old (--max-db-age 7): not scanning for vulnerabilities" in stale.stderr
    # A fresh DB: urllib3 1.22's CRITICAL fixable advisory fails the pre-push policy.
    scanning.write_db(cache)
    push = clone.push("origin", "main")
    assert rejected(push), output(push)
    assert table.shows(output(push), None, "CRITICAL", kind="vulnerability")
    assert "urllib3" in output(push)


def test_the_project_policy_and_baseline_are_the_defaults(
    clone: Clone, fake_github_token: str
) -> None:
    pushed_main(clone)
    clone.commit("settings", {"app/settings.py": settings_with_token(fake_github_token)})
    # The team accepts this token: a baseline made by `scangate baseline create` of the work
    # tree. Its fingerprints must match the hook's findings for the pushed version.
    made = gitrepo.run_scangate(
        ["baseline", "create", "--scanners", "secret", "--offline"],
        cwd=clone.path,
        env=clone.env,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout == ".scangate-baseline.json: recorded 2 findings\n"
    push = clone.push("origin", "main")
    assert push.returncode == 0, output(push)
    assert "2 known" in output(push)
    # A project policy replaces the built-in pre-push one.
    policy = "version: 1\nextends: pre-push\nfail-on:\n  misconfiguration: LOW\n"
    (clone.path / ".scangate.yaml").write_text(policy)
    clone.commit("docker", {"Dockerfile": DOCKERFILE_WITHOUT_USER})
    push = clone.push("origin", "main")
    assert rejected(push), output(push)
    assert f"(policy: {clone.path / '.scangate.yaml'})" in output(push)
    # Below pre-push's HIGH.
    assert table.shows(output(push), None, "LOW", "DS-0026", kind="misconfiguration")


def hook_json(clone: Clone, stdin: str, *extra: str) -> dict[str, Any]:
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "origin", str(clone.remote), "--format", "json", *extra],
        cwd=clone.path,
        env=clone.env,
        input=stdin,
    )
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def scan_json(path: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--format", "json", "--offline", *extra], cwd=path, env=env
    )
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def identities(result: dict[str, Any]) -> set[tuple[str, str, str, Any]]:
    return {
        (f["id"], f["target"], f["fingerprint"], f["location"]["start_line"])
        for f in result["findings"]
    }


def test_findings_equal_those_of_scan_fs_for_each_pushed_version(
    clone: Clone, fake_github_token: str, tmp_path: Path
) -> None:
    # A top-level vendor/ directory: Trivy skips `/vendor/` only below the scanned root, so a
    # scan with layer prefixes would miss this token that `scan fs` reports.
    files = {
        "Dockerfile": DOCKERFILE_WITHOUT_USER,
        "app/settings.py": settings_with_token(fake_github_token),
        "vendor/lib/creds.py": f'T = "{fake_github_token}"\n',
    }
    first = clone.commit("one", files)
    second = clone.commit(
        "two",
        {
            "app/settings.py": "# moved\n" + settings_with_token(fake_github_token),
            "Dockerfile": DOCKERFILE_WITHOUT_USER + "EXPOSE 22\n",
        },
    )
    got = hook_json(clone, f"refs/heads/main {second} refs/heads/main {ZERO}\n")
    want: set[tuple[str, str, str, Any]] = set()
    for commit in (first, second):
        checkout = tmp_path / f"checkout-{commit[:7]}"
        gitrepo.git(
            ["worktree", "add", "-q", "--detach", checkout, commit], cwd=clone.path, env=clone.env
        )
        want |= identities(scan_json(checkout, clone.env, "--scanners", "misconfig,secret"))
    # The second version repeats findings of the first (same fingerprints): reported once, at
    # the first version's lines; what only the second version has is reported with its lines.
    by_fingerprint = {fp: (rid, target, line) for rid, target, fp, line in want}
    got_ids = identities(got)
    assert {fp for _, _, fp, _ in got_ids} == set(by_fingerprint)
    first_scan = identities(
        scan_json(tmp_path / f"checkout-{first[:7]}", clone.env, "--scanners", "misconfig,secret")
    )
    assert first_scan <= got_ids
    assert ("github-pat", "vendor/lib/creds.py") in {(r, t) for r, t, _, _ in got_ids}
    assert {f["artifact"] for f in got["findings"]} == {str(clone.path)}


def test_pre_commit_variables_stand_for_the_ref_lines(clone: Clone, fake_github_token: str) -> None:
    # pre-commit gives the hook an empty stdin and PRE_COMMIT_* variables instead.
    base = pushed_main(clone).head()
    clone.commit("token", {"app/token.py": f'T = "{fake_github_token}"\n'})
    tip = clone.commit("clean", {"app/util.py": "X = 1\n"})
    names = {
        "PRE_COMMIT": "1",
        "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main",
        "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main",
        "PRE_COMMIT_REMOTE_NAME": "origin",
        "PRE_COMMIT_REMOTE_URL": str(clone.remote),
    }
    ranged = {**clone.env, **names, "PRE_COMMIT_FROM_REF": base, "PRE_COMMIT_TO_REF": tip}
    done = gitrepo.run_scangate(["hook", "pre-push"], cwd=clone.path, env=ranged, input="")
    assert done.returncode == 1, done.stderr
    assert "2 pushed commits add or change 2 file versions" in done.stderr
    assert table.shows(done.stdout, "app/token.py", "github-pat")
    # The first push of a history: pre-commit sets no FROM/TO, only the branch names.
    clone.git("checkout", "-q", "--orphan", "fresh")
    clone.git("rm", "-q", "-r", "-f", ".")
    clone.commit("fresh start", {"new.py": "N = 1\n"})
    fresh = {**clone.env, **names, "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/fresh"}
    done = gitrepo.run_scangate(["hook", "pre-push"], cwd=clone.path, env=fresh, input="")
    assert done.returncode == 0, done.stderr
    assert "1 pushed commit adds or changes 1 file version" in done.stderr


def test_pre_commit_hook_gates_staged_secrets_only(clone: Clone, fake_github_token: str) -> None:
    pushed_main(clone)
    nothing = gitrepo.run_scangate(["hook", "pre-commit"], cwd=clone.path, env=clone.env)
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stderr == "scangate: nothing to scan: no staged file is added or changed\n"
    clone.write(
        {
            "Dockerfile": DOCKERFILE_WITHOUT_USER,  # a misconfiguration: not this hook's job
            "app/main.py": APP + f'TOKEN = "{fake_github_token}"\n',  # not staged
        }
    )
    clone.git("add", "Dockerfile")
    clean = gitrepo.run_scangate(["hook", "pre-commit"], cwd=clone.path, env=clone.env)
    assert clean.returncode == 0, clean.stderr
    assert "PASS: 0 findings" in clean.stdout
    clone.write({"app/token.py": f'T = "{fake_github_token}"\n'})
    clone.git("add", "app/token.py")
    caught = gitrepo.run_scangate(["hook", "pre-commit", "-q"], cwd=clone.path, env=clone.env)
    assert caught.returncode == 1
    assert caught.stdout.startswith("FAIL: 1 finding: 1 failing (1 secret)")
    assert caught.stderr == ""
