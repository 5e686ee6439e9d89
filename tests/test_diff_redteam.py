"""Red team of issue 9's new inputs: what an attacker controls around `--diff-base` and
`--pr-comment`, each attack run for real (real git, the real Trivy with the offline DB, the
real console script, a loopback HTTP server speaking raw HTTP) and checked against its goal:

(a) turn a failing gate into a pass; (b) write into a CI log or a PR comment as if it were
scangate; (c) leak GITHUB_TOKEN; (d) make scangate crash with a traceback or touch files
outside its directories.

Every test here is a regression for an attack that worked before its fix or a check that
one did not (the module docstrings name the defence).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import responses

from scangate.pr_comment_body import marker
from tests.support import github_api, gitrepo, scanning
from tests.support.gitrepo import Clone
from tests.support.loopback import serving
from tests.support.scanning import clean_env, run_scangate
from tests.support.workflow_commands import commands
from tests.test_action import (  # the Action run by act, offline (tests/test_action.py)
    MISCONFIG_SECRET,
    RunAction,
    installed,  # noqa: F401
    pull_request_event,
    run_action,  # noqa: F401
    runner_temp,  # noqa: F401
    workspace,  # noqa: F401
    write_pull_request,
)
from tests.test_diff_gate import repo, scans

DATA = Path(__file__).parent / "data" / "reports"
VULN_REPORT = DATA / "current-fs-vuln.json"
SCANNERS = "vuln,misconfig,secret"


# --- a hostile GitHub API: raw status lines, headers and bodies ----------------------------


@dataclass
class Seen:
    method: str
    path: str
    host: str
    authorization: str


# What the server answers: (status, [(header, raw value)], body bytes), given the request.
Answer = tuple[int, list[tuple[str, bytes]], bytes]


@dataclass
class HostileAPI:
    url: str = ""
    other_url: str = ""  # the same server under another host name (localhost)
    answer: Callable[[Seen], Answer] = field(default=lambda seen: (200, [], b"[]"))
    seen: list[Seen] = field(default_factory=list)


@contextlib.contextmanager
def hostile_api() -> Iterator[HostileAPI]:
    state = HostileAPI()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen = Seen(
                method,
                self.path,
                self.headers.get("Host", ""),
                self.headers.get("Authorization", ""),
            )
            state.seen.append(seen)
            status, headers, body = state.answer(seen)
            # Raw bytes: header values a well-behaved server would never send.
            self.wfile.write(f"HTTP/1.1 {status} X\r\n".encode())
            for name, value in [("Content-Type", b"application/json"), *headers]:
                self.wfile.write(name.encode() + b": " + value + b"\r\n")
            self.wfile.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
            self.wfile.write(body)
            self.close_connection = True

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    with serving(Handler) as port:
        state.url = f"http://127.0.0.1:{port}"
        state.other_url = f"http://localhost:{port}"
        yield state


def gh_env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    event = github_api.event(tmp_path / "event.json")
    return clean_env(tmp_path, github_api.env(event, api=api_url, **extra))


def check(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run_scangate(["check", VULN_REPORT, "--pr-comment", "always", *args], cwd=work, env=env)


def assert_one_warning_and_the_gates_exit(proc: subprocess.CompletedProcess[str]) -> None:
    """The gate's own exit (1: the report fails), no traceback, no token, one warning."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert github_api.token() not in proc.stdout + proc.stderr
    assert "pull request comment not posted" in proc.stderr, proc.stderr


