"""Output files through the real CLI (`python -m scangate check` on a real Trivy report, so
each test runs in a fraction of a second): links followed, FIFOs, devices, /dev/stdout and
bash's `>(...)` written into, the outputs written as one set or not at all, two outputs on
one file refused, and every way a write can fail ending in one line and exit 2 or 3."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support import scanning
from tests.test_vex import openvex, statement

REPORT = Path(__file__).resolve().parent / "data" / "reports" / "current-fs-vuln.json"
IS_ROOT = os.geteuid() == 0


def scangate(
    *args: str | bytes | Path,
    cwd: Path,
    stdin: int | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "scangate", *args],
        cwd=cwd,
        stdin=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def one_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a refused run (never a traceback or an internal error)."""
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scangate: error: "), err
    return lines[0]


def verdict_json(text: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(text)
    assert result["schema"] == "scangate/result/v1"
    assert result["verdict"] == "fail"
    return result


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# --- where the bytes go: links, FIFOs, devices, descriptors ------------------------------------


@contextlib.contextmanager
def dev_stdout_guard() -> Iterator[None]:
    """Were the bug back, root's run would turn /dev/stdout into a regular file for the whole
    machine: put the link back whatever happens."""
    dev_stdout = Path("/dev/stdout")
    was_link = dev_stdout.is_symlink()
    try:
        yield
    finally:
        if was_link and IS_ROOT and not dev_stdout.is_symlink():
            dev_stdout.unlink()
            dev_stdout.symlink_to("/proc/self/fd/1")


def test_json_to_dev_stdout_reaches_stdout_and_leaves_the_device(tmp_path: Path) -> None:
    def kind() -> tuple[int, str | None]:
        dev_stdout = Path("/dev/stdout")
        mode = dev_stdout.lstat().st_mode
        return stat.S_IFMT(mode), str(dev_stdout.readlink()) if stat.S_ISLNK(mode) else None

    before = kind()
    with dev_stdout_guard():
        proc = scangate("check", REPORT, "-q", "--json", "/dev/stdout", cwd=tmp_path)
        after = kind()
    assert proc.returncode == 1, proc.stderr
    assert after == before
    out = proc.stdout.decode()
    # The JSON first (the outputs are written before anything is printed), then the verdict.
    document, end = json.JSONDecoder().raw_decode(out)
    verdict_json(json.dumps(document))
    assert out[end:].strip().startswith("FAIL: ")
    assert listing(tmp_path) == set()


def test_a_fifo_s_reader_gets_the_json(tmp_path: Path) -> None:
    fifo = tmp_path / "result.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = scangate("check", REPORT, "-q", "--json", fifo, cwd=tmp_path)
        reader.join(timeout=30)
    finally:
        if reader.is_alive():  # the FIFO was replaced: release the reader blocked in open()
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            reader.join(timeout=5)
    assert proc.returncode == 1, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received, "the reader got nothing"
    verdict_json(received[0].decode())
    assert listing(tmp_path) == {"result.fifo"}


def test_a_fifo_without_a_reader_yet_is_waited_for_and_said_so(tmp_path: Path) -> None:
    fifo = tmp_path / "result.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scangate", "check", str(REPORT), "-q", "--json", str(fifo)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    # Read only once scangate says it waits: the check did not open the FIFO.
    ready, _, _ = select.select([proc.stderr], [], [], 30)
    if not ready:
        proc.kill()
        proc.communicate()
        pytest.fail("scangate said nothing in 30 s: it hangs on the FIFO")
    line = proc.stderr.readline().decode()
    assert line == f"scangate: warning: --json {fifo}: waiting for a reader of this FIFO\n"
    with fifo.open("rb") as reader:
        verdict_json(reader.read().decode())
    proc.communicate(timeout=60)
    assert proc.returncode == 1


def test_bash_process_substitution_gets_the_json(tmp_path: Path) -> None:
    # `--json >(cat > piped.json)`: scangate sees /dev/fd/63, a pipe bash opened for it.
    script = '"$@" --json >(cat > piped.json); rc=$?; wait $!; exit $rc'
    proc = subprocess.run(
        ["bash", "-c", script, "bash", sys.executable, "-m", "scangate", "check", REPORT, "-q"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    verdict_json((tmp_path / "piped.json").read_text())


def test_a_symlinked_output_keeps_its_link_and_its_target_gets_the_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "scan.json"
    target.write_text("old\n")
    target.chmod(0o640)
    (tmp_path / "latest.json").symlink_to("results/scan.json")
    # A dangling link is followed too: its target is created.
    (tmp_path / "latest.sarif").symlink_to("results/scan.sarif")
    proc = scangate(
        "check", REPORT, "-q", "--json", "latest.json", "--sarif", "latest.sarif", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert (tmp_path / "latest.json").readlink() == Path("results/scan.json")
    assert (tmp_path / "latest.sarif").readlink() == Path("results/scan.sarif")
    verdict_json(target.read_text())
    assert json.loads((tmp_path / "results" / "scan.sarif").read_text())["version"] == "2.1.0"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file keeps its mode
    assert listing(tmp_path / "results") == {"scan.json", "scan.sarif"}


def test_a_non_utf8_output_name_is_written(tmp_path: Path) -> None:
    name = b"r\xff\xfe.json"
    proc = scangate("check", REPORT, "-q", "--json", name, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert [os.fsencode(p.name) for p in tmp_path.iterdir()] == [name]
    verdict_json((tmp_path / os.fsdecode(name)).read_text())
    # In a directory that does not exist: one line that names it, exit 2.
    proc = scangate("check", REPORT, "-q", "--json", b"d\xff/r.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert "directory d\\udcff does not exist" in one_error(proc)


# --- two outputs, one file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "outputs",
    [
        ["--json", "out", "--sarif", "out"],
        ["--json", "a", "--markdown", "./a"],
        ["--json", "link.json", "--markdown", "real.json"],
        ["--json", "sub/../real.json", "--sarif", "hard.json"],
    ],
    ids=["same-path", "same-file-spelled-twice", "symlink", "hard-link"],
)
def test_two_outputs_naming_one_file_are_refused_before_the_work(
    tmp_path: Path, outputs: list[str]
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "real.json").write_text("old\n")
    (tmp_path / "link.json").symlink_to("real.json")
    os.link(tmp_path / "real.json", tmp_path / "hard.json")
    proc = scangate("check", REPORT, *outputs, cwd=tmp_path)
    assert proc.returncode == 2
    assert "name the same file: give each output its own path" in one_error(proc)
    assert proc.stdout == b""
    assert listing(tmp_path) == {"sub", "real.json", "link.json", "hard.json"}
    assert (tmp_path / "real.json").read_text() == "old\n"


def test_raw_report_and_json_on_one_file_are_refused_before_trivy_runs(tmp_path: Path) -> None:
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "src").mkdir()
    proc = scangate(
        "scan", "fs", "src", "--trivy", fake.path, "--cache-dir", tmp_path / "cache",
        "--json", "result.json", "--raw-report", "./result.json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--json result.json and --raw-report result.json name the same file" in one_error(proc)
    assert fake.calls() == []
    assert not (tmp_path / "result.json").exists()


def _inputs(directory: Path) -> dict[str, bytes]:
    """A report, its links, a baseline of it, a policy, ignore files and a VEX file with its
    links, in `directory`."""
    shutil.copy(REPORT, directory / "r.json")
    (directory / "link.json").symlink_to("r.json")
    os.link(directory / "r.json", directory / "hard.json")
    done = scangate("baseline", "create", "--report", "r.json", "-o", "b.json", cwd=directory)
    assert done.returncode == 0, done.stderr
    (directory / "p.yaml").write_text("fail-on:\n  vulnerability: critical\n")
    (directory / "ig").write_text("CVE-2000-0001\n")
    (directory / ".trivyignore").write_text("CVE-2000-0002\n")
    vex = openvex(statement("CVE-2000-0003", "pkg:pypi/requests", "fixed"))
    (directory / "v.json").write_text(json.dumps(vex))
    (directory / "vlink.json").symlink_to("v.json")
    os.link(directory / "v.json", directory / "vhard.json")
    return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["r.json", "--json", "r.json"], "--json r.json names the report r.json"),
        (["./r.json", "--sarif", "r.json"], "--sarif r.json names the report r.json"),
        (["link.json", "--markdown", "r.json"], "--markdown r.json names the report link.json"),
        (["r.json", "--json", "hard.json"], "--json hard.json names the report r.json"),
        (["r.json", "--baseline", "b.json", "--json", "./b.json"], "names the baseline b.json"),
        (["r.json", "--policy", "p.yaml", "--sarif", "p.yaml"], "names the policy p.yaml"),
        (["r.json", "--ignorefile", "ig", "--json", "ig"], "names the ignore file ig"),
        (["r.json", "--markdown", ".trivyignore"], "names the ignore file"),
        (["r.json", "--vex", "v.json", "--json", "v.json"], "--json v.json names the VEX file"),
        (["r.json", "--vex", "v.json", "--sarif", "vlink.json"], "vlink.json names the VEX"),
        (["r.json", "--vex", "vlink.json", "--json", "v.json"], "the VEX file vlink.json"),
        (["r.json", "--vex", "v.json", "--markdown", "vhard.json"], "names the VEX file v.json"),
    ],
    ids=["report", "report-spelled-otherwise", "report-symlink", "report-hard-link",
         "baseline", "policy", "ignorefile", "found-ignore-file",
         "vex", "vex-symlink-output", "vex-given-as-symlink", "vex-hard-link"],
)  # fmt: skip
def test_an_output_naming_an_input_is_refused_before_the_work(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Regression: `check r.json --json r.json` replaced the report with the result (exit 1)."""
    before = _inputs(tmp_path)
    proc = scangate("check", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    error = one_error(proc)
    assert message in error
    assert error.endswith("which this run reads: write the output to another path")
    assert proc.stdout == b""
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_scan_with_its_baseline_as_an_output_is_refused_before_trivy_runs(tmp_path: Path) -> None:
    _inputs(tmp_path)
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "src").mkdir()
    proc = scangate(
        "scan", "fs", "src", "--trivy", fake.path, "--cache-dir", tmp_path / "cache",
        "--baseline", "b.json", "--sarif", "b.json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--sarif b.json names the baseline b.json, which this run reads" in one_error(proc)
    assert fake.calls() == []


@pytest.mark.parametrize("output", ["v.json", "vlink.json", "vhard.json"])
def test_scan_with_its_vex_file_as_an_output_is_refused_before_trivy_runs(
    tmp_path: Path, output: str
) -> None:
    """Regression: `--vex` files were not among the run's inputs, so `--json v.json --vex
    v.json` replaced the VEX document with the result."""
    before = _inputs(tmp_path)
    fake = scanning.fake_trivy(tmp_path / "bin")
    (tmp_path / "src").mkdir()
    proc = scangate(
        "scan", "fs", "src", "--trivy", fake.path, "--cache-dir", tmp_path / "cache",
        "--vex", "v.json", "--json", output, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"--json {output} names the VEX file v.json, which this run reads" in one_error(proc)
    assert fake.calls() == []
    assert (tmp_path / "v.json").read_bytes() == before["v.json"]


# --- all outputs or none ------------------------------------------------------------------------


@pytest.fixture
def full_dir(tmp_path: Path) -> Iterator[Path]:
    """A real file system with no space left: a 64 KiB tmpfs, filled up (needs root)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        with (mount / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_is_exit_3_naming_the_file(tmp_path: Path, full_dir: Path) -> None:
    proc = scangate("check", REPORT, "-q", "--json", full_dir / "result.json", cwd=tmp_path)
    assert proc.returncode == 3
    line = one_error(proc)
    assert f"cannot write {full_dir / 'result.json'}: No space left on device" in line
    assert proc.stdout == b""
    assert listing(full_dir) == {"filler"}


@pytest.mark.parametrize("existed", [False, True], ids=["new", "existing"])
def test_a_failed_second_write_leaves_neither_output(
    tmp_path: Path, full_dir: Path, existed: bool
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if existed:
        (work / "a.json").write_text("previous run\n")
    proc = scangate(
        "check", REPORT, "-q", "--json", "a.json", "--sarif", full_dir / "b.sarif", cwd=work
    )
    assert proc.returncode == 3
    assert "b.sarif: No space left on device" in one_error(proc)
    assert listing(full_dir) == {"filler"}
    assert listing(work) == ({"a.json"} if existed else set())
    if existed:
        assert (work / "a.json").read_text() == "previous run\n"


@pytest.fixture
def full_device(tmp_path: Path) -> Path:
    """A character device that refuses every write with ENOSPC: a private /dev/full node as
    root (a regressed run replaces only that node), else /dev/full itself."""
    if not IS_ROOT:
        return Path("/dev/full")
    node = tmp_path / "full-device"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        with node.open("wb") as probe:
            probe.write(b"x")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return node
        pytest.skip(f"cannot make a device node here: {exc}")
    pytest.skip("the device node does not behave as /dev/full")


@pytest.mark.parametrize("existed", [False, True], ids=["new", "existing"])
def test_a_file_already_renamed_is_rolled_back_when_a_later_write_fails(
    tmp_path: Path, full_device: Path, existed: bool
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if existed:
        (work / "a.json").write_text("previous run\n")
    proc = scangate("check", REPORT, "-q", "--json", "a.json", "--sarif", full_device, cwd=work)
    assert proc.returncode == 3
    assert f"cannot write {full_device}: No space left on device" in one_error(proc)
    assert stat.S_ISCHR(os.lstat(full_device).st_mode)
    # The regular file was renamed into place before the device write failed: it is gone
    # again (or holds what it held before the run), and no temp or backup file is left.
    assert listing(work) == ({"a.json"} if existed else set())
    if existed:
        assert (work / "a.json").read_text() == "previous run\n"


def run_paused_before_reading(
    tmp_path: Path, outputs: Sequence[str | Path]
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `check` on a report FIFO: it checks its outputs, then blocks opening the report.
    Once this returns, the checks are done and the writes are still to come."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scangate", "check", str(fifo), "-q", *map(str, outputs)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return proc, fifo


def test_an_output_that_turns_into_a_directory_is_exit_3_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    proc, fifo = run_paused_before_reading(tmp_path, ["--json", "a.json", "--sarif", "b.sarif"])
    with fifo.open("wb") as report:  # opens once scangate opens the report: checks are done
        (tmp_path / "b.sarif").mkdir()
        report.write(REPORT.read_bytes())
    out, err = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert done.returncode == 3
    assert "cannot write b.sarif: it is a directory" in one_error(done)
    assert out == b""
    assert listing(tmp_path) == {"report.fifo", "b.sarif"}
    assert listing(tmp_path / "b.sarif") == set()


# --- reading the report -------------------------------------------------------------------------


def test_check_dash_with_stdin_closed_is_one_line_and_exit_3(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", "-c", 'exec "$@" <&-', "bash", sys.executable, "-m", "scangate", "check", "-"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert "<stdin>: '-' reads the report from stdin, but stdin is closed" in one_error(proc)


def test_a_current_directory_removed_under_the_run_is_one_line_and_exit_3(
    tmp_path: Path,
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(
        ["bash", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "bash", gone,
         sys.executable, "-m", "scangate", "check", REPORT, "-q"],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 3
    assert "the current directory no longer exists" in one_error(proc)


def test_the_raw_report_is_one_of_the_set(
    tmp_path: Path, config_repo: Path, trivy_bin: Path, full_device: Path
) -> None:
    """--raw-report is written with the other outputs: when --json fails, it is not left."""
    work = tmp_path / "work"
    work.mkdir()
    proc = scangate(
        "scan", "fs", config_repo, "--trivy", trivy_bin, "--cache-dir", tmp_path / "cache",
        "--scanners", "misconfig,secret", "--offline", "-q",
        "--raw-report", "raw.json", "--json", full_device, cwd=work,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert f"cannot write {full_device}: No space left on device" in one_error(proc)
    assert listing(work) == set()


def test_a_baseline_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    # Unlike --json and the others: the baseline lives in the scanned tree, whose author may
    # have linked it to any file the user can write (issue 8 A4; tests/test_baseline.py).
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "main.json").write_text("{}\n")
    (tmp_path / ".scangate-baseline.json").symlink_to("baselines/main.json")
    proc = scangate("baseline", "create", "--report", REPORT, "--force", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "--output .scangate-baseline.json: is a symbolic link" in one_error(proc)
    assert (tmp_path / ".scangate-baseline.json").readlink() == Path("baselines/main.json")
    assert (tmp_path / "baselines" / "main.json").read_text() == "{}\n"
