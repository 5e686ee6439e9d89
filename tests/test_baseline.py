"""Baselines through the CLI with the real Trivy: only what a change introduces fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scangate.cli import run
from tests.conftest import settings_with_token


def scan(
    capsys: pytest.CaptureFixture[str], repo: Path, trivy: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    out = repo.parent / "result.json"
    code = run(
        ["scan", "fs", str(repo), "--trivy", str(trivy), "--cache-dir", str(repo.parent / "c"),
         "--scanners", "misconfig,secret", "--offline", "-q", "--json", str(out), *extra]
    )  # fmt: skip
    capsys.readouterr()
    return code, json.loads(out.read_text())


def create(capsys: pytest.CaptureFixture[str], repo: Path, trivy: Path, *extra: str) -> Path:
    baseline = repo.parent / "baseline.json"
    code = run(
        ["baseline", "create", str(repo), "--output", str(baseline), "--trivy", str(trivy),
         "--cache-dir", str(repo.parent / "c"), "--scanners", "misconfig,secret", "--offline",
         *extra]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return baseline


def decisions(result: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    return {
        (f["id"], f["target"], str((f["location"] or {}).get("start_line"))): f["decision"]
        for f in result["findings"]
    }


def test_baseline_makes_todays_findings_known_and_a_new_copy_fails(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path, fake_github_token: str
) -> None:
    code, before = scan(capsys, config_repo, trivy_bin)
    assert code == 1 and before["summary"]["failing"] > 0
    baseline = create(capsys, config_repo, trivy_bin)

    text = baseline.read_text()
    document = json.loads(text)
    assert document["schema"] == "scangate/baseline/v1"
    assert fake_github_token not in text  # fingerprints, ids and targets only
    entries = document["findings"]
    assert len(entries) == before["summary"]["total"]
    assert entries == sorted(
        entries,
        key=lambda e: (e["kind"], e["target"], e["id"], e.get("package", ""), e["fingerprint"]),
    )
    assert text.count("\n") == len(entries) + 5  # one entry per line: diff-friendly

    code, known = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 0
    assert known["summary"]["failing"] == 0
    assert known["baseline"]["known"] == before["summary"]["failing"]
    assert known["baseline"]["new"] == 0 and known["baseline"]["fixed"] == []
    assert known["summary"]["new"] == 0
    assert known["summary"]["known"] == before["summary"]["failing"]
    assert "new" not in before["summary"]  # no baseline, no new-versus-known
    assert {f["decision"] for f in known["findings"]} <= {"known", "below-threshold"}

    # Move the secret and the Dockerfile finding down: still known.
    settings = config_repo / "app" / "settings.py"
    settings.write_text("# a new header\n# and another\n\n" + settings.read_text())
    dockerfile = config_repo / "Dockerfile"
    dockerfile.write_text("# syntax=docker/dockerfile:1\n\n" + dockerfile.read_text())
    code, moved = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 0, moved["findings"]
    assert decisions(moved)[("github-pat", "app/settings.py", "6")] == "known"

    # A second copy of the same secret in a new file is new, and fails.
    (config_repo / "app" / "more.py").write_text(settings_with_token(fake_github_token))
    code, grown = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 1
    failing = {(f["id"], f["target"]) for f in grown["findings"] if f["decision"] == "fail"}
    assert failing == {("github-pat", "app/more.py")}
    assert grown["baseline"]["new"] == 2  # both lines of the new file


def test_fixed_findings_are_listed_and_update_rewrites(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path
) -> None:
    baseline = create(capsys, config_repo, trivy_bin)
    recorded = len(json.loads(baseline.read_text())["findings"])
    (config_repo / "scripts" / "release.py").write_text("import os\n")
    code, result = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 0
    assert [(e["id"], e["target"]) for e in result["baseline"]["fixed"]] == [
        ("github-pat", "scripts/release.py")
    ]
    code = run(
        ["baseline", "update", str(config_repo), "--output", str(baseline), "--trivy",
         str(trivy_bin), "--cache-dir", str(config_repo.parent / "c"),
         "--scanners", "misconfig,secret", "--offline"]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip().endswith("(0 added, 1 no longer found)")
    assert len(json.loads(baseline.read_text())["findings"]) == recorded - 1


def test_create_refuses_to_overwrite_and_reads_reports(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path,
    config_repo_report: Path,
) -> None:  # fmt: skip
    baseline = create(capsys, config_repo, trivy_bin)
    code = run(["baseline", "create", "--output", str(baseline), "--report", "x.json"])
    assert code == 2
    assert "exists: use `scangate baseline update`" in capsys.readouterr().err
    code = run(
        ["baseline", "create", "--force", "--output", str(baseline),
         "--report", str(config_repo_report)]
    )  # fmt: skip
    assert code == 0
    assert json.loads(baseline.read_text())["findings"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"schema": "other/v9", "findings": []}', "schema is 'other/v9'"),
        ('{"schema": "scangate/baseline/v1", "findings": {}}', "'findings' must be a list"),
        ('{"schema": "scangate/baseline/v1", "findings": [{}]}', "findings[0] has no"),
    ],
)
def test_a_bad_baseline_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config_repo_report: Path,
    content: str, message: str,
) -> None:  # fmt: skip
    bad = tmp_path / "baseline.json"
    bad.write_text(content)
    assert run(["check", str(config_repo_report), "--baseline", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(bad) in err[0]
