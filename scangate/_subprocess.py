"""The one place scangate starts a process.

`run` takes an argv list (never a shell string), gives the child no stdin (or exactly the
bytes it is handed, e.g. object names for `git cat-file --batch`), captures stdout whole and
the last `STDERR_TAIL_BYTES` of stderr without deadlocking, and runs the child in its own
process group so that a timeout, Ctrl-C or any other interruption stops the child *and*
everything it started. It returns a `Completed` and never judges the exit code: the caller
decides what a non-zero or negative (killed by a signal) return code means.

POSIX only: process groups and `os.killpg` are what make "stop everything" reliable.
"""

from __future__ import annotations

import contextlib
import os
import selectors
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

STDERR_TAIL_BYTES = 64 * 1024
"""How much of a child's stderr is kept: the end, where the error is."""

_READ_CHUNK = 1 << 16

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
    pipes = _Pipes(proc)
    timed_out = False
    try:
        last_beat = start
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                timed_out = True
                break
            wait = max(heartbeat_interval, 0.01)
            if deadline is not None:
                wait = min(wait, deadline - now)
            if pipes.open():
                pipes.read(wait)
            else:
                # Both pipes are closed; the child may still be running.
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
            now = time.monotonic()
            if heartbeat is not None and now - last_beat >= heartbeat_interval:
                last_beat = now
                heartbeat(now - start)
        if timed_out:
            _stop_group(proc, kill_grace)
            pipes.drain(kill_grace)
    except BaseException:
        # KeyboardInterrupt, or heartbeat raised: leave no orphan behind, then re-raise.
        _stop_group(proc, kill_grace)
        raise
    finally:
        pipes.close()
    if timed_out:
        raise TrivyRunError(
            f"{_describe(argv)} timed out after {timeout:g} s and was stopped: "
            "raise the timeout or scan a smaller target",
            argv,
            None,
            stderr_tail(pipes.stderr()),
        )
    return Completed(
        argv=argv,
        returncode=proc.returncode,
        stdout=_decode(b"".join(pipes.out)),
        stderr=pipes.stderr(),
        duration=time.monotonic() - start,
    )


class _Pipes:
    """The child's stdout (kept whole: git callers parse it) and stderr (only its last
    `STDERR_TAIL_BYTES`: a child that writes gigabytes of log must not take as much memory),
    read as data arrives so neither pipe fills up and blocks the child."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.out: list[bytes] = []
        self.err = bytearray()
        self.cut = 0
        self.closed = False
        self.selector = selectors.DefaultSelector()
        for stream, keep in ((proc.stdout, self.out.append), (proc.stderr, self._keep_err)):
            if stream is not None:
                self.selector.register(stream, selectors.EVENT_READ, keep)

    def _keep_err(self, chunk: bytes) -> None:
        self.err += chunk
        if len(self.err) > 2 * STDERR_TAIL_BYTES:  # trim in batches, not on every chunk
            extra = len(self.err) - STDERR_TAIL_BYTES
            del self.err[:extra]
            self.cut += extra

    def open(self) -> bool:
        return bool(self.selector.get_map())

    def read(self, wait: float) -> None:
        """Read what is ready within `wait` seconds; a pipe at EOF is closed."""
        for key, _ in self.selector.select(wait):
            chunk = os.read(key.fd, _READ_CHUNK)
            if chunk:
                key.data(chunk)
            else:
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]

    def drain(self, grace: float) -> None:
        """Read the rest after the group was stopped, for at most `grace` seconds: a process
        that left the group with setsid could hold the pipes open forever."""
        until = time.monotonic() + grace
        while self.open() and (left := until - time.monotonic()) > 0:
            self.read(left)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    def stderr(self) -> str:
        tail = bytes(self.err[-STDERR_TAIL_BYTES:])
        cut = self.cut + len(self.err) - len(tail)
        return (f"[{cut} earlier bytes of output not kept]\n" if cut else "") + _decode(tail)


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
