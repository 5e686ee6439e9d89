"""The file versions to scan: what pushed commits (or the index) add or change, on disk.

Each version of a path goes into a numbered layer (`dest/0/app.py`, `dest/1/app.py`): the
lowest layer where the path is free (see `scangate.hook` for how the layers are scanned).
A symlink's blob is its target path, which the push carries like any text: it is written as
a regular file holding that text, at the link's path. A blob or tree a ref names directly
(`git tag key <blob>`) is written under the ref's name.

Blobs are written by git itself (`update-index --index-info` into a throw-away index, then
`checkout-index`), in a throw-away repository that borrows this one's objects and unsets
every conversion attribute: the files hold exactly the committed bytes (binaries, any
encoding), and no filter (git-lfs, git-crypt) or `core.autocrlf` of the user's runs. Two
git processes for all blobs, never one per file. A Git LFS pointer is then replaced by the
content git-lfs would upload for it (`hook_lfs`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scangate import hook_lfs
from scangate.errors import ScannerError
from scangate.hook import Repo, is_null, run_git

_EXECUTABLE = "100755"
_REGULAR = frozenset({"100644", "100664", _EXECUTABLE})  # 100664: old git's group-writable
_SYMLINK = "120000"
# Highest-precedence attributes of the throw-away repository: no eol/ident/encoding
# conversion and no filter driver, whatever the pushed .gitattributes say.
_NO_CONVERSION = "* -text -eol -crlf -ident -filter -working-tree-encoding\n"


@dataclass(frozen=True)
class FileVersion:
    """One version of one file to scan and where it came from."""

    path: str  # in the repository, "/"-separated
    blob: str
    mode: str
    commit: str | None  # the oldest pushed commit holding this version; None: the index
    layer: int
    symlink: bool = False  # the file holds a symlink's target


@dataclass(frozen=True)
class RefObject:
    """A ref the push points at something other than a commit: a blob or a tree. Its files
    are scanned under the ref's name (`refs/tags/key`, `refs/tags/tree/app.py`)."""

    ref: str
    name: str  # the object
    type: str  # "blob" | "tree"


