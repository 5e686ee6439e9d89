"""How policy and ignore files are read, through the CLI with the real Trivy 0.76.

The scanned tree belongs to the author of a pull request. The files scangate finds there by
itself (`.trivyignore`, `.trivyignore.yaml`, `.scangate.yaml` and what it extends) are read
only as regular files at their own name, inside the tree: a symbolic link to
`/proc/self/environ` or `~/.git-credentials` used to be read, and its text printed in
warnings, `policy check` and the JSON output. Files the user names (`--policy`,
`--ignorefile`) may be links, but only a regular file is read. Characters that are a line
break to Python or PyYAML but not to git or Trivy are refused (a reviewer saw a comment where
scangate read an allow entry), and every file is capped at 1 MiB. Baselines:
test_baseline.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.scanning import SCANGATE, clean_env, fake_token, run_scangate

# Stands in for a secret in the environment (A5); built at run time.
MARKER = "hunter2-" + "scangate-marker"
SCAN = ("scan", "fs", ".", "--scanners", "secret", "--offline")
FOLLOW_NOT = "is a symbolic link, which scangate does not follow in the scanned tree"


def scangate(tmp_path: Path, work: Path, *args: str | Path) -> tuple[int, str, str]:
    proc = run_scangate(
        list(args), cwd=work, env=clean_env(tmp_path / "env", {"MYSECRET": MARKER}), timeout=120
    )
    assert "Traceback" not in proc.stderr
    assert "internal error" not in proc.stderr
    assert MARKER not in proc.stdout + proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A checkout holding one real GitHub token (`github-pat`, CRITICAL) in c.txt."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "c.txt").write_text(f"token = {fake_token()}\n")
    return work


def credentials(tmp_path: Path) -> Path:
    """A readable file outside the tree, as ~/.git-credentials is."""
    path = tmp_path / "home-of-user" / ".git-credentials"
    path.parent.mkdir()
    path.write_text(f"https://ci:{MARKER}@github.com\n")
    return path


# --- A5: files found in the tree are never read through a link ---------------------------------


@pytest.mark.parametrize("name", [".trivyignore", ".trivyignore.yaml", ".scangate.yaml"])
@pytest.mark.parametrize("target", ["proc-absolute", "proc-relative", "credentials"])
def test_a_tree_file_linked_anywhere_is_refused_and_never_shown(
    tmp_path: Path, work: Path, name: str, target: str
) -> None:
    # Before: `scan fs` warned "allow entry matched nothing: <the environment>", `policy
    # check` printed the environment (or the credentials), `-f json` carried it.
    link = {
        "proc-absolute": "/proc/self/environ",
        "proc-relative": "../" * 40 + "proc/self/environ",  # from any checkout's depth
        "credentials": str(credentials(tmp_path)),
    }[target]
    (work / name).symlink_to(link)
    for args in ([*SCAN, "-f", "json"], ["policy", "check"], ["scan", "fs", str(work)]):
        code, out, err = scangate(tmp_path, work, *args)
        assert code == 2, err
        assert out == ""
        line = one_line(err)
        assert f"{name}: {FOLLOW_NOT}" in line
        option = "--ignorefile" if "trivyignore" in name else "--policy"
        assert line.endswith(f"commit the file itself, or name the file you mean with {option}")


def test_a_link_inside_the_tree_is_refused_too_and_the_flag_reads_it(
    tmp_path: Path, work: Path
) -> None:
    # Also a link that stays inside: which file it leads to is not visible in a review.
    (work / "config").mkdir()
    (work / "config" / "trivyignore").write_text("# a test fixture\ngithub-pat\n")
    (work / ".trivyignore").symlink_to("config/trivyignore")
    code, _, err = scangate(tmp_path, work, *SCAN)
    assert code == 2
    assert f".trivyignore: {FOLLOW_NOT}" in one_line(err)
    # Named by the user, a link is followed.
    (work / "named").symlink_to("config/trivyignore")
    code, out, err = scangate(tmp_path, work, *SCAN, "--ignorefile", "named")
    assert code == 0, err
    assert "github-pat (named:2): a test fixture" in out


@pytest.mark.parametrize("option", ["--ignorefile", "--policy"])
@pytest.mark.parametrize("special", ["proc", "dev-zero", "fifo", "directory"])
def test_a_named_file_must_be_a_regular_file(
    tmp_path: Path, work: Path, option: str, special: str
) -> None:
    # Before: --ignorefile /proc/self/environ printed the environment; /dev/zero and a FIFO
    # were "no such file", and `--policy` on them could hang or run out of memory.
    path = {"proc": "/proc/self/environ", "dev-zero": "/dev/zero"}.get(special, "special")
    if special == "fifo":
        os.mkfifo(work / path)
    elif special == "directory":
        (work / path).mkdir()
    expected = {
        "proc": "not a regular file (it reads longer than its size, like a /proc file, or "
        "it grew while read): name a regular file",
        "dev-zero": "is a character device, not a regular file: name a regular file",
        "fifo": "is a FIFO, not a regular file: name a regular file",
        "directory": "is a directory, not a regular file: name a regular file",
    }[special]
    for args in (["policy", "check", option, path], [*SCAN, option, path]):
        code, out, err = scangate(tmp_path, work, *args)
        assert code == 2
        assert out == ""
        assert one_line(err) == f"scangate: error: {path}: {expected}"


OUTSIDE_POLICY = "fail-on:\n  secret: none\n"


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "linked-directory", "linked-file"])
def test_a_tree_policy_cannot_extend_a_file_outside_the_tree(
    tmp_path: Path, work: Path, how: str
) -> None:
    # Before: the tree's .scangate.yaml extended a policy outside it, and the token passed.
    outside = tmp_path / "outside" / "lax.yaml"
    outside.parent.mkdir()
    outside.write_text(OUTSIDE_POLICY)
    (work / "policies").mkdir()
    (work / "policies" / "out").symlink_to(outside.parent)
    (work / "policies" / "lax.yaml").symlink_to(outside)
    extends = {
        "dot-dot": "../outside/lax.yaml",
        "absolute": str(outside),
        "linked-directory": "policies/out/lax.yaml",
        "linked-file": "policies/lax.yaml",
    }[how]
    (work / ".scangate.yaml").write_text(f"extends: {extends}\n")
    code, out, err = scangate(tmp_path, work, *SCAN)
    assert code == 2, out
    line = one_line(err)
    if how == "linked-file":
        assert line.startswith(f"scangate: error: policies/lax.yaml: {FOLLOW_NOT}")
    else:
        assert line.endswith(
            f".scangate.yaml: extends '{extends}', which leads outside {work} (through '..', an "
            "absolute path or a symbolic link): a policy found in the scanned tree may extend "
            "only a built-in policy or a file inside the tree; pass an outside policy with "
            "--policy"
        )


def test_a_tree_policy_may_extend_a_builtin_or_a_file_inside(tmp_path: Path, work: Path) -> None:
    (work / "policies").mkdir()
    (work / "policies" / "base.yaml").write_text("extends: ../shared.yaml\n")
    (work / "shared.yaml").write_text("extends: strict\nignore-unfixed: false\n")
    (work / ".scangate.yaml").write_text("extends: policies/base.yaml\n")
    code, out, err = scangate(tmp_path, work, "policy", "check")
    assert code == 0, err
    assert out.startswith(
        "# effective policy from: built-in policy 'default', built-in policy 'strict', "
        f"../shared.yaml, policies/base.yaml, {work / '.scangate.yaml'}\n"
    )
    # A policy the user names may extend what it likes: the user chose it.
    outside = tmp_path / "outside.yaml"
    outside.write_text(OUTSIDE_POLICY)
    (work / "mine.yaml").write_text(f"extends: {outside}\n")
    code, out, err = scangate(tmp_path, work, *SCAN, "--policy", "mine.yaml")
    assert code == 0, err


# --- A6: one line to git and Trivy is one line to scangate --------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "char"),
    [
        (".trivyignore", b"# legacy CVE note\xc2\x85github-pat\n", "U+0085"),
        (".trivyignore", b"# legacy CVE note\xe2\x80\xa8github-pat\n", "U+2028"),
        (".trivyignore", b"# legacy CVE note\xe2\x80\xa9github-pat\n", "U+2029"),
        (".trivyignore", b"# legacy CVE note\rgithub-pat\n", "U+000D"),
        (".trivyignore", b"# legacy CVE note\x0cgithub-pat\n", "U+000C"),
        (".trivyignore", b"# legacy CVE note\x0bgithub-pat\n", "U+000B"),
        (".trivyignore", b"# legacy CVE note\x1egithub-pat\n", "U+001E"),
        (".trivyignore", b"# ok\n# legacy CVE note\x1cgithub-pat\n", "U+001C"),
        (".trivyignore.yaml", b"# reviewed\xc2\x85secrets: [{id: github-pat}]\n", "U+0085"),
        (".trivyignore.yaml", b"# reviewed\xe2\x80\xa8secrets: [{id: github-pat}]\n", "U+2028"),
        (".scangate.yaml", b"# reviewed\xc2\x85fail-on: {secret: none}\n", "U+0085"),
        (".scangate.yaml", b"version: 1\n# x\xe2\x80\xa9fail-on: {secret: none}\n", "U+2029"),
        (".scangate.yaml", b"version: 1\x00\n", "U+0000"),
    ],
)
def test_a_line_break_git_and_trivy_do_not_see_is_refused(
    tmp_path: Path, work: Path, name: str, content: bytes, char: str
) -> None:
    # Before: PASS, "allowed: github-pat (.trivyignore:2)"; Trivy and `git diff` show one
    # comment line, and Trivy reports the token.
    (work / name).write_bytes(content)
    code, out, err = scangate(tmp_path, work, *SCAN)
    assert code == 2, out
    line = content.count(b"\n", 0, content.index(char_bytes(char))) + 1
    assert one_line(err) == (
        f"scangate: error: {name}:{line}: control character {char}, which some readers take "
        "for a line break and others do not: remove it (only tab and LF or CRLF line ends are "
        "allowed)"
    )


def char_bytes(char: str) -> bytes:
    return chr(int(char[2:], 16)).encode()


def test_crlf_line_ends_read_as_trivy_reads_them(tmp_path: Path, work: Path) -> None:
    # Go's bufio.Scanner drops the CR of CRLF: the entry is github-pat, with its comment.
    (work / ".trivyignore").write_bytes(b"# a test fixture\r\ngithub-pat exp:2099-01-01\r\n")
    code, out, err = scangate(tmp_path, work, *SCAN)
    assert code == 0, err
    assert "github-pat, expires 2099-01-01 (.trivyignore:2): a test fixture" in out


def test_an_entry_after_a_line_trivy_stops_at_is_refused(tmp_path: Path, work: Path) -> None:
    # Trivy stops reading .trivyignore at a line of 64 KiB or more, and reports the token.
    (work / ".trivyignore").write_text("# " + "x" * 70_000 + "\ngithub-pat\n")
    code, out, err = scangate(tmp_path, work, *SCAN)
    assert code == 2, out
    assert one_line(err) == (
        "scangate: error: .trivyignore:1: a line of 64 KiB or more, where Trivy stops "
        "reading the file: shorten it"
    )


# --- C1: size caps -------------------------------------------------------------------------------


def big(name: str) -> str:
    """A well-formed file of this kind a little over 2 MB."""
    n = 120_000
    if name == ".trivyignore":
        return "".join(f"CVE-2020-{i:07d}\n" for i in range(n))
    if name == ".trivyignore.yaml":
        return "secrets:\n" + "".join(f"  - id: rule-{i:06d}\n" for i in range(n))
    return "allow:\n" + "".join(f"  - {{id: CVE-{i:06d}, reason: r}}\n" for i in range(n))


@pytest.mark.parametrize("name", [".trivyignore", ".trivyignore.yaml", ".scangate.yaml"])
def test_an_oversized_tree_file_is_refused_at_once(tmp_path: Path, work: Path, name: str) -> None:
    # Before: a 2 MB .trivyignore.yaml took 7 s and 283 MB; 10 MB took 37 s and 1.3 GB.
    text = big(name)
    assert len(text) > 2_000_000
    (work / name).write_text(text)
    what = "a policy file" if name == ".scangate.yaml" else "an ignore file"
    start = time.monotonic()
    code, _, err = scangate(tmp_path, work, "policy", "check")
    assert time.monotonic() - start < 5
    assert code == 2
    assert one_line(err).endswith(
        f"{name}: larger than 1 MiB, scangate's limit for {what}: this is not {what}, "
        "or it must be split"
    )


def test_a_huge_named_file_is_refused_without_reading_it(tmp_path: Path, work: Path) -> None:
    # A sparse 512 MiB file: before, read whole (over 512 MB of memory) and then parsed.
    huge = work / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(512 * 1024 * 1024)
    for option in ("--policy", "--ignorefile"):
        probe = (
            "import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stderr.write(done.stderr)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", probe, str(SCANGATE), "policy", "check", option, "huge.yaml"],
            cwd=work,
            env=clean_env(tmp_path / "env"),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        code, max_rss_kib = map(int, proc.stdout.split())
        assert code == 2
        assert max_rss_kib < 200 * 1024  # the Python process itself, not the file
        kind = "a policy file" if option == "--policy" else "an ignore file"
        assert one_line(proc.stderr) == (
            f"scangate: error: huge.yaml: larger than 1 MiB, scangate's limit for {kind}: "
            f"this is not {kind}, or it must be split"
        )
