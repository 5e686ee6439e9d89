"""Secret values, read back from the scanned files to fingerprint secrets: never kept, never shown.

Trivy reports a secret masked (`Match`, `Code.Lines`: the secret's bytes as `*`), so a
fingerprint of that text cannot tell one token from another at the same place: a baseline
would then vouch for a *new* token. This module reads the lines Trivy names from the file it
scanned (a directory, or the layer of an image archive), lines the masked text up against
them to find the secret's bytes, and keeps only `digest` of them (as detect-secrets keeps a
`hashed_secret`). A secret whose file cannot be read or whose lines do not line up keeps no
digest, and `gate.evaluate` never matches it against a baseline.

Reads are bounded: only the lines needed, each at most `MAX_LINE` bytes, files streamed
(image layers too); nothing reads a whole file into memory.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from scangate import image_layers
from scangate.findings import Finding, Kind, ScanRun, SecretSite, assign_fingerprints

DOMAIN = b"scangate-secret-v1"
MAX_LINE = 1 << 20  # bytes: a longer line is not read, and its secret keeps no digest
MAX_KEPT = 64 << 20  # bytes of lines kept from one file; secrets past that keep no digest
MAX_SPAN = 2000  # lines one secret may cover (a private key has about 30)
_CHUNK = 1 << 16
_MAX_CANDIDATES = 64
_REPLACEMENT = "\N{REPLACEMENT CHARACTER}".encode()
# Errors of a file or archive that changed, vanished or is malformed: the value is unreadable.
_READ_ERRORS = (
    OSError, EOFError, tarfile.TarError, zlib.error, lzma.LZMAError, ValueError, KeyError,
    TypeError, AttributeError, IndexError,
)  # fmt: skip


def digest(rule_id: str, value: bytes, *, basis: str = "value") -> str:
    """A domain-separated hash of a secret: it cannot equal any other kind of fingerprint,
    and `basis` keeps a hash of the secret alone apart from one of its whole lines."""
    rule = _utf8(rule_id)
    h = hashlib.sha256(DOMAIN + b"\x00" + basis.encode() + b"\x00")
    h.update(str(len(rule)).encode() + b":" + rule + b"\x00" + value)
    return h.hexdigest()


# --- where the files are -------------------------------------------------------------------


def fill(run: ScanRun, ref: str, *, image: bool, archive: bool) -> int:
    """Give `run`'s secrets a digest of their value, read from what Trivy scanned: the
    directory `ref`, or (`image` and `archive`) the image archive or OCI layout `ref`; an
    image in a registry is not read. Refingerprints the run; returns how many got one."""
    if image and not archive:
        return 0
    if image:
        return _refingerprint(run, _fill_image(_pending(run.findings), Path(ref)))
    root = Path(ref)
    # A scanned file's results are named by its base name: look in its directory.
    return _refingerprint(
        run, fill_from_tree(run.findings, [root.parent if root.is_file() else root])
    )


def fill_for_report(run: ScanRun, cwd: Path) -> int:
    """As `fill`, for a report scangate did not run: the files are looked for under the
    report's ArtifactName (a directory or an image archive, when it exists here) and `cwd`."""
    name = run.artifact.name
    base = cwd / name if name and "\x00" not in name else None
    try:
        if run.artifact.type == "container_image":
            if base is not None and (base.is_file() or (base / "index.json").is_file()):
                return _refingerprint(run, _fill_image(_pending(run.findings), base))
            return 0
        if base is not None and base.is_file():
            roots = [base.parent, cwd]  # a scanned file: Targets are its base name
        else:
            roots = [base, cwd] if base is not None and base.is_dir() else [cwd]
    except OSError:  # a name too long for a path, say: nothing to read there
        roots = [cwd]
    return _refingerprint(run, fill_from_tree(run.findings, roots))


def fill_from_tree(findings: Iterable[Finding], roots: list[Path]) -> int:
    """Read the secrets of `findings` still without a digest from files under the first of
    `roots` holding their target. Does not refingerprint."""
    pending = _pending(findings)
    by_file: dict[Path, list[Finding]] = defaultdict(list)
    for finding in pending:
        for root in roots:
            path = _inside(root, finding.target)
            if path is not None:
                by_file[path].append(finding)
                break
    for path, group in by_file.items():
        try:
            with image_layers.open_regular(path) as stream:
                _fill_from_stream(stream, group)
        except _READ_ERRORS:
            continue
    return _filled(pending)


def _pending(findings: Iterable[Finding]) -> list[Finding]:
    return [
        f
        for f in findings
        if f.kind is Kind.SECRET and f.secret_digest is None and f.secret_site is not None
    ]


