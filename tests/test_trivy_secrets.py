"""Secrets Trivy leaves out by itself: its built-in allow rules and `node_modules/`.

Through the console script with the real Trivy (`--scanners secret` needs no DB), on a tree
holding the same fake token in every place Trivy 0.76.0 hides it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scangate import trivy_secrets
from tests.support import scanning
from tests.support.scanning import fake_token, run_scangate

# Where Trivy's allow rules (or its node_modules skip) drop a token, by the rule that does.
HIDDEN = {
    "README.md": "markdown",
    "docs/x.md": "markdown",
    "tests/fixture.py": "tests",
    "web/app.test.js": "tests",
    "examples/demo.py": "examples",
    "settings.example.env": "examples",
    "third_party/vendor/lib.py": "vendor",
    "config/locales/en.yml": "locale-dir",
    "node_modules/pkg/index.js": "skipped dir",
    "node_modules/a/node_modules/b/deep.js": "skipped dir, nested",
}
CONTROL = "control.txt"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scanning.clean_env(tmp_path)


def write_tree(root: Path) -> Path:
    for rel in [*HIDDEN, CONTROL]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'token = "{fake_token()}"\n')
    return root


def scan(
    tmp_path: Path, env: dict[str, str], *extra: str | Path
) -> tuple[int, dict[str, Any], str]:
    proc = run_scangate(
        ["scan", "fs", "repo", "--scanners", "secret", "--cache-dir", tmp_path / "cache",
         "-f", "json", "-q", *extra],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def secret_paths(result: dict[str, Any]) -> set[str]:
    return {
        f["location"]["path"]
        for f in result["findings"]
        if f["kind"] == "secret" and f["id"] == "github-pat"
    }


def test_a_token_is_caught_wherever_trivys_allow_rules_would_hide_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # Before: only control.txt was reported, and the pre-push hook let the rest through.
    write_tree(tmp_path / "repo")
    code, result, _ = scan(tmp_path, env)
    assert code == 1
    assert secret_paths(result) == {*HIDDEN, CONTROL}
    assert {f["location"]["start_line"] for f in result["findings"]} == {1}
    assert all(f["decision"] == "fail" for f in result["findings"])


def test_the_policy_can_opt_back_into_trivys_allow_rules(
    tmp_path: Path, env: dict[str, str]
) -> None:
    write_tree(tmp_path / "repo")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nextends: default\ntrivy-secret-allow-rules: true\n")
    code, result, _ = scan(tmp_path, env, "--policy", policy)
    assert code == 1
    # Trivy's rules apply again; node_modules is still read (that is no allow rule).
    assert secret_paths(result) == {
        CONTROL,
        "node_modules/pkg/index.js",
        "node_modules/a/node_modules/b/deep.js",
    }


def test_a_file_named_like_the_secret_config_is_still_scanned(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # Trivy skips a scanned file whose path equals its secret config's base name: the
    # name is random, so no file in the tree can take it.
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("trivy-secret.yaml", "scangate-secret.yaml", "secret.yaml"):
        (repo / name).write_text(f'token: "{fake_token()}"\n')
    code, result, _ = scan(tmp_path, env)
    assert code == 1
    assert secret_paths(result) == {"trivy-secret.yaml", "scangate-secret.yaml", "secret.yaml"}


def test_skip_dirs_still_apply_inside_node_modules(tmp_path: Path, env: dict[str, str]) -> None:
    write_tree(tmp_path / "repo")
    code, result, _ = scan(tmp_path, env, "--skip-dirs", "**/node_modules/b")
    assert code == 1
    assert secret_paths(result) == {*HIDDEN, CONTROL} - {"node_modules/a/node_modules/b/deep.js"}
    code, result, _ = scan(tmp_path, env, "--skip-dirs", "node_modules")
    assert secret_paths(result) == set(HIDDEN) - {
        "node_modules/pkg/index.js",
        "node_modules/a/node_modules/b/deep.js",
    } | {CONTROL}


def test_no_node_modules_means_one_trivy_run(tmp_path: Path, env: dict[str, str]) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "repo" / "src").mkdir(parents=True)
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", tmp_path / "cache", "-q"],
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(fake.calls()) == 1


def test_each_node_modules_dir_gets_a_secret_only_run_rooted_at_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    repo = tmp_path / "repo"
    (repo / "node_modules" / "a" / "node_modules" / "[odd]").mkdir(parents=True)
    for rel in ("node_modules/a/x.js", "node_modules/a/x.js.map", "node_modules/b.js.map"):
        (repo / rel).write_text("x\n")
    (repo / ".git" / "node_modules").mkdir(parents=True)  # never walked
    (repo / "linked").symlink_to(tmp_path)  # never followed
    proc = run_scangate(
        ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", tmp_path / "cache", "-q",
         "--skip-files", "**/*.map", "--skip-files", "node_modules/a/x.js",
         "--skip-dirs", "**/node_modules/[[]odd]"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    main, outer, inner = (call["argv"] for call in fake.calls())
    assert main[-2:] == ["--", str(repo)]
    assert outer[-2:] == ["--", str(repo / "node_modules")]
    assert inner[-2:] == ["--", str(repo / "node_modules" / "a" / "node_modules")]
    for argv in (outer, inner):
        assert argv[argv.index("--scanners") + 1] == "secret"
        assert argv[argv.index("--secret-config") + 1] == main[main.index("--secret-config") + 1]
    # Skip globs matched from the scan root, passed on as literal paths below each run's root.
    assert flag_values(outer, "--skip-files") == ["a/x.js", "a/x.js.map", "b.js.map"]
    assert flag_values(outer, "--skip-dirs") == []
    assert flag_values(inner, "--skip-dirs") == ["\\[odd\\]"]
    assert flag_values(main, "--skip-files") == ["**/*.map", "node_modules/a/x.js"]


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_the_secret_config_disables_every_builtin_allow_rule(tmp_path: Path) -> None:
    config = trivy_secrets.write_secret_config(tmp_path, trivy_allow_rules=False)
    assert config.read_text() == (
        'disable-allow-rules: ["tests", "examples", "vendor", "usr-dirs", "locale-dir", '
        '"markdown", "node.js", "golang", "python", "rubygems", "wordpress", "anaconda-log"]\n'
    )
    again = trivy_secrets.write_secret_config(tmp_path, trivy_allow_rules=True)
    assert again.read_text() == "disable-allow-rules: []\n"
    assert again.name != config.name


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("node_modules", "node_modules", True),
        ("node_modules", "a/node_modules", False),
        ("**/node_modules", "a/b/node_modules", True),
        ("**/node_modules", "node_modules", True),
        ("*/node_modules", "a/node_modules", True),
        ("*/node_modules", "a/b/node_modules", False),
        ("web/**", "web/x/node_modules", True),
        ("./web/node_modules", "web/node_modules", True),
        ("n?de_modules", "node_modules", True),
        ("node.modules", "node_modules", False),
        ("[mn]ode_modules", "node_modules", True),
        ("[!n]ode_modules", "node_modules", False),
        ("[[]odd]", "[odd]", True),
        ("v[0-9]", "v7", True),
        ("v[0-9]", "v-", False),
    ],
)
def test_skip_globs_match_as_trivy_matches_them(pattern: str, path: str, matches: bool) -> None:
    assert bool(trivy_secrets.glob_regex(pattern).match(path)) is matches
