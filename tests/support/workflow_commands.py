"""What the GitHub Actions runner would do with a step's output, line by line.

A model of actions/runner `ActionCommandManager.TryProcessCommand` and
`ActionCommand.TryParseV2` / `TryParse` (src/Runner.Worker/ActionCommandManager.cs,
src/Runner.Common/ActionCommand.cs), enough to see which lines act as workflow commands:

* `::name props::data` after trimming leading white space (.NET `TrimStart`, like Python's
  `lstrip`), and the legacy `##[name props]data` anywhere in a line;
* `::stop-commands::<token>` stops every command until a line whose command is `<token>`
  (in either syntax); a stopped runner acts on nothing else.

The runner reads lines split at CR and LF; stdout and stderr are both read for commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The runner's registered commands (plus stop-commands); set-env/add-path only act with
# ACTIONS_ALLOW_UNSECURE_COMMANDS, but they are still parsed as commands.
REGISTERED = frozenset(
    {
        "add-mask",
        "add-matcher",
        "add-path",
        "debug",
        "echo",
        "endgroup",
        "error",
        "group",
        "notice",
        "remove-matcher",
        "save-state",
        "set-env",
        "set-output",
        "stop-commands",
        "warning",
        "internal-set-repo-path",
    }
)


@dataclass(frozen=True)
class Command:
    name: str
    data: str
    line: str


def _parse_v2(line: str, registered: set[str]) -> Command | None:
    text = line.lstrip()
    if not text.startswith("::"):
        return None
    end = text.find("::", 2)
    if end < 0:
        return None
    info = text[2:end]
    name = info.split(" ", 1)[0]
    if name.lower() not in registered:
        return None
    return Command(name.lower(), text[end + 2 :], line)


def _parse_legacy(line: str, registered: set[str]) -> Command | None:
    start = line.find("##[")
    if start < 0:
        return None
    close = line.find("]", start)
    if close < 0:
        return None
    name = line[start + 3 : close].split(" ", 1)[0]
    if name.lower() not in registered:
        return None
    return Command(name.lower(), line[close + 1 :], line)


def split_lines(output: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", output)


def commands(output: str) -> list[Command]:
    """The commands the runner acts on, in order, for `output` (one stream, or several
    already in the order the runner would read them). Stop and resume lines are included."""
    registered = {c.lower() for c in REGISTERED}
    token: str | None = None
    acted: list[Command] = []
    for line in split_lines(output):
        command = _parse_v2(line, registered) or _parse_legacy(line, registered)
        if command is None:
            continue
        if token is not None:
            if command.name == token:
                registered.discard(token)
                token = None
                acted.append(command)
            continue
        if command.name == "stop-commands":
            token = command.data.lower()
            registered.add(token)
        acted.append(command)
    return acted


def starts_as_command(line: str) -> bool:
    """A line that, after the runner's trim, starts like a workflow command."""
    return line.lstrip().startswith("::")