def _filled(findings: list[Finding]) -> int:
    # Counted afterwards: a read that failed half way may still have given some a digest,
    # and every digest must reach the fingerprint.
    return sum(f.secret_digest is not None for f in findings)


def _refingerprint(run: ScanRun, done: int) -> int:
    if done:
        assign_fingerprints(run.findings)
    return done


def _inside(root: Path, target: str) -> Path | None:
    """`root/target` when it is a file under `root` (Trivy names files relative to it)."""
    if not target or "\x00" in target:
        return None
    try:
        base = root.resolve()
        path = (base / target.lstrip("/")).resolve()
        return path if path.is_relative_to(base) and path.is_file() else None
    except (OSError, RuntimeError, ValueError):  # ValueError: a name the OS cannot take
        return None


# --- image archives ------------------------------------------------------------------------


def _fill_image(findings: list[Finding], source: Path) -> int:
    by_layer: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        assert finding.secret_site is not None
        if finding.secret_site.layer:
            by_layer[finding.secret_site.layer].append(finding)
    if not by_layer:
        return 0
    try:
        opener = image_layers.layers(source)
    except _READ_ERRORS:
        return 0
    for diff_id, group in by_layer.items():
        open_layer = opener.get(diff_id)
        if open_layer is None:
            continue
        try:
            _fill_from_layer(open_layer, group)
        except _READ_ERRORS:
            continue
    return _filled(findings)


def _fill_from_layer(open_layer: image_layers.LayerOpener, findings: list[Finding]) -> None:
    # Trivy names image files "/app/x.py"; tars hold "app/x.py" or "./app/x.py".
    by_name: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_name[_normal(finding.target)].append(finding)
    with open_layer() as handle, tarfile.open(fileobj=handle, mode="r|*") as layer:
        for member in layer:
            group = by_name.pop(_normal(member.name), None)
            if group is None or not member.isreg():
                continue
            stream = layer.extractfile(member)
            if stream is not None:
                with stream:
                    _fill_from_stream(stream, group)
            if not by_name:
                break


