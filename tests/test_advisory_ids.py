"""Advisory IDs as Trivy reports them (issue 10): `GHSA-g98v-hv3f-hcfr` stays lower case in the
table, the JSON result and SARIF, while allow entries, baselines and fingerprints stay
case-blind, so those written when scangate upper-cased the ID keep matching.

The report comes from the real Trivy, offline, on a DB whose advisories have GHSA IDs: one
lower-case ID, and one ID spelled both ways (two packages), as a report merged from two
sources may have it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from scangate.cli import run
from scangate.findings import Finding, Kind, Severity, assign_fingerprints
from tests.conftest import TrivyScanner
from tests.support import trivydb
from tests.test_sarif import check as check_sarif

TODAY = "2026-03-10"
GHSA = "GHSA-g98v-hv3f-hcfr"  # requests < 2.20.0 in requirements.txt, HIGH
PAIR_LOWER = "GHSA-jfh8-c2jp-5v3q"  # urllib3 < 1.23 in requirements.txt, CRITICAL
PAIR_UPPER = PAIR_LOWER.upper()  # lodash < 4.17.12 in package-lock.json, CRITICAL
# The requests finding's fingerprint as scangate computed it before it kept the ID's case:
# sha256 of kind, the upper-cased ID, target and identity (package, package path).
OLD_FINGERPRINT = "22c0e182fe2883caeee6f2c353fad4d2"
# A baseline `scangate baseline create --report` wrote for this report before the change.
OLD_BASELINE = """\
{
  "schema": "scangate/baseline/v2",
  "findings": [
    {"fingerprint": "a6c26845cb2f0381f0723709eda0fda9", "kind": "vulnerability", \
"id": "GHSA-JFH8-C2JP-5V3Q", "target": "package-lock.json", "package": "lodash"},
    {"fingerprint": "22c0e182fe2883caeee6f2c353fad4d2", "kind": "vulnerability", \
"id": "GHSA-G98V-HV3F-HCFR", "target": "requirements.txt", "package": "requests"},
    {"fingerprint": "ba99cf06e2d2a5d2e909072d138cf444", "kind": "vulnerability", \
"id": "GHSA-JFH8-C2JP-5V3Q", "target": "requirements.txt", "package": "urllib3"}
  ]
}
"""


def old_fingerprint(kind: str, vuln_id: str, target: str, identity: str) -> str:
    """`assign_fingerprints` before issue 10, when the ID it hashed was upper-cased."""
    key = "\x1f".join((kind, vuln_id.upper(), target, identity))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@pytest.fixture(scope="module")
def ghsa_report(trivy_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ghsa")
    cache = base / "cache"
    trivydb.write_trivy_db(
        cache,
        [
            trivydb.Vulnerability(GHSA, "HIGH", "requests sends credentials on redirect"),
            trivydb.Vulnerability(PAIR_LOWER, "CRITICAL", "urllib3 advisory"),
            trivydb.Vulnerability(PAIR_UPPER, "CRITICAL", "lodash advisory"),
        ],
        [
            trivydb.LanguageAdvisory(GHSA, "pip", "requests", ("< 2.20.0",), ("2.20.0",)),
            trivydb.LanguageAdvisory(PAIR_LOWER, "pip", "urllib3", ("< 1.23",), ("1.23",)),
            trivydb.LanguageAdvisory(PAIR_UPPER, "npm", "lodash", ("< 4.17.12",), ("4.17.12",)),
        ],
    )
    project = trivydb.write_vulnerable_project(base / "project")
    report = TrivyScanner(trivy_bin, cache).fs(project, base / "report.json")
    ids = {
        v["VulnerabilityID"]
        for result in json.loads(report.read_text())["Results"]
        for v in result.get("Vulnerabilities") or ()
    }
    assert ids == {GHSA, PAIR_LOWER, PAIR_UPPER}  # Trivy keeps the DB's spelling
    return report


@dataclass(frozen=True)
class Checked:
    code: int
    table: str
    result: dict[str, Any]
    sarif: dict[str, Any]

    def finding(self, vuln_id: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = [f for f in self.result["findings"] if f["id"] == vuln_id]
        assert len(found) == 1, self.result["findings"]
        return found[0]


class Check(Protocol):
    def __call__(self, *args: str) -> Checked: ...


@pytest.fixture
def check(
    ghsa_report: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Check:
    """`check(*args)`: `scangate check REPORT --all ARGS` in tmp_path; the table, the JSON
    result and the SARIF log (validated against the SARIF 2.1.0 schema)."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> Checked:
        capsys.readouterr()
        argv = ["check", str(ghsa_report), "--all", "--today", TODAY]
        code = run([*argv, "--json", "result.json", "--sarif", "out.sarif", *args])
        captured = capsys.readouterr()
        assert code in (0, 1), captured.err
        table = captured.out
        result = json.loads((tmp_path / "result.json").read_text())
        sarif = check_sarif((tmp_path / "out.sarif").read_text())
        return Checked(code, table, result, sarif)

    return invoke


