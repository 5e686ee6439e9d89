"""The policy: loading and validating policy files, `extends`, ignore files and allow entries.

A policy file is the user's own input, so it is parsed strictly (`extra="forbid"`): a typo is an
error naming the file, the entry and the fix. Loading never reads the clock; the date that
`max-days` is measured from is passed in.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from scangate.errors import PolicyError
from scangate.findings import Finding, Kind, Severity, match_key

BUILTIN_POLICIES = ("default", "strict", "pre-push")
PROJECT_POLICY_FILE = ".scangate.yaml"
IGNORE_FILES = (".trivyignore", ".trivyignore.yaml")

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
        f"{value!r} is not a severity: use CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN or none"
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
class AllowEntry:
    """One suppression, from a policy's `allow:` or an ignore file, with where it came from."""

    id: str
    reason: str
    origin: str
    expires: date | None = None
    targets: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    owner: str | None = None
    # From `.trivyignore.yaml`: package URLs matched the way Trivy matches them (`_purl_matches`).
    purls: tuple[str, ...] = ()
    _target_patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)
    _package_patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_target_patterns", tuple(map(glob_to_regex, self.targets)))
        packages = tuple(glob_to_regex(p, path=False) for p in self.packages)
        object.__setattr__(self, "_package_patterns", packages)

    @property
    def key(self) -> str:
        return match_key(self.id)

    def expired(self, today: date) -> bool:
        """Like Trivy's `exp:`: the entry stops suppressing on its expiry date."""
        return self.expires is not None and today >= self.expires

    def matches_scope(self, finding: Finding) -> bool:
        """Whether the finding is in the entry's targets and packages (the ID is matched by key)."""
        if self._target_patterns and not _target_matches(self._target_patterns, finding):
            return False
        if (
            self.purls
            and finding.purl
            and not any(_purl_matches(p, finding.purl) for p in self.purls)
        ):
            return False
        if self._package_patterns:
            name = finding.package or ""
            return any(p.fullmatch(name) for p in self._package_patterns)
        return True

    def describe(self) -> str:
        parts = [self.id]
        if self.owner:
            parts.append(f"owner {self.owner}")
        if self.expires:
            parts.append(f"expires {self.expires.isoformat()}")
        return f"{', '.join(parts)} ({self.origin})"


def _target_matches(patterns: tuple[re.Pattern[str], ...], finding: Finding) -> bool:
    candidates = {finding.target}
    if finding.location is not None:
        candidates.add(finding.location.path)
    return any(p.fullmatch(c) for p in patterns for c in candidates)


def glob_to_regex(pattern: str, *, path: bool = True) -> re.Pattern[str]:
    """Gitignore-style globs: `*` and `?` stay within a path segment, `**` spans segments."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*" if path else ".*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]" if path else ".")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


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
    resolved = path.resolve()
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
        raw = _load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PolicyError(f"{label}: not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{label}: cannot read the policy file: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{label}: a policy is a YAML mapping (version, fail-on, allow, ...)")
    if raw.get("version", 1) != 1:
        raise PolicyError(
            f"{label}: version is {raw.get('version')!r}; this scangate reads policy version 1"
        )
    try:
        return PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_describe_error(label, raw, exc)) from None


class _Loader(yaml.SafeLoader):
    """Safe YAML in which an impossible date (`2025-13-01`) stays a string.

    PyYAML's own timestamp constructor raises a bare ValueError for it, outside YAMLError;
    as a string it reaches validation, whose error names the file and the entry.
    """


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return loader.construct_yaml_timestamp(node)  # type: ignore[arg-type]
    except ValueError:
        return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


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
        return f"{label}: {where}: unknown key '{key}': {fix}"
    if err["type"] == "missing":
        fix = {
            "reason": "say why the finding is accepted",
            "id": "name the CVE, check or rule ID to allow",
        }.get(key, "add it")
        return f"{label}: {where}: '{key}' is required: {fix}"
    if key == "expires" or err["type"].startswith("date"):
        value = err.get("input")
        return f"{label}: {where}: expires {value!r} is not a date: write it as YYYY-MM-DD"
    if key in ("reason", "id") and err["type"] == "string_too_short":
        fix = {"id": "name the CVE, check or rule ID to allow"}.get(
            key, "say why the finding is accepted"
        )
        return f"{label}: {where}: '{key}' is empty: {fix}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{label}: {where}: {msg}"


def _entry_name(raw: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "allow" and isinstance(loc[1], int):
        entries = raw.get("allow") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        name = f"allow[{loc[1]}]" + (f" ({ident})" if ident else "")
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
                f"{entry.origin} ({entry.id}): no expiry date, and the policy sets "
                "require-expiry: add 'expires: YYYY-MM-DD'"
            )
        if (
            policy.max_days is not None
            and entry.expires is not None
            and (entry.expires - today).days > policy.max_days
        ):
            raise PolicyError(
                f"{entry.origin} ({entry.id}): expires {entry.expires.isoformat()}, more than "
                f"max-days {policy.max_days} from {today.isoformat()}: choose an earlier date"
            )


def find_ignore_files(root: Path) -> list[Path]:
    return [root / name for name in IGNORE_FILES if (root / name).is_file()]


def load_ignore_file(path: Path) -> list[AllowEntry]:
    """Read Trivy's `.trivyignore` (IDs, `exp:` dates, comments) or `.trivyignore.yaml`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read the ignore file: {exc}") from None
    if path.suffix in (".yaml", ".yml"):
        return _ignore_yaml(path, text)
    return _ignore_plain(path, text)


