"""The committed baseline and the pre-push hook: a real `git push` to a bare remote through
the hook `scangate hook install` writes, with the real Trivy.

The hook reads `.scangate-baseline.json` by itself, so the baseline must never vouch for a
token it does not hold: another token at the same place of the same file is new.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import settings_with_token
from tests.support import gitrepo, table
from tests.support.gitrepo import Clone

OTHER_TOKEN = "ghp" + "_" + "Zz9y" * 9  # built at run time: this repository holds no token


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    return gitrepo.hooked_clone(tmp_path, gitrepo.git_env(tmp_path))


def output(push: subprocess.CompletedProcess[str]) -> str:
    return push.stdout + push.stderr


def test_a_new_token_where_the_baselined_one_was_is_rejected(
    clone: Clone, fake_github_token: str
) -> None:
    clone.commit("initial", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    clone.write({"app/settings.py": settings_with_token(fake_github_token)})
    made = gitrepo.run_scangate(
        ["baseline", "create", "--scanners", "secret", "--offline"], cwd=clone.path, env=clone.env
    )
    assert made.returncode == 0, made.stderr
    baseline = (clone.path / ".scangate-baseline.json").read_text()
    assert json.loads(baseline)["schema"] == "scangate/baseline/v2"
    assert fake_github_token not in baseline
    clone.commit("settings and their baseline")
    push = clone.push("origin", "main")
    assert push.returncode == 0, output(push)
    assert "2 known" in output(push)

    # The same token, moved down: still the accepted one.
    moved = "# settings\n\n" + settings_with_token(fake_github_token)
    clone.commit("move", {"app/settings.py": moved})
    push = clone.push("origin", "main")
    assert push.returncode == 0, output(push)
    before = clone.remote_refs()

    # Another token on the line of the first copy: Trivy masks both the same way.
    clone.commit("rotate", {"app/settings.py": moved.replace(fake_github_token, OTHER_TOKEN, 1)})
    push = clone.push("origin", "main")
    assert push.returncode != 0 and "failed to push some refs" in push.stderr, output(push)
    assert clone.remote_refs() == before
    assert "FAIL: 2 findings: 1 failing (1 secret), 1 known" in output(push)
    assert table.shows(output(push), "app/settings.py", "github-pat", "line 5")
    assert OTHER_TOKEN not in output(push) and fake_github_token not in output(push)
