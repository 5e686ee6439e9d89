"""The one place scangate starts a process.

`run` takes an argv list (never a shell string), gives the child no stdin (or exactly the
bytes it is handed, e.g. object names for `git cat-file --batch`), captures
stdout and stderr without deadlocking, and runs the child in its own process group so that a
timeout, Ctrl-C or any other interruption stops the child *and* everything it started.
It returns a `Completed` and never judges the exit code: the caller decides what a
non-zero or negative (killed by a signal) return code means.

POSIX only: process groups and `os.killpg` are what make "stop everything" reliable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scangate.errors import ScannerError, TrivyNotFoundError, TrivyRunError

KILL_GRACE_SECONDS = 3.0
"""How long a stopped child gets between SIGTERM and SIGKILL."""

_TAIL_LINE_MAX = 500


@dataclass(frozen=True)
class Completed:
    """A finished child process. A negative `returncode` is the signal that killed it."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration: float


def stderr_tail(text: str, lines: int = 15) -> str:
    """The last `lines` lines of `text`, each cut to a readable length, for error messages."""
    tail = text.rstrip().splitlines()[-lines:] if lines > 0 else []
    return "\n".join(
        line if len(line) <= _TAIL_LINE_MAX else line[:_TAIL_LINE_MAX] + " [...]" for line in tail
    )


def run(
    argv: list[str],
    *,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    heartbeat: Callable[[float], None] | None = None,
    heartbeat_interval: float = 0.1,
    kill_grace: float = KILL_GRACE_SECONDS,
    input: bytes | None = None,
) -> Completed:
    """Run `argv` to completion and return what it wrote.

    `env=None` lets the child inherit this process's environment. `heartbeat(elapsed)` is
    called about every `heartbeat_interval` seconds while the child runs. `input` is written to
    the child's stdin, which is then closed; without it the child's stdin is /dev/null. On
    timeout the child's process group is stopped and `TrivyRunError` is raised; on
    KeyboardInterrupt (or an exception from `heartbeat`) the group is stopped and the exception
    propagates.
    """
    if not argv:
        raise ValueError("run() needs a non-empty argv")
    argv = [str(arg) for arg in argv]
    program = argv[0]
    start = time.monotonic()
    feed = _input_file(input) if input is not None else None
    try:
        proc = subprocess.Popen(
            argv,
            stdin=feed if feed is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            # Its own process group: Ctrl-C in the terminal reaches only us, and we can stop
            # the child together with any helper processes it started.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if cwd is not None and str(exc.filename) == str(cwd):
            raise ScannerError(
                f"working directory {cwd} for {program} does not exist: create it or fix the path"
            ) from exc
        raise TrivyNotFoundError(
            f"{program}: no such executable: install it or fix the path to it"
        ) from exc
    except PermissionError as exc:
        raise TrivyNotFoundError(
            f"{program}: permission denied when starting it: make it executable (chmod +x) "
            "or point to another binary"
        ) from exc
    except OSError as exc:
        # ENOEXEC (a binary for another CPU or OS, a script without #!) and friends.
        raise TrivyNotFoundError(
            f"{program} cannot be executed ({exc.strerror or exc}): "
            "install a build for this platform"
        ) from exc
    finally:
        if feed is not None:
            feed.close()  # the child has its own descriptor

    deadline = None if timeout is None else start + timeout
    out = err = b""
    timed_out = False
    try:
        while True:
            wait = max(heartbeat_interval, 0.01)
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            try:
                out, err = proc.communicate(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                # communicate() keeps what it has read so far; retrying loses no output.
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    timed_out = True
                    break
                if heartbeat is not None:
                    heartbeat(now - start)
        if timed_out:
            _stop_group(proc, kill_grace)
            err = _drain(proc, kill_grace)
    except BaseException:
        # KeyboardInterrupt, or heartbeat raised: leave no orphan behind, then re-raise.
        _stop_group(proc, kill_grace)
        _close_pipes(proc)
        raise
    if timed_out:
        raise TrivyRunError(
            f"{_describe(argv)} timed out after {timeout:g} s and was stopped: "
            "raise the timeout or scan a smaller target",
            argv,
            None,
            stderr_tail(_decode(err)),
        )
    return Completed(
        argv=argv,
        returncode=proc.returncode,
        stdout=_decode(out),
        stderr=_decode(err),
        duration=time.monotonic() - start,
    )


def _input_file(data: bytes) -> IO[bytes]:
    """`data` in an unlinked temp file, to be the child's stdin. Not a pipe: communicate()
    cannot go on writing input after the TimeoutExpired each heartbeat is, and a file never
    blocks either side."""
    feed = tempfile.TemporaryFile()  # noqa: SIM115 - run() closes it once the child has it
    try:
        feed.write(data)
        feed.seek(0)
    except BaseException:
        feed.close()
        raise
    return feed


def _describe(argv: list[str]) -> str:
    words = [Path(argv[0]).name, *argv[1:2]]
    return "`" + " ".join(words) + "`"


def _decode(data: bytes) -> str:
    # Trivy writes UTF-8; a stray invalid byte must not turn a report into a crash.
    return data.decode("utf-8", errors="replace")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # ESRCH: the group is already gone; EPERM: on macOS, its last member is a zombie.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after `grace`."""
    # start_new_session=True made the child a group leader, so its pid is the group id.
    # The group id cannot be reused while any member lives, even after the leader exits.
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Helpers the child started may ignore SIGTERM or outlive it: SIGKILL the group always.
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()


def _drain(proc: subprocess.Popen[bytes], grace: float) -> bytes:
    """All stderr read so far, finishing the read once the group is stopped.

    communicate() accumulates across calls, so this includes what earlier calls read. The wait
    is bounded: a process that left the group with setsid could hold the pipe open forever.
    """
    try:
        _, err = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired as expired:
        _close_pipes(proc)
        return expired.stderr or b""
    except ValueError:
        return b""  # pipes already closed
    return err


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
