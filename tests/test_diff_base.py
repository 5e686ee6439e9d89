"""`--diff-base REF` on the git side: the merge base, the base's files, and hostile input.

Real repositories (`tests.support.gitrepo`), real pushes, fetches and shallow clones.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from scangate import diff_base, diff_cache, secret_values
from scangate.diff_cache import BaseFinding
from scangate.errors import ExitCode, UsageError
from scangate.findings import Finding, Kind
from scangate.trivy_findings import to_scan_run
from scangate.trivy_report import load_report
from tests.conftest import (
    TrivyScanner,
    make_fake_github_token,
    settings_with_token,
    write_config_repo,
)
from tests.support import gitrepo
from tests.support.gitrepo import Clone


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return gitrepo.git_env(tmp_path)


def branched(tmp_path: Path, env: dict[str, str]) -> tuple[Clone, str, str]:
    """main: c1 -> c2; feature: c1 -> f1 (checked out). Returns the clone, c1 and c2."""
    clone = gitrepo.make_clone(tmp_path, env)
    c1 = clone.commit("c1", {"app/main.py": "print(1)\n", "README.md": "top\n"})
    clone.git("switch", "-q", "-c", "feature")
    clone.git("switch", "-q", "main")
    c2 = clone.commit("c2", {"app/main.py": "print(2)\n"})
    clone.git("switch", "-q", "feature")
    clone.commit("f1", {"app/new.py": "x = 1\n"})
    return clone, c1, c2


def usage_line(excinfo: pytest.ExceptionInfo[UsageError]) -> str:
    error = excinfo.value
    assert error.exit_code == ExitCode.USAGE
    assert "\n" not in error.message, error.message
    return error.message


def state(clone: Clone) -> tuple[str, str, int, str]:
    """What reading the base must leave alone: the work tree's status, the refs, the
    index's mtime, and the index's bytes."""
    index = clone.path / ".git" / "index"
    status = gitrepo.git(
        ["status", "--porcelain", "--untracked-files=all"],
        cwd=clone.path,
        env={**clone.env, "GIT_OPTIONAL_LOCKS": "0"},
    ).stdout
    refs = clone.git("for-each-ref")
    return status, refs, index.stat().st_mtime_ns, hashlib.sha256(index.read_bytes()).hexdigest()


def test_merge_base_with_a_branch_is_where_the_branch_started(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone, c1, c2 = branched(tmp_path, env)
    base = diff_base.resolve(clone.path, "main", env=env)
    assert base.commit == c1 != c2
    assert base.short == c1[:12]
    assert base.ref == "main"
    assert base.head == clone.head()
    assert base.tree == clone.head(f"{c1}^{{tree}}")
    assert (base.tree_type, base.path, base.shallow) == ("tree", "", False)


def test_origin_main_after_a_real_push_and_fetch(tmp_path: Path, env: dict[str, str]) -> None:
    clone, c1, c2 = branched(tmp_path, env)
    assert clone.push("origin", "main").returncode == 0
    other = tmp_path / "other"
    gitrepo.git(["clone", "-q", clone.remote, other], cwd=tmp_path, env=env)
    gitrepo.git(["switch", "-q", "-c", "pr", c1], cwd=other, env=env)
    gitrepo.git(["commit", "-q", "--allow-empty", "-m", "pr"], cwd=other, env=env)
    clone.git("switch", "-q", "main")
    clone.commit("c3", {"later.txt": "later\n"})
    assert clone.push("origin", "main").returncode == 0
    gitrepo.git(["fetch", "-q", "origin"], cwd=other, env=env)
    base = diff_base.resolve(other, "origin/main", env=env)
    assert base.commit == c1
    assert base.ref == "origin/main"
    assert c2 != c1


def test_a_subdirectory_is_compared_with_the_same_subdirectory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone, c1, _ = branched(tmp_path, env)
    base = diff_base.resolve(clone.path / "app", "main", env=env)
    assert base.path == "app"
    assert base.tree == clone.head(f"{c1}:app")
    with diff_base.written(base, env=env) as done:
        assert sorted(p.name for p in done.path.iterdir()) == ["main.py"]
        assert (done.path / "main.py").read_text() == "print(1)\n"
    # A file: its blob at the base, written under its own name.
    one = diff_base.resolve(clone.path / "app" / "main.py", "main", env=env)
    assert (one.path, one.tree_type) == ("app/main.py", "blob")
    # The cache identity of a file names it: Trivy names its findings after the file.
    assert one.identity == f"blob:{one.tree}:main.py"
    assert base.identity == f"tree:{base.tree}"
    with diff_base.written(one, env=env) as done:
        assert done.path.name == "main.py"
        assert done.path.read_text() == "print(1)\n"


def test_a_directory_the_base_lacks_is_an_empty_base(tmp_path: Path, env: dict[str, str]) -> None:
    clone, _, _ = branched(tmp_path, env)
    clone.commit("new dir", {"svc/app.py": "y = 2\n"})
    base = diff_base.resolve(clone.path / "svc", "main", env=env)
    assert (base.tree, base.tree_type) == ("", "")
    with diff_base.written(base, env=env) as done:
        assert done.path.is_dir()
        assert list(done.path.iterdir()) == []
        assert done.notes


def test_written_base_is_what_git_archive_holds_and_the_user_tree_is_untouched(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = gitrepo.make_clone(tmp_path, env)
    (clone.path / "app").mkdir()
    (clone.path / "app" / "passwd").symlink_to("/etc/passwd")  # pointing outside
    (clone.path / "app" / "up").symlink_to("../../../../../../root")
    clone.write({"app/tool.sh": "#!/bin/sh\necho hi\n", "app/bin.dat": bytes(range(256))})
    (clone.path / "app" / "tool.sh").chmod(0o755)
    clone.write({".gitattributes": "*.py text eol=crlf\n", "app/crlf.py": "a = 1\nb = 2\n"})
    base_commit = clone.commit("base")
    clone.git("switch", "-q", "-c", "feature")
    clone.commit("change", {"app/crlf.py": "a = 3\n"})
    # Uncommitted and untracked changes the user has in the work tree and index.
    clone.write({"app/bin.dat": b"edited", "untracked.txt": "mine\n"})
    clone.git("add", "app/bin.dat")
    clone.write({"app/crlf.py": "dirty\n"})
    before = state(clone)

    base = diff_base.resolve(clone.path, "main", env=env)
    assert base.commit == base_commit
    raw = _archive_bytes(clone, base_commit)
    with diff_base.written(base, env=env) as done:
        written = {
            p.relative_to(done.path).as_posix(): p
            for p in done.path.rglob("*")
            if p.is_file() or p.is_symlink()
        }
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile() or m.issym()}
            assert set(written) == set(members)
            for name, member in members.items():
                path = written[name]
                assert not path.is_symlink(), name  # nothing can lead Trivy outside
                if member.issym():
                    assert path.read_text() == member.linkname
                else:
                    # The committed bytes, as git archive holds them except that it applies
                    # the tree's eol attributes (crlf.py): no conversion, no filter runs.
                    committed = _blob(clone, f"{base_commit}:{name}")
                    assert path.read_bytes() == committed, name
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    if name != "app/crlf.py":
                        assert committed == extracted.read(), name
                    assert bool(path.stat().st_mode & 0o100) == bool(member.mode & 0o100)
        assert done.files == len(members)
        scanned_root = done.path.resolve()
        for path in written.values():
            assert path.resolve().is_relative_to(scanned_root)
    assert state(clone) == before


def test_trivy_reads_nothing_a_base_symlink_points_to(
    tmp_path: Path, env: dict[str, str], trivy_scan: TrivyScanner
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "settings.py").write_text(settings_with_token(make_fake_github_token()))
    clone = gitrepo.make_clone(tmp_path, env)
    (clone.path / "settings.py").symlink_to(outside / "settings.py")
    (clone.path / "conf").symlink_to(outside)
    clone.commit("links", {"app.py": "x = 1\n"})
    clone.git("switch", "-q", "-c", "feature")
    clone.git("commit", "-q", "--allow-empty", "-m", "pr")  # HEAD is not the base itself
    base = diff_base.resolve(clone.path, "main", env=env)
    with diff_base.written(base, env=env) as done:
        report = trivy_scan.fs(done.path, tmp_path / "report.json", scanners="secret")
        results = json.loads(report.read_text()).get("Results") or []
    assert [r for r in results if r.get("Secrets")] == []
    # The same file read directly is a finding: the scan above could have seen it.
    control = trivy_scan.fs(outside, tmp_path / "control.json", scanners="secret")
    assert any(r.get("Secrets") for r in json.loads(control.read_text()).get("Results") or [])


def _blob(clone: Clone, rev: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", rev], cwd=clone.path, env=clone.env, capture_output=True
    ).stdout


def _archive_bytes(clone: Clone, rev: str) -> bytes:
    return subprocess.run(
        ["git", "archive", "--format=tar", rev],
        cwd=clone.path,
        env=clone.env,
        capture_output=True,
        check=True,
    ).stdout


def test_lfs_pointer_is_written_as_its_content_and_submodules_are_left_out(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = gitrepo.make_clone(tmp_path, env)
    content = b"AWS secret in an LFS file\n"
    oid = hashlib.sha256(content).hexdigest()
    store = clone.path / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4]
    store.mkdir(parents=True)
    (store / oid).write_bytes(content)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n"
    sub = clone.commit("sub", {"x.txt": "x\n"})
    missing = pointer.replace(oid, "f" * 64)
    clone.write({"big.bin": pointer, "gone.bin": missing, "Case.txt": "A\n", "case.txt": "a\n"})
    clone.git("add", "big.bin", "gone.bin", "Case.txt", "case.txt")
    clone.git("update-index", "--add", "--cacheinfo", f"160000,{sub},vendor/sub")
    clone.git("commit", "-q", "-m", "lfs and a submodule")
    clone.git("switch", "-q", "-c", "feature")
    clone.git("commit", "-q", "--allow-empty", "-m", "pr")  # HEAD is not the base itself
    base = diff_base.resolve(clone.path, "main", env=env)
    with diff_base.written(base, env=env) as done:
        assert (done.path / "big.bin").read_bytes() == content
        assert done.lfs_files == 1
        assert (done.path / "gone.bin").read_text() == missing
        assert not (done.path / "vendor").exists()
        # Notes name the files by their path in the repository.
        assert any(n.startswith("gone.bin: a Git LFS pointer") for n in done.notes)
        assert any("only in case" in n and n.endswith("case.txt") for n in done.notes)


@pytest.mark.parametrize(
    "ref",
    [
        "--output=/tmp/scangate-diff-base-x",
        "-c core.pager=touch /tmp/scangate-diff-base-x",
        "-ccore.pager=sh",
        "main --all",
        "main\n--all",
        "",
    ],
)
def test_a_ref_that_could_be_an_option_is_refused(
    tmp_path: Path, env: dict[str, str], ref: str
) -> None:
    clone, _, _ = branched(tmp_path, env)
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(clone.path, ref, env=env)
    line = usage_line(excinfo)
    assert line.startswith("--diff-base")
    assert not Path("/tmp/scangate-diff-base-x").exists()


def test_git_never_reads_a_ref_as_an_option_even_past_the_check(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Defence in depth: `--end-of-options` keeps git from taking REF as an option."""
    clone, _, _ = branched(tmp_path, env)
    out = tmp_path / "written-by-git"
    repo = diff_base.resolve(clone.path, "main", env=env).repo
    genv = diff_base.git_env(env)
    assert diff_base._commit_of(repo, f"--output={out}", genv) is None
    with pytest.raises(UsageError) as excinfo:
        diff_base._ref_commit(repo, f"--output={out}", genv, False)
    assert "no such branch" in usage_line(excinfo)
    assert not out.exists()


