"""A loopback stand-in for GitHub's REST API (issue comments, and the dependency snapshots
POSTed to /repos/{owner}/{repo}/dependency-graph/snapshots), for tests that run the
real CLI in a subprocess, where `responses` cannot reach: point GITHUB_API_URL at `url`.

It answers with the request and response shapes of `tests.support.github_api` (GitHub's
own): list a pull request's comments (paged through the `Link` header, GitHub's next links
naming the repository by id), create one, edit one. It checks the bearer token and records
every request. `fail_with(status, message)` makes every later answer an error, as a fork's
read-only token gets (403 "Resource not accessible by integration").

The server listens on 127.0.0.1 on a free port, in a thread of this process, and is shut
down by `serve()`'s exit.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import github_api
from tests.support.loopback import serving

_LIST = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)/comments$")
_PAGED = re.compile(r"^/repositories/(?P<repo_id>\d+)/issues/(?P<number>\d+)/comments$")
_ONE = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/comments/(?P<id>\d+)$")
_SNAPSHOTS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/dependency-graph/snapshots$")


@dataclass
class Recorded:
    method: str
    path: str  # with the query
    authorization: str
    body: dict[str, Any] | None


@dataclass
class FakeGitHub:
    """The state behind the server: the pull request's comments and what was asked."""

    url: str = ""
    token: str = field(default_factory=github_api.token)
    page_size: int = 100  # GitHub's per_page; smaller pages exercise the Link header
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # dependency snapshots
    failure: tuple[int, str] | None = None
    next_id: int = 1000

    def add(self, body: str, who: dict[str, Any] = github_api.BOT) -> dict[str, Any]:
        """A comment already on the pull request."""
        self.next_id += 1
        made = github_api.comment(self.next_id, body, who, api=self.url)
        self.comments.append(made)
        return made

    def fail_with(self, status: int, message: str) -> None:
        self.failure = (status, message)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]


def _handler(state: FakeGitHub, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, data: object, extra: dict[str, str] | None = None) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in {**github_api.headers(), **(extra or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            parts = urlsplit(self.path)
            with lock:
                state.requests.append(
                    Recorded(method, self.path, self.headers.get("Authorization", ""), body)
                )
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    self._answer(401, github_api.error("Bad credentials", 401))
                elif state.failure is not None:
                    status, message = state.failure
                    self._answer(status, github_api.error(message, status))
                else:
                    self._route(method, parts.path, parse_qs(parts.query), body)

        def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
            listing = _LIST.match(path) or _PAGED.match(path)
            one = _ONE.match(path)
            if listing and method == "GET":
                self._list(int(query.get("page", ["1"])[0]), int(listing.group("number")))
            elif listing and method == "POST":
                state.next_id += 1
                made = github_api.comment(state.next_id, body["body"], api=state.url)
                state.comments.append(made)
                self._answer(201, made, {"Location": made["url"]})
            elif _SNAPSHOTS.match(path) and method == "POST":
                # "Create a snapshot of dependencies for a repository": kept, answered 201.
                state.snapshots.append(body)
                self._answer(201, github_api.snapshot_created(len(state.snapshots)))
            elif one and method == "PATCH":
                found = [c for c in state.comments if c["id"] == int(one.group("id"))]
                if not found:
                    self._answer(404, github_api.error("Not Found", 404))
                    return
                found[0]["body"] = body["body"]
                found[0]["updated_at"] = "2026-11-30T13:00:00Z"
                self._answer(200, found[0])
            else:
                self._answer(404, github_api.error("Not Found", 404))

        def _list(self, page: int, number: int) -> None:
            size = state.page_size
            last = max(1, -(-len(state.comments) // size))
            chunk = state.comments[(page - 1) * size : page * size]
            extra = {"Link": github_api.link(page, last, state.url)} if last > 1 else {}
            self._answer(200, chunk, extra)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler


@contextlib.contextmanager
def serve() -> Iterator[FakeGitHub]:
    """A running fake API; its `url` is the GITHUB_API_URL to give the CLI."""
    state = FakeGitHub()
    with serving(_handler(state, threading.Lock())) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state