LIST_PATH = f"/repos/{github_api.OWNER}/{github_api.REPO}/issues/{github_api.PR}/comments"


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        # A header is read as Latin-1: "²" is a digit to str.isdigit(), not to int().
        (403, [("Retry-After", b"\xb2")]),
        (403, [("Retry-After", b"9" * 5000)]),  # past int()'s 4,300-digit limit
        (429, [("Retry-After", b"Mon, 01 Jan 99999999999 00:00:00 GMT")]),
        (403, [("x-ratelimit-remaining", b"0"), ("x-ratelimit-reset", b"\xb9")]),
        (403, [("x-ratelimit-remaining", b"0"), ("x-ratelimit-reset", b"9" * 400)]),
        (503, [("Retry-After", b"\xb3")]),
    ],
    ids=["superscript", "huge", "far-date", "reset-superscript", "reset-huge", "5xx"],
)
def test_absurd_rate_limit_headers_are_a_github_error_not_a_crash(
    hermetic: responses.RequestsMock, status: int, headers: list[tuple[str, bytes]]
) -> None:
    from scangate.github_api import GitHubError
    from scangate.github_env import client_from_env

    message = {"message": "You have exceeded a secondary rate limit."}
    hermetic.add(
        "GET",
        github_api.comments_url(),
        json=message,
        status=status,
        headers={name: value.decode("latin-1") for name, value in headers},
    )
    sleeps: list[float] = []
    client = client_from_env(github_api.env(None), sleep=sleeps.append, clock=lambda: 0.0)
    with pytest.raises(GitHubError) as caught:
        client.list_issue_comments(github_api.PR)
    assert caught.value.kind in ("rate-limited", "server")
    assert sum(sleeps) <= 60, sleeps  # never a wait past max_wait


def test_an_unreadable_retry_after_through_the_cli_is_one_warning(tmp_path: Path) -> None:
    with hostile_api() as api:
        forbidden = json.dumps({"message": "Must have admin rights to Repository."}).encode()
        api.answer = lambda seen: (403, [("Retry-After", b"\xb2")], forbidden)
        proc = check(tmp_path, gh_env(tmp_path, api.url))
    assert_one_warning_and_the_gates_exit(proc)
    assert len(api.seen) == 1


@pytest.mark.parametrize("status", [200, 500, 403])
def test_a_deeply_nested_json_answer_is_one_warning_not_a_traceback(
    tmp_path: Path, status: int
) -> None:
    with hostile_api() as api:
        api.answer = lambda seen: (status, [], b"[" * 30_000 + b"]" * 30_000)  # 60 KB
        proc = check(tmp_path, gh_env(tmp_path, api.url), "--quiet")
    assert_one_warning_and_the_gates_exit(proc)


def test_a_deeply_nested_event_payload_is_one_warning_not_a_traceback(tmp_path: Path) -> None:
    with hostile_api() as api:
        env = gh_env(tmp_path, api.url)
        Path(env["GITHUB_EVENT_PATH"]).write_bytes(b"[" * 200_000 + b"]" * 200_000)
        proc = check(tmp_path, env)
    assert_one_warning_and_the_gates_exit(proc)
    assert api.seen == []


def test_the_token_echoed_into_a_next_link_is_never_printed(tmp_path: Path) -> None:
    """A hostile API puts the token it was sent into the next page's path, then fails it:
    the message names the path, never the token (also under GitHub Actions, where only
    the log masks it, not the step summary or a PR comment that quotes a warning)."""
    token = github_api.token()

    def answer(seen: Seen) -> Answer:
        if seen.path.startswith(LIST_PATH):
            link = f'<{api.url}{LIST_PATH}/{token}?page=2>; rel="next"'.encode()
            return 200, [("Link", link)], b"[]"
        return 500, [], json.dumps({"message": f"no such page {token}"}).encode()

    with hostile_api() as api:
        api.answer = answer
        proc = check(tmp_path, gh_env(tmp_path, api.url, GITHUB_ACTIONS="true"))
    assert_one_warning_and_the_gates_exit(proc)
    assert len(api.seen) > 1, "the next page was asked for"
    from scangate.github_api import GitHubError
    from scangate.github_env import client_from_env

    with hostile_api() as api:
        api.answer = answer
        client = client_from_env(github_api.env(None, api=api.url), sleep=lambda s: None)
        with pytest.raises(GitHubError) as caught:
            client.list_issue_comments(github_api.PR)
    assert token not in caught.value.message and token not in repr(caught.value)


def test_a_redirect_to_another_host_never_carries_the_token(tmp_path: Path) -> None:
    """The list answers 302 to the same server under another name (localhost): requests
    drops the Authorization header for another host, and scangate sends it nowhere else
    (a Link to another host is refused before any request)."""

    def answer(seen: Seen) -> Answer:
        if seen.host.startswith("127.0.0.1"):
            return 302, [("Location", f"{api.other_url}{seen.path}".encode())], b""
        link = f'<{api.other_url}{LIST_PATH}?page=2>; rel="next"'.encode()
        return 200, [("Link", link)], b"[]"

    with hostile_api() as api:
        api.answer = answer
        proc = check(tmp_path, gh_env(tmp_path, api.url))
    assert_one_warning_and_the_gates_exit(proc)
    assert "outside" in proc.stderr
    assert [s.host.split(":")[0] for s in api.seen] == ["127.0.0.1", "localhost"]
    assert api.seen[0].authorization == f"Bearer {github_api.token()}"
    assert api.seen[1].authorization == "", "the token went to another host"


