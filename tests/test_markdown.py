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
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import make_fake_github_token
from tests.support import hostile, rendered, trivydb

TODAY = date(2026, 3, 10)


def gate(*reports: Path, policy: str = "default", base_dir: Path | None = None) -> GateResult:
    runs = [to_scan_run(load_report(p)) for p in reports]
    return evaluate(runs, load_policy(policy, base_dir=base_dir or Path.cwd(), today=TODAY), TODAY)


def failing_rows(text: str) -> list[list[str]]:
    """The rows of the failing-findings table (the second table), as a reader sees them."""
    return rendered.render(text).tables[1][1:]


def test_summary_of_real_scans(vuln_project_report: Path, config_repo_report: Path) -> None:
    result = gate(vuln_project_report, config_repo_report)
    text = MarkdownFormat().render(result)
    s = result.summary
    assert text.startswith("## scangate: FAIL :x:\n")
    assert f"**{s.failing} failing**" in text and f"of {s.total} findings" in text
    # Counts per kind and severity, as the gate counted them.
    by_kind = {row[0]: row for row in rendered.render(text).tables[0][1:]}
    assert set(by_kind) == {k.value for k in Kind}
    vuln = by_kind["vulnerability"]
    assert vuln[1:6] == [
        str(s.by_kind_severity["vulnerability"][sev])
        for sev in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
    ]
    assert vuln[7] == str(s.failing_by_kind["vulnerability"])
    assert by_kind["secret"][1] == "3"  # three copies of the token, CRITICAL
    # The failing findings, most severe first.
    assert f"### Failing findings ({s.failing})" in text
    failing = failing_rows(text)
    assert len(failing) == s.failing
    assert failing[0][0] == "CRITICAL"
    assert [row[2] for row in failing].count("github-pat") == 3
    # Two artifacts gated together: each "Where" names its own.
    assert "app/settings.py:3 [repo]" in {row[3] for row in failing}
    assert any(row[2] == trivydb.PYYAML_CVE and row[4] == "5.3 -> 5.3.1" for row in failing)
    assert make_fake_github_token() not in text


def test_failing_table_is_capped(vuln_project_report: Path, config_repo_report: Path) -> None:
    result = gate(vuln_project_report, config_repo_report)
    text = MarkdownFormat(max_rows=3).render(result)
    assert len(failing_rows(text)) == 3
    assert f"... and {result.summary.failing - 3} more failing findings." in text


def test_cells_escape_pipes_backticks_and_html() -> None:
    assert rendered.render(cell("a|b `c` <script>\nnext -> x")).plain_text().strip() == (
        "a|b `c` <script>\\nnext -> x"
    )
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
    # Escaped pipes keep the row at six cells.
    (row,) = failing_rows(text)
    assert row[:4] == ["HIGH", "misconfiguration", "X-1|`2`", "deploy/a|b.yaml:4"]
    assert len(row) == 6


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
    shown = rendered.render(text).plain_text()
    assert f":warning: expired: {trivydb.URLLIB3_CRITICAL_CVE}" in shown
    assert f":hourglass: expires in 5 days: {trivydb.PYYAML_CVE}" in shown
    assert "loader | `safe_load` only" in shown
    assert "unused (matched nothing): CVE-2000-0001" in shown
    # The expired entry no longer allows its CRITICAL finding: it fails.
    assert text.startswith("## scangate: FAIL :x:")
    assert "allow entry expired" in text

    policy.write_text(policy.read_text().replace(f"    expires: {past}\n", ""))
    passed = gate(vuln_project_report, policy=str(policy), base_dir=tmp_path)
    text = MarkdownFormat().render(passed)
    assert text.startswith("## scangate: PASS :white_check_mark:")
    assert "### Failing findings" not in text
    assert "**0 failing** of" in text


# --- untrusted text ----------------------------------------------------------------------------


def test_hostile_report_values_are_text_in_the_summary(
    tmp_path: Path, vuln_project_report: Path, config_repo_report: Path
) -> None:
    """Real reports with hostile text where an advisory DB or a tree would put it: no link,
    image, emphasis, HTML, entity, mention or autolink; each value shown as written."""
    result = gate(
        hostile.edit_report(vuln_project_report, tmp_path / "v.json"),
        hostile.edit_report(config_repo_report, tmp_path / "c.json"),
    )
    text = MarkdownFormat().render(result)
    page = rendered.assert_summary_safe(text)
    rows = failing_rows(text)
    assert len(rows) == result.summary.failing
    for row in rows:
        assert len(row) == 6
        shown = row[2].lower()  # vulnerability IDs are upper-cased
        assert "::add-mask::leaked" in shown and "\\x1b]0;pwned title\\x07" in shown
        assert "](http://evil.example) ![img](http://evil.example/" in shown
        # Capped at 250 characters of the value (escapes make the shown text longer).
        assert row[2].endswith("...") and len(row[2]) < 4 * 250
    assert "<img src=x onerror=alert(1)>" not in text
    assert "](http://evil.example) ![img](http://evil.example/" in page.plain_text()


def _finding(n: int, size: int) -> Finding:
    big = f"{n} " + "](http://evil.example) <b>@x</b> " * (size // 32)
    return Finding(
        kind=Kind.VULNERABILITY,
        id=f"CVE-2024-{n} {big}",
        severity=Severity.CRITICAL,
        target=f"lock-{n} {big}",
        package=f"pkg {big}",
        installed_version=f"1.0 {big}",
        fixed_version=f"2.0 {big}",
        location=Location(f"lock-{n} {big}", 1),
        fingerprint=f"{n:032x}",
    )


def test_megabyte_fields_keep_the_summary_under_githubs_limit() -> None:
    """GitHub drops a step summary over 1 MiB: 1 MB fields are cut per cell."""
    run = ScanRun(Artifact(name=".", type="filesystem"), [_finding(n, 1 << 20) for n in range(60)])
    result = evaluate([run], load_policy("default", base_dir=Path.cwd(), today=TODAY), TODAY)
    text = MarkdownFormat().render(result)
    assert len(text.encode()) < 900 * 1024
    rows = failing_rows(text)
    assert len(rows) == 50
    assert all(len(cell) <= 250 for row in rows for cell in row)
    assert rows[0][2].endswith("...")
    assert "... and 10 more failing findings." in text
    rendered.assert_summary_safe(text)


def test_the_whole_summary_is_capped_cutting_whole_rows_and_saying_so(tmp_path: Path) -> None:
    run = ScanRun(Artifact(name=".", type="filesystem"), [_finding(n, 400) for n in range(5000)])
    policy = tmp_path / "policy.yaml"
    # Unused allow entries, as many as a policy file under scangate's 1 MiB cap holds.
    entries = "".join(
        f"  - id: CVE-1999-{n}\n    reason: '{'long reason ' * 20}'\n" for n in range(3000)
    )
    policy.write_text(f"version: 1\nallow:\n{entries}")
    pol = load_policy(str(policy), base_dir=tmp_path, today=TODAY)
    result = evaluate([run], pol, TODAY)
    text = MarkdownFormat(max_rows=10_000).render(result)
    size = len(text.encode())
    assert 800 * 1024 < size <= 900 * 1024
    rows = failing_rows(text)
    assert 100 < len(rows) < 5000
    more = 5000 - len(rows)
    assert f"... and {more} more failing findings (cut to keep this summary under 900 KiB" in text
    # The rows ran out of room first: every allow-list warning is cut, and that is said.
    assert "### Allow-list warnings" in text
    assert "- ... and 3000 more (cut to keep this summary under 900 KiB" in text
    rendered.assert_summary_safe(text)
