"""Inline ignore comments (`#trivy:ignore:ID`): find them, and the findings Trivy dropped for them.

Trivy drops a misconfiguration that a `trivy:ignore:<ID>` (or legacy `tfsec:ignore:<ID>`)
comment names (`scangate.inline_comments`), and nothing in its report says so, not even with
`--show-suppressed`. So for a tree holding such comments scangate runs Trivy once more,
misconfig only, on a *shadow* copy of just what the comments can affect, with every comment
neutralised in place (same byte count, same line numbers). What the shadow reports and the
real scan does not is what the comments hid: each is added to the real run, carrying the
comment that hid it (`Finding.inline_ignore`, with every other comment that may have: Trivy
does not say which did), and the policy's `inline-ignores` decides. Fail closed (exit 3)
when that cannot be told: a comment in a module outside the scanned directory, or a shadow
that may still be suppressed (a rule left after neutralising, or a finding of a neutralised
file that the real scan has and the shadow lacks). A tree without such comments costs one
read of its files (and of the local modules outside it), and no Trivy run.

The core takes the shadow scan as a callable: it spawns nothing itself.
"""

from __future__ import annotations

import itertools
import mmap
import os
import posixpath
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from scangate.errors import ScannerError
from scangate.findings import Finding, Kind, ScanRun, assign_fingerprints
from scangate.inline_comments import (
    Rule,
    attribute,
    candidates,
    marked,
    neutralise,
    parse_rules,
    readable,
)

_TERRAFORM = (".tf", ".tf.json", ".tofu", ".tofu.json", ".tfvars", ".tfvars.json")
_NOT_WALKED = frozenset({".git"})  # Trivy never reads .git (walker AppDirs)
_MAX_COPY = 16 << 20  # files beside a marked file copied into the shadow tree, at most
# A marked file is read whole, decoded and neutralised in memory (a few copies of it): past
# this, fail closed rather than risk the runner's memory. Marked files are always copied.
MAX_MARKED = 64 << 20


# --- finding the comments --------------------------------------------------------------------


@dataclass
class Tree:
    """What the walk of the scanned tree found."""

    marked: list[str]  # files holding a rule, relative
    terraform: list[str]  # every Terraform file, relative
    charts: list[str]  # every directory holding a Chart.yaml (a Helm chart), relative


def walk(root: Path) -> Tree:
    """Search every regular file below `root` for inline ignore comments. Symlinks are not
    followed (Trivy does not follow them); `.git` is not walked."""
    tree = Tree([], [], [])
    for rel, entry in _files(root):
        name = entry.name
        if name.endswith(_TERRAFORM) or rel.endswith(".terraform/modules/modules.json"):
            tree.terraform.append(rel)
        if name == "Chart.yaml":
            tree.charts.append(rel.rpartition("/")[0])
        if _has_marker(entry):
            tree.marked.append(rel)
    return tree


