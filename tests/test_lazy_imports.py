"""What each command imports: the command line is built cheaply, and a command imports what it
runs when it runs (issue 10: start-up near the dependency floor).

Each case runs the real CLI (`scangate.cli.run`) in a fresh interpreter and reads back the
modules it ended with: structure, not timing (bench/bench_startup.py times it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.scanning import minimal_report, secret_result

REPORTS = Path(__file__).parent / "data" / "reports"

# Runs the CLI, then writes the exit code and every imported module's name to argv[1].
PROBE = """
import json, sys
from scangate.cli import run
code = run(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""

# Building a pydantic model or validator imports these; `import pydantic` alone does not.
PYDANTIC_MODELS = ("pydantic.main", "pydantic.dataclasses", "pydantic.type_adapter")
# What gating needs: the policy (pydantic models), the gate, Trivy's report models.
GATING = (
    "scangate.policy",
    "scangate.policy_file",
    "scangate.gate",
    "scangate.trivy_models",
    "scangate.trivy_report",
    "scangate.trivy_findings",
    "scangate.cli._gate_step",
)
# What only some commands or outputs need.
SCANNING = (
    "scangate.trivy_run",
    "scangate.trivy_argv",
    "scangate.trivy_process",
    "scangate.trivy_install",
    "scangate.trivy_locate",
)
HOOKS = ("scangate.hook", "scangate.hook_files", "scangate.cli._hook_steps")
OUTPUTS = ("scangate.formats.sarif", "sarif_om", "scangate.formats.markdown", "tabulate")
BASELINE = ("scangate.baseline",)
NETWORK = ("requests", "platformdirs")


def imported(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.exists(), proc.stderr
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"])


def present(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of `names` imported, a package counting with any of its submodules."""
    return sorted(n for n in names for m in modules if m == n or m.startswith(n + "."))


COMMANDS = (*GATING, *SCANNING, *HOOKS, *OUTPUTS, *BASELINE, *NETWORK)


@pytest.mark.parametrize("argv", [["--version"], ["--help"]], ids=" ".join)
def test_version_and_help_build_no_model_and_import_no_command(
    tmp_path: Path, argv: list[str]
) -> None:
    code, modules = imported(tmp_path, *argv)
    assert code == 0
    assert "scangate.cli" in modules  # the probe ran the real CLI
    assert present(modules, (*PYDANTIC_MODELS, *COMMANDS)) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["hook", "--help"],
        ["check", "--help"],
        ["policy", "check", "--help"],
        ["scan", "fs", "--help"],
        ["scan", "image", "--help"],
        ["hook", "pre-push", "--help"],
        ["baseline", "create", "--help"],
        ["trivy", "install", "--help"],
    ],
    ids=" ".join,
)
def test_a_commands_help_imports_none_of_what_it_runs(tmp_path: Path, argv: list[str]) -> None:
    # Typer itself validates option values with pydantic TypeAdapters, so pydantic's model
    # machinery may load here: not scangate's models.
    code, modules = imported(tmp_path, *argv)
    assert code == 0
    assert present(modules, COMMANDS) == []


def test_check_json_imports_the_gate_and_nothing_it_does_not_run(tmp_path: Path) -> None:
    code, modules = imported(tmp_path, "check", str(REPORTS / "current-fs-vuln.json"), "-f", "json")
    assert code in (0, 1)
    assert present(modules, GATING) == sorted(GATING)
    unused = (*SCANNING, *HOOKS, *OUTPUTS, *BASELINE, *NETWORK, "scangate.formats.table")
    assert present(modules, unused) == []
    # The built-in default policy is read without the strict policy-file models (proven valid
    # by test_policy_builtin.py): they are built only for a policy file the user wrote.
    assert "scangate.policy_models" not in modules
    # No secret in the report: nothing to read back from the files (`secret_values`).
    assert "scangate.secret_values" not in modules


def test_check_table_imports_the_table_not_the_other_formats(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(minimal_report(results=[secret_result()])))
    code, modules = imported(tmp_path, "check", str(report))
    assert code == 1  # a CRITICAL secret fails the default policy
    assert "scangate.formats.table" in modules
    assert "scangate.secret_values" in modules  # a secret: its value is looked for
    assert present(modules, ("scangate.formats.jsonresult", *OUTPUTS[:3], *SCANNING)) == []


def test_constants_repeated_for_the_command_line_match_their_modules() -> None:
    # Help texts and defaults name these without importing the modules that own them.
    from scangate import baseline, trivy_install
    from scangate.cli import _hook_steps
    from scangate.cli import baseline as cli_baseline
    from scangate.cli import hook as cli_hook
    from scangate.cli import trivy as cli_trivy

    assert cli_baseline.DEFAULT_PATH == baseline.DEFAULT_PATH
    assert cli_hook.HOOK_POLICY == _hook_steps.HOOK_POLICY
    assert cli_trivy.DEFAULT_VERSION == trivy_install.DEFAULT_VERSION


@pytest.mark.parametrize(
    ("results", "argv", "expected"),
    [([secret_result()], ["--quiet"], 1), ([], [], 0)],
    ids=["quiet", "no findings"],
)
def test_a_table_without_rows_imports_no_table_layout_library(
    tmp_path: Path, results: list[dict[str, object]], argv: list[str], expected: int
) -> None:
    # Only the verdict is printed: tabulate (and wcwidth, which it imports) lay out rows.
    report = tmp_path / "report.json"
    report.write_text(json.dumps(minimal_report(results=results)))
    code, modules = imported(tmp_path, "check", str(report), *argv)
    assert code == expected
    assert "scangate.formats.table" in modules
    assert present(modules, ("tabulate", "wcwidth")) == []
