"""Write a synthetic Trivy JSON report of a chosen size, shaped like `trivy fs --list-all-pkgs`.

`python bench/synth_report.py OUT.json --targets 100 --per-target 1000` gives about 200 MB.
Streams to disk so generating a large report needs little memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
_FILLER = (
    "A flaw was found in the handling of crafted input that allows a remote attacker to cause "
    "a denial of service or possibly execute arbitrary code via a specially crafted request. "
)


def _vulnerability(rng: random.Random, t: int, i: int) -> dict[str, object]:
    severity = SEVERITIES[rng.randrange(len(SEVERITIES))]
    name = f"pkg-{t}-{i % 400}"
    version = f"1.{i % 7}.{i % 11}"
    fixed = "" if i % 9 == 0 else f"1.{i % 7}.{i % 11 + 1}"
    vid = f"CVE-20{10 + i % 15}-{10000 + (t * 1000 + i) % 90000}"
    score = {"CRITICAL": 9.8, "HIGH": 7.5, "MEDIUM": 5.3, "LOW": 3.1, "UNKNOWN": 0.0}[severity]
    return {
        "VulnerabilityID": vid,
        "PkgID": f"{name}@{version}",
        "PkgName": name,
        "PkgIdentifier": {"PURL": f"pkg:pypi/{name}@{version}", "UID": f"{t:04x}{i:08x}"},
        "InstalledVersion": version,
        "FixedVersion": fixed,
        "Status": "fixed" if fixed else "affected",
        "Layer": {},
        "SeveritySource": "ghsa",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "DataSource": {
            "ID": "ghsa",
            "Name": "GitHub Security Advisory pip",
            "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip",
        },
        "Title": f"{name}: crafted input leads to denial of service ({i})",
        "Description": _FILLER * (2 + i % 4),
        "Severity": severity,
        "CweIDs": ["CWE-400", "CWE-20"],
        "VendorSeverity": {"ghsa": SEVERITIES[::-1].index(severity), "nvd": 3},
        "CVSS": {
            "ghsa": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "V3Score": score},
            "nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "V3Score": 7.5},
        },
        "References": [f"https://example.invalid/advisories/{vid}/{k}" for k in range(6)],
        "PublishedDate": "2021-03-04T12:00:00Z",
        "LastModifiedDate": "2023-05-06T12:00:00Z",
    }


def ensure(path: Path, targets: int, per_target: int = 1000) -> Path:
    """`path`, written first (`generate`) if it does not exist yet: the benches share reports."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate(path, targets, per_target)
    return path


def generate(path: Path, targets: int, per_target: int, seed: int = 0) -> None:
    """Write a report with `targets` lockfiles holding `per_target` vulnerabilities each."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '{"SchemaVersion": 2, "Trivy": {"Version": "0.76.0"}, '
            '"ArtifactName": ".", "ArtifactType": "filesystem", "Results": ['
        )
        for t in range(targets):
            if t:
                out.write(",")
            target = f"services/svc-{t:03d}/requirements.txt"
            packages = [
                {
                    "ID": f"pkg-{t}-{p}@1.{p % 7}.{p % 11}",
                    "Name": f"pkg-{t}-{p}",
                    "Version": f"1.{p % 7}.{p % 11}",
                    "Locations": [{"StartLine": p + 1, "EndLine": p + 1}],
                }
                for p in range(min(per_target, 400))
            ]
            out.write(
                json.dumps({"Target": target, "Class": "lang-pkgs", "Type": "pip"})[:-1]
                + ', "Packages": '
                + json.dumps(packages)
                + ', "Vulnerabilities": ['
            )
            for i in range(per_target):
                if i:
                    out.write(",")
                out.write(json.dumps(_vulnerability(rng, t, i)))
            out.write("]}")
        out.write("]}\n")


FEED_CACHE = Path("/tmp/sg-bench/cache")


def use_feed_cache() -> None:
    """Point SCANGATE_CACHE_DIR, for this process and the commands it runs, at a cache holding
    today's KEV catalog: the steady state of a machine that ran scangate before today, so that
    a bench times the gate and not a download attempt (the default policy shows KEV marks)."""
    today = datetime.now(UTC).date().isoformat()
    kev = FEED_CACHE / "feeds" / "kev" / f"{today}.json"
    if not kev.exists():
        kev.parent.mkdir(parents=True, exist_ok=True)
        # CISA's catalog lists about 1,500 CVEs; some of them are in the synthetic reports.
        entries = [
            {
                "cveID": f"CVE-20{10 + i % 15}-{10000 + i * 61 % 90000}",
                "vendorProject": "Example",
                "product": "Product",
                "vulnerabilityName": "Example remote code execution",
                "dateAdded": "2024-01-10",
                "shortDescription": _FILLER,
                "requiredAction": "Apply mitigations per vendor instructions.",
                "dueDate": "2024-01-31",
                "knownRansomwareCampaignUse": "Unknown",
                "notes": "",
                "cwes": ["CWE-20"],
            }
            for i in range(1500)
        ]
        catalog = {
            "title": "CISA Catalog of Known Exploited Vulnerabilities",
            "catalogVersion": today.replace("-", "."),
            "dateReleased": f"{today}T00:00:00.0000Z",
            "count": len(entries),
            "vulnerabilities": entries,
        }
        kev.write_text(json.dumps(catalog, indent=2), encoding="utf-8")
    os.environ["SCANGATE_CACHE_DIR"] = str(FEED_CACHE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--per-target", type=int, default=1000)
    args = parser.parse_args()
    generate(args.out, args.targets, args.per_target)


if __name__ == "__main__":
    main()
