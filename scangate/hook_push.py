"""What a push sends: the ref updates a pre-push hook is handed, and the objects behind them.

git hands a pre-push hook one line per ref it updates (pre-commit hands the same in
PRE_COMMIT_* variables). `pushed` turns them into what the remote will receive and does not
have yet: the commits (as far as this repository can tell), the annotated tag objects, and
the blobs and trees a ref names directly (`git tag x <blob>`), so that the hook scans all of
it, not only the files of commits.

What the remote has comes from two places. The remote sha on each line is what the remote
itself reported for that ref at the start of the push: the truth. The remote-tracking refs
(`refs/remotes/<remote>/*`) are this repository's memory of the rest, and may be stale: one
the push contradicts (the remote reports another commit for that branch, or no branch) is
not trusted. Others cannot be checked without asking the remote again (see the README's
security model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scangate.errors import ScannerError, UsageError
from scangate.hook import OBJECT_NAME, Repo, is_null, run_git
from scangate.hook_files import RefObject

ANY_REMOTE = "*"
"""A remote name for `pushed`: what any remote-tracking ref reaches is on a remote."""


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
        return is_null(self.local_sha)

    @property
    def creates(self) -> bool:
        return is_null(self.remote_sha)


def parse_pre_push_stdin(text: str) -> list[RefUpdate]:
    """`<local ref> SP <local sha> SP <remote ref> SP <remote sha>` lines (githooks(5))."""
    updates = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=3)
        if len(parts) != 4 or not all(OBJECT_NAME.match(parts[i]) for i in (1, 3)):
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
    out = run_git(["cat-file", "--batch-check=%(objectname)"], repo.root, env, input=text.encode())
    answers = out.splitlines()
    if len(answers) != len(revs):
        raise ScannerError(f"`git cat-file --batch-check` answered {len(answers)} of {len(revs)}")
    return [a if OBJECT_NAME.match(a) else None for a in answers]


def head_push(repo: Repo, remote: str | None, *, env: Mapping[str, str]) -> Push:
    """The push of HEAD as a new branch to `remote` (any remote when None): what a run
    outside a real push checks. No update when HEAD has no commit yet."""
    (head,) = resolve_commits(repo, ["HEAD"], env=env)
    updates = (RefUpdate("HEAD", head, "", ""),) if head else ()
    return Push(updates, remote or ANY_REMOTE, "HEAD")


@dataclass(frozen=True)
class Pushed:
    """What a push sends that the remote lacks, as far as this repository can tell."""

    commits: tuple[str, ...] = ()  # parents before children
    tags: tuple[tuple[str, str], ...] = ()  # (remote ref, annotated tag object)
    objects: tuple[RefObject, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.commits or self.tags or self.objects)


def pushed(
    repo: Repo, updates: Sequence[RefUpdate], remote: str | None, *, env: Mapping[str, str]
) -> Pushed:
    """What a push introduces.

    The commits: everything the pushed refs reach, less what the remote already has: the
    commits the updated remote refs point to (when they are here) and whatever the trusted
    remote-tracking refs of `remote` reach (`ANY_REMOTE`: of every remote; None: none). A
    deletion adds nothing; so a new branch off a pushed `main` brings only its own commits,
    and a push to a remote with no remote-tracking refs (an empty remote, or a URL) brings the
    whole history. An annotated tag is sent whole, whatever it points at.
    """
    live = [u for u in updates if not u.deletes]
    if not live:
        return Pushed()
    locals_ = list(dict.fromkeys(u.local_sha for u in live))
    remotes = list(dict.fromkeys(u.remote_sha for u in live if not u.creates))
    kinds, known = _object_types(repo, locals_, remotes, env=env)
    tips: list[str] = []
    tags: list[tuple[str, str]] = []
    objects: list[RefObject] = []
    for update in live:
        own, peeled = kinds[update.local_sha]
        if own[1] == "tag":
            tags.append((update.remote_ref, own[0]))
        if peeled[1] == "commit":
            tips.append(peeled[0])
        elif peeled[1] in ("blob", "tree"):
            objects.append(RefObject(update.remote_ref or update.local_ref, *peeled))
        else:
            raise ScannerError(
                f"{update.local_ref or update.remote_ref} points at a {peeled[1]}, which "
                "scangate cannot scan: push it without the hook only if you trust it"
            )
    trusted = _trusted_tracking_refs(repo, live, remote, env=env)
    # `^X` rather than `--not`: older git takes no options on --stdin.
    revs = [*dict.fromkeys(tips), *(f"^{sha}" for sha in dict.fromkeys([*known, *trusted]))]
    text = "".join(f"{rev}\n" for rev in revs)
    commits = (
        run_git(
            ["rev-list", "--reverse", "--topo-order", "--stdin"],
            repo.root,
            env,
            input=text.encode(),
        ).split()
        if tips
        else []
    )
    return Pushed(tuple(commits), tuple(dict.fromkeys(tags)), tuple(dict.fromkeys(objects)))


def _object_types(
    repo: Repo, revs: Sequence[str], commits: Sequence[str], *, env: Mapping[str, str]
) -> tuple[dict[str, tuple[tuple[str, str], tuple[str, str]]], list[str]]:
    """Each of `revs`' (object, type) as named and peeled past any tags, and the commits of
    `commits` that are here (tags peeled): one git process for both. A revision of `revs`
    that names no object here is a ScannerError (the push cannot be checked)."""
    for rev in [*revs, *commits]:
        if not rev or rev.split() != [rev]:
            raise UsageError(f"not a revision: {rev!r}")
    text = "".join(f"{rev}\n{rev}^{{}}\n" for rev in revs)
    text += "".join(f"{rev}^{{commit}}\n" for rev in commits)
    out = run_git(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        repo.root,
        env,
        input=text.encode(),
    ).splitlines()
    if len(out) != 2 * len(revs) + len(commits):
        wanted = 2 * len(revs) + len(commits)
        raise ScannerError(f"`git cat-file --batch-check` answered {len(out)} of {wanted}")
    found = {}
    for n, rev in enumerate(revs):
        pair = [tuple(line.split()) for line in out[2 * n : 2 * n + 2]]
        if not all(len(p) == 2 and OBJECT_NAME.match(p[0]) for p in pair):
            raise ScannerError(f"the pushed object {rev} is not in this repository")
        found[rev] = ((pair[0][0], pair[0][1]), (pair[1][0], pair[1][1]))
    # A missing object is answered `<rev>^{commit} missing`: not an object name.
    here = [line.split()[0] for line in out[2 * len(revs) :] if line.split()]
    return found, [name for name in here if OBJECT_NAME.match(name)]


def _trusted_tracking_refs(
    repo: Repo, updates: Sequence[RefUpdate], remote: str | None, *, env: Mapping[str, str]
) -> list[str]:
    """The objects of the remote-tracking refs that show what `remote` has.

    A branch the push updates has its truth on the ref line: its tracking ref (by git's
    default refspec, `refs/heads/X` -> `refs/remotes/<remote>/X`) is dropped when it differs
    (someone force-pushed or deleted the branch since the last fetch), and so is a symbolic
    ref to it (`refs/remotes/<remote>/HEAD`).
    """
    if remote is None:
        return []
    prefix = "refs/remotes/" if remote == ANY_REMOTE else f"refs/remotes/{remote}/"
    reported: dict[str, str] = {}
    if remote != ANY_REMOTE:
        for update in updates:
            if update.remote_ref.startswith("refs/heads/") and OBJECT_NAME.match(
                update.remote_sha or "0" * 40
            ):
                branch = update.remote_ref.removeprefix("refs/heads/")
                reported[prefix + branch] = update.remote_sha
    out = run_git(
        ["for-each-ref", "--format=%(objectname) %(refname) %(symref)", prefix], repo.root, env
    )
    refs = [line.split(" ") for line in out.splitlines() if line.strip()]
    stale = {name for sha, name, *_ in refs if name in reported and reported[name] != sha}
    return [
        sha for sha, name, *rest in refs if name not in stale and not (rest and rest[0] in stale)
    ]
