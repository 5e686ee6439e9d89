"""Version order per ecosystem, and the lowest upgrade that fixes a package's advisories.

Versions are compared by their ecosystem's own rules, never as strings (`1.10.0` is after
`1.9.0`, `2.0.0rc1` before `2.0.0`, Debian's `1:2.0-1` after `3.0-1`): PEP 440 for Python,
SemVer for npm and cargo (and Composer's and NuGet's variants), Go's module versions, Maven's
and RubyGems' orders, dpkg, rpm and apk for OS packages, all from `univers` (aboutcode),
imported only when a plan is made. Parsed versions are cached per string: a report repeats
the same few versions thousands of times.

Trivy's FixedVersion is the advisory's patched versions joined with ", " (`0.6.14, 1.6.1`:
one per release line); some advisory databases write constraints (`>= 6.0.3.1`, `~> 5.2.4`,
`^1.2.3 || >= 2.1.0`): each alternative's lower bound is the version that fixes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import univers.versions as uv
from univers.nuget import InvalidNuGetVersion

# What univers raises for text that is not a version of the scheme (its InvalidVersion is a
# ValueError; its NuGet parser has an exception of its own).
_NOT_A_VERSION = (ValueError, TypeError, InvalidNuGetVersion)

# Trivy's result Type (and the package URL type, for reports whose targets have no Type)
# -> the univers class of its version scheme.
_BY_TYPE: dict[str, type[Any]] = {}
for _names, _cls in (
    ("pip pipenv poetry uv python-pkg pypi", uv.PypiVersion),
    ("npm yarn pnpm bun node-pkg javascript cargo rust-binary rustbinary", uv.SemverVersion),
    ("composer composer-vendor", uv.ComposerVersion),
    ("nuget dotnet-core packages-props dotnet-deps", uv.NugetVersion),
    ("gomod gobinary golang go", uv.GolangVersion),
    ("jar pom gradle sbt maven war ear par", uv.MavenVersion),
    ("gemspec bundler gem", uv.RubygemsVersion),
    ("debian ubuntu deb", uv.DebianVersion),
    (
        "redhat centos rocky alma amazon oracle fedora photon rpm suse sles opensuse "
        "opensuse.leap opensuse.tumbleweed slem sle-micro cbl-mariner azurelinux echo",
        uv.RpmVersion,
    ),
    ("alpine wolfi chainguard minimos apk", uv.AlpineLinuxVersion),
):
    for _name in _names.split():
        _BY_TYPE[_name] = _cls
# An ecosystem univers has no order for: SemVer, which most registries follow; a version
# it cannot read leaves its package unplanned rather than guessed.
_FALLBACK: type[Any] = uv.SemverVersion


def scheme_for(target_type: str, purl: str | None) -> type[Any]:
    """The version class of a target's ecosystem (Trivy's Type), else of its package URL."""
    found = _BY_TYPE.get(target_type.lower())
    if found is None and purl and purl.startswith("pkg:"):
        found = _BY_TYPE.get(purl[4:].split("/", 1)[0].lower())
    return found or _FALLBACK


_PARSED: dict[tuple[type[Any], str], Any] = {}


def parse(scheme: type[Any], text: str) -> Any | None:
    """`text` as a version of `scheme`, or None if it is not one (cached per string)."""
    key = (scheme, text)
    try:
        return _PARSED[key]
    except KeyError:
        pass
    try:
        value = scheme(text) if text else None
    except _NOT_A_VERSION:
        value = None
    _PARSED[key] = value
    return value


_LINE = re.compile(r"(?:(\d+):)?[vV]?(\d+)(?:\.(\d+))?")


def release_line(text: str) -> tuple[str, ...] | None:
    """The release line of a version: its epoch and major version, or major.minor for 0.x
    (where each minor is a line of its own); None when it does not start with a number."""
    match = _LINE.match(text.strip())
    if match is None:
        return None
    epoch, major, minor = match.groups()
    major = major.lstrip("0") or "0"
    if major == "0":
        return (epoch or "0", "0", (minor or "0").lstrip("0") or "0")
    return (epoch or "0", major)


_ALTERNATIVES = re.compile(r",|\|\|")
_LOWER_BOUND = re.compile(r"^(?:>=|~>|\^|~=|~|==|=)?\s*(\S+)")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A version that fixes an advisory on its release line."""

    text: str
    version: Any
    line: tuple[str, ...] | None


