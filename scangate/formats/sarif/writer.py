"""SARIF 2.1.0 for GitHub code scanning: `SarifFormat` and `SarifOptions`, and the only module
that imports sarif-om. It builds what GitHub needs from a SARIF log to ingest it without a
warning and keep its alerts stable from run to run.

Here: the log and its runs as sarif-om objects, with placeholders where each run's rules
and results go (`results` writes those lines). A result has a level from the severity the
gate used, `partialFingerprints` from the finding's line-independent fingerprint, and a
location relative to the repository root with a real region: the lock file line of a
package, a misconfiguration's cause lines, a secret's lines. Image findings are placed at the
final FROM of `SarifOptions.dockerfile`, else at `image/<repository>` (plus the file's path
inside the image for application packages). A log over GitHub's 10 MiB gzipped is rendered
again with fewer results.
Rules and results, 100,000 of each in a large log, are written one a line from templates in
sarif-om's property order, each value through the JSON encoder's own string escaper
(`encoding.json_string`): the encoder's text for the same object without building one (a
test compares them). Each is built and dropped in turn, so memory stays at the size of the
text and time is linear in the number of findings.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sarif_om as om

from scangate import __version__
from scangate.formats import START_OVER, StartOver, joined
from scangate.formats.sarif.encoding import GzipSize, array_lines, json_fields
from scangate.formats.sarif.limits import (
    MAX_RESULTS_PER_RUN,
    PlannedRun,
    by_severity,
    over_result_limit,
    plan,
)
from scangate.formats.sarif.locations import DockerfileRef, automation_id
from scangate.formats.sarif.results import (
    FINGERPRINT_KEY,
    Rule,
    RuleKey,
    result_line,
    rule_line,
    rules_of,
)
from scangate.gate import GateResult

# FINGERPRINT_KEY is part of the format, so it is named here too.
__all__ = ["FINGERPRINT_KEY", "SarifFormat", "SarifOptions"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/scangate/"
TRIVY_INFORMATION_URI = "https://trivy.dev/"

# GitHub's limits for one uploaded SARIF file (docs: "SARIF support for code scanning");
# results per run and runs per file are `limits`'s, tags per rule `results`'s.
MAX_LOCATIONS_PER_RESULT = 1_000
MAX_GZIPPED_BYTES = 10 * 1024 * 1024


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


# Where the rules and results arrays go in the skeleton. The nonce, random for each
# formatter, keeps a report's text (a Trivy version, an artifact name) from ever passing for one.
_PLACEHOLDER = '"@@scangate:{nonce}:(rules|results):(\\d+)@@"'
# Renderings of a log over GitHub's gzipped limit, each with fewer results (`stream`).
_PASSES = 4
# The upload gzips at zlib's default level (6). Level 1 takes well under half its time and
# its output is larger (by a third on SARIF): a log whose level-1 size is within the limit,
# with a margin for the rare input where level 6 loses a little to level 1, fits, and most
# logs need no level-6 pass. Only one that level 1 puts above that is measured at level 6.
GZIP_LEVEL = 6
FAST_GZIP_LEVEL = 1
FAST_GZIP_FITS = 0.97


class SarifFormat:
    """Renders a `GateResult` as one SARIF 2.1.0 log; `notes` then holds what the CLI should
    tell the user on stderr (results or runs left out for GitHub's limits, size warnings)."""

    def __init__(self, options: SarifOptions | None = None) -> None:
        self.options = options or SarifOptions()
        self.notes: list[str] = []
        # Of the last pass: the results per run in effect, the gzipped size (or a bound of it
        # within the limit: `GzipSize`), the largest run.
        self._limit = self.options.max_results
        self._gzipped: int | None = 0  # None: compressed fast, too close to tell
        self._largest = 0
        self._nonce = secrets.token_hex(16)
        self._diff = False  # the result was gated with --diff-base (`baselineState`)

    def render(self, result: GateResult) -> str:
        """The log; one over GitHub's 10 MiB gzipped is rendered again with fewer results
        per run (the most severe kept) until it fits, unless the cap is off (0)."""
        return joined(self.stream(result)).decode()

    def stream(self, result: GateResult) -> Iterator[bytes | StartOver]:
        """`render`'s log in pieces of UTF-8, for writing a large log without holding it in memory:
        a log over GitHub's gzipped limit is followed by `START_OVER` and the log again with
        fewer results. `notes` is complete once the iterator is exhausted."""
        self._limit = self.options.max_results
        shrunk: list[str] = []
        passes = 0
        exact = False
        while True:
            yield from self._pieces_of(result, exact=exact)
            if self._gzipped is None:
                # Compressed fast, the size could not tell: the same log again, measured
                # exactly (only for logs of hundreds of MB that compress badly).
                exact = True
                yield START_OVER
                continue
            passes += 1
            over = self._gzipped > MAX_GZIPPED_BYTES and self._limit and self._largest > 1
            if not over or passes == _PASSES:
                break
            limit = max(1, int(self._largest * MAX_GZIPPED_BYTES / self._gzipped * 0.9))
            shrunk.append(
                f"SARIF: {self._gzipped / 2**20:.1f} MiB gzipped is over GitHub's limit of "
                f"{MAX_GZIPPED_BYTES / 2**20:.0f} MiB: written again with at most {limit} "
                "results per run"
            )
            self._limit = limit
            yield START_OVER
        self.notes = shrunk + self.notes

    def _pieces_of(self, result: GateResult, *, exact: bool) -> Iterator[bytes]:
        self.notes = []
        self._diff = result.diff is not None
        runs = plan(result, self.options, self._limit, self.notes)
        self._largest = max((len(r.decided) for r in runs), default=0)
        log = json_fields(self._log(result, runs))
        # "$schema" and "version" first, as readers expect them (attrs orders them last).
        head = {"$schema": log.pop("$schema"), "version": log.pop("version")}
        skeleton = json.dumps(head | log, indent=2, default=json_fields)
        # A run over GitHub's result limit is refused whatever its size (and `notes` says
        # so): the compression, seconds for a log of 100,000 results, would be wasted. A log
        # whose size alone bounds its gzipped size within the limit is not compressed.
        level = GZIP_LEVEL if exact else FAST_GZIP_LEVEL
        gzip = None if over_result_limit(runs) else GzipSize(MAX_GZIPPED_BYTES, level)
        try:
            for text in self._pieces(skeleton, runs):
                # Encoded once, for the size and the file (ASCII: every string is escaped).
                piece = text.encode()
                if gzip is not None:
                    gzip.feed(piece)
                yield piece
            yield b"\n"
            gzipped = gzip.total() if gzip is not None else 0
        finally:
            if gzip is not None:
                gzip.close()  # a log abandoned half-way stops the compression too
        # A size from the raw size alone (`gzip_bound`) is a bound whatever the level.
        guessed = gzip is not None and gzip.compressed and not exact
        if guessed and gzipped > MAX_GZIPPED_BYTES * FAST_GZIP_FITS:
            self._gzipped = None  # `stream` measures it again, exactly
            return
        self._gzipped = gzipped
        if gzipped > MAX_GZIPPED_BYTES:
            self.notes.append(
                f"SARIF: the log is {gzipped / 2**20:.1f} MiB gzipped, over GitHub's limit "
                f"of {MAX_GZIPPED_BYTES / 2**20:.0f} MiB: the upload will be rejected; use "
                "--sarif-only-failing or a lower --sarif-max-results"
            )

    # -- the log skeleton --

    def _log(self, result: GateResult, runs: list[PlannedRun]) -> Any:
        return om.SarifLog(
            version=SARIF_VERSION,
            schema_uri=SARIF_SCHEMA_URI,
            runs=[self._run(i, run) for i, run in enumerate(runs)],
            properties={"verdict": result.verdict.value},
        )

    def _run(self, index: int, run: PlannedRun) -> Any:
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
            properties["resultsDroppedBySeverity"] = by_severity(run.dropped)
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
            automation_details=om.RunAutomationDetails(id=automation_id(run.category)),
            # Line numbers only; no column is ever written.
            column_kind="utf16CodeUnits",
            results=f"@@scangate:{self._nonce}:results:{index}@@",
            properties=properties,
        )

    def _pieces(self, skeleton: str, runs: list[PlannedRun]) -> Iterator[str]:
        position = 0
        rules: dict[RuleKey, Rule] = {}
        placeholder = re.compile(_PLACEHOLDER.format(nonce=self._nonce))
        for match in placeholder.finditer(skeleton):
            yield skeleton[position : match.start()]
            line_start = skeleton.rfind("\n", 0, match.start()) + 1
            head = skeleton[line_start : match.start()]
            indent = head[: len(head) - len(head.lstrip())]
            run = runs[int(match.group(2))]
            if match.group(1) == "rules":
                rules = rules_of(run)
                lines: Iterator[str] = map(rule_line, rules.values())
            else:
                dockerfile = self.options.dockerfile
                lines = (
                    result_line(d, run, rules, diff=self._diff, dockerfile=dockerfile)
                    for d in run.decided
                )
            yield from array_lines(lines, indent)
            position = match.end()
        yield skeleton[position:]
