"""What GitHub Actions tells a run: the API to call, with which token, for which repository,
and the pull request the run is about.

GITHUB_API_URL (default https://api.github.com; GitHub Enterprise Server:
https://HOST/api/v3), GITHUB_REPOSITORY (owner/name) and GITHUB_TOKEN configure
`client_from_env`; a bad value is a `GitHubError` that never quotes the token.

The runner writes the webhook payload to the file GITHUB_EVENT_PATH names. On
`pull_request` and `pull_request_target` (and the review events) it has a `pull_request`
object: its `number`, and `base` and `head`, each with a `sha` and a `repo`. Other events
(push, schedule, an issue comment) have no pull request: there is nothing to comment on.

A pull request comes from a fork when `head.repo.fork` is true or `head.repo.full_name`
differs from `base.repo.full_name`; a head repository deleted since (`head.repo: null`) is
taken for a fork too. Such a run has a read-only token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scangate.errors import UsageError
from scangate.formats.escape import plain
from scangate.github_api import DEFAULT_API_URL, GitHubClient, GitHubError, Repository
from scangate.safe_read import MIB, read_bytes

# GitHub caps webhook payloads at 25 MB.
EVENT_CAP = 32 * MIB
_TOKEN = re.compile(r"[\x21-\x7e]{1,2048}")
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9_])?")
_REPO = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def client_from_env(environ: Mapping[str, str], **options: Any) -> GitHubClient:
    """A client for GITHUB_API_URL, GITHUB_REPOSITORY and GITHUB_TOKEN; `options` are the
    client's other fields (session, sleep, clock, max_attempts, max_wait)."""
    token = _check_token(environ.get("GITHUB_TOKEN", ""))
    try:
        api_url = parse_api_url(environ.get("GITHUB_API_URL") or DEFAULT_API_URL)
        repository = parse_repository(environ.get("GITHUB_REPOSITORY", ""))
    except GitHubError as exc:
        # A misplaced token (pasted into a URL, say) is never quoted back.
        raise GitHubError(exc.kind, exc.message.replace(token, "***")) from None
    return GitHubClient(api_url=api_url, repository=repository, token=token, **options)


def parse_repository(value: str) -> Repository:
    """`owner/repo` as in GITHUB_REPOSITORY; anything else is a config error."""
    owner, _, name = value.strip().partition("/")
    if _OWNER.fullmatch(owner) is None or _REPO.fullmatch(name) is None or name in (".", ".."):
        raise GitHubError(
            "config",
            f"GITHUB_REPOSITORY is {plain(value, 100)!r}, not owner/repo: "
            "run in GitHub Actions, or set it to the repository's owner/name",
        )
    return Repository(owner, name)


def parse_api_url(value: str) -> str:
    """GITHUB_API_URL without a trailing "/": https (http only to this machine, for tests),
    no user info, query or fragment. GitHub Enterprise Server: https://HOST/api/v3."""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        parts, host = None, ""
    secure = parts is not None and (
        parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)
    )
    if (
        parts is None
        or not secure
        or not host
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or not url.isascii()
        or not url.isprintable()
    ):
        raise GitHubError(
            "config",
            f"GITHUB_API_URL is {plain(value, 200)!r}: give an https URL such as "
            f"{DEFAULT_API_URL} or https://HOST/api/v3 (GitHub Enterprise Server)",
        )
    return url


def _check_token(token: str) -> str:
    # A token with a space or a line break would make requests raise an error that quotes
    # the header's value; nothing here ever quotes it.
    token = token.strip()
    if not token:
        raise GitHubError(
            "config",
            "no GITHUB_TOKEN: pass the workflow's token (env: GITHUB_TOKEN: "
            "${{ github.token }}) with permissions pull-requests: write",
        )
    if _TOKEN.fullmatch(token) is None:
        raise GitHubError(
            "config",
            "GITHUB_TOKEN holds characters no GitHub token has (spaces, line breaks or "
            "non-ASCII): check the secret it comes from",
        )
    return token


@dataclass(frozen=True, slots=True)
class PullRequestEvent:
    event_name: str
    number: int
    base_sha: str | None
    head_sha: str | None
    base_repo: str | None  # full_name, owner/name
    head_repo: str | None
    head_repo_fork: bool | None

    @property
    def from_fork(self) -> bool:
        """Whether the head branch lives in another repository (a read-only token)."""
        if self.head_repo is None or self.head_repo_fork is True:
            return True
        return self.base_repo is None or self.head_repo.lower() != self.base_repo.lower()


def pull_request_event(environ: Mapping[str, str]) -> PullRequestEvent | None:
    """The pull request of this run, or None when the event is not about one (or there is
    no event file: not in GitHub Actions). An unreadable payload is a `GitHubError`."""
    name = environ.get("GITHUB_EVENT_PATH", "")
    if not name:
        return None
    payload = _payload(Path(name))
    pull = payload.get("pull_request")
    if not isinstance(pull, dict):
        return None
    number = pull.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise GitHubError(
            "config",
            f"{plain(name, 200)}: pull_request.number is not a positive number: "
            "not a GitHub event payload",
        )
    base, head = _side(pull, "base"), _side(pull, "head")
    return PullRequestEvent(
        event_name=environ.get("GITHUB_EVENT_NAME", ""),
        number=number,
        base_sha=_text(base.get("sha")),
        head_sha=_text(head.get("sha")),
        base_repo=_text(_repo(base).get("full_name")),
        head_repo=_text(_repo(head).get("full_name")) if head.get("repo") else None,
        head_repo_fork=_flag(_repo(head).get("fork")),
    )


def is_fork_pull_request(environ: Mapping[str, str]) -> bool:
    """Whether this run is for a pull request from a fork (False when not a pull request)."""
    event = pull_request_event(environ)
    return event is not None and event.from_fork


def _payload(path: Path) -> dict[str, Any]:
    label = f"GITHUB_EVENT_PATH {plain(str(path), 200)}"
    try:
        data = read_bytes(
            path, label=label, cap=EVENT_CAP, root=None, option="GITHUB_EVENT_PATH", what="an event"
        )
    except FileNotFoundError:
        raise GitHubError("config", f"{label}: no such file") from None
    except UsageError as exc:
        raise GitHubError("config", exc.message) from None
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: [[[[... nested past the limit
        raise GitHubError("config", f"{label}: not JSON: not a GitHub event payload") from None
    if not isinstance(payload, dict):
        raise GitHubError("config", f"{label}: not a JSON object: not a GitHub event payload")
    return payload


def _side(pull: dict[str, Any], key: str) -> dict[str, Any]:
    value = pull.get(key)
    return value if isinstance(value, dict) else {}


def _repo(side: dict[str, Any]) -> dict[str, Any]:
    value = side.get("repo")
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
