"""Every output the CLI offers, through the CLI: each `--format`, the output files written
together, the GitHub step summary and workflow annotations, and the packaged policies."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scangate.cli import run
from scangate.cli._common import OutputFormat
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
        assert out.splitlines()[0].split()[:3] == ["Severity", "Kind", "ID"]
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
