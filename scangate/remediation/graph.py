"""A target's packages as a dependency graph: which are direct, which are indirect, and
through which direct dependencies an indirect one is pulled in (`via`).

Built from Trivy's `Packages[].Relationship` and `DependsOn` (`--list-all-pkgs`), which
lock files with a graph carry (package-lock.json, Cargo.lock, poetry.lock, go.mod...);
requirements files and OS packages have none: their packages are `unknown`, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DIRECT = "direct"
INDIRECT = "indirect"
UNKNOWN = "unknown"


@dataclass(slots=True)
class PackageGraph:
    """One target's ecosystem (Trivy's result Type) and, when the report has it, its graph:
    package ID -> relationship, name and the IDs it depends on."""

    type: str = ""
    relationship: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    depends_on: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Made at the first `via` question: package ID -> the IDs that depend on it.
    _parents: dict[str, list[str]] | None = field(default=None, init=False, repr=False)

    def relationship_of(self, package_id: str) -> str:
        rel = self.relationship.get(package_id)
        return rel if rel in (DIRECT, INDIRECT) else UNKNOWN

    def via(self, package_id: str) -> list[str]:
        """The direct dependencies (by name) whose dependency paths lead to this package:
        its dependents walked upwards, each path stopping at the first direct package (a
        direct dependency further up pulls it in through that one). Cycles are walked once."""
        parents = self._parents
        if parents is None:
            parents = {}
            for parent, children in self.depends_on.items():
                for child in children:
                    parents.setdefault(child, []).append(parent)
            self._parents = parents
        found: set[str] = set()
        seen = {package_id}
        stack = [package_id]
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent in seen:
                    continue
                seen.add(parent)
                if self.relationship.get(parent) == DIRECT:
                    found.add(self.names.get(parent) or parent)
                else:
                    stack.append(parent)
        return sorted(found)
