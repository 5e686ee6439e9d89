"""The steps the hook commands (`cli.hook`) run: the hooks' defaults (policy `pre-push`, the
repository's baseline, offline scanners, vulnerabilities only with a fresh cached DB), which
push to check, the scan of the materialized files and messages, the gate, and where each
failing finding came from."""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from scangate import baseline as baseline_file
from scangate.cli import _console
from scangate.cli._console import warning as warn
from scangate.cli._gate_step import GateArgs, report
from scangate.cli._options import (
    OutputFormat,
)
from scangate.cli._trivy_binary import cache_dir
from scangate.cli.scan import (
    ScanArgs,
    run_scans,
)
from scangate.errors import UsageError
from scangate.formats._common import plural
from scangate.formats.escape import plain
from scangate.gate import Decision, GateResult, evaluate
from scangate.hook import Remapped, Repo, ScanJob, combine, remap, scan_jobs
from scangate.hook_files import Materialized
from scangate.hook_push import Push, head_push, parse_pre_push_stdin, push_from_pre_commit
from scangate.hook_text import Messages, fold_into, remap_messages, split_messages
from scangate.policy import PROJECT_POLICY_FILE, Policy
from scangate.trivy_run import Target, cached_db, parse_scanners

HOOK_POLICY = "pre-push"
HOOK_SCANNERS = ("misconfig", "secret")
_MAX_NOTES = 20


def nothing_to_scan(reason: str) -> None:
    _console.human(f"scangate: nothing to scan: {plain(reason)}", err=True)


def describe_push(commits: Sequence[str], files: Materialized, messages: Messages) -> str:
    pushed = plural(len(commits), "pushed commit")
    verb = "adds or changes" if len(commits) == 1 else "add or change"
    text = f"{pushed} {verb} {plural(len(files.versions), 'file version')}"
    links = sum(v.symlink for v in files.versions)
    if links:
        text += f" ({plural(links, 'symlink target')})"
    if files.lfs_files:
        text += f" ({plural(len(files.lfs_files), 'Git LFS file')} scanned as their content)"
    tags = sum(m.type == "tag" for m in messages.items)
    also = [plural(len(commits), "commit message")] if commits else []
    also += [plural(tags, "tag message")] if tags else []
    also += ["the ref and file names"] if any(m.type == "names" for m in messages.items) else []
    return text + (f"; also scanning {', '.join(also)}" if also else "")


@dataclasses.dataclass(frozen=True)
class Gate:
    args: GateArgs
    day: date
    policy: Policy
    baseline: baseline_file.Baseline | None


def hook_gate(params: dict[str, Any], repo: Repo) -> Gate:
    """The gate options with the hooks' defaults (policy `pre-push` unless the repository has
    a .scangate.yaml; its .scangate-baseline.json when there is one), the day, the policy and
    the baseline: all checked before git or Trivy run."""
    args = GateArgs.from_params(params)
    if args.policy is None and not (repo.root / PROJECT_POLICY_FILE).is_file():
        args = dataclasses.replace(args, policy=HOOK_POLICY)
    default_baseline = repo.root / baseline_file.DEFAULT_PATH
    if args.baseline is None and (default_baseline.is_file() or default_baseline.is_symlink()):
        # Found, not named: read without following a link (`GateArgs.load_baseline`).
        args = dataclasses.replace(args, baseline=default_baseline, baseline_root=repo.root)
    day = args.day()
    gate = Gate(args, day, args.load_policy(repo.root, day), args.load_baseline())
    args.check_outputs(root=repo.root)
    return gate


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except ValueError:  # closed
        return True


def push_to_check(repo: Repo, remote: str | None) -> Push:
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


def hook_scan_args(params: dict[str, Any], forced: list[str] | None) -> ScanArgs:
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


