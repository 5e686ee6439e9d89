"""Output files (`--json`, `--sarif`, `--markdown`, `--raw-report`, baselines): checked
before any work is done for them, then written as one set once everything is rendered.

- A regular file (or a new path) is written to a temp file in its directory and renamed
  over it, so a reader never sees half a file. A symlink is followed: its target is
  replaced and the link stays. Not for a baseline (`follow_links=False`): it lives in the
  scanned tree, whose author may have made it a link to any file the user can write.
- Anything else that takes a write is written straight into: a FIFO, a character device,
  `/dev/stdout`, `/dev/fd/N` (bash's `>(...)`). Renaming over those would replace the
  device node or the link with a regular file (as root, `/dev/stdout` itself).
- The set is all or nothing: temps first, then renames, then streams. If anything fails,
  every temp is removed and every path already renamed over gets back what it held before
  the run (or is removed if it did not exist), so after exit 2 or 3 no output path holds
  this run's content. Bytes already written into a stream cannot be taken back.
- Two outputs naming the same file are refused before the work: one would silently
  replace the other. So is an output naming a file the run reads (a report, the baseline,
  a --vex file, the policy, an ignore file): the result would replace its own input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import secrets
import select
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from scangate.cli import _console
from scangate.cli._output_paths import (
    Located,
    check_distinct,
    check_not_inputs,
    check_writable,
    distinct,
    locate,
    remove,
)
from scangate.errors import ScangateError, UsageError
from scangate.formats import StartOver, joined

# The checks made before the work live in `_output_paths`; commands import them from here.
__all__ = [
    "Output",
    "OutputError",
    "check_distinct",
    "check_not_inputs",
    "check_writable",
    "write_atomic",
    "write_outputs",
]


class OutputError(ScangateError):
    """An output file could not be written after the verdict was reached: exit 3, and
    nothing of the run is left at any output path."""


@dataclasses.dataclass(frozen=True)
class Output:
    """One rendered output: `option` (`--json`) names it in messages. `data` is the text, or
    a streamed rendering (`SarifFormat.stream`): written as it is made, read once."""

    option: str
    path: Path
    data: str | bytes | Iterator[bytes | StartOver]
    # False for a file that lives in the scanned tree (the baseline): a symbolic link there
    # is the tree author's, and may lead to any file the user can write.
    follow_links: bool = True

    def payload(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        if not isinstance(self.data, str):
            return joined(self.data)
        # A lone surrogate from a hostile report must not abort the write.
        return self.data.encode("utf-8", errors="replace")

    def chunks(self, size: int = 1 << 22) -> Iterator[bytes | StartOver]:
        """`payload` in parts of about `size`: a 300 MB SARIF log is not held a second time
        as bytes, nor, streamed, at all. `START_OVER` drops the parts before it."""
        if isinstance(self.data, bytes):
            yield self.data
            return
        if isinstance(self.data, str):
            for start in range(0, len(self.data), size):
                # Whole code points: a slice of a str never splits a character.
                yield self.data[start : start + size].encode("utf-8", errors="replace")
            return
        pending: list[bytes] = []
        held = 0
        for piece in self.data:
            if isinstance(piece, StartOver) or len(piece) >= size // 4:
                # A start-over, or a piece large already: handed on as it is.
                if pending:
                    yield b"".join(pending)
                    pending, held = [], 0
                yield piece
                continue
            pending.append(piece)
            held += len(piece)
            if held >= size:
                yield b"".join(pending)
                pending, held = [], 0
        if pending:
            yield b"".join(pending)


def write_atomic(
    path: Path, text: str | bytes, option: str = "output", *, follow_links: bool = True
) -> None:
    """Write one output file (see the module docstring)."""
    write_outputs([Output(option, path, text, follow_links)])


@dataclasses.dataclass
class _Staged:
    output: Output
    target: Located
    temp: Path
    backup: Path | None = None
    existed: bool = False


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write every output or none: see the module docstring. Raises OutputError (exit 3)."""
    # Located again: the tree may have changed since the check, and --raw-report names its
    # per-image files only after scanning.
    try:
        located = [(o, locate(o.path, o.follow_links)) for o in outputs]
    except UsageError as exc:  # a path that changed since the check: exit 3, as for any write
        raise OutputError(f"{exc.message}; no output of this run was kept") from None
    distinct([(o.option, t) for o, t in located])
    staged: list[_Staged] = []
    renamed: list[_Staged] = []
    try:
        for output, target in located:
            if target.fd is None and not target.stream:
                staged.append(_stage(output, target))
        for item in staged:
            _replace(item)
            renamed.append(item)
        for output, target in located:
            if target.fd is not None or target.stream:
                _write_stream(output, target)
    except BaseException:
        for item in reversed(renamed):
            _roll_back(item)
        for item in staged:
            item.temp.unlink(missing_ok=True)
        raise
    for item in renamed:
        if item.backup is not None:
            remove(item.backup)


