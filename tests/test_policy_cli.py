"""Policy files, ignore files and reports that try to talk the gate into a pass, through the CLI.

Each runs the installed `scangate` console script in a subprocess on reports written by the
real Trivy 0.76 (conftest's TrivyScanner, offline): YAML alias bombs, duplicate keys,
`.trivyignore.yaml` entries that would widen a suppression, two expiry dates, findings Trivy
suppressed itself, and severities Trivy never writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TrivyScanner, write_config_repo
from tests.support.scanning import clean_env, fake_token, run_scangate

TODAY = "2026-03-10"


def scangate(tmp_path: Path, *args: str | Path, cwd: Path | None = None) -> tuple[int, str, str]:
    work = cwd or tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    proc = run_scangate(
        list(args),
        cwd=work,
        env=clean_env(tmp_path / "env"),
        timeout=60,
    )
    assert "Traceback" not in proc.stderr
    assert "internal error" not in proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def secret_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Trivy's secret scan of a repo holding one token in two files (three findings)."""
    base = tmp_path_factory.mktemp("secret-report")
    repo = write_config_repo(base / "repo", fake_token())
    return trivy_scan.fs(repo, base / "report.json", scanners="secret")


def decisions(work: Path) -> list[tuple[str, str, str, str]]:
    """(id, target, severity, decision) of each finding in `work/out.json` (`--json out.json`)."""
    document: dict[str, Any] = json.loads((work / "out.json").read_text())
    return [(f["id"], f["target"], f["severity"], f["decision"]) for f in document["findings"]]


# --- D: YAML alias bombs ------------------------------------------------------------------------

BOMB_ROWS = [
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
]
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(BOMB_ROWS)


def test_the_bomb_is_small() -> None:
    assert len(BOMB) < 700  # 9**9 "lol"s once expanded


@pytest.mark.parametrize(
    "how",
    ["policy-check", "check-policy-flag", "scangate-yaml-in-root", "trivyignore-yaml-in-root"],
)
def test_alias_bombs_are_refused_fast(tmp_path: Path, secret_report: Path, how: str) -> None:
    # Before: 45 s and 1.5 GB, then `internal error: MemoryError`.
    work = tmp_path / "work"
    work.mkdir()
    if how == "policy-check":
        (work / "bomb.yaml").write_text(BOMB)
        args: list[str | Path] = ["policy", "check", "bomb.yaml"]
        named = "bomb.yaml"
    elif how == "check-policy-flag":
        (work / "bomb.yaml").write_text(BOMB)
        args = ["check", "--policy", "bomb.yaml", secret_report]
        named = "bomb.yaml"
    elif how == "scangate-yaml-in-root":
        (work / ".scangate.yaml").write_text(BOMB)
        args = ["check", secret_report]
        named = str(work / ".scangate.yaml")
    else:
        (work / ".trivyignore.yaml").write_text(BOMB)
        args = ["check", "--policy", "default", secret_report]
        named = str(work / ".trivyignore.yaml")
    start = time.monotonic()
    code, _, err = scangate(tmp_path, *args, cwd=work)
    assert time.monotonic() - start < 15
    assert code == 2
    line = one_line(err)
    assert named in line
    assert "line 1: YAML anchors and aliases (&name, *name) are not allowed" in line
    assert "lol" not in line


# --- A5: duplicate keys ------------------------------------------------------------------------


def test_a_second_fail_on_is_refused_not_merged(tmp_path: Path, secret_report: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # The second `fail-on` would switch secrets off: YAML keeps the last one silently.
    (work / "team.yaml").write_text(
        "fail-on:\n  secret: UNKNOWN\nignore-unfixed: true\nfail-on:\n  secret: none\n"
    )
    code, _, err = scangate(tmp_path, "policy", "check", "team.yaml", cwd=work)
    assert code == 2
    assert one_line(err).endswith(
        "team.yaml: line 4: key 'fail-on' is given twice (first at line 1): keep one; "
        "YAML would silently use the last"
    )
    code, _, err = scangate(tmp_path, "check", "--policy", "team.yaml", secret_report, cwd=work)
    assert code == 2


# --- A3 and A4: ignore files in the scanned root ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            ".trivyignore.yaml",
            'secrets:\n  - id: github-pat\n    paths: "vendor/**"\n',
            "secrets[0] (github-pat): 'paths' is a string, not a list: "
            "write it as paths: ['vendor/**']",
            id="paths-string",
        ),
        pytest.param(
            ".trivyignore.yaml",
            "secrets:\n  - id: github-pat\n    path: [vendor/**]\n",
            "secrets[0] (github-pat): unknown key 'path': did you mean 'paths'?",
            id="misspelled-paths",
        ),
        pytest.param(
            ".trivyignore.yaml",
            "secret:\n  - id: github-pat\n",
            "unknown section 'secret': did you mean 'secrets'?",
            id="misspelled-section",
        ),
        pytest.param(
            ".trivyignore.yaml",
            "secrets:\n  - id: github-pat\n    paths: [vendor/**]\n    paths: ['**']\n",
            "line 4: key 'paths' is given twice (first at line 3)",
            id="duplicate-key",
        ),
        pytest.param(
            ".trivyignore",
            "# fixture token\ngithub-pat exp:2020-01-01 exp:2099-01-01\n",
            ":2: github-pat has 2 expiry dates (exp:2020-01-01, exp:2099-01-01): "
            "keep one exp:YYYY-MM-DD",
            id="two-exp-dates",
        ),
    ],
)
def test_ignore_file_mistakes_are_exit_2(
    tmp_path: Path, secret_report: Path, name: str, text: str, expected: str
) -> None:
    # Before: each passed (exit 0), the token allowed.
    work = tmp_path / "work"
    work.mkdir()
    (work / name).write_text(text)
    code, _, err = scangate(
        tmp_path, "check", "--policy", "default", "--today", TODAY, secret_report, cwd=work
    )
    assert code == 2
    line = one_line(err)
    assert str(work / name) in line
    assert expected in line


