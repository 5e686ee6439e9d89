"""Issue 11 in every output: the KEV mark, the EPSS score, the published date and the `grace`
decision, in the table, the JSON result, the Markdown summary, SARIF, the workflow
annotations and the pull request comment.

The findings are the real Trivy's (conftest's session report of the vulnerable project, its
advisories dated in the test DB); KEV entries and EPSS scores are put on them as the feed
step does (`scangate.feeds.enrich`), with hostile text in the report where a test says so.
Runs through the CLI with real feed files are in tests/test_outputs_risk_cli.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from scangate.cli._pr_comment_step import comment_input
from scangate.findings import KevEntry, ScanRun
from scangate.formats.annotations import github_annotations
from scangate.formats.jsonresult import JsonFormat
from scangate.formats.markdown import MarkdownFormat
from scangate.formats.table import TableFormat
from scangate.formats.table_risk import MAX_NOTES
from scangate.gate import Decision, GateResult, evaluate
from scangate.policy import load_policy
from scangate.pr_comment_body import render as render_comment
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.support import hostile, rendered, trivydb
from tests.support.rendered import gfm_safe
from tests.support.table import groups
from tests.test_sarif import render as sarif_render

TODAY = date(2026, 3, 10)
LOG4J_LIKE = KevEntry(date(2021, 12, 10), date(2021, 12, 24), ransomware=True)
NO_DUE = KevEntry(date(2024, 2, 1), None, ransomware=False)
SGR = re.compile(r"\x1b\[[0-9;]*m")


def runs_of(report: Path) -> list[ScanRun]:
    return [to_scan_run(load_report(report))]


def mark(runs: list[ScanRun], kev: dict[str, KevEntry], epss: dict[str, float]) -> None:
    """What `feeds.enrich` does: each finding of a CVE gets its KEV entry and score."""
    for run in runs:
        for f in run.findings:
            f.kev = kev.get(f.id.upper())
            f.epss = epss.get(f.id.upper())


def gate(runs: list[ScanRun], policy: str = "default") -> GateResult:
    return evaluate(runs, load_policy(policy, base_dir=Path.cwd(), today=TODAY), TODAY)


GRACE_POLICY = "extends: default\ngrace-days: 3\n"


def with_grace(report: Path, tmp_path: Path, cve: str) -> GateResult:
    """The report with `cve` published the day before TODAY, marked as `marked` is, gated by
    the default policy plus `grace-days: 3`: `cve` is in its grace period."""
    raw = json.loads(report.read_text(encoding="utf-8"))
    for result in raw["Results"]:
        for vuln in result.get("Vulnerabilities") or ():
            if vuln["VulnerabilityID"] == cve:
                vuln["PublishedDate"] = "2026-03-09T08:00:00Z"
    edited = tmp_path / "report.json"
    edited.write_text(json.dumps(raw), encoding="utf-8")
    (tmp_path / "grace.yaml").write_text(GRACE_POLICY, encoding="utf-8")
    runs = runs_of(edited)
    mark(runs, MARKED_KEV, MARKED_EPSS)
    policy = load_policy(str(tmp_path / "grace.yaml"), base_dir=tmp_path, today=TODAY)
    result = evaluate(runs, policy, TODAY)
    assert {d.finding.id for d in result.decided() if d.decision is Decision.GRACE} == {cve}
    return result


MARKED_KEV = {trivydb.REQUESTS_CVE: LOG4J_LIKE, trivydb.ECDSA_CVE: NO_DUE}
MARKED_EPSS = {trivydb.REQUESTS_CVE: 0.94441, trivydb.PYYAML_CVE: 0.0123, trivydb.ECDSA_CVE: 0.0002}


@pytest.fixture
def marked(vuln_project_report: Path) -> GateResult:
    """The vulnerable project gated by the default policy: requests' CVE (HIGH, failing) in
    KEV with ransomware use and scored; PyYAML's (CRITICAL) scored; ecdsa's (unfixed) in KEV
    without a due date, its score under 0.001."""
    runs = runs_of(vuln_project_report)
    mark(runs, MARKED_KEV, MARKED_EPSS)
    return gate(runs)


# --- table -------------------------------------------------------------------------------------


def test_the_table_marks_kev_first_and_shows_epss(marked: GateResult) -> None:
    text = TableFormat().render(marked)
    (_, _, rows), *_ = groups(text)  # the group holding a KEV finding comes first
    header = text.split("\n")[1]
    assert header.split() == ["Severity", "ID", "KEV", "EPSS", "Package", "Installed", "->",
                              "fixed", "Decision"]  # fmt: skip
    # KEV first within the group, whatever the decision (ecdsa's is `unfixed`), then the rest
    # by decision and severity.
    assert [row[1] for row in rows[:2]] == [trivydb.REQUESTS_CVE, trivydb.ECDSA_CVE]
    assert rows[0][2:4] == ["KEV", "0.944"] and rows[0][-1] == "fail"
    assert rows[1][2:4] == ["KEV", "<0.001"] and rows[1][-1] == "unfixed"
    pyyaml = next(row for row in rows if row[1] == trivydb.PYYAML_CVE)
    assert pyyaml[2] == "0.012"  # no KEV mark: its cell is empty, the score follows
    assert "known exploited (CISA KEV): CVE-2018-18074: added 2021-12-10, due 2021-12-24, " \
        "known ransomware use" in text  # fmt: skip
    assert "known exploited (CISA KEV): CVE-2024-23342: added 2024-02-01\n" in text
    assert "EPSS: FIRST's probability that the CVE is exploited in the next 30 days" in text


def test_the_table_without_kev_or_epss_is_unchanged(vuln_project_report: Path) -> None:
    plain = TableFormat().render(gate(runs_of(vuln_project_report)))
    assert "KEV" not in plain and "EPSS" not in plain and "grace" not in plain


def test_kev_below_the_threshold_is_shown(vuln_project_report: Path) -> None:
    """`kev: report`: a known exploited finding is shown even where the policy's threshold
    hides its severity (the count of hidden findings leaves it out)."""
    runs = runs_of(vuln_project_report)
    before = TableFormat().render(gate(runs))
    mark(runs, {trivydb.URLLIB3_MEDIUM_CVE: NO_DUE}, {})
    result = gate(runs)
    decided = {d.finding.id: d.decision for d in result.decided()}
    assert decided[trivydb.URLLIB3_MEDIUM_CVE] is Decision.BELOW_THRESHOLD
    text = TableFormat().render(result)
    assert trivydb.URLLIB3_MEDIUM_CVE not in before
    row = next(r for _, _, rows in groups(text) for r in rows if trivydb.URLLIB3_MEDIUM_CVE in r)
    assert row[0] == "MEDIUM" and row[2] == "KEV" and row[-1] == "below-threshold"
    hidden = re.compile(r"(\d+) findings? below")
    before_n, after_n = (int(m[1]) for m in (hidden.search(before), hidden.search(text)) if m)
    assert after_n == before_n - 1


def test_the_table_fits_80_columns_and_colours_kev(marked: GateResult) -> None:
    text = TableFormat(width=80, color=True).render(marked)
    assert max(len(SGR.sub("", line)) for line in text.split("\n")) <= 80
    row = next(line for line in text.split("\n") if trivydb.REQUESTS_CVE in line)
    assert "\x1b[1;31mKEV\x1b[0m" in row
    # An EPSS score under the policy's fail-at (none here) is not coloured.
    assert "\x1b[31m0.944" not in row and " 0.944 " in SGR.sub("", row)
    whole = SGR.sub("", text)
    for cell in (trivydb.REQUESTS_CVE, "KEV", "0.944", "fail", "unfixed"):
        assert cell in whole


def test_epss_at_or_above_fail_at_is_coloured(marked: GateResult) -> None:
    marked.policy = replace(marked.policy, epss_fail_at=0.5)
    text = TableFormat(color=True).render(marked)
    lines = text.split("\n")
    assert "\x1b[31m0.944\x1b[0m" in next(line for line in lines if trivydb.REQUESTS_CVE in line)
    pyyaml = next(line for line in lines if trivydb.PYYAML_CVE in line)
    assert "0.012" in pyyaml and "\x1b[31m0.012" not in pyyaml


def test_grace_is_shown_coloured_counted_and_explained(
    vuln_project_report: Path, tmp_path: Path
) -> None:
    result = with_grace(vuln_project_report, tmp_path, trivydb.PYYAML_CVE)
    reason = next(d.reason for d in result.decided() if d.decision is Decision.GRACE)
    assert "2026-03-12" in reason  # the day it starts failing
    text = TableFormat(color=True).render(result)
    row = next(line for line in text.split("\n") if trivydb.PYYAML_CVE in line)
    assert row.endswith("\x1b[33mgrace\x1b[0m")
    plain = SGR.sub("", text)
    assert f"grace: {trivydb.PYYAML_CVE} in requirements.txt: {reason}" in plain
    verdict = plain.rstrip("\n").split("\n")[-1]
    assert ", 1 unfixed, 1 grace, " in verdict
    # Grace sorts right after the failing findings.
    (_, _, rows), *_ = groups(plain)
    decisions = [row[-1] for row in rows]
    assert decisions.index("grace") == max(i for i, d in enumerate(decisions) if d == "fail") + 1


# --- JSON --------------------------------------------------------------------------------------


def test_json_findings_carry_published_kev_and_epss(marked: GateResult) -> None:
    doc = json.loads(JsonFormat().render(marked))
    by_id = {f["id"]: f for f in doc["findings"]}
    requests = by_id[trivydb.REQUESTS_CVE]
    assert requests["kev"] == {"date_added": "2021-12-10", "due_date": "2021-12-24",
                               "ransomware": True}  # fmt: skip
    assert requests["epss"] == 0.94441
    assert by_id[trivydb.ECDSA_CVE]["kev"] == {"date_added": "2024-02-01", "due_date": None,
                                               "ransomware": False}  # fmt: skip
    pyyaml = by_id[trivydb.PYYAML_CVE]
    assert pyyaml["kev"] is None and pyyaml["epss"] == 0.0123
    for f in doc["findings"]:
        assert set(f) >= {"published", "kev", "epss"}
        assert f["published"] is None or date.fromisoformat(f["published"])
    for d in marked.decided():
        day = d.finding.published
        assert by_id[d.finding.id]["published"] == (day.isoformat() if day else None)


def test_json_published_is_the_reports_date(vuln_project_report: Path) -> None:
    raw = json.loads(vuln_project_report.read_text())
    given = {
        v["VulnerabilityID"]: v["PublishedDate"][:10]
        for r in raw["Results"]
        for v in r.get("Vulnerabilities") or ()
        if v.get("PublishedDate")
    }
    doc = json.loads(JsonFormat().render(gate(runs_of(vuln_project_report))))
    shown = {f["id"]: f["published"] for f in doc["findings"] if f["kind"] == "vulnerability"}
    if not given:
        pytest.skip("the test DB's advisories carry no PublishedDate yet")
    assert {k: v for k, v in shown.items() if k in given} == given


def test_json_without_feeds_has_nulls(vuln_project_report: Path) -> None:
    doc = json.loads(JsonFormat().render(gate(runs_of(vuln_project_report))))
    assert doc["findings"]
    assert all(f["kev"] is None and f["epss"] is None for f in doc["findings"])
    assert doc["summary"]["by_decision"].get("grace", 0) == 0


def test_json_counts_grace(vuln_project_report: Path, tmp_path: Path) -> None:
    result = with_grace(vuln_project_report, tmp_path, trivydb.PYYAML_CVE)
    doc = json.loads(JsonFormat().render(result))
    assert doc["summary"]["by_decision"]["grace"] == 1
    assert {f["decision"] for f in doc["findings"] if f["id"] == trivydb.PYYAML_CVE} == {"grace"}


# --- Markdown ----------------------------------------------------------------------------------


def test_markdown_known_exploited_comes_first(marked: GateResult) -> None:
    text = MarkdownFormat().render(marked)
    page = rendered.assert_summary_safe(text)
    headings = re.findall(r"^### (.*)$", text, flags=re.M)
    assert headings[0] == "Known exploited (2)" and headings[1].startswith("Failing findings")
    kev = page.tables[1]
    assert kev[0] == ["Severity", "ID", "Where", "Added to KEV", "Due", "Ransomware", "EPSS",
                      "Decision"]  # fmt: skip
    assert kev[1] == ["HIGH", trivydb.REQUESTS_CVE, "requests (requirements.txt:1)", "2021-12-10",
                      "2021-12-24", "Known", "0.944", "fail"]  # fmt: skip
    assert kev[2][1] == trivydb.ECDSA_CVE and kev[2][4:8] == ["", "Unknown", "<0.001", "unfixed"]
    failing = page.tables[2]
    assert failing[0][5] == "KEV / EPSS"
    risk = {row[2]: row[5] for row in failing[1:]}
    assert risk[trivydb.REQUESTS_CVE] == "KEV, EPSS 0.944"
    assert risk[trivydb.PYYAML_CVE] == "EPSS 0.012"
    assert set(risk.values()) >= {""}  # the rest: no KEV, no score
    assert failing[1][2] == trivydb.REQUESTS_CVE  # KEV first


def test_markdown_without_kev_or_epss_is_unchanged(vuln_project_report: Path) -> None:
    text = MarkdownFormat().render(gate(runs_of(vuln_project_report)))
    assert "Known exploited" not in text and "KEV" not in text and "EPSS" not in text
    assert "| Severity | Kind | ID | Where | Installed -> fixed | Why it fails |" in text


def test_markdown_counts_grace(vuln_project_report: Path, tmp_path: Path) -> None:
    result = with_grace(vuln_project_report, tmp_path, trivydb.PYYAML_CVE)
    verdict = MarkdownFormat().render(result).split("\n")[2]
    assert verdict.startswith("**5 failing** (5 vulnerabilities) of 9 findings; ")
    assert "; 2 below-threshold, 1 unfixed, 1 grace. Policy: " in verdict


def hostile_runs_in_kev(report: Path, tmp_path: Path) -> list[ScanRun]:
    """The report with hostile text in every field, each finding in KEV with EPSS 0.5."""
    runs = runs_of(hostile.edit_report(report, tmp_path / "hostile.json", size=300))
    for f in runs[0].findings:
        f.kev, f.epss = LOG4J_LIKE, 0.5
    return runs


def test_markdown_hostile_report_text_in_the_kev_section(
    vuln_project_report: Path, tmp_path: Path
) -> None:
    runs = hostile_runs_in_kev(vuln_project_report, tmp_path)
    text = MarkdownFormat().render(gate(runs))
    page = rendered.assert_summary_safe(text)
    assert text.split("\n### ")[1].startswith("Known exploited (")
    for raw in ("\x1b", "\u202e", "\x00", "\x85", "](http"):
        assert raw not in text
    assert len(page.tables[1]) > 1


# --- annotations -------------------------------------------------------------------------------


def test_annotations_name_kev_and_epss(vuln_project_report: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(vuln_project_report.parent)
    runs = runs_of(vuln_project_report)
    mark(runs, {trivydb.REQUESTS_CVE: LOG4J_LIKE}, {trivydb.REQUESTS_CVE: 0.94441})
    lines = github_annotations(gate(runs), source_root=vuln_project_report.parent / "project")
    first = lines[0]  # KEV first, whatever the severity (PyYAML's CRITICAL comes after)
    assert first.startswith("::error file=requirements.txt,")
    assert f"title=HIGH vulnerability {trivydb.REQUESTS_CVE} (known exploited%2C KEV)::" in first
    assert first.split("::", 2)[2].startswith(
        "Known exploited (CISA KEV: added 2021-12-10, due 2021-12-24, known ransomware use); "
        "EPSS 0.944. requests 2.19.0: fixed in 2.20.0. "
    )
    others = [line for line in lines[1:] if trivydb.PYYAML_CVE in line]
    assert others and "KEV" not in others[0]


# --- pull request comment ----------------------------------------------------------------------


def test_the_pr_comment_marks_kev_first_and_counts_grace(
    vuln_project_report: Path, tmp_path: Path
) -> None:
    result = with_grace(vuln_project_report, tmp_path, trivydb.FLASK_CORS_CVE)
    body = render_comment(comment_input(result), "scangate/fs/.")
    page = rendered.render(body)
    gfm_safe(body)
    rows = page.tables[0][1:]
    # KEV first, before the CRITICAL findings; the score after the ID.
    assert rows[0][:2] == ["HIGH", f"{trivydb.REQUESTS_CVE} (KEV, EPSS 0.944)"]
    assert {row[1] for row in rows} >= {f"{trivydb.PYYAML_CVE} (EPSS 0.012)"}
    assert rows[1][0] == "CRITICAL"
    assert "1 grace" in body.split("\n")[4]


def test_the_pr_comment_without_kev_or_epss_is_unchanged(vuln_project_report: Path) -> None:
    body = render_comment(comment_input(gate(runs_of(vuln_project_report))), "scangate/fs/.")
    assert "KEV" not in body and "EPSS" not in body
    ids = [row[1] for row in rendered.render(body).tables[0][1:]]
    assert all(re.fullmatch(r"CVE-\d+-\d+", i) for i in ids)


# --- SARIF -------------------------------------------------------------------------------------


def test_sarif_rules_tag_kev_and_carry_epss(marked: GateResult, vuln_project_report: Path) -> None:
    root = vuln_project_report.parent / "project"
    doc, text, _ = sarif_render(marked, source_root=root)  # valid SARIF 2.1.0
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    requests = rules[trivydb.REQUESTS_CVE]["properties"]
    assert requests["tags"] == ["security", "vulnerability", "HIGH", "kev"]
    assert requests["epss"] == 0.94441
    assert rules[trivydb.ECDSA_CVE]["properties"]["tags"][-1] == "kev"
    pyyaml = rules[trivydb.PYYAML_CVE]["properties"]
    assert "kev" not in pyyaml["tags"] and pyyaml["epss"] == 0.0123
    plain = rules[trivydb.FLASK_CORS_CVE]["properties"]
    assert "kev" not in plain["tags"] and "epss" not in plain
    # Every line is the JSON encoder's own text for its object.
    for line in (s.strip().removesuffix(",") for s in text.splitlines()):
        if line.startswith('{"id"'):
            assert json.dumps(json.loads(line), separators=(",", ":")) == line


def test_sarif_without_kev_or_epss_is_byte_identical(
    vuln_project_report: Path, tmp_path: Path
) -> None:
    """Feeds that name none of the report's CVEs leave the log as it was without them."""
    root = vuln_project_report.parent / "project"
    runs = runs_of(vuln_project_report)
    before = sarif_render(gate(runs), source_root=root)[1]
    mark(runs, {"CVE-1999-0001": LOG4J_LIKE}, {"CVE-1999-0001": 0.5})
    assert all(f.kev is None and f.epss is None for f in runs[0].findings)
    assert sarif_render(gate(runs), source_root=root)[1] == before
    assert '"kev"' not in before and '"epss"' not in before


