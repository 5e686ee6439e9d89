"""The policy's time and risk rules in the gate (`scangate.gate_risk`): grace-days,
unfixed-max-days, kev and epss, and their precedence.

Findings come from the real Trivy with the offline DB, whose advisories carry published dates
(`tests.support.trivydb`); the KEV and EPSS facts are put on them as the feed step does
before the gate runs; policies are real files; the date is always given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from scangate.baseline import from_runs
from scangate.findings import KevEntry, ScanRun
from scangate.gate import Decision, GateResult, Verdict, evaluate
from scangate.policy import Policy, load_policy
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import TrivyScanner
from tests.support import trivydb

# ECDSA_CVE: HIGH, unfixed, published 2024-01-23; every other advisory is years older.
ECDSA = trivydb.ECDSA_CVE
REQUESTS = trivydb.REQUESTS_CVE  # HIGH, fixed, published 2018-10-09
TIME = trivydb.TIME_CVE  # MEDIUM, fixed, 2020-11-24
KEV = KevEntry(date(2024, 2, 1), date(2024, 2, 22), ransomware=True)


def run_of(path: Path) -> ScanRun:
    return to_scan_run(load_report(path))


def policy(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(str(path), base_dir=tmp_path, today=date(2024, 1, 1))


def with_facts(run: ScanRun, **by_id: Mapping[str, Any]) -> ScanRun:
    """The run with KEV/EPSS facts set on the findings of the given IDs (as the feed step)."""
    return ScanRun(run.artifact, [replace(f, **by_id.get(f.id, {})) for f in run.findings])


def decided(result: GateResult, vid: str) -> tuple[Decision, str]:
    (d,) = [d for d in result.decided() if d.finding.id == vid]
    return d.decision, d.reason


def test_published_dates_come_from_the_report(vuln_project_report: Path) -> None:
    published = {f.id: f.published for f in run_of(vuln_project_report).findings}
    assert published[ECDSA] == date(2024, 1, 23)
    assert published[REQUESTS] == date(2018, 10, 9)
    assert published[trivydb.LODASH_CVE] == date(2019, 7, 26)


# --- grace-days -----------------------------------------------------------------------------


def test_grace_reports_a_new_advisory_and_names_the_day_it_fails(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    gate = policy(tmp_path, "ignore-unfixed: false\ngrace-days: 7\n")
    run = run_of(vuln_project_report)
    # Published two days before: graced until 2024-01-30.
    result = evaluate([run], gate, date(2024, 1, 25))
    assert decided(result, ECDSA) == (
        Decision.GRACE,
        "published 2024-01-23, within grace-days 7: fails from 2024-01-30",
    )
    assert decided(result, REQUESTS)[0] is Decision.FAIL  # years old: no grace
    assert result.summary.by_decision["grace"] == 1
    # The last day of grace, then the day it fails.
    assert decided(evaluate([run], gate, date(2024, 1, 29)), ECDSA)[0] is Decision.GRACE
    assert decided(evaluate([run], gate, date(2024, 1, 30)), ECDSA)[0] is Decision.FAIL


def test_grace_per_severity_and_below_threshold_first(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    run = run_of(vuln_project_report)
    gate = policy(tmp_path, "ignore-unfixed: false\ngrace-days: {CRITICAL: 0, HIGH: 3}\n")
    assert decided(evaluate([run], gate, date(2024, 1, 25)), ECDSA)[0] is Decision.GRACE
    gate = policy(tmp_path, "ignore-unfixed: false\ngrace-days: {CRITICAL: 30}\n")
    assert decided(evaluate([run], gate, date(2024, 1, 25)), ECDSA)[0] is Decision.FAIL
    # Below the threshold stays below the threshold: grace is only for what would fail.
    gate = policy(
        tmp_path, "ignore-unfixed: false\ngrace-days: 7\nfail-on: {vulnerability: CRITICAL}\n"
    )
    assert decided(evaluate([run], gate, date(2024, 1, 25)), ECDSA)[0] is (Decision.BELOW_THRESHOLD)


def test_no_published_date_no_grace_and_unfixed_limit_fails_closed(
    tmp_path: Path, trivy_bin: Path
) -> None:
    """A DB whose advisories carry no PublishedDate: nothing can show the finding is new
    (no grace) or young enough (unfixed-max-days fails it)."""
    vulns = [
        replace(v, published=None)
        for v in trivydb.DEFAULT_VULNERABILITIES
        if v.id in (REQUESTS, ECDSA)
    ]
    advisories = [
        a for a in trivydb.DEFAULT_LANG_ADVISORIES if a.vulnerability_id in (REQUESTS, ECDSA)
    ]
    cache = tmp_path / "cache"
    trivydb.write_trivy_db(cache, vulns, advisories)
    project = trivydb.write_vulnerable_project(tmp_path / "project")
    report = TrivyScanner(trivy_bin, cache).fs(project, tmp_path / "report.json")
    run = run_of(report)
    assert {f.id: f.published for f in run.findings} == {REQUESTS: None, ECDSA: None}
    gate = policy(tmp_path, "grace-days: 365\nunfixed-max-days: {HIGH: 90}\n")
    result = evaluate([run], gate, date(2024, 1, 25))
    assert decided(result, REQUESTS) == (
        Decision.FAIL,
        "HIGH vulnerability at or above fail-on HIGH",
    )
    assert decided(result, ECDSA) == (
        Decision.FAIL,
        "unfixed, and no published date to measure unfixed-max-days 90 against",
    )


# --- unfixed-max-days -----------------------------------------------------------------------


def test_unfixed_fails_once_older_than_its_limit(tmp_path: Path, vuln_project_report: Path) -> None:
    run = run_of(vuln_project_report)
    gate = policy(tmp_path, "ignore-unfixed: true\nunfixed-max-days: {CRITICAL: 30, HIGH: 90}\n")
    # 2024-01-23 + 90 days = 2024-04-22: still protected that day, failing the next.
    assert decided(evaluate([run], gate, date(2024, 4, 22)), ECDSA) == (
        Decision.UNFIXED,
        "no fixed version yet (ignore-unfixed)",
    )
    result = evaluate([run], gate, date(2024, 4, 23))
    assert decided(result, ECDSA) == (Decision.FAIL, "unfixed for 91 days (limit 90)")
    # A limit of 0: the day after publication, one day.
    zero = policy(tmp_path, "ignore-unfixed: true\nunfixed-max-days: {HIGH: 0}\n")
    result = evaluate([run], zero, date(2024, 1, 24))
    assert decided(result, ECDSA) == (Decision.FAIL, "unfixed for 1 day (limit 0)")
    # A severity without a limit stays protected; `null` lifts an inherited limit.
    gate = policy(tmp_path, "ignore-unfixed: true\nunfixed-max-days: {CRITICAL: 30}\n")
    assert decided(evaluate([run], gate, date(2030, 1, 1)), ECDSA)[0] is Decision.UNFIXED
    (tmp_path / "base.yaml").write_text("unfixed-max-days: {HIGH: 90}\n")
    gate = policy(tmp_path, "extends: base.yaml\nunfixed-max-days: {HIGH: null}\n")
    assert gate.unfixed_max_days == {}
    assert decided(evaluate([run], gate, date(2030, 1, 1)), ECDSA)[0] is Decision.UNFIXED


# --- kev and epss ---------------------------------------------------------------------------


def test_kev_fail_overrides_severity_fix_state_grace_and_fail_on(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    run = with_facts(
        run_of(vuln_project_report),
        **{ECDSA: {"kev": KEV}, TIME: {"kev": replace(KEV, due_date=None, ransomware=False)}},
    )
    gate = policy(
        tmp_path,
        "kev: fail\ngrace-days: 30\nignore-unfixed: true\nfail-on: {vulnerability: none}\n",
    )
    result = evaluate([run], gate, date(2024, 1, 25))
    assert decided(result, ECDSA) == (
        Decision.FAIL,
        "known exploited: in CISA's KEV catalog since 2024-02-01, due 2024-02-22, "
        "known ransomware campaign use (kev: fail)",
    )
    assert decided(result, TIME) == (
        Decision.FAIL,
        "known exploited: in CISA's KEV catalog since 2024-02-01 (kev: fail)",
    )
    assert decided(result, REQUESTS)[0] is Decision.BELOW_THRESHOLD  # not in KEV
    assert result.verdict is Verdict.FAIL
    # kev: report marks (the outputs' job) but fails nothing more.
    gate = policy(tmp_path, "kev: report\nfail-on: {vulnerability: none}\n")
    assert evaluate([run], gate, date(2024, 1, 25)).verdict is Verdict.PASS


def test_an_allow_entry_still_accepts_a_kev_finding(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    run = with_facts(run_of(vuln_project_report), **{ECDSA: {"kev": KEV}})
    gate = policy(
        tmp_path,
        f"kev: fail\nallow:\n  - id: {ECDSA}\n    reason: 'not reachable: we never sign'\n"
        "    expires: 2024-03-01\n",
    )
    result = evaluate([run], gate, date(2024, 1, 25))
    assert decided(result, ECDSA) == (Decision.ALLOWED, "not reachable: we never sign")
    # Once expired, KEV decides again.
    assert decided(evaluate([run], gate, date(2024, 3, 1)), ECDSA)[0] is Decision.FAIL


def test_neither_a_baseline_nor_the_diff_base_excuses_kev_or_epss(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    plain = run_of(vuln_project_report)
    facts: dict[str, dict[str, Any]] = {REQUESTS: {"kev": KEV}, TIME: {"epss": 0.9}}
    run = with_facts(plain, **facts)
    gate = policy(tmp_path, "kev: fail\nepss: {fail-at: 0.5}\n")
    baseline = from_runs([plain], "b.json")
    result = evaluate([run], gate, date(2024, 1, 25), baseline)
    decision, reason = decided(result, REQUESTS)
    assert decision is Decision.FAIL
    assert reason.startswith("known exploited: in CISA's KEV catalog since 2024-02-01")
    assert reason.endswith(
        "in the baseline b.json, which does not excuse it: fix it or add an allow entry"
    )
    assert decided(result, TIME)[0] is Decision.FAIL
    # Every other failing finding of the baseline is known, as before.
    assert decided(result, trivydb.LODASH_CVE)[0] is Decision.KNOWN
    at_base = frozenset(f.fingerprint for f in plain.findings)
    result = evaluate([run], gate, date(2024, 1, 25), pre_existing=at_base, base_short="abc123")
    assert decided(result, REQUESTS)[0] is Decision.FAIL
    assert decided(result, REQUESTS)[1].endswith("present at abc123 too, which does not excuse it")
    assert decided(result, trivydb.LODASH_CVE)[0] is Decision.PRE_EXISTING


def test_epss_at_or_above_fail_at_fails_whatever_the_severity(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    run = with_facts(
        run_of(vuln_project_report),
        **{TIME: {"epss": 0.5}, REQUESTS: {"epss": 0.49999}, ECDSA: {"epss": 0.97}},
    )
    gate = policy(tmp_path, "epss: {fail-at: 0.5}\nfail-on: {vulnerability: CRITICAL}\n")
    result = evaluate([run], gate, date(2024, 1, 25))
    assert decided(result, TIME) == (Decision.FAIL, "EPSS 0.5 at or above epss fail-at 0.5")
    assert decided(result, REQUESTS)[0] is Decision.BELOW_THRESHOLD
    assert decided(result, ECDSA) == (Decision.FAIL, "EPSS 0.97 at or above epss fail-at 0.5")
    # `fail-at: null` in a policy that extends turns it off.
    (tmp_path / "base.yaml").write_text("epss: {fail-at: 0.5}\n")
    gate = policy(tmp_path, "extends: base.yaml\nepss: {fail-at: null}\n")
    assert gate.epss_fail_at is None


def test_without_the_new_keys_decisions_and_summary_are_as_before(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    """The built-in default (kev: report, grace-days: 0) decides and counts as before, even
    for findings the feeds marked; the summary has no `grace` count."""
    run = with_facts(run_of(vuln_project_report), **{REQUESTS: {"kev": KEV, "epss": 0.99}})
    default = load_policy("default", base_dir=tmp_path, today=date(2024, 1, 25))
    result = evaluate([run], default, date(2024, 1, 25))
    assert decided(result, REQUESTS) == (
        Decision.FAIL,
        "HIGH vulnerability at or above fail-on HIGH",
    )
    assert decided(result, ECDSA)[0] is Decision.UNFIXED
    assert "grace" not in result.summary.by_decision
    assert set(result.summary.by_decision) == {
        "fail",
        "allowed",
        "below-threshold",
        "unfixed",
        "known",
    }


def test_a_published_date_in_the_future_buys_no_time(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    """A report is untrusted: a PublishedDate years ahead would otherwise be a grace and an
    unfixed allowance without end. A day ahead is a time zone apart, and counts."""
    today = date(2024, 1, 25)
    run = with_facts(run_of(vuln_project_report), **{ECDSA: {"published": date(2099, 1, 1)}})
    gate = policy(tmp_path, "ignore-unfixed: false\ngrace-days: 7\n")
    assert decided(evaluate([run], gate, today), ECDSA)[0] is Decision.FAIL
    gate = policy(tmp_path, "unfixed-max-days: {HIGH: 90}\n")
    assert decided(evaluate([run], gate, today), ECDSA) == (
        Decision.FAIL,
        "unfixed, and no published date to measure unfixed-max-days 90 against",
    )
    run = with_facts(run, **{ECDSA: {"published": date(2024, 1, 26)}})
    gate = policy(tmp_path, "ignore-unfixed: false\ngrace-days: 7\n")
    assert decided(evaluate([run], gate, today), ECDSA) == (
        Decision.GRACE,
        "published 2024-01-26, within grace-days 7: fails from 2024-02-02",
    )
