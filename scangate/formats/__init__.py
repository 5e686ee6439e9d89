"""Output formats. Each renders a `GateResult` to text and never writes a file itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the gate (policies, pydantic models) is imported only by runs that gate
    from scangate.gate import GateResult


class Format(Protocol):
    def render(self, result: GateResult) -> str: ...
