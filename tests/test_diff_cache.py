"""The base scan of `--diff-base`: its cache key, the cache files, and the comparison with head.

Secrets come from a real Trivy scan of real files (`config_repo_report`), their values read
back by `secret_values` as `scan fs` does.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from scangate import diff_cache, secret_values
from scangate.diff_cache import BaseFinding, BaseScan
from scangate.findings import Finding, Kind, Location, ScanRun, Severity, assign_fingerprints
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import TrivyScanner, make_fake_github_token, write_config_repo

TREE = "4b825dc642cb6eb9a060e54bf8d69288fbe4904b"
KEY_INPUTS: dict[str, Any] = {
    "tree": TREE,
    "trivy_version": "0.76.0",
    "db_updated_at": "2026-11-30T06:12:00Z",
    "scanners": ["vuln", "secret"],
    "skip_dirs": ["node_modules"],
    "skip_files": ["*.min.js"],
    "trivy_secret_allow_rules": False,
    "extra": {"checks": "sha256:abc"},
}


def scanned(trivy_scan: TrivyScanner, tmp_path: Path, token: str) -> ScanRun:
    """The real misconfig and secret scan of a config repo holding `token`, values read."""
    repo = write_config_repo(tmp_path / "repo", token)
    report = trivy_scan.fs(repo, tmp_path / "report.json", scanners="misconfig,secret")
    run = to_scan_run(load_report(report))
    secret_values.fill(run, str(repo), image=False, archive=False)
    return run


def vuln(name: str, cve: str = "CVE-2024-1", target: str = "requirements.txt") -> Finding:
    return Finding(
        kind=Kind.VULNERABILITY,
        id=cve,
        severity=Severity.HIGH,
        target=target,
        package=name,
        installed_version="1.0",
        fixed_version="1.1",
        identity=f"{name}\x1f",
    )


# --- the key --------------------------------------------------------------------------------


def test_cache_key_is_stable_and_changes_with_every_input() -> None:
    key = diff_cache.cache_key(**KEY_INPUTS)
    assert len(key) == 64 and int(key, 16) >= 0
    assert diff_cache.cache_key(**KEY_INPUTS) == key
    reordered = {**KEY_INPUTS, "scanners": ["secret", "vuln", "secret"]}
    assert diff_cache.cache_key(**reordered) == key
    changes = {
        "tree": "0" * 40,
        "trivy_version": "0.77.0",
        "db_updated_at": "2026-12-01T06:12:00Z",
        "scanners": ["vuln"],
        "skip_dirs": ["vendor"],
        "skip_files": [],
        "trivy_secret_allow_rules": True,
        "extra": {"checks": "sha256:def"},
    }
    keys = {key}
    for name, value in changes.items():
        other = diff_cache.cache_key(**{**KEY_INPUTS, name: value})
        assert other not in keys, name
        keys.add(other)


def test_trivy_stamps_reads_the_db_metadata(vuln_db: Path, tmp_path: Path) -> None:
    stamps = diff_cache.trivy_stamps(vuln_db)
    meta = json.loads((vuln_db / "db" / "metadata.json").read_text())
    assert stamps["db"] == meta["UpdatedAt"]
    assert diff_cache.trivy_stamps(tmp_path) == {}
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "metadata.json").write_text("{not json")
    assert diff_cache.trivy_stamps(tmp_path) == {}


# --- the cache files ----------------------------------------------------------------------


def test_store_and_load_round_trip_without_secret_text(
    trivy_scan: TrivyScanner, tmp_path: Path
) -> None:
    token = make_fake_github_token()
    run = scanned(trivy_scan, tmp_path, token)
    secrets = [f for f in run.findings if f.kind is Kind.SECRET]
    assert secrets and all(f.secret_digest for f in secrets)
    scan = BaseScan("a" * 40, TREE, tuple(BaseFinding.of(f) for f in run.findings))
    key = diff_cache.cache_key(**KEY_INPUTS)
    cache = tmp_path / "cache"
    assert diff_cache.store(cache, key, scan)
    assert diff_cache.load(cache, key) == scan
    data = (cache / "diff-base" / f"{key}.json").read_bytes()
    assert token.encode() not in data
    assert token[4:20].encode() not in data  # no part of the value either
    for finding in secrets:
        assert finding.message and finding.message.encode() not in data  # the masked line
        assert (finding.secret_digest or "").encode() not in data
    assert [p.name for p in (cache / "diff-base").iterdir()] == [f"{key}.json"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"",
        lambda raw: b"{not json",
        lambda raw: raw[: len(raw) // 2],
        lambda raw: b"[" * 100_000,
        lambda raw: raw.replace(b"scangate/diff-base-cache/v1", b"scangate/diff-base-cache/v0"),
        lambda raw: raw.replace(b'"key":"', b'"key":"0'),
        lambda raw: raw.replace(b'"severity":"HIGH"', b'"severity":"SEVERE"'),
        lambda raw: raw.replace(b'"kind":"vulnerability"', b'"kind":7'),
        lambda raw: raw.replace(b'"fingerprint":"', b'"fingerprint":"zz'),
        lambda raw: raw.replace(b'"location":null', b'"location":[1,2]'),
        lambda raw: raw.replace(b'"findings":[', b'"findings":{"a":['),
    ],
)
def test_a_damaged_cache_file_is_ignored(tmp_path: Path, damage: Any) -> None:
    finding = vuln("requests")
    assign_fingerprints([finding])
    scan = BaseScan("a" * 40, TREE, (BaseFinding.of(finding),))
    key = diff_cache.cache_key(**KEY_INPUTS)
    assert diff_cache.store(tmp_path, key, scan)
    path = tmp_path / "diff-base" / f"{key}.json"
    assert diff_cache.load(tmp_path, key) == scan
    path.write_bytes(damage(path.read_bytes()))
    assert diff_cache.load(tmp_path, key) is None


def test_a_cache_file_that_is_a_link_or_too_large_is_ignored(tmp_path: Path) -> None:
    key = diff_cache.cache_key(**KEY_INPUTS)
    scan = BaseScan("a" * 40, TREE, ())
    other = tmp_path / "elsewhere.json"
    assert diff_cache.store(tmp_path, key, scan)
    path = tmp_path / "diff-base" / f"{key}.json"
    path.rename(other)
    path.symlink_to(other)
    assert diff_cache.load(tmp_path, key) is None
    path.unlink()
    with path.open("wb") as out:
        out.truncate(diff_cache.MAX_FILE_BYTES + 1)
    assert diff_cache.load(tmp_path, key) is None
    with pytest.raises(ValueError, match="not a cache key"):
        diff_cache.load(tmp_path, "../../etc/passwd")


def test_the_cache_keeps_at_most_max_files(tmp_path: Path) -> None:
    scan = BaseScan("a" * 40, TREE, ())
    keys = [diff_cache.cache_key(**{**KEY_INPUTS, "tree": f"{n:040x}"}) for n in range(40)]
    for n, key in enumerate(keys):
        assert diff_cache.store(tmp_path, key, scan)
        os.utime(tmp_path / "diff-base" / f"{key}.json", (n, n))  # strictly older first
    left = {p.stem for p in (tmp_path / "diff-base").iterdir()}
    assert len(left) == diff_cache.MAX_FILES
    assert keys[-1] in left and keys[0] not in left


def test_an_unwritable_cache_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "diff-base").write_text("a file where the directory should be")
    key = diff_cache.cache_key(**KEY_INPUTS)
    assert diff_cache.store(tmp_path, key, BaseScan("a" * 40, TREE, ())) is False
    assert diff_cache.load(tmp_path, key) is None


# --- the comparison -------------------------------------------------------------------------


def test_compare_splits_head_into_pre_existing_and_new_and_lists_fixed() -> None:
    base = [vuln("requests"), vuln("urllib3", "CVE-2024-2"), vuln("jinja2", "CVE-2024-3")]
    head = [vuln("requests"), vuln("django", "CVE-2024-9"), vuln("jinja2", "CVE-2024-3")]
    assign_fingerprints(base)
    assign_fingerprints(head)
    result = diff_cache.compare(head, [BaseFinding.of(f) for f in base])
    assert result.pre_existing == {head[0].fingerprint, head[2].fingerprint}
    assert result.new == (head[1].fingerprint,)
    assert [f.package for f in result.fixed] == ["urllib3"]
    assert diff_cache.compare([], []) == diff_cache.Comparison(frozenset(), (), ())


def test_a_finding_moved_down_the_file_is_pre_existing() -> None:
    base, head = vuln("requests"), vuln("requests")
    head.location = Location("requirements.txt", 40, 40)
    assign_fingerprints([base])
    assign_fingerprints([head])
    assert diff_cache.compare([head], [BaseFinding.of(base)]).pre_existing == {head.fingerprint}


def test_a_rotated_token_is_new_and_the_old_one_fixed(
    trivy_scan: TrivyScanner, tmp_path: Path
) -> None:
    old_token = make_fake_github_token()
    new_token = old_token[:-6] + ("A" if old_token[-6] != "A" else "B") + old_token[-5:]
    base_run = scanned(trivy_scan, tmp_path / "base", old_token)
    head_run = scanned(trivy_scan, tmp_path / "head", new_token)
    same_run = scanned(trivy_scan, tmp_path / "same", old_token)
    base = [BaseFinding.of(f) for f in base_run.findings]
    secrets_at_head = {f.fingerprint for f in head_run.findings if f.kind is Kind.SECRET}
    assert len(secrets_at_head) >= 3

    rotated = diff_cache.compare(head_run.findings, base)
    assert secrets_at_head <= set(rotated.new)
    assert not secrets_at_head & rotated.pre_existing
    fixed_secrets = [f for f in rotated.fixed if f.kind is Kind.SECRET]
    assert len(fixed_secrets) == len(secrets_at_head)
    # The misconfigurations did not change: pre-existing.
    others = {f.fingerprint for f in head_run.findings if f.kind is not Kind.SECRET}
    assert others and others <= rotated.pre_existing

    unchanged = diff_cache.compare(same_run.findings, base)
    assert unchanged.new == () and unchanged.fixed == ()


def test_a_secret_whose_value_was_not_read_is_never_pre_existing() -> None:
    def secret(digest: str | None) -> Finding:
        return Finding(
            kind=Kind.SECRET,
            id="github-pat",
            severity=Severity.CRITICAL,
            target="app.py",
            identity='TOKEN = "****"',
            secret_digest=digest,
        )

    unread_base, unread_head = secret(None), secret(None)
    assign_fingerprints([unread_base])
    assign_fingerprints([unread_head])
    assert unread_base.fingerprint == unread_head.fingerprint  # the masked line only
    result = diff_cache.compare([unread_head], [BaseFinding.of(unread_base)])
    assert result.new == (unread_head.fingerprint,)
    assert not result.pre_existing
    cached = BaseFinding.of(unread_base)
    assert cached.value_read is False and cached.to_finding().baselinable is False
    read = secret(secret_values.digest("github-pat", b"ghp_x"))
    assign_fingerprints([read])
    assert BaseFinding.of(read).to_finding().baselinable


def test_to_finding_keeps_what_the_gate_decides_by() -> None:
    finding = vuln("requests")
    finding.location = Location("requirements.txt", 3, 3)
    finding.purl = "pkg:pypi/requests@1.0"
    assign_fingerprints([finding])
    again = BaseFinding.of(finding).to_finding()
    for name in ("kind", "id", "severity", "target", "package", "fixed_version", "purl"):
        assert getattr(again, name) == getattr(finding, name), name
    assert again.location == finding.location
    assert again.fingerprint == finding.fingerprint
    assert BaseFinding.of(finding).to_json() == {
        "kind": "vulnerability",
        "id": "CVE-2024-1",
        "severity": "HIGH",
        "target": "requirements.txt",
        "package": "requests",
        "fingerprint": finding.fingerprint,
    }
    assert dataclasses.is_dataclass(BaseFinding)
