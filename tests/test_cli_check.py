"""`scangate check` and `scangate policy check`: exit codes, outputs, flags and their env vars.

Exit-code tests run the CLI for real (`python -m scangate` in a subprocess, from a temp dir);
output tests call `scangate.cli.run(argv)` in-process. Reports come from the real Trivy
(conftest's session reports) or tests/data/reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import pytest
import yaml

import scangate
from scangate.cli import run
from tests.support import hostile, trivydb, workflow_commands

DATA = Path(__file__).parent / "data" / "reports"
TODAY = "2026-03-10"
FINDING_KEYS = {
    "kind",
    "id",
    "severity",
    "target",
    "package",
    "installed_version",
    "fixed_version",
    "location",
    "fingerprint",
    "decision",
    "reason",
}


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one stderr line an error must produce."""
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        return lines[0]


def scangate_process(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> Outcome:
    """The real CLI, `python -m scangate ARGS`, in `cwd` (the hermetic environment + env)."""
    proc = subprocess.run(
        [sys.executable, "-m", "scangate", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


class Cli(Protocol):
    def __call__(self, *args: str | Path) -> Outcome: ...


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """`cli(*args)`: `scangate.cli.run` in-process, with tmp_path as the working directory."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


def passing_policy(directory: Path) -> Path:
    path = directory / "lenient.yaml"
    path.write_text("fail-on:\n  vulnerability: none\n  misconfiguration: none\n  secret: none\n")
    return path


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# --- exit codes, for real ---------------------------------------------------------------------


def test_exit_0_when_the_gate_passes(tmp_path: Path, vuln_project_report: Path) -> None:
    result = scangate_process(
        "check", vuln_project_report, "--policy", passing_policy(tmp_path), cwd=tmp_path
    )
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1].startswith("PASS: 9 findings: 0 failing")
    assert result.err == ""


def test_exit_1_when_the_gate_fails(tmp_path: Path, vuln_project_report: Path) -> None:
    result = scangate_process("check", vuln_project_report, "--today", TODAY, cwd=tmp_path)
    assert result.code == 1, result.err
    verdict = result.out.splitlines()[-1]
    assert verdict.startswith(
        "FAIL: 9 findings: 6 failing (6 vulnerabilities), 0 allowed, 1 unfixed"
    )
    assert verdict.endswith("(policy: built-in policy 'default')")
    assert trivydb.LODASH_CVE in result.out


def test_exit_2_for_a_bad_policy_with_one_line(tmp_path: Path, vuln_project_report: Path) -> None:
    bad = tmp_path / "gate.yaml"
    bad.write_text("allow:\n  - id: CVE-2018-18074\n    reson: vendored\n")
    result = scangate_process("check", vuln_project_report, "--policy", "gate.yaml", cwd=tmp_path)
    assert result.code == 2
    assert result.error_line == (
        "scangate: error: gate.yaml: allow[0] (CVE-2018-18074): unknown key 'reson': "
        "did you mean 'reason'?"
    )
    assert result.out == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fail-on:\n  vulnerability: SEVERE\n", "'SEVERE' is not a severity"),
        ("allow:\n  - id: CVE-1\n    reason: r\n    expires: 2026-13-01\n", "is not a date"),
        ("allow:\n  - id: CVE-1\n    reason: ''\n", "'reason' is empty"),
        ("version: 2\n", "version is 2"),
        ("extends: missing.yaml\n", "missing.yaml: no such policy file"),
        ("fail-on: [\n", "not valid YAML"),
    ],
)
def test_policy_errors_exit_2_with_one_line(
    tmp_path: Path, vuln_project_report: Path, text: str, expected: str
) -> None:
    (tmp_path / ".scangate.yaml").write_text(text)
    result = scangate_process("check", vuln_project_report, cwd=tmp_path)
    assert result.code == 2
    line = result.error_line
    assert line.startswith("scangate: error: ")
    assert expected in line
    assert ".scangate.yaml" in line or "missing.yaml" in line


@pytest.mark.parametrize(
    "flags",
    [
        ["--format", "xml"],
        ["--today", "2026-02-30"],
        ["--colour"],
        ["--policy", "no-such-builtin"],
        ["--ignorefile", "absent.trivyignore"],
    ],
    ids=["format", "today", "unknown-flag", "policy-name", "ignorefile"],
)
def test_exit_2_for_a_bad_flag(tmp_path: Path, vuln_project_report: Path, flags: list[str]) -> None:
    result = scangate_process("check", vuln_project_report, *flags, cwd=tmp_path)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert result.out == ""


def test_exit_2_without_a_report(tmp_path: Path) -> None:
    result = scangate_process("check", cwd=tmp_path)
    assert result.code == 2
    assert "Missing argument" in result.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", "the file is empty", id="empty"),
        pytest.param(
            b'{"SchemaVersion": 2, "Results": [{"Tar', "truncated or not JSON", id="truncated"
        ),
        pytest.param(b"<html>502 Bad Gateway</html>", "not JSON", id="not-json"),
        pytest.param(b"[]", "top level is not an object", id="array"),
        pytest.param(b'{"SchemaVersion": 1, "Results": []}', "SchemaVersion is 1", id="schema-1"),
        pytest.param(b'{"version": "2.1.0", "runs": []}', "a SARIF log", id="sarif"),
        pytest.param(
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6"}',
            "a CycloneDX SBOM",
            id="cyclonedx",
        ),
    ],
)
def test_exit_3_for_a_bad_report_with_one_line_naming_it(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    (tmp_path / "trivy.json").write_bytes(content)
    result = scangate_process("check", "trivy.json", cwd=tmp_path)
    assert result.code == 3
    line = result.error_line
    assert line.startswith("scangate: error: trivy.json: ")
    assert expected in line
    assert result.out == ""


def test_exit_3_for_a_missing_report(tmp_path: Path) -> None:
    result = scangate_process("check", "out/trivy.json", cwd=tmp_path)
    assert result.code == 3
    assert result.error_line == "scangate: error: out/trivy.json: no such report file"


def test_console_script_runs_too(tmp_path: Path, vuln_project_report: Path) -> None:
    script = Path(sys.executable).parent / "scangate"
    proc = subprocess.run(
        [str(script), "check", str(vuln_project_report), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("FAIL: 9 findings")


# --- reports from stdin and several reports -------------------------------------------------


def test_report_from_stdin(tmp_path: Path, vuln_project_report: Path) -> None:
    result = scangate_process(
        "check", "-", "--quiet", cwd=tmp_path, stdin=vuln_project_report.read_bytes()
    )
    assert result.code == 1
    assert result.out.startswith("FAIL: 9 findings: 6 failing")


def test_bad_stdin_is_named(tmp_path: Path) -> None:
    result = scangate_process("check", "-", cwd=tmp_path, stdin=b'{"SchemaVersion": 2,')
    assert result.code == 3
    assert result.error_line.startswith(
        "scangate: error: <stdin>: not a readable Trivy JSON report"
    )


def test_several_reports_give_one_verdict(
    tmp_path: Path, vuln_project_report: Path, config_repo_report: Path
) -> None:
    lenient = tmp_path / "p.yaml"
    lenient.write_text("fail-on:\n  vulnerability: none\n")
    alone = scangate_process("check", vuln_project_report, "-p", lenient, "-q", cwd=tmp_path)
    assert alone.code == 0
    both = scangate_process(
        "check", vuln_project_report, config_repo_report, "-p", lenient, "-f", "json", cwd=tmp_path
    )
    assert both.code == 1
    document = json.loads(both.out)
    assert [a["name"] for a in document["artifacts"]] == ["project", "repo"]
    kinds = {f["kind"] for f in document["findings"]}
    assert kinds == {"vulnerability", "misconfiguration", "secret"}


def test_one_bad_report_among_several_fails_closed(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    (tmp_path / "cut.json").write_bytes(vuln_project_report.read_bytes()[:500])
    result = scangate_process("check", vuln_project_report, "cut.json", cwd=tmp_path)
    assert result.code == 3
    assert result.error_line.startswith("scangate: error: cut.json: ")


# --- JSON result ------------------------------------------------------------------------------


def test_json_result_document(cli: Cli, tmp_path: Path, vuln_project_report: Path) -> None:
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        "allow:\n"
        f"  - id: {trivydb.PYYAML_CVE}\n    reason: loader not used\n    expires: 2026-03-20\n"
        f"  - id: {trivydb.LODASH_CVE}\n    reason: was fixed upstream\n    expires: 2026-03-01\n"
        "  - id: CVE-1999-0001\n    reason: stale\n"
    )
    result = cli("check", vuln_project_report, "-p", policy, "-f", "json", "--today", TODAY)
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["schema"] == "scangate/result/v1"
    assert doc["verdict"] == "fail"
    assert doc["evaluated_on"] == TODAY
    assert doc["summary"]["failing"] == 5
    assert doc["summary"]["allowed"] == 1
    assert doc["summary"]["by_kind"]["vulnerability"]["CRITICAL"] == 4
    assert set(doc["summary"]["by_kind"]) == {
        "vulnerability",
        "misconfiguration",
        "secret",
        "license",
    }
    for finding in doc["findings"]:
        assert set(finding) >= FINDING_KEYS
    by_id = {f["id"]: f for f in doc["findings"] if f["id"] != trivydb.URLLIB3_CRITICAL_CVE}
    requests = by_id[trivydb.REQUESTS_CVE]
    assert requests["package"] == "requests"
    assert (requests["installed_version"], requests["fixed_version"]) == ("2.19.0", "2.20.0")
    assert requests["location"] == {"path": "requirements.txt", "start_line": 1, "end_line": 1}
    assert requests["decision"] == "fail"
    assert len(requests["fingerprint"]) == 32
    assert by_id[trivydb.PYYAML_CVE]["decision"] == "allowed"
    assert by_id[trivydb.PYYAML_CVE]["reason"] == "loader not used"
    assert by_id[trivydb.LODASH_CVE]["decision"] == "fail"
    assert "allow entry expired 2026-03-01" in by_id[trivydb.LODASH_CVE]["reason"]
    assert by_id[trivydb.ECDSA_CVE]["decision"] == "unfixed"
    assert by_id[trivydb.ECDSA_CVE]["fixed_version"] is None
    allowlist = doc["allowlist"]
    assert [(e["id"], e["days_left"]) for e in allowlist["expired"]] == [(trivydb.LODASH_CVE, -9)]
    assert [(e["id"], e["days_left"]) for e in allowlist["expiring"]] == [(trivydb.PYYAML_CVE, 10)]
    assert [(e["id"], e["matched"]) for e in allowlist["unused"]] == [("CVE-1999-0001", 0)]


def test_json_file_matches_stdout_and_table_stays_on_stdout(
    cli: Cli, tmp_path: Path, vuln_project_report: Path
) -> None:
    as_json = cli("check", vuln_project_report, "--format", "json", "--today", TODAY)
    (tmp_path / "out").mkdir()
    written = cli("check", vuln_project_report, "--json", "out/result.json", "--today", TODAY)
    assert written.code == as_json.code == 1
    assert written.out.splitlines()[-1].startswith("FAIL: 9 findings")  # the table
    assert (tmp_path / "out" / "result.json").read_text() == as_json.out
    assert listing(tmp_path / "out") == {"result.json"}


@pytest.mark.parametrize("bad", ["report", "policy"])
def test_json_file_not_written_when_the_run_errors(
    tmp_path: Path, vuln_project_report: Path, bad: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").write_text("previous")
    report = tmp_path / "r.json"
    report.write_bytes(vuln_project_report.read_bytes())
    if bad == "report":
        report.write_text('{"SchemaVersion": 2, "Results": [')
    else:
        (tmp_path / ".scangate.yaml").write_text("fail-on: {vulnerability: SEVERE}\n")
    result = scangate_process("check", report, "--json", "out/result.json", cwd=tmp_path)
    assert result.code == (3 if bad == "report" else 2)
    assert listing(out) == {"result.json"}  # no temp file left
    assert (out / "result.json").read_text() == "previous"  # and the old result untouched


def test_json_file_in_a_missing_directory(tmp_path: Path, vuln_project_report: Path) -> None:
    result = scangate_process(
        "check", vuln_project_report, "--json", "nowhere/result.json", cwd=tmp_path
    )
    assert result.code == 2
    assert "nowhere" in result.error_line
    assert result.out == ""
    assert not (tmp_path / "nowhere").exists()


def test_json_file_in_an_unwritable_place_leaves_nothing(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    # Root can write anywhere on disk; /proc refuses new files even to root.
    result = scangate_process(
        "check", vuln_project_report, "--json", "/proc/scangate-result.json", cwd=tmp_path
    )
    assert result.code == 2
    assert result.error_line.startswith("scangate: error: cannot write /proc/scangate-result.json")
    assert result.out == ""


def test_json_path_that_is_a_directory_is_a_usage_error(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    (tmp_path / "result.json").mkdir()
    result = scangate_process("check", vuln_project_report, "--json", "result.json", cwd=tmp_path)
    assert listing(tmp_path) == {"result.json"}  # no temp file left
    assert result.code == 2
    assert result.error_line.startswith("scangate: error: cannot write result.json")


# --- table, --all, --quiet, --today -------------------------------------------------------------


def test_table_lists_what_matters_and_hides_below_threshold(
    cli: Cli, vuln_project_report: Path
) -> None:
    result = cli("check", vuln_project_report, "--today", TODAY)
    lines = result.out.splitlines()
    # Rows grouped under a heading per target; the target and kind are in the heading.
    assert lines[0] == "Cargo.lock: 1 vulnerability"
    assert lines[1].split() == ["Severity", "ID", "Package", "Installed", "->", "fixed", "Decision"]
    assert "requirements.txt: 5 vulnerabilities" in lines
    assert "2 findings below their fail-on threshold not shown (--all lists them)" in lines
    assert trivydb.TIME_CVE not in result.out  # MEDIUM: below HIGH
    assert trivydb.ECDSA_CVE in result.out  # unfixed is shown
    rows = [line for line in lines if line.split()[1:2] and line.split()[1].startswith("CVE-")]
    assert rows[0].split()[-1] == "fail"
    assert rows[-1].split()[-1] == "unfixed"

    everything = cli("check", vuln_project_report, "--all", "--today", TODAY)
    assert trivydb.TIME_CVE in everything.out
    assert "below-threshold" in everything.out
    assert "not shown" not in everything.out


def test_quiet_prints_only_the_verdict(cli: Cli, vuln_project_report: Path) -> None:
    result = cli("check", vuln_project_report, "-q", "--today", TODAY)
    assert result.code == 1
    assert result.out.count("\n") == 1
    assert result.out.startswith("FAIL: 9 findings: 6 failing")
    assert result.err == ""


def test_today_decides_expiry(cli: Cli, tmp_path: Path, vuln_project_report: Path) -> None:
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        "fail-on:\n  vulnerability: CRITICAL\nallow:\n"
        + "".join(
            f"  - id: {cve}\n    reason: accepted\n    expires: 2026-04-01\n"
            for cve in (
                trivydb.PYYAML_CVE,
                trivydb.URLLIB3_CRITICAL_CVE,
                trivydb.SMALLVEC_CVE,
                trivydb.LODASH_CVE,
            )
        )
    )
    before = cli("check", vuln_project_report, "-p", policy, "--today", "2026-03-31")
    assert before.code == 0
    assert "warning: allow entry expires in 1 day: " in before.out
    on_the_day = cli("check", vuln_project_report, "-p", policy, "--today", "2026-04-01")
    assert on_the_day.code == 1
    assert (
        f"expired: {trivydb.LODASH_CVE} in package-lock.json: allow entry expired 2026-04-01"
        in (on_the_day.out)
    )
    assert "warning: allow entry expired:" in on_the_day.out


def test_today_defaults_to_the_real_date(cli: Cli, vuln_project_report: Path) -> None:
    before = date.today().isoformat()
    doc = json.loads(cli("check", vuln_project_report, "-f", "json").out)
    assert doc["evaluated_on"] in {before, date.today().isoformat()}


# --- policy resolution and ignore files -------------------------------------------------------


def test_policy_resolution_order(
    tmp_path: Path, vuln_project_report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def policy_name(*flags: str, env: dict[str, str] | None = None) -> str:
        result = scangate_process(
            "check", vuln_project_report, "-f", "json", *flags, cwd=tmp_path, env=env
        )
        assert result.code in (0, 1), result.err
        name: str = json.loads(result.out)["policy"]["name"]
        return name

    assert policy_name() == "built-in policy 'default'"
    (tmp_path / ".scangate.yaml").write_text("extends: pre-push\n")
    assert policy_name() == str(tmp_path.resolve() / ".scangate.yaml")
    assert policy_name(env={"SCANGATE_POLICY": "strict"}) == "built-in policy 'strict'"
    passing_policy(tmp_path)
    assert policy_name("--policy", "lenient.yaml", env={"SCANGATE_POLICY": "strict"}) == (
        "lenient.yaml"
    )


def test_trivyignore_in_the_working_directory_is_read(
    cli: Cli, tmp_path: Path, vuln_project_report: Path
) -> None:
    (tmp_path / ".trivyignore").write_text(
        f"# Not reachable from our code.\n{trivydb.LODASH_CVE} exp:2026-06-01\n"
    )
    (tmp_path / ".trivyignore.yaml").write_text(
        f"vulnerabilities:\n  - id: {trivydb.PYYAML_CVE}\n    statement: safe_load only\n"
        f"    paths: [requirements.txt]\n"
    )
    doc = json.loads(cli("check", vuln_project_report, "-f", "json", "--today", TODAY).out)
    allowed = {f["id"]: f["reason"] for f in doc["findings"] if f["decision"] == "allowed"}
    assert allowed == {
        trivydb.LODASH_CVE: "Not reachable from our code.",
        trivydb.PYYAML_CVE: "safe_load only",
    }
    assert any(s.endswith(".trivyignore") for s in doc["policy"]["sources"])


def test_ignorefile_flag_replaces_the_discovered_files(
    cli: Cli, tmp_path: Path, vuln_project_report: Path
) -> None:
    (tmp_path / ".trivyignore").write_text(f"{trivydb.LODASH_CVE}\n")
    elsewhere = tmp_path / "security" / "accepted.trivyignore"
    elsewhere.parent.mkdir()
    elsewhere.write_text(f"{trivydb.PYYAML_CVE}\n")
    doc = json.loads(cli("check", vuln_project_report, "--ignorefile", elsewhere, "-f", "json").out)
    allowed = {f["id"] for f in doc["findings"] if f["decision"] == "allowed"}
    assert allowed == {trivydb.PYYAML_CVE}


def test_bad_exp_in_trivyignore_exits_2(tmp_path: Path, vuln_project_report: Path) -> None:
    (tmp_path / ".trivyignore").write_text(f"{trivydb.LODASH_CVE} exp:2026-02-30\n")
    result = scangate_process("check", vuln_project_report, cwd=tmp_path)
    assert result.code == 2
    assert result.error_line == (
        "scangate: error: "
        f"{tmp_path.resolve() / '.trivyignore'}:1: "
        "exp:2026-02-30 is not a date: write it as exp:YYYY-MM-DD"
    )


# --- every flag's environment variable --------------------------------------------------------


def test_every_flag_has_an_env_var(tmp_path: Path, vuln_project_report: Path) -> None:
    (tmp_path / "ignore").write_text(f"{trivydb.LODASH_CVE} exp:2026-03-11\n")
    env = {
        "SCANGATE_POLICY": str(passing_policy(tmp_path)),
        "SCANGATE_FORMAT": "json",
        "SCANGATE_JSON": "result.json",
        "SCANGATE_TODAY": TODAY,
        "SCANGATE_ALL": "1",
        "SCANGATE_QUIET": "1",
        "SCANGATE_IGNOREFILE": "ignore",
    }
    result = scangate_process("check", vuln_project_report, cwd=tmp_path, env=env)
    assert result.code == 0, result.err
    doc = json.loads(result.out)  # SCANGATE_FORMAT: json on stdout, even when quiet
    assert json.loads((tmp_path / "result.json").read_text()) == doc  # SCANGATE_JSON
    assert doc["policy"]["name"] == str(tmp_path / "lenient.yaml")  # SCANGATE_POLICY
    assert doc["evaluated_on"] == TODAY  # SCANGATE_TODAY
    assert [e["days_left"] for e in doc["allowlist"]["expiring"]] == [1]  # SCANGATE_IGNOREFILE


@pytest.mark.parametrize(
    ("name", "value", "flags", "check"),
    [
        ("SCANGATE_ALL", "true", [], lambda out: trivydb.TIME_CVE in out),
        ("SCANGATE_QUIET", "yes", [], lambda out: out.count("\n") == 1),
        (
            "SCANGATE_FORMAT",
            "json",
            [],
            lambda out: out.startswith("{") and json.loads(out)["verdict"] == "fail",
        ),
        ("SCANGATE_TODAY", "2030-01-01", ["-f", "json"], lambda out: "2030-01-01" in out),
    ],
    ids=["all", "quiet", "format", "today"],
)
def test_env_vars_in_process(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    vuln_project_report: Path,
    name: str,
    value: str,
    flags: list[str],
    check: Callable[[str], bool],
) -> None:
    without = cli("check", vuln_project_report, *flags)
    assert not check(without.out)
    monkeypatch.setenv(name, value)
    result = cli("check", vuln_project_report, *flags)
    assert result.code == 1
    assert check(result.out)


def test_bad_env_value_is_a_usage_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, vuln_project_report: Path
) -> None:
    monkeypatch.setenv("SCANGATE_TODAY", "someday")
    result = cli("check", vuln_project_report)
    assert result.code == 2
    assert result.error_line == (
        "scangate: error: --today 'someday' is not a date: write it as YYYY-MM-DD"
    )


# --- secrets never leave masked -----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [[], ["--all"], ["-q"], ["-f", "json"], ["--json", "result.json"], ["-f", "json", "--all"]],
    ids=["table", "all", "quiet", "json", "json-file", "json-all"],
)
def test_secret_stays_masked_in_every_output(
    cli: Cli,
    tmp_path: Path,
    config_repo_report: Path,
    fake_github_token: str,
    flags: list[str],
) -> None:
    result = cli("check", config_repo_report, *flags)
    assert result.code == 1
    outputs = [result.out, result.err]
    if "--json" in flags:
        outputs.append((tmp_path / "result.json").read_text())
    for text in outputs:
        assert fake_github_token not in text
        assert fake_github_token[4:] not in text  # not even without its prefix
    masked = 'GITHUB_TOKEN = \\"' + "*" * len(fake_github_token) + '\\"'
    for text in outputs:
        if text.lstrip().startswith("{"):
            assert masked in text  # the JSON result carries Trivy's masked Match
            secrets = [f for f in json.loads(text)["findings"] if f["kind"] == "secret"]
            assert {f["decision"] for f in secrets} == {"fail"}


# --- policy check, version, help ----------------------------------------------------------------


def test_policy_check_prints_the_effective_policy(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "extends: strict\nallow:\n  - id: DS002\n    reason: root needed\n"
        "    expires: 2026-04-01\n    targets: [build/Dockerfile]\n"
    )
    (tmp_path / ".scangate.yaml").write_text("extends: base.yaml\nfail-on:\n  license: none\n")
    result = scangate_process("policy", "check", "--today", TODAY, cwd=tmp_path)
    assert result.code == 0, result.err
    first, _, body = result.out.partition("\n")
    assert first == (
        "# effective policy from: built-in policy 'default', built-in policy 'strict', "
        f"base.yaml, {tmp_path.resolve() / '.scangate.yaml'}"
    )
    effective = yaml.safe_load(body)
    assert effective["fail-on"] == {
        "vulnerability": "MEDIUM",
        "misconfiguration": "MEDIUM",
        "secret": "UNKNOWN",
        "license": "none",
    }
    assert effective["ignore-unfixed"] is False
    assert effective["allow-rules"] == {"require-expiry": True, "max-days": 90, "warn-days": 30}
    assert effective["allow"] == [
        {
            "id": "DS002",
            "reason": "root needed",
            "expires": date(2026, 4, 1),
            "targets": ["build/Dockerfile"],
            "from": "base.yaml allow[0]",
        }
    ]
    assert result.err.strip() == f"policy OK: {tmp_path.resolve() / '.scangate.yaml'}"


def test_policy_check_of_a_builtin_and_a_path(cli: Cli, tmp_path: Path) -> None:
    builtin = cli("policy", "check", "pre-push")
    assert builtin.code == 0
    assert yaml.safe_load(builtin.out)["fail-on"]["vulnerability"] == "CRITICAL"
    path = passing_policy(tmp_path)
    by_path = cli("policy", "check", path)
    assert by_path.code == 0
    assert yaml.safe_load(by_path.out)["fail-on"]["secret"] == "none"


def test_policy_check_of_a_bad_policy_exits_2(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "allow-rules:\n  require-expiry: true\nallow:\n  - id: CVE-2024-0001\n    reason: r\n"
    )
    result = scangate_process("policy", "check", "p.yaml", cwd=tmp_path)
    assert result.code == 2
    assert result.error_line == (
        "scangate: error: p.yaml allow[0] (CVE-2024-0001): no expiry date, and the policy sets "
        "require-expiry: add 'expires: YYYY-MM-DD'"
    )
    assert result.out == ""


# Text a pull request can put in a policy or an ignore file: workflow commands after a newline
# (the runner trims leading spaces), the legacy `##[` form, a bidi override, an escape.
HOSTILE_REASON = "a\n::warning title=scangate::forged\n  ::add-mask::x \u00e9 \\ \x1b]0;t\x07"


@pytest.mark.parametrize("actions", [False, True], ids=["terminal", "github-actions"])
def test_policy_check_prints_hostile_policy_text_escaped_and_guarded(
    tmp_path: Path, actions: bool
) -> None:
    """Regression: the effective policy was printed raw (`::add-mask::` on its own line,
    `##[error]`, U+202E); now it is one-line YAML meaning the same, inside a stop-commands
    block under GitHub Actions."""
    (tmp_path / ".scangate.yaml").write_text(
        yaml.safe_dump({"version": 1, "allow": [{"id": "X", "reason": HOSTILE_REASON}]}),
        encoding="utf-8",
    )
    (tmp_path / ".trivyignore").write_text("# r ##[error]x \u202e\nCVE-1\n", encoding="utf-8")
    env = {"GITHUB_ACTIONS": "true"} if actions else {"GITHUB_ACTIONS": ""}
    result = scangate_process("policy", "check", cwd=tmp_path, env=env)
    assert result.code == 0, result.err
    for stream in (result.out, result.err):
        for marker in hostile.LOG_MARKERS:
            assert marker not in stream, (marker, stream)
        lines = workflow_commands.split_lines(stream)
        acted = [c.name for c in workflow_commands.commands(stream)]
        if actions:
            (stop,) = [c.data for c in workflow_commands.commands(stream)][:1]
            assert lines[0] == f"::stop-commands::{stop}" and acted == ["stop-commands", stop]
        else:
            assert acted == []
            assert not any(workflow_commands.starts_as_command(line) for line in lines)
    body = result.out
    if actions:
        body = "\n".join(result.out.splitlines()[1:-1])
    effective = yaml.safe_load(body)
    assert [(e["id"], e["reason"]) for e in effective["allow"]] == [
        ("X", HOSTILE_REASON),
        ("CVE-1", "r ##[error]x \u202e"),
    ]
    assert "#\\x23[error]x \\u202E" in result.out


def test_version(tmp_path: Path) -> None:
    result = scangate_process("--version", cwd=tmp_path)
    assert result.code == 0
    assert result.out == f"scangate {scangate.__version__}\n"


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"]])
def test_help_mentions_the_exit_codes(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "Exit codes: 0" in text
    for code in ("1 the gate failed", "2 usage or policy error", "130 interrupted"):
        assert code in text
    assert "3 the scan or the report could not be used" in text or "3 a report could not" in text
