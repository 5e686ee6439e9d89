"""scangate's built-in policies are read without the strict policy models (`policy_models`),
to save every gating run their build: these tests are the proof that this is safe. Each
built-in file is valid under the full models, is already in the normalized form validation
returns, and yields the same effective policy whichever way it is read.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import date
from enum import Enum
from pathlib import Path

import pytest

from scangate._yaml import load
from scangate.policy import BUILTIN_POLICIES, Policy, builtin_policy_dir, load_policy
from scangate.policy_models import validate

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_each_builtin_policy_is_valid_and_already_normalized(name: str) -> None:
    path = builtin_policy_dir() / f"{name}.yaml"
    raw = load(path.read_text(encoding="utf-8"), name)
    values = validate(raw, name)
    # Every key the file sets, with the value validation gives it, and of the same type (a
    # date is not a string); only `inline-ignores` becomes an `InlineIgnores` member, which
    # `policy._merge` makes of the string too.
    assert values == raw
    assert _types(values) == _types(raw)


def _types(value: object) -> object:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return str if isinstance(value, Enum) else type(value)


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_a_builtin_policy_read_as_a_user_file_is_the_same_policy(tmp_path: Path, name: str) -> None:
    # Copies of the built-in files, extending each other by path: every file in the chain is
    # then a user's file, validated with the full models.
    for builtin in BUILTIN_POLICIES:
        text = (builtin_policy_dir() / f"{builtin}.yaml").read_text(encoding="utf-8")
        text = text.replace("extends: default\n", "extends: default.yaml\n")
        (tmp_path / f"{builtin}.yaml").write_text(text, encoding="utf-8")
    fast = load_policy(name, base_dir=tmp_path, today=TODAY)
    full = load_policy(str(tmp_path / f"{name}.yaml"), base_dir=tmp_path, today=TODAY)
    assert len(full.sources) == len(fast.sources) == (1 if name == "default" else 2)
    assert _values(fast) == _values(full)


def _values(policy: Policy) -> dict[str, object]:
    """The policy's decisions, without the names of the files they came from."""
    values = dataclasses.asdict(policy)
    del values["name"], values["sources"]
    return values


# Runs scangate's policy loading, then prints whether the strict models were built.
PROBE = """
import sys
from datetime import date
from pathlib import Path
from scangate.policy import resolve_policy
policy = resolve_policy(sys.argv[1] or None, roots=[Path.cwd()], today=date(2026, 3, 10))
print(policy.name, "scangate.policy_models" in sys.modules)
"""


@pytest.mark.parametrize(
    ("spec", "project_file", "expected"),
    [
        ("", None, "built-in policy 'default' False"),
        ("strict", None, "built-in policy 'strict' False"),
        ("pre-push", None, "built-in policy 'pre-push' False"),
        ("", "extends: strict\n", ".scangate.yaml True"),
        ("mine.yaml", None, "mine.yaml True"),
    ],
)
def test_only_a_users_policy_file_is_validated_with_the_models(
    tmp_path: Path, spec: str, project_file: str | None, expected: str
) -> None:
    if project_file is not None:
        (tmp_path / ".scangate.yaml").write_text(project_file)
    (tmp_path / "mine.yaml").write_text("extends: default\nignore-unfixed: false\n")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, spec],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0].endswith(expected)
