"""The table as a person sees it: `scangate check` run on a real pseudo-terminal at 80 and 200
columns, and piped, compared with screenshots-as-text (tests/data/terminal/*.txt, colour
codes taken out), with colour on the terminal only, as `--color`, `SCANGATE_COLOR`,
`NO_COLOR` and `FORCE_COLOR` decide.

The report has what makes a table hard to fit: a target path longer than a terminal, long
package names and titles, wide (CJK) characters, hostile text (a newline and workflow
commands, terminal escapes, a bidi override) in a target, an ID and a package, several
kinds in one target, every severity and every decision.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.support import feeds, scanning, terminal

DATA = Path(__file__).parent / "data" / "terminal"
TODAY = "2026-06-01"
LONG_PATH = "deploy/environments/production/eu-west-1/kubernetes/manifests/payments/deployment.yaml"
HOSTILE_TARGET = "up\n::add-mask::leaked\x1b]0;pwned\x07\u202etxt.exe"
LONG_PACKAGE = "a-very-long-package-name-from-a-registry-that-allows-long-names-really"
WIDE_PACKAGE = "日本語のパッケージ名"
LONG_TITLE = "A flaw in the handling of crafted input lets a remote attacker run code. " * 4
POLICY = """\
fail-on:
  vulnerability: HIGH
  misconfiguration: HIGH
  secret: LOW
allow:
  - id: CVE-2023-45803
    reason: only reachable through the retry path, which we do not use
    expires: 2026-12-31
"""
# scangate's own colour codes; nothing else may start an escape sequence.
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _vuln(vid: str, severity: str, package: str, installed: str, fixed: str) -> dict[str, Any]:
    return {
        "VulnerabilityID": vid,
        "PkgName": package,
        "InstalledVersion": installed,
        "FixedVersion": fixed,
        "Status": "fixed" if fixed else "affected",
        "Severity": severity,
        "Title": LONG_TITLE,
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
    }


def _misconfig(check: str, severity: str, start: int, end: int) -> dict[str, Any]:
    return {
        "ID": check,
        "Title": LONG_TITLE,
        "Message": LONG_TITLE,
        "Severity": severity,
        "Status": "FAIL",
        "CauseMetadata": {"StartLine": start, "EndLine": end},
    }


def _secret(rule: str, severity: str, line: int) -> dict[str, Any]:
    return {
        "RuleID": rule,
        "Category": "GitHub",
        "Severity": severity,
        "Title": LONG_TITLE,
        "StartLine": line,
        "EndLine": line,
        "Match": "GITHUB_TOKEN = ****",
    }


def write_report(path: Path) -> Path:
    """A Trivy filesystem report (schema 2) shaped as `trivy fs` writes it."""
    results = [
        {
            "Target": "services/payments/requirements.txt",
            "Class": "lang-pkgs",
            "Type": "pip",
            "Vulnerabilities": [
                _vuln("CVE-2023-32681", "HIGH", "requests", "2.19.0", "2.31.0"),
                _vuln("GHSA-j8r2-6x86-q33q", "CRITICAL", LONG_PACKAGE, "1.0.0", "1.0.1, 2.0.4"),
                _vuln("CVE-2024-23342", "HIGH", "ecdsa", "0.18.0", ""),
                _vuln("CVE-2023-45803", "HIGH", "urllib3", "1.26.5", "1.26.18"),
                _vuln("CVE-2023-43804", "MEDIUM", "urllib3", "1.26.5", "1.26.17"),
                _vuln("CVE-2020-26137", "LOW", "urllib3", "1.26.5", "1.26.6"),
                _vuln("CVE-2019-99999", "UNKNOWN", "six", "1.0", ""),
            ],
        },
        {
            "Target": LONG_PATH,
            "Class": "config",
            "Type": "kubernetes",
            "Misconfigurations": [
                _misconfig("KSV-0014", "HIGH", 16, 19),
                _misconfig("KSV-0001", "MEDIUM", 16, 19),
            ],
        },
        {"Target": LONG_PATH, "Class": "secret", "Secrets": [_secret("github-pat", "HIGH", 7)]},
        {
            "Target": "web/package-lock.json",
            "Class": "lang-pkgs",
            "Type": "npm",
            "Vulnerabilities": [
                _vuln("CVE-2021-23337", "CRITICAL", WIDE_PACKAGE, "4.17.11", "4.17.21"),
            ],
        },
        {
            "Target": HOSTILE_TARGET,
            "Class": "secret",
            "Secrets": [_secret("x\x1b[2J##[error]rule", "CRITICAL", 1)],
        },
    ]
    report = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "ArtifactName": ".",
        "ArtifactType": "filesystem",
        "Results": results,
    }
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory holding the report and the policy (named relative, so the screens do not
    hold a temp path)."""
    write_report(tmp_path / "report.json")
    (tmp_path / "gate.yaml").write_text(POLICY, encoding="utf-8")
    return tmp_path


