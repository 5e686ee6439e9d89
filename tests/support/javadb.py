"""Trivy's Java DB (trivy-java-db, schema 1) written by the tests, and jars that need it.

Trivy reads `<cache-dir>/java-db/trivy-java.db` (SQLite) and `metadata.json`. It looks a jar
up by SHA-1 when the jar names no Maven coordinates itself (no pom.properties): a jar whose
digest is in the DB is reported under the DB's coordinates, which shows the DB was read.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The tables and indices of github.com/aquasecurity/trivy-java-db (pkg/db).
SCHEMA = """
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,
    FOREIGN KEY (artifact_id) REFERENCES artifacts(id));
CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
CREATE INDEX indices_artifact_idx ON indices(artifact_id);
CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);
"""
SCHEMA_VERSION = 1


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def write_java_db(
    cache_dir: Path,
    *,
    age: timedelta = timedelta(0),
    next_update_passed: bool = True,
    jars: Mapping[bytes, tuple[str, str, str]] | None = None,
) -> Path:
    """A Java DB in `cache_dir/java-db`, downloaded `age` ago (NextUpdate passed: Trivy tries
    to update it unless told not to); `jars`: jar bytes -> (group, artifact, version)."""
    folder = cache_dir / "java-db"
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "trivy-java.db")
    try:
        db.executescript(SCHEMA)
        for n, (data, (group, artifact, version)) in enumerate((jars or {}).items(), start=1):
            db.execute("INSERT INTO artifacts VALUES (?, ?, ?)", (n, group, artifact))
            digest = hashlib.sha1(data).digest()  # the DB's key, not a security use
            db.execute("INSERT INTO indices VALUES (?, ?, ?, 'jar')", (n, version, digest))
        db.commit()
    finally:
        db.close()
    now = datetime.now(UTC)
    next_update = now - timedelta(days=1) if next_update_passed else now + timedelta(days=1)
    metadata = {
        "Version": SCHEMA_VERSION,
        "NextUpdate": _rfc3339(next_update),
        "UpdatedAt": _rfc3339(now - age),
        "DownloadedAt": _rfc3339(now - age),
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return cache_dir


def _zip(files: Mapping[str, bytes]) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as jar:
        for name, content in files.items():
            # A fixed date: the same jar bytes (and SHA-1) on every run.
            jar.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), content)
    return data.getvalue()


def pom_jar() -> bytes:
    """A jar that names its coordinates (org.example:app 1.0); Trivy still opens the Java DB."""
    return _zip(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
            "META-INF/maven/org.example/app/pom.properties": (
                b"groupId=org.example\nartifactId=app\nversion=1.0\n"
            ),
        }
    )


def bare_jar() -> bytes:
    """A jar with no coordinates: only the Java DB can name it."""
    return _zip({"com/example/Thing.class": b"\xca\xfe\xba\xbe"})
