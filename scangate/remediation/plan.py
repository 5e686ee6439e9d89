"""The remediation plan of a gate result: per target, package and installed version, the
lowest upgrade that fixes all of its vulnerabilities (on the installed release line when
one does, else marked `major`), what it clears, whether the package is a direct or an
indirect dependency (and via which direct ones), the packages with no fix, and whether the
gate would pass once the upgrades are made.

A pure function of the `GateResult`: the gate decides each finding on its own, so taking
out the findings the plan clears and counting the failing ones left is the gate run again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from scangate.findings import Kind
from scangate.gate import Decided, Decision
from scangate.remediation.graph import INDIRECT, UNKNOWN, PackageGraph

if TYPE_CHECKING:
    from scangate.gate import GateResult


class Upgrade(NamedTuple):
    """One upgrade: `upgrade_to` fixes every vulnerability in `ids` of this package."""

    target: str
    package: str
    installed_version: str
    upgrade_to: str
    major: bool  # leaves the installed version's release line
    clears: int
    clears_failing: int
    ids: tuple[str, ...]
    relationship: str  # direct, indirect or unknown
    via: tuple[str, ...]  # for an indirect package: the direct dependencies that pull it in


class Unfixable(NamedTuple):
    """A package whose vulnerabilities in `ids` have no fixed version (scangate can read)."""

    target: str
    package: str
    installed_version: str
    ids: tuple[str, ...]


@dataclass(slots=True)
class Plan:
    upgrades: list[Upgrade] = field(default_factory=list)
    unfixable: list[Unfixable] = field(default_factory=list)
    # Failing findings no upgrade clears, by kind (`Kind` values), in `Kind` order.
    still_failing: dict[str, int] = field(default_factory=dict)

    @property
    def passes_after(self) -> bool:
        return not any(self.still_failing.values())

    @property
    def clears_failing(self) -> int:
        return sum(u.clears_failing for u in self.upgrades)

    def to_dict(self) -> dict[str, Any]:
        """The JSON result's `remediation` block as data (`formats.plan_json` writes it)."""
        return {
            "upgrades": [
                {**u._asdict(), "ids": list(u.ids), "via": list(u.via)} for u in self.upgrades
            ],
            "unfixable": [{**u._asdict(), "ids": list(u.ids)} for u in self.unfixable],
            "passes_after": self.passes_after,
            "still_failing": self.still_failing,
        }


_NO_GRAPH = PackageGraph()
_VULNERABILITY = Kind.VULNERABILITY
_FAIL = Decision.FAIL
# Tuples made without a call to the class's Python-level __new__: one per package.
_new = tuple.__new__


def compute(result: GateResult) -> Plan:
    """The plan for every vulnerability of every run (see the module docstring)."""
    # Grouped first, in one pass: the versions are then parsed and compared once per
    # package (and cached per version string), not once per finding.
    groups: dict[tuple[int, str, str, str], list[Decided]] = {}
    left: Counter[str] = Counter()  # failing findings no upgrade can clear, by kind
    vulnerability, fail = _VULNERABILITY, _FAIL
    for index, run_result in enumerate(result.runs):
        for d in run_result.decided:
            f = d.finding
            if f.kind is vulnerability and f.package:
                key = (index, f.target, f.package, f.installed_version or "")
                found = groups.get(key)
                if found is None:
                    groups[key] = [d]
                else:
                    found.append(d)
            elif d.decision is fail:
                left[f.kind._value_] += 1
    plan = Plan()
    if groups:
        _plan_groups(plan, result, groups, left)
    plan.still_failing = {k.value: left[k.value] for k in Kind if left[k.value]}
    return plan


def _plan_groups(
    plan: Plan,
    result: GateResult,
    groups: dict[tuple[int, str, str, str], list[Decided]],
    left: Counter[str],
) -> None:
    # univers (and attrs) load only for a result with vulnerabilities to plan.
    from scangate.remediation import versions

    fail = _FAIL
    upgrades, unfixable = plan.upgrades, plan.unfixable
    choose, scheme_for = versions.choose, versions.scheme_for
    schemes: dict[tuple[str, str | None], type[Any]] = {}
    unfixed_failing = 0
    cleared: list[Decided]
    ids: tuple[str, ...]
    via: tuple[str, ...]
    for (index, target, package, installed), decided in groups.items():
        graph = result.runs[index].run.graphs.get(target, _NO_GRAPH)
        first = decided[0].finding
        scheme_key = (graph.type, None if graph.type else first.purl)
        scheme = schemes.get(scheme_key)
        if scheme is None:
            scheme = schemes[scheme_key] = scheme_for(graph.type, first.purl)
        if len(decided) == 1:  # most packages: no sets to make
            fixed = first.fixed_version
            choice = choose(scheme, installed, frozenset((fixed,)) if fixed else frozenset())
            if choice.upgrade_to is None:
                unfixable.append(_new(Unfixable, (target, package, installed, (first.id,))))
                unfixed_failing += 1 if decided[0].decision is fail else 0
                continue
            cleared, ids = decided, (first.id,)
            failing = 1 if decided[0].decision is fail else 0
        else:
            fixed_texts = frozenset(d.finding.fixed_version or "" for d in decided) - {""}
            choice = choose(scheme, installed, fixed_texts)
            cleared = []
            unfixed: list[Decided] = []
            for d in decided:
                (cleared if d.finding.fixed_version in choice.fixed else unfixed).append(d)
            if unfixed:
                unfixable.append(_new(Unfixable, (target, package, installed, _ids(unfixed))))
                unfixed_failing += sum(1 for d in unfixed if d.decision is fail)
            if not cleared or choice.upgrade_to is None:
                continue
            ids = _ids(cleared)
            failing = sum(1 for d in cleared if d.decision is fail)
        relationship, via = UNKNOWN, ()
        if graph.relationship:
            package_id = f"{package}@{installed}"
            relationship = graph.relationship_of(package_id)
            if relationship == INDIRECT:
                via = tuple(graph.via(package_id))
        upgrade_to = versions.written_as(scheme, installed, choice.upgrade_to)
        upgrades.append(
            _new(
                Upgrade,
                (
                    target,
                    package,
                    installed,
                    upgrade_to,
                    choice.major,
                    len(cleared),
                    failing,
                    ids,
                    relationship,
                    via,
                ),
            )
        )
    if unfixed_failing:
        left[_VULNERABILITY._value_] += unfixed_failing
    # Those clearing the most failing findings first, then the most findings; ties in
    # report order (a stable sort, reversed as a whole).
    upgrades.sort(key=_RANK, reverse=True)


_RANK = itemgetter(6, 5)  # clears_failing, clears


def _ids(decided: list[Decided]) -> tuple[str, ...]:
    return tuple(sorted({d.finding.id for d in decided}))
