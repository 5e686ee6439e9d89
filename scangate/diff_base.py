"""`--diff-base REF`: the merge base of REF and HEAD, and its tree written out for a scan.

`resolve` finds the git work tree holding the scanned path, resolves REF (as the user or the
event payload gave it) and HEAD to commits, and takes `git merge-base` of the two; `written`
writes the base's version of the scanned directory (or file) into a temporary directory the
way the pre-push hook writes pushed files (`hook_files.materialize`): exactly the committed
bytes, a symbolic link as a regular file holding its target (nothing in it can point Trivy
outside the directory), a Git LFS pointer as its object's content when the local store has
it, submodules left out. The user's work tree, index and refs are never written: every git
command here reads, and the files are written by a throw-away repository that only borrows
this one's objects.

REF is untrusted text (an event payload can carry it): it never reaches git where it could
be read as an option (`--end-of-options`, and a leading `-` is refused first), and git runs
with the user's HOME and system config (where `safe.directory` lives) but none of their
`GIT_*` variables, with `core.fsmonitor` off and every transport refused, so nothing the
scanned repository's config names is run and a missing object is never fetched. Every
failure is one line and exit 2: an unknown REF, a base commit the (shallow) clone lacks
(fetch it), no common history. Never a fallback to a full gate or to a pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scangate import _subprocess
from scangate.errors import UsageError
from scangate.formats._common import plural
from scangate.hook import GIT_TIMEOUT, OBJECT_NAME, Repo, run_git
from scangate.hook_files import RefObject, materialize

# Where the base's files go inside the temporary directory (`hook_files` writes layer 0).
_BASE_NAME = "base"
_MAX_SHOWN = 80  # characters of a REF quoted in a message
# The user's own config files stay (safe.directory is honoured only there); these come last
# on git's command line, so the repository's config cannot turn them back on.
_OVERRIDES = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("protocol.allow", "never"),  # no fetch of a missing object in a partial clone
    ("core.untrackedCache", "false"),
    # A directory of the tree holding HEAD, objects/ and refs/ is a repository to git (an
    # "embedded bare repository"): its own config, refs and objects, and a core.worktree
    # pointing back at the checkout, would make its author's commits the base.
    ("safe.bareRepository", "explicit"),
)
_KEPT_GIT_VARIABLES = frozenset({"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"})
_FETCH_HINT = "set `fetch-depth: 0` on actions/checkout, or run `git fetch --depth=1 origin {sha}`"
_SUBMODULE = "160000"


@dataclass(frozen=True)
class DiffBase:
    """The base a diff-base scan compares with."""

    ref: str  # REF as given
    commit: str  # the merge base, full object name
    head: str  # HEAD's commit
    tree: str  # the scanned directory's tree at the base (or the file's blob); "" if absent
    tree_type: str  # "tree" | "blob" | "" (the path is not in the base commit)
    repo: Repo
    path: str  # the scanned path relative to the top of the work tree, "/"-separated; "" = top
    shallow: bool

    @property
    def short(self) -> str:
        return self.commit[:12]

    @property
    def identity(self) -> str:
        """What the base scan's findings depend on in the repository, for `diff_cache.cache_key`
        (`tree`): the tree, or the blob and its name (targets are named after the file)."""
        if self.tree_type == "blob":
            return f"blob:{self.tree}:{self.path.rpartition('/')[2]}"
        return f"{self.tree_type or 'absent'}:{self.tree}"


@dataclass(frozen=True)
class WrittenBase:
    """The base's files on disk: scan `path` (a directory, or one file), as the head is."""

    path: Path
    files: int
    lfs_files: int = 0  # Git LFS pointers written as their content
    notes: tuple[str, ...] = ()  # what was not written as committed, and why


