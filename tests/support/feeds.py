"""KEV and EPSS feeds in the publishers' real formats, for tests and benches.

`tests/data/feeds/` holds a small real catalog and score file (CVEs no test report has, so
the default run marks nothing); `dated_copies` writes them dated today, which
`tests/conftest.py` hands to every test and subprocess as SCANGATE_KEV_FILE and
SCANGATE_EPSS_FILE, so that no run reaches CISA or FIRST.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.loopback import serving

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"
KEV_FIXTURE = DATA / "kev.json"
EPSS_FIXTURE = DATA / "epss.csv.gz"


def today() -> date:
    return datetime.now(UTC).date()


def kev_vulnerability(
    cve: str,
    *,
    added: str = "2024-01-10",
    due: str = "2024-01-31",
    ransomware: str = "Unknown",
    text: str = "Example",
) -> dict[str, Any]:
    """One `vulnerabilities[]` entry with every field CISA's schema has; `text` fills the
    descriptive ones (hostile text in some tests)."""
    return {
        "cveID": cve,
        "vendorProject": text,
        "product": text,
        "vulnerabilityName": f"{text} vulnerability",
        "dateAdded": added,
        "shortDescription": text,
        "requiredAction": "Apply mitigations per vendor instructions.",
        "dueDate": due,
        "knownRansomwareCampaignUse": ransomware,
        "notes": text,
        "cwes": ["CWE-20"],
    }


def kev_catalog(
    vulnerabilities: Sequence[dict[str, Any]],
    *,
    released: date | None = None,
    count: int | None = None,
    version: str | None = None,
) -> bytes:
    """A catalog as CISA writes it: `count` is the list's length unless given."""
    day = released or today()
    doc = {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": version or day.strftime("%Y.%m.%d"),
        "dateReleased": f"{day.isoformat()}T17:02:11.4725Z",
        "count": len(vulnerabilities) if count is None else count,
        "vulnerabilities": list(vulnerabilities),
    }
    return json.dumps(doc, indent=2).encode()


def epss_csv(
    rows: Iterable[tuple[str, float, float]],
    *,
    scored: date | None = None,
    compress: bool = True,
    model: str = "v2025.03.14",
) -> bytes:
    """FIRST's daily file: the comment line, the header, one row per CVE; gzip unless not."""
    day = scored or today()
    lines = [
        f"#model_version:{model},score_date:{day.isoformat()}T12:55:00Z",
        "cve,epss,percentile",
    ]
    lines += [f"{cve},{score:.5f},{pct:.5f}" for cve, score, pct in rows]
    text = ("\n".join(lines) + "\n").encode()
    return gzip.compress(text, mtime=0) if compress else text


def full_size(kev_entries: int = 1_500, epss_rows: int = 300_000) -> tuple[bytes, bytes]:
    """Feeds the size of the real ones (about 1,500 KEV entries, 300,000 EPSS rows)."""
    rng = random.Random(11)
    kev = [
        kev_vulnerability(
            f"CVE-{2002 + n % 24}-{10_000 + n}", ransomware=rng.choice(["Known", "Unknown"])
        )
        for n in range(kev_entries)
    ]
    rows = ((f"CVE-{1999 + n % 28}-{n:06d}", rng.random(), rng.random()) for n in range(epss_rows))
    return kev_catalog(kev), epss_csv(rows)


def dated_copies(directory: Path, day: date | None = None) -> tuple[Path, Path]:
    """The fixture feeds rewritten with `day` (today) as their own date: (kev, epss)."""
    day = day or today()
    directory.mkdir(parents=True, exist_ok=True)
    doc = json.loads(KEV_FIXTURE.read_text(encoding="utf-8"))
    doc["dateReleased"] = f"{day.isoformat()}T17:02:11.4725Z"
    kev = directory / "kev.json"
    kev.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    lines = gzip.decompress(EPSS_FIXTURE.read_bytes()).decode().split("\n")
    lines[0] = lines[0].split(",score_date:")[0] + f",score_date:{day.isoformat()}T12:55:00Z"
    epss = directory / "epss.csv.gz"
    epss.write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))
    return kev, epss


@dataclass
class Served:
    """What a loopback feed server answers: per path, the body (status 200), or a status;
    `cut`: paths whose body stops halfway (the connection closes early); `hits`: the paths
    asked for, in order."""

    url: str
    routes: dict[str, bytes | int] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)
    hits: list[str] = field(default_factory=list)


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            answer = state.routes.get(self.path, 404)
            if isinstance(answer, int):
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer[: len(answer) // 2] if self.path in state.cut else answer)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve() -> Iterator[Served]:
    """A loopback HTTP server for feeds, on a free port, for the `with` block."""
    with serving(_handler(state := Served(""))) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state
