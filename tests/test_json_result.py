"""The JSON result's layout: indented at the top, one finding per line, whatever the findings
hold (each finding line is written from a template, see `formats.jsonresult`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from scangate.findings import KevEntry, Location, VexNote
from scangate.formats import jsonresult
from scangate.formats.escape import json_text
from scangate.gate import evaluate
from scangate.policy import load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.support.hostile import TEXT
from tests.support.scanning import clean_env, minimal_report, run_scangate

# Text that looks like the boundary between two findings, or like JSON structure.
LOOKALIKES = (
    '}, {"kind": "vulnerability"}',
    '"}, {"kind": ',
    '\\"}, {\\"kind\\": ',
    '{"kind": {"kind": [',
    "}, {",
    "\\",
    '"',
    TEXT,
)


def _report(path: Path) -> Path:
    vulns = [
        {
            "VulnerabilityID": f"CVE-2024-{1000 + n}",
            "PkgName": text,
            "InstalledVersion": text,
            "FixedVersion": "9.9",
            "Severity": "HIGH",
            "Title": text,
            "Description": text,
        }
        for n, text in enumerate(LOOKALIKES)
    ]
    target = 'lock{}.json"}}, {{"kind": '
    results = [{"Target": target.format(n), "Vulnerabilities": vulns} for n in (1, 2)]
    path.write_text(json.dumps(minimal_report(results=results)), encoding="utf-8")
    return path


def test_each_finding_is_one_line_whatever_its_text(tmp_path: Path) -> None:
    report = _report(tmp_path / "report.json")
    proc = run_scangate(
        ["check", report, "--format", "json"], cwd=tmp_path, env=clean_env(tmp_path)
    )
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    findings = document["findings"]
    assert len(findings) == 2 * len(LOOKALIKES)
    assert {f["title"] for f in findings} == set(LOOKALIKES)

    lines = proc.stdout.splitlines()
    start = lines.index('  "findings": [')
    end = lines.index("  ]", start)
    block = lines[start + 1 : end]
    # One line per finding, in order, each exactly as encoding that finding alone gives it.
    assert len(block) == len(findings)
    for n, (line, finding) in enumerate(zip(block, findings, strict=True)):
        last = n == len(findings) - 1
        alone = "    " + json_text(json.dumps(finding, ensure_ascii=False)) + ("" if last else ",")
        assert line == alone
    assert "##[" not in proc.stdout and "\x1b" not in proc.stdout


def test_finding_lines_are_the_encoders_text_for_every_field(tmp_path: Path) -> None:
    """`_finding_lines` writes each finding from a template: the text `json.dumps` gives for
    the finding's dict, whatever its fields hold (None, nested KEV and VEX, floats, hostile
    text, a lone surrogate)."""
    report = _report(tmp_path / "report.json")
    run = to_scan_run(load_report(report))
    first, second, third, fourth, fifth = run.findings[:5]
    first.kev = KevEntry(date(2024, 1, 2), None, True)
    first.epss, first.published = 0.94441, date(2023, 5, 6)
    second.kev = KevEntry(date(2024, 1, 2), date(2024, 2, 1), False)
    second.epss, second.location, second.title = 1e-05, None, "lone \ud800 surrogate"
    third.location = Location('a\u202eb/"c".json', 3, 7)
    third.package = third.purl = third.status = third.primary_url = None
    third.installed_version = third.fixed_version = None
    fourth.vex = VexNote("not_affected", TEXT, justification=TEXT, impact='"}, {"kind": ')
    fifth.epss, fifth.message, fifth.location = 0.0, TEXT, Location("x", 5)
    today = date(2026, 12, 1)
    result = evaluate([run], load_policy("default", base_dir=tmp_path, today=today), today)
    expected = [
        json.dumps(jsonresult._finding(d, r.run.artifact.name, {}), ensure_ascii=False)
        for r in result.runs
        for d in r.decided
    ]
    assert len(expected) == 2 * len(LOOKALIKES)
    assert jsonresult._finding_lines(result) == expected
