"""Allow entries: one suppression, from a policy's `allow:` or an ignore file, and what it matches.

An entry matches a finding by ID (canonical, case-blind: `match_key`), then by scope: the
finding kinds it is for, target globs, package-name globs and package URLs (Trivy's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import unquote

from scangate.findings import Finding, Kind, match_key
from scangate.globs import glob_to_regex


@dataclass(frozen=True)
class AllowEntry:
    """One suppression, with where it came from."""

    id: str
    reason: str
    origin: str
    expires: date | None = None
    targets: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    owner: str | None = None
    # From `.trivyignore.yaml`: package URLs matched the way Trivy matches them (`_purl_matches`).
    purls: tuple[str, ...] = ()
    # The finding kinds the entry is for; empty is every kind. A `.trivyignore.yaml` section
    # (`secrets:`) applies to its own kind only, as in Trivy.
    kinds: frozenset[Kind] = frozenset()
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
        """Whether the finding is of the entry's kinds and in its targets and packages (the ID
        is matched by key)."""
        if self.kinds and finding.kind not in self.kinds:
            return False
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
