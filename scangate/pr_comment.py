"""One sticky comment per pull request and category: find it, then create, edit or leave it.

`--pr-comment` (`SCANGATE_PR_COMMENT`):

* `off`: nothing.
* `on-change` (the Action's default on pull requests): create the comment when there is
  something for reviewers (a failing gate or a changed suppression); edit it only when its
  body would change; once the PR is clean, edit it into a short "resolved" body (never
  deleted). A clean PR with no earlier comment gets none.
* `always`: create or edit the comment on every run, clean or not, changed or not.

Which comment is scangate's: its first line is the marker (`pr_comment_body.marker`), and
its author is `author` when the caller names one (the login of a personal access token),
else a bot (`user.type == "Bot"`: `github-actions[bot]` for the workflow's GITHUB_TOKEN, or
a GitHub App). Anyone can paste the marker into a comment: a person's comment is never
taken for scangate's, and the first matching comment (the oldest) is the one edited.

Nothing here raises: every failure is an `Outcome` with `action` FAILED and a one-line
`warning` for the caller to print; the gate's exit code never depends on it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from scangate.github_api import GitHubClient, GitHubError, IssueComment, Sleep
from scangate.github_env import client_from_env, pull_request_event
from scangate.pr_comment_body import CommentInput, marker, render, render_resolved

if TYPE_CHECKING:
    import requests

__all__ = [
    "Action",
    "Mode",
    "Outcome",
    "find_sticky",
    "publish",
    "publish_from_env",
]


class Mode(StrEnum):
    OFF = "off"
    ALWAYS = "always"
    ON_CHANGE = "on-change"


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    RESOLVED = "resolved"  # an earlier comment edited into the clean state
    UNCHANGED = "unchanged"  # on-change: the body was the same, no call made
    NOTHING = "nothing"  # clean and no earlier comment: nothing posted
    OFF = "off"
    NOT_A_PULL_REQUEST = "not-a-pull-request"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    url: str | None = None  # the comment's html_url
    warning: str | None = None  # one line to print, for FAILED


_WARNING = "pull request comment not posted: {}; the step summary has the full results"


def find_sticky(
    comments: Sequence[IssueComment], category: str, author: str | None = None
) -> IssueComment | None:
    """The first comment that is scangate's for `category` (see the module docstring)."""
    line = marker(category)
    for comment in comments:
        if not _marked(comment, line) or comment.user is None:
            continue
        if author is not None:
            if comment.user.login.lower() == author.lower():
                return comment
        elif comment.user.type == "Bot":
            return comment
    return None


def _marked(comment: IssueComment, line: str) -> bool:
    return (comment.body or "").partition("\n")[0].rstrip("\r") == line


def _same(old: str | None, new: str) -> bool:
    # GitHub may store a body with CRLF line ends or trim its end.
    return (old or "").replace("\r\n", "\n").rstrip() == new.rstrip()


def publish(
    client: GitHubClient,
    number: int,
    comment: CommentInput,
    *,
    category: str,
    mode: Mode,
    author: str | None = None,
) -> Outcome:
    """Create, edit or leave the sticky comment of pull request `number`."""
    if mode is Mode.OFF:
        return Outcome(Action.OFF)
    needed = comment.needs_comment
    try:
        line = marker(category)
        listed = client.list_issue_comments(number, keep=lambda c: _marked(c, line))
        existing = find_sticky(listed, category, author)
        if existing is None:
            if not needed and mode is Mode.ON_CHANGE:
                return Outcome(Action.NOTHING)
            body = (
                render(comment, category)
                if needed
                else render_resolved(comment, category, earlier=False)
            )
            created = client.create_issue_comment(number, body)
            return Outcome(Action.CREATED, created.html_url)
        body = render(comment, category) if needed else render_resolved(comment, category)
        if mode is Mode.ON_CHANGE and _same(existing.body, body):
            return Outcome(Action.UNCHANGED, existing.html_url)
        edited = client.update_issue_comment(existing.id, body)
        return Outcome(Action.UPDATED if needed else Action.RESOLVED, edited.html_url)
    except GitHubError as exc:
        return Outcome(Action.FAILED, warning=_WARNING.format(exc.message))


def publish_from_env(
    comment: CommentInput,
    *,
    category: str,
    mode: Mode,
    environ: Mapping[str, str],
    author: str | None = None,
    session: requests.Session | None = None,
    sleep: Sleep = time.sleep,
) -> Outcome:
    """`publish` for the pull request of this GitHub Actions run: GITHUB_EVENT_PATH names
    the event (not a pull request: NOT_A_PULL_REQUEST, no warning), and GITHUB_TOKEN,
    GITHUB_API_URL and GITHUB_REPOSITORY configure the client."""
    if mode is Mode.OFF:
        return Outcome(Action.OFF)
    try:
        event = pull_request_event(environ)
        if event is None:
            return Outcome(Action.NOT_A_PULL_REQUEST)
        client = client_from_env(environ, session=session, sleep=sleep)
    except GitHubError as exc:
        return Outcome(Action.FAILED, warning=_WARNING.format(exc.message))
    return publish(client, event.number, comment, category=category, mode=mode, author=author)
