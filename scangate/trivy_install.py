"""Installing a pinned Trivy release into scangate's cache.

This module owns the cache layout (`<cache_dir>/trivy/<version>/trivy`), the download, its
verification against SHA-256 digests pinned in `scangate._trivy_digests` (after a size
cap: the digest is only known once the body ends), and the extraction of the one `trivy`
file from the release archive (`scangate.trivy_archive`). Nothing half-done is ever left
in the cache: every temporary file lives under `<cache_dir>/trivy/` and is removed on any
failure, and a finished install appears with one rename. It returns paths and raises
`UsageError` / `InstallError`; it prints nothing and reads no environment variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform as _platform
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from scangate._trivy_digests import PINNED_SHA256
from scangate.errors import InstallError, UsageError
from scangate.trivy_archive import extract_trivy

if TYPE_CHECKING:
    # Imported where used: every scan imports this module, few download anything.
    import requests

__all__ = [
    "BLOCKED_VERSIONS",
    "DEFAULT_BASE_URL",
    "DEFAULT_VERSION",
    "PINNED_SHA256",
    "PLATFORMS",
    "asset_name",
    "asset_url",
    "binary_path",
    "checksums_url",
    "install",
    "is_installed",
    "normalize_version",
    "platform_name",
]

DEFAULT_VERSION = "0.76.0"
DEFAULT_BASE_URL = "https://github.com/aquasecurity/trivy/releases/download"
PLATFORMS = ("Linux-64bit", "Linux-ARM64", "macOS-64bit", "macOS-ARM64")

BLOCKED_VERSIONS: dict[str, str] = {
    "0.69.4": (
        "malicious release built by a compromised pipeline (CVE-2026-33634); "
        "use 0.69.3 or newer than 0.69.4"
    ),
}
"""Versions scangate never installs or runs, with the reason; no flag overrides this."""

LOCK_TIMEOUT_SECONDS = 600.0
ARCHIVE_MAX_BYTES = 256 << 20
"""The largest release archive scangate downloads. 0.76.0's Linux-64bit archive is about
58 MB; four times that leaves room for growth, and a server sending an endless body (the
digest is only known at its end) stops here instead of filling the disk."""
BINARY_MAX_BYTES = 1 << 30
"""The largest `trivy` scangate extracts (0.76.0's is 175 MB): a small archive can inflate
to any size."""
_CHUNK = 1 << 16
_CHECKSUMS_MAX_BYTES = 1 << 20
_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?$")
_HINT = (
    "set SCANGATE_TRIVY_DOWNLOAD_URL to a reachable mirror, "
    "or install trivy yourself and pass --trivy PATH"
)

_MACHINES = {
    "x86_64": "64bit",
    "amd64": "64bit",
    "aarch64": "ARM64",
    "arm64": "ARM64",
}
_SYSTEMS = {"linux": "Linux", "darwin": "macOS"}


def normalize_version(version: str) -> str:
    """`v0.76.0` or `0.76.0` -> `0.76.0`; anything that is not a release version is refused
    (the version becomes a path in the cache and part of a URL)."""
    text = version.strip()
    text = text.removeprefix("v")
    if not _VERSION_RE.match(text):
        raise UsageError(
            f"trivy version {version!r} is not a release version like {DEFAULT_VERSION}: "
            "fix --version"
        )
    return text


def platform_name(system: str, machine: str) -> str:
    """The release asset's platform for `platform.system()` / `platform.machine()` values."""
    os_part = _SYSTEMS.get(system.lower())
    arch_part = _MACHINES.get(machine.lower())
    if os_part is None or arch_part is None:
        raise UsageError(
            f"scangate cannot install Trivy for {system}/{machine} (it installs "
            f"{', '.join(PLATFORMS)}): install trivy yourself and pass --trivy PATH"
        )
    return f"{os_part}-{arch_part}"


def asset_name(version: str, platform: str) -> str:
    return f"trivy_{version}_{platform}.tar.gz"


def asset_url(base_url: str, version: str, platform: str) -> str:
    return f"{base_url.rstrip('/')}/v{version}/{asset_name(version, platform)}"


def checksums_url(base_url: str, version: str) -> str:
    return f"{base_url.rstrip('/')}/v{version}/trivy_{version}_checksums.txt"


def archive_path(cache_dir: Path, version: str, platform: str) -> Path:
    """Where a verified release archive is kept: a restored cache of these is re-verified
    against the pinned digest before use, unlike a cached binary (see `install`)."""
    return cache_dir / "trivy" / "archives" / asset_name(version, platform)


def binary_path(cache_dir: Path, version: str) -> Path:
    """Where `install` puts (and `trivy_locate` looks for) a given version."""
    return cache_dir / "trivy" / version / "trivy"


def is_installed(binary: Path) -> bool:
    """A regular, executable file: what a finished install leaves and nothing else does."""
    try:
        mode = binary.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and os.access(binary, os.X_OK)


def install(
    version: str,
    cache_dir: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    allow_unpinned: bool = False,
    platform: str | None = None,
    session: requests.Session | None = None,
    timeout: float = 120,
) -> Path:
    """Install Trivy `version` into `<cache_dir>/trivy/<version>/trivy` and return that path.

    An installed version is returned without touching the network. Otherwise the release
    archive for `platform` (default: this machine) is downloaded from `base_url` and must match
    the SHA-256 pinned in this scangate release. With `allow_unpinned`, a version without a
    pinned digest is checked against the `checksums.txt` published beside the release instead:
    a weaker check, since whoever can replace the archive on that server can usually replace
    its checksums file too (that is how the malicious 0.69.4 verified). Blocked versions are
    refused always. `timeout` bounds each network wait (connect, and each read), not the total.
    """
    version = normalize_version(version)
    if version in BLOCKED_VERSIONS:
        raise UsageError(
            f"trivy {version} is blocked: {BLOCKED_VERSIONS[version]}; pass another --version"
        )
    binary = binary_path(cache_dir, version)
    if is_installed(binary):
        return binary
    if platform is None:
        platform = platform_name(_platform.system(), _platform.machine())
    elif platform not in PLATFORMS:
        raise UsageError(f"unknown Trivy platform {platform!r}: use one of {', '.join(PLATFORMS)}")
    pinned = PINNED_SHA256.get(version, {}).get(platform)
    if pinned is None and not allow_unpinned:
        known = ", ".join(sorted(PINNED_SHA256, key=_version_key, reverse=True)) or "none"
        raise UsageError(
            f"trivy {version} ({platform}) has no SHA-256 pinned in this scangate "
            f"(pinned: {known}): pick a pinned --version, or pass --allow-unpinned to trust "
            "the checksums file published with the release"
        )

    root = cache_dir / "trivy"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(
            f"cannot create the Trivy cache {root}: {exc.strerror or exc}; "
            "set SCANGATE_CACHE_DIR to a writable folder"
        ) from exc
    import filelock
    import requests

    lock = filelock.FileLock(str(root / f".install-{version}.lock"), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        with lock:
            # Another process may have finished the same install while we waited.
            if is_installed(binary):
                return binary
            own_session = session is None
            http = requests.Session() if session is None else session
            try:
                if pinned is not None:
                    expected = pinned
                else:
                    expected = _published_checksum(http, base_url, version, platform, timeout)
                _download_and_place(http, base_url, version, platform, expected, root, timeout)
            finally:
                if own_session:
                    http.close()
    except filelock.Timeout as exc:
        raise InstallError(
            f"another scangate has been installing trivy {version} for over "
            f"{LOCK_TIMEOUT_SECONDS:g} s (lock {lock.lock_file}): wait for it, or delete the "
            "lock file if no install is running"
        ) from exc
    return binary


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", 1)[0]))


def _published_checksum(
    http: requests.Session, base_url: str, version: str, platform: str, timeout: float
) -> str:
    """The digest for the asset from the release's checksums file (the `allow_unpinned` path)."""
    import requests

    url = checksums_url(base_url, version)
    asset = asset_name(version, platform)
    body = bytearray()
    try:
        with http.get(url, stream=True, timeout=timeout) as response:
            _check_status(response, url)
            for chunk in response.iter_content(chunk_size=_CHUNK):
                body += chunk
                if len(body) > _CHECKSUMS_MAX_BYTES:
                    raise InstallError(
                        f"{url} is over {_CHECKSUMS_MAX_BYTES} bytes: not a checksums file; "
                        f"check the URL, or {_HINT}"
                    )
    except requests.RequestException as exc:
        raise InstallError(f"download of {url} failed: {_reason(exc)}; {_HINT}") from exc
    text = body.decode("utf-8", errors="replace")
    for line in text.splitlines():
        fields = line.split()
        # sha256sum format: "<hex>  <name>", with "*<name>" in binary mode.
        if len(fields) == 2 and fields[1].lstrip("*") == asset:
            digest = fields[0].lower()
            if re.fullmatch(r"[0-9a-f]{64}", digest):
                return digest
            raise InstallError(f"{url}: the line for {asset} has no SHA-256 ({fields[0]!r})")
    raise InstallError(f"{url} has no line for {asset}: check the version and platform")


def _download_and_place(
    http: requests.Session,
    base_url: str,
    version: str,
    platform: str,
    expected: str,
    root: Path,
    timeout: float,
) -> None:
    """Download, verify, extract and rename into place; remove every temp file on any exit."""
    url = asset_url(base_url, version, platform)
    target = root / version
    work: Path | None = None
    try:
        # Inside the cache, so the final os.replace is a rename on one filesystem.
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=root))
        archive = work / asset_name(version, platform)
        kept = root / "archives" / archive.name
        actual = _reuse(kept, archive)
        if actual is not None and actual != expected:
            # A corrupt or tampered cache entry (CI caches can be poisoned): fetch it again.
            kept.unlink()
            actual = None
        if actual is None:
            actual = _download(http, url, archive, timeout)
        if actual != expected:
            raise InstallError(
                f"{url} has SHA-256 {actual}, expected {expected}: the download is corrupt or "
                f"was tampered with, nothing was installed; {_HINT}"
            )
        stage = work / version
        stage.mkdir()
        extract_trivy(archive, stage / "trivy", url, max_bytes=BINARY_MAX_BYTES)
        stage.chmod(0o755)
        if target.exists() or target.is_symlink():
            # Only under the install lock, and only when it holds no usable binary: a leftover
            # of an interrupted manual change. A rename cannot replace a non-empty folder.
            _remove(target)
        stage.replace(target)  # one rename: the install appears whole or not at all
        kept.parent.mkdir(exist_ok=True)
        archive.replace(kept)
    except OSError as exc:
        raise InstallError(
            f"cannot write trivy {version} into {root}: {exc.strerror or exc}; free some space "
            "or set SCANGATE_CACHE_DIR to a writable folder"
        ) from exc
    finally:
        # Runs on KeyboardInterrupt and on a full disk too.
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _reuse(kept: Path, dest: Path) -> str | None:
    """Copy a kept archive (CI restores these from its cache) to `dest` and return its SHA-256
    for the caller to check like a download's; None when there is none."""
    if not kept.is_file() or kept.stat().st_size > ARCHIVE_MAX_BYTES:
        return None  # an oversized one is not a release: download again (and replace it)
    digest = hashlib.sha256()
    with kept.open("rb") as src, dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _download(http: requests.Session, url: str, dest: Path, timeout: float) -> str:
    """Stream `url` to `dest`, returning the SHA-256 of the bytes written."""
    import requests

    digest = hashlib.sha256()
    written = 0
    too_big = (
        f"download of {url} is over {ARCHIVE_MAX_BYTES} bytes, more than any Trivy release: "
        f"nothing was installed; check the URL, or {_HINT}"
    )
    try:
        with http.get(url, stream=True, timeout=timeout) as response:
            _check_status(response, url)
            declared = _content_length(response)
            if declared is not None and declared > ARCHIVE_MAX_BYTES:
                raise InstallError(too_big)
            with dest.open("wb") as out:
                for chunk in response.iter_content(chunk_size=_CHUNK):
                    written += len(chunk)
                    if written > ARCHIVE_MAX_BYTES:
                        raise InstallError(too_big)
                    out.write(chunk)
                    digest.update(chunk)
    except requests.RequestException as exc:
        raise InstallError(f"download of {url} failed: {_reason(exc)}; {_HINT}") from exc
    if declared is not None and written != declared:
        raise InstallError(
            f"download of {url} was cut short: got {written} of {declared} bytes; "
            f"try again, or {_HINT}"
        )
    return digest.hexdigest()


def _content_length(response: requests.Response) -> int | None:
    # With a Content-Encoding, requests decodes the body and the byte counts differ.
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _check_status(response: requests.Response, url: str) -> None:
    if response.status_code != 200:
        status = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
        what = "no such release or asset" if response.status_code == 404 else "server error"
        raise InstallError(
            f"download of {url} failed: {status} ({what}); check --version, or {_HINT}"
        )


def _reason(exc: requests.RequestException) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection closed before the whole file arrived (truncated download)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"cannot connect ({exc.__class__.__name__})"
    return str(exc) or exc.__class__.__name__


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