def test_the_scanned_repository_config_runs_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    clone, c1, _ = branched(tmp_path, env)
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\necho ran >> {marker}\nexit 0\n")
    script.chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("post-checkout", "post-index-change", "reference-transaction", "pre-auto-gc"):
        shutil.copy(script, hooks / hook)
    for key, value in (
        ("core.fsmonitor", str(script)),
        ("core.hooksPath", str(hooks)),
        ("diff.external", str(script)),
        ("core.pager", str(script)),
        ("uploadpack.packObjectsHook", str(script)),
        ("core.sshCommand", str(script)),
    ):
        clone.git("config", key, value)
    hostile_env = {**env, "GIT_EXTERNAL_DIFF": str(script), "GIT_DIR": str(tmp_path / "nowhere")}
    base = diff_base.resolve(clone.path / "app", "main", env=hostile_env)
    assert base.commit == c1
    with diff_base.written(base, env=hostile_env) as done:
        assert (done.path / "main.py").is_file()
    assert not marker.exists()


def test_an_unknown_ref_names_the_ref_and_the_fix(tmp_path: Path, env: dict[str, str]) -> None:
    clone, _, _ = branched(tmp_path, env)
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(clone.path, "origin/nope", env=env)
    line = usage_line(excinfo)
    assert "origin/nope" in line and "`git fetch origin nope`" in line
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(clone.path, "main^{tree}", env=env)
    assert "not a commit" in usage_line(excinfo)


