"""scangate.github_api and scangate.github_env: the REST client for a pull request's comments,
against `responses` serving the API's real request and answer shapes (tests.support.github_api).

Every test runs inside conftest's `hermetic` RequestsMock: a URL nobody registered fails, and
the assertions read the requests it recorded (URL, method, headers, JSON body).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from scangate import github_api, github_http
from scangate.github_api import GitHubClient, GitHubError
from scangate.github_env import (
    client_from_env,
    is_fork_pull_request,
    parse_api_url,
    parse_repository,
    pull_request_event,
)
from tests.support import github_api as gh

NOW = gh.RESET - 600  # the clock the clients see: ten minutes before the rate-limit reset


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(api: str | None = None, **options: Any) -> tuple[GitHubClient, Sleeps]:
    sleeps = Sleeps()
    made = client_from_env(gh.env(None, api=api), sleep=sleeps, clock=lambda: NOW, **options)
    return made, sleeps


def add(
    mock: responses.RequestsMock,
    method: str,
    url: str,
    payload: Any,
    status: int = 200,
    remaining: int = 990,
    retry_after: str | None = None,
    **extra: str,
) -> None:
    if retry_after is not None:
        extra["retry-after"] = retry_after
    body = payload if isinstance(payload, (str, Exception)) else json.dumps(payload)
    mock.add(
        method,
        url,
        body=body,
        status=status,
        headers=gh.headers(remaining, **extra),
        content_type="application/json; charset=utf-8",
    )


def sent(mock: responses.RequestsMock) -> list[tuple[str, str]]:
    return [(c.request.method or "", c.request.url or "") for c in mock.calls]


def assert_token_absent(*things: object) -> None:
    token = gh.token()
    for thing in things:
        assert token not in str(thing), thing
        assert token not in repr(thing), thing


# --- the three calls ------------------------------------------------------------------------


def test_lists_comments_through_three_pages_of_the_link_header(
    hermetic: responses.RequestsMock,
) -> None:
    first = gh.comments_url() + "?per_page=100"
    add(hermetic, "GET", first, [gh.comment(1, "a"), gh.comment(2, "b")], link=gh.link(1, 3))
    add(hermetic, "GET", gh.page_url(2), [gh.comment(3, "c")], link=gh.link(2, 3))
    add(hermetic, "GET", gh.page_url(3), [gh.comment(4, "d", gh.HUMAN)], link=gh.link(3, 3))
    api, sleeps = client()

    comments = api.list_issue_comments(gh.PR)

    assert [c.id for c in comments] == [1, 2, 3, 4]
    assert comments[3].user is not None and comments[3].user.type == "User"
    assert comments[0].user is not None and comments[0].user.login == "github-actions[bot]"
    assert sent(hermetic) == [("GET", first), ("GET", gh.page_url(2)), ("GET", gh.page_url(3))]
    for call in hermetic.calls:
        headers = call.request.headers
        assert headers["Accept"] == "application/vnd.github+json"
        assert headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert headers["Authorization"] == f"Bearer {gh.token()}"
        assert headers["User-Agent"].startswith("scangate/")
    assert sleeps == []


def test_one_page_without_a_link_header(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [])
    api, _ = client()
    assert api.list_issue_comments(gh.PR) == []
    assert len(hermetic.calls) == 1


def test_a_next_link_to_another_host_is_not_followed(hermetic: responses.RequestsMock) -> None:
    evil = '<https://evil.example/repositories/1/issues/42/comments?page=2>; rel="next"'
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [gh.comment(1, "a")], link=evil)
    api, _ = client()
    with pytest.raises(GitHubError) as caught:
        api.list_issue_comments(gh.PR)
    assert caught.value.kind == "bad-response"
    assert "outside https://api.github.com" in caught.value.message
    assert [url for _, url in sent(hermetic)] == [gh.comments_url() + "?per_page=100"]


def test_pages_that_link_in_a_loop_stop(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [], link=gh.link(1, 3))
    add(hermetic, "GET", gh.page_url(2), [], link=f'<{gh.page_url(2)}>; rel="next"')
    api, _ = client()
    with pytest.raises(GitHubError, match="link in a loop"):
        api.list_issue_comments(gh.PR)
    assert len(hermetic.calls) == 2


def test_a_redirect_to_another_host_does_not_carry_the_token(
    hermetic: responses.RequestsMock,
) -> None:
    moved = "https://elsewhere.example/repos/x/y/issues/42/comments?per_page=100"
    hermetic.add(
        "GET", gh.comments_url() + "?per_page=100", status=301, headers={"Location": moved}
    )
    add(hermetic, "GET", moved, [])
    api, _ = client()
    assert api.list_issue_comments(gh.PR) == []
    first, second = hermetic.calls
    assert first.request.headers["Authorization"] == f"Bearer {gh.token()}"
    assert second.request.url == moved and "Authorization" not in second.request.headers


def test_a_netrc_entry_does_not_replace_the_token(
    hermetic: responses.RequestsMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.github.com login someone password other-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [])
    api, _ = client()
    api.list_issue_comments(gh.PR)
    assert hermetic.calls[0].request.headers["Authorization"] == f"Bearer {gh.token()}"


def test_creates_a_comment_with_the_documented_request(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "POST", gh.comments_url(), gh.comment(77, "hello"), status=201)
    api, _ = client()

    made = api.create_issue_comment(gh.PR, "hello\n| x |")

    assert made.id == 77 and made.body == "hello"
    assert made.html_url == f"https://github.com/{gh.OWNER}/{gh.REPO}/pull/42#issuecomment-77"
    (call,) = hermetic.calls
    assert (call.request.method, call.request.url) == ("POST", gh.comments_url())
    assert json.loads(call.request.body or b"") == {"body": "hello\n| x |"}
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["Authorization"] == f"Bearer {gh.token()}"


def test_updates_a_comment_in_place(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "PATCH", gh.comment_url(77), gh.comment(77, "new"))
    api, _ = client()
    assert api.update_issue_comment(77, "new").body == "new"
    (call,) = hermetic.calls
    assert (call.request.method, call.request.url) == ("PATCH", gh.comment_url(77))
    assert json.loads(call.request.body or b"") == {"body": "new"}


def test_github_enterprise_server_api_url(hermetic: responses.RequestsMock) -> None:
    first = gh.comments_url(gh.GHES_API) + "?per_page=100"
    add(hermetic, "GET", first, [gh.comment(1, "a")], link=gh.link(1, 2, gh.GHES_API))
    add(hermetic, "GET", gh.page_url(2, gh.GHES_API), [gh.comment(2, "b")])
    add(hermetic, "PATCH", gh.comment_url(2, gh.GHES_API), gh.comment(2, "c", api=gh.GHES_API))
    api, _ = client(gh.GHES_API + "/")

    assert [c.id for c in api.list_issue_comments(gh.PR)] == [1, 2]
    api.update_issue_comment(2, "c")

    assert sent(hermetic) == [
        ("GET", first),
        ("GET", gh.page_url(2, gh.GHES_API)),
        ("PATCH", gh.comment_url(2, gh.GHES_API)),
    ]


def test_ghes_next_link_outside_the_api_path_is_refused(hermetic: responses.RequestsMock) -> None:
    outside = '<https://ghe.example/other/repositories/1/issues/42/comments?page=2>; rel="next"'
    add(hermetic, "GET", gh.comments_url(gh.GHES_API) + "?per_page=100", [], link=outside)
    api, _ = client(gh.GHES_API)
    with pytest.raises(
        GitHubError, match=re.escape("next page is outside https://ghe.example/api/v3")
    ):
        api.list_issue_comments(gh.PR)
    assert len(hermetic.calls) == 1


# --- retries and rate limits ------------------------------------------------------------------


def test_a_502_then_success_is_retried_after_a_short_backoff(
    hermetic: responses.RequestsMock,
) -> None:
    add(hermetic, "POST", gh.comments_url(), "<html>Bad Gateway</html>", status=502)
    add(hermetic, "POST", gh.comments_url(), gh.comment(5, "x"), status=201)
    api, sleeps = client()

    assert api.create_issue_comment(gh.PR, "x").id == 5

    assert sleeps == [1.0]
    assert sent(hermetic) == [("POST", gh.comments_url())] * 2
    assert [json.loads(c.request.body or b"") for c in hermetic.calls] == [{"body": "x"}] * 2


def test_5xx_gives_up_after_the_last_attempt(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", gh.error("Server Error", 503), 503)
    api, sleeps = client()
    with pytest.raises(GitHubError) as caught:
        api.list_issue_comments(gh.PR)
    assert caught.value.kind == "server" and caught.value.status == 503
    assert "HTTP 503 (Server Error)" in caught.value.message
    assert "still failing after retries" in caught.value.message
    assert len(hermetic.calls) == github_api.MAX_ATTEMPTS
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_secondary_rate_limit_honours_retry_after(hermetic: responses.RequestsMock) -> None:
    add(
        hermetic,
        "PATCH",
        gh.comment_url(9),
        gh.error(gh.SECONDARY, 403),
        403,
        retry_after="7",
    )
    add(hermetic, "PATCH", gh.comment_url(9), gh.comment(9, "x"))
    api, sleeps = client()

    assert api.update_issue_comment(9, "x").id == 9

    assert sleeps == [7.0]
    assert sent(hermetic) == [("PATCH", gh.comment_url(9))] * 2


def test_a_secondary_rate_limit_without_retry_after_waits_a_minute(
    hermetic: responses.RequestsMock,
) -> None:
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", gh.error(gh.SECONDARY, 403), 403)
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [])
    api, sleeps = client()
    assert api.list_issue_comments(gh.PR) == []
    assert sleeps == [60.0]


def test_a_429_retry_after_as_an_http_date(hermetic: responses.RequestsMock) -> None:
    when = "Thu, 14 Mar 2030 10:00:05 GMT"
    add(
        hermetic,
        "POST",
        gh.comments_url(),
        gh.error(gh.SECONDARY, 429),
        429,
        retry_after=when,
    )
    add(hermetic, "POST", gh.comments_url(), gh.comment(5, "x"), status=201)
    # 10:00:00 on that day, as epoch seconds.
    api, sleeps = client()
    api.clock = lambda: 1899712800.0
    api.create_issue_comment(gh.PR, "x")
    assert sleeps == [5.0]


def test_a_secondary_limit_asking_for_too_long_gives_up_at_once(
    hermetic: responses.RequestsMock,
) -> None:
    add(
        hermetic,
        "POST",
        gh.comments_url(),
        gh.error(gh.SECONDARY, 403),
        403,
        retry_after="600",
    )
    api, sleeps = client()
    with pytest.raises(GitHubError) as caught:
        api.create_issue_comment(gh.PR, "x")
    assert caught.value.kind == "rate-limited"
    assert "secondary rate limit" in caught.value.message
    assert "another try would wait 600 s, more than scangate waits (60 s in all)" in str(
        caught.value
    )
    assert sleeps == [] and len(hermetic.calls) == 1


def test_an_exhausted_primary_rate_limit_is_not_waited_for(
    hermetic: responses.RequestsMock,
) -> None:
    add(
        hermetic,
        "GET",
        gh.comments_url() + "?per_page=100",
        gh.error(gh.PRIMARY, 403),
        403,
        remaining=0,
    )
    api, sleeps = client()
    with pytest.raises(GitHubError) as caught:
        api.list_issue_comments(gh.PR)
    assert caught.value.kind == "rate-limited" and caught.value.status == 403
    assert "primary rate limit" in caught.value.message
    assert "wait 601 s" in caught.value.message  # until x-ratelimit-reset, plus a second
    assert sleeps == [] and len(hermetic.calls) == 1


def test_a_primary_rate_limit_resetting_soon_is_waited_for(
    hermetic: responses.RequestsMock,
) -> None:
    add(
        hermetic,
        "GET",
        gh.comments_url() + "?per_page=100",
        gh.error(gh.PRIMARY, 429),
        429,
        remaining=0,
    )
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [])
    api, sleeps = client()
    api.clock = lambda: gh.RESET - 5.0
    assert api.list_issue_comments(gh.PR) == []
    assert sleeps == [6.0]


def test_a_connection_error_is_retried(hermetic: responses.RequestsMock) -> None:
    url = gh.comments_url() + "?per_page=100"
    hermetic.add("GET", url, body=requests.ConnectionError("connection reset"))
    add(hermetic, "GET", url, [])
    api, sleeps = client()
    assert api.list_issue_comments(gh.PR) == []
    assert sleeps == [1.0] and len(hermetic.calls) == 2


def test_a_post_that_timed_out_reading_is_not_sent_again(hermetic: responses.RequestsMock) -> None:
    hermetic.add("POST", gh.comments_url(), body=requests.ReadTimeout("read timed out"))
    api, sleeps = client()
    with pytest.raises(GitHubError) as caught:
        api.create_issue_comment(gh.PR, "x")
    assert caught.value.kind == "network" and "timed out" in caught.value.message
    assert sleeps == [] and len(hermetic.calls) == 1


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind", "hint"),
    [
        (403, gh.FORK_403, "forbidden", "a fork's pull request gets a read-only token"),
        (404, "Not Found", "not-found", "no such pull request"),
        (401, "Bad credentials", "auth", "the token is not valid"),
        (422, "Validation Failed", "rejected", "GitHub refused the comment"),
        (410, "Issues are disabled for this repo", "rejected", None),
    ],
)
def test_a_refusal_is_one_typed_error_and_no_retry(
    hermetic: responses.RequestsMock, status: int, message: str, kind: str, hint: str | None
) -> None:
    add(hermetic, "POST", gh.comments_url(), gh.error(message, status), status)
    api, sleeps = client()
    with pytest.raises(GitHubError) as caught:
        api.create_issue_comment(gh.PR, "x")
    error = caught.value
    assert (error.kind, error.status) == (kind, status)
    assert error.message.startswith(
        f"POST /repos/{gh.OWNER}/{gh.REPO}/issues/{gh.PR}/comments: HTTP {status} ({message})"
    )
    if hint:
        assert hint in error.message
    assert "\n" not in error.message
    assert sleeps == [] and len(hermetic.calls) == 1
    assert_token_absent(error, api)


# --- untrusted answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"comments": []}, "the top level"),
        ([{"body": "no id"}], "0.id"),
        ([gh.comment(1, "a"), {"id": "x", "body": "a"}], "1.id"),
        ([{"id": 3, "body": ["not", "text"]}], "0.body"),
    ],
)
def test_an_unexpected_json_shape_is_a_clear_error(
    hermetic: responses.RequestsMock, payload: Any, where: str
) -> None:
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", payload)
    api, _ = client()
    with pytest.raises(GitHubError) as caught:
        api.list_issue_comments(gh.PR)
    assert caught.value.kind == "bad-response"
    assert f"not shaped as its API documents ({where}:" in caught.value.message


def test_an_answer_that_is_not_json(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "PATCH", gh.comment_url(1), "<html>proxy login</html>")
    api, _ = client()
    with pytest.raises(GitHubError, match="the answer is not JSON"):
        api.update_issue_comment(1, "x")


def test_an_oversized_answer_is_not_read(
    hermetic: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_http, "MAX_RESPONSE_BYTES", 1 << 20)
    huge = [gh.comment(i, "x" * 60_000) for i in range(1, 30)]
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", huge)
    api, _ = client()
    with pytest.raises(GitHubError, match="the answer is over 1 MiB: not read"):
        api.list_issue_comments(gh.PR)


def test_a_deleted_users_comment_has_no_user(hermetic: responses.RequestsMock) -> None:
    ghost = gh.comment(1, "old")
    ghost["user"] = None
    add(hermetic, "GET", gh.comments_url() + "?per_page=100", [ghost])
    api, _ = client()
    assert api.list_issue_comments(gh.PR)[0].user is None


def test_a_hostile_error_message_stays_one_safe_line(hermetic: responses.RequestsMock) -> None:
    hostile = f"no\n::add-mask::x \x1b[2J {gh.token()} " + "A" * 5000
    add(hermetic, "PATCH", gh.comment_url(1), gh.error(hostile, 403), 403)
    api, _ = client()
    with pytest.raises(GitHubError) as caught:
        api.update_issue_comment(1, "x")
    message = caught.value.message
    assert "\n" not in message and "\x1b" not in message
    assert "***" in message and len(message) < 600
    assert_token_absent(caught.value)


# --- the token never shows -------------------------------------------------------------------


def test_the_token_is_in_no_output_of_any_error_path(
    hermetic: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    url = gh.comments_url() + "?per_page=100"
    answers: list[tuple[Any, int, dict[str, Any]]] = [
        (gh.error(gh.FORK_403, 403), 403, {}),
        (gh.error(gh.PRIMARY, 403), 403, {"remaining": 0}),
        (gh.error(gh.SECONDARY, 429), 429, {"retry_after": "3600"}),
        (gh.error("Not Found", 404), 404, {}),
        (gh.error("Bad credentials", 401), 401, {}),
        ("oops", 500, {}),
        ({"x": 1}, 200, {}),
        (requests.ConnectionError(f"boom {gh.token()}"), 0, {}),
    ]
    api, _ = client()
    errors = []
    for payload, status, extra in answers:
        hermetic.reset()
        if isinstance(payload, Exception):
            hermetic.add("GET", url, body=payload)
        else:
            add(hermetic, "GET", url, payload, status or 200, **extra)
        with pytest.raises(GitHubError) as caught:
            api.list_issue_comments(gh.PR)
        errors.append(caught.value)
    assert len({e.kind for e in errors}) >= 6
    out = capsys.readouterr()
    assert_token_absent(api, *errors, out.out, out.err, [e.message for e in errors])


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GITHUB_TOKEN", "ghs_abc\nInjected: header"),
        ("GITHUB_TOKEN", " "),
        ("GITHUB_REPOSITORY", "not-a-repo"),
        ("GITHUB_API_URL", "http://api.github.com"),
        ("GITHUB_API_URL", "https://user:TOKEN@ghe.example/api/v3"),
        ("GITHUB_API_URL", "https://ghe.example/api/v3?x=1"),
        ("GITHUB_API_URL", "ftp://ghe.example/"),
    ],
)
def test_bad_configuration_is_one_line_without_the_token(variable: str, value: str) -> None:
    environ = gh.env(None)
    value = value.replace("TOKEN", gh.token())
    environ[variable] = value
    with pytest.raises(GitHubError) as caught:
        client_from_env(environ)
    assert caught.value.kind == "config"
    assert "\n" not in caught.value.message
    assert variable in caught.value.message
    assert_token_absent(caught.value)
    if variable == "GITHUB_TOKEN":
        assert "ghs_abc" not in caught.value.message


def test_configuration_defaults_and_parsing() -> None:
    made = client_from_env(gh.env(None))
    assert made.api_url == "https://api.github.com"
    assert (made.repository.owner, made.repository.name) == (gh.OWNER, gh.REPO)
    assert_token_absent(made)
    assert parse_api_url(" https://ghe.example/api/v3/ ") == "https://ghe.example/api/v3"
    assert parse_api_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert parse_repository("a-b/c.d_e").path == "/repos/a-b/c.d_e"
    for bad in ("owner", "/repo", "owner/", "owner/..", "ow ner/repo", "a/b/c", "-x/repo"):
        with pytest.raises(GitHubError):
            parse_repository(bad)
    with pytest.raises(GitHubError, match="no GITHUB_TOKEN"):
        client_from_env({"GITHUB_REPOSITORY": "o/r"})


# --- the event payload -----------------------------------------------------------------------


def test_a_pull_request_event_from_the_same_repository(tmp_path: Path) -> None:
    environ = gh.env(gh.event(tmp_path / "event.json"))
    event = pull_request_event(environ)
    assert event is not None
    assert (event.number, event.event_name) == (gh.PR, "pull_request")
    assert (event.base_sha, event.head_sha) == ("a" * 40, "b" * 40)
    assert event.from_fork is False and is_fork_pull_request(environ) is False


@pytest.mark.parametrize(
    ("head_repo", "fork"),
    [("someone/hello-world", True), ("someone/hello-world", False), (None, False)],
)
def test_a_pull_request_from_a_fork(tmp_path: Path, head_repo: str | None, fork: bool) -> None:
    environ = gh.env(gh.event(tmp_path / "e.json", head_repo=head_repo, fork=fork))
    assert is_fork_pull_request(environ) is True


def test_a_fork_flag_alone_marks_a_fork(tmp_path: Path) -> None:
    environ = gh.env(gh.event(tmp_path / "e.json", fork=True))
    assert is_fork_pull_request(environ) is True


def test_events_without_a_pull_request(tmp_path: Path) -> None:
    assert pull_request_event(gh.env(None)) is None  # not in GitHub Actions
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main", "after": "c" * 40}))
    assert pull_request_event(gh.env(push, GITHUB_EVENT_NAME="push")) is None
    comment = tmp_path / "issue_comment.json"
    comment.write_text(json.dumps({"action": "created", "issue": {"number": 3}}))
    assert pull_request_event(gh.env(comment, GITHUB_EVENT_NAME="issue_comment")) is None
    assert is_fork_pull_request(gh.env(push)) is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"pull_request": {"number": "42"}}', "pull_request.number is not a positive number"),
        ('{"pull_request": {"number": true}}', "pull_request.number is not a positive number"),
    ],
)
def test_an_unusable_event_payload(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(text)
    with pytest.raises(GitHubError) as caught:
        pull_request_event(gh.env(path))
    assert caught.value.kind == "config" and fragment in caught.value.message
    assert str(path) in caught.value.message


def test_a_missing_event_file(tmp_path: Path) -> None:
    with pytest.raises(GitHubError, match="no such file"):
        pull_request_event(gh.env(tmp_path / "missing.json"))
