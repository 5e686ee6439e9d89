"""One Trivy process: run it with a backstop timeout, check how it ended, read its report.

The report file is opened without following links or blocking: whatever ran as `trivy` may
have left anything at the output path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from scangate import _subprocess
from scangate.errors import TrivyRunError

if TYPE_CHECKING:
    from collections.abc import Callable

    from scangate.trivy_argv import ScanOptions, Target

# Seconds past --timeout before scangate stops a Trivy that ignored its own time limit.
_BACKSTOP_GRACE_MIN = 2.0
_BACKSTOP_GRACE_MAX = 30.0


def run(
    argv: list[str],
    options: ScanOptions,
    env: Mapping[str, str],
    cwd: Path,
    heartbeat: Callable[[float], None] | None,
) -> _subprocess.Completed:
    # Trivy enforces --timeout itself; ours is the backstop for a hung process. The grace
    # scales with the timeout: a flat 30 s would let `--timeout 1s` hang for 31 s.
    grace = min(_BACKSTOP_GRACE_MAX, max(_BACKSTOP_GRACE_MIN, options.timeout / 10))
    try:
        return _subprocess.run(
            argv, timeout=options.timeout + grace, env=env, cwd=cwd, heartbeat=heartbeat
        )
    except TrivyRunError as exc:
        raise TrivyRunError(
            f"trivy did not finish within {options.timeout:g} s and was stopped: "
            "raise --timeout, or skip large folders with --skip-dirs",
            exc.argv,
            exc.returncode,
            exc.stderr_tail,
        ) from None


def check_completed(completed: _subprocess.Completed, target: Target) -> None:
    tail = _subprocess.stderr_tail(completed.stderr)
    if completed.returncode < 0:
        raise TrivyRunError(
            f"trivy {target.label} was killed by signal {-completed.returncode}",
            completed.argv,
            completed.returncode,
            tail,
        )
    if completed.returncode != 0:
        raise TrivyRunError(
            f"trivy {target.label} failed with exit code {completed.returncode}",
            completed.argv,
            completed.returncode,
            tail,
        )


def read_output(output: Path, completed: _subprocess.Completed, target: Target) -> bytes:
    # Trivy (or whatever runs as trivy) may leave anything at the output path: a FIFO would
    # block a plain open forever, a symlink could point at any file. Open without following
    # links and without blocking, then accept only a regular file.
    try:
        fd = os.open(output, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        raise _odd_output(output, completed, target, exc.strerror or str(exc)) from None
    raw = b""
    if fd is not None:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise _odd_output(output, completed, target, "not a regular file")
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read()
    if not raw.strip():
        raise TrivyRunError(
            f"trivy {target.label} exited 0 but wrote no report",
            completed.argv,
            completed.returncode,
            _subprocess.stderr_tail(completed.stderr),
        )
    return raw


def _odd_output(
    output: Path, completed: _subprocess.Completed, target: Target, why: str
) -> TrivyRunError:
    return TrivyRunError(
        f"trivy {target.label} left something other than a report file at {output} ({why}): "
        "refusing to read it; run a Trivy release binary",
        completed.argv,
        completed.returncode,
        _subprocess.stderr_tail(completed.stderr),
    )
