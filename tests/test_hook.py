"""scangate.hook with real git and no Trivy: ref lines, the commits a push introduces, the
file versions written for the scan, findings mapped back, and the hook file itself."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from scangate import hook, hook_files, hook_install, hook_push
from scangate.errors import ScannerError, UsageError
from scangate.findings import (
    Artifact,
    Finding,
    Kind,
    Location,
    ScanRun,
    Severity,
    assign_fingerprints,
)
from tests.support import gitrepo
from tests.support.gitrepo import Clone

ZERO = "0" * 40
A, B = "a" * 40, "b" * 40


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return gitrepo.git_env(tmp_path)


@pytest.fixture
def clone(tmp_path: Path, env: dict[str, str]) -> Clone:
    return gitrepo.make_clone(tmp_path, env)


def repo_of(clone: Clone) -> hook.Repo:
    return hook.find_repo(clone.path, env=clone.env)


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def introduced(clone: Clone, updates: list[hook_push.RefUpdate], remote: str | None) -> list[str]:
    return list(hook_push.pushed(repo_of(clone), updates, remote, env=clone.env).commits)


# --- ref lines -------------------------------------------------------------------------------


def test_pre_push_stdin_lines_become_updates() -> None:
    text = (
        f"refs/heads/main {A} refs/heads/main {B}\n"
        f"refs/heads/new {A} refs/heads/new {ZERO}\n"
        f"(delete) {ZERO} refs/heads/old {B}\n"
        f"HEAD {'c' * 64} refs/heads/sha256 {'0' * 64}\n"
        "\n"
    )
    updates = hook_push.parse_pre_push_stdin(text)
    assert [(u.local_ref, u.remote_ref) for u in updates] == [
        ("refs/heads/main", "refs/heads/main"),
        ("refs/heads/new", "refs/heads/new"),
        ("(delete)", "refs/heads/old"),
        ("HEAD", "refs/heads/sha256"),
    ]
    assert [(u.creates, u.deletes) for u in updates] == [
        (False, False),
        (True, False),
        (False, True),
        (True, False),
    ]
    assert hook_push.parse_pre_push_stdin("") == []


@pytest.mark.parametrize(
    "line", ["refs/heads/main", f"refs/heads/main {A} refs/heads/main", f"x {A} y not-a-sha"]
)
def test_malformed_pre_push_line_is_a_usage_error(line: str) -> None:
    with pytest.raises(UsageError, match="pre-push input line 1"):
        hook_push.parse_pre_push_stdin(line + "\n")


def test_pre_commit_environment_becomes_a_push() -> None:
    # What pre-commit 4.x sets for the first ref line (pre_commit/commands/hook_impl.py).
    names = {
        "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main",
        "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main",
        "PRE_COMMIT_REMOTE_NAME": "origin",
        "PRE_COMMIT_REMOTE_URL": "/srv/remote.git",
    }
    update = hook_push.push_from_pre_commit(
        {**names, "PRE_COMMIT_FROM_REF": B, "PRE_COMMIT_TO_REF": A}
    )
    assert update == hook_push.Push(
        (hook_push.RefUpdate("refs/heads/main", A, "refs/heads/main", B),), "origin", "pre-commit"
    )
    # The whole history is new (root commit included): no FROM/TO, only the branch names.
    all_new = hook_push.push_from_pre_commit(names)
    assert all_new is not None
    assert all_new.updates == (
        hook_push.RefUpdate("refs/heads/main", "refs/heads/main", "refs/heads/main", ""),
    )
    assert all_new.updates[0].creates
    # `pre-commit run` / `try-repo` without refs: nothing in the environment.
    assert hook_push.push_from_pre_commit({"PRE_COMMIT": "1"}) is None


# --- the commits a push introduces -------------------------------------------------------------


def test_update_of_a_pushed_branch_brings_the_new_commits_oldest_first(clone: Clone) -> None:
    base = clone.commit("base", {"a.txt": "1"})
    clone.git("push", "-q", "origin", "main")
    one = clone.commit("one", {"a.txt": "2"})
    two = clone.commit("two", {"b.txt": "3"})
    update = hook_push.RefUpdate("refs/heads/main", two, "refs/heads/main", base)
    assert introduced(clone, [update], "origin") == [one, two]


def test_new_branch_brings_only_what_no_remote_tracking_ref_reaches(clone: Clone) -> None:
    clone.commit("base", {"a.txt": "1"})
    clone.git("push", "-q", "origin", "main")
    clone.git("checkout", "-q", "-b", "feature")
    mine = clone.commit("mine", {"f.txt": "x"})
    update = hook_push.RefUpdate("refs/heads/feature", mine, "refs/heads/feature", ZERO)
    assert introduced(clone, [update], "origin") == [mine]
    # Pushed to a URL (no remote-tracking refs by that name): the whole history is new.
    assert len(introduced(clone, [update], str(clone.remote))) == 2


def test_first_push_to_an_empty_remote_brings_the_whole_history(clone: Clone) -> None:
    first = clone.commit("first", {"a.txt": "1"})
    second = clone.commit("second", {"b.txt": "2"})
    update = hook_push.RefUpdate("refs/heads/main", second, "refs/heads/main", ZERO)
    assert introduced(clone, [update], "origin") == [first, second]


def test_deleting_a_remote_branch_brings_nothing(clone: Clone) -> None:
    head = clone.commit("first", {"a.txt": "1"})
    update = hook_push.RefUpdate("(delete)", ZERO, "refs/heads/old", head)
    assert introduced(clone, [update], "origin") == []
    assert introduced(clone, [], "origin") == []


def test_force_push_brings_the_rewritten_commits(clone: Clone) -> None:
    base = clone.commit("base", {"a.txt": "1"})
    old = clone.commit("old", {"a.txt": "2"})
    clone.git("push", "-q", "origin", "main")
    clone.git("reset", "-q", "--hard", base)
    new = clone.commit("new", {"a.txt": "3"})
    update = hook_push.RefUpdate("refs/heads/main", new, "refs/heads/main", old)
    assert introduced(clone, [update], "origin") == [new]


def test_a_tracking_ref_the_push_contradicts_is_not_trusted(clone: Clone) -> None:
    base = clone.commit("base", {"a.txt": "1"})
    clone.git("push", "-q", "origin", "main")
    mine = clone.commit("mine", {"a.txt": "2"})
    # The remote says its main is a commit unknown here (force-pushed since the last fetch):
    # origin/main no longer shows what the remote has, so base counts as new.
    update = hook_push.RefUpdate("refs/heads/main", mine, "refs/heads/main", "f" * 40)
    assert introduced(clone, [update], "origin") == [base, mine]
    # The same for a new branch whose stale tracking ref survives (deleted on the remote).
    clone.git("update-ref", "refs/remotes/origin/gone", base)
    gone = hook_push.RefUpdate("refs/heads/gone", mine, "refs/heads/gone", ZERO)
    assert introduced(clone, [gone], "origin") == [mine]  # origin/main still shows base
    clone.git("update-ref", "-d", "refs/remotes/origin/main")
    assert introduced(clone, [gone], "origin") == [base, mine]
    # A tracking ref of a branch the push does not touch is still trusted.
    clone.git("update-ref", "refs/remotes/origin/other", base)
    assert introduced(clone, [update], "origin") == [mine]


def test_several_refs_in_one_push_are_one_set_of_commits(clone: Clone) -> None:
    base = clone.commit("base", {"a.txt": "1"})
    clone.git("push", "-q", "origin", "main")
    on_main = clone.commit("main work", {"a.txt": "2"})
    clone.git("checkout", "-q", "-b", "feature", base)
    on_feature = clone.commit("feature work", {"f.txt": "x"})
    updates = [
        hook_push.RefUpdate("refs/heads/main", on_main, "refs/heads/main", base),
        hook_push.RefUpdate("refs/heads/feature", on_feature, "refs/heads/feature", ZERO),
    ]
    assert sorted(introduced(clone, updates, "origin")) == sorted([on_main, on_feature])


def test_a_pushed_commit_missing_here_is_a_scanner_error(clone: Clone) -> None:
    clone.commit("base", {"a.txt": "1"})
    update = hook_push.RefUpdate("refs/heads/main", "e" * 40, "refs/heads/main", ZERO)
    with pytest.raises(ScannerError, match="is not in this repository"):
        introduced(clone, [update], "origin")


def test_head_push_of_an_empty_repository_has_no_update(clone: Clone) -> None:
    assert hook_push.head_push(repo_of(clone), None, env=clone.env).updates == ()
    head = clone.commit("first", {"a.txt": "1"})
    push = hook_push.head_push(repo_of(clone), "origin", env=clone.env)
    assert push.updates == (hook_push.RefUpdate("HEAD", head, "", ""),)
    assert hook_push.head_push(repo_of(clone), None, env=clone.env).remote == hook_push.ANY_REMOTE


def test_any_remote_and_no_remote(clone: Clone) -> None:
    base = clone.commit("base", {"a.txt": "1"})
    tip = clone.commit("tip", {"a.txt": "2"})
    clone.git("push", "-q", "origin", "main")  # refs/remotes/origin/main is now the tip
    head = hook_push.RefUpdate("HEAD", tip, "", "")
    assert introduced(clone, [head], hook_push.ANY_REMOTE) == []
    assert introduced(clone, [head], "upstream") == [base, tip]
    # A range without a remote (`pre-commit run --from-ref A --to-ref B`): exactly A..B, even
    # where a remote-tracking ref already holds B (CI checkouts do).
    ranged = hook_push.push_from_pre_commit({"PRE_COMMIT_FROM_REF": base, "PRE_COMMIT_TO_REF": tip})
    assert ranged is not None and ranged.remote is None
    assert introduced(clone, list(ranged.updates), ranged.remote) == [tip]


def test_find_repo_outside_a_work_tree_is_a_usage_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(UsageError, match="not inside a git work tree"):
        hook.find_repo(outside, env=env)


def test_find_repo_gives_one_answer_from_the_top_level_and_below(clone: Clone) -> None:
    # The top level takes one git process, a subdirectory two: the same repository.
    clone.git("config", "core.hooksPath", "tools/hooks")
    clone.commit("base", {"src/a.py": "A = 1\n"})
    top = hook.find_repo(clone.path, env=clone.env)
    assert top == hook.find_repo(clone.path / "src", env=clone.env)
    assert top.root == clone.path and top.hooks == clone.path / "tools" / "hooks"
    assert top.objects == (clone.path / ".git" / "objects").resolve()
    with pytest.raises(UsageError, match="not inside a git work tree"):
        hook.find_repo(clone.path / ".git", env=clone.env)


# --- the file versions -------------------------------------------------------------------------


def test_files_hold_the_committed_bytes_without_filters_or_eol_conversion(
    clone: Clone, tmp_path: Path
) -> None:
    binary = bytes(range(256)) * 4
    latin1 = "caf\xe9 = 1\n".encode("latin-1")
    # A smudge filter and CRLF checkout the user configured must not touch what is scanned:
    # the scan sees what the commit holds (a git-crypt'ed file stays encrypted).
    clone.git("config", "filter.upper.smudge", "tr a-z A-Z")
    clone.git("config", "filter.upper.clean", "cat")
    clone.git("config", "core.autocrlf", "true")
    commit = clone.commit(
        "files",
        {
            ".gitattributes": "*.txt filter=upper\n*.cfg text eol=crlf\n",
            "notes.txt": "lower case\n",
            "app.cfg": "a=1\nb=2\n",
            "data/blob.bin": binary,
            "legacy.py": latin1,
            "run.sh": "#!/bin/sh\n",
        },
    )
    (clone.path / "run.sh").chmod(0o755)
    clone.git("add", "run.sh")
    (clone.path / "link").symlink_to("notes.txt")
    # A submodule entry (gitlink) without a submodule checkout.
    clone.git("update-index", "--add", "--cacheinfo", f"160000,{commit},vendor/sub")
    clone.git("add", "link")
    second = clone.commit("link, gitlink, mode")
    dest = tmp_path / "scan"
    dest.mkdir()
    files = hook_files.materialize(repo_of(clone), [commit, second], dest, env=clone.env)
    assert files_of(dest) == {
        "0/.gitattributes": b"*.txt filter=upper\n*.cfg text eol=crlf\n",
        "0/notes.txt": b"lower case\n",
        "0/app.cfg": b"a=1\nb=2\n",
        "0/data/blob.bin": binary,
        "0/legacy.py": latin1,
        "0/run.sh": b"#!/bin/sh\n",
        # A symlink is the text of its target (the push carries it), as a regular file.
        "0/link": b"notes.txt",
    }
    assert not (dest / "0" / "link").is_symlink()
    assert files.layers == 1
    assert {v.path: v.commit for v in files.versions}["notes.txt"] == commit
    # A mode change keeps the same blob: one version; a gitlink is not a file.
    assert sorted(v.path for v in files.versions) == sorted(
        [".gitattributes", "notes.txt", "app.cfg", "data/blob.bin", "legacy.py", "run.sh", "link"]
    )
    assert [v.path for v in files.versions if v.symlink] == ["link"]


def test_each_version_of_a_path_gets_the_lowest_free_layer(clone: Clone, tmp_path: Path) -> None:
    c1 = clone.commit("v1", {"app.py": "v1\n", "README": "r\n", "x": "file\n"})
    c2 = clone.commit("v2", {"app.py": "v2\n", "other.py": "o\n"})
    clone.git("rm", "-q", "x", "README")
    c3 = clone.commit("v3", {"app.py": "v3\n", "x/inner.txt": "now a folder\n", "readme": "r\n"})
    c4 = clone.commit("back to v1", {"app.py": "v1\n"})
    dest = tmp_path / "scan"
    dest.mkdir()
    files = hook_files.materialize(repo_of(clone), [c1, c2, c3, c4], dest, env=clone.env)
    assert files_of(dest) == {
        "0/README": b"r\n",
        "0/app.py": b"v1\n",
        "0/other.py": b"o\n",
        "0/x": b"file\n",
        "1/app.py": b"v2\n",
        # x/ cannot sit where the file x is, nor readme beside README (case-insensitive disks).
        "1/readme": b"r\n",
        "1/x/inner.txt": b"now a folder\n",
        "2/app.py": b"v3\n",
    }
    assert files.layers == 3
    assert files.in_layer(2)["app.py"].commit == c3
    # The revert to v1 is the same blob at the same path: scanned once, from c1.
    assert files.in_layer(0)["app.py"].commit == c1


def test_a_merge_brings_only_what_differs_from_every_parent(clone: Clone, tmp_path: Path) -> None:
    clone.commit("base", {"a.txt": "base\n", "b.txt": "base\n"})
    clone.git("checkout", "-q", "-b", "side")
    clone.commit("side", {"b.txt": "side\n"})
    clone.git("checkout", "-q", "main")
    clone.commit("main", {"a.txt": "main\n"})
    clone.git("merge", "-q", "--no-commit", "side")
    merge = clone.commit("merge with an edit", {"a.txt": "edited in the merge\n"})
    dest = tmp_path / "scan"
    dest.mkdir()
    hook_files.materialize(repo_of(clone), [merge], dest, env=clone.env)
    # b.txt is side's version, scanned with side's commit; a.txt is new in the merge.
    assert files_of(dest) == {"0/a.txt": b"edited in the merge\n"}


def test_a_rename_is_an_added_file(clone: Clone, tmp_path: Path) -> None:
    clone.commit("base", {"old/name.py": "same content\n" * 20})
    clone.git("mv", "old", "new")
    moved = clone.commit("move")
    dest = tmp_path / "scan"
    dest.mkdir()
    hook_files.materialize(repo_of(clone), [moved], dest, env=clone.env)
    assert files_of(dest) == {"0/new/name.py": b"same content\n" * 20}


def test_staged_reads_the_index_not_the_work_tree(clone: Clone, tmp_path: Path) -> None:
    dest = tmp_path / "first"
    dest.mkdir()
    clone.write({"new.py": "staged on an unborn branch\n"})
    clone.git("add", "new.py")
    hook_files.staged(repo_of(clone), dest, env=clone.env)
    assert files_of(dest) == {"0/new.py": b"staged on an unborn branch\n"}

    clone.commit("base", {"kept.py": "k\n", "gone.py": "g\n", "edit.py": "old\n"})
    clone.write({"edit.py": "staged\n", "added.py": "a\n"})
    clone.git("add", "edit.py", "added.py")
    clone.git("rm", "-q", "gone.py")
    clone.write({"edit.py": "not staged\n", "untracked.py": "u\n"})
    dest = tmp_path / "second"
    dest.mkdir()
    files = hook_files.staged(repo_of(clone), dest, env=clone.env)
    assert files_of(dest) == {"0/added.py": b"a\n", "0/edit.py": b"staged\n"}
    assert {v.commit for v in files.versions} == {None}


def test_nothing_to_write_leaves_the_directory_empty(clone: Clone, tmp_path: Path) -> None:
    clone.commit("base", {"a.txt": "1"})
    clone.git("rm", "-q", "a.txt")
    removal = clone.commit("remove")
    files = hook_files.materialize(repo_of(clone), [removal], tmp_path, env=clone.env)
    assert files.versions == () and files.layers == 0
    assert hook_files.materialize(repo_of(clone), [], tmp_path, env=clone.env).versions == ()
    assert hook.scan_jobs(files, ["secret"]) == []


# --- scan jobs and findings --------------------------------------------------------------------


def _versions(*layers: list[str]) -> hook_files.Materialized:
    return hook_files.Materialized(
        Path("/scan"),
        tuple(
            hook_files.FileVersion(path, f"{n}{path}", "100644", f"commit{n}", n)
            for n, paths in enumerate(layers)
            for path in paths
        ),
    )


def test_one_layer_is_one_run_with_every_scanner() -> None:
    files = _versions(["a.py", "Dockerfile"])
    assert hook.scan_jobs(files, ["misconfig", "secret"]) == [
        hook.ScanJob(Path("/scan/0"), 0, ("misconfig", "secret"))
    ]


def test_several_layers_scan_secrets_per_layer_and_the_rest_once() -> None:
    files = _versions(["a.py", "Dockerfile"], ["a.py"], ["a.py"])
    assert hook.scan_jobs(files, ["vuln", "misconfig", "secret"]) == [
        hook.ScanJob(Path("/scan"), None, ("vuln", "misconfig")),
        hook.ScanJob(Path("/scan/0"), 0, ("secret",)),
        hook.ScanJob(Path("/scan/1"), 1, ("secret",)),
        hook.ScanJob(Path("/scan/2"), 2, ("secret",)),
    ]
    assert hook.scan_jobs(files, ["secret"])[0] == hook.ScanJob(Path("/scan/0"), 0, ("secret",))
    assert hook.scan_jobs(files, ["misconfig"]) == [
        hook.ScanJob(Path("/scan"), None, ("misconfig",))
    ]


def _misconfig(target: str, identity: str = "Specify USER") -> Finding:
    return Finding(
        kind=Kind.MISCONFIGURATION,
        id="DS-0002",
        severity=Severity.HIGH,
        target=target,
        location=Location(target, 1, 3),
        identity=identity,
    )


def _vuln(target: str, pkg_path: str) -> Finding:
    return Finding(
        kind=Kind.VULNERABILITY,
        id="CVE-2020-0001",
        severity=Severity.CRITICAL,
        target=target,
        package="lib",
        location=Location(pkg_path),
        identity=f"lib\x1f{pkg_path}",
    )


def _run(findings: list[Finding]) -> ScanRun:
    assign_fingerprints(findings)
    return ScanRun(Artifact(name="/tmp/scan", type="filesystem"), findings)


def test_root_run_loses_layer_prefixes_and_gets_per_layer_fingerprints() -> None:
    files = _versions(["Dockerfile", "lib/app.jar"], ["Dockerfile"])
    run = _run(
        [
            _misconfig("0/Dockerfile"),
            _vuln("0/lib/app.jar", "0/lib/app.jar"),
            _misconfig("1/Dockerfile"),
            _misconfig("unlayered.txt"),
        ]
    )
    remapped = hook.remap(run, files, layer=None)
    # What `scan fs` of a checkout holding each version gives: fingerprints hash the target
    # and number repeats per target, so each layer is fingerprinted on its own.
    v0 = _run([_misconfig("Dockerfile"), _vuln("lib/app.jar", "lib/app.jar")])
    v1 = _run([_misconfig("Dockerfile")])
    got = [(f.target, f.location, f.identity, f.fingerprint) for f in remapped.run.findings]
    want = [(f.target, f.location, f.identity, f.fingerprint) for f in [*v0.findings, *v1.findings]]
    assert got[:3] == want
    assert got[3][0] == "unlayered.txt"  # kept as Trivy named it
    # Both Dockerfile versions give one fingerprint: the oldest version is its origin.
    assert v0.findings[0].fingerprint == v1.findings[0].fingerprint
    assert remapped.origins[v0.findings[0].fingerprint] == files.in_layer(0)["Dockerfile"]
    assert remapped.origins[v0.findings[1].fingerprint] == files.in_layer(0)["lib/app.jar"]


def test_combine_keeps_a_finding_once_with_its_oldest_version() -> None:
    files = _versions(["Dockerfile"], ["Dockerfile"], ["Dockerfile"])
    per_layer = [
        hook.remap(_run([_misconfig("Dockerfile", identity)]), files, layer=n)
        for n, identity in [(2, "later"), (0, "same"), (1, "same")]
    ]
    combined = hook.combine(per_layer, name="repo")
    assert combined.run.artifact.name == "repo"
    assert [f.identity for f in combined.run.findings] == ["same", "later"]
    assert [combined.origins[f.fingerprint].layer for f in combined.run.findings] == [0, 2]


# --- the hook file -----------------------------------------------------------------------------


def test_install_writes_an_executable_hook_and_rewrites_its_own(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    change = hook_install.install_hook(hooks, "/opt/py/bin/python3", force=False)
    assert change == hook_install.HookChange(hooks / "pre-push")
    text = change.path.read_text()
    assert text.startswith("#!/bin/sh\n# installed by scangate hook install\n")
    assert 'exec /opt/py/bin/python3 -m scangate hook pre-push "$@"\n' in text
    assert change.path.stat().st_mode & stat.S_IXUSR
    again = hook_install.install_hook(hooks, "/other/python", force=False)
    assert again.backup is None
    assert "exec /other/python -m" in again.path.read_text()
    assert sorted(p.name for p in hooks.iterdir()) == ["pre-push"]


def test_install_refuses_a_foreign_hook_unless_forced_and_uninstall_restores_it(
    tmp_path: Path,
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    theirs = "#!/bin/sh\necho their hook\n"
    (hooks / "pre-push").write_text(theirs)
    with pytest.raises(UsageError, match=r"pre-push exists and was not written by scangate"):
        hook_install.install_hook(hooks, "/py", force=False)
    assert (hooks / "pre-push").read_text() == theirs
    with pytest.raises(UsageError, match="not removing it"):
        hook_install.uninstall_hook(hooks)

    change = hook_install.install_hook(hooks, "/py", force=True)
    assert change.backup == hooks / "pre-push.scangate-backup"
    assert change.backup.read_text() == theirs
    assert hook_install.is_scangate_hook(hooks / "pre-push")

    removed = hook_install.uninstall_hook(hooks)
    assert removed == hook_install.HookChange(
        hooks / "pre-push", hooks / "pre-push.scangate-backup"
    )
    assert (hooks / "pre-push").read_text() == theirs
    assert sorted(p.name for p in hooks.iterdir()) == ["pre-push"]


def test_uninstall_without_a_hook_does_nothing(tmp_path: Path) -> None:
    assert hook_install.uninstall_hook(tmp_path) is None
    hook_install.install_hook(tmp_path, "/py", force=False)
    assert hook_install.uninstall_hook(tmp_path) == hook_install.HookChange(tmp_path / "pre-push")
    assert list(tmp_path.iterdir()) == []


def test_a_symlinked_hook_is_foreign(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    hook_install.install_hook(ours, "/py", force=False)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "pre-push").symlink_to(ours / "pre-push")
    with pytest.raises(UsageError):
        hook_install.install_hook(hooks, "/py", force=False)


def test_the_hook_script_passes_arguments_and_stdin_to_the_python_it_names(
    tmp_path: Path,
) -> None:
    # A stand-in "python" in a path with a space and a quote: it prints what it was given.
    bindir = tmp_path / "it's a dir"
    bindir.mkdir()
    fake = bindir / "python"
    fake.write_text('#!/bin/sh\necho "args: $*"\necho "stdin: $(cat)"\n')
    fake.chmod(0o755)
    path = hook_install.install_hook(tmp_path / "hooks", str(fake), force=False).path
    done = subprocess.run(
        [str(path), "origin", "/srv/remote.git"],
        input="refs/heads/main a refs/heads/main b\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "args: -m scangate hook pre-push origin /srv/remote.git\n"
        "stdin: refs/heads/main a refs/heads/main b\n"
    )
    fake.unlink()
    gone = subprocess.run(
        [str(path), "origin", "url"], capture_output=True, text=True, timeout=30, check=False
    )
    assert gone.returncode == 1
    assert "scangate pre-push hook: cannot run " + str(fake) in gone.stderr
    assert "scangate hook install" in gone.stderr


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _run_hook(hooks: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    # As git runs it: from the directory above, by a relative path (with a space).
    return subprocess.run(
        [f"{hooks.name}/pre-push", "origin", "/srv/my remote.git"],
        cwd=hooks.parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


PUSH_LINES = f"refs/heads/main {A} refs/heads/main {ZERO}\nrefs/tags/v1 {B} refs/tags/v1 {ZERO}\n"


def test_the_hook_script_runs_the_set_aside_hook_only_after_scangate_passes(
    tmp_path: Path,
) -> None:
    base = tmp_path / "it's a dir"
    python = _script(
        base / "python", 'echo "gate: $*"; cat > "${0%/*}/gate-stdin"; exit "$(cat "${0%/*}/rc")"\n'
    )
    (base / "rc").write_text("0")
    hooks = base / "hooks dir"
    _script(hooks / "pre-push", "exit 0\n")
    change = hook_install.install_hook(hooks, str(python), force=True)
    assert change.chained == hooks / "pre-push.scangate-backup"
    theirs = 'echo "theirs: $*"; cat > "${0%/*}/../their-stdin"; exit 4\n'
    _script(hooks / "pre-push.scangate-backup", theirs)

    done = _run_hook(hooks, PUSH_LINES)
    assert done.returncode == 4, done.stderr  # the set-aside hook's status
    assert done.stdout == (
        "gate: -m scangate hook pre-push origin /srv/my remote.git\n"
        "theirs: origin /srv/my remote.git\n"
    )
    assert (base / "gate-stdin").read_text() == PUSH_LINES
    assert (base / "their-stdin").read_text() == PUSH_LINES

    (base / "their-stdin").unlink()
    (base / "rc").write_text("3")
    done = _run_hook(hooks, PUSH_LINES)
    assert done.returncode == 3  # scangate's status; the other hook never ran
    assert not (base / "their-stdin").exists()

    (base / "rc").write_text("0")
    (hooks / "pre-push.scangate-backup").chmod(0o644)  # git would not run it either
    done = _run_hook(hooks, PUSH_LINES)
    assert done.returncode == 0 and "theirs" not in done.stdout
    assert (base / "gate-stdin").read_text() == PUSH_LINES


def test_a_reinstall_chains_the_latest_set_aside_hook_and_never_a_scangate_hook(
    tmp_path: Path,
) -> None:
    hooks = tmp_path / "hooks"
    _script(hooks / "pre-push", "exit 0\n")
    first = hook_install.install_hook(hooks, "/py", force=True)
    assert first.chained == hooks / "pre-push.scangate-backup"
    _script(hooks / "pre-push", "exit 5\n")  # something overwrote scangate's hook
    second = hook_install.install_hook(hooks, "/py", force=True)
    assert second.backup == second.chained == hooks / "pre-push.scangate-backup.1"
    again = hook_install.install_hook(hooks, "/py", force=False)
    assert again.backup is None and again.chained == second.chained
    assert "/pre-push.scangate-backup.1 ;;" in again.path.read_text()

    # A symlink to a scangate hook is foreign, but running it would gate twice (or loop).
    ours = hook_install.install_hook(tmp_path / "ours", "/bin/true", force=False).path
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "pre-push").symlink_to(ours)
    change = hook_install.install_hook(linked, "/bin/true", force=True)
    assert change.backup == linked / "pre-push.scangate-backup" and change.chained is None
    done = _run_hook(linked, PUSH_LINES)
    assert done.returncode == 0, done.stderr


# --- the CLI without Trivy ---------------------------------------------------------------------


def test_cli_install_honours_core_hooks_path(clone: Clone) -> None:
    clone.git("config", "core.hooksPath", "tools/hooks")
    sub = clone.path / "src"
    sub.mkdir()
    done = gitrepo.run_scangate(["hook", "install"], cwd=sub, env=clone.env)
    assert done.returncode == 0, done.stderr
    installed = clone.path / "tools" / "hooks" / "pre-push"
    assert done.stdout == f"installed {installed}\n"
    assert hook_install.is_scangate_hook(installed)
    assert not (clone.path / ".git" / "hooks" / "pre-push").exists()
    removed = gitrepo.run_scangate(["hook", "uninstall"], cwd=clone.path, env=clone.env)
    assert removed.stdout == f"removed {installed}\n"


def test_cli_install_refuses_a_foreign_hook_with_exit_2(clone: Clone) -> None:
    theirs = clone.path / ".git" / "hooks" / "pre-push"
    theirs.parent.mkdir(exist_ok=True)
    theirs.write_text("#!/bin/sh\nexit 0\n")
    done = gitrepo.run_scangate(["hook", "install"], cwd=clone.path, env=clone.env)
    assert done.returncode == 2
    assert done.stderr.startswith(f"scangate: error: {theirs} exists and was not written")
    assert "--force" in done.stderr
    forced = gitrepo.run_scangate(["hook", "install", "--force"], cwd=clone.path, env=clone.env)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout == (
        f"saved the previous hook as {theirs}.scangate-backup\n"
        f"installed {theirs}; pre-push.scangate-backup is not executable, so it is not run\n"
    )
    done = gitrepo.run_scangate(["hook", "uninstall"], cwd=clone.path, env=clone.env)
    assert done.returncode == 0
    assert theirs.read_text() == "#!/bin/sh\nexit 0\n"
    refused = gitrepo.run_scangate(["hook", "uninstall"], cwd=clone.path, env=clone.env)
    assert refused.returncode == 2
    assert "was not written by scangate: not removing it" in refused.stderr


def test_cli_outside_a_repository_is_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for command in (["install"], ["pre-push"], ["pre-commit"]):
        done = gitrepo.run_scangate(["hook", *command], cwd=plain, env=env)
        assert done.returncode == 2, command
        assert "is not inside a git work tree" in done.stderr


def test_cli_deletion_only_push_scans_nothing(clone: Clone) -> None:
    head = clone.commit("base", {"a.txt": "1"})
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "origin", str(clone.remote), "--trivy", "/nonexistent/trivy"],
        cwd=clone.path,
        env=clone.env,
        input=f"(delete) {ZERO} refs/heads/old {head}\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == "scangate: nothing to scan: the push only deletes remote refs\n"


def test_cli_push_of_commits_the_remote_has_scans_only_the_ref_name(clone: Clone) -> None:
    base = clone.commit("base", {"a.txt": "1"})
    clone.git("push", "-q", "origin", "main")
    clone.git("push", "-q", "origin", "main:other")
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "origin", str(clone.remote)],
        cwd=clone.path,
        env=clone.env,
        input=f"refs/heads/main {base} refs/heads/copy {ZERO}\n",
    )
    # Only the new ref's name is new: it is scanned (a token can be a branch name).
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(
        "scangate: 0 pushed commits add or change 0 file versions; "
        "also scanning the ref and file names\n"
    )
    assert "PASS: 0 findings" in done.stdout


def test_cli_empty_stdin_from_git_is_nothing_to_push(clone: Clone) -> None:
    clone.commit("base", {"a.txt": "1"})
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "origin", str(clone.remote)], cwd=clone.path, env=clone.env, input=""
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "scangate: nothing to scan: no ref to push\n"


def test_cli_policy_errors_come_before_git_and_trivy(clone: Clone) -> None:
    clone.commit("base", {"a.txt": "1"})
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "--policy", "no-such-policy.yaml"],
        cwd=clone.path,
        env=clone.env,
        input="garbage\n",
    )
    assert done.returncode == 2
    assert "no-such-policy.yaml" in done.stderr
    assert "pre-push input line" not in done.stderr


def test_cli_malformed_stdin_is_exit_2(clone: Clone) -> None:
    clone.commit("base", {"a.txt": "1"})
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "origin", "url"], cwd=clone.path, env=clone.env, input="garbage\n"
    )
    assert done.returncode == 2
    assert "pre-push input line 1" in done.stderr


def test_cli_vuln_scanner_without_a_cached_db_is_exit_2(clone: Clone) -> None:
    clone.commit("base", {"requirements.txt": "requests==2.19.0\n"})
    done = gitrepo.run_scangate(
        ["hook", "pre-push", "--scanners", "vuln,secret"], cwd=clone.path, env=clone.env
    )
    assert done.returncode == 2
    assert "hooks never download the vulnerability DB" in done.stderr


def test_hook_environment_has_no_leftover_git_variables() -> None:
    isolated = hook_files._isolated_env(
        {"PATH": "/bin", "GIT_DIR": "/elsewhere", "GIT_OBJECT_DIRECTORY": "/x"}, GIT_DIR="/tmp/r"
    )
    assert isolated["GIT_DIR"] == "/tmp/r"
    assert "GIT_OBJECT_DIRECTORY" not in isolated
    assert isolated["GIT_CONFIG_GLOBAL"] == os.devnull
    assert isolated["GIT_CONFIG_NOSYSTEM"] == "1"


def test_sha256_repositories_and_linked_worktrees(clone: Clone, tmp_path: Path) -> None:
    sha256 = tmp_path / "sha256"
    gitrepo.git(["init", "-q", "--object-format=sha256", sha256], cwd=tmp_path, env=clone.env)
    other = Clone(sha256, clone.remote, clone.env)
    commit = other.commit("one", {"a.txt": "hi\n"})
    assert len(commit) == 64
    repo = repo_of(other)
    assert repo.object_format == "sha256"
    dest = tmp_path / "scan256"
    dest.mkdir()
    hook_files.materialize(repo, [commit], dest, env=clone.env)
    assert files_of(dest) == {"0/a.txt": b"hi\n"}
    assert hook_push.parse_pre_push_stdin(f"refs/heads/main {commit} refs/heads/main {'0' * 64}\n")

    # A linked worktree keeps its objects in the main repository's .git.
    base = clone.commit("base", {"b.txt": "b\n"})
    linked = tmp_path / "linked"
    clone.git("worktree", "add", "-q", "-b", "side", str(linked), base)
    side = Clone(linked, clone.remote, clone.env)
    tip = side.commit("side", {"c.txt": "c\n"})
    repo = repo_of(side)
    assert repo.root == linked and repo.objects == (clone.path / ".git" / "objects").resolve()
    dest = tmp_path / "scanlinked"
    dest.mkdir()
    hook_files.materialize(repo, [tip], dest, env=clone.env)
    assert files_of(dest) == {"0/c.txt": b"c\n"}
