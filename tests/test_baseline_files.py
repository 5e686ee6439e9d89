"""The baseline file itself, read and written safely, through the CLI with the real Trivy
(issue 8 A4, A5, A7).

It lives in the scanned tree, so its author chooses what is at its path: a file that is no
regular file, or is too large, is refused at once (it used to be read until MemoryError);
`baseline create/update` never write through a symbolic link there (one led to the user's
~/.bashrc); the hook never reads its default baseline through a link (one to a baseline
outside the repository vouched for a pushed token). What a baseline matches: test_baseline.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import TrivyScanner, settings_with_token
from tests.support import gitrepo
from tests.support.scanning import clean_env, fake_token, run_scangate


def scangate_cli(work: Path, *args: str | Path) -> tuple[int, str]:
    """The console script in a subprocess (a bad baseline must not take pytest's memory)."""
    done = run_scangate(list(args), cwd=work, env=clean_env(work.parent / "env"), timeout=120)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    return done.returncode, done.stderr


@pytest.mark.parametrize("special", ["dev-zero", "proc", "fifo", "over-the-cap", "deep"])
def test_a_baseline_that_cannot_be_one_is_refused_at_once(
    tmp_path: Path, config_repo_report: Path, special: str
) -> None:
    # Before: /dev/zero was read until `internal error: MemoryError`; a FIFO hung; deep
    # nesting was `internal error: RecursionError`; a 65 MiB file was read whole.
    work = tmp_path / "work"
    work.mkdir()
    baseline = work / ".scangate-baseline.json"
    if special == "dev-zero":
        baseline.symlink_to("/dev/zero")
    elif special == "proc":
        baseline.symlink_to("/proc/self/environ")
    elif special == "fifo":
        os.mkfifo(baseline)
    elif special == "over-the-cap":
        with baseline.open("wb") as handle:
            handle.truncate(65 * 1024 * 1024)  # sparse: no disk used
    else:
        baseline.write_text("[" * 200_000)
    expected = {
        "dev-zero": "is a character device, not a regular file: name a regular file",
        "proc": "not a regular file (it reads longer than its size, like a /proc file, or it "
        "grew while read): name a regular file",
        "fifo": "is a FIFO, not a regular file: name a regular file",
        "over-the-cap": "larger than 64 MiB, scangate's limit for a baseline: this is not a "
        "baseline, or it must be split",
        "deep": "nested too deeply to be a baseline: if it is meant to be the baseline, "
        "recreate it with `scangate baseline create --force --output .scangate-baseline.json`",
    }[special]
    code, err = scangate_cli(
        work, "check", config_repo_report, "--baseline", ".scangate-baseline.json"
    )
    assert code == 2
    assert err == f"scangate: error: --baseline .scangate-baseline.json: {expected}\n"


@pytest.fixture(scope="module")
def hostile_name_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real secret report of a file whose name is shell code (`x $(touch PWNED) y`)."""
    base = tmp_path_factory.mktemp("hostile-name")
    (base / "repo").mkdir()
    (base / "repo" / "x $(touch PWNED) y").write_text(f"token = {fake_token()}\n")
    return trivy_scan.fs(base / "repo", base / "report.json", scanners="secret")


@pytest.mark.parametrize("command", ["create --force", "create", "update"])
@pytest.mark.parametrize("output", [None, ".scangate-baseline.json", "/dev/stdout"])
def test_a_baseline_is_never_written_through_a_symlink(
    tmp_path: Path, hostile_name_report: Path, command: str, output: str | None
) -> None:
    # Before: with `.scangate-baseline.json -> ../vic/.bashrc` in the tree, `baseline create
    # --force` (the advice `update` gave) wrote the JSON, file name and all, into .bashrc.
    victim = tmp_path / "vic" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("# the victim's shell start-up\n")
    work = tmp_path / "work"
    work.mkdir()
    link = work / ".scangate-baseline.json"
    link.symlink_to("../vic/.bashrc")
    args = ["baseline", *command.split(), "--report", str(hostile_name_report)]
    code, err = scangate_cli(work, *args, *(["--output", output] if output else []))
    assert code == 2
    shown = output or ".scangate-baseline.json"
    assert err == (
        f"scangate: error: --output {shown}: is a symbolic link, and scangate never writes a "
        "baseline through one (it may lead out of the repository): delete the link if it is "
        "the repository's and run this again, or give --output a regular file's path\n"
    )
    assert victim.read_text() == "# the victim's shell start-up\n"
    assert link.is_symlink()
    assert not (work / "PWNED").exists()


def test_update_of_a_file_that_is_no_baseline_names_it_in_its_advice(
    tmp_path: Path, hostile_name_report: Path
) -> None:
    # Before: "--baseline notes.json: ... recreate it with `scangate baseline create --force`",
    # which writes .scangate-baseline.json, not the file update was given.
    work = tmp_path / "work"
    work.mkdir()
    (work / "my notes.json").write_text('{"todo": []}')
    code, err = scangate_cli(
        work, "baseline", "update", "--output", "my notes.json", "--report", hostile_name_report
    )
    assert code == 2
    assert err == (
        "scangate: error: --output my notes.json: schema is 'None', expected "
        "'scangate/baseline/v2': if it is meant to be the baseline, recreate it with "
        "`scangate baseline create --force --output 'my notes.json'`\n"
    )
    assert (work / "my notes.json").read_text() == '{"todo": []}'


def test_the_hook_never_reads_its_default_baseline_through_a_symlink(
    tmp_path: Path, fake_github_token: str
) -> None:
    # Before: a committed `.scangate-baseline.json -> ../other/baseline.json` was followed,
    # and a baseline outside the repository vouched for the pushed token: it reached the
    # remote. Now the push stops with exit 2 naming the link.
    env = gitrepo.git_env(tmp_path)
    clone = gitrepo.make_clone(tmp_path, env)
    assert gitrepo.run_scangate(["hook", "install"], cwd=clone.path, env=env).returncode == 0
    clone.commit("initial", {"README.md": "# demo\n"})
    assert clone.push("--no-verify", "origin", "main").returncode == 0
    clone.write({"app/settings.py": settings_with_token(fake_github_token)})
    outside = tmp_path / "other" / "baseline.json"
    outside.parent.mkdir()
    made = gitrepo.run_scangate(
        ["baseline", "create", "--scanners", "secret", "--offline", "--output", outside],
        cwd=clone.path,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    (clone.path / ".scangate-baseline.json").symlink_to("../other/baseline.json")
    clone.commit("settings, baseline elsewhere")
    before = clone.remote_refs()
    push = clone.push("origin", "main")
    assert push.returncode != 0, push.stdout + push.stderr
    assert clone.remote_refs() == before
    assert (
        f"scangate: error: {clone.path / '.scangate-baseline.json'}: is a symbolic link, which "
        "scangate does not follow in the scanned tree: commit the file itself, or name the file "
        "you mean with --baseline\n"
    ) in push.stderr
    assert fake_github_token not in push.stdout + push.stderr
