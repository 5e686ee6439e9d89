"""Git hooks: what a push introduces, what a commit stages, and the hook script itself.

The core of `scangate hook`. It reads the ref updates git (or pre-commit) hands a pre-push
hook, lists the commits the remote does not have yet, writes every file version those commits
add or change under a directory for Trivy to scan, and maps the findings back to the
repository. It runs git through `_subprocess` and returns data: it never prints, exits or
reads the environment (the CLI passes the environment in).

Each version of a path goes into a numbered layer (`dest/0/app.py`, `dest/1/app.py`): the
lowest layer where the path is free. `scan_jobs` decides which Trivy runs cover the layers
so that a finding is the one `scangate scan fs` of a checkout gives for that version (same
target, location and fingerprint): Trivy's secret allow rules match the path relative to the
scanned root (`\\/vendor\\/`, `^usr\\/...`), so secrets are scanned per layer, with the layer as
the root; `remap` strips the `N/` prefixes of a run over all layers and refingerprints it.

Blobs are written by git itself (`update-index --index-info` into a throw-away index, then
`checkout-index`), in a throw-away repository that borrows this one's objects and unsets
every conversion attribute: the files hold exactly the committed bytes (binaries, any
encoding), and no filter (git-lfs, git-crypt) or `core.autocrlf` of the user's runs. Three
git processes for all blobs, never one per file.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from scangate import _subprocess
from scangate.errors import ScannerError, UsageError
from scangate.findings import Artifact, Finding, Kind, ScanRun, assign_fingerprints

GIT_TIMEOUT = 300.0
"""Seconds any one git command may take."""

HOOK_NAME = "pre-push"
HOOK_MARKER = "# installed by scangate hook install"
"""The line that marks a hook file as scangate's: install rewrites and uninstall removes only
files that hold it."""
BACKUP_SUFFIX = ".scangate-backup"
ANY_REMOTE = "*"
"""A remote name for `pushed_commits`: what any remote-tracking ref reaches is on a remote."""

_OBJECT_NAME = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_EXECUTABLE = "100755"
_REGULAR = frozenset({"100644", "100664", _EXECUTABLE})  # 100664: old git's group-writable
# Highest-precedence attributes of the throw-away repository: no eol/ident/encoding
# conversion and no filter driver, whatever the pushed .gitattributes say.
_NO_CONVERSION = "* -text -eol -crlf -ident -filter -working-tree-encoding\n"


# --- the repository --------------------------------------------------------------------------


@dataclass(frozen=True)
class Repo:
    """A git work tree and the paths scangate needs from it, all absolute."""

    root: Path
    objects: Path
    hooks: Path  # where git runs hooks from: `core.hooksPath` when set
    object_format: str = "sha1"

    @property
    def name(self) -> str:
        return self.root.name or str(self.root)


def find_repo(start: Path, *, env: Mapping[str, str]) -> Repo:
    """The work tree holding `start`; a UsageError outside one (or in a bare repository)."""
    done = _subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], timeout=GIT_TIMEOUT, env=env, cwd=start
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise UsageError(
            f"{start} is not inside a git work tree: run scangate hook from a clone "
            f"({_subprocess.stderr_tail(done.stderr, 1) or 'git rev-parse failed'})"
        )
    root = Path(done.stdout.strip())
    # --git-path answers relative to the directory git runs in; a relative core.hooksPath is
    # relative to the top level too, which is where git runs hooks.
    out = _git(
        ["rev-parse", "--git-path", "objects", "--git-path", "hooks", "--show-object-format"],
        root,
        env,
    ).splitlines()
    object_format = out[2].strip() if len(out) > 2 and out[2].strip() == "sha256" else "sha1"
    return Repo(
        root=root,
        objects=(root / out[0].strip()).resolve(),
        hooks=root / out[1].strip(),
        object_format=object_format,
    )


def _git(args: list[str], cwd: Path, env: Mapping[str, str], *, input: bytes | None = None) -> str:
    done = _subprocess.run(["git", *args], timeout=GIT_TIMEOUT, env=env, cwd=cwd, input=input)
    if done.returncode != 0:
        tail = "".join(
            f"\n  git: {line}" for line in _subprocess.stderr_tail(done.stderr, 5).splitlines()
        )
        raise ScannerError(f"`git {args[0]}` failed with exit code {done.returncode}{tail}")
    return done.stdout


# --- what is being pushed ----------------------------------------------------------------------


def _is_null(name: str) -> bool:
    """git writes forty (or sixty-four) zeros for "no object": a new or a deleted ref."""
    return not name.strip("0")


@dataclass(frozen=True)
class RefUpdate:
    """One ref a push updates, as git writes it to a pre-push hook's stdin. The names are
    object names, except from pre-commit's environment, where a local ref name may stand in."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletes(self) -> bool:
        return _is_null(self.local_sha)

    @property
    def creates(self) -> bool:
        return _is_null(self.remote_sha)


