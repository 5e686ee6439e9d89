"""`scangate snapshot submit PATH`: send a dependency snapshot (`--dependency-snapshot`) to
GitHub's dependency graph, with GITHUB_TOKEN, GITHUB_API_URL and GITHUB_REPOSITORY."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from scangate.cli import _console
from scangate.cli._app import snapshot_app
from scangate.errors import ScannerError, UsageError
from scangate.formats.escape import plain

# GitHub's own request size limits are far below this; a bigger file is not a snapshot.
MAX_SNAPSHOT_BYTES = 256 << 20


@snapshot_app.command("submit")
def snapshot_submit(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH", help="A snapshot written by --dependency-snapshot.", show_default=False
        ),
    ],
) -> None:
    """Submit a dependency snapshot to GitHub's dependency graph (the token needs contents:
    write). A 403 or 404 is a warning: exit 0."""
    from scangate.dependency_submit import WARN_ONLY, check_snapshot, submit
    from scangate.github_api import GitHubError
    from scangate.github_env import client_from_env
    from scangate.safe_read import read_bytes

    label = plain(str(path), 200)
    try:
        body = read_bytes(
            path,
            label=label,
            cap=MAX_SNAPSHOT_BYTES,
            root=None,
            option="PATH",
            what="a dependency snapshot",
        )
    except FileNotFoundError:
        raise UsageError(
            f"{label}: no such file: give the file --dependency-snapshot wrote"
        ) from None
    check_snapshot(body, label)
    try:
        client = client_from_env(os.environ)
    except GitHubError as exc:
        raise UsageError(f"dependency snapshot not submitted: {exc.message}") from None
    try:
        created = submit(client, body)
    except GitHubError as exc:
        if exc.kind in WARN_ONLY:
            _console.warning(f"dependency snapshot not submitted: {exc.message}", annotate=True)
            return
        raise ScannerError(f"dependency snapshot not submitted: {exc.message}") from None
    # GitHub's words are data: escaped for the terminal or the log.
    _console.human(
        f"scangate: dependency snapshot {created.id} submitted: "
        f"{plain(created.result, 40)}: {plain(created.message, 300)}"
    )
