"""The strict pydantic models of a policy file as written (`extra="forbid"`, every key
optional so that `extends` can fill the rest), and the error that names the file, the entry
and the fix when a file does not fit them.

Defining these classes builds their validators, so only a policy file the user wrote is
validated with them (`policy_file.read_spec`): scangate's built-in policies are proven to fit
them by tests/test_policy_builtin.py and are read without them.
"""

from __future__ import annotations

import difflib
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from scangate._yaml import cut, quote
from scangate.errors import PolicyError
from scangate.findings import Severity
from scangate.policy_file import (
    NONE,
    InlineIgnores,
    KevMode,
    LicenseUnknown,
    PolicyValues,
    VexMode,
)


def _threshold(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == NONE:
            return NONE
        if text.upper() in Severity.__members__:
            return text.upper()
    if value is None or value is False:
        return NONE
    raise ValueError(
        f"{quote(value)} is not a severity: use CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN or none"
    )


Threshold = Annotated[str, BeforeValidator(_threshold)]


def _strings(value: object) -> object:
    return [value] if isinstance(value, str) else value


StringList = Annotated[list[str], BeforeValidator(_strings)]


def _days(value: object, severity: str = "") -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    what = f"{severity}: {quote(value)}" if severity else quote(value)
    raise ValueError(f"{what} is not a number of days: write a whole number, 0 or more")


def _severity_map(value: object, *, none: bool) -> dict[str, int | None]:
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"{quote(value)} is not a map of severity to days, such as {{CRITICAL: 30, HIGH: 90}}"
        )
    out: dict[str, int | None] = {}
    for sev, days in value.items():
        name = sev.strip().upper() if isinstance(sev, str) else ""
        if name not in Severity.__members__:
            raise ValueError(
                f"{quote(sev)} is not a severity: use CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN"
            )
        # null: no limit for that severity (over an inherited one), as `max-days: null`
        out[name] = None if days is None and none else _days(days, name)
    return out


def _grace_days(value: object) -> int | dict[str, int | None]:
    # An int is every severity's grace; a map sets the severities it names.
    if isinstance(value, dict):
        return _severity_map(value, none=False)
    return _days(value)


def _unfixed_max_days(value: object) -> dict[str, int | None]:
    return _severity_map(value, none=True)


def _choice(value: object, allowed: type[StrEnum], key: str = "") -> object:
    text = value.strip().lower() if isinstance(value, str) else value
    if text is False:
        text = "off"  # YAML 1.1 reads a bare `off` as false
    if isinstance(text, str) and text in allowed._value2member_map_:
        return allowed(text)
    choices = ", ".join(m.value for m in allowed)
    what = f"{key} {quote(value)}" if key else quote(value)
    raise ValueError(f"{what} is not one of {choices}")


def _probability(value: object) -> float | None:
    if value is None:
        return None  # turns an inherited limit off
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise ValueError(
        f"fail-at {quote(value)} is not a probability: write a number from 0 to 1, such as 0.5"
    )


def _spdx_list(value: object, key: str) -> list[str]:
    # Imported only here: only a policy that lists licenses pays for SPDX's list.
    from scangate.licenses import canonical_id

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(f"{key} {quote(value)} is not a list of SPDX license identifiers")
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(f"{key}[{i}] {quote(item)} is not an SPDX license identifier")
        try:
            out.append(canonical_id(item))
        except ValueError as exc:
            raise ValueError(f"{key}[{i}]: {exc}") from None
    return list(dict.fromkeys(out))


GraceDays = Annotated[int | dict[str, int], PlainValidator(_grace_days)]
UnfixedMaxDays = Annotated[dict[str, int | None], PlainValidator(_unfixed_max_days)]
Kev = Annotated[KevMode, PlainValidator(lambda v: _choice(v, KevMode))]
Vex = Annotated[VexMode, PlainValidator(lambda v: _choice(v, VexMode, "vex"))]
Unknown = Annotated[LicenseUnknown, PlainValidator(lambda v: _choice(v, LicenseUnknown, "unknown"))]
Probability = Annotated[float | None, PlainValidator(_probability)]
DenyList = Annotated[list[str], PlainValidator(lambda v: _spdx_list(v, "deny"))]
AllowList = Annotated[list[str], PlainValidator(lambda v: _spdx_list(v, "allow"))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class FailOnSpec(_Strict):
    vulnerability: Threshold | None = None
    misconfiguration: Threshold | None = None
    secret: Threshold | None = None
    license: Threshold | None = None


class AllowRulesSpec(_Strict):
    require_expiry: bool | None = Field(None, alias="require-expiry")
    max_days: int | None = Field(None, alias="max-days", ge=0)
    warn_days: int | None = Field(None, alias="warn-days", ge=0)


class AllowEntrySpec(_Strict):
    # Stripped before the length check, so `reason: "  "` is as empty as `reason: ""`.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, str_strip_whitespace=True
    )

    id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date | None = None
    targets: StringList = Field(default_factory=list)
    packages: StringList = Field(default_factory=list)
    owner: str | None = None