def parse_pre_push_stdin(text: str) -> list[RefUpdate]:
    """`<local ref> SP <local sha> SP <remote ref> SP <remote sha>` lines (githooks(5))."""
    updates = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=3)
        if len(parts) != 4 or not all(_OBJECT_NAME.match(parts[i]) for i in (1, 3)):
            raise UsageError(
                f"pre-push input line {number} is not '<local ref> <local sha> <remote ref> "
                f"<remote sha>': {line[:200]!r}"
            )
        updates.append(RefUpdate(*parts))
    return updates


@dataclass(frozen=True)
class Push:
    """What a pre-push run is asked to check: the ref updates, and the remote whose
    remote-tracking refs show what it already has (`pushed_commits`)."""

    updates: tuple[RefUpdate, ...]
    remote: str | None
    source: str  # "stdin", "pre-commit" or "HEAD"


def push_from_pre_commit(env: Mapping[str, str]) -> Push | None:
    """The push pre-commit describes to a pre-push hook in the environment, or None.

    pre-commit 4.x (`pre_commit/commands/hook_impl.py`) reads git's ref lines itself and gives
    hooks an empty stdin. For the first line that pushes something (deletions are skipped,
    later lines are dropped) it sets PRE_COMMIT_LOCAL_BRANCH, _REMOTE_BRANCH, _REMOTE_NAME and
    _REMOTE_URL, and:

    * an existing remote ref whose commit is here: FROM_REF = the remote's commit,
      TO_REF = the local commit;
    * a new ref: FROM_REF = the parent of the oldest commit no remote-tracking ref of the
      remote reaches, TO_REF = the local commit;
    * a new ref whose history reaches a root commit the remote lacks (the first push to an
      empty remote): no FROM_REF/TO_REF at all; only the local branch names the commits.

    `pre-commit run --from-ref A --to-ref B` sets FROM/TO without a remote: exactly A..B is
    checked then (remote-tracking refs, which in CI often hold B already, do not count).
    """
    from_ref = env.get("PRE_COMMIT_FROM_REF", "")
    to_ref = env.get("PRE_COMMIT_TO_REF", "")
    local = env.get("PRE_COMMIT_LOCAL_BRANCH", "")
    remote_ref = env.get("PRE_COMMIT_REMOTE_BRANCH", "")
    remote = env.get("PRE_COMMIT_REMOTE_NAME") or None
    if from_ref and to_ref:
        return Push((RefUpdate(local, to_ref, remote_ref, from_ref),), remote, "pre-commit")
    if local:
        return Push((RefUpdate(local, local, remote_ref, ""),), remote, "pre-commit")
    return None


def resolve_commits(repo: Repo, revs: Sequence[str], *, env: Mapping[str, str]) -> list[str | None]:
    """Each revision's commit (tags peeled), None where there is none: one git process."""
    if not revs:
        return []
    for rev in revs:
        if not rev or rev.split() != [rev]:
            raise UsageError(f"not a revision: {rev!r}")
    text = "".join(f"{rev}^{{commit}}\n" for rev in revs)
    out = _git(["cat-file", "--batch-check=%(objectname)"], repo.root, env, input=text.encode())
    answers = out.splitlines()
    if len(answers) != len(revs):
        raise ScannerError(f"`git cat-file --batch-check` answered {len(answers)} of {len(revs)}")
    return [a if _OBJECT_NAME.match(a) else None for a in answers]


def head_push(repo: Repo, remote: str | None, *, env: Mapping[str, str]) -> Push:
    """The push of HEAD as a new branch to `remote` (any remote when None): what a run
    outside a real push checks. No update when HEAD has no commit yet."""
    (head,) = resolve_commits(repo, ["HEAD"], env=env)
    updates = (RefUpdate("HEAD", head, "", ""),) if head else ()
    return Push(updates, remote or ANY_REMOTE, "HEAD")


