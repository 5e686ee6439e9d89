"""A Trivy vulnerability DB written by the tests, so the real Trivy runs offline.

This module owns two things:

* a small bbolt (BoltDB) writer: `BoltBucket` plus `write_bolt`, enough of the on-disk
  format for a read-only consumer (meta pages, an empty freelist, leaf and branch pages,
  overflow pages, inline buckets);
* a Trivy DB builder: `write_trivy_db` turns advisories into `<cache>/db/trivy.db`
  (DB schema 2) and `<cache>/db/metadata.json`, which `trivy fs|image --cache-dir DIR
  --skip-db-update --skip-java-db-update --offline-scan` then uses as they are.

`default_db` writes a fixed set of advisories (`DEFAULT_VULNERABILITIES`,
`DEFAULT_LANG_ADVISORIES`, `DEFAULT_OS_ADVISORIES`). They are test fixtures loosely modelled
on real advisories, not authoritative data. `write_vulnerable_project` writes the lock files
that trigger them, and `EXPECTED_FS_FINDINGS` / `EXPECTED_IMAGE_FINDINGS` are exactly what
Trivy reports for that project and for the image of `tests.support.images.DEBIAN_PACKAGES`.
`report_findings` reduces a Trivy JSON report to the same shape, for exact assertions.

The layout of the DB (bucket names, JSON fields, data sources) is described in
/work/shared/TRIVY-OFFLINE.md and follows github.com/aquasecurity/trivy-db.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# --------------------------------------------------------------------------------------
# bbolt
# --------------------------------------------------------------------------------------

PAGE_SIZE = 4096

_BRANCH_PAGE = 0x01
_LEAF_PAGE = 0x02
_META_PAGE = 0x04
_FREELIST_PAGE = 0x10
_BUCKET_LEAF_FLAG = 0x01  # a leaf element whose value is a nested bucket

_MAGIC = 0xED0CDAED
_VERSION = 2

# page header: id, flags, element count, overflow page count
_PAGE_HEADER = struct.Struct("<QHHI")
# leaf element: flags, pos (from the element to its key), key size, value size
_LEAF_ELEMENT = struct.Struct("<IIII")
# branch element: pos (from the element to its key), key size, child page id
_BRANCH_ELEMENT = struct.Struct("<IIQ")
# bucket header (the value of a nested bucket): root page id (0 = inline), sequence
_BUCKET_HEADER = struct.Struct("<QQ")
# meta: magic, version, page size, flags, root bucket (root, sequence), freelist, pgid, txid
_META = struct.Struct("<IIIIQQQQQ")
_CHECKSUM = struct.Struct("<Q")

# bbolt inlines a bucket with no nested buckets whose leaf fits in a quarter page.
_MAX_INLINE_BUCKET_SIZE = PAGE_SIZE // 4

# The first three pages: two meta pages and the (empty) freelist.
_FREELIST_PGID = 2
_FIRST_DATA_PGID = 3


def fnv1a_64(data: bytes) -> int:
    """64-bit FNV-1a, the checksum bbolt stores in its meta pages."""
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class BoltBucket:
    """An in-memory bucket: each key holds either bytes or a nested bucket."""

    def __init__(self) -> None:
        self.items: dict[bytes, bytes | BoltBucket] = {}

    def bucket(self, name: bytes) -> BoltBucket:
        """The nested bucket `name`, created if missing."""
        existing = self.items.get(name)
        if existing is None:
            child = BoltBucket()
            self.items[name] = child
            return child
        if not isinstance(existing, BoltBucket):
            raise ValueError(f"key {name!r} holds a value, not a bucket")
        return existing

    def put(self, key: bytes, value: bytes) -> None:
        if not key:
            raise ValueError("bbolt keys must not be empty")
        if isinstance(self.items.get(key), BoltBucket):
            raise ValueError(f"key {key!r} holds a bucket, not a value")
        self.items[key] = value


@dataclass(frozen=True)
class _Element:
    key: bytes
    value: bytes
    flags: int  # _BUCKET_LEAF_FLAG for a nested bucket


def _leaf_size(elements: Iterable[_Element]) -> int:
    return _PAGE_HEADER.size + sum(_LEAF_ELEMENT.size + len(e.key) + len(e.value) for e in elements)


def _leaf_page(pgid: int, elements: list[_Element], *, overflow: int = 0) -> bytes:
    """A leaf page (unpadded): header, the elements, then their keys and values."""
    header = _PAGE_HEADER.pack(pgid, _LEAF_PAGE, len(elements), overflow)
    table = bytearray()
    data = bytearray()
    data_start = _PAGE_HEADER.size + _LEAF_ELEMENT.size * len(elements)
    for i, element in enumerate(elements):
        element_offset = _PAGE_HEADER.size + _LEAF_ELEMENT.size * i
        pos = data_start + len(data) - element_offset
        table += _LEAF_ELEMENT.pack(element.flags, pos, len(element.key), len(element.value))
        data += element.key + element.value
    return header + bytes(table) + bytes(data)


def _branch_page(pgid: int, children: list[tuple[bytes, int]], *, overflow: int = 0) -> bytes:
    """A branch page (unpadded): each child's first key and page id."""
    header = _PAGE_HEADER.pack(pgid, _BRANCH_PAGE, len(children), overflow)
    table = bytearray()
    data = bytearray()
    data_start = _PAGE_HEADER.size + _BRANCH_ELEMENT.size * len(children)
    for i, (key, child) in enumerate(children):
        element_offset = _PAGE_HEADER.size + _BRANCH_ELEMENT.size * i
        pos = data_start + len(data) - element_offset
        table += _BRANCH_ELEMENT.pack(pos, len(key), child)
        data += key
    return header + bytes(table) + bytes(data)


