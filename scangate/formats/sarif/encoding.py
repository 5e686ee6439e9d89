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


def array_lines(lines: Iterable[str], indent: str, size: int = 1 << 20) -> Iterator[str]:
    """A JSON array of encoded items, one a line, to stand at `indent` in the indented log,
    in pieces of about `size` characters: a piece per line would cost more to hand on (to
    the compression, to the file) than the line costs to join."""
    separator = f",\n{indent}  "
    opening = f"[\n{indent}  "
    batch: list[str] = []
    held = 0
    for line in lines:
        batch.append(line)
        held += len(line)
        if held >= size:
            yield opening
            yield separator.join(batch)
            opening, batch, held = separator, [], 0
    if batch:
        yield opening
        yield separator.join(batch)
        opening = separator
    yield "[]" if opening[0] == "[" else f"\n{indent}]"


# gzip's 10-byte header (no file name, as the upload writes it) and 8-byte trailer.
_GZIP_WRAPPER = 18


def gzip_bound(size: int) -> int:
    """An upper bound of the gzipped size of `size` bytes, however they compress: zlib's
    `deflateBound` for stored blocks (its bound for any window and memory setting, above the
    tighter one for the default ones the upload uses), plus gzip's 18-byte header and
    trailer. Deflate never writes a block larger than the block stored as it is."""
    return size + (size >> 5) + (size >> 7) + (size >> 11) + 7 + _GZIP_WRAPPER


class GzipSize:
    """The size of the log gzipped as the upload does it (gzip, level 6; or at another
    `level`), fed in pieces; with a `limit`, `total` may instead be an upper bound no greater
    than it.

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
    # Pieces are the log's UTF-8 (ASCII: every string in it is escaped), as written to the file.
    _QUEUED = 8

    def __init__(self, limit: int | None = None, level: int = 6) -> None:
        # Raw deflate: the gzip wrapper adds a fixed header and trailer (`_GZIP_WRAPPER`)
        # and a CRC-32 of every byte that does not change the size.
        self._z = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._size = 0
        self._chunks: queue.Queue[bytes | None] = queue.Queue(self._QUEUED)
        self._worker: threading.Thread | None = None
        self._limit = limit
        self._bounded = limit is not None  # not compressing (yet): `_held` holds the pieces
        self._held: list[bytes] = []
        self._fed = 0  # bytes fed while bounded

    def feed(self, piece: bytes) -> None:
        if self._bounded:
            self._held.append(piece)
            self._fed += len(piece)
            if self._limit is None or gzip_bound(self._fed) <= self._limit:
                return
            self._bounded = False
            held, self._held = self._held, []
            for earlier in held:
                self._add(earlier)
            return
        self._add(piece)

    def _add(self, piece: bytes) -> None:
        self._buffer.append(piece)
        self._buffered += len(piece)
        if self._buffered >= self._CHUNK:
            self._send()

    def _send(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._deflate, name="sarif-gzip", daemon=True)
            self._worker.start()
        self._chunks.put(self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer))
        self._buffer.clear()
        self._buffered = 0

    @property
    def compressed(self) -> bool:
        """Whether the log was compressed: its size is then measured at the level given,
        else bounded from its raw size (`gzip_bound`), whatever the level."""
        return not self._bounded

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
        return self._size + len(self._z.flush()) + _GZIP_WRAPPER

    def close(self) -> None:
        """Stops the worker, also when a log is abandoned half-way; safe to call twice."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._chunks.put(None)
            worker.join()
