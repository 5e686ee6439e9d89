"""Absolute `--skip-dirs`/`--skip-files` on scans of a copy of the scanned tree: the base of
`--diff-base` and the shadow tree of inline ignores (`scangate.skip_paths`).

Trivy reads an absolute pattern relative to the directory it scans; in a copy it would point
back into the original and skip nothing. Real git repositories, the real Trivy, the offline DB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scangate.skip_paths import for_copy
from tests.support import gitrepo, trivydb
from tests.support.gitrepo import Clone
from tests.test_diff_gate import decisions, env, repo, scans

__all__ = ["env"]  # the fixture, shared with test_diff_gate

VENDORED = {
    "requirements.txt": "requests==2.19.0\n",
    "vendor/requirements.txt": "PyYAML==5.3\n",
}


def diff_scan(clone: Clone, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    """`scan fs ARGS --diff-base main --scanners vuln` in the clone: code, JSON, stderr."""
    out = clone.path.parent / "result.json"
    out.unlink(missing_ok=True)
    done = gitrepo.run_scangate(
        ["scan", "fs", *args, "--diff-base", "main", "--scanners", "vuln", "--json", out],
        cwd=clone.path,
        env=clone.env,
    )
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, result, done.stderr


@pytest.mark.parametrize("option", ["--skip-dirs", "--skip-files"])
def test_an_absolute_skip_under_the_root_skips_the_same_place_in_the_base(
    tmp_path: Path, env: dict[str, str], option: str
) -> None:
    clone = repo(tmp_path, env, VENDORED)
    clone.commit("pr", {"README.md": "docs\n"})
    skipped = (
        clone.path / "vendor" if option == "--skip-dirs" else clone.path / "vendor/requirements.txt"
    )
    code, result, stderr = diff_scan(clone, ".", option, str(skipped))
    assert code == 0, stderr
    assert result["findings"] and decisions(result) == {trivydb.REQUESTS_CVE: "pre-existing"}
    # Before: the base's copy of vendor/ was scanned, and its PyYAML CVE was listed as fixed.
    diff = result["diff"]
    assert (diff["new"], diff["pre_existing"], diff["fixed"]) == (0, 1, [])
    base_scan = next(line for line in scans(tmp_path) if "scangate-base-" in line)
    relative = "vendor" if option == "--skip-dirs" else "vendor/requirements.txt"
    assert f"{option} {relative} " in base_scan
    assert str(clone.path) not in base_scan


def test_a_subdirectory_scan_maps_an_absolute_skip_relative_to_itself(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {f"svc/{name}": text for name, text in VENDORED.items()})
    clone.commit("pr", {"svc/README.md": "docs\n"})
    code, result, stderr = diff_scan(clone, "svc", "--skip-dirs", str(clone.path / "svc/vendor"))
    assert code == 0, stderr
    assert decisions(result) == {trivydb.REQUESTS_CVE: "pre-existing"}
    assert result["diff"]["fixed"] == []


def test_an_absolute_skip_outside_the_root_has_nothing_to_map(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, VENDORED)
    clone.commit("pr", {"README.md": "docs\n"})
    # Outside the scanned root, it skips nothing at the head: nor at the base.
    elsewhere = tmp_path / "elsewhere" / "vendor"
    code, result, stderr = diff_scan(clone, ".", "--skip-dirs", str(elsewhere))
    assert code == 0, stderr
    assert decisions(result) == {
        trivydb.REQUESTS_CVE: "pre-existing",
        trivydb.PYYAML_CVE: "pre-existing",
    }
    assert result["diff"]["fixed"] == []
    base_scan = next(line for line in scans(tmp_path) if "scangate-base-" in line)
    assert "--skip-dirs" not in base_scan


INLINE_IGNORED = """\
FROM alpine:3.19
HEALTHCHECK CMD true
# trivy:ignore:DS-0002
USER root
"""


def test_an_absolute_skip_applies_to_the_shadow_tree_of_inline_ignores(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, {"Dockerfile": "FROM alpine:3.19\nUSER app\n"})
    clone.commit("pr", {"vendor/Dockerfile": INLINE_IGNORED})
    out = tmp_path / "result.json"
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--skip-dirs", clone.path / "vendor", "--json", out],
        cwd=clone.path,
        env=env,
    )
    result = json.loads(out.read_text())
    # Before: the shadow copy's vendor/ was scanned and its hidden DS-0002 put back.
    targets = {f["target"] for f in result["findings"]}
    assert not any(t.startswith("vendor") for t in targets), done.stderr


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["vendor", "**/*.lock"], ("vendor", "**/*.lock")),  # relative: as given
        (["/repo/vendor", "/repo/a/**/b.txt"], ("vendor", "a/**/b.txt")),
        (["/repo/./x/../vendor/"], ("vendor",)),  # cleaned as Trivy cleans it
        (["/elsewhere/vendor", "/repository", "/"], ()),  # outside: nothing to map
        (["/repo"], (".",)),
    ],
)
def test_absolute_patterns_become_relative_to_the_root(
    patterns: list[str], expected: tuple[str, ...]
) -> None:
    assert for_copy(patterns, "/repo") == expected
