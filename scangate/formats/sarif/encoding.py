"""The fast SARIF serializer: sarif-om objects to JSON without `jschema_to_python.to_json`
(about 0.6 ms a result, and it drops `level: "warning"`, which is only a default when no rule
says otherwise).

sarif-om's attrs fields carry their JSON names in `metadata["schema_property_name"]`;
`json_fields` turns an object into a dict of those names without None and default values, as
the `default` hook of the C JSON encoder (`LINE_ENCODER`). `GzipSize` measures the log as the
upload compresses it, piece by piece.
"""

from __future__ import annotations

import json
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


def plain(obj: Any) -> Any:
    """A sarif-om object tree as plain dicts and lists, ready for any JSON encoder."""
    if isinstance(obj, list):
        return [plain(item) for item in obj]
    if isinstance(obj, dict):
        return {key: plain(value) for key, value in obj.items()}
    if attr.has(type(obj)):
        return plain(json_fields(obj))
    return obj


# The C encoder (indent=None) calls `json_fields` for each sarif-om object it meets.
LINE_ENCODER = json.JSONEncoder(default=json_fields, check_circular=False, separators=(",", ":"))


def array_lines(lines: Iterable[str], indent: str) -> Iterator[str]:
    """A JSON array of encoded items, one a line, to stand at `indent` in the indented log."""
    first = True
    for line in lines:
        yield f"[\n{indent}  {line}" if first else f",\n{indent}  {line}"
        first = False
    yield "[]" if first else f"\n{indent}]"


class GzipSize:
    """The size of the log gzipped as the upload does it (gzip, level 6), fed in pieces.

    Exact rather than estimated from a sample: how well a log compresses varies along it
    (rules, then results), and the answer matters most near the limit.
    """

    def __init__(self) -> None:
        self._z = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._buffer: list[str] = []
        self._buffered = 0
        self._size = 0

    def feed(self, piece: str) -> None:
        # Compressing 1 MB at a time: one call per piece would cost more than the deflate.
        self._buffer.append(piece)
        self._buffered += len(piece)
        if self._buffered >= 1 << 20:
            self._compress()

    def _compress(self) -> None:
        self._size += len(self._z.compress("".join(self._buffer).encode()))
        self._buffer.clear()
        self._buffered = 0

    def total(self) -> int:
        self._compress()
        return self._size + len(self._z.flush())
