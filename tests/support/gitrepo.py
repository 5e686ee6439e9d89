"""Real git repositories for the hook tests: a work tree, a bare remote, commits, pushes.

Every git command runs with an environment built from nothing (`scanning.clean_env`: HOME,
XDG cache and TMPDIR in the test's tmp dir, a dead proxy) plus a global config file of our own
(user, `init.defaultBranch=main`) and no system config, so the developer's git settings,
hooks or templates never take part. The Trivy cache is the test's (`SCANGATE_CACHE_DIR`), and
scangate may not download Trivy (`SCANGATE_NO_INSTALL`): the venv's Trivy is used.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import scanning

GIT_CONFIG = """\
[user]
    name = Scangate Tests
    email = tests@scangate.invalid
[init]
    defaultBranch = main
[advice]
    detachedHead = false
[commit]
    gpgSign = false
"""


def git_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`clean_env` plus git's own isolation and scangate's cache dir, all under `tmp`."""
    config = tmp / "gitconfig"
    config.write_text(GIT_CONFIG)
    env = scanning.clean_env(tmp)
    env.update(
        GIT_CONFIG_GLOBAL=str(config),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        SCANGATE_CACHE_DIR=str(tmp / "scangate-cache"),
        SCANGATE_NO_INSTALL="1",
    )
    env.update(extra or {})
    return env


def git(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    input: str | None = None,
    check: bool = True,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", *map(str, args)],
        cwd=cwd,
        env=dict(env),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}"
        )
    return proc


@dataclass
class Clone:
    """A work tree with `origin` (a bare repository) as its remote."""

    path: Path
    remote: Path
    env: dict[str, str]

    def git(self, *args: str | Path, check: bool = True, input: str | None = None) -> str:
        return git(args, cwd=self.path, env=self.env, check=check, input=input).stdout

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for name, content in files.items():
            path = self.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def commit(self, message: str, files: Mapping[str, str | bytes] | None = None) -> str:
        """Write `files`, stage everything, commit; return the commit."""
        self.write(files or {})
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev).strip()

    def push(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`git push ARGS` (the hook runs); never raises."""
        return git(["push", *args], cwd=self.path, env=self.env, check=False, timeout=300.0)

    def remote_refs(self) -> dict[str, str]:
        """`git ls-remote` of the bare remote: ref -> commit."""
        out = git(["ls-remote", self.remote], cwd=self.path, env=self.env).stdout
        return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def make_clone(tmp: Path, env: Mapping[str, str], name: str = "work") -> Clone:
    """An empty bare `remote.git` and an empty work tree `name` with it as `origin`."""
    remote = tmp / "remote.git"
    git(["init", "-q", "--bare", remote], cwd=tmp, env=env)
    path = tmp / name
    git(["init", "-q", path], cwd=tmp, env=env)
    git(["remote", "add", "origin", remote], cwd=path, env=env)
    return Clone(path, remote, dict(env))


def run_scangate(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    input: str | None = None,
    timeout: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """The `scangate` console script with `input` on stdin (/dev/null without); never raises."""
    return subprocess.run(
        [str(scanning.SCANGATE), *map(str, args)],
        cwd=cwd,
        env=dict(env),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def hooked_clone(tmp: Path, env: Mapping[str, str]) -> Clone:
    """`make_clone` with scangate's pre-push hook installed by `scangate hook install`."""
    clone = make_clone(tmp, env)
    done = run_scangate(["hook", "install"], cwd=clone.path, env=env)
    assert done.returncode == 0, done.stderr
    return clone
