"""Reading the files scangate takes its configuration from: policies, ignore files, baselines.

Two kinds of path, read differently:

- Found by scangate itself in the scanned tree (`.trivyignore`, `.trivyignore.yaml`,
  `.scangate.yaml` and the files it `extends`, the hook's default baseline): the author of a
  pull request chose what is there. The file must be a regular file at that very name: the
  last component is opened with O_NOFOLLOW, and the directories on the way must resolve
  inside the root it was found under. Otherwise a link to `/proc/self/environ` or
  `~/.git-credentials` is read, and its text comes back in warnings and outputs.
- Named by the user (`--policy`, `--ignorefile`, `--baseline`): links are followed, since
  the user chose that path.

Either way only a regular file is read (never /dev/zero, a FIFO, or a /proc file, which calls
itself regular with a size of 0), and never more than a cap: a larger file is refused after
reading at most cap + 1 bytes. Every refusal is one line naming the file and the fix (exit 2).
No concurrent writer to the tree is assumed: the checks stop links committed to the tree.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from scangate.errors import PolicyError, UsageError

MIB = 1024 * 1024
# Policies and ignore files are a few KiB; 1 MiB is far beyond any real one and bounds
# the YAML parser's time and memory (a 10 MB `.trivyignore.yaml` took 37 s and 1.3 GB).
CONFIG_CAP = 1 * MIB
# A baseline entry is about 200 bytes: 64 MiB is some 300,000 findings, more than any
# real scan, while json.loads of it stays within a few hundred MB.
BASELINE_CAP = 64 * MIB

# Characters that are a line break to Python or to YAML 1.1 (PyYAML) but not to git, GitHub's
# diff or Trivy (Go's bufio splits on \n only), and the other controls no config needs:
# C0 but tab and CRLF, DEL, C1 (NEL is U+0085), U+2028 and U+2029.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]|\r(?!\n)")


def _size(cap: int) -> str:
    return f"{cap // MIB} MiB" if cap % MIB == 0 else f"{cap} bytes"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def is_inside(path: Path, root: Path) -> bool:
    """Whether the directories on the way to `path` resolve inside `root` (no `..` or
    symbolic link out of it); the last component is not resolved (O_NOFOLLOW opens it)."""
    try:
        top = root.resolve()
        parent = path.parent.resolve()
    except OSError:  # a link loop on the way: nothing to read there
        return False
    return parent == top or top in parent.parents


def read_bytes(
    path: Path, *, label: str, cap: int, root: Path | None, option: str, what: str
) -> bytes:
    """The bytes of the regular file `path`, at most `cap` of them (see the module docstring).

    `root`: the file was found in the tree under `root` (no link followed, nothing outside);
    None: the user named it. `option` names the flag that names such a file (the fix);
    `what` the kind of file, for the cap's message.
    A missing file raises FileNotFoundError, for the caller to word.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK  # a FIFO never blocks
    if root is not None:
        if not is_inside(path, root):
            raise UsageError(
                f"{label}: leads outside {root.absolute()} (through '..' or a symbolic link): "
                "a file scangate finds in the scanned tree is read only from inside it"
            )
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if root is not None and exc.errno == errno.ELOOP and path.is_symlink():
            raise UsageError(
                f"{label}: is a symbolic link, which scangate does not follow in the scanned "
                f"tree: commit the file itself, or name the file you mean with {option}"
            ) from None
        raise UsageError(f"{label}: cannot read it: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(
                f"{label}: is {_kind(info.st_mode)}, not a regular file: name a regular file"
            )
        if info.st_size > cap:
            raise UsageError(
                f"{label}: larger than {_size(cap)}, scangate's limit for {what}: this is not "
                f"{what}, or it must be split"
            )
        chunks: list[bytes] = []
        total = 0
        limit = min(cap, info.st_size) + 1  # one byte more tells a file that reads too long
        while total < limit:
            chunk = os.read(fd, limit - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise UsageError(f"{label}: cannot read it: {exc.strerror}") from None
    finally:
        os.close(fd)
    if total > info.st_size:
        # /proc/self/environ and its kind say "regular, 0 bytes" and then read on.
        raise UsageError(
            f"{label}: not a regular file (it reads longer than its size, like a /proc "
            "file, or it grew while read): name a regular file"
        )
    return b"".join(chunks)


def read_text(
    path: Path, *, label: str, cap: int, root: Path | None, option: str, what: str
) -> str:
    """`read_bytes` decoded as UTF-8; anything else is refused, naming the line."""
    data = read_bytes(path, label=label, cap=cap, root=root, option=option, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{label}:{line}: not UTF-8 text: save the file as UTF-8") from None


def check_controls(text: str, label: str) -> None:
    """Refuse a character that is a line break to scangate's readers but not to git or Trivy
    (a reviewer would see a comment where scangate reads an allow entry), and other controls."""
    found = _CONTROL.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    char = found.group()[0]
    raise UsageError(
        f"{label}:{line}: control character U+{ord(char):04X}, which some readers take for a "
        "line break and others do not: remove it (only tab and LF or CRLF line ends are allowed)"
    )


def read_config(path: Path, *, label: str, root: Path | None, option: str, what: str) -> str:
    """A policy or ignore file's text: `read_text` under CONFIG_CAP, then `check_controls`;
    a refusal is a PolicyError. A missing file raises FileNotFoundError."""
    try:
        text = read_text(path, label=label, cap=CONFIG_CAP, root=root, option=option, what=what)
        check_controls(text, label)
    except UsageError as exc:
        raise PolicyError(exc.message) from None
    return text
