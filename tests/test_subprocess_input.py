"""scangate._subprocess.run's `input`: bytes written to the child's stdin, then closed."""

from __future__ import annotations

import sys

from scangate import _subprocess

PY = sys.executable
ECHO_STDIN = "import sys; data = sys.stdin.buffer.read(); print(len(data), data[:8])"


def test_without_input_the_child_reads_dev_null() -> None:
    done = _subprocess.run([PY, "-c", ECHO_STDIN], timeout=30)
    assert done.stdout == "0 b''\n"


def test_input_reaches_stdin_and_is_closed() -> None:
    done = _subprocess.run([PY, "-c", ECHO_STDIN], timeout=30, input=b"\x00\xffabc\n")
    assert done.returncode == 0
    assert done.stdout == "6 b'\\x00\\xffabc\\n'\n"
    assert _subprocess.run([PY, "-c", ECHO_STDIN], timeout=30, input=b"").stdout == "0 b''\n"


def test_large_input_with_heartbeats_is_written_completely() -> None:
    # More than a pipe buffer, to a child that reads slowly: communicate() is retried after
    # each heartbeat timeout and must go on writing where it stopped.
    slow = "import sys, time; time.sleep(0.5); print(len(sys.stdin.buffer.read()))"
    beats: list[float] = []
    payload = b"x" * (4 * 1024 * 1024)
    done = _subprocess.run(
        [PY, "-c", slow], timeout=60, input=payload, heartbeat=beats.append, heartbeat_interval=0.05
    )
    assert done.stdout == f"{len(payload)}\n"
    assert beats


def test_a_child_that_ignores_its_input_does_not_break_the_run() -> None:
    done = _subprocess.run([PY, "-c", "print('done')"], timeout=30, input=b"y" * 1_000_000)
    assert done.returncode == 0
    assert done.stdout == "done\n"
