"""Trivy's ignore files, `.trivyignore` and `.trivyignore.yaml`, read as allow entries.

They come from the scanned repository, so they are read at least as strictly as Trivy reads
them, and where Trivy is lax (it drops unknown keys, so a misspelled `path:` applies an entry
everywhere) scangate refuses the file: exit 2 naming the file, the entry and the fix. Files
found in the tree are never read through a symbolic link; every file is a regular file of at
most 1 MiB, split into lines at LF only, as Trivy does (`scangate.safe_read`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from scangate._yaml import cut, load, quote
from scangate.allow import AllowEntry
from scangate.errors import PolicyError
from scangate.findings import Kind
from scangate.safe_read import read_config

IGNORE_FILES = (".trivyignore", ".trivyignore.yaml")

# `.trivyignore.yaml`'s sections and the one finding kind each applies to, as in Trivy.
_SECTIONS = {
    "vulnerabilities": Kind.VULNERABILITY,
    "misconfigurations": Kind.MISCONFIGURATION,
    "secrets": Kind.SECRET,
    "licenses": Kind.LICENSE,
}
# The keys of Trivy's IgnoreFinding (pkg/result/ignore.go in Trivy 0.76).
_ENTRY_KEYS = ("id", "paths", "purls", "statement", "expired_at")
# bufio.Scanner's default limit (MaxScanTokenSize): a longer line ends Trivy's reading.
_TRIVY_MAX_LINE = 64 * 1024


def present(path: Path) -> bool:
    """Whether the tree holds something at `path` for scangate to read: a file, or a symbolic
    link (even a dangling one) or a FIFO, which `read_config` then refuses by name rather
    than skipping silently. A directory is no ignore file or policy: skipped, as before."""
    return path.is_symlink() or (path.exists() and not path.is_dir())


def find_ignore_files(root: Path) -> list[Path]:
    return [root / name for name in IGNORE_FILES if present(root / name)]


def load_ignore_file(path: Path, *, root: Path | None = None) -> list[AllowEntry]:
    """Read Trivy's `.trivyignore` (IDs, `exp:` dates, comments) or `.trivyignore.yaml`.

    `root`: the file was found in the tree under `root`, so no symbolic link is followed
    (`safe_read`); None: the user named it with --ignorefile.
    """
    try:
        text = read_config(
            path, label=str(path), root=root, option="--ignorefile", what="an ignore file"
        )
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such ignore file") from None
    if path.suffix in (".yaml", ".yml"):
        return _ignore_yaml(path, text)
    return _ignore_plain(path, text)


def _lines(path: Path, text: str) -> list[str]:
    """The lines as Trivy reads them (Go's bufio.Scanner): split at LF only, one trailing CR
    dropped. str.splitlines would also split at FF, NEL, U+2028 ... (refused by
    `check_controls` anyway), which git and Trivy show inside one line."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    for number, line in enumerate(lines, start=1):
        if len(line) >= _TRIVY_MAX_LINE // 4 and len(line.encode()) >= _TRIVY_MAX_LINE:
            # Trivy stops reading the file at such a line, without an error: the lines after
            # it would be allow entries for scangate only.
            raise PolicyError(
                f"{path}:{number}: a line of {_TRIVY_MAX_LINE // 1024} KiB or more, where "
                "Trivy stops reading the file: shorten it"
            )
    return lines


def _ignore_plain(path: Path, text: str) -> list[AllowEntry]:
    entries: list[AllowEntry] = []
    comment: list[str] = []
    for number, line in enumerate(_lines(path, text), start=1):
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        fields = stripped.split()
        dates = [extra[4:] for extra in fields[1:] if extra.startswith("exp:")]
        if len(dates) > 1:
            # Trivy takes the first date; a reader may take the last. Neither is safe to guess.
            shown = ", ".join(f"exp:{cut(d, 20)}" for d in dates[:3])
            raise PolicyError(
                f"{path}:{number}: {cut(fields[0])} has {len(dates)} expiry dates ({shown}"
                f"{', ...' if len(dates) > 3 else ''}): keep one exp:YYYY-MM-DD"
            )
        expires = _ignore_date(path, number, dates[0]) if dates else None
        reason = " ".join(c for c in comment if c) or f"listed in {path.name}"
        entries.append(
            AllowEntry(id=fields[0], reason=reason, origin=f"{path}:{number}", expires=expires)
        )
        comment = []
    return entries


def _ignore_date(path: Path, number: int, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PolicyError(
            f"{path}:{number}: exp:{cut(value)} is not a date: write it as exp:YYYY-MM-DD"
        ) from None


def _did_you_mean(key: object, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1) if isinstance(key, str) else []
    return f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"


def _ignore_yaml(path: Path, text: str) -> list[AllowEntry]:
    raw = load(text, str(path))
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping with {', '.join(_SECTIONS)}")
    for section in raw:
        if section not in _SECTIONS:
            raise PolicyError(
                f"{path}: unknown section {quote(section)}: {_did_you_mean(section, _SECTIONS)}"
            )
    entries: list[AllowEntry] = []
    for section, kind in _SECTIONS.items():
        items = raw.get(section) or []
        if not isinstance(items, list):
            raise PolicyError(f"{path}: {section} must be a list of entries with an 'id'")
        entries.extend(
            _yaml_entry(path, f"{section}[{i}]", item, kind) for i, item in enumerate(items)
        )
    return entries


def _yaml_entry(path: Path, name: str, item: object, kind: Kind) -> AllowEntry:
    where = f"{path} {name}"
    if not isinstance(item, dict) or not item.get("id"):
        raise PolicyError(f"{where}: each entry needs an 'id'")
    ident = item["id"]
    if not isinstance(ident, str):
        raise PolicyError(f"{where}: 'id' {quote(ident)} is not a string: quote it")
    where = f"{where} ({cut(ident)})"
    for key in item:
        if key not in _ENTRY_KEYS:
            # Trivy drops an unknown key, so a misspelled `path:` would apply the entry to
            # every file: refuse it instead.
            raise PolicyError(
                f"{where}: unknown key {quote(key)}: {_did_you_mean(key, _ENTRY_KEYS)}"
            )
    statement = item.get("statement")
    if statement is not None and not isinstance(statement, str):
        raise PolicyError(f"{where}: 'statement' {quote(statement)} is not text: quote it")
    return AllowEntry(
        id=ident,
        reason=(statement or "").strip() or f"listed in {path.name}",
        origin=f"{path} {name}",
        expires=_expired_at(where, item.get("expired_at")),
        targets=_strings(where, "paths", item.get("paths"), "vendor/**"),
        purls=_strings(where, "purls", item.get("purls"), "pkg:pypi/requests@2.19.0"),
        kinds=frozenset({kind}),
    )


def _strings(where: str, key: str, value: object, example: str) -> tuple[str, ...]:
    """`paths` and `purls` are lists of strings; Trivy refuses anything else, and a string
    taken as a list would be one glob per character (`*` matches every file)."""
    if value is None:
        return ()
    if isinstance(value, str):
        raise PolicyError(
            f"{where}: '{key}' is a string, not a list: write it as {key}: [{quote(value)}]"
        )
    if not isinstance(value, list):
        raise PolicyError(f"{where}: '{key}' must be a list of strings, like {key}: ['{example}']")
    for i, one in enumerate(value):
        if not isinstance(one, str) or not one:
            raise PolicyError(
                f"{where}: {key}[{i}] is {quote(one)}: each entry of '{key}' is a non-empty string"
            )
    return tuple(value)


def _expired_at(where: str, value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # `2025-09-01T00:00:00Z` (Trivy takes RFC 3339 too): a datetime never compares with
        # today's date, so keep the day; it stops suppressing on that day.
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
        raise PolicyError(
            f"{where}: expired_at {quote(value)} is not a date: write it as YYYY-MM-DD"
        )
    raise PolicyError(f"{where}: expired_at must be a date YYYY-MM-DD")