class EpssSpec(_Strict):
    fail_at: Probability = Field(None, alias="fail-at")


class LicensesSpec(_Strict):
    deny: DenyList | None = None
    allow: AllowList | None = None
    unknown: Unknown | None = None

    @model_validator(mode="after")
    def _apart(self) -> LicensesSpec:
        both = [k for k in self.deny or () if k in (self.allow or ())]
        if both:
            raise ValueError(f"{both[0]} is on both deny and allow: keep it on one")
        return self


class PolicySpec(_Strict):
    """One policy file as written: every key optional, so `extends` can fill the rest."""

    version: int = 1
    extends: str | None = None
    fail_on: FailOnSpec | None = Field(None, alias="fail-on")
    ignore_unfixed: bool | None = Field(None, alias="ignore-unfixed")
    allow_rules: AllowRulesSpec | None = Field(None, alias="allow-rules")
    inline_ignores: InlineIgnores | None = Field(None, alias="inline-ignores")
    trivy_secret_allow_rules: bool | None = Field(None, alias="trivy-secret-allow-rules")
    allow: list[AllowEntrySpec] | None = None
    grace_days: GraceDays | None = Field(None, alias="grace-days")
    unfixed_max_days: UnfixedMaxDays | None = Field(None, alias="unfixed-max-days")
    kev: Kev | None = None
    epss: EpssSpec | None = None
    licenses: LicensesSpec | None = None
    vex: Vex | None = None


_KEYS: dict[str, type[BaseModel]] = {
    "": PolicySpec,
    "fail-on": FailOnSpec,
    "allow-rules": AllowRulesSpec,
    "allow": AllowEntrySpec,
    "epss": EpssSpec,
    "licenses": LicensesSpec,
}


def validate(raw: dict[str, Any], label: str) -> PolicyValues:
    """`raw`, one policy file's YAML mapping, validated: the keys it sets, as written (aliases),
    with their values normalized (thresholds upper case or `none`, dates, string lists)."""
    try:
        spec = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_describe_error(label, raw, exc)) from None
    return cast(PolicyValues, spec.model_dump(by_alias=True, exclude_unset=True))


def _describe_error(label: str, raw: dict[str, Any], exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    # A typo ('reson') also makes the real key missing: name the typo, it is the mistake.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = err["loc"]
    where = _entry_name(raw, loc)
    key = str(loc[-1]) if loc else ""
    if err["type"] == "extra_forbidden":
        section = str(loc[0]) if len(loc) > 1 else ""
        model = _KEYS.get(section, PolicySpec)
        allowed = [f.alias or name for name, f in model.model_fields.items()]
        close = difflib.get_close_matches(key, allowed, n=1)
        fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"{label}: {where}: unknown key {quote(key)}: {fix}"
    if err["type"] == "missing":
        fix = {
            "reason": "say why the finding is accepted",
            "id": "name the CVE, check or rule ID to allow",
        }.get(key, "add it")
        return f"{label}: {where}: '{key}' is required: {fix}"
    if key == "expires" or err["type"].startswith("date"):
        value = err.get("input")
        return f"{label}: {where}: expires {quote(value)} is not a date: write it as YYYY-MM-DD"
    if key in ("reason", "id") and err["type"] == "string_too_short":
        fix = {"id": "name the CVE, check or rule ID to allow"}.get(
            key, "say why the finding is accepted"
        )
        return f"{label}: {where}: '{key}' is empty: {fix}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if where == "top level" and key:
        where = f"'{key}'"  # `extends: [a]`: name the key, not just "top level"
    return f"{label}: {where}: {msg}"


def _entry_name(raw: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "allow" and isinstance(loc[1], int):
        entries = raw.get("allow") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        shown = cut(ident) if isinstance(ident, str) else quote(ident)
        name = f"allow[{loc[1]}]" + (f" ({shown})" if ident else "")
        rest = ".".join(str(p) for p in loc[2:-1])
        return f"{name}.{rest}" if rest else name
    if len(loc) > 1:
        return ".".join(str(p) for p in loc[:-1])
    return "top level" if loc else "policy"
