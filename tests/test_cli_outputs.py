"""Every output the CLI offers, through the CLI: each `--format`, the output files written
together, the GitHub step summary and workflow annotations, and the packaged policies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scangate.cli import _console, run
from scangate.cli._console import warning as warn
from scangate.cli._options import OutputFormat
from tests.support import hostile, rendered, scanning, terminal, workflow_commands
from tests.test_sarif import check as check_sarif

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_choice_prints_its_format(
    capsys: pytest.CaptureFixture[str], config_repo_report: Path, fmt: OutputFormat,
    fake_github_token: str,
) -> None:  # fmt: skip
    assert run(["check", str(config_repo_report), "--format", fmt.value]) == 1
    out = capsys.readouterr().out
    assert fake_github_token not in out
    if fmt is OutputFormat.table:
        assert out.splitlines()[1].split()[:2] == ["Severity", "ID"]  # under a target heading
        assert out.rstrip().splitlines()[-1].startswith("FAIL: ")
    elif fmt is OutputFormat.json:
        assert json.loads(out)["schema"] == "scangate/result/v1"
    elif fmt is OutputFormat.sarif:
        assert check_sarif(out)["runs"][0]["tool"]["driver"]["name"] == "scangate"
    else:
        assert out.startswith("## scangate: FAIL")


def test_all_output_files_step_summary_and_annotations_in_github_actions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    config_repo: Path, trivy_bin: Path, fake_github_token: str,
) -> None:  # fmt: skip
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(config_repo)
    out = tmp_path / "out"
    out.mkdir()
    code = run(
        ["scan", "fs", ".", "--trivy", str(trivy_bin), "--cache-dir", str(tmp_path / "cache"),
         "--scanners", "misconfig,secret", "--offline", "--json", str(out / "r.json"),
         "--sarif", str(out / "r.sarif"), "--markdown", str(out / "r.md"), "--github-summary"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["r.json", "r.md", "r.sarif"]
    sarif = check_sarif((out / "r.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"].startswith("scangate/fs/.")
    markdown = (out / "r.md").read_text()
    assert summary.read_text() == "earlier step\n" + markdown
    errors = [line for line in captured.out.splitlines() if line.startswith("::error ")]
    assert "::error file=Dockerfile," in "\n".join(errors)
    assert any(line.startswith("::error file=app/settings.py,line=3,") for line in errors)
    assert 0 < len(errors) <= 10
    for text in (captured.out, captured.err, markdown, (out / "r.json").read_text()):
        assert fake_github_token not in text


def test_an_unreadable_dockerfile_is_a_usage_error_before_scanning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config_repo_report: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("# no FROM here\n")
    code = run(
        ["check", str(config_repo_report), "--sarif", str(tmp_path / "o.sarif"),
         "--dockerfile", str(tmp_path / "Dockerfile")]
    )  # fmt: skip
    assert code == 2
    assert "no FROM instruction" in capsys.readouterr().err
    assert not (tmp_path / "o.sarif").exists()


def test_built_in_policies_are_in_the_wheel(tmp_path: Path) -> None:
    """`policies/` at the top level must work after a plain, non-editable install."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("scangate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for policy in ("default", "strict", "pre-push"):
        assert f"scangate/_policies/{policy}.yaml" in names
    assert "scangate/py.typed" in names


def test_an_unwritable_step_summary_is_a_warning_not_a_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    config_repo_report: Path,
) -> None:  # fmt: skip
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    assert run(["check", str(config_repo_report), "--github-summary", "-q"]) == 1
    captured = capsys.readouterr()
    assert "warning: cannot append to GITHUB_STEP_SUMMARY" in captured.err
    assert captured.out.startswith("FAIL: ")


@pytest.mark.parametrize(
    ("option", "value"), [("--sarif-max-results", "-1"), ("--max-db-age", "-1")]
)
def test_negative_limits_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, value: str
) -> None:
    command = ["scan", "fs", str(tmp_path)] if option == "--max-db-age" else ["check", "x.json"]
    assert run([*command, option, value]) == 2
    assert option in capsys.readouterr().err


