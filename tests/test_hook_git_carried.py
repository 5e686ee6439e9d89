"""What a push carries besides the files of its commits, end to end: real `git push`es to a
bare remote through the hook `scangate hook install` wrote, with the real Trivy.

Each test pushes a token in one of the places the hook once let through (a path Trivy's
secret allow rules skip, a symlink's target, a commit or tag message, a tag naming a blob or
a tree, a commit hidden by a stale remote-tracking ref, a submodule) and checks that the push
is rejected, the remote is unchanged and the token itself is never printed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import gitrepo, table
from tests.support.gitrepo import Clone

README = "# demo\n\nA small project.\n"


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    """A work tree with scangate's hook installed and a clean `main` on its remote."""
    # A submodule's local remote needs the file protocol, which git refuses for submodules
    # unless allowed.
    env = gitrepo.git_env(
        tmp_path,
        {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "protocol.file.allow",
            "GIT_CONFIG_VALUE_0": "always",
        },
    )
    clone = gitrepo.hooked_clone(tmp_path, env)
    clone.commit("initial", {"README.md": README})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    return clone


def output(push: subprocess.CompletedProcess[str]) -> str:
    return push.stdout + push.stderr


def assert_rejected(
    clone: Clone, push: subprocess.CompletedProcess[str], before: dict[str, str], token: str
) -> str:
    text = output(push)
    assert push.returncode != 0 and "failed to push some refs" in push.stderr, text
    assert clone.remote_refs() == before
    assert token not in text
    return text


def test_tokens_in_paths_trivy_allows_are_rejected(clone: Clone, fake_github_token: str) -> None:
    before = clone.remote_refs()
    line = f'TOKEN = "{fake_github_token}"\n'
    paths = ["README.md", "docs/a.md", "tests/fixture.py", "examples/x.env", "vendor/lib.py"]
    clone.commit("fixtures", {path: line for path in paths})
    text = assert_rejected(clone, clone.push("origin", "main"), before, fake_github_token)
    for path in paths:
        assert table.shows(text, path, "github-pat"), path
    assert "FAIL: 5 findings: 5 failing (5 secrets)" in text


def test_the_policy_can_opt_back_into_trivys_allow_rules(
    clone: Clone, fake_github_token: str
) -> None:
    policy = "version: 1\nextends: pre-push\ntrivy-secret-allow-rules: true\n"
    clone.commit("docs", {".scangate.yaml": policy, "docs/a.md": f"`{fake_github_token}`\n"})
    push = clone.push("origin", "main")
    assert push.returncode == 0, output(push)
    assert "PASS: 0 findings" in output(push)


def test_a_symlink_whose_target_is_a_token_is_rejected(
    clone: Clone, fake_github_token: str
) -> None:
    before = clone.remote_refs()
    (clone.path / "config").mkdir()
    (clone.path / "config" / "current").symlink_to(fake_github_token)
    commit = clone.commit("link")
    text = assert_rejected(clone, clone.push("origin", "main"), before, fake_github_token)
    assert table.shows(text, "config/current", "github-pat")
    assert f"config/current as of pushed commit {commit[:12]} (a symlink" in text


def test_a_token_in_a_commit_message_is_rejected(clone: Clone, fake_github_token: str) -> None:
    before = clone.remote_refs()
    commit = clone.commit(f"debug\n\nused {fake_github_token} to test\n", {"a.py": "A = 1\n"})
    text = assert_rejected(clone, clone.push("origin", "main"), before, fake_github_token)
    assert table.shows(text, f"commit {commit[:12]} message", "github-pat")
    assert f"(`git cat-file commit {commit[:12]}` shows it)" in text


def test_a_token_in_an_annotated_tag_message_is_rejected(
    clone: Clone, fake_github_token: str
) -> None:
    # The tagged commit is on the remote already: only the tag object is new.
    clone.git("tag", "-a", "v1", "-m", f"release\n\ntoken {fake_github_token}\n")
    before = clone.remote_refs()
    text = assert_rejected(clone, clone.push("origin", "v1"), before, fake_github_token)
    assert table.shows(text, "tag v1 message", "github-pat")
    assert "0 pushed commits add or change 0 file versions; also scanning 1 tag" in text


