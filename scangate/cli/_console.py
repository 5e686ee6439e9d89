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
import shutil
import sys
from typing import TextIO

from scangate.formats.escape import plain, stop_commands, workflow_data

# A message quoting a huge value (a 1 MB title, a corrupt file) stays readable.
MAX_MESSAGE = 2000


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def use_color(mode: str) -> bool:
    """Whether stdout gets colour codes: `mode` always/never as said; auto colours a
    terminal only, not under GitHub Actions, not with NO_COLOR set (no-color.org) nor
    TERM=dumb; FORCE_COLOR (set, not "0") colours a pipe or a CI log too. NO_COLOR beats
    FORCE_COLOR, as in CPython's own colour rules."""
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "0") != "0":
        return True
    if in_github_actions() or os.environ.get("TERM") == "dumb":
        return False
    return _stdout_is_a_terminal()


def _stdout_is_a_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (ValueError, OSError):  # a closed or detached stream
        return False


def table_width() -> int | None:
    """The terminal's columns (COLUMNS first) when stdout is one; None for a pipe or a
    file, which get every line in full."""
    if not _stdout_is_a_terminal():
        return None
    return shutil.get_terminal_size().columns


def ellipsis() -> str:
    """What marks a shortened cell: "…" where stdout can encode it, else "..." (its visible
    escape would be wider)."""
    try:
        "\u2026".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "\u2026"


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


def warning(message: str, *, annotate: bool = False) -> None:
    """`scangate: warning: <message>` on stderr; with `annotate`, under GitHub Actions, a
    `::warning` annotation instead (shown on the run's page), its text escaped as a
    workflow command's data."""
    if annotate and in_github_actions():
        commands([f"::warning title=scangate::{workflow_data(message, MAX_MESSAGE)}"], err=True)
        return
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
