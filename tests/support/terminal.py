"""Running scangate with one of its streams on a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path
from typing import Literal

from tests.support import scanning

# scangate's own colour codes (`formats.table`): bold, dim, red, green, yellow, blue, reset.
OWN_COLOUR = re.compile(rb"\x1b\[(?:0|1|2|31|32|33|34|1;31|1;32)m")


def without_own_colours(received: bytes) -> bytes:
    """What a terminal got, scangate's own colour codes taken out: any escape left came
    from somewhere else."""
    return OWN_COLOUR.sub(b"", received)


def run_on_a_tty(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stream: Literal["stdout", "stderr"],
    columns: int | None = None,
) -> tuple[int, str, bytes]:
    """Run scangate with `stream` on a pseudo-terminal and the other stream on a pipe (stderr
    is dropped when stdout is the tty): (exit code, the piped stdout, the bytes the tty got).
    `columns` sets the terminal's window size, as a terminal emulator does (TIOCSWINSZ)."""
    primary, secondary = pty.openpty()
    if columns is not None:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    on_tty = stream == "stdout"
    with subprocess.Popen(
        [str(scanning.SCANGATE), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=secondary if on_tty else subprocess.PIPE,
        stderr=subprocess.DEVNULL if on_tty else secondary,
    ) as child:
        os.close(secondary)
        received = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed its end and everything was read
                break
            if not chunk:
                break
            received += chunk
        out = child.stdout.read().decode() if child.stdout else ""
        code = child.wait(timeout=120)
    os.close(primary)
    return code, out, received
