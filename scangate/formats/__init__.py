"""Output formats. Each renders a `GateResult` to text and never writes a file itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the gate (policies, pydantic models) is imported only by runs that gate
    from scangate.gate import GateResult


class Format(Protocol):
    def render(self, result: GateResult) -> str: ...


class StartOver:
    """Yielded by a streamed rendering (`SarifFormat.stream`, UTF-8 pieces) that drops every
    piece it yielded before: a SARIF log over GitHub's size limit is rendered again, smaller."""

    __slots__ = ()


START_OVER = StartOver()


def joined(pieces: Iterable[bytes | StartOver]) -> bytes:
    """The UTF-8 of a streamed rendering: its pieces after the last `START_OVER`."""
    kept: list[bytes] = []
    for piece in pieces:
        if isinstance(piece, StartOver):
            kept.clear()
        else:
            kept.append(piece)
    return b"".join(kept)
