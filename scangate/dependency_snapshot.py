"""GitHub's dependency submission format (a "snapshot": `version`, `sha`, `ref`, `job`,
`detector`, `scanned`, `manifests`), built from the package inventory of the same Trivy
run that was gated (scangate runs Trivy with `--list-all-pkgs`).

scangate writes it itself rather than through `trivy convert --format github`, which
(Trivy 0.76.0) keys each manifest's `resolved` by package *name*, so two versions of one
package in a lock file keep only one (a nested lodash 3 hides the direct lodash 4); lists
`dependencies` as `name@version` where GitHub's schema asks for package URLs; calls a
Cargo project's own root package a direct dependency; marks dev dependencies `runtime`;
names an image's manifest after the absolute path of its tarball; and needs a second process
that parses the whole report again. Here: `resolved` is keyed by package URL, `dependencies`
are package URLs, the root and workspace packages are the project itself (left out), Trivy's
`Dev` is `scope: development`, and a package with no relationship in the report (OS
packages, requirements files) has none in the snapshot: never guessed.

`sha` and `ref` are checked before Trivy runs (`resolve_commit`): GITHUB_SHA and GITHUB_REF
(on pull_request events the pull request's head commit, as GitHub's own toolkit does), else
the git checkout holding the scanned directory. The core reads no environment of its own:
the CLI passes it in.

Only the package inventory is read (`_Report` below), from the report bytes the run kept:
its vulnerabilities are not parsed a second time. Import this module only in a run that
writes a snapshot (its models are built at import).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as model

from scangate.errors import ReportError, ScannerError, UsageError
from scangate.formats.escape import plain
from scangate.trivy_models import OS, PkgIdentifier, TrivyInfo

if TYPE_CHECKING:
    from scangate.trivy_run import ScanOutcome

SNAPSHOT_VERSION = 0
DETECTOR_NAME = "scangate"
DETECTOR_URL = "https://github.com/scangate/scangate"
_SHA = re.compile(r"[0-9a-f]{40}")
_REF = re.compile(r"refs/[\x21-\x7e]{1,250}")
_PR_EVENTS = frozenset({"pull_request", "pull_request_target"})
# Trivy's relationships of the project itself, not of a dependency.
_PROJECT = frozenset({"root", "workspace"})


@dataclass(frozen=True, slots=True)
class Commit:
    """What the snapshot is for, and the top of the git work tree (None outside one)."""

    sha: str
    ref: str
    top: Path | None


def resolve_commit(environ: Mapping[str, str], where: Path) -> Commit:
    """`sha` and `ref` from GITHUB_SHA and GITHUB_REF, else from the git checkout at `where`;
    a UsageError (exit 2) naming what to set when neither gives them."""
    sha = _event_head(environ) or environ.get("GITHUB_SHA", "").strip()
    ref = environ.get("GITHUB_REF", "").strip()
    top, git_sha, git_ref, why = _git_facts(environ, where)
    if top is None and environ.get("GITHUB_WORKSPACE"):
        top = Path(environ["GITHUB_WORKSPACE"])  # manifest paths relative to the workspace
    sha = sha or git_sha or ""
    ref = ref or git_ref or ""
    if not sha or not ref:
        missing = " and ".join(n for n, v in (("GITHUB_SHA", sha), ("GITHUB_REF", ref)) if not v)
        raise UsageError(
            f"--dependency-snapshot: no commit {'SHA' if not sha else 'ref'} for the snapshot: "
            f"set {missing}, or run in a git checkout on a branch ({why})"
        )
    if _SHA.fullmatch(sha) is None:
        raise UsageError(
            f"--dependency-snapshot: the commit {plain(sha, 80)!r} is not a 40-character "
            "SHA-1 commit name, which GitHub's dependency submission requires: set GITHUB_SHA"
        )
    if _REF.fullmatch(ref) is None:
        raise UsageError(
            f"--dependency-snapshot: the ref {plain(ref, 80)!r} is not a full ref name such as "
            "refs/heads/main: set GITHUB_REF"
        )
    return Commit(sha, ref, top)


def _event_head(environ: Mapping[str, str]) -> str | None:
    """On pull request events GITHUB_SHA is a merge commit GitHub made; the snapshot is for
    the pull request's head commit, from the event payload."""
    if environ.get("GITHUB_EVENT_NAME") not in _PR_EVENTS:
        return None
    from scangate.github_api import GitHubError
    from scangate.github_env import pull_request_event

    try:
        event = pull_request_event(environ)
    except GitHubError as exc:
        raise UsageError(f"--dependency-snapshot: {exc.message}") from None
    return event.head_sha if event is not None else None


