"""`scangate hook install|uninstall|pre-push|pre-commit`: the git hooks.

`pre-push` gates what a push introduces: every file version the commits the remote lacks add
or change, not the working tree. It reads git's ref lines on stdin, or pre-commit's
PRE_COMMIT_* variables (pre-commit gives hooks no stdin). `pre-commit` gates the staged files
for secrets. Both scan offline, so a push never waits on a download: vulnerabilities are
scanned only when a fresh vulnerability DB is already cached.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from scangate import baseline as baseline_file
from scangate.cli._app import hook_app
from scangate.cli._common import (
    GATE_OPTIONS,
    TRIVY_OPTIONS,
    GateArgs,
    OutputFormat,
    cache_dir,
    option_group,
    report,
    warn,
    with_options,
)
from scangate.cli.scan import (
    MaxDbAgeOpt,
    ScanArgs,
    SkipDirsOpt,
    SkipFilesOpt,
    TimeoutOpt,
    run_scans,
)
from scangate.errors import UsageError
from scangate.gate import Decision, GateResult, evaluate
from scangate.hook import (
    Materialized,
    Push,
    Remapped,
    Repo,
    ScanJob,
    combine,
    find_repo,
    head_push,
    install_hook,
    materialize,
    parse_pre_push_stdin,
    push_from_pre_commit,
    pushed_commits,
    remap,
    scan_jobs,
    staged,
    uninstall_hook,
)
from scangate.policy import PROJECT_POLICY_FILE, Policy
from scangate.trivy_run import Target, cached_db, parse_scanners

HOOK_POLICY = "pre-push"
HOOK_SCANNERS = ("misconfig", "secret")
_MAX_NOTES = 20

RemoteArg = Annotated[
    str | None,
    typer.Argument(
        metavar="REMOTE",
        help="The remote's name (git passes it): what its remote-tracking refs reach is not "
        "scanned. Default: PRE_COMMIT_REMOTE_NAME; by hand, every remote.",
    ),
]
UrlArg = Annotated[
    str | None, typer.Argument(metavar="URL", help="The remote's URL (git passes it; unused).")
]
HookPolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        "-p",
        envvar="SCANGATE_POLICY",
        metavar="NAME|PATH",
        help="Built-in policy name or a policy file. Default: .scangate.yaml at the "
        f"repository root, else '{HOOK_POLICY}'.",
    ),
]
HookScannersOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scanners",
        envvar="SCANGATE_SCANNERS",
        metavar="LIST",
        help="Comma-separated: vuln, misconfig, secret, license. Default: misconfig,secret, "
        "plus vuln when a vulnerability DB younger than --max-db-age is cached (hooks never "
        "download one).",
    ),
]


# The shared options, with the hooks' own defaults for the policy and the scanners.
HOOK_GATE_OPTIONS = (
    *(p for p in GATE_OPTIONS if p.name != "policy"),
    *option_group(policy=(HookPolicyOpt, None)),
)
HOOK_RUN_OPTIONS = option_group(
    scanners=(HookScannersOpt, None),
    skip_dirs=(SkipDirsOpt, None),
    skip_files=(SkipFilesOpt, None),
    timeout=(TimeoutOpt, "600s"),
    max_db_age=(MaxDbAgeOpt, 7),
)


def _repo() -> Repo:
    return find_repo(Path.cwd(), env=os.environ)


@hook_app.command("install")
def hook_install(
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace a pre-push hook scangate did not write (it is kept aside)."
        ),
    ] = False,
) -> None:
    """Write .git/hooks/pre-push (or core.hooksPath's): `git push` then runs
    `scangate hook pre-push` with this Python."""
    change = install_hook(_repo().hooks, sys.executable, force=force)
    if change.backup is not None:
        typer.echo(f"saved the previous hook as {change.backup}")
    typer.echo(f"installed {change.path}")


@hook_app.command("uninstall")
def hook_uninstall() -> None:
    """Remove the pre-push hook `scangate hook install` wrote (and put back the one it kept
    aside); a hook scangate did not write is left alone (exit 2)."""
    hooks = _repo().hooks
    change = uninstall_hook(hooks)
    if change is None:
        typer.echo(f"no pre-push hook in {hooks}: nothing to remove")
    elif change.backup is not None:
        typer.echo(f"removed scangate's hook; restored {change.path} from {change.backup}")
    else:
        typer.echo(f"removed {change.path}")


@hook_app.command("pre-push")
@with_options(HOOK_GATE_OPTIONS, TRIVY_OPTIONS, HOOK_RUN_OPTIONS)
def hook_pre_push(
    ctx: typer.Context,
    remote: RemoteArg = None,
    url: UrlArg = None,
    **options: Any,
) -> None:
    """Gate what a push introduces: every file version added or changed by the commits the
    remote does not have yet (git's ref lines on stdin, or pre-commit's PRE_COMMIT_*
    variables; run by hand, HEAD's commits no remote-tracking ref reaches). Offline; the
    policy is .scangate.yaml at the repository root, else 'pre-push', and the baseline
    .scangate-baseline.json there when it exists.

    Exit codes: 0 pass (or nothing to scan), 1 the gate failed, 2 usage or policy error,
    3 git or the scan failed, 130 interrupted.
    """
    repo = _repo()
    gate = _gate(ctx.params, repo)
    push = _push(repo, remote)
    if not push.updates:
        return _nothing("HEAD has no commit yet" if push.source == "HEAD" else "no ref to push")
    if all(update.deletes for update in push.updates):
        return _nothing("the push only deletes remote refs")
    commits = pushed_commits(repo, push.updates, push.remote, env=os.environ)
    if not commits:
        return _nothing("the remote already has every pushed commit")
    with tempfile.TemporaryDirectory(prefix="scangate-push-") as tmp:
        files = materialize(repo, commits, Path(tmp), env=os.environ)
        if not files.versions:
            return _nothing(f"the {len(commits)} pushed commit(s) add or change no file")
        if not gate.args.quiet:
            typer.echo(
                f"scangate: {len(commits)} pushed commit(s) add or change "
                f"{len(files.versions)} file version(s)",
                err=True,
            )
        _gate_files(repo, files, _scan_args(ctx.params, None), gate)


@hook_app.command("pre-commit")
@with_options(HOOK_GATE_OPTIONS, TRIVY_OPTIONS, option_group(timeout=(TimeoutOpt, "600s")))
def hook_pre_commit(ctx: typer.Context, **options: Any) -> None:
    """Gate the staged files (what `git commit` would record) for secrets: fast, offline.
    Policy and baseline as for pre-push.

    Exit codes: 0 pass (or nothing staged), 1 the gate failed, 2 usage or policy error,
    3 git or the scan failed, 130 interrupted.
    """
    repo = _repo()
    gate = _gate(ctx.params, repo)
    with tempfile.TemporaryDirectory(prefix="scangate-staged-") as tmp:
        files = staged(repo, Path(tmp), env=os.environ)
        if not files.versions:
            return _nothing("no staged file is added or changed")
        _gate_files(repo, files, _scan_args(ctx.params, ["secret"]), gate)


# --- the steps -----------------------------------------------------------------------------


def _nothing(reason: str) -> None:
    typer.echo(f"scangate: nothing to scan: {reason}", err=True)


@dataclasses.dataclass(frozen=True)
class _Gate:
    args: GateArgs
    day: date
    policy: Policy
    baseline: baseline_file.Baseline | None


def _gate(params: dict[str, Any], repo: Repo) -> _Gate:
    """The gate options with the hooks' defaults (policy `pre-push` unless the repository has
    a .scangate.yaml; its .scangate-baseline.json when there is one), the day, the policy and
    the baseline: all checked before git or Trivy run."""
    args = GateArgs.from_params(params)
    if args.policy is None and not (repo.root / PROJECT_POLICY_FILE).is_file():
        args = dataclasses.replace(args, policy=HOOK_POLICY)
    default_baseline = repo.root / baseline_file.DEFAULT_PATH
    if args.baseline is None and default_baseline.is_file():
        args = dataclasses.replace(args, baseline=default_baseline)
    day = args.day()
    gate = _Gate(args, day, args.load_policy(repo.root, day), args.load_baseline())
    args.check_outputs()
    return gate


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except ValueError:  # closed
        return True


def _push(repo: Repo, remote: str | None) -> Push:
    """What to check: git's ref lines, else pre-commit's variables, else HEAD.

    git runs a pre-push hook with the remote's name and URL and the ref lines on stdin; with
    a remote but an empty stdin there is nothing to check. By hand (a terminal on stdin, or no
    remote) and under `pre-commit try-repo` / `pre-commit run` (no PRE_COMMIT_* refs), HEAD
    counts as pushed.
    """
    stdin_is_tty = _stdin_is_tty()
    text = "" if stdin_is_tty else sys.stdin.read()
    updates = parse_pre_push_stdin(text)
    if updates:
        return Push(tuple(updates), remote, "stdin")
    from_pre_commit = push_from_pre_commit(os.environ)
    if from_pre_commit is not None:
        return from_pre_commit
    if remote is not None and not stdin_is_tty:
        return Push((), remote, "stdin")
    return head_push(repo, remote, env=os.environ)


def _scan_args(params: dict[str, Any], forced: list[str] | None) -> ScanArgs:
    """ScanArgs for a hook: offline always; the default scanners depend on the cached DB."""
    args = ScanArgs.from_params(params)
    cache = cache_dir(args.cache_dir)
    if forced is not None:
        scanners = forced
    elif args.scanners:
        scanners = list(parse_scanners(args.scanners))
        if "vuln" in scanners and cached_db(cache) is None:
            raise UsageError(
                f"--scanners vuln: hooks never download the vulnerability DB and there is none "
                f"in {cache / 'db'}: run `scangate scan fs` once to fetch it"
            )
    else:
        scanners = [*_vuln_if_fresh(cache, args.max_db_age), *HOOK_SCANNERS]
    return dataclasses.replace(args, scanners=scanners, offline=True)


def _vuln_if_fresh(cache: Path, max_days: int) -> list[str]:
    db = cached_db(cache)
    if db is None:
        return []
    now = datetime.now(UTC)
    if db.too_old(now, timedelta(days=max_days)):
        warn(
            f"the cached vulnerability DB in {db.path} is {db.describe_age(now)} "
            f"(--max-db-age {max_days}): not scanning for vulnerabilities; "
            "`scangate scan fs` updates it"
        )
        return []
    return ["vuln"]


def _gate_files(repo: Repo, files: Materialized, scan_args: ScanArgs, gate: _Gate) -> None:
    """Scan the files (`scan_jobs`: one Trivy run, or one per layer for secrets and one for
    the rest), gate the findings as one run of the repository, point each failing finding at
    the commit it came from, report and exit."""
    parts = []
    jobs = scan_jobs(files, scan_args.scanners or ())
    for scanners, group in itertools.groupby(jobs, key=lambda job: job.scanners):
        batch = list(group)
        args = dataclasses.replace(scan_args, scanners=list(scanners))
        targets = [Target("fs", str(job.path), name=_label(repo, files, job)) for job in batch]
        outcomes = run_scans(targets, args, args.options(), quiet=gate.args.quiet)
        parts += [
            remap(o.run, files, layer=job.layer) for o, job in zip(outcomes, batch, strict=True)
        ]
    # Named by its absolute path: SARIF and annotations then place findings relative to it.
    combined = combine(parts, name=str(repo.root))
    result = evaluate([combined.run], gate.policy, gate.day, gate.baseline)
    if not gate.args.quiet and gate.args.fmt is OutputFormat.table:
        _origin_notes(result, combined)
    report(result, gate.args, root=repo.root)


def _label(repo: Repo, files: Materialized, job: ScanJob) -> str:
    """What the progress lines call a job."""
    if job.layer is None:
        return f"{repo.name}: {len(files.versions)} file versions in {files.layers} sets"
    label = f"{repo.name}: {len(files.in_layer(job.layer))} file(s)"
    return label + (f" [{job.layer + 1}/{files.layers}]" if files.layers > 1 else "")


def _origin_notes(result: GateResult, remapped: Remapped) -> None:
    """Where each failing finding came from: it may be in a commit only, not the work tree."""
    notes: dict[tuple[str, str], None] = {}
    for decided in result.decided():
        if decided.decision is not Decision.FAIL:
            continue
        version = remapped.origins.get(decided.finding.fingerprint)
        if version is not None and version.commit is not None:
            notes[(version.path, version.commit)] = None
    for n, (path, commit) in enumerate(notes):
        if n == _MAX_NOTES:
            typer.echo(f"scangate: ... and {len(notes) - n} more", err=True)
            break
        typer.echo(
            f"scangate: {path} as of pushed commit {commit[:12]} (`git show {commit[:12]}:{path}`)",
            err=True,
        )
