"""The fast SARIF serializer: sarif-om objects to JSON without `jschema_to_python.to_json`
(about 0.6 ms a result, and it drops `level: "warning"`, which is only a default when no rule
says otherwise).

sarif-om's attrs fields carry their JSON names in `metadata["schema_property_name"]`;
`json_fields` turns an object into a dict of those names without None and default values, as
the `default` hook of the JSON encoder that writes the log's skeleton; `json_string` encodes
each value of the rule and result lines. `GzipSize` measures the log as the upload compresses
it, piece by piece, or bounds it (`gzip_bound`) when the bound is within GitHub's limit.
"""

from __future__ import annotations

import json
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attr

_Fields = Callable[[Any], dict[str, Any]]
_FIELDS: dict[type, _Fields] = {}
# Never dropped although equal to sarif-om's default: a result's `level` defaults to its
# rule's level in SARIF, not to the schema's "warning" that sarif-om records.
_ALWAYS_WRITTEN = frozenset({"level"})


def _fields_function(cls: type) -> _Fields:
    names: dict[str, str] = {}
    defaults: dict[str, Any] = {}
    for f in attr.fields(cls):
        names[f.name] = f.metadata.get("schema_property_name", f.name)
        default = f.default
        if isinstance(default, attr.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default not in (attr.NOTHING, None) and f.name not in _ALWAYS_WRITTEN:
            defaults[f.name] = default

    def fields(obj: Any) -> dict[str, Any]:
        return {
            names[k]: v
            for k, v in obj.__dict__.items()
            if v is not None and (k not in defaults or v != defaults[k])
        }

    return fields


def json_fields(obj: Any) -> dict[str, Any]:
    """A sarif-om object as a dict of its JSON property names, None and defaults left out."""
    fields = _FIELDS.get(type(obj))
    if fields is None:
        if not attr.has(type(obj)):
            raise TypeError(f"{type(obj).__name__} is not JSON serializable")
        fields = _FIELDS[type(obj)] = _fields_function(type(obj))
    return fields(obj)


# The C encoder's own string escaper (`ensure_ascii`, as `json.dumps` by default): rules and
# results are written as templates whose every value passes through it, which gives the text
# the encoder would give for the same dict (a test compares them) at half its cost or less.
json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


def array_lines(lines: Iterable[str], indent: str) -> Iterator[str]:
    """A JSON array of encoded items, one a line, to stand at `indent` in the indented log."""
    # The separator and the line apart: joining them would copy every line once more.
    separator = f"[\n{indent}  "
    for line in lines:
        yield separator
        yield line
        separator = f",\n{indent}  "
    yield "[]" if separator[0] == "[" else f"\n{indent}]"


def gzip_bound(size: int) -> int:
    """An upper bound of the gzipped size of `size` bytes, however they compress: zlib's
    `deflateBound` for stored blocks (its bound for any window and memory setting, above the
    tighter one for the default ones the upload uses), plus gzip's 18-byte header and
    trailer. Deflate never writes a block larger than the block stored as it is."""
    return size + (size >> 5) + (size >> 7) + (size >> 11) + 7 + 18


class GzipSize:
    """The size of the log gzipped as the upload does it (gzip, level 6), fed in pieces; with
    a `limit`, `total` may instead be an upper bound no greater than it.

    Exact rather than estimated from a sample: how well a log compresses varies along it
    (rules, then results), and the answer matters most near the limit. The deflate runs in a
    worker thread (zlib releases the GIL), so on a second core it costs the render no time;
    at most `_QUEUED` chunks wait for it, so memory stays bounded on a busy machine.
    With a `limit`, nothing is compressed while `gzip_bound` of the bytes fed so far is
    within it (most logs: a few MB): the pieces are only held (the caller holds them too),
    then handed to the worker once the bound passes the limit, where only the exact size
    can tell.
    """

    _CHUNK = 1 << 20  # Compressing 1 MB at a time: one call per piece costs more than the deflate.
    _QUEUED = 8

    def __init__(self, limit: int | None = None) -> None:
        self._z = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._buffer: list[str] = []
        self._buffered = 0
        self._size = 0
        self._chunks: queue.Queue[bytes | None] = queue.Queue(self._QUEUED)
        self._worker: threading.Thread | None = None
        self._limit = limit
        self._bounded = limit is not None  # not compressing (yet): `_held` holds the pieces
        self._held: list[str] = []
        self._fed = 0  # bytes (UTF-8) fed while bounded

    def feed(self, piece: str) -> None:
        if self._bounded:
            self._held.append(piece)
            # Rules and results are ASCII (every string escaped): their length is their size.
            self._fed += len(piece) if piece.isascii() else len(piece.encode())
            if self._limit is None or gzip_bound(self._fed) <= self._limit:
                return
            self._bounded = False
            held, self._held = self._held, []
            for earlier in held:
                self._add(earlier)
            return
        self._add(piece)

    def _add(self, piece: str) -> None:
        self._buffer.append(piece)
        self._buffered += len(piece)
        if self._buffered >= self._CHUNK:
            self._send()

    def _send(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._deflate, name="sarif-gzip", daemon=True)
            self._worker.start()
        self._chunks.put("".join(self._buffer).encode())  # ASCII: every string is escaped
        self._buffer.clear()
        self._buffered = 0

    def _deflate(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._size += len(self._z.compress(chunk))

    def total(self) -> int:
        """The gzipped size; with a `limit`, an upper bound of it when that is within the limit."""
        if self._bounded:
            self._held.clear()
            return gzip_bound(self._fed)
        if self._buffer:
            self._send()
        self.close()
        return self._size + len(self._z.flush())

    def close(self) -> None:
        """Stops the worker, also when a log is abandoned half-way; safe to call twice."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._chunks.put(None)
            worker.join()
