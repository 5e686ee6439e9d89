"""Output formats. Each renders a `GateResult` to text and never writes a file itself."""

from __future__ import annotations

from typing import Protocol

from scangate.gate import GateResult


class Format(Protocol):
    def render(self, result: GateResult) -> str: ...