def test_table_json_and_sarif_keep_the_reported_spelling(check: Check) -> None:
    out = check()
    assert out.code == 1
    rows = {line.split()[1]: line for line in out.table.splitlines() if "GHSA-" in line}
    assert set(rows) == {GHSA, PAIR_LOWER, PAIR_UPPER}
    assert "requests" in rows[GHSA] and "urllib3" in rows[PAIR_LOWER]
    assert GHSA.upper() not in out.table
    assert {f["id"] for f in out.result["findings"]} == {GHSA, PAIR_LOWER, PAIR_UPPER}
    assert out.finding(GHSA)["package"] == "requests"

    (sarif_run,) = out.sarif["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    ghsa_rule = next(r for r in rules if r["id"] == GHSA)
    assert ghsa_rule["helpUri"] == f"https://github.com/advisories/{GHSA}"
    assert GHSA.upper() not in json.dumps(out.sarif)


def test_an_id_spelled_two_ways_is_one_sarif_rule_named_by_its_first_result(check: Check) -> None:
    out = check()
    (sarif_run,) = out.sarif["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert sorted(r["id"] for r in rules) == sorted([PAIR_UPPER, GHSA])
    results = sarif_run["results"]
    for result in results:
        assert result["ruleId"] == rules[result["ruleIndex"]]["id"]
    pair = [r for r in results if r["ruleId"].upper() == PAIR_UPPER]
    # lodash (package-lock.json) sorts before urllib3 (requirements.txt), so its spelling
    # names the rule; both results cite it, each with its own fingerprint.
    assert [r["ruleId"] for r in pair] == [PAIR_UPPER, PAIR_UPPER]
    assert len({r["partialFingerprints"]["scangate/v1"] for r in pair}) == 2
    # The JSON result still tells the two spellings apart: it is what Trivy reported.
    assert out.finding(PAIR_LOWER)["package"] == "urllib3"
    assert out.finding(PAIR_UPPER)["package"] == "lodash"


def test_fingerprints_are_the_ones_made_when_ids_were_upper_cased(check: Check) -> None:
    assert old_fingerprint("vulnerability", GHSA, "requirements.txt", "requests\x1f") == (
        OLD_FINGERPRINT
    )
    out = check()
    assert out.finding(GHSA)["fingerprint"] == OLD_FINGERPRINT
    for vuln_id, target, package in (
        (PAIR_LOWER, "requirements.txt", "urllib3"),
        (PAIR_UPPER, "package-lock.json", "lodash"),
    ):
        expected = old_fingerprint("vulnerability", vuln_id, target, f"{package}\x1f")
        assert out.finding(vuln_id)["fingerprint"] == expected
    fingerprints = {
        r["ruleId"]: r["partialFingerprints"]["scangate/v1"]
        for r in out.sarif["runs"][0]["results"]
    }
    assert fingerprints[GHSA] == OLD_FINGERPRINT


def test_only_vulnerability_ids_are_hashed_case_blind() -> None:
    # Other kinds are hashed as before too: a secret's rule id as Trivy writes it.
    findings = [
        Finding(Kind.VULNERABILITY, GHSA, Severity.HIGH, "t", identity="p\x1f"),
        Finding(Kind.VULNERABILITY, GHSA.upper(), Severity.HIGH, "t", identity="p\x1f"),
        Finding(Kind.SECRET, "github-pat", Severity.CRITICAL, "t", secret_digest="d"),
    ]
    assign_fingerprints(findings)
    first = old_fingerprint("vulnerability", GHSA, "t", "p\x1f")
    assert findings[0].fingerprint == first
    # One key for both spellings: the second is numbered, as two copies of one finding.
    key = "\x1f".join(("vulnerability", GHSA.upper(), "t", "p\x1f", "#1"))
    assert findings[1].fingerprint == hashlib.sha256(key.encode()).hexdigest()[:32]
    secret_key = "\x1f".join(("secret", "github-pat", "t", "value\x1fd"))
    assert findings[2].fingerprint == hashlib.sha256(secret_key.encode()).hexdigest()[:32]


def test_an_upper_case_allow_entry_still_matches(check: Check, tmp_path: Path) -> None:
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        f"allow:\n  - id: {GHSA.upper()}\n    reason: no redirects to other hosts\n"
        "    expires: 2026-06-01\n"
    )
    out = check("--policy", str(policy))
    allowed = out.finding(GHSA)
    assert (allowed["decision"], allowed["reason"]) == ("allowed", "no redirects to other hosts")
    assert out.result["allowlist"]["unused"] == []
    assert out.finding(PAIR_LOWER)["decision"] == "fail"


def test_a_baseline_written_with_upper_case_ids_still_matches(check: Check, tmp_path: Path) -> None:
    (tmp_path / "old-baseline.json").write_text(OLD_BASELINE)
    out = check("--baseline", "old-baseline.json")
    assert out.code == 0, out.table
    assert {f["id"]: f["decision"] for f in out.result["findings"]} == {
        GHSA: "known",
        PAIR_LOWER: "known",
        PAIR_UPPER: "known",
    }
    assert out.table.splitlines()[-1].startswith("PASS: 3 findings: 0 failing, 3 known")


def test_a_new_baseline_records_the_reported_spelling_and_matches(
    ghsa_report: Path, tmp_path: Path, check: Check
) -> None:
    path = tmp_path / "new-baseline.json"
    assert run(["baseline", "create", "--report", str(ghsa_report), "--output", str(path)]) == 0
    entries = json.loads(path.read_text())["findings"]
    # Same fingerprints as the old file; the IDs as the report spells them.
    assert {(e["id"], e["fingerprint"]) for e in entries} == {
        (GHSA, OLD_FINGERPRINT),
        (PAIR_LOWER, "ba99cf06e2d2a5d2e909072d138cf444"),
        (PAIR_UPPER, "a6c26845cb2f0381f0723709eda0fda9"),
    }
    out = check("--baseline", str(path))
    assert out.code == 0, out.table
