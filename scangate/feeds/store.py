"""Where a feed comes from: a file named on the command line (air gap), else today's copy in
`<cache-dir>/feeds/<name>/`, else a download (a mirror's URL or the publisher's), else an
older cached copy no older than --max-feed-age.

Each cached copy is named by the UTC day it was downloaded (`2026-12-01.json`) and written
to a temporary file, then renamed into place: a reader never sees half a file. A feed is
downloaded at most once a day; `offline` only ever reads the cache.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from scangate.feeds import FeedError

# The full EPSS file is about 2 MB gzipped, the KEV catalog about 1.5 MB: far more is not a feed.
MAX_BYTES = 64 << 20
# Connect fast or give up (an air-gapped runner must not hang on a feed it cannot reach);
# then as long as a slow mirror needs between two reads.
TIMEOUT = (5.0, 30.0)
_CACHED = re.compile(r"(\d{4}-\d{2}-\d{2})(\..+)")


class Dated(Protocol):
    @property
    def day(self) -> date: ...


T = TypeVar("T", bound=Dated)


@dataclass(frozen=True)
class FeedSpec(Generic[T]):
    """One feed: its name in messages, its cache folder and suffix, where to get it, the
    options that say so, and its parser."""

    name: str  # "KEV", "EPSS"
    slug: str  # the cache folder and the options' stem: kev, epss
    suffix: str  # ".json", ".csv.gz"
    url: str
    file: Path | None
    parse: Callable[[bytes, str], T]

    @property
    def url_option(self) -> str:
        return f"--{self.slug}-url"

    @property
    def file_option(self) -> str:
        return f"--{self.slug}-file"


@dataclass(frozen=True)
class FetchOptions:
    cache_dir: Path
    today: date  # UTC: names today's copy and measures ages
    offline: bool = False
    max_age_days: int = 7
    # Why nothing is downloaded, and the way to a cached copy, as messages say it.
    offline_why: str = "--offline"
    offline_fix: str = "drop --offline to download it"
    timeout: tuple[float, float] = TIMEOUT


@dataclass(frozen=True)
class Loaded(Generic[T]):
    feed: T
    origin: str  # the file, URL or cached copy it was read from
    warnings: tuple[str, ...] = ()


class _DownloadFailed(Exception):
    pass


def folder(spec: FeedSpec[T], cache_dir: Path) -> Path:
    return cache_dir / "feeds" / spec.slug


def cached_copies(spec: FeedSpec[T], cache_dir: Path) -> list[tuple[date, Path]]:
    """The cached copies of `spec`, newest first."""
    found = []
    with contextlib.suppress(OSError):
        for entry in folder(spec, cache_dir).iterdir():
            match = _CACHED.fullmatch(entry.name)
            if match is None or match.group(2) != spec.suffix or not entry.is_file():
                continue
            with contextlib.suppress(ValueError):
                found.append((date.fromisoformat(match.group(1)), entry))
    return sorted(found, reverse=True)


def load(spec: FeedSpec[T], options: FetchOptions) -> Loaded[T]:
    """The feed, from the first place that has a usable copy, or a `FeedError` naming the
    feed, what went wrong and the way out."""
    if spec.file is not None:
        return _from_file(spec, spec.file, options)
    copies = cached_copies(spec, options.cache_dir)
    cached = copies[0] if copies else None
    if cached is not None and cached[0] >= options.today:
        try:
            return Loaded(_read(spec, cached[1]), str(cached[1]))
        except FeedError:
            if options.offline:
                raise
            cached = copies[1] if len(copies) > 1 else None  # a bad copy: download again
    where = folder(spec, options.cache_dir)
    if options.offline:
        if cached is None:
            raise FeedError(
                f"{spec.name} feed: {options.offline_why} and no cached copy in {where}: "
                f"{options.offline_fix}, or give {spec.file_option} PATH"
            )
        _check_age(spec, cached, options, fix=options.offline_fix)
        return Loaded(_read(spec, cached[1]), str(cached[1]))
    try:
        data = _download(spec.url, options.timeout)
        feed = spec.parse(data, spec.url)
    except _DownloadFailed as exc:
        problem = f"{spec.name} feed {spec.url}: cannot download it ({exc})"
        fix = f"set {spec.url_option} to a reachable mirror, or give {spec.file_option} PATH"
        return _fall_back(spec, cached, options, problem, fix)
    except FeedError as exc:
        return _fall_back(spec, cached, options, exc.message, "")
    stored = _store(spec, options, data)
    warnings = () if stored else (f"cannot cache the {spec.name} feed in {where}",)
    return Loaded(feed, spec.url, warnings)


def _fall_back(
    spec: FeedSpec[T],
    cached: tuple[date, Path] | None,
    options: FetchOptions,
    problem: str,
    fix: str,
) -> Loaded[T]:
    """After a failed download: a cached copy young enough, with a warning; else the error."""
    if cached is None:
        where = folder(spec, options.cache_dir)
        tail = f": {fix}" if fix else ""
        raise FeedError(f"{problem}, and there is no cached copy in {where}{tail}")
    _check_age(spec, cached, options, fix=fix or f"give {spec.file_option} PATH", problem=problem)
    feed = _read(spec, cached[1])
    return Loaded(feed, str(cached[1]), (f"{problem}: using the cached copy from {cached[0]}",))


def _check_age(
    spec: FeedSpec[T],
    cached: tuple[date, Path],
    options: FetchOptions,
    *,
    fix: str,
    problem: str = "",
) -> None:
    age = (options.today - cached[0]).days
    if age > options.max_age_days:
        lead = f"{problem}, and the" if problem else f"{spec.name} feed: the"
        raise FeedError(
            f"{lead} cached copy {cached[1]} is {_days(age)} old (--max-feed-age "
            f"{options.max_age_days}): {fix}"
        )


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _from_file(spec: FeedSpec[T], path: Path, options: FetchOptions) -> Loaded[T]:
    feed = _read(spec, path, option=spec.file_option)
    age = (options.today - feed.day).days
    if age > options.max_age_days:
        raise FeedError(
            f"{spec.name} feed {spec.file_option} {path}: dated {feed.day}, {_days(age)} old "
            f"(--max-feed-age {options.max_age_days}): give a newer copy"
        )
    return Loaded(feed, str(path))


def _read(spec: FeedSpec[T], path: Path, *, option: str = "") -> T:
    label = f"{option} {path}" if option else str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FeedError(
            f"{spec.name} feed {label}: cannot read it ({exc.strerror or exc}): check the path"
        ) from None
    if len(data) > MAX_BYTES:
        raise FeedError(f"{spec.name} feed {label}: larger than {MAX_BYTES >> 20} MB: not a feed")
    return spec.parse(data, label)


def _download(url: str, timeout: tuple[float, float]) -> bytes:
    import requests  # only a run that downloads a feed pays for it

    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise _DownloadFailed(f"HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_content(1 << 16):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise _DownloadFailed(f"more than {MAX_BYTES >> 20} MB")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise _DownloadFailed(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    """One short line for a requests error (their text nests whole exception reprs)."""
    import requests

    kinds = (
        (requests.ConnectTimeout, "connection timed out"),
        (requests.ReadTimeout, "no answer in time"),
        (requests.exceptions.SSLError, "TLS error"),
        (requests.ConnectionError, "cannot connect"),
        (requests.exceptions.ChunkedEncodingError, "the connection broke"),
    )
    for kind, text in kinds:
        if isinstance(exc, kind):
            return text
    return exc.__class__.__name__


def _store(spec: FeedSpec[T], options: FetchOptions, data: bytes) -> bool:
    """Today's copy, renamed into place whole, older copies removed; False when the cache
    cannot be written (the run goes on with the feed it has)."""
    where = folder(spec, options.cache_dir)
    target = where / f"{options.today.isoformat()}{spec.suffix}"
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{spec.slug}.", dir=where)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(target)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
    except OSError:
        return False
    for _, old in cached_copies(spec, options.cache_dir):
        if old != target:
            with contextlib.suppress(OSError):
                old.unlink()
    return True
