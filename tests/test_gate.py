"""scangate.gate: the decision for every finding, the verdict, the allowlist report.

`evaluate` is a pure function of findings, a policy and a date: the findings here come from
the real Trivy (conftest's session reports) or the hand-written older reports, the policies
from real policy and ignore files, and the date is always given.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from scangate.findings import Finding, Kind, ScanRun, Severity
from scangate.gate import Decided, Decision, GateResult, Verdict, evaluate
from scangate.policy import Policy, load_ignore_file, load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import TrivyScanner
from tests.support import trivydb

DATA = Path(__file__).parent / "data" / "reports"
TODAY = date(2026, 3, 10)


def run_of(path: Path) -> ScanRun:
    return to_scan_run(load_report(path))


def policy(tmp_path: Path, text: str, today: date = TODAY) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(str(path), base_dir=tmp_path, today=today)


def decided(result: GateResult, id: str, target: str | None = None) -> Decided:
    found = [
        d
        for d in result.decided()
        if d.finding.id == id and (target is None or d.finding.target == target)
    ]
    assert len(found) == 1, (id, target, found)
    return found[0]


def decisions(result: GateResult) -> dict[tuple[str, str, str], Decision]:
    """(id, target, package or line) -> decision, for every finding."""
    out = {}
    for d in result.decided():
        f = d.finding
        detail = f.package or str(f.location.start_line if f.location else "")
        out[(f.id, f.target, detail)] = d.decision
    return out


def only(run: ScanRun, *ids: str) -> ScanRun:
    return ScanRun(run.artifact, [f for f in run.findings if f.id in ids])


# --- thresholds ---------------------------------------------------------------------------------


def test_per_kind_thresholds_in_one_run(
    tmp_path: Path, vuln_project_report: Path, config_repo_report: Path
) -> None:
    gate = policy(
        tmp_path,
        "fail-on:\n  vulnerability: CRITICAL\n  misconfiguration: HIGH\n"
        "  secret: none\n  license: none\n",
    )
    runs = [run_of(vuln_project_report), run_of(config_repo_report)]
    result = evaluate(runs, gate, TODAY)
    for d in result.decided():
        f = d.finding
        if f.kind is Kind.SECRET:
            assert d.decision is Decision.BELOW_THRESHOLD
            assert d.reason == "secret: fail-on none"
        elif f.kind is Kind.VULNERABILITY:
            expected = (
                Decision.FAIL if f.severity is Severity.CRITICAL else Decision.BELOW_THRESHOLD
            )
            assert d.decision is expected, f
        else:
            high = f.severity.rank >= Severity.HIGH.rank
            assert d.decision is (Decision.FAIL if high else Decision.BELOW_THRESHOLD), f
    assert result.verdict is Verdict.FAIL
    # PyYAML, urllib3, smallvec, lodash; DS-0002, KSV-0014, KSV-0017, KSV-0118.
    assert result.summary.failing_by_kind == {
        "vulnerability": 4,
        "misconfiguration": 4,
        "secret": 0,
        "license": 0,
    }
    reason = decided(result, trivydb.LODASH_CVE).reason
    assert reason == "CRITICAL vulnerability at or above fail-on CRITICAL"
    assert decided(result, trivydb.TIME_CVE).reason == "MEDIUM is below fail-on CRITICAL"


def test_none_everywhere_passes(tmp_path: Path, config_repo_report: Path) -> None:
    gate = policy(
        tmp_path,
        "fail-on:\n  vulnerability: none\n  misconfiguration: none\n  secret: none\n",
    )
    result = evaluate([run_of(config_repo_report)], gate, TODAY)
    assert result.verdict is Verdict.PASS
    assert result.summary.failing == 0
    assert {d.decision for d in result.decided()} == {Decision.BELOW_THRESHOLD}


def test_summary_counts_by_kind_and_severity(vuln_project_report: Path) -> None:
    result = evaluate(
        [run_of(vuln_project_report)], load_policy("default", base_dir=Path(), today=TODAY), TODAY
    )
    assert result.summary.total == 9
    assert result.summary.by_kind_severity["vulnerability"] == {
        "CRITICAL": 4,
        "HIGH": 3,
        "MEDIUM": 2,
        "LOW": 0,
        "UNKNOWN": 0,
    }
    assert result.summary.by_decision["fail"] == 6
    assert result.summary.by_decision["unfixed"] == 1
    assert result.summary.by_decision["below-threshold"] == 2


def test_several_runs_give_one_verdict(
    tmp_path: Path, vuln_project_report: Path, config_repo_report: Path
) -> None:
    gate = policy(tmp_path, "fail-on:\n  vulnerability: none\n")
    vuln_only = evaluate([run_of(vuln_project_report)], gate, TODAY)
    assert vuln_only.verdict is Verdict.PASS
    both = evaluate([run_of(vuln_project_report), run_of(config_repo_report)], gate, TODAY)
    assert both.verdict is Verdict.FAIL
    assert both.summary.total == len(run_of(vuln_project_report).findings) + len(
        run_of(config_repo_report).findings
    )
    assert [r.run.artifact.name for r in both.runs] == ["project", "repo"]


# --- ignore-unfixed -----------------------------------------------------------------------------


def test_unfixed_is_reported_never_failing(tmp_path: Path, vuln_project_report: Path) -> None:
    run = only(run_of(vuln_project_report), trivydb.ECDSA_CVE)  # HIGH, no fix
    result = evaluate([run], policy(tmp_path, "ignore-unfixed: true\n"), TODAY)
    d = decided(result, trivydb.ECDSA_CVE)
    assert d.decision is Decision.UNFIXED
    assert "no fixed version" in d.reason
    assert result.verdict is Verdict.PASS


def test_unfixed_fails_without_ignore_unfixed(tmp_path: Path, vuln_project_report: Path) -> None:
    run = only(run_of(vuln_project_report), trivydb.ECDSA_CVE)
    result = evaluate([run], policy(tmp_path, "ignore-unfixed: false\n"), TODAY)
    assert decided(result, trivydb.ECDSA_CVE).decision is Decision.FAIL
    assert result.verdict is Verdict.FAIL


def test_unfixed_below_threshold_stays_below_threshold(tmp_path: Path) -> None:
    run = only(run_of(DATA / "legacy-image-pkgref.json"), "CVE-2019-1010022")  # LOW, won't fix
    result = evaluate([run], policy(tmp_path, "ignore-unfixed: true\n"), TODAY)
    assert decided(result, "CVE-2019-1010022").decision is Decision.BELOW_THRESHOLD


# --- allow scope ----------------------------------------------------------------------------------


def test_allow_scoped_by_target_glob(tmp_path: Path) -> None:
    gate = policy(
        tmp_path,
        "fail-on:\n  vulnerability: MEDIUM\n"
        "allow:\n"
        "  - id: CVE-2018-18074\n    reason: only service code\n"
        "    targets: ['services/**/requirements.txt']\n"
        "  - id: CVE-2020-25032\n    reason: star does not cross slashes\n"
        "    targets: ['services/*.txt', '*/requirements.txt']\n",
    )
    result = evaluate([run_of(DATA / "current-fs-vuln.json")], gate, TODAY)
    requests = decided(result, "CVE-2018-18074")
    assert (requests.decision, requests.reason) == (Decision.ALLOWED, "only service code")
    assert requests.entry is not None and requests.entry.origin.endswith("policy.yaml allow[0]")
    assert decided(result, "CVE-2020-25032").decision is Decision.FAIL
    assert [s.entry.id for s in result.allowlist.unused] == ["CVE-2020-25032"]


def test_allow_scoped_by_package(tmp_path: Path, vuln_project_report: Path) -> None:
    gate = policy(
        tmp_path,
        "allow:\n"
        "  - id: CVE-2018-20060\n    reason: urllib3 is vendored\n    packages: [urllib3]\n"
        "  - id: CVE-2020-1747\n    reason: wrong package\n    packages: ['flask*']\n",
    )
    result = evaluate([run_of(vuln_project_report)], gate, TODAY)
    assert decided(result, "CVE-2018-20060").decision is Decision.ALLOWED
    assert decided(result, trivydb.PYYAML_CVE).decision is Decision.FAIL


@pytest.mark.parametrize("spelling", ["DS002", "AVD-DS-0002", "DS-0002", "ds002"])
def test_misconfig_allowed_by_any_id_spelling(
    tmp_path: Path, config_repo_report: Path, spelling: str
) -> None:
    gate = policy(tmp_path, f"allow:\n  - id: {spelling}\n    reason: root is required\n")
    runs = [run_of(config_repo_report), run_of(DATA / "legacy-fs-config.json")]
    result = evaluate(runs, gate, TODAY)
    # Trivy 0.76 writes DS-0002, Trivy 0.50 wrote DS002 (+ AVDID AVD-DS-0002): both allowed.
    assert decided(result, "DS-0002", "Dockerfile").decision is Decision.ALLOWED
    assert decided(result, "DS-0002", "build/Dockerfile").decision is Decision.ALLOWED
    assert result.allowlist.unused == []
    assert result.allowlist.expired == []


def test_findings_trivy_suppressed_are_allowed() -> None:
    result = evaluate(
        [run_of(DATA / "legacy-fs-config.json")],
        load_policy("default", base_dir=Path(), today=TODAY),
        TODAY,
    )
    d = decided(result, "DS-0005")
    assert d.decision is Decision.ALLOWED
    assert d.reason == "suppressed by Trivy: base image runs a health endpoint (.trivyignore.yaml)"
    assert result.summary.allowed == 1
    # Under require-expiry a suppression without an expiry is not honoured: this LOW
    # finding is then decided on its own (a failing one: test_cli_policy_hardening.py).
    strict = evaluate(
        [run_of(DATA / "legacy-fs-config.json")],
        load_policy("strict", base_dir=Path(), today=TODAY),
        TODAY,
    )
    assert decided(strict, "DS-0005").decision is Decision.BELOW_THRESHOLD
    assert strict.summary.allowed == 0


# --- expiry -------------------------------------------------------------------------------------

EXPIRES = date(2026, 4, 1)


def expiring_policy(tmp_path: Path, today: date) -> Policy:
    return policy(
        tmp_path,
        "allow-rules:\n  warn-days: 14\n"
        "allow:\n"
        f"  - id: {trivydb.LODASH_CVE}\n    reason: prototype pollution not reachable\n"
        f"    expires: {EXPIRES.isoformat()}\n    owner: web-team\n",
        today,
    )


def test_entry_suppresses_the_day_before_it_expires(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    day_before = EXPIRES - timedelta(days=1)
    result = evaluate(
        [run_of(vuln_project_report)], expiring_policy(tmp_path, day_before), day_before
    )
    d = decided(result, trivydb.LODASH_CVE)
    assert (d.decision, d.reason) == (Decision.ALLOWED, "prototype pollution not reachable")
    assert [(s.entry.id, s.days_left, s.matched) for s in result.allowlist.expiring] == [
        (trivydb.LODASH_CVE, 1, 1)
    ]
    assert result.allowlist.expired == []


def test_entry_stops_suppressing_on_its_expiry_day(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    result = evaluate([run_of(vuln_project_report)], expiring_policy(tmp_path, EXPIRES), EXPIRES)
    d = decided(result, trivydb.LODASH_CVE)
    assert d.decision is Decision.FAIL
    assert d.reason.startswith(f"allow entry expired {EXPIRES.isoformat()} (")
    assert "policy.yaml allow[0]" in d.reason
    assert d.reason.endswith("prototype pollution not reachable")
    assert d.entry is not None and d.entry.owner == "web-team"
    assert [(s.entry.id, s.days_left) for s in result.allowlist.expired] == [
        (trivydb.LODASH_CVE, 0)
    ]
    assert result.allowlist.expiring == []
    assert result.allowlist.unused == []  # it matched, it only expired


def test_expired_entry_on_a_finding_below_threshold_does_not_fail(tmp_path: Path) -> None:
    gate = policy(
        tmp_path,
        "allow:\n  - id: CVE-2020-25032\n    reason: r\n    expires: 2026-01-01\n",
    )
    result = evaluate([run_of(DATA / "current-fs-vuln.json")], gate, TODAY)  # Flask: MEDIUM
    assert decided(result, "CVE-2020-25032").decision is Decision.BELOW_THRESHOLD
    assert [s.entry.id for s in result.allowlist.expired] == ["CVE-2020-25032"]


@pytest.mark.parametrize(("days", "expiring"), [(1, True), (14, True), (15, False)])
def test_warn_days(tmp_path: Path, vuln_project_report: Path, days: int, expiring: bool) -> None:
    today = EXPIRES - timedelta(days=days)
    result = evaluate([run_of(vuln_project_report)], expiring_policy(tmp_path, today), today)
    assert bool(result.allowlist.expiring) is expiring
    assert decided(result, trivydb.LODASH_CVE).decision is Decision.ALLOWED


def test_unused_entries_are_listed(tmp_path: Path, vuln_project_report: Path) -> None:
    gate = policy(
        tmp_path,
        "allow:\n"
        "  - id: CVE-1999-0001\n    reason: long gone\n"
        f"  - id: {trivydb.PYYAML_CVE}\n    reason: used\n"
        f"  - id: {trivydb.REQUESTS_CVE}\n    reason: other file\n    targets: [Cargo.lock]\n",
    )
    result = evaluate([run_of(vuln_project_report)], gate, TODAY)
    assert [(s.entry.id, s.matched) for s in result.allowlist.unused] == [
        ("CVE-1999-0001", 0),
        (trivydb.REQUESTS_CVE, 0),
    ]


def test_evaluate_is_pure(tmp_path: Path, vuln_project_report: Path) -> None:
    run = run_of(vuln_project_report)
    gate = expiring_policy(tmp_path, TODAY)
    before = [(f.id, f.fingerprint) for f in run.findings]
    first = decisions(evaluate([run], gate, TODAY))
    assert decisions(evaluate([run], gate, TODAY)) == first
    assert [(f.id, f.fingerprint) for f in run.findings] == before
    # Only the date changes the outcome.
    assert decisions(evaluate([run], gate, EXPIRES)) != first


# --- ignore files agree with Trivy's own reading of them ---------------------------------------


def _trivy_suppressed(report: Path) -> set[tuple[str, str]]:
    return {
        (m["Finding"].get("VulnerabilityID") or m["Finding"].get("RuleID"), r["Target"])
        for r in json.loads(report.read_text()).get("Results") or []
        for m in r.get("ExperimentalModifiedFindings") or []
    }


def _scangate_allowed(run: ScanRun, ignore: Path) -> set[tuple[str, str]]:
    base = load_policy("default", base_dir=ignore.parent, today=date.today())
    gate = base.with_allow(load_ignore_file(ignore), str(ignore))
    result = evaluate([run], gate, date.today())
    return {
        (d.finding.id, d.finding.target) for d in result.decided() if d.decision is Decision.ALLOWED
    }


IGNORE_YAML = """\
vulnerabilities:
  - id: CVE-2020-25032          # purl, PyPI-normalised name: matches Flask_Cors
    purls: ["pkg:pypi/flask-cors@3.0.8"]
    statement: CORS is off in production
  - id: CVE-2020-1747           # purl of another version: no match
    purls: ["pkg:pypi/pyyaml@9.9.9"]
  - id: CVE-2020-26235          # purl without a version: any version
    purls: ["pkg:cargo/time"]
  - id: CVE-2019-10744          # expired long ago
    paths: ["*.json"]
    expired_at: 2000-01-01
  - id: CVE-2021-25900          # path, expires far ahead
    paths: ["Cargo.lock"]
    expired_at: 2999-01-01
  - id: CVE-2018-18074          # a path that is not this file
    paths: ["services/**"]
  - id: CVE-2018-20060          # ** matches no directory too
    paths: ["**/requirements.txt"]