def pushed_commits(
    repo: Repo, updates: Sequence[RefUpdate], remote: str | None, *, env: Mapping[str, str]
) -> list[str]:
    """The commits a push introduces, parents before children.

    That is everything the pushed commits reach, less what the remote already has as far as
    this repository knows: the commits the updated remote refs point to (when they are here)
    and whatever `refs/remotes/<remote>/*` reach (`ANY_REMOTE`: every remote-tracking ref;
    None: none). A deletion adds nothing; so a new branch off a pushed `main` brings only its
    own commits, and a push to a remote with no remote-tracking refs (an empty remote, or a
    URL) brings the whole history.
    """
    live = [u for u in updates if not u.deletes]
    if not live:
        return []
    locals_ = list(dict.fromkeys(u.local_sha for u in live))
    remotes = list(dict.fromkeys(u.remote_sha for u in live if not u.creates))
    found = resolve_commits(repo, [*locals_, *remotes], env=env)
    tips = found[: len(locals_)]
    for rev, commit in zip(locals_, tips, strict=True):
        if commit is None:
            raise ScannerError(f"the pushed commit {rev} is not in this repository")
    known = [c for c in found[len(locals_) :] if c is not None]
    argv = ["rev-list", "--reverse", "--topo-order", *(c for c in tips if c), "--not", *known]
    if remote is not None:
        argv.append(f"--remotes={remote}")
    return _git(argv, repo.root, env).split()


# --- the file versions to scan ----------------------------------------------------------------


@dataclass(frozen=True)
class FileVersion:
    """One version of one file to scan and where it came from."""

    path: str  # in the repository, "/"-separated
    blob: str
    mode: str
    commit: str | None  # the oldest pushed commit holding this version; None: the index
    layer: int


@dataclass(frozen=True)
class Materialized:
    """File versions written under `root`: layer N is the directory `root/N`."""

    root: Path
    versions: tuple[FileVersion, ...] = ()
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
    object name. Only a regular file in the result counts: deletions (mode 000000), symlinks
    (120000) and submodules (160000) are skipped.
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
            if mode in _REGULAR and not _is_null(blob):
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
        mode = _EXECUTABLE if change.mode == _EXECUTABLE else "100644"
        versions.append(FileVersion(change.path, change.blob, mode, change.commit, number))
    return versions


def materialize(
    repo: Repo, commits: Sequence[str], dest: Path, *, env: Mapping[str, str]
) -> Materialized:
    """Write every file version `commits` add or change under `dest` (an empty directory).

    Renames count as additions (`--no-renames`): the file at its new path is a new version.
    A merge adds only what differs from every parent (`-c`): conflict resolutions and edits
    made in the merge; the rest came with commits scanned on their own or already pushed.
    """
    if not commits:
        return Materialized(dest)
    out = _git(
        ["diff-tree", "-r", "--root", "-c", "--no-renames", "-z", "--stdin"],
        repo.root,
        env,
        input="".join(f"{c}\n" for c in commits).encode(),
    )
    versions = _layered(list(_parse_raw(out, with_commits=True)))
    _write(repo, versions, dest, env)
    return Materialized(dest, tuple(versions))


def staged(repo: Repo, dest: Path, *, env: Mapping[str, str]) -> Materialized:
    """Write the files the index adds or changes (what `git commit` would record) under
    `dest`, in one layer."""
    out = _git(
        [
            "diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-color",
            "--no-ext-diff", "--ignore-submodules=all", "--diff-filter=ACMRT",
        ],
        repo.root,
        {**env, "GIT_OPTIONAL_LOCKS": "0"},
    )  # fmt: skip
    versions = _layered(list(_parse_raw(out, with_commits=False)))
    _write(repo, versions, dest, env)
    return Materialized(dest, tuple(versions))


def _isolated_env(env: Mapping[str, str], **git: str) -> dict[str, str]:
    """The environment for the throw-away repository: none of the user's GIT_* settings or
    config files, so no filter, hook or alternate of theirs applies."""
    out = {k: v for k, v in env.items() if not k.startswith("GIT_")}
    out.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_ATTR_NOSYSTEM="1")
    out.update(GIT_TERMINAL_PROMPT="0")
    out.update(git)
    return out


