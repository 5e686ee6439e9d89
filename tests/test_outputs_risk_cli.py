"""Issue 11's outputs end to end: `scangate check` (the real console script) on the real
Trivy's report of the vulnerable project, with a KEV catalog and an EPSS file in the
publishers' formats (`tests.support.feeds`) and a policy that uses them and grace-days,
writing every output at once: the table, the JSON result, SARIF, the Markdown summary and,
under GitHub Actions, the workflow annotations; and the pull request comment, posted to
GitHub's API played by a loopback server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import feeds, github_server, rendered, scanning, trivydb
from tests.support.table import groups
from tests.test_pr_comment_cli import VULN_REPORT, check, gh_env, posted
from tests.test_sarif import check as check_sarif

TODAY = "2026-03-10"
POLICY = """\
extends: default
kev: report
epss:
  fail-at: 0.5
grace-days: 3
"""
RECENT = trivydb.FLASK_CORS_CVE  # published the day before TODAY: in its grace period
SCORES = {trivydb.REQUESTS_CVE: 0.94441, trivydb.PYYAML_CVE: 0.0123, trivydb.ECDSA_CVE: 0.0002,
          trivydb.URLLIB3_MEDIUM_CVE: 0.7}  # fmt: skip


@pytest.fixture
def outputs(vuln_project_report: Path, tmp_path: Path) -> dict[str, Any]:
    """One run writing every output: {"code", "stdout", "stderr", "json", "sarif", "md"}."""
    raw = json.loads(vuln_project_report.read_text(encoding="utf-8"))
    for result in raw["Results"]:
        for vuln in result.get("Vulnerabilities") or ():
            if vuln["VulnerabilityID"] == RECENT:
                vuln["PublishedDate"] = "2026-03-09T08:00:00Z"
    (tmp_path / "report.json").write_text(json.dumps(raw), encoding="utf-8")
    (tmp_path / "gate.yaml").write_text(POLICY, encoding="utf-8")
    kev = [
        feeds.kev_vulnerability(trivydb.REQUESTS_CVE, added="2021-12-10", due="2021-12-24",
                                ransomware="Known", text="<b>x</b>\n::error::forged"),
        feeds.kev_vulnerability(trivydb.ECDSA_CVE, added="2024-02-01", due=""),
    ]  # fmt: skip
    (tmp_path / "kev.json").write_bytes(feeds.kev_catalog(kev))
    rows = ((cve, score, 0.5) for cve, score in SCORES.items())
    (tmp_path / "epss.csv.gz").write_bytes(feeds.epss_csv(rows))
    env = scanning.clean_env(tmp_path, {"GITHUB_ACTIONS": "true"})
    proc = scanning.run_scangate(
        ["check", "report.json", "-p", "gate.yaml", "--today", TODAY, "--kev-file", "kev.json",
         "--epss-file", "epss.csv.gz", "--json", "out.json", "--sarif", "out.sarif",
         "--markdown", "out.md"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    return {
        "code": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "json": json.loads((tmp_path / "out.json").read_text(encoding="utf-8")),
        "sarif": check_sarif((tmp_path / "out.sarif").read_text(encoding="utf-8")),
        "md": (tmp_path / "out.md").read_text(encoding="utf-8"),
    }


def test_the_json_result_carries_kev_epss_published_and_grace(outputs: dict[str, Any]) -> None:
    assert outputs["code"] == 1, outputs["stderr"]
    doc = outputs["json"]
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id[trivydb.REQUESTS_CVE]["kev"] == {
        "date_added": "2021-12-10", "due_date": "2021-12-24", "ransomware": True,
    }  # fmt: skip
    assert by_id[trivydb.REQUESTS_CVE]["epss"] == 0.94441
    assert by_id[trivydb.ECDSA_CVE]["kev"]["due_date"] is None
    assert by_id[trivydb.PYYAML_CVE]["kev"] is None and by_id[trivydb.PYYAML_CVE]["epss"] == 0.0123
    assert by_id[trivydb.TIME_CVE]["epss"] is None  # not in the EPSS file
    # Trivy's PublishedDate from the test DB; the edited one for RECENT.
    assert by_id[trivydb.REQUESTS_CVE]["published"] == "2018-10-09"
    assert by_id[RECENT]["published"] == "2026-03-09"
    assert by_id[RECENT]["decision"] == "grace" and "2026-03-12" in by_id[RECENT]["reason"]
    # EPSS at or above fail-at fails a MEDIUM finding below the severity threshold.
    assert by_id[trivydb.URLLIB3_MEDIUM_CVE]["decision"] == "fail"
    assert doc["summary"]["by_decision"]["grace"] == 1


def test_the_table_marks_kev_first_and_counts_grace(outputs: dict[str, Any]) -> None:
    table = outputs["stdout"]
    (target, _, rows), *_ = groups(table)
    assert target == "requirements.txt"
    assert rows[0][1:4] == [trivydb.REQUESTS_CVE, "KEV", "0.944"]
    assert any(row[1] == RECENT and row[-1] == "grace" for row in rows)
    assert "known exploited (CISA KEV): CVE-2018-18074: added 2021-12-10, due 2021-12-24, " \
        "known ransomware use" in table  # fmt: skip
    verdict = next(line for line in table.split("\n") if line.startswith("FAIL: "))
    assert ", 1 grace, " in verdict
    # The catalog's free text is never shown: only its typed fields are read.
    assert "forged" not in table and "<b>" not in outputs["md"]


def test_sarif_tags_kev_and_carries_epss(outputs: dict[str, Any]) -> None:
    rules = {r["id"]: r for r in outputs["sarif"]["runs"][0]["tool"]["driver"]["rules"]}
    assert "kev" in rules[trivydb.REQUESTS_CVE]["properties"]["tags"]
    assert rules[trivydb.REQUESTS_CVE]["properties"]["epss"] == 0.94441
    assert "kev" not in rules[trivydb.PYYAML_CVE]["properties"]["tags"]
    assert "epss" not in rules[trivydb.TIME_CVE]["properties"]
    results = outputs["sarif"]["runs"][0]["results"]
    assert any(r["properties"]["decision"] == "grace" for r in results)


def test_markdown_has_known_exploited_first(outputs: dict[str, Any]) -> None:
    md = outputs["md"]
    page = rendered.assert_summary_safe(md)
    assert re.findall(r"^### (.*)$", md, flags=re.M)[0] == "Known exploited (2)"
    assert page.tables[1][1][:2] == ["HIGH", trivydb.REQUESTS_CVE]
    assert "1 grace" in md.split("\n")[2]


def test_annotations_mark_kev(outputs: dict[str, Any]) -> None:
    errors = [
        line
        for line in (outputs["stdout"] + outputs["stderr"]).splitlines()
        if line.startswith("::error ")
    ]
    assert errors[0].startswith("::error file=project/requirements.txt,")
    assert (
        f"title=HIGH vulnerability {trivydb.REQUESTS_CVE} (known exploited%2C KEV)::" in (errors[0])
    )
    assert "::Known exploited (CISA KEV: added 2021-12-10, due 2021-12-24, known ransomware " \
        "use); EPSS 0.944. requests 2.19.0" in errors[0]  # fmt: skip


def test_a_finding_in_its_grace_period_is_a_warning_annotation(outputs: dict[str, Any]) -> None:
    warnings = [
        line
        for line in (outputs["stdout"] + outputs["stderr"]).splitlines()
        if line.startswith("::warning ")
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("::warning file=project/requirements.txt,")
    assert f"title=HIGH vulnerability {RECENT}::In its grace period: " in warnings[0]
    assert "2026-03-12" in warnings[0]


def test_the_pull_request_comment_marks_kev(tmp_path: Path) -> None:
    """`--pr-comment` through the CLI, GitHub's API played by the loopback server: the
    posted body marks the KEV finding and shows its score."""
    kev = [feeds.kev_vulnerability(trivydb.REQUESTS_CVE, ransomware="Known")]
    (tmp_path / "kev.json").write_bytes(feeds.kev_catalog(kev))
    (tmp_path / "epss.csv.gz").write_bytes(feeds.epss_csv([(trivydb.REQUESTS_CVE, 0.944, 0.99)]))
    (tmp_path / "gate.yaml").write_text(POLICY, encoding="utf-8")
    with github_server.serve() as api:
        env = gh_env(tmp_path, api)
        proc = check(
            tmp_path, env, "--pr-comment", "always", "-p", tmp_path / "gate.yaml",
            "--kev-file", tmp_path / "kev.json", "--epss-file", tmp_path / "epss.csv.gz",
            report=VULN_REPORT,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        (body,) = posted(api)
    row = next(line for line in body.splitlines() if "CVE\\-2018\\-18074" in line)
    assert "| CVE\\-2018\\-18074 (KEV, EPSS 0\\.944) |" in row
