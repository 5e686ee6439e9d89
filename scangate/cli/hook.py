"""`scangate hook install|uninstall|pre-push|pre-commit`: the git hooks.

`pre-push` gates what a push introduces: every file version the commits the remote lacks add
or change (symlink targets as text), their messages, annotated tag messages, blobs and trees
a ref names, and the ref and file names; not the working tree. It reads git's ref lines on
stdin, or pre-commit's PRE_COMMIT_* variables (pre-commit gives hooks no stdin). `pre-commit`
gates the staged files for secrets. Both scan offline, so a push never waits on a download:
vulnerabilities are scanned only when a fresh vulnerability DB is already cached.

Here: the options and the commands; `_hook_steps` holds the steps they run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scangate.cli import _console
from scangate.cli._app import hook_app
from scangate.cli._console import warning as warn
from scangate.cli._options import (
    GATE_OPTIONS,
    TRIVY_OPTIONS,
    option_group,
    with_options,
)
from scangate.cli.scan import (
    MaxDbAgeOpt,
    SkipDirsOpt,
    SkipFilesOpt,
    TimeoutOpt,
)
from scangate.errors import UsageError
from scangate.formats.escape import plain

if TYPE_CHECKING:
    from scangate.hook import Repo

# `_hook_steps.HOOK_POLICY`, for the help text: the steps are imported when a hook runs.
HOOK_POLICY = "pre-push"

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
    from scangate.hook import find_repo

    return find_repo(Path.cwd(), env=os.environ)


@hook_app.command("install")
def hook_install(
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a pre-push hook scangate did not write: it is kept aside and run "
            "after scangate's gate passes.",
        ),
    ] = False,
) -> None:
    """Write .git/hooks/pre-push (or core.hooksPath's), and the same in every initialized
    submodule: `git push` then runs `scangate hook pre-push` with this Python, and so does
    the push git runs in a submodule when it pushes submodules too. Run it again after adding
    a submodule. A hook set aside with --force (Git LFS's, say) still runs, after scangate's
    gate passes, with the same arguments and input."""
    from scangate.hook_install import hook_dirs, install_hooks, submodules

    repo = _repo()
    dirs = hook_dirs([repo, *submodules(repo, env=os.environ)])
    for change in install_hooks(dirs, sys.executable, force=force):
        if change.backup is not None:
            _console.human(f"saved the previous hook as {plain(str(change.backup))}")
        installed = f"installed {plain(str(change.path))}"
        if change.chained is not None:
            installed += (
                f"; it runs {plain(change.chained.name)} after scangate's gate passes, "
                "with the same arguments and input"
            )
        elif change.backup is not None:
            installed += f"; {plain(change.backup.name)} is not executable, so it is not run"
        _console.human(installed)


@hook_app.command("uninstall")
def hook_uninstall() -> None:
    """Remove the pre-push hooks `scangate hook install` wrote, here and in the submodules
    (and put back the ones it kept aside); a hook scangate did not write is left alone (exit 2
    for this repository's own)."""
    from scangate.hook_install import hook_dirs, submodules, uninstall_hook

    repo = _repo()
    change = uninstall_hook(repo.hooks)
    if change is None:
        _console.human(f"no pre-push hook in {plain(str(repo.hooks))}: nothing to remove")
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
        restored = f"restored {plain(str(path))} from {plain(str(backup))}"
        _console.human(f"removed scangate's hook; {restored}")
    else:
        _console.human(f"removed {plain(str(path))}")


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
    from scangate.cli._hook_steps import (
        describe_push,
        gate_files,
        hook_gate,
        hook_scan_args,
        nothing_to_scan,
        push_to_check,
    )
    from scangate.hook_files import materialize
    from scangate.hook_push import pushed
    from scangate.hook_text import write_messages

    repo = _repo()
    gate = hook_gate(ctx.params, repo)
    push = push_to_check(repo, remote)
    if not push.updates:
        return nothing_to_scan(
            "HEAD has no commit yet" if push.source == "HEAD" else "no ref to push"
        )
    if all(update.deletes for update in push.updates):
        return nothing_to_scan("the push only deletes remote refs")
    # Even when the remote has every pushed commit, the ref names are new: always scanned.
    sent = pushed(repo, push.updates, push.remote, env=os.environ)
    scan_args = hook_scan_args(ctx.params, None)
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
            _console.human(f"scangate: {describe_push(sent.commits, files, messages)}", err=True)
        gate_files(repo, files, scan_args, gate, messages)


@hook_app.command("pre-commit")
@with_options(HOOK_GATE_OPTIONS, TRIVY_OPTIONS, option_group(timeout=(TimeoutOpt, "600s")))
def hook_pre_commit(ctx: typer.Context, **options: Any) -> None:
    """Gate the staged files (what `git commit` would record) for secrets: fast, offline.
    Policy and baseline as for pre-push.

    Exit codes: 0 pass (or nothing staged), 1 the gate failed, 2 usage or policy error,
    3 git or the scan failed, 130 interrupted.
    """
    from scangate.cli._hook_steps import gate_files, hook_gate, hook_scan_args, nothing_to_scan
    from scangate.hook_files import staged

    repo = _repo()
    gate = hook_gate(ctx.params, repo)
    with tempfile.TemporaryDirectory(prefix="scangate-staged-") as tmp:
        files = staged(repo, Path(tmp), env=os.environ)
        if not files.versions:
            return nothing_to_scan("no staged file is added or changed")
        gate_files(repo, files, hook_scan_args(ctx.params, ["secret"]), gate)