def test_a_misconfigurations_entry_does_not_allow_a_secret(
    tmp_path: Path, secret_report: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ignore = work / ".trivyignore.yaml"
    ignore.write_text("misconfigurations:\n  - id: github-pat\n    statement: not a secret\n")
    code, _, _ = scangate(
        tmp_path, "check", "--policy", "default", "--json", "out.json", secret_report, cwd=work
    )
    assert code == 1  # before: 0, every token allowed by a misconfiguration entry
    assert {d[3] for d in decisions(tmp_path / "work")} == {"fail"}
    # The same entry under `secrets:` is what allows them.
    ignore.write_text("secrets:\n  - id: github-pat\n    statement: a test fixture\n")
    code, _, _ = scangate(
        tmp_path, "check", "--policy", "default", "--json", "out.json", secret_report, cwd=work
    )
    assert code == 0
    assert [d[3] for d in decisions(tmp_path / "work")] == ["allowed"] * 3


# --- A7: findings Trivy suppressed itself -------------------------------------------------------


@pytest.fixture(scope="module")
def suppressed_report(trivy_scan: TrivyScanner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Trivy with the repository's `.trivyignore` and --show-suppressed: every token
    is in ExperimentalModifiedFindings, none in Secrets."""
    base = tmp_path_factory.mktemp("suppressed-report")
    repo = write_config_repo(base / "repo", fake_token())
    ignore = repo / ".trivyignore"
    ignore.write_text("# a test fixture\ngithub-pat\n")
    report = trivy_scan.fs(
        repo,
        base / "report.json",
        scanners="secret",
        extra=["--ignorefile", str(ignore), "--show-suppressed"],
    )
    results = json.loads(report.read_text())["Results"]
    assert not any(r.get("Secrets") for r in results)
    assert sum(len(r.get("ExperimentalModifiedFindings") or []) for r in results) == 3
    return report


def test_trivy_suppressions_obey_require_expiry(tmp_path: Path, suppressed_report: Path) -> None:
    # Default policy: no require-expiry, so Trivy's suppression is an allow entry and passes.
    code, _, _ = scangate(
        tmp_path, "check", "--json", "out.json", "--today", TODAY, suppressed_report
    )
    assert code == 0
    assert [d[3] for d in decisions(tmp_path / "work")] == ["allowed"] * 3

    # strict sets require-expiry: before, these were `allowed` all the same (exit 0).
    code, _, _ = scangate(
        tmp_path,
        "check",
        "--policy",
        "strict",
        "--json",
        "out.json",
        "--today",
        TODAY,
        suppressed_report,
    )
    assert code == 1
    findings = json.loads((tmp_path / "work" / "out.json").read_text())["findings"]
    assert [f["decision"] for f in findings] == ["fail"] * 3
    reason = findings[0]["reason"]
    assert reason.startswith("suppressed by Trivy without an expiry (")
    assert ".trivyignore" in reason
    assert reason.endswith(
        "the policy sets require-expiry: add a policy allow entry with 'expires' for it, "
        "or drop require-expiry"
    )

    # The fix the message names: a policy allow entry with an expiry.
    work = tmp_path / "work"
    (work / "team.yaml").write_text(
        "extends: strict\nallow:\n  - id: github-pat\n    reason: a test fixture\n"
        "    expires: 2026-04-01\n"
    )
    code, _, _ = scangate(
        tmp_path,
        "check",
        "-p",
        "team.yaml",
        "--json",
        "out.json",
        "--today",
        TODAY,
        suppressed_report,
    )
    assert code == 0
    assert [d[3] for d in decisions(tmp_path / "work")] == ["allowed"] * 3


# --- A5: severities Trivy never writes ----------------------------------------------------------


def edited_report(report: Path, out: Path, severity: str | int | None) -> Path:
    """`report` with the first secret's Severity set to `severity` (None: removed)."""
    document = json.loads(report.read_text())
    secret = next(r for r in document["Results"] if r.get("Secrets"))["Secrets"][0]
    if severity is None:
        del secret["Severity"]
    else:
        secret["Severity"] = severity
    out.write_text(json.dumps(document))
    return out


@pytest.mark.parametrize("value", ["SEVERE", "High", "UN\u212aNOWN", " HIGH", 3])
def test_a_severity_trivy_never_writes_is_exit_3(
    tmp_path: Path, secret_report: Path, value: str | int
) -> None:
    # Before: any of these read as UNKNOWN, below every threshold but one: a pass.
    # ("UN\u212aNOWN" has a Kelvin sign, which Unicode case folding takes for K.)
    report = edited_report(secret_report, tmp_path / "edited.json", value)
    code, _, err = scangate(tmp_path, "check", report)
    assert code == 3
    line = one_line(err)
    assert f"{report}: Results[" in line
    assert "].Secrets[0]: secret github-pat in " in line
    assert "not one of Trivy's UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL" in line
    assert "not an unmodified Trivy report" in line


@pytest.mark.parametrize(("written", "read"), [("critical", "CRITICAL"), (None, "UNKNOWN")])
def test_lower_case_and_missing_severities(
    tmp_path: Path, secret_report: Path, written: str | None, read: str
) -> None:
    report = edited_report(secret_report, tmp_path / "edited.json", written)
    code, _, _ = scangate(tmp_path, "check", "--json", "out.json", "--all", report)
    assert code == 1
    assert read in {d[2] for d in decisions(tmp_path / "work")}
