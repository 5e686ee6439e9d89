"""scangate._subprocess with real child processes (the Python running the tests)."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from scangate import _subprocess
from scangate.errors import ScannerError, TrivyNotFoundError, TrivyRunError

PY = sys.executable


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie nobody has reaped yet counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) succeeded
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _wait_for_file(path: Path, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def test_captures_stdout_stderr_and_returncode() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = _subprocess.run([PY, "-c", code], timeout=30)
    assert done.returncode == 3
    assert done.stdout == "out\n"
    assert done.stderr == "err\n"
    assert done.argv == [PY, "-c", code]
    assert done.duration > 0


def test_stdin_is_devnull() -> None:
    done = _subprocess.run([PY, "-c", "import sys; print(repr(sys.stdin.read()))"], timeout=30)
    assert done.stdout.strip() == "''"


def test_env_and_cwd_reach_the_child(tmp_path: Path) -> None:
    code = "import os; print(os.getcwd()); print(os.environ.get('SCANGATE_PROBE'))"
    env = {"SCANGATE_PROBE": "hello", "PATH": os.defpath}
    done = _subprocess.run([PY, "-c", code], timeout=30, env=env, cwd=tmp_path)
    cwd, probe = done.stdout.splitlines()
    assert Path(cwd).resolve() == tmp_path.resolve()
    assert probe == "hello"


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    code = "import sys; sys.stdout.buffer.write(b'ok\\xff\\n')"
    done = _subprocess.run([PY, "-c", code], timeout=30)
    assert done.stdout == "ok\ufffd\n"


def test_megabytes_on_both_pipes_do_not_deadlock() -> None:
    # A child blocks once a pipe buffer (64 KiB) is full; both pipes must be drained together.
    code = (
        "import sys\n"
        "for i in range(100_000):\n"
        "    sys.stderr.write('e' * 60 + '\\n')\n"
        "    if i % 10 == 0: sys.stdout.write('o' * 60 + '\\n')\n"
        "sys.stderr.write('last line\\n')\n"
    )
    done = _subprocess.run([PY, "-c", code], timeout=60)
    assert done.returncode == 0
    # stderr keeps its end only (see test_stderr_is_kept_as_a_bounded_tail).
    assert done.stderr.startswith("[")
    assert len(done.stderr) < _subprocess.STDERR_TAIL_BYTES + 100
    assert len(done.stdout) == 10_000 * 61
    assert _subprocess.stderr_tail(done.stderr, lines=1) == "last line"


def test_timeout_stops_child_and_grandchild(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(g.pid))\n"
        "print('waiting for the scan', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(TrivyRunError) as caught:
        _subprocess.run([PY, "-c", code], timeout=1.5, kill_grace=1.0)
    assert time.monotonic() - started < 10
    error = caught.value
    assert "timed out after 1.5 s" in error.message
    assert error.returncode is None
    assert error.argv[0] == PY
    assert "waiting for the scan" in error.stderr_tail
    grandchild = int(_wait_for_file(pid_file))
    assert _wait_gone(grandchild), f"grandchild {grandchild} survived the timeout"


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(TrivyRunError):
        _subprocess.run([PY, "-c", code], timeout=1.0, kill_grace=0.5)
    assert time.monotonic() - started < 10
    assert _wait_gone(int(_wait_for_file(pid_file)))


def test_keyboard_interrupt_stops_the_child_and_propagates(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )

    def heartbeat(elapsed: float) -> None:
        if pid_file.exists() and pid_file.read_text():
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C delivers to us

    with pytest.raises(KeyboardInterrupt):
        _subprocess.run([PY, "-c", code], timeout=30, heartbeat=heartbeat, kill_grace=1.0)
    assert _wait_gone(int(pid_file.read_text()))


def test_heartbeat_gets_increasing_elapsed_times() -> None:
    seen: list[float] = []
    done = _subprocess.run(
        [PY, "-c", "import time; time.sleep(0.6)"],
        timeout=30,
        heartbeat=seen.append,
        heartbeat_interval=0.05,
    )
    assert done.returncode == 0
    assert len(seen) >= 3
    assert all(later > earlier for earlier, later in itertools.pairwise(seen))
    assert 0 < seen[0] < seen[-1] <= done.duration


def test_killed_by_a_signal_gives_a_negative_returncode() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    done = _subprocess.run([PY, "-c", code], timeout=30)
    assert done.returncode == -signal.SIGKILL


def test_missing_executable_is_trivy_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-trivy"
    with pytest.raises(TrivyNotFoundError) as caught:
        _subprocess.run([str(missing), "version"], timeout=30)
    assert str(missing) in caught.value.message
    assert "\n" not in caught.value.message


def test_file_without_execute_permission_is_trivy_not_found(tmp_path: Path) -> None:
    script = tmp_path / "trivy"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(TrivyNotFoundError) as caught:
        _subprocess.run([str(script)], timeout=30)
    assert str(script) in caught.value.message
    assert "permission denied" in caught.value.message


def test_missing_working_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScannerError) as caught:
        _subprocess.run([PY, "-c", "pass"], timeout=30, cwd=tmp_path / "gone")
    assert not isinstance(caught.value, TrivyNotFoundError)
    assert str(tmp_path / "gone") in caught.value.message


def test_stderr_tail_keeps_the_last_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(40)) + "\n\n"
    assert _subprocess.stderr_tail(text).splitlines() == [f"line {i}" for i in range(25, 40)]
    assert _subprocess.stderr_tail(text, lines=2) == "line 38\nline 39"
    assert _subprocess.stderr_tail("") == ""
    long_line = _subprocess.stderr_tail("x" * 5000)
    assert len(long_line) < 600
    assert long_line.endswith("[...]")


def test_stderr_is_kept_as_a_bounded_tail() -> None:
    # 300 MB of log on stderr once took 921 MB of memory. Measured in a fresh interpreter by
    # VmHWM, its own address space's peak: ru_maxrss would carry over the peak of the process
    # that spawned it (Linux keeps it across vfork and exec), here a long-lived test worker.
    probe = (
        "import re, sys\n"
        "from scangate import _subprocess\n"
        "child = \"import os\\nfor _ in range(300): os.write(2, b'e' * (1 << 20))\\n"
        "os.write(2, b'\\\\nthe end\\\\n')\"\n"
        "done = _subprocess.run([sys.executable, '-c', child], timeout=120)\n"
        "assert done.returncode == 0, done.returncode\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
        "print(len(done.stderr))\n"
        "print(_subprocess.stderr_tail(done.stderr, lines=1))\n"
    )
    done = _subprocess.run([PY, "-c", probe], timeout=180)
    assert done.returncode == 0, done.stderr
    peak_kib, kept, last = done.stdout.split("\n")[:3]
    assert int(peak_kib) < 100 * 1024  # an interpreter with scangate imported: ~30 MB
    assert int(kept) < _subprocess.STDERR_TAIL_BYTES + 100
    assert last == "the end"