# --- --diff-base: refs and the merge base ---------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """git's and scangate's environment; `trivy` logs each call, then runs the real one."""
    env = gitrepo.git_env(tmp_path)
    scanning.write_db(Path(env["SCANGATE_CACHE_DIR"]))
    scanning.logging_trivy(tmp_path, env)
    return env


def gate(
    clone: Clone, ref: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any] | None, str, str]:
    out = clone.path.parent / "result.json"
    out.unlink(missing_ok=True)
    done = gitrepo.run_scangate(
        ["scan", "fs", ".", "--diff-base", ref, "--scanners", SCANNERS, "--json", out, *args],
        cwd=clone.path,
        env=env or clone.env,
    )
    result = json.loads(out.read_text()) if out.exists() else None
    return done.returncode, result, done.stdout, done.stderr


VULNERABLE = {"requirements.txt": "requests==2.19.0\n"}
MORE_VULNERABLE = {"requirements.txt": "requests==2.19.0\nPyYAML==5.3\n"}


def assert_refused_before_trivy(
    tmp_path: Path, outcome: tuple[int, dict[str, Any] | None, str, str]
) -> str:
    code, result, stdout, stderr = outcome
    assert code == 2, stderr
    assert result is None and stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    assert not scans(tmp_path)
    return stderr


@pytest.mark.parametrize("how", ["head-itself", "head-behind-the-base"])
def test_a_merge_base_equal_to_head_is_exit_2_not_a_pass(
    tmp_path: Path, env: dict[str, str], how: str
) -> None:
    """Before: the base was HEAD itself, every finding pre-existing, exit 0 (a gate that
    could never fail). A PR branch whose commits the base branch already holds (merged
    elsewhere, or a rollback to an old commit) is such a HEAD."""
    clone = repo(tmp_path, env, VULNERABLE)
    clone.commit("add yaml", MORE_VULNERABLE)
    ref = "HEAD"
    if how == "head-behind-the-base":
        clone.git("branch", "-q", "-f", "main", "HEAD")
        clone.git("checkout", "-q", "main")
        clone.commit("later on main", {"later.txt": "x\n"})
        clone.git("checkout", "-q", "pr")
        ref = "main"
    stderr = assert_refused_before_trivy(tmp_path, gate(clone, ref))
    assert "merge base is HEAD itself" in stderr


@pytest.mark.parametrize(
    "ref",
    [
        "main..pr",
        "main...pr",
        "main:requirements.txt",
        "pr^{tree}",
        "main -- .",
        "main\u202e",
        "refs/heads/../main",
        "main@{-1}",
        "::error::forged",
        "main\udc80",  # a byte that is not UTF-8 (argv decoded with surrogateescape)
        "m" * 5000,
    ],
    ids=lambda ref: ref[:20],
)
def test_ranges_pathspecs_and_other_revision_syntax_are_exit_2(
    tmp_path: Path, env: dict[str, str], ref: str
) -> None:
    clone = repo(tmp_path, env, VULNERABLE)
    clone.commit("add yaml", MORE_VULNERABLE)
    stderr = assert_refused_before_trivy(tmp_path, gate(clone, ref))
    assert "\u202e" not in stderr
    assert not stderr.startswith("::")


