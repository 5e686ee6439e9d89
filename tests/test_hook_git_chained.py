"""A pre-push hook `scangate hook install --force` set aside keeps running: real `git push`es
to bare remotes through the installed hook, with the real Trivy.

The set-aside hook (here a stand-in that records its arguments and stdin; in practice often
Git LFS's, see test_hook_lfs.py) runs after scangate's gate passes, with the arguments and
ref lines git gave, and its exit status decides the push; when the gate fails it never runs.
The work trees have a space in their path, as the hook script must cope with one.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import settings_with_token
from tests.support import gitrepo, table
from tests.support.gitrepo import Clone

ZERO = "0" * 40
BACKUP = "pre-push.scangate-backup"


def recording_hook(path: Path, record: Path, *, status: int = 0) -> None:
    """Write a foreign hook at `path` that writes its arguments (one a line), then its stdin,
    to `record`, and exits `status`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f"record={shlex.quote(str(record))}\n"
        'printf \'%s\\n\' "$@" > "$record"\n'
        'printf -- "--\\n" >> "$record"\n'
        'cat >> "$record"\n'
        f"exit {status}\n"
    )
    path.chmod(0o755)


def output(push: subprocess.CompletedProcess[str]) -> str:
    return push.stdout + push.stderr


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    """A work tree (with a space in its path) whose own pre-push hook scangate set aside."""
    env = gitrepo.git_env(tmp_path)
    clone = gitrepo.make_clone(tmp_path, env, name="my work")
    recording_hook(clone.path / ".git" / "hooks" / "pre-push", tmp_path / "record")
    done = gitrepo.run_scangate(["hook", "install", "--force"], cwd=clone.path, env=env)
    assert done.returncode == 0, done.stderr
    hooks = clone.path / ".git" / "hooks"
    assert done.stdout == (
        f"saved the previous hook as {hooks / BACKUP}\n"
        f"installed {hooks / 'pre-push'}; it runs {BACKUP} after scangate's gate passes, "
        "with the same arguments and input\n"
    )
    return clone


def test_a_clean_push_runs_the_set_aside_hook_with_gits_arguments_and_input(
    clone: Clone, tmp_path: Path
) -> None:
    clone.commit("initial", {"README.md": "# demo\n"})
    clone.git("tag", "-a", "-m", "first release", "v1")
    push = clone.push("origin", "main", "v1")
    assert push.returncode == 0, output(push)
    assert "PASS: 0 findings" in output(push)
    tag = clone.head("v1")
    assert (tmp_path / "record").read_text() == (
        f"origin\n{clone.remote}\n--\n"
        f"refs/heads/main {clone.head()} refs/heads/main {ZERO}\n"
        f"refs/tags/v1 {tag} refs/tags/v1 {ZERO}\n"
    )
    refs = clone.remote_refs()
    assert refs["refs/heads/main"] == clone.head() and refs["refs/tags/v1"] == tag


def test_the_set_aside_hooks_failure_refuses_the_push(clone: Clone, tmp_path: Path) -> None:
    recording_hook(clone.path / ".git" / "hooks" / BACKUP, tmp_path / "record", status=1)
    clone.commit("initial", {"README.md": "# demo\n"})
    push = clone.push("origin", "main")
    assert push.returncode != 0 and "failed to push some refs" in push.stderr, output(push)
    assert "PASS: 0 findings" in output(push)  # scangate passed; the other hook said no
    assert (
        (tmp_path / "record")
        .read_text()
        .endswith(f"--\nrefs/heads/main {clone.head()} refs/heads/main {ZERO}\n")
    )
    assert clone.remote_refs() == {}


def test_a_push_scangate_refuses_never_runs_the_set_aside_hook(
    clone: Clone, tmp_path: Path, fake_github_token: str
) -> None:
    clone.commit("settings", {"settings.py": settings_with_token(fake_github_token)})
    push = clone.push("origin", "main")
    assert push.returncode != 0 and "failed to push some refs" in push.stderr, output(push)
    assert table.shows(output(push), "settings.py", "github-pat")
    assert not (tmp_path / "record").exists()
    assert clone.remote_refs() == {}


def test_uninstall_puts_the_set_aside_hook_back(clone: Clone) -> None:
    hooks = clone.path / ".git" / "hooks"
    done = gitrepo.run_scangate(["hook", "uninstall"], cwd=clone.path, env=clone.env)
    assert done.returncode == 0, done.stderr
    assert "exit 0\n" in (hooks / "pre-push").read_text()
    assert not (hooks / BACKUP).exists()


def test_a_submodules_set_aside_hook_is_chained_too(tmp_path: Path, fake_github_token: str) -> None:
    env = gitrepo.git_env(
        tmp_path,
        {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "protocol.file.allow",
            "GIT_CONFIG_VALUE_0": "always",
        },
    )
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    seed = gitrepo.make_clone(seed_dir, env)
    seed.commit("lib", {"lib.py": "L = 1\n"})
    assert seed.push("origin", "main").returncode == 0
    clone = gitrepo.make_clone(tmp_path, env, name="my work")
    clone.git("submodule", "add", "-q", str(seed.remote), "my lib")
    clone.commit("add lib")
    assert clone.push("origin", "main").returncode == 0
    sub_hooks = clone.path / ".git" / "modules" / "my lib" / "hooks"
    record = tmp_path / "sub record"
    recording_hook(sub_hooks / "pre-push", record)
    done = gitrepo.run_scangate(["hook", "install", "--force"], cwd=clone.path, env=env)
    assert done.returncode == 0, done.stderr
    assert f"saved the previous hook as {sub_hooks / BACKUP}\n" in done.stdout
    assert f"installed {sub_hooks / 'pre-push'}; it runs {BACKUP} after" in done.stdout
    assert f"installed {clone.path / '.git' / 'hooks' / 'pre-push'}\n" in done.stdout

    sub = Clone(clone.path / "my lib", seed.remote, env)
    sub.git("checkout", "-q", "-B", "main")
    old = sub.head()
    sub.commit("more", {"more.py": "M = 2\n"})
    clone.commit("bump lib")
    push = clone.push("--recurse-submodules=on-demand", "origin", "main")
    assert push.returncode == 0, output(push)
    assert record.read_text() == (
        f"origin\n{seed.remote}\n--\nrefs/heads/main {sub.head()} refs/heads/main {old}\n"
    )
    assert sub.remote_refs()["refs/heads/main"] == sub.head()

    record.unlink()
    sub.commit("token", {"creds.py": settings_with_token(fake_github_token)})
    clone.commit("bump lib again")
    before = sub.remote_refs()
    push = clone.push("--recurse-submodules=on-demand", "origin", "main")
    assert push.returncode != 0, output(push)
    assert table.shows(output(push), "creds.py", "github-pat")
    assert not record.exists()
    assert sub.remote_refs() == before