def _git_facts(
    environ: Mapping[str, str], where: Path
) -> tuple[Path | None, str | None, str | None, str]:
    """The work tree's top, HEAD's commit and branch ref (None when detached), and why not."""
    from scangate import _subprocess
    from scangate.diff_base import git_env
    from scangate.hook import GIT_TIMEOUT

    cwd = where if where.is_dir() else where.parent
    argv = ["git", "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD"]
    try:
        done = _subprocess.run(argv, timeout=GIT_TIMEOUT, env=git_env(environ), cwd=cwd)
    except ScannerError as exc:  # no git at all: GITHUB_SHA and GITHUB_REF may still serve
        return None, None, None, exc.message
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 3:
        tail = _subprocess.stderr_tail(done.stderr, 1) or "git rev-parse failed"
        if len(lines) >= 1 and done.returncode != 0 and "unknown revision" in tail:
            return Path(lines[0]), None, None, f"{plain(lines[0], 200)} has no commit yet"
        return None, None, None, f"{plain(str(cwd), 200)}: {plain(tail, 200)}"
    top, sha, ref = lines
    if ref == "HEAD":
        return Path(top), sha, None, f"HEAD is detached in {plain(top, 200)}"
    return Path(top), sha, ref, ""


@dataclass(frozen=True, slots=True)
class Job:
    correlator: str
    id: str
    html_url: str | None = None


def job_from_env(environ: Mapping[str, str], command: str, targets: Sequence[str]) -> Job:
    """GitHub keeps the latest snapshot per correlator and detector: the workflow and job
    (GitHub's advice), and the command and its targets, so that two scans in one job (the
    repository and its image) do not replace each other's."""
    parts = [environ.get("GITHUB_WORKFLOW", ""), environ.get("GITHUB_JOB", "")]
    parts.append(f"scangate {command} {' '.join(targets)}".strip())
    correlator = " / ".join(p for p in parts if p)
    run_id = environ.get("GITHUB_RUN_ID", "").strip()
    server, repo = environ.get("GITHUB_SERVER_URL", ""), environ.get("GITHUB_REPOSITORY", "")
    url = None
    if run_id.isdigit() and server.startswith("https://") and repo:
        url = f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
    return Job(correlator=correlator, id=run_id or "local", html_url=url)


def build(
    outcomes: Sequence[ScanOutcome],
    *,
    commit: Commit,
    job: Job,
    scanned: datetime,
    version: str,
) -> dict[str, Any]:
    """The snapshot of every outcome's packages (one manifest per lock file or OS)."""
    manifests: dict[str, dict[str, Any]] = {}
    trivy_version = None
    for outcome in outcomes:
        report = _parse(outcome.raw, outcome.target.label)
        trivy_version = trivy_version or (report.trivy.version if report.trivy else None)
        for result in report.results or ():
            if not result.packages:
                continue
            name, location = _manifest_name(outcome, report, result, commit.top)
            manifest = manifests.setdefault(name, {"name": name})
            if location is not None:
                manifest["file"] = {"source_location": location}
            resolved = manifest.setdefault("resolved", {})
            _resolve(result.packages, resolved)
    job_json: dict[str, str] = {"correlator": job.correlator, "id": job.id}
    if job.html_url:
        job_json["html_url"] = job.html_url
    snapshot: dict[str, Any] = {
        "version": SNAPSHOT_VERSION,
        "sha": commit.sha,
        "ref": commit.ref,
        "job": job_json,
        "detector": {"name": DETECTOR_NAME, "version": version, "url": DETECTOR_URL},
        "scanned": scanned.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "manifests": manifests,
    }
    if trivy_version:
        snapshot["metadata"] = {"trivy-version": trivy_version}
    return snapshot