def _files(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue  # unreadable for scangate is unreadable for Trivy too
        for entry in listed:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _NOT_WALKED:
                    stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                yield path, entry


def _has_marker(entry: os.DirEntry[str]) -> bool:
    """Whether the file may hold a rule; searched whole through a memory map (a word may be
    megabytes long), binary-looking files too: Trivy parses a Dockerfile holding a NUL."""
    try:
        with Path(entry.path).open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return marked(data)
    except (OSError, ValueError):
        return False


# --- the shadow tree -------------------------------------------------------------------------


def build_shadow(root: Path, tree: Tree, work: Path) -> tuple[Path, list[Rule]]:
    """Copy what the comments can affect to a new directory under `work`, at the same
    relative paths, with the comments neutralised; return it and every rule (none: nothing
    is copied).

    A marked file's whole directory (Terraform evaluates a module as a directory; a
    Dockerfile or manifest is read alone, so the rest costs only copying); every Terraform
    file of the tree when a marked directory holds Terraform (a `module` block's comment hides
    findings in the module's directory, wherever it is in the tree); the whole Helm chart
    around a marked file inside one. Module sources that leave the tree (`../modules/x`)
    reach the real directories through symlinks placed around the copy (`_ancestors`).
    """
    for rel in tree.marked:
        _check_size(root, rel)
    marked = {rel: _read(root / rel) for rel in tree.marked}
    rules = [
        rule
        for rel, data in marked.items()
        for rule in parse_rules(data.decode("utf-8", errors="replace"), rel)
    ]
    if not rules:
        return work, []
    copy: set[str] = set()
    dirs = {rel.rpartition("/")[0] for rel in marked}
    for rel in marked:
        chart = _enclosing_chart(rel, tree.charts)
        if chart is not None:
            dirs.add(chart)
    depth = 0
    if dirs & {rel.rpartition("/")[0] for rel in tree.terraform}:
        copy.update(tree.terraform)
        depth = max((_escapes(rel, _read(root / rel)) for rel in tree.terraform), default=0)
    charts = {d for d in dirs if d in tree.charts}
    # The marked files whatever their size: the shadow must hold every file whose comments
    # were neutralised, or its findings there look suppressed (`_check_shadow`).
    copy.update(marked)
    for rel, entry in _files(root):
        near = rel.rpartition("/")[0] in dirs or any(_under(rel, c) for c in charts)
        if near and _size(entry) <= _MAX_COPY:  # a large neighbour is no IaC file
            copy.add(rel)
    dest = _ancestors(root, work / "shadow", depth)
    dest.mkdir(parents=True)
    for rel in sorted(copy):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in marked:
            target.write_bytes(neutralise(marked[rel]))
            continue
        try:
            shutil.copyfile(root / rel, target, follow_symlinks=False)
        except OSError:
            continue  # unreadable: Trivy could not read it in the real scan either
    return dest, rules


_SOURCE = re.compile(rb'\bsource"?\s*[=:]\s*"(\.{1,2}/[^"]*)"')


def _escapes(rel: str, data: bytes) -> int:
    """How many levels above the scanned root a Terraform file's local module sources reach
    (`source = "../../modules/x"` in `env/prod/main.tf` reaches 0; in `main.tf`, 2)."""
    base = rel.rpartition("/")[0]
    deepest = 0
    for match in _SOURCE.finditer(data):
        path = posixpath.normpath(posixpath.join(base, match.group(1).decode(errors="replace")))
        parts = path.split("/")
        deepest = max(deepest, len(parts) - len(list(itertools.dropwhile("..".__eq__, parts))))
    return deepest


_MAX_MODULES = 512  # directories outside the root searched, at most


def _outside(root: Path, tree: Tree) -> str | None:
    """A file outside `root` that Trivy reads as a local Terraform module (`source =
    "../modules/x"`, followed from module to module) and that holds an inline ignore: its
    comments would hide findings from the shadow scan too. Returns it relative to `root`."""
    top = root.resolve()
    code = tuple(e for e in _TERRAFORM if not e.startswith(".tfvars"))
    queue = [(root / rel, _read(root / rel)) for rel in tree.terraform]
    seen: set[Path] = set()
    while queue and len(seen) < _MAX_MODULES:
        path, data = queue.pop()
        for match in _SOURCE.finditer(data):
            target = (path.parent / match.group(1).decode(errors="replace")).resolve()
            if target in seen or target.is_relative_to(top):
                continue  # the walk searched the tree itself
            seen.add(target)
            try:
                with os.scandir(target) as entries:
                    listed = sorted(entries, key=lambda e: e.name)
            except OSError:
                continue
            for entry in listed:
                if not entry.is_file():
                    continue
                if _has_marker(entry):
                    return os.path.relpath(entry.path, top).replace(os.sep, "/")
                if entry.name.endswith(code):
                    queue.append((Path(entry.path), _read(Path(entry.path))))
    return None


def _ancestors(root: Path, shadow: Path, depth: int) -> Path:
    """Where to put the copy of `root` so that `..` reaches what it reaches from `root`:
    `depth` levels of directories named as `root`'s ancestors, each holding symlinks to the
    real ancestor's other entries. Returns the copy's root (not created yet)."""
    real = root.resolve()
    levels = list(real.parents)[:depth]
    here = shadow
    names = [real.name, *(a.name for a in levels)][: len(levels)]  # the child, per level
    for ancestor, child in reversed(list(zip(levels, names, strict=True))):
        here.mkdir(parents=True, exist_ok=True)
        try:
            entries = sorted(p.name for p in ancestor.iterdir())
        except OSError:
            entries = []
        for name in entries:
            if name != child:
                (here / name).symlink_to(ancestor / name)
        here = here / child
    return here


def _check_size(root: Path, rel: str) -> None:
    try:
        size = (root / rel).stat(follow_symlinks=False).st_size
    except OSError:
        return  # unreadable: Trivy could not read it either
    if size > MAX_MARKED:
        raise ScannerError(
            f"inline ignores: {rel} holds a trivy:ignore comment and is larger than "
            f"{MAX_MARKED >> 20} MiB, scangate's limit for a file whose inline ignores it "
            "checks; split the file, or remove the comment (or skip the file with --skip-files)"
        )


def _size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _enclosing_chart(rel: str, charts: list[str]) -> str | None:
    found = [c for c in charts if _under(rel, c)]
    return max(found, key=len) if found else None


def _under(rel: str, directory: str) -> bool:
    return directory == "" or rel.startswith(f"{directory}/")


# --- what the comments hid -------------------------------------------------------------------


def apply(run: ScanRun, root: Path, scan_shadow: Callable[[Path], ScanRun], work: Path) -> int:
    """Add to `run` every misconfiguration the inline ignore comments under `root` hid from
    it, and name the comment on reported findings whose comment expired. `scan_shadow` runs
    Trivy (misconfig only) on the directory it is given. Returns the number of comments; with
    none, nothing else is done (no copy, no scan).
    """
    tree = walk(root)
    outside = _outside(root, tree)
    if outside is not None:
        raise ScannerError(
            f"inline ignores: {outside} holds a trivy:ignore comment and Trivy reads it as a "
            "Terraform module of the scanned directory, which scangate cannot put under the "
            "policy; scan a directory that contains it, or remove the comment"
        )
    if not tree.marked:
        return 0
    shadow_root, rules = build_shadow(root, tree, work)
    if not rules:
        return 0
    shadow = scan_shadow(shadow_root)
    _check_shadow(run, shadow, shadow_root, set(tree.marked))
    merge(run, shadow, rules)
    return len({(r.path, r.line) for r in rules})


def _check_shadow(run: ScanRun, shadow: ScanRun, shadow_root: Path, marked: set[str]) -> None:
    """Fail closed if the shadow scan may itself have been suppressed: a copied file Trivy
    could still read a rule in, or a misconfiguration the real run found in a neutralised file
    that the shadow run lacks (neutralising only ever removes suppressions)."""
    for rel, entry in _files(shadow_root):
        if readable(_read(Path(entry.path))):
            raise ScannerError(
                f"inline ignores: {rel} still holds a trivy:ignore comment after scangate "
                "neutralised it, so what the comments hid cannot be told; remove or reword "
                "that comment (please report this as a scangate bug)"
            )
    left = Counter(_key(f) for f in shadow.findings if f.kind is Kind.MISCONFIGURATION)
    for finding in run.findings:
        where = finding.location.path if finding.location else finding.target
        if finding.kind is not Kind.MISCONFIGURATION or where not in marked:
            continue
        key = _key(finding)
        if not left[key]:
            raise ScannerError(
                f"inline ignores: the scan without the comments of {where} lacks {finding.id} "
                "that the real scan reported there, so what the comments hid cannot be told; "
                "check the file's trivy:ignore comments (please report this as a scangate bug)"
            )
        left[key] -= 1


def _key(f: Finding) -> tuple[object, ...]:
    loc = f.location
    lines = (loc.start_line, loc.end_line) if loc else (None, None)
    return (f.kind, f.id, f.target, f.identity, f.message, *lines)


def merge(
    run: ScanRun, shadow: ScanRun, rules: list[Rule], today: date | None = None
) -> list[Finding]:
    """Add the shadow's misconfigurations that `run` lacks, each with the comment that hid it
    (a hidden finding no comment accounts for is added without one: decided as any other),
    then refingerprint; every other comment that may have hidden it rides along for the gate.
    Reported findings that an expired or unreadable comment names get it too, marked not
    suppressed. Returns the added findings."""
    today = today or date.today()
    present = Counter(_key(f) for f in run.findings if f.kind is Kind.MISCONFIGURATION)
    hidden = []
    for finding in shadow.findings:
        if finding.kind is not Kind.MISCONFIGURATION:
            continue
        key = _key(finding)
        if present[key]:
            present[key] -= 1
            continue
        found = candidates(finding, rules, today)
        inline = None
        if found:
            others = tuple(r.ignore(suppressed=True) for r in found[1:])
            inline = replace(found[0].ignore(suppressed=True), others=others)
        hidden.append(replace(finding, inline_ignore=inline))
    commented = {rule.path for rule in rules if rule.expires or rule.bad_expiry}
    for i, finding in enumerate(run.findings):
        where = finding.location.path if finding.location else finding.target
        if where in commented and finding.kind is Kind.MISCONFIGURATION:
            rule = attribute(finding, rules, strict=True)
            if rule is not None and (rule.expires is not None or rule.bad_expiry is not None):
                run.findings[i] = replace(finding, inline_ignore=rule.ignore(suppressed=False))
    run.findings.extend(hidden)
    assign_fingerprints(run.findings)
    return hidden