def _normal(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return "/" + name.lstrip("/")


# --- lines and values ----------------------------------------------------------------------


def _fill_from_stream(stream: IO[bytes], findings: list[Finding]) -> None:
    spans: dict[int, tuple[int, int]] = {}
    wanted: set[int] = set()
    for finding in findings:
        loc = finding.location
        if loc is None or loc.start_line is None or loc.start_line < 1:
            continue
        start, end = loc.start_line, max(loc.end_line or loc.start_line, loc.start_line)
        if end - start > MAX_SPAN:
            continue
        spans[id(finding)] = (start, end)
        wanted.update(range(max(1, start - 1), end + 2))
    if not wanted:
        return
    lines = read_lines(stream, wanted)
    for finding in findings:
        span = spans.get(id(finding))
        site = finding.secret_site
        if span is None or site is None:
            continue
        found = value_of(site, span[0], span[1], lines)
        if found is not None:
            value, basis = found
            finding.secret_digest = digest(finding.id, value, basis=basis)


def read_lines(stream: IO[bytes], wanted: set[int]) -> dict[int, bytes | None]:
    """The lines numbered in `wanted` (1-based), split and cleaned as Trivy does (at `\\n`,
    every `\\r` removed); None for a line longer than `MAX_LINE` or past `MAX_KEPT` bytes of
    kept lines. Streams: memory stays bounded whatever the file's size."""
    out: dict[int, bytes | None] = {}
    last = max(wanted)
    number = 1
    parts: list[bytes] = []
    size = kept = 0
    while number <= last:
        chunk = stream.readline(_CHUNK)
        keep = number in wanted
        if keep:
            size += len(chunk)
            if size <= MAX_LINE + 1 and kept + size <= MAX_KEPT:  # + the newline
                parts.append(chunk)
        if chunk.endswith(b"\n") or not chunk:
            if keep and size:
                fits = size <= MAX_LINE + 1 and kept + size <= MAX_KEPT
                line = b"".join(parts).removesuffix(b"\n").replace(b"\r", b"")
                out[number] = line if fits else None
                kept += size if fits else 0
            if not chunk:
                break
            number, parts, size = number + 1, [], 0
    return out


def value_of(
    site: SecretSite, start: int, end: int, lines: dict[int, bytes | None]
) -> tuple[bytes, str] | None:
    """The secret's bytes and how they were found (`value`: the masked positions of lines
    that line up with Trivy's masked text; `lines`: Trivy's text did not line up, so its
    whole lines), or None when the lines cannot be read or are not the ones Trivy saw."""
    cause = [lines.get(n) for n in range(start, end + 1)]
    if any(line is None for line in cause):
        return None
    real: list[bytes] = [line for line in cause if line is not None]
    masked = dict(site.lines)
    # 1. Code.Lines: each cause line, masked, against the real line of the same number.
    if masked and all(n in masked for n in range(start, end + 1)):
        aligned = [
            _aligned(_utf8(masked[n]), line)
            for n, line in zip(range(start, end + 1), real, strict=True)
        ]
        if all(v is not None for v in aligned):
            return b"\n".join(v for v in aligned if v is not None), "value"
    match = _utf8(site.match)
    if not match:
        return None
    # 2. Match as the whole first line (a line of up to 100 bytes), the rest as continuation.
    first = _aligned(match, real[0])
    if first is not None:
        return b"\n".join([first, *real[1:]]), "value"
    # 3. Match as a window of a long line (30 bytes before the secret, 20 after), or a
    #    Match older Trivy versions wrote (`*****` for any length, spaces trimmed).
    region_lines = [lines.get(n) for n in range(max(1, start - 1), end + 2)]
    region = b"\n".join(line for line in region_lines if line is not None)
    for loose in (False, True):
        values = _windows(match, region, loose=loose)
        if values:
            return b"\x00".join(sorted(values)), "value"
    # 4. The lines are there but the masked text does not line up (an encoding Trivy
    #    changed, say): hash the whole lines, which hold the secret.
    if _plausible(match, region):
        return b"\n".join(real), "lines"
    return None


def _aligned(masked: bytes, line: bytes) -> bytes | None:
    """The bytes of `line` under the `*` of `masked`, when `masked` is `line` with some bytes
    replaced by `*` (Trivy masks byte for byte)."""
    if len(masked) != len(line) or b"*" not in masked:
        return None
    out = bytearray()
    for m, c in zip(masked, line, strict=True):
        if m == 0x2A:  # "*"
            out.append(c)
        elif m != c:
            return None
    return bytes(out)


def _pattern(match: bytes, *, loose: bool) -> re.Pattern[bytes] | None:
    """A regex of the masked text, one group per `*` run; None without a literal anchor of
    4 bytes or more (it would line up anywhere)."""
    if loose:
        match = match.strip()
    if not any(len(p.strip()) >= 4 for p in re.split(rb"\*+", match)):
        return None
    parts = []
    runs = [run for run in re.split(rb"(\*+)", match) if run]
    for n, run in enumerate(runs):
        if run.startswith(b"*"):
            if not loose:
                group = b"(.{%d})" % len(run)
            else:
                # Any length, within the line; a last run takes the rest of the line.
                group = rb"([^\n]+)" if n == len(runs) - 1 else rb"([^\n]+?)"
            # A run at either end of the masked text must reach the end of its line: a
            # masked text shorter than the secret (older Trivy wrote `*****` for any) then
            # never lines up with just the secret's first bytes.
            if n == 0:
                group = rb"(?<![^\n])" + group
            if n == len(runs) - 1:
                group += rb"(?![^\n])"
            parts.append(group)
        else:
            # Go's JSON encoder writes each invalid UTF-8 byte as U+FFFD.
            parts.append(
                rb"(?:\xef\xbf\xbd|[\x80-\xff])".join(
                    re.escape(piece) for piece in run.split(_REPLACEMENT)
                )
            )
    return re.compile(b"".join(parts), re.DOTALL)


def _windows(match: bytes, region: bytes, *, loose: bool) -> set[bytes]:
    """The values under every place `match` lines up in `region` (all of them: an ambiguous
    place then changes the digest, never hides a new secret). Exact runs are tried at every
    offset; loose ones, which could line up at each byte of a line, one after another."""
    pattern = _pattern(match, loose=loose)
    if pattern is None or pattern.groups == 0:
        return set()
    values: set[bytes] = set()
    position = 0
    for _ in range(_MAX_CANDIDATES):
        found = pattern.search(region, position)
        if found is None:
            return values
        values.add(b"\x01".join(found.groups()))
        position = max(found.end(), found.start() + 1) if loose else found.start() + 1
    return set()  # too many places to tell: unreadable


def _plausible(match: bytes, region: bytes) -> bool:
    """Whether the region holds the unmasked text around the secret Trivy reported."""
    pieces = [p.strip() for p in re.split(rb"\*+|\xef\xbf\xbd", match)]
    return any(len(p) >= 4 for p in pieces) and all(p in region for p in pieces if p)


def _utf8(text: str) -> bytes:
    # A report's JSON may hold a lone surrogate (`\ud800`): keep it as bytes, never crash.
    return text.encode("utf-8", "surrogatepass")
