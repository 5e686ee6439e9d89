"""The suppression review of a pull request: what it adds, removes, widens or extends.

Compares the suppressions of the base's version of the scanned tree (`diff_base.written`)
with the head's: allow entries of the policy file and the files it extends, `.trivyignore`
and `.trivyignore.yaml` lines, inline `trivy:ignore` comments and baseline entries, each read
by the loader the gate uses. A row says what changed (`Change`), where (file and line where
known), and the suppression's kind, ID, scope, reason, owner and expiry. A file that cannot
be read on one side is a row of its own (`Change.UNREADABLE`, with the loader's message),
and at the base it makes every head entry of that file count as added: the review never
fails and never hides a change because the base was broken. Reads only the two trees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path

from scangate.ignorefiles import IGNORE_FILES
from scangate.policy import PROJECT_POLICY_FILE, is_builtin_name
from scangate.suppression_sources import Kind, Side, Suppression, read_side

__all__ = ["Change", "Kind", "Review", "ReviewRow", "review"]


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    WIDENED = "widened"  # matches more: new target, package or purl patterns, or none left
    EXTENDED = "extended"  # a later expiry, or none any more
    CHANGED = "changed"  # a policy setting (Kind.SETTING): `scope` is its value now
    UNREADABLE = "unreadable"  # the file could not be read on one side (see `note`)


@dataclass(frozen=True)
class ReviewRow:
    """One change to one suppression. Every text is from the tree: escape it to show it."""

    changes: tuple[Change, ...]
    kind: Kind
    file: str  # relative to the scanned root, "/"-separated
    line: int | None
    origin: str  # as the gate names it: `.trivyignore:3`, `.scangate.yaml allow[0]`
    id: str
    scope: str  # `targets: a/**; packages: b`, `everywhere`, a baseline entry's target
    reason: str
    owner: str | None
    expires: date | None
    previous_scope: str | None = None  # widened: the base's scope
    previous_expires: date | None = None  # extended: the base's expiry
    note: str = ""


@dataclass(frozen=True)
class Review:
    rows: tuple[ReviewRow, ...]
    notes: tuple[str, ...] = ()  # what was not compared, and why


def review(
    base_root: Path,
    head_root: Path,
    *,
    today: date,
    policy: str | None = None,
    ignorefiles: Sequence[Path] | None = None,
    baseline: Path | None = None,
    cwd: Path | None = None,
) -> Review:
    """The suppressions the head adds, removes, widens or extends over the base.

    `policy`, `ignorefiles` and `baseline` are as the gate was given them (paths relative to
    `cwd`, the current directory by default); None: the `.scangate.yaml` and ignore files
    of the scanned root, no baseline. A file outside `head_root` is the same on both sides
    and is not compared (a note says so).
    """
    here = cwd or Path.cwd()
    notes: list[str] = []

    def inside(path: Path, what: str) -> str | None:
        full = path if path.is_absolute() else here / path
        try:
            rel = full.resolve().relative_to(head_root.resolve())
        except (ValueError, OSError):
            notes.append(f"{what} {path} is outside the scanned directory: not compared")
            return None
        return rel.as_posix()

    policy_rel: str | None = None
    if policy is None:
        policy_rel = PROJECT_POLICY_FILE
    elif not is_builtin_name(policy):
        policy_rel = inside(Path(policy).expanduser(), "the policy")
    if ignorefiles is None:
        ignores: list[str] = list(IGNORE_FILES)
    else:
        ignores = [r for p in ignorefiles if (r := inside(p, "the ignore file")) is not None]
    baseline_rel = inside(baseline, "the baseline") if baseline is not None else None

    sides = [
        read_side(root, today, policy_rel, ignores, baseline_rel) for root in (base_root, head_root)
    ]
    rows = _compare(*sides)
    if policy_rel is not None:
        rows += _settings_changed(policy_rel, *sides)
    return Review(tuple(rows), tuple(notes))


def _settings_changed(file: str, base: Side, head: Side) -> list[ReviewRow]:
    """A row per policy setting the head changes (fail-on, ignore-unfixed, ...)."""
    if base.settings is None or head.settings is None:
        return []
    rows = []
    for key in sorted(base.settings.keys() | head.settings.keys()):
        was, now = base.settings.get(key, "(unset)"), head.settings.get(key, "(unset)")
        if was != now:
            rows.append(
                ReviewRow(
                    changes=(Change.CHANGED,),
                    kind=Kind.SETTING,
                    file=file,
                    line=None,
                    origin=f"{file} {key}",
                    id=key,
                    scope=now,
                    reason="",
                    owner=None,
                    expires=None,
                    previous_scope=was,
                )
            )
    return rows


# --- comparing the sides ------------------------------------------------------------------


def _widened(base: Suppression, head: Suppression) -> bool:
    was, now = dict(base.scope), dict(head.scope)
    for name in ("targets", "packages", "purls"):
        before, after = set(was.get(name, ())), set(now.get(name, ()))
        if (before and not after) or (after - before and before):
            return True
    return False


def _extended(base: Suppression, head: Suppression) -> bool:
    if head.never:
        return False
    if base.never:
        return True
    if base.expires is None:
        return False
    return head.expires is None or head.expires > base.expires


def _row(item: Suppression, changes: tuple[Change, ...], **more: object) -> ReviewRow:
    return ReviewRow(
        changes=changes,
        kind=item.kind,
        file=item.file,
        line=item.line,
        origin=item.origin,
        id=item.id,
        scope=item.shown,
        reason=item.reason,
        owner=item.owner,
        expires=item.expires,
        note=("its exp: date is unreadable: it suppresses nothing" if item.never else ""),
        **more,  # type: ignore[arg-type]
    )


def _compare(base: Side, head: Side) -> list[ReviewRow]:
    rows: list[ReviewRow] = []
    for (kind, file), why in base.failed.items():
        rows.append(_unreadable(kind, file, f"at the base: {why}"))
    for (kind, file), why in head.failed.items():
        rows.append(_unreadable(kind, file, f"at the head: {why}"))
    olds: dict[Hashable, list[Suppression]] = defaultdict(list)
    news: dict[Hashable, list[Suppression]] = defaultdict(list)
    for item in base.items:
        if (item.kind, item.file) not in head.failed:  # unknown at head: nothing to say
            olds[item.key].append(item)
    for item in head.items:
        news[item.key].append(item)
    for key in [*news, *(k for k in olds if k not in news)]:
        old, new = list(olds.get(key, ())), list(news.get(key, ()))
        for item in list(new):
            same = next((o for o in old if _terms(o) == _terms(item)), None)
            if same is not None:
                old.remove(same)
                new.remove(item)
        for was, now in zip(old, new, strict=False):
            changes: tuple[Change, ...] = (Change.WIDENED,) if _widened(was, now) else ()
            changes += (Change.EXTENDED,) if _extended(was, now) else ()
            if changes:
                rows.append(
                    _row(now, changes, previous_scope=was.shown, previous_expires=was.expires)
                )
        for now in new[len(old) :]:
            broken = (now.kind, now.file) in base.failed
            row = _row(now, (Change.ADDED,))
            if broken:
                row = _with_note(row, "the base's version of the file could not be read")
            rows.append(row)
        rows.extend(_row(was, (Change.REMOVED,)) for was in old[len(new) :])
    return rows


def _terms(item: Suppression) -> tuple[object, ...]:
    return (item.scope, item.expires, item.never)


def _with_note(row: ReviewRow, note: str) -> ReviewRow:
    return replace(row, note="; ".join(n for n in (row.note, note) if n))


def _unreadable(kind: Kind, file: str, why: str) -> ReviewRow:
    return ReviewRow(
        changes=(Change.UNREADABLE,),
        kind=kind,
        file=file,
        line=None,
        origin=file,
        id="",
        scope="",
        reason="",
        owner=None,
        expires=None,
        note=why,
    )
