"""Helpers for the `scangate scan` tests: the console script, a DB cache, a repo, fake Trivys.

This module owns

* `run_scangate`: the installed `scangate` console script in a subprocess, with an explicit
  environment from `clean_env` (no TRIVY_* / SCANGATE_* from the developer's shell, HOME
  and XDG_CACHE_HOME in the test's tmp dir, and a dead HTTP(S) proxy so that nothing but
  127.0.0.1 is ever reached: Go and requests never proxy loopback);
* `write_db`: `trivydb.default_db` with a `metadata.json` dated relative to now, because
  scangate's `--max-db-age` applies to every cached DB;
* `write_fixture_repo`: lock files, a Dockerfile without USER, a Kubernetes Deployment and a
  fake GitHub token built at run time (this repository holds no token-shaped literal);
* `FakeTrivy`: a small Python script that answers `version --format json`, logs every scan
  call (argv, TRIVY_* environment, working directory, pid) and then misbehaves as told.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support import trivydb

VENV_BIN = Path(sys.executable).parent
SCANGATE = VENV_BIN / "scangate"
DEAD_PROXY = "http://127.0.0.1:1"
TRIVY_VERSION = "0.76.0"
FEED_FILE_VARS = ("SCANGATE_KEV_FILE", "SCANGATE_EPSS_FILE")


def clean_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment built from nothing: PATH with the venv's bin; HOME, the XDG cache and
    TMPDIR (`tmp/tmp`) under `tmp`; no TRIVY_* or SCANGATE_* variable unless `extra` sets one,
    but the feed files the test has (`conftest.hermetic`): no run reaches CISA or FIRST."""
    (tmp / "home").mkdir(parents=True, exist_ok=True)
    (tmp / "tmp").mkdir(exist_ok=True)
    env = {
        "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(tmp / "home"),
        "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp / "tmp"),  # scangate's temp dirs land here: tests check it is empty
        # --diff-base writes the base into a memory directory (`diff_tmp`): here, the same.
        "XDG_RUNTIME_DIR": str(tmp / "tmp"),
        # Every non-loopback connection goes to a port nobody listens on: a DB download
        # fails at once, as on an offline machine, even where CI has network access.
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.update({k: os.environ[k] for k in FEED_FILE_VARS if k in os.environ})
    env.update(extra or {})
    return env


def run_scangate(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """`scangate ARGS` through the real console script; never raises on a non-zero exit."""
    return subprocess.run(
        [str(SCANGATE), *map(str, args)],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _rfc3339(moment: datetime) -> str:
    # Go writes nanoseconds; scangate must read them.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def write_db(
    cache_dir: Path, *, age: timedelta = timedelta(0), next_update_passed: bool = False
) -> Path:
    """The default DB in `cache_dir/db`, downloaded `age` ago; return `cache_dir`.

    NextUpdate is a day ahead (Trivy does not try to update) unless `next_update_passed`:
    then Trivy tries, unless the DB was downloaded within the last hour.
    """
    trivydb.default_db(cache_dir)
    now = datetime.now(UTC)
    next_update = now - timedelta(days=1) if next_update_passed else now + timedelta(days=1)
    metadata = {
        "Version": trivydb.DB_SCHEMA_VERSION,
        "NextUpdate": _rfc3339(next_update),
        "UpdatedAt": _rfc3339(now - age),
        "DownloadedAt": _rfc3339(now - age),
    }
    (cache_dir / "db" / "metadata.json").write_text(json.dumps(metadata))
    return cache_dir


def logging_trivy(tmp: Path, env: dict[str, str]) -> Path:
    """Points `env`'s SCANGATE_TRIVY at a wrapper that appends each call's arguments (one
    line) to `tmp/trivy.log`, then runs the real Trivy with them; the wrapper's path."""
    wrapper = tmp / "bin" / "trivy"
    wrapper.parent.mkdir(exist_ok=True)
    log = tmp / "trivy.log"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{VENV_BIN / "trivy"}" "$@"\n'
    )
    wrapper.chmod(0o755)
    env["SCANGATE_TRIVY"] = str(wrapper)
    return wrapper


def trivy_calls(tmp: Path, command: str) -> list[str]:
    """The calls `logging_trivy` logged so far of one Trivy command (`fs`, `image`)."""
    log = tmp / "trivy.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith(f"{command} ")]


def fake_token() -> str:
    """Matches Trivy's `github-pat` rule (`ghp_` + 36 alphanumerics); built from pieces."""
    return "ghp" + "_" + "A1b2" * 9


DOCKERFILE = """\
FROM alpine:3.19
RUN apk add --no-cache curl
CMD ["sh"]
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.25
          securityContext:
            privileged: true
"""


def write_fixture_repo(directory: Path) -> Path:
    """requirements.txt, Cargo.lock and package-lock.json (`trivydb.EXPECTED_FS_FINDINGS`),
    a Dockerfile without USER, a privileged Deployment and one fake token in app/settings.py."""
    trivydb.write_vulnerable_project(directory)
    (directory / "Dockerfile").write_text(DOCKERFILE)
    (directory / "deploy").mkdir(exist_ok=True)
    (directory / "deploy" / "deployment.yaml").write_text(DEPLOYMENT)
    (directory / "app").mkdir(exist_ok=True)
    (directory / "app" / "settings.py").write_text(
        f'"""Settings."""\n\nGITHUB_TOKEN = "{fake_token()}"\n'
    )
    return directory


# Vulnerabilities of `write_fixture_repo`, by ID: (package, severity).
FS_VULNERABILITIES: Mapping[str, tuple[str, str]] = {
    f.vulnerability_id: (f.pkg_name, f.severity)
    for found in trivydb.EXPECTED_FS_FINDINGS.values()
    for f in found
}
# What Trivy 0.76.0's embedded checks report for DOCKERFILE (no USER, no HEALTHCHECK) and
# for DEPLOYMENT (a privileged container with no limits or security settings).
DOCKERFILE_CHECKS = frozenset({"DS-0002", "DS-0026"})
K8S_CHECKS = frozenset(
    f"KSV-{n:04d}" for n in (1, 3, 4, 11, 12, 14, 15, 16, 17, 18, 20, 21, 30, 104, 106, 110, 118)
)


def minimal_report(
    artifact: str = ".", results: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The smallest report scangate accepts (SchemaVersion 2)."""
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2026-01-01T00:00:00Z",
        "ArtifactName": artifact,
        "ArtifactType": "filesystem",
        "Results": results or [],
    }


def secret_result(target: str = "app/settings.py") -> dict[str, Any]:
    """One Result holding one CRITICAL secret finding, as Trivy writes it (masked)."""
    return {
        "Target": target,
        "Class": "secret",
        "Secrets": [
            {
                "RuleID": "github-pat",
                "Category": "GitHub",
                "Severity": "CRITICAL",
                "Title": "GitHub Personal Access Token",
                "StartLine": 3,
                "EndLine": 3,
                "Match": 'GITHUB_TOKEN = "****"',
            }
        ],
    }


_FAKE_TRIVY = r"""#!{python} -IS
# A fake trivy written by tests/support/scanning.py: behaviour {steps_repr}
import json, os, signal, subprocess, sys, time

VERSION = {version!r}
STEPS = json.loads({steps!r})
LOG = {log!r}

argv = sys.argv[1:]
if argv[:1] == ["version"]:
    print(json.dumps({{"Version": VERSION}}))
    sys.exit(0)

try:
    with open(LOG, encoding="utf-8") as handle:
        call = sum(1 for _ in handle)
except FileNotFoundError:
    call = 0
entry = {{
    "argv": argv,
    "env": {{k: v for k, v in os.environ.items() if k.startswith(("TRIVY_", "SCANGATE_"))}},
    "cwd": os.getcwd(),
    "cwd_entries": sorted(os.listdir(".")),
    "pid": os.getpid(),
}}
step = STEPS[min(call, len(STEPS) - 1)]
if step.get("grandchild"):
    entry["grandchild"] = subprocess.Popen(["sleep", "60"]).pid
with open(LOG, "a", encoding="utf-8") as handle:
    handle.write(json.dumps(entry) + "\n")

output = argv[argv.index("--output") + 1] if "--output" in argv else None
if step.get("stderr"):
    sys.stderr.write(step["stderr"])
    sys.stderr.flush()
if step.get("sleep"):
    time.sleep(step["sleep"])
if step.get("sigkill"):
    os.kill(os.getpid(), signal.SIGKILL)
if output is not None and "write" in step:
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(step["write"])
sys.exit(step.get("exit", 0))
"""


@dataclass
class FakeTrivy:
    """A fake `trivy` executable at `path`; `calls()` are its scan invocations, in order.

    Each step is a dict: `write` (text for the --output file), `stderr`, `exit`, `sleep`
    (seconds), `grandchild` (start `sleep 60` first), `sigkill`. Scan call n uses step n
    (the last step repeats).
    """

    path: Path
    log: Path
    steps: list[dict[str, Any]] = field(default_factory=list)

    def calls(self) -> list[dict[str, Any]]:
        try:
            text = self.log.read_text()
        except FileNotFoundError:
            return []
        # A line is complete once its newline is written: skip one being written right now.
        return [json.loads(line) for line in text.split("\n")[:-1]]

    def argv(self, call: int = -1) -> list[str]:
        argv: list[str] = self.calls()[call]["argv"]
        return argv


def fake_trivy(
    directory: Path,
    *steps: Mapping[str, Any],
    version: str = TRIVY_VERSION,
    name: str = "trivy",
) -> FakeTrivy:
    """Write an executable fake trivy into `directory`. No steps: a clean empty report."""
    directory.mkdir(parents=True, exist_ok=True)
    chosen = [dict(s) for s in steps] or [report_step()]
    path = directory / name
    log = directory / f"{name}.calls.jsonl"
    encoded = json.dumps(chosen)
    path.write_text(
        _FAKE_TRIVY.format(
            python=sys.executable,
            version=version,
            steps=encoded,
            steps_repr=", ".join(sorted({k for s in chosen for k in s})) or "report",
            log=str(log),
        )
    )
    path.chmod(0o755)
    return FakeTrivy(path=path, log=log, steps=chosen)


def report_step(report: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A step that writes `report` (default: `minimal_report()`) and exits 0."""
    return {"write": json.dumps(report if report is not None else minimal_report()), **extra}


def is_running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def wait_gone(pids: Sequence[int], timeout: float = 5.0) -> list[int]:
    """The pids still running after waiting up to `timeout` seconds for them to end."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if is_running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def findings_by_decision(result: Mapping[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """`--json` result findings as {decision: {(kind, id), ...}}."""
    out: dict[str, set[tuple[str, str]]] = {}
    for finding in result["findings"]:
        out.setdefault(finding["decision"], set()).add((finding["kind"], finding["id"]))
    return out


def raw_report_classes(report: Mapping[str, Any]) -> set[str]:
    """The result classes (`lang-pkgs`, `config`, `secret`, `os-pkgs`) with findings."""
    classes = set()
    for result in report.get("Results") or []:
        if (
            result.get("Vulnerabilities")
            or result.get("Misconfigurations")
            or result.get("Secrets")
        ):
            classes.add(str(result.get("Class")))
    return classes
