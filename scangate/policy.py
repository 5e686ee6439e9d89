"""The policy: loading and validating policy files and `extends`, and the allow-rules.

Allow entries are `scangate.allow`; Trivy's ignore files are read by `scangate.ignorefiles`;
both are re-exported here. YAML is read by `scangate._yaml` (no aliases, no duplicate keys).

A policy file is the user's own input, so it is parsed strictly (`extra="forbid"`): a typo is an
error naming the file, the entry and the fix. Loading never reads the clock; the date that
`max-days` is measured from is passed in.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from scangate._yaml import cut, load, quote
from scangate.allow import AllowEntry, glob_to_regex
from scangate.errors import PolicyError
from scangate.findings import Kind, Severity
from scangate.ignorefiles import IGNORE_FILES, find_ignore_files, load_ignore_file

# Allow entries and ignore files live in their own modules; these names stay importable here.
__all__ = [
    "BUILTIN_POLICIES",
    "IGNORE_FILES",
    "PROJECT_POLICY_FILE",
    "AllowEntry",
    "InlineIgnores",
    "Policy",
    "builtin_policy_dir",
    "check_allow_rules",
    "find_ignore_files",
    "glob_to_regex",
    "is_builtin_name",
    "load_ignore_file",
    "load_policy",
    "resolve_policy",
]

BUILTIN_POLICIES = ("default", "strict", "pre-push")
PROJECT_POLICY_FILE = ".scangate.yaml"

_NONE = "none"


def _threshold(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == _NONE:
            return _NONE
        if text.upper() in Severity.__members__:
            return text.upper()
    if value is None or value is False:
        return _NONE
    raise ValueError(
        f"{quote(value)} is not a severity: use CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN or none"
    )


Threshold = Annotated[str, BeforeValidator(_threshold)]


def _strings(value: object) -> object:
    return [value] if isinstance(value, str) else value


StringList = Annotated[list[str], BeforeValidator(_strings)]


class InlineIgnores(StrEnum):
    """What `#trivy:ignore:<ID>` comments in the scanned tree do.

    `honor`: an allow entry under the policy's allow-rules (the comment is the reason, its
    `exp:` the expiry); `report`: the finding is decided as if the comment were not there.
    """

    HONOR = "honor"
    REPORT = "report"


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


_KEYS: dict[str, type[BaseModel]] = {
    "": PolicySpec,
    "fail-on": FailOnSpec,
    "allow-rules": AllowRulesSpec,
    "allow": AllowEntrySpec,
}


@dataclass(frozen=True)
class Policy:
    """The effective policy after `extends` and ignore files: every value resolved."""

    name: str
    sources: tuple[str, ...]
    fail_on: dict[Kind, Severity | None]
    ignore_unfixed: bool
    require_expiry: bool
    max_days: int | None
    warn_days: int
    allow: tuple[AllowEntry, ...]
    inline_ignores: InlineIgnores = InlineIgnores.HONOR
    # False: scangate runs Trivy with its path-based secret allow rules (tests/, docs, *.md,
    # vendor/ ...) disabled, so the policy, not the file's path, decides what is a fixture.
    trivy_secret_allow_rules: bool = False

    def with_allow(self, entries: list[AllowEntry], source: str) -> Policy:
        return replace(self, allow=self.allow + tuple(entries), sources=(*self.sources, source))

    def to_dict(self) -> dict[str, Any]:
        """The effective policy in the policy-file format (`scangate policy check`)."""
        return {
            "version": 1,
            "fail-on": {k.value: (v.value if v else _NONE) for k, v in self.fail_on.items()},
            "ignore-unfixed": self.ignore_unfixed,
            "allow-rules": {
                "require-expiry": self.require_expiry,
                "max-days": self.max_days,
                "warn-days": self.warn_days,
            },
            "inline-ignores": self.inline_ignores.value,
            "trivy-secret-allow-rules": self.trivy_secret_allow_rules,
            "allow": [
                {
                    "id": e.id,
                    "reason": e.reason,
                    **({"expires": e.expires} if e.expires else {}),
                    **({"targets": list(e.targets)} if e.targets else {}),
                    **({"packages": list(e.packages)} if e.packages else {}),
                    **({"owner": e.owner} if e.owner else {}),
                    **({"purls": list(e.purls)} if e.purls else {}),
                    # Sorted by Kind's order; absent means every kind.
                    **({"kinds": [k.value for k in Kind if k in e.kinds]} if e.kinds else {}),
                    "from": e.origin,
                }
                for e in self.allow
            ],
        }


# What a policy that sets nothing means: vulnerabilities and misconfigurations fail at HIGH,
# any secret fails, licenses are reported only.
_BASE = Policy(
    name="(base)",
    sources=(),
    fail_on={
        Kind.VULNERABILITY: Severity.HIGH,
        Kind.MISCONFIGURATION: Severity.HIGH,
        Kind.SECRET: Severity.UNKNOWN,
        Kind.LICENSE: None,
    },
    ignore_unfixed=True,
    require_expiry=False,
    max_days=None,
    warn_days=14,
    allow=(),
)


def builtin_policy_dir() -> Path:
    """Built-in policies: packaged as `scangate/_policies`, or `policies/` in a source checkout."""
    packaged = Path(str(resources.files("scangate"))) / "_policies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "policies"


def is_builtin_name(spec: str) -> bool:
    return spec in BUILTIN_POLICIES


def load_policy(spec: str, *, base_dir: Path, today: date) -> Policy:
    """Load a built-in policy by name or a policy file by path, following `extends`."""
    policy = _load_chain(spec, base_dir, seen=())
    check_allow_rules(policy, today)
    return policy


def resolve_policy(spec: str | None, *, roots: list[Path], today: date) -> Policy:
    """`--policy NAME|PATH`, else `.scangate.yaml` in the first root that has one, else default."""
    if spec:
        return load_policy(spec, base_dir=Path.cwd(), today=today)
    for root in roots:
        candidate = root / PROJECT_POLICY_FILE
        if candidate.is_file():
            return load_policy(str(candidate), base_dir=Path.cwd(), today=today)
    return load_policy("default", base_dir=Path.cwd(), today=today)


def _policy_path(spec: str, base_dir: Path) -> tuple[Path, str]:
    if is_builtin_name(spec):
        return builtin_policy_dir() / f"{spec}.yaml", f"built-in policy '{spec}'"
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return path, str(Path(spec)) if not Path(spec).is_absolute() else spec


def _load_chain(spec: str, base_dir: Path, seen: tuple[Path, ...]) -> Policy:
    path, label = _policy_path(spec, base_dir)
    if len(label) > 200:  # `extends` is the file's own text: name it, never quote all of it
        label = f"{label[:200]}..."
    try:
        resolved = path.resolve()
        path.is_file()
    except OSError as exc:  # a name too long, or a link loop
        raise PolicyError(
            f"{label}: cannot read the policy file: {exc.strerror}; check 'extends' and --policy"
        ) from None
    if resolved in seen:
        chain = " -> ".join(p.name for p in (*seen, resolved))
        raise PolicyError(f"{label}: extends forms a cycle ({chain}): remove one 'extends'")
    policy_spec = _read_spec(path, label)
    if policy_spec.extends:
        parent = _load_chain(policy_spec.extends, path.parent, (*seen, resolved))
    else:
        parent = _BASE
    return _merge(parent, policy_spec, label)


def _read_spec(path: Path, label: str) -> PolicySpec:
    if not path.is_file():
        if label.startswith("built-in"):
            raise PolicyError(f"{label} is missing from the installation: reinstall scangate")
        names = ", ".join(BUILTIN_POLICIES)
        raise PolicyError(
            f"{label}: no such policy file; give a path to a YAML file or a built-in name ({names})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{label}: cannot read the policy file: {exc}") from None
    raw = load(text, label)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{label}: a policy is a YAML mapping (version, fail-on, allow, ...)")
    if raw.get("version", 1) != 1:
        raise PolicyError(
            f"{label}: version is {quote(raw.get('version'))}; this scangate reads policy version 1"
        )
    try:
        return PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_describe_error(label, raw, exc)) from None


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


def _merge(parent: Policy, spec: PolicySpec, label: str) -> Policy:
    fail_on = dict(parent.fail_on)
    if spec.fail_on:
        for kind in Kind:
            value = getattr(spec.fail_on, kind.value)
            if value is not None:
                fail_on[kind] = None if value == _NONE else Severity(value)
    rules = spec.allow_rules or AllowRulesSpec()
    entries = tuple(
        AllowEntry(
            id=e.id,
            reason=e.reason.strip(),
            origin=f"{label} allow[{i}]",
            expires=e.expires,
            targets=tuple(e.targets),
            packages=tuple(e.packages),
            owner=e.owner,
        )
        for i, e in enumerate(spec.allow or [])
    )
    return Policy(
        name=label,
        sources=(*parent.sources, label),
        fail_on=fail_on,
        ignore_unfixed=(
            parent.ignore_unfixed if spec.ignore_unfixed is None else spec.ignore_unfixed
        ),
        require_expiry=(
            parent.require_expiry if rules.require_expiry is None else rules.require_expiry
        ),
        max_days=rules.max_days if "max_days" in rules.model_fields_set else parent.max_days,
        warn_days=parent.warn_days if rules.warn_days is None else rules.warn_days,
        allow=parent.allow + entries,
        inline_ignores=(
            parent.inline_ignores if spec.inline_ignores is None else spec.inline_ignores
        ),
        trivy_secret_allow_rules=(
            parent.trivy_secret_allow_rules
            if spec.trivy_secret_allow_rules is None
            else spec.trivy_secret_allow_rules
        ),
    )


def check_allow_rules(policy: Policy, today: date) -> None:
    """Every allow entry, from the policy or an ignore file, obeys require-expiry and max-days."""
    for entry in policy.allow:
        if policy.require_expiry and entry.expires is None:
            raise PolicyError(
                f"{entry.origin} ({cut(entry.id)}): no expiry date, and the policy sets "
                "require-expiry: add 'expires: YYYY-MM-DD'"
            )
        if (
            policy.max_days is not None
            and entry.expires is not None
            and (entry.expires - today).days > policy.max_days
        ):
            raise PolicyError(
                f"{entry.origin} ({cut(entry.id)}): expires {entry.expires.isoformat()}, more "
                f"than max-days {policy.max_days} from {today.isoformat()}: choose an earlier date"
            )