def _pages_needed(size: int) -> int:
    return max(1, -(-size // PAGE_SIZE))


def _chunks(sizes: list[int]) -> list[tuple[int, int]]:
    """Split items (by their size on the page) into [start, end) runs that fill a page.

    An item too big for a page gets a run of its own: its page spans overflow pages.
    """
    runs: list[tuple[int, int]] = []
    start = 0
    used = _PAGE_HEADER.size
    for i, size in enumerate(sizes):
        if i > start and used + size > PAGE_SIZE:
            runs.append((start, i))
            start, used = i, _PAGE_HEADER.size
        used += size
    runs.append((start, len(sizes)))
    return runs


class _PageWriter:
    """Lays buckets out bottom-up: children get page ids before their parents."""

    def __init__(self) -> None:
        self.next_pgid = _FIRST_DATA_PGID
        self.pages: list[bytes] = []  # padded, in page-id order from _FIRST_DATA_PGID

    def _add(self, size: int) -> tuple[int, int]:
        """Reserve page ids for a page of `size` bytes: (page id, overflow page count)."""
        pgid = self.next_pgid
        count = _pages_needed(size)
        self.next_pgid += count
        return pgid, count - 1

    def _store(self, page: bytes) -> None:
        self.pages.append(page.ljust(_pages_needed(len(page)) * PAGE_SIZE, b"\0"))

    def write_bucket(self, bucket: BoltBucket) -> int:
        """Write `bucket` as a page tree; return its root page id."""
        elements = [self._element(key, bucket.items[key]) for key in sorted(bucket.items)]
        runs = _chunks([_LEAF_ELEMENT.size + len(e.key) + len(e.value) for e in elements])
        level: list[tuple[bytes, int]] = []
        for start, end in runs:
            run = elements[start:end]
            pgid, overflow = self._add(_leaf_size(run))
            self._store(_leaf_page(pgid, run, overflow=overflow))
            level.append((run[0].key if run else b"", pgid))
        # Branch levels until one page is the root.
        while len(level) > 1:
            runs = _chunks([_BRANCH_ELEMENT.size + len(key) for key, _ in level])
            parent: list[tuple[bytes, int]] = []
            for start, end in runs:
                children = level[start:end]
                size = _PAGE_HEADER.size + sum(_BRANCH_ELEMENT.size + len(k) for k, _ in children)
                pgid, overflow = self._add(size)
                self._store(_branch_page(pgid, children, overflow=overflow))
                parent.append((children[0][0], pgid))
            level = parent
        return level[0][1]

    def _element(self, key: bytes, value: bytes | BoltBucket) -> _Element:
        if isinstance(value, bytes):
            return _Element(key, value, 0)
        return _Element(key, self._bucket_value(value), _BUCKET_LEAF_FLAG)

    def _bucket_value(self, bucket: BoltBucket) -> bytes:
        """The value stored under a nested bucket's name: its header, maybe its inline page."""
        if all(isinstance(v, bytes) for v in bucket.items.values()):
            elements = [self._element(key, bucket.items[key]) for key in sorted(bucket.items)]
            if _leaf_size(elements) <= _MAX_INLINE_BUCKET_SIZE:
                # Root 0: the bucket's leaf page follows the header inside the value.
                return _BUCKET_HEADER.pack(0, 0) + _leaf_page(0, elements)
        return _BUCKET_HEADER.pack(self.write_bucket(bucket), 0)


def _meta_page(pgid: int, *, root: int, high_water: int, txid: int) -> bytes:
    meta = _META.pack(_MAGIC, _VERSION, PAGE_SIZE, 0, root, 0, _FREELIST_PGID, high_water, txid)
    page = _PAGE_HEADER.pack(pgid, _META_PAGE, 0, 0) + meta + _CHECKSUM.pack(fnv1a_64(meta))
    return page.ljust(PAGE_SIZE, b"\0")


def bolt_bytes(root: BoltBucket) -> bytes:
    """The bytes of a bbolt file holding `root`'s buckets (deterministic)."""
    writer = _PageWriter()
    root_pgid = writer.write_bucket(root)
    high_water = writer.next_pgid
    freelist = _PAGE_HEADER.pack(_FREELIST_PGID, _FREELIST_PAGE, 0, 0).ljust(PAGE_SIZE, b"\0")
    # Both meta pages are valid; bbolt uses the one with the higher txid.
    return b"".join(
        [
            _meta_page(0, root=root_pgid, high_water=high_water, txid=0),
            _meta_page(1, root=root_pgid, high_water=high_water, txid=1),
            freelist,
            *writer.pages,
        ]
    )


def write_bolt(path: Path, root: BoltBucket) -> None:
    path.write_bytes(bolt_bytes(root))


# --------------------------------------------------------------------------------------
# Trivy DB (schema 2)
# --------------------------------------------------------------------------------------

Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
Ecosystem = Literal["pip", "cargo", "npm", "go"]
DebianStatus = Literal[
    "affected", "under_investigation", "will_not_fix", "fix_deferred", "end_of_life"
]

SEVERITY_INTS: Mapping[str, int] = {
    "UNKNOWN": 0,
    "LOW": 1,
    "MEDIUM": 2,
    "HIGH": 3,
    "CRITICAL": 4,
}
_STATUS_INTS: Mapping[str, int] = {
    "affected": 2,
    "under_investigation": 4,
    "will_not_fix": 5,
    "fix_deferred": 6,
    "end_of_life": 7,
}

DB_SCHEMA_VERSION = 2
# Fixed timestamps keep metadata.json byte-identical; with --skip-db-update Trivy checks
# only "Version".
DB_TIMESTAMP = "2026-01-01T00:00:00Z"

_GHSA_BUCKETS: Mapping[str, tuple[str, str]] = {
    # ecosystem: (top-level bucket, GHSA ecosystem query)
    "pip": ("pip::GitHub Security Advisory pip", "pip"),
    "cargo": ("cargo::GitHub Security Advisory Rust", "rust"),
    "npm": ("npm::GitHub Security Advisory npm", "npm"),
    "go": ("go::GitHub Security Advisory Go", "go"),
}


@dataclass(frozen=True)
class Vulnerability:
    """One entry of the `vulnerability` bucket.

    `severity` is what Trivy reports. It is stored as the rating of the vendor whose
    advisory matched (`ghsa` for language packages, `debian` for Debian packages), so the
    report's SeveritySource names that vendor. With `nvd_only` there is no vendor rating:
    `severity` is stored as NVD's and Trivy falls back to it (SeveritySource `nvd`).
    `nvd_severity` is NVD's own, different rating, which Trivy must NOT report when the
    vendor rated the vulnerability.
    """

    id: str
    severity: Severity
    title: str
    description: str = ""
    nvd_severity: Severity | None = None
    nvd_only: bool = False
    cvss_v3_score: float | None = None
    cvss_v3_vector: str | None = None
    cwe_ids: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    published: str | None = "2020-01-01T00:00:00Z"  # RFC 3339; None: the DB has no dates

    def __post_init__(self) -> None:
        if self.nvd_only and self.nvd_severity not in (None, self.severity):
            raise ValueError(f"{self.id}: nvd_only with a different nvd_severity")


@dataclass(frozen=True)
class LanguageAdvisory:
    """A GHSA advisory for one package of a language ecosystem.

    `vulnerable_versions` are OR-ed ranges in the ecosystem's syntax (a range may AND
    constraints with commas, e.g. ">= 1.0.0, < 1.6.1"). `patched_versions` are plain
    versions; Trivy reports them joined with ", " as FixedVersion. None means unfixed.
    """

    vulnerability_id: str
    ecosystem: Ecosystem
    package: str
    vulnerable_versions: tuple[str, ...]
    patched_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class DebianAdvisory:
    """A Debian security tracker entry for one *source* package of a release.

    An empty `fixed_version` means unfixed: every installed version matches and the report
    shows an empty FixedVersion with `status`. `severity` is a package-specific rating that
    overrides the vulnerability's (as the tracker does for e.g. "unimportant").
    """

    vulnerability_id: str
    source_package: str
    fixed_version: str = ""
    release: str = "12"
    severity: Severity | None = None
    status: DebianStatus = "affected"


def normalize_package_name(ecosystem: Ecosystem, name: str) -> str:
    """The package bucket name Trivy looks up (PEP 426 for pip: case and `_` vs `-`)."""
    if ecosystem == "pip":
        return name.lower().replace("_", "-")
    return name


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _vulnerability_json(vuln: Vulnerability, vendors: set[str]) -> bytes:
    vendor_severity: dict[str, int] = {}
    if not vuln.nvd_only:
        for vendor in sorted(vendors):
            vendor_severity[vendor] = SEVERITY_INTS[vuln.severity]
    nvd = vuln.severity if vuln.nvd_only else vuln.nvd_severity
    if nvd is not None:
        vendor_severity["nvd"] = SEVERITY_INTS[nvd]
    doc: dict[str, Any] = {"Title": vuln.title}
    if vuln.description:
        doc["Description"] = vuln.description
    if vuln.cwe_ids:
        doc["CweIDs"] = list(vuln.cwe_ids)
    doc["VendorSeverity"] = vendor_severity
    if vuln.cvss_v3_score is not None or vuln.cvss_v3_vector is not None:
        cvss: dict[str, Any] = {}
        if vuln.cvss_v3_vector is not None:
            cvss["V3Vector"] = vuln.cvss_v3_vector
        if vuln.cvss_v3_score is not None:
            cvss["V3Score"] = vuln.cvss_v3_score
        doc["CVSS"] = {"nvd": cvss}
    if vuln.references:
        doc["References"] = list(vuln.references)
    if vuln.published is not None:
        doc["PublishedDate"] = vuln.published
        doc["LastModifiedDate"] = vuln.published
    return _json(doc)


def _language_json(advisory: LanguageAdvisory) -> bytes:
    doc: dict[str, Any] = {"VulnerableVersions": list(advisory.vulnerable_versions)}
    if advisory.patched_versions:
        doc["PatchedVersions"] = list(advisory.patched_versions)
    return _json(doc)


def _debian_json(advisory: DebianAdvisory) -> bytes:
    doc: dict[str, Any] = {}
    if advisory.fixed_version:
        doc["FixedVersion"] = advisory.fixed_version
    else:
        doc["Status"] = _STATUS_INTS[advisory.status]
    if advisory.severity is not None:
        doc["Severity"] = SEVERITY_INTS[advisory.severity]
    return _json(doc)


def _data_source(bucket_name: str) -> dict[str, str]:
    for eco_bucket, query in _GHSA_BUCKETS.values():
        if bucket_name == eco_bucket:
            return {
                "ID": "ghsa",
                "Name": bucket_name.split("::", 1)[1],
                "URL": f"https://github.com/advisories?query=type%3Areviewed+ecosystem%3A{query}",
            }
    return {
        "ID": "debian",
        "Name": "Debian Security Tracker",
        "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
    }


def trivy_db_bucket(
    vulns: Iterable[Vulnerability],
    lang_advisories: Iterable[LanguageAdvisory],
    os_advisories: Iterable[DebianAdvisory],
) -> BoltBucket:
    """The root bucket of a Trivy DB holding these advisories."""
    vulns_by_id = {v.id: v for v in vulns}
    vendors: dict[str, set[str]] = {vid: set() for vid in vulns_by_id}
    root = BoltBucket()
    advisory_buckets: set[str] = set()

    def vendor_of(vid: str, vendor: str) -> None:
        if vid not in vendors:
            raise ValueError(f"advisory for {vid} but no Vulnerability with that id")
        vendors[vid].add(vendor)

    for lang in lang_advisories:
        vendor_of(lang.vulnerability_id, "ghsa")
        bucket_name = _GHSA_BUCKETS[lang.ecosystem][0]
        advisory_buckets.add(bucket_name)
        package = normalize_package_name(lang.ecosystem, lang.package)
        root.bucket(bucket_name.encode()).bucket(package.encode()).put(
            lang.vulnerability_id.encode(), _language_json(lang)
        )
    for deb in os_advisories:
        vendor_of(deb.vulnerability_id, "debian")
        bucket_name = f"debian {deb.release}"
        advisory_buckets.add(bucket_name)
        root.bucket(bucket_name.encode()).bucket(deb.source_package.encode()).put(
            deb.vulnerability_id.encode(), _debian_json(deb)
        )
    vulnerability = root.bucket(b"vulnerability")
    for vid, vuln in vulns_by_id.items():
        vulnerability.put(vid.encode(), _vulnerability_json(vuln, vendors[vid]))
    data_source = root.bucket(b"data-source")
    for bucket_name in sorted(advisory_buckets):
        data_source.put(bucket_name.encode(), _json(_data_source(bucket_name)))
    return root


def metadata_json() -> bytes:
    return _json(
        {
            "Version": DB_SCHEMA_VERSION,
            "NextUpdate": DB_TIMESTAMP,
            "UpdatedAt": DB_TIMESTAMP,
            "DownloadedAt": DB_TIMESTAMP,
        }
    )


def write_trivy_db(
    cache_dir: Path,
    vulns: Iterable[Vulnerability],
    lang_advisories: Iterable[LanguageAdvisory] = (),
    os_advisories: Iterable[DebianAdvisory] = (),
) -> Path:
    """Write `<cache_dir>/db/trivy.db` and `metadata.json`; return the trivy.db path.

    Same input, same bytes. Every advisory must name a vulnerability in `vulns`.
    """
    db_dir = cache_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    db_path = db_dir / "trivy.db"
    write_bolt(db_path, trivy_db_bucket(vulns, lang_advisories, os_advisories))
    (db_dir / "metadata.json").write_bytes(metadata_json())
    return db_path


# --------------------------------------------------------------------------------------
# The default advisories, the inputs that trigger them and what Trivy reports
# --------------------------------------------------------------------------------------

# pip
REQUESTS_CVE = "CVE-2018-18074"  # requests < 2.20.0, HIGH (ghsa), fixed 2.20.0
URLLIB3_CRITICAL_CVE = "CVE-2018-20060"  # urllib3 < 1.23, CRITICAL, fixed 1.23
URLLIB3_MEDIUM_CVE = "CVE-2019-11236"  # urllib3 < 1.24.3, MEDIUM (nvd says HIGH), fixed 1.24.3
PYYAML_CVE = "CVE-2020-1747"  # PyYAML < 5.3.1, CRITICAL, fixed 5.3.1
FLASK_CORS_CVE = "CVE-2020-25032"  # Flask-Cors < 3.0.9, HIGH, fixed 3.0.9
ECDSA_CVE = "CVE-2024-23342"  # ecdsa >= 0, HIGH, unfixed
# cargo
SMALLVEC_CVE = "CVE-2021-25900"  # smallvec, CRITICAL from nvd only, fixed "0.6.14, 1.6.1"
TIME_CVE = "CVE-2020-26235"  # time < 0.2.23, MEDIUM, fixed 0.2.23
# npm
LODASH_CVE = "CVE-2019-10744"  # lodash < 4.17.12, CRITICAL, fixed 4.17.12
# debian 12
OPENSSL_CVE = "CVE-2023-5363"  # openssl < 3.0.11-1~deb12u2, HIGH (debian)
ZLIB_CVE = "CVE-2023-45853"  # zlib unfixed, LOW (debian; nvd says CRITICAL)
BASH_CVE = "CVE-2022-3715"  # bash < 5.2.15-2: bookworm's 5.2.15-2+b2 is NOT affected

DEFAULT_VULNERABILITIES: tuple[Vulnerability, ...] = (
    Vulnerability(
        REQUESTS_CVE,
        "HIGH",
        "python-requests: Redirect from HTTPS to HTTP does not remove Authorization header",
        "The Requests package through 2.19.1 sends an HTTP Authorization header to an http "
        "URI upon receiving a same-hostname https-to-http redirect.",
        nvd_severity="HIGH",
        cvss_v3_score=7.5,
        cvss_v3_vector="CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        cwe_ids=("CWE-522",),
        references=("https://nvd.nist.gov/vuln/detail/CVE-2018-18074",),
        published="2018-10-09T17:29:00Z",
    ),
    Vulnerability(
        URLLIB3_CRITICAL_CVE,
        "CRITICAL",
        "python-urllib3: Cross-host redirect does not remove Authorization header",
        nvd_severity="CRITICAL",
        cvss_v3_score=9.8,
        cvss_v3_vector="CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        cwe_ids=("CWE-200",),
        published="2018-12-11T17:29:00Z",
    ),
    Vulnerability(
        URLLIB3_MEDIUM_CVE,
        "MEDIUM",
        "python-urllib3: CRLF injection due to not encoding the '\\r\\n' sequence",
        nvd_severity="HIGH",
        cvss_v3_score=6.1,
        cvss_v3_vector="CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
        cwe_ids=("CWE-93",),
        published="2019-04-15T15:29:00Z",
    ),
    Vulnerability(
        PYYAML_CVE,
        "CRITICAL",
        "PyYAML: arbitrary command execution through python/object/new when FullLoader is used",
        nvd_severity="CRITICAL",
        cvss_v3_score=9.8,
        cwe_ids=("CWE-20",),
        published="2020-03-24T15:15:00Z",
    ),
    Vulnerability(
        FLASK_CORS_CVE,
        "HIGH",
        "Flask-CORS: directory traversal in the resource matching",
        cwe_ids=("CWE-22",),
        published="2020-09-08T13:15:00Z",
    ),
    Vulnerability(
        ECDSA_CVE,
        "HIGH",
        "python-ecdsa: Minerva timing attack on P-256; the maintainers plan no fix",
        cvss_v3_score=7.4,
        cwe_ids=("CWE-203",),
        published="2024-01-23T00:15:00Z",
    ),
    Vulnerability(
        SMALLVEC_CVE,
        "CRITICAL",
        "smallvec: buffer overflow in SmallVec::insert_many",
        nvd_only=True,
        cvss_v3_score=9.8,
        cwe_ids=("CWE-787",),
        published="2021-01-26T18:16:00Z",
    ),
    Vulnerability(
        TIME_CVE,
        "MEDIUM",
        "time: segmentation fault in localtime_r on Unix",
        nvd_severity="MEDIUM",
        cvss_v3_score=5.3,
        published="2020-11-24T21:15:00Z",
    ),
    Vulnerability(
        LODASH_CVE,
        "CRITICAL",
        "nodejs-lodash: prototype pollution in defaultsDeep function",
        nvd_severity="CRITICAL",
        cvss_v3_score=9.1,
        cwe_ids=("CWE-1321",),
        published="2019-07-26T00:15:00Z",
    ),
    Vulnerability(
        OPENSSL_CVE,
        "HIGH",
        "openssl: Incorrect cipher key and IV length processing",
        nvd_severity="HIGH",
        cvss_v3_score=7.5,
        published="2023-10-25T18:17:00Z",
    ),
    Vulnerability(
        ZLIB_CVE,
        "LOW",
        "zlib: integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_6",
        nvd_severity="CRITICAL",
        cvss_v3_score=9.8,
        cwe_ids=("CWE-190",),
        published="2023-10-14T02:15:00Z",
    ),
    Vulnerability(
        BASH_CVE,
        "HIGH",
        "bash: a heap-buffer-overflow in valid_parameter_transform",
        nvd_severity="HIGH",
        cvss_v3_score=7.8,
        published="2023-01-05T15:15:00Z",
    ),
)

DEFAULT_LANG_ADVISORIES: tuple[LanguageAdvisory, ...] = (
    LanguageAdvisory(REQUESTS_CVE, "pip", "requests", ("< 2.20.0",), ("2.20.0",)),
    LanguageAdvisory(URLLIB3_CRITICAL_CVE, "pip", "urllib3", ("< 1.23",), ("1.23",)),
    LanguageAdvisory(URLLIB3_MEDIUM_CVE, "pip", "urllib3", ("< 1.24.3",), ("1.24.3",)),
    LanguageAdvisory(PYYAML_CVE, "pip", "PyYAML", ("< 5.3.1",), ("5.3.1",)),
    LanguageAdvisory(FLASK_CORS_CVE, "pip", "Flask_Cors", ("< 3.0.9",), ("3.0.9",)),
    LanguageAdvisory(ECDSA_CVE, "pip", "ecdsa", (">= 0",)),
    LanguageAdvisory(
        SMALLVEC_CVE,
        "cargo",
        "smallvec",
        ("< 0.6.14", ">= 1.0.0, < 1.6.1"),
        ("0.6.14", "1.6.1"),
    ),
    LanguageAdvisory(TIME_CVE, "cargo", "time", (">= 0.2.7, < 0.2.23",), ("0.2.23",)),
    LanguageAdvisory(LODASH_CVE, "npm", "lodash", ("< 4.17.12",), ("4.17.12",)),
)

DEFAULT_OS_ADVISORIES: tuple[DebianAdvisory, ...] = (
    DebianAdvisory(OPENSSL_CVE, "openssl", "3.0.11-1~deb12u2"),
    DebianAdvisory(ZLIB_CVE, "zlib"),
    DebianAdvisory(BASH_CVE, "bash", "5.2.15-2"),
)


def default_db(cache_dir: Path) -> Path:
    """Write the default advisories into `cache_dir`; return the trivy.db path."""
    return write_trivy_db(
        cache_dir, DEFAULT_VULNERABILITIES, DEFAULT_LANG_ADVISORIES, DEFAULT_OS_ADVISORIES
    )


# Lock files for `trivy fs`. Besides the vulnerable pins they hold packages that must NOT
# match: requests/urllib3 advisories above other versions, certifi with no advisory, and
# smallvec/time outside the vulnerable ranges in Cargo.lock.
REQUIREMENTS_TXT = """\
requests==2.19.0
urllib3==1.22
PyYAML==5.3
Flask_Cors==3.0.8
ecdsa==0.18.0
certifi==2024.2.2
"""

CARGO_LOCK = """\
# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "itoa",
 "smallvec",
 "time",
]

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1a55ca5f3b68e41c979bf8c46a6f1da892ca4db8f94023ce0bd32407573b1ac0"

[[package]]
name = "time"
version = "0.2.22"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "55b7151c9065e80917fbf285d9a5d1432f60db41d170ccafc749a136b41a93af"
"""

PACKAGE_LOCK_JSON = """\
{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "app",
      "version": "1.0.0",
      "dependencies": {
        "lodash": "4.17.11",
        "ms": "2.1.3"
      }
    },
    "node_modules/lodash": {
      "version": "4.17.11",
      "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.11.tgz"
    },
    "node_modules/ms": {
      "version": "2.1.3",
      "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz"
    }
  }
}
"""


def write_vulnerable_project(directory: Path) -> Path:
    """Write requirements.txt, Cargo.lock and package-lock.json into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "requirements.txt").write_text(REQUIREMENTS_TXT)
    (directory / "Cargo.lock").write_text(CARGO_LOCK)
    (directory / "package-lock.json").write_text(PACKAGE_LOCK_JSON)
    return directory


@dataclass(frozen=True, order=True)
class Finding:
    """One vulnerability of a Trivy report, reduced to what the tests assert on."""

    vulnerability_id: str
    pkg_name: str
    installed_version: str
    fixed_version: str
    severity: str
    severity_source: str
    status: str


def report_findings(report: Mapping[str, Any]) -> dict[str, frozenset[Finding]]:
    """Findings of a Trivy JSON report by result Type (`pip`, `cargo`, `npm`, `debian`)."""
    by_type: dict[str, set[Finding]] = {}
    for result in report.get("Results") or []:
        findings = by_type.setdefault(str(result.get("Type", "")), set())
        for vuln in result.get("Vulnerabilities") or []:
            findings.add(
                Finding(
                    vulnerability_id=vuln["VulnerabilityID"],
                    pkg_name=vuln["PkgName"],
                    installed_version=vuln["InstalledVersion"],
                    fixed_version=vuln.get("FixedVersion", ""),
                    severity=vuln["Severity"],
                    severity_source=vuln.get("SeveritySource", ""),
                    status=vuln.get("Status", ""),
                )
            )
    return {kind: frozenset(found) for kind, found in by_type.items() if found}


EXPECTED_FS_FINDINGS: Mapping[str, frozenset[Finding]] = {
    "pip": frozenset(
        {
            Finding(REQUESTS_CVE, "requests", "2.19.0", "2.20.0", "HIGH", "ghsa", "fixed"),
            Finding(URLLIB3_CRITICAL_CVE, "urllib3", "1.22", "1.23", "CRITICAL", "ghsa", "fixed"),
            Finding(URLLIB3_MEDIUM_CVE, "urllib3", "1.22", "1.24.3", "MEDIUM", "ghsa", "fixed"),
            Finding(PYYAML_CVE, "PyYAML", "5.3", "5.3.1", "CRITICAL", "ghsa", "fixed"),
            Finding(FLASK_CORS_CVE, "Flask_Cors", "3.0.8", "3.0.9", "HIGH", "ghsa", "fixed"),
            Finding(ECDSA_CVE, "ecdsa", "0.18.0", "", "HIGH", "ghsa", "affected"),
        }
    ),
    "cargo": frozenset(
        {
            Finding(SMALLVEC_CVE, "smallvec", "1.6.0", "0.6.14, 1.6.1", "CRITICAL", "nvd", "fixed"),
            Finding(TIME_CVE, "time", "0.2.22", "0.2.23", "MEDIUM", "ghsa", "fixed"),
        }
    ),
    "npm": frozenset(
        {
            Finding(LODASH_CVE, "lodash", "4.17.11", "4.17.12", "CRITICAL", "ghsa", "fixed"),
        }
    ),
}

# For the image of tests.support.images.DEBIAN_PACKAGES: one finding per *binary*
# package built from an affected source package; bash is installed at the fixed version.
EXPECTED_IMAGE_FINDINGS: Mapping[str, frozenset[Finding]] = {
    "debian": frozenset(
        {
            Finding(
                OPENSSL_CVE,
                "openssl",
                "3.0.11-1~deb12u1",
                "3.0.11-1~deb12u2",
                "HIGH",
                "debian",
                "fixed",
            ),
            Finding(
                OPENSSL_CVE,
                "libssl3",
                "3.0.11-1~deb12u1",
                "3.0.11-1~deb12u2",
                "HIGH",
                "debian",
                "fixed",
            ),
            Finding(ZLIB_CVE, "zlib1g", "1:1.2.13.dfsg-1", "", "LOW", "debian", "affected"),
        }
    ),
}
