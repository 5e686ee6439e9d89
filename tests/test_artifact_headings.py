"""Findings of several artifacts in one result: `check a.json b.json` of two directories (or
two images) whose targets share a name. Each table heading and each Markdown "Where" names
the artifact too, so a `settings.py` of one is never listed as the other's; one artifact's
result reads as before.

The reports are made by the real Trivy (`trivy fs --scanners secret`, offline).
"""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest

from scangate.cli._pr_comment_step import comment_input
from scangate.gate import evaluate
from scangate.policy import load_policy
from scangate.pr_comment_body import render as render_comment
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import parse_report
from tests.support import scanning, terminal

TRIVY = scanning.VENV_BIN / "trivy"
HOSTILE_NAME = "svc\n::error::forged\x1b]0;t\x07\u202e|x|"


def _scan(tmp_path: Path, name: str) -> Path:
    tree = tmp_path / name
    (tree / "app").mkdir(parents=True)
    (tree / "app" / "settings.py").write_text(f'TOKEN = "{scanning.fake_token()}"\n')
    out = tmp_path / f"{name}.json"
    argv = [str(TRIVY), "fs", "--scanners", "secret", "--format", "json", "--quiet"]
    argv += ["--skip-db-update", "--skip-check-update", "--output", str(out), name]
    env = scanning.clean_env(tmp_path)
    subprocess.run(argv, cwd=tmp_path, env=env, check=True, timeout=120, capture_output=True)
    return out


@pytest.fixture(scope="module")
def two_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("artifacts")
    api, web = _scan(tmp, "api"), _scan(tmp, "web")
    for report in (api, web):
        targets = [r["Target"] for r in json.loads(report.read_text())["Results"]]
        assert targets == ["app/settings.py"]  # the same target in both: what is tested
    return tmp, api, web


def _check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = scanning.run_scangate(["check", *args], cwd=cwd, env=scanning.clean_env(cwd))
    assert done.returncode == 1, done.stderr
    return done


def test_each_artifact_has_its_own_heading(two_reports: tuple[Path, Path, Path]) -> None:
    tmp, api, web = two_reports
    lines = _check(tmp, str(api), str(web)).stdout.splitlines()
    assert "app/settings.py [api]: 1 secret" in lines
    assert "app/settings.py [web]: 1 secret" in lines
    assert lines[-1].startswith("FAIL: 2 findings: 2 failing (2 secrets)")
    # One artifact: the heading is the target alone, as before.
    assert _check(tmp, str(api)).stdout.splitlines()[0] == "app/settings.py: 1 secret"


def test_at_80_columns_the_artifact_stays_in_the_heading(
    two_reports: tuple[Path, Path, Path],
) -> None:
    tmp, api, web = two_reports
    code, _, received = terminal.run_on_a_tty(
        ["check", str(api), str(web), "--color", "never"],
        cwd=tmp,
        env=scanning.clean_env(tmp),
        stream="stdout",
        columns=80,
    )
    assert code == 1
    lines = received.decode().replace("\r\n", "\n").splitlines()
    assert "app/settings.py [api]: 1 secret" in lines
    assert "app/settings.py [web]: 1 secret" in lines
    assert max(len(line) for line in lines if not line.startswith("FAIL")) <= 80


def test_markdown_names_the_artifact_where(two_reports: tuple[Path, Path, Path]) -> None:
    tmp, api, web = two_reports
    text = _check(tmp, str(api), str(web), "--format", "markdown").stdout
    rows = [line for line in text.splitlines() if "github" in line and line.startswith("|")]
    assert len(rows) == 2
    assert any("app\\/settings\\.py\\:1 \\[api\\]" in row for row in rows)
    assert any("app\\/settings\\.py\\:1 \\[web\\]" in row for row in rows)
    single = _check(tmp, str(api), "--format", "markdown").stdout
    assert "\\[api\\]" not in single


def test_a_hostile_artifact_name_is_escaped_in_the_heading_and_the_summary(
    two_reports: tuple[Path, Path, Path],
) -> None:
    tmp, api, _ = two_reports
    report = json.loads(api.read_text())
    report["ArtifactName"] = HOSTILE_NAME
    hostile = tmp / "hostile.json"
    hostile.write_text(json.dumps(report))
    table = _check(tmp, str(api), str(hostile)).stdout
    assert "app/settings.py [svc\\n::error::forged\\x1b]0;t\\x07\\u202e|x|]: 1 secret" in table
    assert not any(line.startswith("::") for line in table.splitlines())
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in table
    summary = _check(tmp, str(api), str(hostile), "--format", "markdown").stdout
    assert "\u202e" not in summary and "\x1b" not in summary
    row = next(line for line in summary.splitlines() if "forged" in line)
    # One cell: the pipes inside the name are escaped, the row keeps its seven columns.
    assert row.count("|") - row.count("\\|") == 7


def test_the_pull_request_comment_groups_by_artifact(
    two_reports: tuple[Path, Path, Path],
) -> None:
    tmp, api, web = two_reports
    runs = [to_scan_run(parse_report(p.read_bytes(), str(p))) for p in (api, web)]
    today = date(2026, 6, 1)
    result = evaluate(runs, load_policy("default", base_dir=tmp, today=today), today)
    body = render_comment(comment_input(result), "scangate/fs/.")
    assert "#### app\\/settings\\.py \\[api\\] (1)" in body
    assert "#### app\\/settings\\.py \\[web\\] (1)" in body
    assert "(2 secrets)" in body
    one = evaluate(runs[:1], load_policy("default", base_dir=tmp, today=today), today)
    single = render_comment(comment_input(one), "scangate/fs/.")
    assert "#### app\\/settings\\.py (1)" in single and "(1 secret)" in single
