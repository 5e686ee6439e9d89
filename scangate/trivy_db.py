"""The vulnerability DB in Trivy's cache: where it is, how old it is, and what to say when
a download fails. Reads no environment and runs nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scangate.errors import ScannerError

DEFAULT_DB_REPOSITORIES = ("mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2")
DB_DOWNLOAD_FAILED = re.compile(r"failed to download (?:vulnerability|java) DB", re.IGNORECASE)
_REPO_TRIED = re.compile(r'repo="([^"]+)"|download artifact from (\S+?):? ')


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


def cached_db(cache_dir: Path) -> CachedDB | None:
    """The vulnerability DB in Trivy's cache, if there is a usable one."""
    db_dir = cache_dir / "db"
    meta = db_dir / "metadata.json"
    if not (db_dir / "trivy.db").is_file() or not meta.is_file():
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
) -> None:
    days = db.describe_age(now)
    if db.too_old(now, max_age):
        why = f"the DB download failed (tried {download_failed}) and " if download_failed else ""
        raise ScannerError(
            f"{why}the cached vulnerability DB in {db.path} is {days}, more than "
            f"--max-db-age {_days(max_age.days)}: update it (run once with network "
            "access or a reachable --db-repository) or raise --max-db-age"
        )
    if download_failed:
        warnings.append(
            f"the vulnerability DB download failed (tried {download_failed}); "
            f"using the cached DB, {days}"
        )


def mirrors(stderr: str, db_repositories: tuple[str, ...]) -> str:
    """The DB repositories Trivy says it tried, else the ones it was given or its defaults."""
    tried: list[str] = []
    for match in _REPO_TRIED.finditer(stderr):
        repo = match.group(1) or match.group(2)
        if repo and repo not in tried:
            tried.append(repo)
    if not tried:
        tried = list(db_repositories or DEFAULT_DB_REPOSITORIES)
    return ", ".join(tried)


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"