# --- hostile text and caps ---------------------------------------------------------------------


def test_the_table_escapes_report_text_beside_kev_and_epss(
    vuln_project_report: Path, tmp_path: Path
) -> None:
    runs = hostile_runs_in_kev(vuln_project_report, tmp_path)
    result = gate(runs)
    for text in (TableFormat().render(result), TableFormat(width=80, color=True).render(result)):
        plain = SGR.sub("", text)
        for raw in hostile.LOG_MARKERS:
            assert raw not in plain
        assert "known exploited (CISA KEV): " in plain
    assert max(len(SGR.sub("", line)) for line in text.split("\n")) <= 80


def test_kev_and_grace_notes_are_capped(vuln_project_report: Path) -> None:
    runs = runs_of(vuln_project_report)
    template = runs[0].findings[0]
    runs[0].findings = [
        replace(template, id=f"CVE-2026-{1000 + n}", kev=NO_DUE, fingerprint=f"{n:032x}")
        for n in range(MAX_NOTES + 3)
    ]
    text = TableFormat().render(gate(runs))
    notes = [line for line in text.split("\n") if line.startswith("known exploited (CISA KEV)")]
    assert len(notes) == MAX_NOTES + 1
    assert notes[-1] == "known exploited (CISA KEV): 3 more (--format json lists them)"
