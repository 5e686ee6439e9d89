"""The gate step the commands share: its arguments (`GateArgs`), the policy look-up, and the
report (`report`: decide, print, write the outputs that `_outputs` checks and writes)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Self

import typer

from scangate.cli import _console
from scangate.cli._options import ColorMode, OutputFormat
from scangate.cli._outputs import (
    Output,
    check_distinct,
    check_not_inputs,
    check_writable,
    write_outputs,
)
from scangate.cli._outputs import (
    write_atomic as write_atomic,  # for the commands that write one file
)
from scangate.errors import ExitCode, UsageError
from scangate.formats import Format, StartOver
from scangate.formats.escape import json_text
from scangate.gate import GateResult, Verdict
from scangate.policy import (
    PROJECT_POLICY_FILE,
    Policy,
    check_allow_rules,
    find_ignore_files,
    is_builtin_name,
    load_ignore_file,
    resolve_policy,
)

if TYPE_CHECKING:
    from scangate import baseline as baseline_file
    from scangate.findings import ScanRun
    from scangate.formats.sarif.locations import DockerfileRef
    from scangate.formats.sarif.writer import SarifFormat
    from scangate.formats.table import TableFormat


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
    color: ColorMode = ColorMode.auto
    baseline: Path | None = None
    sarif: Path | None = None
    sarif_category: str | None = None
    sarif_include_allowed: bool = False
    sarif_only_failing: bool = False
    sarif_max_results: int = 25_000
    dockerfile: Path | None = None
    markdown: Path | None = None
    github_summary: bool = False
    plan: bool = False  # --plan: the table gets a "Fix plan" section
    pr_comment: str = "off"  # a `_options.PrCommentMode` value
    pr_comment_author: str | None = None
    # The feeds (`_feeds_step`); `cache_dir` and `offline` come from the command's own options.
    kev_url: str | None = None
    epss_url: str | None = None
    kev_file: Path | None = None
    epss_file: Path | None = None
    max_feed_age: int = 7
    cache_dir: Path | None = None
    offline: bool = False
    # --vex (`_vex_step` reads them): here only as files the run reads, never to write over.
    vex: list[Path] | None = None
    # Not an option: set when `baseline` is the default file the hook found by itself in
    # the repository at this root, rather than a file the user named.
    baseline_root: Path | None = None

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

    def apply_feeds(
        self, runs: Sequence[ScanRun], policy: Policy, *, offline: bool | None = None
    ) -> None:
        """After the findings are read, before the gate decides: the KEV and EPSS feeds the
        policy uses, put on the findings (`_feeds_step`); `offline` overrides --offline."""
        from scangate.cli._feeds_step import apply_feeds

        apply_feeds(runs, policy, self, offline=offline)

    def outputs(self) -> list[tuple[str, Path]]:
        """The output files asked for, each with its option."""
        named = (("--json", self.json_path), ("--sarif", self.sarif), ("--markdown", self.markdown))
        return [(option, path) for option, path in named if path is not None]

    def check_outputs(
        self, *others: tuple[str, Path], root: Path | None = None, reports: Sequence[str] = ()
    ) -> None:
        """Refuse what would fail only at the end, before minutes of scanning; `others` are
        the command's own output files (--raw-report), which must not clash with these, nor
        with a file the run reads (`reports`, the baseline, the VEX files, and the policy and
        ignore files under `root`)."""
        outputs = [*self.outputs(), *others]
        for _, path in outputs:
            check_writable(path)
        check_distinct(outputs)
        inputs = [("the report", Path(name)) for name in reports if name != "-"]
        check_not_inputs(outputs, [*inputs, *self.inputs(root or Path.cwd())])
        if self.dockerfile is not None and not self.dockerfile.is_file():
            raise UsageError(f"--dockerfile {self.dockerfile}: no such file")

    def load_baseline(self) -> baseline_file.Baseline | None:
        """The --baseline file; one the hook found by itself (`baseline_root` set: the
        repository it was found in) is read without following a symbolic link."""
        if not self.baseline:
            return None
        from scangate import baseline as baseline_file

        return baseline_file.load(self.baseline, root=self.baseline_root)

    def inputs(self, root: Path) -> list[tuple[str, Path]]:
        """The files the gate reads (where they may be): the baseline, the VEX files, the
        policy file (or the project's .scangate.yaml) and the ignore files."""
        files = [("the baseline", self.baseline)] if self.baseline else []
        files += [("the VEX file", path) for path in self.vex or ()]
        if self.policy and not is_builtin_name(self.policy):
            files.append(("the policy", Path(self.policy).expanduser()))
        elif not self.policy:
            files += [("the policy", d / PROJECT_POLICY_FILE) for d in (root, Path.cwd())]
        ignores = self.ignorefile if self.ignorefile else find_ignore_files(root)
        return files + [("the ignore file", path) for path in ignores]


def policy_for(spec: str | None, root: Path, ignorefiles: list[Path] | None, today: date) -> Policy:
    roots = [root] if root.resolve() == Path.cwd().resolve() else [root, Path.cwd()]
    policy = resolve_policy(spec, roots=roots, today=today)
    if ignorefiles:
        for path in ignorefiles:
            if not path.exists():
                raise UsageError(f"--ignorefile {path}: no such file")
            policy = policy.with_allow(load_ignore_file(path), str(path))
    else:
        # Found in the scanned tree: never read through a symbolic link (`safe_read`).
        for path in find_ignore_files(root):
            policy = policy.with_allow(load_ignore_file(path, root=root), str(path))
    # Ignore-file entries obey the same allow-rules as the policy's own entries.
    check_allow_rules(policy, today)
    return policy


def _dockerfile(args: GateArgs, root: Path, source_root: Path) -> DockerfileRef | None:
    from scangate.formats.sarif.locations import DockerfileRef

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


def table_format(args: GateArgs) -> TableFormat:
    """The table for stdout: fitted to the terminal and coloured as `_console` decides."""
    from scangate.formats.table import TableFormat

    return TableFormat(
        show_all=args.show_all,
        plan=args.plan,
        width=_console.table_width(),
        color=_console.use_color(args.color),
        ellipsis=_console.ellipsis(),
    )


class _Formats:
    """Builds each format when it is first asked for: each format's module (SARIF's sarif-om
    and attrs, Markdown, the table) is imported only by runs that write it, since every
    scan, and every push through the hook, pays for what it imports."""

    def __init__(self, args: GateArgs, root: Path) -> None:
        self.args = args
        self.root = root
        self._built: dict[OutputFormat, Format] = {}
        self._sarif: SarifFormat | None = None

    def __getitem__(self, fmt: OutputFormat) -> Format:
        if fmt not in self._built:
            self._built[fmt] = self._build(fmt)
        return self._built[fmt]

    def _build(self, fmt: OutputFormat) -> Format:
        if fmt is OutputFormat.table:
            return table_format(self.args)
        if fmt is OutputFormat.json:
            from scangate.formats.jsonresult import JsonFormat

            return JsonFormat()
        if fmt is OutputFormat.markdown:
            from scangate.formats.markdown import MarkdownFormat

            return MarkdownFormat()
        return self.sarif()

    def sarif(self) -> SarifFormat:
        """The SARIF format, made once: its `notes` are read after it renders."""
        if self._sarif is None:
            from scangate.formats.sarif.writer import SarifFormat, SarifOptions

            source_root = Path.cwd()
            self._sarif = SarifFormat(
                SarifOptions(
                    category=self.args.sarif_category,
                    include_allowed=self.args.sarif_include_allowed,
                    only_failing=self.args.sarif_only_failing,
                    max_results=self.args.sarif_max_results,
                    source_root=source_root,
                    dockerfile=_dockerfile(self.args, self.root, source_root),
                )
            )
        return self._sarif

    @property
    def notes(self) -> list[str]:
        """What GitHub's limits left out of the SARIF log, once it is rendered (the log
        replaces its `notes` list at each rendering: read it then, not before)."""
        return list(self._sarif.notes) if self._sarif is not None else []


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
    """Render every output first (a SARIF file is rendered as it is written to its temp
    file), then write files (with `extra`, the command's own: --raw-report) as one set, then
    print, then exit with the verdict: an error anywhere leaves no output file of this run
    behind."""
    formats = _Formats(args, root or Path.cwd())
    wanted = [(option, path, _FILE_FORMATS[option]) for option, path in args.outputs()]
    rendered: dict[OutputFormat, str | Iterator[bytes | StartOver]] = {}
    for _, _, fmt in wanted:
        if fmt is OutputFormat.sarif and args.fmt is not OutputFormat.sarif:
            # Streamed into its temp file as it is made: a log of 100,000 results is
            # hundreds of MB that no other output needs.
            rendered[fmt] = formats.sarif().stream(result)
        else:
            rendered[fmt] = formats[fmt].render(result)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY") if args.github_summary else None
    markdown = rendered.get(OutputFormat.markdown)
    summary_text = ""
    if summary_file:
        summary_text = (
            markdown if isinstance(markdown, str) else formats[OutputFormat.markdown].render(result)
        )
    if args.quiet and args.fmt is OutputFormat.table:
        text = "\n".join(table_format(args).verdict(result)) + "\n"
    else:
        same = rendered.get(args.fmt)
        text = same if isinstance(same, str) else formats[args.fmt].render(result)
    write_outputs([*(Output(option, path, rendered[fmt]) for option, path, fmt in wanted), *extra])
    if summary_file:
        try:
            with Path(summary_file).open("a", encoding="utf-8") as summary:
                summary.write(summary_text)
        except OSError as exc:
            # The step summary is a courtesy: the verdict and the output files stand.
            _console.warning(f"cannot append to GITHUB_STEP_SUMMARY {summary_file}: {exc.strerror}")
    _console.warnings(formats.notes)
    human = args.fmt in (OutputFormat.table, OutputFormat.markdown)
    if _console.in_github_actions():
        from scangate.formats.annotations import github_annotations

        # scangate's own workflow commands, outside the guarded blocks; on stderr when
        # stdout carries JSON or SARIF for a pipe.
        _console.commands(github_annotations(result, source_root=Path.cwd()), err=not human)
    if human:
        _console.human(text)
    elif args.fmt is OutputFormat.json:
        _console.machine(text)  # the JSON format escapes its text itself (`json_text`)
    else:
        _console.machine(json_text(text))
    if args.pr_comment != "off":
        from scangate.cli._pr_comment_step import comment_on_pull_request

        comment_on_pull_request(result, args)  # never raises, never changes the exit code
    raise typer.Exit(int(ExitCode.PASS if result.verdict is Verdict.PASS else ExitCode.GATE_FAILED))
