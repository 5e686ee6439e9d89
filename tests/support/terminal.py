"""Running scangate with one of its streams on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path
from typing import Literal

from tests.support import scanning


def run_on_a_tty(
    args: list[str], *, cwd: Path, env: dict[str, str], stream: Literal["stdout", "stderr"]
) -> tuple[int, str, bytes]:
    """Run scangate with `stream` on a pseudo-terminal and the other stream on a pipe (stderr
    is dropped when stdout is the tty): (exit code, the piped stdout, the bytes the tty got)."""
    primary, secondary = pty.openpty()
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
