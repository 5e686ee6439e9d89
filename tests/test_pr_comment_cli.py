"""`--pr-comment` through the real CLI: `scangate check REPORT` in a subprocess, with the
variables a GitHub Actions step has, a `pull_request` event payload, and GitHub's REST API
played by a loopback server (`tests.support.github_server`) with the real request and
response shapes. Reports: the real Trivy's (conftest's session reports) and tests/data.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scangate.pr_comment_body import marker
from tests.support import github_api, github_server, gitrepo, images
from tests.support.github_server import FakeGitHub
from tests.support.scanning import clean_env, run_scangate

DATA = Path(__file__).parent / "data" / "reports"
VULN_REPORT = DATA / "current-fs-vuln.json"
LENIENT = "fail-on:\n  vulnerability: none\n  misconfiguration: none\n  secret: none\n"


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with github_server.serve() as server:
        yield server


def gh_env(tmp_path: Path, server: FakeGitHub, **extra: str) -> dict[str, str]:
    event = github_api.event(tmp_path / "event.json")
    return clean_env(tmp_path, github_api.env(event, api=server.url, **extra))


def check(
    tmp_path: Path, env: dict[str, str], *args: str | Path, report: Path = VULN_REPORT
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run_scangate(["check", report, *args], cwd=work, env=env)


def posted(server: FakeGitHub) -> list[str]:
    return [str(r.body["body"]) for r in server.writes() if r.body]


def assert_no_token(proc: subprocess.CompletedProcess[str]) -> None:
    assert github_api.token() not in proc.stdout + proc.stderr


def test_on_change_creates_the_comment_then_leaves_it_then_edits_it(
    tmp_path: Path, api: FakeGitHub
) -> None:
    env = gh_env(tmp_path, api)
    first = check(tmp_path, env, "--pr-comment", "on-change")
    assert first.returncode == 1, first.stderr
    assert_no_token(first)
    (create,) = api.writes()
    assert create.method == "POST"
    assert create.path == f"/repos/{github_api.OWNER}/{github_api.REPO}/issues/42/comments"
    assert create.authorization == f"Bearer {github_api.token()}"
    body = posted(api)[0]
    lines = body.splitlines()
    assert lines[0].startswith("<!-- scangate:scangate/fs/") and lines[0].endswith(" -->")
    assert "## scangate: FAIL :x:" in body
    assert "**1 new failing finding** (1 vulnerability), of 2 in all; 1 below\\-threshold." in body
    assert "### New failing findings (1)" in body
    assert "CVE\\-2018\\-18074" in body and "requests 2\\.19\\.0 \\-\\> 2\\.20\\.0" in body
    assert "pull request comment created: https://github.com/" in first.stderr

    # The same result again: on-change makes no call that writes.
    second = check(tmp_path, env, "--pr-comment", "on-change")
    assert second.returncode == 1
    assert len(api.writes()) == 1
    assert "pull request comment unchanged" in second.stderr

    # A different result edits the one comment in place.
    third = check(tmp_path, env, "--pr-comment", "on-change", "--policy", "strict")
    assert third.returncode == 1
    assert [r.method for r in api.writes()] == ["POST", "PATCH"]
    assert api.writes()[1].path.endswith(f"/issues/comments/{api.comments[0]['id']}")
    assert len(api.comments) == 1
    assert "2 new failing findings" in api.comments[0]["body"]


def test_a_clean_pull_request_gets_a_resolved_comment_never_a_new_one(
    tmp_path: Path, api: FakeGitHub
) -> None:
    policy = tmp_path / "lenient.yaml"
    policy.write_text(LENIENT)
    env = gh_env(tmp_path, api)
    clean = check(tmp_path, env, "--pr-comment", "on-change", "--policy", policy)
    assert clean.returncode == 0
    assert api.writes() == [], "nothing failing and no earlier comment: nothing posted"

    assert check(tmp_path, env, "--pr-comment", "on-change").returncode == 1
    fixed = check(tmp_path, env, "--pr-comment", "on-change", "--policy", policy)
    assert fixed.returncode == 0
    assert [r.method for r in api.writes()] == ["POST", "PATCH"]
    (comment,) = api.comments
    assert "## scangate: resolved :white_check_mark:" in comment["body"]
    assert "edited into the resolved state" in fixed.stderr


def test_always_edits_on_every_run(tmp_path: Path, api: FakeGitHub) -> None:
    env = gh_env(tmp_path, api, SCANGATE_PR_COMMENT="always")
    for _ in range(2):
        assert check(tmp_path, env).returncode == 1
    assert [r.method for r in api.writes()] == ["POST", "PATCH"]
    assert len(api.comments) == 1


def test_finds_its_comment_pages_away_and_ignores_a_persons_copy_of_the_marker(
    tmp_path: Path, api: FakeGitHub
) -> None:
    env = gh_env(tmp_path, api)
    assert check(tmp_path, env, "--pr-comment", "always").returncode == 1
    ours = api.comments.pop()
    category_marker = str(ours["body"]).splitlines()[0]
    api.add(f"{category_marker}\nlooks like scangate's", github_api.HUMAN)
    for n in range(4):
        api.add(f"review comment {n}", github_api.HUMAN)
    api.comments.append(ours)
    api.page_size = 2  # its comment is on page 3 of 3
    api.requests.clear()
    assert check(tmp_path, env, "--pr-comment", "always").returncode == 1
    reads = [r.path for r in api.requests if r.method == "GET"]
    assert len(reads) == 3 and reads[1].startswith(f"/repositories/{github_api.REPO_ID}/")
    (edit,) = api.writes()
    assert edit.method == "PATCH" and edit.path.endswith(f"/comments/{ours['id']}")
    assert "looks like scangate's" in api.comments[0]["body"], "a person's comment is left"


def test_a_personal_access_token_user_names_the_author(tmp_path: Path, api: FakeGitHub) -> None:
    mine = api.add(f"{marker('mine')}\nold", github_api.HUMAN)
    env = gh_env(tmp_path, api, SCANGATE_PR_COMMENT_AUTHOR=str(github_api.HUMAN["login"]))
    proc = check(tmp_path, env, "--pr-comment", "on-change", "--sarif-category", "mine")
    assert proc.returncode == 1, proc.stderr
    (edit,) = api.writes()
    assert edit.method == "PATCH" and edit.path.endswith(f"/comments/{mine['id']}")


def test_one_comment_per_category(tmp_path: Path, api: FakeGitHub) -> None:
    env = gh_env(tmp_path, api)
    for category in ("backend", "frontend", "backend"):
        args = ("--pr-comment", "always", "--sarif-category", category)
        assert check(tmp_path, env, *args).returncode == 1
    firsts = sorted(str(c["body"]).splitlines()[0] for c in api.comments)
    assert firsts == [marker("backend"), marker("frontend")]


def test_a_forks_403_is_one_warning_and_keeps_the_exit_code(
    tmp_path: Path, api: FakeGitHub
) -> None:
    env = gh_env(tmp_path, api)
    without = check(tmp_path, env)
    api.fail_with(403, github_api.FORK_403)
    proc = check(tmp_path, env, "--pr-comment", "on-change")
    assert proc.returncode == without.returncode == 1
    assert proc.stdout == without.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith("scangate: warning: pull request comment not posted: GET /repos/")
    assert "HTTP 403 (Resource not accessible by integration)" in line
    assert_no_token(proc)

    # Under GitHub Actions the one line is a ::warning annotation.
    actions = check(tmp_path, {**env, "GITHUB_ACTIONS": "true"}, "--pr-comment", "on-change")
    assert actions.returncode == 1
    (warning,) = actions.stderr.splitlines()
    assert warning.startswith("::warning title=scangate::pull request comment not posted")
    assert_no_token(actions)


def test_a_passing_gate_stays_passing_when_the_comment_fails(
    tmp_path: Path, api: FakeGitHub
) -> None:
    policy = tmp_path / "lenient.yaml"
    policy.write_text(LENIENT)
    api.fail_with(404, "Not Found")
    env = gh_env(tmp_path, api)
    proc = check(tmp_path, env, "--pr-comment", "always", "--policy", policy)
    assert proc.returncode == 0
    (line,) = proc.stderr.splitlines()
    assert "HTTP 404 (Not Found): no such pull request" in line
    assert_no_token(proc)


def test_no_pull_request_no_call(tmp_path: Path, api: FakeGitHub) -> None:
    push = github_api.env(None, api=api.url, GITHUB_EVENT_NAME="push")
    proc = check(tmp_path, clean_env(tmp_path, push), "--pr-comment", "always")
    assert proc.returncode == 1
    assert api.requests == []
    assert proc.stderr == ""


def test_off_is_the_default(tmp_path: Path, api: FakeGitHub) -> None:
    proc = check(tmp_path, gh_env(tmp_path, api))
    assert proc.returncode == 1
    assert api.requests == []


def test_no_token_is_a_warning_not_an_error(tmp_path: Path, api: FakeGitHub) -> None:
    env = gh_env(tmp_path, api)
    del env["GITHUB_TOKEN"]
    proc = check(tmp_path, env, "--pr-comment", "on-change")
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert "no GITHUB_TOKEN" in line and "pull-requests: write" in line
    assert api.requests == []


def test_a_bad_mode_is_a_usage_error(tmp_path: Path, api: FakeGitHub) -> None:
    proc = check(tmp_path, gh_env(tmp_path, api), "--pr-comment", "sometimes")
    assert proc.returncode == 2
    assert "--pr-comment" in proc.stderr
    assert api.requests == []


def test_a_secret_shows_only_by_file_and_line(
    tmp_path: Path, api: FakeGitHub, config_repo_report: Path, fake_github_token: str
) -> None:
    env = gh_env(tmp_path, api)
    proc = check(tmp_path, env, "--pr-comment", "on-change", report=config_repo_report)
    assert proc.returncode == 1, proc.stderr
    (body,) = posted(api)
    assert "github\\-pat" in body and "settings\\.py\\:3" in body
    assert fake_github_token not in body
    assert fake_github_token[:8] not in body
    # The JSON result and the comment agree on what fails.
    result = json.loads(
        run_scangate(
            ["check", config_repo_report, "--format", "json"], cwd=tmp_path / "work", env=env
        ).stdout
    )
    assert f"### New failing findings ({result['summary']['failing']})" in body


# --- with --diff-base: a real git repository and the real Trivy ---------------------------------

FAILING_DOCKERFILE = 'FROM alpine:3.19\nRUN apk add --no-cache curl\nCMD ["sh"]\n'
FIXED_DOCKERFILE = 'FROM alpine:3.19\nRUN adduser -D app\nUSER app\nCMD ["sh"]\n'


def test_a_pull_request_against_its_base(
    tmp_path: Path, api: FakeGitHub, fake_github_token: str
) -> None:
    """The base fails DS-0002 already; the PR adds a secret and a .trivyignore line: the
    secret is the one new failing finding, DS-0002 pre-existing, the line under review."""
    env = gitrepo.git_env(tmp_path, github_api.env(github_api.event(tmp_path / "e.json")))
    env.update(GITHUB_API_URL=api.url, SCANGATE_OFFLINE="true")
    clone = gitrepo.make_clone(tmp_path, env)
    base = clone.commit("base", {"Dockerfile": FAILING_DOCKERFILE})
    clone.commit(
        "pr", {"ci.env": f"GITHUB_TOKEN={fake_github_token}\n", ".trivyignore": "DS-0026\n"}
    )
    args = ["scan", "fs", ".", "--scanners", "misconfig,secret", "--diff-base", base]
    proc = gitrepo.run_scangate([*args, "--pr-comment", "on-change"], cwd=clone.path, env=env)
    assert proc.returncode == 1, proc.stderr
    assert_no_token(proc)
    (body,) = posted(api)
    short = base[:12]
    assert "**1 new failing finding** (1 secret), of 3 in all; 1 pre-existing, 1 allowed." in body
    assert f"Compared with the base commit {short}." in body
    assert "#### ci\\.env (1)" in body and "github\\-pat" in body
    assert fake_github_token not in body
    assert "### Pre-existing" in body and f"already failed at the base commit {short}" in body
    assert "### Suppression review (1)" in body
    assert "| added | \\.trivyignore | \\.trivyignore\\:1 | DS\\-0026 | everywhere |" in body
    assert "DS\\-0002" not in body, "pre-existing findings are counted, not listed"

    # The PR then fixes the Dockerfile and drops the secret: the comment is edited to show
    # what it fixes, and the gate passes (the .trivyignore line is still under review).
    clone.commit("fix", {"Dockerfile": FIXED_DOCKERFILE})
    (clone.path / "ci.env").unlink()
    clone.commit("drop the secret")
    fixed = gitrepo.run_scangate([*args, "--pr-comment", "on-change"], cwd=clone.path, env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert [r.method for r in api.writes()] == ["POST", "PATCH"]
    (comment,) = api.comments
    body = str(comment["body"])
    assert "## scangate: PASS :white_check_mark:" in body
    assert "### Fixed by this pull request (1)" in body and "DS\\-0002" in body
    assert "### Suppression review (1)" in body


def test_review_rows_say_what_changed_and_what_it_was() -> None:
    from datetime import date

    from scangate.cli._pr_comment_step import suppression_row
    from scangate.suppression_review import Change, Kind, ReviewRow

    row = ReviewRow(
        changes=(Change.WIDENED, Change.EXTENDED),
        kind=Kind.ALLOW,
        file=".scangate.yaml",
        line=7,
        origin=".scangate.yaml allow[0]",
        id="CVE-2024-1",
        scope="targets: **",
        reason="vendored",
        owner=None,
        expires=date(2027, 3, 1),
        previous_scope="targets: vendor/**",
        previous_expires=date(2026, 12, 1),
    )
    shown = suppression_row(row)
    assert (shown.change, shown.source, shown.path, shown.line) == (
        "widened, extended",
        "allow entry",
        ".scangate.yaml",
        7,
    )
    assert (shown.scope, shown.owner, shown.expires) == ("targets: **", "", "2027-03-01")
    assert shown.was == "targets: vendor/**; expires 2026-12-01"


def test_scan_image_comments_under_the_images_category(
    tmp_path: Path, api: FakeGitHub, fake_github_token: str
) -> None:
    secret = f"GITHUB_TOKEN={fake_github_token}\n".encode()
    archive = images.write_docker_archive(
        tmp_path / "image.tar", extra_files={"app/ci.env": secret}
    )
    env = gh_env(tmp_path, api, SCANGATE_OFFLINE="true", SCANGATE_NO_INSTALL="1")
    args: list[str | Path] = ["scan", "image", "--input", archive, "--scanners", "secret"]
    args += ["--pr-comment", "on-change"]
    proc = run_scangate(args, cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    (body,) = posted(api)
    assert body.startswith("<!-- scangate:scangate/image/")
    assert "**1 new failing finding** (1 secret)" in body
    assert fake_github_token not in body