def _write(repo: Repo, versions: Sequence[FileVersion], dest: Path, env: Mapping[str, str]) -> None:
    if not versions:
        return
    with tempfile.TemporaryDirectory(prefix="scangate-git-") as tmp:
        gitdir = Path(tmp) / "repo.git"
        init = ["init", "--bare", "--quiet", "--template="]
        if repo.object_format != "sha1":
            init.append(f"--object-format={repo.object_format}")
        _git([*init, str(gitdir)], Path(tmp), _isolated_env(env))
        (gitdir / "objects" / "info").mkdir(parents=True, exist_ok=True)
        (gitdir / "objects" / "info" / "alternates").write_text(f"{repo.objects}\n")
        (gitdir / "info").mkdir(exist_ok=True)
        (gitdir / "info" / "attributes").write_text(_NO_CONVERSION)
        git_env = _isolated_env(
            env,
            GIT_DIR=str(gitdir),
            GIT_INDEX_FILE=str(Path(tmp) / "index"),
            GIT_WORK_TREE=str(dest),
        )
        entries = "".join(f"{v.mode} {v.blob}\t{v.layer}/{v.path}\0" for v in versions)
        _git(["update-index", "-z", "--index-info"], dest, git_env, input=entries.encode())
        _git(["checkout-index", "--all", "--force", "--quiet"], dest, git_env)


# --- scanning the layers, and the findings back to the repository ------------------------------

SECRET = "secret"  # noqa: S105 - the scanner's name


@dataclass(frozen=True)
class ScanJob:
    """One Trivy run over materialized files: one layer's directory, or (layer None) the
    root holding every layer under its number."""

    path: Path
    layer: int | None
    scanners: tuple[str, ...]


def scan_jobs(materialized: Materialized, scanners: Sequence[str]) -> list[ScanJob]:
    """The Trivy runs that scan every version with every scanner, finding what `scan fs` of
    a checkout finds.

    One layer: one run of its directory. Several: the secret scanner runs once per layer,
    because its built-in allow rules match the path relative to the scanned root (a `N/`
    prefix would skip a top-level `vendor/` and scan a top-level `usr/share/`), and it starts
    in a fraction of a second; the other scanners match file names, not prefixes, and the
    misconfiguration checks take seconds to load, so they run once over the whole root.
    """
    if materialized.layers == 0:
        return []
    if materialized.layers == 1:
        return [ScanJob(materialized.layer_dir(0), 0, tuple(scanners))]
    others = tuple(s for s in scanners if s != SECRET)
    jobs = [ScanJob(materialized.root, None, others)] if others else []
    if SECRET in scanners:
        jobs += [
            ScanJob(materialized.layer_dir(n), n, (SECRET,)) for n in range(materialized.layers)
        ]
    return jobs


@dataclass
class Remapped:
    """Findings as a run of the repository, each with the file version it was found in."""

    run: ScanRun
    origins: dict[str, FileVersion]  # fingerprint -> version


def _split_layer(path: str) -> tuple[int, str] | None:
    head, sep, rest = path.partition("/")
    return (int(head), rest) if sep and head.isdigit() and rest else None