def git_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for git in the scanned repository (see the module docstring)."""
    out = {k: v for k, v in env.items() if not k.startswith("GIT_") or k in _KEPT_GIT_VARIABLES}
    out.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_NO_LAZY_FETCH="1")
    out["GIT_CONFIG_COUNT"] = str(len(_OVERRIDES))
    for n, (key, value) in enumerate(_OVERRIDES):
        out[f"GIT_CONFIG_KEY_{n}"] = key
        out[f"GIT_CONFIG_VALUE_{n}"] = value
    return out


def check_ref(ref: str) -> None:
    """Refuse what cannot be a revision before git sees it: empty, an option, controls."""
    shown = _shown(ref)
    if not ref.strip():
        raise UsageError("--diff-base is empty: name a branch, tag or commit (origin/main)")
    if ref.startswith("-"):
        raise UsageError(
            f"--diff-base {shown}: a revision cannot start with '-': name a branch, tag or "
            "commit (origin/main)"
        )
    if ref != ref.strip() or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in ref):
        raise UsageError(
            f"--diff-base {shown}: a revision holds no spaces or control characters: name a "
            "branch, tag or commit (origin/main)"
        )


def resolve(path: Path, ref: str, *, env: Mapping[str, str]) -> DiffBase:
    """The merge base of `ref` and HEAD in the work tree holding `path` (a directory or a
    file), and the tree of `path` there. Every failure is a UsageError (exit 2)."""
    check_ref(ref)
    genv = git_env(env)
    repo, rel, shallow = _find(path, genv)
    head = _commit_of(repo, "HEAD", genv)
    if head is None:
        raise UsageError(f"{repo.root}: HEAD has no commit yet: commit first, then compare")
    wanted = _ref_commit(repo, ref, genv, shallow)
    base = _merge_base(repo, ref, wanted, head, genv, shallow)
    if base == head:
        # HEAD is REF or one of its ancestors: the base would be HEAD itself, every finding
        # pre-existing, and the gate could never fail (a rollback to an old commit included).
        raise UsageError(
            f"--diff-base {_shown(ref)}: HEAD ({head[:12]}) is already in its history, so the "
            "merge base is HEAD itself and nothing could fail: compare a branch with the one "
            "it will be merged into, or drop --diff-base"
        )
    tree, kind = _tree_at(repo, base, rel, genv)
    return DiffBase(ref, base, head, tree, kind, repo, rel, shallow)


@contextmanager
def written(base: DiffBase, *, env: Mapping[str, str]) -> Iterator[WrittenBase]:
    """The base's version of the scanned path, written into a temporary directory (in
    memory when there is room: `diff_tmp`) that is removed on exit."""
    from scangate.diff_tmp import BaseDir

    where = BaseDir()
    try:
        yield where.write(base, env)
    finally:
        where.remove()


def write(base: DiffBase, dest: Path, *, env: Mapping[str, str]) -> WrittenBase:
    """Write the base's version of the scanned path under `dest`, an empty (or new)
    directory."""
    name = (
        _BASE_NAME if base.tree_type != "blob" else f"{_BASE_NAME}/{base.path.rpartition('/')[2]}"
    )
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / "0" / _BASE_NAME
    if not base.tree:  # not in the base commit: an empty directory scans to nothing
        root.mkdir(parents=True)
        return WrittenBase(root, 0, notes=(f"{base.path or '.'} is not in {base.short}",))
    done = materialize(
        base.repo, [], dest, env=git_env(env), objects=[RefObject(name, base.tree, base.tree_type)]
    )
    prefix = f"{_BASE_NAME}/"  # hook_files names files by their path under the ref
    notes = [note.removeprefix(prefix) for note in done.notes]
    if done.layers > 1:
        # Two paths differing only in case: hook_files keeps them apart for macOS and
        # Windows. Only layer 0 is scanned; findings in the others count as new (fail closed).
        others = [v.path.removeprefix(prefix) for v in done.versions if v.layer > 0]
        notes.append(
            f"{plural(len(others), 'file')} whose names differ from another's only in case "
            f"were not scanned at the base (their findings count as new), e.g. {others[0]}"
        )
    root.mkdir(parents=True, exist_ok=True)
    scanned = root / base.path.rpartition("/")[2] if base.tree_type == "blob" else root
    count = sum(1 for v in done.versions if v.layer == 0)
    return WrittenBase(scanned, count, len(done.lfs_files), tuple(notes))


# --- git ----------------------------------------------------------------------------------


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> _subprocess.Completed:
    return _subprocess.run(["git", *args], timeout=GIT_TIMEOUT, env=env, cwd=cwd)


def _find(path: Path, env: Mapping[str, str]) -> tuple[Repo, str, bool]:
    """The work tree holding `path`, `path` relative to its top, and whether it is shallow."""
    try:
        target = path.resolve(strict=True)
    except OSError as exc:
        raise UsageError(f"--diff-base: cannot read {path}: {exc.strerror or exc}") from None
    cwd = target if target.is_dir() else target.parent
    done = _git(
        [
            "rev-parse", "--show-toplevel", "--is-shallow-repository", "--show-object-format",
            "--git-path", "objects",
        ],
        cwd,
        env,
    )  # fmt: skip
    out = done.stdout.splitlines()
    if done.returncode != 0 or len(out) != 4:
        why = _subprocess.stderr_tail(done.stderr, 3)
        if "dubious ownership" in why or "safe.directory" in why:
            raise UsageError(
                f"--diff-base: git refuses the repository holding {path}: it belongs to another "
                "user; if you trust it, run `git config --global --add safe.directory <its "
                "top directory>` (actions/checkout does this for the checkout)"
            )
        if "safe.bareRepository" in why:
            raise UsageError(
                f"--diff-base: {path} is inside a directory laid out as a git repository "
                "(HEAD, objects/, refs/), which git would take for the repository to compare "
                "in: scangate does not trust one inside the scanned tree; remove it, or scan "
                "without --diff-base"
            )
        first = why.splitlines()[0] if why else "git rev-parse failed"
        raise UsageError(
            f"--diff-base: {path} is not inside a git work tree ({first}): scan a checkout, "
            "or drop --diff-base"
        )
    top = Path(out[0]).resolve()
    objects = Path(out[3])
    repo = Repo(
        root=top,
        objects=(objects if objects.is_absolute() else cwd / objects).resolve(),
        hooks=top / ".git" / "hooks",  # unused: nothing here runs hooks
        object_format="sha256" if out[2].strip() == "sha256" else "sha1",
    )
    rel = target.relative_to(top).as_posix() if target != top else ""
    return repo, "" if rel == "." else rel, out[1].strip() == "true"


def _commit_of(repo: Repo, rev: str, env: Mapping[str, str]) -> str | None:
    done = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        repo.root,
        env,
    )
    name = done.stdout.strip()
    return name if done.returncode == 0 and OBJECT_NAME.match(name) else None


def _ref_commit(repo: Repo, ref: str, env: Mapping[str, str], shallow: bool) -> str:
    found = _commit_of(repo, ref, env)
    if found is not None:
        return found
    shown = _shown(ref)
    named = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", ref], repo.root, env)
    sha = named.stdout.strip()
    if named.returncode != 0 or not OBJECT_NAME.match(sha):
        if OBJECT_NAME.match(ref.lower()):
            sha = ref.lower()  # a full object name: git takes it without looking
        else:
            remote, _, branch = shown.partition("/")
            remotes = _git(["remote"], repo.root, env).stdout.split()
            fetch = f"{remote} {branch}" if branch and remote in remotes else f"origin {shown}"
            raise UsageError(
                f"--diff-base {shown}: no such branch, tag or commit in {repo.root}: fetch it "
                f"(`git fetch {fetch}`) or fix the name"
            )
    exists = _git(["cat-file", "-e", sha], repo.root, env).returncode == 0
    if exists:
        kind = _git(["cat-file", "-t", sha], repo.root, env).stdout.strip()
        raise UsageError(f"--diff-base {shown}: names a {kind or 'object'}, not a commit")
    where = "this shallow clone" if shallow else "this clone"
    raise UsageError(
        f"--diff-base {shown}: the base commit {sha} is not in {where}: fetch it: "
        + _FETCH_HINT.format(sha=sha)
    )


def _merge_base(
    repo: Repo, ref: str, wanted: str, head: str, env: Mapping[str, str], shallow: bool
) -> str:
    done = _git(["merge-base", wanted, head], repo.root, env)
    found = done.stdout.strip()
    if done.returncode == 0 and OBJECT_NAME.match(found):
        return found
    if done.returncode > 1:
        tail = _subprocess.stderr_tail(done.stderr, 1) or f"exit code {done.returncode}"
        raise UsageError(f"--diff-base {_shown(ref)}: `git merge-base` failed: {tail}")
    # A clone of depth 1 of a pull request's merge commit holds HEAD but not its parents'
    # history: when REF is one of HEAD's parents, it is the merge base all the same.
    if wanted in _parents(repo, head, env):
        return wanted
    if shallow:
        raise UsageError(
            f"--diff-base {_shown(ref)}: {wanted[:12]} and HEAD have no common commit in this "
            "shallow clone: fetch the history: set `fetch-depth: 0` on actions/checkout, or "
            f"run `git fetch --depth=1 origin {wanted}` when HEAD is a merge onto it"
        )
    raise UsageError(
        f"--diff-base {_shown(ref)}: {wanted[:12]} and HEAD share no history: name the branch "
        "this one was started from"
    )


def _parents(repo: Repo, commit: str, env: Mapping[str, str]) -> list[str]:
    """The parents a commit object names (also past a shallow clone's boundary)."""
    text = run_git(["cat-file", "commit", commit], repo.root, env)
    header = text.split("\n\n", 1)[0]
    return [line[7:].strip() for line in header.splitlines() if line.startswith("parent ")]


_LS_TREE = re.compile(r"^(\d{6}) (\w+) ([0-9a-f]+)\t", re.ASCII)


def _tree_at(repo: Repo, commit: str, rel: str, env: Mapping[str, str]) -> tuple[str, str]:
    """The object of `rel` in `commit` and its type; ("", "") when the commit lacks it."""
    if not rel:
        tree = run_git(["rev-parse", "--verify", f"{commit}^{{tree}}"], repo.root, env).strip()
        return tree, "tree"
    out = run_git(
        ["ls-tree", "-z", "--full-tree", commit, "--", rel],
        repo.root,
        {**env, "GIT_LITERAL_PATHSPECS": "1"},
    )
    for entry in out.split("\0"):
        match = _LS_TREE.match(entry)
        if (
            match
            and entry[match.end() :] == rel
            and match.group(1) != _SUBMODULE
            and match.group(2) in ("tree", "blob")
        ):
            return match.group(3), match.group(2)
    return "", ""


def _shown(ref: str) -> str:
    text = ref.encode("unicode_escape").decode("ascii")
    return f"{text[:_MAX_SHOWN]}..." if len(text) > _MAX_SHOWN else text