@pytest.mark.parametrize("kind", ["blob", "tree"])
def test_a_tag_naming_a_blob_or_a_tree_is_scanned(
    clone: Clone, fake_github_token: str, kind: str
) -> None:
    line = f'T = "{fake_github_token}"\n'
    blob = clone.git("hash-object", "-w", "--stdin", input=line).strip()
    name = blob
    if kind == "tree":
        name = clone.git("mktree", input=f"100644 blob {blob}\tkeys.py\n").strip()
    clone.git("tag", "key", name)
    before = clone.remote_refs()
    text = assert_rejected(clone, clone.push("origin", "key"), before, fake_github_token)
    path = "refs/tags/key" if kind == "blob" else "refs/tags/key/keys.py"
    assert table.shows(text, path, "github-pat")
    assert "is not in this repository" not in text
    # Clean content under the same kind of tag passes.
    clean = clone.git("hash-object", "-w", "--stdin", input="X = 1\n").strip()
    clone.git("tag", "clean", clean)
    push = clone.push("origin", "clean")
    assert push.returncode == 0, output(push)


def test_a_stale_remote_tracking_ref_does_not_hide_commits(
    clone: Clone, fake_github_token: str
) -> None:
    base = clone.head()
    clone.commit("token", {"old.py": f'T = "{fake_github_token}"\n'})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    # The token is taken off the remote (a force push from elsewhere); this clone has not
    # fetched since, so origin/main still shows the token commit.
    gitrepo.git(["update-ref", "refs/heads/main", base], cwd=clone.remote, env=clone.env)
    clone.commit("more", {"new.py": "N = 1\n"})
    before = clone.remote_refs()
    assert before["refs/heads/main"] == base
    text = assert_rejected(clone, clone.push("origin", "main"), before, fake_github_token)
    assert table.shows(text, "old.py", "github-pat")
    assert "2 pushed commits" in text


def test_push_recurse_submodules_runs_the_hook_in_the_submodule(
    clone: Clone, fake_github_token: str, tmp_path: Path
) -> None:
    env = clone.env
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    seed = gitrepo.make_clone(seed_dir, env)
    lib_remote = seed.remote
    seed.commit("lib", {"lib.py": "L = 1\n"})
    assert seed.push("origin", "main").returncode == 0
    clone.git("submodule", "add", "-q", str(lib_remote), "lib")
    clone.commit("add lib")
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    # `hook install` (again, now that there is a submodule) covers the submodule too.
    done = gitrepo.run_scangate(["hook", "install"], cwd=clone.path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("installed ") == 2
    assert str(clone.path / ".git" / "modules" / "lib" / "hooks" / "pre-push") in done.stdout
    sub = Clone(clone.path / "lib", lib_remote, env)
    sub.git("checkout", "-q", "-B", "main")
    sub.commit("token", {"creds.py": f'T = "{fake_github_token}"\n'})
    clone.commit("bump lib")
    lib_before = gitrepo.git(["ls-remote", lib_remote], cwd=tmp_path, env=env).stdout
    before = clone.remote_refs()
    push = clone.push("--recurse-submodules=on-demand", "origin", "main")
    text = assert_rejected(clone, push, before, fake_github_token)
    assert table.shows(text, "creds.py", "github-pat")
    assert gitrepo.git(["ls-remote", lib_remote], cwd=tmp_path, env=env).stdout == lib_before
    # Uninstall removes both.
    done = gitrepo.run_scangate(["hook", "uninstall"], cwd=clone.path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("removed ") == 2


def test_pre_commit_hook_scans_staged_symlink_targets_and_allowed_paths(
    clone: Clone, fake_github_token: str
) -> None:
    (clone.path / "current").symlink_to(fake_github_token)
    clone.write({"docs/notes.md": f"`{fake_github_token}`\n"})
    clone.git("add", "current", "docs/notes.md")
    done = gitrepo.run_scangate(["hook", "pre-commit"], cwd=clone.path, env=clone.env)
    assert done.returncode == 1, done.stderr
    assert table.shows(done.stdout, "current", "github-pat")
    assert table.shows(done.stdout, "docs/notes.md", "github-pat")
    assert fake_github_token not in done.stdout + done.stderr


def test_a_token_as_a_ref_name_is_rejected(clone: Clone, fake_github_token: str) -> None:
    clone.git("tag", f"deploy-{fake_github_token}")
    before = clone.remote_refs()
    push = clone.push("origin", f"refs/tags/deploy-{fake_github_token}")
    assert push.returncode != 0 and "failed to push some refs" in push.stderr, output(push)
    assert clone.remote_refs() == before
    assert table.shows(output(push), "names of the pushed refs and files", "github-pat")