def test_a_missing_dockerfile_is_refused_before_trivy_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # No Trivy would be found at this path: a run that got that far would exit 2 naming it.
    code = run(
        ["scan", "fs", str(tmp_path), "--trivy", str(tmp_path / "no-trivy"),
         "--sarif", str(tmp_path / "o.sarif"), "--dockerfile", str(tmp_path / "Dockerfile")]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--dockerfile" in err and "no such file" in err and "no-trivy" not in err


def test_plain_runs_do_not_import_the_sarif_machinery(config_repo_report: Path) -> None:
    """Start-up cost: sarif-om and attrs load only for runs that write SARIF."""
    probe = (
        "import sys\n"
        "from scangate.cli import run\n"
        "codes = [run(['check', sys.argv[1], '-q', '--format', f]) for f in ('table', 'json')]\n"
        "assert codes == [1, 1], codes\n"
        "print(sorted(m for m in ('sarif_om', 'attr', 'requests') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(config_repo_report)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


# --- untrusted text: job logs, terminals, summaries -------------------------------------------

# scangate's own workflow commands: annotations, and the stop/resume pair around its output.
OWN_COMMAND = re.compile(
    r"::(?:error|notice) [^\r\n]*"
    r"|::stop-commands::(?P<stop>[0-9a-f]{32})|::(?P<resume>[0-9a-f]{32})::"
)
# File names a pull request can add: workflow commands after a newline, terminal escapes,
# a bidi override (each file holds the fake token, so each is a finding).
HOSTILE_NAMES = (
    "x\n::add-mask::leaked\n  ::stop-commands::evil.py",
    "t\x1b]0;pwned title\x07\x1b[2J.py",
    "r\u202eyp.txt ##[error]forged.py",
)


def scangate(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the installed scangate; stdout and stderr must be valid UTF-8."""
    done = subprocess.run(
        [str(scanning.SCANGATE), *args], cwd=cwd, env=env, capture_output=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


def assert_log_safe(out: str, err: str, *, actions: bool) -> list[str]:
    """What a job log would do with this output: no raw escape or bidi character, no line
    that starts as a command (after the runner's trim) but scangate's own, and the runner
    acts on scangate's commands only. Returns the stop-commands tokens."""
    tokens: list[str] = []
    for stream in (out, err):
        for marker in hostile.LOG_MARKERS:
            assert marker not in stream, (marker, stream[:2000])
        for line in workflow_commands.split_lines(stream):
            if workflow_commands.starts_as_command(line):
                own = OWN_COMMAND.fullmatch(line.lstrip())
                assert actions and own, line
                if own["stop"]:
                    tokens.append(own["stop"])
        acted = workflow_commands.commands(stream)
        if not actions:
            assert acted == []
        # Each block is stopped and resumed by its own token; nothing else acts inside it.
        names = [c.name for c in acted]
        assert set(names) <= {"error", "notice", "stop-commands", *tokens}, names
    return tokens


@pytest.fixture
def hostile_reports(
    tmp_path: Path, config_repo_report: Path, vuln_project_report: Path
) -> list[Path]:
    """The real reports with hostile text where an advisory DB or a tree would put it."""
    return [
        hostile.edit_report(config_repo_report, tmp_path / "config.json"),
        hostile.edit_report(vuln_project_report, tmp_path / "vuln.json"),
    ]


@pytest.mark.parametrize("actions", [False, True], ids=["terminal-log", "github-actions"])
def test_hostile_report_text_cannot_act_in_the_job_log_or_the_summary(
    tmp_path: Path, hostile_reports: list[Path], actions: bool
) -> None:
    summary = tmp_path / "summary.md"
    extra = {"GITHUB_STEP_SUMMARY": str(summary)}
    if actions:
        extra["GITHUB_ACTIONS"] = "true"
    env = scanning.clean_env(tmp_path, extra)
    args = ["check", *map(str, hostile_reports), "--github-summary", "--sarif", "o.sarif"]
    code, out, err = scangate(args, cwd=tmp_path, env=env)
    assert code == 1, err
    tokens = assert_log_safe(out, err, actions=actions)
    assert out.rstrip().splitlines()[-1 if not actions else -2].startswith("FAIL: ")
    # The values are there, as visible escapes.
    assert "x\\n::add-mask::leaked" in out and "\\x1b]0;pwned title\\x07" in out
    if actions:
        assert len(tokens) == 1 and out.rstrip().endswith(f"::{tokens[0]}::")
        annotations = [line for line in out.splitlines() if line.startswith("::error ")]
        assert 0 < len(annotations) <= 10
        assert out.index(annotations[-1]) < out.index(f"::stop-commands::{tokens[0]}")
    else:
        assert "::error" not in out
    page = rendered.assert_summary_safe(summary.read_text(encoding="utf-8"))
    assert "x\\n::add-mask::leaked" in page.plain_text()
    check_sarif((tmp_path / "o.sarif").read_text())


def test_the_resume_token_is_new_every_run(tmp_path: Path, hostile_reports: list[Path]) -> None:
    env = scanning.clean_env(tmp_path, {"GITHUB_ACTIONS": "true"})
    tokens = set()
    for _ in range(3):
        _, out, _ = scangate(["check", str(hostile_reports[0]), "-q"], cwd=tmp_path, env=env)
        (stop,) = re.findall(r"^::stop-commands::(\S+)$", out, flags=re.MULTILINE)
        tokens.add(stop)
    assert len(tokens) == 3


def test_json_on_stdout_in_github_actions_is_plain_json_with_nothing_to_act_on(
    tmp_path: Path, hostile_reports: list[Path]
) -> None:
    """Machine output is never wrapped (a pipe reads it); `##[`, bidi and C1 characters are
    \\u escapes in its strings, meaning the same; annotations go to stderr."""
    env = scanning.clean_env(tmp_path, {"GITHUB_ACTIONS": "true"})
    args = ["check", *map(str, hostile_reports), "--format", "json", "--json", "r.json"]
    code, out, err = scangate(args, cwd=tmp_path, env=env)
    assert code == 1
    assert_log_safe(out, "", actions=False)
    assert json.loads(out) == json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert any(line.startswith("::error ") for line in err.splitlines())
    code, out, err = scangate([*args[:-2], "--format", "sarif"], cwd=tmp_path, env=env)
    assert_log_safe(out, "", actions=False)
    check_sarif(out)


def test_error_messages_escape_the_file_names_they_quote(tmp_path: Path) -> None:
    bad = tmp_path / "r\n::add-mask::leaked\x1b]0;t\x07.json"
    bad.write_text("not json")
    for actions in (False, True):
        env = scanning.clean_env(tmp_path, {"GITHUB_ACTIONS": "true"} if actions else {})
        code, out, err = scangate(["check", bad.name], cwd=tmp_path, env=env)
        assert code == 3 and out == ""
        assert_log_safe(out, err, actions=actions)
        (line,) = [line for line in err.splitlines() if "error" in line]
        assert line.startswith("scangate: error: r\\n::add-mask::leaked\\x1b]0;t\\x07.json")


def hostile_tree(directory: Path, token: str) -> Path:
    """A repository a pull request could send: files with hostile names holding a token, and
    a Dockerfile without USER in a directory with a hostile name."""
    directory.mkdir()
    for name in HOSTILE_NAMES:
        (directory / name).write_text(f'GITHUB_TOKEN = "{token}"\n')
    sub = directory / "svc\n::add-mask::dir ##[warning]w"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM alpine:3.19\nRUN echo hi\n")
    return directory


def test_hostile_file_names_in_a_scanned_tree_in_github_actions(
    tmp_path: Path, trivy_bin: Path, fake_github_token: str
) -> None:
    repo = hostile_tree(tmp_path / "repo", fake_github_token)
    summary = tmp_path / "summary.md"
    env = scanning.clean_env(
        tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    )
    args = ["scan", "fs", ".", "--trivy", str(trivy_bin), "--cache-dir", str(tmp_path / "cache"),
            "--scanners", "misconfig,secret", "--offline", "--github-summary"]  # fmt: skip
    code, out, err = scangate(args, cwd=repo, env=env)
    assert code == 1, err
    assert_log_safe(out, err, actions=True)
    assert "x\\n::add-mask::leaked\\n  ::stop-commands::evil.py" in out
    assert "r\\u202eyp.txt #\\x23[error]forged.py" in out
    assert fake_github_token not in out + err
    annotations = [line for line in out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == len(HOSTILE_NAMES) + 1  # three secrets, DS-0002
    page = rendered.assert_summary_safe(summary.read_text(encoding="utf-8"))
    failing = page.tables[1][1:]
    assert len(failing) == len(HOSTILE_NAMES) + 1
    assert "t\\x1b]0;pwned title\\x07\\x1b[2J.py:1" in {row[3] for row in failing}


def run_on_a_terminal(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, bytes]:
    """Run scangate with stdout on a pseudo-terminal: (exit code, the bytes the tty got)."""
    code, _, received = terminal.run_on_a_tty(args, cwd=cwd, env=env, stream="stdout")
    return code, received


def test_the_table_on_a_terminal_shows_hostile_names_as_escapes(
    tmp_path: Path, trivy_bin: Path, fake_github_token: str
) -> None:
    """What a developer sees running the scan on a pull request's tree: no escape sequence
    (clear screen, window title), no bidi override and no NUL reaches the terminal."""
    repo = hostile_tree(tmp_path / "repo", fake_github_token)
    env = scanning.clean_env(tmp_path)
    args = ["scan", "fs", ".", "--trivy", str(trivy_bin), "--cache-dir", str(tmp_path / "cache"),
            "--scanners", "misconfig,secret", "--offline"]  # fmt: skip
    code, coloured = run_on_a_terminal(args, cwd=repo, env=env)
    assert code == 1
    assert terminal.OWN_COLOUR.search(coloured)  # a terminal gets colour by default
    tty = terminal.without_own_colours(coloured)
    for raw in (b"\x1b", b"\x07", b"\x00", "\u202e".encode(), b"##["):
        assert raw not in tty, (raw, tty[:3000])
    text = tty.decode("utf-8").replace("\r\n", "\n")
    assert "t\\x1b]0;pwned title\\x07\\x1b[2J.py" in text
    assert "r\\u202eyp.txt" in text
    # The pty is 80 columns wide: the verdict is wrapped there, never cut.
    assert any(line.startswith("FAIL: ") for line in text.splitlines())


@pytest.mark.parametrize("actions", [False, True], ids=["terminal-log", "github-actions"])
def test_warnings_and_errors_are_escaped_and_guarded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, actions: bool
) -> None:
    if actions:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    warn(f"odd value {hostile.TEXT}")
    _console.error(f"bad {hostile.TEXT}", [f"  trivy: FATAL\t{hostile.TEXT}"])
    err = capsys.readouterr().err
    tokens = assert_log_safe("", err, actions=actions)
    assert len(tokens) == (2 if actions else 0)
    lines = [line for line in err.splitlines() if not OWN_COMMAND.fullmatch(line)]
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["scangate:", "warning:"],
        ["scangate:", "error:"],
        ["", ""],
    ]
    assert lines[2].startswith("  trivy: FATAL\tx\\n::add-mask::leaked")