def test_a_cache_entry_an_earlier_job_wrote_for_the_prs_own_tree_is_never_its_base(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """An earlier job of the PR compares a branch on top of the PR with the PR itself: the
    cache then holds a scan of the PR's own tree, findings and all. The real base's key is
    its own tree: that entry is never taken for it."""
    clone = repo(tmp_path, env, VULNERABLE)
    clone.commit("add yaml", MORE_VULNERABLE)
    clone.git("checkout", "-q", "-b", "evil")
    clone.commit("on top", {"x.txt": "x\n"})
    code, result, _, stderr = gate(clone, "pr")
    assert code == 0, stderr  # against the PR's own tree, PyYAML is pre-existing
    assert result is not None and result["diff"]["pre_existing"] == 2
    assert len(list((Path(env["SCANGATE_CACHE_DIR"]) / "diff-base").glob("*.json"))) == 1
    clone.git("checkout", "-q", "pr")
    code, result, _, stderr = gate(clone, "main")
    assert code == 1, stderr
    assert result is not None and result["diff"]["new"] == 1  # PyYAML: new again
    assert len(scans(tmp_path)) == 4, "the real base was scanned, not taken from the cache"


# --- hostile text from both sides into the log, the step summary and the comment ------------

# A directory name (no "/"): a line break and a workflow command, a terminal escape, a bidi
# override, HTML, a mention, scangate's own marker and a link.
HOSTILE = (
    "x\n::error title=scangate::forged\x1b[31m\u202e<img src=x onerror=alert(1)>"
    "@octocat <!-- scangate:evil --> ](javascript:alert(1)) #1"
)
FAILING_DOCKERFILE = 'FROM alpine:3.19\nRUN apk add --no-cache curl\nCMD ["sh"]\n'


def unescaped(line: str, char: str) -> bool:
    """Whether `char` occurs in a Markdown line without a backslash escape (an odd run of
    backslashes before it)."""
    for at in (i for i, c in enumerate(line) if c == char):
        run = len(line[:at]) - len(line[:at].rstrip("\\"))
        if run % 2 == 0:
            return True
    return False


def assert_inert_markdown(text: str, *, marker_line: str | None = None) -> None:
    lines = text.splitlines()
    if marker_line is not None:
        assert lines[0] == marker_line
        lines = lines[1:]
    for line in lines:
        assert not unescaped(line, "<"), line  # no HTML, no comment (a forged marker)
        assert not unescaped(line, "["), line  # no link or image
        assert not line.lstrip().startswith("::"), line
    assert "@octocat" not in text, "a mention"
    assert "\x1b" not in text and "\u202e" not in text


def test_hostile_names_and_suppressions_on_both_sides_stay_text_everywhere(
    tmp_path: Path, fake_github_token: str
) -> None:
    """The base (crafted earlier) holds a failing Dockerfile under a hostile directory name,
    which the PR removes (a fixed finding); the PR adds another under a hostile name (a new
    failing finding), an allow entry and a .trivyignore line with hostile reasons (review
    rows). Under GitHub Actions nothing reaches the log as a command, and the comment and
    the step summary show it all as text."""
    from tests.support import github_server

    summary = tmp_path / "summary.md"
    with github_server.serve() as api:
        env = gitrepo.git_env(tmp_path, github_api.env(github_api.event(tmp_path / "e.json")))
        env.update(
            GITHUB_API_URL=api.url,
            SCANGATE_OFFLINE="true",
            GITHUB_ACTIONS="true",
            GITHUB_STEP_SUMMARY=str(summary),
        )
        scanning.write_db(Path(env["SCANGATE_CACHE_DIR"]))
        clone = gitrepo.make_clone(tmp_path, env)
        clone.commit("base", {f"{HOSTILE}/Dockerfile": FAILING_DOCKERFILE})
        clone.git("checkout", "-q", "-b", "pr")
        clone.git("rm", "-q", "-r", "--", HOSTILE)
        reason = json.dumps(HOSTILE)  # a YAML double-quoted scalar
        clone.commit(
            "pr",
            {
                f"{HOSTILE}2/Dockerfile": FAILING_DOCKERFILE,
                ".scangate.yaml": (
                    f"version: 1\nextends: default\nallow:\n  - id: DS-0026\n    reason: {reason}\n"
                    f"    owner: {reason}\n    targets: [{reason}]\n"
                ),
                # The strict reader refuses controls in an ignore file (exit 2): none here.
                ".trivyignore": f"# {HOSTILE.replace(chr(10), ' ').replace(chr(27), '')}\n"
                "AVD-DS-0001\n",
            },
        )
        args = ["--scanners", "misconfig", "--diff-base", "main", "--pr-comment", "always"]
        proc = gitrepo.run_scangate(
            ["scan", "fs", ".", *args, "--github-summary"],
            cwd=clone.path,
            env=env,
        )
        bodies = [str(r.body["body"]) for r in api.writes() if r.body]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    log = proc.stdout + proc.stderr
    assert "\x1b" not in log and "\u202e" not in log
    acted = commands(log)
    # scangate's own annotation of the new finding, the hostile path escaped in `file=`.
    errors = [c for c in acted if c.name == "error"]
    assert [c.data for c in errors] == [
        "Specify at least 1 USER command in Dockerfile with non-root user as argument"
    ]
    assert "file=x\\n%3A%3Aerror title=scangate%3A%3Aforged" in errors[0].line
    assert not [c for c in acted if "forged" in c.data]

    (body,) = bodies
    assert "### Fixed by this pull request (1)" in body
    assert "### New failing findings (1)" in body
    assert "### Suppression review (2)" in body
    assert "octocat" in body  # shown, as text
    # "#12" would link issue 12 and note the reference in its timeline, as a mention does.
    assert "\\#&#8203;1" in body and "\\#1" not in body
    assert_inert_markdown(body, marker_line=marker("scangate/fs/."))
    assert_inert_markdown(summary.read_text())


# --- the suppression review of a crafted base ------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        "[" * 5000 + "]" * 5000,  # nested past the YAML composer's recursion limit
        "extends: " + "[" * 5000 + "]" * 5000 + "\n",
    ],
    ids=["nested", "nested-extends"],
)
def test_a_crafted_base_policy_is_a_review_row_also_from_the_cache(
    tmp_path: Path, env: dict[str, str], policy: str
) -> None:
    """The base holds a policy file nested past Python's recursion limit; the PR replaces it.
    Before: the first run said the base file was unreadable, the second (the base from the
    cache, its review files read from git) ended in `internal error: RecursionError`."""
    clone = gitrepo.make_clone(tmp_path, env)
    clone.commit("base", {**VULNERABLE, ".scangate.yaml": policy})
    clone.git("checkout", "-q", "-b", "pr")
    clone.commit("pr", {**MORE_VULNERABLE, ".scangate.yaml": "version: 1\n"})
    for run in ("scanned", "cached"):
        # --pr-comment: the review is made only for the comment (here not a pull request).
        code, result, _, stderr = gate(clone, "main", "--pr-comment", "always")
        assert code == 1, f"{run}: {stderr}"
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        assert result is not None and result["diff"]["new"] == 1
    assert len(scans(tmp_path)) == 3, "the second run took the base from the cache"