def test_not_a_git_repository(tmp_path: Path, env: dict[str, str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(plain, "main", env=env)
    line = usage_line(excinfo)
    assert "not inside a git work tree" in line


def test_no_commit_yet(tmp_path: Path, env: dict[str, str]) -> None:
    clone = gitrepo.make_clone(tmp_path, env)
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(clone.path, "main", env=env)
    assert "no commit yet" in usage_line(excinfo)


def _history(tmp_path: Path, env: dict[str, str]) -> tuple[Clone, list[str]]:
    clone = gitrepo.make_clone(tmp_path, env)
    commits = [clone.commit(f"c{n}", {"n.txt": f"{n}\n"}) for n in range(4)]
    assert clone.push("origin", "main").returncode == 0
    return clone, commits


def test_shallow_clone_without_the_base_commit_is_one_line_with_the_fetch_hint(
    tmp_path: Path, env: dict[str, str]
) -> None:
    _, commits = _history(tmp_path, env)
    shallow = tmp_path / "shallow"
    url = f"file://{tmp_path / 'remote.git'}"
    gitrepo.git(["clone", "-q", "--depth", "1", url, shallow], cwd=tmp_path, env=env)
    old = commits[1]
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(shallow, old, env=env)
    line = usage_line(excinfo)
    assert "shallow clone" in line
    assert "fetch-depth: 0" in line
    assert f"git fetch --depth=1 origin {old}" in line


def test_shallow_clone_without_common_history_is_one_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone, commits = _history(tmp_path, env)
    clone.git("switch", "-q", "-c", "feature", commits[1])
    clone.commit("f", {"f.txt": "f\n"})
    assert clone.push("origin", "feature").returncode == 0
    shallow = tmp_path / "shallow"
    url = f"file://{tmp_path / 'remote.git'}"
    gitrepo.git(
        ["clone", "-q", "--depth", "1", "--branch", "feature", url, shallow], cwd=tmp_path, env=env
    )
    gitrepo.git(["fetch", "-q", "--depth=1", "origin", commits[-1]], cwd=shallow, env=env)
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(shallow, commits[-1], env=env)
    line = usage_line(excinfo)
    assert "shallow clone" in line and "fetch-depth: 0" in line


def test_shallow_merge_commit_with_its_base_fetched_uses_that_base(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A pull request's merge commit, cloned at depth 1, with the base fetched at depth 1
    as the error message says: the base is HEAD's first parent."""
    clone, commits = _history(tmp_path, env)
    clone.git("switch", "-q", "-c", "feature", commits[1])
    clone.commit("f", {"f.txt": "f\n"})
    clone.git("switch", "-q", "-c", "merge", "main")
    clone.git("merge", "-q", "--no-edit", "feature")
    assert clone.push("origin", "merge").returncode == 0
    shallow = tmp_path / "shallow"
    url = f"file://{tmp_path / 'remote.git'}"
    gitrepo.git(
        ["clone", "-q", "--depth", "1", "--branch", "merge", url, shallow], cwd=tmp_path, env=env
    )
    base_sha = commits[-1]
    with pytest.raises(UsageError):
        diff_base.resolve(shallow, base_sha, env=env)
    gitrepo.git(["fetch", "-q", "--depth=1", "origin", base_sha], cwd=shallow, env=env)
    base = diff_base.resolve(shallow, base_sha, env=env)
    assert base.commit == base_sha
    assert base.shallow


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_a_repository_of_another_user_is_one_line_naming_safe_directory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone, _, _ = branched(tmp_path, env)
    for path in [clone.path, *clone.path.rglob("*")]:
        os.lchown(path, 65534, 65534)
    with pytest.raises(UsageError) as excinfo:
        diff_base.resolve(clone.path, "main", env=env)
    assert "safe.directory" in usage_line(excinfo)


def _findings(trivy_scan: TrivyScanner, root: Path, out: Path) -> list[Finding]:
    report = trivy_scan.fs(root, out, scanners="misconfig,secret")
    run = to_scan_run(load_report(report))
    secret_values.fill(run, str(root), image=False, archive=False)
    return run.findings


def test_the_written_base_scans_to_the_fingerprints_of_the_same_checkout(
    tmp_path: Path, env: dict[str, str], trivy_scan: TrivyScanner
) -> None:
    """Real Trivy on the work tree and on the written base: what did not change is
    pre-existing, a rotated token is new and its old value fixed."""
    clone = gitrepo.make_clone(tmp_path, env)
    old_token = make_fake_github_token()
    write_config_repo(clone.path / "svc", old_token)
    clone.commit("base")
    clone.git("switch", "-q", "-c", "feature")
    clone.commit("unrelated", {"svc/notes.txt": "nothing\n"})
    base = diff_base.resolve(clone.path / "svc", "main", env=env)
    with diff_base.written(base, env=env) as done:
        base_findings = _findings(trivy_scan, done.path, tmp_path / "base.json")
    cached = [BaseFinding.of(f) for f in base_findings]
    head = _findings(trivy_scan, clone.path / "svc", tmp_path / "head.json")
    assert head and any(f.kind is Kind.SECRET for f in head)
    same = diff_cache.compare(head, cached)
    assert same.new == () and same.fixed == ()
    assert same.pre_existing == {f.fingerprint for f in head}

    new_token = old_token[:-1] + ("A" if old_token[-1] != "A" else "B")
    settings = clone.path / "svc" / "app" / "settings.py"
    settings.write_text(settings.read_text().replace(old_token, new_token))
    clone.commit("rotate the token")
    rotated = diff_cache.compare(
        _findings(trivy_scan, clone.path / "svc", tmp_path / "rotated.json"), cached
    )
    assert len(rotated.new) == 2  # the two lines of settings.py
    assert {f.target for f in rotated.fixed} == {"app/settings.py"}
    assert all(f.kind is Kind.SECRET for f in rotated.fixed)
