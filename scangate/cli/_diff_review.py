"""The suppression review of `scan fs --diff-base` (`suppression_review.review`): against the
base written out for its scan, or, when that scan came from the cache, against only the base
files the review reads (the policy file and those it extends, the ignore files, the baseline,
and files that may hold an inline ignore comment, found with `git grep`), so that a cached
base is not written out whole again."""

from __future__ import annotations

import os
import posixpath
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scangate.cli._gate_step import GateArgs
    from scangate.diff_base import DiffBase
    from scangate.suppression_review import Review
    from scangate.trivy_run import Target

_EXTENDS_HOPS = 16  # a policy file's `extends` chain followed at most this far


def review(base_root: Path, target: Target, args: GateArgs, day: date) -> Review:
    from scangate.suppression_review import review as compare_sides

    return compare_sides(
        base_root,
        Path(target.ref),
        today=day,
        policy=args.policy,
        ignorefiles=args.ignorefile or None,  # typer gives [] when none is named
        baseline=args.baseline,
    )


def review_cached(base: DiffBase, target: Target, args: GateArgs, day: date) -> Review:
    """The review against a cached base: only the files it reads are written out."""
    from scangate import diff_base
    from scangate.hook_files import RefObject, materialize

    env = diff_base.git_env(os.environ)
    wanted = _review_files(base, target, args, env) if base.tree else {}
    with tempfile.TemporaryDirectory(prefix="scangate-base-") as tmp:
        objects = [RefObject(f"base/{rel}", blob, "blob") for rel, blob in wanted.items()]
        if objects:
            materialize(base.repo, [], Path(tmp), env=env, objects=objects)
        root = Path(tmp) / "0" / "base"
        root.mkdir(parents=True, exist_ok=True)
        return review(root, target, args, day)


def _review_files(
    base: DiffBase, target: Target, args: GateArgs, env: dict[str, str]
) -> dict[str, str]:
    """rel path -> blob of the base files the review reads: the policy file and those it
    extends, the ignore files, the baseline, and every file holding `ignore:` in any case
    (where inline ignore comments can be; `inline_ignores.walk` searches the same way)."""
    from scangate.hook import run_git
    from scangate.ignorefiles import IGNORE_FILES
    from scangate.policy import PROJECT_POLICY_FILE, is_builtin_name

    listing = run_git(["ls-tree", "-r", "-z", "--full-tree", base.tree], base.repo.root, env)
    blobs: dict[str, str] = {}
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == "blob" and fields[0] in ("100644", "100755", "120000"):
            blobs[path] = fields[2]
    head_root = Path(target.ref)
    names = [] if args.policy and is_builtin_name(args.policy) else [PROJECT_POLICY_FILE]
    if args.policy and not is_builtin_name(args.policy):
        names = [_inside(Path(args.policy).expanduser(), head_root)]
    names += (
        [_inside(p, head_root) for p in args.ignorefile] if args.ignorefile else [*IGNORE_FILES]
    )
    if args.baseline is not None:
        names.append(_inside(args.baseline, head_root))
    wanted = {n: blobs[n] for n in names if n and n in blobs}
    if names and names[0] in wanted:
        wanted.update(_extends_chain(base, names[0], blobs, env))
    grep = _subprocess_grep(base, env)
    wanted.update({rel: blobs[rel] for rel in grep if rel in blobs})
    return wanted


def _inside(path: Path, root: Path) -> str:
    full = path if path.is_absolute() else Path.cwd() / path
    try:
        return full.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return ""  # outside the scanned directory: the review does not compare it


def _extends_chain(
    base: DiffBase, first: str, blobs: dict[str, str], env: dict[str, str]
) -> dict[str, str]:
    """The policy files `first` extends, inside the base tree (`suppression_sources._chain`)."""
    from scangate import _yaml
    from scangate.errors import ScangateError
    from scangate.hook import run_git
    from scangate.policy import is_builtin_name
    from scangate.safe_read import CONFIG_CAP

    found: dict[str, str] = {}
    rel = first
    for _ in range(_EXTENDS_HOPS):
        # The base is the PR author's too: read as the policy loader reads (capped, no
        # aliases, bounded nesting), never with yaml.safe_load (a billion laughs, or a
        # RecursionError from deep nesting).
        size = run_git(["cat-file", "-s", blobs[rel]], base.repo.root, env).strip()
        if not size.isdigit() or int(size) > CONFIG_CAP:
            break
        try:
            data = _yaml.load(run_git(["cat-file", "blob", blobs[rel]], base.repo.root, env), rel)
        except (ScangateError, ValueError, RecursionError):
            break
        extends = data.get("extends") if isinstance(data, dict) else None
        if not isinstance(extends, str) or is_builtin_name(extends):
            break
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(rel), extends))
        if rel in found or rel not in blobs:
            break
        found[rel] = blobs[rel]
    return found


def _subprocess_grep(base: DiffBase, env: dict[str, str]) -> list[str]:
    """Paths (relative to the scanned tree) of base files holding `ignore:` in any case."""
    from scangate import _subprocess
    from scangate.errors import ScannerError
    from scangate.hook import GIT_TIMEOUT

    argv = ["git", "grep", "-l", "-z", "-a", "-i", "-F", "--no-textconv"]
    done = _subprocess.run(
        [*argv, "-e", "ignore:", base.tree, "--"], timeout=GIT_TIMEOUT, env=env, cwd=base.repo.root
    )
    if done.returncode == 1:  # nothing found
        return []
    if done.returncode != 0:
        tail = _subprocess.stderr_tail(done.stderr, 3)
        raise ScannerError(f"`git grep` at the base {base.short} failed: {tail}")
    prefix = f"{base.tree}:"
    return [name.removeprefix(prefix) for name in done.stdout.split("\0") if name]
