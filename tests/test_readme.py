"""The README documents the CLI as it is: every option and environment variable `--help`
shows, the exit codes, and the two opening commands CI relies on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from scangate.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = [
    ["scan", "fs"],
    ["scan", "image"],
    ["scan", "sbom"],
    ["scan", "rootfs"],
    ["check"],
    ["policy", "check"],
    ["policy", "export"],
    ["baseline", "create"],
    ["trivy", "install"],
    ["hook", "install"],
]


def help_text(command: list[str]) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_option_and_env_var_is_documented(command: list[str]) -> None:
    text = help_text(command)
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text)) - {"--help"}
    env_vars = set(re.findall(r"SCANGATE_[A-Z_]+", text))
    assert options, text
    missing = sorted(o for o in options if o not in README)
    assert not missing, f"`scangate {' '.join(command)}` options missing from README: {missing}"
    missing_env = sorted(v for v in env_vars if f"`{v}`" not in README)
    assert not missing_env, f"environment variables missing from README: {missing_env}"


def test_exit_codes_are_documented_in_readme_and_help() -> None:
    top = help_text([])
    for code in ("0", "1", "2", "3", "130"):
        assert f"| {code} |" in README
        assert code in top


def test_readme_opens_with_install_and_test_commands() -> None:
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(first_block) == 2
    assert "pip install" in first_block[0] and "scangate scan fs" in first_block[0]
    assert first_block[1] == "bash .ci/run"
    # .ci/run sets up the environment, then runs .ci/suite: lint, types, the whole suite,
    # and pytest's exit 5 (no test collected) as a failure.
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").endswith("exec bash .ci/suite\n")
    suite = (ROOT / ".ci" / "suite").read_text(encoding="utf-8")
    assert "python -m pytest -n 2" in suite and '"$rc" -eq 5' in suite


# Deliberately without one: a variable that overwrites files or hooks in every run is a trap.
NO_ENV_VAR = {"--help", "--version", "--force"}


def test_every_option_has_an_environment_variable() -> None:
    """So that the Action and CI configure scangate through `env:` alone."""
    missing = []
    stack: list[tuple[str, Any]] = [("scangate", typer.main.get_command(app))]
    while stack:
        name, command = stack.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:  # a group
            stack += [(f"{name} {sub}", cmd) for sub, cmd in subcommands.items()]
            continue
        for param in command.params:
            exempt = bool(set(param.opts) & NO_ENV_VAR)
            if param.param_type_name == "option" and not param.envvar and not exempt:
                missing.append(f"{name} {param.opts[0]}")
    assert stack == [] and missing == []
