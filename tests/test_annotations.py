"""scangate.formats.annotations: `::error` workflow commands for failing findings.

Real Trivy reports (conftest's session fixtures and an image archive) for the lines and the
cap; hand-made findings for the escaping rules of the Actions toolkit.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from scangate.findings import Artifact, Finding, Kind, Location, ScanRun, Severity
from scangate.formats.annotations import escape_data, escape_property, github_annotations
from scangate.gate import GateResult, evaluate
from scangate.policy import load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import TrivyScanner, make_fake_github_token
from tests.support import hostile, images, workflow_commands

TODAY = date(2026, 3, 10)
ERROR = re.compile(
    r"^::error file=(?P<file>[^,]+)(?:,line=(?P<line>\d+))?(?:,endLine=(?P<end>\d+))?,"
    r"title=(?P<title>[^:]+)::(?P<message>.+)$"
)


def gate(*runs: ScanRun) -> GateResult:
    return evaluate(list(runs), load_policy("default", base_dir=Path.cwd(), today=TODAY), TODAY)


def run_of(report: Path) -> ScanRun:
    return to_scan_run(load_report(report))


@pytest.fixture
def in_scan_dir(config_repo_report: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd where Trivy ran (the report names the artifact "repo"); returns the repo."""
    monkeypatch.chdir(config_repo_report.parent)
    return config_repo_report.parent / "repo"


def test_errors_for_failing_findings_with_files(
    config_repo_report: Path, in_scan_dir: Path
) -> None:
    result = gate(run_of(config_repo_report))
    lines = github_annotations(result, source_root=in_scan_dir)
    failing = result.summary.failing
    assert failing <= 10
    errors = [ERROR.match(line) for line in lines]
    assert all(errors) and len(errors) == failing
    by_title: dict[str, list[re.Match[str]]] = {}
    for m in errors:
        assert m is not None
        by_title.setdefault(m["title"], []).append(m)
    secrets = by_title["CRITICAL secret github-pat"]
    assert sorted((m["file"], int(m["line"])) for m in secrets) == [
        ("app/settings.py", 3),
        ("app/settings.py", 5),
        ("scripts/release.py", 3),
    ]
    (privileged,) = by_title["HIGH misconfiguration KSV-0017"]
    assert privileged["file"] == "deploy/k8s/deployment.yaml"
    assert int(privileged["end"]) > int(privileged["line"])
    # No USER: the whole Dockerfile, no line.
    (no_user,) = by_title["HIGH misconfiguration DS-0002"]
    assert no_user["file"] == "Dockerfile" and no_user["line"] is None
    # Most severe first; a secret is named by its rule, never by its text.
    assert lines[0].startswith("::error file=") and "CRITICAL" in lines[0]
    assert make_fake_github_token() not in "\n".join(lines)
    assert "****" not in "\n".join(lines)


def test_paths_are_relative_to_the_repository_root(
    config_repo_report: Path, in_scan_dir: Path
) -> None:
    lines = github_annotations(gate(run_of(config_repo_report)), source_root=in_scan_dir.parent)
    files = {m["file"] for m in map(ERROR.match, lines) if m}
    assert "repo/app/settings.py" in files and all(f.startswith("repo/") for f in files)


def test_capped_at_ten_with_a_notice_for_the_rest(
    config_repo_report: Path,
    vuln_project_report: Path,
    trivy_scan: TrivyScanner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    image = trivy_scan.image(images.write_docker_archive(tmp_path / "app.tar"), tmp_path / "i.json")
    result = gate(run_of(config_repo_report), run_of(vuln_project_report), run_of(image))
    failing = result.summary.failing
    image_failing = sum(1 for d in result.runs[2].decided if d.decision.value == "fail")
    assert image_failing and failing > 10 + image_failing

    lines = github_annotations(result, source_root=tmp_path)
    assert len(lines) == 11
    errors = [m for m in map(ERROR.match, lines[:10]) if m]
    assert len(errors) == 10
    assert errors[0]["title"].startswith("CRITICAL")
    notice = lines[10]
    assert notice.startswith("::notice title=scangate::")
    assert f"{failing - 10} more failing findings are not annotated" in notice
    assert f"{image_failing} without a file in the repository" in notice
    assert f"{failing - 10 - image_failing} over the limit of 10" in notice
    # Paths as the CLI sees them from its working directory; a vulnerability names the
    # package and its fix.
    assert {m["file"].split("/")[0] for m in errors} <= {"repo", "project"}
    vuln = next(m for m in errors if "vulnerability" in m["title"])
    assert vuln["file"].startswith("project/")
    assert re.search(r"\S+ \S+: (fixed in \S+|no fixed version yet)", vuln["message"])

    (only,) = github_annotations(result, source_root=tmp_path, max_errors=0)
    assert only.startswith(f"::notice title=scangate::{failing} failing findings are not")


def test_nothing_failing_means_no_lines(vuln_project_report: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nfail-on:\n  vulnerability: none\n")
    pol = load_policy(str(policy), base_dir=tmp_path, today=TODAY)
    result = evaluate([run_of(vuln_project_report)], pol, TODAY)
    assert github_annotations(result, source_root=tmp_path) == []


def test_escaping_follows_the_actions_toolkit(tmp_path: Path) -> None:
    # actions/toolkit packages/core/src/command.ts: %, CR and LF in data; also : and , in
    # properties. CR and LF (and every other control) are visible escapes before that.
    assert escape_data("100% done\r\nnext") == "100%25 done\\r\\nnext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25\\n"
    finding = Finding(
        kind=Kind.MISCONFIGURATION,
        id="X-1",
        severity=Severity.HIGH,
        target="odd, dir:1/50%.yaml",
        message="line one\nline two: 100%",
        location=Location("odd, dir:1/50%.yaml", 7, 9),
        fingerprint="f" * 32,
    )
    run = ScanRun(Artifact(name=str(tmp_path), type="filesystem"), [finding])
    (line,) = github_annotations(gate(run), source_root=tmp_path)
    assert line == (
        "::error file=odd%2C dir%3A1/50%25.yaml,line=7,endLine=9,"
        "title=HIGH misconfiguration X-1::line one\\nline two: 100%25"
    )


def test_hostile_report_text_stays_inside_each_annotation(
    tmp_path: Path, config_repo_report: Path, in_scan_dir: Path
) -> None:
    """A real report with hostile text in every field: one line per annotation, each one
    `::error` command, no other command, nothing raw, and a 1 MB field cut."""
    edited = hostile.edit_report(config_repo_report, tmp_path / "c.json", size=1_000_000)
    lines = github_annotations(gate(run_of(edited)), source_root=in_scan_dir.parent)
    assert lines and all("\n" not in line and "\r" not in line for line in lines)
    acted = workflow_commands.commands("\n".join(lines))
    assert len(acted) == len(lines) and {c.name for c in acted} <= {"error", "notice"}
    for line in lines:
        for marker in hostile.LOG_MARKERS:
            assert marker not in line
        assert len(line) < 6000
    assert "::add-mask::leaked" in lines[0]  # as text inside the message
