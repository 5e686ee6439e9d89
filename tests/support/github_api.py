"""GitHub REST API answers as GitHub sends them, for `responses`: issue comments (the
fields of "Get an issue comment" in GitHub's REST reference), the `Link` header of a paged
list, the rate-limit headers, error bodies, and a `pull_request` event payload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

API = "https://api.github.com"
GHES_API = "https://ghe.example/api/v3"
OWNER, REPO, REPO_ID, PR = "octo-org", "hello-world", 1296269, 42
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
HUMAN = {"login": "mallory", "id": 31337, "type": "User"}
RESET = 1_900_000_000  # x-ratelimit-reset of the answers: a fixed epoch second


def token() -> str:
    """A fake installation token, built here so no scanner takes the file for a leak."""
    return "ghs" + "_" + "Zq7" * 12


def comments_url(api: str = API, number: int = PR) -> str:
    return f"{api}/repos/{OWNER}/{REPO}/issues/{number}/comments"


def comment_url(comment_id: int, api: str = API) -> str:
    return f"{api}/repos/{OWNER}/{REPO}/issues/comments/{comment_id}"


def page_url(page: int, api: str = API) -> str:
    """GitHub's next links name the repository by id."""
    return f"{api}/repositories/{REPO_ID}/issues/{PR}/comments?per_page=100&page={page}"


def user(who: dict[str, Any]) -> dict[str, Any]:
    login = who["login"]
    return {
        "login": login,
        "id": who["id"],
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{who['id']}?v=4",
        "gravatar_id": "",
        "url": f"{API}/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": who["type"],
        "site_admin": False,
    }


def comment(
    comment_id: int, body: str, who: dict[str, Any] = BOT, api: str = API
) -> dict[str, Any]:
    """An issue comment as the REST API returns it."""
    return {
        "id": comment_id,
        "node_id": "IC_kwDOA",
        "url": comment_url(comment_id, api),
        "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{PR}#issuecomment-{comment_id}",
        "body": body,
        "user": user(who),
        "created_at": "2026-11-30T12:00:00Z",
        "updated_at": "2026-11-30T12:00:00Z",
        "issue_url": f"{api}/repos/{OWNER}/{REPO}/issues/{PR}",
        "author_association": "NONE" if who["type"] == "Bot" else "CONTRIBUTOR",
        "performed_via_github_app": None,
        "reactions": {"url": "", "total_count": 0, "+1": 0, "-1": 0},
    }


def headers(remaining: int = 990, **extra: str) -> dict[str, str]:
    """The headers of an API answer (content-type is given to `responses` apart)."""
    return {
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-used": str(1000 - remaining),
        "x-ratelimit-reset": str(RESET),
        "x-ratelimit-resource": "core",
        "x-github-api-version-selected": "2022-11-28",
        "x-github-request-id": "CAFE:1234:5678:9ABC:00000000",
        **extra,
    }


def link(page: int, last: int, api: str = API) -> str:
    """The `Link` header of page `page` of `last` (GitHub's rel order: prev, next, last, first)."""
    rels = []
    if page > 1:
        rels.append(f'<{page_url(page - 1, api)}>; rel="prev"')
    if page < last:
        rels += [f'<{page_url(page + 1, api)}>; rel="next"', f'<{page_url(last, api)}>; rel="last"']
    if page > 1:
        rels.append(f'<{page_url(1, api)}>; rel="first"')
    return ", ".join(rels)


def snapshots_url(api: str = API) -> str:
    return f"{api}/repos/{OWNER}/{REPO}/dependency-graph/snapshots"


SNAPSHOT_MESSAGE = "Dependency results for the repo have been successfully updated."


def snapshot_created(snapshot_id: int = 12345, message: str = SNAPSHOT_MESSAGE) -> dict[str, Any]:
    """The 201 answer of "Create a snapshot of dependencies for a repository"."""
    return {
        "id": snapshot_id,
        "created_at": "2026-11-30T12:00:00Z",
        "result": "SUCCESS",
        "message": message,
    }


def error(message: str, status: int) -> dict[str, str]:
    return {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
    }


FORK_403 = "Resource not accessible by integration"
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
PRIMARY = "API rate limit exceeded for installation ID 123456."


def event(
    path: Path,
    *,
    number: int = PR,
    head_repo: str | None = f"{OWNER}/{REPO}",
    fork: bool = False,
    action: str = "synchronize",
) -> Path:
    """A `pull_request` event payload (the fields scangate reads, and a few around them)."""
    base_repo = {"id": REPO_ID, "full_name": f"{OWNER}/{REPO}", "fork": False}
    head = None if head_repo is None else {"id": 7, "full_name": head_repo, "fork": fork}
    payload = {
        "action": action,
        "number": number,
        "pull_request": {
            "url": f"{API}/repos/{OWNER}/{REPO}/pulls/{number}",
            "number": number,
            "state": "open",
            "title": "Bump lodash",
            "user": user(HUMAN),
            "base": {"ref": "main", "sha": "a" * 40, "repo": base_repo},
            "head": {"ref": "feature", "sha": "b" * 40, "repo": head},
        },
        "repository": base_repo,
        "sender": user(HUMAN),
    }
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def env(event_path: Path | None, api: str | None = None, **extra: str) -> dict[str, str]:
    """The variables a GitHub Actions step has for the API."""
    values = {
        "GITHUB_TOKEN": token(),
        "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
        "GITHUB_EVENT_NAME": "pull_request",
        **extra,
    }
    if api is not None:
        values["GITHUB_API_URL"] = api
    if event_path is not None:
        values["GITHUB_EVENT_PATH"] = str(event_path)
    return values
