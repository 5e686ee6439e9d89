"""Finding the Trivy binary to run, and deciding whether scangate may run it.

The search order is: the path the user gave (`--trivy` / `SCANGATE_TRIVY`, merged by the
CLI), the running Python environment's scripts folder (`pip install scangate[trivy]` puts
Trivy there, and a console script started without an activated venv does not have that
folder on PATH), `PATH`, then scangate's own cache (newest version first). This module reads
no environment variables: the CLI passes them in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scangate import _subprocess
from scangate.errors import ScangateError, TrivyNotFoundError, UsageError
from scangate.trivy_install import BLOCKED_VERSIONS, binary_path, is_installed

MIN_SUPPORTED_VERSION = "0.50.0"
VERSION_TIMEOUT_SECONDS = 30.0

SOURCES = ("explicit", "python-env", "PATH", "cache")


@dataclass(frozen=True)
class TrivyBinary:
    path: Path
    version: str
    source: str  # one of SOURCES


# (resolved path, mtime_ns, size) -> version: `trivy version` takes ~0.1 s, run it once.
_version_cache: dict[tuple[str, int, int, int, int], str] = {}


def parse_version(version: str) -> tuple[int, ...]:
    """`0.76.0`, `v0.76.0` or `0.76.0-rc.1` -> (0, 76, 0). ValueError if it has no number."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", version.strip())
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in match.group(1).split("."))


VERSIONS_FILE = "trivy-versions.json"


