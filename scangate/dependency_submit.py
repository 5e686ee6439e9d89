"""Submitting a dependency snapshot to GitHub: `POST /repos/{owner}/{repo}/dependency-graph/
snapshots` ("Create a snapshot of dependencies for a repository", REST API 2022-11-28), which
answers 201 with `{id, created_at, result, message}`.

The token needs `contents: write` (a fine-grained token: the "Contents" repository permission,
write). Transport, retries (5xx, rate limits), redaction and the answer's size cap are the
client's (`github_api`); this module says what the snapshot call's failures mean and reads
its answer. A 403 or 404 (a read-only token, as a fork's pull request gets; a repository the
token cannot see) is the caller's warning, never its failure (`WARN_ONLY`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from scangate.errors import UsageError
from scangate.formats.escape import plain
from scangate.github_api import GitHubError

if TYPE_CHECKING:
    from scangate.github_api import GitHubClient

PATH = "/dependency-graph/snapshots"
# The kinds of `GitHubError` that are a warning: the submission is a courtesy of the scan.
WARN_ONLY = frozenset({"forbidden", "not-found"})
_REQUIRED = ("version", "sha", "ref", "job", "detector", "scanned")
_HINTS = {
    401: "the token is not valid (expired, or for another GitHub host)",
    403: "the token may not submit dependencies: the workflow needs permissions contents: "
    "write (a fork's pull request gets a read-only token)",
    404: "no such repository, or the token cannot see it (check GITHUB_REPOSITORY and the "
    "token's access)",
    422: "GitHub refused the snapshot (its message says why)",
}


class SnapshotCreated(BaseModel):
    """GitHub's 201 answer."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: int
    created_at: str = ""
    result: str = ""
    message: str = ""


def check_snapshot(data: bytes, label: str) -> None:
    """Refuse a file that is not a snapshot before it goes to GitHub (exit 2)."""
    try:
        snapshot: Any = json.loads(data)
    except (ValueError, RecursionError):
        raise UsageError(f"{label}: not JSON: give the file --dependency-snapshot wrote") from None
    missing = [k for k in _REQUIRED if not isinstance(snapshot, dict) or k not in snapshot]
    if missing:
        raise UsageError(
            f"{label}: not a dependency snapshot (no {', '.join(missing)}): give the file "
            "--dependency-snapshot wrote"
        )


def submit(client: GitHubClient, body: bytes) -> SnapshotCreated:
    """Submit `body` (the snapshot's JSON, as written); a `GitHubError` when it was not."""
    data = client.post_json(PATH, body, _HINTS)
    try:
        created = SnapshotCreated.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise GitHubError(
            "bad-response",
            "GitHub's answer to the dependency snapshot is not shaped as its API documents "
            f"({plain(place, 80)}: {first['type']})",
        ) from None
    # The answer is printed: a hostile or broken API that echoes the token gets it redacted.
    token = client.token
    return created.model_copy(
        update={
            "result": created.result.replace(token, "***"),
            "message": created.message.replace(token, "***"),
        }
    )