"""

IGNORE_PLAIN = """\
# Medium only, fix scheduled.
CVE-2019-11236 exp:2999-01-01
CVE-2024-23342 exp:2000-01-01
CVE-2018-18074
"""


@pytest.mark.parametrize(
    ("name", "text"), [(".trivyignore.yaml", IGNORE_YAML), (".trivyignore", IGNORE_PLAIN)]
)
def test_ignore_files_allow_what_trivy_ignores(
    trivy_scan: TrivyScanner,
    vuln_project_report: Path,
    tmp_path: Path,
    name: str,
    text: str,
) -> None:
    ignore = tmp_path / name
    ignore.write_text(text)
    project = vuln_project_report.parent / "project"
    by_trivy = trivy_scan.fs(
        project, tmp_path / "r.json", extra=["--ignorefile", str(ignore), "--show-suppressed"]
    )
    suppressed = _trivy_suppressed(by_trivy)
    assert suppressed  # the comparison below is not vacuous
    assert _scangate_allowed(run_of(vuln_project_report), ignore) == suppressed


def test_secret_ignore_paths_agree_with_trivy(
    trivy_scan: TrivyScanner, config_repo_report: Path, tmp_path: Path
) -> None:
    ignore = tmp_path / ".trivyignore.yaml"
    ignore.write_text("secrets:\n  - id: github-pat\n    paths: ['app/**']\n")
    by_trivy = trivy_scan.fs(
        config_repo_report.parent / "repo",
        tmp_path / "r.json",
        scanners="secret",
        extra=["--ignorefile", str(ignore), "--show-suppressed"],
    )
    suppressed = _trivy_suppressed(by_trivy)
    assert suppressed == {("github-pat", "app/settings.py")}
    assert _scangate_allowed(run_of(config_repo_report), ignore) == suppressed


def test_finding_without_purl_is_not_limited_by_purls(tmp_path: Path) -> None:
    # Trivy's matchPURL: a finding with no package URL matches any purls constraint.
    ignore = tmp_path / ".trivyignore.yaml"
    ignore.write_text("vulnerabilities:\n  - id: CVE-2024-0001\n    purls: ['pkg:pypi/x@1']\n")
    run = ScanRun(
        run_of(DATA / "current-fs-vuln.json").artifact,
        [Finding(Kind.VULNERABILITY, "CVE-2024-0001", Severity.HIGH, "a", fixed_version="2")],
    )
    assert _scangate_allowed(run, ignore) == {("CVE-2024-0001", "a")}
