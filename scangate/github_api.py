"""A small GitHub REST client for the comments of a pull request (configured from the
environment by `scangate.github_env.client_from_env`).

A pull request's conversation comments are issue comments: listed with
`GET /repos/{owner}/{repo}/issues/{number}/comments` (100 a page, following the `Link`
header's rel="next"), created with a POST to the same path and edited with
`PATCH /repos/{owner}/{repo}/issues/comments/{id}`.

Every failure is a `GitHubError`, one line the caller prints as a warning; none of them is a
`ScangateError`, so none changes the exit code. The transport under these calls (retries,
rate limits, Retry-After, the token's redaction, the same-origin rule for `Link` pages) is
`scangate.github_http`. Answers are untrusted: their JSON is checked with pydantic here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from scangate.formats.escape import plain

# The transport lives in `github_http`; callers and tests import these from here.
from scangate.github_http import (
    MAX_ATTEMPTS,
    MAX_WAIT,
    Clock,
    GitHubError,
    GitHubTransport,
    Sleep,
)

if TYPE_CHECKING:
    # Imported where used: only a run that comments on a pull request talks to GitHub.
    import requests

__all__ = [
    "DEFAULT_API_URL",
    "MAX_ATTEMPTS",
    "MAX_WAIT",
    "Clock",
    "GitHubClient",
    "GitHubError",
    "IssueComment",
    "Repository",
    "Sleep",
]

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 comments: past that, the comment is not looked for


class CommentUser(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    login: str
    type: str = "User"


class IssueComment(BaseModel):
    """The fields scangate reads from an issue comment."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: int
    body: str | None = None
    # A deleted account's comments have no user.
    user: CommentUser | None = None
    html_url: str | None = None


T = TypeVar("T")
_COMMENT = TypeAdapter(IssueComment)
_COMMENTS = TypeAdapter(list[IssueComment])


@dataclass(frozen=True, slots=True)
class Repository:
    owner: str
    name: str

    @property
    def path(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"


@dataclass(slots=True)
class GitHubClient(GitHubTransport):
    """Issue comments through the REST API. `sleep` and `clock` are injectable for tests."""

    api_url: str
    repository: Repository
    token: str = field(repr=False)
    session: requests.Session | None = field(default=None, repr=False)
    sleep: Sleep = field(default=time.sleep, repr=False)
    clock: Clock = field(default=time.time, repr=False)
    max_attempts: int = MAX_ATTEMPTS
    max_wait: float = MAX_WAIT

    # --- the three calls ---------------------------------------------------------------

    def list_issue_comments(
        self, number: int, keep: Callable[[IssueComment], bool] | None = None
    ) -> list[IssueComment]:
        """Every comment of issue or pull request `number` (that `keep` keeps), oldest
        first. `keep` holds memory to one page: 10,000 comments of 65,536 characters each
        would be gigabytes."""
        url: str | None = f"{self.api_url}{self.repository.path}/issues/{number}/comments"
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        comments: list[IssueComment] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                return comments
            if url in seen:
                raise GitHubError("bad-response", "the comment list's pages link in a loop")
            seen.add(url)
            data, next_url = self._call("GET", url, params=params)
            page: list[IssueComment] = _parse(_COMMENTS, data, "the comment list")
            comments += page if keep is None else [c for c in page if keep(c)]
            url, params = self._checked_next(next_url), None  # the next link has the query
        if url is None:
            return comments
        raise GitHubError(
            "bad-response",
            f"pull request #{number} has more than {MAX_PAGES * PER_PAGE} comments: "
            "scangate does not look for its comment among so many",
        )

    def create_issue_comment(self, number: int, body: str) -> IssueComment:
        url = f"{self.api_url}{self.repository.path}/issues/{number}/comments"
        data, _ = self._call("POST", url, payload={"body": body})
        return _parse(_COMMENT, data, "the new comment")

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        url = f"{self.api_url}{self.repository.path}/issues/comments/{comment_id}"
        data, _ = self._call("PATCH", url, payload={"body": body})
        return _parse(_COMMENT, data, "the edited comment")

    def post_json(self, path: str, body: bytes, hints: Mapping[int, str]) -> Any:
        """POST the JSON `body` to the repository's `path` (`/dependency-graph/snapshots`);
        the answer's JSON. `hints` say what a 4xx status means for this call."""
        url = f"{self.api_url}{self.repository.path}{path}"
        data, _ = self._call("POST", url, body=body, hints=hints)
        return data


def _parse(adapter: TypeAdapter[T], data: Any, what: str) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        # pydantic's own text quotes the input; the place and the error type are enough.
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise GitHubError(
            "bad-response",
            f"GitHub's answer for {what} is not shaped as its API documents "
            f"({plain(place, 80)}: {first['type']}): the comment was left alone",
        ) from None
