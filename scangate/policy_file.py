"""One policy file as written: `read_spec` reads it and returns its values (`PolicyValues`),
validated, keyed as written; the names the policy format shares (built-in names, `none`,
`InlineIgnores`).

A policy file the user wrote is validated with the strict models of `policy_models`, which
turn a typo into an error that names the file, the entry and the fix. scangate's own built-in
policies are read without them: building those models costs every run that gates with a
built-in policy several milliseconds, and tests/test_policy_builtin.py proves that each
built-in file is valid and already in the normalized form validation returns.

`policy` follows `extends` and merges the files into the effective `Policy`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, TypedDict, cast

from scangate._yaml import load, quote
from scangate.errors import PolicyError
from scangate.safe_read import read_config

# The names `--policy` and `extends` accept besides a path (`policy.builtin_policy_dir`).
BUILTIN_POLICIES = ("default", "strict", "pre-push")
# The threshold that never fails a kind (`fail-on: {license: none}`).
NONE = "none"


class InlineIgnores(StrEnum):
    """What `#trivy:ignore:<ID>` comments in the scanned tree do.

    `honor`: an allow entry under the policy's allow-rules (the comment is the reason, its
    `exp:` the expiry); `report`: the finding is decided as if the comment were not there.
    """

    HONOR = "honor"
    REPORT = "report"


class KevMode(StrEnum):
    """The policy's `kev`: what a CVE in CISA's KEV catalog does."""

    FAIL = "fail"  # fails whatever its severity, fix state or grace
    REPORT = "report"  # marked and shown first; nothing more fails
    OFF = "off"  # the KEV feed is not read


class VexMode(StrEnum):
    """The policy's `vex`: what a VEX statement (`--vex`) that a finding is not_affected or
    fixed does. `honor`: the finding is allowed, the statement its reason (no expiry, and the
    allow-rules do not apply); `report`: the statement is shown, the finding decided as if
    it were not there."""

    HONOR = "honor"
    REPORT = "report"


class LicenseUnknown(StrEnum):
    """The policy's `licenses.unknown`: what a license that is no SPDX identifier does."""

    FAIL = "fail"
    REPORT = "report"


# A validated policy file (`PolicyValues`): the keys it sets, as written, each value normalized
# (a threshold is a `Severity` name or `none`; a string list is a list). A key it does not set
# is absent.
class FailOnValues(TypedDict, total=False):
    vulnerability: str | None
    misconfiguration: str | None
    secret: str | None
    license: str | None


AllowRulesValues = TypedDict(
    "AllowRulesValues",
    {"require-expiry": bool | None, "max-days": int | None, "warn-days": int | None},
    total=False,
)


class AllowEntryValues(TypedDict, total=False):
    id: str
    reason: str
    expires: date | None
    targets: list[str]
    packages: list[str]
    owner: str | None


# `fail-at: null` turns an inherited limit off (as `max-days: null` does).
EpssValues = TypedDict("EpssValues", {"fail-at": float | None}, total=False)


class LicensesValues(TypedDict, total=False):
    deny: list[str] | None  # SPDX identifiers, canonical case (`licenses.canonical_id`)
    allow: list[str] | None
    unknown: str | None  # a `LicenseUnknown` value


PolicyValues = TypedDict(
    "PolicyValues",
    {
        "version": int,
        "extends": str | None,
        "fail-on": FailOnValues | None,
        "ignore-unfixed": bool | None,
        "allow-rules": AllowRulesValues | None,
        "inline-ignores": str | None,
        "trivy-secret-allow-rules": bool | None,
        "allow": list[AllowEntryValues] | None,
        # Issue 11: an int is every severity's; a map names severities (upper case).
        "grace-days": int | dict[str, int] | None,
        "unfixed-max-days": dict[str, int | None] | None,  # null: that severity has no limit
        "kev": str | None,  # a `KevMode` value
        "epss": EpssValues | None,
        "licenses": LicensesValues | None,
        "vex": str | None,  # a `VexMode` value
    },
    total=False,
)


def read_spec(
    path: Path, label: str, *, root: Path | None = None, builtin: bool = False
) -> PolicyValues:
    """Read and validate one policy file. `root`: it was found in the scanned tree under
    `root` (`.scangate.yaml` or what it extends), so no symbolic link is followed.
    `builtin`: scangate's own file, whose validity the tests prove: taken as it is."""
    try:
        text = read_config(path, label=label, root=root, option="--policy", what="a policy file")
    except FileNotFoundError:
        if label.startswith("built-in"):
            raise PolicyError(
                f"{label} is missing from the installation: reinstall scangate"
            ) from None
        names = ", ".join(BUILTIN_POLICIES)
        raise PolicyError(
            f"{label}: no such policy file; give a path to a YAML file or a built-in name ({names})"
        ) from None
    raw = load(text, label)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{label}: a policy is a YAML mapping (version, fail-on, allow, ...)")
    if raw.get("version", 1) != 1:
        raise PolicyError(
            f"{label}: version is {quote(raw.get('version'))}; this scangate reads policy version 1"
        )
    if builtin:
        return cast(PolicyValues, raw)
    from scangate.policy_models import validate

    return validate(cast(dict[str, Any], raw), label)
