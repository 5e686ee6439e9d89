"""scangate.policy: policy files, `extends`, built-ins, ignore files and allow-entry scope.

Every error is a one-line `PolicyError` naming the file, the entry and the fix; the CLI's
exit code 2 for them is tested in test_cli_check.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from scangate.errors import ExitCode, PolicyError
from scangate.findings import Finding, Kind, Location, Severity
from scangate.policy import (
    AllowEntry,
    Policy,
    check_allow_rules,
    find_ignore_files,
    load_ignore_file,
    load_policy,
    resolve_policy,
)

TODAY = date(2026, 3, 10)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load(path: Path, today: date = TODAY) -> Policy:
    return load_policy(str(path), base_dir=path.parent, today=today)


def policy_error(path: Path, today: date = TODAY) -> str:
    with pytest.raises(PolicyError) as caught:
        load(path, today)
    assert caught.value.exit_code is ExitCode.USAGE
    message = caught.value.message
    assert "\n" not in message
    return message


def finding(
    kind: Kind = Kind.VULNERABILITY,
    id: str = "CVE-2024-0001",
    *,
    target: str = "requirements.txt",
    package: str | None = "requests",
    purl: str | None = None,
    path: str | None = None,
) -> Finding:
    return Finding(
        kind=kind,
        id=id,
        severity=Severity.HIGH,
        target=target,
        package=package,
        purl=purl,
        location=Location(path) if path else None,
    )


# --- built-in policies ------------------------------------------------------------------------


def test_builtin_default() -> None:
    policy = load_policy("default", base_dir=Path("/nonexistent"), today=TODAY)
    assert policy.fail_on == {
        Kind.VULNERABILITY: Severity.HIGH,
        Kind.MISCONFIGURATION: Severity.HIGH,
        Kind.SECRET: Severity.UNKNOWN,
        Kind.LICENSE: None,
    }
    assert policy.ignore_unfixed is True
    assert (policy.require_expiry, policy.max_days, policy.warn_days) == (False, None, 14)
    assert policy.allow == ()
    assert policy.sources == ("built-in policy 'default'",)


def test_builtin_strict_extends_default() -> None:
    policy = load_policy("strict", base_dir=Path("/nonexistent"), today=TODAY)
    assert policy.fail_on == {
        Kind.VULNERABILITY: Severity.MEDIUM,
        Kind.MISCONFIGURATION: Severity.MEDIUM,
        Kind.SECRET: Severity.UNKNOWN,
        Kind.LICENSE: Severity.HIGH,
    }
    assert policy.ignore_unfixed is False
    assert (policy.require_expiry, policy.max_days, policy.warn_days) == (True, 90, 30)
    assert policy.sources == ("built-in policy 'default'", "built-in policy 'strict'")


def test_builtin_pre_push() -> None:
    policy = load_policy("pre-push", base_dir=Path("/nonexistent"), today=TODAY)
    assert policy.fail_on[Kind.VULNERABILITY] is Severity.CRITICAL
    assert policy.fail_on[Kind.SECRET] is Severity.UNKNOWN
    assert policy.fail_on[Kind.LICENSE] is None
    assert policy.ignore_unfixed is True


def test_empty_file_is_the_base_policy(tmp_path: Path) -> None:
    policy = load(write(tmp_path / "p.yaml", ""))
    assert policy.fail_on[Kind.VULNERABILITY] is Severity.HIGH
    assert policy.fail_on[Kind.LICENSE] is None
    assert policy.ignore_unfixed is True


def test_thresholds_none_and_case(tmp_path: Path) -> None:
    policy = load(
        write(
            tmp_path / "p.yaml",
            "fail-on:\n  vulnerability: critical\n  misconfiguration: none\n"
            "  secret: NONE\n  license: Medium\n",
        )
    )
    assert policy.fail_on == {
        Kind.VULNERABILITY: Severity.CRITICAL,
        Kind.MISCONFIGURATION: None,
        Kind.SECRET: None,
        Kind.LICENSE: Severity.MEDIUM,
    }


# --- extends ----------------------------------------------------------------------------------


def test_extends_builtin_by_name_overrides_one_key(tmp_path: Path) -> None:
    policy = load(write(tmp_path / "p.yaml", "extends: strict\nfail-on:\n  vulnerability: HIGH\n"))
    assert policy.fail_on[Kind.VULNERABILITY] is Severity.HIGH
    assert policy.fail_on[Kind.MISCONFIGURATION] is Severity.MEDIUM  # from strict
    assert policy.max_days == 90
    assert policy.sources[-1] == str(tmp_path / "p.yaml")
    assert len(policy.sources) == 3


def test_extends_relative_path_is_relative_to_the_extending_file(tmp_path: Path) -> None:
    write(
        tmp_path / "org" / "base.yaml",
        "fail-on:\n  secret: HIGH\nallow:\n  - id: CVE-2024-0001\n    reason: org-wide\n",
    )
    child = write(
        tmp_path / "teams" / "web" / ".scangate.yaml",
        "extends: ../../org/base.yaml\nallow:\n  - id: DS002\n    reason: root needed\n",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    policy = load_policy(str(child), base_dir=elsewhere, today=TODAY)
    assert policy.fail_on[Kind.SECRET] is Severity.HIGH
    assert [(e.id, e.reason) for e in policy.allow] == [
        ("CVE-2024-0001", "org-wide"),
        ("DS002", "root needed"),  # shown as written; matched in any spelling
    ]
    assert policy.allow[0].origin.endswith("base.yaml allow[0]")
    assert policy.allow[1].origin.endswith(".scangate.yaml allow[0]")


def test_extends_chains_and_child_overrides_win(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "extends: strict\nallow-rules:\n  warn-days: 7\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\nignore-unfixed: true\n")
    c = write(
        tmp_path / "c.yaml",
        "extends: ./b.yaml\nallow-rules:\n  max-days: null\n  require-expiry: false\n",
    )
    policy = load(c)
    assert policy.warn_days == 7  # from a
    assert policy.ignore_unfixed is True  # b overrides strict
    assert policy.max_days is None  # c clears strict's 90 explicitly
    assert policy.require_expiry is False
    assert policy.fail_on[Kind.LICENSE] is Severity.HIGH  # strict, three levels up
    assert [Path(s).name for s in policy.sources[2:]] == ["a.yaml", "b.yaml", "c.yaml"]


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    message = policy_error(tmp_path / "a.yaml")
    assert "extends forms a cycle (a.yaml -> b.yaml -> a.yaml)" in message
    assert "remove one 'extends'" in message


def test_extends_itself_is_a_cycle(tmp_path: Path) -> None:
    message = policy_error(write(tmp_path / "self.yaml", "extends: ./self.yaml\n"))
    assert "cycle (self.yaml -> self.yaml)" in message


def test_extends_missing_file_names_it(tmp_path: Path) -> None:
    message = policy_error(write(tmp_path / "p.yaml", "extends: shared/base.yaml\n"))
    assert "shared/base.yaml: no such policy file" in message


def test_error_in_an_extended_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", "allow:\n  - id: CVE-2024-0001\n")
    message = policy_error(write(tmp_path / "p.yaml", "extends: base.yaml\n"))
    assert message.startswith("base.yaml: allow[0] (CVE-2024-0001): 'reason' is required")


# --- every policy error ---------------------------------------------------------------------


def allow_entry(**fields: str) -> str:
    lines = "".join(f"    {k}: {v}\n" for k, v in fields.items())
    return "allow:\n  - " + lines.lstrip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "fial-on:\n  vulnerability: HIGH\n",
            ["top level", "unknown key 'fial-on'", "did you mean 'fail-on'?"],
            id="unknown-key-top",
        ),
        pytest.param(
            "fail-on:\n  vulnerabilty: HIGH\n",
            ["fail-on", "unknown key 'vulnerabilty'", "did you mean 'vulnerability'?"],
            id="unknown-key-fail-on",
        ),
        pytest.param(
            "allow-rules:\n  max-day: 30\n",
            ["allow-rules", "unknown key 'max-day'", "did you mean 'max-days'?"],
            id="unknown-key-allow-rules",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reson="vendored"),
            ["allow[0] (CVE-2024-0001)", "unknown key 'reson'", "did you mean 'reason'?"],
            id="unknown-key-entry",
        ),
        pytest.param(
            "colour: red\n",
            ["unknown key 'colour'", "allowed keys: version, extends, fail-on"],
            id="unknown-key-no-match",
        ),
        pytest.param(
            "fail-on:\n  vulnerability: SEVERE\n",
            ["fail-on", "'SEVERE' is not a severity", "use CRITICAL, HIGH, MEDIUM, LOW"],
            id="bad-severity",
        ),
        pytest.param(
            "fail-on:\n  secret: 3\n",
            ["fail-on", "3 is not a severity"],
            id="severity-number",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason="x", expires="2026-02-30"),
            ["allow[0] (CVE-2024-0001)", "expires '2026-02-30' is not a date", "YYYY-MM-DD"],
            id="impossible-date",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason="x", expires="2026-13-01"),
            ["allow[0] (CVE-2024-0001)", "expires '2026-13-01' is not a date"],
            id="month-13",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason="x", expires="next week"),
            ["allow[0] (CVE-2024-0001)", "expires 'next week' is not a date", "YYYY-MM-DD"],
            id="words-date",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001"),
            ["allow[0] (CVE-2024-0001)", "'reason' is required", "say why"],
            id="missing-reason",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason='""'),
            ["allow[0] (CVE-2024-0001)", "'reason' is empty", "say why"],
            id="empty-reason",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason='"   "'),
            ["allow[0] (CVE-2024-0001)", "'reason' is empty", "say why"],
            id="blank-reason",
        ),
        pytest.param(
            allow_entry(reason="vendored"),
            ["allow[0]", "'id' is required", "name the CVE, check or rule ID"],
            id="missing-id",
        ),
        pytest.param(
            allow_entry(id='""', reason="vendored"),
            ["allow[0]", "'id' is empty", "name the CVE, check or rule ID"],
            id="empty-id",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason="ok")
            + "  - id: CVE-2024-0002\n    reason: ok\n    expires: soon\n",
            ["allow[1] (CVE-2024-0002)", "expires 'soon' is not a date"],
            id="second-entry",
        ),
        pytest.param("fail-on: [HIGH\n", ["not valid YAML at line 2"], id="bad-yaml"),
        pytest.param(
            "- id: CVE-2024-0001\n", ["a policy is a YAML mapping"], id="list-not-mapping"
        ),
        pytest.param("HIGH\n", ["a policy is a YAML mapping"], id="scalar-not-mapping"),
        pytest.param(
            "version: 2\n", ["version is 2", "reads policy version 1"], id="wrong-version"
        ),
        pytest.param(
            "allow-rules:\n  require-expiry: true\n" + allow_entry(id="DS002", reason="root"),
            ["allow[0] (DS002)", "no expiry date", "require-expiry", "add 'expires: YYYY-MM-DD'"],
            id="require-expiry",
        ),
        pytest.param(
            "allow-rules:\n  max-days: 30\n"
            + allow_entry(id="CVE-2024-0001", reason="x", expires="2026-04-10"),
            [
                "allow[0] (CVE-2024-0001)",
                "expires 2026-04-10, more than max-days 30 from 2026-03-10",
                "choose an earlier date",
            ],
            id="max-days",
        ),
    ],
)
def test_policy_errors_name_the_file_the_entry_and_the_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path / "team-policy.yaml", text)
    message = policy_error(path)
    assert message.startswith(f"{path}: ") or message.startswith(f"{path} allow[")
    for part in expected:
        assert part in message


def test_max_days_boundary(tmp_path: Path) -> None:
    text = "allow-rules:\n  max-days: 30\n" + allow_entry(
        id="CVE-2024-0001", reason="x", expires=(TODAY + timedelta(days=30)).isoformat()
    )
    assert load(write(tmp_path / "p.yaml", text)).max_days == 30  # exactly 30 days is allowed


def test_nonexistent_policy_file(tmp_path: Path) -> None:
    message = policy_error(tmp_path / "missing.yaml")
    assert "missing.yaml: no such policy file" in message
    assert "default, strict, pre-push" in message


def test_relative_spec_is_read_from_base_dir_and_named_as_given(tmp_path: Path) -> None:
    write(tmp_path / "ci" / "gate.yaml", "fail-on:\n  vulnerability: LOW\n")
    policy = load_policy("ci/gate.yaml", base_dir=tmp_path, today=TODAY)
    assert policy.fail_on[Kind.VULNERABILITY] is Severity.LOW
    assert policy.name == "ci/gate.yaml"


# --- policy resolution ----------------------------------------------------------------------


def test_resolve_prefers_the_given_spec(tmp_path: Path) -> None:
    write(tmp_path / ".scangate.yaml", "fail-on:\n  vulnerability: LOW\n")
    policy = resolve_policy("strict", roots=[tmp_path], today=TODAY)
    assert policy.name == "built-in policy 'strict'"


def test_resolve_finds_scangate_yaml_in_the_first_root_with_one(tmp_path: Path) -> None:
    empty, project = tmp_path / "empty", tmp_path / "project"
    empty.mkdir()
    write(project / ".scangate.yaml", "fail-on:\n  vulnerability: LOW\n")
    policy = resolve_policy(None, roots=[empty, project], today=TODAY)
    assert policy.fail_on[Kind.VULNERABILITY] is Severity.LOW
    assert policy.name == str(project / ".scangate.yaml")


def test_resolve_falls_back_to_default(tmp_path: Path) -> None:
    policy = resolve_policy(None, roots=[tmp_path], today=TODAY)
    assert policy.name == "built-in policy 'default'"


# --- .trivyignore (plain) ---------------------------------------------------------------------


def test_plain_trivyignore_ids_expiry_and_comments_as_reasons(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".trivyignore",
        "# Accepted until the vendor ships a fix.\n"
        "# Ticket SEC-12.\n"
        "CVE-2018-18074 exp:2026-06-01\n"
        "\n"
        "CVE-2020-1747\n"
        "# Root is needed by the base image.\n"
        "AVD-DS-0002\n"
        "   github-pat   \n",
    )
    entries = load_ignore_file(path)
    assert [(e.id, e.reason, e.expires, e.origin) for e in entries] == [
        (
            "CVE-2018-18074",
            "Accepted until the vendor ships a fix. Ticket SEC-12.",
            date(2026, 6, 1),
            f"{path}:3",
        ),
        ("CVE-2020-1747", "listed in .trivyignore", None, f"{path}:5"),
        ("AVD-DS-0002", "Root is needed by the base image.", None, f"{path}:7"),
        ("github-pat", "listed in .trivyignore", None, f"{path}:8"),
    ]


@pytest.mark.parametrize("value", ["2026-02-30", "tomorrow", "06/01/2026", ""])
def test_plain_trivyignore_bad_exp_is_a_policy_error(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / ".trivyignore", f"CVE-2020-1747\nCVE-2018-18074 exp:{value}\n")
    with pytest.raises(PolicyError) as caught:
        load_ignore_file(path)
    assert caught.value.message == (
        f"{path}:2: exp:{value} is not a date: write it as exp:YYYY-MM-DD"
    )


def test_find_ignore_files_in_root(tmp_path: Path) -> None:
    assert find_ignore_files(tmp_path) == []
    write(tmp_path / ".trivyignore.yaml", "vulnerabilities: []\n")
    write(tmp_path / ".trivyignore", "")
    assert find_ignore_files(tmp_path) == [
        tmp_path / ".trivyignore",
        tmp_path / ".trivyignore.yaml",
    ]


# --- .trivyignore.yaml --------------------------------------------------------------------------

TRIVYIGNORE_YAML = """\
vulnerabilities:
  - id: CVE-2022-40897
    paths:
      - "usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"
    statement: Accept the risk
  - id: CVE-2023-2650
  - id: CVE-2023-3446
    purls:
      - "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u4?arch=amd64&distro=debian-11"
    expired_at: 2023-09-01
