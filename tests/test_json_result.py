"""The JSON result's layout: indented at the top, one finding per line, whatever the findings
hold (the findings are encoded in one call and split into lines after, see
`formats.jsonresult`)."""

from __future__ import annotations

import json
from pathlib import Path

from scangate.formats.escape import json_text
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
