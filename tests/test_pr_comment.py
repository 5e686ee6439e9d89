"""scangate.pr_comment (the sticky comment) and scangate.pr_comment_body (its Markdown).

The API is `responses` serving GitHub's real shapes (tests.support.github_api) inside
conftest's `hermetic` mock; assertions read the requests it recorded. Bodies are read back
as a reader sees them, rendered by a real CommonMark parser (tests.support.rendered).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from scangate.github_env import client_from_env
from scangate.pr_comment import Action, Mode, Outcome, find_sticky, publish, publish_from_env
from scangate.pr_comment_body import (
    MAX_CHARS,
    MAX_FAILING_ROWS,
    CommentInput,
    FindingRow,
    SuppressionRow,
    marker,
    render,
    render_resolved,
    size,
)
from scangate.pr_comment_table import cell
from tests.support import github_api as gh
from tests.support.hostile import TEXT
from tests.support.rendered import Rendered, gfm_safe
from tests.support.rendered import render as render_markdown

CATEGORY = "scangate/fs/."
FIRST = gh.comments_url() + "?per_page=100"


def vuln(n: int = 1, target: str = "package-lock.json", severity: str = "HIGH") -> FindingRow:
    return FindingRow(
        kind="vulnerability",
        id=f"CVE-2026-{1000 + n}",
        severity=severity,
        target=target,
        package="lodash",
        installed_version="4.17.20",
        fixed_version="4.17.21",
        title="Prototype pollution in lodash",
        reason="HIGH vulnerability with a fix: fails at HIGH",
    )


def misconfig() -> FindingRow:
    return FindingRow(
        kind="misconfiguration",
        id="DS-0002",
        severity="HIGH",
        target="Dockerfile",
        path="Dockerfile",
        line=1,
        title="Image user should not be 'root'",
        reason="HIGH misconfiguration: fails at HIGH",
    )


def allow_added() -> SuppressionRow:
    return SuppressionRow(
        change="added",
        source="allow entry",
        path=".scangate.yaml",
        line=12,
        id="CVE-2026-1001",
        scope="packages: lodash",
        reason="not reachable from our code",
        owner="team-sec",
        expires="2027-01-31",
    )


FAILING = CommentInput(
    verdict="fail",
    new_failing=(vuln(), misconfig()),
    fixed=(vuln(9, "requirements.txt", "CRITICAL"),),
    pre_existing=5,
    total=12,
    counts={"allowed": 2},
    suppressions=(allow_added(),),
    base="abc1234",
)
CLEAN = CommentInput(verdict="pass", pre_existing=5, total=5, fixed=(vuln(9),))


def api() -> Any:
    return client_from_env(gh.env(None), sleep=lambda _: None)


def add(
    mock: responses.RequestsMock,
    method: str,
    url: str,
    payload: Any,
    status: int = 200,
    **headers: str,
) -> None:
    mock.add(
        method,
        url,
        body=json.dumps(payload),
        status=status,
        headers={**gh.headers(), **headers},
        content_type="application/json; charset=utf-8",
    )


def calls(mock: responses.RequestsMock) -> list[tuple[str, str]]:
    return [(c.request.method or "", c.request.url or "") for c in mock.calls]


def sent_body(mock: responses.RequestsMock, index: int = -1) -> str:
    body: str = json.loads(mock.calls[index].request.body or b"")["body"]
    return body


# --- which comment ----------------------------------------------------------------------------


def test_creates_the_comment_when_there_is_none(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", FIRST, [gh.comment(1, "LGTM", gh.HUMAN)])
    add(hermetic, "POST", gh.comments_url(), gh.comment(50, "x"), status=201)

    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome == Outcome(
        Action.CREATED, f"https://github.com/{gh.OWNER}/{gh.REPO}/pull/42#issuecomment-50"
    )
    assert calls(hermetic) == [("GET", FIRST), ("POST", gh.comments_url())]
    body = sent_body(hermetic)
    assert body == render(FAILING, CATEGORY)
    assert body.startswith("<!-- scangate:scangate/fs/. -->\n")


def test_updates_the_marked_bot_comment_in_place(hermetic: responses.RequestsMock) -> None:
    old = render(CommentInput(verdict="fail", new_failing=(vuln(),)), CATEGORY)
    add(hermetic, "GET", FIRST, [gh.comment(1, "LGTM", gh.HUMAN), gh.comment(7, old)])
    add(hermetic, "PATCH", gh.comment_url(7), gh.comment(7, "x"))

    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome.action is Action.UPDATED and outcome.warning is None
    assert calls(hermetic) == [("GET", FIRST), ("PATCH", gh.comment_url(7))]
    assert sent_body(hermetic) == render(FAILING, CATEGORY)


def test_finds_the_comment_on_the_third_page(hermetic: responses.RequestsMock) -> None:
    people = [gh.comment(i, f"comment {i}", gh.HUMAN) for i in range(1, 101)]
    add(hermetic, "GET", FIRST, people, link=gh.link(1, 3))
    add(hermetic, "GET", gh.page_url(2), people, link=gh.link(2, 3))
    mine = gh.comment(300, render(FAILING, CATEGORY) + "\n<!-- stale -->")
    add(hermetic, "GET", gh.page_url(3), [mine], link=gh.link(3, 3))
    add(hermetic, "PATCH", gh.comment_url(300), gh.comment(300, "x"))

    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome.action is Action.UPDATED
    assert calls(hermetic)[-1] == ("PATCH", gh.comment_url(300))
    assert len(hermetic.calls) == 4


def test_on_change_skips_an_unchanged_body(hermetic: responses.RequestsMock) -> None:
    # GitHub may hand the body back with CRLF line ends.
    stored = render(FAILING, CATEGORY).replace("\n", "\r\n")
    add(hermetic, "GET", FIRST, [gh.comment(7, stored)])

    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome.action is Action.UNCHANGED
    assert outcome.url is not None and outcome.url.endswith("#issuecomment-7")
    assert calls(hermetic) == [("GET", FIRST)]  # no PATCH, no POST


def test_always_updates_even_an_unchanged_body(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", FIRST, [gh.comment(7, render(FAILING, CATEGORY))])
    add(hermetic, "PATCH", gh.comment_url(7), gh.comment(7, "x"))
    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ALWAYS)
    assert outcome.action is Action.UPDATED
    assert calls(hermetic) == [("GET", FIRST), ("PATCH", gh.comment_url(7))]


def test_a_clean_pull_request_edits_the_comment_into_resolved(
    hermetic: responses.RequestsMock,
) -> None:
    add(hermetic, "GET", FIRST, [gh.comment(7, render(FAILING, CATEGORY))])
    add(hermetic, "PATCH", gh.comment_url(7), gh.comment(7, "x"))

    outcome = publish(api(), gh.PR, CLEAN, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome.action is Action.RESOLVED
    body = sent_body(hermetic)
    assert body == render_resolved(CLEAN, CATEGORY)
    assert body.splitlines()[:3] == [
        marker(CATEGORY),
        "",
        "## scangate: resolved :white_check_mark:",
    ]
    assert (
        "No new failing findings in this pull request any more (5 pre-existing, 1 fixed)." in body
    )
    # Once resolved, the next clean run leaves it alone.
    hermetic.reset()
    add(hermetic, "GET", FIRST, [gh.comment(7, body)])
    again = publish(api(), gh.PR, CLEAN, category=CATEGORY, mode=Mode.ON_CHANGE)
    assert again.action is Action.UNCHANGED and calls(hermetic) == [("GET", FIRST)]


def test_a_clean_pull_request_without_a_comment_gets_none(
    hermetic: responses.RequestsMock,
) -> None:
    add(hermetic, "GET", FIRST, [gh.comment(1, "LGTM", gh.HUMAN)])
    outcome = publish(api(), gh.PR, CLEAN, category=CATEGORY, mode=Mode.ON_CHANGE)
    assert outcome == Outcome(Action.NOTHING)
    assert calls(hermetic) == [("GET", FIRST)]


def test_always_posts_a_pass_on_a_clean_pull_request(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", FIRST, [])
    add(hermetic, "POST", gh.comments_url(), gh.comment(8, "x"), status=201)
    outcome = publish(api(), gh.PR, CLEAN, category=CATEGORY, mode=Mode.ALWAYS)
    assert outcome.action is Action.CREATED
    body = sent_body(hermetic)
    assert body == render_resolved(CLEAN, CATEGORY, earlier=False)
    assert "## scangate: PASS :white_check_mark:" in body


def test_a_passing_pull_request_that_adds_a_suppression_is_commented(
    hermetic: responses.RequestsMock,
) -> None:
    allowed = CommentInput(
        verdict="pass", total=1, counts={"allowed": 1}, suppressions=(allow_added(),)
    )
    add(hermetic, "GET", FIRST, [])
    add(hermetic, "POST", gh.comments_url(), gh.comment(8, "x"), status=201)
    assert (
        publish(api(), gh.PR, allowed, category=CATEGORY, mode=Mode.ON_CHANGE).action
        is Action.CREATED
    )
    body = sent_body(hermetic)
    assert "## scangate: PASS" in body and "### Suppression review (1)" in body


def test_a_marker_comment_by_a_person_is_never_taken(hermetic: responses.RequestsMock) -> None:
    # Anyone may paste the marker; only a bot's comment (or the named author's) is scangate's.
    forged = render(FAILING, CATEGORY)
    add(hermetic, "GET", FIRST, [gh.comment(3, forged, gh.HUMAN)])
    add(hermetic, "POST", gh.comments_url(), gh.comment(9, "x"), status=201)

    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome.action is Action.CREATED
    assert calls(hermetic) == [("GET", FIRST), ("POST", gh.comments_url())]


def test_find_sticky_rules() -> None:
    from scangate.github_api import IssueComment

    def made(i: int, body: str, who: dict[str, Any]) -> IssueComment:
        return IssueComment.model_validate(gh.comment(i, body, who))

    body = render(FAILING, CATEGORY)
    other = {"login": "renovate[bot]", "id": 5, "type": "Bot"}
    pat_user = {"login": "Release-Bot-User", "id": 6, "type": "User"}
    comments = [
        made(1, body, gh.HUMAN),
        made(2, "text first\n" + body, gh.BOT),  # the marker is not on the first line
        made(3, render(FAILING, "scangate/image/x"), gh.BOT),  # another category
        made(4, body, pat_user),
        made(5, body, other),
        made(6, body, gh.BOT),
    ]
    found = find_sticky(comments, CATEGORY)
    assert found is not None and found.id == 5  # the first bot's
    named = find_sticky(comments, CATEGORY, author="release-bot-user")
    assert named is not None and named.id == 4
    assert find_sticky(comments, CATEGORY, author="octocat") is None
    assert find_sticky(comments[:4], CATEGORY) is None


def test_categories_have_their_own_comments(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", FIRST, [gh.comment(7, render(FAILING, "scangate/image/app"))])
    add(hermetic, "POST", gh.comments_url(), gh.comment(8, "x"), status=201)
    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)
    assert outcome.action is Action.CREATED


def test_off_makes_no_call(hermetic: responses.RequestsMock) -> None:
    assert publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.OFF).action is Action.OFF
    outcome = publish_from_env(FAILING, category=CATEGORY, mode=Mode.OFF, environ={})
    assert outcome.action is Action.OFF and len(hermetic.calls) == 0


# --- failures are warnings -------------------------------------------------------------------


def test_a_forks_read_only_token_gives_one_warning(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", FIRST, [])
    add(hermetic, "POST", gh.comments_url(), gh.error(gh.FORK_403, 403), status=403)

    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ON_CHANGE)

    assert outcome.action is Action.FAILED and outcome.url is None
    assert outcome.warning is not None and "\n" not in outcome.warning
    assert outcome.warning.startswith("pull request comment not posted: POST /repos/")
    assert "HTTP 403 (Resource not accessible by integration)" in outcome.warning
    assert "pull-requests: write" in outcome.warning
    assert outcome.warning.endswith("the step summary has the full results")
    assert gh.token() not in repr(outcome)


def test_a_404_gives_one_warning(hermetic: responses.RequestsMock) -> None:
    add(hermetic, "GET", FIRST, gh.error("Not Found", 404), status=404)
    outcome = publish(api(), gh.PR, FAILING, category=CATEGORY, mode=Mode.ALWAYS)
    assert outcome.action is Action.FAILED
    assert outcome.warning is not None and "HTTP 404 (Not Found)" in outcome.warning
    assert calls(hermetic) == [("GET", FIRST)]


def test_the_edit_of_a_comment_that_is_not_ours_fails_softly(
    hermetic: responses.RequestsMock,
) -> None:
    add(hermetic, "GET", FIRST, [gh.comment(7, render(FAILING, CATEGORY))])
    add(hermetic, "PATCH", gh.comment_url(7), gh.error(gh.FORK_403, 403), status=403)
    outcome = publish(api(), gh.PR, CLEAN, category=CATEGORY, mode=Mode.ON_CHANGE)
    assert outcome.action is Action.FAILED and outcome.warning is not None


def test_from_env_posts_to_github_enterprise(
    hermetic: responses.RequestsMock, tmp_path: Path
) -> None:
    environ = gh.env(gh.event(tmp_path / "event.json"), api=gh.GHES_API)
    add(hermetic, "GET", gh.comments_url(gh.GHES_API) + "?per_page=100", [])
    add(
        hermetic,
        "POST",
        gh.comments_url(gh.GHES_API),
        gh.comment(5, "x", api=gh.GHES_API),
        status=201,
    )

    outcome = publish_from_env(FAILING, category=CATEGORY, mode=Mode.ON_CHANGE, environ=environ)

    assert outcome.action is Action.CREATED
    assert calls(hermetic)[-1] == ("POST", gh.comments_url(gh.GHES_API))
    assert hermetic.calls[-1].request.headers["Authorization"] == f"Bearer {gh.token()}"


def test_from_env_outside_a_pull_request_does_nothing(
    hermetic: responses.RequestsMock, tmp_path: Path
) -> None:
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}))
    for environ in (gh.env(None), gh.env(push, GITHUB_EVENT_NAME="push")):
        outcome = publish_from_env(FAILING, category=CATEGORY, mode=Mode.ON_CHANGE, environ=environ)
        assert outcome == Outcome(Action.NOT_A_PULL_REQUEST)
    assert len(hermetic.calls) == 0


@pytest.mark.parametrize("drop", ["GITHUB_TOKEN", "GITHUB_REPOSITORY"])
def test_from_env_with_missing_configuration_warns(
    hermetic: responses.RequestsMock, tmp_path: Path, drop: str
) -> None:
    environ = gh.env(gh.event(tmp_path / "event.json"))
    del environ[drop]
    outcome = publish_from_env(FAILING, category=CATEGORY, mode=Mode.ON_CHANGE, environ=environ)
    assert outcome.action is Action.FAILED
    assert outcome.warning is not None and drop in outcome.warning
    assert len(hermetic.calls) == 0


def test_from_env_with_a_broken_event_file_warns(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text("{")
    outcome = publish_from_env(FAILING, category=CATEGORY, mode=Mode.ALWAYS, environ=gh.env(path))
    assert outcome.action is Action.FAILED and outcome.warning is not None
    assert "not JSON" in outcome.warning


def test_the_token_is_in_no_outcome(hermetic: responses.RequestsMock, tmp_path: Path) -> None:
    environ = gh.env(gh.event(tmp_path / "event.json"))
    leaky = gh.error(f"Bad credentials for {gh.token()}", 401)
    answers = [(leaky, 401), (gh.error(gh.FORK_403, 403), 403), (gh.error("x", 500), 500)]
    outcomes = []
    for payload, status in answers:
        hermetic.reset()
        add(hermetic, "GET", FIRST, payload, status=status, **{"retry-after": "1"})
        outcomes.append(
            publish_from_env(
                FAILING, category=CATEGORY, mode=Mode.ALWAYS, environ=environ, sleep=lambda _: None
            )
        )
    broken = dict(environ, GITHUB_API_URL=f"https://x:{gh.token()}@ghe.example/api/v3")
    outcomes.append(publish_from_env(FAILING, category=CATEGORY, mode=Mode.ALWAYS, environ=broken))
    assert [o.action for o in outcomes] == [Action.FAILED] * 4
    for outcome in outcomes:
        assert gh.token() not in repr(outcome) and gh.token() not in str(outcome.warning)


# --- the body --------------------------------------------------------------------------------


def test_the_body_layout() -> None:
    body = render(FAILING, CATEGORY)
    page = assert_body_safe(body, CATEGORY)
    assert body.splitlines()[:5] == [
        "<!-- scangate:scangate/fs/. -->",
        "",
        "## scangate: FAIL :x:",
        "",
        "**2 new failing findings** (1 misconfiguration, 1 vulnerability), of 12 in all; "
        "5 pre-existing, 2 allowed. 1 fixed by this pull request. "
        "Compared with the base commit abc1234.",
    ]
    text = page.plain_text()
    for heading in (
        "New failing findings (2)",
        "Dockerfile (1)",
        "package-lock.json (1)",
        "Fixed by this pull request (1)",
        "Pre-existing",
        "Suppression review (1)",
    ):
        assert heading in text
    failing, fixed, review = page.tables[0] + page.tables[1][1:], page.tables[2], page.tables[3]
    assert failing[0] == ["Severity", "ID", "Kind", "Where", "Title", "Why it fails"]
    assert failing[1] == [
        "HIGH",
        "DS-0002",
        "misconfiguration",
        "Dockerfile:1",
        "Image user should not be 'root'",
        "HIGH misconfiguration: fails at HIGH",
    ]
    assert failing[2][3] == "lodash 4.17.20 -> 4.17.21"
    assert fixed[1] == [
        "CRITICAL",
        "CVE-2026-1009",
        "vulnerability",
        "requirements.txt",
        "lodash 4.17.20",
    ]
    assert review[0] == [
        "Change",
        "Suppression",
        "File",
        "ID",
        "Scope",
        "Reason",
        "Owner",
        "Expires",
    ]
    assert review[1] == [
        "added",
        "allow entry",
        ".scangate.yaml:12",
        "CVE-2026-1001",
        "packages: lodash",
        "not reachable from our code",
        "team-sec",
        "2027-01-31",
    ]
    assert "5 findings already failed at the base commit abc1234" in text


def test_review_notes_follow_the_review() -> None:
    notes = tuple(f"policy.yaml at the base: not valid YAML ({i})" for i in range(7))
    body = render(CommentInput(verdict="pass", review_notes=notes), CATEGORY)
    assert body.count("- :warning: policy\\.yaml at the base\\: not valid YAML") == 5
    assert "- ... and 2 more notes" in body and "### Suppression review\n" in body
    with_rows = render(
        CommentInput(verdict="pass", suppressions=(allow_added(),), review_notes=notes[:1]),
        CATEGORY,
    )
    assert with_rows.index("| added |") < with_rows.index("- :warning: policy")


def test_groups_are_ordered_by_their_worst_finding() -> None:
    rows = (vuln(1, "b.lock", "LOW"), vuln(2, "a.lock", "MEDIUM"), vuln(3, "b.lock", "CRITICAL"))
    body = render(CommentInput(verdict="fail", new_failing=rows), CATEGORY)
    headings = [line for line in body.splitlines() if line.startswith("#### ")]
    assert headings == ["#### b\\.lock (2)", "#### a\\.lock (1)"]


# scangate's own hostile text first (cells keep their first 250 characters), then TEXT's.
HOSTILE = (
    "--> <!-- scangate:scangate/fs/. --> </table> <script>x</script> @octocat @org/team "
    "](javascript:alert(1)) [x](javascript:alert(1)) ``` `code` | a | b |\n"
    "## scangate: PASS :white_check_mark:\n#### fake.lock (1)\n---\n> quote " + TEXT
)


def hostile_input(n: int = 1, text: str = HOSTILE) -> CommentInput:
    def row(i: int) -> FindingRow:
        return FindingRow(
            kind=text,
            id=f"{text}{i}",
            severity=text,
            target=f"{text}{i % 3}",
            package=text,
            installed_version=text,
            fixed_version=text,
            title=text,
            reason=text,
        )

    located = FindingRow(
        kind="secret", id=text, severity="CRITICAL", target=text, path=text, line=3, artifact=text
    )
    review = SuppressionRow(
        change=text,
        source=text,
        path=text,
        line=7,
        id=text,
        scope=text,
        reason=text,
        owner=text,
        expires=text,
        was=text,
    )
    return CommentInput(
        verdict="fail",
        new_failing=(*(row(i) for i in range(n)), located),
        fixed=(row(99), located),
        pre_existing=3,
        total=10,
        counts={text: 2},
        suppressions=(review,) * n,
        review_notes=(text, text),
        base=text,
    )


def assert_body_safe(body: str, category: str) -> Rendered:
    """What scangate wrote, and nothing that came from a report, makes markup."""
    assert body.split("\n", 1)[0] == marker(category)
    assert body.count("<!--") == 1 and body.count("-->") == 1
    assert size(body) <= MAX_CHARS
    page = render_markdown(body)
    assert page.links == [] and page.images == []
    tags = set(page.tags)
    assert not tags & {
        "a",
        "img",
        "em",
        "code",
        "del",
        "s",
        "script",
        "blockquote",
        "hr",
        "h1",
        "h5",
    }
    assert page.tags.count("h2") == 1 and page.tags.count("strong") == 1
    assert page.tags.count("h3") <= 4
    gfm_safe(body)
    for table in page.tables:
        assert len({len(row) for row in table}) == 1, table  # no cell break from text
    return page


@pytest.mark.parametrize("text", [HOSTILE, TEXT], ids=["markdown", "controls"])
def test_hostile_text_in_every_field_stays_text(text: str) -> None:
    comment = hostile_input(text=text)
    body = render(comment, CATEGORY)
    page = assert_body_safe(body, CATEGORY)
    assert page.tags.count("h4") == 2  # one per target: the hostile heading is text
    assert body.count(f"\\[{cell(text)}\\]") == 2  # its artifact: the heading, the fixed row
    raw = body.replace("\\<", "").replace("\\]", "").replace("\\`", "")
    assert "<img" not in raw and "<script" not in raw and "</table>" not in raw
    assert "](" not in raw and "`" not in raw
    assert "\n## scangate: PASS" not in body and "\n#### fake" not in body
    assert "@octocat" not in body.replace("@&#8203;octocat", "")
    assert "##[" not in body and "\x1b" not in body and "\u202e" not in body
    shown = page.plain_text()
    if text is HOSTILE:
        assert "@octocat" in shown  # shown as written, mentioning nobody
        assert "](javascript:alert(1))" in shown
    else:
        assert "\\x1b[2J" in shown and "\\u202eexe.txt" in shown  # visible escapes


def test_hostile_resolved_body() -> None:
    body = render_resolved(hostile_input(), CATEGORY)
    page = render_markdown(body)
    assert body.count("<!--") == 1 and page.links == [] and page.tags.count("h2") == 1


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("scangate/fs/.", "<!-- scangate:scangate/fs/. -->"),
        ("x --> <img src=x>", "<!-- scangate:x_-___img_src=x_ -->"),
        ("a--b---c", "<!-- scangate:a-b-c -->"),
        ("", "<!-- scangate:default -->"),
        ("é\n##[x]", "<!-- scangate:_____x_ -->"),
    ],
)
def test_the_marker_keeps_a_safe_charset(category: str, expected: str) -> None:
    line = marker(category)
    assert line == expected
    assert line.count("-->") == 1 and line.endswith(" -->") and "--" not in line[4:-3]
    assert render_markdown(line + "\n").plain_text().strip() == ""  # hidden


def test_the_body_stays_under_githubs_limit_and_says_what_was_cut() -> None:
    big = "x" * 300
    rows = tuple(
        FindingRow(
            "vulnerability",
            f"CVE-{i}-{big}",
            "HIGH",
            f"t{i % 7}",
            big,
            big,
            big,
            title=big,
            reason=big,
        )
        for i in range(MAX_FAILING_ROWS)
    )
    reviews = tuple(
        SuppressionRow("added", "allow entry", big, i, big, big, big, big) for i in range(80)
    )
    notes = ("@" * 1000,) * 7  # each "@" grows nine-fold when escaped
    comment = CommentInput(
        verdict="fail", new_failing=rows, fixed=rows[:40], suppressions=reviews, review_notes=notes
    )
    body = render(comment, CATEGORY)

    assert size(body) <= MAX_CHARS and len(body.encode("utf-16-le")) // 2 <= MAX_CHARS
    page = assert_body_safe(body, CATEGORY)
    failing_rows = sum(len(t) - 1 for t in page.tables if t[0][0] == "Severity" and len(t[0]) == 6)
    assert 0 < failing_rows < MAX_FAILING_ROWS
    cut = MAX_FAILING_ROWS - failing_rows
    assert (
        f"... and {cut} more new failing findings (cut to keep this comment under GitHub's "
        "65,536-character limit; the job's step summary has the full results)." in body
    )
    # The suppression review keeps its share of the room; the fixed findings come last.
    review_rows = sum(len(t) - 1 for t in page.tables if t[0][0] == "Change")
    assert 0 < review_rows < 80
    assert f"... and {80 - review_rows} more suppression changes (cut to keep" in body
    fixed_rows = sum(len(t) - 1 for t in page.tables if len(t[0]) == 5)
    assert f"{40 - fixed_rows} {'more ' if fixed_rows else ''}fixed findings" in body
    assert body.count("(cut to keep this comment under GitHub's 65,536-character limit") == 3
    for line in body.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            assert line.endswith(" |") and not line.endswith("\\ |")  # whole rows, whole escapes


def test_non_bmp_text_counts_twice_toward_the_limit() -> None:
    emoji = "\U0001f600" * 250
    rows = tuple(
        FindingRow("secret", emoji, "HIGH", emoji, title=emoji, reason=emoji) for _ in range(100)
    )
    body = render(CommentInput(verdict="fail", new_failing=rows), CATEGORY)
    assert len(body.encode("utf-16-le")) // 2 <= MAX_CHARS
    assert "more new failing findings (cut to keep" in body


def test_rows_past_the_cap_are_counted() -> None:
    rows = tuple(vuln(i) for i in range(MAX_FAILING_ROWS + 30))
    body = render(CommentInput(verdict="fail", new_failing=rows), CATEGORY)
    assert (
        "... and 30 more new failing findings (the comment shows at most 100; the job's step "
        "summary has the full results)." in body
    )
    assert f"### New failing findings ({MAX_FAILING_ROWS + 30})" in body


def test_a_long_name_never_hides_the_line_or_the_fix() -> None:
    row = FindingRow("secret", "github-pat", "CRITICAL", "app.py", path="a/" * 300, line=7)
    dep = FindingRow("vulnerability", "CVE-1", "HIGH", "x", "p" * 400, "1.0", "1.1")
    page = render_markdown(render(CommentInput(verdict="fail", new_failing=(row, dep)), CATEGORY))
    wheres = [table[1][3] for table in page.tables]  # the critical secret's group first
    assert wheres[0].endswith("a/a...:7") and wheres[1].endswith("p... 1.0 -> 1.1")


def test_a_tiny_limit_still_gives_a_valid_body() -> None:
    body = render(FAILING, CATEGORY, max_chars=600)
    assert size(body) <= 600 and body.startswith(marker(CATEGORY))
    assert "the rest was cut to keep this comment under GitHub's 65,536-character limit" in body
