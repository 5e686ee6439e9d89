"""Printing what a person reads (stdout and stderr), safe for a terminal and a CI job log.

Every message is escaped (`formats.escape.plain`) where it is built or here. Under GitHub
Actions (`GITHUB_ACTIONS=true`) each block of human output is also wrapped in
`::stop-commands::<random token>` ... `::<token>::`, so that nothing in it is read as a
workflow command; scangate's own annotations are printed outside those blocks
(`commands`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO

from scangate.formats.escape import plain, stop_commands

# A message quoting a huge value (a 1 MB title, a corrupt file) stays readable.
MAX_MESSAGE = 2000


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _write(stream: TextIO, text: str) -> None:
    # A terminal or log whose encoding lacks a character gets a visible escape for it,
    # never a UnicodeEncodeError.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and getattr(stream, "errors", None) == "strict":
        with contextlib.suppress(ValueError, OSError):  # a closed or detached stream
            reconfigure(errors="backslashreplace")
    stream.write(text)
    stream.flush()


def human(text: str, *, err: bool = False) -> None:
    """Lines for a person (already escaped), as one guarded block under GitHub Actions."""
    if not text:
        return
    if not text.endswith("\n"):
        text += "\n"
    _write(sys.stderr if err else sys.stdout, stop_commands(text) if in_github_actions() else text)


def machine(text: str) -> None:
    """JSON or SARIF on stdout: never wrapped (a pipe reads it), escaped by its format."""
    _write(sys.stdout, text)


def commands(lines: list[str], *, err: bool = False) -> None:
    """scangate's own workflow commands (annotations), outside any guarded block."""
    if lines:
        _write(sys.stderr if err else sys.stdout, "".join(f"{line}\n" for line in lines))


def warning(message: str) -> None:
    human(f"scangate: warning: {plain(message, MAX_MESSAGE)}", err=True)


def warnings(messages: list[str]) -> None:
    """Several warnings as one block."""
    human("".join(f"scangate: warning: {plain(m, MAX_MESSAGE)}\n" for m in messages), err=True)


def error(message: str, details: list[str] | None = None) -> None:
    """`scangate: error: <message>` on one line, then its detail lines (Trivy's stderr tail),
    each escaped on its own."""
    lines = [f"scangate: error: {plain(message, MAX_MESSAGE)}"]
    lines += [plain(line, MAX_MESSAGE, tabs=True) for line in details or ()]
    human("\n".join(lines), err=True)
