"""Baselines through the CLI with the real Trivy: only what a change introduces fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scangate.cli import run
from tests.conftest import TrivyScanner, settings_with_token, write_config_repo


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
    assert document["schema"] == "scangate/baseline/v2"
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
        ('{"schema": "scangate/baseline/v2", "findings": {}}', "'findings' must be a list"),
        ('{"schema": "scangate/baseline/v2", "findings": [{}]}', "findings[0] has no"),
        (
            '{"schema": "scangate/baseline/v2", "findings": [{"fingerprint": "a"}]}',
            "findings[0] has no 'kind'",
        ),
        (
            '{"schema": "scangate/baseline/v2", "findings": [{"fingerprint": "a", '
            '"kind": "secrets", "id": "x", "target": "y"}]}',
            "findings[0].kind is 'secrets'",
        ),
        (
            '{"schema": "scangate/baseline/v1", "findings": []}',
            "`scangate baseline update",
        ),
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


# --- secrets are known by their value (issue 8, A6) -------------------------------------------

OTHER_TOKEN = "ghp" + "_" + "Zz9y" * 9  # a different token of the same shape, built at run time


def test_a_different_token_at_the_same_place_is_new(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path, fake_github_token: str
) -> None:
    baseline = create(capsys, config_repo, trivy_bin)
    code, known = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 0, known["findings"]
    # The same line, the same masked text (`GITHUB_TOKEN = "****..."`), another token.
    settings = config_repo / "app" / "settings.py"
    lines = settings.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(fake_github_token, OTHER_TOKEN)
    settings.write_text("".join(lines))
    code, swapped = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 1
    got = decisions(swapped)
    assert got[("github-pat", "app/settings.py", "3")] == "fail"
    assert got[("github-pat", "app/settings.py", "5")] == "known"  # the old token, still there
    assert got[("github-pat", "scripts/release.py", "3")] == "known"
    assert swapped["baseline"]["new"] == 1
    # The token that left line 3 is one fewer copy of it in the file: one entry is fixed.
    assert [(e["id"], e["target"]) for e in swapped["baseline"]["fixed"]] == [
        ("github-pat", "app/settings.py")
    ]
    # The table says nothing of either token.
    assert OTHER_TOKEN not in json.dumps(swapped) and fake_github_token not in json.dumps(swapped)


def test_a_forged_entry_does_not_vouch_for_a_secret(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path
) -> None:
    """An entry that reads as a harmless old vulnerability but carries a secret's fingerprint
    (what a reviewer of the baseline diff would wave through) vouches for nothing."""
    baseline = create(capsys, config_repo, trivy_bin)
    document = json.loads(baseline.read_text())
    forged = []
    for entry in document["findings"]:
        if entry["kind"] == "secret" and entry["target"] == "scripts/release.py":
            entry = {
                "fingerprint": entry["fingerprint"],
                "kind": "vulnerability",
                "id": "CVE-2019-0001",
                "target": "docs/legacy/requirements.txt",
                "package": "legacy-lib",
            }
        forged.append(entry)
    document["findings"] = forged
    baseline.write_text(json.dumps(document, indent=2))
    code, result = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 1
    failing = {(f["id"], f["target"]) for f in result["findings"] if f["decision"] == "fail"}
    assert failing == {("github-pat", "scripts/release.py")}
    assert ("CVE-2019-0001", "docs/legacy/requirements.txt") in {
        (e["id"], e["target"]) for e in result["baseline"]["fixed"]
    }
    # The same entry with the secret's own kind, ID (any case) and target vouches for it.
    for entry in document["findings"]:
        if entry["id"] == "CVE-2019-0001":
            entry.update(kind="secret", id="GitHub-PAT", target="scripts/release.py")
            del entry["package"]
    baseline.write_text(json.dumps(document, indent=2))
    code, result = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 0, result["findings"]


def test_a_v1_baseline_is_refused_and_update_rewrites_it(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path
) -> None:
    baseline = create(capsys, config_repo, trivy_bin)
    v2 = json.loads(baseline.read_text())
    baseline.write_text(
        baseline.read_text().replace("scangate/baseline/v2", "scangate/baseline/v1")
    )
    out = config_repo.parent / "result.json"
    code = run(
        ["scan", "fs", str(config_repo), "--trivy", str(trivy_bin), "--cache-dir",
         str(config_repo.parent / "c"), "--scanners", "misconfig,secret", "--offline", "-q",
         "--json", str(out), "--baseline", str(baseline)]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "schema is 'scangate/baseline/v1'" in err[0] and str(baseline) in err[0]
    assert f"`scangate baseline update --output {baseline}`" in err[0]
    assert not out.exists()
    code = run(
        ["baseline", "update", str(config_repo), "--output", str(baseline), "--trivy",
         str(trivy_bin), "--cache-dir", str(config_repo.parent / "c"),
         "--scanners", "misconfig,secret", "--offline"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().endswith("(0 added, 0 no longer found)")
    assert json.loads(baseline.read_text()) == v2
    code, result = scan(capsys, config_repo, trivy_bin, "--baseline", str(baseline))
    assert code == 0, result["findings"]


def test_outputs_and_the_baseline_never_hold_the_secret(
    capsys: pytest.CaptureFixture[str], config_repo: Path, trivy_bin: Path, fake_github_token: str
) -> None:
    baseline = create(capsys, config_repo, trivy_bin)
    outputs = config_repo.parent / "outputs"
    outputs.mkdir()
    code = run(
        ["scan", "fs", str(config_repo), "--trivy", str(trivy_bin), "--cache-dir",
         str(config_repo.parent / "c"), "--scanners", "misconfig,secret", "--offline",
         "--json", str(outputs / "r.json"), "--sarif", str(outputs / "r.sarif"),
         "--markdown", str(outputs / "r.md"), "--baseline", str(baseline)]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0
    written = {p.name: p.read_text() for p in outputs.iterdir()}
    assert set(written) == {"r.json", "r.sarif", "r.md"}
    for name, text in [*written.items(), ("baseline", baseline.read_text()),
                       ("stdout", printed.out), ("stderr", printed.err)]:  # fmt: skip
        assert fake_github_token not in text, name
        assert fake_github_token[4:] not in text, name  # not even without its prefix


def test_check_reads_the_values_beside_the_report_and_fails_closed_without_them(
    capsys: pytest.CaptureFixture[str],
    trivy_scan: TrivyScanner,
    tmp_path: Path,
    fake_github_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = write_config_repo(tmp_path / "repo", fake_github_token)
    report = trivy_scan.fs(repo, tmp_path / "report.json", scanners="misconfig,secret")
    assert json.loads(report.read_text())["ArtifactName"] == "repo"
    baseline = tmp_path / "baseline.json"
    monkeypatch.chdir(tmp_path)  # where `repo`, the report's ArtifactName, is
    assert run(["baseline", "create", "--output", str(baseline), "--report", str(report)]) == 0
    assert capsys.readouterr().err == ""  # every secret was read
    entries = json.loads(baseline.read_text())["findings"]
    assert sum(e["kind"] == "secret" for e in entries) == 3

    def check() -> tuple[int, dict[str, Any]]:
        out = tmp_path / "check.json"
        code = run(["check", str(report), "--baseline", str(baseline), "--json", str(out)])
        capsys.readouterr()
        return code, json.loads(out.read_text())

    assert check()[0] == 0
    # The report was made elsewhere (no `repo` here): its secrets cannot be read, and the
    # baseline cannot vouch for them.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, result = check()
    assert code == 1
    secrets = [f for f in result["findings"] if f["kind"] == "secret"]
    assert len(secrets) == 3 and {f["decision"] for f in secrets} == {"fail"}
    assert all("its value could not be read" in f["reason"] for f in secrets)
    others = {f["decision"] for f in result["findings"] if f["kind"] != "secret"}
    assert others <= {"known", "below-threshold"}
    # `baseline create` from such a report leaves the secrets out, and says so.
    code = run(
        ["baseline", "create", "--force", "--output", str(baseline), "--report", str(report)]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "3 secrets not recorded" in err and "could not be read" in err
    assert not any(e["kind"] == "secret" for e in json.loads(baseline.read_text())["findings"])


def test_the_baseline_path_is_printed_escaped(
    capsys: pytest.CaptureFixture[str],
    trivy_scan: TrivyScanner,
    tmp_path: Path,
    fake_github_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = write_config_repo(tmp_path / "repo", fake_github_token)
    report = trivy_scan.fs(repo, tmp_path / "report.json", scanners="misconfig,secret")
    monkeypatch.chdir(tmp_path)
    baseline = tmp_path / "b\x1b]0;owned\x07\n::add-mask::x.json"
    assert run(["baseline", "create", "--output", str(baseline), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert not any(line.lstrip().startswith("::add-mask::") for line in out.splitlines())
    assert "b\\x1b]0;owned\\x07\\n::add-mask::x.json: recorded" in out
    assert baseline.is_file()
