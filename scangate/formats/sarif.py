"""SARIF 2.1.0 for GitHub code scanning: the only module that imports sarif-om or knows SARIF.

It owns what GitHub needs from a SARIF log to ingest it without a warning and keep its alerts
stable from run to run:

* Runs: one per scanned target; reports of the same target (say, one per scanner) merge into
  one run, since GitHub refuses two runs of one tool with one category. `automationDetails.id`
  is a stable category plus a trailing "/" (GitHub reads the part after the last "/" as a run
  id; upload-sarif's `category` input appends "/" the same way):
  - a directory (Trivy's "filesystem"/"repository"): `scangate/fs/<path>`, the scanned
    directory relative to `source_root`; "." for the root itself and for a directory
    outside it (a temp checkout, a report from another machine), which then stands for the
    repository root;
  - an image ("container_image", older "docker_archive"/"oci_archive", "vm"):
    `scangate/image/<repository>`, without tag or digest (see `image_repository`);
  - `SarifOptions.category` replaces the category of a single run and prefixes each
    category (`<category>/fs/<path>`) when there are several.
* Rules: one per finding id, with descriptions, help, `security-severity` and tags.
* Results: a level from the severity the gate used, `partialFingerprints` from the finding's
  line-independent fingerprint, and a location relative to the repository root with a real
  region: the lock file line of a package, a misconfiguration's cause lines, a secret's
  lines. Image findings are placed at the final FROM of `SarifOptions.dockerfile`, else at
  `image/<repository>` (plus the file's path inside the image for application packages).
* Which results: allowed findings only with `include_allowed` (as suppressed), and GitHub's
  limits: 25,000 results per run (the most severe kept), 20 runs per file, 10 MiB gzipped.

Serialization: the log is built from sarif-om objects, but not written with
`jschema_to_python.to_json` (about 0.6 ms a result, and it drops `level: "warning"`, which
is only a default when no rule says otherwise). sarif-om's attrs fields carry their JSON
names in `metadata["schema_property_name"]`; `_json_fields` turns an object into a dict of
those names without None and default values, as the `default` hook of the C JSON encoder.
Rules and results are built, encoded and dropped one at a time, each on its own line, so
memory stays at the size of the text and time is linear in the number of findings.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import attr
import sarif_om as om

from scangate import __version__
from scangate.findings import Artifact, Finding, Kind, Severity
from scangate.formats._common import (
    is_image_artifact,
    repository_path,
    scanned_dir,
)
from scangate.formats.escape import clip, markdown, markdown_link, plain, safe_url
from scangate.gate import Decided, Decision, GateResult

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/scangate/"
TRIVY_INFORMATION_URI = "https://trivy.dev/"
FINGERPRINT_KEY = "scangate/v1"
CATEGORY_PREFIX = "scangate"

# GitHub's limits for one uploaded SARIF file (docs: "SARIF support for code scanning").
MAX_RESULTS_PER_RUN = 25_000
MAX_RUNS = 20
MAX_LOCATIONS_PER_RESULT = 1_000
MAX_TAGS_PER_RULE = 20
MAX_GZIPPED_BYTES = 10 * 1024 * 1024
MAX_DESCRIPTION = 1024

LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
# GitHub maps security-severity to critical above 9.0, high 7.0-8.9, medium 4.0-6.9, low
# below 4.0. The defaults sit inside each band, never on a boundary.
DEFAULT_SECURITY_SEVERITY: dict[Severity, float] = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 0.0,
}
_BANDS: dict[Severity, tuple[float, float]] = {
    Severity.CRITICAL: (9.0, 10.0),
    Severity.HIGH: (7.0, 9.0),
    Severity.MEDIUM: (4.0, 7.0),
    Severity.LOW: (0.1, 4.0),
}
PRECISION: dict[Kind, str] = {
    Kind.VULNERABILITY: "very-high",
    Kind.MISCONFIGURATION: "very-high",
    # Pattern matches: a test fixture or an example key is sometimes reported.
    Kind.SECRET: "high",
    Kind.LICENSE: "very-high",
}
_KIND_DOCS = {
    Kind.VULNERABILITY: "https://trivy.dev/latest/docs/scanner/vulnerability/",
    Kind.MISCONFIGURATION: "https://trivy.dev/latest/docs/scanner/misconfiguration/",
    Kind.SECRET: "https://trivy.dev/latest/docs/scanner/secret/",
    Kind.LICENSE: "https://trivy.dev/latest/docs/scanner/license/",
}
_HOW_TO_FIX = {
    Kind.VULNERABILITY: (
        "Upgrade the package to the fixed version the alert names, or remove it. To accept "
        "the risk, allow it in the scangate policy with a reason and an expiry date."
    ),
    Kind.MISCONFIGURATION: (
        "Change the configuration as the check describes. To accept it, allow it in the "
        "scangate policy with a reason and an expiry date."
    ),
    Kind.SECRET: (
        "Revoke and rotate the credential now: it is in the repository and its history. "
        "Then remove it from the file and load it from a secret store or the environment."
    ),
    Kind.LICENSE: (
        "Check the license terms against how this project is distributed; replace the "
        "dependency or record the approval as an allow entry in the scangate policy."
    ),
}
_WHY = {
    Kind.SECRET: (
        "A credential committed to a repository can be used by anyone who can read the "
        "repository, its forks or its history."
    ),
    Kind.LICENSE: "The license's terms may conflict with how this project is distributed.",
}


@dataclass(frozen=True)
class DockerfileRef:
    """Where image findings are located in the repository: the Dockerfile the image is built
    from (a repository-relative posix path) and the line of its final stage's FROM."""

    uri: str
    from_line: int

    @classmethod
    def from_text(cls, uri: str, text: str) -> DockerfileRef | None:
        """The reference for a Dockerfile's text, or None when it has no FROM."""
        line = final_from_line(text)
        return cls(uri, line) if line is not None else None