def render(snapshot: dict[str, Any]) -> bytes:
    """JSON with every non-ASCII character escaped: package names come from the scanned
    tree, and a bidi control in one stays `\\u202e` when the file is shown in a terminal."""
    # Compact: with `indent`, json falls back to its pure-Python encoder (5x slower here).
    text = json.dumps(snapshot, ensure_ascii=True, separators=(",", ":"))
    return (text + "\n").encode("ascii")


def _resolve(packages: Sequence[_Package], resolved: dict[str, dict[str, Any]]) -> None:
    purls = {p.id: p.purl for p in packages if p.id and p.purl and p.relationship not in _PROJECT}
    for pkg in packages:
        purl = pkg.purl
        if purl is None or pkg.relationship in _PROJECT:
            continue
        entry = resolved.get(purl)
        if entry is None:
            entry = resolved[purl] = {"package_url": purl}
        if pkg.relationship in ("direct", "indirect") and entry.get("relationship") != "direct":
            entry["relationship"] = pkg.relationship
        # One runtime appearance of the package makes it a runtime dependency.
        if entry.get("scope") != "runtime":
            entry["scope"] = "development" if pkg.dev else "runtime"
        children = [purls[c] for c in pkg.depends_on or () if c in purls]
        if children:
            have = entry.setdefault("dependencies", [])
            have.extend(c for c in dict.fromkeys(children) if c not in have)


def _manifest_name(
    outcome: ScanOutcome, report: _Report, result: _Result, top: Path | None
) -> tuple[str, str | None]:
    """A directory scan's manifest is its lock file, by its path in the repository; an
    image's has no file in the repository: it is named after the image and the target."""
    target = outcome.target
    if target.kind == "fs" and not target.archive:
        root = Path(target.ref)
        root = root if root.is_dir() else root.parent
        path = PurePosixPath(result.target)
        here, top = root.resolve(), top.resolve() if top is not None else None
        # A scanned tree outside the checkout keeps its own paths.
        if top is not None and here.is_relative_to(top):
            path = PurePosixPath(here.relative_to(top).as_posix(), path)
        return str(path), str(path)
    inner = result.target
    os_info = report.metadata.os if report.metadata else None
    if result.class_ == "os-pkgs" and os_info is not None:
        inner = " ".join(p for p in (os_info.family, os_info.name) if p) or inner
    return f"{target.display} ({inner})", None


# --- the package inventory of a Trivy report ------------------------------------------------
# Models like `trivy_models`' (slotted pydantic dataclasses, unknown fields ignored), of the
# packages only: built when this module is imported, by a run that writes a snapshot.

_CONFIG = ConfigDict(extra="ignore", populate_by_name=True)


@model(slots=True, repr=False, eq=False, config=_CONFIG)
class _Package:
    """One package of a result (`--list-all-pkgs`)."""

    id: str | None = Field(None, alias="ID")
    identifier: PkgIdentifier | None = Field(None, alias="Identifier")
    relationship: str | None = Field(None, alias="Relationship")
    depends_on: list[str] | None = Field(None, alias="DependsOn")
    dev: bool = Field(False, alias="Dev")

    @property
    def purl(self) -> str | None:
        purl = self.identifier.purl if self.identifier else None
        # GitHub's schema checks a package URL with ^pkg.
        return purl if purl and purl.startswith("pkg:") else None


@model(slots=True, repr=False, eq=False, config=_CONFIG)
class _Result:
    """One target and its packages."""

    target: str = Field(alias="Target")
    class_: str | None = Field(None, alias="Class")
    packages: list[_Package] | None = Field(None, alias="Packages")


@model(slots=True, repr=False, eq=False, config=_CONFIG)
class _Metadata:
    """The scanned artifact's OS."""

    os: OS | None = Field(None, alias="OS")


@model(slots=True, repr=False, eq=False, config=_CONFIG)
class _Report:
    """The package inventory of a report."""

    metadata: _Metadata | None = Field(None, alias="Metadata")
    trivy: TrivyInfo | None = Field(None, alias="Trivy")
    results: list[_Result] | None = Field(None, alias="Results")


_REPORT = TypeAdapter(_Report)


def _parse(raw: bytes, label: str) -> _Report:
    try:
        return _REPORT.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"])
        raise ReportError(
            f"trivy {plain(label, 200)}: its package list cannot be read for the dependency "
            f"snapshot ({plain(place, 120)}: {first['type']})"
        ) from None
