"""The command line: parses flags and environment, calls the flow, writes outputs, exits.

The only layer that prints, reads the environment, writes output files and chooses the exit
code. Every `ScangateError` is caught once, in `run`, and mapped to its documented exit code.
One module per command group; what they share: `_options` (the flags), `_gate_step` (decide
and report), `_trivy_binary` (find or install Trivy), `_outputs` (files), `_console` (printing).

Every command module is imported to build the command line, `--version` and `--help`
included, so each imports at its top only what its options need (typer, `_options`); what a
command runs (the gate, policies, pydantic models, Trivy) is imported inside the command.
`tests/test_lazy_imports.py` holds that line.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

import typer

from scangate.cli import _console, baseline, check, hook, policy, scan, snapshot, trivy
from scangate.cli._app import app
from scangate.errors import ExitCode, ScangateError
from scangate.formats.escape import plain

__all__ = [
    "app",
    "baseline",
    "check",
    "hook",
    "main",
    "policy",
    "run",
    "scan",
    "snapshot",
    "trivy",
]


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code; errors become one line on stderr."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="scangate")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
        if code == ExitCode.INTERRUPTED:
            # Typer turns Ctrl-C into a silent exit 130; the Trivy child is already stopped.
            typer.echo("scangate: interrupted", err=True)
        return code
    except ScangateError as exc:
        _console.error(*_diagnostics(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("scangate: interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except OSError as exc:
        # A file that failed where no step expected it (the disk, a path that changed under
        # the run): one line naming it, exit 3, never an internal error.
        if os.environ.get("SCANGATE_DEBUG"):
            raise
        _console.error(_os_error(exc))
        return int(ExitCode.SCANNER)
    except Exception as exc:  # fail closed with one line, never a traceback
        if os.environ.get("SCANGATE_DEBUG"):
            raise
        _console.human(
            f"scangate: internal error: {type(exc).__name__}: {plain(str(exc), 500)} "
            "(set SCANGATE_DEBUG=1 for a traceback)",
            err=True,
        )
        return int(ExitCode.SCANNER)
    return int(ExitCode.PASS)


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    name = exc.filename
    if name is not None:
        return f"{os.fsdecode(name) if isinstance(name, str | bytes) else name}: {reason}"
    try:
        Path.cwd()
    except OSError:
        return f"the current directory no longer exists ({reason}): run scangate in one that does"
    return reason


def _diagnostics(exc: ScangateError) -> tuple[str, list[str]]:
    """The message (one line, whatever it holds) and the detail lines after it. Messages
    quote file names and report values: a newline in one must not start a line of its own."""
    text = exc.diagnostics()
    if text.startswith(exc.message + "\n"):
        return exc.message, text[len(exc.message) + 1 :].split("\n")
    return text, []


def main() -> NoReturn:
    # A short-lived process that allocates a few million acyclic objects for a large report:
    # the cyclic collector only costs time here (about 15% of a 100,000-finding check).
    gc.disable()
    # A cancelled CI job sends SIGTERM: stop like Ctrl-C so the Trivy child (in its own
    # process group) is stopped too instead of being left running.
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run())


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
