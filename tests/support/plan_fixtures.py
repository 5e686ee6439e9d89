"""Lock files with direct and transitive dependencies, an image, and the advisories that hit
them: the material of the remediation-plan tests (`tests/test_remediation_trivy.py`).

The advisories are test fixtures, not real data. Each ecosystem covers one or more of the
plan's hard cases: several advisories in one package, a fixed-version list across release
lines, a package with no fix, a transitive package reached by two paths, and versions that
string comparison orders wrongly (`1.10.0` vs `1.9.0`, `2.0.0rc1`, Debian epochs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.images import DpkgPackage, write_docker_archive
from tests.support.trivydb import (
    DebianAdvisory,
    LanguageAdvisory,
    Vulnerability,
    write_trivy_db,
)


def _vuln(vid: str, severity: str = "HIGH") -> Vulnerability:
    return Vulnerability(vid, severity, f"{vid}: test advisory")  # type: ignore[arg-type]


# npm: minimist is reached from both direct dependencies (a and b); it has two advisories
# fixed on two release lines each. qs 1.9.0 needs 1.10.0 (string order says 1.9.2 is later).
# ip has no fix.
NPM_MINIMIST_1 = "CVE-2099-1001"
NPM_MINIMIST_2 = "CVE-2099-1002"
NPM_QS_1 = "CVE-2099-1003"
NPM_QS_2 = "CVE-2099-1004"
NPM_IP = "CVE-2099-1005"
NPM_LODASH = "CVE-2099-1006"
# cargo: smallvec 1.6.0 with "0.6.14, 1.6.1"; time (transitive, via chrono) < 0.2.23.
CARGO_SMALLVEC = "CVE-2099-2001"
CARGO_TIME = "CVE-2099-2002"
CARGO_TIME_2 = "CVE-2099-2003"  # fixed only on the next major line: "0.3.0"
# poetry: requests 2.19.0 direct, urllib3 1.9.0 transitive (via requests and botocore),
# fixed in 1.9.1 and 1.10.0; pre-release flaskx 2.0.0rc1 fixed in 2.0.0.
PIP_REQUESTS = "CVE-2099-3001"
PIP_URLLIB3_1 = "CVE-2099-3002"
PIP_URLLIB3_2 = "CVE-2099-3003"
PIP_FLASKX = "CVE-2099-3004"
PIP_NOFIX = "CVE-2099-3005"
# go: golang.org/x/text (indirect) fixed "0.3.8"; github.com/acme/direct fixed in 1.10.0.
GO_TEXT = "CVE-2099-4001"
GO_DIRECT = "CVE-2099-4002"
# debian: libfoo 1:2.0-1 with fixes 1:2.9-1 and 1:2.10-1 (dpkg order: 1:2.10-1 is later).
DEB_FOO_1 = "CVE-2099-5001"
DEB_FOO_2 = "CVE-2099-5002"
DEB_BAR = "CVE-2099-5003"  # unfixed

ALL_IDS = (
    NPM_MINIMIST_1,
    NPM_MINIMIST_2,
    NPM_QS_1,
    NPM_QS_2,
    NPM_IP,
    NPM_LODASH,
    CARGO_SMALLVEC,
    CARGO_TIME,
    CARGO_TIME_2,
    PIP_REQUESTS,
    PIP_URLLIB3_1,
    PIP_URLLIB3_2,
    PIP_FLASKX,
    PIP_NOFIX,
    GO_TEXT,
    GO_DIRECT,
    DEB_FOO_1,
    DEB_FOO_2,
    DEB_BAR,
)
LOW_IDS = frozenset({NPM_QS_2, CARGO_TIME_2})  # below the default fail-on HIGH

LANG_ADVISORIES = (
    LanguageAdvisory(
        NPM_MINIMIST_1, "npm", "minimist", ("< 0.2.1", ">= 1.0.0, < 1.2.3"), ("0.2.1", "1.2.3")
    ),
    LanguageAdvisory(
        NPM_MINIMIST_2, "npm", "minimist", ("< 0.2.4", ">= 1.0.0, < 1.2.6"), ("0.2.4", "1.2.6")
    ),
    LanguageAdvisory(NPM_QS_1, "npm", "qs", ("< 1.9.2",), ("1.9.2",)),
    LanguageAdvisory(NPM_QS_2, "npm", "qs", ("< 1.10.0",), ("1.10.0",)),
    LanguageAdvisory(NPM_IP, "npm", "ip", (">= 0",)),
    LanguageAdvisory(NPM_LODASH, "npm", "lodash", ("< 4.17.12",), ("4.17.12",)),
    LanguageAdvisory(
        CARGO_SMALLVEC, "cargo", "smallvec", ("< 0.6.14", ">= 1.0.0, < 1.6.1"), ("0.6.14", "1.6.1")
    ),
    LanguageAdvisory(CARGO_TIME, "cargo", "time", ("< 0.2.23",), ("0.2.23",)),
    LanguageAdvisory(CARGO_TIME_2, "cargo", "time", ("< 0.3.0",), ("0.3.0",)),
    LanguageAdvisory(PIP_REQUESTS, "pip", "requests", ("< 2.20.0",), ("2.20.0",)),
    LanguageAdvisory(PIP_URLLIB3_1, "pip", "urllib3", ("< 1.9.1",), ("1.9.1",)),
    LanguageAdvisory(PIP_URLLIB3_2, "pip", "urllib3", ("< 1.10.0",), ("1.10.0",)),
    LanguageAdvisory(PIP_FLASKX, "pip", "flaskx", ("< 2.0.0",), ("2.0.0",)),
    LanguageAdvisory(PIP_NOFIX, "pip", "jmespath", (">= 0",)),
    LanguageAdvisory(GO_TEXT, "go", "golang.org/x/text", ("< 0.3.8",), ("0.3.8",)),
    LanguageAdvisory(GO_DIRECT, "go", "github.com/acme/direct", ("< 1.10.0",), ("1.10.0",)),
)
OS_ADVISORIES = (
    DebianAdvisory(DEB_FOO_1, "foo", "1:2.9-1"),
    DebianAdvisory(DEB_FOO_2, "foo", "1:2.10-1"),
    DebianAdvisory(DEB_BAR, "bar"),
)


def write_db(cache_dir: Path) -> Path:
    vulns = [_vuln(v, "LOW" if v in LOW_IDS else "HIGH") for v in ALL_IDS]
    return write_trivy_db(cache_dir, vulns, LANG_ADVISORIES, OS_ADVISORIES)


def npm_entry(version: str, deps: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A `packages` entry of an npm lockfile v3: version, resolved, integrity, dependencies."""
    entry: dict[str, Any] = {
        "version": version,
        "resolved": "https://registry.npmjs.org/x.tgz",
        "integrity": "sha512-AAAA",
        **extra,
    }
    if deps:
        entry["dependencies"] = deps
    return entry


