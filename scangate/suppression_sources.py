"""The suppressions of one version of the scanned tree, for the suppression review.

Each is read by the loader the gate uses: the allow entries of the policy file and the files
it extends (`policy.load_policy`), `.trivyignore` and `.trivyignore.yaml`
(`ignorefiles.load_ignore_file`), the baseline (`baseline.load`) and the inline `trivy:ignore`
comments (`inline_ignores.walk`, `inline_comments.parse_rules`). A file a loader refuses is
kept as its message, with the tree's own directory left out of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

import yaml

from scangate import baseline as baseline_file
from scangate import inline_comments, inline_ignores
from scangate.allow import AllowEntry
from scangate.errors import ScangateError
from scangate.findings import match_key
from scangate.ignorefiles import present
from scangate.policy import is_builtin_name, load_ignore_file, load_policy
from scangate.safe_read import is_inside, read_bytes

MAX_INLINE_FILE = 16 * 1024 * 1024  # bytes of one file read for its inline comments
_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")

Scope = tuple[tuple[str, tuple[str, ...]], ...]


class Kind(StrEnum):
    """The kind of suppression."""

    ALLOW = "allow entry"
    TRIVYIGNORE = ".trivyignore"
    TRIVYIGNORE_YAML = ".trivyignore.yaml"
    INLINE = "inline comment"
    BASELINE = "baseline entry"
    SETTING = "policy setting"  # fail-on, ignore-unfixed, inline-ignores, ...: not an entry


@dataclass(frozen=True)
class Suppression:
    """One suppression as one side of the tree holds it."""

    kind: Kind
    file: str
    line: int | None
    origin: str
    id: str
    key: Hashable  # what pairs a base item with a head item
    scope: Scope  # compared for widening
    shown: str
    reason: str
    owner: str | None
    expires: date | None
    never: bool = False  # an unreadable expiry: suppresses nothing (Trivy's `exp:`)


@dataclass
class Side:
    """Every suppression of one side, and the files whose loader refused them."""

    items: list[Suppression] = field(default_factory=list)
    failed: dict[tuple[Kind, str], str] = field(default_factory=dict)  # (kind, file) -> why
    # The effective policy's settings but its allow entries, flattened (`fail-on.secret`:
    # `high`); None when the policy is not the tree's (a built-in one) or did not load.
    settings: dict[str, str] | None = None


def read_side(
    root: Path, today: date, policy: str | None, ignores: list[str], baseline: str | None
) -> Side:
    """The suppressions under `root`: the policy file `policy`, the ignore files `ignores`
    and the baseline `baseline` (paths relative to `root`), and every inline comment."""
    side = Side()

    def attempt(kind: Kind, file: str, read: Callable[[], list[Suppression]]) -> None:
        try:
            side.items.extend(read())
        except ScangateError as exc:
            side.failed[(kind, file)] = relative(exc.message, root)

    if policy is not None and present(root / policy):
        attempt(Kind.ALLOW, policy, lambda: _allow_items(root, policy, today))
    if policy is not None:
        side.settings = _settings(root, policy, today)
    for name in ignores:
        if present(root / name):
            kind = Kind.TRIVYIGNORE_YAML if name.endswith((".yaml", ".yml")) else Kind.TRIVYIGNORE
            attempt(kind, name, functools.partial(_ignore_items, root, name, kind))
    if baseline is not None and present(root / baseline):
        attempt(Kind.BASELINE, baseline, lambda: _baseline_items(root, baseline))
    side.items.extend(_inline_items(root, side.failed))
    return side


def relative(text: str, root: Path) -> str:
    """A loader's message or origin with the side's directory left out."""
    for prefix in {str(root), str(root.resolve())}:
        text = text.replace(prefix + "/", "")
    return text


def _scope(entry: AllowEntry) -> Scope:
    parts = (("targets", entry.targets), ("packages", entry.packages), ("purls", entry.purls))
    return tuple((name, tuple(sorted(set(values)))) for name, values in parts if values)


def _allow_item(
    entry: AllowEntry, kind: Kind, file: str, line: int | None, origin: str
) -> Suppression:
    scope = _scope(entry)
    kinds = tuple(sorted(k.value for k in entry.kinds))
    return Suppression(
        kind=kind,
        file=file,
        line=line,
        origin=origin,
        id=entry.id,
        key=(kind, file, match_key(entry.id), kinds),
        scope=scope,
        shown=shown(scope),
        reason=entry.reason,
        owner=entry.owner,
        expires=entry.expires,
    )


def _allow_items(root: Path, spec: str, today: date) -> list[Suppression]:
    """The allow entries of the policy file and the files it extends (built-in ones are the
    same on both sides and left out)."""
    policy = load_policy(spec, base_dir=root, today=today, root=root)
    files = _chain(root, spec)
    lines = {label: _yaml_lines(path, ("allow",)) for label, path in files.items()}
    items = []
    for entry in policy.allow:
        label, _, index = entry.origin.rpartition(" allow[")
        if label.startswith("built-in policy"):
            continue
        path = files.get(label)
        file = relative(str(path), root) if path is not None else label
        line = lines.get(label, {}).get(("allow", int(index.rstrip("]") or 0)))
        items.append(_allow_item(entry, Kind.ALLOW, file, line, f"{file} allow[{index}"))
    return items


def _settings(root: Path, spec: str, today: date) -> dict[str, str] | None:
    """What the policy sets besides its allow entries: a PR that passes because it sets
    `fail-on: none` adds no suppression, yet decides what the gate lets through. Without
    the file, the gate's policy is the built-in default."""
    try:
        if present(root / spec):
            loaded = load_policy(spec, base_dir=root, today=today, root=root)
        else:
            loaded = load_policy("default", base_dir=root, today=today)
        data = loaded.to_dict()
    except ScangateError:
        return None  # the allow entries' row says why
    data.pop("version", None)
    data.pop("allow", None)
    flat: dict[str, str] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix] = "(unset)" if value is None else str(getattr(value, "value", value))

    walk("", data)
    return flat


