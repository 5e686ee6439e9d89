"""Strict YAML for the user's own files: policies and `.trivyignore.yaml`.

These files come from the scanned repository too, so reading them must be cheap and exact:
no anchors or aliases (a 600-byte "billion laughs" file expands to gigabytes), no merge keys,
no key given twice (YAML lets the last one win silently), and a bounded nesting depth.
Every problem is one `PolicyError` naming the file and the line; no message quotes more
than a short prefix of a value from the file (`quote`).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from scangate.errors import PolicyError

QUOTE_LIMIT = 60
# Real policies nest four levels deep; Python's recursion limit falls near 1000.
_MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, cut to a short prefix with "..." so a huge value never fills a message."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}..."
    text = repr(value)
    return f"{text[:limit]}..." if len(text) > limit else text


def cut(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` as it is, cut to a short prefix with "..." (for names: IDs, file names)."""
    return f"{text[:limit]}..." if len(text) > limit else text


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, merge keys, duplicate keys and deep nesting.

    Aliases are refused while composing, before any node is built or expanded. An impossible
    date (`2025-13-01`) stays a string: PyYAML's own constructor raises a bare ValueError
    outside YAMLError, while as a string it reaches validation, which names the entry.
    """

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
            raise _Refused(
                line,
                "YAML anchors and aliases (&name, *name) are not allowed: write the value out",
            )
        nested = isinstance(event, CollectionStartEvent)
        if nested:
            self._depth += 1
            if self._depth > _MAX_DEPTH:
                raise _Refused(
                    line,
                    f"nested more than {_MAX_DEPTH} levels deep: this is not a policy",
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                raise _Refused(line, "merge keys (<<) are not allowed: write the keys out")
            if not isinstance(key_node, ScalarNode):
                continue  # SafeLoader refuses a collection as a key itself
            key = self.construct_object(key_node)
            # `fail_on` is read as `fail-on`: giving both is giving the key twice.
            same = key.replace("_", "-") if isinstance(key, str) else key
            if same in seen:
                raise _Refused(
                    line,
                    f"key {quote(key)} is given twice (first at line {seen[same]}): "
                    "keep one; YAML would silently use the last",
                )
            seen[same] = line
        return super().construct_mapping(node, deep=deep)


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return loader.construct_yaml_timestamp(node)  # type: ignore[arg-type]
    except ValueError:
        return loader.construct_scalar(node)  # type: ignore[arg-type]


def _bounded_int(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return loader.construct_yaml_int(node)  # type: ignore[arg-type]
    except ValueError:  # Python refuses int() of more than 4300 digits
        raise _Refused(node.start_mark.line + 1, "a number too long to read") from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _bounded_int)


def load(text: str, label: str) -> Any:
    """Parse `text` (from the file named `label`); every problem is a one-line PolicyError."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise PolicyError(f"{label}: line {exc.line}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or "invalid YAML")
        # A problem can quote the file (an unknown tag): keep it short too.
        if len(problem) > 2 * QUOTE_LIMIT:
            problem = problem[: 2 * QUOTE_LIMIT] + "..."
        raise PolicyError(f"{label}: not valid YAML{where}: {problem}") from None