def _ignore_plain(path: Path, text: str) -> list[AllowEntry]:
    entries: list[AllowEntry] = []
    comment: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        fields = stripped.split()
        expires: date | None = None
        for extra in fields[1:]:
            if extra.startswith("exp:"):
                expires = _ignore_date(path, number, extra[4:])
        reason = " ".join(c for c in comment if c) or f"listed in {path.name}"
        entries.append(
            AllowEntry(id=fields[0], reason=reason, origin=f"{path}:{number}", expires=expires)
        )
        comment = []
    return entries


def _ignore_date(path: Path, number: int, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PolicyError(
            f"{path}:{number}: exp:{value} is not a date: write it as exp:YYYY-MM-DD"
        ) from None


_YAML_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")


def _ignore_yaml(path: Path, text: str) -> list[AllowEntry]:
    try:
        raw = _load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping with {', '.join(_YAML_SECTIONS)}")
    entries: list[AllowEntry] = []
    for section in _YAML_SECTIONS:
        items = raw.get(section) or []
        if not isinstance(items, list):
            raise PolicyError(f"{path}: {section} must be a list of entries with an 'id'")
        for i, item in enumerate(items):
            where = f"{path} {section}[{i}]"
            if not isinstance(item, dict) or not item.get("id"):
                raise PolicyError(f"{where}: each entry needs an 'id'")
            expires = item.get("expired_at")
            if isinstance(expires, str):
                try:
                    expires = date.fromisoformat(expires)
                except ValueError:
                    raise PolicyError(
                        f"{where}: expired_at {expires!r} is not a date: write it as YYYY-MM-DD"
                    ) from None
            elif isinstance(expires, datetime):
                # `2025-09-01T00:00:00Z` (Trivy takes RFC 3339 too): a datetime never compares
                # with today's date, so keep the day; it stops suppressing on that day.
                expires = expires.date()
            elif expires is not None and not isinstance(expires, date):
                raise PolicyError(f"{where}: expired_at must be a date YYYY-MM-DD")
            purls = item.get("purls") or []
            entries.append(
                AllowEntry(
                    id=str(item["id"]),
                    reason=str(item.get("statement") or f"listed in {path.name}"),
                    origin=where,
                    expires=expires,
                    targets=tuple(str(p) for p in item.get("paths") or []),
                    purls=tuple(str(p) for p in purls),
                )
            )
    return entries


def _purl_parts(purl: str) -> tuple[str, str, str, str, dict[str, str], str]:
    """`pkg:type/namespace/name@version?qualifiers#subpath`, each part percent-decoded."""
    body, _, subpath = purl.removeprefix("pkg:").partition("#")
    body, _, query = body.partition("?")
    body, _, version = body.rpartition("@") if "@" in body else (body, "", "")
    kind, _, path = body.strip("/").partition("/")
    namespace, _, name = path.rpartition("/")
    kind = kind.lower()
    name = unquote(name)
    if kind == "pypi":  # PyPI names are case-blind and `_` is `-` (the purl spec; Trivy agrees)
        name = name.lower().replace("_", "-")
    qualifiers = dict(
        (k.lower(), unquote(v)) for k, _, v in (q.partition("=") for q in query.split("&") if q)
    )
    return kind, unquote(namespace), name, unquote(version), qualifiers, subpath.strip("/")


def _purl_matches(constraint: str, purl: str) -> bool:
    """Trivy's rule: type, namespace and name equal; version and subpath equal when the
    constraint has them; every qualifier of the constraint present in the finding's purl."""
    c_kind, c_ns, c_name, c_version, c_qual, c_sub = _purl_parts(constraint)
    kind, ns, name, version, qual, sub = _purl_parts(purl)
    return (
        (c_kind, c_ns, c_name) == (kind, ns, name)
        and (not c_version or c_version == version)
        and (not c_sub or c_sub == sub)
        and all(qual.get(k) == v for k, v in c_qual.items())
    )