def write_npm(directory: Path) -> Path:
    """a and b (direct) both pull minimist; qs, ip, lodash are direct."""
    directory.mkdir(parents=True, exist_ok=True)
    root_deps = {"a": "^1.0.0", "b": "^1.0.0", "qs": "1.9.0", "ip": "2.0.0", "lodash": "4.17.11"}
    lock = {
        "name": "app",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {
            "": {"name": "app", "version": "1.0.0", "dependencies": root_deps},
            "node_modules/a": npm_entry("1.0.0", {"c": "^1.0.0"}),
            "node_modules/c": npm_entry("1.0.0", {"minimist": "^1.2.0"}),
            "node_modules/b": npm_entry("1.0.0", {"minimist": "^1.2.0"}),
            "node_modules/minimist": npm_entry("1.2.0"),
            "node_modules/qs": npm_entry("1.9.0"),
            "node_modules/ip": npm_entry("2.0.0"),
            "node_modules/lodash": npm_entry("4.17.11"),
        },
    }
    (directory / "package.json").write_text(
        json.dumps({"name": "app", "version": "1.0.0", "dependencies": root_deps})
    )
    (directory / "package-lock.json").write_text(json.dumps(lock, indent=2))
    return directory


_CARGO_TOML = """[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
smallvec = "1.6.0"
chrono = "0.4.0"
"""