ARGS = ["check", "report.json", "-p", "gate.yaml", "--today", TODAY]


def on_a_tty(
    workdir: Path, columns: int, args: list[str] = ARGS, extra: dict[str, str] | None = None
) -> tuple[int, str]:
    """(exit code, what the terminal got as text, with its newlines)."""
    env = scanning.clean_env(workdir, extra)
    code, _, received = terminal.run_on_a_tty(
        args, cwd=workdir, env=env, stream="stdout", columns=columns
    )
    return code, received.decode("utf-8").replace("\r\n", "\n")


def piped(workdir: Path, args: list[str] = ARGS, extra: dict[str, str] | None = None) -> str:
    env = scanning.clean_env(workdir, extra)
    done = subprocess.run(
        [str(scanning.SCANGATE), *args], cwd=workdir, env=env, capture_output=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    return done.stdout.decode("utf-8")


def screen(text: str) -> str:
    """The text a terminal shows: scangate's colour codes taken out, and nothing else left
    that a terminal would act on."""
    plain = SGR.sub("", text)
    for raw in ("\x1b", "\x07", "\u202e", "##["):
        assert raw not in plain, (raw, plain)
    return plain


def width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def expected(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def verdict_of(text: str) -> str:
    """The verdict, joined back from the lines it was wrapped into."""
    lines = text.rstrip("\n").split("\n")
    start = max(i for i, line in enumerate(lines) if line.startswith(("PASS: ", "FAIL: ")))
    return " ".join(line.strip() for line in lines[start:])


# --- screenshots ------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 200])
def test_the_table_on_a_terminal_matches_its_screenshot(workdir: Path, columns: int) -> None:
    code, tty = on_a_tty(workdir, columns)
    assert code == 1
    shown = screen(tty)
    assert shown == expected(f"check-{columns}.txt")
    assert max(map(width, shown.splitlines())) <= columns
    assert SGR.search(tty)  # a terminal gets colour


def test_piped_the_table_is_full_width_complete_and_without_colour(workdir: Path) -> None:
    out = piped(workdir)
    assert out == expected("check-piped.txt")
    assert "\x1b" not in out and "…" not in out
    assert max(map(width, out.splitlines())) > 80
    assert LONG_PATH in out and LONG_PACKAGE in out
    assert out.rstrip("\n").split("\n")[-1].startswith("FAIL: ")  # one verdict line


def test_at_80_columns_nothing_is_cut_that_must_stay_whole(workdir: Path) -> None:
    """IDs, severities, decisions and the verdict are whole; long paths and packages give way."""
    _, tty = on_a_tty(workdir, 80)
    shown = screen(tty)
    out = piped(workdir)
    assert verdict_of(shown) == verdict_of(out)
    for whole in ("GHSA-j8r2-6x86-q33q", "CVE-2023-32681", "CRITICAL", "unfixed", "allowed"):
        assert whole in shown
    assert LONG_PATH not in shown and "…" in shown
    heading = "…t-1/kubernetes/manifests/payments/deployment.yaml: 1 misconfiguration, 1 secret"
    assert heading in shown.split("\n")  # a path keeps its end, the file name


def test_hostile_text_is_shortened_after_it_is_escaped(workdir: Path) -> None:
    """The cut falls in the visible escapes, never in a raw sequence: at 40 columns the ID
    (20 columns at least) is cut, at 80 it is whole."""
    seen = {}
    for columns in (40, 80):
        _, tty = on_a_tty(workdir, columns)
        seen[columns] = screen(tty)  # no raw escape, BEL, bidi override or `##[`
        assert max(map(width, seen[columns].splitlines())) <= columns
    assert "CRITICAL  x\\x1b[2J#\\x23[error…  fail" in seen[40]
    assert "CRITICAL  x\\x1b[2J#\\x23[error]rule  line 1    fail" in seen[80]
    assert seen[40].startswith("…\\x1b]0;pwned\\x07\\u202etxt.exe: 1 secret\n")


# --- colour -----------------------------------------------------------------------------------


def colours(text: str) -> set[str]:
    return set(SGR.findall(text))


def test_colours_mark_severities_decisions_and_the_verdict(workdir: Path) -> None:
    _, tty = on_a_tty(workdir, 200)
    lines = tty.split("\n")
    row = next(line for line in lines if "CVE-2023-32681" in line)
    assert row.startswith("\x1b[31mHIGH\x1b[0m ") and row.endswith("\x1b[31mfail\x1b[0m")
    critical = next(line for line in lines if "GHSA-j8r2-6x86-q33q" in line)
    assert critical.startswith("\x1b[1;31mCRITICAL\x1b[0m")
    assert next(line for line in lines if "CVE-2023-45803" in line).endswith(
        "\x1b[32mallowed\x1b[0m"
    )
    assert next(line for line in lines if "CVE-2024-23342" in line).endswith(
        "\x1b[33munfixed\x1b[0m"
    )
    assert next(line for line in lines if line.startswith("\x1b[1;31mFAIL: "))
    # Codes wrap whole cells: the untrusted text between them is escaped as without colour.
    assert screen(tty) == expected("check-200.txt")


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        pytest.param([], {}, True, id="auto"),
        pytest.param(["--color", "never"], {}, False, id="never"),
        pytest.param([], {"SCANGATE_COLOR": "never"}, False, id="SCANGATE_COLOR-never"),
        pytest.param([], {"NO_COLOR": "1"}, False, id="NO_COLOR"),
        pytest.param([], {"NO_COLOR": ""}, True, id="NO_COLOR-empty"),
        pytest.param([], {"TERM": "dumb"}, False, id="TERM-dumb"),
        pytest.param([], {"GITHUB_ACTIONS": "true"}, False, id="GITHUB_ACTIONS"),
        pytest.param([], {"TERM": "dumb", "FORCE_COLOR": "1"}, True, id="FORCE_COLOR"),
        pytest.param([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, id="NO_COLOR-beats-FORCE"),
        pytest.param(["--color", "always"], {"NO_COLOR": "1"}, True, id="always-beats-NO_COLOR"),
        pytest.param(["--color", "never"], {"FORCE_COLOR": "1"}, False, id="never-beats-FORCE"),
    ],
)
def test_colour_on_a_terminal(
    workdir: Path, args: list[str], env: dict[str, str], coloured: bool
) -> None:
    _, tty = on_a_tty(workdir, 200, [*ARGS, *args], env)
    assert bool(colours(tty)) is coloured
    assert screen(tty).replace("::stop-commands::", "").count("FAIL: ") == 1


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        pytest.param([], {}, False, id="auto"),
        pytest.param([], {"FORCE_COLOR": "1"}, True, id="FORCE_COLOR"),
        pytest.param([], {"FORCE_COLOR": "0"}, False, id="FORCE_COLOR-0"),
        pytest.param([], {"GITHUB_ACTIONS": "true"}, False, id="GITHUB_ACTIONS"),
        pytest.param([], {"GITHUB_ACTIONS": "true", "FORCE_COLOR": "1"}, True, id="CI-forced"),
        pytest.param([], {"SCANGATE_COLOR": "always"}, True, id="SCANGATE_COLOR-always"),
        pytest.param(["--color", "always"], {}, True, id="always"),
    ],
)
def test_colour_in_a_pipe(
    workdir: Path, args: list[str], env: dict[str, str], coloured: bool
) -> None:
    out = piped(workdir, [*ARGS, *args], env)
    assert bool(colours(out)) is coloured
    # Colour or not, a pipe gets every line in full.
    assert f"{LONG_PATH}: 1 misconfiguration, 1 secret" in SGR.sub("", out).split("\n")


