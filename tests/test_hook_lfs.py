"""The hooks and Git LFS: a file git-lfs tracks is committed as a pointer, and git-lfs's own
pre-push uploads its content to the remote's LFS storage. The hooks scan that content, read
from the local LFS store and checked against the pointer, never the pointer alone.

Real repositories with the real git-lfs (its clean filter writes the pointer and the object)
and real `git push`es through the installed hook. A rejected push stops before git-lfs would
upload anything; a clean one runs git-lfs's own pre-push (set aside by `hook install
--force`, and chained), which uploads to a bare remote on a local path with git-lfs's
built-in file transfer, so no LFS server is needed.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from scangate.hook_lfs import POINTER_MAX, Pointer, parse_pointer
from tests.conftest import settings_with_token
from tests.support import gitrepo, table
from tests.support.gitrepo import Clone

pytestmark = pytest.mark.skipif(
    shutil.which("git-lfs") is None,
    reason="git-lfs is not installed (.ci/setup-system.sh installs it)",
)


def lfs_clone(tmp_path: Path, *, storage: str | None = None) -> Clone:
    """A clone with git-lfs's filters, `*.cfg` tracked, and scangate's pre-push hook (in
    front of git-lfs's, which `git lfs install` writes and the install sets aside)."""
    env = gitrepo.git_env(tmp_path)
    clone = gitrepo.make_clone(tmp_path, env)
    clone.git("lfs", "install", "--local")
    if storage is not None:
        clone.git("config", "lfs.storage", storage)
    clone.git("lfs", "track", "*.cfg")
    done = gitrepo.run_scangate(["hook", "install", "--force"], cwd=clone.path, env=env)
    assert done.returncode == 0, done.stderr
    return clone


def output(push: object) -> str:
    return f"{getattr(push, 'stdout', '')}{getattr(push, 'stderr', '')}"


def test_pointer_parsing_follows_the_spec() -> None:
    oid = hashlib.sha256(b"x").hexdigest()
    text = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 1\n".encode()
    assert parse_pointer(text) == Pointer(oid, 1)
    assert parse_pointer(text.replace(b"git-lfs.github.com", b"hawser.github.com")) is not None
    assert parse_pointer(b"# version https://git-lfs.github.com/spec/v1\n" + text) is None
    assert parse_pointer(text.replace(b"sha256:", b"sha1:")) is None
    assert parse_pointer(text.replace(oid.encode(), b"../" * 21 + b"x")) is None
    assert parse_pointer(text + b"x" * POINTER_MAX) is None  # content, however it starts


@pytest.mark.parametrize("storage", [None, "../lfs-elsewhere"], ids=["lfs-dir", "lfs.storage"])
def test_a_token_in_a_git_lfs_file_is_rejected_and_the_remote_unchanged(
    tmp_path: Path, fake_github_token: str, storage: str | None
) -> None:
    """Regression: the hook scanned the pointer only, passed, and git-lfs uploaded the
    token to the remote's LFS storage."""
    clone = lfs_clone(tmp_path, storage=storage)
    clone.commit("initial", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    before = clone.remote_refs()
    commit = clone.commit("config", {"prod.cfg": settings_with_token(fake_github_token)})
    assert clone.git("show", f"{commit}:prod.cfg").startswith("version https://git-lfs")
    if storage is not None:
        assert list((clone.path / ".git" / storage / "objects").rglob("*"))
    push = clone.push("origin", "main")
    assert push.returncode != 0, output(push)
    assert clone.remote_refs() == before
    assert table.shows(push.stdout, "prod.cfg", "CRITICAL", "github-pat", "line 3", kind="secret")
    assert "(1 Git LFS file scanned as their content)" in push.stderr
    assert f"prod.cfg as of pushed commit {commit[:12]} (a Git LFS file: " in push.stderr
    assert fake_github_token not in output(push)


def test_the_pre_commit_hook_scans_a_staged_git_lfs_file(
    tmp_path: Path, fake_github_token: str
) -> None:
    clone = lfs_clone(tmp_path)
    clone.write({"prod.cfg": settings_with_token(fake_github_token)})
    clone.git("add", "prod.cfg")
    done = gitrepo.run_scangate(["hook", "pre-commit"], cwd=clone.path, env=clone.env)
    assert done.returncode == 1, done.stderr
    assert table.shows(done.stdout, "prod.cfg", "github-pat", "line 3")


def _object(clone: Clone, name: str) -> Path:
    pointer = parse_pointer(clone.git("show", f"HEAD:{name}").encode())
    assert pointer is not None
    oid = pointer.oid
    return clone.path / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def test_an_lfs_object_missing_here_is_a_note_and_the_pointer_is_scanned(
    tmp_path: Path, fake_github_token: str
) -> None:
    clone = lfs_clone(tmp_path)
    clone.commit("config", {"prod.cfg": settings_with_token(fake_github_token)})
    _object(clone, "prod.cfg").unlink()
    push = clone.push("origin", "main")
    warning = (
        "scangate: warning: prod.cfg: a Git LFS pointer to sha256:"
        f"{_oid_prefix(clone)}, whose object is not in "
    )
    assert warning in push.stderr, output(push)
    assert "only the pointer was scanned" in push.stderr


def _oid_prefix(clone: Clone) -> str:
    return _object(clone, "prod.cfg").name[:12]


def test_a_damaged_lfs_object_fails_the_push_closed(tmp_path: Path, fake_github_token: str) -> None:
    clone = lfs_clone(tmp_path)
    clone.commit("config", {"prod.cfg": settings_with_token(fake_github_token)})
    stored = _object(clone, "prod.cfg")
    stored.chmod(0o644)
    stored.write_text("harmless now\n")
    push = clone.push("origin", "main")
    assert push.returncode != 0 and clone.remote_refs() == {}
    assert "prod.cfg: the Git LFS object " in push.stderr, output(push)
    assert "does not match its pointer" in push.stderr and "Traceback" not in push.stderr


def test_a_clean_push_still_runs_git_lfs_and_uploads_the_objects(tmp_path: Path) -> None:
    """Regression: `hook install --force` set git-lfs's pre-push aside and never ran it, so
    a push sent the pointers and the remote never got the content."""
    clone = lfs_clone(tmp_path)
    backup = clone.path / ".git" / "hooks" / "pre-push.scangate-backup"
    assert 'git lfs pre-push "$@"' in backup.read_text()
    clone.commit("config", {"prod.cfg": "debug = false\n"})
    stored = _object(clone, "prod.cfg")
    push = gitrepo.git(
        ["push", "origin", "main"],
        cwd=clone.path,
        env={**clone.env, "GIT_TRACE": "1"},
        check=False,
        timeout=300.0,
    )
    assert push.returncode == 0, output(push)
    assert "PASS: 0 findings" in push.stdout
    assert "git-lfs pre-push origin " in push.stderr
    oid = stored.name
    uploaded = clone.remote / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    assert uploaded.read_bytes() == b"debug = false\n"
    assert clone.remote_refs()["refs/heads/main"] == clone.head()