def trivy_version(path: Path, *, cache_dir: Path | None = None) -> str:
    """The version `<path> version --format json` reports, cached per file within the process
    and, given `cache_dir`, on disk: asking costs about 0.1 s, a third of scangate's overhead.

    The key has the inode and ctime, which no one can set back, so a replaced binary is asked
    again."""
    try:
        info = path.stat()
        key = (str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    except OSError as exc:
        raise TrivyNotFoundError(
            f"trivy binary {path} cannot be read: {exc.strerror or exc}"
        ) from exc
    cached = _version_cache.get(key)
    disk = _read_versions(cache_dir) if cached is None and cache_dir is not None else {}
    cached = cached or disk.get(_disk_key(key))
    if cached is not None:
        _version_cache[key] = cached
        return cached
    completed = _subprocess.run(
        [str(path), "version", "--format", "json"], timeout=VERSION_TIMEOUT_SECONDS
    )
    if completed.returncode != 0:
        tail = _subprocess.stderr_tail(completed.stderr, lines=1) or "no error output"
        raise TrivyNotFoundError(
            f"{path} is not a usable trivy: `version --format json` exited "
            f"{completed.returncode} ({tail}); point --trivy at a Trivy release binary"
        )
    try:
        data = json.loads(completed.stdout)
    except ValueError:
        data = None
    version = data.get("Version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.strip():
        raise TrivyNotFoundError(
            f"{path} is not a usable trivy: `version --format json` printed no JSON "
            '"Version"; point --trivy at a Trivy release binary'
        )
    version = version.strip()
    _version_cache[key] = version
    if cache_dir is not None:
        _write_versions(cache_dir, {**disk, _disk_key(key): version})
    return version


def _disk_key(key: tuple[str, int, int, int, int]) -> str:
    return "|".join(map(str, key))


def _read_versions(cache_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((cache_dir / VERSIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_versions(cache_dir: Path, versions: dict[str, str]) -> None:
    # A cache: failing to write it (read-only home, full disk) only costs the next run 0.1 s.
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{VERSIONS_FILE}.", dir=cache_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(list(versions.items())[-32:]), handle)
        Path(tmp).replace(cache_dir / VERSIONS_FILE)
    except OSError:
        return


def unsupported_reason(binary: TrivyBinary) -> str | None:
    """Why scangate refuses to run `binary`, or None when it may."""
    try:
        found = parse_version(binary.version)
    except ValueError:
        return (
            f"cannot tell the version of trivy at {binary.path} ({binary.version!r}): "
            "use a Trivy release build, or run `scangate trivy install`"
        )
    for blocked, why in BLOCKED_VERSIONS.items():
        if found == parse_version(blocked):
            return (
                f"trivy {binary.version} at {binary.path} is refused: {why}; remove it and run "
                "`scangate trivy install`"
            )
    if found < parse_version(MIN_SUPPORTED_VERSION):
        return (
            f"trivy {binary.version} at {binary.path} is older than {MIN_SUPPORTED_VERSION}, "
            "the oldest scangate supports: upgrade it or run `scangate trivy install`"
            + (" and drop --trivy / SCANGATE_TRIVY" if binary.source == "explicit" else "")
        )
    return None


def check_supported(binary: TrivyBinary) -> None:
    """Raise UsageError if scangate must not run `binary` (too old, blocked, unknown)."""
    reason = unsupported_reason(binary)
    if reason is not None:
        raise UsageError(reason)


def locate(
    *,
    explicit: Path | None,
    path_env: str | None,
    cache_dir: Path,
    scripts_dir: Path | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> TrivyBinary | None:
    """The Trivy binary to use, or None when there is none (the CLI may then install one).

    `explicit` is returned as found, even if unsupported: the caller runs `check_supported`
    and the user sees why their choice is refused. A binary found by searching that is
    unsupported (too old, blocked) or broken is skipped, so that after `scangate trivy
    install` the cached release wins over an old trivy on PATH; `on_skip(message)` hears
    about each one. `path_env` is the PATH value to search (None: do not search PATH).
    """
    if explicit is not None:
        path = _explicit_path(explicit, path_env)
        version = trivy_version(path, cache_dir=cache_dir)
        return TrivyBinary(path=path, version=version, source="explicit")
    for path, source in _search(path_env, cache_dir, scripts_dir):
        try:
            version = trivy_version(path, cache_dir=cache_dir)
            binary = TrivyBinary(path=path, version=version, source=source)
        except ScangateError as exc:
            _skip(on_skip, f"ignoring {path} ({source}): {exc.message}")
            continue
        reason = unsupported_reason(binary)
        if reason is not None:
            _skip(on_skip, f"ignoring {path} ({source}): {reason}")
            continue
        return binary
    return None


def _skip(on_skip: Callable[[str], None] | None, message: str) -> None:
    if on_skip is not None:
        on_skip(message)


def _explicit_path(explicit: Path, path_env: str | None) -> Path:
    # Absolute from here on: Path("./trivy") is Path("trivy"), which a process start looks
    # up on PATH, so `--trivy ./trivy` would ask (and run) another trivy than the one named.
    path = Path.cwd() / explicit.expanduser()
    if not path.exists() and len(explicit.parts) == 1 and path_env:
        # A bare name such as SCANGATE_TRIVY=trivy-0.70, with no such file in the current
        # directory, means "this program on PATH".
        found = shutil.which(str(explicit), path=path_env)
        if found is not None:
            return Path(found).absolute()
    if not path.exists():
        raise UsageError(
            f"trivy binary {explicit} (from --trivy or SCANGATE_TRIVY) does not exist: "
            "fix the path, or drop it to search the Python environment, PATH and the cache"
        )
    if path.is_dir():
        raise UsageError(
            f"trivy binary {explicit} (from --trivy or SCANGATE_TRIVY) is a folder: "
            f"point it at the trivy file, e.g. {path / 'trivy'}"
        )
    if not os.access(path, os.X_OK):
        raise UsageError(
            f"trivy binary {explicit} (from --trivy or SCANGATE_TRIVY) is not executable: "
            f"chmod +x {explicit}, or point it at another binary"
        )
    return path


def _search(
    path_env: str | None, cache_dir: Path, scripts_dir: Path | None
) -> Iterator[tuple[Path, str]]:
    """Candidate paths in search order, each file once."""
    seen: set[Path] = set()

    def fresh(path: Path) -> bool:
        try:
            real = path.resolve()
        except OSError:
            return False
        if real in seen:
            return False
        seen.add(real)
        return True

    scripts = scripts_dir if scripts_dir is not None else Path(sysconfig.get_path("scripts"))
    candidate = scripts / "trivy"
    if _is_executable_file(candidate) and fresh(candidate):
        yield candidate, "python-env"
    if path_env:
        found = shutil.which("trivy", path=path_env)
        # A relative PATH entry (".") gives "./trivy", which a process start would look up
        # on PATH again: make it absolute.
        if found is not None and fresh(Path(found)):
            yield Path(found).absolute(), "PATH"
    for version in cached_versions(cache_dir):
        candidate = binary_path(cache_dir, version)
        if fresh(candidate):
            yield candidate, "cache"


def cached_versions(cache_dir: Path) -> list[str]:
    """Versions installed in scangate's cache, newest first."""
    root = cache_dir / "trivy"
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    versions: list[tuple[tuple[int, ...], str]] = []
    for entry in entries:
        # Skips .tmp-* and .install-*.lock, and never even asks a blocked release its version.
        if not entry.name[:1].isdigit() or entry.name in BLOCKED_VERSIONS:
            continue
        key = parse_version(entry.name)
        if is_installed(binary_path(cache_dir, entry.name)):
            versions.append((key, entry.name))
    return [name for _, name in sorted(versions, reverse=True)]


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
