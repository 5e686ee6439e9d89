"""`scangate hook install|uninstall|pre-push|pre-commit`: the git hooks.

`pre-push` gates what a push introduces: every file version the commits the remote lacks add
or change (symlink targets as text), their messages, annotated tag messages, blobs and trees
a ref names, and the ref and file names; not the working tree. It reads git's ref lines on
stdin, or pre-commit's PRE_COMMIT_* variables (pre-commit gives hooks no stdin). `pre-commit`
gates the staged files for secrets. Both scan offline, so a push never waits on a download:
vulnerabilities are scanned only when a fresh vulnerability DB is already cached.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import tempfile
from collections.abc import Sequence
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
from scangate.formats.escape import plain
from scangate.gate import Decision, GateResult, evaluate
from scangate.hook import Remapped, Repo, ScanJob, combine, find_repo, remap, scan_jobs
from scangate.hook_files import Materialized, materialize, staged
from scangate.hook_install import hook_dirs, install_hooks, submodules, uninstall_hook
from scangate.hook_push import Push, head_push, parse_pre_push_stdin, push_from_pre_commit, pushed
from scangate.hook_text import Messages, remap_messages, write_messages
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
    """Write .git/hooks/pre-push (or core.hooksPath's), and the same in every initialized
    submodule: `git push` then runs `scangate hook pre-push` with this Python, and so does
    the push git runs in a submodule when it pushes submodules too. Run it again after adding
    a submodule."""
    repo = _repo()
    dirs = hook_dirs([repo, *submodules(repo, env=os.environ)])
    for change in install_hooks(dirs, sys.executable, force=force):
        if change.backup is not None:
            typer.echo(f"saved the previous hook as {change.backup}")
        typer.echo(f"installed {change.path}")


@hook_app.command("uninstall")
def hook_uninstall() -> None:
    """Remove the pre-push hooks `scangate hook install` wrote, here and in the submodules
    (and put back the ones it kept aside); a hook scangate did not write is left alone (exit 2
    for this repository's own)."""
    repo = _repo()
    change = uninstall_hook(repo.hooks)
    if change is None:
        typer.echo(f"no pre-push hook in {repo.hooks}: nothing to remove")
    else:
        _removed(change.path, change.backup)
    for hooks in hook_dirs(submodules(repo, env=os.environ)):
        if hooks == repo.hooks:
            continue
        try:
            sub = uninstall_hook(hooks)
        except UsageError as exc:
            warn(f"{exc}")  # a submodule's own hook: left alone
            continue
        if sub is not None:
            _removed(sub.path, sub.backup)


def _removed(path: Path, backup: Path | None) -> None:
    if backup is not None:
        typer.echo(f"removed scangate's hook; restored {path} from {backup}")
    else:
        typer.echo(f"removed {path}")


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
    variables; run by hand, HEAD's commits no remote-tracking ref reaches), with symlink
    targets, commit and tag messages and the ref and file names as text. Offline; the
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
    # Even when the remote has every pushed commit, the ref names are new: always scanned.
    sent = pushed(repo, push.updates, push.remote, env=os.environ)
    scan_args = _scan_args(ctx.params, None)
    with tempfile.TemporaryDirectory(prefix="scangate-push-") as tmp:
        (Path(tmp) / "files").mkdir()
        (Path(tmp) / "messages").mkdir()
        files = materialize(
            repo, sent.commits, Path(tmp) / "files", env=os.environ, objects=sent.objects
        )
        # Ref and file names reach the remote too (a token as a tag name is still a token).
        names = [u.remote_ref for u in push.updates if u.remote_ref and not u.deletes]
        names += list(dict.fromkeys(v.path for v in files.versions))
        messages = write_messages(
            repo, sent.commits, sent.tags, Path(tmp) / "messages", env=os.environ, names=names
        )
        if not gate.args.quiet:
            typer.echo(f"scangate: {_describe(sent.commits, files, messages)}", err=True)
        _gate_files(repo, files, scan_args, gate, messages)


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


def _describe(commits: Sequence[str], files: Materialized, messages: Messages) -> str:
    text = f"{len(commits)} pushed commit(s) add or change {len(files.versions)} file version(s)"
    links = sum(v.symlink for v in files.versions)
    if links:
        text += f" ({links} symlink target(s))"
    tags = sum(m.type == "tag" for m in messages.items)
    also = [f"{len(commits)} commit message(s)"] if commits else []
    also += [f"{tags} tag message(s)"] if tags else []
    also += ["the ref and file names"] if any(m.type == "names" for m in messages.items) else []
    return text + (f"; also scanning {', '.join(also)}" if also else "")


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


def _gate_files(
    repo: Repo,
    files: Materialized,
    scan_args: ScanArgs,
    gate: _Gate,
    messages: Messages | None = None,
) -> None:
    """Scan the files (`scan_jobs`: one Trivy run, or one per layer for secrets and one for
    the rest) and the messages (one secret run), gate the findings as one run of the
    repository, point each failing finding at the commit it came from, report and exit."""
    parts = []
    jobs = scan_jobs(files, scan_args.scanners or ())
    message_job = messages.job(scan_args.scanners or ()) if messages is not None else None
    if message_job is not None:
        jobs.append(message_job)
    for scanners, group in itertools.groupby(jobs, key=lambda job: job.scanners):
        batch = list(group)
        args = dataclasses.replace(scan_args, scanners=list(scanners))
        # The policy decides whether Trivy's path-based secret allow rules (tests/, *.md,
        # vendor/ ...) apply: by default they do not, as for `scan fs`.
        options = args.options(trivy_secret_allow_rules=gate.policy.trivy_secret_allow_rules)
        targets = [Target("fs", str(job.path), name=_label(repo, files, job)) for job in batch]
        outcomes = run_scans(targets, args, options, quiet=gate.args.quiet)
        for outcome, job in zip(outcomes, batch, strict=True):
            if job.messages and messages is not None:
                parts.append(remap_messages(outcome.run, messages))
            else:
                parts.append(remap(outcome.run, files, layer=job.layer))
    # Named by its absolute path: SARIF and annotations then place findings relative to it.
    combined = combine(parts, name=str(repo.root))
    result = evaluate([combined.run], gate.policy, gate.day, gate.baseline)
    if not gate.args.quiet and gate.args.fmt is OutputFormat.table:
        _origin_notes(result, combined, messages)
    report(result, gate.args, root=repo.root)


def _label(repo: Repo, files: Materialized, job: ScanJob) -> str:
    """What the progress lines call a job."""
    if job.messages:
        return f"{repo.name}: commit and tag messages, ref and file names"
    if job.layer is None:
        return f"{repo.name}: {len(files.versions)} file versions in {files.layers} sets"
    label = f"{repo.name}: {len(files.in_layer(job.layer))} file(s)"
    return label + (f" [{job.layer + 1}/{files.layers}]" if files.layers > 1 else "")


def _origin_notes(result: GateResult, remapped: Remapped, messages: Messages | None) -> None:
    """Where each failing finding came from: it may be in a commit only, not the work tree."""
    by_label = {m.label: m for m in messages.items} if messages is not None else {}
    notes: dict[str, None] = {}
    for decided in result.decided():
        if decided.decision is not Decision.FAIL:
            continue
        version = remapped.origins.get(decided.finding.fingerprint)
        message = by_label.get(decided.finding.target)
        if message is not None and message.type == "names":
            notes[f"{message.label}: a ref the push updates or a pushed path holds it"] = None
        elif message is not None:
            # Its lines are those of the raw object: headers, an empty line, the message.
            short = message.object[:12]
            label = plain(message.label)  # a tag's label holds its ref name
            notes[f"{label} (`git cat-file {message.type} {short}` shows it)"] = None
        elif version is not None and version.commit is not None:
            commit = version.commit[:12]
            shown = plain(version.path)  # a file name from the pushed tree: escaped
            what = " (a symlink: the file is its target)" if version.symlink else ""
            notes[f"{shown} as of pushed commit {commit}{what} (`git show {commit}:{shown}`)"] = (
                None
            )
    for n, note in enumerate(notes):
        if n == _MAX_NOTES:
            typer.echo(f"scangate: ... and {len(notes) - n} more", err=True)
            break
        typer.echo(f"scangate: {note}", err=True)
