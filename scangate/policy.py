"""The policy: built-in policies and `.scangate.yaml`, `extends` followed and merged into the
effective `Policy`, and the allow-rules every allow entry obeys.

One file as written is `scangate.policy_file` (its strict models and error messages are
`scangate.policy_models`, used only for files the user wrote); allow entries
are `scangate.allow`; Trivy's ignore files are read by `scangate.ignorefiles`; their public
names are re-exported here. Loading never reads the clock; the date that `max-days` is
measured from is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from scangate._yaml import cut
from scangate.allow import AllowEntry
from scangate.errors import PolicyError
from scangate.findings import Kind, Severity
from scangate.globs import glob_to_regex
from scangate.ignorefiles import IGNORE_FILES, find_ignore_files, load_ignore_file, present
from scangate.licenses import LicenseRules
from scangate.policy_file import (
    BUILTIN_POLICIES,
    NONE,
    AllowRulesValues,
    EpssValues,
    FailOnValues,
    InlineIgnores,
    KevMode,
    LicensesValues,
    LicenseUnknown,
    PolicyValues,
    VexMode,
    read_spec,
)
from scangate.safe_read import is_inside

if TYPE_CHECKING:
    from scangate.vex.document import VexStatement

# Allow entries, ignore files and the policy file's own names live in their own modules;
# these names stay importable here.
__all__ = [
    "BUILTIN_POLICIES",
    "IGNORE_FILES",
    "PROJECT_POLICY_FILE",
    "AllowEntry",
    "InlineIgnores",
    "KevMode",
    "LicenseRules",
    "Policy",
    "VexMode",
    "builtin_policy_dir",
    "check_allow_rules",
    "find_ignore_files",
    "glob_to_regex",
    "is_builtin_name",
    "load_ignore_file",
    "load_policy",
    "resolve_policy",
]

PROJECT_POLICY_FILE = ".scangate.yaml"


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
    # Issue 11 (`scangate.feeds` reads a feed only when these ask for it).
    kev: KevMode = KevMode.OFF
    epss_fail_at: float | None = None  # a probability 0..1
    # Days a newly published vulnerability does not fail, per severity (absent: 0), and
    # the age past which an unfixed one fails even under ignore-unfixed (absent: no limit).
    # `scangate.gate_risk` applies them.
    grace_days: dict[Severity, int] = field(default_factory=dict)
    unfixed_max_days: dict[Severity, int] = field(default_factory=dict)
    licenses: LicenseRules | None = None  # None: Trivy's license categories and fail-on only
    vex: VexMode = VexMode.HONOR
    # The OpenVEX statements of the --vex files (`scangate.vex`): the gate lists unused ones.
    vex_statements: tuple[VexStatement, ...] = ()

    def with_vex(self, statements: tuple[VexStatement, ...]) -> Policy:
        return replace(self, vex_statements=self.vex_statements + statements)

    def with_allow(self, entries: list[AllowEntry], source: str) -> Policy:
        return replace(self, allow=self.allow + tuple(entries), sources=(*self.sources, source))

    def to_dict(self) -> dict[str, Any]:
        """The effective policy in the policy-file format (`scangate policy check`)."""
        return {
            "version": 1,
            "fail-on": {k.value: (v.value if v else NONE) for k, v in self.fail_on.items()},
            "ignore-unfixed": self.ignore_unfixed,
            "allow-rules": {
                "require-expiry": self.require_expiry,
                "max-days": self.max_days,
                "warn-days": self.warn_days,
            },
            "inline-ignores": self.inline_ignores.value,
            "trivy-secret-allow-rules": self.trivy_secret_allow_rules,
            "grace-days": _days_shown(self.grace_days),
            "unfixed-max-days": {
                s.value: d
                for s in reversed(Severity)
                if (d := self.unfixed_max_days.get(s)) is not None
            },
            "kev": self.kev.value,
            "epss": {"fail-at": self.epss_fail_at},
            "licenses": self.licenses.to_dict() if self.licenses else None,
            "vex": self.vex.value,
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


def _days_shown(days: dict[Severity, int]) -> int | dict[str, int]:
    """grace-days as a policy file would write it: one number when every severity has it."""
    values = {s.value: days.get(s, 0) for s in reversed(Severity)}
    same = set(values.values())
    return same.pop() if len(same) == 1 else values


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
    # The package's own directory, as `importlib.resources.files("scangate")` gives it for an
    # installed package, without importing its readers on every run.
    packaged = Path(__file__).parent / "_policies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "policies"


def is_builtin_name(spec: str) -> bool:
    return spec in BUILTIN_POLICIES


def load_policy(spec: str, *, base_dir: Path, today: date, root: Path | None = None) -> Policy:
    """Load a built-in policy by name or a policy file by path, following `extends`.

    `root`: the file was found in the scanned tree under `root`. Then neither it nor any
    file it extends is read through a symbolic link or from outside `root` (`safe_read`):
    the tree's author could otherwise have scangate read, and print, any file.
    """
    policy = _load_chain(spec, base_dir, seen=(), root=root)
    check_allow_rules(policy, today)
    return policy


def resolve_policy(spec: str | None, *, roots: list[Path], today: date) -> Policy:
    """`--policy NAME|PATH`, else `.scangate.yaml` in the first root that has one, else default."""
    if spec:
        return load_policy(spec, base_dir=Path.cwd(), today=today)
    for root in roots:
        candidate = root / PROJECT_POLICY_FILE
        if present(candidate):
            return load_policy(str(candidate), base_dir=Path.cwd(), today=today, root=root)
    return load_policy("default", base_dir=Path.cwd(), today=today)


def _policy_path(spec: str, base_dir: Path) -> tuple[Path, str]:
    if is_builtin_name(spec):
        return builtin_policy_dir() / f"{spec}.yaml", f"built-in policy '{spec}'"
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return path, str(Path(spec)) if not Path(spec).is_absolute() else spec


def _load_chain(
    spec: str, base_dir: Path, seen: tuple[Path, ...], root: Path | None, via: str = ""
) -> Policy:
    """`spec` and what it extends, merged; `via` is the file whose `extends` named `spec`."""
    path, label = _policy_path(spec, base_dir)
    if is_builtin_name(spec):
        root = None  # scangate's own file, not the tree's
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
    if root is not None and via and not is_inside(path, root):
        raise PolicyError(
            f"{via}: extends {label!r}, which leads outside {root.absolute()} (through '..', "
            "an absolute path or a symbolic link): a policy found in the scanned tree may "
            "extend only a built-in policy or a file inside the tree; pass an outside policy "
            "with --policy"
        )
    values = read_spec(path, label, root=root, builtin=is_builtin_name(spec))
    extends = values.get("extends")
    parent = _load_chain(extends, path.parent, (*seen, resolved), root, label) if extends else _BASE
    return _merge(parent, values, label)


def _merge(parent: Policy, spec: PolicyValues, label: str) -> Policy:
    """`spec`, one validated file (a key it does not set, or sets to null, keeps the
    parent's value; `max-days: null` alone means "no limit"), over `parent`."""
    fail_on = dict(parent.fail_on)
    thresholds = cast(dict[str, str | None], spec.get("fail-on") or FailOnValues())
    for kind in Kind:
        value = thresholds.get(kind.value)
        if value is not None:
            fail_on[kind] = None if value == NONE else Severity(value)
    rules = spec.get("allow-rules") or AllowRulesValues()
    entries = tuple(
        AllowEntry(
            id=e["id"],
            reason=e["reason"].strip(),
            origin=f"{label} allow[{i}]",
            expires=e.get("expires"),
            targets=tuple(e.get("targets", ())),
            packages=tuple(e.get("packages", ())),
            owner=e.get("owner"),
        )
        for i, e in enumerate(spec.get("allow") or [])
    )
    ignore_unfixed = spec.get("ignore-unfixed")
    require_expiry = rules.get("require-expiry")
    warn_days = rules.get("warn-days")
    inline_ignores = spec.get("inline-ignores")
    trivy_rules = spec.get("trivy-secret-allow-rules")
    kev = spec.get("kev")
    vex = spec.get("vex")
    epss = spec.get("epss") or EpssValues()
    return Policy(
        name=label,
        sources=(*parent.sources, label),
        fail_on=fail_on,
        ignore_unfixed=parent.ignore_unfixed if ignore_unfixed is None else ignore_unfixed,
        require_expiry=parent.require_expiry if require_expiry is None else require_expiry,
        max_days=rules.get("max-days", parent.max_days),
        warn_days=parent.warn_days if warn_days is None else warn_days,
        allow=parent.allow + entries,
        inline_ignores=(
            parent.inline_ignores if inline_ignores is None else InlineIgnores(inline_ignores)
        ),
        trivy_secret_allow_rules=(
            parent.trivy_secret_allow_rules if trivy_rules is None else trivy_rules
        ),
        kev=parent.kev if kev is None else KevMode(kev),
        epss_fail_at=epss.get("fail-at") if "fail-at" in epss else parent.epss_fail_at,
        grace_days=_merge_days(parent.grace_days, spec.get("grace-days")),
        unfixed_max_days=_merge_days(parent.unfixed_max_days, spec.get("unfixed-max-days")),
        licenses=_merge_licenses(parent.licenses, spec.get("licenses")),
        vex=parent.vex if vex is None else VexMode(vex),
    )


def _merge_days(
    parent: dict[Severity, int], value: int | dict[str, int] | dict[str, int | None] | None
) -> dict[Severity, int]:
    """A number sets every severity; a map the severities it names (null: no limit)."""
    if value is None:
        return parent
    if isinstance(value, int):
        return {s: value for s in Severity}
    merged = dict(parent)
    for name, days in value.items():
        if days is None:
            merged.pop(Severity(name), None)
        else:
            merged[Severity(name)] = days
    return merged


def _merge_licenses(
    parent: LicenseRules | None, spec: LicensesValues | None
) -> LicenseRules | None:
    """`deny` adds to the parent's (a policy that extends another cannot quietly drop its
    denials); `allow` and `unknown` replace the parent's when set."""
    if spec is None:
        return parent
    base = parent or LicenseRules()
    allow = spec.get("allow")
    unknown = spec.get("unknown")
    return LicenseRules(
        deny=tuple(dict.fromkeys((*base.deny, *(spec.get("deny") or ())))),
        allow=base.allow if allow is None else tuple(allow),
        unknown=base.unknown if unknown is None else LicenseUnknown(unknown),
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
