"""The policy keys of issue 11 through the real CLI: `grace-days`, `unfixed-max-days`, `kev`,
`epss` and `licenses` as `policy check` shows them after `extends`, one clear line (exit 2)
for a bad value, the built-in policies' values, and `licenses` deciding the real license
findings of the real Trivy, with real dates from the offline DB and `--today`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import feeds, trivydb


def scangate(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m scangate ARGS` in the hermetic environment (the fixture feeds included)."""
    proc = subprocess.run(
        [sys.executable, "-m", "scangate", *map(str, args)],
        cwd=cwd,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    return proc


def effective(tmp_path: Path, spec: str) -> dict[str, Any]:
    proc = scangate("policy", "check", spec, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown: dict[str, Any] = yaml.safe_load(proc.stdout)
    return shown


NETWORK_COPYLEFT = [
    "AGPL-1.0-only",
    "AGPL-1.0-or-later",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "SSPL-1.0",
    "OSL-3.0",
    "RPL-1.1",
    "RPL-1.5",
    "CPAL-1.0",
]


def test_policy_check_shows_the_builtin_values(tmp_path: Path) -> None:
    default = effective(tmp_path, "default")
    assert default["grace-days"] == 0
    assert default["unfixed-max-days"] == {}
    assert default["kev"] == "report"
    assert default["epss"] == {"fail-at": None}
    assert default["licenses"] is None
    strict = effective(tmp_path, "strict")
    assert strict["grace-days"] == 0  # from default
    assert strict["kev"] == "fail"
    assert strict["unfixed-max-days"] == {"CRITICAL": 30, "HIGH": 90}
    assert strict["licenses"] == {"deny": NETWORK_COPYLEFT, "allow": None, "unknown": "report"}
    assert effective(tmp_path, "pre-push")["kev"] == "report"


def test_policy_check_shows_every_key_merged_over_extends(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(
        "extends: strict\n"
        "grace-days: {critical: 0, HIGH: 3, MEDIUM: 7}\n"
        "unfixed-max-days: {HIGH: 60, LOW: 365}\n"
        "kev: REPORT\n"
        "epss: {fail-at: 0.2}\n"
        "licenses:\n  deny: [gpl-3.0]\n  allow: [MIT, apache-2.0, LicenseRef-acme]\n"
    )
    (tmp_path / ".scangate.yaml").write_text(
        "extends: team.yaml\nepss:\n  fail-at: 1\nkev: off\n"  # YAML reads `off` as false
    )
    proc = scangate("policy", "check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, _, body = proc.stdout.partition("\n")
    assert "built-in policy 'strict', team.yaml" in first
    shown = yaml.safe_load(body)
    assert shown["grace-days"] == {"CRITICAL": 0, "HIGH": 3, "MEDIUM": 7, "LOW": 0, "UNKNOWN": 0}
    # A map sets the severities it names, over the parent's.
    assert shown["unfixed-max-days"] == {"CRITICAL": 30, "HIGH": 60, "LOW": 365}
    assert shown["kev"] == "off"
    assert shown["epss"] == {"fail-at": 1.0}
    # deny adds to strict's (written as SPDX writes it); allow is set; under an allow list an
    # unknown license fails unless a policy sets `unknown` (strict leaves it unset).
    assert shown["licenses"] == {
        "deny": [*NETWORK_COPYLEFT, "GPL-3.0-only"],
        "allow": ["MIT", "Apache-2.0", "LicenseRef-acme"],
        "unknown": "fail",
    }
    (tmp_path / "plain.yaml").write_text("licenses:\n  allow: [MIT]\n")
    assert effective(tmp_path, "plain.yaml")["licenses"]["unknown"] == "fail"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "grace-days: -1\n",
            "'grace-days': -1 is not a number of days: write a whole number, 0 or more",
        ),
        (
            "grace-days: 3d\n",
            "'grace-days': '3d' is not a number of days: write a whole number, 0 or more",
        ),
        ("grace-days: true\n", "'grace-days': True is not a number of days"),
        (
            "grace-days: {SEVERE: 3}\n",
            "'grace-days': 'SEVERE' is not a severity: use CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN",
        ),
        ("grace-days: {HIGH: x}\n", "'grace-days': HIGH: 'x' is not a number of days"),
        (
            "unfixed-max-days: 30\n",
            "'unfixed-max-days': 30 is not a map of severity to days, such as "
            "{CRITICAL: 30, HIGH: 90}",
        ),
        ("kev: block\n", "'kev': 'block' is not one of fail, report, off"),
        (
            "epss: {fail-at: 1.5}\n",
            "epss: fail-at 1.5 is not a probability: write a number from 0 to 1, such as 0.5",
        ),
        ("epss: {fail-at: '50%'}\n", "epss: fail-at '50%' is not a probability"),
        ("epss: {failat: 0.5}\n", "epss: unknown key 'failat': did you mean 'fail-at'?"),
        ("epss: 0.5\n", "'epss'"),
        (
            "licenses: {deny: [Apache 2.0]}\n",
            "licenses: deny[0]: 'Apache 2.0' is not an SPDX license identifier: "
            "did you mean 'Apache-2.0'?",
        ),
        (
            "licenses: {allow: [MIT OR Apache-2.0]}\n",
            "licenses: allow[0]: 'MIT OR Apache-2.0' is an expression: list each SPDX "
            "license identifier on its own",
        ),
        (
            "licenses: {deny: [MIT], allow: [mit]}\n",
            "'licenses': MIT is on both deny and allow: keep it on one",
        ),
        ("licenses: {unknown: maybe}\n", "licenses: unknown 'maybe' is not one of fail, report"),
        ("licenses: {denny: [MIT]}\n", "licenses: unknown key 'denny': did you mean 'deny'?"),
        ("grace_day: 3\n", "unknown key 'grace_day': did you mean 'grace-days'?"),
    ],
)
def test_a_bad_value_is_exit_2_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    for args in (("policy", "check", "p.yaml"), ("check", "--policy", "p.yaml", "-")):
        proc = scangate(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith("scangate: error: p.yaml: "), line
        assert message in line, line
        assert proc.stdout == ""


# --- real Trivy, real dates -----------------------------------------------------------------


def test_grace_and_unfixed_limit_through_the_cli(tmp_path: Path, vuln_project_report: Path) -> None:
    """ECDSA's advisory (HIGH, unfixed) was published 2024-01-23 in the DB Trivy read."""

    def result(today: str, policy: str) -> dict[str, Any]:
        (tmp_path / "p.yaml").write_text(policy)
        out = tmp_path / "r.json"
        proc = scangate(
            "check",
            "-p",
            "p.yaml",
            "--today",
            today,
            "--json",
            out,
            vuln_project_report,
            "-q",
            cwd=tmp_path,
        )
        assert proc.returncode == 1, proc.stderr  # the old CRITICALs fail throughout
        loaded: dict[str, Any] = json.loads(out.read_text())
        return loaded

    def decision(doc: dict[str, Any], vid: str) -> tuple[str, str]:
        (found,) = [(f["decision"], f["reason"]) for f in doc["findings"] if f["id"] == vid]
        return found

    limit = "ignore-unfixed: true\nunfixed-max-days: {HIGH: 90}\n"
    assert decision(result("2024-04-22", limit), trivydb.ECDSA_CVE) == (
        "unfixed",
        "no fixed version yet (ignore-unfixed)",
    )
    assert decision(result("2024-04-23", limit), trivydb.ECDSA_CVE) == (
        "fail",
        "unfixed for 91 days (limit 90)",
    )
    grace = "ignore-unfixed: false\ngrace-days: 7\n"
    early = result("2024-01-25", grace)
    assert decision(early, trivydb.ECDSA_CVE) == (
        "grace",
        "published 2024-01-23, within grace-days 7: fails from 2024-01-30",
    )
    assert early["summary"]["by_decision"]["grace"] == 1
    assert decision(early, trivydb.PYYAML_CVE)[0] == "fail"  # published 2020: no grace
    assert decision(result("2024-01-30", grace), trivydb.ECDSA_CVE)[0] == "fail"


def test_kev_fail_through_the_cli_with_a_real_catalog(
    tmp_path: Path, vuln_project_report: Path
) -> None:
    """kev: fail with a real catalog naming the MEDIUM time CVE: it fails under fail-on
    CRITICAL, and the reason names KEV, its dates and the ransomware use."""
    catalog = tmp_path / "kev.json"
    catalog.write_bytes(
        feeds.kev_catalog(
            [
                feeds.kev_vulnerability(
                    trivydb.TIME_CVE, added="2024-02-01", due="2024-02-22", ransomware="Known"
                )
            ]
        )
    )
    (tmp_path / "p.yaml").write_text("kev: fail\nfail-on: {vulnerability: CRITICAL}\n")
    out = tmp_path / "r.json"
    proc = scangate(
        "check",
        "-p",
        "p.yaml",
        "--kev-file",
        catalog,
        "--today",
        "2026-03-10",
        "--json",
        out,
        vuln_project_report,
        "-q",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    (time_cve,) = [f for f in doc["findings"] if f["id"] == trivydb.TIME_CVE]
    assert time_cve["decision"] == "fail"
    assert time_cve["reason"] == (
        "known exploited: in CISA's KEV catalog since 2024-02-01, due 2024-02-22, "
        "known ransomware campaign use (kev: fail)"
    )


# --- licenses: the real license scanner -----------------------------------------------------

# package.json `license` fields as packages write them, and what Trivy 0.76 reports.
NPM_LICENSES = {
    "a": "MIT License",  # Trivy: MIT
    "b": "(MIT OR Apache-2.0)",
    "c": "GPLv3",  # Trivy: GPL-3.0-only
    "d": "AGPLv3",  # Trivy leaves it: scangate maps it to AGPL-3.0-only
    "e": "MIT AND GPL-3.0-or-later",
    "f": "Server Side Public License",  # Trivy leaves it (category unknown): SSPL-1.0
    "g": "Custom",
    "h": "Apache 2.0",  # Trivy: Apache-2.0
}


def npm_project(directory: Path) -> Path:
    directory.mkdir()
    lock: dict[str, Any] = {"": {"name": "app", "version": "1.0.0", "dependencies": {}}}
    for key, license_name in NPM_LICENSES.items():
        pkg = directory / "node_modules" / f"pkg-{key}"
        pkg.mkdir(parents=True)
        manifest = {"name": f"pkg-{key}", "version": "1.0.0", "license": license_name}
        (pkg / "package.json").write_text(json.dumps(manifest))
        lock[f"node_modules/pkg-{key}"] = {"version": "1.0.0"}
        lock[""]["dependencies"][f"pkg-{key}"] = "1.0.0"
    doc = {"name": "app", "version": "1.0.0", "lockfileVersion": 3, "packages": lock}
    (directory / "package-lock.json").write_text(json.dumps(doc))
    return directory


def license_decisions(tmp_path: Path, policy: str) -> dict[str, tuple[str, str, str]]:
    """`scangate scan fs --scanners license` of the npm project: package -> (license name as
    Trivy reported it, decision, reason)."""
    project = tmp_path / "project"
    if not project.exists():
        npm_project(project)
    (tmp_path / "p.yaml").write_text(policy)
    out = tmp_path / "r.json"
    proc = scangate(
        "scan",
        "fs",
        project,
        "--scanners",
        "license",
        "--offline",
        "-p",
        "p.yaml",
        "--cache-dir",
        tmp_path / "cache",
        "--json",
        out,
        "-q",
        cwd=tmp_path,
    )
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(out.read_text())
    return {
        f["package"].removeprefix("pkg-"): (f["id"], f["decision"], f["reason"])
        for f in doc["findings"]
    }


def test_licenses_allow_and_deny_decide_the_real_findings(tmp_path: Path) -> None:
    got = license_decisions(
        tmp_path,
        "licenses:\n  deny: [AGPL-3.0-only, SSPL-1.0]\n  allow: [MIT, Apache-2.0]\n"
        "  unknown: report\nfail-on: {license: none}\n",
    )
    allow_list = "(MIT, Apache-2.0)"
    assert got == {
        "a": ("MIT", "below-threshold", "MIT is on the policy's licenses.allow"),
        "b": (
            "(MIT OR Apache-2.0)",
            "below-threshold",
            "(MIT OR Apache-2.0): MIT is on the policy's licenses.allow; "
            "Apache-2.0 is on the policy's licenses.allow",
        ),
        "c": (
            "GPL-3.0-only",
            "fail",
            f"GPL-3.0-only is not on the policy's licenses.allow {allow_list}",
        ),
        "d": ("AGPLv3", "fail", "AGPLv3: AGPL-3.0-only is on the policy's licenses.deny"),
        "e": (
            "MIT AND GPL-3.0-or-later",
            "fail",
            "MIT AND GPL-3.0-or-later: GPL-3.0-or-later is not on the policy's "
            f"licenses.allow {allow_list}",
        ),
        "f": (
            "Server Side Public License",
            "fail",
            "Server Side Public License: SSPL-1.0 is on the policy's licenses.deny",
        ),
        # unknown: report: the rules do not fail it, and fail-on license: none does not either.
        "g": ("Custom", "below-threshold", "license: fail-on none"),
        "h": ("Apache-2.0", "below-threshold", "Apache-2.0 is on the policy's licenses.allow"),
    }


def test_licenses_unknown_fail_and_deny_only_keeps_trivys_categories(tmp_path: Path) -> None:
    got = license_decisions(
        tmp_path, "licenses:\n  allow: [MIT, Apache-2.0, GPL-3.0-only]\n"
    )  # unknown defaults to fail under an allow list
    assert got["g"] == ("Custom", "fail", "Custom is not an SPDX license (licenses.unknown: fail)")
    assert got["c"][1:] == ("below-threshold", "GPL-3.0-only is on the policy's licenses.allow")
    # strict: no allow list, its deny list; Trivy's categories and fail-on license: HIGH
    # still decide the rest (GPL, "restricted", fails; MIT passes).
    got = license_decisions(tmp_path, "extends: strict\n")
    assert got["a"][1] == "below-threshold"
    assert got["c"][1:] == ("fail", "HIGH license at or above fail-on HIGH")
    assert got["d"][1:] == ("fail", "AGPLv3: AGPL-3.0-only is on the policy's licenses.deny")
    assert got["f"][1] == "fail"  # Trivy's category: unknown; denied by strict's list
    assert got["g"][1] == "below-threshold"  # unknown: report
    # Without `licenses`, as before: Trivy's category severities against fail-on.
    got = license_decisions(tmp_path, "fail-on: {license: HIGH}\n")
    assert got["f"] == (
        "Server Side Public License",
        "below-threshold",
        "UNKNOWN is below fail-on HIGH",
    )
    assert got["d"][1] == "below-threshold"  # Trivy does not know "AGPLv3"