def fix_candidates(scheme: type[Any], fixed: str) -> tuple[Candidate, ...]:
    """The versions Trivy's FixedVersion names (see the module docstring); a constraint
    with no lower bound (`< 2.0`, `> 1.0`) names none."""
    out: list[Candidate] = []
    for piece in _ALTERNATIVES.split(fixed):
        piece = piece.strip()
        if not piece or piece[0] in "<!" or (piece[0] == ">" and piece[1:2] != "="):
            continue
        match = _LOWER_BOUND.match(piece)
        if match is None:
            continue
        text = match.group(1)
        version = parse(scheme, text)
        if version is not None:
            out.append(Candidate(text, version, release_line(text)))
    return tuple(out)


def _fixes(target: Candidate, candidates: tuple[Candidate, ...]) -> bool:
    """Whether `target` fixes the advisory fixed in `candidates`: it is at or above the fix
    on its own release line, or above every fix (a line with none of its own, later than
    them all). A line below the highest fix that has no fix of its own stays vulnerable."""
    version = target.version
    for cand in candidates:
        if cand.line == target.line and cand.version <= version:
            return True
    return all(cand.version <= version for cand in candidates)


@dataclass(frozen=True, slots=True)
class Choice:
    """The upgrade of one package: `upgrade_to` (as the advisory wrote it) fixes every
    advisory in `fixed` (by FixedVersion text); `major` when it leaves the installed
    version's release line."""

    upgrade_to: str | None
    major: bool
    fixed: frozenset[str]


_CHOSEN: dict[tuple[type[Any], str, frozenset[str]], Choice] = {}


def choose(scheme: type[Any], installed: str, fixed_texts: frozenset[str]) -> Choice:
    """The lowest version fixing every advisory whose FixedVersion is in `fixed_texts`,
    preferring the installed version's release line (cached: packages share versions)."""
    key = (scheme, installed, fixed_texts)
    found = _CHOSEN.get(key)
    if found is None:
        try:
            found = _choose(scheme, installed, fixed_texts)
        except _NOT_A_VERSION:  # two versions univers cannot compare: no upgrade to name
            found = Choice(None, False, frozenset())
        _CHOSEN[key] = found
    return found


def _choose(scheme: type[Any], installed: str, fixed_texts: frozenset[str]) -> Choice:
    per_text = {text: fix_candidates(scheme, text) for text in fixed_texts}
    readable = {text: cands for text, cands in per_text.items() if cands}
    if not readable:
        return Choice(None, False, frozenset())
    current = parse(scheme, installed)
    pool: dict[str, Candidate] = {}
    for cands in readable.values():
        for cand in cands:
            if current is None or cand.version > current:
                pool.setdefault(cand.text, cand)
    ordered = sorted(pool.values(), key=_SortKey)
    line = release_line(installed)
    same = [c for c in ordered if line is not None and c.line == line]
    for group in (same, ordered):
        for cand in group:
            if all(_fixes(cand, cands) for cands in readable.values()):
                return Choice(cand.text, cand.line != line or line is None, frozenset(readable))
    return Choice(None, False, frozenset())


class _SortKey:
    """Orders candidates by their version objects (univers defines only the comparisons)."""

    __slots__ = ("version",)

    def __init__(self, cand: Candidate) -> None:
        self.version = cand.version

    def __lt__(self, other: _SortKey) -> bool:
        return bool(self.version < other.version)


def written_as(scheme: type[Any], installed: str, version: str) -> str:
    """`version` spelt as the installed one is: Go modules are `v1.2.3` in go.mod and
    `go get`, though advisories write `1.2.3`."""
    if scheme is uv.GolangVersion and installed[:1] == "v" and version[:1].isdigit():
        return f"v{version}"
    return version
