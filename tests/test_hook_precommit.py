"""The hooks through the pre-commit framework: this repository's .pre-commit-hooks.yaml,
installed by pre-commit into its own environment (with Trivy from `additional_dependencies`).

Slow: pre-commit builds the hook environment with pip from the package registry, the only
network these tests use. Every cache (pre-commit's, pip's, virtualenv's, Trivy's) lives in the
session's tmp dir, never in ~/.cache. pre-commit clones a repository's committed HEAD (`try-repo`
adds only *tracked* uncommitted changes), so the hooks come from a snapshot of this working
tree committed to a temp repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import gitrepo, table
from tests.support.gitrepo import Clone

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
# What reaches the registry from the developer's environment: pip's settings and the CA files.
_PASSED = ("PIP_", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree (tracked and untracked, not ignored), committed in a temp repo."""
    base = tmp_path_factory.mktemp("hooks-repo")
    env = gitrepo.git_env(base)
    listed = gitrepo.git(
        ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, env=env
    ).stdout
    snapshot = base / "scangate"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    gitrepo.git(["init", "-q", snapshot], cwd=base, env=env)
    gitrepo.git(["add", "-A"], cwd=snapshot, env=env)
    gitrepo.git(["commit", "-q", "-m", "snapshot"], cwd=snapshot, env=env)
    return snapshot


@pytest.fixture(scope="session")
def caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-caches")


def framework_env(tmp: Path, caches: Path) -> dict[str, str]:
    """git isolated as in the other hook tests, but with the registry reachable."""
    env = gitrepo.git_env(tmp)
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        env.pop(proxy, None)
    env.update({k: v for k, v in os.environ.items() if k.upper().startswith(_PASSED)})
    env.update(
        PRE_COMMIT_HOME=str(caches / "pre-commit"),
        PIP_CACHE_DIR=str(caches / "pip"),
        VIRTUALENV_OVERRIDE_APP_DATA=str(caches / "virtualenv"),
        XDG_CACHE_HOME=str(caches / "xdg"),
    )
    return env


def pre_commit(
    args: list[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRE_COMMIT), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_try_repo_pre_push_fails_a_fake_token_and_passes_a_clean_tree(
    hooks_repo: Path, caches: Path, tmp_path: Path, fake_github_token: str
) -> None:
    env = framework_env(tmp_path, caches)
    clone = Clone(tmp_path / "project", tmp_path / "none.git", env)
    gitrepo.git(["init", "-q", clone.path], cwd=tmp_path, env=env)
    clone.commit("app", {"app.py": "print('hello')\n"})
    clone.commit("token", {"settings.py": f'TOKEN = "{fake_github_token}"\n'})
    try_repo = ["try-repo", str(hooks_repo), "scangate", "--hook-stage", "pre-push", "--verbose"]

    failed = pre_commit(try_repo, cwd=clone.path, env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "scangate (what the push introduces)" in failed.stdout
    assert table.shows(failed.stdout, "settings.py", "github-pat")
    # No ref lines and no PRE_COMMIT_* refs: HEAD's commits no remote-tracking ref reaches.
    assert "2 pushed commits add or change 2 file versions" in failed.stdout

    clone.git("reset", "-q", "--hard", "HEAD~1")
    passed = pre_commit(try_repo, cwd=clone.path, env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS: 0 findings" in passed.stdout


def test_installed_pre_push_and_pre_commit_hooks_gate_pushes_and_commits(
    hooks_repo: Path, caches: Path, tmp_path: Path, fake_github_token: str
) -> None:
    # The contract with pre-commit's hook_impl: no stdin, PRE_COMMIT_* variables; the first
    # push of a history sets no FROM/TO refs at all.
    env = framework_env(tmp_path, caches)
    clone = gitrepo.make_clone(tmp_path, env)
    rev = gitrepo.git(["rev-parse", "HEAD"], cwd=hooks_repo, env=env).stdout.strip()
    config = (
        f"repos:\n- repo: {hooks_repo}\n  rev: {rev}\n"
        "  hooks:\n  - id: scangate\n  - id: scangate-secrets\n"
    )
    clone.write({".pre-commit-config.yaml": config, "app.py": "print('hello')\n"})
    for hook_type in ("pre-commit", "pre-push"):
        done = pre_commit(["install", "--hook-type", hook_type], cwd=clone.path, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    clone.commit("initial")
    first = clone.push("origin", "main")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "scangate (what the push introduces)" in first.stdout + first.stderr

    # The secrets hook stops a commit that stages a token.
    clone.write({"settings.py": f'TOKEN = "{fake_github_token}"\n'})
    clone.git("add", "settings.py")
    blocked = gitrepo.git(["commit", "-q", "-m", "token"], cwd=clone.path, env=env, check=False)
    assert blocked.returncode != 0
    assert "github-pat" in blocked.stdout + blocked.stderr

    # Committed past it, the pre-push hook stops the push; the remote keeps its main.
    before = clone.remote_refs()
    clone.git("commit", "-q", "--no-verify", "-m", "token")
    clone.git("rm", "-q", "settings.py")
    clone.commit("remove the token")
    push = clone.push("origin", "main")
    assert push.returncode != 0
    assert table.shows(push.stdout + push.stderr, "settings.py", "github-pat")
    assert clone.remote_refs() == before
