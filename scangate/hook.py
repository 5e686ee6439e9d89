"""Git hooks: the repository, and the findings of the scanned file versions mapped back.

The core of `scangate hook`. `hook_push` works out what a push sends, `hook_files` writes
the file versions it adds or changes (or the index's) into numbered layers, `hook_text` the
commit and tag messages; this module finds the repository, runs git, decides which Trivy
runs cover the layers and maps their findings back to the repository. It runs git through
`_subprocess` and returns data: it never prints, exits or reads the environment (the CLI
passes the environment in).

`scan_jobs` decides which Trivy runs cover the layers so that a finding is the one
`scangate scan fs` of a checkout gives for that version (same target, location and
fingerprint): Trivy's secret allow rules match the path relative to the scanned root
(`\\/vendor\\/`, `^usr\\/...`), so secrets are scanned per layer, with the layer as the
root; `remap` strips the `N/` prefixes of a run over all layers and refingerprints it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scangate import _subprocess, secret_values
from scangate.errors import ScannerError, UsageError
from scangate.findings import Artifact, Finding, Kind, ScanRun, assign_fingerprints
from scangate.hook_scanners import useful_scanners

if TYPE_CHECKING:  # at run time `remap` only reads their attributes: no import cycle
    from scangate.hook_files import FileVersion, Materialized

GIT_TIMEOUT = 300.0
"""Seconds any one git command may take."""

OBJECT_NAME = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


# --- the repository --------------------------------------------------------------------------


@dataclass(frozen=True)
class Repo:
    """A git work tree and the paths scangate needs from it, all absolute."""

    root: Path
    objects: Path
    hooks: Path  # where git runs hooks from: `core.hooksPath` when set
    object_format: str = "sha1"

    @property
    def name(self) -> str:
        return self.root.name or str(self.root)


def find_repo(start: Path, *, env: Mapping[str, str]) -> Repo:
    """The work tree holding `start`; a UsageError outside one (or in a bare repository)."""
    paths = ["--git-path", "objects", "--git-path", "hooks", "--show-object-format"]
    # One git process when `start` is the top level, as for a hook git runs: --git-path
    # answers relative to the directory git runs in, and a relative core.hooksPath is
    # relative to the top level, which is where git runs hooks.
    done = _subprocess.run(
        ["git", "rev-parse", "--show-toplevel", *paths], timeout=GIT_TIMEOUT, env=env, cwd=start
    )
    answers = done.stdout.splitlines()
    top = answers[0].strip() if done.returncode == 0 and len(answers) == 4 else ""
    if top and _same_dir(start, Path(top)):
        return _repo(Path(top), answers[1:])
    done = _subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], timeout=GIT_TIMEOUT, env=env, cwd=start
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise UsageError(
            f"{start} is not inside a git work tree: run scangate hook from a clone "
            f"({_subprocess.stderr_tail(done.stderr, 1) or 'git rev-parse failed'})"
        )
    root = Path(done.stdout.strip())
    return _repo(root, run_git(["rev-parse", *paths], root, env).splitlines())


def _repo(root: Path, out: list[str]) -> Repo:
    """The Repo from `git rev-parse --git-path objects --git-path hooks --show-object-format`
    run at the top level `root`."""
    object_format = out[2].strip() if len(out) > 2 and out[2].strip() == "sha256" else "sha1"
    return Repo(
        root=root,
        objects=(root / out[0].strip()).resolve(),
        hooks=root / out[1].strip(),
        object_format=object_format,
    )


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def run_git(
    args: list[str], cwd: Path, env: Mapping[str, str], *, input: bytes | None = None
) -> str:
    done = _subprocess.run(["git", *args], timeout=GIT_TIMEOUT, env=env, cwd=cwd, input=input)
    if done.returncode != 0:
        tail = "".join(
            f"\n  git: {line}" for line in _subprocess.stderr_tail(done.stderr, 5).splitlines()
        )
        raise ScannerError(f"`git {args[0]}` failed with exit code {done.returncode}{tail}")
    return done.stdout


def is_null(name: str) -> bool:
    """git writes forty (or sixty-four) zeros for "no object": a new or a deleted ref."""
    return not name.strip("0")


# --- scanning the layers, and the findings back to the repository ------------------------------

SECRET = "secret"  # noqa: S105 - the scanner's name


@dataclass(frozen=True)
class ScanJob:
    """One Trivy run over materialized files: one layer's directory, or (layer None) the
    root holding every layer under its number, or (`messages`) the commit and tag messages'
    directory (`hook_text`)."""

    path: Path
    layer: int | None
    scanners: tuple[str, ...]
    messages: bool = False  # the commit and tag messages (`hook_text`), not files


def scan_jobs(materialized: Materialized, scanners: Sequence[str]) -> list[ScanJob]:
    """The Trivy runs that scan every version with every scanner, finding what `scan fs` of
    a checkout finds.

    One layer: one run of its directory. Several: the secret scanner runs once per layer,
    because its built-in allow rules match the path relative to the scanned root (a `N/`
    prefix would skip a top-level `vendor/` and scan a top-level `usr/share/`), and it starts
    in a fraction of a second; the other scanners match file names, not prefixes, and the
    misconfiguration checks take seconds to load, so they run once over the whole root.
    By default scangate turns those allow rules off (the policy's `trivy-secret-allow-rules`
    turns them back on); the per-layer runs stay, so that either way a finding is the one
    `scan fs` gives.

    A scanner that cannot report anything for these files is left out (`hook_scanners`:
    no misconfiguration run when no version is a file a misconfiguration analyzer reads, no
    vulnerability run when every version is plain source code or prose).
    """
    if materialized.layers == 0:
        return []
    scanners = useful_scanners(scanners, ((v.path, v.mode) for v in materialized.versions))
    if materialized.layers == 1:
        return [ScanJob(materialized.layer_dir(0), 0, scanners)] if scanners else []
    others = tuple(s for s in scanners if s != SECRET)
    jobs = [ScanJob(materialized.root, None, others)] if others else []
    if SECRET in scanners:
        jobs += [
            ScanJob(materialized.layer_dir(n), n, (SECRET,)) for n in range(materialized.layers)
        ]
    return jobs


@dataclass
class Remapped:
    """Findings as a run of the repository, each with the file version it was found in."""

    run: ScanRun
    origins: dict[str, FileVersion]  # fingerprint -> version


def _split_layer(path: str) -> tuple[int, str] | None:
    head, sep, rest = path.partition("/")
    return (int(head), rest) if sep and head.isdigit() and rest else None


def _strip(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def remap(run: ScanRun, materialized: Materialized, *, layer: int | None) -> Remapped:
    """The findings of one job's run, in repository terms.

    A run of one layer's directory already speaks repository paths. A run of the root saw
    `N/path`: targets, locations and package paths lose the prefix, and the fingerprints are
    recomputed per layer, so that each equals what `scangate scan fs` gives for a checkout
    holding that version (the fingerprint hashes the target and numbers repeats per target).
    """
    findings: list[Finding] = []
    per_layer: dict[int, list[Finding]] = {}
    located: list[tuple[Finding, FileVersion | None]] = []
    # Secrets are fingerprinted by their value: read whatever the scan left unread while the
    # files are still there (the targets still carry the layer prefixes here).
    root = materialized.root if layer is None else materialized.layer_dir(layer)
    if secret_values.fill_from_tree(run.findings, [root]):
        assign_fingerprints(run.findings)
    for finding in run.findings:
        if layer is not None:
            number, path = layer, finding.target
        elif (split := _split_layer(finding.target)) is not None:
            number, path = split
            finding = _unprefixed(finding, f"{number}/")
            per_layer.setdefault(number, []).append(finding)
        else:  # not under a layer: keep it as Trivy named it
            findings.append(finding)
            continue
        findings.append(finding)
        located.append((finding, materialized.in_layer(number).get(path)))
    for group in per_layer.values():
        assign_fingerprints(group)
    origins: dict[str, FileVersion] = {}
    for finding, version in located:
        # The same finding in several versions of a file: the oldest version brought it.
        known = origins.get(finding.fingerprint)
        if version is not None and (known is None or version.layer < known.layer):
            origins[finding.fingerprint] = version
    return Remapped(ScanRun(run.artifact, findings), origins)


def _unprefixed(finding: Finding, prefix: str) -> Finding:
    location = finding.location
    if location is not None:
        location = replace(location, path=_strip(location.path, prefix))
    identity = finding.identity
    if finding.kind in (Kind.VULNERABILITY, Kind.LICENSE):
        # (package name, package or file path): the path is relative to the scanned root.
        identity = "\x1f".join(_strip(part, prefix) for part in identity.split("\x1f"))
    inline = finding.inline_ignore  # a `#trivy:ignore` comment's file (scangate.inline_ignores)
    if inline is not None:
        others = tuple(replace(o, path=_strip(o.path, prefix)) for o in inline.others)
        inline = replace(inline, path=_strip(inline.path, prefix), others=others)
    return replace(
        finding,
        target=_strip(finding.target, prefix),
        location=location,
        identity=identity,
        inline_ignore=inline,
    )


def combine(parts: Sequence[Remapped], *, name: str) -> Remapped:
    """One run named `name` from the jobs' findings, oldest version first.

    A fingerprint seen twice is one finding in two versions of a file (a token a later commit
    leaves in place, say): it is kept once, with the oldest version, whose commit brought it.
    """
    entries = [
        (finding, part.origins.get(finding.fingerprint))
        for part in parts
        for finding in part.run.findings
    ]
    entries.sort(key=lambda entry: entry[1].layer if entry[1] is not None else -1)  # stable
    findings: list[Finding] = []
    origins: dict[str, FileVersion] = {}
    seen: set[str] = set()
    for finding, version in entries:
        if finding.fingerprint in seen:
            continue
        seen.add(finding.fingerprint)
        findings.append(finding)
        if version is not None:
            origins[finding.fingerprint] = version
    base = parts[0].run.artifact if parts else Artifact(name=name, type="filesystem")
    return Remapped(ScanRun(replace(base, name=name), findings), origins)