misconfigurations:
  - id: AVD-DS-0001
  - id: AVD-DS-0002
    paths:
      - "docs/Dockerfile"
    statement: The image needs root privileges
secrets:
  - id: aws-access-key-id
  - id: aws-secret-access-key
    paths:
      - "foo/bar/aws.secret"
licenses:
  - id: GPL-3.0
    paths:
      - "usr/share/gcc/python/libstdcxx/v6/__init__.py"
    expired_at: 2030-01-01T00:00:00Z
"""


def test_trivyignore_yaml_every_section(tmp_path: Path) -> None:
    path = write(tmp_path / ".trivyignore.yaml", TRIVYIGNORE_YAML)
    entries = load_ignore_file(path)
    assert [(e.id, e.reason, e.expires, e.targets) for e in entries] == [
        (
            "CVE-2022-40897",
            "Accept the risk",
            None,
            ("usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA",),
        ),
        ("CVE-2023-2650", "listed in .trivyignore.yaml", None, ()),
        ("CVE-2023-3446", "listed in .trivyignore.yaml", date(2023, 9, 1), ()),
        ("AVD-DS-0001", "listed in .trivyignore.yaml", None, ()),
        ("AVD-DS-0002", "The image needs root privileges", None, ("docs/Dockerfile",)),
        ("aws-access-key-id", "listed in .trivyignore.yaml", None, ()),
        ("aws-secret-access-key", "listed in .trivyignore.yaml", None, ("foo/bar/aws.secret",)),
        # An RFC 3339 expiry (Trivy accepts it) becomes its day.
        (
            "GPL-3.0",
            "listed in .trivyignore.yaml",
            date(2030, 1, 1),
            ("usr/share/gcc/python/libstdcxx/v6/__init__.py",),
        ),
    ]
    assert entries[4].origin == f"{path} misconfigurations[1]"
    assert entries[2].expired(date(2023, 9, 1))
    assert entries[7].expired(date(2030, 1, 1))
    assert not entries[7].expired(date(2029, 12, 31))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "vulnerabilities:\n  - id: CVE-1\n    expired_at: 2023-02-30\n",
            "vulnerabilities[0] (CVE-1): expired_at '2023-02-30' is not a date: "
            "write it as YYYY-MM-DD",
            id="impossible-date",
        ),
        pytest.param(
            "secrets:\n  - id: x\n  - statement: no id\n",
            "secrets[1]: each entry needs an 'id'",
            id="missing-id",
        ),
        pytest.param(
            "vulnerabilities:\n  - id: CVE-1\n    expired_at: [2023]\n",
            "vulnerabilities[0] (CVE-1): expired_at must be a date YYYY-MM-DD",
            id="date-list",
        ),
        pytest.param("licenses: GPL-3.0\n", "licenses must be a list", id="not-a-list"),
        pytest.param("- CVE-1\n", "expected a mapping with vulnerabilities", id="not-a-mapping"),
        pytest.param("vulnerabilities: [\n", "not valid YAML", id="bad-yaml"),
    ],
)
def test_trivyignore_yaml_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / ".trivyignore.yaml", text)
    with pytest.raises(PolicyError) as caught:
        load_ignore_file(path)
    assert caught.value.message.startswith(str(path))
    assert expected in caught.value.message


def test_ignore_file_entries_obey_require_expiry(tmp_path: Path) -> None:
    entries = load_ignore_file(write(tmp_path / ".trivyignore", "CVE-2020-1747\n"))
    strict = load_policy("strict", base_dir=tmp_path, today=TODAY)
    with pytest.raises(PolicyError, match=r"\.trivyignore:1 \(CVE-2020-1747\): no expiry date"):
        check_allow_rules(strict.with_allow(entries, ".trivyignore"), TODAY)


# --- allow-entry scope ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "target", "matches"),
    [
        ("services/**/requirements.txt", "services/api/requirements.txt", True),
        ("services/**/requirements.txt", "services/api/v2/requirements.txt", True),
        ("services/**/requirements.txt", "services/requirements.txt", True),
        ("services/**/requirements.txt", "tools/services/api/requirements.txt", False),
        ("services/**/requirements.txt", "services/api/requirements-dev.txt", False),
        ("services/*/requirements.txt", "services/api/requirements.txt", True),
        ("services/*/requirements.txt", "services/api/v2/requirements.txt", False),
        ("*.txt", "requirements.txt", True),
        ("*.txt", "services/requirements.txt", False),
        ("**/*.txt", "services/requirements.txt", True),
        ("requirements.tx?", "requirements.txt", True),
        ("requirements.tx?", "requirements.tx/", False),
        ("deploy/**", "deploy/k8s/deployment.yaml", True),
        ("requirements.txt", "requirements.txt", True),
        ("requirements.txt", "requirements_txt", False),
    ],
)
def test_target_globs(pattern: str, target: str, matches: bool) -> None:
    entry = AllowEntry(id="CVE-2024-0001", reason="r", origin="t", targets=(pattern,))
    assert entry.matches_scope(finding(target=target)) is matches


def test_target_glob_also_matches_the_package_path() -> None:
    entry = AllowEntry(id="x", reason="r", origin="t", targets=("usr/local/lib/**/METADATA",))
    in_image = finding(target="Python", path="usr/local/lib/python3.11/requests/METADATA")
    assert entry.matches_scope(in_image)
    assert not entry.matches_scope(finding(target="Python"))


@pytest.mark.parametrize(
    ("pattern", "package", "matches"),
    [
        ("requests", "requests", True),
        ("requests", "requests-oauthlib", False),
        ("lib*", "libssl3", True),
        ("@babel/*", "@babel/core", True),
        ("org.apache.logging.log4j:*", "org.apache.logging.log4j:log4j-core", True),
        ("requests", None, False),
    ],
)
def test_package_globs(pattern: str, package: str | None, matches: bool) -> None:
    entry = AllowEntry(id="x", reason="r", origin="t", packages=(pattern,))
    assert entry.matches_scope(finding(package=package)) is matches


@pytest.mark.parametrize(
    ("constraint", "purl", "matches"),
    [
        # Trivy normalises PyPI names in purls; the finding's package name stays as written.
        ("pkg:pypi/flask-cors@3.0.8", "pkg:pypi/flask-cors@3.0.8", True),
        ("pkg:pypi/Flask_Cors@3.0.8", "pkg:pypi/flask-cors@3.0.8", True),
        ("pkg:pypi/flask-cors", "pkg:pypi/flask-cors@3.0.8", True),
        ("pkg:pypi/flask-cors@3.0.9", "pkg:pypi/flask-cors@3.0.8", False),
        ("pkg:npm/%40babel/core@7.0.0", "pkg:npm/%40babel/core@7.0.0", True),
        ("pkg:npm/core@7.0.0", "pkg:npm/%40babel/core@7.0.0", False),
        (
            "pkg:deb/debian/libssl3?distro=debian-12",
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12",
            True,
        ),
        (
            "pkg:deb/debian/libssl3?distro=debian-11",
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12",
            False,
        ),
        ("pkg:maven/org.example/lib@1.0", "pkg:maven/com.example/lib@1.0", False),
        ("pkg:cargo/smallvec@1.6.0", "pkg:pypi/smallvec@1.6.0", False),
    ],
)
def test_trivyignore_purls_match_like_trivy(constraint: str, purl: str, matches: bool) -> None:
    entry = AllowEntry(id="x", reason="r", origin="t", purls=(constraint,))
    assert entry.matches_scope(finding(package="whatever", purl=purl)) is matches


def test_entry_ids_are_canonical() -> None:
    assert AllowEntry(id="AVD-KSV-0017", reason="r", origin="t").key == "KSV-0017"
    assert AllowEntry(id="cve-2024-0001", reason="r", origin="t").key == "CVE-2024-0001"


def test_expiry_is_exclusive_of_the_day() -> None:
    entry = AllowEntry(id="x", reason="r", origin="t", expires=TODAY)
    assert not entry.expired(TODAY - timedelta(days=1))
    assert entry.expired(TODAY)
    assert not AllowEntry(id="x", reason="r", origin="t").expired(date(9999, 1, 1))


# --- strict YAML: duplicate keys, anchors and aliases, short quotes ----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "fail-on:\n  vulnerability: HIGH\nignore-unfixed: true\n"
            "fail-on:\n  vulnerability: none\n",
            "line 4: key 'fail-on' is given twice (first at line 1)",
            id="top-level",
        ),
        pytest.param(
            "fail-on:\n  secret: UNKNOWN\n  vulnerability: HIGH\n  secret: none\n",
            "line 4: key 'secret' is given twice (first at line 2)",
            id="nested",
        ),
        pytest.param(
            allow_entry(id="CVE-2024-0001", reason="ok", expires="2026-04-01")
            + "    expires: 2099-01-01\n",
            "line 5: key 'expires' is given twice (first at line 4)",
            id="in-an-allow-entry",
        ),
        pytest.param(
            "fail-on:\n  vulnerability: HIGH\nfail_on:\n  vulnerability: none\n",
            "line 3: key 'fail_on' is given twice (first at line 1)",
            id="both-spellings",
        ),
    ],
)
def test_duplicate_keys_are_refused_with_their_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    # YAML itself keeps the last value silently: `fail-on` ... `none` would switch the gate off.
    path = write(tmp_path / ".scangate.yaml", text)
    message = policy_error(path)
    assert message.startswith(f"{path}: {expected}: keep one")


BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(BOMB, "line 1: YAML anchors and aliases", id="billion-laughs"),
        pytest.param(
            "fail-on: &levels\n  vulnerability: HIGH\n",
            "line 1: YAML anchors and aliases (&name, *name) are not allowed",
            id="anchor-alone",
        ),
        pytest.param(
            "base: {vulnerability: HIGH}\nfail-on:\n  <<: {secret: none}\n",
            "line 3: merge keys (<<) are not allowed",
            id="merge-key",
        ),
        pytest.param(
            "fail-on: " + "[" * 200 + "]" * 200 + "\n",
            "line 1: nested more than 64 levels deep",
            id="deep-nesting",
        ),
    ],
)
def test_anchors_aliases_merge_keys_and_deep_nesting_are_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path / ".scangate.yaml", text)
    assert policy_error(path).startswith(f"{path}: {expected}")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(allow_entry(id="CVE-1", reason="x", expires="x" * 5000), id="expires"),
        pytest.param("fail-on:\n  vulnerability: " + "S" * 5000 + "\n", id="threshold"),
        pytest.param("fail-on:\n  secret: [" + "1, " * 5000 + "]\n", id="threshold-list"),
        pytest.param("k" * 1000 + ": 1\n", id="unknown-key"),
        pytest.param("version: " + "9" * 4000 + "\n", id="version"),
        pytest.param(allow_entry(id="C" * 5000, reason="x", expires="soon"), id="entry-id"),
        pytest.param("fail-on: !" + "t" * 5000 + " x\n", id="yaml-tag"),
    ],
)
def test_errors_quote_only_a_short_prefix_of_a_value(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / ".scangate.yaml", text)
    message = policy_error(path)
    assert len(message) < len(str(path)) + 300, message
    assert "..." in message


def test_a_number_too_long_for_python_is_a_policy_error(tmp_path: Path) -> None:
    path = write(tmp_path / ".scangate.yaml", "allow-rules:\n  max-days: " + "9" * 5000 + "\n")
    assert policy_error(path) == f"{path}: line 2: a number too long to read"


@pytest.mark.parametrize("target", ["x" * 5000, "x/" * 3000])
def test_an_extends_too_long_for_the_file_system_is_a_short_policy_error(
    tmp_path: Path, target: str
) -> None:
    # Before: `internal error: OSError: [Errno 36] File name too long: '...'` in full.
    path = write(tmp_path / ".scangate.yaml", f"extends: {target}\n")
    message = policy_error(path)
    assert message.endswith(
        "...: cannot read the policy file: File name too long; check 'extends' and --policy"
    )
    assert len(message) < 300


def test_a_top_level_type_error_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / ".scangate.yaml", "extends: [default]\n")
    assert policy_error(path) == f"{path}: 'extends': Input should be a valid string"
