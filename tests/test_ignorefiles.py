"""scangate.ignorefiles: Trivy's ignore files read at least as strictly as Trivy reads them.

A mistake Trivy refuses, or silently turns into a wider suppression (a string for `paths`, a
misspelled key, an entry used for another kind of finding, two expiry dates), is a
`PolicyError` (exit 2) naming the file, the entry and the fix. The same files through the CLI
with the real Trivy: test_policy_cli.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scangate.errors import ExitCode, PolicyError
from scangate.findings import Finding, Kind, Severity
from scangate.ignorefiles import load_ignore_file
from scangate.policy import load_policy


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def ignore_error(path: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_ignore_file(path)
    assert caught.value.exit_code is ExitCode.USAGE
    assert "\n" not in caught.value.message
    return caught.value.message


def finding(kind: Kind, id: str, target: str = "vendor/lib/config.py") -> Finding:
    return Finding(kind=kind, id=id, severity=Severity.HIGH, target=target)


# --- .trivyignore.yaml: the shape Trivy accepts ------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            '    paths: "vendor/**"\n',
            "secrets[0] (github-pat): 'paths' is a string, not a list: "
            "write it as paths: ['vendor/**']",
            id="paths-string",
        ),
        pytest.param(
            '    purls: "pkg:pypi/requests"\n',
            "secrets[0] (github-pat): 'purls' is a string, not a list: "
            "write it as purls: ['pkg:pypi/requests']",
            id="purls-string",
        ),
        pytest.param(
            "    paths: {vendor: true}\n",
            "secrets[0] (github-pat): 'paths' must be a list of strings, like paths: ['vendor/**']",
            id="paths-mapping",
        ),
        pytest.param(
            "    paths: [vendor/**, [a, b]]\n",
            "secrets[0] (github-pat): paths[1] is ['a', 'b']: each entry of 'paths' is a "
            "non-empty string",
            id="paths-item-list",
        ),
        pytest.param(
            "    path: [vendor/**]\n",
            "secrets[0] (github-pat): unknown key 'path': did you mean 'paths'?",
            id="misspelled-paths",
        ),
        pytest.param(
            "    expires: 2027-01-01\n",
            "secrets[0] (github-pat): unknown key 'expires': did you mean 'expired_at'?",
            id="policy-spelling-of-expiry",
        ),
        pytest.param(
            "    reason: a test fixture\n",
            "secrets[0] (github-pat): unknown key 'reason': "
            "allowed: id, paths, purls, statement, expired_at",
            id="unknown-key-no-match",
        ),
        pytest.param(
            "    statement: [not, text]\n",
            "secrets[0] (github-pat): 'statement' ['not', 'text'] is not text: quote it",
            id="statement-list",
        ),
        pytest.param(
            "    paths: [a]\n    statement: x\n    paths: [b]\n",
            "line 5: key 'paths' is given twice (first at line 3): keep one",
            id="duplicate-key",
        ),
    ],
)
def test_entry_mistakes_name_the_file_the_entry_and_the_fix(
    tmp_path: Path, entry: str, expected: str
) -> None:
    text = "secrets:\n  - id: github-pat\n" + entry
    path = write(tmp_path / ".trivyignore.yaml", text)
    message = ignore_error(path)
    assert message.startswith(f"{path}")
    assert expected in message


def test_a_string_for_paths_is_not_one_glob_per_character(tmp_path: Path) -> None:
    # Before: "vendor/**" was iterated as 'v', 'e', ..., '*': and `*` matched every file.
    path = write(tmp_path / ".trivyignore.yaml", 'secrets:\n  - id: github-pat\n    paths: "v*"\n')
    with pytest.raises(PolicyError):
        load_ignore_file(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "secret:\n  - id: github-pat\n",
            "unknown section 'secret': did you mean 'secrets'?",
            id="singular",
        ),
        pytest.param(
            "vulnerabilites:\n  - id: CVE-2018-18074\n",
            "unknown section 'vulnerabilites': did you mean 'vulnerabilities'?",
            id="misspelled",
        ),
        pytest.param(
            "allow:\n  - id: CVE-2018-18074\n",
            "unknown section 'allow': allowed: vulnerabilities, misconfigurations, secrets, "
            "licenses",
            id="policy-key",
        ),
        pytest.param(
            "secrets:\n  - id: a\nsecrets:\n  - id: b\n",
            "line 3: key 'secrets' is given twice (first at line 1): keep one",
            id="duplicate-section",
        ),
        pytest.param(
            "secrets: &s\n  - id: github-pat\nlicenses: *s\n",
            "line 1: YAML anchors and aliases (&name, *name) are not allowed",
            id="alias",
        ),
        pytest.param(
            "secrets:\n  - id: [github-pat]\n",
            "secrets[0]: 'id' ['github-pat'] is not a string: quote it",
            id="id-list",
        ),
    ],
)
def test_file_mistakes_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / ".trivyignore.yaml", text)
    message = ignore_error(path)
    assert message.startswith(f"{path}")
    assert expected in message


def test_an_entry_applies_only_to_its_sections_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".trivyignore.yaml",
        "vulnerabilities:\n  - id: same-id\n"
        "misconfigurations:\n  - id: same-id\n"
        "secrets:\n  - id: same-id\n"
        "licenses:\n  - id: same-id\n",
    )
    entries = load_ignore_file(path)
    assert [sorted(entry.kinds) for entry in entries] == [
        [Kind.VULNERABILITY],
        [Kind.MISCONFIGURATION],
        [Kind.SECRET],
        [Kind.LICENSE],
    ]
    for entry, kind in zip(entries, Kind, strict=True):
        for other in Kind:
            assert entry.matches_scope(finding(other, "same-id")) is (other is kind)


def test_plain_trivyignore_entries_stay_for_every_kind(tmp_path: Path) -> None:
    # Trivy applies a `.trivyignore` ID to every scanner: it cannot tell the kind either.
    (entry,) = load_ignore_file(write(tmp_path / ".trivyignore", "same-id\n"))
    assert entry.kinds == frozenset()
    assert all(entry.matches_scope(finding(kind, "same-id")) for kind in Kind)


def test_policy_check_shows_each_entrys_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".trivyignore.yaml",
        "misconfigurations:\n  - id: DS-0002\n    statement: root is needed\n",
    )
    policy = load_policy("default", base_dir=tmp_path, today=date(2026, 3, 10))
    shown = policy.with_allow(load_ignore_file(path), str(path)).to_dict()["allow"]
    assert shown == [
        {
            "id": "DS-0002",
            "reason": "root is needed",
            "kinds": ["misconfiguration"],
            "from": f"{path} misconfigurations[0]",
        }
    ]


def test_expired_at_error_quotes_a_short_prefix(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".trivyignore.yaml",
        f"secrets:\n  - id: github-pat\n    expired_at: '{'x' * 5000}'\n",
    )
    message = ignore_error(path)
    assert message == (
        f"{path} secrets[0] (github-pat): expired_at '{'x' * 60}'... is not a date: "
        "write it as YYYY-MM-DD"
    )


# --- .trivyignore: two expiry dates -----------------------------------------------------------


def test_two_exp_dates_are_refused_never_the_later_one_used(tmp_path: Path) -> None:
    # Trivy takes the first date (expired here); scangate used to take the last (2099).
    path = write(
        tmp_path / ".trivyignore", "CVE-2020-1747\ngithub-pat exp:2020-01-01 exp:2099-01-01\n"
    )
    assert ignore_error(path) == (
        f"{path}:2: github-pat has 2 expiry dates (exp:2020-01-01, exp:2099-01-01): "
        "keep one exp:YYYY-MM-DD"
    )


def test_a_long_bad_exp_date_is_quoted_short(tmp_path: Path) -> None:
    path = write(tmp_path / ".trivyignore", f"github-pat exp:{'9' * 5000}\n")
    assert ignore_error(path) == (
        f"{path}:1: exp:{'9' * 60}... is not a date: write it as exp:YYYY-MM-DD"
    )
