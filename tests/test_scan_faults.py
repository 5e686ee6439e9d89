"""When Trivy misbehaves or is missing: scangate fails closed (exit 3), stops what it started,
leaves no files behind, and installs a pinned Trivy on the first scan when none is found.

A fake `trivy` (`scanning.fake_trivy`) plays each failure; the install test runs the CLI
in-process with the network mocked by `responses`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import signal
import subprocess
import sysconfig
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from scangate import cli, trivy_install
from tests.support import scanning, terminal
from tests.support.scanning import FakeTrivy, run_scangate

OUTPUTS = ["--json", "result.json", "--raw-report", "raw.json"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return scanning.clean_env(tmp_path)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def snapshot(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def scan_args(fake: FakeTrivy, tmp_path: Path, *extra: str | Path) -> list[str | Path]:
    return ["scan", "fs", "repo", "--trivy", fake.path, "--cache-dir", tmp_path / "cache",
            *OUTPUTS, *extra]  # fmt: skip


def error_text(stderr: str) -> str:
    """Everything from the `scangate: error:` line on (the message and Trivy's stderr tail)."""
    assert "scangate: error: " in stderr, stderr
    return stderr[stderr.index("scangate: error: ") :]


# --- a broken Trivy run: exit 3, nothing written ----------------------------------------------


FAULTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "exit-1": (
        {"stderr": "INFO\tstarting\nFATAL\tscan error: disk quota exceeded\n", "exit": 1},
        [
            "scangate: error: trivy fs repo failed with exit code 1",
            "  trivy: FATAL\tscan error: disk quota exceeded",
        ],
    ),
    "garbage": (
        {"write": '{"SchemaVersion": 2, "Results": [{"Tar'},
        ["trivy fs repo output: not a readable Trivy JSON report", "truncated or not JSON"],
    ),
    "no-report": (
        {"stderr": "INFO\tnothing to do\n"},
        ["scangate: error: trivy fs repo exited 0 but wrote no report", "  trivy: INFO"],
    ),
    "empty-report": ({"write": ""}, ["exited 0 but wrote no report"]),
    "sigkill": (
        {"sigkill": True, "write": json.dumps(scanning.minimal_report())},
        ["scangate: error: trivy fs repo was killed by signal 9"],
    ),
    "schema-1": (
        {"write": json.dumps({**scanning.minimal_report(), "SchemaVersion": 1})},
        ["trivy fs repo output: SchemaVersion is 1, scangate reads 2"],
    ),
    "sarif": (
        {"write": json.dumps({"version": "2.1.0", "runs": []})},
        ["trivy fs repo output: a SARIF log, not a Trivy scan report"],
    ),
}


