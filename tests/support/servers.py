"""Processes for integration tests: the real Trivy, a loopback registry, a Trivy server.

This module owns every process the test helpers start. Commands are argv lists with an
explicit environment and timeout; a failure raises `CommandError` carrying the argv, the
exit code and the stderr tail. Services listen on 127.0.0.1 only, on a free port, and are
stopped by the PID this module started, never by name.

* `registry(tmp)`: Debian's `docker-registry` (the CNCF distribution registry) with its
  own config file; yields "127.0.0.1:PORT". `push_archive` copies a docker archive into
  it with `skopeo`.
* `trivy_server(trivy, cache_dir)`: `trivy server --skip-db-update`; yields its URL.
* `run_trivy(trivy, args, output)`: one Trivy run writing JSON to `output`, parsed.

`.ci/setup-system.sh` installs `docker-registry` and `skopeo`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds a service gets to answer its readiness URL
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
_PORT_ATTEMPTS = 3  # a free port can be taken between probing and binding it
_TAIL_CHARS = 2000

# Variables that would reconfigure a tool behind the test's back (Trivy reads TRIVY_*,
# the registry overrides its config file with REGISTRY_*).
_DROPPED_ENV_PREFIXES = ("TRIVY_", "REGISTRY_")


class ServiceError(RuntimeError):
    """A service exited or did not become ready in time."""


class CommandError(RuntimeError):
    """A command failed: carries the argv, the exit code and the stderr tail."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr[-_TAIL_CHARS:]
        super().__init__(f"{' '.join(self.argv)} exited with {returncode}:\n{self.stderr_tail}")


def find_trivy() -> Path | None:
    """The Trivy binary: the running venv's (pinned) first, then PATH."""
    for scripts in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = scripts / "trivy"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("trivy")
    return Path(found) if found else None


def find_registry() -> Path | None:
    """Debian's `docker-registry` (/usr/bin/docker-registry), or `registry` on PATH."""
    found = shutil.which("docker-registry") or shutil.which("registry")
    return Path(found) if found else None


def find_skopeo() -> Path | None:
    found = shutil.which("skopeo")
    return Path(found) if found else None


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a tool: ours without TRIVY_*/REGISTRY_* overrides, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(extra or {})
    return env


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv`; raise `CommandError` unless it exits 0."""
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else tool_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raw = exc.stderr or b""
        stderr = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        raise CommandError(argv, -1, f"timed out after {timeout} s\n{stderr}") from exc
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr)
    return proc


def run_trivy(
    trivy: Path,
    args: Sequence[str],
    output: Path,
    *,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Run `trivy ARGS --format json --output OUTPUT` and return the parsed report.

    `--config ""` keeps a stray trivy.yaml in `cwd` out; version check and telemetry
    are off so nothing but loopback is contacted.
    """
    argv = [
        str(trivy),
        *args,
        "--config",
        "",
        "--skip-version-check",
        "--disable-telemetry",
        "--format",
        "json",
        "--output",
        str(output),
    ]
    run(argv, timeout=timeout, cwd=cwd or output.parent)
    report: dict[str, Any] = json.loads(output.read_text())
    return report


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _http_status(url: str) -> int | None:
    """GET `url` without any proxy; the status, or None if nothing answered."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1.0) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_TAIL_CHARS:]
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


class _PortTaken(ServiceError):
    pass


@contextlib.contextmanager
def loopback_service(
    argv: Sequence[str],
    ready_url: str,
    log: Path,
    *,
    timeout: float = READY_TIMEOUT,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv`, wait until GET `ready_url` answers 200, yield the process, stop it.

    Output goes to `log`. Raises `ServiceError` (with the log tail) if the process exits
    or does not answer within `timeout` seconds.
    """
    with log.open("ab") as log_file:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else tool_env(),
            cwd=cwd,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                tail = _tail(log)
                error = _PortTaken if "address already in use" in tail else ServiceError
                raise error(f"{argv[0]} exited with {proc.returncode} before ready:\n{tail}")
            if _http_status(ready_url) == 200:
                break
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{argv[0]} did not answer {ready_url} within {timeout} s:\n{_tail(log)}"
                )
            time.sleep(0.05)
        yield proc
    finally:
        _stop(proc)


@contextlib.contextmanager
def _on_free_port(
    start: Callable[[int], contextlib.AbstractContextManager[subprocess.Popen[bytes]]],
) -> Iterator[int]:
    """Enter `start(port)` on a free port, trying another port if it was taken meanwhile."""
    for attempt in range(_PORT_ATTEMPTS):
        port = free_port()
        try:
            with start(port):
                yield port
            return
        except _PortTaken:
            if attempt == _PORT_ATTEMPTS - 1:
                raise


_REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: scangate-tests-only
"""


