"""The vulnerability DB and the Java DB in Trivy's cache: where they are, how old they are,
and what to say when a download fails. Reads no environment and runs nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scangate.errors import ScannerError

DEFAULT_DB_REPOSITORIES = ("mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2")
DEFAULT_JAVA_DB_REPOSITORIES = (
    "mirror.gcr.io/aquasec/trivy-java-db:1",
    "ghcr.io/aquasecurity/trivy-java-db:1",
)
_REPO_TRIED = re.compile(r'repo="([^"]+)"|download artifact from (\S+?):? ')


@dataclass(frozen=True)
class DbKind:
    """One of Trivy's databases: the same fallback rules, its own names in every message."""

    label: str  # "vulnerability DB"
    folder: str  # under Trivy's cache dir
    file: str
    option: str  # scangate's (and Trivy's) mirror flag
    defaults: tuple[str, ...]
    # Trivy's fatal error for a failed download; its log lines for this DB hold a marker.
    failed: re.Pattern[str]
    markers: tuple[str, ...]


VULN_DB = DbKind(
    "vulnerability DB",
    "db",
    "trivy.db",
    "--db-repository",
    DEFAULT_DB_REPOSITORIES,
    re.compile(r"failed to download vulnerability DB", re.IGNORECASE),
    ("[vulndb]", "vulnerability db"),
)
# Trivy downloads it only for Java archives (jar, war, ear) in image and rootfs scans.
JAVA_DB = DbKind(
    "Java DB",
    "java-db",
    "trivy-java.db",
    "--java-db-repository",
    DEFAULT_JAVA_DB_REPOSITORIES,
    re.compile(r"failed to download java DB", re.IGNORECASE),
    ("[javadb]", "java db"),
)


@dataclass(frozen=True)
class CachedDB:
    path: Path
    downloaded_at: datetime | None

    def age(self, now: datetime) -> timedelta | None:
        return now - self.downloaded_at if self.downloaded_at else None

    def too_old(self, now: datetime, max_age: timedelta) -> bool:
        """Older than `max_age`, or of unknown age (which counts as too old: fail closed)."""
        age = self.age(now)
        return age is None or age > max_age

    def describe_age(self, now: datetime) -> str:
        age = self.age(now)
        return f"{_days(age.days)} old" if age is not None else "of unknown age"


def cached_db(cache_dir: Path, kind: DbKind = VULN_DB) -> CachedDB | None:
    """The vulnerability DB (or `kind`) in Trivy's cache, if there is a usable one."""
    db_dir = cache_dir / kind.folder
    meta = db_dir / "metadata.json"
    if not (db_dir / kind.file).is_file() or not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stamp = data.get("DownloadedAt") or data.get("UpdatedAt") if isinstance(data, dict) else None
    return CachedDB(db_dir, _parse_time(stamp) if isinstance(stamp, str) else None)


def _parse_time(text: str) -> datetime | None:
    # Go writes up to nanoseconds; Python's fromisoformat takes up to microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(trimmed)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_db_age(
    db: CachedDB,
    max_age: timedelta,
    now: datetime,
    warnings: list[str],
    download_failed: str | None = None,
    kind: DbKind = VULN_DB,
) -> None:
    days = db.describe_age(now)
    if db.too_old(now, max_age):
        why = f"the DB download failed (tried {download_failed}) and " if download_failed else ""
        raise ScannerError(
            f"{why}the cached {kind.label} in {db.path} is {days}, more than "
            f"--max-db-age {_days(max_age.days)}: update it (run once with network "
            f"access or a reachable {kind.option}) or raise --max-db-age"
        )
    if download_failed:
        cached = "the cached DB" if kind is VULN_DB else f"the cached {kind.label}"
        warnings.append(
            f"the {kind.label} download failed (tried {download_failed}); using {cached}, {days}"
        )


def no_cached_db(kind: DbKind, tried: str, cache_dir: Path) -> str:
    """What to say when the download failed and there is no cache to fall back on."""
    return (
        f"trivy could not download the {kind.label} (tried {tried}) and there is no cached "
        f"{'DB' if kind is VULN_DB else kind.label} in {cache_dir / kind.folder}: set "
        f"{kind.option} to a reachable mirror, copy a DB there and use --offline, or scan "
        "with --scanners misconfig,secret"
    )


# Trivy's error when --skip-java-db-update meets an empty cache and a jar needs the Java DB.
_JAVA_DB_FIRST_RUN = re.compile(r"skip-java-db-update'? cannot be specified on the first run")


def offline_java_db_missing(stderr: str, cache_dir: Path) -> str | None:
    """What to say when --offline (which skips the Java DB update) met a jar and no Java DB:
    Trivy only finds out when it reads a jar, so scangate cannot check it beforehand."""
    if not _JAVA_DB_FIRST_RUN.search(stderr):
        return None
    return (
        f"--offline: no Java DB in {cache_dir / JAVA_DB.folder}, which Trivy needs for the jar "
        "files it found: copy one there (trivy-java.db and metadata.json), drop --offline, "
        "or use --scanners misconfig,secret"
    )


def mirrors(stderr: str, db_repositories: tuple[str, ...], kind: DbKind = VULN_DB) -> str:
    """The repositories of `kind` Trivy says it tried, else the ones it was given or its
    defaults. Lines that are about the other DB (their log marker) are not read."""
    other = (JAVA_DB if kind is VULN_DB else VULN_DB).markers
    lines = "\n".join(
        line for line in stderr.splitlines() if not any(m in line.lower() for m in other)
    )
    tried: list[str] = []
    for match in _REPO_TRIED.finditer(lines):
        repo = match.group(1) or match.group(2)
        if repo and repo not in tried:
            tried.append(repo)
    if not tried:
        tried = list(db_repositories or kind.defaults)
    return ", ".join(tried)


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"