@dataclass
class SarifOptions:
    # Overrides the derived category (one run), or prefixes it (several runs).
    category: str | None = None
    # Add allowed findings, marked as suppressed (GitHub shows them as closed alerts).
    include_allowed: bool = False
    # Only findings that fail the gate (plus allowed ones with include_allowed).
    only_failing: bool = False
    # Results per run, the most severe kept; 0 writes them all (beyond GitHub's limit).
    max_results: int = MAX_RESULTS_PER_RUN
    # The repository root: filesystem artifacts and URIs are made relative to it.
    source_root: Path = field(default_factory=Path.cwd)
    # Where image findings are located; None places them at a path named after the image.
    dockerfile: DockerfileRef | None = None


# --- the Dockerfile's final FROM ---------------------------------------------------------

_DIRECTIVE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(\S*)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


def final_from_line(text: str) -> int | None:
    """The 1-based line of the last FROM instruction (the final build stage), or None.

    Follows the Dockerfile syntax: parser directives at the top (`# escape=` changes the
    line-continuation character), comment and blank lines (also inside a continued
    instruction), continuation lines, heredocs (`RUN <<EOF` ... `EOF`, whose body is not
    instructions) and case-insensitive keywords, so `from --platform=$BUILDPLATFORM x AS y`
    counts. The final stage is the image `docker build` makes without `--target`.
    """
    lines = text.lstrip("\ufeff").splitlines()
    escape = "\\"
    i = 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i].strip())
        if not directive:
            break
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
        i += 1

    last: int | None = None
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        logical = [stripped]
        continued = stripped.endswith(escape)
        while continued and i + 1 < len(lines):
            i += 1
            part = lines[i].strip()
            if not part or part.startswith("#"):
                continue
            logical.append(part)
            continued = part.endswith(escape)
        i += 1
        keyword = stripped.split(None, 1)[0].upper()
        if keyword == "FROM":
            last = start + 1
        elif keyword in _HEREDOC_INSTRUCTIONS:
            for dash, _, delimiter in _HEREDOC.findall(" ".join(logical)):
                while i < len(lines):
                    body = lines[i].lstrip("\t") if dash else lines[i]
                    i += 1
                    if body.rstrip() == delimiter:
                        break
    return last


# --- categories ---------------------------------------------------------------------------

_REFERENCE = re.compile(
    r"^(?:(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2", ".oci")