@contextlib.contextmanager
def registry(
    tmp: Path, *, binary: Path | None = None, timeout: float = READY_TIMEOUT
) -> Iterator[str]:
    """Run a distribution registry on 127.0.0.1; yield "127.0.0.1:PORT".

    Storage, config and log live under `tmp`. Plain HTTP: clients need
    `--dest-tls-verify=false` (skopeo) or `--insecure` (Trivy).
    """
    executable = binary or find_registry()
    if executable is None:
        raise ServiceError("docker-registry is not installed; run .ci/setup-system.sh")
    tmp.mkdir(parents=True, exist_ok=True)
    storage = tmp / "registry-data"
    storage.mkdir(exist_ok=True)

    def start(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
        config = tmp / "registry-config.yml"
        # JSON strings are valid YAML scalars: safe quoting for any path.
        config.write_text(
            _REGISTRY_CONFIG.format(
                root=json.dumps(str(storage)), addr=json.dumps(f"{LOOPBACK}:{port}")
            )
        )
        return loopback_service(
            [str(executable), "serve", str(config)],
            f"http://{LOOPBACK}:{port}/v2/",
            tmp / "registry.log",
            timeout=timeout,
            cwd=tmp,
        )

    with _on_free_port(start) as port:
        yield f"{LOOPBACK}:{port}"


def push_archive(
    archive: Path, ref: str, *, skopeo: Path | None = None, timeout: float = 60.0
) -> None:
    """Copy a docker archive to `ref` ("127.0.0.1:PORT/app:1.0") over plain HTTP.

    Anonymous (`--dest-no-creds`) and with `--insecure-policy`, so no host signature
    policy or stored credential is read.
    """
    executable = skopeo or find_skopeo()
    if executable is None:
        raise ServiceError("skopeo is not installed; run .ci/setup-system.sh")
    if ":" in str(archive):
        # docker-archive:PATH[:REFERENCE] would read the rest of the path as a reference.
        raise ValueError(f"skopeo cannot address an archive path containing ':': {archive}")
    with tempfile.TemporaryDirectory(prefix="skopeo-") as tmpdir:
        run(
            [
                str(executable),
                "--insecure-policy",
                "--tmpdir",
                tmpdir,
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--dest-no-creds",
                f"docker-archive:{archive}",
                f"docker://{ref}",
            ],
            timeout=timeout,
        )


@contextlib.contextmanager
def trivy_server(
    trivy: Path,
    cache_dir: Path,
    *,
    timeout: float = READY_TIMEOUT,
    log: Path | None = None,
) -> Iterator[str]:
    """Run `trivy server` on 127.0.0.1 with the DB in `cache_dir`; yield its URL.

    While it runs, the server holds `cache_dir`'s cache lock: a standalone scan on the
    same cache dir fails ("cache may be in use by another process"). Clients
    (`--server URL`) store layers on the server and need no DB; they accept the DB flags
    and ignore them. `--skip-java-db-update` is not a server flag (Trivy rejects it).
    """
    log_path = log or cache_dir.parent / "trivy-server.log"

    def start(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
        return loopback_service(
            [
                str(trivy),
                "server",
                "--config",
                "",
                "--cache-dir",
                str(cache_dir),
                "--skip-db-update",
                "--listen",
                f"{LOOPBACK}:{port}",
            ],
            f"http://{LOOPBACK}:{port}/healthz",
            log_path,
            timeout=timeout,
            cwd=cache_dir,
        )

    with _on_free_port(start) as port:
        yield f"http://{LOOPBACK}:{port}"