@dataclass(frozen=True)
class Materialized:
    """File versions written under `root`: layer N is the directory `root/N`."""

    root: Path
    versions: tuple[FileVersion, ...] = ()
    lfs_files: frozenset[Path] = frozenset()  # Git LFS pointers now holding their content
    notes: tuple[str, ...] = ()  # what could not be scanned as pushed, and why
    _by_layer: dict[int, dict[str, FileVersion]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        for version in self.versions:
            self._by_layer.setdefault(version.layer, {})[version.path] = version

    @property
    def layers(self) -> int:
        return len(self._by_layer)

    def layer_dir(self, layer: int) -> Path:
        return self.root / str(layer)

    def is_lfs(self, version: FileVersion) -> bool:
        """Whether the commit holds a Git LFS pointer and the scan saw its content."""
        return self.layer_dir(version.layer) / version.path in self.lfs_files

    def in_layer(self, layer: int) -> dict[str, FileVersion]:
        """Repository path -> version, for the files of one layer."""
        return self._by_layer.get(layer, {})


@dataclass(frozen=True)
class _Change:
    commit: str | None
    mode: str
    blob: str
    path: str


def _parse_raw(out: str, *, with_commits: bool) -> Iterator[_Change]:
    """`git diff-tree --stdin -z` / `git diff --raw -z` output -> the files it adds or changes.

    Entries are `:<modes> <shas> <status>\\0<path>\\0` (`::...` for a merge with `-c`: one mode
    and object per parent, then the result's); with --stdin each commit's entries follow its
    object name. A regular file or a symlink in the result counts (a symlink's blob is its
    target, text the push carries); deletions (mode 000000) and submodules (160000, whose
    commits the submodule's own hook scans) are skipped.
    """
    tokens = out.split("\0")
    commit: str | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith(":"):
            if i + 1 >= len(tokens):
                raise ScannerError(f"git diff output ends inside an entry: {token[:100]!r}")
            path = tokens[i + 1]
            i += 2
            parents = len(token) - len(token.lstrip(":"))
            fields = token[parents:].split()
            if len(fields) != 2 * (parents + 1) + 1:
                raise ScannerError(f"unexpected git diff entry: {token[:200]!r}")
            mode, blob = fields[parents], fields[2 * parents + 1]
            if (mode in _REGULAR or mode == _SYMLINK) and not is_null(blob):
                yield _Change(commit, mode, blob, path)
            continue
        name = token.strip()
        if name and with_commits:
            commit = name
        i += 1


class _Layer:
    """Paths one layer holds, case-folded: no two files may differ only in case (macOS and
    Windows file systems could not hold them) and no file may sit where another's folder is."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    @staticmethod
    def _parents(key: str) -> list[str]:
        parts = key.split("/")
        return ["/".join(parts[:n]) for n in range(1, len(parts))]

    def fits(self, key: str) -> bool:
        if key in self.files or key in self.dirs:
            return False
        return not any(parent in self.files for parent in self._parents(key))

    def add(self, key: str) -> None:
        self.files.add(key)
        self.dirs.update(self._parents(key))


def _layered(changes: Sequence[_Change]) -> list[FileVersion]:
    """Each distinct (path, blob) once, in the lowest layer where its path is free."""
    layers: list[_Layer] = []
    seen: set[tuple[str, str]] = set()
    versions = []
    for change in changes:
        if (change.path, change.blob) in seen:
            continue
        seen.add((change.path, change.blob))
        key = change.path.casefold()
        number = next((n for n, layer in enumerate(layers) if layer.fits(key)), len(layers))
        if number == len(layers):
            layers.append(_Layer())
        layers[number].add(key)
        # A symlink is written as a regular file holding its target: Trivy reads no links.
        mode = _EXECUTABLE if change.mode == _EXECUTABLE else "100644"
        symlink = change.mode == _SYMLINK
        versions.append(FileVersion(change.path, change.blob, mode, change.commit, number, symlink))
    return versions


def materialize(
    repo: Repo,
    commits: Sequence[str],
    dest: Path,
    *,
    env: Mapping[str, str],
    objects: Sequence[RefObject] = (),
) -> Materialized:
    """Write every file version `commits` add or change, and the files of `objects`, under
    `dest` (an empty directory).

    Renames count as additions (`--no-renames`): the file at its new path is a new version.
    A merge adds only what differs from every parent (`-c`): conflict resolutions and edits
    made in the merge; the rest came with commits scanned on their own or already pushed.
    """
    changes: list[_Change] = []
    if commits:
        out = run_git(
            ["diff-tree", "-r", "--root", "-c", "--no-renames", "-z", "--stdin"],
            repo.root,
            env,
            input="".join(f"{c}\n" for c in commits).encode(),
        )
        changes += _parse_raw(out, with_commits=True)
    for obj in objects:
        if obj.type == "blob":
            changes.append(_Change(None, "100644", obj.name, obj.ref))
            continue
        out = run_git(["ls-tree", "-r", "-z", "--full-tree", obj.name], repo.root, env)
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and (fields[0] in _REGULAR or fields[0] == _SYMLINK):
                changes.append(_Change(None, fields[0], fields[2], f"{obj.ref}/{path}"))
    versions = _layered(changes)
    lfs = _write(repo, versions, dest, env)
    return Materialized(dest, tuple(versions), frozenset(lfs.files), tuple(lfs.notes))


def staged(repo: Repo, dest: Path, *, env: Mapping[str, str]) -> Materialized:
    """Write the files the index adds or changes (what `git commit` would record) under
    `dest`, in one layer."""
    out = run_git(
        [
            "diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-color",
            "--no-ext-diff", "--ignore-submodules=all", "--diff-filter=ACMRT",
        ],
        repo.root,
        {**env, "GIT_OPTIONAL_LOCKS": "0"},
    )  # fmt: skip
    versions = _layered(list(_parse_raw(out, with_commits=False)))
    lfs = _write(repo, versions, dest, env)
    return Materialized(dest, tuple(versions), frozenset(lfs.files), tuple(lfs.notes))


def _isolated_env(env: Mapping[str, str], **git: str) -> dict[str, str]:
    """The environment for the throw-away repository: none of the user's GIT_* settings or
    config files, so no filter, hook or alternate of theirs applies."""
    out = {k: v for k, v in env.items() if not k.startswith("GIT_")}
    out.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_ATTR_NOSYSTEM="1")
    out.update(GIT_TERMINAL_PROMPT="0")
    out.update(git)
    return out


def _bare_repository(gitdir: Path, repo: Repo) -> Path:
    """What `git init --bare --template=` writes (a process saved), borrowing `repo`'s
    objects and with every conversion attribute unset."""
    for sub in ("objects/info", "refs/heads", "refs/tags", "info"):
        (gitdir / sub).mkdir(parents=True)
    (gitdir / "HEAD").write_text("ref: refs/heads/main\n")
    config = "[core]\n\trepositoryformatversion = {}\n\tbare = true\n"
    if repo.object_format == "sha1":
        (gitdir / "config").write_text(config.format(0))
    else:
        extension = f"[extensions]\n\tobjectformat = {repo.object_format}\n"
        (gitdir / "config").write_text(config.format(1) + extension)
    (gitdir / "objects" / "info" / "alternates").write_text(f"{repo.objects}\n")
    (gitdir / "info" / "attributes").write_text(_NO_CONVERSION)
    return gitdir


def _write(
    repo: Repo, versions: Sequence[FileVersion], dest: Path, env: Mapping[str, str]
) -> hook_lfs.Swapped:
    if not versions:
        return hook_lfs.Swapped()
    with tempfile.TemporaryDirectory(prefix="scangate-git-") as tmp:
        gitdir = _bare_repository(Path(tmp) / "repo.git", repo)
        git_env = _isolated_env(
            env,
            GIT_DIR=str(gitdir),
            GIT_INDEX_FILE=str(Path(tmp) / "index"),
            GIT_WORK_TREE=str(dest),
        )
        entries = "".join(f"{v.mode} {v.blob}\t{v.layer}/{v.path}\0" for v in versions)
        run_git(["update-index", "-z", "--index-info"], dest, git_env, input=entries.encode())
        run_git(["checkout-index", "--all", "--force", "--quiet"], dest, git_env)
    # git-lfs's pre-push uploads the content of every pointer pushed: that is what to scan.
    files = [(v.path, dest / str(v.layer) / v.path) for v in versions if not v.symlink]
    return hook_lfs.swap_in_objects(repo, files, env=env)