# The fake's call log, and the cache of Trivy's version: neither is an output of the run.
NOT_OUTPUTS = {"bin/trivy.calls.jsonl", "cache", "cache/trivy-versions.json"}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_trivy_run_fails_closed_and_writes_nothing(
    tmp_path: Path, env: dict[str, str], repo: Path, fault: str
) -> None:
    step, messages = FAULTS[fault]
    fake = scanning.fake_trivy(tmp_path / "bin", step)
    before = snapshot(tmp_path)
    proc = run_scangate(scan_args(fake, tmp_path), cwd=tmp_path, env=env)
    assert proc.returncode == 3, proc.stderr
    text = error_text(proc.stderr)
    for message in messages:
        assert message in text
    assert proc.stdout == ""
    assert len(fake.calls()) == 1
    # No result, no raw report, no temp file beside them, no Trivy work dir left.
    after = [p for p in snapshot(tmp_path) if p not in NOT_OUTPUTS]
    assert after == before
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_hung_trivy_is_stopped_with_its_children(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin", {"grandchild": True, "sleep": 60})
    before = snapshot(tmp_path)
    start = time.monotonic()
    proc = run_scangate(scan_args(fake, tmp_path, "--timeout", "1s"), cwd=tmp_path, env=env)
    elapsed = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    assert error_text(proc.stderr).startswith(
        "scangate: error: trivy did not finish within 1 s and was stopped: raise --timeout"
    )
    assert elapsed < 10, f"took {elapsed:.1f} s to give up on a 1 s timeout"
    [call] = fake.calls()
    assert scanning.wait_gone([call["pid"], call["grandchild"]]) == []
    assert [p for p in snapshot(tmp_path) if p not in NOT_OUTPUTS] == before


def _start_scan(
    tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], FakeTrivy, dict[str, Any]]:
    fake = scanning.fake_trivy(tmp_path / "bin", {"grandchild": True, "sleep": 60})
    proc = subprocess.Popen(
        [str(scanning.SCANGATE), *map(str, scan_args(fake, tmp_path))],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not fake.calls():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the fake trivy never started"
        time.sleep(0.02)
    return proc, fake, fake.calls()[0]


@pytest.fixture
def stop_leftovers() -> Iterator[list[int]]:
    """Pids the test started (through scangate); any still running at the end are killed."""
    pids: list[int] = []
    yield pids
    for pid in scanning.wait_gone(pids, timeout=0):
        os.kill(pid, signal.SIGKILL)


def test_ctrl_c_stops_trivy_and_exits_130(
    tmp_path: Path, env: dict[str, str], repo: Path, stop_leftovers: list[int]
) -> None:
    proc, _fake, call = _start_scan(tmp_path, env)
    stop_leftovers += [call["pid"], call["grandchild"]]
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, _err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert time.monotonic() - start < 5
    assert scanning.wait_gone([call["pid"], call["grandchild"]]) == []
    assert not (tmp_path / "result.json").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ctrl_c_says_interrupted(
    tmp_path: Path, env: dict[str, str], repo: Path, stop_leftovers: list[int]
) -> None:
    proc, _fake, call = _start_scan(tmp_path, env)
    stop_leftovers += [call["pid"], call["grandchild"]]
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert "scangate: interrupted" in err


def test_sigterm_stops_trivy_too(
    tmp_path: Path, env: dict[str, str], repo: Path, stop_leftovers: list[int]
) -> None:
    proc, _fake, call = _start_scan(tmp_path, env)
    stop_leftovers += [call["pid"], call["grandchild"]]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert scanning.wait_gone([call["pid"], call["grandchild"]], timeout=1) == []


def test_output_files_follow_the_umask(tmp_path: Path, env: dict[str, str], repo: Path) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    proc = subprocess.run(
        [str(scanning.SCANGATE), *map(str, scan_args(fake, tmp_path))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        umask=0o022,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("result.json", "raw.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


# --- usage errors come before Trivy runs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "missing/result.json"], "directory missing does not exist"),
        (["--raw-report", "raw-dir"], "raw-dir: it is a directory"),
        (["--input", "b.tar", "--raw-report", "no-such-dir"], "give an existing directory"),
    ],
    ids=["json-in-missing-dir", "raw-report-is-a-dir", "raw-report-dir-missing"],
)
def test_unwritable_outputs_are_refused_before_trivy_runs(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "a.tar").write_bytes(b"")
    (tmp_path / "b.tar").write_bytes(b"")
    (tmp_path / "raw-dir").mkdir()
    proc = run_scangate(
        ["scan", "image", "--input", "a.tar", *args, "--trivy", fake.path,
         "--cache-dir", tmp_path / "cache"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in error_text(proc.stderr)
    assert fake.calls() == []


# --- installing Trivy on the first scan ---------------------------------------------------------


BASE_URL = "https://downloads.example.test/trivy/releases/download"
INSTALLED_MARKER = "installed-trivy-was-here.txt"


def _installable_trivy() -> bytes:
    """A release-shaped .tar.gz whose `trivy` is a /bin/sh script using builtins only (the
    tests run it with an empty PATH): it reports 0.76.0 and writes a report with one secret."""
    report = json.dumps(scanning.minimal_report(results=[scanning.secret_result(INSTALLED_MARKER)]))
    script = (
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then printf \'%s\\n\' \'{"Version":"0.76.0"}\'; exit 0; fi\n'
        "out=\n"
        'while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done\n'
        f"printf '%s' '{report}' > \"$out\"\n"
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in ((b"LICENSE", b"Apache-2.0\n"), (b"trivy", script)):
            info = tarfile.TarInfo(name.decode())
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def nowhere_to_find_trivy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No trivy on PATH, in the interpreter's scripts dir or in the cache; returns the cache."""
    monkeypatch.setenv("PATH", "")
    empty_scripts = tmp_path / "empty-scripts"
    empty_scripts.mkdir()
    real_get_path: Callable[..., str] = sysconfig.get_path

    def get_path(name: str, *args: Any, **kwargs: Any) -> str:
        return str(empty_scripts) if name == "scripts" else real_get_path(name, *args, **kwargs)

    monkeypatch.setattr(sysconfig, "get_path", get_path)
    monkeypatch.setenv("SCANGATE_TRIVY_DOWNLOAD_URL", BASE_URL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    return tmp_path / "cache"


@pytest.fixture
def network() -> Iterator[responses.RequestsMock]:
    """Only registered URLs answer; any other request raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_first_scan_installs_the_pinned_trivy_and_uses_it(
    nowhere_to_find_trivy: Path,
    network: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = nowhere_to_find_trivy
    archive = _installable_trivy()
    plat = trivy_install.platform_name(platform.system(), platform.machine())
    version = trivy_install.DEFAULT_VERSION
    monkeypatch.setitem(
        trivy_install.PINNED_SHA256, version, {plat: hashlib.sha256(archive).hexdigest()}
    )
    network.get(trivy_install.asset_url(BASE_URL, version, plat), body=archive)

    args = ["scan", "fs", "repo", "--cache-dir", str(cache), "--json", "result.json"]
    assert cli.run(args) == 1
    err = capsys.readouterr().err
    assert (
        f"scangate: warning: no trivy found: installing Trivy {version} into {cache / 'trivy'}"
    ) in err
    binary = cache / "trivy" / version / "trivy"
    assert binary.is_file()
    assert os.access(binary, os.X_OK)
    assert len(network.calls) == 1
    result = json.loads(Path("result.json").read_text())
    assert [(f["kind"], f["target"], f["decision"]) for f in result["findings"]] == [
        ("secret", INSTALLED_MARKER, "fail")
    ]

    # The next scan finds the installed release in the cache: no second download.
    assert cli.run([*args, "--no-install"]) == 1
    assert "installing" not in capsys.readouterr().err
    assert len(network.calls) == 1


def test_no_install_fails_without_downloading(
    nowhere_to_find_trivy: Path,
    network: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = nowhere_to_find_trivy
    assert cli.run(["scan", "fs", "repo", "--cache-dir", str(cache), "--no-install"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("scangate: error: no trivy found (")
    assert "--no-install is set" in err
    assert len(network.calls) == 0
    assert not (cache / "trivy" / trivy_install.DEFAULT_VERSION).exists()


def test_a_tampered_download_installs_nothing_and_scans_nothing(
    nowhere_to_find_trivy: Path,
    network: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = nowhere_to_find_trivy
    plat = trivy_install.platform_name(platform.system(), platform.machine())
    version = trivy_install.DEFAULT_VERSION
    monkeypatch.setitem(trivy_install.PINNED_SHA256, version, {plat: "0" * 64})
    network.get(trivy_install.asset_url(BASE_URL, version, plat), body=_installable_trivy())
    assert cli.run(["scan", "fs", "repo", "--cache-dir", str(cache), "--json", "r.json"]) == 3
    assert "expected " + "0" * 64 in capsys.readouterr().err
    assert not (cache / "trivy" / version).exists()
    assert not Path("r.json").exists()


# --- progress on a terminal ------------------------------------------------------------------


def run_with_stderr_on_a_tty(
    args: list[str], *, cwd: Path, env: dict[str, str]
) -> tuple[int, str, str]:
    """Run scangate with stderr on a pseudo-terminal: (exit code, stdout, what the tty got)."""
    code, out, received = terminal.run_on_a_tty(args, cwd=cwd, env=env, stream="stderr")
    return code, out, received.decode()


def test_a_terminal_gets_a_spinner_with_elapsed_time(
    tmp_path: Path, env: dict[str, str], repo: Path
) -> None:
    """stderr on a TTY: a spinner line redrawn with `\\r` and the elapsed seconds, cleared at
    the end; stdout gets only the result; --quiet silences it."""
    fake = scanning.fake_trivy(tmp_path / "bin", scanning.report_step(sleep=0.6))
    args = ["scan", "fs", "repo", "--trivy", str(fake.path), "--cache-dir", str(tmp_path / "c")]
    code, out, tty = run_with_stderr_on_a_tty(args, cwd=tmp_path, env=env)
    assert code == 0, tty
    assert out.rstrip().splitlines()[-1].startswith("PASS: ")
    frames = re.findall(r"\r[|/\\-] trivy fs repo +(\d+\.\d)s", tty)
    assert len(frames) >= 3, tty
    assert float(frames[-1]) >= 0.5  # the elapsed time grows while Trivy runs
    assert "\r\x1b[K" in tty  # the spinner line is cleared before the summary line
    assert "trivy fs repo finished in" in tty

    code, out, tty = run_with_stderr_on_a_tty([*args, "-q"], cwd=tmp_path, env=env)
    assert (code, tty) == (0, "")
    assert out.startswith("PASS: ")