def _strip(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def remap(run: ScanRun, materialized: Materialized, *, layer: int | None) -> Remapped:
    """The findings of one job's run, in repository terms.

    A run of one layer's directory already speaks repository paths. A run of the root saw
    `N/path`: targets, locations and package paths lose the prefix, and the fingerprints are
    recomputed per layer, so that each equals what `scangate scan fs` gives for a checkout
    holding that version (the fingerprint hashes the target and numbers repeats per target).
    """
    findings: list[Finding] = []
    per_layer: dict[int, list[Finding]] = {}
    located: list[tuple[Finding, FileVersion | None]] = []
    for finding in run.findings:
        if layer is not None:
            number, path = layer, finding.target
        elif (split := _split_layer(finding.target)) is not None:
            number, path = split
            finding = _unprefixed(finding, f"{number}/")
            per_layer.setdefault(number, []).append(finding)
        else:  # not under a layer: keep it as Trivy named it
            findings.append(finding)
            continue
        findings.append(finding)
        located.append((finding, materialized.in_layer(number).get(path)))
    for group in per_layer.values():
        assign_fingerprints(group)
    origins: dict[str, FileVersion] = {}
    for finding, version in located:
        # The same finding in several versions of a file: the oldest version brought it.
        known = origins.get(finding.fingerprint)
        if version is not None and (known is None or version.layer < known.layer):
            origins[finding.fingerprint] = version
    return Remapped(ScanRun(run.artifact, findings), origins)


def _unprefixed(finding: Finding, prefix: str) -> Finding:
    location = finding.location
    if location is not None:
        location = replace(location, path=_strip(location.path, prefix))
    identity = finding.identity
    if finding.kind in (Kind.VULNERABILITY, Kind.LICENSE):
        # (package name, package or file path): the path is relative to the scanned root.
        identity = "\x1f".join(_strip(part, prefix) for part in identity.split("\x1f"))
    return replace(
        finding, target=_strip(finding.target, prefix), location=location, identity=identity
    )


def combine(parts: Sequence[Remapped], *, name: str) -> Remapped:
    """One run named `name` from the jobs' findings, oldest version first.

    A fingerprint seen twice is one finding in two versions of a file (a token a later commit
    leaves in place, say): it is kept once, with the oldest version, whose commit brought it.
    """
    entries = [
        (finding, part.origins.get(finding.fingerprint))
        for part in parts
        for finding in part.run.findings
    ]
    entries.sort(key=lambda entry: entry[1].layer if entry[1] is not None else -1)  # stable
    findings: list[Finding] = []
    origins: dict[str, FileVersion] = {}
    seen: set[str] = set()
    for finding, version in entries:
        if finding.fingerprint in seen:
            continue
        seen.add(finding.fingerprint)
        findings.append(finding)
        if version is not None:
            origins[finding.fingerprint] = version
    base = parts[0].run.artifact if parts else Artifact(name=name, type="filesystem")
    return Remapped(ScanRun(replace(base, name=name), findings), origins)


# --- the hook file -----------------------------------------------------------------------------


def hook_script(python: str) -> str:
    """The pre-push hook `scangate hook install` writes: it runs this Python's scangate."""
    exe = shlex.quote(python)
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARKER}\n"
        "# Gates what `git push` sends with scangate; `scangate hook uninstall` removes it.\n"
        f"if [ ! -x {exe} ]; then\n"
        f"    echo 'scangate pre-push hook: cannot run '{exe}': reinstall with "
        '`scangate hook install`, or remove \'"$0" >&2\n'
        "    exit 1\n"
        "fi\n"
        f'exec {exe} -m scangate hook pre-push "$@"\n'
    )


def is_scangate_hook(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return HOOK_MARKER in text.splitlines()


@dataclass(frozen=True)
class HookChange:
    path: Path
    backup: Path | None = None  # the user's own hook: saved (install) or restored (uninstall)


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + BACKUP_SUFFIX)
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}{BACKUP_SUFFIX}.{n}")
        n += 1
    return candidate


def install_hook(hooks: Path, python: str, *, force: bool) -> HookChange:
    """Write `hooks/pre-push`. A hook scangate did not write is refused unless `force`; then
    it is kept as `pre-push.scangate-backup`, which `uninstall_hook` puts back."""
    path = hooks / HOOK_NAME
    backup = None
    exists = path.exists() or path.is_symlink()
    if exists and not is_scangate_hook(path):
        if not force:
            raise UsageError(
                f"{path} exists and was not written by scangate: keep it, or replace it with "
                f"`scangate hook install --force` (it is then saved as {path.name}{BACKUP_SUFFIX})"
            )
        backup = _backup_path(path)
    try:
        hooks.mkdir(parents=True, exist_ok=True)
        if backup is not None:
            path.rename(backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{HOOK_NAME}.", dir=hooks)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(hook_script(python))
        Path(tmp).chmod(0o755)  # git runs only executable hooks
        Path(tmp).replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return HookChange(path, backup)


def uninstall_hook(hooks: Path) -> HookChange | None:
    """Remove scangate's `hooks/pre-push` (None when there is none) and put back the hook
    `install_hook --force` saved. A hook scangate did not write is refused."""
    path = hooks / HOOK_NAME
    if not (path.exists() or path.is_symlink()):
        return None
    if not is_scangate_hook(path):
        raise UsageError(f"{path} was not written by scangate: not removing it")
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    try:
        path.unlink()
        if backup.is_file() and not backup.is_symlink():
            backup.rename(path)
            return HookChange(path, backup)
    except OSError as exc:
        raise UsageError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return HookChange(path)