def test_a_hostile_api_message_is_one_escaped_warning_annotation(tmp_path: Path) -> None:
    """The warning of a failed comment quotes GitHub's `message`: under GitHub Actions it is
    one `::warning` (through `_console.warning`, the one place that escapes workflow
    commands), the message's line breaks, `%` escapes and commands inert."""
    forged = "nope\n::error title=scangate::forged\r%0A::add-mask::x\x1b]0;t\x07 @octocat"
    with hostile_api() as api:
        api.answer = lambda seen: (403, [], json.dumps({"message": forged}).encode())
        proc = check(tmp_path, gh_env(tmp_path, api.url, GITHUB_ACTIONS="true"), "--quiet")
    assert_one_warning_and_the_gates_exit(proc)
    warnings = [c for c in commands(proc.stderr) if c.name == "warning"]
    assert len(warnings) == 1
    assert not [c for c in commands(proc.stderr) if c.name in ("error", "add-mask")]
    assert "forged" in warnings[0].data and "\x1b" not in proc.stderr
    assert "%250A" in warnings[0].line, "a % in the data is escaped, not decoded"


def test_a_pr_that_passes_by_weakening_the_policy_is_commented_with_the_settings(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The project policy is read from the PR's own tree: a PR that adds a vulnerable
    package and sets `fail-on: vulnerability: none` passes. Before: no allow entry, ignore
    line or baseline entry changed, so the review was empty and on-change posted nothing;
    reviewers never saw why it passed. Now every changed policy setting is a review row."""
    from tests.support import github_server

    with github_server.serve() as api:
        env.update(github_api.env(github_api.event(tmp_path / "e.json"), api=api.url))
        clone = repo(tmp_path, env, VULNERABLE)
        weak = "version: 1\nextends: default\nfail-on:\n  vulnerability: none\n"
        clone.commit("pr", {**MORE_VULNERABLE, ".scangate.yaml": weak})
        code, result, _, stderr = gate(clone, "main", "--pr-comment", "on-change")
        bodies = [str(r.body["body"]) for r in api.writes() if r.body]
    assert code == 0, stderr  # the policy is the PR's to set
    assert result is not None and result["diff"]["new"] == 1
    (body,) = bodies
    assert "## scangate: PASS :white_check_mark:" in body
    assert "### Suppression review (1)" in body
    row = next(line for line in body.splitlines() if "policy setting" in line)
    assert "fail\\-on\\.vulnerability" in row and "| none |" in row and "was HIGH" in row


# --- huge pages of other people's comments ----------------------------------------------------


def test_pages_of_huge_comments_are_not_all_held_while_looking_for_scangates(
    hermetic: responses.RequestsMock,
) -> None:
    """Anyone may post 65,536-character comments on a PR, up to the 10,000 scangate pages
    through: before, every body was kept until the last page (gigabytes). Now only marked
    comments are kept, one page at a time; the sticky comment on the last page is found."""
    import tracemalloc

    from scangate.pr_comment import Action, Mode, publish
    from scangate.pr_comment_body import CommentInput

    pages, category = 12, "scangate/fs/."
    filler = json.dumps([github_api.comment(i, "x" * 65_000, github_api.HUMAN) for i in range(100)])
    ours = github_api.comment(7, marker(category) + "\nold", github_api.BOT)
    for page in range(1, pages + 1):
        url = github_api.comments_url() + "?per_page=100" if page == 1 else None
        body = json.dumps([ours]) if page == pages else filler
        hermetic.add(
            "GET",
            url or github_api.page_url(page),
            body=body,
            headers=github_api.headers(link=github_api.link(page, pages)),
            content_type="application/json; charset=utf-8",
        )
    hermetic.add("PATCH", github_api.comment_url(7), json=ours)
    from scangate.github_env import client_from_env

    client = client_from_env(github_api.env(None), sleep=lambda s: None)
    tracemalloc.start()
    try:
        outcome = publish(
            client, github_api.PR, CommentInput(verdict="fail"), category=category,
            mode=Mode.ALWAYS,
        )  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome.action is Action.UPDATED, outcome
    # Bounded by a page (its bytes, text and models), not by the 11 pages of comments.
    page = len(filler)
    assert peak < 5 * page, f"peak {peak >> 20} MiB, {page >> 20} MiB a page, {pages} pages"


def test_an_inline_ignore_in_a_huge_file_is_still_under_review(tmp_path: Path) -> None:
    """The gate honours an inline `trivy:ignore` comment in a file of any size (it reads
    marked files whole); the review read at most 16 MiB of a file and left a larger one
    out without a word: a suppression added in a padded file was never shown. Now such a
    file is a row of its own. (Real files, the review the CLI runs.)"""
    from datetime import date

    from scangate.suppression_review import Change, Kind, review

    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    padding = ("# " + "x" * 61 + "\n") * ((17 << 20) // 64)  # Docker's lines: 64 KiB at most
    (head / "Dockerfile").write_text(
        "FROM alpine:3.19\n" + padding + "# trivy:ignore:DS-0002 we build as root\nUSER root\n"
    )
    rows = review(base, head, today=date(2026, 12, 1), cwd=head).rows
    (row,) = [r for r in rows if r.kind is Kind.INLINE]
    assert row.changes == (Change.UNREADABLE,) and row.file == "Dockerfile"
    assert "at the head" in row.note and "MiB" in row.note, row.note


def test_a_crafted_base_tree_with_dot_dot_entries_writes_nothing_outside(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """`git mktree` takes entries named ".." and ".git" (a server without fsck takes such a
    commit too). The base's files are written under the temporary directory by git's own
    index, which refuses such paths: nothing lands in the directories above it."""
    clone = gitrepo.make_clone(tmp_path, env)
    blob = clone.git("hash-object", "-w", "--stdin", input="pwned\n").strip()
    req = clone.git("hash-object", "-w", "--stdin", input=VULNERABLE["requirements.txt"]).strip()
    tree = clone.git("mktree", input=f"100644 blob {blob}\tpwned\n").strip()
    for _ in range(8):  # base/0/scangate-base-*/tmp/<tmp_path>/...
        tree = clone.git("mktree", input=f"040000 tree {tree}\t..\n").strip()
    dotgit = clone.git("mktree", input=f"100644 blob {blob}\tconfig\n").strip()
    root = clone.git(
        "mktree",
        input=(
            f"040000 tree {tree}\t..\n040000 tree {dotgit}\t.git\n"
            f"100644 blob {req}\trequirements.txt\n"
        ),
    ).strip()
    base = clone.git("commit-tree", "-m", "crafted", root).strip()
    clone.git("update-ref", "refs/heads/main", base)
    normal = clone.git("mktree", input=f"100644 blob {req}\trequirements.txt\n").strip()
    head = clone.git("commit-tree", "-m", "pr", "-p", base, normal).strip()
    clone.git("update-ref", "refs/heads/pr", head)
    clone.git("symbolic-ref", "HEAD", "refs/heads/pr")
    clone.git("read-tree", "-u", "--reset", "HEAD")  # the head's files, never the base's
    code, result, _, stderr = gate(clone, "main")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    written = [p for p in tmp_path.rglob("pwned") if ".git" not in p.relative_to(tmp_path).parts]
    assert written == [], written
    assert not list(Path("/").glob("pwned")) and not list(Path("/tmp").glob("pwned"))
    assert code == 0, stderr
    assert result is not None and result["diff"]["pre_existing"] == 1


# --- a repository inside the scanned tree ------------------------------------------------------


def plant_bare_repository(
    tmp_path: Path, env: dict[str, str], files: dict[str, str]
) -> dict[str, str | bytes]:
    """The files of a directory git takes for a repository (HEAD, config, objects/, refs/):
    its `core.worktree` is the checkout around it, its HEAD a commit on top of a base that
    already holds `files` (under app/), and its origin/main that base."""
    scratch = gitrepo.make_clone(tmp_path, env, name="scratch")
    scratch.commit("crafted base", {f"app/{name}": text for name, text in files.items()})
    crafted = scratch.head()
    scratch.commit("crafted head", {"x.txt": "x\n"})
    planted: dict[str, str | bytes] = {
        "app/HEAD": "ref: refs/heads/pr\n",
        "app/config": "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = ..\n",
        "app/refs/heads/pr": scratch.head() + "\n",
        "app/refs/remotes/origin/main": crafted + "\n",
    }
    objects = scratch.path / ".git" / "objects"
    binary = {
        f"app/objects/{p.relative_to(objects).as_posix()}": p.read_bytes()
        for p in objects.glob("??/*")
    }
    return {**planted, **binary}


def test_a_repository_planted_in_the_scanned_directory_is_never_the_one_compared(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The PR adds PyYAML to app/ and, beside it, a directory layout git discovers as a
    repository: its origin/main is the PR author's commit that already has PyYAML. Before:
    `scan fs app --diff-base origin/main` compared with that commit, PyYAML pre-existing,
    exit 0. Now git refuses a bare repository it was not pointed at: exit 2, one line."""
    clone = gitrepo.make_clone(tmp_path, env)
    clone.commit("base", {f"app/{n}": t for n, t in VULNERABLE.items()})
    assert clone.push("origin", "main").returncode == 0
    clone.git("fetch", "-q", "origin")
    clone.git("checkout", "-q", "-b", "pr")
    clone.commit("pr", {f"app/{n}": t for n, t in MORE_VULNERABLE.items()})
    honest = gitrepo.run_scangate(
        ["scan", "fs", "app", "--diff-base", "origin/main", "--scanners", "vuln"],
        cwd=clone.path,
        env=env,
    )
    assert honest.returncode == 1, honest.stderr

    clone.commit("plant", plant_bare_repository(tmp_path, env, MORE_VULNERABLE))
    git_sees = gitrepo.git(["rev-parse", "--git-dir"], cwd=clone.path / "app", env=env).stdout
    assert git_sees.strip().endswith("/app"), "the planted layout is a repository to git"
    attacked = gitrepo.run_scangate(
        ["scan", "fs", "app", "--diff-base", "origin/main", "--scanners", "vuln"],
        cwd=clone.path,
        env=env,
    )
    assert attacked.returncode == 2, attacked.stdout + attacked.stderr
    assert "laid out as a git repository" in attacked.stderr
    assert len(attacked.stderr.strip().splitlines()) == 1, attacked.stderr


def test_the_actions_base_fetch_never_runs_in_a_planted_repository(
    run_action: RunAction,  # noqa: F811
    workspace: Path,  # noqa: F811
    fake_github_token: str,
) -> None:
    """The Action fetches a missing base commit with git in the scanned directory. The PR
    lays that directory out as a bare repository whose origin is `ext::sh -c ...` (its
    config allows the ext transport). Before: `git -C app rev-parse --is-inside-work-tree`
    exited 0 (printing "false") and `git -C app fetch origin` ran the PR author's command,
    the workflow's token in its environment. Now git is never pointed at such a layout,
    the fetch does not run, and scangate refuses the directory (exit 2)."""
    pr = write_pull_request(workspace, fake_github_token)
    marker_file = workspace.parent / "pwned"
    app = workspace / "app"
    for sub in ("objects/info", "refs/heads"):
        (app / sub).mkdir(parents=True)
    (app / "HEAD").write_text("ref: refs/heads/main\n")
    (app / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
        f'[remote "origin"]\n\turl = ext::sh -c touch% {marker_file}\n'
        "[protocol]\n\tallow = always\n"
    )
    (app / "Dockerfile").write_text("FROM alpine:3.19\nUSER app\n")
    job_env = pull_request_event(workspace.parent / "event.json", pr.base)
    run = run_action(job_env, github_api.token(), scan_ref="app", **MISCONFIG_SECRET)
    assert not marker_file.exists(), "the planted repository's origin ran a command"
    resolve = run.step("Resolve the pull request")
    assert "fetching the base commit" not in resolve.stdout
    scan = run.step("Run scangate")
    assert scan.returncode == 2, run.log
    assert "laid out as a git repository" in scan.stderr
    assert github_api.token() not in run.log


def test_scangates_comment_edited_by_someone_else_is_put_back_on_change(
    hermetic: responses.RequestsMock,
) -> None:
    """A maintainer (or anyone allowed to edit it) rewrites scangate's comment into a pass
    that keeps the marker line: on-change sees a body other than its own and edits it back;
    the marker alone never makes a body "unchanged"."""
    from scangate.github_env import client_from_env
    from scangate.pr_comment import Action, Mode, publish
    from scangate.pr_comment_body import CommentInput, FindingRow, render

    category = "scangate/fs/."
    failing = CommentInput(
        verdict="fail",
        new_failing=(FindingRow("vulnerability", "CVE-2018-18074", "HIGH", "requirements.txt"),),
    )
    forged = marker(category) + "\n\n## scangate: PASS :white_check_mark:\n\nAll good.\n"
    first = github_api.comments_url() + "?per_page=100"
    hermetic.add("GET", first, json=[github_api.comment(7, forged)], headers=github_api.headers())
    hermetic.add("PATCH", github_api.comment_url(7), json=github_api.comment(7, "x"))
    client = client_from_env(github_api.env(None), sleep=lambda s: None)
    outcome = publish(client, github_api.PR, failing, category=category, mode=Mode.ON_CHANGE)
    assert outcome.action is Action.UPDATED
    sent = json.loads(hermetic.calls[-1].request.body or b"")["body"]
    assert sent == render(failing, category) and "## scangate: FAIL :x:" in sent


@pytest.mark.parametrize("glob", ["[z-a]", "app[--]x/**", "[a&&b~~c||d]"])
def test_a_policy_glob_python_cannot_compile_is_no_crash_and_allows_nothing(
    tmp_path: Path, glob: str
) -> None:
    """A PR's policy names a target glob with a reversed range (`re.error`: before, exit 3
    "internal error") or with "--", "&&", "~~", "||" in a class (before, a FutureWarning
    printed raw to stderr, outside scangate's guarded output). A bad class matches nothing,
    as in Go's filepath.Match: the entry suppresses nothing, the gate still fails."""
    work = tmp_path / "work"
    work.mkdir()
    (work / ".scangate.yaml").write_text(
        f"version: 1\nextends: default\nallow:\n  - id: CVE-2018-18074\n    reason: x\n"
        f"    targets: [{json.dumps(glob)}]\n"
    )
    proc = run_scangate(["check", VULN_REPORT], cwd=work, env=clean_env(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
