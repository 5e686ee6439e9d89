"""The suppression review: a pull request's new, removed, widened and extended suppressions.

The base is a real git commit written out by `diff_base`, the head the real work tree.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scangate import baseline as baseline_file
from scangate import diff_base
from scangate.baseline import Baseline, BaselineEntry
from scangate.suppression_review import Change, Kind, Review, ReviewRow, review
from tests.support import gitrepo

TODAY = date(2026, 11, 30)

BASE_POLICY = """\
version: 1
allow:
  - id: CVE-2024-0001
    reason: no fix yet
    owner: team-a
    expires: 2027-01-01
    targets: [app/requirements.txt]
  - id: DS-0002
    reason: root is needed for the build
    expires: 2027-01-01
  - id: CVE-2024-0003
    reason: to be removed
"""
HEAD_POLICY = """\
version: 1
allow:
  - id: CVE-2024-0003x
    reason: a different ID
  - id: CVE-2024-0001
    reason: no fix yet
    owner: team-a
    expires: 2027-01-01
    targets: [app/requirements.txt, "app/**"]
  - id: DS-0002
    reason: root is needed for the build
    expires: 2027-06-01
  - id: CVE-2024-0004
    reason: not reachable
    owner: team-b
"""
DOCKERFILE = """\
FROM alpine:3.19
# trivy:ignore:DS-0026
HEALTHCHECK NONE
USER app
"""
HEAD_DOCKERFILE = """\
FROM alpine:3.19
# trivy:ignore:DS-0026
HEALTHCHECK NONE
# trivy:ignore:DS-0002:exp:2027-03-01 we build as root
USER root
"""


def baseline_text(*entries: BaselineEntry) -> str:
    return baseline_file.render(Baseline(".scangate-baseline.json", tuple(sorted(entries))))


OLD_ENTRY = BaselineEntry("vulnerability", "requirements.txt", "CVE-2020-1", "flask", "a" * 32)
NEW_ENTRY = BaselineEntry("secret", "app/key.pem", "private-key", "", "b" * 32)


@pytest.fixture
def pr(tmp_path: Path) -> tuple[Path, Path]:
    """A real repository: main holds the base suppressions, the checked-out feature branch
    changes them. Returns (head work tree, base written by diff_base)."""
    env = gitrepo.git_env(tmp_path)
    clone = gitrepo.make_clone(tmp_path, env)
    clone.commit(
        "base",
        {
            ".scangate.yaml": BASE_POLICY,
            ".trivyignore": "# accepted long ago\nCVE-2023-1111\n\nCVE-2023-2222\n",
            ".scangate-baseline.json": baseline_text(OLD_ENTRY),
            "Dockerfile": DOCKERFILE,
        },
    )
    clone.git("switch", "-q", "-c", "feature")
    clone.commit(
        "the pull request",
        {
            ".scangate.yaml": HEAD_POLICY,
            ".trivyignore": (
                "# accepted long ago\nCVE-2023-1111\n\n# vendor says not affected\n"
                "CVE-2025-2222 exp:2027-02-01\n"
            ),
            ".trivyignore.yaml": (
                "secrets:\n  - id: generic-api-key\n    paths: ['tests/**']\n"
                "    statement: test fixtures\n"
            ),
            ".scangate-baseline.json": baseline_text(OLD_ENTRY, NEW_ENTRY),
            "Dockerfile": HEAD_DOCKERFILE,
        },
    )
    base = diff_base.resolve(clone.path, "main", env=env)
    written = diff_base.write(base, tmp_path / "base-files", env=env)
    return clone.path, written.path


def find(result: Review, kind: Kind, ident: str) -> list[ReviewRow]:
    return [r for r in result.rows if r.kind is kind and r.id == ident]


def test_a_pull_request_s_suppression_changes_are_each_a_row(pr: tuple[Path, Path]) -> None:
    head, base = pr
    result = review(base, head, today=TODAY, baseline=Path(".scangate-baseline.json"), cwd=head)
    assert result.notes == ()

    (widened,) = find(result, Kind.ALLOW, "CVE-2024-0001")
    assert widened.changes == (Change.WIDENED,)
    assert widened.scope == "targets: app/**, app/requirements.txt"
    assert widened.previous_scope == "targets: app/requirements.txt"
    assert (widened.file, widened.line, widened.origin) == (
        ".scangate.yaml",
        5,
        ".scangate.yaml allow[1]",
    )
    assert (widened.reason, widened.owner) == ("no fix yet", "team-a")

    (extended,) = find(result, Kind.ALLOW, "DS-0002")
    assert extended.changes == (Change.EXTENDED,)
    assert (extended.previous_expires, extended.expires) == (date(2027, 1, 1), date(2027, 6, 1))

    (removed,) = find(result, Kind.ALLOW, "CVE-2024-0003")
    assert removed.changes == (Change.REMOVED,)
    assert removed.reason == "to be removed"
    (renamed,) = find(result, Kind.ALLOW, "CVE-2024-0003x")
    assert renamed.changes == (Change.ADDED,)
    (added,) = find(result, Kind.ALLOW, "CVE-2024-0004")
    assert added.changes == (Change.ADDED,)
    assert (added.owner, added.expires, added.scope) == ("team-b", None, "everywhere")

    (ignored,) = find(result, Kind.TRIVYIGNORE, "CVE-2025-2222")
    assert ignored.changes == (Change.ADDED,)
    assert (ignored.file, ignored.line, ignored.origin) == (".trivyignore", 5, ".trivyignore:5")
    assert (ignored.reason, ignored.expires) == ("vendor says not affected", date(2027, 2, 1))
    (dropped,) = find(result, Kind.TRIVYIGNORE, "CVE-2023-2222")
    assert dropped.changes == (Change.REMOVED,)
    assert find(result, Kind.TRIVYIGNORE, "CVE-2023-1111") == []  # unchanged

    (yaml_row,) = find(result, Kind.TRIVYIGNORE_YAML, "generic-api-key")
    assert yaml_row.changes == (Change.ADDED,)
    assert (yaml_row.line, yaml_row.scope, yaml_row.reason) == (
        2,
        "targets: tests/**",
        "test fixtures",
    )

    (inline,) = find(result, Kind.INLINE, "DS-0002")
    assert inline.changes == (Change.ADDED,)
    assert (inline.file, inline.line, inline.expires) == ("Dockerfile", 4, date(2027, 3, 1))
    assert "we build as root" in inline.reason
    assert find(result, Kind.INLINE, "DS-0026") == []  # moved by a line: the same comment

    (entry,) = find(result, Kind.BASELINE, "private-key")
    assert entry.changes == (Change.ADDED,)
    assert entry.scope == "app/key.pem"
    assert entry.line is not None
    assert find(result, Kind.BASELINE, "CVE-2020-1") == []

    assert len(result.rows) == 10


def test_unchanged_trees_have_no_rows(pr: tuple[Path, Path]) -> None:
    head, _ = pr
    result = review(head, head, today=TODAY, baseline=Path(".scangate-baseline.json"), cwd=head)
    assert result.rows == ()


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_policy_that_fails_to_load_at_the_base_is_a_row_and_head_entries_count_as_added(
    tmp_path: Path,
) -> None:
    base = write(tmp_path / "base", {".scangate.yaml": "version: 1\nallow:\n  - id: [x\n"})
    head = write(tmp_path / "head", {".scangate.yaml": HEAD_POLICY})
    result = review(base, head, today=TODAY, cwd=head)
    broken = [r for r in result.rows if r.changes == (Change.UNREADABLE,)]
    assert len(broken) == 1
    assert broken[0].note.startswith("at the base: .scangate.yaml")
    assert str(base) not in broken[0].note
    added = [r for r in result.rows if r.changes == (Change.ADDED,)]
    assert len(added) == 4
    assert all("could not be read" in r.note for r in added)


def test_a_broken_head_file_is_a_row_not_a_crash(tmp_path: Path) -> None:
    base = write(tmp_path / "base", {".trivyignore": "CVE-1\n"})
    head = tmp_path / "head"
    head.mkdir()
    (head / ".trivyignore").symlink_to("/etc/passwd")
    result = review(base, head, today=TODAY, cwd=head)
    (row,) = result.rows
    assert row.changes == (Change.UNREADABLE,)
    assert row.kind is Kind.TRIVYIGNORE
    assert row.note.startswith("at the head:") and "symbolic link" in row.note


def test_an_expiry_removed_is_extended_and_a_narrowed_scope_is_no_row(tmp_path: Path) -> None:
    base = write(
        tmp_path / "base",
        {
            ".trivyignore": "CVE-1 exp:2027-01-01\n",
            ".trivyignore.yaml": "vulnerabilities:\n  - id: CVE-2\n    paths: [a/**, b/**]\n",
        },
    )
    head = write(
        tmp_path / "head",
        {
            ".trivyignore": "CVE-1\n",
            ".trivyignore.yaml": "vulnerabilities:\n  - id: CVE-2\n    paths: [a/**]\n",
        },
    )
    result = review(base, head, today=TODAY, cwd=head)
    (row,) = result.rows
    assert (row.id, row.changes, row.expires, row.previous_expires) == (
        "CVE-1",
        (Change.EXTENDED,),
        None,
        date(2027, 1, 1),
    )


def test_dropping_every_path_widens_and_a_later_expiry_extends_in_one_row(tmp_path: Path) -> None:
    entry = "vulnerabilities:\n  - id: CVE-2\n{paths}    expired_at: {day}\n"
    base = write(
        tmp_path / "base",
        {".trivyignore.yaml": entry.format(paths="    paths: [a/**]\n", day="2027-01-01")},
    )
    head = write(tmp_path / "head", {".trivyignore.yaml": entry.format(paths="", day="2027-05-01")})
    (row,) = review(base, head, today=TODAY, cwd=head).rows
    assert row.changes == (Change.WIDENED, Change.EXTENDED)
    assert (row.scope, row.previous_scope) == ("everywhere", "targets: a/**")


def test_a_policy_named_with_extends_and_files_outside_the_tree(tmp_path: Path) -> None:
    policy = "version: 1\nextends: shared.yaml\nallow:\n  - id: CVE-9\n    reason: r\n"
    shared = "version: 1\nallow:\n  - id: CVE-8\n    reason: shared\n"
    base = write(tmp_path / "base", {"ci/policy.yaml": policy, "ci/shared.yaml": shared})
    head = write(
        tmp_path / "head",
        {"ci/policy.yaml": policy, "ci/shared.yaml": shared + "  - id: CVE-7\n    reason: n\n"},
    )
    outside = write(tmp_path / "elsewhere", {".trivyignore": "CVE-1\n"})
    result = review(
        base,
        head,
        today=TODAY,
        policy="ci/policy.yaml",
        ignorefiles=[outside / ".trivyignore"],
        cwd=head,
    )
    (row,) = result.rows
    assert (row.id, row.changes, row.file, row.line) == (
        "CVE-7",
        (Change.ADDED,),
        "ci/shared.yaml",
        5,
    )
    assert row.origin == "ci/shared.yaml allow[1]"
    (note,) = result.notes
    assert (
        note
        == f"the ignore file {outside / '.trivyignore'} is outside the scanned directory: "
        + "not compared"
    )
    # A built-in policy is the same on both sides.
    assert review(base, head, today=TODAY, policy="strict", cwd=head).rows == ()


def test_an_inline_comment_with_an_unreadable_date_then_fixed_is_extended(tmp_path: Path) -> None:
    base = write(tmp_path / "base", {"main.tf": "# trivy:ignore:AWS-0086:exp:2027-13-01\n"})
    head = write(tmp_path / "head", {"main.tf": "# trivy:ignore:AWS-0086:exp:2027-12-01\n"})
    (row,) = review(base, head, today=TODAY, cwd=head).rows
    assert (row.kind, row.changes, row.expires) == (
        Kind.INLINE,
        (Change.EXTENDED,),
        date(2027, 12, 1),
    )
    back = review(head, base, today=TODAY, cwd=base).rows
    assert back == ()  # an unreadable date suppresses nothing: no wider than before
