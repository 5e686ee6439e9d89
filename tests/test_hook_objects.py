"""What a push sends besides the file versions of its commits, with real git and no Trivy:
annotated tags, refs naming blobs or trees, commit and tag messages, submodules' hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from scangate import hook, hook_files, hook_install, hook_push, hook_text
from scangate.errors import UsageError
from tests.support import gitrepo
from tests.support.gitrepo import Clone

ZERO = "0" * 40


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    return gitrepo.make_clone(tmp_path, gitrepo.git_env(tmp_path))


def repo_of(clone: Clone) -> hook.Repo:
    return hook.find_repo(clone.path, env=clone.env)


def sent(clone: Clone, *lines: tuple[str, str]) -> hook_push.Pushed:
    """What pushing each (remote ref, local object) as a new ref to origin sends."""
    updates = [hook_push.RefUpdate(ref, sha, ref, ZERO) for ref, sha in lines]
    return hook_push.pushed(repo_of(clone), updates, "origin", env=clone.env)


def test_an_annotated_tag_is_sent_even_when_its_commit_is_on_the_remote(clone: Clone) -> None:
    head = clone.commit("base", {"a.txt": "1"})
    clone.git("push", "-q", "origin", "main")
    clone.git("tag", "-a", "v1", "-m", "release one")
    tag = clone.head("v1")
    clone.git("tag", "light")  # a lightweight tag is the commit itself: nothing new
    assert sent(clone, ("refs/tags/v1", tag)) == hook_push.Pushed(tags=(("refs/tags/v1", tag),))
    assert not sent(clone, ("refs/tags/light", head))


def test_refs_naming_blobs_and_trees_are_objects_to_scan(clone: Clone, tmp_path: Path) -> None:
    clone.commit("base", {"a.txt": "1"})
    blob = clone.git("hash-object", "-w", "--stdin", input="key = 1\n").strip()
    link = clone.git("hash-object", "-w", "--stdin", input="target/path").strip()
    tree = clone.git(
        "mktree", input=f"100644 blob {blob}\ttree.py\n120000 blob {link}\tlink\n"
    ).strip()
    nested = clone.git("mktree", input=f"040000 tree {tree}\tsub\n").strip()
    clone.git("tag", "-a", "blobtag", blob, "-m", "a tagged blob")
    pushed = sent(clone, ("refs/tags/b", blob), ("refs/tags/t", nested))
    assert pushed.commits == ()
    assert pushed.objects == (
        hook_files.RefObject("refs/tags/b", blob, "blob"),
        hook_files.RefObject("refs/tags/t", nested, "tree"),
    )
    annotated = sent(clone, ("refs/tags/blobtag", clone.head("blobtag")))
    assert annotated.objects == (hook_files.RefObject("refs/tags/blobtag", blob, "blob"),)
    assert annotated.tags == (("refs/tags/blobtag", clone.head("blobtag")),)
    dest = tmp_path / "files"
    dest.mkdir()
    files = hook_files.materialize(repo_of(clone), [], dest, env=clone.env, objects=pushed.objects)
    assert {v.path: (dest / str(v.layer) / v.path).read_text() for v in files.versions} == {
        "refs/tags/b": "key = 1\n",
        "refs/tags/t/sub/tree.py": "key = 1\n",
        "refs/tags/t/sub/link": "target/path",
    }
    assert all(v.commit is None for v in files.versions)


def test_a_pushed_object_missing_here_is_named(clone: Clone) -> None:
    from scangate.errors import ScannerError

    clone.commit("base", {"a.txt": "1"})
    with pytest.raises(ScannerError, match=f"the pushed object {'e' * 40} is not in this repo"):
        sent(clone, ("refs/heads/main", "e" * 40))


def test_messages_are_written_with_their_headers_and_nested_tags(
    clone: Clone, tmp_path: Path
) -> None:
    # A message that imitates the header lines `git cat-file --batch` writes.
    first = clone.commit("caf\xe9 first\n\nbody line\n", {"a.txt": "1"})
    second = clone.commit(f"{first} commit 12\n\nmore\n", {"a.txt": "2"})
    clone.git("tag", "-a", "inner", "-m", "inner message")
    clone.git("tag", "-a", "outer", "inner", "-m", "outer message")
    outer = clone.head("refs/tags/outer")
    inner = clone.head("refs/tags/inner")
    dest = tmp_path / "messages"
    dest.mkdir()
    messages = hook_text.write_messages(
        repo_of(clone), [first, second], [("refs/tags/outer", outer)], dest, env=clone.env
    )
    assert [(m.label, m.type, m.object) for m in messages.items] == [
        (f"commit {first[:12]} message", "commit", first),
        (f"commit {second[:12]} message", "commit", second),
        ("tag outer message", "tag", outer),
        (f"tag outer message (nested tag {inner[:12]})", "tag", inner),
    ]
    texts = [(dest / m.file).read_text() for m in messages.items]
    assert texts[0].startswith("tree ") and "author Scangate Tests" in texts[0]
    assert texts[0].endswith("\ncaf\xe9 first\n\nbody line\n")
    assert texts[1].endswith(f"\n{first} commit 12\n\nmore\n")
    assert texts[2].endswith("\nouter message\n") and f"object {inner}" in texts[2]
    assert texts[3].endswith("\ninner message\n")
    assert messages.job(["misconfig"]) is None
    job = messages.job(["misconfig", "secret"])
    assert job is not None and job.messages and job.scanners == ("secret",)


def test_install_covers_every_initialized_submodule(clone: Clone, tmp_path: Path) -> None:
    env = {
        **clone.env,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "protocol.file.allow",
        "GIT_CONFIG_VALUE_0": "always",
    }
    lib = tmp_path / "lib"
    gitrepo.git(["init", "-q", lib], cwd=tmp_path, env=env)
    Clone(lib, lib, env).commit("lib", {"l.txt": "l"})
    nested = tmp_path / "nested"
    gitrepo.git(["init", "-q", nested], cwd=tmp_path, env=env)
    Clone(nested, nested, env).commit("nested", {"n.txt": "n"})
    gitrepo.git(["submodule", "add", "-q", nested, "deep"], cwd=lib, env=env)
    Clone(lib, lib, env).commit("with nested")
    clone.commit("base", {"a.txt": "1"})
    gitrepo.git(["submodule", "add", "-q", lib, "libs/my lib"], cwd=clone.path, env=env)
    gitrepo.git(["submodule", "update", "-q", "--init", "--recursive"], cwd=clone.path, env=env)
    repo = repo_of(clone)
    subs = hook_install.submodules(repo, env=env)
    assert [s.root for s in subs] == [
        clone.path / "libs" / "my lib",
        clone.path / "libs" / "my lib" / "deep",
    ]
    modules = clone.path / ".git" / "modules"
    assert [s.hooks.resolve() for s in subs] == [
        (modules / "libs" / "my lib" / "hooks").resolve(),
        (modules / "libs" / "my lib" / "modules" / "deep" / "hooks").resolve(),
    ]
    # A submodule's own hook stops the whole install, before anything is written.
    theirs = subs[1].hooks / "pre-push"
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_text("#!/bin/sh\nexit 0\n")
    dirs = hook_install.hook_dirs([repo, *subs])
    with pytest.raises(UsageError, match="was not written by scangate"):
        hook_install.install_hooks(dirs, "/py", force=False)
    assert not (repo.hooks / "pre-push").exists()
    changes = hook_install.install_hooks(dirs, "/py", force=True)
    assert [c.backup for c in changes] == [None, None, theirs.with_name("pre-push.scangate-backup")]
    assert all(hook_install.is_scangate_hook(d / "pre-push") for d in dirs)
