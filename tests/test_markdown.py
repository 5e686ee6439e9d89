"""scangate.formats.markdown: the step summary a person reads on GitHub.

Findings come from the real Trivy (conftest's session reports) and, where a test needs odd
text in a cell, from hand-made findings gated by the real policy code.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from scangate.findings import Artifact, Finding, Kind, Location, ScanRun, Severity
from scangate.formats.markdown import MarkdownFormat, cell
from scangate.gate import GateResult, evaluate
from scangate.policy import load_policy
from scangate.trivy_report import load_report, to_scan_run
from tests.conftest import make_fake_github_token
from tests.support import trivydb

TODAY = date(2026, 3, 10)


def gate(*reports: Path, policy: str = "default", base_dir: Path | None = None) -> GateResult:
    runs = [to_scan_run(load_report(p)) for p in reports]
    return evaluate(runs, load_policy(policy, base_dir=base_dir or Path.cwd(), today=TODAY), TODAY)


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the table under `heading`, split into cells."""
    lines = text.splitlines()
    start = lines.index(heading) + 2
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_summary_of_real_scans(vuln_project_report: Path, config_repo_report: Path) -> None:
    result = gate(vuln_project_report, config_repo_report)
    text = MarkdownFormat().render(result)
    s = result.summary
    assert text.startswith("## scangate: FAIL :x:\n")
    assert f"**{s.failing} failing**" in text and f"of {s.total} findings" in text
    # Counts per kind and severity, as the gate counted them.
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Kind |"))
    by_kind = {
        row[0]: row
        for row in ([c.strip() for c in line.strip("|").split("|")] for line in lines[header + 2 :])
        if row[0] in {k.value for k in Kind}
    }
    vuln = by_kind["vulnerability"]
    assert vuln[1:6] == [
        str(s.by_kind_severity["vulnerability"][sev])
        for sev in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
    ]
    assert vuln[7] == str(s.failing_by_kind["vulnerability"])
    assert by_kind["secret"][1] == "3"  # three copies of the token, CRITICAL
    # The failing findings, most severe first.
    failing = table_rows(text, f"### Failing findings ({s.failing})")
    assert len(failing) == s.failing
    assert failing[0][0] == "CRITICAL"
    assert [row[2] for row in failing].count("github-pat") == 3
    assert "app/settings.py:3" in {row[3] for row in failing}
    assert any(row[2] == trivydb.PYYAML_CVE and row[4] == "5.3 -> 5.3.1" for row in failing)
    assert make_fake_github_token() not in text


def test_failing_table_is_capped(vuln_project_report: Path, config_repo_report: Path) -> None:
    result = gate(vuln_project_report, config_repo_report)
    text = MarkdownFormat(max_rows=3).render(result)
    assert len(table_rows(text, f"### Failing findings ({result.summary.failing})")) == 3
    assert f"... and {result.summary.failing - 3} more failing findings." in text


def test_cells_escape_pipes_backticks_and_html() -> None:
    assert cell("a|b `c` <script>\nnext -> x") == "a\\|b \\`c\\` &lt;script> next -> x"
    finding = Finding(
        kind=Kind.MISCONFIGURATION,
        id="X-1|`2`",
        severity=Severity.HIGH,
        target="deploy/a|b.yaml",
        message="m",
        location=Location("deploy/a|b.yaml", 4),
        fingerprint="f" * 32,
    )
    run = ScanRun(Artifact(name=".", type="filesystem"), [finding])
    result = evaluate([run], load_policy("default", base_dir=Path.cwd(), today=TODAY), TODAY)
    text = MarkdownFormat().render(result)
    (row,) = [line for line in text.splitlines() if line.startswith("| HIGH |")]
    assert "X-1\\|\\`2\\`" in row and "deploy/a\\|b.yaml:4" in row
    # Escaped pipes keep the row at six cells.
    assert len(row.replace("\\|", "").strip("|").split("|")) == 6


def test_passing_result_and_allowlist_warnings(vuln_project_report: Path, tmp_path: Path) -> None:
    soon = (TODAY + timedelta(days=5)).isoformat()
    past = (TODAY - timedelta(days=1)).isoformat()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        "fail-on:\n  vulnerability: CRITICAL\n"
        "allow:\n"
        f"  - id: {trivydb.PYYAML_CVE}\n    reason: 'loader | `safe_load` only'\n"
        f"    expires: {soon}\n"
        f"  - id: {trivydb.URLLIB3_CRITICAL_CVE}\n    reason: pinned by a vendor\n"
        f"    expires: {past}\n"
        "  - id: CVE-2000-0001\n    reason: gone long ago\n"
        f"  - id: {trivydb.SMALLVEC_CVE}\n    reason: not built\n"
        f"  - id: {trivydb.LODASH_CVE}\n    reason: test only\n"
    )
    result = gate(vuln_project_report, policy=str(policy), base_dir=tmp_path)
    text = MarkdownFormat().render(result)
    assert "### Allow-list warnings" in text
    assert f"- :warning: expired: `{trivydb.URLLIB3_CRITICAL_CVE}" in text
    assert f"- :hourglass: expires in 5 days: `{trivydb.PYYAML_CVE}" in text
    assert "loader \\| \\`safe_load\\` only" in text
    assert "- unused (matched nothing): `CVE-2000-0001" in text
    # The expired entry no longer allows its CRITICAL finding: it fails.
    assert text.startswith("## scangate: FAIL :x:")
    assert "allow entry expired" in text

    policy.write_text(policy.read_text().replace(f"    expires: {past}\n", ""))
    passed = gate(vuln_project_report, policy=str(policy), base_dir=tmp_path)
    text = MarkdownFormat().render(passed)
    assert text.startswith("## scangate: PASS :white_check_mark:")
    assert "### Failing findings" not in text
    assert "**0 failing** of" in text
