"""The policy's `licenses` rules: a license finding's name read as an SPDX expression and
judged against `deny` and `allow`.

Trivy 0.76 already turns most names into SPDX identifiers ("MIT License" -> MIT, "GPLv3" ->
GPL-3.0-only, "BSD" -> BSD-3-Clause, "Apache 2.0" -> Apache-2.0); `_TRIVY_LEFT_AS_IS` maps
the few it passes on unchanged that name a license SPDX knows ("AGPLv3", "Server Side Public
License", "PSF"). `license-expression` (SPDX's list, with its deprecated IDs such as
`GPL-3.0` read as `GPL-3.0-only`) does the parsing; it is imported only when a run judges a
license against a `licenses` policy, since loading SPDX's list costs about 30 ms.

An expression is judged by its parts: `A OR B` is as good as its better choice, `A AND B` as
bad as its worse part, so `MIT OR GPL-3.0-only` passes an allow list holding MIT and
`MIT AND GPL-3.0-only` does not. `X WITH some-exception` matches a list item naming it
whole, else the item naming X. A name that does not parse, or names no SPDX license, is
unknown: `licenses.unknown` decides (a `LicenseRef-...` is known only to the lists naming it).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from scangate._yaml import cut, quote
from scangate.policy_file import LicenseUnknown

if TYPE_CHECKING:
    from license_expression import Licensing

# Names Trivy 0.76 reports unchanged (category "unknown") for which SPDX has an identifier;
# upper-cased keys. Seen by running Trivy on package metadata carrying each name.
_TRIVY_LEFT_AS_IS = {
    "AGPL": "AGPL-3.0-only",  # as Trivy reads a bare "GPL" (GPL-3.0-only)
    "AGPL3": "AGPL-3.0-only",
    "AGPLV3": "AGPL-3.0-only",
    "AGPL V3": "AGPL-3.0-only",
    "AGPL-3": "AGPL-3.0-only",
    "AGPL 3.0": "AGPL-3.0-only",
    "AGPLV3+": "AGPL-3.0-or-later",
    "AGPL-3+": "AGPL-3.0-or-later",
    "SSPL": "SSPL-1.0",
    "SSPLV1": "SSPL-1.0",
    "SSPL-1": "SSPL-1.0",
    "SERVER SIDE PUBLIC LICENSE": "SSPL-1.0",
    "SERVER SIDE PUBLIC LICENSE V1": "SSPL-1.0",
    "PSF": "PSF-2.0",
    "PSFL": "PSF-2.0",
    "PSF LICENSE": "PSF-2.0",
    "PYTHON SOFTWARE FOUNDATION LICENSE": "PSF-2.0",
    "MIT/X11": "MIT",
    "EXPAT": "MIT",
    "ELASTIC LICENSE 2.0": "Elastic-2.0",
    "ELV2": "Elastic-2.0",
}
# Longer names are no license name: judged unknown without parsing (a report is untrusted).
_MAX_NAME = 500
_LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.\-]+$")


class Outcome(IntEnum):
    """A license's standing under the rules, ordered worst first: `AND` takes the lowest of
    its parts, `OR` the highest."""

    DENIED = 0  # on `deny`
    OUTSIDE = 1  # an allow list is set, and it is not on it
    UNKNOWN = 2  # not an SPDX license
    ALLOWED = 3  # on `allow`
    NEUTRAL = 4  # no allow list, not denied: Trivy's category and `fail-on` decide


@dataclass(frozen=True, slots=True)
class LicenseRules:
    """The effective `licenses` policy. `allow` None: no allow list. `unknown` None: not set,
    which means `fail` under an allow list (a closed world) and `report` without one."""

    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] | None = None
    unknown: LicenseUnknown | None = None

    @property
    def effective_unknown(self) -> LicenseUnknown:
        if self.unknown is not None:
            return self.unknown
        return LicenseUnknown.FAIL if self.allow is not None else LicenseUnknown.REPORT

    def to_dict(self) -> dict[str, Any]:
        return {
            "deny": list(self.deny),
            "allow": None if self.allow is None else list(self.allow),
            "unknown": self.effective_unknown.value,
        }


@functools.cache
def _licensing() -> Licensing:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def canonical_id(text: str) -> str:
    """A policy's `deny`/`allow` item as SPDX writes it (`mit` -> `MIT`, `GPL-3.0` ->
    `GPL-3.0-only`): one license identifier, optionally `WITH` an exception, or a
    `LicenseRef-...`. ValueError, naming the fix, for anything else."""
    from license_expression import ExpressionError, LicenseSymbol, LicenseWithExceptionSymbol

    value = text.strip()
    if _LICENSE_REF.match(value):
        return value
    alias = _TRIVY_LEFT_AS_IS.get(value.upper())
    licensing = _licensing()
    try:
        parsed = (
            licensing.parse(alias or value, validate=False) if len(value) <= _MAX_NAME else None
        )
    except (ExpressionError, RecursionError):
        parsed = None
    if isinstance(parsed, LicenseSymbol | LicenseWithExceptionSymbol):
        unknown = licensing.unknown_license_keys(parsed)
        if not unknown:
            return str(parsed.render("{symbol.key}"))
    elif parsed is not None:
        raise ValueError(
            f"{quote(value)} is an expression: list each SPDX license identifier on its own"
        )
    return _not_an_id(value)


def _not_an_id(value: str) -> str:
    import difflib

    keys = list(_licensing().known_symbols)
    close = difflib.get_close_matches(value, keys, n=1, cutoff=0.75)
    if not close:
        folded = {k.casefold(): k for k in keys}
        close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=0.75)
        close = [folded[c] for c in close]
    hint = f"did you mean '{close[0]}'?" if close else "see https://spdx.org/licenses/"
    raise ValueError(f"{quote(value)} is not an SPDX license identifier: {hint}")


def _is_symbol(node: Any) -> bool:
    from license_expression import LicenseSymbol, LicenseWithExceptionSymbol

    return isinstance(node, LicenseSymbol | LicenseWithExceptionSymbol)


@dataclass(slots=True)
class Judgement:
    outcome: Outcome
    reason: str


@dataclass(slots=True)
class LicenseJudge:
    """`LicenseRules` applied to license names, each distinct name judged once."""

    rules: LicenseRules
    _deny: frozenset[str] = field(init=False)
    _allow: frozenset[str] | None = field(init=False)
    _seen: dict[str, Judgement] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._deny = frozenset(k.casefold() for k in self.rules.deny)
        allow = self.rules.allow
        self._allow = None if allow is None else frozenset(k.casefold() for k in allow)

    def judge(self, name: str) -> Judgement:
        found = self._seen.get(name)
        if found is None:
            found = self._judge(name)
            if len(self._seen) < 50_000:
                self._seen[name] = found
        return found

    def _judge(self, name: str) -> Judgement:
        from license_expression import ExpressionError

        text = name.strip()
        shown = cut(text) if text else "an empty license name"
        if _LICENSE_REF.match(text):  # known only if a list names it
            outcome, why = self._key(text, text, known=False)
            return Judgement(outcome, "; ".join(why))
        alias = _TRIVY_LEFT_AS_IS.get(text.upper())
        try:
            parsed = (
                _licensing().parse(alias or text, validate=False)
                if text and len(text) <= _MAX_NAME
                else None
            )
        except (ExpressionError, RecursionError):
            parsed = None
        if parsed is None:
            return Judgement(Outcome.UNKNOWN, f"{shown} is not an SPDX license expression")
        outcome, why = self._expression(parsed)
        spdx = str(parsed.render("{symbol.key}"))
        reason = "; ".join(why)
        if why and (spdx != text or not _is_symbol(parsed)):
            reason = f"{shown}: {reason}"  # name the license as the finding shows it
        return Judgement(outcome, reason)

    def _expression(self, node: Any) -> tuple[Outcome, list[str]]:
        from license_expression import LicenseSymbol, LicenseWithExceptionSymbol

        licensing = _licensing()
        if isinstance(node, LicenseWithExceptionSymbol):
            base = node.license_symbol.key
            full = f"{base} WITH {node.exception_symbol.key}"
            known = not licensing.unknown_license_keys(node)
            return self._key(full, base, known=known)
        if isinstance(node, LicenseSymbol):
            return self._key(node.key, node.key, known=node.key in licensing.known_symbols)
        parts = [self._expression(arg) for arg in node.args]
        if isinstance(node, licensing.AND):
            worst = min(outcome for outcome, _ in parts)
            return worst, [w for outcome, why in parts if outcome == worst for w in why]
        best = max(outcome for outcome, _ in parts)  # OR
        if best >= Outcome.UNKNOWN:
            return best, [w for outcome, why in parts if outcome == best for w in why]
        return best, [w for _, why in parts for w in why]  # no choice passes: name them all

    def _key(self, full: str, base: str, *, known: bool) -> tuple[Outcome, list[str]]:
        allow = self._allow
        for key in dict.fromkeys((full, base)):
            folded = key.casefold()
            if folded in self._deny:
                return Outcome.DENIED, [f"{cut(full)} is on the policy's licenses.deny"]
            if allow is not None and folded in allow:
                return Outcome.ALLOWED, [f"{cut(full)} is on the policy's licenses.allow"]
        if not known:
            return Outcome.UNKNOWN, [f"{cut(full)} is not an SPDX license"]
        if allow is not None:
            listed = ", ".join(self.rules.allow or ()) or "empty"
            return Outcome.OUTSIDE, [
                f"{cut(full)} is not on the policy's licenses.allow ({cut(listed, 120)})"
            ]
        return Outcome.NEUTRAL, []