_CARGO_LOCK = """# This file is automatically @generated by Cargo.
version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "chrono",
 "smallvec",
]

[[package]]
name = "chrono"
version = "0.4.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "0000000000000000000000000000000000000000000000000000000000000001"
dependencies = [
 "time",
]

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "0000000000000000000000000000000000000000000000000000000000000002"

[[package]]
name = "time"
version = "0.2.20"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "0000000000000000000000000000000000000000000000000000000000000003"
"""


def write_cargo(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Cargo.toml").write_text(_CARGO_TOML)
    (directory / "Cargo.lock").write_text(_CARGO_LOCK)
    return directory


_PYPROJECT = """[tool.poetry]
name = "app"
version = "0.1.0"
description = ""
authors = []

[tool.poetry.dependencies]
python = "^3.11"
requests = "2.19.0"
botocore = "1.0.0"
flaskx = "2.0.0rc1"
jmespath = "1.0.0"
"""

_POETRY_PACKAGE = """[[package]]
name = "{name}"
version = "{version}"
description = ""
optional = false
python-versions = "*"
files = []
{deps}
"""


def _poetry_package(name: str, version: str, deps: dict[str, str] | None = None) -> str:
    lines = ""
    if deps:
        lines = "\n[package.dependencies]\n" + "".join(f'{k} = "{v}"\n' for k, v in deps.items())
    return _POETRY_PACKAGE.format(name=name, version=version, deps=lines)


def write_poetry(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text(_PYPROJECT)
    packages = [
        _poetry_package("botocore", "1.0.0", {"urllib3": ">=1.9", "jmespath": ">=1.0"}),
        _poetry_package("flaskx", "2.0.0rc1"),
        _poetry_package("jmespath", "1.0.0"),
        _poetry_package("requests", "2.19.0", {"urllib3": ">=1.9"}),
        _poetry_package("urllib3", "1.9.0"),
    ]
    lock = "\n".join(packages) + (
        '\n[metadata]\nlock-version = "2.0"\npython-versions = "^3.11"\n'
        'content-hash = "0000000000000000000000000000000000000000000000000000000000000000"\n'
    )
    (directory / "poetry.lock").write_text(lock)
    return directory


_GO_MOD = """module example.com/app

go 1.22

require github.com/acme/direct v1.9.0

require golang.org/x/text v0.3.7 // indirect
"""


def write_go(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "go.mod").write_text(_GO_MOD)
    return directory


IMAGE_PACKAGES = (
    DpkgPackage("base-files", "12.4+deb12u7"),
    DpkgPackage("libfoo2", "1:2.0-1", source="foo"),
    DpkgPackage("bar", "1.0-1"),
)


def write_image(path: Path) -> Path:
    return write_docker_archive(path, IMAGE_PACKAGES, repo_tag="plan-test:1")


def write_scan_cache(cache_dir: Path) -> Path:
    """These advisories as the DB of `scangate scan --cache-dir cache_dir --offline`, dated
    now (scangate refuses a DB older than --max-db-age); return `cache_dir`."""
    write_db(cache_dir)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    tomorrow = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {"Version": 2, "NextUpdate": tomorrow, "UpdatedAt": stamp, "DownloadedAt": stamp}
    (cache_dir / "db" / "metadata.json").write_text(json.dumps(metadata))
    return cache_dir


PROJECTS = {"npm": write_npm, "cargo": write_cargo, "poetry": write_poetry, "go": write_go}