def image_repository(artifact: Artifact) -> str:
    """The image's repository without tag or digest (registry host:port kept).

    From the artifact name when it is an image reference; else (an archive or OCI layout
    given with `--input`) from its first RepoTag or RepoDigest; else the archive's file name
    without directories and archive suffixes. An untagged name that none of the image's
    tags knows (an OCI layout directory such as `build/oci`) gives way to its first tag.
    """
    name = artifact.name.strip()
    known = [r for r in map(_repository_of, (*artifact.repo_tags, *artifact.repo_digests)) if r]
    match = None if _looks_like_path(name) else _REFERENCE.match(name)
    if match:
        repository = _joined(match)
        tagged = match.group("tag") or match.group("digest")
        if (
            tagged
            or not known
            or any(k == repository or k.endswith(f"/{repository}") for k in known)
        ):
            return repository
    if known:
        return known[0]
    stem = PurePosixPath(name.replace("\\", "/").rstrip("/")).name
    for suffix in _ARCHIVE_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem or "image"


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", ".", "~")) or "\\" in name or name.lower().endswith(_ARCHIVE_SUFFIXES)
    )


def _repository_of(reference: str) -> str | None:
    match = _REFERENCE.match(reference.strip())
    return _joined(match) if match else None


def _joined(match: re.Match[str]) -> str:
    host = match.group("host")
    return f"{host}/{match.group('path')}" if host else match.group("path")


def default_category(artifact: Artifact, source_root: Path) -> str:
    """`scangate/fs/<path>` or `scangate/image/<repository>` (see the module docstring)."""
    if is_image_artifact(artifact):
        return f"{CATEGORY_PREFIX}/image/{image_repository(artifact)}"
    return f"{CATEGORY_PREFIX}/fs/{scanned_dir(artifact, source_root)}"


# --- security severity --------------------------------------------------------------------


def security_severity(severity: Severity, cvss_score: float | None) -> str:
    """GitHub's `security-severity`: the CVSS v3 score when it agrees with the severity the
    gate used (it lies in that severity's band and is not GitHub's 9.0 boundary), else the
    severity's default score, so GitHub and the gate never disagree on how bad it is."""
    band = _BANDS.get(severity)
    if cvss_score is not None and band is not None:
        low, high = band
        text = f"{cvss_score:.1f}"
        inside = (
            low < cvss_score <= high if severity is Severity.CRITICAL else low <= cvss_score < high
        )
        if inside and text != "9.0":
            return text
    return f"{DEFAULT_SECURITY_SEVERITY[severity]:.1f}"


# --- serialization ------------------------------------------------------------------------

_Fields = Callable[[Any], dict[str, Any]]
_FIELDS: dict[type, _Fields] = {}
# Never dropped although equal to sarif-om's default: a result's `level` defaults to its
# rule's level in SARIF, not to the schema's "warning" that sarif-om records.
_ALWAYS_WRITTEN = frozenset({"level"})