def test_quiet_prints_the_verdict_coloured_and_wrapped_on_a_terminal(workdir: Path) -> None:
    _, tty = on_a_tty(workdir, 60, [*ARGS, "-q"])
    lines = tty.rstrip("\n").split("\n")
    assert len(lines) > 1 and all(line.startswith("\x1b[1;31m") for line in lines)
    assert max(width(SGR.sub("", line)) for line in lines) <= 60
    assert verdict_of(screen(tty)) == piped(workdir, [*ARGS, "-q"]).rstrip("\n")


def test_a_bad_color_value_is_a_usage_error(workdir: Path) -> None:
    env = scanning.clean_env(workdir, {"SCANGATE_COLOR": "sometimes"})
    done = subprocess.run(
        [str(scanning.SCANGATE), *ARGS], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "sometimes" in done.stderr


# --- KEV, EPSS and grace (issue 11) ------------------------------------------------------------

RISK_POLICY = f"""{POLICY}kev: report
epss:
  fail-at: 0.5
grace-days: 3
"""
# CVE-2023-32681 is in KEV (ransomware use known) and CVE-2024-23342 too (no due date);
# CVE-2023-43804 (MEDIUM, below fail-on HIGH) fails by its EPSS score; the GHSA advisory,
# published two days before TODAY, is in its grace period.
KEV_ENTRIES = {
    "CVE-2023-32681": ("2023-06-05", "2023-06-26", "Known"),
    "CVE-2024-23342": ("2024-02-01", "", "Unknown"),
}
EPSS_SCORES = {"CVE-2023-32681": 0.94441, "CVE-2023-43804": 0.61, "CVE-2021-23337": 0.0123,
               "CVE-2024-23342": 0.00012}  # fmt: skip
PUBLISHED = {
    "GHSA-j8r2-6x86-q33q": "2026-05-30T10:00:00Z",
    "CVE-2023-32681": "2023-05-26T18:15:00Z",
}


def write_feeds(directory: Path) -> None:
    """A KEV catalog and an EPSS file in the publishers' shapes, dated today by the clock
    (`--max-feed-age` measures a feed's age from the real date, `--today` is the gate's)."""
    vulns = [
        feeds.kev_vulnerability(cve, added=added, due=due, ransomware=ransomware)
        for cve, (added, due, ransomware) in KEV_ENTRIES.items()
    ]
    (directory / "kev.json").write_bytes(feeds.kev_catalog(vulns))
    scores = ((cve, score, 0.5) for cve, score in EPSS_SCORES.items())
    (directory / "epss.csv.gz").write_bytes(feeds.epss_csv(scores))


@pytest.fixture
def risk_workdir(workdir: Path) -> Path:
    """The report of `workdir` with published dates, the feeds and a policy using them."""
    report = json.loads((workdir / "report.json").read_text(encoding="utf-8"))
    for result in report["Results"]:
        for vuln in result.get("Vulnerabilities") or ():
            if vuln["VulnerabilityID"] in PUBLISHED:
                vuln["PublishedDate"] = PUBLISHED[vuln["VulnerabilityID"]]
    (workdir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (workdir / "gate.yaml").write_text(RISK_POLICY, encoding="utf-8")
    write_feeds(workdir)
    return workdir


RISK_ARGS = [*ARGS, "--kev-file", "kev.json", "--epss-file", "epss.csv.gz"]


def test_kev_epss_and_grace_on_a_terminal_match_their_screenshot(risk_workdir: Path) -> None:
    code, tty = on_a_tty(risk_workdir, 80, RISK_ARGS)
    assert code == 1
    shown = screen(tty)
    assert shown == expected("check-kev-80.txt")
    assert max(map(width, shown.splitlines())) <= 80
    out = piped(risk_workdir, RISK_ARGS)
    assert out == expected("check-kev-piped.txt")
    assert verdict_of(shown) == verdict_of(out)
    # IDs, the KEV mark, scores and decisions stay whole at 80 columns.
    for whole in (r"CVE-2023-32681 +KEV +0\.944 ", r"CVE-2023-43804 +0\.610 ", r" grace\n"):
        assert re.search(whole, shown), whole


def test_kev_epss_and_grace_colours(risk_workdir: Path) -> None:
    _, tty = on_a_tty(risk_workdir, 200, RISK_ARGS)
    lines = tty.split("\n")
    kev = next(line for line in lines if "CVE-2023-32681" in line)
    assert "\x1b[1;31mKEV\x1b[0m" in kev  # as loud as CRITICAL, on a HIGH finding
    assert "\x1b[31m0.944\x1b[0m" in kev  # at or above the policy's fail-at
    low = next(line for line in lines if "CVE-2021-23337" in line)
    assert "0.012" in low and "\x1b[31m0.012" not in low  # under fail-at: not coloured
    grace = next(line for line in lines if "GHSA-j8r2-6x86-q33q" in line)
    assert grace.endswith("\x1b[33mgrace\x1b[0m")


# --- plurals ----------------------------------------------------------------------------------


def test_counts_are_plural_only_when_more_than_one(tmp_path: Path) -> None:
    report = {
        "SchemaVersion": 2,
        "ArtifactName": ".",
        "ArtifactType": "filesystem",
        "Results": [
            {"Target": "a.py", "Class": "secret", "Secrets": [_secret("github-pat", "HIGH", 2)]},
            {
                "Target": "requirements.txt",
                "Class": "lang-pkgs",
                "Type": "pip",
                "Vulnerabilities": [_vuln("CVE-2023-43804", "MEDIUM", "urllib3", "1.0", "1.1")],
            },
        ],
    }
    (tmp_path / "r.json").write_text(json.dumps(report), encoding="utf-8")
    policy = "allow:\n  - id: CVE-0000-0001\n    reason: r\n    expires: 2026-06-02\n"
    (tmp_path / "p.yaml").write_text(policy, encoding="utf-8")
    out = piped(tmp_path, ["check", "r.json", "-p", "p.yaml", "--today", TODAY])
    assert out.split("\n")[0] == "a.py: 1 secret"
    assert "1 finding below its fail-on threshold not shown (--all lists it)" in out
    assert "warning: allow entry expires in 1 day: CVE-0000-0001" in out
    assert "FAIL: 2 findings: 1 failing (1 secret), 0 allowed" in out
    assert not re.search(r"\b1 (findings|secrets|vulnerabilities|days|targets)\b", out)


def test_the_screenshots_are_readable_text() -> None:
    """Expected screens hold escapes as visible text only, so a reviewer reads them as is."""
    screens = sorted(DATA.glob("*.txt"))
    assert len(screens) == 5
    for path in screens:
        text = path.read_text(encoding="utf-8")
        assert all(c.isprintable() or c == "\n" for c in text), path


@pytest.mark.parametrize(
    "command",
    [["check"], ["scan", "fs"], ["scan", "image"], ["hook", "pre-push"], ["hook", "pre-commit"]],
)
def test_every_command_that_prints_the_table_takes_color(command: list[str]) -> None:
    done = subprocess.run(
        [str(scanning.SCANGATE), *command, "--help"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "--color" in done.stdout and "SCANGATE_COLOR" in done.stdout