def _failed(output: Output, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, BrokenPipeError):
        reason += " (the reader closed it)"
    return OutputError(f"cannot write {output.path}: {reason}; no output of this run was kept")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(output: Output, target: Located) -> _Staged:
    real = target.real
    try:
        # A file replaced keeps its permissions.
        mode = stat.S_IMODE(real.stat().st_mode)
        existed = True
    except OSError:
        # mkstemp makes the file 0600; a new output file gets the mode any new file would.
        mode = 0o666 & ~_umask()
        existed = False
    try:
        # The name is cut so that prefix + suffix stay under NAME_MAX.
        fd, temp = tempfile.mkstemp(prefix=f".{real.name[:100]}.", suffix=".tmp", dir=real.parent)
    except OSError as exc:
        raise _failed(output, exc) from None
    item = _Staged(output, target, Path(temp), existed=existed)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            for chunk in output.chunks():
                if isinstance(chunk, StartOver):
                    handle.seek(0)
                    handle.truncate()
                else:
                    handle.write(chunk)
    except BaseException as exc:
        remove(item.temp)
        if isinstance(exc, OSError):
            raise _failed(output, exc) from None
        raise
    return item


def _replace(item: _Staged) -> None:
    real = item.target.real
    if item.existed:
        # A hard link to what was there, so that a rollback can put it back. A file system
        # without hard links gets no backup: a rollback then removes the path.
        backup = real.parent / f".{real.name[:100]}.{secrets.token_hex(6)}.bak"
        with contextlib.suppress(OSError):
            backup.hardlink_to(real)
            item.backup = backup
    try:
        item.temp.replace(real)
    except OSError as exc:
        if item.backup is not None:
            remove(item.backup)
            item.backup = None
        raise _failed(item.output, exc) from None


def _roll_back(item: _Staged) -> None:
    real = item.target.real
    with contextlib.suppress(OSError):
        if item.backup is not None:
            item.backup.replace(real)
        else:
            real.unlink()


def _write_stream(output: Output, target: Located) -> None:
    data = output.payload()
    try:
        if target.fd is not None:
            # Our own descriptor (stdout for /dev/stdout): written at its offset, after
            # whatever Python still holds for it.
            for stream in (sys.stdout, sys.stderr):
                if stream is not None and _fileno(stream) == target.fd:
                    stream.flush()
            _write_all(target.fd, data)
            return
        fd = _open_stream(output, target.real)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, 0)
            _write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _failed(output, exc) from None


def _open_stream(output: Output, path: Path) -> int:
    """Open a FIFO or device for writing. A FIFO with no reader yet is waited for, as any
    writer to a FIFO does, but not silently."""
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO or not stat.S_ISFIFO(path.stat().st_mode):
            raise
        _console.warning(f"{output.option} {output.path}: waiting for a reader of this FIFO")
        return os.open(path, flags)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def _fileno(stream: object) -> int | None:
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            # An inherited non-blocking pipe that is full: wait until it can take more.
            select.select([], [fd], [])
