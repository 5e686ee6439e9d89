"""Where an output path leads, and the checks made on it before any work is done: a
writable file or stream, no two outputs naming one file, no output naming a file the run
reads (`_outputs` writes them; its docstring has the rules).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from scangate.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Located:
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


def locate(path: Path, follow_links: bool = True) -> Located:
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
                return Located(path, real, fd=int(proc[2]))
            return Located(path, real, stream=True)
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
        return Located(path, real)
    if stat.S_ISREG(mode):
        return Located(path, real)
    if stat.S_ISDIR(mode):
        raise UsageError(f"cannot write {path}: it is a directory; name a file")
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return Located(path, real, stream=True)
    kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else None
    raise UsageError(
        f"cannot write {path}: it is {kind or 'not a file'}; name a file, a FIFO or /dev/stdout"
    )


def check_writable(path: Path, *, follow_links: bool = True) -> None:
    """Refuse an output path that cannot be written, before any work is done for it. Never
    opens a FIFO (that would block until a reader comes, or end a waiting reader's input)."""
    target = locate(path, follow_links)
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


def _probe_directory(target: Located) -> None:
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
    remove(Path(probe))


def check_distinct(outputs: Iterable[tuple[str, Path]]) -> None:
    """Two outputs naming one file (by path, symlink or hard link) are a usage error."""
    distinct([(option, locate(path)) for option, path in outputs])


def distinct(targets: Sequence[tuple[str, Located]]) -> None:
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
    """An output naming a file the run reads (a report, the baseline, a --vex file, the
    policy, an ignore file), by path, symlink or hard link, is a usage error: the run would
    replace its own input with its result. Inputs that are not regular files (a pipe, a
    missing path) are skipped: writing those destroys nothing the run needs again."""
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
        key = locate(path).identity()
        if key is not None and key in read:
            what, source = read[key]
            raise UsageError(
                f"{option} {path} names {what} {source}, which this run reads: "
                "write the output to another path"
            )


def remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
