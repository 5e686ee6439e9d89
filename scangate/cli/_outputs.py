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
  the policy, an ignore file): the result would replace its own input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import re
import secrets
import select
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from scangate.cli import _console
from scangate.errors import ScangateError, UsageError


class OutputError(ScangateError):
    """An output file could not be written after the verdict was reached: exit 3, and
    nothing of the run is left at any output path."""


@dataclasses.dataclass(frozen=True)
class Output:
    """One rendered output: `option` (`--json`) names it in messages."""

    option: str
    path: Path
    data: str | bytes
    # False for a file that lives in the scanned tree (the baseline): a symbolic link there
    # is the tree author's, and may lead to any file the user can write.
    follow_links: bool = True

    def payload(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        # A lone surrogate from a hostile report must not abort the write.
        return self.data.encode("utf-8", errors="replace")

    def chunks(self, size: int = 1 << 22) -> Iterator[bytes]:
        """`payload` in parts: a 300 MB SARIF log is not held a second time as bytes."""
        if isinstance(self.data, bytes):
            yield self.data
            return
        for start in range(0, len(self.data), size):
            # Whole code points: a slice of a str never splits a character.
            yield self.data[start : start + size].encode("utf-8", errors="replace")


@dataclasses.dataclass(frozen=True)
class _Target:
    """Where an output path leads: a file to replace (`real`, links followed), one of this
    process's descriptors (`fd`), or another non-regular file to open and write (`stream`)."""

    path: Path
    real: Path
    fd: int | None = None
    stream: bool = False

    def identity(self) -> tuple[object, ...] | None:
        """What two outputs share when they are the same file; None for a character device
        (a terminal or /dev/null can take several outputs, one after the other)."""
        try:
            info = os.fstat(self.fd) if self.fd is not None else self.real.stat()
        except OSError:
            return ("new", str(self.real))
        if stat.S_ISCHR(info.st_mode):
            return None
        return (info.st_dev, info.st_ino)


# /proc/<pid>/fd/N (what /dev/fd/N, /dev/stdout and /proc/self/fd/N lead to on Linux): a
# magic link to an open descriptor, not a name to rename over.
_PROC_FD = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd/(\d+)")
_MAX_LINKS = 40  # Linux's MAXSYMLINKS


def _locate(path: Path, follow_links: bool = True) -> _Target:
    """Follow the output path's own symlinks by hand (the kernel would follow /proc's fd
    links to names like `pipe:[123]`, and `resolve` would hide that the path is a
    descriptor); the directories on the way are resolved as the kernel would. Without
    `follow_links`, a symlink as the last component is refused."""
    if path.name in ("", ".", ".."):
        raise UsageError(f"cannot write {path}: it is a directory; name a file")
    real = Path.cwd() / path
    if not follow_links and real.is_symlink():
        raise UsageError(
            f"cannot write {path}: it is a symbolic link, which this output is never written "
            "through: remove the link, or name the file itself"
        )
    for _ in range(_MAX_LINKS):
        real = real.parent.resolve() / real.name
        proc = _PROC_FD.fullmatch(str(real))
        if proc is not None:
            if int(proc[1]) == os.getpid():
                return _Target(path, real, fd=int(proc[2]))
            return _Target(path, real, stream=True)
        try:
            link = real.readlink()
        except OSError:  # not a link, or nothing there yet
            break
        real = real.parent / link
    else:
        raise UsageError(f"cannot write {path}: too many levels of symbolic links")
    try:
        mode = real.stat().st_mode
    except OSError:
        return _Target(path, real)
    if stat.S_ISREG(mode):
        return _Target(path, real)
    if stat.S_ISDIR(mode):
        raise UsageError(f"cannot write {path}: it is a directory; name a file")
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return _Target(path, real, stream=True)
    kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else None
    raise UsageError(
        f"cannot write {path}: it is {kind or 'not a file'}; name a file, a FIFO or /dev/stdout"
    )


def check_writable(path: Path, *, follow_links: bool = True) -> None:
    """Refuse an output path that cannot be written, before any work is done for it. Never
    opens a FIFO (that would block until a reader comes, or end a waiting reader's input)."""
    target = _locate(path, follow_links)
    if target.fd is not None:
        _check_descriptor(path, target.fd)
    elif target.stream:
        if not os.access(target.real, os.W_OK):
            raise UsageError(f"cannot write {path}: permission denied")
    else:
        _probe_directory(target)


def _check_descriptor(path: Path, fd: int) -> None:
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        raise UsageError(f"cannot write {path}: file descriptor {fd} is not open") from None
    if flags & os.O_ACCMODE == os.O_RDONLY:
        raise UsageError(f"cannot write {path}: file descriptor {fd} is open for reading only")


def _probe_directory(target: _Target) -> None:
    """Create and remove a temp file where the output's temp file will go: a missing,
    read-only or full directory is found now, not after minutes of scanning."""
    directory = target.real.parent
    if not directory.is_dir():
        # The directory as the user wrote it, unless a symlink led elsewhere.
        given = target.path.parent
        shown = given if given.resolve() == directory else directory
        raise UsageError(f"cannot write {target.path}: directory {shown} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=".scangate-probe.", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {target.path}: {exc.strerror}") from None
    os.close(fd)
    _remove(Path(probe))


def check_distinct(outputs: Iterable[tuple[str, Path]]) -> None:
    """Two outputs naming one file (by path, symlink or hard link) are a usage error."""
    _distinct([(option, _locate(path)) for option, path in outputs])


def _distinct(targets: Sequence[tuple[str, _Target]]) -> None:
    seen: dict[tuple[object, ...], tuple[str, Path]] = {}
    for option, target in targets:
        key = target.identity()
        if key is None:
            continue
        if key in seen:
            first, first_path = seen[key]
            raise UsageError(
                f"{first} {first_path} and {option} {target.path} name the same file: "
                "give each output its own path"
            )
        seen[key] = (option, target.path)


def check_not_inputs(
    outputs: Iterable[tuple[str, Path]], inputs: Iterable[tuple[str, Path]]
) -> None:
    """An output naming a file the run reads (a report, the baseline, the policy, an ignore
    file), by path, symlink or hard link, is a usage error: the run would replace its own
    input with its result. Inputs that are not regular files (a pipe, a missing path) are
    skipped: writing those destroys nothing the run needs again."""
    read: dict[tuple[object, ...], tuple[str, Path]] = {}
    for what, path in inputs:
        try:
            info = path.stat()
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(info.st_mode):
            read.setdefault((info.st_dev, info.st_ino), (what, path))
    if not read:
        return
    for option, path in outputs:
        key = _locate(path).identity()
        if key is not None and key in read:
            what, source = read[key]
            raise UsageError(
                f"{option} {path} names {what} {source}, which this run reads: "
                "write the output to another path"
            )


def write_atomic(
    path: Path, text: str | bytes, option: str = "output", *, follow_links: bool = True
) -> None:
    """Write one output file (see the module docstring)."""
    write_outputs([Output(option, path, text, follow_links)])


@dataclasses.dataclass
class _Staged:
    output: Output
    target: _Target
    temp: Path
    backup: Path | None = None
    existed: bool = False


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write every output or none: see the module docstring. Raises OutputError (exit 3)."""
    # Located again: the tree may have changed since the check, and --raw-report names its
    # per-image files only after scanning.
    try:
        located = [(o, _locate(o.path, o.follow_links)) for o in outputs]
    except UsageError as exc:  # a path that changed since the check: exit 3, as for any write
        raise OutputError(f"{exc.message}; no output of this run was kept") from None
    _distinct([(o.option, t) for o, t in located])
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
            _remove(item.backup)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _failed(output: Output, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, BrokenPipeError):
        reason += " (the reader closed it)"
    return OutputError(f"cannot write {output.path}: {reason}; no output of this run was kept")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(output: Output, target: _Target) -> _Staged:
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
                handle.write(chunk)
    except BaseException as exc:
        _remove(item.temp)
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
            _remove(item.backup)
            item.backup = None
        raise _failed(item.output, exc) from None


def _roll_back(item: _Staged) -> None:
    real = item.target.real
    with contextlib.suppress(OSError):
        if item.backup is not None:
            item.backup.replace(real)
        else:
            real.unlink()


def _write_stream(output: Output, target: _Target) -> None:
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
