"""Commit and tag messages and the names a push carries, written as text for the secret scanner.

A push sends every commit object it introduces and every annotated tag object it names:
message, author, committer and any other header reach the remote as surely as a file does,
and so do the names of the refs and files. `write_messages` writes each object's text
(`git cat-file <type> <object>`) to a numbered file, and the names to one more, for one
secret-only Trivy run; `remap_messages` reports the findings at the object, `commit
1a2b3c4d5e6f message` or `tag v1.0 message` (line numbers count lines of `git cat-file
commit|tag <object>`), or at `NAMES`, never at the text itself.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scangate import secret_values
from scangate.errors import ScannerError
from scangate.findings import Finding, ScanRun, assign_fingerprints
from scangate.hook import SECRET, Remapped, Repo, ScanJob, run_git

if TYPE_CHECKING:
    from scangate.hook_files import Materialized

NAMES = "names of the pushed refs and files"
_MAX_NESTING = 32  # tags of tags: git allows any depth; a push rarely holds more than one


@dataclass(frozen=True)
class Message:
    """One commit or tag object, written as `file` under `Messages.root`."""

    label: str  # what findings are reported at
    object: str
    type: str  # "commit" | "tag" | "names"
    file: str


@dataclass(frozen=True)
class Messages:
    root: Path
    items: tuple[Message, ...] = ()

    def job(self, scanners: Sequence[str]) -> ScanJob | None:
        """The Trivy run for the messages: secrets only (no other scanner reads prose)."""
        if not self.items or SECRET not in scanners:
            return None
        return ScanJob(self.root, None, (SECRET,), messages=True)


def fold_into(
    messages: Messages, jobs: Sequence[ScanJob], materialized: Materialized
) -> tuple[list[ScanJob], Messages]:
    """The jobs, and the messages' secret run folded into the first layer's when they can
    share one Trivy run (a start saved): the messages directory moves into that layer's
    directory, under a name no pushed path of the layer has, and the run's findings there
    are the messages' (`split_messages`). The files of the layer keep their paths, so their
    findings are unchanged.

    Only into a secret-only run of layer 0, and only when no job scans the root of every
    layer (that run would read the messages with its other scanners too); otherwise the
    jobs, with the messages' own job appended when they need one. The caller folds only
    when nothing path-dependent applies to the messages (no skip globs, no Trivy allow
    rules), since their paths change."""
    out = list(jobs)
    own = messages.job((SECRET,))  # the caller runs the secret scanner
    first = next((n for n, j in enumerate(out) if j.layer == 0), None)
    if own is None or first is None or any(j.layer is None for j in out):
        return out + ([own] if own is not None else []), messages
    if out[first].scanners != (SECRET,):
        return [*out, own], messages
    name = f"scangate-messages-{secrets.token_hex(8)}"
    taken = {path.partition("/")[0].casefold() for path in materialized.in_layer(0)}
    if name.casefold() in taken:  # a pushed path holds it: keep the runs apart
        return [*out, own], messages
    root = out[first].path / name
    messages.root.rename(root)
    out[first] = replace(out[first], messages=True)
    return out, replace(messages, root=root)


def split_messages(run: ScanRun, messages: Messages, job: ScanJob) -> tuple[ScanRun, ScanRun]:
    """A folded run's findings: (the layer's files', the messages' with their paths relative
    to the messages directory)."""
    prefix = f"{messages.root.relative_to(job.path).as_posix()}/"
    files: list[Finding] = []
    texts: list[Finding] = []
    for finding in run.findings:
        if not finding.target.startswith(prefix):
            files.append(finding)
            continue
        location = finding.location
        if location is not None and location.path.startswith(prefix):
            location = replace(location, path=location.path.removeprefix(prefix))
        texts.append(
            replace(finding, target=finding.target.removeprefix(prefix), location=location)
        )
    return ScanRun(run.artifact, files), ScanRun(run.artifact, texts)


def write_messages(
    repo: Repo,
    commits: Sequence[str],
    tags: Sequence[tuple[str, str]],
    dest: Path,
    *,
    env: Mapping[str, str],
    names: Sequence[str] = (),
) -> Messages:
    """Write the text of `commits`, of the annotated tag objects `tags` ((ref, object), and
    every tag a tag points at) and the `names` (one a line) under `dest`, an empty
    directory."""
    items: list[Message] = []
    if names:
        (dest / "names.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        items.append(Message(NAMES, "", "names", "names.txt"))
    wanted = [(c, f"commit {c[:12]} message") for c in dict.fromkeys(commits)]
    for ref, tag in dict.fromkeys(tags):
        wanted.append((tag, f"tag {ref.removeprefix('refs/tags/')} message"))
    seen: set[str] = set()
    for _ in range(_MAX_NESTING):
        wanted = [(name, label) for name, label in wanted if name not in seen]
        if not wanted:
            break
        seen.update(name for name, _ in wanted)
        texts = _read_objects(repo, [name for name, _ in wanted], env)
        nested = []
        for (name, label), (kind, text) in zip(wanted, texts, strict=True):
            file = f"{len(items) + 1}.txt"
            (dest / file).write_text(text, encoding="utf-8")
            items.append(Message(label, name, kind, file))
            target = _header(text, "object") if kind == "tag" else None
            if target is not None and _header(text, "type") == "tag":
                nested.append((target, f"{label} (nested tag {target[:12]})"))
        wanted = nested
    return Messages(dest, tuple(items))


def _header(text: str, name: str) -> str | None:
    """A header of a commit or tag object's text (before the first empty line)."""
    for line in text.split("\n"):
        if not line:
            return None
        key, _, value = line.partition(" ")
        if key == name:
            return value
    return None


def _read_objects(
    repo: Repo, names: Sequence[str], env: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(type, text) of each object: one `git cat-file --batch` for all.

    Each object's header line carries a random marker, so that no text a commit author wrote
    can pass for the start of the next object (the sizes git writes count bytes, and the
    text arrives decoded).
    """
    marker = secrets.token_hex(16)
    out = run_git(
        ["cat-file", f"--batch=%(objectname) %(objecttype) {marker}"],
        repo.root,
        env,
        input="".join(f"{n}\n" for n in names).encode(),
    )
    parts = re.split(rf"(?m)^([0-9a-f]+) (commit|tag) {marker}\n", out)
    found = [(parts[i + 1], parts[i + 2].removesuffix("\n")) for i in range(1, len(parts), 3)]
    if parts[0] or len(found) != len(names):
        raise ScannerError(f"`git cat-file --batch` gave {len(found)} of {len(names)} objects")
    return found


def remap_messages(run: ScanRun, messages: Messages) -> Remapped:
    """The findings of the messages' run, each at its object's label."""
    # Read the values for the fingerprints while the files still have their own names.
    secret_values.fill_from_tree(run.findings, [messages.root])
    by_file = {m.file: m for m in messages.items}
    findings: list[Finding] = []
    for finding in run.findings:
        message = by_file.get(finding.target)
        if message is not None:
            location = finding.location
            if location is not None:
                location = replace(location, path=message.label)
            finding = replace(finding, target=message.label, location=location)
        findings.append(finding)
    assign_fingerprints(findings)
    return Remapped(ScanRun(run.artifact, findings), {})


def message_of(messages: Messages, target: str) -> Message | None:
    return next((m for m in messages.items if m.label == target), None)