def _chain(root: Path, spec: str) -> dict[str, Path]:
    """Policy label -> file, for `spec` and the files it extends inside `root`."""
    found: dict[str, Path] = {}
    label, path = spec, root / spec
    while label not in found and is_inside(path, root) and path.is_file():
        found[label] = path
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            break
        extends = data.get("extends") if isinstance(data, dict) else None
        if not isinstance(extends, str) or is_builtin_name(extends):
            break
        label, path = extends, path.parent / extends
    return found


def _yaml_lines(path: Path, sections: Sequence[str]) -> dict[tuple[str, int], int]:
    """(section, index) -> line of that list item, for the top-level lists `sections`. The
    file was read by the strict loader already; this only looks up where its items start."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    lines: dict[tuple[str, int], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value in sections and isinstance(value, yaml.SequenceNode):
                for i, item in enumerate(value.value):
                    lines[(key.value, i)] = item.start_mark.line + 1
    return lines


def _ignore_items(root: Path, name: str, kind: Kind) -> list[Suppression]:
    path = root / name
    entries = load_ignore_file(path, root=root)
    lines = _yaml_lines(path, _SECTIONS) if kind is Kind.TRIVYIGNORE_YAML else {}
    items = []
    for entry in entries:
        origin = relative(entry.origin, root)
        if kind is Kind.TRIVYIGNORE:
            line: int | None = int(origin.rpartition(":")[2])
        else:  # `<file> <section>[<i>]`
            section, _, index = origin.rpartition(" ")[2].partition("[")
            line = lines.get((section, int(index.rstrip("]"))))
        items.append(_allow_item(entry, kind, name, line, origin))
    return items


def _baseline_items(root: Path, name: str) -> list[Suppression]:
    path = root / name
    loaded = baseline_file.load(path, root=root)
    where: dict[str, int] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        start = line.find('"fingerprint": "')
        if start >= 0:
            where.setdefault(line[start + 16 : start + 16 + 32], number)
    items = []
    for entry in loaded.entries:
        shown = entry.target + (f" (package {entry.package})" if entry.package else "")
        items.append(
            Suppression(
                kind=Kind.BASELINE,
                file=name,
                line=where.get(entry.fingerprint[:32]),
                origin=f"{name} {entry.fingerprint}",
                id=entry.id,
                key=(Kind.BASELINE, name, entry.key),
                scope=(),
                shown=shown,
                reason=f"accepted in the baseline ({entry.kind})",
                owner=None,
                expires=None,
            )
        )
    return items


def _inline_items(root: Path, failed: dict[tuple[Kind, str], str]) -> list[Suppression]:
    """Every `trivy:ignore` rule in the tree; paired by file and ID, wherever the line. A
    marked file too large to compare goes to `failed`: Trivy reads it and the gate honours
    its comments, so the review says so rather than leave it out."""
    items = []
    for rel in inline_ignores.walk(root).marked:
        try:
            data = read_bytes(
                root / rel, label=rel, cap=MAX_INLINE_FILE, root=root, option="", what="a file"
            )
        except FileNotFoundError:
            continue  # gone since the walk
        except ScangateError as exc:
            failed[(Kind.INLINE, rel)] = relative(exc.message, root)
            continue
        for rule in inline_comments.parse_rules(data.decode("utf-8", errors="replace"), rel):
            expires, never = _rule_expiry(rule.last_exp)
            items.append(
                Suppression(
                    kind=Kind.INLINE,
                    file=rel,
                    line=rule.line,
                    origin=f"{rel}:{rule.line}",
                    id=rule.id,
                    key=(Kind.INLINE, rel, match_key(rule.id)),
                    scope=(),
                    shown=f"the block at line {rule.applies_to}",
                    reason=rule.comment,
                    owner=None,
                    expires=expires,
                    never=never,
                )
            )
    return items


def _rule_expiry(value: str | None) -> tuple[date | None, bool]:
    """Trivy's `exp:` (the last one): a date, none, or unreadable (the rule ignores nothing)."""
    if value is None:
        return None, False
    try:
        return date.fromisoformat(value), False
    except ValueError:
        return None, True


def shown(scope: Scope) -> str:
    return "; ".join(f"{name}: {', '.join(values)}" for name, values in scope) or "everywhere"