def _fields_function(cls: type) -> _Fields:
    names: dict[str, str] = {}
    defaults: dict[str, Any] = {}
    for f in attr.fields(cls):
        names[f.name] = f.metadata.get("schema_property_name", f.name)
        default = f.default
        if isinstance(default, attr.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default not in (attr.NOTHING, None) and f.name not in _ALWAYS_WRITTEN:
            defaults[f.name] = default

    def fields(obj: Any) -> dict[str, Any]:
        return {
            names[k]: v
            for k, v in obj.__dict__.items()
            if v is not None and (k not in defaults or v != defaults[k])
        }

    return fields


def _json_fields(obj: Any) -> dict[str, Any]:
    """A sarif-om object as a dict of its JSON property names, None and defaults left out."""
    fields = _FIELDS.get(type(obj))
    if fields is None:
        if not attr.has(type(obj)):
            raise TypeError(f"{type(obj).__name__} is not JSON serializable")
        fields = _FIELDS[type(obj)] = _fields_function(type(obj))
    return fields(obj)


def _plain(obj: Any) -> Any:
    """A sarif-om object tree as plain dicts and lists, ready for any JSON encoder."""
    if isinstance(obj, list):
        return [_plain(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _plain(value) for key, value in obj.items()}
    if attr.has(type(obj)):
        return _plain(_json_fields(obj))
    return obj


_DECISION_PROPERTIES: dict[Decision, dict[str, str]] = {}

# The C encoder (indent=None) calls `_json_fields` for each sarif-om object it meets.
_LINE_ENCODER = json.JSONEncoder(default=_json_fields, check_circular=False, separators=(",", ":"))
# Where the rules and results arrays go in the skeleton. The nonce, random for each
# formatter, keeps a report's text (a Trivy version, an artifact name) from ever passing for one.
_PLACEHOLDER = '"@@scangate:{nonce}:(rules|results):(\\d+)@@"'


# --- the plan: which runs, which results ---------------------------------------------------


@dataclass(slots=True)
class _Run:
    category: str
    target: str
    artifact: Artifact
    image: bool
    scanned: str
    decided: list[Decided] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    considered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    # Per-run caches: a repository path's URI, a place's serialized locations.
    uris: dict[str, str] = field(default_factory=dict)
    locations: dict[tuple[str, int, int], list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)
class _Rule:
    index: int
    kind: Kind
    finding: Finding
    severity: Severity
    score: str


class SarifFormat:
    """Renders a `GateResult` as one SARIF 2.1.0 log; `notes` then holds what the CLI should
    tell the user on stderr (results or runs left out for GitHub's limits, size warnings)."""

    def __init__(self, options: SarifOptions | None = None) -> None:
        self.options = options or SarifOptions()
        self.notes: list[str] = []
        # Of the last pass: the results per run in effect, the gzipped size, the largest run.
        self._limit = self.options.max_results
        self._gzipped = 0
        self._largest = 0
        self._nonce = secrets.token_hex(16)

    def render(self, result: GateResult) -> str:
        """The log; one over GitHub's 10 MiB gzipped is rendered again with fewer results
        per run (the most severe kept) until it fits, unless the cap is off (0)."""
        self._limit = self.options.max_results
        shrunk: list[str] = []
        for _ in range(4):
            text = "".join(self._pieces_of(result))
            if self._gzipped <= MAX_GZIPPED_BYTES or not self._limit or self._largest <= 1:
                break
            limit = max(1, int(self._largest * MAX_GZIPPED_BYTES / self._gzipped * 0.9))
            shrunk.append(
                f"SARIF: {self._gzipped / 2**20:.1f} MiB gzipped is over GitHub's limit of "
                f"{MAX_GZIPPED_BYTES / 2**20:.0f} MiB: written again with at most {limit} "
                "results per run"
            )
            self._limit = limit
        self.notes = shrunk + self.notes
        return text

    def iter_render(self, result: GateResult) -> Iterator[str]:
        """The log in pieces, for writing a large log without holding it twice in memory.

        `notes` is complete once the iterator is exhausted. Unlike `render`, a log over
        GitHub's gzipped size limit is only reported in `notes`: its pieces are gone.
        """
        self._limit = self.options.max_results
        return self._pieces_of(result)

    def _pieces_of(self, result: GateResult) -> Iterator[str]:
        self.notes = []
        runs = self._plan(result)
        self._largest = max((len(r.decided) for r in runs), default=0)
        log = _json_fields(self._log(result, runs))
        # "$schema" and "version" first, as readers expect them (attrs orders them last).
        head = {"$schema": log.pop("$schema"), "version": log.pop("version")}
        skeleton = json.dumps(head | log, indent=2, default=_json_fields)
        # A run over GitHub's result limit is refused whatever its size (and `notes` says
        # so): the compression, seconds for a log of 100,000 results, would be wasted.
        gzip = None if any(len(r.decided) > MAX_RESULTS_PER_RUN for r in runs) else _GzipSize()
        for piece in self._pieces(skeleton, runs):
            if gzip is not None:
                gzip.feed(piece)
            yield piece
        yield "\n"
        gzipped = self._gzipped = gzip.total() if gzip is not None else 0
        if gzipped > MAX_GZIPPED_BYTES:
            self.notes.append(
                f"SARIF: the log is {gzipped / 2**20:.1f} MiB gzipped, over GitHub's limit "
                f"of {MAX_GZIPPED_BYTES / 2**20:.0f} MiB: the upload will be rejected; use "
                "--sarif-only-failing or a lower --sarif-max-results"
            )

    # -- planning --

    def _plan(self, result: GateResult) -> list[_Run]:
        opts = self.options
        by_category: dict[str, _Run] = {}
        for run_result in result.runs:
            artifact = run_result.run.artifact
            image = is_image_artifact(artifact)
            category = default_category(artifact, opts.source_root)
            run = by_category.get(category)
            if run is None:
                scanned = "." if image else scanned_dir(artifact, opts.source_root)
                target = image_repository(artifact) if image else scanned
                run = by_category[category] = _Run(category, target, artifact, image, scanned)
            # Two reports of one target (say, one per scanner) are one run: GitHub rejects
            # two runs of one tool with the same category in one upload.
            for d in run_result.decided:
                if not self._wanted(d):
                    continue
                fingerprint = d.finding.fingerprint
                if fingerprint:
                    if fingerprint in run.fingerprints:
                        continue
                    run.fingerprints.add(fingerprint)
                run.decided.append(d)
        runs = list(by_category.values())
        if opts.category:
            for run in runs:
                suffix = run.category.removeprefix(f"{CATEGORY_PREFIX}/")
                run.category = opts.category if len(runs) == 1 else f"{opts.category}/{suffix}"
        if len(runs) > MAX_RUNS:
            left_out = runs[MAX_RUNS:]
            runs = runs[:MAX_RUNS]
            self.notes.append(
                f"SARIF: {len(left_out) + MAX_RUNS} targets, GitHub accepts {MAX_RUNS} runs per "
                f"file: left out {', '.join(r.category for r in left_out)}; "
                "write the others to a second --sarif file"
            )
        for run in runs:
            self._cap(run)
        return runs

    def _wanted(self, d: Decided) -> bool:
        # GitHub ignores SARIF suppressions when opening alerts, so an allowed finding
        # would show as an open alert: left out unless asked for.
        if d.decision is Decision.ALLOWED:
            return self.options.include_allowed
        if self.options.only_failing:
            return d.decision is Decision.FAIL
        return True

    def _cap(self, run: _Run) -> None:
        """Most severe first, failing before reported-only, then report order; keep the first
        `max_results` and record what was left out."""
        # A stable sort: report order is kept within a severity.
        run.decided.sort(key=lambda d: (-d.finding.severity.rank, d.decision is not Decision.FAIL))
        run.considered = len(run.decided)
        limit = self._limit
        if limit and len(run.decided) > limit:
            for d in run.decided[limit:]:
                run.dropped[d.finding.severity.value] += 1
            del run.decided[limit:]
            counts = ", ".join(f"{n} {s}" for s, n in _by_severity(run.dropped).items())
            self.notes.append(
                f"SARIF: {run.category}: {sum(run.dropped.values())} of {run.considered} results "
                f"left out (GitHub keeps at most {MAX_RESULTS_PER_RUN} per run; the most severe "
                f"{limit} are written): {counts}"
            )
        elif len(run.decided) > MAX_RESULTS_PER_RUN:
            self.notes.append(
                f"SARIF: {run.category}: {len(run.decided)} results, GitHub accepts at most "
                f"{MAX_RESULTS_PER_RUN} per run and will reject the upload; drop "
                "--sarif-max-results or set it to at most that"
            )
        run.fingerprints = set()

    # -- the log skeleton --

    def _log(self, result: GateResult, runs: list[_Run]) -> Any:
        return om.SarifLog(
            version=SARIF_VERSION,
            schema_uri=SARIF_SCHEMA_URI,
            runs=[self._run(i, run) for i, run in enumerate(runs)],
            properties={"verdict": result.verdict.value},
        )

    def _run(self, index: int, run: _Run) -> Any:
        trivy_version = run.artifact.trivy_version
        properties: dict[str, Any] = {
            "target": run.target,
            "artifactType": run.artifact.type,
            "trivyVersion": trivy_version or "unknown",
        }
        if run.image and run.artifact.image_id:
            properties["imageId"] = run.artifact.image_id
        if run.dropped:
            properties["resultLimit"] = self._limit
            properties["resultsConsidered"] = run.considered
            properties["resultsDropped"] = sum(run.dropped.values())
            properties["resultsDroppedBySeverity"] = _by_severity(run.dropped)
        trivy = om.ToolComponent(
            name="Trivy", version=trivy_version, information_uri=TRIVY_INFORMATION_URI
        )
        return om.Run(
            tool=om.Tool(
                driver=om.ToolComponent(
                    name="scangate",
                    version=__version__,
                    semantic_version=__version__,
                    information_uri=INFORMATION_URI,
                    rules=f"@@scangate:{self._nonce}:rules:{index}@@",
                ),
                extensions=[trivy],
            ),
            automation_details=om.RunAutomationDetails(id=_automation_id(run.category)),
            # Line numbers only; no column is ever written.
            column_kind="utf16CodeUnits",
            results=f"@@scangate:{self._nonce}:results:{index}@@",
            properties=properties,
        )

    def _pieces(self, skeleton: str, runs: list[_Run]) -> Iterator[str]:
        position = 0
        rules: dict[tuple[Kind, str], _Rule] = {}
        placeholder = re.compile(_PLACEHOLDER.format(nonce=self._nonce))
        for match in placeholder.finditer(skeleton):
            yield skeleton[position : match.start()]
            line_start = skeleton.rfind("\n", 0, match.start()) + 1
            head = skeleton[line_start : match.start()]
            indent = head[: len(head) - len(head.lstrip())]
            run = runs[int(match.group(2))]
            if match.group(1) == "rules":
                rules = self._rules(run)
                lines = (
                    _LINE_ENCODER.encode(self._rule(rule_id, r)) for rule_id, r in _ordered(rules)
                )
            else:
                lines = (_LINE_ENCODER.encode(self._result(d, run, rules)) for d in run.decided)
            yield from _array(lines, indent)
            position = match.end()
        yield skeleton[position:]

    # -- rules --

    def _rules(self, run: _Run) -> dict[tuple[Kind, str], _Rule]:
        """One rule per (kind, id), indexed in first-use order; the most severe finding
        (results come most severe first) gives its severity and security-severity."""
        rules: dict[tuple[Kind, str], _Rule] = {}
        for d in run.decided:
            f = d.finding
            key = (f.kind, f.id)
            rule = rules.get(key)
            score = security_severity(f.severity, f.cvss_score)
            if rule is None:
                rules[key] = _Rule(len(rules), f.kind, f, f.severity, score)
            elif f.severity is rule.severity and float(score) > float(rule.score):
                rule.score = score
        return rules

    def _rule(self, rule_id: str, rule: _Rule) -> Any:
        f = rule.finding
        title = _clip(" ".join((f.title or f.id).split()))
        description = _clip(f.description.strip())
        why = description or _WHY.get(f.kind, "")
        help_uri = _help_uri(f)
        tags = ["security", f.kind.value, rule.severity.value][:MAX_TAGS_PER_RULE]
        help_text, help_markdown = _help(f, title, why, help_uri)
        return om.ReportingDescriptor(
            id=rule_id,
            short_description=om.MultiformatMessageString(text=title),
            full_description=om.MultiformatMessageString(text=why or title),
            help=om.MultiformatMessageString(text=help_text, markdown=help_markdown),
            help_uri=help_uri,
            default_configuration=om.ReportingConfiguration(level=LEVELS[rule.severity]),
            properties={
                "tags": tags,
                "precision": PRECISION[f.kind],
                "security-severity": rule.score,
            },
        )

    # -- results --

    def _result(self, d: Decided, run: _Run, rules: dict[tuple[Kind, str], _Rule]) -> Any:
        f = d.finding
        rule = rules[(f.kind, f.id)]
        uri, start, end, elsewhere = self._where(f, run)
        key = (uri, start, end)
        locations = run.locations.get(key)
        if locations is None:
            location = om.Location(
                physical_location=om.PhysicalLocation(
                    artifact_location=om.ArtifactLocation(uri=uri),
                    region=om.Region(start_line=start, end_line=end if end > start else None),
                )
            )
            # Converted once and shared by every result at this place (a package's line
            # holds many CVEs): the encoder then meets plain dicts, not four objects.
            locations = run.locations[key] = [_plain(location)]
        suppressions = None
        if d.decision is Decision.ALLOWED:
            suppressions = [om.Suppression(kind="external", justification=d.reason)]
        return om.Result(
            rule_id=_rule_id(f.kind, f.id, rules),
            rule_index=rule.index,
            level=LEVELS[f.severity],
            message=om.Message(text=_message(d, run, elsewhere)),
            locations=locations,
            partial_fingerprints={FINGERPRINT_KEY: f.fingerprint or _fallback_fingerprint(f)},
            suppressions=suppressions,
            properties=_DECISION_PROPERTIES.setdefault(d.decision, {"decision": d.decision.value}),
        )

    def _where(self, f: Finding, run: _Run) -> tuple[str, int, int, str | None]:
        """URI, first and last line, and the in-image path when the URI is not that file."""
        loc = f.location
        inner = loc.path if loc is not None and loc.path else None
        if not run.image:
            path = inner or f.target
            uri = run.uris.get(path)
            if uri is None:
                uri = run.uris[path] = _uri(repository_path(run.scanned, path))
            if loc is None:
                return uri, 1, 0, None
            return uri, _line(loc.start_line), _line(loc.end_line), None
        dockerfile = self.options.dockerfile
        if dockerfile is not None:
            return _uri(dockerfile.uri), max(1, dockerfile.from_line), 0, inner
        base = f"image/{run.target}"
        if loc is None or inner is None:
            return _uri(base), 1, 0, None
        return _uri(repository_path(base, inner)), _line(loc.start_line), _line(loc.end_line), None


# --- helpers ------------------------------------------------------------------------------


def _automation_id(category: str) -> str:
    # GitHub reads automationDetails.id up to its last "/" as the category and the rest as a
    # run id; a trailing "/" makes the whole id the category, as upload-sarif's own
    # `category` input does (codeql-action upload-lib.ts, getAutomationID).
    return category if category.endswith("/") else f"{category}/"


def _by_severity(counts: Counter[str]) -> dict[str, int]:
    return {s.value: counts[s.value] for s in reversed(Severity) if counts[s.value]}


def _ordered(rules: dict[tuple[Kind, str], _Rule]) -> Iterator[tuple[str, _Rule]]:
    for (kind, ident), rule in rules.items():
        yield _rule_id(kind, ident, rules), rule


def _rule_id(kind: Kind, ident: str, rules: dict[tuple[Kind, str], _Rule]) -> str:
    # The plain id (CVE-..., DS-0002, github-pat, MIT); a license is prefixed only when a
    # finding of another kind has the same id in the run, which no real id does.
    if kind is Kind.LICENSE and any((k, ident) in rules for k in Kind if k is not kind):
        return f"license/{ident}"
    return ident


def _array(lines: Iterable[str], indent: str) -> Iterator[str]:
    first = True
    for line in lines:
        yield f"[\n{indent}  {line}" if first else f",\n{indent}  {line}"
        first = False
    yield "[]" if first else f"\n{indent}]"


def _uri(path: str) -> str:
    """A relative URI reference: percent-encoded, "/" kept (a ":" in the first segment
    would otherwise read as a scheme)."""
    return quote(path, safe="/")


def _fallback_fingerprint(f: Finding) -> str:
    # Findings from `trivy_report` always carry a fingerprint; one built by hand may not.
    key = "\x1f".join((f.kind.value, f.id, f.target, f.identity or f.package or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _line(line: int | None) -> int:
    return line if line and line > 0 else 1


def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _help_uri(f: Finding) -> str:
    """The first http(s) URL fit for a link (`escape.safe_url`): the primary URL, a
    reference, the advisory page for the ID, else Trivy's docs for the kind."""
    candidates = [f.primary_url or "", *f.references]
    if f.kind is Kind.VULNERABILITY:
        if f.id.startswith("CVE-"):
            candidates.append(f"https://avd.aquasec.com/nvd/{f.id.lower()}")
        if f.id.startswith("GHSA-"):
            candidates.append(f"https://github.com/advisories/{f.id}")
    if f.kind is Kind.MISCONFIGURATION and re.fullmatch(r"[A-Z]+-\d+", f.id):
        candidates.append(f"https://avd.aquasec.com/misconfig/{f.id.lower()}")
    return next((url for url in candidates if safe_url(url)), _KIND_DOCS[f.kind])


def _what(f: Finding, title: str) -> str:
    if f.kind is Kind.VULNERABILITY:
        return f"Vulnerability {f.id}: {title}"
    if f.kind is Kind.MISCONFIGURATION:
        return f"Misconfiguration {f.id}: {title}"
    if f.kind is Kind.SECRET:
        return f"Secret ({f.id}): {title}"
    return f"License {f.id}: {title}"


def _help(f: Finding, title: str, why: str, help_uri: str) -> tuple[str, str]:
    """help.text and help.markdown: what, why, how to fix and the primary URL, each at most
    1024 characters (the description is shortened to fit).

    The finding's text is untrusted: `escape.plain` in the text, `escape.markdown` and a
    link only to a vetted URL (`escape.markdown_link`) in the Markdown."""
    what = _what(f, title)
    fix = _HOW_TO_FIX[f.kind]
    why = " ".join(why.split())
    text_tail = f"How to fix: {fix}\n\nMore: {plain(help_uri)}"
    text_what = _fitted(what, MAX_HELP_HEADLINE, plain)
    text_why = _fitted(why, MAX_DESCRIPTION - len(text_what) - len(text_tail) - 6, plain)
    md_tail = f"**How to fix:** {fix}\n\n{markdown_link(f.id, help_uri, MAX_HELP_LINK_TEXT)}"
    md_what = f"**{_fitted(what, MAX_HELP_HEADLINE, markdown)}**"
    md_why = _fitted(why, MAX_DESCRIPTION - len(md_what) - len(md_tail) - 6, markdown)
    text = "\n\n".join(part for part in (text_what, text_why, text_tail) if part)
    help_markdown = "\n\n".join(part for part in (md_what, md_why, md_tail) if part)
    return _clip(text), _clip(help_markdown)


MAX_HELP_HEADLINE = 400
MAX_HELP_LINK_TEXT = 200


def _fitted(text: str, room: int, escape: Callable[[str], str]) -> str:
    """`escape(text)`, the text shortened ("...") until the escaped form fits in `room`
    characters; "" when less than 40 would be left of it."""
    if room < 40:
        return ""
    limit = len(text)
    while True:
        escaped = escape(clip(text, limit))
        if len(escaped) <= room:
            return escaped
        if limit <= 40:
            return ""
        limit = max(40, min(limit - 1, limit * room // len(escaped)))


def _message(d: Decided, run: _Run, inner_path: str | None) -> str:
    f = d.finding
    if f.kind is Kind.VULNERABILITY:
        fix = f"fixed in {f.fixed_version}" if f.fixed_version else "no fixed version yet"
        text = (
            f"{f.package or '?'} {f.installed_version or '?'} is affected by {f.id} "
            f"({f.severity.value}): {fix}"
        )
    elif f.kind is Kind.SECRET:
        # Finding.message for a secret is Trivy's masked Match: the only text of the
        # matched line that may leave scangate.
        text = f"{f.title or f.id}: {f.message}" if f.message else (f.title or f.id)
    else:
        text = f.message or f.title or f.id
    if run.image:
        where = f" in {inner_path}" if inner_path else ""
        os_name = f" ({run.artifact.os})" if run.artifact.os else ""
        text = f"{text}{where} [image {run.target}{os_name}]"
    if d.decision is not Decision.ALLOWED:
        text = f"{text}\nscangate: {d.decision.value}: {d.reason}"
    return text


class _GzipSize:
    """The size of the log gzipped as the upload does it (gzip, level 6), fed in pieces.

    Exact rather than estimated from a sample: how well a log compresses varies along it
    (rules, then results), and the answer matters most near the limit.
    """

    def __init__(self) -> None:
        self._z = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._buffer: list[str] = []
        self._buffered = 0
        self._size = 0

    def feed(self, piece: str) -> None:
        # Compressing 1 MB at a time: one call per piece would cost more than the deflate.
        self._buffer.append(piece)
        self._buffered += len(piece)
        if self._buffered >= 1 << 20:
            self._compress()

    def _compress(self) -> None:
        self._size += len(self._z.compress("".join(self._buffer).encode()))
        self._buffer.clear()
        self._buffered = 0

    def total(self) -> int:
        self._compress()
        return self._size + len(self._z.flush())