def gate_files(
    repo: Repo,
    files: Materialized,
    scan_args: ScanArgs,
    gate: Gate,
    messages: Messages | None = None,
) -> None:
    """Scan the files (`scan_jobs`: one Trivy run, or one per layer for secrets and one for
    the rest; no misconfiguration run when no file is one Trivy reads for it) and the
    messages (in the first layer's secret-only run when there is one, else a run of their
    own), gate the findings as one run of the repository, point each failing finding at the
    commit it came from, report and exit."""
    # Git LFS objects not scanned (not here, too large): said before the verdict.
    _console.warnings(list(files.notes))
    parts = []
    jobs = scan_jobs(files, scan_args.scanners or ())
    if messages is not None:
        message_job = messages.job(scan_args.scanners or ())
        # The messages share the files' secret run when nothing depends on their paths.
        if message_job is not None and _messages_may_move(scan_args, gate):
            jobs, messages = fold_into(messages, jobs, files)
        elif message_job is not None:
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
            run = outcome.run
            if job.messages and messages is not None and job.layer is not None:
                run, texts = split_messages(run, messages, job)
                parts.append(remap_messages(texts, messages))
            elif job.messages and messages is not None:
                parts.append(remap_messages(run, messages))
                continue
            parts.append(remap(run, files, layer=job.layer))
    # Named by its absolute path: SARIF and annotations then place findings relative to it.
    combined = combine(parts, name=str(repo.root))
    # A push never waits on a download: the feeds come from the cache or the named files.
    gate.args.apply_feeds([combined.run], gate.policy, offline=True)
    result = evaluate([combined.run], gate.policy, gate.day, gate.baseline)
    if not gate.args.quiet and gate.args.fmt is OutputFormat.table:
        _origin_notes(result, combined, messages, files)
    report(result, gate.args, root=repo.root)


def _messages_may_move(scan_args: ScanArgs, gate: Gate) -> bool:
    """Whether the messages may be scanned under another path (`hook_text.fold_into`):
    not when a skip glob or Trivy's path-based secret allow rules could treat them apart."""
    return not (scan_args.skip_dirs or scan_args.skip_files or gate.policy.trivy_secret_allow_rules)


def _label(repo: Repo, files: Materialized, job: ScanJob) -> str:
    """What the progress lines call a job."""
    texts = "commit and tag messages, ref and file names"
    if job.messages and job.layer is None:
        return f"{repo.name}: {texts}"
    if job.layer is None:
        return f"{repo.name}: {len(files.versions)} file versions in {files.layers} sets"
    label = f"{repo.name}: {plural(len(files.in_layer(job.layer)), 'file')}"
    label += f" [{job.layer + 1}/{files.layers}]" if files.layers > 1 else ""
    return label + (f", {texts}" if job.messages else "")


def _origin_notes(
    result: GateResult, remapped: Remapped, messages: Messages | None, files: Materialized
) -> None:
    """Where each failing finding came from: it may be in a commit only, not the work tree."""
    by_label = {m.label: m for m in messages.items} if messages is not None else {}
    notes: dict[str, None] = {}
    for decided in result.decided():
        if decided.decision is not Decision.FAIL:
            continue
        version = remapped.origins.get(decided.finding.fingerprint)
        message = by_label.get(decided.finding.target)
        if message is not None and message.type == "names":
            notes[f"{plain(message.label)}: a ref the push updates or a pushed path holds it"] = (
                None
            )
        elif message is not None:
            # Its lines are those of the raw object: headers, an empty line, the message.
            short = message.object[:12]
            label = plain(message.label)  # a tag's label holds its ref name
            notes[f"{label} (`git cat-file {message.type} {short}` shows it)"] = None
        elif version is not None and version.commit is not None:
            commit = version.commit[:12]
            shown = plain(version.path)  # a file name from the pushed tree: escaped
            what = " (a symlink: the file is its target)" if version.symlink else ""
            if files.is_lfs(version):  # `git show` shows the pointer
                what = " (a Git LFS file: `git lfs smudge` of the pointer shows its content)"
            notes[f"{shown} as of pushed commit {commit}{what} (`git show {commit}:{shown}`)"] = (
                None
            )
    # Each note is escaped where it is built; one guarded block under GitHub Actions.
    lines = [f"scangate: {note}" for note in itertools.islice(notes, _MAX_NOTES)]
    if len(notes) > _MAX_NOTES:
        lines.append(f"scangate: ... and {len(notes) - _MAX_NOTES} more")
    _console.human("\n".join(lines), err=True)
