"""Secret values read back from what the real Trivy scanned: files of every shape, image
archives (docker save, OCI layout with gzip'd layers) and what happens when they are gone."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scangate import secret_values
from scangate.cli import run
from scangate.findings import Finding, Kind
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import TrivyScanner
from tests.support import images

TOKEN = "ghp" + "_" + "A1b2" * 9  # built at run time: this repository holds no token
OTHER = "ghp" + "_" + "Zz9y" * 9
KEY_BODY = [
    "MIIEpAIBAAKCAQEA1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
]


def _key(body: list[str]) -> bytes:
    return "\n".join(
        ["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----", ""]
    ).encode()


def tree_files(token: str, key_body: list[str]) -> dict[str, bytes]:
    """One file per shape of line Trivy masks differently."""
    return {
        "plain.py": f'"""Settings."""\n\nGITHUB_TOKEN = "{token}"\n'.encode(),
        # Over 100 bytes: Trivy's Match is a window (30 bytes before, 20 after).
        "long.txt": f'LONG = "{"x" * 150} {token}"  # {"y" * 50}\n'.encode(),
        # Trivy removes every CR before scanning.
        "crlf.txt": f"a\r\nb\r\nTOKEN={token}\r\n".encode(),
        "lone-cr.txt": f"x=1\rTOKEN={token} z\n".encode(),
        # Non-UTF-8 bytes reach Trivy's JSON as U+FFFD.
        "latin1.txt": b"caf\xe9 = 1; token = '" + token.encode() + b"'\n",
        "utf8.txt": f'k: "\u00e9{token}"\n'.encode(),
        "key.pem": _key(key_body),
        "two.py": f'X = "{token}" + "{OTHER}"\n'.encode(),
    }


def write_tree(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


def secrets_of(report: Path, fill: Callable[[Any], int]) -> list[Finding]:
    scan_run = to_scan_run(load_report(report))
    fill(scan_run)
    return sorted(
        (f for f in scan_run.findings if f.kind is Kind.SECRET),
        key=lambda f: (f.target, f.location.start_line if f.location else 0, f.fingerprint),
    )


def digests(found: list[Finding]) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for f in found:
        out.setdefault(f.target, []).append(f.secret_digest)
    return out


def test_every_shape_of_line_gives_a_digest_that_follows_the_value(
    trivy_scan: TrivyScanner, tmp_path: Path
) -> None:
    def scan(name: str, files: dict[str, bytes]) -> list[Finding]:
        tree = write_tree(tmp_path / name, files)
        report = trivy_scan.fs(tree, tmp_path / f"{name}.json", scanners="secret")
        return secrets_of(
            report, lambda r: secret_values.fill(r, str(tree), image=False, archive=False)
        )

    base = scan("base", tree_files(TOKEN, KEY_BODY))
    assert {f.target for f in base} == set(tree_files(TOKEN, KEY_BODY))
    assert all(f.secret_digest is not None for f in base), [
        f.target for f in base if f.secret_digest is None
    ]
    # Lines moved down: the same digests and fingerprints.
    moved = scan("moved", {n: b"# header\n\n" + d for n, d in tree_files(TOKEN, KEY_BODY).items()})
    assert digests(moved) == digests(base)
    assert [f.fingerprint for f in moved] == [f.fingerprint for f in base]
    # Another token (another key) at the same place: every digest and fingerprint changes.
    other_key = [line[::-1] for line in KEY_BODY]
    swapped = scan(
        "swapped",
        {
            n: d.replace(TOKEN.encode(), OTHER.encode())
            for n, d in tree_files(TOKEN, other_key).items()
        },
    )
    assert [f.target for f in swapped] == [f.target for f in base]
    for before, after in zip(base, swapped, strict=True):
        assert before.secret_digest != after.secret_digest, before.target
        assert before.fingerprint != after.fingerprint, before.target
        assert before.message == after.message  # Trivy's masked text cannot tell them apart


def test_a_line_too_long_to_read_leaves_the_secret_without_a_digest(
    trivy_scan: TrivyScanner, tmp_path: Path
) -> None:
    tree = write_tree(
        tmp_path / "tree",
        {
            "huge.txt": b"x" * (secret_values.MAX_LINE + 10) + f' "{TOKEN}"\n'.encode(),
            "ok.txt": f'TOKEN = "{TOKEN}"\n'.encode(),
        },
    )
    report = trivy_scan.fs(tree, tmp_path / "r.json", scanners="secret")
    found = secrets_of(
        report, lambda r: secret_values.fill(r, str(tree), image=False, archive=False)
    )
    assert {f.target: f.secret_digest is not None for f in found} == {
        "huge.txt": False,
        "ok.txt": True,
    }
    unread = found[0]
    assert not unread.baselinable and found[1].baselinable


def test_read_lines_is_bounded_and_counts_as_trivy_does() -> None:
    data = b"one\r\ntwo\n" + b"z" * (secret_values.MAX_LINE + 5) + b"\nfour\nfive"
    lines = secret_values.read_lines(io.BytesIO(data), {1, 2, 3, 5, 9})
    assert lines == {1: b"one", 2: b"two", 3: None, 5: b"five"}


def test_the_value_must_line_up_with_the_masked_text() -> None:
    from scangate.findings import SecretSite

    site = SecretSite(match='TOKEN = "****"')
    assert secret_values.value_of(site, 1, 1, {1: b'TOKEN = "abcd"'}) == (b"abcd", "value")
    # Another line at that number (the file changed since the scan): no value at all.
    assert secret_values.value_of(site, 1, 1, {1: b"import os"}) is None
    assert secret_values.value_of(site, 1, 1, {}) is None
    # Older Trivy wrote `*****` whatever the length: the masked run lines up loosely.
    old = SecretSite(match='TOKEN = "*****"')
    assert secret_values.value_of(old, 1, 1, {1: b'  TOKEN = "abcdefgh"'}) == (
        b"abcdefgh",
        "value",
    )
    # A loose run at the end takes the whole rest of the line, not its first byte.
    tail = SecretSite(match="TOKEN=*****")
    assert secret_values.value_of(tail, 1, 1, {1: b"TOKEN=abcdefgh"}) == (b"abcdefgh", "value")
    assert secret_values.value_of(tail, 1, 1, {1: b"TOKEN=abzzzz"}) == (b"abzzzz", "value")
    # Text no Trivy writes (a lone surrogate from a hand-made report) is no crash either.
    odd = SecretSite(match="\ud800 = '****'", lines=((1, "\ud800 = '****'"),))
    assert secret_values.value_of(odd, 1, 1, {1: b"x = 'abcd'"}) is None
    assert secret_values.digest("\udfff", b"v") != secret_values.digest("r", b"v")
    assert secret_values.digest("r", b"v") != secret_values.digest("r", b"v", basis="lines")
    assert secret_values.digest("r", b"v") != secret_values.digest("r2", b"v")


# --- image archives ----------------------------------------------------------------------------


def scan_image(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, Any]:
    out = tmp_path / "result.json"
    code = run(
        ["scan", "image", *args, "--cache-dir", str(tmp_path / "c"), "--scanners", "secret",
         "--offline", "-q", "--json", str(out)]
    )  # fmt: skip
    capsys.readouterr()
    return code, json.loads(out.read_text()) if out.exists() else None


def test_image_secrets_are_read_from_their_layer(
    capsys: pytest.CaptureFixture[str],
    trivy_scan: TrivyScanner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def config(token: str) -> dict[str, bytes]:
        return {"app/config.py": f'"""Config."""\n\nTOKEN = "{token}"\n'.encode()}

    accepted = images.write_docker_archive(tmp_path / "accepted.tar", extra_files=config(TOKEN))
    report = trivy_scan.image(accepted, tmp_path / "accepted.json", scanners="secret")
    baseline = tmp_path / "baseline.json"
    assert run(["baseline", "create", "--output", str(baseline), "--report", str(report)]) == 0
    assert capsys.readouterr().err == ""
    entries = json.loads(baseline.read_text())["findings"]
    assert [(e["kind"], e["target"]) for e in entries] == [("secret", "/app/config.py")]
    assert TOKEN not in baseline.read_text()

    same = images.write_oci_layout(tmp_path / "same-oci", extra_files=config(TOKEN))  # gzip'd
    code, result = scan_image(capsys, tmp_path, "--input", str(same), "--baseline", str(baseline))
    assert code == 0 and result["baseline"]["known"] == 1
    moved = {"app/config.py": b"# moved\n" + config(TOKEN)["app/config.py"]}
    moved_tar = images.write_docker_archive(tmp_path / "moved.tar", extra_files=moved)
    code, result = scan_image(
        capsys, tmp_path, "--input", str(moved_tar), "--baseline", str(baseline)
    )
    assert code == 0, result["findings"]

    writers = {"other.tar": images.write_docker_archive, "other-oci": images.write_oci_layout}
    for name, write in writers.items():
        other = write(tmp_path / name, extra_files=config(OTHER))
        code, result = scan_image(
            capsys, tmp_path, "--input", str(other), "--baseline", str(baseline)
        )
        assert code == 1, name
        [finding] = result["findings"]
        assert (finding["target"], finding["decision"]) == ("/app/config.py", "fail")
        assert finding["message"] == 'TOKEN = "****************************************"'
        assert OTHER not in json.dumps(result)

    # The archive is gone (as for an image in a registry, or a report made elsewhere): the
    # value cannot be read, and the baseline does not vouch for the secret.
    accepted.unlink()
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "check.json"
    assert run(["check", str(report), "--baseline", str(baseline), "--json", str(out)]) == 1
    [finding] = json.loads(out.read_text())["findings"]
    assert finding["decision"] == "fail"
    assert "its value could not be read from the scanned files" in finding["reason"]
