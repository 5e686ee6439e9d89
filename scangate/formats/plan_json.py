"""The JSON result's `remediation` block (`scangate.remediation`), written one entry per
line, as the findings are.

A plan holds one entry per vulnerable package: tens of thousands in a large report, and
the JSON result always carries it. Each entry is written straight from the plan's tuples
with json's own C string encoder (the same escaping as `json.dumps(ensure_ascii=False)`),
which costs a third of building a dict per entry and encoding the list.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scangate.remediation.plan import Plan

_SEPARATOR = ",\n      "


def _strings(values: tuple[str, ...]) -> str:
    if not values:  # most `via`
        return ""
    if len(values) == 1:  # most `ids`
        return encode_basestring(values[0])
    return ", ".join(map(encode_basestring, values))


class _Encoded(dict[str, str]):
    """Each text encoded once: targets and versions repeat across entries, and a hit is a
    C-level subscript (no Python call)."""

    def __missing__(self, text: str) -> str:
        found = self[text] = encode_basestring(text)
        return found


def _list(lines: list[str]) -> str:
    return f"[\n      {_SEPARATOR.join(lines)}\n    ]" if lines else "[]"


def remediation_json(plan: Plan) -> str:
    """`"remediation": {...}` as a member of the result object, indented as its others."""
    enc = encode_basestring
    once = _Encoded()
    upgrades = [
        f'{{"target": {once[u.target]}, "package": {enc(u.package)}, '
        f'"installed_version": {once[u.installed_version]}, '
        f'"upgrade_to": {once[u.upgrade_to]}, "major": {"true" if u.major else "false"}, '
        f'"clears": {u.clears}, "clears_failing": {u.clears_failing}, '
        f'"ids": [{_strings(u.ids)}], "relationship": {once[u.relationship]}, '
        f'"via": [{_strings(u.via)}]}}'
        for u in plan.upgrades
    ]
    unfixable = [
        f'{{"target": {once[u.target]}, "package": {enc(u.package)}, '
        f'"installed_version": {once[u.installed_version]}, "ids": [{_strings(u.ids)}]}}'
        for u in plan.unfixable
    ]
    members = [
        f'"upgrades": {_list(upgrades)}',
        f'"unfixable": {_list(unfixable)}',
        f'"passes_after": {"true" if plan.passes_after else "false"}',
        f'"still_failing": {json.dumps(plan.still_failing)}',
    ]
    return '"remediation": {\n    ' + ",\n    ".join(members) + "\n  }"
