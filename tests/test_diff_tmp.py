"""Where `--diff-base` writes the base's files (`scangate.diff_tmp`): a memory directory when
one has room for the tree, else the temp dir. Real repositories and real directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scangate import diff_base, diff_tmp, hook_lfs
from scangate.diff_tmp import TreeSize
from tests.support import gitrepo
from tests.test_diff_gate import env, repo, scans

__all__ = ["env"]  # the fixture, shared with test_diff_gate

FILES = {
    "app/main.py": "print(1)\n",
    "README.md": "x" * 5000 + "\n",  # two pages
    "deploy/Dockerfile": "FROM alpine:3.19\nUSER app\n",
}


def base_of(tmp_path: Path, env: dict[str, str]) -> diff_base.DiffBase:
    clone = repo(tmp_path, env, FILES)
    clone.commit("pr", {"app/new.py": "x = 1\n"})
    return diff_base.resolve(clone.path, "main", env=env)


def test_the_base_goes_to_the_memory_directory_and_is_removed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    base = base_of(tmp_path, env)
    memory = tmp_path / "run"
    memory.mkdir()
    with diff_base.written(base, env={**env, "XDG_RUNTIME_DIR": str(memory)}) as done:
        assert done.path.is_relative_to(memory)
        assert (done.path / "app" / "main.py").read_text() == "print(1)\n"
        assert done.files == 3
    assert list(memory.iterdir()) == []


def test_without_room_in_memory_the_base_goes_to_the_temp_dir(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = base_of(tmp_path, env)
    temp = tmp_path / "tmp"
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    monkeypatch.setattr(diff_tmp, "SHM", str(tmp_path / "no-shm"))  # as on a machine without
    not_a_dir = tmp_path / "runtime-file"
    not_a_dir.write_text("")
    where = diff_tmp.BaseDir()
    try:
        written = where.write(base, {**env, "XDG_RUNTIME_DIR": str(not_a_dir)})
        assert where.used is None
        assert written.path.is_relative_to(temp)
        assert (written.path / "README.md").stat().st_size == 5001
    finally:
        where.remove()
    assert list(temp.iterdir()) == []


def test_the_tree_size_is_its_blobs_in_pages(tmp_path: Path, env: dict[str, str]) -> None:
    base = base_of(tmp_path, env)
    assert diff_tmp.tree_size(base, env) == TreeSize(4 * 4096, 3)
    one = diff_base.resolve(base.repo.root / "README.md", "main", env=env)
    assert diff_tmp.tree_size(one, env) == TreeSize(2 * 4096, 1)
    # A Git LFS store: pointers may be written as their objects, up to the cap per run.
    lfs = hook_lfs.lfs_objects_dir(base.repo, diff_base.git_env(env))
    lfs.mkdir(parents=True)
    assert diff_tmp.tree_size(base, env).bytes == 4 * 4096 + hook_lfs.MAX_TOTAL


def test_a_directory_has_room_only_for_a_quarter_of_what_is_free(tmp_path: Path) -> None:
    stat = os.statvfs(tmp_path)
    free = stat.f_bavail * stat.f_frsize
    assert diff_tmp.room_in(tmp_path, TreeSize(free // 8, 10))
    assert not diff_tmp.room_in(tmp_path, TreeSize(free // 2, 10))
    if stat.f_files:
        assert not diff_tmp.room_in(tmp_path, TreeSize(0, stat.f_favail))
    assert not diff_tmp.room_in(tmp_path / "missing", TreeSize(0, 0))
    assert diff_tmp.choose([tmp_path / "missing", tmp_path], TreeSize(1, 1)) == tmp_path
    assert diff_tmp.choose([tmp_path], TreeSize(free, 1)) is None


def test_runtime_dir_first_then_dev_shm() -> None:
    assert diff_tmp.memory_dirs({"XDG_RUNTIME_DIR": "/run/user/1000"}) == [
        Path("/run/user/1000"),
        Path("/dev/shm"),
    ]
    # Unset, or relative (not a path a session manager sets): /dev/shm only.
    assert diff_tmp.memory_dirs({}) == [Path("/dev/shm")]
    assert diff_tmp.memory_dirs({"XDG_RUNTIME_DIR": "run"}) == [Path("/dev/shm")]


def test_a_diff_run_scans_the_base_in_the_memory_directory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = repo(tmp_path, env, FILES)
    clone.commit("pr", {"app/new.py": "x = 1\n"})
    memory = tmp_path / "run"
    memory.mkdir()
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--diff-base", "main", "--scanners", "misconfig,secret"],
        cwd=clone.path,
        env={**env, "XDG_RUNTIME_DIR": str(memory)},
    )
    assert done.returncode == 0, done.stderr
    base_scan = next(line for line in scans(tmp_path) if "scangate-base-" in line)
    assert f" {memory}/scangate-base-" in base_scan
    assert list(memory.iterdir()) == []
